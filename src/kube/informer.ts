/**
 * A list-watch cache (client-go's reflector + indexer) that never goes silent.
 *
 * client-node 1.4's informer stops on any error but 410, never notices a stalled watch, asks for no bookmarks and
 * reconnects without delay. This one lists (paginated), then watches from the list's resourceVersion with
 * bookmarks and a randomised server timeout; it restarts after EVERY error or stream end with jittered,
 * capped exponential backoff, relists on 410 Gone, restarts a watch that delivered nothing (not even a bookmark)
 * for too long, and periodically re-emits every cached object (resync) so level-triggered reconcilers repair
 * drift even when no event arrives.
 */
import type { KubeObject } from '../api/kube.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { counter, gauge, perRegistry, sharedRegistry, type Registry } from '../observability/metrics.js';
import type { KubeList, ResourceClient, WatchEvent } from './resource.js';
import {
  backoffDelay,
  isAbortError,
  sleep,
  systemClock,
  type BackoffPolicy,
  type Clock,
  type TimerHandle,
} from '../util/clock.js';
import { isGone } from './errors.js';

export type InformerEventType = 'added' | 'modified' | 'deleted' | 'resync';

export interface InformerEvent<T> {
  type: InformerEventType;
  /** `namespace/name`, or `name` for cluster-scoped objects. */
  key: string;
  /** The current object; for 'deleted', its last state. */
  object: T;
  /** The cached object this event replaced ('modified'; 'deleted' when the cache had it). */
  old?: T;
}

export type InformerEventHandler<T> = (event: InformerEvent<T>) => void;

/** What the rest of the operator sees: events of keys and a read-only cache. */
export interface Informer<T> {
  readonly name: string;
  /** Starts listing and watching; idempotent. */
  start(): void;
  /** Stops the watch and every timer; resolves when the loop has exited. */
  stop(): Promise<void>;
  /** True once the first full list is in the cache (and stays true across relists). */
  hasSynced(): boolean;
  /** Resolves when synced; rejects when `signal` aborts or the informer stops first. */
  waitForSync(signal?: AbortSignal): Promise<void>;
  /** The cached object for a key. Treat it as read-only: it is the cache's own copy. */
  get(key: string): T | undefined;
  list(): T[];
  /** Objects whose index function returned `value`; 'namespace' is always defined. */
  byIndex(index: string, value: string): T[];
  /** Subscribes; handlers run synchronously on the informer's loop, so they should only enqueue keys. */
  onChange(handler: InformerEventHandler<T>): () => void;
}

/** The two calls a reflector needs, with selectors already applied. Injected in unit tests. */
export interface ListerWatcher<T> {
  list(options: { limit?: number; continue?: string; signal?: AbortSignal }): Promise<KubeList<T>>;
  watch(options: {
    resourceVersion: string;
    timeoutSeconds: number;
    allowWatchBookmarks: boolean;
    signal: AbortSignal;
  }): AsyncIterable<WatchEvent<T>>;
}

export interface SelectorOptions {
  /** Watch one namespace only (namespaced resources). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export function listerWatcherFor<T extends KubeObject>(
  resource: ResourceClient<T>,
  selectors: SelectorOptions = {},
  watchMetadataOnly = false,
): ListerWatcher<T> {
  return {
    list: (options) => resource.list({ ...selectors, ...options }),
    watch: (options) => resource.watch({ ...selectors, ...options, metadataOnly: watchMetadataOnly }),
  };
}

export type IndexFunction<T> = (object: T) => string[];

export interface InformerOptions<T, Wire = T> {
  /** For logs and the `informer` metric label. */
  name: string;
  /** Page size of the list (default 500). */
  pageSize?: number;
  /** Re-emit every cached object this often as 'resync' (default 10 min; 0 disables). */
  resyncPeriodMs?: number;
  /** Server-side watch timeout; randomised in [min, 2*min) like client-go (default min 300 s). */
  minWatchTimeoutSeconds?: number;
  /** Restart a watch that delivered no event or bookmark for this long (default 150 s; bookmarks come ~1/min). */
  watchdogMs?: number;
  /** Delay before every restart; the attempt count resets after a healthy watch. */
  backoff?: Partial<BackoffPolicy>;
  /** A watch that ran this long without error counts as healthy (default 60 s). */
  healthyWatchMs?: number;
  indexers?: Record<string, IndexFunction<T>>;
  /**
   * Applied to every object before it is cached or handed to handlers (client-go's SetTransform), to keep only
   * what the controllers read; `cached` is the entry the object replaces, if any. Default: stripManagedFields. It
   * must not change the name, namespace or resourceVersion, and should return the object itself when there is
   * nothing to drop. It may cache another shape than the API sends (`Wire`): required then.
   */
  transform?: (object: Wire, cached: T | undefined) => T;
  clock?: Clock;
  random?: () => number;
  logger?: Logger;
  registry?: Registry;
}

export const DEFAULT_INFORMER_BACKOFF: BackoffPolicy = {
  initialMs: 800,
  maxMs: 30_000,
  factor: 2,
  jitter: 1,
};

type WithManagedFields = KubeObject['metadata'] & { managedFields?: unknown };

/**
 * The object without `metadata.managedFields`: server-side apply bookkeeping that is often as large as the spec
 * and that no controller here reads (controller-runtime strips it the same way, TransformStripManagedFields).
 * An update sent without managedFields leaves the stored ones as they are.
 */
export function stripManagedFields<T extends KubeObject>(object: T): T {
  const metadata = object.metadata as WithManagedFields | undefined;
  if (metadata?.managedFields === undefined) return object;
  const { managedFields: _managedFields, ...rest } = metadata;
  return { ...object, metadata: rest };
}

/** The `kubectl apply` annotation: a full second copy of the object, as JSON text. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * stripManagedFields, and without the last-applied annotation: for objects the operator only reads (it never
 * writes them back, so nothing is lost on the server).
 */
export function stripForReadOnlyCache<T extends KubeObject>(object: T): T {
  const stripped = stripManagedFields(object);
  const annotations = stripped.metadata?.annotations;
  if (annotations?.[LAST_APPLIED_ANNOTATION] === undefined) return stripped;
  const { [LAST_APPLIED_ANNOTATION]: _lastApplied, ...rest } = annotations;
  return { ...stripped, metadata: { ...stripped.metadata, annotations: rest } };
}

/** client-go's MetaNamespaceKeyFunc. */
export function objectKey(object: KubeObject): string {
  const name = object.metadata?.name;
  if (!name) throw new Error('object has no metadata.name');
  const namespace = object.metadata?.namespace;
  return namespace ? `${namespace}/${name}` : name;
}

/** The inverse of objectKey. */
export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const slash = key.indexOf('/');
  return slash < 0
    ? { namespace: undefined, name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

const informerMetrics = perRegistry((registry) => {
  // Informer name -> the size of its cache, read when the registry is scraped: setting the gauge on every cache
  // change hashed its labels thousands of times a second while converging.
  const cacheSizes = new Map<string, () => number>();
  return {
    cacheSizes,
    watchRestarts: counter(registry, {
      name: 'calico_vpc_informer_watch_restarts_total',
      help: 'Watch restarts by cause: closed (stream ended), error, expired (410), watchdog (silent too long).',
      labelNames: ['informer', 'reason'] as const,
    }),
    relists: counter(registry, {
      name: 'calico_vpc_informer_relists_total',
      help: 'Full lists by cause: initial, expired (410 Gone).',
      labelNames: ['informer', 'reason'] as const,
    }),
    events: counter(registry, {
      name: 'calico_vpc_informer_watch_events_total',
      help: 'Watch events received, by type.',
      labelNames: ['informer', 'type'] as const,
    }),
    synced: gauge(registry, {
      name: 'calico_vpc_informer_synced',
      help: '1 once the informer has completed its first list.',
      labelNames: ['informer'] as const,
    }),
    objects: gauge(registry, {
      name: 'calico_vpc_informer_objects',
      help: 'Objects in the informer cache.',
      labelNames: ['informer'] as const,
      collect() {
        for (const [informer, size] of cacheSizes) this.set({ informer }, size());
      },
    }),
  };
});

type RestartReason = 'closed' | 'error' | 'expired' | 'watchdog';

/**
 * The keys of the objects with one index value: the key itself while there is one, a Set from the second on. Most
 * values have one object (the GNPs by their source NetworkPolicy), and a Set of one key costs about 200 bytes.
 */
type IndexEntry = string | Set<string>;

function indexAdd(byValue: Map<string, IndexEntry>, value: string, key: string): void {
  const entry = byValue.get(value);
  if (entry === undefined) byValue.set(value, key);
  else if (typeof entry !== 'string') entry.add(key);
  else if (entry !== key) byValue.set(value, new Set([entry, key]));
}

function indexDelete(byValue: Map<string, IndexEntry>, value: string, key: string): void {
  const entry = byValue.get(value);
  if (entry === undefined) return;
  if (typeof entry === 'string') {
    if (entry === key) byValue.delete(value);
    return;
  }
  entry.delete(key);
  if (entry.size === 1) byValue.set(value, entry.values().next().value as string);
  else if (entry.size === 0) byValue.delete(value);
}

/**
 * `T` is what the cache holds, `Wire` what the API sends (the same unless the transform makes a compact shape of
 * it).
 */
export class ListWatchInformer<T extends KubeObject, Wire extends KubeObject = T> implements Informer<T> {
  readonly name: string;
  private readonly lw: ListerWatcher<Wire>;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly log: Logger;
  private readonly metrics: ReturnType<typeof informerMetrics>;
  private readonly pageSize: number;
  private readonly resyncPeriodMs: number;
  private readonly minWatchTimeoutSeconds: number;
  private readonly watchdogMs: number;
  private readonly backoff: BackoffPolicy;
  private readonly healthyWatchMs: number;
  private readonly indexers: Record<string, IndexFunction<T>>;
  private readonly transform: (object: Wire, cached: T | undefined) => T;

  private readonly store = new Map<string, T>();
  private readonly indices = new Map<string, Map<string, IndexEntry>>();
  private readonly handlers = new Set<InformerEventHandler<T>>();
  private readonly syncWaiters = new Set<{ resolve: () => void; reject: (err: Error) => void }>();
  private readonly abort = new AbortController();
  private resourceVersion = '';
  private synced = false;
  private started = false;
  private loop: Promise<void> | undefined;
  private resyncTimer: TimerHandle | undefined;

  constructor(listerWatcher: ListerWatcher<Wire>, options: InformerOptions<T, Wire>) {
    this.lw = listerWatcher;
    this.name = options.name;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.log = (options.logger ?? silentLogger).child({ informer: options.name });
    this.metrics = informerMetrics(options.registry ?? sharedRegistry());
    this.pageSize = options.pageSize ?? 500;
    this.resyncPeriodMs = options.resyncPeriodMs ?? 10 * 60_000;
    this.minWatchTimeoutSeconds = options.minWatchTimeoutSeconds ?? 300;
    this.watchdogMs = options.watchdogMs ?? 150_000;
    this.backoff = { ...DEFAULT_INFORMER_BACKOFF, ...options.backoff };
    this.healthyWatchMs = options.healthyWatchMs ?? 60_000;
    // Without a transform the cache holds what the API sends (Wire is T).
    this.transform = options.transform ?? (stripManagedFields as unknown as (object: Wire) => T);
    this.indexers = {
      namespace: (object) => (object.metadata?.namespace ? [object.metadata.namespace] : []),
      ...options.indexers,
    };
    for (const index of Object.keys(this.indexers)) this.indices.set(index, new Map());
    this.metrics.synced.set({ informer: this.name }, 0);
    this.metrics.cacheSizes.set(this.name, () => this.store.size);
  }

  /**
   * Adds indexes before the informer starts (client-go's AddIndexers), so each controller sharing this informer
   * declares the indexes it reads.
   */
  addIndexers(indexers: Record<string, IndexFunction<T>>): void {
    if (this.started) throw new Error(`informer ${this.name}: indexers must be added before it starts`);
    for (const [index, fn] of Object.entries(indexers)) {
      if (index in this.indexers) throw new Error(`informer ${this.name}: index "${index}" already exists`);
      this.indexers[index] = fn;
      this.indices.set(index, new Map());
    }
  }

  start(): void {
    if (this.abort.signal.aborted) throw new Error(`informer ${this.name} was stopped; create a new one`);
    if (this.started) return;
    this.started = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    if (this.resyncTimer) this.clock.clearTimeout(this.resyncTimer);
    for (const waiter of this.syncWaiters)
      waiter.reject(new Error(`informer ${this.name} stopped before it synced`));
    this.syncWaiters.clear();
    await this.loop;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    if (this.abort.signal.aborted) return Promise.reject(new Error(`informer ${this.name} is stopped`));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.syncWaiters.delete(waiter);
        reject(new Error(`gave up waiting for informer ${this.name} to sync`));
      };
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (err: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.add(waiter);
    });
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  byIndex(index: string, value: string): T[] {
    const byValue = this.indices.get(index);
    if (!byValue) throw new Error(`informer ${this.name} has no index "${index}"`);
    const entry = byValue.get(value);
    if (entry === undefined) return [];
    return (typeof entry === 'string' ? [entry] : [...entry])
      .map((key) => this.store.get(key))
      .filter((o): o is T => o !== undefined);
  }

  onChange(handler: InformerEventHandler<T>): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** The resourceVersion the next watch resumes from (for tests and debugging). */
  get lastResourceVersion(): string {
    return this.resourceVersion;
  }

  // -------------------------------------------------------------------------------------------------------------

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let needList = true;
    let listReason: 'initial' | 'expired' = 'initial';
    let attempt = 0;
    while (!signal.aborted) {
      let reason: RestartReason;
      let healthy = false;
      try {
        if (needList) {
          await this.listAndReplace(listReason, signal);
          needList = false;
        }
        const outcome = await this.watchOnce(signal);
        reason = outcome.reason;
        healthy = outcome.healthy;
        this.log.debug({ reason, resourceVersion: this.resourceVersion }, 'watch ended; restarting');
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          reason = 'expired';
          needList = true;
          listReason = 'expired';
          this.log.info({ err }, 'resourceVersion expired (410); relisting');
        } else {
          reason = 'error';
          this.log.warn({ err, attempt }, needList ? 'list failed; retrying' : 'watch failed; restarting');
        }
      }
      this.metrics.watchRestarts.inc({ informer: this.name, reason });
      attempt = healthy ? 0 : attempt + 1;
      try {
        await sleep(this.clock, backoffDelay(this.backoff, attempt - 1, this.random), signal);
      } catch {
        break;
      }
    }
  }

  /** Lists every page, then swaps the cache in one step and emits the differences. */
  private async listAndReplace(reason: 'initial' | 'expired', signal: AbortSignal): Promise<void> {
    this.metrics.relists.inc({ informer: this.name, reason });
    const fresh = new Map<string, T>();
    let resourceVersion = '';
    let continueToken: string | undefined;
    for (;;) {
      let page: KubeList<Wire>;
      try {
        page = await this.lw.list({ limit: this.pageSize, continue: continueToken, signal });
      } catch (err) {
        // An expired continue token: the list must start over from a consistent snapshot.
        if (continueToken && isGone(err)) {
          this.log.info('list continue token expired; listing from the start');
          fresh.clear();
          continueToken = undefined;
          continue;
        }
        throw err;
      }
      for (const item of page.items) {
        const key = objectKey(item);
        fresh.set(key, this.transform(item, this.store.get(key)));
      }
      resourceVersion = page.metadata.resourceVersion ?? resourceVersion;
      continueToken = page.metadata.continue || undefined;
      if (!continueToken) break;
    }
    if (signal.aborted) return;

    const events: InformerEvent<T>[] = [];
    for (const [key, old] of this.store) {
      if (!fresh.has(key)) events.push({ type: 'deleted', key, object: old, old });
    }
    for (const [key, object] of fresh) {
      const old = this.store.get(key);
      if (!old) events.push({ type: 'added', key, object });
      else if (old.metadata?.resourceVersion !== object.metadata?.resourceVersion) {
        events.push({ type: 'modified', key, object, old });
      }
    }
    for (const event of events) {
      if (event.type === 'deleted') this.remove(event.key);
      else this.put(event.key, event.object);
    }
    this.resourceVersion = resourceVersion;
    this.log.debug({ objects: fresh.size, resourceVersion, reason }, 'listed');
    for (const event of events) this.emit(event);
    this.markSynced();
  }

  private async watchOnce(parent: AbortSignal): Promise<{ reason: RestartReason; healthy: boolean }> {
    const watchAbort = new AbortController();
    const onParentAbort = () => watchAbort.abort();
    parent.addEventListener('abort', onParentAbort, { once: true });
    // stop() may have run between the list and this watch: the listener above would never fire.
    if (parent.aborted) watchAbort.abort();
    let watchdogFired = false;
    let watchdog: TimerHandle | undefined;
    // One timer that looks at the time of the last event when it fires, rather than a new timer per event (a
    // watch brings thousands of events a second while the operator converges).
    let lastEventAt = this.clock.now();
    const watchdogCheck = () => {
      const silentForMs = this.clock.now() - lastEventAt;
      if (silentForMs < this.watchdogMs) {
        watchdog = this.clock.setTimeout(watchdogCheck, this.watchdogMs - silentForMs);
        return;
      }
      watchdogFired = true;
      this.log.warn({ silentForMs }, 'watch delivered nothing for too long; restarting it');
      watchAbort.abort();
    };
    const started = this.clock.now();
    const timeoutSeconds = Math.floor(this.minWatchTimeoutSeconds * (1 + this.random()));
    watchdog = this.clock.setTimeout(watchdogCheck, this.watchdogMs);
    try {
      const stream = this.lw.watch({
        resourceVersion: this.resourceVersion,
        timeoutSeconds,
        allowWatchBookmarks: true,
        signal: watchAbort.signal,
      });
      for await (const event of stream) {
        if (watchAbort.signal.aborted) break;
        lastEventAt = this.clock.now();
        this.apply(event);
      }
      if (watchdogFired) return { reason: 'watchdog', healthy: false };
      return { reason: 'closed', healthy: this.clock.now() - started >= this.healthyWatchMs };
    } catch (err) {
      if (watchdogFired && !parent.aborted && (isAbortError(err) || watchAbort.signal.aborted)) {
        return { reason: 'watchdog', healthy: false };
      }
      throw err;
    } finally {
      if (watchdog) this.clock.clearTimeout(watchdog);
      parent.removeEventListener('abort', onParentAbort);
      watchAbort.abort();
    }
  }

  private apply(event: WatchEvent<Wire>): void {
    this.metrics.events.inc({ informer: this.name, type: event.type });
    const resourceVersion = event.object.metadata?.resourceVersion;
    if (event.type === 'BOOKMARK') {
      if (resourceVersion) this.resourceVersion = resourceVersion;
      return;
    }
    const key = objectKey(event.object);
    const old = this.store.get(key);
    const object = this.transform(event.object, old);
    if (event.type === 'DELETED') {
      this.remove(key);
      this.emit({ type: 'deleted', key, object, ...(old ? { old } : {}) });
    } else {
      this.put(key, object);
      this.emit(old ? { type: 'modified', key, object, old } : { type: 'added', key, object });
    }
    if (resourceVersion) this.resourceVersion = resourceVersion;
  }

  private put(key: string, object: T): void {
    const old = this.store.get(key);
    if (old) this.unindex(key, old);
    this.store.set(key, object);
    for (const [index, fn] of Object.entries(this.indexers)) {
      const byValue = this.indices.get(index)!;
      for (const value of fn(object)) indexAdd(byValue, value, key);
    }
  }

  private remove(key: string): void {
    const old = this.store.get(key);
    if (!old) return;
    this.unindex(key, old);
    this.store.delete(key);
  }

  private unindex(key: string, object: T): void {
    for (const [index, fn] of Object.entries(this.indexers)) {
      const byValue = this.indices.get(index)!;
      for (const value of fn(object)) indexDelete(byValue, value, key);
    }
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    this.metrics.synced.set({ informer: this.name }, 1);
    this.log.info({ objects: this.store.size }, 'cache synced');
    for (const waiter of this.syncWaiters) waiter.resolve();
    this.syncWaiters.clear();
    this.scheduleResync();
  }

  private scheduleResync(): void {
    if (this.resyncPeriodMs <= 0 || this.abort.signal.aborted) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      for (const [key, object] of this.store) this.emit({ type: 'resync', key, object, old: object });
      this.scheduleResync();
    }, this.resyncPeriodMs);
  }

  private emit(event: InformerEvent<T>): void {
    for (const handler of this.handlers) {
      try {
        handler(event);
      } catch (err) {
        this.log.error({ err, key: event.key, type: event.type }, 'informer event handler threw');
      }
    }
  }
}

export interface CreateInformerOptions<T, Wire = T>
  extends Omit<InformerOptions<T, Wire>, 'name'>, SelectorOptions {
  name?: string;
  /**
   * List objects in full but watch them as PartialObjectMetadata: for a cache that keeps metadata and derives the
   * rest itself (the GNP cache, src/controller/gnp-store.ts); the transform sees both forms.
   */
  watchMetadataOnly?: boolean;
}

/** An informer on one resource, named `plural.group` (or `plural` for the core group) unless told otherwise. */
export function createInformer<Wire extends KubeObject, T extends KubeObject = Wire>(
  resource: ResourceClient<Wire>,
  options: CreateInformerOptions<T, Wire> = {},
): ListWatchInformer<T, Wire> {
  const { namespace, labelSelector, fieldSelector, watchMetadataOnly, ...rest } = options;
  const name =
    options.name ??
    (resource.ref.group ? `${resource.ref.plural}.${resource.ref.group}` : resource.ref.plural);
  const selectors = { namespace, labelSelector, fieldSelector };
  return new ListWatchInformer(listerWatcherFor(resource, selectors, watchMetadataOnly), {
    ...rest,
    name,
  });
}
