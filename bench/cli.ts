/**
 * `npm run bench:cli`: the offline CLI at cluster scale, as users run it (the shipped bundle, one process per run):
 * render and lint of 20,000 NetworkPolicies in one JSON List, and connectivity over pods x policies with ipBlock
 * excepts. Wall time and peak RSS per run (the child reports its own maxRSS at exit), median of --runs.
 * Writes bench/results/cli-latest.json and a dated copy; a run with other sizes writes cli-partial.json.tmp.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../src/controlplane/local.js';
import { connectivityJson, networkPolicyListJson } from './cli-input.js';
import { CONTROLLER_MAIN } from './controller.js';
import { formatTable, median, round } from './stats.js';

const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
const DEFAULT_POLICIES = 20_000;
const DEFAULT_CONNECTIVITY = ['200x200', '200x500', '200x2000', '2000x2000'];
const DEFAULT_TIMEOUT_SECONDS = 300;

interface Run {
  seconds: number;
  peak_rss_mb: number | null;
  exit_code: number | null;
  timed_out: boolean;
}

interface Figure {
  name: string;
  command: string;
  input: string;
  input_mb: number;
  target: string;
  runs: Run[];
  /** Medians over the runs that finished; null when none did. */
  seconds: number | null;
  peak_rss_mb: number | null;
}

/** Preloaded into the child: reports the process's own peak RSS (KB) to a file when it exits. */
const MAX_RSS_PRELOAD = `process.on('exit', () => require('node:fs').writeFileSync(process.env.BENCH_MAXRSS_FILE, String(process.resourceUsage().maxRSS)));`;

async function runOnce(args: string[], dir: string, timeoutSeconds: number): Promise<Run> {
  const rssFile = join(dir, `maxrss-${Date.now()}`);
  const preload = join(dir, 'maxrss.cjs');
  writeFileSync(preload, MAX_RSS_PRELOAD);
  const started = performance.now();
  const child = spawn(process.execPath, ['--require', preload, CONTROLLER_MAIN, ...args], {
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, BENCH_MAXRSS_FILE: rssFile },
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutSeconds * 1000);
  const exitCode = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  clearTimeout(timer);
  const seconds = (performance.now() - started) / 1000;
  let peak: number | null = null;
  try {
    peak = Number(readFileSync(rssFile, 'utf8')) / 1024;
  } catch {
    // Killed before it could report.
  }
  return {
    seconds: Math.round(seconds * 100) / 100,
    peak_rss_mb: peak === null ? null : Math.round(peak),
    exit_code: exitCode,
    timed_out: timedOut,
  };
}

async function figure(
  name: string,
  command: string[],
  input: string,
  target: string,
  runs: number,
  dir: string,
  timeoutSeconds: number,
  log: (line: string) => void,
): Promise<Figure> {
  const results: Run[] = [];
  for (let i = 0; i < runs; i++) {
    const run = await runOnce([...command, '-f', input], dir, timeoutSeconds);
    log(
      `${name} run ${i + 1}: ${run.timed_out ? `> ${timeoutSeconds} s (stopped)` : `${run.seconds} s`}, peak RSS ${run.peak_rss_mb ?? '?'} MB`,
    );
    results.push(run);
    // A run that hit the time limit will again: one is enough to say so.
    if (run.timed_out) break;
  }
  const finished = results.filter((r) => !r.timed_out);
  return {
    name,
    command: `calico-vpc ${command.join(' ')} -f ${name}.json`,
    input: name,
    input_mb: round(readFileSync(input).length / 1024 ** 2, 3),
    target,
    runs: results,
    seconds: finished.length > 0 ? median(finished.map((r) => r.seconds)) : null,
    peak_rss_mb: finished.length > 0 ? median(finished.map((r) => r.peak_rss_mb ?? Number.NaN)) : null,
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      policies: { type: 'string', default: String(DEFAULT_POLICIES) },
      connectivity: { type: 'string', default: DEFAULT_CONNECTIVITY.join(',') },
      timeout: { type: 'string', default: String(DEFAULT_TIMEOUT_SECONDS) },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: npm run bench:cli -- [--runs N] [--policies N] [--connectivity PODSxPOLICIES,...] [--timeout SECONDS]\n',
    );
    return 0;
  }
  const runs = Number(values.runs);
  const policies = Number(values.policies);
  const timeoutSeconds = Number(values.timeout);
  const sizes = (values.connectivity ?? '')
    .split(',')
    .filter(Boolean)
    .map((size) => {
      const [pods, count] = size.split('x').map(Number);
      if (!Number.isInteger(pods) || !Number.isInteger(count))
        throw new Error(`--connectivity: bad size ${size}`);
      return { pods: pods as number, policies: count as number };
    });
  const started = performance.now();
  const log = (line: string) =>
    process.stderr.write(
      `[bench:cli ${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`,
    );
  const dir = mkdtempSync(join(tmpdir(), 'calico-vpc-bench-cli-'));
  const load = loadavg().map((l) => Math.round(l * 100) / 100);
  const figures: Figure[] = [];
  try {
    const list = join(dir, `networkpolicies-${policies}.json`);
    writeFileSync(list, networkPolicyListJson(policies));
    for (const command of ['render', 'lint']) {
      figures.push(
        await figure(
          `${command} ${policies} NetworkPolicies`,
          [command],
          list,
          '<= 3 s, <= 400 MB',
          runs,
          dir,
          timeoutSeconds,
          log,
        ),
      );
    }
    for (const size of sizes) {
      const input = join(dir, `connectivity-${size.pods}x${size.policies}.json`);
      writeFileSync(input, connectivityJson(size.pods, size.policies));
      const target = size.pods >= 2000 ? '<= 60 s' : size.policies >= 2000 ? '<= 10 s' : '';
      figures.push(
        await figure(
          `connectivity ${size.pods} pods x ${size.policies} policies`,
          ['connectivity'],
          input,
          target,
          runs,
          dir,
          timeoutSeconds,
          log,
        ),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const cpuList = cpus();
  const results = {
    date: new Date().toISOString(),
    machine: {
      cores: cpuList.length,
      cpu_model: cpuList[0]?.model?.trim() ?? 'unknown',
      memory_gb: round(totalmem() / 1024 ** 3, 3),
      node: process.version,
      os: `${platform()} ${release()}`,
      load_average_at_start: load,
      load_average_at_end: loadavg().map((l) => Math.round(l * 100) / 100),
    },
    config: { runs, policies, connectivity: sizes, timeout_seconds: timeoutSeconds },
    figures,
  };
  process.stdout.write(
    `${formatTable(
      ['figure', 'input MB', 'seconds (median)', 'peak RSS MB', 'target', 'runs'],
      figures.map((f) => [
        f.name,
        String(f.input_mb),
        f.seconds === null ? `> ${timeoutSeconds} (stopped)` : f.seconds.toFixed(2),
        f.peak_rss_mb === null ? '-' : String(f.peak_rss_mb),
        f.target,
        f.runs.map((r) => (r.timed_out ? `>${timeoutSeconds}` : String(r.seconds))).join(' '),
      ]),
    )}\nload average ${load.join(' ')} at start, ${results.machine.load_average_at_end.join(' ')} at end\n`,
  );
  mkdirSync(RESULTS_DIR, { recursive: true });
  const publishable =
    runs >= 3 &&
    policies === DEFAULT_POLICIES &&
    sizes.map((s) => `${s.pods}x${s.policies}`).join() === DEFAULT_CONNECTIVITY.join();
  const text = `${JSON.stringify(results, null, 2)}\n`;
  if (publishable) {
    writeFileSync(join(RESULTS_DIR, 'cli-latest.json'), text);
    writeFileSync(join(RESULTS_DIR, `cli-${results.date.slice(0, 10)}.json`), text);
  } else {
    writeFileSync(join(RESULTS_DIR, 'cli-partial.json.tmp'), text);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
