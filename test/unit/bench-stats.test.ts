/**
 * The benchmark's helpers: the statistics that turn runs into reported figures, the Prometheus parser that counts
 * the controller's writes, and the generator's determinism and validity. No timing is asserted here; the
 * benchmark is the measurement.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  deploymentLogLevel,
  deploymentProcessEnv,
  parsePrometheusText,
  procCpuSeconds,
  sumSamples,
} from '../../bench/controller.js';
import { generateNetworkPolicies, revisedNetworkPolicy, seededRandom } from '../../bench/generate.js';
import { areaOf } from '../../bench/profile.js';
import { formatTable, linearFit, mapConcurrent, median, percentile } from '../../bench/stats.js';
import { translateNetworkPolicy } from '../../src/translate/networkpolicy.js';

describe('median', () => {
  it('takes the middle of an odd count and the mean of the two middles of an even count', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });

  it('does not reorder its input', () => {
    const values = [3, 1, 2];
    median(values);
    expect(values).toEqual([3, 1, 2]);
  });

  it('rejects an empty list', () => {
    expect(() => median([])).toThrow('median of no values');
  });

  it('lies between the minimum and the maximum', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e9, max: 1e9, noNaN: true }), { minLength: 1 }), (values) => {
        const m = median(values);
        return m >= Math.min(...values) && m <= Math.max(...values);
      }),
      { numRuns: 500 },
    );
  });
});

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('returns measured samples: p50 and p99 of 1..100 are 50 and 99, p100 the maximum', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile([5, 1, 9], 1)).toBe(1);
  });

  it('p99 of 200 samples is the 198th smallest', () => {
    const samples = Array.from({ length: 200 }, (_, i) => 200 - i);
    expect(percentile(samples, 99)).toBe(198);
  });

  it('rejects p outside (0, 100] and empty input', () => {
    expect(() => percentile([1], 0)).toThrow('p must be in (0, 100]');
    expect(() => percentile([1], 101)).toThrow('p must be in (0, 100]');
    expect(() => percentile([], 50)).toThrow('percentile of no values');
  });

  it('is a member of the input and non-decreasing in p', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1 }),
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 100 }),
        (values, p, q) => {
          const [low, high] = p <= q ? [p, q] : [q, p];
          return (
            values.includes(percentile(values, low)) && percentile(values, low) <= percentile(values, high)
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('linearFit', () => {
  it('recovers an exact line', () => {
    const fit = linearFit([0.5, 1, 2, 4].map((x) => ({ x, y: 3 * x + 2 })));
    expect(fit.slope).toBeCloseTo(3, 10);
    expect(fit.intercept).toBeCloseTo(2, 10);
  });

  it('needs two distinct x values', () => {
    expect(() => linearFit([{ x: 1, y: 1 }])).toThrow('at least two points');
    expect(() =>
      linearFit([
        { x: 1, y: 1 },
        { x: 1, y: 2 },
      ]),
    ).toThrow('two distinct x values');
  });
});

describe('formatTable', () => {
  it('left-aligns the first column and right-aligns the others', () => {
    expect(
      formatTable(
        ['a', 'bb'],
        [
          ['xyz', '1'],
          ['q', '100'],
        ],
      ),
    ).toBe(['a     bb', '---  ---', 'xyz    1', 'q    100'].join('\n'));
  });
});

describe('mapConcurrent', () => {
  it('keeps input order and never exceeds the concurrency', async () => {
    let inFlight = 0;
    let peak = 0;
    const results = await mapConcurrent([5, 1, 4, 2, 3], 2, async (value) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, value));
      inFlight--;
      return value * 10;
    });
    expect(results).toEqual([50, 10, 40, 20, 30]);
    expect(peak).toBe(2);
  });

  it('starts no new task after a failure', async () => {
    const started: number[] = [];
    await expect(
      mapConcurrent([1, 2, 3, 4, 5], 1, async (value) => {
        started.push(value);
        if (value === 2) throw new Error('boom');
        return value;
      }),
    ).rejects.toThrow('boom');
    expect(started).toEqual([1, 2]);
  });
});

describe('parsePrometheusText', () => {
  const text = [
    '# HELP calico_vpc_api_writes_total Writes the operator made.',
    '# TYPE calico_vpc_api_writes_total counter',
    'calico_vpc_api_writes_total{verb="create",resource="globalnetworkpolicies"} 12',
    'calico_vpc_api_writes_total{verb="update",resource="globalnetworkpolicies"} 3',
    '# TYPE rest_client_requests_total counter',
    'rest_client_requests_total{code="201",method="POST",host="127.0.0.1:6443"} 12',
    'rest_client_requests_total{code="200",method="GET",host="127.0.0.1:6443"} 40',
    '# TYPE empty_total counter',
    'process_resident_memory_bytes 1.5e+08',
    'odd{label="with \\"quote\\""} 1',
  ].join('\n');

  it('reads samples with labels, sums with a filter, and knows declared metrics without samples', () => {
    const { samples, declared } = parsePrometheusText(text);
    expect(sumSamples(samples, 'calico_vpc_api_writes_total')).toBe(15);
    expect(sumSamples(samples, 'rest_client_requests_total', (l) => l.method !== 'GET')).toBe(12);
    expect(sumSamples(samples, 'process_resident_memory_bytes')).toBe(1.5e8);
    expect(sumSamples(samples, 'empty_total')).toBeUndefined();
    expect(declared.has('empty_total')).toBe(true);
    expect(samples.find((s) => s.name === 'odd')?.labels.label).toBe('with "quote"');
  });
});

describe('the benchmark generator', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = generateNetworkPolicies({ count: 50, namespaces: 5, seed: 7 });
    const b = generateNetworkPolicies({ count: 50, namespaces: 5, seed: 7 });
    const c = generateNetworkPolicies({ count: 50, namespaces: 5, seed: 8 });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.stringify(a)).not.toBe(JSON.stringify(c));
    const random = seededRandom(1);
    const first = [random(), random()];
    expect(first.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it('produces policies that all translate, with the realistic features present', () => {
    const policies = generateNetworkPolicies({ count: 300, namespaces: 30, seed: 1 });
    for (const np of policies) {
      const result = translateNetworkPolicy(np);
      if (!result.ok) throw new Error(`${np.metadata.name}: ${JSON.stringify(result.errors)}`);
    }
    const text = JSON.stringify(policies);
    for (const feature of [
      'matchExpressions',
      '"NotIn"',
      '"DoesNotExist"',
      'ipBlock',
      'except',
      'endPort',
      '"SCTP"',
      '"UDP"',
      'fd00:',
      'namespaceSelector',
    ]) {
      expect(text).toContain(feature);
    }
    expect(policies.some((np) => np.spec.ingress?.length === 0)).toBe(true);
  });

  it('a revision changes the translated GNP and nothing but the pod selector', () => {
    const [np] = generateNetworkPolicies({ count: 1, namespaces: 1, seed: 3 });
    const before = translateNetworkPolicy(np!);
    const after = translateNetworkPolicy(revisedNetworkPolicy(np!, 4));
    if (!before.ok || !after.ok) throw new Error('does not translate');
    expect(after.policy.spec.selector).not.toBe(before.policy.spec.selector);
    expect(after.policy.spec.selector).toContain("bench-revision == 'r4'");
    expect({ ...after.policy.spec, selector: '' }).toEqual({ ...before.policy.spec, selector: '' });
  });
});

describe('profile areas', () => {
  it('groups frames by our folder, package, Node internals and V8 pseudo-frames', () => {
    expect(areaOf({ functionName: 'f', url: 'file:///app/dist/kube/client.js', lineNumber: 1 })).toBe(
      'ours:kube',
    );
    expect(
      areaOf({
        functionName: 'f',
        url: 'file:///app/node_modules/@kubernetes/client-node/dist/x.js',
        lineNumber: 1,
      }),
    ).toBe('@kubernetes/client-node');
    expect(
      areaOf({ functionName: 'f', url: 'file:///app/node_modules/ip-num/src/IPNumber.js', lineNumber: 1 }),
    ).toBe('ip-num');
    expect(areaOf({ functionName: 'f', url: 'node:internal/streams/readable', lineNumber: 1 })).toBe(
      'node:internal',
    );
    expect(areaOf({ functionName: '(garbage collector)', url: '', lineNumber: -1 })).toBe(
      '(garbage collector)',
    );
  });
});

describe('procCpuSeconds', () => {
  it("reads a live process's user + system time from /proc, and grows with work", () => {
    const before = procCpuSeconds(process.pid);
    expect(before).toBeGreaterThan(0);
    // Busy until the next clock tick is counted (USER_HZ is 100); the bound only keeps a broken reader from hanging.
    const giveUp = Date.now() + 30_000;
    let after = before;
    while (after === before && Date.now() < giveUp) after = procCpuSeconds(process.pid);
    expect(after).toBeGreaterThan(before!);
    expect(procCpuSeconds(2 ** 30)).toBeUndefined();
  });
});

describe('deploymentProcessEnv', () => {
  it("runs the benchmarked controller with the Deployment's NODE_OPTIONS and malloc arenas", () => {
    const env = deploymentProcessEnv();
    expect(env.NODE_OPTIONS).toContain('--max-semi-space-size=4');
    expect(env.MALLOC_ARENA_MAX).toBe('2');
  });

  it('says which manifest lacks them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-manifest-'));
    const file = join(dir, 'manager.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n');
    expect(() => deploymentProcessEnv(file)).toThrow(`${file}: no Deployment container "manager"`);
    expect(() => deploymentLogLevel(file)).toThrow(`${file}: no Deployment container "manager"`);
    rmSync(dir, { recursive: true });
  });

  it("logs at the Deployment's --log-level, in either spelling, and leaves run's default alone when it has none", () => {
    expect(deploymentLogLevel()).toBe('info');
    const dir = mkdtempSync(join(tmpdir(), 'bench-manifest-'));
    const file = join(dir, 'manager.yaml');
    const deployment = (args: string[]) =>
      [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'spec:',
        '  template:',
        '    spec:',
        '      containers:',
        '        - name: manager',
        `          args: ${JSON.stringify(args)}`,
      ].join('\n');
    writeFileSync(file, deployment(['run', '--log-level=debug']));
    expect(deploymentLogLevel(file)).toBe('debug');
    writeFileSync(file, deployment(['run', '--log-level', 'error']));
    expect(deploymentLogLevel(file)).toBe('error');
    writeFileSync(file, deployment(['run']));
    expect(deploymentLogLevel(file)).toBeUndefined();
    rmSync(dir, { recursive: true });
  });
});
