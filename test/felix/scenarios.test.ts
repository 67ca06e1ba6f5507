/**
 * Real Calico Felix, real packets (test/felix/environment.ts), once per Calico API: Felix v3.31.7 with the operator
 * writing crd.projectcalico.org/v1, and Felix v3.32.1 on the native projectcalico.org/v3 CRDs with the operator
 * writing projectcalico.org/v3.
 *
 *   1. The seed's accounts/finance example through the running operator: config/samples' namespaces and
 *      NetworkPolicies, one pod per Deployment of the seed (plus a look-alike front end in another namespace);
 *      after translation the operator is stopped and the NetworkPolicies deleted, so only our
 *      GlobalNetworkPolicies are in force (Felix enforces NetworkPolicies natively too, and the union would hide a
 *      translation that allows too little). The whole truth table is probed for TCP, UDP and SCTP.
 *   2. The seed's VPE gateway rule: the worker (Felix's own namespace) as a HostEndpoint labelled
 *      ibm.role=worker_private on its uplink, VPE gateways in three zones' address prefixes and a host outside
 *      them, a restrictive worker egress policy ordered after 500; then config/samples' VpcEgressProfile, a zone
 *      removed, a zone and a prefix added, the profile deleted — every change probed with new connections.
 */
import { join } from 'node:path';
import { expect } from '@jest/globals';
import type { KubeObject, NetworkPolicy } from '../../src/api/kube.js';
import type { VpcEgressProfile } from '../../src/api/v1alpha1.js';
import { toWire, type CalicoApi } from '../../src/calico/flavour.js';
import { SOURCE_LABEL, SOURCE_VPE, ZONE_LABEL, type GlobalNetworkPolicy } from '../../src/calico/types.js';
import { readManifests } from '../../src/controlplane/install.js';
import { REPO_ROOT } from '../../src/controlplane/local.js';
import { translateProfile } from '../../src/vpe/rules.js';
import { eventually } from '../integration/harness.js';
import { expectedGnp, gnpClient, startOperator } from '../integration/operator.js';
import {
  NODE_ADDRESS,
  NODE_ENDPOINT,
  PROTOCOLS,
  UPLINK_INTERFACE,
  probeMatrix,
  type Endpoint,
  type FelixEnvironment,
  type ProbeCase,
} from './environment.js';
import { describeFelix, expectProbes } from './tier.js';

const SAMPLES = join(REPO_ROOT, 'config', 'samples');
const SEED_WORKLOADS = join(REPO_ROOT, 'test', 'fixtures', 'seed-fixed', 'workloads.yaml');
/** A port every seed pod also serves, that no policy names: shows which traffic a port-scoped rule leaves out. */
const EXTRA_PORT = 9090;

interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec?: { containers?: { ports?: { containerPort: number; name?: string }[] }[] };
}

function samples(kind: string): KubeObject[] {
  return readManifests(SAMPLES).filter((o) => o.kind === kind);
}

/** Namespace labels and pod labels by endpoint name, for the expected verdicts. */
interface SeedWorld {
  namespaceLabels: Map<string, Record<string, string>>;
  podLabels: Map<string, Record<string, string>>;
}

function matches(labels: Record<string, string> | undefined, wanted: Record<string, string>): boolean {
  return Object.entries(wanted).every(([k, v]) => labels?.[k] === v);
}

/**
 * What the seed's three policies mean, written out from their text (not computed by the code under test):
 *   backend-allow  accounts back end <- accounts front end, any port and protocol
 *   accounts-allow accounts back end <- any pod of a namespace labelled usage=finance, TCP 3111 only
 *   db-allow       accounts database <- accounts back end, any port and protocol
 * Pods no policy selects (every front end, everything in finance and elsewhere) accept everything.
 */
function seedVerdict(world: SeedWorld, src: Endpoint, dst: Endpoint, protocol: string, port: number) {
  const srcNs = src.name.split('/')[0]!;
  const dstNs = dst.name.split('/')[0]!;
  const srcLabels = world.podLabels.get(src.name);
  const dstLabels = world.podLabels.get(dst.name);
  const inAccounts = (ns: string, labels: Record<string, string> | undefined, tier: string) =>
    ns === 'accounts' && matches(labels, { app: 'Srv1', tier });
  if (inAccounts(dstNs, dstLabels, 'backend')) {
    const fromFrontend = inAccounts(srcNs, srcLabels, 'frontend');
    const fromFinance =
      matches(world.namespaceLabels.get(srcNs), { usage: 'finance' }) && protocol === 'TCP' && port === 3111;
    return fromFrontend || fromFinance ? 'allow' : 'deny';
  }
  if (inAccounts(dstNs, dstLabels, 'db')) return inAccounts(srcNs, srcLabels, 'backend') ? 'allow' : 'deny';
  return 'allow';
}

async function seedExample(env: FelixEnvironment, api: CalicoApi): Promise<void> {
  const world: SeedWorld = { namespaceLabels: new Map(), podLabels: new Map() };
  const namespaces = [
    ...samples('Namespace'),
    // A namespace the policies do not name, holding a look-alike of the accounts front end: a podSelector peer is
    // scoped to the policy's own namespace, so this pod must NOT reach the back end.
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'elsewhere', labels: { usage: 'other' } } },
  ] as KubeObject[];
  for (const ns of namespaces) {
    const labels = (ns.metadata?.labels ?? {}) as Record<string, string>;
    world.namespaceLabels.set(ns.metadata!.name!, labels);
    await env.addNamespace(ns.metadata!.name!, labels);
  }

  const pods: Endpoint[] = [];
  const deployments = readManifests(SEED_WORKLOADS).filter((o) => o.kind === 'Deployment');
  for (const deployment of deployments) {
    const template = (deployment as unknown as { spec: { template: PodTemplate } }).spec.template;
    const labels = template.metadata?.labels ?? {};
    const ports = (template.spec?.containers ?? []).flatMap((c) => c.ports ?? []);
    const pod = {
      namespace: deployment.metadata!.namespace!,
      name: `${deployment.metadata!.name}-0`,
      labels,
      ports: [
        ...ports.map((p) => ({ port: p.containerPort, name: p.name })),
        { port: EXTRA_PORT, name: 'metrics' },
      ],
    };
    pods.push(await env.addPod(pod));
    world.podLabels.set(`${pod.namespace}/${pod.name}`, labels);
  }
  const lookAlike = { app: 'Srv1', tier: 'frontend' };
  pods.push(
    await env.addPod({
      namespace: 'elsewhere',
      name: 'srv1-frontend-0',
      labels: lookAlike,
      ports: [{ port: 8080, name: 'http' }],
    }),
  );
  world.podLabels.set('elsewhere/srv1-frontend-0', lookAlike);

  // Before any policy: everything answers (the wiring works, and the listeners are there).
  await env.waitForDataplaneQuiet();
  expectProbes(
    await env.probe(
      probeMatrix(pods, pods, PROTOCOLS, () => 'allow'),
      { name: `${api} seed example: no policy` },
    ),
  );

  // The operator translates the samples' NetworkPolicies.
  const operator = await startOperator(env.kubeConfig, { calicoApi: api });
  const networkPolicies = samples('NetworkPolicy') as NetworkPolicy[];
  const gnps = gnpClient(env.kubeConfig, api);
  try {
    const before = await env.dataplaneCounters();
    await env.apply(networkPolicies);
    const expected = networkPolicies.map((np) => expectedGnp(np, api).metadata.name);
    await eventually(`the operator's GNPs ${expected.join(', ')}`, async () => {
      const managed = await gnps.managed();
      return expected.every((name) => managed.has(name));
    });
    await operator.stop();
    // Only our GNPs in force: the NetworkPolicies go (the stopped operator cannot remove their translations).
    for (const np of networkPolicies) {
      await env.client
        .resource<KubeObject>({
          group: 'networking.k8s.io',
          version: 'v1',
          plural: 'networkpolicies',
          namespaced: true,
          kind: 'NetworkPolicy',
        })
        .delete(np.metadata!.name!, { namespace: np.metadata!.namespace! });
    }
    await env.waitForDataplaneQuiet({ since: before });
    const managed = await gnps.managed();
    expect(expected.every((name) => managed.has(name))).toBe(true);

    const table = probeMatrix(pods, pods, PROTOCOLS, (src, dst, protocol, port) =>
      seedVerdict(world, src, dst, protocol, port),
    );
    expect(table.some((c) => c.expect === 'deny')).toBe(true);
    expectProbes(await env.probe(table, { name: `${api} seed example: only the operator's GNPs` }));
  } finally {
    await operator.stop();
    gnps.client.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Scenario 2: the VPE gateway rule

/** Gateways at addresses inside config/samples' three zone prefixes, and a host outside all of them. */
const GATEWAYS = [
  { name: 'vpe-us-south-1', zone: 'us-south-1', address: '10.240.1.10' },
  { name: 'vpe-us-south-2', zone: 'us-south-2', address: '10.240.65.10' },
  { name: 'vpe-us-south-3', zone: 'us-south-3', address: '10.240.129.10' },
] as const;
const OUTSIDE = { name: 'outside-host', address: '10.250.0.10' };
/** The registry's ports, and two the rule must not open. */
const VPE_PORTS = [443, 4443];
const OTHER_PORTS = [80, 8443];
/** The restrictive worker policy lets the worker reach this one service, a control that policing is selective. */
const ALLOWED_SERVICE_PORT = 80;

function restrictiveWorkerEgress(api: CalicoApi): GlobalNetworkPolicy {
  // The situation the seed describes: "you use Calico policies to restrict outbound connections from cluster
  // workers". Order 1000, after the VPE rule's 500: allow one known service, deny the rest.
  return toWire(
    {
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      metadata: { name: 'restrict-worker-egress' },
      spec: {
        order: 1000,
        selector: "ibm.role == 'worker_private'",
        types: ['Egress'],
        egress: [
          {
            action: 'Allow',
            protocol: 'TCP',
            destination: { nets: [`${OUTSIDE.address}/32`], ports: [ALLOWED_SERVICE_PORT] },
          },
          { action: 'Deny' },
        ],
      },
    } as GlobalNetworkPolicy,
    api,
  );
}

function workerHostEndpoint(api: CalicoApi, node: string): KubeObject {
  return {
    apiVersion: api === 'v3' ? 'projectcalico.org/v3' : 'crd.projectcalico.org/v1',
    kind: 'HostEndpoint',
    metadata: { name: `${node}-uplink`, labels: { 'ibm.role': 'worker_private' } },
    spec: { node, interfaceName: UPLINK_INTERFACE, expectedIPs: [NODE_ADDRESS] },
  } as KubeObject;
}

/** Which (host, port) pairs the worker may open, for one state of the world. */
interface VpeState {
  name: string;
  /** No host endpoint yet: nothing is policed. */
  unpoliced?: boolean;
  /** Hosts whose address lies in a prefix the profile (as the operator wrote it) allows. */
  open: readonly string[];
}

function vpeTable(state: VpeState): ProbeCase[] {
  const hosts = [...GATEWAYS.map((g) => g.name), OUTSIDE.name];
  const table: ProbeCase[] = [];
  for (const host of hosts) {
    for (const port of [...VPE_PORTS, ...OTHER_PORTS]) {
      for (const protocol of PROTOCOLS) {
        const vpe = state.open.includes(host) && protocol === 'TCP' && VPE_PORTS.includes(port);
        const service = host === OUTSIDE.name && protocol === 'TCP' && port === ALLOWED_SERVICE_PORT;
        const allowed = state.unpoliced || vpe || service;
        table.push({ from: NODE_ENDPOINT, to: host, protocol, port, expect: allowed ? 'allow' : 'deny' });
      }
    }
  }
  return table;
}

const PROFILE_RESOURCE = {
  group: 'calico-vpc.io',
  version: 'v1alpha1',
  plural: 'vpcegressprofiles',
  namespaced: false,
  kind: 'VpcEgressProfile',
};

async function vpeRule(env: FelixEnvironment, api: CalicoApi): Promise<void> {
  for (const g of [...GATEWAYS, OUTSIDE]) {
    await env.addVpcHost(g.name, g.address, [...VPE_PORTS, ...OTHER_PORTS]);
  }
  const gnps = gnpClient(env.kubeConfig, api);
  const operator = await startOperator(env.kubeConfig, { calicoApi: api });
  const allGateways = GATEWAYS.map((g) => g.name);

  /**
   * Waits until the operator's VPE GNPs are what the translator makes of `profile` (none without one): the wait
   * says the operator has written; whether what it wrote is right, only the packets decide.
   */
  const operatorWrote = async (profile: VpcEgressProfile | undefined) => {
    const translation = profile ? translateProfile(profile) : undefined;
    if (translation && !translation.ok)
      throw new Error(`the test's profile is invalid: ${JSON.stringify(translation)}`);
    const netsByZone = (policies: readonly GlobalNetworkPolicy[]) =>
      new Map(
        policies.map((p) => [
          p.metadata.labels?.[ZONE_LABEL] ?? '',
          String(p.spec.egress?.[0]?.destination?.nets ?? []),
        ]),
      );
    const want = netsByZone(translation?.ok ? translation.value.policies : []);
    await eventually(`the operator's VPE GNPs for ${JSON.stringify([...want])}`, async () => {
      const live = [...(await gnps.managed()).values()].filter(
        (p) => p.metadata.labels?.[SOURCE_LABEL] === SOURCE_VPE,
      );
      const got = netsByZone(live);
      return got.size === want.size && [...want].every(([zone, nets]) => got.get(zone) === nets);
    });
  };

  /** Applies a change, waits for the operator and Felix, then probes the whole table with new connections. */
  const change = async (state: VpeState, act: () => Promise<void>, profile?: VpcEgressProfile | null) => {
    const before = await env.dataplaneCounters();
    const started = Date.now();
    await act();
    if (profile !== null) await operatorWrote(profile);
    await env.waitForDataplaneQuiet({ since: before });
    const report = await env.probe(vpeTable(state), { name: `${api} VPE rule: ${state.name}` });
    expectProbes(report);
    env.log(`${state.name}: enforced and probed ${Date.now() - started} ms after the change`);
  };

  try {
    await env.waitForDataplaneQuiet();
    expectProbes(
      await env.probe(vpeTable({ name: 'no host endpoint', unpoliced: true, open: [] }), {
        name: `${api} VPE rule: no host endpoint (the network works)`,
      }),
    );

    await change(
      { name: 'worker egress restricted, no profile', open: [] },
      () => env.apply([workerHostEndpoint(api, env.nodeName), restrictiveWorkerEgress(api) as KubeObject]),
      null,
    );

    const sample = samples('VpcEgressProfile')[0] as VpcEgressProfile;
    const profile = structuredClone(sample);
    await change(
      { name: 'profile of config/samples (three zones)', open: allGateways },
      () => env.apply([profile as KubeObject]),
      profile,
    );

    const zones = profile.spec.zones!;
    const withoutZone3 = {
      ...profile,
      spec: { ...profile.spec, zones: zones.filter((z) => z.name !== 'us-south-3') },
    };
    await change(
      { name: 'zone us-south-3 removed', open: ['vpe-us-south-1', 'vpe-us-south-2'] },
      () => env.apply([withoutZone3 as KubeObject]),
      withoutZone3,
    );

    const widened = {
      ...profile,
      spec: {
        ...profile.spec,
        zones: zones.map((z) =>
          z.name === 'us-south-2' ? { ...z, addressPrefixes: [...z.addressPrefixes!, '10.250.0.0/24'] } : z,
        ),
      },
    };
    await change(
      {
        name: 'zone us-south-3 added back, prefix 10.250.0.0/24 added to us-south-2',
        open: [...allGateways, OUTSIDE.name],
      },
      () => env.apply([widened as KubeObject]),
      widened,
    );

    await change(
      { name: 'profile deleted', open: [] },
      () => env.client.resource<KubeObject>(PROFILE_RESOURCE).delete(profile.metadata!.name!),
      undefined,
    );
  } finally {
    await operator.stop();
    gnps.client.close();
  }
}

for (const api of ['crd', 'v3'] as const) {
  describeFelix(api, (felix) => {
    felix.scenario('scenario 1: the seed example through the operator, only its GNPs in force', (env) =>
      seedExample(env, api),
    );
    felix.scenario('scenario 2: the VPE gateway rule on the worker host endpoint', (env) =>
      vpeRule(env, api),
    );
  });
}
