/**
 * A real local control plane — etcd and kube-apiserver (and optionally kube-controller-manager) on loopback —
 * for `calico-vpc run` without a cluster, the integration tests and the benchmarks. envtest's flag set is the
 * anchor: generated keys, free ports, RBAC authorization, an admin kubeconfig, readiness wait, clean shutdown,
 * logs kept on failure.
 *
 * The binaries come from hack/build-control-plane.sh (built from the Go module proxy, cached by version), or
 * from KUBEBUILDER_ASSETS. The control plane's state (ports, pids, the API server's arguments) is written to a
 * JSON file so another process — a jest worker — can attach to it, restart the API server, or stop it.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, openSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Agent, request } from 'node:https';

const execFileAsync = promisify(execFile);

/** Repository root (this file is src/controlplane/local.ts, or dist/controlplane/local.js once built). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ControlPlaneOptions {
  /** Directory holding etcd, kube-apiserver (and kube-controller-manager); default: build or reuse the cache. */
  binDir?: string;
  /** Where certificates, data and logs go; default: a fresh temp dir. */
  workDir?: string;
  /** Also run kube-controller-manager (namespace finalization, garbage collection). Default true when built. */
  controllerManager?: boolean;
  /** Extra kube-apiserver flags, e.g. `--etcd-compaction-interval=10s`. */
  extraApiServerArgs?: string[];
  /** Progress lines (building, starting, ready). Default: stderr. */
  log?: (line: string) => void;
}

interface ProcessState {
  bin: string;
  args: string[];
  logFile: string;
  pid: number;
}

export interface ControlPlaneState {
  workDir: string;
  kubeconfig: string;
  server: string;
  token: string;
  version: string;
  etcd: ProcessState;
  apiServer: ProcessState;
  controllerManager?: ProcessState;
}

/** Which kube-controller-manager controllers run locally; the README lists them. */
export const LOCAL_CONTROLLERS = ['namespace-controller', 'garbage-collector-controller'];

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

/** Runs hack/build-control-plane.sh (a no-op when cached) and returns the directory with the binaries. */
export async function ensureBinaries(log: (line: string) => void = defaultLog): Promise<string> {
  const script = join(REPO_ROOT, 'hack', 'build-control-plane.sh');
  return new Promise((resolveDir, reject) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) =>
      d
        .toString()
        .split('\n')
        .filter(Boolean)
        .forEach((l) => log(l)),
    );
    child.on('error', reject);
    child.on('exit', (code) => {
      const dir = out.trim().split('\n').pop() ?? '';
      if (code === 0 && dir) resolveDir(dir);
      else reject(new Error(`${script} failed with exit code ${code}; see the lines above`));
    });
  });
}

function defaultLog(line: string) {
  process.stderr.write(`[control-plane] ${line}\n`);
}

function spawnLogged(bin: string, args: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  // detached: a process group of its own, so a jest worker that restarts the API server does not take it down
  // when it exits, and stop() can kill it from any process by pid.
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd], detached: true });
  child.unref();
  return child;
}

/** Whether a process exists (signal 0). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after timeoutMs; resolves when the process is gone. */
export async function killAndWait(pid: number, timeoutMs = 15_000): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    while (isAlive(pid)) await sleep(20);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The last lines of a log file, for error messages. */
export function logTail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** GET path on the API server with the admin token; resolves with status and body. */
function get(
  server: string,
  token: string,
  path: string,
  ca?: Buffer,
): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request(
      `${server}${path}`,
      {
        headers: { authorization: `Bearer ${token}` },
        agent: new Agent({ ca, rejectUnauthorized: ca !== undefined, keepAlive: false }),
        timeout: 5000,
      },
      (resp) => {
        let body = '';
        resp.on('data', (d: Buffer) => (body += d.toString()));
        resp.on('end', () => res({ status: resp.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
    req.end();
  });
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  proc: ProcessState,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isAlive(proc.pid)) {
      throw new Error(
        `${what}: the process exited; last lines of ${proc.logFile}:\n${logTail(proc.logFile)}`,
      );
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not ready after ${timeoutMs} ms; last lines of ${proc.logFile}:\n${logTail(proc.logFile)}`,
      );
    }
    await sleep(200);
  }
}

export class LocalControlPlane {
  private constructor(
    readonly state: ControlPlaneState,
    private readonly stateFile: string,
  ) {}

  get kubeconfigPath(): string {
    return this.state.kubeconfig;
  }

  get version(): string {
    return this.state.version;
  }

  /** Starts etcd, kube-apiserver and (optionally) kube-controller-manager; resolves when /readyz answers ok. */
  static async start(opts: ControlPlaneOptions = {}): Promise<LocalControlPlane> {
    const log = opts.log ?? defaultLog;
    const binDir = opts.binDir ?? (await ensureBinaries(log));
    const workDir = opts.workDir ?? (await mkdtemp(join(tmpdir(), 'calico-vpc-cp-')));
    for (const d of ['certs', 'etcd', 'logs']) mkdirSync(join(workDir, d), { recursive: true });

    // Service-account signing key: the API server refuses to start without one.
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const saKey = join(workDir, 'certs', 'sa.key');
    const saPub = join(workDir, 'certs', 'sa.pub');
    writeFileSync(saKey, privateKey.export({ type: 'pkcs1', format: 'pem' }));
    writeFileSync(saPub, publicKey.export({ type: 'spki', format: 'pem' }));

    // A static admin token in system:masters: the simplest real authentication; RBAC stays on for everyone else.
    const token = randomBytes(24).toString('hex');
    const tokenFile = join(workDir, 'certs', 'tokens.csv');
    writeFileSync(tokenFile, `${token},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });

    const [etcdClient, etcdPeer, apiPort, kcmPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const etcdArgs = [
      `--name=local`,
      `--data-dir=${join(workDir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=local=http://127.0.0.1:${etcdPeer}`,
      // A throwaway store for tests: durability is not worth the fsync latency.
      `--unsafe-no-fsync=true`,
      `--log-level=warn`,
    ];
    const etcd = startProcess(join(binDir, 'etcd'), etcdArgs, join(workDir, 'logs', 'etcd.log'));
    log(`etcd started on 127.0.0.1:${etcdClient} (pid ${etcd.pid})`);

    const certDir = join(workDir, 'certs');
    const apiArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      `--bind-address=127.0.0.1`,
      `--advertise-address=127.0.0.1`,
      `--secure-port=${apiPort}`,
      // No cert given: the API server generates a self-signed CA and serving cert for 127.0.0.1 into cert-dir.
      `--cert-dir=${certDir}`,
      `--token-auth-file=${tokenFile}`,
      `--authorization-mode=RBAC`,
      `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      `--service-cluster-ip-range=10.0.0.0/24`,
      `--allow-privileged=true`,
      // Calico 3.32's native v3 CRDs default `types` and `tier` with MutatingAdmissionPolicies (v1beta1).
      `--runtime-config=admissionregistration.k8s.io/v1beta1=true`,
      `--feature-gates=MutatingAdmissionPolicy=true`,
      // No kubelet, so no pods become ready; the ServiceAccount admission plugin would only get in the way.
      `--disable-admission-plugins=ServiceAccount`,
      ...(opts.extraApiServerArgs ?? []),
    ];
    const apiServer = startProcess(
      join(binDir, 'kube-apiserver'),
      apiArgs,
      join(workDir, 'logs', 'kube-apiserver.log'),
    );
    const server = `https://127.0.0.1:${apiPort}`;
    log(`kube-apiserver starting on ${server} (pid ${apiServer.pid})`);

    const state: ControlPlaneState = {
      workDir,
      kubeconfig: join(workDir, 'kubeconfig'),
      server,
      token,
      version: '',
      etcd,
      apiServer,
    };
    const cp = new LocalControlPlane(state, join(workDir, 'state.json'));
    try {
      await cp.waitReady(120_000);
      cp.writeKubeconfig();

      const wantKcm = opts.controllerManager ?? existsSync(join(binDir, 'kube-controller-manager'));
      if (wantKcm) {
        const kcmArgs = [
          `--kubeconfig=${state.kubeconfig}`,
          `--authentication-kubeconfig=${state.kubeconfig}`,
          `--authorization-kubeconfig=${state.kubeconfig}`,
          `--bind-address=127.0.0.1`,
          `--secure-port=${kcmPort}`,
          `--leader-elect=false`,
          `--controllers=${LOCAL_CONTROLLERS.join(',')}`,
          `--service-account-private-key-file=${saKey}`,
        ];
        state.controllerManager = startProcess(
          join(binDir, 'kube-controller-manager'),
          kcmArgs,
          join(workDir, 'logs', 'kube-controller-manager.log'),
        );
        log(
          `kube-controller-manager started (pid ${state.controllerManager.pid}): ${LOCAL_CONTROLLERS.join(', ')}`,
        );
      }
      cp.save();
      log(`ready: kube-apiserver ${state.version} at ${server}; kubeconfig ${state.kubeconfig}`);
      return cp;
    } catch (err) {
      await cp.stop({ keepWorkDir: true });
      throw err;
    }
  }

  /** Attaches to a control plane started by another process (see `save`). */
  static attach(stateFile: string): LocalControlPlane {
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as ControlPlaneState;
    return new LocalControlPlane(state, stateFile);
  }

  get stateFilePath(): string {
    return this.stateFile;
  }

  private save() {
    writeFileSync(this.stateFile, JSON.stringify(this.state, null, 2));
  }

  private caBundle(): Buffer | undefined {
    const crt = join(this.state.workDir, 'certs', 'apiserver.crt');
    return existsSync(crt) ? readFileSync(crt) : undefined;
  }

  private async waitReady(timeoutMs: number) {
    const { server, token } = this.state;
    await waitFor(
      'kube-apiserver',
      async () => (await get(server, token, '/readyz', this.caBundle())).status === 200,
      this.state.apiServer,
      timeoutMs,
    );
    const v = await get(server, token, '/version', this.caBundle());
    this.state.version = (JSON.parse(v.body) as { gitVersion: string }).gitVersion;
  }

  private writeKubeconfig() {
    const ca = this.caBundle();
    const cluster = ca
      ? { server: this.state.server, 'certificate-authority-data': ca.toString('base64') }
      : { server: this.state.server, 'insecure-skip-tls-verify': true };
    const kubeconfig = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'local', cluster }],
      users: [{ name: 'admin', user: { token: this.state.token } }],
      contexts: [{ name: 'local', context: { cluster: 'local', user: 'admin' } }],
      'current-context': 'local',
    };
    writeFileSync(this.state.kubeconfig, JSON.stringify(kubeconfig, null, 2), { mode: 0o600 });
  }

  /** Stops and starts kube-apiserver with the same flags (same port, same etcd): a fault for tests. */
  async restartApiServer(): Promise<void> {
    await this.stopApiServer();
    await this.startApiServer();
  }

  async stopApiServer(): Promise<void> {
    await killAndWait(this.state.apiServer.pid);
  }

  async startApiServer(): Promise<void> {
    const { bin, args, logFile } = this.state.apiServer;
    this.state.apiServer = startProcess(bin, args, logFile);
    this.save();
    await this.waitReady(120_000);
  }

  /** Stops everything. The work dir (certs, data, logs) is removed unless asked to keep it (on failure). */
  async stop(opts: { keepWorkDir?: boolean } = {}): Promise<void> {
    if (this.state.controllerManager) await killAndWait(this.state.controllerManager.pid);
    await killAndWait(this.state.apiServer.pid);
    await killAndWait(this.state.etcd.pid);
    if (!opts.keepWorkDir) rmSync(this.state.workDir, { recursive: true, force: true });
  }

  logsDir(): string {
    return join(this.state.workDir, 'logs');
  }
}

function startProcess(bin: string, args: string[], logFile: string): ProcessState {
  if (!existsSync(bin))
    throw new Error(`${bin} not found: run hack/build-control-plane.sh or set KUBEBUILDER_ASSETS`);
  const child = spawnLogged(bin, args, logFile);
  if (child.pid === undefined) throw new Error(`could not start ${bin}`);
  return { bin, args, logFile, pid: child.pid };
}

/** The version a built binary reports, e.g. "v1.36.3" (used by the README and benchmarks). */
export async function binaryVersion(bin: string): Promise<string> {
  const { stdout } = await execFileAsync(bin, ['--version']);
  return stdout.trim();
}
