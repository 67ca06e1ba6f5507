import { Registry } from '../observability/metrics.js';
import { ManualClock, settle } from '../../test/support/manual-clock.js';
import { ApiError } from './errors.js';
import { KubeEventRecorder, type EventStore, type KubeEvent } from './events.js';

class FakeEvents implements EventStore {
  created: KubeEvent[] = [];
  patches: { name: string; namespace: string | undefined; patch: unknown }[] = [];
  failCreates: Error | undefined;
  missing = new Set<string>();

  async create(event: KubeEvent): Promise<KubeEvent> {
    await Promise.resolve();
    if (this.failCreates) throw this.failCreates;
    this.created.push(structuredClone(event));
    return event;
  }

  async patch(name: string, patch: unknown, options: { namespace?: string }): Promise<KubeEvent> {
    await Promise.resolve();
    if (this.missing.has(name)) throw new ApiError(404, 'NotFound', `events "${name}" not found`);
    this.patches.push({ name, namespace: options.namespace, patch });
    return this.created.find((e) => e.metadata.name === name)!;
  }
}

const profile = {
  apiVersion: 'calico-vpc.io/v1alpha1',
  kind: 'VpcEgressProfile',
  metadata: { name: 'us-south', uid: 'uid-1', resourceVersion: '7' },
};
const policy = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'allow-web', namespace: 'shop', uid: 'uid-2' },
};

function setup() {
  const store = new FakeEvents();
  const clock = new ManualClock(Date.UTC(2025, 2, 3, 4, 5, 6, 7));
  const recorder = new KubeEventRecorder({
    events: store,
    reportingController: 'calico-vpc.io/operator',
    reportingInstance: 'operator-0',
    clock,
    registry: new Registry(),
  });
  return { store, clock, recorder };
}

const failed = {
  type: 'Warning',
  reason: 'TranslationFailed',
  action: 'Reconcile',
  note: 'bad cidr',
} as const;

describe('KubeEventRecorder', () => {
  it('writes an events.k8s.io/v1 Event with every required field; cluster-scoped objects go to default', async () => {
    const { store, recorder } = setup();
    recorder.event(profile, failed);
    recorder.event(policy, { type: 'Normal', reason: 'Synced', action: 'Reconcile', note: 'ok' });
    await recorder.flush();
    expect(store.created).toHaveLength(2);
    const [first, second] = store.created;
    expect(first).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { namespace: 'default' },
      eventTime: '2025-03-03T04:05:06.007000Z',
      reportingController: 'calico-vpc.io/operator',
      reportingInstance: 'operator-0',
      action: 'Reconcile',
      reason: 'TranslationFailed',
      type: 'Warning',
      note: 'bad cidr',
      regarding: {
        apiVersion: 'calico-vpc.io/v1alpha1',
        kind: 'VpcEgressProfile',
        name: 'us-south',
        uid: 'uid-1',
        resourceVersion: '7',
      },
    });
    expect(first?.metadata.name).toMatch(/^us-south\.[0-9a-f]+$/);
    expect(second?.metadata.namespace).toBe('shop');
    expect(first?.series).toBeUndefined();
  });

  it('aggregates repeats into one Event with a series count, written at most once per flush period', async () => {
    const { store, clock, recorder } = setup();
    recorder.event(profile, failed);
    await settle();
    for (let i = 0; i < 5; i++) {
      await clock.advance(1000);
      recorder.event(profile, failed);
    }
    await settle();
    expect(store.created).toHaveLength(1);
    expect(store.patches).toHaveLength(0);
    await clock.advance(30_000);
    await settle();
    expect(store.patches).toEqual([
      {
        name: store.created[0]!.metadata.name,
        namespace: 'default',
        patch: { series: { count: 6, lastObservedTime: '2025-03-03T04:05:11.007000Z' } },
      },
    ]);
  });

  it('starts a new Event when the repeat comes after the series window', async () => {
    const { store, clock, recorder } = setup();
    recorder.event(profile, failed);
    await clock.advance(7 * 60_000);
    recorder.event(profile, failed);
    await recorder.flush();
    expect(store.created).toHaveLength(2);
  });

  it('treats a different note, reason or object as a different event', async () => {
    const { store, recorder } = setup();
    recorder.event(profile, failed);
    recorder.event(profile, { ...failed, note: 'another cidr' });
    recorder.event(profile, { ...failed, reason: 'Other' });
    recorder.event(policy, failed);
    await recorder.flush();
    expect(store.created).toHaveLength(4);
  });

  it('rate-limits new events per object: a burst of 25, then one more every 5 minutes', async () => {
    const { store, clock, recorder } = setup();
    for (let i = 0; i < 30; i++) recorder.event(profile, { ...failed, note: `problem ${i}` });
    recorder.event(policy, failed);
    await recorder.flush();
    expect(store.created.filter((e) => e.regarding.name === 'us-south')).toHaveLength(25);
    expect(store.created.filter((e) => e.regarding.name === 'allow-web')).toHaveLength(1);
    await clock.advance(5 * 60_000);
    recorder.event(profile, { ...failed, note: 'later' });
    recorder.event(profile, { ...failed, note: 'later still' });
    await recorder.flush();
    expect(store.created.filter((e) => e.regarding.name === 'us-south')).toHaveLength(26);
  });

  it('never throws into the caller: a failed write is logged, a nameless object ignored', async () => {
    const { store, recorder } = setup();
    store.failCreates = new ApiError(403, 'Forbidden', 'events is forbidden');
    expect(() => recorder.event(profile, failed)).not.toThrow();
    expect(() => recorder.event({ metadata: {} }, failed)).not.toThrow();
    await expect(recorder.flush()).resolves.toBeUndefined();
    expect(store.created).toHaveLength(0);
  });

  it('recreates an Event that expired before its series update, carrying the count', async () => {
    const { store, clock, recorder } = setup();
    recorder.event(profile, failed);
    await settle();
    store.missing.add(store.created[0]!.metadata.name);
    recorder.event(profile, failed);
    await clock.advance(30_000);
    await recorder.flush();
    expect(store.created).toHaveLength(2);
    expect(store.created[1]?.series).toEqual({ count: 2, lastObservedTime: '2025-03-03T04:05:06.007000Z' });
    expect(store.created[1]?.metadata.name).not.toBe(store.created[0]?.metadata.name);
  });

  it('truncates a note longer than the API allows', async () => {
    const { store, recorder } = setup();
    recorder.event(profile, { ...failed, note: 'é'.repeat(2000) });
    await recorder.flush();
    expect(Buffer.byteLength(store.created[0]!.note!)).toBeLessThanOrEqual(1024);
    expect(store.created[0]!.note!.endsWith('...')).toBe(true);
  });
});
