/**
 * The generic loop: informer events of several sources -> keys -> work queue -> reconcile(key).
 *
 * Level-triggered like controller-runtime: only keys travel through the queue, never event payloads, so a
 * reconcile reads the current state from the caches and the outcome does not depend on which events were
 * coalesced or missed. A reconcile that throws is retried with the queue's per-key backoff; one that returns
 * `requeueAfterMs` runs again after that delay with its backoff reset.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { isConflict } from '../kube/errors.js';
import type { Informer, InformerEvent } from '../kube/informer.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import {
  counter,
  gauge,
  histogram,
  perRegistry,
  sharedRegistry,
  type Registry,
} from '../observability/metrics.js';
import { WorkQueue, type RateLimiter, type ShutdownResult } from './workqueue.js';

export interface ReconcileContext {
  /** A child logger carrying controller, reconcileID and key. */
  log: Logger;
  reconcileId: string;
  /** Aborted when shutdown's drain bound expires: stop writing and return. */
  signal: AbortSignal;
}

export interface ReconcileResult {
  /** Run this key again after the delay (periodic refresh); its failure backoff is reset. */
  requeueAfterMs?: number;
  /** Run this key again with rate-limited backoff without counting it as an error. */
  requeue?: boolean;
}

export type ReconcileFunction = (key: string, context: ReconcileContext) => Promise<ReconcileResult | void>;

/** Maps one informer event to the keys it affects (none, one, or many: e.g. a Namespace change -> its policies). */
export type EventMapper<T> = (event: InformerEvent<T>) => readonly string[];

export interface ControllerOptions {
  /** The `controller` label, the `name` of its work queue, and the logger's `controller` field. */
  name: string;
  reconcile: ReconcileFunction;
  /** controller-runtime's MaxConcurrentReconciles (default 1). */
  concurrency?: number;
  rateLimiter?: RateLimiter;
  clock?: Clock;
  logger?: Logger;
  registry?: Registry;
}

const controllerMetrics = perRegistry((registry) => {
  const labelNames = ['controller'] as const;
  return {
    total: counter(registry, {
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'] as const,
    }),
    errors: counter(registry, {
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames,
    }),
    time: histogram(registry, {
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames,
      buckets: [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
        1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
      ],
    }),
    activeWorkers: gauge(registry, {
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller',
      labelNames,
    }),
    maxConcurrent: gauge(registry, {
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Maximum number of concurrent reconciles per controller',
      labelNames,
    }),
  };
});

export type ReconcileOutcome = 'success' | 'error' | 'requeue' | 'requeue_after';

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly reconcileFn: ReconcileFunction;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly metrics: ReturnType<typeof controllerMetrics>;
  private readonly sources: Informer<unknown>[] = [];
  private readonly unsubscribes: (() => void)[] = [];
  private started = false;
  private stopped = false;
  /** Keys queued when the caches synced; readiness waits until each has been reconciled once. */
  private initialKeys: Set<string> | undefined;
  private initialDone = false;

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.reconcileFn = options.reconcile;
    this.clock = options.clock ?? systemClock;
    this.log = (options.logger ?? silentLogger).child({ controller: options.name });
    const registry = options.registry ?? sharedRegistry();
    this.metrics = controllerMetrics(registry);
    this.queue = new WorkQueue({
      name: options.name,
      concurrency: options.concurrency ?? 1,
      rateLimiter: options.rateLimiter,
      clock: this.clock,
      logger: this.log,
      registry,
    });
    this.metrics.maxConcurrent.set({ controller: this.name }, this.queue.concurrency);
    this.metrics.activeWorkers.set({ controller: this.name }, 0);
    for (const result of ['success', 'error', 'requeue', 'requeue_after'] as const) {
      this.metrics.total.inc({ controller: this.name, result }, 0);
    }
    this.metrics.errors.inc({ controller: this.name }, 0);
  }

  /**
   * Feeds the queue from an informer. Without a mapper the event's own key is queued (the informer's objects are
   * this controller's primary resource). Call before start().
   */
  watches<T>(informer: Informer<T>, map?: EventMapper<T>): this {
    if (this.started) throw new Error(`controller ${this.name}: watches() must be called before start()`);
    this.sources.push(informer as Informer<unknown>);
    this.unsubscribes.push(
      informer.onChange((event) => {
        let keys: readonly string[];
        try {
          keys = map ? map(event) : [event.key];
        } catch (err) {
          this.log.error(
            { err, informer: informer.name, key: event.key },
            'event mapper threw; event dropped',
          );
          return;
        }
        for (const key of keys) this.queue.add(key);
      }),
    );
    return this;
  }

  /** Queues a key by hand (e.g. a periodic external refresh). */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** All watched informers have completed their first list. */
  hasSynced(): boolean {
    return this.sources.every((source) => source.hasSynced());
  }

  /** Every key known when the caches synced has been reconciled at least once (whatever the outcome). */
  initialReconcileDone(): boolean {
    return this.initialDone;
  }

  /**
   * Starts the informers (idempotent), waits for all of them to sync, then starts the workers. Resolves once the
   * workers run; rejects if `signal` aborts first.
   */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.started) throw new Error(`controller ${this.name} already started`);
    if (this.stopped) throw new Error(`controller ${this.name} was stopped`);
    this.started = true;
    for (const source of this.sources) source.start();
    this.log.info({ sources: this.sources.map((s) => s.name) }, 'waiting for caches to sync');
    await Promise.all(this.sources.map((source) => source.waitForSync(signal)));
    if (this.stopped) return;
    // Whatever the informers emitted while listing is in the queue now: that is the initial full reconcile.
    this.initialKeys = new Set(this.queue.dirtyKeys());
    this.initialDone = this.initialKeys.size === 0;
    this.log.info(
      { workers: this.queue.concurrency, initialKeys: this.initialKeys.size },
      'caches synced; starting workers',
    );
    this.queue.run((key, context) => this.reconcileKey(key, context.signal));
  }

  /** Stops taking keys, finishes the reconciles in flight within the bound, unsubscribes from the informers. */
  async stop(options: { drainTimeoutMs?: number } = {}): Promise<ShutdownResult> {
    this.stopped = true;
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    const result = await this.queue.shutdown(options);
    this.log.info(result, 'controller stopped');
    return result;
  }

  private async reconcileKey(key: string, signal: AbortSignal): Promise<void> {
    const reconcileId = randomUUID();
    const log = this.log.child({ reconcileID: reconcileId, key });
    const started = this.clock.now();
    this.metrics.activeWorkers.inc({ controller: this.name });
    let outcome: ReconcileOutcome;
    try {
      const result = await this.reconcileFn(key, { log, reconcileId, signal });
      const durationMs = this.clock.now() - started;
      if (result && result.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
        outcome = 'requeue_after';
        this.queue.forget(key);
        this.queue.addAfter(key, result.requeueAfterMs);
        log.debug({ result: outcome, durationMs, requeueAfterMs: result.requeueAfterMs }, 'reconciled');
      } else if (result?.requeue) {
        outcome = 'requeue';
        this.queue.addRateLimited(key);
        log.debug({ result: outcome, durationMs }, 'reconciled; requeued');
      } else {
        outcome = 'success';
        this.queue.forget(key);
        // Every reconcile at debug, as controller-runtime logs them; writes and errors are logged at info and above.
        log.debug({ result: outcome, durationMs }, 'reconciled');
      }
    } catch (err) {
      outcome = 'error';
      this.metrics.errors.inc({ controller: this.name });
      const retries = this.queue.numRequeues(key);
      this.queue.addRateLimited(key);
      const durationMs = this.clock.now() - started;
      // A lost optimistic-concurrency race is routine: the retry re-reads and usually succeeds.
      if (isConflict(err)) log.info({ result: outcome, durationMs, retries, err }, 'conflict; will retry');
      else log.error({ result: outcome, durationMs, retries, err }, 'reconcile failed; will retry');
    } finally {
      this.metrics.activeWorkers.dec({ controller: this.name });
      this.metrics.time.observe({ controller: this.name }, (this.clock.now() - started) / 1000);
    }
    this.metrics.total.inc({ controller: this.name, result: outcome });
    this.markInitial(key);
  }

  private markInitial(key: string): void {
    if (this.initialDone || !this.initialKeys) return;
    this.initialKeys.delete(key);
    if (this.initialKeys.size === 0) {
      this.initialDone = true;
      this.log.info('initial reconcile of every known key done');
    }
  }
}

/**
 * A /readyz check: ready when every controller's caches are synced and, while this replica leads, every
 * controller has reconciled each key it knew at sync time once. A standby is ready with warm caches alone.
 */
export function controllersReady(
  controllers: readonly Controller[],
  isLeader: () => boolean,
): () => true | string {
  return () => {
    const unsynced = controllers.filter((c) => !c.hasSynced()).map((c) => c.name);
    if (unsynced.length > 0) return `caches not synced: ${unsynced.join(', ')}`;
    if (!isLeader()) return true;
    const pending = controllers.filter((c) => !c.initialReconcileDone()).map((c) => c.name);
    if (pending.length > 0) return `initial reconcile not done: ${pending.join(', ')}`;
    return true;
  };
}
