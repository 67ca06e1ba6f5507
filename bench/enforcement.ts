/**
 * Enforcement latency (`npm run bench -- --only enforcement`, as root): the time from applying a change through
 * the API (what `kubectl apply` does) to the first real packet that shows it enforced, through the operator (the
 * shipped bundle, a child process) and Calico Felix v3.32.1 (test/felix/environment.ts: real Felix, pods as
 * network namespaces, projectcalico.org/v3).
 *
 *   networkpolicy  a NetworkPolicy isolating a server pod is applied (the next packet from a client pod must be
 *                  dropped), then deleted (the next packet must be answered); alternately.
 *   profile        a VpcEgressProfile's zone prefix is changed to cover a VPE gateway (the worker's next TCP 443
 *                  packet to it must be answered), then changed to a prefix that does not (it must be dropped).
 *
 * Felix enforces NetworkPolicies natively as well, which would race the operator. So the operator writes its
 * GNPs into a tier of its own ordered before Calico's `default` tier (`--tier`, with defaultAction Deny), and a
 * GNP at order 1 in `default` allows every workload: Felix's own conversion of the NetworkPolicy (order 1000 in
 * `default`) can never decide a packet, and only the operator's GNP can change what the probes see.
 *
 * How a change is timed: from just before the API request, a probe is sent every POLL_MS (each with its own new
 * connection and a PROBE_TIMEOUT_MS timeout); the change counts as enforced at the send time of the first probe
 * that shows the new verdict once every earlier probe has answered, and for a drop only when the next CONFIRM
 * probes are dropped too (a late answer on a loaded machine must not pass for a drop). Every wait is bounded.
 */
import { mkdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeObject, NetworkPolicy } from '../src/api/kube.js';
import type { VpcEgressProfile } from '../src/api/v1alpha1.js';
import {
  NODE_ADDRESS,
  NODE_ENDPOINT,
  UPLINK_INTERFACE,
  felixAvailability,
  startFelixEnvironment,
  type FelixEnvironment,
  type Observed,
  type ProbeCase,
} from '../test/felix/environment.js';
import { ControllerProcess } from './controller.js';
import type { Log } from './cluster.js';
import { percentile, round } from './stats.js';

const POLL_MS = 20;
const PROBE_TIMEOUT_MS = 200;
const CONFIRM = 2;
/** A bound on one change, not a target. */
const CHANGE_DEADLINE_MS = 30_000;
const TIER = 'cvo-bench';
const NAMESPACE = 'bench';
const SERVER_PORT = 8080;
const GATEWAY = { name: 'vpe-gateway', address: '10.240.1.10', port: 443 };
const COVERING_PREFIX = '10.240.0.0/18';
const OTHER_PREFIX = '10.241.0.0/18';

export interface LatencyFigure {
  /** Changes timed (half each way). */
  changes: number;
  p50_ms: number;
  p99_ms: number;
  min_ms: number;
  max_ms: number;
  /** Per direction: a change that must drop packets, one that must let them through. */
  to_drop: { p50_ms: number; p99_ms: number };
  to_answer: { p50_ms: number; p99_ms: number };
  samples_ms: number[];
}

export interface EnforcementResult {
  felix: string;
  calico_api: 'v3';
  poll_ms: number;
  networkpolicy: LatencyFigure;
  profile: LatencyFigure;
}

type Want = 'allow' | 'deny';

/** Milliseconds from `since` to the first probe that shows `want` (see the file comment). */
async function timeToVerdict(
  env: FelixEnvironment,
  probe: Omit<ProbeCase, 'expect'>,
  want: Want,
  since: number,
): Promise<number> {
  const sent: { at: number; observed?: Observed }[] = [];
  const pending = new Set<Promise<void>>();
  const confirm = want === 'deny' ? CONFIRM : 0;
  const decided = (): number | undefined => {
    for (let i = 0; i < sent.length; i++) {
      const entry = sent[i]!;
      if (entry.observed === undefined) return undefined;
      if (entry.observed !== want) continue;
      const next = sent.slice(i + 1, i + 1 + confirm);
      if (next.length < confirm || next.some((n) => n.observed === undefined)) return undefined;
      if (next.every((n) => n.observed === want)) return entry.at - since;
    }
    return undefined;
  };
  try {
    for (;;) {
      const entry: { at: number; observed?: Observed } = { at: performance.now() };
      sent.push(entry);
      const answer = env.probeOnce(probe, PROBE_TIMEOUT_MS).then((r) => {
        if (r.observed !== 'allow' && r.observed !== 'deny')
          throw new Error(`probe ${JSON.stringify(probe)}: ${r.observed} (${r.detail})`);
        entry.observed = r.observed;
      });
      pending.add(answer);
      void answer.finally(() => pending.delete(answer)).catch(() => undefined);
      await sleep(POLL_MS);
      const found = decided();
      if (found !== undefined) return Math.max(0, found);
      if (performance.now() - since > CHANGE_DEADLINE_MS)
        throw new Error(`${want} not seen within ${CHANGE_DEADLINE_MS} ms of the change`);
    }
  } finally {
    await Promise.allSettled([...pending]);
  }
}

function figure(samples: { ms: number; want: Want }[]): LatencyFigure {
  const all = samples.map((s) => s.ms);
  const of = (want: Want) => {
    const values = samples.filter((s) => s.want === want).map((s) => s.ms);
    return { p50_ms: round(percentile(values, 50), 3), p99_ms: round(percentile(values, 99), 3) };
  };
  return {
    changes: samples.length,
    p50_ms: round(percentile(all, 50), 3),
    p99_ms: round(percentile(all, 99), 3),
    min_ms: round(Math.min(...all), 3),
    max_ms: round(Math.max(...all), 3),
    to_drop: of('deny'),
    to_answer: of('allow'),
    samples_ms: all.map((ms) => round(ms, 3)),
  };
}

function calico(
  kind: string,
  name: string,
  spec: Record<string, unknown>,
  labels: Record<string, string> = {},
): KubeObject {
  return { apiVersion: 'projectcalico.org/v3', kind, metadata: { name, labels }, spec } as KubeObject;
}

/** The benchmark's fixed world: the operator's tier, every workload allowed in `default`, the worker policed. */
function baseline(nodeName: string): KubeObject[] {
  return [
    calico('Tier', TIER, { order: 100, defaultAction: 'Deny' }),
    calico('GlobalNetworkPolicy', 'bench-allow-workloads', {
      order: 1,
      selector: "projectcalico.org/orchestrator == 'k8s'",
      types: ['Ingress', 'Egress'],
      ingress: [{ action: 'Allow' }],
      egress: [{ action: 'Allow' }],
    }),
    // The worker as IBM Cloud labels it, and its egress denied after the VPE rule's order 500.
    calico(
      'HostEndpoint',
      'bench-worker-uplink',
      { node: nodeName, interfaceName: UPLINK_INTERFACE, expectedIPs: [NODE_ADDRESS] },
      { 'ibm.role': 'worker_private' },
    ),
    calico('GlobalNetworkPolicy', 'bench-deny-worker-egress', {
      order: 1000,
      selector: "ibm.role == 'worker_private'",
      types: ['Egress'],
      egress: [{ action: 'Deny' }],
    }),
  ];
}

const isolateServer: NetworkPolicy = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'isolate-server', namespace: NAMESPACE },
  spec: { podSelector: { matchLabels: { app: 'server' } }, policyTypes: ['Ingress'], ingress: [] },
};

function profile(prefix: string): VpcEgressProfile {
  return {
    apiVersion: 'calico-vpc.io/v1alpha1',
    kind: 'VpcEgressProfile',
    metadata: { name: 'bench' },
    spec: { zones: [{ name: 'us-south-1', addressPrefixes: [prefix] }] },
  } as VpcEgressProfile;
}

export async function benchEnforcement(options: {
  log: Log;
  logDir: string;
  changes: number;
  running: Set<() => Promise<void>>;
}): Promise<EnforcementResult> {
  const { log } = options;
  const available = await felixAvailability('v3');
  if (!available.ok) throw new Error(`enforcement needs the Felix tier's environment: ${available.reason}`);
  const env = await startFelixEnvironment({ calicoApi: 'v3', log: (line) => log(`  felix: ${line}`) });
  const stopEnv = () => env.stop();
  options.running.add(stopEnv);
  let controller: ControllerProcess | undefined;
  try {
    await env.addNamespace(NAMESPACE);
    await env.addPod({
      namespace: NAMESPACE,
      name: 'client',
      labels: { app: 'client' },
      ports: [{ port: 80 }],
    });
    await env.addPod({
      namespace: NAMESPACE,
      name: 'server',
      labels: { app: 'server' },
      ports: [{ port: SERVER_PORT, name: 'http' }],
    });
    await env.addVpcHost(GATEWAY.name, GATEWAY.address, [GATEWAY.port]);
    await env.apply(baseline(env.nodeName));
    await env.waitForDataplaneQuiet();

    const podProbe = {
      from: `${NAMESPACE}/client`,
      to: `${NAMESPACE}/server`,
      protocol: 'TCP' as const,
      port: SERVER_PORT,
    };
    const workerProbe = {
      from: NODE_ENDPOINT,
      to: GATEWAY.name,
      protocol: 'TCP' as const,
      port: GATEWAY.port,
    };
    const networkPolicies = env.client.resource<KubeObject>({
      group: 'networking.k8s.io',
      version: 'v1',
      plural: 'networkpolicies',
      namespaced: true,
      kind: 'NetworkPolicy',
    });

    const deleteIsolation = () =>
      networkPolicies.delete(isolateServer.metadata!.name!, { namespace: NAMESPACE });
    // The control: without the operator, the NetworkPolicy alone (Felix's own conversion) changes nothing.
    await env.apply([isolateServer]);
    await env.waitForDataplaneQuiet();
    const alone = await env.probeOnce(podProbe, 1000);
    if (alone.observed !== 'allow')
      throw new Error(
        `the NetworkPolicy alone decided the probe (${alone.observed}): the benchmark would time Felix's own conversion`,
      );
    await deleteIsolation();
    await env.waitForDataplaneQuiet();

    mkdirSync(options.logDir, { recursive: true });
    controller = await ControllerProcess.start({
      kubeconfig: env.kubeconfigPath,
      logDir: options.logDir,
      label: 'enforcement',
      extraArgs: ['--tier', TIER],
    });
    options.running.add(controller.stop);
    await controller.waitReady(60_000);
    await env.waitForDataplaneQuiet();

    /** Times `changes` alternating changes; checks the starting verdict first. */
    const timeChanges = async (
      name: string,
      probe: Omit<ProbeCase, 'expect'>,
      start: Want,
      change: (want: Want) => Promise<void>,
    ) => {
      const first = await env.probeOnce(probe, 1000);
      if (first.observed !== start)
        throw new Error(
          `${name}: expected ${start} before the first change, got ${first.observed} (${first.detail})`,
        );
      const samples: { ms: number; want: Want }[] = [];
      let want: Want = start === 'allow' ? 'deny' : 'allow';
      for (let i = 0; i < options.changes; i++) {
        const since = performance.now();
        await change(want);
        const ms = await timeToVerdict(env, probe, want, since);
        samples.push({ ms, want });
        // Let the operator and Felix settle, so one change's tail does not overlap the next.
        await env.waitForDataplaneQuiet({ quietMs: 1000 });
        want = want === 'allow' ? 'deny' : 'allow';
      }
      const result = figure(samples);
      log(
        `  ${name}: ${result.changes} changes, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms ` +
          `(to drop p50 ${result.to_drop.p50_ms}, to answer p50 ${result.to_answer.p50_ms})`,
      );
      return result;
    };

    log(
      `enforcement: ${options.changes} NetworkPolicy changes, then ${options.changes} VpcEgressProfile changes`,
    );
    const networkpolicy = await timeChanges('networkpolicy', podProbe, 'allow', async (want) => {
      if (want === 'deny') await env.apply([isolateServer]);
      else await deleteIsolation();
    });
    await env.apply([profile(OTHER_PREFIX) as KubeObject]);
    await env.waitForDataplaneQuiet();
    const profileFigure = await timeChanges('profile', workerProbe, 'deny', async (want) => {
      await env.apply([profile(want === 'allow' ? COVERING_PREFIX : OTHER_PREFIX) as KubeObject]);
    });
    return {
      felix: env.felix.version,
      calico_api: 'v3',
      poll_ms: POLL_MS,
      networkpolicy,
      profile: profileFigure,
    };
  } finally {
    if (controller) {
      await controller.stop().catch(() => undefined);
      options.running.delete(controller.stop);
    }
    await env.stop();
    options.running.delete(stopEnv);
  }
}
