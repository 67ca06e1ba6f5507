/**
 * client-go's rate-limited work queue, with p-queue as the worker pool.
 *
 * - Queued keys wait in a FIFO of strings; p-queue runs at most `concurrency` workers, each taking keys until the
 *   FIFO is empty (controller-runtime's workers looping on Get). One p-queue task per key held a promise, its
 *   closures and p-queue's abort bookkeeping: about 0.9 KB of heap per queued key, 9 MB when a first list of
 *   10,000 NetworkPolicies queues every key, and that heap was the operator's peak.
 * - A key is queued at most once however many times it is added (the dirty set).
 * - A key is never processed by two workers at once: an add while it is being processed marks it dirty, and it is
 *   queued again, once, when the processing ends.
 * - `addRateLimited` delays a key by the max of its own exponential backoff (reset by `forget`) and a global
 *   token bucket, like client-go's DefaultControllerRateLimiter (5 ms .. 1000 s per key; 10 qps, burst 100).
 * - `shutdown` stops taking keys, lets the ones in flight finish, and returns within a bound.
 */
import PQueue from 'p-queue';
import { sleep, systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import {
  counter,
  exponentialBuckets,
  gauge,
  histogram,
  perRegistry,
  sharedRegistry,
  type Registry,
} from '../observability/metrics.js';

// ---------------------------------------------------------------------------------------------------------------
// Rate limiters

export interface RateLimiter {
  /** How long to wait before the key may be processed again; records one more failure of the key. */
  when(key: string): number;
  /** The key succeeded: its backoff starts over. */
  forget(key: string): void;
  /** Failures recorded for the key since its last forget. */
  numRequeues(key: string): number;
}

/** baseDelay * 2^failures, capped (client-go's ItemExponentialFailureRateLimiter). */
export class ItemExponentialRateLimiter implements RateLimiter {
  private readonly failures = new Map<string, number>();

  constructor(
    readonly baseDelayMs = 5,
    readonly maxDelayMs = 1_000_000,
  ) {
    if (!(baseDelayMs > 0)) throw new Error(`baseDelayMs must be > 0, got ${baseDelayMs}`);
    if (!(maxDelayMs >= baseDelayMs)) throw new Error(`maxDelayMs must be >= baseDelayMs, got ${maxDelayMs}`);
  }

  when(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    // 2^1100 is Infinity: the cap handles it, and so does Math.min.
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** failures);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

/**
 * A token bucket shared by all keys (golang.org/x/time/rate's Reserve): `burst` immediate slots, refilled at
 * `qps`; a reservation past the bucket waits for its token.
 */
export class TokenBucketRateLimiter implements RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    readonly qps = 10,
    readonly burst = 100,
    private readonly clock: Clock = systemClock,
  ) {
    if (!(qps > 0)) throw new Error(`qps must be > 0, got ${qps}`);
    if (!(burst >= 1)) throw new Error(`burst must be >= 1, got ${burst}`);
    this.tokens = burst;
    this.last = clock.now();
  }

  when(_key: string): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }

  forget(_key: string): void {}

  numRequeues(_key: string): number {
    return 0;
  }
}

/** The longest delay of several limiters (client-go's MaxOfRateLimiter). */
export class MaxOfRateLimiter implements RateLimiter {
  private readonly limiters: RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    this.limiters = limiters;
  }

  when(key: string): number {
    return Math.max(0, ...this.limiters.map((limiter) => limiter.when(key)));
  }

  forget(key: string): void {
    for (const limiter of this.limiters) limiter.forget(key);
  }

  numRequeues(key: string): number {
    return Math.max(0, ...this.limiters.map((limiter) => limiter.numRequeues(key)));
  }
}

export interface ControllerRateLimiterOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  qps?: number;
  burst?: number;
  clock?: Clock;
}

/** client-go's DefaultControllerRateLimiter, configurable. */
export function defaultControllerRateLimiter(options: ControllerRateLimiterOptions = {}): RateLimiter {
  return new MaxOfRateLimiter(
    new ItemExponentialRateLimiter(options.baseDelayMs ?? 5, options.maxDelayMs ?? 1_000_000),
    new TokenBucketRateLimiter(options.qps ?? 10, options.burst ?? 100, options.clock ?? systemClock),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Metrics, named like client-go's / controller-runtime's so existing dashboards work

const queueMetrics = perRegistry((registry) => {
  const live = new Set<WorkQueue>();
  const labelNames = ['name'] as const;
  return {
    live,
    depth: gauge(registry, { name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames }),
    adds: counter(registry, {
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue',
      labelNames,
    }),
    retries: counter(registry, {
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames,
    }),
    queueDuration: histogram(registry, {
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames,
      buckets: exponentialBuckets(10e-9, 10, 12),
    }),
    workDuration: histogram(registry, {
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes',
      labelNames,
      buckets: exponentialBuckets(10e-9, 10, 12),
    }),
    unfinished: gauge(registry, {
      name: 'workqueue_unfinished_work_seconds',
      help:
        "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. " +
        'Large values indicate stuck threads.',
      labelNames,
      collect() {
        for (const queue of live) this.set({ name: queue.name }, queue.unfinishedWorkSeconds());
      },
    }),
    longestRunning: gauge(registry, {
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running.',
      labelNames,
      collect() {
        for (const queue of live) this.set({ name: queue.name }, queue.longestRunningProcessorSeconds());
      },
    }),
  };
});

// ---------------------------------------------------------------------------------------------------------------
// The queue

export interface WorkQueueOptions {
  /** The `name` label of the workqueue_* metrics (controller-runtime uses the controller name). */
  name: string;
  /** Keys processed at once (default 1). */
  concurrency?: number;
  rateLimiter?: RateLimiter;
  clock?: Clock;
  logger?: Logger;
  registry?: Registry;
}

export interface ProcessContext {
  /** Aborted when shutdown's drain bound expires while this key is still being processed. */
  signal: AbortSignal;
}

export type ProcessFunction = (key: string, context: ProcessContext) => Promise<void>;

export interface ShutdownResult {
  /** True when every key in flight finished within the bound. */
  drained: boolean;
  /** Keys still being processed when the bound expired. */
  abandoned: string[];
}

export class WorkQueue {
  readonly name: string;
  private readonly pool: PQueue;
  private readonly rateLimiter: RateLimiter;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly metrics: ReturnType<typeof queueMetrics>;
  private readonly dirty = new Set<string>();
  /** Key -> when its processing started. */
  private readonly processing = new Map<string, number>();
  /** The FIFO: keys waiting from index `head` on, and when each was queued (for queue_duration). */
  private queuedKeys: string[] = [];
  private queuedTimes: number[] = [];
  private head = 0;
  /** Worker tasks given to the pool and not yet finished; `starting` of them have not taken a key yet. */
  private workers = 0;
  private starting = 0;
  private readonly waiting = new Map<string, { readyAt: number; timer: TimerHandle }>();
  private readonly drainAbort = new AbortController();
  private process: ProcessFunction | undefined;
  private shuttingDown = false;
  private idleWaiters: (() => void)[] = [];

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new Error(`workqueue ${options.name}: concurrency must be an integer >= 1, got ${concurrency}`);
    }
    this.clock = options.clock ?? systemClock;
    this.rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter({ clock: this.clock });
    this.log = (options.logger ?? silentLogger).child({ workqueue: options.name });
    this.metrics = queueMetrics(options.registry ?? sharedRegistry());
    this.metrics.depth.set({ name: this.name }, 0);
    this.metrics.live.add(this);
    // Workers start only when run() provides the process function: a queue fills while caches sync.
    this.pool = new PQueue({ concurrency, autoStart: false });
  }

  get concurrency(): number {
    return this.pool.concurrency;
  }

  /** Keys waiting to be processed (not counting those in flight or delayed). */
  get length(): number {
    return this.queuedKeys.length - this.head;
  }

  /** Worker tasks in the pool: at most `concurrency`, however many keys wait. */
  get workerCount(): number {
    return this.workers;
  }

  /** Keys being processed now. */
  get inFlight(): string[] {
    return [...this.processing.keys()];
  }

  /** Keys that will be processed (queued, or in flight and added again). */
  dirtyKeys(): string[] {
    return [...this.dirty];
  }

  /** Keys waiting for an addAfter/addRateLimited delay. */
  get delayed(): number {
    return this.waiting.size;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.metrics.adds.inc({ name: this.name });
    // A key in flight is queued again when its processing ends (see finish).
    if (!this.processing.has(key)) this.enqueue(key);
  }

  /** Adds the key after `delayMs`; of several pending delays for one key, the earliest wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.clock.now() + delayMs;
    const pending = this.waiting.get(key);
    if (pending && pending.readyAt <= readyAt) return;
    if (pending) this.clock.clearTimeout(pending.timer);
    const timer = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, delayMs);
    this.waiting.set(key, { readyAt, timer });
  }

  /** Adds the key when the rate limiter allows: after the key's backoff and a token of the global bucket. */
  addRateLimited(key: string): void {
    if (this.shuttingDown) return;
    this.metrics.retries.inc({ name: this.name });
    this.addAfter(key, this.rateLimiter.when(key));
  }

  /** The key succeeded: its backoff starts over. */
  forget(key: string): void {
    this.rateLimiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.rateLimiter.numRequeues(key);
  }

  /** Starts the workers. Errors thrown by `process` are logged; retrying is the caller's decision. */
  run(process: ProcessFunction): void {
    if (this.process) throw new Error(`workqueue ${this.name} is already running`);
    if (this.shuttingDown) throw new Error(`workqueue ${this.name} is shut down`);
    this.process = process;
    this.pool.start();
    this.startWorkers();
  }

  /** Resolves once nothing is queued, delayed or in flight (tests, benchmarks). */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops taking keys (queued and delayed keys are dropped: the next leader or process relists anyway), waits
   * for the keys in flight, and resolves within `drainTimeoutMs`; past it, their signal is aborted.
   */
  async shutdown(options: { drainTimeoutMs?: number } = {}): Promise<ShutdownResult> {
    const drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
    this.shuttingDown = true;
    for (const { timer } of this.waiting.values()) this.clock.clearTimeout(timer);
    this.waiting.clear();
    this.queuedKeys = [];
    this.queuedTimes = [];
    this.head = 0;
    this.metrics.depth.set({ name: this.name }, 0);
    this.metrics.live.delete(this);
    this.notifyIfIdle();
    if (this.processing.size > 0) {
      const bound = new AbortController();
      const drained = this.whenIdle().then(() => true);
      const expired = sleep(this.clock, drainTimeoutMs, bound.signal).then(
        () => false,
        () => true,
      );
      const finished = await Promise.race([drained, expired]);
      bound.abort();
      if (!finished) {
        const abandoned = this.inFlight;
        this.log.warn({ abandoned, drainTimeoutMs }, 'shutdown: keys still in flight after the drain bound');
        this.drainAbort.abort();
        return { drained: false, abandoned };
      }
    }
    return { drained: true, abandoned: [] };
  }

  unfinishedWorkSeconds(): number {
    const now = this.clock.now();
    let total = 0;
    for (const started of this.processing.values()) total += now - started;
    return total / 1000;
  }

  longestRunningProcessorSeconds(): number {
    const now = this.clock.now();
    let longest = 0;
    for (const started of this.processing.values()) longest = Math.max(longest, now - started);
    return longest / 1000;
  }

  private enqueue(key: string): void {
    this.queuedKeys.push(key);
    this.queuedTimes.push(this.clock.now());
    this.metrics.depth.set({ name: this.name }, this.length);
    this.startWorkers();
  }

  /** Gives the pool another worker while keys wait that no starting worker will take, up to `concurrency`. */
  private startWorkers(): void {
    if (!this.process || this.shuttingDown) return;
    while (this.workers < this.pool.concurrency && this.starting < this.length) {
      this.workers++;
      this.starting++;
      this.pool.add(() => this.worker()).catch(() => {});
    }
  }

  private async worker(): Promise<void> {
    this.starting--;
    try {
      for (;;) {
        if (this.shuttingDown || this.head === this.queuedKeys.length) return;
        const key = this.queuedKeys[this.head]!;
        const queuedAt = this.queuedTimes[this.head]!;
        this.head++;
        this.compactFifo();
        await this.work(key, queuedAt);
      }
    } finally {
      this.workers--;
      this.notifyIfIdle();
    }
  }

  /** Drops the taken front of the FIFO once it is at least half of it: amortised O(1) per key. */
  private compactFifo(): void {
    if (this.head === this.queuedKeys.length) {
      this.queuedKeys.length = 0;
      this.queuedTimes.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queuedKeys.length) {
      this.queuedKeys.splice(0, this.head);
      this.queuedTimes.splice(0, this.head);
      this.head = 0;
    }
  }

  private async work(key: string, queuedAt: number): Promise<void> {
    const started = this.clock.now();
    this.dirty.delete(key);
    this.processing.set(key, started);
    this.metrics.depth.set({ name: this.name }, this.length);
    this.metrics.queueDuration.observe({ name: this.name }, (started - queuedAt) / 1000);
    try {
      await this.process!(key, { signal: this.drainAbort.signal });
    } catch (err) {
      this.log.error({ err, key }, 'work queue process function threw');
    } finally {
      this.processing.delete(key);
      this.metrics.workDuration.observe({ name: this.name }, (this.clock.now() - started) / 1000);
      if (this.dirty.has(key) && !this.shuttingDown) this.enqueue(key);
    }
  }

  private isIdle(): boolean {
    return this.processing.size === 0 && this.length === 0 && this.waiting.size === 0;
  }

  private notifyIfIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
