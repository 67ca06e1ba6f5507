/**
 * The cluster benchmarks. Each gets a fresh control plane (so no run inherits another's etcd history or caches),
 * sets the stage with the generated objects, then measures:
 * - floor: a plain client writing the N expected GNPs, at several concurrencies; the best is the floor. It is timed
 *   as the converge is: until a watch has seen every GNP (and, for the record, a run without the watch).
 * - converge: the controller starts with the N NetworkPolicies present and no GNP; seconds until a watch has seen
 *   every GNP exactly as the translator says (and no other).
 * - resync: the controller restarts on that converged cluster: writes it makes (its counter, and the watch: no
 *   GNP may change) and seconds until /readyz.
 * - latency: one NetworkPolicy changed at a time; ms from the API's answer to the write until the watch sees the
 *   updated GNP.
 * - memory: peak RSS of the controller converging, then holding, the largest cluster.
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { NetworkPolicy } from '../src/api/kube.js';
import type { GlobalNetworkPolicy } from '../src/calico/types.js';
import {
  FIELD_MANAGER_QUERY,
  GNP_PATH,
  GnpTracker,
  deleteManagedGnps,
  expectedGnp,
  expectedGnps,
  networkPolicyPath,
  populate,
  startCluster,
  type BenchCluster,
  type Log,
} from './cluster.js';
import { ControllerProcess } from './controller.js';
import {
  generateNamespaces,
  generateNetworkPolicies,
  revisedNetworkPolicy,
  revisionPatch,
} from './generate.js';
import { mapConcurrent, median, percentile, round } from './stats.js';

export interface BenchContext {
  log: Log;
  seed: number;
  logDir: string;
  /** When set, every controller runs under `node --cpu-prof` and writes its profile here. */
  cpuProfileDir?: string;
  /** Extra `calico-vpc run` arguments. */
  controllerArgs: string[];
  /** Extra node options for the controller. */
  controllerNodeArgs: string[];
  /** Profiles written so far. */
  profiles: string[];
  /** API server version, filled in by the first control plane. */
  apiServerVersion?: string;
  /**
   * Stops for what is running now (control planes, controllers), so an interrupted benchmark (Ctrl-C) leaves
   * no detached etcd or kube-apiserver behind.
   */
  running: Set<() => Promise<void>>;
}

const seconds = (fromMs: number, toMs: number) => (toMs - fromMs) / 1000;
function medianOrNull(values: readonly (number | undefined)[]): number | null {
  const present = values.filter((v): v is number => v !== undefined);
  return present.length ? median(present) : null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Bound on one convergence: generous (a slow shared machine), but a hang still ends. */
function convergeTimeoutMs(n: number): number {
  return 120_000 + 100 * n;
}

async function withCluster<T>(
  ctx: BenchContext,
  stage: { namespaces: number; policies: number },
  body: (cluster: BenchCluster, policies: NetworkPolicy[]) => Promise<T>,
): Promise<T> {
  const cluster = await startCluster(ctx.log);
  ctx.apiServerVersion ??= cluster.version;
  const stop = () => cluster.stop();
  ctx.running.add(stop);
  try {
    const policies = generateNetworkPolicies({
      count: stage.policies,
      namespaces: stage.namespaces,
      seed: ctx.seed,
    });
    await populate(cluster.api, generateNamespaces(stage.namespaces), policies, ctx.log);
    return await body(cluster, policies);
  } finally {
    ctx.running.delete(stop);
    await cluster.stop();
  }
}

async function startController(
  ctx: BenchContext,
  cluster: BenchCluster,
  label: string,
): Promise<ControllerProcess> {
  const controller = await ControllerProcess.start({
    kubeconfig: cluster.kubeconfig,
    logDir: ctx.logDir,
    label,
    cpuProfileDir: ctx.cpuProfileDir,
    extraArgs: ctx.controllerArgs,
    nodeArgs: ctx.controllerNodeArgs,
  });
  ctx.running.add(controller.stop);
  return controller;
}

async function stopController(ctx: BenchContext, controller: ControllerProcess): Promise<void> {
  ctx.running.delete(controller.stop);
  await controller.stop();
  if (controller.profileFile && existsSync(controller.profileFile)) ctx.profiles.push(controller.profileFile);
}

// ---------------------------------------------------------------------------------------------------------------
// Floor

export interface FloorResult {
  floor_seconds: number;
  concurrency: number;
  /** The concurrency sweep: `objects` GNPs at each concurrency (the first FLOOR_SWEEP_SIZE of them), until the last response. */
  sweep: { concurrency: number; objects: number; seconds: number }[];
  /**
   * The timed runs of all N GNPs at the best concurrency, each just before a converge run, until the watch that times
   * the converge (GnpTracker) has seen every GNP correct; the floor is their median.
   */
  runs: number[];
  /**
   * A run without the watch before each watched one, timed until the client's last response: the floor as measured
   * before 2026-12-06 (the ratio then compared a watched converge with an unwatched floor).
   */
  unwatched_runs: number[];
}

/** How many GNPs the concurrency sweep writes: enough to reach a steady state, few enough to be cheap. */
const FLOOR_SWEEP_SIZE = 500;

/**
 * Deletes every GNP, then writes `bodies` at `concurrency`; seconds until the last response, or with `expected`
 * until a watch has seen every GNP correct. Watched, the run is timed as a converge is (convergeTrial): a GnpTracker
 * starts first and the clock stops when it has seen them all. The watcher costs the API server CPU (it encodes every
 * event for one more client) and the benchmark process the comparison: timing only the converge through it would
 * charge that cost to the controller alone.
 */
async function floorTrial(
  cluster: BenchCluster,
  bodies: readonly string[],
  concurrency: number,
  expected?: Map<string, GlobalNetworkPolicy>,
): Promise<number> {
  await deleteManagedGnps(cluster.api);
  const tracker = expected ? new GnpTracker(cluster.api, new Map(expected)) : undefined;
  await tracker?.start();
  try {
    const started = performance.now();
    await mapConcurrent(bodies, concurrency, (body) =>
      cluster.api.request('POST', `${GNP_PATH}?${FIELD_MANAGER_QUERY}`, body),
    );
    const done = tracker
      ? await tracker.waitAllCorrect(convergeTimeoutMs(bodies.length), () => undefined)
      : performance.now();
    return seconds(started, done);
  } finally {
    await tracker?.stop();
  }
}

/**
 * The floor's concurrency: tried on the first FLOOR_SWEEP_SIZE GNPs, the fastest wins. The timed floor runs of all
 * N GNPs at it are interleaved with the converge runs (benchSize), so a noisy neighbour hits both alike.
 */
export async function floorSweep(
  ctx: BenchContext,
  cluster: BenchCluster,
  bodies: readonly string[],
  concurrencies: readonly number[],
): Promise<{ concurrency: number; sweep: FloorResult['sweep'] }> {
  const sweepBodies = bodies.slice(0, FLOOR_SWEEP_SIZE);
  // A first burst warms the server (connections, caches, admission) so the sweep's first trial is not penalised.
  await floorTrial(cluster, bodies.slice(0, 200), Math.max(...concurrencies));
  const sweep: FloorResult['sweep'] = [];
  for (const concurrency of concurrencies) {
    const took = await floorTrial(cluster, sweepBodies, concurrency);
    sweep.push({ concurrency, objects: sweepBodies.length, seconds: took });
    ctx.log(`  floor sweep: ${sweepBodies.length} GNPs at concurrency ${concurrency}: ${took.toFixed(2)} s`);
  }
  const best = sweep.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  await deleteManagedGnps(cluster.api);
  return { concurrency: best.concurrency, sweep };
}

/** Serialized before the clock starts: the floor measures the server, not JSON.stringify. */
function floorBodies(expected: Map<string, GlobalNetworkPolicy>): string[] {
  return [...expected.values()].map((gnp) => JSON.stringify(gnp));
}

// ---------------------------------------------------------------------------------------------------------------
// Converge

export interface ConvergeTrial {
  seconds: number;
  /** Until the first GNP was seen: process start, informer sync, the first write. */
  first_gnp_seconds: number | undefined;
  /** Until /readyz answered 200 (caches synced and the first full reconcile done). */
  ready_seconds: number;
  /** Writes counted by the operator's calico_vpc_api_writes_total once converged. */
  writes: number;
  /** Its REST client's non-GET requests, a cross-check of `writes`. */
  rest_writes: number | undefined;
  /** NetworkPolicy reconciles until converged (N is the minimum). */
  reconciles: number | undefined;
  peak_rss_mb: number | undefined;
  /** V8 heap in use when converged (nodejs_heap_size_used_bytes). */
  heap_used_mb: number | undefined;
  /** User + system CPU of the controller process from its start until converged. */
  cpu_seconds: number | undefined;
  /** cpu_seconds per converged NetworkPolicy, in ms. */
  cpu_ms_per_policy: number | undefined;
  /** The 1-minute load average when the trial ended (the machine is shared). */
  load_average: number;
}

/** Deletes every GNP, starts the controller, and measures until every expected GNP is observed correct. */
export async function convergeTrial(
  ctx: BenchContext,
  cluster: BenchCluster,
  expected: Map<string, GlobalNetworkPolicy>,
  label: string,
): Promise<ConvergeTrial> {
  await deleteManagedGnps(cluster.api);
  const tracker = new GnpTracker(cluster.api, new Map(expected));
  await tracker.start();
  const timeout = convergeTimeoutMs(expected.size);
  const controller = await startController(ctx, cluster, label);
  try {
    // Readiness is the secondary figure here: a coarse poll disturbs the converging controller less.
    const ready = controller.waitReady(timeout, 250);
    ready.catch(() => undefined);
    const convergedAt = await tracker.waitAllCorrect(timeout, () => controller.exitReason());
    const cpuSeconds = controller.cpuSeconds();
    const readyAt = await ready;
    return {
      seconds: seconds(controller.startedAt, convergedAt),
      first_gnp_seconds:
        tracker.firstChangeAt === undefined
          ? undefined
          : seconds(controller.startedAt, tracker.firstChangeAt),
      ready_seconds: seconds(controller.startedAt, readyAt),
      ...(await controller.counters()),
      peak_rss_mb: controller.peakRssMb(),
      cpu_seconds: cpuSeconds,
      cpu_ms_per_policy: cpuSeconds === undefined ? undefined : (cpuSeconds * 1000) / expected.size,
      load_average: loadavg()[0] as number,
    };
  } finally {
    await stopController(ctx, controller);
    await tracker.stop();
  }
}

export interface ConvergeResult {
  n: number;
  namespaces: number;
  seconds: number | null;
  /** Median of the floor runs, each timed by the same watch as a converge (FloorResult.runs). */
  floor_seconds: number | null;
  ratio: number | null;
  /** Median of the unwatched floor runs (FloorResult.unwatched_runs). */
  floor_unwatched_seconds: number | null;
  /** converge / floor_unwatched_seconds: the ratio as published before the floor was watched. */
  ratio_to_unwatched: number | null;
  seconds_per_1000: number | null;
  floor_concurrency: number | null;
  first_gnp_seconds: number | null;
  ready_seconds: number | null;
  writes: number | null;
  peak_rss_mb: number | null;
  /** Median of the runs' controller CPU (user + system) per converged NetworkPolicy, ms. */
  cpu_ms_per_policy: number | null;
  /** converge / floor of each interleaved pair (floor run i, then converge run i). */
  pair_ratios: number[];
  /** 1-minute load average at the end of each trial, floor and converge alike. */
  load_averages: number[];
  runs: ConvergeTrial[];
  floor: Omit<FloorResult, 'floor_seconds' | 'concurrency'> | null;
}

/**
 * One size: the floor's concurrency sweep, then `runs` pairs of a floor run of all N GNPs and a converge run
 * (A/B/A/B), so load from neighbours on the shared machine falls on both figures alike.
 */
export async function benchSize(
  ctx: BenchContext,
  n: number,
  options: { runs: number; floorConcurrencies: readonly number[]; floor: boolean; converge: boolean },
): Promise<ConvergeResult> {
  const namespaces = Math.max(1, Math.round(n / 10));
  ctx.log(`== n=${n} (${namespaces} namespaces)`);
  return withCluster(ctx, { namespaces, policies: n }, async (cluster, policies) => {
    const expected = expectedGnps(policies);
    const bodies = floorBodies(expected);
    const sweep = options.floor
      ? await floorSweep(ctx, cluster, bodies, options.floorConcurrencies)
      : undefined;
    const floorRuns: number[] = [];
    const floorUnwatchedRuns: number[] = [];
    const runs: ConvergeTrial[] = [];
    const loadAverages: number[] = [];
    const pairRatios: number[] = [];
    for (let run = 0; run < options.runs; run++) {
      let floorSeconds: number | undefined;
      if (sweep) {
        const unwatched = await floorTrial(cluster, bodies, sweep.concurrency);
        floorUnwatchedRuns.push(unwatched);
        floorSeconds = await floorTrial(cluster, bodies, sweep.concurrency, expected);
        floorRuns.push(floorSeconds);
        loadAverages.push(round(loadavg()[0] as number));
        ctx.log(
          `  floor n=${n} at concurrency ${sweep.concurrency}: ${floorSeconds.toFixed(2)} s watched ` +
            `(${unwatched.toFixed(2)} s unwatched, until the last response)`,
        );
      }
      if (!options.converge) continue;
      const trial = await convergeTrial(ctx, cluster, expected, `converge-n${n}-r${run}`);
      runs.push(trial);
      loadAverages.push(round(trial.load_average));
      if (floorSeconds !== undefined) pairRatios.push(trial.seconds / floorSeconds);
      ctx.log(
        `  converge n=${n} run ${run + 1}/${options.runs}: ${trial.seconds.toFixed(2)} s ` +
          `(first GNP ${trial.first_gnp_seconds?.toFixed(2)} s, ready ${trial.ready_seconds.toFixed(2)} s, ${trial.writes} writes, ${trial.reconciles} reconciles, ` +
          `peak RSS ${trial.peak_rss_mb?.toFixed(0)} MB, CPU ${trial.cpu_ms_per_policy?.toFixed(2)} ms/policy, load ${trial.load_average.toFixed(2)})`,
      );
    }
    const convergeSeconds = runs.length ? median(runs.map((r) => r.seconds)) : null;
    const floorSeconds = floorRuns.length ? median(floorRuns) : null;
    const floorUnwatchedSeconds = floorUnwatchedRuns.length ? median(floorUnwatchedRuns) : null;
    return {
      n,
      namespaces,
      seconds: convergeSeconds,
      floor_seconds: floorSeconds,
      ratio: convergeSeconds !== null && floorSeconds !== null ? convergeSeconds / floorSeconds : null,
      floor_unwatched_seconds: floorUnwatchedSeconds,
      ratio_to_unwatched:
        convergeSeconds !== null && floorUnwatchedSeconds !== null
          ? convergeSeconds / floorUnwatchedSeconds
          : null,
      seconds_per_1000: convergeSeconds !== null ? (convergeSeconds / n) * 1000 : null,
      floor_concurrency: sweep?.concurrency ?? null,
      first_gnp_seconds: medianOrNull(runs.map((r) => r.first_gnp_seconds)),
      ready_seconds: runs.length ? median(runs.map((r) => r.ready_seconds)) : null,
      writes: runs.length ? median(runs.map((r) => r.writes)) : null,
      peak_rss_mb: medianOrNull(runs.map((r) => r.peak_rss_mb)),
      cpu_ms_per_policy: medianOrNull(runs.map((r) => r.cpu_ms_per_policy)),
      pair_ratios: pairRatios,
      load_averages: loadAverages,
      runs,
      floor: sweep ? { sweep: sweep.sweep, runs: floorRuns, unwatched_runs: floorUnwatchedRuns } : null,
    };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Resync and latency (one converged cluster serves both)

export interface ResyncTrial {
  seconds: number;
  writes: number;
  rest_writes: number | undefined;
  reconciles: number | undefined;
  /** GNP events the watch saw from the restart until ready plus the settle time: must be 0. */
  gnp_changes: number;
}

export interface ResyncResult {
  n: number;
  writes: number;
  gnp_changes: number;
  seconds: number;
  runs: ResyncTrial[];
}

export interface LatencyResult {
  n: number;
  changes: number;
  p50_ms: number;
  p99_ms: number;
  runs: { p50_ms: number; p99_ms: number; max_ms: number }[];
}

/** After /readyz, how long a restarted controller is watched for late writes before they are counted. */
const RESYNC_SETTLE_MS = 2_000;
const LATENCY_TIMEOUT_MS = 15_000;

export async function benchResyncAndLatency(
  ctx: BenchContext,
  options: { n: number; runs: number; resync: boolean; latency: boolean; latencyChanges: number },
): Promise<{ resync?: ResyncResult; latency?: LatencyResult }> {
  const namespaces = Math.max(1, Math.round(options.n / 10));
  ctx.log(`== resync/latency on n=${options.n} (${namespaces} namespaces)`);
  return withCluster(ctx, { namespaces, policies: options.n }, async (cluster, policies) => {
    const expected = expectedGnps(policies);
    const initial = await convergeTrial(ctx, cluster, expected, `resync-n${options.n}-initial`);
    ctx.log(`  initial convergence: ${initial.seconds.toFixed(2)} s`);

    /** Restarts the controller on the converged cluster, watching the GNPs from just before the restart. */
    const restart = async <T>(
      label: string,
      body: (controller: ControllerProcess, tracker: GnpTracker, readyAt: number) => Promise<T>,
    ): Promise<T> => {
      const tracker = new GnpTracker(cluster.api, new Map(expected));
      await tracker.start();
      try {
        if (tracker.correctCount !== expected.size || tracker.unexpectedCount !== 0) {
          throw new Error(`the cluster is not converged before the restart: ${tracker.describeMismatches()}`);
        }
        const controller = await startController(ctx, cluster, label);
        try {
          return await body(controller, tracker, await controller.waitReady(convergeTimeoutMs(options.n)));
        } finally {
          await stopController(ctx, controller);
        }
      } finally {
        await tracker.stop();
      }
    };

    const resyncRuns: ResyncTrial[] = [];
    for (let run = 0; options.resync && run < options.runs; run++) {
      const trial = await restart(`resync-n${options.n}-r${run}`, async (controller, tracker, readyAt) => {
        await sleep(RESYNC_SETTLE_MS);
        const counters = await controller.counters();
        const changed = [...tracker.changedNames].slice(0, 3).join(', ');
        ctx.log(
          `  resync run ${run + 1}/${options.runs}: ready in ${seconds(controller.startedAt, readyAt).toFixed(2)} s, ` +
            `${counters.writes} writes, ${tracker.changes} GNP changes${changed ? ` (${changed})` : ''}, ` +
            `${counters.reconciles} reconciles`,
        );
        return { seconds: seconds(controller.startedAt, readyAt), ...counters, gnp_changes: tracker.changes };
      });
      resyncRuns.push(trial);
    }
    const latency = options.latency
      ? await restart(`latency-n${options.n}`, (controller, tracker) =>
          measureLatency(ctx, cluster, controller, tracker, policies, options),
        )
      : undefined;
    return {
      resync: resyncRuns.length
        ? {
            n: options.n,
            writes: median(resyncRuns.map((r) => r.writes)),
            gnp_changes: median(resyncRuns.map((r) => r.gnp_changes)),
            seconds: median(resyncRuns.map((r) => r.seconds)),
            runs: resyncRuns,
          }
        : undefined,
      latency,
    };
  });
}

async function measureLatency(
  ctx: BenchContext,
  cluster: BenchCluster,
  controller: ControllerProcess,
  tracker: GnpTracker,
  policies: readonly NetworkPolicy[],
  options: { runs: number; latencyChanges: number },
): Promise<LatencyResult> {
  const runs: LatencyResult['runs'] = [];
  for (let run = 0; run < options.runs; run++) {
    const samples: number[] = [];
    for (let change = 0; change < options.latencyChanges; change++) {
      // A stride coprime with any realistic n visits policies all over the namespaces.
      const index = (change * 7919 + run * 104_729) % policies.length;
      const original = policies[index] as NetworkPolicy;
      const revision = run * options.latencyChanges + change + 1;
      const want = expectedGnp(revisedNetworkPolicy(original, revision));
      tracker.setExpected(want.metadata.name, want);
      await cluster.api.request(
        'PATCH',
        networkPolicyPath(original.metadata.namespace as string, original.metadata.name),
        revisionPatch(revision),
        'application/merge-patch+json',
      );
      const answeredAt = performance.now();
      const observedAt = await tracker.waitCorrect(want.metadata.name, LATENCY_TIMEOUT_MS, () =>
        controller.exitReason(),
      );
      // The update can in principle be observed before the PATCH's answer is read; that is zero latency.
      samples.push(Math.max(0, observedAt - answeredAt));
    }
    const result = {
      p50_ms: percentile(samples, 50),
      p99_ms: percentile(samples, 99),
      max_ms: Math.max(...samples),
    };
    runs.push(result);
    ctx.log(
      `  latency run ${run + 1}/${options.runs}: p50 ${result.p50_ms.toFixed(1)} ms, p99 ${result.p99_ms.toFixed(1)} ms, max ${result.max_ms.toFixed(1)} ms`,
    );
  }
  return {
    n: policies.length,
    changes: options.latencyChanges,
    p50_ms: median(runs.map((r) => r.p50_ms)),
    p99_ms: median(runs.map((r) => r.p99_ms)),
    runs,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Memory

export interface MemoryResult {
  rss_mb: number;
  /**
   * Growth of peak RSS per cached object (NetworkPolicies + their GNPs + Namespaces), KB: the least-squares slope
   * over every converge and memory run of this benchmark (run.ts fills it in; null with fewer than two sizes).
   */
  kb_per_object?: number | null;
  /** The same slope of the V8 heap in use once converged. */
  heap_kb_per_object?: number | null;
  /** V8 heap in use once converged (median): what the caches and in-flight work actually hold. */
  heap_used_mb: number | undefined;
  policies: number;
  namespaces: number;
  converge_seconds: number;
  runs: ConvergeTrial[];
}

export async function benchMemory(
  ctx: BenchContext,
  options: { policies: number; namespaces: number; runs: number },
): Promise<MemoryResult> {
  ctx.log(`== memory: ${options.policies} NetworkPolicies in ${options.namespaces} namespaces`);
  return withCluster(
    ctx,
    { namespaces: options.namespaces, policies: options.policies },
    async (cluster, policies) => {
      const expected = expectedGnps(policies);
      const runs: ConvergeTrial[] = [];
      for (let run = 0; run < options.runs; run++) {
        const trial = await convergeTrial(ctx, cluster, expected, `memory-r${run}`);
        if (trial.peak_rss_mb === undefined)
          throw new Error("could not read the controller's VmHWM from /proc");
        runs.push(trial);
        ctx.log(
          `  memory run ${run + 1}/${options.runs}: peak RSS ${trial.peak_rss_mb.toFixed(0)} MB, heap used ${trial.heap_used_mb?.toFixed(0) ?? '?'} MB, converged in ${trial.seconds.toFixed(1)} s`,
        );
      }
      return {
        rss_mb: median(runs.map((r) => r.peak_rss_mb as number)),
        heap_used_mb: runs.every((r) => r.heap_used_mb !== undefined)
          ? median(runs.map((r) => r.heap_used_mb as number))
          : undefined,
        policies: options.policies,
        namespaces: options.namespaces,
        converge_seconds: median(runs.map((r) => r.seconds)),
        runs,
      };
    },
  );
}
