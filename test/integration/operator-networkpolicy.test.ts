/**
 * NetworkPolicy -> GlobalNetworkPolicy, reconciled by the real operator against a real API server: the seed's
 * accounts/finance scenario, update, delete, a namespace being deleted, the per-namespace off switch, a policy the
 * API server accepts but Calico cannot express, a no-op restart, an orphan left while the operator was down, and
 * the crd.projectcalico.org/v1 flavour.
 *
 * The expected GNPs are computed with the same pure functions the operator uses (translateNetworkPolicy, then
 * toWire for the storage flavour) AND checked field by field against literals, so a bug shared by the translator
 * and the writer still shows.
 */
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject, Namespace, NetworkPolicy } from '../../src/api/kube.js';
import type { CalicoApi } from '../../src/calico/flavour.js';
import type { GlobalNetworkPolicy } from '../../src/calico/types.js';
import { readManifests } from '../../src/controlplane/install.js';
import { REPO_ROOT, type LocalControlPlane } from '../../src/controlplane/local.js';
import { TRANSLATE_NAMESPACE_LABEL } from '../../src/controller/networkpolicy-reconciler.js';
import { KubeClient } from '../../src/kube/client.js';
import type { ResourceClient } from '../../src/kube/resource.js';
import { EVENTS } from '../../src/kube/resources.js';
import { type KubeEvent } from '../../src/kube/events.js';
import { Registry } from '../../src/observability/metrics.js';
import { gnpNameForNetworkPolicy } from '../../src/translate/names.js';
import { applyManifests } from '../../e2e/support/apply.js';
import { eventually, startDedicatedControlPlane, uniqueName } from './harness.js';
import { expectedGnp, gnpClient, networkPolicy, startOperator, type RunningOperator } from './operator.js';
import { NAMESPACES, NETWORK_POLICIES } from '../../src/kube/resources.js';

// The integration project's testTimeout does not reach tests (jest ignores it inside `projects`).
const TIMEOUT_MS = 120_000;
const SAMPLE = join(REPO_ROOT, 'config', 'samples', 'accounts-finance.yaml');

const describeOrSkip = process.env.USE_EXISTING_CLUSTER === 'true' ? describe.skip : describe;
// Skipped against an existing cluster: the operator under test must be the only one reconciling its
// NetworkPolicies, so these tests start a control plane of their own.

function storedName(namespace: string, name: string, api: CalicoApi): string {
  const logical = gnpNameForNetworkPolicy(namespace, name);
  return api === 'crd' ? `default.${logical}` : logical;
}

/**
 * Throws (with jest's diff) unless the stored GNP matches the expected one: spec exactly, our labels and
 * annotations present. Inside `eventually`, the last diff is what a timeout reports.
 */
function expectMatch(live: GlobalNetworkPolicy | undefined, expected: GlobalNetworkPolicy): true {
  if (!live) throw new Error(`${expected.metadata.name} does not exist`);
  expect(live.spec).toEqual(expected.spec);
  expect(live.metadata.labels).toEqual(expect.objectContaining(expected.metadata.labels));
  expect(live.metadata.annotations).toEqual(expect.objectContaining(expected.metadata.annotations));
  return true;
}

const SAMPLE_POLICIES = readManifests(SAMPLE).filter(
  (o) => o.kind === 'NetworkPolicy',
) as unknown as NetworkPolicy[];

describeOrSkip('NetworkPolicies reconciled into GlobalNetworkPolicies', () => {
  let cp: LocalControlPlane;
  let kc: KubeConfig;
  let op: RunningOperator;
  let client: KubeClient;
  let policies: ResourceClient<NetworkPolicy>;
  let namespaces: ResourceClient<Namespace>;
  let gnps: ReturnType<typeof gnpClient>;

  beforeAll(async () => {
    const started = await startDedicatedControlPlane();
    if (!started) throw new Error('unreachable: skipped above');
    ({ cp, kc } = started);
    client = new KubeClient(kc, { registry: new Registry() });
    policies = client.resource<NetworkPolicy>(NETWORK_POLICIES);
    namespaces = client.resource<Namespace>(NAMESPACES);
    gnps = gnpClient(kc, 'v3');
    op = await startOperator(kc, { calicoApi: 'v3' });
  }, 180_000);

  afterAll(async () => {
    await op?.stop();
    client?.close();
    gnps?.client.close();
    await cp?.stop();
  }, TIMEOUT_MS);

  async function createNamespace(prefix: string, labels: Record<string, string> = {}): Promise<string> {
    const name = uniqueName(prefix);
    await namespaces.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
    return name;
  }

  const gnpOf = (namespace: string, name: string) => gnps.get(storedName(namespace, name, 'v3'));

  async function translationFailures(namespace: string, name: string): Promise<KubeEvent[]> {
    const { items } = await client.resource<KubeEvent>(EVENTS).listAll({ namespace });
    return items.filter(
      (e) => e.regarding.name === name && e.type === 'Warning' && e.reason === 'TranslationFailed',
    );
  }

  it(
    "translates the seed's accounts/finance policies into the expected GNPs",
    async () => {
      // Not applyObjects (src/controlplane/install.ts): see e2e/support/apply.ts for why.
      await applyManifests(client, readManifests(SAMPLE) as KubeObject[]);
      for (const np of SAMPLE_POLICIES) {
        const expected = expectedGnp(np, 'v3');
        await eventually(`the GNP of ${np.metadata.name}`, async () =>
          expectMatch(await gnps.get(expected.metadata.name), expected),
        );
      }

      // The same meaning, spelled out: the policy selector is scoped to the namespace and to k8s workloads, a
      // podSelector peer is scoped to the policy's namespace, a namespaceSelector peer is not.
      const accountsAllow = await gnpOf('accounts', 'accounts-allow');
      expect(accountsAllow?.metadata.name).toMatch(/^knp-accounts-accounts-allow-[0-9a-f]{10}$/);
      expect(accountsAllow?.spec).toEqual({
        tier: 'default',
        order: 1000,
        selector:
          "projectcalico.org/orchestrator == 'k8s' && projectcalico.org/namespace == 'accounts' && app == 'Srv1' && tier == 'backend'",
        types: ['Ingress'],
        ingress: [
          {
            action: 'Allow',
            protocol: 'TCP',
            source: {
              selector: "projectcalico.org/orchestrator == 'k8s'",
              namespaceSelector: "usage == 'finance'",
            },
            destination: { ports: [3111] },
          },
        ],
      });
      expect(accountsAllow?.metadata.labels).toEqual(
        expect.objectContaining({
          'app.kubernetes.io/managed-by': 'calico-vpc-operator',
          'calico-vpc.io/source': 'networkpolicy',
          'calico-vpc.io/networkpolicy-namespace': 'accounts',
        }),
      );
      expect(accountsAllow?.metadata.annotations?.['calico-vpc.io/networkpolicy-name']).toBe(
        'accounts-allow',
      );

      const backendAllow = await gnpOf('accounts', 'backend-allow');
      expect(backendAllow?.spec.selector).toBe(
        "projectcalico.org/orchestrator == 'k8s' && projectcalico.org/namespace == 'accounts' && app == 'Srv1' && tier == 'backend'",
      );
      expect(backendAllow?.spec.ingress).toEqual([
        {
          action: 'Allow',
          source: {
            selector:
              "projectcalico.org/orchestrator == 'k8s' && projectcalico.org/namespace == 'accounts' && app == 'Srv1' && tier == 'frontend'",
          },
        },
      ]);
      const dbAllow = await gnpOf('accounts', 'db-allow');
      expect(dbAllow?.spec.selector).toContain("projectcalico.org/namespace == 'accounts'");
      expect(dbAllow?.spec.selector).toContain("tier == 'db'");
      expect(dbAllow?.spec.ingress?.[0]?.source?.selector).toContain("tier == 'backend'");

      // Exactly one GNP per policy, nothing else.
      const managed = [...(await gnps.managed()).keys()].filter((n) => n.startsWith('knp-accounts-'));
      expect(managed.sort()).toEqual(
        SAMPLE_POLICIES.map((np) => storedName('accounts', np.metadata.name, 'v3')).sort(),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'writes the same policies in the crd.projectcalico.org/v1 storage form when told to',
    async () => {
      // A second operator on the same cluster writing the other API group: the two never touch each other's
      // objects (different resources), so the v3 operator keeps running.
      const crdOperator = await startOperator(kc, { calicoApi: 'crd' });
      const crdGnps = gnpClient(kc, 'crd');
      try {
        for (const np of SAMPLE_POLICIES) {
          const expected = expectedGnp(np, 'crd');
          expect(expected.metadata.name).toBe(storedName('accounts', np.metadata.name, 'crd'));
          const live = await eventually(`the crd GNP of ${np.metadata.name}`, async () => {
            const g = await crdGnps.get(expected.metadata.name);
            return expectMatch(g, expected) && g;
          });
          expect(live.apiVersion).toBe('crd.projectcalico.org/v1');
          expect(live.metadata.labels?.['projectcalico.org/tier']).toBe('default');
          expect(JSON.parse(live.metadata.annotations?.['projectcalico.org/metadata'] ?? '{}')).toEqual({
            name: gnpNameForNetworkPolicy('accounts', np.metadata.name),
          });
          expect(live.spec.tier).toBe('default');
          expect(live.spec.types).toEqual(['Ingress']);
        }
      } finally {
        await crdOperator.stop();
        crdGnps.client.close();
      }
    },
    TIMEOUT_MS,
  );

  it(
    'follows an update and a delete, and leaves the other GNPs alone',
    async () => {
      const ns = await createNamespace('upd', { usage: 'finance' });
      await policies.create(
        networkPolicy(ns, 'web', {
          podSelector: { matchLabels: { app: 'web' } },
          ingress: [{ ports: [{ port: 80 }] }],
        }),
      );
      await policies.create(networkPolicy(ns, 'keep', { podSelector: {}, policyTypes: ['Ingress'] }));
      const keep = await eventually('the untouched GNP', () => gnpOf(ns, 'keep'));
      await eventually(
        'the GNP of web',
        async () => (await gnpOf(ns, 'web'))?.spec.ingress?.[0]?.destination?.ports?.[0] === 80,
      );

      const web = await policies.get('web', { namespace: ns });
      web.spec.ingress = [
        {
          ports: [
            { port: 8080, endPort: 8090 },
            { protocol: 'UDP', port: 53 },
          ],
        },
      ];
      web.spec.podSelector = { matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }] };
      await policies.update(web);
      const updated = await eventually('the updated GNP', async () => {
        const g = await gnpOf(ns, 'web');
        return expectMatch(g, expectedGnp(web, 'v3')) && g;
      });
      expect(updated.spec.selector).toBe(
        `projectcalico.org/orchestrator == 'k8s' && projectcalico.org/namespace == '${ns}' && app in {'api', 'web'}`,
      );
      expect(updated.spec.ingress).toEqual([
        { action: 'Allow', protocol: 'TCP', destination: { ports: ['8080:8090'] } },
        { action: 'Allow', protocol: 'UDP', destination: { ports: [53] } },
      ]);

      await policies.delete('web', { namespace: ns });
      await eventually('the GNP of web deleted', async () => (await gnpOf(ns, 'web')) === undefined);
      // The neighbour was never rewritten.
      expect((await gnpOf(ns, 'keep'))?.metadata.resourceVersion).toBe(keep.metadata.resourceVersion);
    },
    TIMEOUT_MS,
  );

  it(
    'repairs its GNP when someone edits or deletes it',
    async () => {
      const ns = await createNamespace('drift');
      const np = networkPolicy(ns, 'guarded', {
        podSelector: { matchLabels: { app: 'db' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }], ports: [{ port: 5432 }] }],
      });
      await policies.create(np);
      const expected = expectedGnp(np, 'v3');
      const original = await eventually('the GNP', async () => {
        const g = await gnpOf(ns, 'guarded');
        return expectMatch(g, expected) && g;
      });

      // Widened by hand: any source.
      const widened = structuredClone(original);
      delete widened.spec.ingress![0]!.source;
      await gnps.resource.update(widened as never);
      await eventually('the edit reverted', async () => expectMatch(await gnpOf(ns, 'guarded'), expected));

      await gnps.resource.delete(expected.metadata.name);
      await eventually('the GNP recreated', async () => expectMatch(await gnpOf(ns, 'guarded'), expected));
    },
    TIMEOUT_MS,
  );

  it(
    'removes the GNPs of a namespace labelled calico-vpc.io/translate=false, and restores them when the label goes',
    async () => {
      const ns = await createNamespace('optout');
      const spec = { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: {} }] }] };
      await policies.create(networkPolicy(ns, 'p1', spec));
      await policies.create(networkPolicy(ns, 'p2', { ...spec, podSelector: { matchLabels: { app: 'b' } } }));
      const before = await Promise.all(
        ['p1', 'p2'].map((name) => eventually(`GNP ${name}`, () => gnpOf(ns, name))),
      );

      await namespaces.patch(
        ns,
        { metadata: { labels: { [TRANSLATE_NAMESPACE_LABEL]: 'false' } } },
        { type: 'merge' },
      );
      await eventually(
        'both GNPs removed',
        async () => (await gnpOf(ns, 'p1')) === undefined && (await gnpOf(ns, 'p2')) === undefined,
      );
      // The NetworkPolicies themselves are the user's and stay.
      expect((await policies.listAll({ namespace: ns })).items).toHaveLength(2);

      await namespaces.patch(
        ns,
        { metadata: { labels: { [TRANSLATE_NAMESPACE_LABEL]: null } } },
        { type: 'merge' },
      );
      const after = await Promise.all(
        ['p1', 'p2'].map((name) => eventually(`GNP ${name} back`, () => gnpOf(ns, name))),
      );
      expect(after.map((g) => g.spec)).toEqual(before.map((g) => g.spec));
    },
    TIMEOUT_MS,
  );

  it(
    'prunes the GNPs of a namespace as soon as it is being deleted',
    async () => {
      const ns = await createNamespace('doomed');
      await policies.create(networkPolicy(ns, 'a', { podSelector: {} }));
      await policies.create(networkPolicy(ns, 'b', { podSelector: { matchLabels: { x: 'y' } } }));
      await eventually('both GNPs', async () => (await gnpOf(ns, 'a')) && (await gnpOf(ns, 'b')));

      await namespaces.delete(ns);
      await eventually(
        'both GNPs pruned',
        async () => (await gnpOf(ns, 'a')) === undefined && (await gnpOf(ns, 'b')) === undefined,
      );
      // This control plane runs no namespace controller, so the namespace stays Terminating with its policies
      // still in it: the GNPs went because the namespace is going, not because its policies were deleted.
      const terminating = await namespaces.get(ns);
      expect(terminating.metadata.deletionTimestamp).toBeDefined();
      expect((await policies.listAll({ namespace: ns })).items).toHaveLength(2);
    },
    TIMEOUT_MS,
  );

  it(
    'reports a policy the API server accepts but Calico cannot express, keeps its last GNP, and blocks nothing else',
    async () => {
      // `projectcalico.org/namespace` is a valid Kubernetes label key, but Calico sets that label on every
      // workload endpoint itself, so a pod selector on it cannot mean in Calico what it means in Kubernetes.
      const calicoReserved = { matchLabels: { 'projectcalico.org/namespace': 'other' } };
      const ns = await createNamespace('untranslatable');
      const good = networkPolicy(ns, 'was-good', {
        podSelector: { matchLabels: { app: 'db' } },
        ingress: [{ ports: [{ port: 5432 }] }],
      });
      await policies.create(good);
      const lastGood = await eventually('the GNP of was-good', async () => {
        const g = await gnpOf(ns, 'was-good');
        return expectMatch(g, expectedGnp(good, 'v3')) && g;
      });

      const broken = await policies.get('was-good', { namespace: ns });
      broken.spec.podSelector = calicoReserved;
      await policies.update(broken);
      await policies.create(
        networkPolicy(ns, 'never-good', {
          podSelector: {},
          ingress: [{ from: [{ podSelector: calicoReserved }] }],
        }),
      );
      await policies.create(networkPolicy(ns, 'after', { podSelector: { matchLabels: { app: 'web' } } }));

      const [kept] = await eventually('a Warning Event on was-good', () =>
        translationFailures(ns, 'was-good').then((e) => e.length > 0 && e),
      );
      expect(kept?.note).toContain('spec.podSelector.matchLabels');
      expect(kept?.note).toContain('projectcalico.org/namespace');
      expect(kept?.note).toContain('previous translation is kept');
      const [rejected] = await eventually('a Warning Event on never-good', () =>
        translationFailures(ns, 'never-good').then((e) => e.length > 0 && e),
      );
      expect(rejected?.note).toContain('spec.ingress[0].from[0].podSelector');

      // Others are reconciled as usual, the failed one keeps its last good translation, the new one gets none.
      await eventually('the GNP of the policy created after them', () => gnpOf(ns, 'after'));
      expect((await gnpOf(ns, 'was-good'))?.metadata.resourceVersion).toBe(lastGood.metadata.resourceVersion);
      expect(await gnpOf(ns, 'never-good')).toBeUndefined();
      const failures =
        (await op.registry.getSingleMetric('calico_vpc_translation_failures_total')?.get())?.values ?? [];
      expect(
        failures.filter((v) => v.labels.namespace === ns).reduce((s, v) => s + v.value, 0),
      ).toBeGreaterThanOrEqual(2);

      // Fixing the policy brings its translation up to date.
      const fixed = await policies.get('was-good', { namespace: ns });
      fixed.spec.podSelector = { matchLabels: { app: 'db', role: 'primary' } };
      await policies.update(fixed);
      await eventually('the fixed GNP', async () =>
        expectMatch(await gnpOf(ns, 'was-good'), expectedGnp(fixed, 'v3')),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'converges with zero writes when restarted, and prunes on start a GNP orphaned while it was down',
    async () => {
      const ns = await createNamespace('restart');
      await policies.create(networkPolicy(ns, 'stays', { podSelector: {} }));
      await policies.create(networkPolicy(ns, 'goes', { podSelector: { matchLabels: { app: 'x' } } }));
      await eventually('both GNPs', async () => (await gnpOf(ns, 'stays')) && (await gnpOf(ns, 'goes')));
      // Every earlier test's objects are still there: the restart below sees the whole cluster.
      await eventually('nothing left in the queue', async () => {
        const depth = (await op.registry.getSingleMetric('workqueue_depth')?.get())?.values ?? [];
        return depth.every((v) => v.value === 0);
      });

      await op.stop();
      op = await startOperator(kc, { calicoApi: 'v3' });
      // Ready means every key known at sync has been reconciled once.
      expect(await op.writes()).toBe(0);

      await op.stop();
      await policies.delete('goes', { namespace: ns });
      op = await startOperator(kc, { calicoApi: 'v3' });
      // The orphan came in with the initial list of GNPs, so readiness waited for its reconcile.
      expect(await gnpOf(ns, 'goes')).toBeUndefined();
      expect(await gnpOf(ns, 'stays')).toBeDefined();
      expect(await op.writes()).toBe(1);
    },
    TIMEOUT_MS,
  );

  it(
    'removes every translation when started with translation turned off, and writes them back when it is on again',
    async () => {
      const translated = async () =>
        [...(await gnps.managed()).values()].filter(
          (g) => g.metadata.labels?.['calico-vpc.io/source'] === 'networkpolicy',
        );
      const before = await translated();
      expect(before.length).toBeGreaterThan(0);

      await op.stop();
      op = await startOperator(kc, { calicoApi: 'v3', translateNetworkPolicies: false });
      // The deletes are part of the initial reconcile, which readiness waits for.
      expect(await translated()).toEqual([]);
      expect(await op.writes()).toBe(before.length);
      // The NetworkPolicies are the user's: untouched.
      expect((await policies.listAll({ namespace: 'accounts' })).items).toHaveLength(SAMPLE_POLICIES.length);

      await op.stop();
      op = await startOperator(kc, { calicoApi: 'v3' });
      const after = await translated();
      expect(after.map((g) => g.metadata.name).sort()).toEqual(before.map((g) => g.metadata.name).sort());
      expect(await op.writes()).toBe(before.length);
    },
    TIMEOUT_MS,
  );
});
