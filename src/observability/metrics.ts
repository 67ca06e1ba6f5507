/**
 * One prom-client Registry for the whole process, served on /metrics. Components take a Registry option so tests
 * get a fresh one; in production they all default to `sharedRegistry()`.
 *
 * Several instances of a component (two work queues, five informers) share one metric and differ by label, so
 * metrics are created with `counter`/`gauge`/`histogram` below, which return the already-registered metric of that
 * name instead of throwing on the second registration.
 */
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
} from 'prom-client';

export { Registry };

let shared: Registry | undefined;

/** The process-wide registry, with Node's default process metrics (CPU, memory, event-loop lag, GC). */
export function sharedRegistry(): Registry {
  if (!shared) {
    shared = new Registry();
    collectDefaultMetrics({ register: shared });
  }
  return shared;
}

function existing<M>(registry: Registry, name: string, kind: new (...args: never[]) => M): M | undefined {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return undefined;
  if (!(metric instanceof kind)) {
    throw new Error(`metric ${name} is already registered with a different type`);
  }
  return metric;
}

export function counter<L extends string>(
  registry: Registry,
  config: Omit<CounterConfiguration<L>, 'registers'>,
): Counter<L> {
  return (
    (existing(registry, config.name, Counter) as Counter<L> | undefined) ??
    new Counter<L>({ ...config, registers: [registry] })
  );
}

export function gauge<L extends string>(
  registry: Registry,
  config: Omit<GaugeConfiguration<L>, 'registers'>,
): Gauge<L> {
  return (
    (existing(registry, config.name, Gauge) as Gauge<L> | undefined) ??
    new Gauge<L>({ ...config, registers: [registry] })
  );
}

export function histogram<L extends string>(
  registry: Registry,
  config: Omit<HistogramConfiguration<L>, 'registers'>,
): Histogram<L> {
  return (
    (existing(registry, config.name, Histogram) as Histogram<L> | undefined) ??
    new Histogram<L>({ ...config, registers: [registry] })
  );
}

/** prometheus.ExponentialBuckets(start, factor, count): the bucket layout client-go's metrics use. */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}

/**
 * Per-registry memo for a component's metric set: the first instance creates the metrics, later ones reuse them,
 * a fresh registry (tests) gets fresh metrics.
 */
export function perRegistry<T>(create: (registry: Registry) => T): (registry: Registry) => T {
  const memo = new WeakMap<Registry, T>();
  return (registry) => {
    let value = memo.get(registry);
    if (value === undefined) {
      value = create(registry);
      memo.set(registry, value);
    }
    return value;
  };
}
