/**
 * Fault tests of the whole runtime (informers -> queue -> reconcile -> writes) on a control plane of this file's
 * own, so the API server can be restarted and etcd compacted without disturbing other files.
 *
 * The reconciler under test mirrors ConfigMaps: for every `role=source` ConfigMap it keeps a `mirror-<name>` with
 * the same data, and deletes mirrors whose source is gone. It reads only the informer caches and writes with the
 * cached resourceVersion, like the real reconcilers.
 *
 * The control plane runs with the watch cache off and etcd compaction every 2 s, so a watch that resumes from a
 * resourceVersion a few seconds old gets a real 410 from etcd.
 */
import type { KubeObject } from '../../src/api/kube.js';
import { Controller } from '../../src/controller/controller.js';
import { defaultControllerRateLimiter } from '../../src/controller/workqueue.js';
import { KubeClient } from '../../src/kube/client.js';
import type { ResourceClient } from '../../src/kube/resource.js';
import { isAlreadyExists, isGone, isNotFound } from '../../src/kube/errors.js';
import {
  ListWatchInformer,
  createInformer,
  listerWatcherFor,
  splitKey,
  type ListerWatcher,
} from '../../src/kube/informer.js';
import { LEASES } from '../../src/kube/resources.js';
import { LeaderElector, type Lease } from '../../src/kube/leader.js';
import type { LocalControlPlane } from '../../src/controlplane/local.js';
import { Registry } from '../../src/observability/metrics.js';
import { eventually, startDedicatedControlPlane, uniqueName } from './harness.js';
import type { KubeConfig } from '@kubernetes/client-node';
import { NAMESPACES } from '../../src/kube/resources.js';

// The integration project's testTimeout does not reach tests (jest ignores it inside `projects`).
const TIMEOUT_MS = 120_000;

interface ConfigMap extends KubeObject {
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    labels?: Record<string, string>;
  };
  data?: Record<string, string>;
}

const CONFIGMAPS = { group: '', version: 'v1', plural: 'configmaps', namespaced: true, kind: 'ConfigMap' };
const FAST_BACKOFF = { initialMs: 100, maxMs: 1000 };
const MIRROR_PREFIX = 'mirror-';

async function metric(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  return values
    .filter((v) => Object.entries(labels).every(([k, value]) => String(v.labels[k]) === value))
    .reduce((sum, v) => sum + v.value, 0);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface MirrorOptions {
  identity: string;
  registry: Registry;
  /** Per-key delay inside reconcile, to widen the window for faults. */
  delayMs?: (key: string) => number;
  /** Runs just before a mirror update (after the cached read): lets a test write in between. */
  beforeUpdate?: (mirror: ConfigMap) => Promise<void>;
  sourcesListerWatcher?: ListerWatcher<ConfigMap>;
}

function mirrorController(cms: ResourceClient<ConfigMap>, namespace: string, options: MirrorOptions) {
  const { registry, identity } = options;
  const sources = options.sourcesListerWatcher
    ? new ListWatchInformer<ConfigMap>(options.sourcesListerWatcher, {
        name: `sources-${identity}`,
        registry,
        backoff: FAST_BACKOFF,
      })
    : createInformer(cms, {
        name: `sources-${identity}`,
        namespace,
        labelSelector: 'role=source',
        registry,
        backoff: FAST_BACKOFF,
      });
  const mirrors = createInformer(cms, {
    name: `mirrors-${identity}`,
    namespace,
    labelSelector: 'role=mirror',
    registry,
    backoff: FAST_BACKOFF,
  });
  const writes: string[] = [];
  const reconciles = new Map<string, number>();
  const controller = new Controller({
    name: `mirror-${identity}`,
    concurrency: 2,
    registry,
    rateLimiter: defaultControllerRateLimiter({ maxDelayMs: 1000 }),
    reconcile: async (key) => {
      reconciles.set(key, (reconciles.get(key) ?? 0) + 1);
      const delay = options.delayMs?.(key) ?? 0;
      if (delay > 0) await sleep(delay);
      const { name } = splitKey(key);
      const source = sources.get(key);
      const mirrorName = MIRROR_PREFIX + name;
      const mirror = mirrors.get(`${namespace}/${mirrorName}`);
      if (!source) {
        if (mirror) {
          await cms
            .delete(mirrorName, { namespace, preconditions: { uid: mirror.metadata.uid } })
            .catch((err: unknown) => {
              if (!isNotFound(err)) throw err;
            });
          writes.push(`delete ${mirrorName}`);
        }
        return;
      }
      const data = source.data ?? {};
      if (!mirror) {
        await cms
          .create({ metadata: { name: mirrorName, namespace, labels: { role: 'mirror' } }, data })
          .catch((err: unknown) => {
            // Created by an earlier attempt the cache has not caught up with: the mirrors watch re-queues the key.
            if (!isAlreadyExists(err)) throw err;
          });
        writes.push(`create ${mirrorName}`);
      } else if (JSON.stringify(mirror.data ?? {}) !== JSON.stringify(data)) {
        await options.beforeUpdate?.(mirror);
        await cms.update({ ...mirror, data });
        writes.push(`update ${mirrorName}`);
      }
    },
  });
  controller.watches(sources).watches(mirrors, (event) => {
    const name = event.object.metadata.name;
    return name.startsWith(MIRROR_PREFIX) ? [`${namespace}/${name.slice(MIRROR_PREFIX.length)}`] : [];
  });
  return { controller, sources, mirrors, writes, reconciles };
}

/** Sources and mirrors as the API server has them, compared as name -> data. */
async function converged(cms: ResourceClient<ConfigMap>, namespace: string): Promise<boolean> {
  const { items } = await cms.listAll({ namespace });
  const data = (role: string, strip = '') =>
    JSON.stringify(
      items
        .filter((i) => i.metadata.labels?.role === role)
        .map((i) => [i.metadata.name.slice(strip.length), i.data ?? {}])
        .sort(([a], [b]) => String(a).localeCompare(String(b))),
    );
  return data('source') === data('mirror', MIRROR_PREFIX);
}

async function createSource(cms: ResourceClient<ConfigMap>, namespace: string, name: string, value: string) {
  return cms.create({ metadata: { name, namespace, labels: { role: 'source' } }, data: { value } });
}

async function setSource(cms: ResourceClient<ConfigMap>, namespace: string, name: string, value: string) {
  return cms.patch(name, { data: { value } }, { type: 'merge', namespace });
}

let dedicated: { cp: LocalControlPlane; kc: KubeConfig } | undefined;
let client: KubeClient;
let cms: ResourceClient<ConfigMap>;
const stops: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  dedicated = await startDedicatedControlPlane({
    extraApiServerArgs: ['--watch-cache=false', '--etcd-compaction-interval=2s'],
  });
  if (!dedicated) return;
  client = new KubeClient(dedicated.kc, { registry: new Registry() });
  cms = client.resource<ConfigMap>(CONFIGMAPS);
}, 180_000);

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
}, TIMEOUT_MS);

afterAll(async () => {
  client?.close();
  await dedicated?.cp.stop();
}, TIMEOUT_MS);

async function namespace(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  await client.resource(NAMESPACES).create({
    metadata: { name },
  });
  return name;
}

function run(mirror: ReturnType<typeof mirrorController>) {
  stops.push(async () => {
    await mirror.controller.stop({ drainTimeoutMs: 10_000 });
    await mirror.sources.stop();
    await mirror.mirrors.stop();
  });
  return mirror.controller.start();
}

// Restarting the API server needs a control plane of our own; against an existing cluster there is none.
const describeLocal = process.env.USE_EXISTING_CLUSTER === 'true' ? describe.skip : describe;

describeLocal('runtime fault tests (dedicated control plane)', () => {
  it(
    'converges after the API server restarts in the middle of reconciling, without restarting the controller',
    async () => {
      const ns = await namespace('rt-restart');
      for (let i = 0; i < 30; i++) await createSource(cms, ns, `s${i}`, `v${i}`);
      const registry = new Registry();
      const mirror = mirrorController(cms, ns, { identity: 'restart', registry, delayMs: () => 30 });
      await run(mirror);
      await eventually('the first mirror write', () => mirror.writes.length > 0);
      expect(await converged(cms, ns)).toBe(false);

      await dedicated!.cp.restartApiServer();

      await setSource(cms, ns, 's0', 'changed-after-restart');
      await cms.delete('s1', { namespace: ns });
      await createSource(cms, ns, 'late', 'new');
      await eventually('mirrors to match sources', () => converged(cms, ns), 90_000, 250);
      expect(await metric(registry, 'calico_vpc_informer_watch_restarts_total')).toBeGreaterThanOrEqual(2);
      expect(mirror.controller.hasSynced()).toBe(true);
    },
    TIMEOUT_MS,
  );

  it(
    'relists after etcd compacted past the watch position (a real 410) and converges',
    async () => {
      const ns = await namespace('rt-gone');
      for (let i = 0; i < 5; i++) await createSource(cms, ns, `s${i}`, 'v1');
      const registry = new Registry();
      // A gate in front of the sources watch: closed, it fails every watch as a partition would.
      const real = listerWatcherFor(cms, { namespace: ns, labelSelector: 'role=source' });
      let partitioned = false;
      let cut: AbortController | undefined;
      const gated: ListerWatcher<ConfigMap> = {
        list: (o) => real.list(o),
        watch(o) {
          if (partitioned) throw new Error('network unreachable');
          cut = new AbortController();
          return real.watch({ ...o, signal: AbortSignal.any([o.signal, cut.signal]) });
        },
      };
      const mirror = mirrorController(cms, ns, { identity: 'gone', registry, sourcesListerWatcher: gated });
      await run(mirror);
      await eventually('initial convergence', () => converged(cms, ns), 30_000, 100);

      partitioned = true;
      cut?.abort();
      const stalePosition = (mirror.sources as ListWatchInformer<ConfigMap>).lastResourceVersion;
      await setSource(cms, ns, 's0', 'v2');
      await cms.delete('s1', { namespace: ns });
      await createSource(cms, ns, 'late', 'v1');
      // Wait until etcd has really compacted past that position.
      await eventually(
        'etcd to compact past the watch position',
        async () => {
          try {
            for await (const _ of cms.watch({
              namespace: ns,
              resourceVersion: stalePosition,
              timeoutSeconds: 1,
            }))
              void _;
          } catch (err) {
            return isGone(err);
          }
          return false;
        },
        30_000,
        500,
      );
      partitioned = false;

      await eventually('convergence after the relist', () => converged(cms, ns), 30_000, 100);
      expect(
        await metric(registry, 'calico_vpc_informer_relists_total', {
          informer: 'sources-gone',
          reason: 'expired',
        }),
      ).toBe(1);
    },
    TIMEOUT_MS,
  );

  it(
    'retries a write that lost an optimistic-concurrency race (409) and converges',
    async () => {
      const ns = await namespace('rt-conflict');
      await createSource(cms, ns, 'a', 'v1');
      const registry = new Registry();
      let interfered = false;
      const mirror = mirrorController(cms, ns, {
        identity: 'conflict',
        registry,
        beforeUpdate: async (cached) => {
          if (interfered) return;
          interfered = true;
          // Someone else writes the mirror after our cache read: our update carries a stale resourceVersion.
          await cms.patch(
            cached.metadata.name,
            { metadata: { annotations: { touched: 'by-someone-else' } } },
            { type: 'merge', namespace: ns },
          );
        },
      });
      await run(mirror);
      await eventually('the mirror', () => converged(cms, ns));
      await setSource(cms, ns, 'a', 'v2');
      // The server shows a write before the reconciler has recorded it: wait for both.
      await eventually(
        'the update despite the conflict',
        async () => (await converged(cms, ns)) && mirror.writes.includes('update mirror-a'),
        30_000,
        100,
      );
      expect(interfered).toBe(true);
      expect(
        await metric(registry, 'controller_runtime_reconcile_total', { result: 'error' }),
      ).toBeGreaterThanOrEqual(1);
      expect(mirror.writes.filter((w) => w === 'update mirror-a')).toHaveLength(1);
    },
    TIMEOUT_MS,
  );

  it(
    'coalesces a flood of events on one key into few reconciles',
    async () => {
      const ns = await namespace('rt-flood');
      await createSource(cms, ns, 'hot', '0');
      const registry = new Registry();
      const mirror = mirrorController(cms, ns, { identity: 'flood', registry, delayMs: () => 200 });
      await run(mirror);
      await eventually('the mirror', () => converged(cms, ns));
      const before = mirror.reconciles.get(`${ns}/hot`) ?? 0;
      const updates = 100;
      await Promise.all(Array.from({ length: updates }, (_, i) => setSource(cms, ns, 'hot', String(i + 1))));
      await setSource(cms, ns, 'hot', 'final');
      await eventually('the last value mirrored', () => converged(cms, ns), 30_000, 100);
      const reconciles = (mirror.reconciles.get(`${ns}/hot`) ?? 0) - before;
      expect(reconciles).toBeGreaterThanOrEqual(1);
      expect(reconciles).toBeLessThan(updates / 4);
    },
    TIMEOUT_MS,
  );

  it(
    'with two replicas, only the leader writes, and the standby takes over after the leader steps down',
    async () => {
      const ns = await namespace('rt-ha');
      for (let i = 0; i < 5; i++) await createSource(cms, ns, `s${i}`, 'v1');
      const leases = client.resource<Lease>(LEASES);
      const replicas = ['replica-a', 'replica-b'].map((identity) => {
        const registry = new Registry();
        const mirror = mirrorController(cms, ns, { identity, registry });
        // Warm standby: caches run on every replica, workers only on the leader.
        mirror.sources.start();
        mirror.mirrors.start();
        const elector = new LeaderElector({
          leases,
          namespace: ns,
          name: 'mirror-leader',
          identity,
          leaseDurationMs: 4000,
          renewDeadlineMs: 3000,
          retryPeriodMs: 500,
          registry,
          callbacks: {
            onStartedLeading: () => void mirror.controller.start(),
            onStoppedLeading: () => void mirror.controller.stop({ drainTimeoutMs: 5000 }),
          },
        });
        const running = elector.run();
        stops.push(async () => {
          await elector.release();
          await running;
          await mirror.controller.stop({ drainTimeoutMs: 5000 });
          await mirror.sources.stop();
          await mirror.mirrors.stop();
        });
        return { identity, mirror, elector };
      });

      const leader = await eventually('a leader', () => replicas.find((r) => r.elector.isLeader()));
      const standby = replicas.find((r) => r !== leader)!;
      await eventually(
        'convergence by the leader',
        async () => (await converged(cms, ns)) && leader.mirror.writes.length >= 5,
        30_000,
        100,
      );
      expect(standby.mirror.writes).toEqual([]);
      await eventually('the standby to keep warm caches', () => standby.mirror.sources.hasSynced());

      // The clean shutdown order: stop writing, then hand the lease over.
      await leader.mirror.controller.stop({ drainTimeoutMs: 5000 });
      const leaderWrites = leader.mirror.writes.length;
      await leader.elector.release();
      await eventually('the standby to lead', () => standby.elector.isLeader(), 15_000);

      await setSource(cms, ns, 's0', 'v2');
      await createSource(cms, ns, 'late', 'v1');
      await eventually(
        'convergence by the new leader',
        async () => (await converged(cms, ns)) && standby.mirror.writes.length >= 2,
        30_000,
        100,
      );
      expect(standby.mirror.writes).toEqual(
        expect.arrayContaining(['update mirror-s0', 'create mirror-late']),
      );
      expect(leader.mirror.writes.length).toBe(leaderWrites);
    },
    TIMEOUT_MS,
  );
});
