/**
 * The list-watch informer against the run's real kube-apiserver: paginated list + watch + sync, selectors and a
 * cut connection. A real 410 needs etcd compaction, which only a dedicated control plane can speed up: see
 * runtime-controller.test.ts.
 */
import type { KubeObject } from '../../src/api/kube.js';
import { KubeClient } from '../../src/kube/client.js';
import { createInformer, type InformerEvent, type ListWatchInformer } from '../../src/kube/informer.js';
import { Registry } from '../../src/observability/metrics.js';
import {
  createTestNamespace,
  deleteTestNamespace,
  eventually,
  testKubeConfig,
  uniqueName,
} from './harness.js';

// The integration project's testTimeout does not reach tests (jest ignores it inside `projects`).
const TIMEOUT_MS = 60_000;

interface ConfigMap extends KubeObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

const CONFIGMAPS = { group: '', version: 'v1', plural: 'configmaps', namespaced: true, kind: 'ConfigMap' };
const FAST_BACKOFF = { initialMs: 50, maxMs: 500 };

async function counter(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  return values
    .filter((v) => Object.entries(labels).every(([k, value]) => String(v.labels[k]) === value))
    .reduce((sum, v) => sum + v.value, 0);
}

describe('ListWatchInformer against a real API server', () => {
  const kc = testKubeConfig();
  const client = new KubeClient(kc, { registry: new Registry() });
  const cms = client.resource<ConfigMap>(CONFIGMAPS);
  let ns: string;
  const informers: ListWatchInformer<ConfigMap>[] = [];

  beforeAll(async () => {
    ns = await createTestNamespace(kc, 'rt-informer');
  });

  afterEach(async () => {
    for (const informer of informers.splice(0)) await informer.stop();
  });

  afterAll(async () => {
    await deleteTestNamespace(kc, ns);
    client.close();
  });

  function track(informer: ListWatchInformer<ConfigMap>) {
    informers.push(informer);
    const events: InformerEvent<ConfigMap>[] = [];
    informer.onChange((event) => events.push(event));
    return events;
  }

  it(
    'lists in pages, syncs, then follows creates, updates and deletes through the watch',
    async () => {
      const prefix = uniqueName('lw');
      for (let i = 0; i < 5; i++) {
        await cms.create({
          metadata: { name: `${prefix}-${i}`, namespace: ns, labels: { set: prefix } },
          data: { v: '0' },
        });
      }
      const registry = new Registry();
      const informer = createInformer(cms, {
        namespace: ns,
        labelSelector: `set=${prefix}`,
        pageSize: 2,
        registry,
        backoff: FAST_BACKOFF,
      });
      const events = track(informer);
      informer.start();
      await informer.waitForSync();
      expect(
        informer
          .list()
          .map((o) => o.metadata.name)
          .sort(),
      ).toEqual([0, 1, 2, 3, 4].map((i) => `${prefix}-${i}`));
      expect(informer.get(`${ns}/${prefix}-0`)).toMatchObject({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        data: { v: '0' },
      });

      await cms.create({ metadata: { name: `${prefix}-new`, namespace: ns, labels: { set: prefix } } });
      const zero = await cms.get(`${prefix}-0`, { namespace: ns });
      await cms.update({ ...zero, data: { v: '1' } });
      await cms.delete(`${prefix}-4`, { namespace: ns });
      // Outside the selector: never seen.
      await cms.create({ metadata: { name: `${prefix}-other`, namespace: ns } });

      await eventually(
        'the watch to deliver all three changes',
        () =>
          informer.get(`${ns}/${prefix}-new`) &&
          informer.get(`${ns}/${prefix}-0`)?.data?.v === '1' &&
          !informer.get(`${ns}/${prefix}-4`),
      );
      const changes = events
        .filter((e) => e.type !== 'added' || e.key.endsWith('-new'))
        .map((e) => `${e.type} ${e.key}`);
      expect(changes).toEqual([
        `added ${ns}/${prefix}-new`,
        `modified ${ns}/${prefix}-0`,
        `deleted ${ns}/${prefix}-4`,
      ]);
      expect(events.find((e) => e.type === 'modified')?.old?.data).toEqual({ v: '0' });
      expect(informer.get(`${ns}/${prefix}-other`)).toBeUndefined();
      expect(await counter(registry, 'calico_vpc_informer_relists_total', { reason: 'initial' })).toBe(1);
    },
    TIMEOUT_MS,
  );

  it(
    'recovers from a cut connection and converges on what changed meanwhile',
    async () => {
      const prefix = uniqueName('cut');
      const registry = new Registry();
      // Its own client, so cutting its connections leaves the rest of the file alone.
      const own = new KubeClient(kc, { registry: new Registry() });
      const informer = createInformer(own.resource<ConfigMap>(CONFIGMAPS), {
        namespace: ns,
        labelSelector: `set=${prefix}`,
        registry,
        backoff: FAST_BACKOFF,
      });
      track(informer);
      informer.start();
      await informer.waitForSync();
      await cms.create({ metadata: { name: `${prefix}-before`, namespace: ns, labels: { set: prefix } } });
      await eventually('the first object', () => informer.get(`${ns}/${prefix}-before`));

      own.close();
      await cms.create({ metadata: { name: `${prefix}-after`, namespace: ns, labels: { set: prefix } } });
      await cms.delete(`${prefix}-before`, { namespace: ns });

      await eventually(
        'convergence after the cut',
        () => informer.get(`${ns}/${prefix}-after`) && !informer.get(`${ns}/${prefix}-before`),
      );
      expect(await counter(registry, 'calico_vpc_informer_watch_restarts_total', {})).toBeGreaterThanOrEqual(
        1,
      );
      // Resumed from its resourceVersion: no second full list was needed.
      expect(await counter(registry, 'calico_vpc_informer_relists_total', {})).toBe(1);
      own.close();
    },
    TIMEOUT_MS,
  );
});
