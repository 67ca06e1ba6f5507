/**
 * The Felix tier's environment: real Calico Felix enforcing policy on real packets, on one machine, without
 * Docker, kubelet or a CNI plugin. What is real and what stands in:
 *
 *   - real: kube-apiserver + etcd (src/controlplane/local.ts, a control plane of this environment's own), Calico's
 *     CRDs of the Felix release, Calico Felix itself (nftables dataplane) and the kernel's packet filtering.
 *   - stand-ins: kubelet and Calico's CNI plugin. A "pod" is a Pod object (spec.nodeName = Felix's node, status
 *     written through the status subresource, Calico's IP annotations) plus a network namespace wired exactly as
 *     Calico's CNI wires one (test/felix/netns.ts); its "containers" are one agent process (test/felix/agent.mjs)
 *     listening on every container port for TCP, UDP and SCTP. calico-node's start-up work is the bootstrap objects
 *     written here (ClusterInformation, tiers, IPPool, Node).
 *
 * The network, all inside namespaces this environment makes (nothing in the host's namespace, nothing leaves):
 *
 *     pod netns ──veth (cali…)──┐
 *     pod netns ──veth (cali…)──┤  "node" netns: Felix, the worker ──eth0 (uplink)── "vpc" netns (router) ──veth── VPC host netns
 *                               │  172.31.255.2/24                    172.31.255.1/24                  (e.g. a VPE gateway)
 *
 * Felix reaches the API server on the host's loopback through a relay (socat: a TCP port on the node netns's
 * loopback -> a UNIX socket -> the API server), so the kubeconfig works unchanged in both places.
 *
 * Use:
 *   const env = await startFelixEnvironment({ calicoApi: 'crd' });
 *   await env.addNamespace('ns1', { team: 'a' });
 *   const a = await env.addPod({ namespace: 'ns1', name: 'a', labels: { app: 'a' }, ports: [{ port: 80 }] });
 *   const report = await env.probe([{ from: 'ns1/b', to: 'ns1/a', protocol: 'TCP', port: 80, expect: 'allow' }]);
 *   await env.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../../src/api/kube.js';
import type { CalicoApi } from '../../src/calico/flavour.js';
import { applyObjects, findCalicoCrds, installCrds, readManifests } from '../../src/controlplane/install.js';
import { LocalControlPlane, REPO_ROOT, isAlive, killAndWait, logTail } from '../../src/controlplane/local.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient } from '../../src/kube/client.js';
import { resolveFelix, type ResolvedFelix } from './binaries.js';
import {
  NETNS_PREFIX,
  addVethPair,
  createNamespace,
  deleteNamespace,
  ipIn,
  pidsIn,
  sweepStaleNamespaces,
  sysctlIn,
  unwire,
  wireCalicoStyle,
} from './netns.js';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** Addresses of the environment's network (see the picture above). */
export const NODE_ADDRESS = '172.31.255.2';
export const ROUTER_ADDRESS = '172.31.255.1';
export const UPLINK_PREFIX_LENGTH = 24;
/** The IPPool; pods get addresses from POD_ADDRESS_BASE upwards. */
export const POD_CIDR = '10.65.0.0/16';
const POD_ADDRESS_BASE = [10, 65, 0, 10] as const;
/** The uplink's name in the node namespace: a HostEndpoint's `interfaceName` for the worker. */
export const UPLINK_INTERFACE = 'eth0';
/** The name the worker (Felix's own namespace) has in probe tables. */
export const NODE_ENDPOINT = 'node';

const FELIX_HEALTH_PORT = 9099;
const FELIX_METRICS_PORT = 9091;
const AGENT = join(REPO_ROOT, 'test', 'felix', 'agent.mjs');

export interface FelixEnvironmentOptions {
  /** Which Calico API this environment speaks: 'crd' runs Felix v3.31.7, 'v3' Felix v3.32.1 (native v3 CRDs). */
  calicoApi: CalicoApi;
  /** The Node (and FELIX_FELIXHOSTNAME). Default `felix-node`. */
  nodeName?: string;
  /** Progress lines. Default: stderr with a `[felix <tag>]` prefix. */
  log?: (line: string) => void;
}

export interface PodPort {
  port: number;
  /** A container port name (NetworkPolicies can name it). */
  name?: string;
  /** The declared protocol on the Pod spec (default TCP); the agent listens on all three either way. */
  protocol?: Protocol;
}

export interface PodInput {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  /** Container ports; the pod listens on each for TCP, UDP and (where available) SCTP. */
  ports: PodPort[];
}

export interface Endpoint {
  /** `namespace/name` for pods, `node` for the worker, the given name for VPC hosts. */
  name: string;
  kind: 'pod' | 'node' | 'vpc-host';
  netns: string;
  address: string;
  /** Ports listening for TCP, UDP and SCTP. */
  ports: number[];
}

export interface ProbeCase {
  /** An endpoint name: `namespace/name`, `node`, or a VPC host's name. */
  from: string;
  to: string;
  protocol: Protocol;
  port: number;
  expect: 'allow' | 'deny';
}

/** allow: the destination's listener answered; deny: no answer in time; refused/error: a harness problem. */
export type Observed = 'allow' | 'deny' | 'refused' | 'error' | 'skipped';

export interface ProbeResult extends ProbeCase {
  observed: Observed;
  /** Who answered (must be `to`), or why not. */
  detail: string;
  /** 1, or 2 when the first answer disagreed and the probe was repeated after a settle. */
  attempts: number;
  ok: boolean;
}

export interface ProbeReport {
  name: string;
  results: ProbeResult[];
  probes: number;
  passed: number;
  failed: number;
  /** SCTP cases where the kernel has no SCTP. */
  skipped: number;
  /** Cases whose first answer disagreed (then repeated once). */
  retried: number;
  ms: number;
  mismatches: ProbeResult[];
  /** The whole table, one line per case. */
  format(): string;
}

export interface ProbeOptions {
  /** A name for the output and the table file. */
  name?: string;
  /** Per-probe timeout (default 1000 ms): a deny costs this long. */
  timeoutMs?: number;
  /** Probes in flight at once (default 32). */
  concurrency?: number;
  /** Wait before repeating the disagreeing cases (default 1000 ms, plus a dataplane-quiet wait). */
  settleMs?: number;
}

export interface DataplaneCounters {
  messages: number;
  applies: number;
}

export interface QuietOptions {
  /** How long the counters must stand still (default 1500 ms). */
  quietMs?: number;
  /** Give up after (default 60 s): throws. */
  timeoutMs?: number;
  /** Counters read before a change: first wait (up to changeTimeoutMs, default 5 s) for them to move. */
  since?: DataplaneCounters;
  changeTimeoutMs?: number;
}

export interface FelixEnvironment {
  readonly calicoApi: CalicoApi;
  readonly felix: ResolvedFelix;
  /** Admin credentials of this environment's API server. */
  readonly kubeConfig: KubeConfig;
  readonly kubeconfigPath: string;
  readonly client: KubeClient;
  readonly nodeName: string;
  /** The worker: Felix's own namespace (source of the VPE scenario's traffic). */
  readonly node: Endpoint;
  /** Whether the kernel has SCTP (when not, SCTP cases are reported as skipped). */
  readonly sctp: boolean;
  /** Logs and probe tables; kept when the environment saw a failure. */
  readonly workDir: string;
  /** Applies objects (server-side apply, discovery by kind), in order. */
  apply(objects: readonly KubeObject[]): Promise<void>;
  addNamespace(name: string, labels?: Record<string, string>): Promise<void>;
  /** Creates the Pod object, its network namespace, veth and listeners; resolves when it answers. */
  addPod(pod: PodInput): Promise<Endpoint>;
  removePod(name: string): Promise<void>;
  /** A host behind the uplink (in the "VPC"), at `address`, listening on `ports`. */
  addVpcHost(name: string, address: string, ports: number[]): Promise<Endpoint>;
  endpoint(name: string): Endpoint;
  /** Sends one real packet exchange per case; a disagreeing case is repeated once after a settle. */
  probe(table: readonly ProbeCase[], options?: ProbeOptions): Promise<ProbeReport>;
  /** One real packet exchange, no retry, no report: for benchmarks that poll one tuple. */
  probeOnce(
    probe: Omit<ProbeCase, 'expect'>,
    timeoutMs: number,
  ): Promise<{ observed: Observed; detail: string }>;
  dataplaneCounters(): Promise<DataplaneCounters>;
  /** "Felix has applied it": its dataplane counters stand still and /readiness answers 200. */
  waitForDataplaneQuiet(options?: QuietOptions): Promise<void>;
  /** Marks the environment failed: stop() then keeps the logs. */
  noteFailure(reason: string): void;
  /** A line of output, prefixed with the Felix release. */
  log(line: string): void;
  /** Ends every process (by pid) and deletes every namespace it made; keeps logs after a failure. */
  stop(): Promise<void>;
}

export type FelixAvailability = { ok: true; felix: ResolvedFelix } | { ok: false; reason: string };

/** Whether this machine can run the Felix tier for an API, and if not, why (one line). */
export async function felixAvailability(calicoApi: CalicoApi): Promise<FelixAvailability> {
  if (process.platform !== 'linux') return { ok: false, reason: `needs Linux (this is ${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'needs root (network namespaces, Felix)' };
  for (const tool of ['ip', 'socat', 'nft', 'sysctl']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      return { ok: false, reason: `${tool} is not installed (hack/install-tools.sh installs it)` };
    }
  }
  const probeNs = `${NETNS_PREFIX}${process.pid}-check`;
  try {
    await createNamespace(probeNs);
  } catch (err) {
    return { ok: false, reason: `cannot create a network namespace: ${String(err)}` };
  } finally {
    await deleteNamespace(probeNs);
  }
  const felix = await resolveFelix(calicoApi);
  if (!felix.ok) return felix;
  return { ok: true, felix: felix.felix };
}

/** libcalico-go's VethNameForWorkload: `cali` + the first 11 hex characters of sha1("<namespace>.<pod>"). */
export function calicoVethName(namespace: string, pod: string): string {
  return `cali${createHash('sha1').update(`${namespace}.${pod}`).digest('hex').slice(0, 11)}`;
}

/** A started process whose exit we watch (its pid is what we end). */
interface Started {
  name: string;
  child: ChildProcess;
  logFile: string;
}

function startLogged(
  name: string,
  cmd: string,
  args: string[],
  logFile: string,
  env?: NodeJS.ProcessEnv,
): Started {
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: env ?? process.env, detached: true });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
  return { name, child, logFile };
}

/** One agent process in one namespace, driven over its UNIX control socket. */
class Agent {
  private socket?: Socket;
  private buffered = '';
  private nextId = 1;
  private readonly pending = new Map<number, (reply: Record<string, unknown>) => void>();

  private constructor(
    readonly process: Started,
    private readonly controlPath: string,
  ) {}

  static async start(
    netns: string,
    identity: string,
    ports: number[],
    sctp: boolean,
    dir: string,
  ): Promise<Agent> {
    if (!/^[a-z0-9./-]+$/.test(identity))
      throw new Error(`agent identity "${identity}" has unsafe characters`);
    const file = identity.replace(/\//g, '_');
    const controlPath = join(dir, `${file}.sock`);
    const started = startLogged(
      `agent ${identity}`,
      'ip',
      [
        'netns',
        'exec',
        netns,
        process.execPath,
        AGENT,
        controlPath,
        identity,
        ports.join(','),
        sctp ? '1' : '0',
      ],
      join(dir, `${file}.log`),
    );
    const agent = new Agent(started, controlPath);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await agent.connect();
        return agent;
      } catch (err) {
        if (started.child.exitCode !== null || Date.now() > deadline) {
          await killAndWait(started.child.pid!);
          throw new Error(
            `agent ${identity} in ${netns} did not start (${String(err)}); its log:\n${logTail(started.logFile)}`,
          );
        }
        await sleep(50);
      }
    }
  }

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.controlPath);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.on('error', () => undefined);
        socket.on('data', (chunk) => this.receive(chunk.toString()));
        socket.on('close', () => {
          for (const answer of this.pending.values()) answer({ error: 'agent connection closed' });
          this.pending.clear();
        });
        this.socket = socket;
        resolve();
      });
    });
  }

  private receive(chunk: string) {
    this.buffered += chunk;
    let newline = this.buffered.indexOf('\n');
    while (newline >= 0) {
      const reply = JSON.parse(this.buffered.slice(0, newline)) as Record<string, unknown> & { id: number };
      this.buffered = this.buffered.slice(newline + 1);
      newline = this.buffered.indexOf('\n');
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    }
  }

  request(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      if (!this.socket) return resolve({ error: 'agent not connected' });
      this.pending.set(id, resolve);
      this.socket.write(`${JSON.stringify({ ...body, id })}\n`);
    });
  }

  async stop(): Promise<void> {
    this.socket?.destroy();
    await killAndWait(this.process.child.pid!);
  }
}

function podAddress(index: number): string {
  const [a, b, c, d] = POD_ADDRESS_BASE;
  const n = d + index;
  return `${a}.${b}.${c + Math.floor(n / 256)}.${n % 256}`;
}

function sumMetric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
    }
  }
  return sum;
}

/** Environments not yet stopped: ended synchronously if the process exits without stop(). */
const live = new Set<{ emergencyStop(): void }>();
process.on('exit', () => {
  for (const env of live) env.emergencyStop();
});

let environmentCounter = 0;

/**
 * Starts a control plane, installs the CRDs of the Felix release for `calicoApi` (and ours), writes what
 * calico-node would have written, builds the node namespace and starts Felix in it; resolves when Felix is ready.
 * Throws if the tier cannot run here (see `felixAvailability` to skip instead).
 */
export async function startFelixEnvironment(options: FelixEnvironmentOptions): Promise<FelixEnvironment> {
  const swept = await sweepStaleNamespaces();
  const availability = await felixAvailability(options.calicoApi);
  if (!availability.ok) throw new Error(`the Felix tier cannot run here: ${availability.reason}`);
  const env = new Environment(options, availability.felix);
  if (swept.length) env.log(`removed namespaces left by earlier runs: ${swept.join(', ')}`);
  live.add(env);
  try {
    await env.start();
    return env;
  } catch (err) {
    env.noteFailure(String(err));
    await env.stop();
    throw err;
  }
}

class Environment implements FelixEnvironment {
  readonly calicoApi: CalicoApi;
  readonly nodeName: string;
  readonly workDir: string;
  readonly kubeConfig = new KubeConfig();
  kubeconfigPath = '';
  client!: KubeClient;
  sctp = false;
  readonly node: Endpoint;
  readonly log: (line: string) => void;

  private readonly id: number;
  private readonly logsDir: string;
  private readonly socketsDir: string;
  private controlPlane?: LocalControlPlane;
  private readonly processes: Started[] = [];
  private readonly agents = new Map<string, Agent>();
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly namespaces: string[] = [];
  private podCount = 0;
  private hostCount = 0;
  private felixProcess?: Started;
  private failures: string[] = [];
  private stopped = false;
  private readonly routerNetns: string;

  constructor(
    options: FelixEnvironmentOptions,
    readonly felix: ResolvedFelix,
  ) {
    this.calicoApi = options.calicoApi;
    this.nodeName = options.nodeName ?? 'felix-node';
    this.id = ++environmentCounter;
    this.log = options.log ?? ((line) => process.stderr.write(`[felix ${felix.release.tag}] ${line}\n`));
    this.workDir = mkdtempSync(join(tmpdir(), `cvo-felix-${felix.release.tag}-`));
    this.logsDir = join(this.workDir, 'logs');
    this.socketsDir = join(this.workDir, 'sockets');
    mkdirSync(this.logsDir, { recursive: true });
    mkdirSync(this.socketsDir, { recursive: true });
    this.node = {
      name: NODE_ENDPOINT,
      kind: 'node',
      netns: this.netnsName('node'),
      address: NODE_ADDRESS,
      ports: [],
    };
    this.routerNetns = this.netnsName('vpc');
  }

  private netnsName(role: string): string {
    return `${NETNS_PREFIX}${process.pid}-${this.id}-${role}`;
  }

  private makeNamespace(name: string) {
    this.namespaces.push(name);
    return createNamespace(name);
  }

  async start(): Promise<void> {
    const started = Date.now();
    const release = this.felix.release;
    this.controlPlane = await LocalControlPlane.start({
      controllerManager: false,
      workDir: join(this.workDir, 'control-plane'),
      log: () => undefined,
    });
    this.kubeconfigPath = this.controlPlane.kubeconfigPath;
    this.kubeConfig.loadFromFile(this.kubeconfigPath);
    this.client = new KubeClient(this.kubeConfig, { fieldManager: 'felix-e2e' });

    const crds = [...readManifests(join(REPO_ROOT, 'crds')), ...readManifests(this.felix.crdsDir)];
    await installCrds(this.kubeConfig, crds, 120_000);
    if (this.calicoApi === 'v3') await this.installV3AdmissionPolicies();
    await this.apply(this.bootstrapObjects());
    await this.createNode();

    await this.buildNodeNetwork();
    this.sctp = await this.detectSctp();
    if (!this.sctp) {
      this.log(
        '*** SCTP NOT TESTED: the kernel has no SCTP (the sctp module does not load here); SCTP cases are skipped ***',
      );
    }
    this.agents.set(
      NODE_ENDPOINT,
      await Agent.start(this.node.netns, NODE_ENDPOINT, [], false, this.socketsDir),
    );
    this.endpoints.set(NODE_ENDPOINT, this.node);
    await this.startFelix();
    this.log(
      `Felix ${this.felix.version} (${release.apiGroup}, binary from ${this.felix.source}) ready on kube-apiserver ` +
        `${this.controlPlane.version} in ${Date.now() - started} ms; logs in ${this.logsDir}`,
    );
  }

  private async installV3AdmissionPolicies() {
    // Calico 3.32's native v3 CRDs come with admission policies (defaulting `types`/tier, protecting the built-in
    // tiers), as installAllCrds installs them for the integration tests.
    const admission = join((await findCalicoCrds()).v3, 'admission');
    try {
      await applyObjects(this.kubeConfig, readManifests(admission));
    } catch (err) {
      this.log(
        `Calico admission policies not installed (${String(err)}); the operator writes types and tier itself`,
      );
    }
  }

  /** What calico-node (and kube-controllers) would have created: Felix waits for some of it. */
  private bootstrapObjects(): KubeObject[] {
    const apiVersion = this.calicoApi === 'v3' ? 'projectcalico.org/v3' : 'crd.projectcalico.org/v1';
    const object = (kind: string, name: string, spec: Record<string, unknown>) =>
      ({ apiVersion, kind, metadata: { name }, spec }) as KubeObject;
    return [
      object('ClusterInformation', 'default', {
        datastoreReady: true,
        calicoVersion: this.felix.release.tag,
        clusterGUID: randomBytes(16).toString('hex'),
        clusterType: 'k8s',
      }),
      object('Tier', 'default', { order: 1_000_000, defaultAction: 'Deny' }),
      object('Tier', 'adminnetworkpolicy', { order: 1000, defaultAction: 'Pass' }),
      object('Tier', 'baselineadminnetworkpolicy', { order: 10_000_000, defaultAction: 'Pass' }),
      object('IPPool', 'default-ipv4-ippool', {
        cidr: POD_CIDR,
        ipipMode: 'Never',
        vxlanMode: 'Never',
        natOutgoing: false,
        blockSize: 26,
        nodeSelector: 'all()',
      }),
    ];
  }

  private async createNode() {
    const nodes = this.client.resource<KubeObject>({
      group: '',
      version: 'v1',
      plural: 'nodes',
      namespaced: false,
      kind: 'Node',
    });
    const created = await nodes.create({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: this.nodeName,
        labels: { 'kubernetes.io/hostname': this.nodeName, 'kubernetes.io/os': 'linux' },
        annotations: { 'projectcalico.org/IPv4Address': `${NODE_ADDRESS}/${UPLINK_PREFIX_LENGTH}` },
      },
    } as KubeObject);
    const now = new Date().toISOString();
    await nodes.updateStatus({
      ...created,
      status: {
        addresses: [
          { type: 'InternalIP', address: NODE_ADDRESS },
          { type: 'Hostname', address: this.nodeName },
        ],
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'FelixE2E',
            message: 'the Felix tier stands in for kubelet',
            lastHeartbeatTime: now,
            lastTransitionTime: now,
          },
        ],
      },
    } as KubeObject);
  }

  /** The node namespace with its uplink to the "vpc" router namespace. */
  private async buildNodeNetwork() {
    const node = this.node.netns;
    const router = this.routerNetns;
    await this.makeNamespace(node);
    await this.makeNamespace(router);
    await addVethPair(node, UPLINK_INTERFACE, router);
    await ipIn(node, 'addr', 'add', `${NODE_ADDRESS}/${UPLINK_PREFIX_LENGTH}`, 'dev', UPLINK_INTERFACE);
    await ipIn(node, 'link', 'set', UPLINK_INTERFACE, 'up');
    // Proxy ARP answers only for addresses routed out of another interface: the worker needs a default route.
    await ipIn(node, 'route', 'add', 'default', 'via', ROUTER_ADDRESS);
    await ipIn(router, 'addr', 'add', `${ROUTER_ADDRESS}/${UPLINK_PREFIX_LENGTH}`, 'dev', 'eth0');
    await ipIn(router, 'link', 'set', 'eth0', 'up');
    await sysctlIn(router, { 'net.ipv4.ip_forward': 1 });
  }

  private async detectSctp(): Promise<boolean> {
    // A listening SCTP socket that stays up for half a second: the kernel has SCTP.
    const result = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        this.node.netns,
        'timeout',
        '0.5',
        'socat',
        '/dev/null',
        'SCTP-LISTEN:9,bind=127.0.0.1',
      ],
      { encoding: 'utf8' },
    );
    return result.status === 124;
  }

  private async startFelix() {
    // The relay: Felix's namespace has its own loopback; the kubeconfig names 127.0.0.1:<port> of the host's.
    const port = new URL(this.controlPlane!.state.server).port;
    const apiSocket = join(this.socketsDir, 'kube-apiserver.sock');
    this.processes.push(
      startLogged(
        'relay (host side)',
        'socat',
        [`UNIX-LISTEN:${apiSocket},fork,unlink-early`, `TCP:127.0.0.1:${port}`],
        join(this.logsDir, 'relay.log'),
      ),
      startLogged(
        'relay (node side)',
        'ip',
        [
          'netns',
          'exec',
          this.node.netns,
          'socat',
          `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`,
          `UNIX-CONNECT:${apiSocket}`,
        ],
        join(this.logsDir, 'relay.log'),
      ),
    );
    const felixEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      KUBECONFIG: this.kubeconfigPath,
      FELIX_DATASTORETYPE: 'kubernetes',
      FELIX_FELIXHOSTNAME: this.nodeName,
      FELIX_NFTABLESMODE: 'Enabled',
      FELIX_IPV6SUPPORT: 'false',
      FELIX_USAGEREPORTINGENABLED: 'false',
      FELIX_XDPENABLED: 'false',
      FELIX_BPFENABLED: 'false',
      // Without it this cgo-less build panics at start-up ("LIBBPF syscall stub"); Calico's own FV tests set it.
      FELIX_DebugSkipCTLBCleanup: 'true',
      FELIX_HEALTHENABLED: 'true',
      FELIX_HEALTHHOST: '127.0.0.1',
      FELIX_HEALTHPORT: String(FELIX_HEALTH_PORT),
      FELIX_PROMETHEUSMETRICSENABLED: 'true',
      FELIX_PROMETHEUSMETRICSHOST: '127.0.0.1',
      FELIX_PROMETHEUSMETRICSPORT: String(FELIX_METRICS_PORT),
      // One clean control port instead of the default failsafe list (which includes 6443 and others).
      FELIX_FAILSAFEINBOUNDHOSTPORTS: 'tcp:22',
      FELIX_FAILSAFEOUTBOUNDHOSTPORTS: 'tcp:22',
      FELIX_LOGSEVERITYSCREEN: 'Info',
      FELIX_LOGFILEPATH: 'none',
      FELIX_LOGSEVERITYSYS: 'none',
      FELIX_ENDPOINTSTATUSPATHPREFIX: join(this.workDir, 'felix-status'),
      ...this.felix.release.environment,
    };
    const logFile = join(this.logsDir, 'felix.log');
    this.felixProcess = startLogged(
      'felix',
      'ip',
      ['netns', 'exec', this.node.netns, this.felix.binary],
      logFile,
      felixEnv,
    );
    this.processes.push(this.felixProcess);
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (this.felixProcess.child.exitCode !== null || !isAlive(this.felixProcess.child.pid!)) {
        throw new Error(`Felix exited during start-up; last lines of ${logFile}:\n${logTail(logFile)}`);
      }
      if ((await this.felixHttp(FELIX_HEALTH_PORT, '/readiness')).status === 200) break;
      if (Date.now() > deadline) {
        throw new Error(`Felix not ready after 120 s; last lines of ${logFile}:\n${logTail(logFile)}`);
      }
      await sleep(250);
    }
  }

  private async felixHttp(port: number, path: string): Promise<{ status: number; body: string }> {
    const reply = await this.agents
      .get(NODE_ENDPOINT)!
      .request({ op: 'http', url: `http://127.0.0.1:${port}${path}`, timeoutMs: 3000 });
    return { status: Number(reply.status ?? 0), body: String(reply.body ?? reply.error ?? '') };
  }

  async apply(objects: readonly KubeObject[]): Promise<void> {
    await applyObjects(this.kubeConfig, objects);
  }

  async addNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
    await this.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } } as KubeObject]);
  }

  private pods() {
    return this.client.resource<KubeObject>({
      group: '',
      version: 'v1',
      plural: 'pods',
      namespaced: true,
      kind: 'Pod',
    });
  }

  async addPod(input: PodInput): Promise<Endpoint> {
    const name = `${input.namespace}/${input.name}`;
    if (this.endpoints.has(name)) throw new Error(`pod ${name} exists already`);
    const address = podAddress(this.podCount);
    const netns = this.netnsName(`p${this.podCount}`);
    this.podCount++;
    const ports = [...new Set(input.ports.map((p) => p.port))];

    // The network first, as kubelet runs the CNI plugin before the pod's status shows its IP.
    await this.makeNamespace(netns);
    await wireCalicoStyle({
      outerNetns: this.node.netns,
      outerName: calicoVethName(input.namespace, input.name),
      innerNetns: netns,
      address,
      outerMac: 'ee:ee:ee:ee:ee:ee',
    });
    this.agents.set(name, await Agent.start(netns, name, ports, this.sctp, this.socketsDir));

    const created = await this.pods().create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: input.name,
        namespace: input.namespace,
        labels: input.labels ?? {},
        annotations: {
          'cni.projectcalico.org/podIP': `${address}/32`,
          'cni.projectcalico.org/podIPs': `${address}/32`,
          'cni.projectcalico.org/containerID': randomBytes(32).toString('hex'),
        },
      },
      spec: {
        nodeName: this.nodeName,
        containers: [
          {
            name: 'agent',
            image: 'calico-vpc-operator/felix-e2e-agent',
            ports: input.ports.map((p) => ({
              containerPort: p.port,
              protocol: p.protocol ?? 'TCP',
              ...(p.name ? { name: p.name } : {}),
            })),
          },
        ],
        // No kubelet: never let anything evict the pod for an unreachable or not-ready node.
        tolerations: [{ operator: 'Exists' }],
      },
    } as KubeObject);
    const now = new Date().toISOString();
    await this.pods().updateStatus({
      ...created,
      status: {
        phase: 'Running',
        hostIP: NODE_ADDRESS,
        hostIPs: [{ ip: NODE_ADDRESS }],
        podIP: address,
        podIPs: [{ ip: address }],
        startTime: now,
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
      },
    } as KubeObject);
    const endpoint: Endpoint = { name, kind: 'pod', netns, address, ports };
    this.endpoints.set(name, endpoint);
    return endpoint;
  }

  async removePod(name: string): Promise<void> {
    const endpoint = this.endpoint(name);
    if (endpoint.kind !== 'pod') throw new Error(`${name} is not a pod`);
    const [namespace, pod] = name.split('/') as [string, string];
    await this.pods()
      .delete(pod, { namespace, gracePeriodSeconds: 0 })
      .catch(() => undefined);
    await this.agents.get(name)?.stop();
    this.agents.delete(name);
    await unwire(this.node.netns, calicoVethName(namespace, pod));
    await this.removeNamespace(endpoint.netns);
    this.endpoints.delete(name);
  }

  async addVpcHost(name: string, address: string, ports: number[]): Promise<Endpoint> {
    if (this.endpoints.has(name)) throw new Error(`endpoint ${name} exists already`);
    const netns = this.netnsName(`h${this.hostCount}`);
    const outerName = `vh${this.hostCount}`;
    this.hostCount++;
    await this.makeNamespace(netns);
    await wireCalicoStyle({ outerNetns: this.routerNetns, outerName, innerNetns: netns, address });
    // The router has no default route, so proxy ARP would not answer for 169.254.1.1: give it the address.
    await ipIn(this.routerNetns, 'addr', 'add', '169.254.1.1/32', 'dev', outerName, 'scope', 'link');
    this.agents.set(name, await Agent.start(netns, name, ports, this.sctp, this.socketsDir));
    const endpoint: Endpoint = { name, kind: 'vpc-host', netns, address, ports };
    this.endpoints.set(name, endpoint);
    return endpoint;
  }

  endpoint(name: string): Endpoint {
    const endpoint = this.endpoints.get(name);
    if (!endpoint)
      throw new Error(`no endpoint named ${name} (have: ${[...this.endpoints.keys()].join(', ')})`);
    return endpoint;
  }

  async probeOnce(
    probe: Omit<ProbeCase, 'expect'>,
    timeoutMs: number,
  ): Promise<{ observed: Observed; detail: string }> {
    if (probe.protocol === 'SCTP' && !this.sctp)
      return { observed: 'skipped', detail: 'no SCTP in this kernel' };
    const source = this.agents.get(probe.from);
    if (!source) throw new Error(`no endpoint named ${probe.from}`);
    const target = this.endpoint(probe.to);
    const reply = await source.request({
      op: 'probe',
      protocol: probe.protocol,
      address: target.address,
      port: probe.port,
      timeoutMs,
    });
    const observed = String(reply.observed ?? 'error') as Observed;
    if (observed === 'allow' && reply.peer !== probe.to) {
      return { observed: 'error', detail: `answered by "${String(reply.peer)}", not ${probe.to}` };
    }
    const detail =
      observed === 'allow'
        ? `${String(reply.peer)} in ${String(reply.ms)} ms`
        : String(reply.detail ?? reply.error ?? '');
    return { observed, detail };
  }

  async probe(table: readonly ProbeCase[], options: ProbeOptions = {}): Promise<ProbeReport> {
    const name = options.name ?? 'probe';
    const timeoutMs = options.timeoutMs ?? 1000;
    const queue = new PQueue({ concurrency: options.concurrency ?? 32 });
    const started = Date.now();
    for (const probe of table) {
      this.endpoint(probe.from);
      this.endpoint(probe.to);
    }
    const runAll = (cases: readonly ProbeCase[]) =>
      Promise.all(cases.map((c) => queue.add(() => this.probeOnce(c, timeoutMs))));

    const first = await runAll(table);
    const results: ProbeResult[] = table.map((c, i) => {
      const { observed, detail } = first[i]!;
      return { ...c, observed, detail, attempts: 1, ok: observed === 'skipped' || observed === c.expect };
    });
    const disagreeing = results.filter((r) => !r.ok);
    if (disagreeing.length > 0) {
      // One retry after a settle: a verdict that is still being programmed is not a mismatch yet.
      await sleep(options.settleMs ?? 1000);
      await this.waitForDataplaneQuiet().catch(() => undefined);
      const second = await runAll(disagreeing);
      disagreeing.forEach((r, i) => {
        const { observed, detail } = second[i]!;
        Object.assign(r, { observed, detail, attempts: 2, ok: observed === r.expect });
      });
    }
    const report = makeReport(name, results, Date.now() - started);
    const file = join(this.logsDir, `probes-${name.replace(/[^a-zA-Z0-9.-]+/g, '_')}.txt`);
    writeFileSync(file, report.format());
    this.log(
      `${name}: ${report.probes} probes, ${report.passed} passed, ${report.failed} failed` +
        `${report.skipped ? `, ${report.skipped} SCTP skipped` : ''}${report.retried ? ` (${report.retried} repeated after a settle)` : ''}` +
        ` in ${report.ms} ms`,
    );
    if (report.failed > 0) this.noteFailure(`${name}: ${report.failed} probe mismatches (table in ${file})`);
    return report;
  }

  async dataplaneCounters(): Promise<DataplaneCounters> {
    const { status, body } = await this.felixHttp(FELIX_METRICS_PORT, '/metrics');
    if (status !== 200) throw new Error(`Felix metrics: HTTP ${status} ${body.slice(0, 200)}`);
    return {
      messages: sumMetric(body, 'felix_int_dataplane_messages'),
      applies: sumMetric(body, 'felix_int_dataplane_apply_time_seconds_count'),
    };
  }

  async waitForDataplaneQuiet(options: QuietOptions = {}): Promise<void> {
    const quietMs = options.quietMs ?? 1500;
    const timeoutMs = options.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    const same = (a: DataplaneCounters, b: DataplaneCounters) =>
      a.messages === b.messages && a.applies === b.applies;
    if (options.since) {
      const changeDeadline = Date.now() + (options.changeTimeoutMs ?? 5000);
      while (Date.now() < changeDeadline && same(await this.dataplaneCounters(), options.since))
        await sleep(100);
    }
    let last = await this.dataplaneCounters();
    let stillSince = Date.now();
    for (;;) {
      await sleep(250);
      const now = await this.dataplaneCounters();
      if (!same(now, last)) {
        last = now;
        stillSince = Date.now();
      } else if (Date.now() - stillSince >= quietMs) {
        if ((await this.felixHttp(FELIX_HEALTH_PORT, '/readiness')).status === 200) return;
      }
      if (Date.now() > deadline) {
        this.noteFailure('Felix never went quiet');
        throw new Error(
          `Felix's dataplane did not go quiet within ${timeoutMs} ms (log: ${this.felixProcess?.logFile})`,
        );
      }
    }
  }

  noteFailure(reason: string): void {
    this.failures.push(reason);
  }

  private async removeNamespace(netns: string) {
    for (const pid of await pidsIn(netns)) {
      // Only processes this environment started live there; end any still running, by pid.
      await killAndWait(pid, 2000);
    }
    await deleteNamespace(netns);
    const i = this.namespaces.indexOf(netns);
    if (i >= 0) this.namespaces.splice(i, 1);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    live.delete(this);
    const keep = this.failures.length > 0 || process.env.CVO_KEEP_FELIX_LOGS === 'true';
    await Promise.all([...this.agents.values()].map((a) => a.stop()));
    this.agents.clear();
    // Felix first (it might still be writing), then the relays.
    for (const p of [...this.processes].reverse()) await killAndWait(p.child.pid!);
    for (const netns of [...this.namespaces].reverse()) await this.removeNamespace(netns);
    this.client?.close();
    await this.controlPlane?.stop({ keepWorkDir: keep });
    if (keep) {
      this.log(
        `kept logs of a failed run in ${this.workDir} (Felix: logs/felix.log, API server: ` +
          `control-plane/logs/kube-apiserver.log, probe tables: logs/probes-*.txt): ${this.failures.join('; ')}`,
      );
    } else {
      rmSync(this.workDir, { recursive: true, force: true });
    }
  }

  /** Synchronous last resort when the process exits without stop(): end processes, delete namespaces. */
  emergencyStop(): void {
    for (const agent of this.agents.values()) {
      try {
        process.kill(agent.process.child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const p of this.processes) {
      try {
        process.kill(p.child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const netns of this.namespaces) spawnSync('ip', ['netns', 'del', netns]);
    if (this.controlPlane) {
      const { apiServer, etcd } = this.controlPlane.state;
      for (const pid of [apiServer.pid, etcd.pid]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  }
}

function makeReport(name: string, results: ProbeResult[], ms: number): ProbeReport {
  const skipped = results.filter((r) => r.observed === 'skipped').length;
  const mismatches = results.filter((r) => !r.ok);
  return {
    name,
    results,
    probes: results.length - skipped,
    passed: results.filter((r) => r.ok && r.observed !== 'skipped').length,
    failed: mismatches.length,
    skipped,
    retried: results.filter((r) => r.attempts > 1).length,
    ms,
    mismatches,
    format: () => formatProbeTable(results),
  };
}

/** One line per case: `from -> to proto/port  expect  observed  [MISMATCH]  detail`. */
export function formatProbeTable(results: readonly ProbeResult[]): string {
  const width = (f: (r: ProbeResult) => string) => Math.max(4, ...results.map((r) => f(r).length));
  const fromW = width((r) => r.from);
  const toW = width((r) => r.to);
  const lines = results.map(
    (r) =>
      `${r.from.padEnd(fromW)} -> ${r.to.padEnd(toW)} ${`${r.protocol}/${r.port}`.padEnd(10)} expect ${r.expect.padEnd(5)} ` +
      `got ${r.observed.padEnd(7)} ${r.ok ? '  ' : '!!'} ${r.attempts > 1 ? '(repeated) ' : ''}${r.detail}`,
  );
  return `${lines.join('\n')}\n`;
}

/** Every (from, to, protocol, port) over endpoints, with the verdict `expect` gives; self-probes left out. */
export function probeMatrix(
  from: readonly Endpoint[],
  to: readonly Endpoint[],
  protocols: readonly Protocol[],
  expect: (from: Endpoint, to: Endpoint, protocol: Protocol, port: number) => 'allow' | 'deny',
): ProbeCase[] {
  const table: ProbeCase[] = [];
  for (const src of from) {
    for (const dst of to) {
      if (src.name === dst.name) continue;
      for (const port of dst.ports) {
        for (const protocol of protocols) {
          table.push({
            from: src.name,
            to: dst.name,
            protocol,
            port,
            expect: expect(src, dst, protocol, port),
          });
        }
      }
    }
  }
  return table;
}
