import fc from 'fast-check';
import type { KubeObject } from '../api/kube.js';
import { Registry } from '../observability/metrics.js';
import type { KubeList, WatchEvent } from './resource.js';
import { AbortedError } from '../util/clock.js';
import { ManualClock, settle } from '../../test/support/manual-clock.js';
import { ApiError } from './errors.js';
import {
  LAST_APPLIED_ANNOTATION,
  ListWatchInformer,
  objectKey,
  splitKey,
  stripForReadOnlyCache,
  stripManagedFields,
  type InformerEvent,
  type InformerOptions,
  type ListerWatcher,
} from './informer.js';

interface Obj extends KubeObject {
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    managedFields?: unknown[];
  };
  data?: string;
}

/** One watch stream the test feeds by hand. */
class FakeStream implements AsyncIterable<WatchEvent<Obj>> {
  private readonly queue: (WatchEvent<Obj> | { end: true } | { error: Error })[] = [];
  private wake: (() => void) | undefined;
  aborted = false;

  constructor(
    readonly params: { resourceVersion: string; timeoutSeconds: number; allowWatchBookmarks: boolean },
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener('abort', () => {
      this.aborted = true;
      this.wake?.();
    });
  }

  push(event: WatchEvent<Obj>): void {
    this.queue.push(event);
    this.wake?.();
  }

  end(): void {
    this.queue.push({ end: true });
    this.wake?.();
  }

  fail(error: Error): void {
    this.queue.push({ error });
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent<Obj>> {
    for (;;) {
      if (this.signal.aborted) throw new AbortedError();
      const next = this.queue.shift();
      if (!next) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      if ('end' in next) return;
      if ('error' in next) throw next.error;
      yield next;
    }
  }
}

/** A server with a resourceVersion counter, paginated lists and hand-fed watches. */
class FakeApi implements ListerWatcher<Obj> {
  objects = new Map<string, Obj>();
  rv = 100;
  listCalls: { limit?: number; continue?: string }[] = [];
  streams: FakeStream[] = [];
  failNextContinue = false;
  failNextList: Error | undefined;

  set(name: string, data: string, namespace = 'ns'): Obj {
    const object: Obj = { metadata: { name, namespace, resourceVersion: String(++this.rv) }, data };
    this.objects.set(objectKey(object), object);
    return object;
  }

  delete(name: string, namespace = 'ns'): void {
    this.objects.delete(`${namespace}/${name}`);
    this.rv++;
  }

  async list(options: { limit?: number; continue?: string }): Promise<KubeList<Obj>> {
    this.listCalls.push({ limit: options.limit, continue: options.continue });
    if (this.failNextList) {
      const err = this.failNextList;
      this.failNextList = undefined;
      throw err;
    }
    if (options.continue && this.failNextContinue) {
      this.failNextContinue = false;
      throw new ApiError(410, 'Expired', 'The provided continue parameter is too old');
    }
    const all = [...this.objects.values()].sort((a, b) => objectKey(a).localeCompare(objectKey(b)));
    const start = options.continue ? Number(options.continue) : 0;
    const limit = options.limit ?? all.length;
    const items = all.slice(start, start + limit);
    const more = start + limit < all.length;
    return {
      metadata: { resourceVersion: String(this.rv), ...(more ? { continue: String(start + limit) } : {}) },
      items,
    };
  }

  watch(options: {
    resourceVersion: string;
    timeoutSeconds: number;
    allowWatchBookmarks: boolean;
    signal: AbortSignal;
  }): AsyncIterable<WatchEvent<Obj>> {
    const { resourceVersion, timeoutSeconds, allowWatchBookmarks } = options;
    const stream = new FakeStream({ resourceVersion, timeoutSeconds, allowWatchBookmarks }, options.signal);
    this.streams.push(stream);
    return stream;
  }

  get current(): FakeStream {
    const stream = this.streams[this.streams.length - 1];
    if (!stream) throw new Error('no watch opened yet');
    return stream;
  }
}

function setup(overrides: Partial<InformerOptions<Obj>> = {}) {
  const api = new FakeApi();
  const clock = new ManualClock();
  const registry = new Registry();
  const informer = new ListWatchInformer<Obj>(api, {
    name: 'objs',
    pageSize: 2,
    clock,
    registry,
    random: () => 0,
    ...overrides,
  });
  const events: InformerEvent<Obj>[] = [];
  informer.onChange((event) => events.push(event));
  return { api, clock, registry, informer, events };
}

async function counterValue(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  return (
    metric?.values.find((v) => Object.entries(labels).every(([k, value]) => String(v.labels[k]) === value))
      ?.value ?? 0
  );
}

const brief = (events: InformerEvent<Obj>[]) => events.map((e) => `${e.type} ${e.key}`);

describe('cache transforms', () => {
  const full: Obj = {
    metadata: {
      name: 'a',
      namespace: 'ns',
      resourceVersion: '7',
      annotations: { [LAST_APPLIED_ANNOTATION]: '{"kind":"NetworkPolicy"}', team: 'x' },
      managedFields: [{ manager: 'kubectl' }],
    },
    data: 'spec',
  };

  it('stripManagedFields drops only managedFields, without touching its input', () => {
    const { managedFields: _m, ...metadata } = full.metadata;
    expect(stripManagedFields(full)).toEqual({ ...full, metadata });
    expect(full.metadata.managedFields).toHaveLength(1);
    const bare: Obj = { metadata: { name: 'b' } };
    expect(stripManagedFields(bare)).toBe(bare);
  });

  it('stripForReadOnlyCache also drops the last-applied copy, and keeps every other annotation', () => {
    const stripped = stripForReadOnlyCache(full);
    expect(stripped.metadata).toEqual({
      name: 'a',
      namespace: 'ns',
      resourceVersion: '7',
      annotations: { team: 'x' },
    });
    expect(stripped.data).toBe('spec');
    expect(full.metadata.annotations?.[LAST_APPLIED_ANNOTATION]).toBeDefined();
  });

  it('the informer caches and emits transformed objects, from lists and from watches (managedFields by default)', async () => {
    const { api, informer, events } = setup();
    api.objects.set('ns/a', { ...full });
    informer.start();
    await informer.waitForSync();
    await settle();
    expect(informer.get('ns/a')?.metadata.managedFields).toBeUndefined();
    expect(informer.get('ns/a')?.metadata.annotations?.[LAST_APPLIED_ANNOTATION]).toBeDefined();
    api.current.push({
      type: 'MODIFIED',
      object: { ...full, metadata: { ...full.metadata, resourceVersion: '8' } },
    });
    await settle();
    expect(informer.get('ns/a')?.metadata).not.toHaveProperty('managedFields');
    expect(events.map((e) => e.object.metadata.managedFields)).toEqual([undefined, undefined]);
    await informer.stop();
  });

  it('takes a custom transform', async () => {
    const { api, informer, events } = setup({ transform: stripForReadOnlyCache });
    informer.start();
    await informer.waitForSync();
    await settle();
    api.current.push({ type: 'ADDED', object: full });
    api.current.push({ type: 'DELETED', object: full });
    await settle();
    expect(events.map((e) => e.object.metadata.annotations)).toEqual([{ team: 'x' }, { team: 'x' }]);
    await informer.stop();
  });
});

describe('ListWatchInformer', () => {
  it('lists every page, syncs, then watches from the list resourceVersion with bookmarks and a randomised timeout', async () => {
    const { api, informer, events } = setup({ minWatchTimeoutSeconds: 300, random: () => 0.5 });
    api.set('a', '1');
    api.set('b', '1');
    api.set('c', '1', 'other');
    expect(informer.hasSynced()).toBe(false);
    informer.start();
    await informer.waitForSync();
    expect(informer.hasSynced()).toBe(true);
    expect(api.listCalls).toEqual([
      { limit: 2, continue: undefined },
      { limit: 2, continue: '2' },
    ]);
    expect(brief(events).sort()).toEqual(['added ns/a', 'added ns/b', 'added other/c']);
    expect(informer.list().map(objectKey).sort()).toEqual(['ns/a', 'ns/b', 'other/c']);
    expect(informer.get('other/c')?.data).toBe('1');
    expect(informer.byIndex('namespace', 'ns').map(objectKey).sort()).toEqual(['ns/a', 'ns/b']);
    await settle();
    expect(api.current.params).toEqual({
      resourceVersion: String(api.rv),
      timeoutSeconds: 450,
      allowWatchBookmarks: true,
    });
    await informer.stop();
  });

  it('reports the size of its cache in calico_vpc_informer_objects when scraped', async () => {
    const { api, informer, registry } = setup();
    api.set('a', '1');
    api.set('b', '1');
    api.set('c', '1');
    informer.start();
    await informer.waitForSync();
    await settle();
    expect(await counterValue(registry, 'calico_vpc_informer_objects', { informer: 'objs' })).toBe(3);
    api.current.push({ type: 'DELETED', object: api.objects.get('ns/a')! });
    api.current.push({ type: 'ADDED', object: api.set('d', '1') });
    api.current.push({ type: 'ADDED', object: api.set('e', '1') });
    await settle();
    expect(await counterValue(registry, 'calico_vpc_informer_objects', { informer: 'objs' })).toBe(4);
    await informer.stop();
  });

  it('applies watch events to the cache and emits them with the previous object', async () => {
    const { api, informer, events } = setup();
    const a = api.set('a', '1');
    informer.start();
    await informer.waitForSync();
    await settle();
    events.length = 0;

    const a2 = api.set('a', '2');
    api.current.push({ type: 'MODIFIED', object: a2 });
    const b = api.set('b', '1');
    api.current.push({ type: 'ADDED', object: b });
    api.current.push({ type: 'DELETED', object: a2 });
    api.current.push({ type: 'BOOKMARK', object: { metadata: { name: '', resourceVersion: '999' } } });
    await settle();

    expect(events.map((e) => [e.type, e.key, e.object.data, e.old?.data])).toEqual([
      ['modified', 'ns/a', '2', '1'],
      ['added', 'ns/b', '1', undefined],
      ['deleted', 'ns/a', '2', '2'],
    ]);
    expect(informer.get('ns/a')).toBeUndefined();
    expect(informer.get('ns/b')).toEqual(b);
    expect(informer.byIndex('namespace', 'ns')).toEqual([b]);
    expect(informer.lastResourceVersion).toBe('999');
    expect(a.metadata.resourceVersion).not.toBe(a2.metadata.resourceVersion);
    await informer.stop();
  });

  it('indexes by the indexers added before start, and refuses them after', async () => {
    const { api, informer } = setup();
    api.set('a', '1');
    api.set('b', '2');
    informer.addIndexers({ data: (o) => (o.data ? [o.data] : []) });
    expect(() => informer.addIndexers({ data: () => [] })).toThrow('index "data" already exists');
    informer.start();
    await informer.waitForSync();
    expect(informer.byIndex('data', '2').map(objectKey)).toEqual(['ns/b']);
    await settle();
    const a2 = api.set('a', '2');
    api.current.push({ type: 'MODIFIED', object: a2 });
    await settle();
    expect(informer.byIndex('data', '2').map(objectKey).sort()).toEqual(['ns/a', 'ns/b']);
    expect(informer.byIndex('data', '1')).toEqual([]);
    expect(() => informer.addIndexers({ late: () => [] })).toThrow('must be added before it starts');
    await informer.stop();
  });

  it('answers byIndex as a model does through any sequence of adds, changes and deletes', async () => {
    // An index value holds one key as itself and several as a Set: every transition between the two is exercised.
    const names = ['a', 'b', 'c', 'd'];
    const values = ['1', '2', '3'];
    const operation = fc.record({
      name: fc.constantFrom(...names),
      // undefined: delete the object; an empty list: the object has no index value.
      values: fc.option(fc.uniqueArray(fc.constantFrom(...values), { maxLength: 2 }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { maxLength: 30 }), async (operations) => {
        const { api, informer } = setup();
        informer.addIndexers({ data: (o) => (o.data ? o.data.split(',') : []) });
        informer.start();
        await informer.waitForSync();
        await settle();
        const model = new Map<string, string[]>();
        for (const op of operations) {
          if (op.values === undefined) {
            const gone = api.objects.get(`ns/${op.name}`);
            if (!gone) continue;
            api.delete(op.name);
            model.delete(op.name);
            api.current.push({ type: 'DELETED', object: gone });
          } else {
            const existed = api.objects.has(`ns/${op.name}`);
            const object = api.set(op.name, op.values.join(','));
            model.set(op.name, op.values);
            api.current.push({ type: existed ? 'MODIFIED' : 'ADDED', object });
          }
          await settle();
          for (const value of values) {
            const expected = [...model].filter(([, v]) => v.includes(value)).map(([name]) => `ns/${name}`);
            expect(informer.byIndex('data', value).map(objectKey).sort()).toEqual(expected.sort());
          }
        }
        await informer.stop();
      }),
      { numRuns: 60 },
    );
  });

  it('resumes the watch from the last resourceVersion after the stream ends, without relisting', async () => {
    const { api, clock, informer, registry } = setup();
    api.set('a', '1');
    informer.start();
    await informer.waitForSync();
    await settle();
    api.current.push({ type: 'BOOKMARK', object: { metadata: { name: '', resourceVersion: '555' } } });
    api.current.end();
    await settle();
    expect(api.streams).toHaveLength(1);
    await clock.advance(clock.nextTimerIn() ?? 0);
    expect(api.streams).toHaveLength(2);
    expect(api.current.params.resourceVersion).toBe('555');
    expect(api.listCalls).toHaveLength(1);
    expect(
      await counterValue(registry, 'calico_vpc_informer_watch_restarts_total', { reason: 'closed' }),
    ).toBe(1);
    await informer.stop();
  });

  it('restarts after every error with jittered exponential backoff, capped, and resets it after a healthy watch', async () => {
    const { api, clock, informer } = setup({
      backoff: { initialMs: 1000, maxMs: 8000, factor: 2, jitter: 1 },
      healthyWatchMs: 60_000,
      random: () => 0,
    });
    informer.start();
    await informer.waitForSync();
    await settle();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      api.current.fail(new Error('connection reset'));
      await settle();
      const delay = clock.nextTimerIn() ?? -1;
      delays.push(delay);
      await clock.advance(delay);
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    // A watch that stays up past healthyWatchMs and then ends cleanly starts over at the initial delay.
    await clock.advance(61_000);
    api.current.end();
    await settle();
    expect(clock.nextTimerIn()).toBe(1000);
    await informer.stop();
  });

  it('jitters the delay between the base and (1 + jitter) times it', async () => {
    const { api, clock, informer } = setup({
      backoff: { initialMs: 1000, maxMs: 30_000, factor: 2, jitter: 0.5 },
      random: () => 1,
    });
    informer.start();
    await informer.waitForSync();
    await settle();
    api.current.fail(new Error('x'));
    await settle();
    expect(clock.nextTimerIn()).toBe(1500);
    await informer.stop();
  });

  it('relists on 410 Gone and emits only the differences', async () => {
    const { api, clock, informer, events, registry } = setup();
    api.set('keep', '1');
    api.set('change', '1');
    api.set('gone', '1');
    informer.start();
    await informer.waitForSync();
    await settle();
    events.length = 0;

    // While the watch was away, etcd compacted past our resourceVersion.
    api.set('change', '2');
    api.delete('gone');
    api.set('new', '1');
    api.current.fail(new ApiError(410, 'Expired', 'too old resource version: 101 (200)'));
    await settle();
    await clock.advance(clock.nextTimerIn() ?? 0);

    expect(brief(events).sort()).toEqual(['added ns/new', 'deleted ns/gone', 'modified ns/change']);
    expect(informer.list().map(objectKey).sort()).toEqual(['ns/change', 'ns/keep', 'ns/new']);
    expect(await counterValue(registry, 'calico_vpc_informer_relists_total', { reason: 'expired' })).toBe(1);
    expect(
      await counterValue(registry, 'calico_vpc_informer_watch_restarts_total', { reason: 'expired' }),
    ).toBe(1);
    expect(api.current.params.resourceVersion).toBe(String(api.rv));
    await informer.stop();
  });

  it('starts the list over when a continue token expires mid-pagination', async () => {
    const { api, informer } = setup();
    for (const name of ['a', 'b', 'c', 'd', 'e']) api.set(name, '1');
    api.failNextContinue = true;
    informer.start();
    await informer.waitForSync();
    expect(api.listCalls.map((c) => c.continue ?? '-')).toEqual(['-', '2', '-', '2', '4']);
    expect(informer.list()).toHaveLength(5);
    await informer.stop();
  });

  it('retries a failed initial list with backoff and syncs when it succeeds', async () => {
    const { api, clock, informer } = setup();
    api.set('a', '1');
    api.failNextList = new ApiError(503, 'ServiceUnavailable', 'etcd unavailable');
    informer.start();
    await settle();
    expect(informer.hasSynced()).toBe(false);
    await clock.advance(clock.nextTimerIn() ?? 0);
    await informer.waitForSync();
    expect(informer.list()).toHaveLength(1);
    await informer.stop();
  });

  it('restarts a watch that delivered nothing for longer than the watchdog allows', async () => {
    const { api, clock, informer, registry } = setup({ watchdogMs: 120_000 });
    informer.start();
    await informer.waitForSync();
    await settle();
    const first = api.current;
    await clock.advance(100_000);
    first.push({ type: 'BOOKMARK', object: { metadata: { name: '', resourceVersion: '300' } } });
    await settle();
    // The bookmark re-armed the watchdog: 100 s more is still fine.
    await clock.advance(100_000);
    expect(first.aborted).toBe(false);
    await clock.advance(20_000);
    expect(first.aborted).toBe(true);
    expect(
      await counterValue(registry, 'calico_vpc_informer_watch_restarts_total', { reason: 'watchdog' }),
    ).toBe(1);
    await clock.advance(clock.nextTimerIn() ?? 0);
    expect(api.streams).toHaveLength(2);
    expect(api.current.params.resourceVersion).toBe('300');
    await informer.stop();
  });

  it('re-emits every cached object as resync each period', async () => {
    const { api, clock, informer, events } = setup({ resyncPeriodMs: 60_000, watchdogMs: 10 * 60_000 });
    api.set('a', '1');
    api.set('b', '1');
    informer.start();
    await informer.waitForSync();
    events.length = 0;
    await clock.advance(59_999);
    expect(events).toEqual([]);
    await clock.advance(1);
    expect(brief(events).sort()).toEqual(['resync ns/a', 'resync ns/b']);
    await clock.advance(60_000);
    expect(events).toHaveLength(4);
    await informer.stop();
  });

  it('keeps delivering to other handlers when one throws, and unsubscribes', async () => {
    const { api, informer } = setup();
    api.set('a', '1');
    const seen: string[] = [];
    informer.onChange(() => {
      throw new Error('bad handler');
    });
    const unsubscribe = informer.onChange((e) => seen.push(e.key));
    informer.start();
    await informer.waitForSync();
    expect(seen).toEqual(['ns/a']);
    unsubscribe();
    await settle();
    api.current.push({ type: 'ADDED', object: api.set('b', '1') });
    await settle();
    expect(seen).toEqual(['ns/a']);
    await informer.stop();
  });

  it('stop ends the loop, aborts the watch, rejects sync waiters and refuses restart', async () => {
    const { api, informer } = setup();
    api.failNextList = new Error('down');
    informer.start();
    const waiting = informer.waitForSync();
    await settle();
    await informer.stop();
    await expect(waiting).rejects.toThrow(/stopped before it synced/);
    await expect(informer.waitForSync()).rejects.toThrow(/stopped/);
    expect(() => informer.start()).toThrow(/was stopped/);
  });

  it('waitForSync rejects when its signal aborts', async () => {
    const { informer } = setup();
    const abort = new AbortController();
    const waiting = informer.waitForSync(abort.signal);
    abort.abort();
    await expect(waiting).rejects.toThrow(/gave up/);
  });
});

describe('keys', () => {
  it('are namespace/name for namespaced objects and name for cluster-scoped ones, and split back', () => {
    expect(objectKey({ metadata: { name: 'x', namespace: 'ns' } })).toBe('ns/x');
    expect(objectKey({ metadata: { name: 'x' } })).toBe('x');
    expect(splitKey('ns/x')).toEqual({ namespace: 'ns', name: 'x' });
    expect(splitKey('x')).toEqual({ namespace: undefined, name: 'x' });
    expect(() => objectKey({ metadata: {} })).toThrow(/metadata.name/);
  });
});
