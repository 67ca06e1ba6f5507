/**
 * Real traffic between pods under the seed's accounts/finance policies (config/samples), on a cluster with nodes
 * and a Calico dataplane: E2E_TRAFFIC=true, set for kind from hack/kind-up.sh. Elsewhere (the local control plane
 * runs no pods) the tests are skipped and say why.
 *
 * What it can and cannot show: Calico enforces Kubernetes NetworkPolicies by itself too, and a connection is
 * allowed when ANY policy allows it. So the denied connections below prove that the operator's GNPs open no hole
 * (a translation wider than the Kubernetes meaning would let them through); the allowed ones prove the setup
 * works. A translation narrower than Kubernetes would hide behind Calico's own conversion here; the differential
 * tests of src/policy catch that.
 */
import { join } from 'node:path';
import type { KubeObject, Namespace, NetworkPolicy } from '../src/api/kube.js';
import type { GlobalNetworkPolicy } from '../src/calico/types.js';
import { readManifests } from '../src/controlplane/install.js';
import { REPO_ROOT } from '../src/controlplane/local.js';
import type { ResourceClient } from '../src/kube/resource.js';
import { translateNetworkPolicy } from '../src/translate/networkpolicy.js';
import { applyManifests, resourceFor } from './support/apply.js';
import {
  CONVERGE_MS,
  connectE2eCluster,
  eventually,
  getOrUndefined,
  type E2eCluster,
} from './support/cluster.js';
import { connect, podsOf, startServer, type Endpoint, type Verdict } from './support/traffic.js';

const SAMPLES = readManifests(join(REPO_ROOT, 'config', 'samples', 'accounts-finance.yaml')) as KubeObject[];
const SAMPLE_POLICIES = SAMPLES.filter((o) => o.kind === 'NetworkPolicy') as NetworkPolicy[];
const SAMPLE_NAMESPACES = SAMPLES.filter((o) => o.kind === 'Namespace') as Namespace[];

const skipReason =
  process.env.E2E_TRAFFIC === 'true'
    ? undefined
    : 'E2E_TRAFFIC is not "true": traffic needs nodes with a Calico dataplane (kind from hack/kind-up.sh); ' +
      'the local control plane runs no pods';
if (skipReason) process.stderr.write(`e2e: skipping the traffic tests: ${skipReason}\n`);
const describeTraffic = skipReason ? describe.skip : describe;

const PODS_MS = 10 * 60_000;
const BACKEND_PORTS = [3111, 8080];
const DB_PORT = 5432;

const accounts = (tier: string): Endpoint => ({ namespace: 'accounts', labels: { app: 'Srv1', tier } });

describeTraffic('traffic between pods under the accounts/finance policies', () => {
  let cluster: E2eCluster;
  let namespaces: ResourceClient<KubeObject>;
  const outsiderNamespace = `e2e-outsider-${process.pid}`;
  const createdNamespaces: string[] = [];
  const serverPods: { namespace: string; name: string }[] = [];
  let backendIp: string;
  let dbIp: string;

  beforeAll(async () => {
    cluster = await connectE2eCluster();
    namespaces = await resourceFor(cluster.client, SAMPLE_NAMESPACES[0] as KubeObject);
    for (const ns of SAMPLE_NAMESPACES) {
      if (!(await getOrUndefined(namespaces, ns.metadata.name))) createdNamespaces.push(ns.metadata.name);
    }
    await applyManifests(cluster.client, SAMPLES);
    await namespaces.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: outsiderNamespace } });
    createdNamespaces.push(outsiderNamespace);

    for (const np of SAMPLE_POLICIES) {
      const translation = translateNetworkPolicy(np);
      if (!translation.ok) throw new Error(`sample ${np.metadata.name} does not translate`);
      const name = cluster.stored(translation.policy as GlobalNetworkPolicy).metadata.name;
      await eventually(`GNP ${name}`, () => getOrUndefined(cluster.gnps, name), CONVERGE_MS, 500);
    }

    const suffix = String(process.pid);
    [backendIp, dbIp] = await Promise.all([
      startServer(cluster.client, `backend-${suffix}`, accounts('backend'), BACKEND_PORTS),
      startServer(cluster.client, `db-${suffix}`, accounts('db'), [DB_PORT]),
    ]);
    serverPods.push(
      { namespace: 'accounts', name: `backend-${suffix}` },
      { namespace: 'accounts', name: `db-${suffix}` },
    );
  }, PODS_MS);

  afterAll(async () => {
    if (!cluster) return;
    const pods = podsOf(cluster.client);
    for (const pod of serverPods)
      await pods.delete(pod.name, { namespace: pod.namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
    for (const ns of createdNamespaces) await namespaces.delete(ns).catch(() => undefined);
    await cluster.close();
  }, CONVERGE_MS);

  it(
    'allows exactly what the policies allow, on the right ports',
    async () => {
      const finance: Endpoint = { namespace: 'finance', labels: { app: 'ledger' } };
      const outsider: Endpoint = { namespace: outsiderNamespace, labels: { app: 'ledger' } };
      const cases: { what: string; from: Endpoint; ip: () => string; port: number; expected: Verdict }[] = [
        {
          what: 'frontend -> backend:3111',
          from: accounts('frontend'),
          ip: () => backendIp,
          port: 3111,
          expected: 'allowed',
        },
        {
          what: 'frontend -> backend:8080',
          from: accounts('frontend'),
          ip: () => backendIp,
          port: 8080,
          expected: 'allowed',
        },
        {
          what: 'finance -> backend:3111',
          from: finance,
          ip: () => backendIp,
          port: 3111,
          expected: 'allowed',
        },
        {
          what: 'finance -> backend:8080',
          from: finance,
          ip: () => backendIp,
          port: 8080,
          expected: 'denied',
        },
        {
          what: 'outsider -> backend:3111',
          from: outsider,
          ip: () => backendIp,
          port: 3111,
          expected: 'denied',
        },
        {
          what: 'backend -> db:5432',
          from: accounts('backend'),
          ip: () => dbIp,
          port: DB_PORT,
          expected: 'allowed',
        },
        {
          what: 'frontend -> db:5432',
          from: accounts('frontend'),
          ip: () => dbIp,
          port: DB_PORT,
          expected: 'denied',
        },
        { what: 'finance -> db:5432', from: finance, ip: () => dbIp, port: DB_PORT, expected: 'denied' },
      ];
      const verdicts = await Promise.all(
        cases.map(
          async (c) => [c.what, await connect(cluster.client, c.from, c.ip(), c.port, c.expected)] as const,
        ),
      );
      expect(Object.fromEntries(verdicts)).toEqual(
        Object.fromEntries(cases.map((c) => [c.what, c.expected])),
      );
    },
    PODS_MS,
  );
});
