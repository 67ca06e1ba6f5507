import fc from 'fast-check';
import { ManualClock, settle } from '../../test/support/manual-clock.js';
import { Registry } from '../observability/metrics.js';
import {
  ItemExponentialRateLimiter,
  MaxOfRateLimiter,
  TokenBucketRateLimiter,
  WorkQueue,
  defaultControllerRateLimiter,
  type ProcessContext,
} from './workqueue.js';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A process function whose calls stay in flight until the test completes them. */
function controlledWorker() {
  const inFlight: { key: string; done: Deferred; context: ProcessContext }[] = [];
  const started: string[] = [];
  const active = new Set<string>();
  let overlap: string | undefined;
  const process = (key: string, context: ProcessContext) => {
    if (active.has(key)) overlap = key;
    active.add(key);
    started.push(key);
    const done = deferred();
    inFlight.push({ key, done, context });
    return done.promise.finally(() => active.delete(key));
  };
  const complete = async (key?: string) => {
    const index = key === undefined ? 0 : inFlight.findIndex((f) => f.key === key);
    const [entry] = inFlight.splice(index, 1);
    if (!entry) throw new Error(`nothing in flight for ${key ?? 'any key'}`);
    entry.done.resolve();
    await settle(2);
  };
  return { process, complete, inFlight, started, overlap: () => overlap };
}

async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  const match = metric?.values.find((v) =>
    Object.entries(labels).every(([label, value]) => String(v.labels[label]) === value),
  );
  return match?.value ?? NaN;
}

function newQueue(options: { concurrency?: number; clock?: ManualClock; registry?: Registry } = {}) {
  const clock = options.clock ?? new ManualClock();
  const registry = options.registry ?? new Registry();
  const queue = new WorkQueue({ name: 'test', concurrency: options.concurrency ?? 1, clock, registry });
  return { queue, clock, registry };
}

describe('WorkQueue', () => {
  it('queues a key at most once however often it is added', async () => {
    const { queue, registry } = newQueue();
    for (let i = 0; i < 5; i++) queue.add('a');
    queue.add('b');
    queue.add('a');
    expect(queue.length).toBe(2);
    expect(await metricValue(registry, 'workqueue_depth', { name: 'test' })).toBe(2);
    expect(await metricValue(registry, 'workqueue_adds_total', { name: 'test' })).toBe(2);

    const worker = controlledWorker();
    queue.run(worker.process);
    await settle();
    await worker.complete('a');
    await worker.complete('b');
    expect(worker.started).toEqual(['a', 'b']);
    await queue.whenIdle();
  });

  it('never processes one key on two workers, and re-queues a key added during processing exactly once', async () => {
    const { queue } = newQueue({ concurrency: 4 });
    const worker = controlledWorker();
    queue.run(worker.process);
    queue.add('a');
    await settle();
    expect(worker.started).toEqual(['a']);

    queue.add('a');
    queue.add('a');
    queue.add('b');
    await settle();
    // b runs on another worker; a waits for its own processing to end.
    expect(worker.started).toEqual(['a', 'b']);
    expect(queue.dirtyKeys()).toEqual(['a']);

    await worker.complete('a');
    expect(worker.started).toEqual(['a', 'b', 'a']);
    await worker.complete('a');
    await worker.complete('b');
    expect(worker.started).toEqual(['a', 'b', 'a']);
    expect(worker.overlap()).toBeUndefined();
    await queue.whenIdle();
  });

  it('does not start workers before run() and processes what accumulated once it starts', async () => {
    const { queue } = newQueue();
    const worker = controlledWorker();
    queue.add('x');
    await settle();
    expect(worker.started).toEqual([]);
    queue.run(worker.process);
    await settle();
    expect(worker.started).toEqual(['x']);
    expect(() => queue.run(worker.process)).toThrow(/already running/);
  });

  it('keeps waiting keys in a FIFO: thousands queued give the pool only `concurrency` workers, in order, once each', async () => {
    const { queue } = newQueue({ concurrency: 3 });
    const keys = Array.from({ length: 5000 }, (_, i) => `ns-${i % 7}/np-${i}`);
    for (const key of keys) queue.add(key);
    const processed: string[] = [];
    let active = 0;
    let mostActive = 0;
    let mostWorkers = 0;
    queue.run(async (key) => {
      active++;
      mostActive = Math.max(mostActive, active);
      mostWorkers = Math.max(mostWorkers, queue.workerCount);
      processed.push(key);
      // Keys added while the FIFO is being taken from its front land behind what is waiting.
      if (processed.length % 1000 === 0) queue.add(`late/${processed.length}`);
      await settle(1);
      active--;
    });
    expect(queue.workerCount).toBe(3);
    await queue.whenIdle();
    const late = [1000, 2000, 3000, 4000, 5000].map((n) => `late/${n}`);
    expect(processed.filter((k) => !k.startsWith('late/'))).toEqual(keys);
    expect(processed.filter((k) => k.startsWith('late/')).sort()).toEqual([...late].sort());
    // Each late key after the key whose processing added it.
    for (const n of [1000, 2000, 3000, 4000]) {
      expect(processed.indexOf(`late/${n}`)).toBeGreaterThan(processed.indexOf(keys[n - 1]!));
    }
    expect(mostActive).toBe(3);
    expect(mostWorkers).toBe(3);
    expect(queue.length).toBe(0);
    expect(queue.workerCount).toBe(0);

    // Idle workers have left; a new key starts one again.
    queue.add('again');
    await queue.whenIdle();
    expect(processed.at(-1)).toBe('again');
  });

  it('logs and survives a process function that throws', async () => {
    const { queue } = newQueue();
    let calls = 0;
    queue.run(async () => {
      calls++;
      throw new Error('boom');
    });
    queue.add('a');
    await queue.whenIdle();
    queue.add('a');
    await queue.whenIdle();
    expect(calls).toBe(2);
  });

  it('addAfter delays a key on the clock and keeps the earliest of several delays', async () => {
    const { queue, clock } = newQueue();
    const worker = controlledWorker();
    queue.run(worker.process);
    queue.addAfter('a', 1000);
    queue.addAfter('a', 5000);
    queue.addAfter('a', 300);
    expect(queue.delayed).toBe(1);
    await clock.advance(299);
    expect(worker.started).toEqual([]);
    await clock.advance(1);
    expect(worker.started).toEqual(['a']);
    await worker.complete();
    await clock.advance(10_000);
    expect(worker.started).toEqual(['a']);
  });

  it('addRateLimited backs off per key, exponentially, and forget resets it', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({
      name: 'test',
      clock,
      registry: new Registry(),
      rateLimiter: new ItemExponentialRateLimiter(100, 1000),
    });
    const worker = controlledWorker();
    queue.run(worker.process);
    const delays: number[] = [];
    for (let failure = 0; failure < 6; failure++) {
      queue.addRateLimited('a');
      delays.push(clock.nextTimerIn() ?? -1);
      await clock.advance(delays[delays.length - 1]!);
      await worker.complete('a');
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(queue.numRequeues('a')).toBe(6);
    queue.forget('a');
    expect(queue.numRequeues('a')).toBe(0);
    queue.addRateLimited('a');
    expect(clock.nextTimerIn()).toBe(100);
  });

  it('counts retries in workqueue_retries_total', async () => {
    const { queue, registry } = newQueue();
    queue.addRateLimited('a');
    queue.addRateLimited('b');
    expect(await metricValue(registry, 'workqueue_retries_total', { name: 'test' })).toBe(2);
  });

  it('shutdown stops taking keys, lets the key in flight finish, and reports drained', async () => {
    const { queue } = newQueue();
    const worker = controlledWorker();
    queue.run(worker.process);
    queue.add('a');
    queue.add('b');
    queue.addAfter('c', 100);
    await settle();
    const shutdown = queue.shutdown({ drainTimeoutMs: 60_000 });
    queue.add('d');
    await worker.complete('a');
    await expect(shutdown).resolves.toEqual({ drained: true, abandoned: [] });
    expect(worker.started).toEqual(['a']);
    expect(queue.isShuttingDown).toBe(true);
  });

  it('shutdown resolves within the drain bound when a key never finishes, and aborts its signal', async () => {
    const { queue, clock } = newQueue();
    const worker = controlledWorker();
    queue.run(worker.process);
    queue.add('stuck');
    await settle();
    let result: unknown;
    const shutdown = queue.shutdown({ drainTimeoutMs: 5000 }).then((r) => (result = r));
    await clock.advance(4999);
    expect(result).toBeUndefined();
    expect(worker.inFlight[0]?.context.signal.aborted).toBe(false);
    await clock.advance(1);
    await shutdown;
    expect(result).toEqual({ drained: false, abandoned: ['stuck'] });
    expect(worker.inFlight[0]?.context.signal.aborted).toBe(true);
  });

  it('reports unfinished work and the longest running processor on scrape', async () => {
    const { queue, clock, registry } = newQueue({ concurrency: 2 });
    const worker = controlledWorker();
    queue.run(worker.process);
    queue.add('a');
    await settle();
    await clock.advance(3000);
    queue.add('b');
    await settle();
    await clock.advance(1000);
    expect(await metricValue(registry, 'workqueue_unfinished_work_seconds', { name: 'test' })).toBe(5);
    expect(await metricValue(registry, 'workqueue_longest_running_processor_seconds', { name: 'test' })).toBe(
      4,
    );
    await worker.complete('a');
    await worker.complete('b');
    const text = await registry.getSingleMetricAsString('workqueue_work_duration_seconds');
    expect(text).toContain('workqueue_work_duration_seconds_count{name="test"} 2');
  });

  it('rejects a concurrency below 1', () => {
    expect(() => new WorkQueue({ name: 'x', concurrency: 0, registry: new Registry() })).toThrow(
      /concurrency/,
    );
  });

  it('property: no key is processed concurrently, and every added key is processed after its last add', async () => {
    const keys = ['a', 'b', 'c', 'd'];
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), key: fc.constantFrom(...keys) }),
      fc.record({ kind: fc.constant('addRateLimited' as const), key: fc.constantFrom(...keys) }),
      fc.record({ kind: fc.constant('complete' as const), index: fc.nat(5) }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 50 }) }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(op, { maxLength: 40 }),
        async (concurrency, ops) => {
          const clock = new ManualClock();
          const queue = new WorkQueue({
            name: 'prop',
            concurrency,
            clock,
            registry: new Registry(),
            rateLimiter: defaultControllerRateLimiter({ clock }),
          });
          let tick = 0;
          const lastAdd = new Map<string, number>();
          const starts = new Map<string, number[]>();
          const active = new Set<string>();
          const inFlight: { key: string; resolve: () => void }[] = [];
          let concurrent: string | undefined;
          queue.run(
            (key) =>
              new Promise<void>((resolve) => {
                if (active.has(key)) concurrent = key;
                active.add(key);
                starts.set(key, [...(starts.get(key) ?? []), ++tick]);
                inFlight.push({
                  key,
                  resolve: () => {
                    active.delete(key);
                    resolve();
                  },
                });
              }),
          );
          for (const step of ops) {
            if (step.kind === 'add') {
              lastAdd.set(step.key, ++tick);
              queue.add(step.key);
            } else if (step.kind === 'addRateLimited') {
              // The add happens when the delay expires; count it from now, which is earlier, so the check is strict.
              lastAdd.set(step.key, ++tick);
              queue.addRateLimited(step.key);
            } else if (step.kind === 'complete') {
              const entry = inFlight.splice(step.index % Math.max(1, inFlight.length), 1)[0];
              entry?.resolve();
            } else {
              await clock.advance(step.ms);
            }
            await settle(1);
          }
          // Drain: fire every delayed add and finish everything in flight.
          for (let guard = 0; guard < 1000; guard++) {
            const entry = inFlight.shift();
            if (entry) entry.resolve();
            else if (queue.delayed > 0) await clock.advance(clock.nextTimerIn() ?? 0);
            else if (queue.length === 0) break;
            await settle(1);
          }
          expect(concurrent).toBeUndefined();
          for (const [key, addedAt] of lastAdd) {
            const after = (starts.get(key) ?? []).filter((startedAt) => startedAt > addedAt);
            expect({ key, processedAfterLastAdd: after.length > 0 }).toEqual({
              key,
              processedAfterLastAdd: true,
            });
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('rate limiters', () => {
  it('ItemExponentialRateLimiter doubles per failure up to the cap, per key', () => {
    const limiter = new ItemExponentialRateLimiter(5, 1_000_000);
    const delays = Array.from({ length: 20 }, () => limiter.when('k'));
    expect(delays.slice(0, 4)).toEqual([5, 10, 20, 40]);
    expect(Math.max(...delays)).toBe(1_000_000);
    expect(delays.every((d, i) => i === 0 || d >= delays[i - 1]!)).toBe(true);
    expect(limiter.when('other')).toBe(5);
    // Far past any exponent a double can hold, the cap still applies.
    for (let i = 0; i < 2000; i++) limiter.when('k');
    expect(limiter.when('k')).toBe(1_000_000);
  });

  it('TokenBucketRateLimiter allows the burst at once, then spaces by 1/qps, and refills with time', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucketRateLimiter(10, 100, clock);
    const first = Array.from({ length: 100 }, (_, i) => bucket.when(`k${i}`));
    expect(first.every((d) => d === 0)).toBe(true);
    expect(bucket.when('x')).toBeCloseTo(100);
    expect(bucket.when('y')).toBeCloseTo(200);
    await clock.advance(10_000);
    // 10 s at 10 qps = 100 tokens, minus the 2 borrowed: 98 immediate ones.
    const after = Array.from({ length: 98 }, (_, i) => bucket.when(`z${i}`));
    expect(after.every((d) => d === 0)).toBe(true);
    expect(bucket.when('w')).toBeGreaterThan(0);
  });

  it('MaxOfRateLimiter takes the longest delay and forgets in all', () => {
    const clock = new ManualClock();
    const limiter = new MaxOfRateLimiter(
      new ItemExponentialRateLimiter(5, 1000),
      new TokenBucketRateLimiter(1, 1, clock),
    );
    expect(limiter.when('a')).toBe(5);
    expect(limiter.when('a')).toBeCloseTo(1000);
    expect(limiter.numRequeues('a')).toBe(2);
    limiter.forget('a');
    expect(limiter.numRequeues('a')).toBe(0);
  });

  it('rejects nonsensical settings', () => {
    expect(() => new ItemExponentialRateLimiter(0)).toThrow(/baseDelayMs/);
    expect(() => new ItemExponentialRateLimiter(10, 5)).toThrow(/maxDelayMs/);
    expect(() => new TokenBucketRateLimiter(0)).toThrow(/qps/);
    expect(() => new TokenBucketRateLimiter(1, 0)).toThrow(/burst/);
  });
});
