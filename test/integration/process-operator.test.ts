/**
 * `calico-vpc run` as a real process, the way a Deployment runs it: SIGTERM in the middle of reconciling ends it
 * cleanly with exit code 0, and a leader killed with SIGKILL (no release, no goodbye) is replaced by a standby
 * once its lease expires.
 *
 * The child runs the shipped CLI bundle (dist/bundle/calico-vpc.mjs) when it is at least as new as every file in src/ (CI builds
 * it in `npm ci`), else the same entry point from source through tsx, so a stale build can never be what is tested.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Namespace, NetworkPolicy } from '../../src/api/kube.js';
import { REPO_ROOT, type LocalControlPlane } from '../../src/controlplane/local.js';
import { KubeClient } from '../../src/kube/client.js';
import type { ResourceClient } from '../../src/kube/resource.js';
import { LEASES, NAMESPACES, NETWORK_POLICIES } from '../../src/kube/resources.js';
import { type Lease } from '../../src/kube/leader.js';
import { Registry } from '../../src/observability/metrics.js';
import { eventually, startDedicatedControlPlane, uniqueName } from './harness.js';
import { gnpClient, portPolicy, startOperator, type RunningOperator } from './operator.js';

// The integration project's testTimeout does not reach tests (jest ignores it inside `projects`).
const TIMEOUT_MS = 180_000;
/** How long a terminated operator may take to exit: its drain bound (10 s) plus process start-up slack. */
const EXIT_BOUND_MS = 30_000;

const describeLocal = process.env.USE_EXISTING_CLUSTER === 'true' ? describe.skip : describe;
// Skipped against an existing cluster: the operators under test must be the only ones reconciling.

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** node arguments that start the CLI: the build when it is current, else the source through tsx. */
function cliArgs(): string[] {
  const built = join(REPO_ROOT, 'dist', 'bundle', 'calico-vpc.mjs');
  let builtAt = 0;
  try {
    builtAt = statSync(built).mtimeMs;
  } catch {
    // Not built.
  }
  return builtAt >= newestMtime(join(REPO_ROOT, 'src'))
    ? [built]
    : ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts')];
}

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

interface RunningCli {
  child: ChildProcess;
  /** JSON log lines so far. */
  logs: LogLine[];
  /** Everything it printed, for failure messages. */
  output(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function runCli(args: string[], env: Record<string, string> = {}): RunningCli {
  const child = spawn(process.execPath, [...cliArgs(), 'run', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const logs: LogLine[] = [];
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    partial += chunk.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        // Not a log line.
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, logs, output: () => text, exit };
}

async function exitWithin(cli: RunningCli, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`did not exit within ${ms} ms; output:\n${cli.output().slice(-4000)}`)),
      ms,
    );
  });
  try {
    return await Promise.race([cli.exit, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describeLocal('calico-vpc run as a process (dedicated control plane)', () => {
  let cp: LocalControlPlane;
  let kc: KubeConfig;
  let client: KubeClient;
  let policies: ResourceClient<NetworkPolicy>;
  let gnps: ReturnType<typeof gnpClient>;
  const children: RunningCli[] = [];
  const operators: RunningOperator[] = [];

  beforeAll(async () => {
    const started = await startDedicatedControlPlane();
    if (!started) throw new Error('unreachable: skipped above');
    ({ cp, kc } = started);
    client = new KubeClient(kc, { registry: new Registry() });
    policies = client.resource<NetworkPolicy>(NETWORK_POLICIES);
    gnps = gnpClient(kc, 'v3');
  }, 180_000);

  afterEach(async () => {
    for (const op of operators.splice(0)) await op.stop();
    for (const cli of children.splice(0)) {
      if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
      await cli.exit;
    }
  }, TIMEOUT_MS);

  afterAll(async () => {
    client?.close();
    gnps?.client.close();
    await cp?.stop();
  }, TIMEOUT_MS);

  async function createNamespace(prefix: string): Promise<string> {
    const name = uniqueName(prefix);
    await client
      .resource<Namespace>(NAMESPACES)
      .create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    return name;
  }

  async function gnpCount(ns: string): Promise<number> {
    return [...(await gnps.managed()).values()].filter(
      (g) => g.metadata.labels?.['calico-vpc.io/networkpolicy-namespace'] === ns,
    ).length;
  }

  function start(args: string[], env: Record<string, string> = {}): RunningCli {
    const cli = runCli(
      [
        '--kubeconfig',
        cp.kubeconfigPath,
        '--calico-api',
        'v3',
        '--metrics-bind-address',
        '0',
        '--health-probe-bind-address',
        '0',
        ...args,
      ],
      env,
    );
    children.push(cli);
    return cli;
  }

  it(
    'exits 0 within its drain bound on SIGTERM in the middle of reconciling, leaving only whole GNPs behind',
    async () => {
      const ns = await createNamespace('sigterm');
      const total = 300;
      for (let i = 0; i < total; i += 30) {
        await Promise.all(
          Array.from({ length: 30 }, (_, j) => policies.create(portPolicy(ns, `np-${i + j}`, 1000 + i + j))),
        );
      }
      const cli = start(['--concurrency', '1', '--log-level', 'info']);
      const atSignal = await eventually(
        'the child to have written some GNPs',
        async () => {
          if (cli.child.exitCode !== null) throw new Error(`exited early:\n${cli.output()}`);
          const n = await gnpCount(ns);
          return n >= 10 && n;
        },
        120_000,
        20,
      );
      cli.child.kill('SIGTERM');
      // It was mid-way: a test that signals an idle operator proves nothing.
      expect(atSignal).toBeLessThan(total);

      const { code, signal } = await exitWithin(cli, EXIT_BOUND_MS);
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(cli.logs.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM')).toBe(true);
      // The first line names the build, for whoever reads a deployed operator's logs.
      const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
        version: string;
      };
      expect(cli.logs[0]).toMatchObject({
        msg: 'calico-vpc-operator starting',
        version,
        node: process.version,
      });
      const stopped = cli.logs.filter((l) => l.msg === 'controller stopped');
      expect(stopped.length).toBeGreaterThan(0);
      expect(stopped.every((l) => l.drained === true)).toBe(true);
      const written = await gnpCount(ns);
      expect(written).toBeLessThan(total);

      // Nothing half-done: a fresh operator finds the written GNPs correct (no update needed) and creates the rest.
      const op = await startOperator(kc, { calicoApi: 'v3' });
      operators.push(op);
      expect(await gnpCount(ns)).toBe(total);
      const writes = async (verb: string) =>
        ((await op.registry.getSingleMetric('calico_vpc_api_writes_total')?.get())?.values ?? [])
          .filter((v) => v.labels.verb === verb)
          .reduce((sum, v) => sum + v.value, 0);
      expect(await writes('create')).toBe(total - written);
      expect(await writes('update')).toBe(0);
    },
    TIMEOUT_MS,
  );

  it(
    'fails over to a standby after the leader is killed without releasing its lease',
    async () => {
      const ns = await createNamespace('sigkill');
      for (let i = 0; i < 3; i++) await policies.create(portPolicy(ns, `before-${i}`, 100 + i));
      const leaseName = 'calico-vpc-operator-leader';
      const leases = client.resource<Lease>(LEASES);
      const holder = async () =>
        (await leases.get(leaseName, { namespace: ns }).catch(() => undefined))?.spec?.holderIdentity;

      const leader = start(
        ['--leader-elect', '--leader-election-namespace', ns, '--leader-election-id', leaseName],
        { POD_NAME: 'killed-leader' },
      );
      await eventually('the child to lead', async () => (await holder()) === 'killed-leader', 120_000, 200);
      await eventually('the child to converge', async () => (await gnpCount(ns)) === 3, 60_000, 200);

      const standby = await startOperator(kc, {
        calicoApi: 'v3',
        leaderElection: {
          namespace: ns,
          name: leaseName,
          identity: 'standby',
          leaseDurationMs: 3000,
          renewDeadlineMs: 2000,
          retryPeriodMs: 500,
        },
      });
      operators.push(standby);
      const leads = async () =>
        ((await standby.registry.getSingleMetric('leader_election_master_status')?.get())?.values ?? []).some(
          (v) => v.value === 1,
        );
      expect(await leads()).toBe(false);

      leader.child.kill('SIGKILL');
      expect(await exitWithin(leader, EXIT_BOUND_MS)).toEqual({ code: null, signal: 'SIGKILL' });
      // Killed, it could not hand the lease back.
      expect(await holder()).toBe('killed-leader');
      await policies.create(portPolicy(ns, 'while-leaderless', 200));

      // The lease the child wrote lasts 15 s (the CLI default): the standby takes over after it expires.
      await eventually(
        'the standby to take over',
        async () => (await holder()) === 'standby' && (await leads()),
        60_000,
        200,
      );
      await eventually(
        'the new leader to write what changed',
        async () => (await gnpCount(ns)) === 4,
        30_000,
        200,
      );
      expect(await standby.writes()).toBe(1);
    },
    TIMEOUT_MS,
  );
});

describe('calico-vpc run never runs anywhere but where it is told', () => {
  // A home without ~/.kube (or with one naming a dead server), no KUBECONFIG, not in a pod.
  let home: string;
  const deadKubeconfig = (path: string) =>
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: dead, cluster: {server: "https://127.0.0.1:1"}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: dead, context: {cluster: dead, user: u}}]',
        'current-context: dead',
      ].join('\n'),
    );
  const env = () => ({ HOME: home, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' });
  const failsWith = async (args: string[], message: RegExp) => {
    const cli = runCli(['--log-level', 'warn', ...args], env());
    const exit = await exitWithin(cli, 60_000);
    expect({ exit, output: cli.output() }).toMatchObject({ exit: { code: 1, signal: null } });
    expect(cli.output()).toMatch(message);
    // It gave up instead of starting a local control plane behind the user's back.
    expect(cli.output()).not.toMatch(/Starting a local control plane|\[control-plane\]/);
  };

  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'calico-vpc-run-home-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it(
    'exits 1 naming the server when the kubeconfig it is given does not answer',
    async () => {
      const path = join(home, 'dead-kubeconfig');
      deadKubeconfig(path);
      await failsWith(
        ['--kubeconfig', path],
        /cannot reach the API server https:\/\/127\.0\.0\.1:1 named by .*dead-kubeconfig/,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'says which HTTPS proxy IBM Cloud calls take, without its credentials, and reaches the API server directly',
    async () => {
      const path = join(home, 'dead-kubeconfig');
      deadKubeconfig(path);
      const proxy = { HTTPS_PROXY: 'http://ops:pr0xy-s3cret@127.0.0.1:9', NO_PROXY: '.internal' };
      const cli = runCli(['--kubeconfig', path], { ...env(), ...proxy, https_proxy: '', no_proxy: '' });
      expect(await exitWithin(cli, 60_000)).toEqual({ code: 1, signal: null });
      expect(cli.logs[1]).toMatchObject({
        msg: expect.stringContaining('IBM Cloud requests go through the HTTPS proxy') as string,
        httpsProxy: 'http://127.0.0.1:9',
        noProxy: '.internal',
      });
      expect(cli.output()).not.toContain('pr0xy-s3cret');
      // The kubeconfig's server, not the proxy, is what it tried.
      expect(cli.output()).toMatch(/cannot reach the API server https:\/\/127\.0\.0\.1:1 named by/);
    },
    TIMEOUT_MS,
  );

  it(
    'exits 1 when ~/.kube/config names a server that does not answer',
    async () => {
      mkdirSync(join(home, '.kube'));
      deadKubeconfig(join(home, '.kube', 'config'));
      await failsWith([], /cannot reach the API server https:\/\/127\.0\.0\.1:1 named by ~\/\.kube\/config/);
    },
    TIMEOUT_MS,
  );

  it(
    'exits 1 when no cluster is configured and no local control plane was asked for',
    async () => {
      await failsWith([], /no cluster configured: .*--local-if-no-cluster/);
    },
    TIMEOUT_MS,
  );
});
