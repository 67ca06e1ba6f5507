/**
 * Fault tests of the real operator (in-process) against a control plane of this file's own: the API server
 * restarted in the middle of reconciling, a watch that comes back to an expired resourceVersion (a real 410), a
 * write that loses an optimistic-concurrency race (a real 409), a flood of events on one key, and two replicas
 * with leader election.
 *
 * Where a fault must hit at an exact moment, the operator talks to the API server through FaultProxy, a plain
 * HTTP reverse proxy in this process that can hold chosen requests, refuse watches and cut open ones. Everything
 * the operator then sees — connection resets, 409s, 410s — comes from the real API server and etcd; the proxy
 * only decides when.
 *
 * The control plane runs without the watch cache and compacts etcd every 2 s, so a watch that resumes from a
 * resourceVersion a few seconds old gets a real 410 from etcd.
 */
import http from 'node:http';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import type { Namespace, NetworkPolicy } from '../../src/api/kube.js';
import type { LocalControlPlane } from '../../src/controlplane/local.js';
import { KubeClient } from '../../src/kube/client.js';
import type { ResourceClient } from '../../src/kube/resource.js';
import { isGone } from '../../src/kube/errors.js';
import { LEASES } from '../../src/kube/resources.js';
import { type Lease } from '../../src/kube/leader.js';
import { Registry } from '../../src/observability/metrics.js';
import { gnpNameForNetworkPolicy } from '../../src/translate/names.js';
import { eventually, startDedicatedControlPlane, uniqueName } from './harness.js';
import { expectedGnp, gnpClient, portPolicy, startOperator, type RunningOperator } from './operator.js';

// The integration project's testTimeout does not reach tests (jest ignores it inside `projects`).
const TIMEOUT_MS = 180_000;
const NP_INFORMER = 'networkpolicies.networking.k8s.io';
const GNP_PATH = '/apis/projectcalico.org/v3/globalnetworkpolicies';

// Restarting the API server needs a control plane of our own; against an existing cluster there is none.
const describeLocal = process.env.USE_EXISTING_CLUSTER === 'true' ? describe.skip : describe;

/** Sum of a metric's values whose labels include `labels`. */
async function metric(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  return values
    .filter((v) => Object.entries(labels).every(([k, value]) => String(v.labels[k]) === value))
    .reduce((sum, v) => sum + v.value, 0);
}

/** Runs `task` over `items` with at most `limit` in flight. */
async function inParallel<T>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await task(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

interface Hold {
  /** Requests waiting in the proxy now. */
  held(): number;
  /** Of the requests let through before holding began: how many are in flight, got a 2xx, or failed. */
  passed(): { inFlight: number; succeeded: number; failed: number; total: number };
  /** Lets the waiting requests (and every later one) through. */
  release(): void;
}

interface HoldRule {
  matches(method: string, path: string): boolean;
  passFirst: number;
  passed: number;
  passedInFlight: number;
  passedSucceeded: number;
  passedFailed: number;
  waiting: (() => void)[];
  released: boolean;
}

/** A reverse proxy from plain HTTP on 127.0.0.1 to the API server, with faults on demand. */
class FaultProxy {
  private readonly rules = new Set<HoldRule>();
  private readonly openWatches = new Set<{ path: string; close: () => void }>();
  /** While it returns true for a watch's path, such watches are refused (the connection is reset). */
  refuseWatches: ((path: string) => boolean) | undefined;

  private constructor(
    private readonly server: http.Server,
    private readonly upstream: URL,
    private readonly agent: https.Agent,
    private readonly user: NonNullable<ReturnType<KubeConfig['getCurrentUser']>>,
  ) {}

  static async start(kc: KubeConfig): Promise<FaultProxy> {
    const cluster = kc.getCurrentCluster();
    const user = kc.getCurrentUser();
    if (!cluster || !user) throw new Error('kubeconfig without a current cluster and user');
    const agent = new https.Agent({
      keepAlive: true,
      ca: cluster.caData ? Buffer.from(cluster.caData, 'base64') : undefined,
      rejectUnauthorized: !cluster.skipTLSVerify,
    });
    const server = http.createServer();
    const proxy = new FaultProxy(server, new URL(cluster.server), agent, user);
    server.on('request', (req, res) => void proxy.forward(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** A kubeconfig that reaches the API server through this proxy, with the same credentials. */
  kubeConfig(): KubeConfig {
    const { port } = this.server.address() as { port: number };
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'proxy', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [this.user],
      contexts: [{ name: 'proxy', cluster: 'proxy', user: this.user.name }],
      currentContext: 'proxy',
    });
    return kc;
  }

  /**
   * Holds matching requests, until released, once `passFirst` of them have succeeded. Until then they pass, no
   * more at once than the successes still missing. A request let through that fails frees its place, so its retry
   * passes: right after CRDs are installed the API server answers some writes of their kinds 503 for a while ("Resource
   * kind ... not found. There can be a delay between when CustomResourceDefinitions are created and when they are
   * available"), even after an earlier write of the kind succeeded, and such a window once took all the places.
   */
  hold(matches: (method: string, path: string) => boolean, passFirst = 0): Hold {
    const rule: HoldRule = {
      matches,
      passFirst,
      passed: 0,
      passedInFlight: 0,
      passedSucceeded: 0,
      passedFailed: 0,
      waiting: [],
      released: false,
    };
    this.rules.add(rule);
    return {
      held: () => rule.waiting.length,
      passed: () => ({
        inFlight: rule.passedInFlight,
        succeeded: rule.passedSucceeded,
        failed: rule.passedFailed,
        total: rule.passed,
      }),
      release: () => {
        rule.released = true;
        this.rules.delete(rule);
        for (const go of rule.waiting.splice(0)) go();
      },
    };
  }

  /** Resets every open watch whose path matches, as a broken connection would. */
  cutWatches(matches: (path: string) => boolean): number {
    let cut = 0;
    for (const watch of [...this.openWatches]) {
      if (matches(watch.path)) {
        watch.close();
        cut++;
      }
    }
    return cut;
  }

  async close(): Promise<void> {
    for (const rule of this.rules) for (const go of rule.waiting.splice(0)) go();
    this.cutWatches(() => true);
    this.agent.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async forward(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    for (const rule of this.rules) {
      if (rule.released || !rule.matches(method, path)) continue;
      if (rule.passedSucceeded + rule.passedInFlight < rule.passFirst) {
        rule.passed++;
        // Followed to its end: a request let through can still fail (a 503, a client timeout on a loaded machine),
        // so "let through" and "succeeded" are different counts.
        rule.passedInFlight++;
        let settled = false;
        const settle = (ok: boolean) => {
          if (settled) return;
          settled = true;
          rule.passedInFlight--;
          if (ok) rule.passedSucceeded++;
          else rule.passedFailed++;
        };
        res.on('finish', () => settle(res.statusCode >= 200 && res.statusCode < 300));
        res.on('close', () => settle(false));
        continue;
      }
      await new Promise<void>((resolve) => rule.waiting.push(resolve));
      // The client gave up while it was held: a real network would have dropped it too.
      if (req.socket.destroyed) return;
    }
    const isWatch = /[?&]watch=(true|1)(&|$)/.test(path);
    if (isWatch && this.refuseWatches?.(path)) {
      req.socket.destroy();
      return;
    }
    const upstream = https.request(new URL(path, this.upstream), {
      method,
      agent: this.agent,
      headers: { ...req.headers, host: this.upstream.host },
    });
    // A failed upstream (the API server is down) looks to the client like a reset connection.
    const reset = () => {
      upstream.destroy();
      res.destroy();
    };
    upstream.on('error', reset);
    upstream.on('response', (response) => {
      res.writeHead(response.statusCode ?? 502, response.headers);
      response.pipe(res);
      response.on('error', reset);
      if (isWatch) {
        const watch = { path, close: reset };
        this.openWatches.add(watch);
        res.on('close', () => this.openWatches.delete(watch));
      }
    });
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  }
}

describeLocal('operator fault tests (dedicated control plane)', () => {
  let cp: LocalControlPlane;
  let kc: KubeConfig;
  let client: KubeClient;
  let policies: ResourceClient<NetworkPolicy>;
  let gnps: ReturnType<typeof gnpClient>;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    const started = await startDedicatedControlPlane({
      extraApiServerArgs: ['--watch-cache=false', '--etcd-compaction-interval=2s'],
    });
    if (!started) throw new Error('unreachable: skipped above');
    ({ cp, kc } = started);
    client = new KubeClient(kc, { registry: new Registry() });
    policies = client.resource<NetworkPolicy>({
      group: 'networking.k8s.io',
      version: 'v1',
      plural: 'networkpolicies',
      namespaced: true,
      kind: 'NetworkPolicy',
    });
    gnps = gnpClient(kc, 'v3');
    // Established is not served: for a moment after it, the API server still answers 503 for a new CRD's
    // objects, and the tests below count requests exactly.
    await eventually(
      'the GlobalNetworkPolicy API to accept writes',
      () =>
        gnps.resource
          .create(
            {
              apiVersion: 'projectcalico.org/v3',
              kind: 'GlobalNetworkPolicy',
              metadata: { name: 'served' },
              spec: { selector: 'all()' },
            },
            { dryRun: true },
          )
          .then(() => true),
      60_000,
      200,
    );
  }, 180_000);

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  }, TIMEOUT_MS);

  afterAll(async () => {
    client?.close();
    gnps?.client.close();
    await cp?.stop();
  }, TIMEOUT_MS);

  async function createNamespace(prefix: string): Promise<string> {
    const name = uniqueName(prefix);
    await client
      .resource<Namespace>({
        group: '',
        version: 'v1',
        plural: 'namespaces',
        namespaced: false,
        kind: 'Namespace',
      })
      .create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    return name;
  }

  async function proxy(): Promise<FaultProxy> {
    const p = await FaultProxy.start(kc);
    cleanups.push(() => p.close());
    return p;
  }

  async function operator(kubeConfig: KubeConfig, options: Parameters<typeof startOperator>[1] = {}) {
    const op = await startOperator(kubeConfig, { calicoApi: 'v3', ...options });
    cleanups.push(() => op.stop());
    return op;
  }

  const gnpName = (ns: string, name: string) => gnpNameForNetworkPolicy(ns, name);

  /** The namespace's GNPs as the API server has them, by source policy name. */
  async function gnpsOf(ns: string) {
    const managed = await gnps.managed();
    return new Map(
      [...managed.values()]
        .filter((g) => g.metadata.labels?.['calico-vpc.io/networkpolicy-namespace'] === ns)
        .map((g) => [g.metadata.annotations?.['calico-vpc.io/networkpolicy-name'] ?? '', g]),
    );
  }

  /**
   * Every policy of the namespace has exactly its expected GNP, and no GNP is left without a policy. Throws with
   * the difference, so a timed-out `eventually` says what was still wrong.
   */
  async function converged(ns: string): Promise<true> {
    const [{ items }, live] = await Promise.all([policies.listAll({ namespace: ns }), gnpsOf(ns)]);
    const actual = Object.fromEntries([...live].map(([name, gnp]) => [name, gnp.spec]));
    const expected = Object.fromEntries(items.map((np) => [np.metadata.name, expectedGnp(np, 'v3').spec]));
    expect(actual).toEqual(expected);
    return true;
  }

  it(
    'converges after the API server restarts in the middle of reconciling 200 policies, without restarting itself',
    async () => {
      const faults = await proxy();
      const op = await operator(faults.kubeConfig());
      let exited = false;
      void op.operator.done.then(() => (exited = true));
      const ns = await createNamespace('restart');
      // 50 GNP creates go through; the rest wait in the proxy, so the restart lands mid-way for certain.
      const creates = faults.hold((method, path) => method === 'POST' && path.startsWith(GNP_PATH), 50);
      const names = Array.from({ length: 200 }, (_, i) => `np-${i}`);
      await inParallel(names, 20, (name, i) => policies.create(portPolicy(ns, name, 1000 + i)));
      await eventually('the operator blocked on a GNP create', () => creates.held() > 0, 60_000);
      await eventually('50 creates let through to succeed', () => {
        const passed = creates.passed();
        return passed.succeeded === 50 && passed.inFlight === 0;
      });
      const { failed } = creates.passed();
      const before = await eventually('the 50 GNPs created', async () => {
        const live = await gnpsOf(ns);
        expect(live.size).toBe(50);
        return live;
      });
      // Change and delete policies whose GNPs exist, so the writes needed are known exactly.
      const [toChange, toDelete] = [...before.keys()] as [string, string];

      await cp.stopApiServer();
      // The held creates now meet a dead API server: their connections are reset.
      creates.release();
      await eventually(
        'a reconcile to fail against the stopped API server',
        async () =>
          (await metric(op.registry, 'controller_runtime_reconcile_errors_total', {
            controller: 'networkpolicy',
          })) > 0,
      );
      await cp.startApiServer();

      // Changes after the restart reach the operator through its resumed (or relisted) watches.
      const changed = await policies.get(toChange, { namespace: ns });
      changed.spec.ingress = [{ ports: [{ port: 4242 }] }];
      await policies.update(changed);
      await policies.delete(toDelete, { namespace: ns });
      await eventually('all 199 GNPs as their policies say', () => converged(ns), 120_000, 500);
      expect((await gnpsOf(ns)).get(toChange)?.spec.ingress?.[0]?.destination?.ports).toEqual([4242]);

      expect(exited).toBe(false);
      expect(op.operator.ready()).toBe(true);
      expect(
        await metric(op.registry, 'calico_vpc_informer_watch_restarts_total', { informer: NP_INFORMER }),
      ).toBeGreaterThanOrEqual(1);
      // Exactly the writes needed: the creates that failed while the API server was down never reached it.
      // (A create let through that failed only on the client's side may have been stored: its retry then finds
      // the GNP and writes nothing, so such creates count at most once each.)
      const creates200 = await metric(op.registry, 'calico_vpc_api_writes_total', { verb: 'create' });
      expect(creates200).toBeLessThanOrEqual(200);
      expect(creates200).toBeGreaterThanOrEqual(200 - failed);
      expect(await metric(op.registry, 'calico_vpc_api_writes_total', { verb: 'update' })).toBe(1);
      expect(await metric(op.registry, 'calico_vpc_api_writes_total', { verb: 'delete' })).toBe(1);
    },
    TIMEOUT_MS,
  );

  it(
    'relists after its watch position was compacted away (a real 410) and converges on what changed meanwhile',
    async () => {
      const faults = await proxy();
      const op = await operator(faults.kubeConfig());
      const ns = await createNamespace('gone');
      for (const [i, name] of ['keep', 'change', 'remove'].entries())
        await policies.create(portPolicy(ns, name, 100 + i));
      await eventually('initial convergence', () => converged(ns), 90_000, 200);
      expect(
        await metric(op.registry, 'calico_vpc_informer_relists_total', {
          informer: NP_INFORMER,
          reason: 'expired',
        }),
      ).toBe(0);

      const isNpWatch = (path: string) => path.startsWith('/apis/networking.k8s.io/v1/networkpolicies?');
      faults.refuseWatches = isNpWatch;
      faults.cutWatches(isNpWatch);
      // At or after the operator's last position: once etcd has compacted past this, its position is gone too.
      const position = (await policies.list({ limit: 1 })).metadata.resourceVersion ?? '';

      const changed = await policies.get('change', { namespace: ns });
      changed.spec.ingress = [{ ports: [{ port: 9000, endPort: 9100 }] }];
      await policies.update(changed);
      await policies.delete('remove', { namespace: ns });
      await policies.create(portPolicy(ns, 'late', 7000));
      await eventually(
        'etcd to compact past the watch position',
        async () => {
          try {
            for await (const _ of policies.watch({ resourceVersion: position, timeoutSeconds: 1 })) void _;
          } catch (err) {
            return isGone(err);
          }
          return false;
        },
        60_000,
        500,
      );
      // While partitioned it saw none of it.
      expect((await gnpsOf(ns)).has('remove')).toBe(true);

      faults.refuseWatches = undefined;
      await eventually('convergence after the relist', () => converged(ns), 60_000, 200);
      expect(
        await metric(op.registry, 'calico_vpc_informer_relists_total', {
          informer: NP_INFORMER,
          reason: 'expired',
        }),
      ).toBeGreaterThanOrEqual(1);
      expect(
        await metric(op.registry, 'calico_vpc_informer_watch_restarts_total', {
          informer: NP_INFORMER,
          reason: 'expired',
        }),
      ).toBeGreaterThanOrEqual(1);
    },
    TIMEOUT_MS,
  );

  it(
    'retries an update that lost a race with a concurrent edit of its GNP (a real 409), keeping the other edit',
    async () => {
      const faults = await proxy();
      const op = await operator(faults.kubeConfig());
      const ns = await createNamespace('conflict');
      await policies.create(portPolicy(ns, 'raced', 80));
      const name = gnpName(ns, 'raced');
      await eventually('the GNP', () => gnps.get(name));

      // The operator's update waits in the proxy, carrying the resourceVersion it read from its cache...
      const update = faults.hold(
        (method, path) => method === 'PUT' && path.startsWith(`${GNP_PATH}/${name}`),
      );
      const np = await policies.get('raced', { namespace: ns });
      np.spec.ingress = [{ ports: [{ port: 443 }] }];
      await policies.update(np);
      await eventually('the operator to send its update', () => update.held() === 1);
      // ...someone else edits the GNP meanwhile...
      await gnps.resource.patch(
        name,
        { metadata: { annotations: { 'example.com/audited': 'yes' } } },
        { type: 'merge' },
      );
      // ...so the API server refuses the operator's stale write.
      update.release();

      await eventually('the GNP updated after the retry', async () => {
        const live = await gnps.get(name);
        expect(live?.spec).toEqual(expectedGnp(np, 'v3').spec);
        return live;
      });
      expect(
        await metric(op.registry, 'rest_client_requests_total', { code: '409', method: 'PUT' }),
      ).toBeGreaterThanOrEqual(1);
      expect(
        await metric(op.registry, 'controller_runtime_reconcile_errors_total', {
          controller: 'networkpolicy',
        }),
      ).toBeGreaterThanOrEqual(1);
      expect(await metric(op.registry, 'calico_vpc_api_writes_total', { verb: 'update' })).toBe(1);
      // The other writer's change survived ours.
      expect((await gnps.get(name))?.metadata.annotations?.['example.com/audited']).toBe('yes');
    },
    TIMEOUT_MS,
  );

  it(
    'coalesces 1000 updates of one policy into a handful of reconciles',
    async () => {
      const faults = await proxy();
      const op = await operator(faults.kubeConfig());
      const ns = await createNamespace('flood');
      await policies.create(portPolicy(ns, 'hot', 1));
      const name = gnpName(ns, 'hot');
      await eventually('the GNP', () => gnps.get(name));

      // Keep the key in flight (its GNP write held) while the whole flood arrives: every event must then fold
      // into the single re-queue the work queue keeps for a key that is being processed.
      const writes = faults.hold(
        (method, path) => method === 'PUT' && path.startsWith(`${GNP_PATH}/${name}`),
      );
      await policies.patch(
        'hot',
        { spec: { ingress: [{ ports: [{ port: 2 }] }] } },
        { type: 'merge', namespace: ns },
      );
      await eventually('the reconcile to be in flight', () => writes.held() === 1);
      const reconcilesBefore = await metric(op.registry, 'controller_runtime_reconcile_total', {
        controller: 'networkpolicy',
      });
      const eventsBefore = await metric(op.registry, 'calico_vpc_informer_watch_events_total', {
        informer: NP_INFORMER,
        type: 'MODIFIED',
      });

      const updates = 1000;
      const ports = Array.from({ length: updates - 1 }, (_, i) => 3 + i);
      await inParallel(ports, 25, (port) =>
        policies.patch(
          'hot',
          { spec: { ingress: [{ ports: [{ port }] }] } },
          { type: 'merge', namespace: ns },
        ),
      );
      // The last one alone, so its value is the final state.
      await policies.patch(
        'hot',
        { spec: { ingress: [{ ports: [{ port: 9999 }] }] } },
        { type: 'merge', namespace: ns },
      );
      await eventually(
        'the operator to have seen every update',
        async () =>
          (await metric(op.registry, 'calico_vpc_informer_watch_events_total', {
            informer: NP_INFORMER,
            type: 'MODIFIED',
          })) -
            eventsBefore >=
          updates,
        60_000,
        200,
      );
      writes.release();

      await eventually(
        'the final state written',
        async () => (await gnps.get(name))?.spec.ingress?.[0]?.destination?.ports?.[0] === 9999,
      );
      await eventually(
        'the queue to be empty',
        async () => (await metric(op.registry, 'workqueue_depth', { name: 'networkpolicy' })) === 0,
      );
      const reconciles =
        (await metric(op.registry, 'controller_runtime_reconcile_total', { controller: 'networkpolicy' })) -
        reconcilesBefore;
      // The one in flight, the one re-queue for all 1000 events, then a few for the echoes of its own GNP writes
      // (and a retry if the first write after the flood raced its cache): a handful, whatever the timing.
      expect(reconciles).toBeGreaterThanOrEqual(2);
      expect(reconciles).toBeLessThan(10);
    },
    TIMEOUT_MS,
  );

  it(
    'with two replicas, exactly one writes, and the other takes over when the leader stops',
    async () => {
      const ns = await createNamespace('ha');
      for (let i = 0; i < 10; i++) await policies.create(portPolicy(ns, `before-${i}`, 100 + i));
      const leaderElection = (identity: string) => ({
        namespace: ns,
        name: 'calico-vpc-operator-leader',
        identity,
        leaseDurationMs: 3000,
        renewDeadlineMs: 2000,
        retryPeriodMs: 300,
      });
      const leads = async (op: RunningOperator) =>
        (await metric(op.registry, 'leader_election_master_status')) === 1;
      const a = await operator(kc, { leaderElection: leaderElection('replica-a') });
      await eventually('replica-a to lead', () => leads(a));
      const b = await operator(kc, { leaderElection: leaderElection('replica-b') });
      await eventually('the leader to converge', () => converged(ns), 90_000, 200);
      expect(await leads(b)).toBe(false);
      expect(b.operator.ready()).toBe(true);

      for (let i = 0; i < 5; i++) await policies.create(portPolicy(ns, `while-both-${i}`, 200 + i));
      await eventually('convergence with both running', () => converged(ns), 90_000, 200);
      // Exactly the writes one operator needs: one create per policy, none by the standby.
      expect(await a.writes()).toBe(15);
      expect(await b.writes()).toBe(0);

      await a.stop();
      await eventually('replica-b to take over', () => leads(b), 90_000);
      const lease = await client.resource<Lease>(LEASES).get('calico-vpc-operator-leader', { namespace: ns });
      expect(lease.spec?.holderIdentity).toBe('replica-b');
      await eventually('replica-b ready as leader', () => b.operator.ready() === true);
      expect(await b.writes()).toBe(0);

      for (let i = 0; i < 3; i++) await policies.create(portPolicy(ns, `after-${i}`, 300 + i));
      await policies.delete('before-0', { namespace: ns });
      await eventually('convergence by the new leader', () => converged(ns), 90_000, 200);
      expect(await b.writes()).toBe(4);
      expect(await a.writes()).toBe(15);
    },
    TIMEOUT_MS,
  );
});
