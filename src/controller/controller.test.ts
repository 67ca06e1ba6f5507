import { ManualClock, settle } from '../../test/support/manual-clock.js';
import { ApiError } from '../kube/errors.js';
import type { InformerEvent } from '../kube/informer.js';
import { HandFedInformer } from '../../test/support/hand-fed-informer.js';
import { createLogger } from '../observability/logger.js';
import { Registry } from '../observability/metrics.js';
import { Controller, controllersReady, type ReconcileContext, type ReconcileResult } from './controller.js';
import { ItemExponentialRateLimiter } from './workqueue.js';

interface Obj {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
}

/** HandFedInformer, with an object made up for each key an event names. */
class FakeInformer extends HandFedInformer<Obj> {
  emitKey(type: InformerEvent<Obj>['type'], key: string): void {
    this.emit(type, key, { metadata: { name: key } });
  }
}

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { lines, logger };
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  return (
    values.find((v) => Object.entries(labels).every(([label, value]) => String(v.labels[label]) === value))
      ?.value ?? NaN
  );
}

function setup(
  reconcile: (key: string, ctx: ReconcileContext) => Promise<ReconcileResult | void>,
  concurrency = 1,
) {
  const clock = new ManualClock();
  const registry = new Registry();
  const { lines, logger } = capture();
  const controller = new Controller({
    name: 'profiles',
    reconcile,
    concurrency,
    clock,
    registry,
    logger,
    rateLimiter: new ItemExponentialRateLimiter(1000, 60_000),
  });
  return { controller, clock, registry, lines };
}

describe('Controller', () => {
  it('starts its informers, waits for all of them to sync, then reconciles the keys their events mapped to', async () => {
    const seen: string[] = [];
    const { controller } = setup(async (key) => void seen.push(key));
    const profiles = new FakeInformer('profiles');
    const namespaces = new FakeInformer('namespaces');
    controller
      .watches(profiles)
      .watches(namespaces, (event) => (event.key === 'shop' ? ['profile-a', 'profile-b'] : []));
    const started = controller.start();
    expect(profiles.started).toBe(1);
    expect(namespaces.started).toBe(1);

    profiles.emitKey('added', 'profile-a');
    namespaces.emitKey('added', 'shop');
    namespaces.emitKey('added', 'unrelated');
    profiles.sync();
    await settle();
    expect(seen).toEqual([]);
    expect(controller.hasSynced()).toBe(false);

    namespaces.sync();
    await started;
    await controller.queue.whenIdle();
    expect(seen).toEqual(['profile-a', 'profile-b']);
    expect(controller.hasSynced()).toBe(true);
    expect(controller.initialReconcileDone()).toBe(true);
    expect(() => controller.watches(profiles)).toThrow(/before start/);
  });

  it('retries a reconcile that throws with growing backoff, counts it, and forgets the backoff on success', async () => {
    let failures = 2;
    const runs: number[] = [];
    const { controller, clock, registry } = setup(async () => {
      runs.push(clock.now());
      if (failures-- > 0) throw new Error('API unavailable');
    });
    const informer = new FakeInformer('src');
    controller.watches(informer);
    informer.sync();
    await controller.start();
    controller.enqueue('k');
    await settle();
    expect(runs).toHaveLength(1);
    await clock.advance(999);
    expect(runs).toHaveLength(1);
    await clock.advance(1);
    expect(runs).toHaveLength(2);
    await clock.advance(2000);
    expect(runs).toHaveLength(3);
    expect(
      await metric(registry, 'controller_runtime_reconcile_total', {
        controller: 'profiles',
        result: 'error',
      }),
    ).toBe(2);
    expect(
      await metric(registry, 'controller_runtime_reconcile_total', {
        controller: 'profiles',
        result: 'success',
      }),
    ).toBe(1);
    expect(
      await metric(registry, 'controller_runtime_reconcile_errors_total', { controller: 'profiles' }),
    ).toBe(2);
    expect(controller.queue.numRequeues('k')).toBe(0);
  });

  it('requeueAfterMs runs the key again after the delay; requeue runs it with backoff and counts neither as an error', async () => {
    const results: (ReconcileResult | undefined)[] = [
      { requeueAfterMs: 60_000 },
      { requeue: true },
      undefined,
    ];
    const runs: string[] = [];
    const { controller, clock, registry } = setup(async (key) => {
      runs.push(key);
      return results.shift();
    });
    const informer = new FakeInformer('src');
    controller.watches(informer);
    informer.sync();
    await controller.start();
    controller.enqueue('k');
    await settle();
    await clock.advance(59_999);
    expect(runs).toHaveLength(1);
    await clock.advance(1);
    expect(runs).toHaveLength(2);
    await clock.advance(1000);
    expect(runs).toHaveLength(3);
    for (const [result, count] of [
      ['requeue_after', 1],
      ['requeue', 1],
      ['success', 1],
      ['error', 0],
    ] as const) {
      expect(
        await metric(registry, 'controller_runtime_reconcile_total', { controller: 'profiles', result }),
      ).toBe(count);
    }
  });

  it('a flood of events on one key during a reconcile causes one more reconcile, not one per event', async () => {
    let release!: () => void;
    let runs = 0;
    const { controller } = setup(async () => {
      runs++;
      if (runs === 1) await new Promise<void>((resolve) => (release = resolve));
    }, 4);
    const informer = new FakeInformer('src');
    controller.watches(informer);
    informer.sync();
    await controller.start();
    informer.emitKey('modified', 'hot');
    await settle();
    for (let i = 0; i < 1000; i++) informer.emitKey('modified', 'hot');
    await settle();
    expect(runs).toBe(1);
    release();
    await controller.queue.whenIdle();
    expect(runs).toBe(2);
  });

  it('logs each outcome with controller, reconcileID and key (success at debug, errors at error); the context carries the same id', async () => {
    const ids: string[] = [];
    const { controller, lines } = setup(async (key, ctx) => {
      ids.push(ctx.reconcileId);
      ctx.log.debug('inside');
      if (key === 'bad')
        throw new ApiError(422, 'Invalid', 'spec.zones[0].addressPrefixes[1]: Invalid value');
      if (key === 'racy') throw new ApiError(409, 'Conflict', 'the object has been modified');
    });
    const informer = new FakeInformer('src');
    controller.watches(informer);
    informer.sync();
    await controller.start();
    for (const key of ['good', 'bad', 'racy']) controller.enqueue(key);
    await settle(10);
    const outcomes = lines.filter((l) => l.result !== undefined);
    expect(outcomes.map((l) => [l.key, l.result, l.level])).toEqual([
      ['good', 'success', 20], // every reconcile at debug; errors above it
      ['bad', 'error', 50],
      ['racy', 'error', 30],
    ]);
    for (const line of outcomes) expect(line).toMatchObject({ controller: 'profiles' });
    expect(outcomes.map((l) => l.reconcileID)).toEqual(ids);
    expect(new Set(ids).size).toBe(3);
    const inside = lines.filter((l) => l.msg === 'inside');
    expect(inside.map((l) => l.reconcileID)).toEqual(ids);
    expect((outcomes[1]?.err as { message?: string }).message).toMatch(/addressPrefixes/);
  });

  it('tracks active workers and the configured maximum', async () => {
    let release!: () => void;
    const { controller, registry } = setup(() => new Promise<void>((resolve) => (release = resolve)), 3);
    const informer = new FakeInformer('src');
    controller.watches(informer);
    informer.sync();
    await controller.start();
    expect(
      await metric(registry, 'controller_runtime_max_concurrent_reconciles', { controller: 'profiles' }),
    ).toBe(3);
    controller.enqueue('a');
    await settle();
    expect(await metric(registry, 'controller_runtime_active_workers', { controller: 'profiles' })).toBe(1);
    release();
    await settle();
    expect(await metric(registry, 'controller_runtime_active_workers', { controller: 'profiles' })).toBe(0);
  });

  it('is ready once synced, and as leader once every key known at sync time was reconciled once', async () => {
    let release!: () => void;
    const { controller } = setup((key) =>
      key === 'slow' ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve(),
    );
    const informer = new FakeInformer('src');
    controller.watches(informer);
    let leader = false;
    const ready = controllersReady([controller], () => leader);
    expect(ready()).toMatch(/caches not synced: profiles/);
    informer.emitKey('added', 'slow');
    informer.emitKey('added', 'fast');
    informer.sync();
    await controller.start();
    expect(ready()).toBe(true);
    leader = true;
    expect(ready()).toMatch(/initial reconcile not done: profiles/);
    release();
    await controller.queue.whenIdle();
    expect(ready()).toBe(true);
  });

  it('stop drains the reconcile in flight and unsubscribes from the informers', async () => {
    let release!: () => void;
    const { controller } = setup(() => new Promise<void>((resolve) => (release = resolve)));
    const informer = new FakeInformer('src');
    controller.watches(informer);
    informer.sync();
    await controller.start();
    controller.enqueue('a');
    await settle();
    const stopping = controller.stop({ drainTimeoutMs: 10_000 });
    expect(informer.handlers.size).toBe(0);
    release();
    await expect(stopping).resolves.toEqual({ drained: true, abandoned: [] });
  });

  it('drops an event whose mapper throws, and keeps going', async () => {
    const seen: string[] = [];
    const { controller } = setup(async (key) => void seen.push(key));
    const informer = new FakeInformer('src');
    controller.watches(informer, (event) => {
      if (event.key === 'poison') throw new Error('bad mapper');
      return [event.key];
    });
    informer.sync();
    await controller.start();
    informer.emitKey('added', 'poison');
    informer.emitKey('added', 'fine');
    await controller.queue.whenIdle();
    expect(seen).toEqual(['fine']);
  });
});
