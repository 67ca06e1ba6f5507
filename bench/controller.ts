/**
 * The controller under test, run as users run it: `node dist/bundle/calico-vpc.mjs run ...` (the bundle the image ships) in a child process of its own,
 * so its RSS is its own (/proc/<pid>/status), its event loop does not share the benchmark's, and a restart is a
 * real restart. Optionally under `node --cpu-prof`.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT, freePort } from '../src/controlplane/local.js';

const execFileAsync = promisify(execFile);

export const CONTROLLER_MAIN = join(REPO_ROOT, 'dist', 'bundle', 'calico-vpc.mjs');
const STOP_TIMEOUT_MS = 30_000;
export const OPERATOR_WRITES_METRIC = 'calico_vpc_api_writes_total';
const REST_REQUESTS_METRIC = 'rest_client_requests_total';
const RECONCILE_METRIC = 'controller_runtime_reconcile_total';
const HEAP_USED_METRIC = 'nodejs_heap_size_used_bytes';
const NETWORKPOLICY_CONTROLLER = 'networkpolicy';

const DEPLOYMENT_MANIFEST = join(REPO_ROOT, 'config', 'manager', 'manager.yaml');

/** The variables of the Deployment's container that shape the process's memory; NODE_OPTIONS is required. */
const DEPLOYMENT_PROCESS_ENV = ['NODE_OPTIONS', 'MALLOC_ARENA_MAX'] as const;

/**
 * The environment the operator's Deployment gives its container for the process itself (NODE_OPTIONS: heap sizes;
 * MALLOC_ARENA_MAX: glibc's malloc arenas): the benchmark runs the controller with it, as it runs in a cluster.
 */
export function deploymentProcessEnv(manifest = DEPLOYMENT_MANIFEST): Record<string, string> {
  const manager = managerContainer(manifest);
  const env: Record<string, string> = {};
  for (const name of DEPLOYMENT_PROCESS_ENV) {
    const value = manager?.env?.find((e) => e.name === name)?.value;
    if (value !== undefined) env[name] = value;
  }
  if (env.NODE_OPTIONS !== undefined) return env;
  throw new Error(`${manifest}: no Deployment container "manager" with a NODE_OPTIONS value`);
}

/**
 * The Deployment's `--log-level`, or undefined when its args leave it out (the benchmark then leaves it out too,
 * and run's own default applies): the benchmarked controller logs what it logs in a cluster, one line per GNP
 * written. Until round five's first run (2026-12-06 15:22) the benchmark ran it at warn, which left out 0.07-0.12
 * ms of CPU per policy at N=2000 (three A/B pairs, before the logger wrote synchronously).
 */
export function deploymentLogLevel(manifest = DEPLOYMENT_MANIFEST): string | undefined {
  const manager = managerContainer(manifest);
  if (!manager) throw new Error(`${manifest}: no Deployment container "manager"`);
  const args = manager.args ?? [];
  for (const [i, arg] of args.entries()) {
    if (arg.startsWith('--log-level=')) return arg.slice('--log-level='.length);
    if (arg === '--log-level' && args[i + 1] !== undefined) return args[i + 1]!;
  }
  return undefined;
}

interface ManifestContainer {
  name?: string;
  args?: string[];
  env?: { name?: string; value?: string }[];
}

function managerContainer(manifest: string): ManifestContainer | undefined {
  for (const doc of parseAllDocuments(readFileSync(manifest, 'utf8'))) {
    const object = doc.toJS() as
      { kind?: string; spec?: { template?: { spec?: { containers?: ManifestContainer[] } } } } | undefined;
    if (object?.kind !== 'Deployment') continue;
    const manager = object.spec?.template?.spec?.containers?.find((c) => c.name === 'manager');
    if (manager) return manager;
  }
  return undefined;
}

/** Why the controller cannot be benchmarked yet (not built, or no `run` command), or undefined when it can. */
export async function controllerUnavailable(): Promise<string | undefined> {
  if (!existsSync(CONTROLLER_MAIN)) return `${CONTROLLER_MAIN} does not exist: run npm run build`;
  try {
    await execFileAsync(process.execPath, [CONTROLLER_MAIN, 'run', '--help'], { timeout: 30_000 });
    return undefined;
  } catch (err) {
    const detail = err as { stderr?: string; stdout?: string; message: string };
    return `\`calico-vpc run --help\` failed: ${(detail.stderr || detail.stdout || detail.message).trim().split('\n').slice(0, 3).join(' ')}`;
  }
}

export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Metrics {
  samples: MetricSample[];
  /** Metrics declared by a `# TYPE` line: a labelled counter has one before its first sample. */
  declared: Set<string>;
}

/** Prometheus text exposition -> samples and declared names (other comments and malformed lines skipped). */
export function parsePrometheusText(text: string): Metrics {
  const samples: MetricSample[] = [];
  const declared = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) /.exec(line);
    if (type) declared.add(type[1] as string);
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1] as string] = (pair[2] as string).replace(/\\(.)/g, (_, c: string) =>
        c === 'n' ? '\n' : c,
      );
    }
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return { samples, declared };
}

export function sumSamples(
  samples: readonly MetricSample[],
  name: string,
  filter: (labels: Record<string, string>) => boolean = () => true,
): number | undefined {
  const matching = samples.filter((s) => s.name === name && filter(s.labels));
  return matching.length === 0 ? undefined : matching.reduce((sum, s) => sum + s.value, 0);
}

function httpGet(
  agent: http.Agent,
  port: number,
  path: string,
  timeoutMs = 5_000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timeout`)));
    req.on('error', reject);
  });
}

/** A status line of /proc/<pid>/status in MB (VmHWM: peak resident set; VmRSS: current). */
export function procStatusMb(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
    );
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ: 100 on every Linux this runs on). */
const USER_HZ = 100;

/** utime + stime of /proc/<pid>/stat, in seconds. */
export function procCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name.
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return undefined;
  }
}

export interface ControllerOptions {
  kubeconfig: string;
  logDir: string;
  /** Names this process's log file and profile. */
  label: string;
  /** Run under `node --cpu-prof`, writing `<label>.cpuprofile` here. */
  cpuProfileDir?: string;
  /** Appended to the `run` arguments. */
  extraArgs?: string[];
  /** Node options, before the script. */
  nodeArgs?: string[];
}

/** What the controller's counters say at one moment. */
export interface ControllerCounters {
  /** calico_vpc_api_writes_total, all verbs. */
  writes: number;
  /** rest_client_requests_total for methods other than GET: a cross-check of `writes`. */
  rest_writes: number | undefined;
  /** controller_runtime_reconcile_total of the NetworkPolicy controller: reconciles beyond N are needless work. */
  reconciles: number | undefined;
  /** nodejs_heap_size_used_bytes in MB when read: live objects plus garbage not yet collected. */
  heap_used_mb: number | undefined;
}

export class ControllerProcess {
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;
  // Probes and scrapes reuse one connection: a new TCP connection per poll would be work the benchmark adds.
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 2 });

  private constructor(
    private readonly child: ChildProcess,
    readonly pid: number,
    readonly startedAt: number,
    private readonly metricsPort: number,
    private readonly healthPort: number,
    readonly logFile: string,
    readonly profileFile: string | undefined,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve();
      }),
    );
  }

  static async start(options: ControllerOptions): Promise<ControllerProcess> {
    const [metricsPort, healthPort] = await Promise.all([freePort(), freePort()]);
    mkdirSync(options.logDir, { recursive: true });
    const logFile = join(options.logDir, `${options.label}.log`);
    const profileName = `${options.label}.cpuprofile`;
    const nodeArgs = options.cpuProfileDir
      ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir, '--cpu-prof-name', profileName]
      : [];
    if (options.cpuProfileDir) mkdirSync(options.cpuProfileDir, { recursive: true });
    const logLevel = deploymentLogLevel();
    const args = [
      ...nodeArgs,
      ...(options.nodeArgs ?? []),
      CONTROLLER_MAIN,
      'run',
      '--kubeconfig',
      options.kubeconfig,
      '--calico-api',
      'v3',
      // Leader election is off by default (a single replica): no Lease traffic in the measurements.
      '--metrics-bind-address',
      `127.0.0.1:${metricsPort}`,
      '--health-probe-bind-address',
      `127.0.0.1:${healthPort}`,
      ...(logLevel === undefined ? [] : ['--log-level', logLevel]),
      ...(options.extraArgs ?? []),
    ];
    const fd = openSync(logFile, 'a');
    const startedAt = performance.now();
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...deploymentProcessEnv() },
    });
    closeSync(fd);
    if (child.pid === undefined) throw new Error(`could not start ${CONTROLLER_MAIN}`);
    return new ControllerProcess(
      child,
      child.pid,
      startedAt,
      metricsPort,
      healthPort,
      logFile,
      options.cpuProfileDir ? join(options.cpuProfileDir, profileName) : undefined,
    );
  }

  /** Undefined while running; a description once the process has exited. */
  exitReason(): string | undefined {
    if (!this.exit) return undefined;
    return `the controller exited (code ${this.exit.code}, signal ${this.exit.signal}); last log lines:\n${this.logTail()}`;
  }

  logTail(lines = 20): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /**
   * Polls /readyz until 200; resolves with the moment (performance.now()) it first answered 200. Each poll costs
   * the controller a request, so the interval is a trade between resolution and disturbance.
   */
  async waitReady(timeoutMs: number, intervalMs = 100): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    let last = 'no answer yet';
    while (performance.now() < deadline) {
      const reason = this.exitReason();
      if (reason) throw new Error(reason);
      const answer = await httpGet(this.agent, this.healthPort, '/readyz', 2_000).catch((err: unknown) => ({
        status: 0,
        body: String(err),
      }));
      if (answer.status === 200) return performance.now();
      last = `${answer.status} ${answer.body.trim().slice(0, 300)}`;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    throw new Error(`/readyz not 200 after ${timeoutMs} ms (last: ${last}); log:\n${this.logTail()}`);
  }

  async metrics(): Promise<Metrics> {
    const answer = await httpGet(this.agent, this.metricsPort, '/metrics');
    if (answer.status !== 200) throw new Error(`/metrics answered ${answer.status}`);
    return parsePrometheusText(answer.body);
  }

  /**
   * The write and reconcile counters. A declared counter without samples is zero (labelled counters have no
   * series before their first increment); the operator's write counter must be declared.
   */
  async counters(): Promise<ControllerCounters> {
    const { samples, declared } = await this.metrics();
    if (!declared.has(OPERATOR_WRITES_METRIC)) {
      throw new Error(
        `the controller's /metrics has no ${OPERATOR_WRITES_METRIC}: the benchmark counts writes with it`,
      );
    }
    const counted = (name: string, filter?: (labels: Record<string, string>) => boolean) =>
      declared.has(name) ? (sumSamples(samples, name, filter) ?? 0) : undefined;
    return {
      writes: counted(OPERATOR_WRITES_METRIC) ?? 0,
      rest_writes: counted(REST_REQUESTS_METRIC, (l) => l.method !== 'GET'),
      reconciles: counted(RECONCILE_METRIC, (l) => l.controller === NETWORKPOLICY_CONTROLLER),
      heap_used_mb: declared.has(HEAP_USED_METRIC)
        ? (sumSamples(samples, HEAP_USED_METRIC) ?? 0) / 2 ** 20
        : undefined,
    };
  }

  peakRssMb(): number | undefined {
    return procStatusMb(this.pid, 'VmHWM');
  }

  /** User + system CPU seconds the process has used so far. */
  cpuSeconds(): number | undefined {
    return procCpuSeconds(this.pid);
  }

  rssMb(): number | undefined {
    return procStatusMb(this.pid, 'VmRSS');
  }

  /** SIGTERM (a graceful stop, which also writes the CPU profile), SIGKILL if it does not exit in time. */
  /** Bound, so it can be handed around as a callback. */
  readonly stop = async (): Promise<void> => {
    this.agent.destroy();
    if (this.exit) return;
    this.child.kill('SIGTERM');
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), STOP_TIMEOUT_MS).unref()),
    ]);
    if (timedOut) {
      this.child.kill('SIGKILL');
      await this.exited;
      throw new Error(
        `the controller did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM; log:\n${this.logTail()}`,
      );
    }
  };
}
