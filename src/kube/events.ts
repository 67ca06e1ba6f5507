/**
 * Kubernetes Events (events.k8s.io/v1) about the objects we reconcile, for `kubectl describe` and
 * `kubectl get events`.
 *
 * Like client-go's recorders: a repeat of the same event (same object, type, reason, action and note) within
 * six minutes does not create a new Event but bumps the existing one's `series.count`, written at most every
 * `seriesFlushMs`; a per-object token bucket (burst 25, one more every 5 minutes) keeps a hot loop from flooding
 * etcd. Recording never throws and never blocks the caller: writes happen in the background and failures are
 * logged.
 */
import type { KubeObject, ObjectMeta } from '../api/kube.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { counter, perRegistry, sharedRegistry, type Registry } from '../observability/metrics.js';
import type { ResourceClient } from './resource.js';
import { systemClock, toMicroTime, type Clock, type TimerHandle } from '../util/clock.js';
import { isNotFound } from './errors.js';

export interface ObjectReference {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  resourceVersion?: string;
}

export type EventType = 'Normal' | 'Warning';

export interface EventSeries {
  count: number;
  lastObservedTime: string;
}

/** The wire format of events.k8s.io/v1 Event. */
export interface KubeEvent extends KubeObject {
  metadata: ObjectMeta & { name: string; namespace: string };
  eventTime: string;
  series?: EventSeries;
  reportingController: string;
  reportingInstance: string;
  action: string;
  reason: string;
  regarding: ObjectReference;
  related?: ObjectReference;
  note?: string;
  type: EventType;
}

export type EventStore = Pick<ResourceClient<KubeEvent>, 'create' | 'patch'>;

export interface EventInput {
  type: EventType;
  /** CamelCase, machine-readable: why (e.g. TranslationFailed). */
  reason: string;
  /** CamelCase, machine-readable: what we did or failed to do (e.g. Reconcile, Create). */
  action: string;
  /** Human-readable detail; truncated to 1 kB. */
  note: string;
  related?: KubeObject;
}

export interface EventRecorder {
  event(regarding: KubeObject, event: EventInput): void;
}

/** For tests and for running without a cluster: records nothing. */
export const noopEventRecorder: EventRecorder = { event: () => {} };

export interface EventRecorderOptions {
  events: EventStore;
  /** e.g. calico-vpc.io/operator (a qualified name). */
  reportingController: string;
  /** e.g. the pod name. */
  reportingInstance: string;
  /** Repeats within this window join a series (default 6 min, client-go's). */
  seriesWindowMs?: number;
  /** Series counts are written at most this often per event (default 30 s). */
  seriesFlushMs?: number;
  /** Per-object new-event budget (default 25) ... */
  burst?: number;
  /** ... refilled by one every this long (default 5 min). */
  refillEveryMs?: number;
  /** Distinct events remembered for aggregation (default 4096). */
  maxTracked?: number;
  clock?: Clock;
  logger?: Logger;
  registry?: Registry;
}

const eventMetrics = perRegistry((registry) => ({
  recorded: counter(registry, {
    name: 'calico_vpc_events_total',
    help: 'Kubernetes Events by outcome: created, aggregated (series), dropped (rate limit), failed.',
    labelNames: ['outcome'] as const,
  }),
}));

interface Tracked {
  name: string;
  namespace: string;
  count: number;
  lastObserved: number;
  /** The create; series writes chain after it. */
  write: Promise<boolean>;
  flushTimer: TimerHandle | undefined;
  body: KubeEvent;
}

interface Bucket {
  tokens: number;
  last: number;
}

const NOTE_LIMIT = 1024;
const NAME_LIMIT = 253;

export class KubeEventRecorder implements EventRecorder {
  private readonly store: EventStore;
  private readonly reportingController: string;
  private readonly reportingInstance: string;
  private readonly seriesWindowMs: number;
  private readonly seriesFlushMs: number;
  private readonly burst: number;
  private readonly refillEveryMs: number;
  private readonly maxTracked: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly metrics: ReturnType<typeof eventMetrics>;
  private readonly tracked = new Map<string, Tracked>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private sequence = 0;

  constructor(options: EventRecorderOptions) {
    this.store = options.events;
    this.reportingController = options.reportingController;
    this.reportingInstance = options.reportingInstance.slice(0, 128);
    this.seriesWindowMs = options.seriesWindowMs ?? 6 * 60_000;
    this.seriesFlushMs = options.seriesFlushMs ?? 30_000;
    this.burst = options.burst ?? 25;
    this.refillEveryMs = options.refillEveryMs ?? 5 * 60_000;
    this.maxTracked = options.maxTracked ?? 4096;
    this.clock = options.clock ?? systemClock;
    this.log = (options.logger ?? silentLogger).child({ component: 'events' });
    this.metrics = eventMetrics(options.registry ?? sharedRegistry());
  }

  event(regarding: KubeObject, input: EventInput): void {
    try {
      this.record(regarding, input);
    } catch (err) {
      this.log.warn({ err, reason: input.reason }, 'could not record event');
    }
  }

  /** Writes pending series counts now and waits for every write in flight (shutdown, tests). Never rejects. */
  async flush(): Promise<void> {
    for (const entry of this.tracked.values()) {
      if (entry.flushTimer !== undefined) {
        this.clock.clearTimeout(entry.flushTimer);
        entry.flushTimer = undefined;
        this.writeSeries(entry);
      }
    }
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private record(regarding: KubeObject, input: EventInput): void {
    const ref = objectReference(regarding);
    if (!ref.name) throw new Error('the regarding object has no metadata.name');
    const note = truncateBytes(input.note, NOTE_LIMIT);
    const key = [
      ref.uid,
      ref.apiVersion,
      ref.kind,
      ref.namespace,
      ref.name,
      input.type,
      input.reason,
      input.action,
      note,
    ]
      .map((part) => part ?? '')
      .join('\u0000');
    const now = this.clock.now();
    const existing = this.tracked.get(key);
    if (existing && now - existing.lastObserved < this.seriesWindowMs) {
      existing.count += 1;
      existing.lastObserved = now;
      // Refresh LRU position.
      this.tracked.delete(key);
      this.tracked.set(key, existing);
      this.metrics.recorded.inc({ outcome: 'aggregated' });
      if (existing.flushTimer === undefined) {
        existing.flushTimer = this.clock.setTimeout(() => {
          existing.flushTimer = undefined;
          this.writeSeries(existing);
        }, this.seriesFlushMs);
      }
      return;
    }
    if (existing?.flushTimer !== undefined) {
      this.clock.clearTimeout(existing.flushTimer);
      this.writeSeries(existing);
    }
    if (!this.allow(ref, now)) {
      this.metrics.recorded.inc({ outcome: 'dropped' });
      this.log.debug({ regarding: ref, reason: input.reason }, 'event dropped by the per-object rate limit');
      return;
    }
    const namespace = ref.namespace || 'default';
    const name = this.eventName(ref.name, now);
    const body: KubeEvent = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace },
      eventTime: toMicroTime(now),
      reportingController: this.reportingController,
      reportingInstance: this.reportingInstance,
      action: input.action.slice(0, 128),
      reason: input.reason.slice(0, 128),
      regarding: ref,
      ...(input.related ? { related: objectReference(input.related) } : {}),
      note,
      type: input.type,
    };
    const entry: Tracked = {
      name,
      namespace,
      count: 1,
      lastObserved: now,
      flushTimer: undefined,
      body,
      write: Promise.resolve(false),
    };
    entry.write = this.track(this.create(entry, body));
    this.tracked.delete(key);
    this.tracked.set(key, entry);
    while (this.tracked.size > this.maxTracked) {
      const oldest = this.tracked.keys().next().value as string;
      const evicted = this.tracked.get(oldest);
      if (evicted?.flushTimer !== undefined) this.clock.clearTimeout(evicted.flushTimer);
      this.tracked.delete(oldest);
    }
  }

  private async create(entry: Tracked, body: KubeEvent): Promise<boolean> {
    try {
      await this.store.create(body, { namespace: entry.namespace });
      this.metrics.recorded.inc({ outcome: 'created' });
      return true;
    } catch (err) {
      this.metrics.recorded.inc({ outcome: 'failed' });
      this.log.warn(
        { err, event: `${entry.namespace}/${entry.name}`, reason: body.reason },
        'could not write event',
      );
      return false;
    }
  }

  private writeSeries(entry: Tracked): void {
    const series: EventSeries = { count: entry.count, lastObservedTime: toMicroTime(entry.lastObserved) };
    entry.write = this.track(
      entry.write.then(async (exists) => {
        if (exists) {
          try {
            await this.store.patch(entry.name, { series }, { type: 'merge', namespace: entry.namespace });
            return true;
          } catch (err) {
            if (!isNotFound(err)) {
              this.metrics.recorded.inc({ outcome: 'failed' });
              this.log.warn(
                { err, event: `${entry.namespace}/${entry.name}` },
                'could not update event series',
              );
              return true;
            }
          }
        }
        // The Event expired (1 h TTL) or its create failed: write it again, carrying the series.
        const now = this.clock.now();
        entry.name = this.eventName(entry.body.regarding.name ?? 'event', now);
        entry.body = {
          ...entry.body,
          metadata: { name: entry.name, namespace: entry.namespace },
          eventTime: toMicroTime(now),
          series,
        };
        return this.create(entry, entry.body);
      }),
    );
  }

  /** client-go's `<name>.<hex timestamp>`, unique per process and within the name length limit. */
  private eventName(regardingName: string, now: number): string {
    const suffix = `.${(now * 1000 + (this.sequence++ % 1000)).toString(16)}`;
    return regardingName.slice(0, NAME_LIMIT - suffix.length) + suffix;
  }

  /** Per-object token bucket (client-go's spam filter). */
  private allow(ref: ObjectReference, now: number): boolean {
    const key = ref.uid || `${ref.apiVersion}/${ref.kind}/${ref.namespace}/${ref.name}`;
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, last: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.last) / this.refillEveryMs);
    bucket.last = now;
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    while (this.buckets.size > this.maxTracked)
      this.buckets.delete(this.buckets.keys().next().value as string);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  private track<R>(promise: Promise<R>): Promise<R> {
    this.inFlight.add(promise);
    void promise.finally(() => this.inFlight.delete(promise));
    return promise;
  }
}

export function objectReference(object: KubeObject): ObjectReference {
  const meta = object.metadata ?? {};
  return {
    ...(object.apiVersion ? { apiVersion: object.apiVersion } : {}),
    ...(object.kind ? { kind: object.kind } : {}),
    ...(meta.namespace ? { namespace: meta.namespace } : {}),
    ...(meta.name ? { name: meta.name } : {}),
    ...(meta.uid ? { uid: meta.uid } : {}),
    ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}),
  };
}

function truncateBytes(text: string, limit: number): string {
  if (Buffer.byteLength(text) <= limit) return text;
  let cut = text.slice(0, limit);
  while (Buffer.byteLength(cut) > limit - 3) cut = cut.slice(0, -1);
  return `${cut}...`;
}
