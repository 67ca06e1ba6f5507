/**
 * `npm run bench`: measures the translator and the controller against a real local control plane, prints a table
 * and writes bench/results/latest.json plus a dated copy. See `--help`.
 *
 * Only complete, unprofiled runs with the default sizes are published to latest.json; a `--quick`, `--only`,
 * resized or `--cpu-prof` run writes bench/results/partial.json.tmp (ignored by git) instead, so a smoke run never
 * replaces the published numbers. Every run also saves each finished scenario there as it goes.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { REPO_ROOT, binaryVersion, ensureBinaries } from '../src/controlplane/local.js';
import { controllerUnavailable } from './controller.js';
import { formatProfileSummary, readProfile, summarizeProfile } from './profile.js';
import {
  benchMemory,
  benchResyncAndLatency,
  benchSize,
  type BenchContext,
  type ConvergeResult,
  type ConvergeTrial,
  type LatencyResult,
  type MemoryResult,
  type ResyncResult,
} from './scenarios.js';
import { formatTable, linearFit, round } from './stats.js';
import { benchTranslateInProcesses, type TranslateResult } from './translate.js';
import { benchEnforcement, type EnforcementResult } from './enforcement.js';

/** What a plain `npm run bench` runs. */
const SCENARIOS = ['translate', 'floor', 'converge', 'resync', 'latency', 'memory'] as const;
/**
 * Run only when named with --only: `enforcement` needs root and Felix (the Felix tier's environment) and is
 * published on its own (bench/results/enforcement-latest.json).
 */
const OPT_IN_SCENARIOS = ['enforcement'] as const;
const KNOWN_SCENARIOS = [...SCENARIOS, ...OPT_IN_SCENARIOS];
type Scenario = (typeof KNOWN_SCENARIOS)[number];

const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');

interface Config {
  scenarios: Scenario[];
  runs: number;
  translateRuns: number;
  translatePolicies: number;
  sizes: number[];
  floorConcurrencies: number[];
  resyncN: number;
  latencyChanges: number;
  memoryPolicies: number;
  memoryNamespaces: number;
  enforcementChanges: number;
  seed: number;
  cpuProf: boolean;
  /** Extra arguments for `calico-vpc run` (tuning experiments; such runs are not published). */
  controllerArgs: string[];
  /** Extra node options for the controller process (not published either). */
  controllerNodeArgs: string[];
  quick: boolean;
  out: string | undefined;
}

const DEFAULTS = {
  runs: 3,
  translateRuns: 7,
  translatePolicies: 10_000,
  sizes: [500, 1000, 2000, 4000],
  floorConcurrencies: [4, 16, 64],
  resyncN: 2000,
  latencyChanges: 200,
  memoryPolicies: 10_000,
  memoryNamespaces: 1000,
  enforcementChanges: 40,
  seed: 1,
};

const QUICK = {
  runs: 1,
  translateRuns: 3,
  translatePolicies: 2000,
  sizes: [200, 400],
  floorConcurrencies: [4, 32],
  resyncN: 400,
  latencyChanges: 30,
  memoryPolicies: 1000,
  memoryNamespaces: 100,
  enforcementChanges: 6,
  seed: 1,
};

const HELP = `usage: npm run bench -- [options]

  --quick                 smoke run: small sizes, one run each (a few minutes)
  --only LIST             comma-separated subset of: ${KNOWN_SCENARIOS.join(', ')}
                          (translate and floor need no controller; converge includes the floor;
                          enforcement runs only when named: real Calico Felix, as root)
  --runs N                runs per figure, the median is reported (default ${DEFAULTS.runs})
  --translate-runs N      timed passes over the translator's policies (default ${DEFAULTS.translateRuns})
  --translate-policies N  policies translated per pass (default ${DEFAULTS.translatePolicies})
  --sizes LIST            NetworkPolicy counts for converge/floor (default ${DEFAULTS.sizes.join(',')})
  --floor-concurrency LIST  concurrencies the floor tries on 500 GNPs; the best writes all N
                          (default ${DEFAULTS.floorConcurrencies.join(',')})
  --resync-n N            policies for resync and latency (default ${DEFAULTS.resyncN})
  --latency-changes N     policy changes per latency run (default ${DEFAULTS.latencyChanges})
  --memory-policies N     policies for the memory figure (default ${DEFAULTS.memoryPolicies})
  --memory-namespaces N   namespaces for the memory figure (default ${DEFAULTS.memoryNamespaces})
  --enforcement-changes N changes timed per enforcement figure (default ${DEFAULTS.enforcementChanges})
  --seed N                generator seed (default ${DEFAULTS.seed})
  --cpu-prof              run the controller under node --cpu-prof; profiles in bench/results/profiles/
  --controller-arg ARG    pass ARG to \`calico-vpc run\` (repeatable), e.g. --controller-arg=--concurrency=8
  --controller-node-arg ARG  pass ARG to the controller's node (repeatable), e.g. --controller-node-arg=--single-threaded-gc
  --out FILE              write the JSON here instead of the default
  -h, --help

Writes bench/results/latest.json and bench/results/YYYY-MM-DD.json for a complete default run,
bench/results/enforcement-latest.json and enforcement-YYYY-MM-DD.json for a default \`--only enforcement\` run,
else bench/results/partial.json.tmp.
`;

function positiveInteger(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`--${flag}: expected a positive integer, got "${text}"`);
  return value;
}

function integerList(flag: string, text: string): number[] {
  const values = text.split(',').map((part) => positiveInteger(flag, part.trim()));
  if (values.length === 0) throw new Error(`--${flag}: expected a comma-separated list`);
  return values;
}

function parseConfig(argv: readonly string[]): Config | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      runs: { type: 'string' },
      'translate-runs': { type: 'string' },
      'translate-policies': { type: 'string' },
      sizes: { type: 'string' },
      'floor-concurrency': { type: 'string' },
      'resync-n': { type: 'string' },
      'latency-changes': { type: 'string' },
      'memory-policies': { type: 'string' },
      'memory-namespaces': { type: 'string' },
      'enforcement-changes': { type: 'string' },
      seed: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      'controller-arg': { type: 'string', multiple: true },
      'controller-node-arg': { type: 'string', multiple: true },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const base = values.quick ? QUICK : DEFAULTS;
  const scenarios = values.only
    ? values.only.split(',').map((name) => {
        const trimmed = name.trim();
        if (!(KNOWN_SCENARIOS as readonly string[]).includes(trimmed)) {
          throw new Error(`--only: unknown scenario "${trimmed}" (known: ${KNOWN_SCENARIOS.join(', ')})`);
        }
        return trimmed as Scenario;
      })
    : [...SCENARIOS];
  const number = (flag: keyof typeof values, fallback: number) => {
    const text = values[flag];
    return typeof text === 'string' ? positiveInteger(flag, text) : fallback;
  };
  return {
    scenarios,
    runs: number('runs', base.runs),
    translateRuns: number('translate-runs', base.translateRuns),
    translatePolicies: number('translate-policies', base.translatePolicies),
    sizes: values.sizes ? integerList('sizes', values.sizes) : base.sizes,
    floorConcurrencies: values['floor-concurrency']
      ? integerList('floor-concurrency', values['floor-concurrency'])
      : base.floorConcurrencies,
    resyncN: number('resync-n', base.resyncN),
    latencyChanges: number('latency-changes', base.latencyChanges),
    memoryPolicies: number('memory-policies', base.memoryPolicies),
    memoryNamespaces: number('memory-namespaces', base.memoryNamespaces),
    enforcementChanges: number('enforcement-changes', base.enforcementChanges),
    seed: values.seed === undefined ? base.seed : Number(values.seed),
    cpuProf: values['cpu-prof'] ?? false,
    controllerArgs: values['controller-arg'] ?? [],
    controllerNodeArgs: values['controller-node-arg'] ?? [],
    quick: values.quick ?? false,
    out: values.out,
  };
}

/** Publishable: every scenario, the default sizes, no profiler slowing the controller. */
function isPublishable(config: Config): boolean {
  return (
    !config.quick &&
    !config.cpuProf &&
    config.controllerArgs.length === 0 &&
    config.controllerNodeArgs.length === 0 &&
    config.scenarios.length === SCENARIOS.length &&
    SCENARIOS.every((s) => config.scenarios.includes(s)) &&
    config.runs >= DEFAULTS.runs &&
    config.translatePolicies === DEFAULTS.translatePolicies &&
    config.sizes.join() === DEFAULTS.sizes.join() &&
    config.resyncN === DEFAULTS.resyncN &&
    config.latencyChanges === DEFAULTS.latencyChanges &&
    config.memoryPolicies === DEFAULTS.memoryPolicies &&
    config.memoryNamespaces === DEFAULTS.memoryNamespaces
  );
}

/** Publishable on its own: the enforcement figure alone, with the default number of changes. */
function isPublishableEnforcement(config: Config): boolean {
  return (
    !config.quick &&
    config.controllerArgs.length === 0 &&
    config.controllerNodeArgs.length === 0 &&
    config.scenarios.join() === 'enforcement' &&
    config.enforcementChanges === DEFAULTS.enforcementChanges
  );
}

interface Results {
  date: string;
  machine: Record<string, unknown>;
  config: Omit<Config, 'out'>;
  duration_seconds?: number;
  translate?: TranslateResult;
  converge?: ConvergeResult[];
  converge_growth?: {
    seconds_per_1000: number | null;
    floor_seconds_per_1000: number | null;
    intercept_seconds: number | null;
  };
  resync?: ResyncResult;
  latency?: LatencyResult;
  memory?: MemoryResult;
  enforcement?: EnforcementResult;
  profiles?: string[];
}

async function machine(apiServerVersion: string | undefined): Promise<Record<string, unknown>> {
  let apiServer = apiServerVersion;
  if (apiServer === undefined) {
    // Not started in this run (translate only): ask the cached binary, without building anything new.
    apiServer = await ensureBinaries(() => undefined)
      .then((dir) => binaryVersion(join(dir, 'kube-apiserver')))
      .then((text) => text.replace(/^Kubernetes\s+/, ''))
      .catch(() => undefined);
  }
  const cpuList = cpus();
  return {
    cores: cpuList.length,
    cpu_model: cpuList[0]?.model?.trim() ?? 'unknown',
    memory_gb: round(totalmem() / 1024 ** 3, 3),
    node: process.version,
    api_server: apiServer ?? null,
    os: `${platform()} ${release()}`,
    load_average_at_start: loadavg().map((l) => round(l, 3)),
  };
}

const fmt = (value: number | null | undefined, digits = 2) =>
  value === null || value === undefined ? '-' : value.toFixed(digits);

function formatResults(results: Results): string {
  const sections: string[] = [];
  const m = results.machine;
  sections.push(
    `calico-vpc-operator benchmarks, ${results.date}\n` +
      `${m.cores} cores (${m.cpu_model}), ${m.memory_gb} GB, Node ${m.node}, kube-apiserver ${m.api_server ?? '?'}, ` +
      `load average at start ${(m.load_average_at_start as number[]).join(' ')}`,
  );
  const rows: string[][] = [];
  if (results.translate) {
    rows.push([
      'translate.per_second',
      Math.round(results.translate.per_second).toLocaleString('en-US'),
      '>= 50,000',
      `${results.translate.policies} policies, ${results.translate.mean_rules_per_gnp.toFixed(1)} rules each`,
    ]);
    if (results.translate.min_per_second !== undefined) {
      rows.push([
        'translate.min_per_second',
        Math.round(results.translate.min_per_second).toLocaleString('en-US'),
        '>= 50,000',
        `the slowest of ${results.translate.processes_per_second?.length ?? 0} processes`,
      ]);
    }
  }
  if (results.resync) {
    rows.push([
      'resync.writes',
      String(results.resync.writes),
      '0',
      `n=${results.resync.n}; GNP changes seen: ${results.resync.gnp_changes}`,
    ]);
    rows.push(['resync.seconds', fmt(results.resync.seconds), '', 'restart until /readyz']);
  }
  if (results.latency) {
    rows.push([
      'latency.p50_ms',
      fmt(results.latency.p50_ms, 1),
      '< 20',
      `${results.latency.changes} changes, n=${results.latency.n}`,
    ]);
    rows.push(['latency.p99_ms', fmt(results.latency.p99_ms, 1), '< 50', '']);
  }
  if (results.memory) {
    rows.push([
      'memory.rss_mb',
      fmt(results.memory.rss_mb, 0),
      '< 150',
      `peak; ${results.memory.policies} policies, ${results.memory.namespaces} namespaces, converged in ${fmt(results.memory.converge_seconds, 1)} s`,
    ]);
    rows.push([
      'memory.kb_per_object',
      fmt(results.memory.kb_per_object, 2),
      '< 1.5',
      `peak RSS growth per cached object (slope over all converge/memory runs); heap ${fmt(results.memory.heap_kb_per_object, 2)} KB`,
    ]);
  }
  if (results.enforcement) {
    const e = results.enforcement;
    for (const [name, f] of [
      ['networkpolicy', e.networkpolicy],
      ['profile', e.profile],
    ] as const) {
      rows.push([
        `enforcement.${name}.p50_ms`,
        fmt(f.p50_ms, 0),
        '',
        `${f.changes} changes through the operator and Felix ${e.felix}; to drop ${fmt(f.to_drop.p50_ms, 0)}, to answer ${fmt(f.to_answer.p50_ms, 0)}`,
      ]);
      rows.push([`enforcement.${name}.p99_ms`, fmt(f.p99_ms, 0), '', `max ${fmt(f.max_ms, 0)}`]);
    }
  }
  if (rows.length) sections.push(formatTable(['figure', 'value', 'target', 'notes'], rows));
  if (results.converge?.length) {
    sections.push(
      formatTable(
        [
          'converge n',
          'namespaces',
          'seconds',
          'floor s',
          'ratio',
          'unwatched floor s',
          'ratio to it',
          's/1000',
          'floor conc.',
          'first GNP s',
          'ready s',
          'writes',
          'peak RSS MB',
          'CPU ms/NP',
          'load',
        ],
        results.converge.map((c) => [
          String(c.n),
          String(c.namespaces),
          fmt(c.seconds),
          fmt(c.floor_seconds),
          fmt(c.ratio),
          fmt(c.floor_unwatched_seconds),
          fmt(c.ratio_to_unwatched),
          fmt(c.seconds_per_1000),
          c.floor_concurrency === null ? '-' : String(c.floor_concurrency),
          fmt(c.first_gnp_seconds),
          fmt(c.ready_seconds),
          c.writes === null ? '-' : String(c.writes),
          fmt(c.peak_rss_mb, 0),
          fmt(c.cpu_ms_per_policy),
          c.load_averages.length ? `${Math.min(...c.load_averages)}-${Math.max(...c.load_averages)}` : '-',
        ]),
      ) +
        (results.converge_growth
          ? `\ngrowth (least squares): ${fmt(results.converge_growth.seconds_per_1000)} s per 1000 policies ` +
            `(floor ${fmt(results.converge_growth.floor_seconds_per_1000)}), ` +
            `intercept ${fmt(results.converge_growth.intercept_seconds)} s; targets: ratio <= 1.3 (goal 1.2), ` +
            'linear growth, CPU <= 1 ms per NetworkPolicy' +
            '\nfloor s: the plain client timed like the converge, until the same watch saw every GNP; ' +
            'unwatched floor s: a run of it without the watch, until its last response (the floor before 2026-12-06)'
          : ''),
    );
  }
  return sections.join('\n\n');
}

function growth(converge: ConvergeResult[]): Results['converge_growth'] {
  const fit = (pick: (c: ConvergeResult) => number | null) => {
    const points = converge
      .filter((c) => pick(c) !== null)
      .map((c) => ({ x: c.n / 1000, y: pick(c) as number }));
    return new Set(points.map((p) => p.x)).size >= 2 ? linearFit(points) : undefined;
  };
  const convergeFit = fit((c) => c.seconds);
  const floorFit = fit((c) => c.floor_seconds);
  if (!convergeFit && !floorFit) return undefined;
  return {
    seconds_per_1000: convergeFit?.slope ?? null,
    floor_seconds_per_1000: floorFit?.slope ?? null,
    intercept_seconds: convergeFit?.intercept ?? null,
  };
}

/**
 * Peak RSS and heap growth per cached object: least-squares slopes over every converge and memory trial, each
 * caching N NetworkPolicies, their N GNPs and its namespaces.
 */
function perObject(results: Results): { rss: number | null; heap: number | null } {
  const memory = results.memory;
  const trials = [
    ...(results.converge ?? []).flatMap((c) =>
      c.runs.map((run) => ({ objects: 2 * c.n + c.namespaces, run })),
    ),
    ...(memory?.runs ?? []).map((run) => ({ objects: 2 * memory!.policies + memory!.namespaces, run })),
  ];
  const slope = (pick: (run: ConvergeTrial) => number | undefined) => {
    const points = trials
      .filter((t) => pick(t.run) !== undefined)
      .map((t) => ({ x: t.objects, y: (pick(t.run) as number) * 1024 }));
    return new Set(points.map((p) => p.x)).size >= 2 ? linearFit(points).slope : null;
  };
  return { rss: slope((run) => run.peak_rss_mb), heap: slope((run) => run.heap_used_mb) };
}

async function main(): Promise<number> {
  let config: Config | 'help';
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (config === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const started = performance.now();
  const log = (line: string) =>
    process.stderr.write(
      `[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`,
    );
  const wants = (scenario: Scenario) => config.scenarios.includes(scenario);
  const needsController = ['converge', 'resync', 'latency', 'memory', 'enforcement'].some((s) =>
    wants(s as Scenario),
  );
  if (needsController) {
    const reason = await controllerUnavailable();
    if (reason) {
      process.stderr.write(
        `cannot benchmark the controller: ${reason}\n(--only translate,floor needs no controller)\n`,
      );
      return 1;
    }
  }

  mkdirSync(RESULTS_DIR, { recursive: true });
  const ctx: BenchContext = {
    log,
    seed: config.seed,
    logDir: mkdtempSync(join(tmpdir(), 'calico-vpc-bench-')),
    cpuProfileDir: config.cpuProf ? join(RESULTS_DIR, 'profiles') : undefined,
    controllerArgs: config.controllerArgs,
    controllerNodeArgs: config.controllerNodeArgs,
    profiles: [],
    running: new Set(),
  };
  let interrupted = false;
  const interrupt = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping the controller and control plane`);
    const stops = [...ctx.running].map((stop) => stop().catch(() => undefined));
    const bound = new Promise((r) => setTimeout(r, 60_000).unref());
    void Promise.race([Promise.all(stops), bound]).then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  log(`controller logs in ${ctx.logDir}`);
  const { out: _out, ...recordedConfig } = config;
  const results: Results = {
    date: new Date().toISOString(),
    machine: await machine(undefined),
    config: recordedConfig,
  };

  // Each finished scenario is saved at once: a run killed late keeps what it measured.
  const partialFile = join(RESULTS_DIR, 'partial.json.tmp');
  const checkpoint = () => writeFileSync(partialFile, `${JSON.stringify(results, null, 2)}\n`);

  if (wants('translate')) {
    log(
      `translate: ${config.translatePolicies} policies x ${config.translateRuns} passes, in ${config.runs} processes`,
    );
    results.translate = await benchTranslateInProcesses({
      policies: config.translatePolicies,
      runs: config.translateRuns,
      seed: config.seed,
      processes: config.runs,
    });
    log(
      `  ${Math.round(results.translate.per_second)} per second (processes: ${results.translate.processes_per_second?.map(Math.round).join(', ')})`,
    );
    checkpoint();
  }
  if (wants('floor') || wants('converge')) {
    results.converge = [];
    for (const n of config.sizes) {
      results.converge.push(
        await benchSize(ctx, n, {
          runs: config.runs,
          floorConcurrencies: config.floorConcurrencies,
          floor: true,
          converge: wants('converge'),
        }),
      );
      checkpoint();
    }
    results.converge_growth = growth(results.converge);
    checkpoint();
  }
  if (wants('resync') || wants('latency')) {
    const { resync, latency } = await benchResyncAndLatency(ctx, {
      n: config.resyncN,
      runs: config.runs,
      resync: wants('resync'),
      latency: wants('latency'),
      latencyChanges: config.latencyChanges,
    });
    results.resync = resync;
    results.latency = latency;
    checkpoint();
  }
  if (wants('memory')) {
    results.memory = await benchMemory(ctx, {
      policies: config.memoryPolicies,
      namespaces: config.memoryNamespaces,
      runs: config.runs,
    });
    const growthPerObject = perObject(results);
    results.memory.kb_per_object = growthPerObject.rss;
    results.memory.heap_kb_per_object = growthPerObject.heap;
  }
  if (wants('enforcement')) {
    results.enforcement = await benchEnforcement({
      log,
      logDir: join(ctx.logDir, 'enforcement'),
      changes: config.enforcementChanges,
      running: ctx.running,
    });
    checkpoint();
  }
  if (ctx.apiServerVersion) results.machine.api_server = ctx.apiServerVersion;
  results.machine.load_average_at_end = loadavg().map((l) => round(l, 3));
  results.duration_seconds = Math.round((performance.now() - started) / 1000);
  if (ctx.profiles.length) results.profiles = ctx.profiles;

  const json = `${JSON.stringify(results, null, 2)}\n`;
  const written: string[] = [];
  if (config.out) {
    writeFileSync(config.out, json);
    written.push(config.out);
  } else if (isPublishable(config) || isPublishableEnforcement(config)) {
    const prefix = isPublishable(config) ? '' : 'enforcement-';
    for (const file of [`${prefix}latest.json`, `${prefix}${results.date.slice(0, 10)}.json`]) {
      writeFileSync(join(RESULTS_DIR, file), json);
      written.push(join(RESULTS_DIR, file));
    }
  } else {
    writeFileSync(partialFile, json);
    written.push(partialFile);
  }

  process.stdout.write(`\n${formatResults(results)}\n\n`);
  for (const profile of ctx.profiles) {
    process.stdout.write(
      `== profile ${profile}\n${formatProfileSummary(summarizeProfile(readProfile(profile)))}\n\n`,
    );
  }
  process.stdout.write(`written: ${written.join(', ')} (${results.duration_seconds} s)\n`);
  return 0;
}

process.exitCode = await main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
});
