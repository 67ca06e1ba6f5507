/**
 * `calico-vpc diff` end to end, in process: golden outputs (read over by hand against the policies) for every
 * format on the seed's real change (the policies as the API server accepts the seed's, against the corrected
 * ones), outside ranges cut differently on the two sides, named ports, Kubernetes semantics against the GNPs; the
 * exit codes 0 / 1 / 2; a policies-only side taking the other side's workloads.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureIO } from '../io.js';
import { runCli } from '../program.js';
import { registerDiff } from './diff.js';

const FIXTURES = 'test/fixtures/diff';
const SEED = 'test/fixtures/seed';
const SEED_FIXED = 'test/fixtures/seed-fixed';
const IPBLOCKS = 'test/fixtures/connectivity/ipblocks/input';
const PORTS = 'test/fixtures/connectivity/ports/input';
const CALICO = 'test/fixtures/connectivity/calico/input';

/**
 * The seed as a cluster holds it: the API server's strict field validation refuses accounts-allow.yaml (unknown
 * fields, a map for a list), so only backend-allow and db-allow (with their `Tier` typo) are in force.
 */
const SEED_AS_APPLIED = ['namespaces.yaml', 'workloads.yaml', 'backend-allow.yaml', 'db-allow.yaml'].map(
  (file) => join(SEED, file),
);

const golden = (path: string): string => readFileSync(join(FIXTURES, path), 'utf8');

async function run(args: string[], stdin = '') {
  const io = captureIO(stdin);
  const code = await runCli(['diff', ...args], io, [registerDiff]);
  return { code, out: io.out(), err: io.err() };
}

describe('golden outputs', () => {
  const seed = ['--before', ...SEED_AS_APPLIED, '--after', SEED_FIXED];
  const cases: { name: string; args: string[]; expected: string; err?: string }[] = [
    { name: 'the seed corrected: txt', args: seed, expected: 'seed/diff.txt' },
    { name: 'the seed corrected: json', args: [...seed, '-o', 'json'], expected: 'seed/diff.json' },
    { name: 'the seed corrected: csv', args: [...seed, '-o', 'csv'], expected: 'seed/diff.csv' },
    { name: 'the seed corrected: md', args: [...seed, '-o', 'md'], expected: 'seed/diff.md' },
    {
      name: 'the seed corrected, with the connections that did not change',
      args: [...seed, '--include-non-changed'],
      expected: 'seed/diff-non-changed.txt',
    },
    {
      name: 'the seed corrected, on the generated GNPs',
      args: [...seed, '--mode', 'calico'],
      expected: 'seed/diff.txt',
    },
    {
      name: 'ipBlocks changed: ranges cut differently before and after',
      args: ['--before', IPBLOCKS, '--after', `${IPBLOCKS}/cluster.yaml`, `${FIXTURES}/ipblocks-after`],
      expected: 'ipblocks-after/diff.txt',
    },
    {
      name: 'ipBlocks changed, as csv (a conn with commas is quoted)',
      args: [
        '--before',
        IPBLOCKS,
        '--after',
        `${IPBLOCKS}/cluster.yaml`,
        `${FIXTURES}/ipblocks-after`,
        '-o',
        'csv',
      ],
      expected: 'ipblocks-after/diff.csv',
    },
    {
      name: 'named ports: a policy added, as md with the connections that did not change',
      args: [
        '--before',
        PORTS,
        '--after',
        PORTS,
        `${FIXTURES}/ports-after`,
        '--include-non-changed',
        '-o',
        'md',
      ],
      expected: 'ports-after/diff-non-changed.md',
    },
    {
      name: 'Kubernetes semantics against what the GNPs say',
      args: ['--before', CALICO, '--after', CALICO, '--before-mode', 'k8s', '--after-mode', 'calico'],
      expected: 'calico-k8s-vs-calico.txt',
      err:
        'warning: before: 2 GlobalNetworkPolicies ignored: --mode k8s evaluates NetworkPolicies only; use --mode calico to include them\n' +
        'warning: after: GlobalNetworkPolicy cart-ingress (crd.projectcalico.org/v1) has no spec.types: Felix applies it to Ingress and Egress\n',
    },
  ];

  it.each(cases)('$name', async ({ args, expected, err }) => {
    const result = await run(args);
    expect(result.err).toBe(err ?? '');
    expect(result.out).toBe(golden(expected));
    expect(result.code).toBe(1);
  });
});

describe('exit codes and sides', () => {
  it('exits 0 and prints nothing when nothing differs (k8s semantics and the GNPs agree on the fixed seed)', async () => {
    const result = await run([
      '--before',
      SEED_FIXED,
      '--after',
      SEED_FIXED,
      '--before-mode',
      'k8s',
      '--after-mode',
      'calico',
    ]);
    expect(result).toEqual({ code: 0, out: '', err: '' });
  });

  it('prints the empty table and arrays in the other formats when nothing differs', async () => {
    const same = ['--before', SEED_FIXED, '--after', SEED_FIXED];
    expect((await run([...same, '-o', 'csv'])).out).toBe(
      'diff-type,source,destination,ref1,ref2,workloads-diff-info\n',
    );
    expect(JSON.parse((await run([...same, '-o', 'json'])).out)).toEqual({
      connections: [],
      addedWorkloads: [],
      removedWorkloads: [],
    });
  });

  it('exits 2, not 1, on input it cannot read: the seed as written, with the file, document and field', async () => {
    const result = await run(['--before', SEED, '--after', SEED_FIXED]);
    expect(result.code).toBe(2);
    expect(result.out).toBe('');
    expect(result.err).toContain(
      'test/fixtures/seed/accounts-allow.yaml: document 1: metadata.Namespace: unknown field "Namespace" in ObjectMeta',
    );
  });

  it.each([
    [
      ['--after', SEED_FIXED],
      'error: give the before side with --before FILE|DIR|- or --before-kubeconfig PATH',
    ],
    [
      ['--before', SEED_FIXED, '--after', SEED_FIXED, '--after-kubeconfig', '/k'],
      'error: give the after side with --after FILE|DIR|- or --after-kubeconfig PATH (one of the two)',
    ],
    [
      ['--before', SEED_FIXED, '--after', SEED_FIXED, '--after-context', 'prod'],
      'error: --after-context selects a context of --after-kubeconfig',
    ],
    [['--before', '-', '--after', '-'], 'error: only one side can read standard input (-)'],
    [['--before', SEED_FIXED, '--after', SEED_FIXED, '-o', 'yaml'], "argument 'yaml' is invalid"],
    [['--before', SEED_FIXED, '--after', SEED_FIXED, '--bogus'], "unknown option '--bogus'"],
  ])('exits 2 on bad flags: %j', async (args, message) => {
    const result = await run(args);
    expect(result.code).toBe(2);
    expect(result.err).toContain(message);
  });

  it('gives a side of policies only the workloads of the other side, and says so', async () => {
    const result = await run(['--before', ...SEED_AS_APPLIED, '--after', join(SEED_FIXED, 'policies.yaml')]);
    expect(result.out).toBe(golden('seed/diff.txt'));
    expect(result.err).toBe('note: --after has no workloads: using those of --before on both sides\n');
    expect(result.code).toBe(1);
  });

  it('diffs in calico mode when a side has a Calico NetworkPolicy, and refuses it in k8s mode', async () => {
    const denyDb = `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: deny-to-db, namespace: accounts}
spec:
  order: 1
  selector: tier == 'db'
  types: [Ingress]
  ingress: [{action: Deny}]
`;
    const result = await run(['--before', SEED_FIXED, '--after', SEED_FIXED, '-'], denyDb);
    expect(result.code).toBe(1);
    expect(result.out).toBe(
      'Connectivity diff:\n' +
        'diff-type: removed, source: accounts/srv1-backend[Deployment], destination: accounts/srv1-db[Deployment], ref1: All Connections, ref2: No Connections\n',
    );
    const k8s = await run(['--before', SEED_FIXED, '--after', SEED_FIXED, '-', '--mode', 'k8s'], denyDb);
    expect(k8s.code).toBe(2);
    expect(k8s.err).toContain(
      'Calico NetworkPolicy accounts/deny-to-db is not evaluated in --mode k8s: Kubernetes semantics do not include Calico policies',
    );
  });

  it('reads one side from standard input', async () => {
    const text = ['namespaces.yaml', 'policies.yaml', 'workloads.yaml']
      .map((file) => readFileSync(join(SEED_FIXED, file), 'utf8'))
      .join('\n---\n');
    const result = await run(['--before', ...SEED_AS_APPLIED, '--after', '-'], text);
    expect(result.out).toBe(golden('seed/diff.txt'));
  });

  it('says when a workload exists on one side only and has no connections to show it by', async () => {
    const isolated = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: vault, namespace: accounts}
spec:
  selector: {matchLabels: {app: vault}}
  template:
    metadata: {labels: {app: vault}}
    spec: {containers: [{name: vault, image: vault:1}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: vault-isolated, namespace: accounts}
spec:
  podSelector: {matchLabels: {app: vault}}
  policyTypes: [Ingress, Egress]
`;
    const result = await run(['--before', SEED_FIXED, '--after', SEED_FIXED, '-'], isolated);
    expect(result.out).toBe('');
    expect(result.err).toBe(
      'note: workload accounts/vault[Deployment] is only in --after, and has no connections\n',
    );
    expect(result.code).toBe(1);
  });
});
