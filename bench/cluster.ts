/**
 * The benchmark's cluster: a fresh local control plane with our CRDs and Calico's projectcalico.org/v3 CRDs, the
 * generated namespaces and NetworkPolicies written into it, the GNPs they must become, and a watch that says when
 * the GNPs in the cluster are exactly those.
 */
import { performance } from 'node:perf_hooks';
import { KubeConfig } from '@kubernetes/client-node';
import type { Namespace, NetworkPolicy } from '../src/api/kube.js';
import { policyDifferences } from '../src/calico/compare.js';
import { toWire } from '../src/calico/flavour.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, type GlobalNetworkPolicy } from '../src/calico/types.js';
import { installAllCrds } from '../src/controlplane/install.js';
import { LocalControlPlane } from '../src/controlplane/local.js';
import { formatFieldError } from '../src/api/errors.js';
import { translateNetworkPolicy } from '../src/translate/networkpolicy.js';
import { BenchApi, HttpError, type ListedObject, type WatchEventType } from './kube.js';
import { mapConcurrent } from './stats.js';

export const GNP_PATH = '/apis/projectcalico.org/v3/globalnetworkpolicies';
export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
/** Writes carry the operator's field manager, so the floor's objects cost the server what the operator's do. */
export const FIELD_MANAGER_QUERY = 'fieldManager=calico-vpc-operator';
/** Concurrency for setting the stage (namespaces, policies, cleanup): not measured, just fast. */
const SETUP_CONCURRENCY = 32;

export type Log = (line: string) => void;

export interface BenchCluster {
  controlPlane: LocalControlPlane;
  api: BenchApi;
  kubeconfig: string;
  version: string;
  stop(): Promise<void>;
}

export async function startCluster(log: Log): Promise<BenchCluster> {
  const started = performance.now();
  const controlPlane = await LocalControlPlane.start({
    // Namespaces are never deleted (each size gets a fresh control plane): no controller-manager competing for CPU.
    controllerManager: false,
    log: (line) => log(`[control-plane] ${line}`),
  });
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(controlPlane.kubeconfigPath);
    await installAllCrds(kc, { calico: ['v3'] });
    const api = await BenchApi.fromKubeconfig(controlPlane.kubeconfigPath);
    await waitGnpsServed(api);
    log(
      `control plane ${controlPlane.version} ready in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    return {
      controlPlane,
      api,
      kubeconfig: controlPlane.kubeconfigPath,
      version: controlPlane.version,
      stop: async () => {
        api.close();
        await controlPlane.stop();
      },
    };
  } catch (err) {
    await controlPlane.stop({ keepWorkDir: true });
    throw err;
  }
}

/**
 * An Established CRD is not yet served everywhere (its storage and handler come up a moment later): a dry-run
 * create of a GNP is retried until it succeeds, so no measured write meets that delay.
 */
async function waitGnpsServed(api: BenchApi, timeoutMs = 120_000): Promise<void> {
  const probe = {
    apiVersion: 'projectcalico.org/v3',
    kind: 'GlobalNetworkPolicy',
    metadata: { name: 'bench-probe' },
    spec: { selector: 'all()', types: ['Ingress'] },
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await api.request('POST', `${GNP_PATH}?dryRun=All`, probe);
      await api.listAll(GNP_PATH, MANAGED_SELECTOR);
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`GlobalNetworkPolicies not served after ${timeoutMs} ms: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export function networkPolicyPath(namespace: string, name?: string): string {
  const collection = `/apis/networking.k8s.io/v1/namespaces/${namespace}/networkpolicies`;
  return name === undefined ? collection : `${collection}/${name}`;
}

/** Creates the namespaces, then the policies, concurrently. */
export async function populate(
  api: BenchApi,
  namespaces: readonly Namespace[],
  policies: readonly NetworkPolicy[],
  log: Log,
): Promise<void> {
  const started = performance.now();
  await mapConcurrent(namespaces, SETUP_CONCURRENCY, (ns) => api.request('POST', '/api/v1/namespaces', ns));
  await mapConcurrent(policies, SETUP_CONCURRENCY, (np) =>
    api.request('POST', networkPolicyPath(np.metadata.namespace as string), np),
  );
  const seconds = (performance.now() - started) / 1000;
  log(
    `created ${namespaces.length} namespaces and ${policies.length} NetworkPolicies in ${seconds.toFixed(1)} s`,
  );
}

/** The GNP each policy must become, as stored in projectcalico.org/v3, by stored name. */
export function expectedGnps(policies: readonly NetworkPolicy[]): Map<string, GlobalNetworkPolicy> {
  const expected = new Map<string, GlobalNetworkPolicy>();
  for (const np of policies) {
    const gnp = expectedGnp(np);
    if (expected.has(gnp.metadata.name))
      throw new Error(`two policies translate to GNP ${gnp.metadata.name}`);
    expected.set(gnp.metadata.name, gnp);
  }
  return expected;
}

export function expectedGnp(np: NetworkPolicy): GlobalNetworkPolicy {
  const result = translateNetworkPolicy(np);
  if (!result.ok) {
    throw new Error(
      `${np.metadata.namespace}/${np.metadata.name} does not translate: ${result.errors.map(formatFieldError).join('; ')}`,
    );
  }
  return toWire(result.policy, 'v3');
}

/** Deletes every managed GNP and waits until none is listed (bounded). */
export async function deleteManagedGnps(api: BenchApi, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { items } = await api.listAll(GNP_PATH, MANAGED_SELECTOR);
    if (items.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(`${items.length} managed GNPs still listed after ${timeoutMs} ms`);
    await mapConcurrent(items, SETUP_CONCURRENCY, (item) =>
      api.request('DELETE', `${GNP_PATH}/${item.metadata.name}`).catch((err: unknown) => {
        if (!(err instanceof HttpError && err.status === 404)) throw err;
      }),
    );
  }
}

interface Observed {
  object: ListedObject;
  arrivedAt: number;
}

interface Waiter {
  done(): number | undefined;
  resolve(at: number): void;
}

/**
 * Watches the managed GNPs and compares them with the expected ones (policyDifferences: the operator's own notion
 * of "nothing to write", so Calico's defaulting is not mistaken for a difference).
 *
 * Comparison is deferred to a batch after the watch's events are taken in, so that under load the arrival times
 * (taken as each chunk is read) are not delayed by the checking; a GNP's time is the arrival of the event that
 * brought its current, correct state.
 */
export class GnpTracker {
  private readonly live = new Map<string, Observed>();
  private readonly correct = new Set<string>();
  private readonly dirty = new Set<string>();
  private waiters: Waiter[] = [];
  private readonly abort = new AbortController();
  private watching: Promise<void> | undefined;
  /** Times the server ended the watch and it was resumed. */
  watchRestarts = 0;
  private failure: Error | undefined;
  private scheduled = false;
  /** Watch events (not counting bookmarks) since the tracker started. */
  changes = 0;
  readonly changedNames = new Set<string>();

  constructor(
    private readonly api: BenchApi,
    private readonly expected: Map<string, GlobalNetworkPolicy>,
  ) {}

  /** Lists what exists now (not counted as changes) and watches from there. */
  async start(): Promise<void> {
    const { items, resourceVersion } = await this.api.listAll(GNP_PATH, MANAGED_SELECTOR);
    const now = performance.now();
    for (const object of items) this.record(object, now);
    this.evaluate();
    this.watching = this.watchFrom(resourceVersion).catch((err: unknown) =>
      this.fail(err instanceof Error ? err : new Error(String(err))),
    );
  }

  /**
   * Watches from `resourceVersion`, and again from the last version seen whenever the server ends the stream: an
   * API server on a loaded machine closes watchers that fall behind, and that is no failure of the controller. An
   * expired version (410) or any other error fails the tracker.
   */
  private async watchFrom(resourceVersion: string): Promise<void> {
    let from = resourceVersion;
    while (!this.abort.signal.aborted) {
      await this.api.watch(
        GNP_PATH,
        { resourceVersion: from, labelSelector: MANAGED_SELECTOR, signal: this.abort.signal },
        (type, object, at) => {
          from = object.metadata.resourceVersion ?? from;
          this.onEvent(type, object, at);
        },
      );
      if (this.abort.signal.aborted) break;
      this.watchRestarts++;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.watching;
  }

  get correctCount(): number {
    return this.correct.size;
  }

  get unexpectedCount(): number {
    let count = 0;
    for (const name of this.live.keys()) if (!this.expected.has(name)) count++;
    return count;
  }

  /** When the first GNP event arrived after start() (undefined before any): the controller's startup cost. */
  firstChangeAt: number | undefined;

  get liveCount(): number {
    return this.live.size;
  }

  /** The first mismatching expected GNPs and what differs, for error messages. */
  describeMismatches(limit = 3): string {
    const lines: string[] = [];
    for (const [name, gnp] of this.expected) {
      if (this.correct.has(name)) continue;
      const live = this.live.get(name);
      lines.push(
        live
          ? `${name}: differs in ${policyDifferences(gnp, live.object as unknown as GlobalNetworkPolicy).join(', ')}`
          : `${name}: missing`,
      );
      if (lines.length >= limit) break;
    }
    return lines.join('; ');
  }

  /** Changes what one GNP must be (the latency benchmark's edits). */
  setExpected(name: string, gnp: GlobalNetworkPolicy): void {
    this.expected.set(name, gnp);
    this.dirty.add(name);
    this.evaluate();
  }

  /**
   * Resolves with the moment every expected GNP was observed correct with no other managed GNP present; rejects
   * after timeoutMs, or as soon as `abortIf` returns a reason (the controller died).
   */
  waitAllCorrect(timeoutMs: number, abortIf?: () => string | undefined): Promise<number> {
    return this.wait(
      () => {
        if (this.correct.size !== this.expected.size || this.live.size !== this.expected.size)
          return undefined;
        let latest = 0;
        for (const name of this.expected.keys())
          latest = Math.max(latest, this.live.get(name)?.arrivedAt ?? 0);
        return latest;
      },
      timeoutMs,
      () =>
        `${this.correct.size}/${this.expected.size} GNPs correct, ${this.unexpectedCount} unexpected; ${this.describeMismatches()}`,
      abortIf,
    );
  }

  /** Resolves with the arrival time of the event that made GNP `name` equal to its expected form. */
  waitCorrect(name: string, timeoutMs: number, abortIf?: () => string | undefined): Promise<number> {
    return this.wait(
      () => (this.correct.has(name) ? this.live.get(name)?.arrivedAt : undefined),
      timeoutMs,
      () => `GNP ${name} not correct: ${this.describeMismatches(1)}`,
      abortIf,
    );
  }

  private wait(
    done: () => number | undefined,
    timeoutMs: number,
    describe: () => string,
    abortIf?: () => string | undefined,
  ): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    const now = done();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<number>((resolve, reject) => {
      const finish = (outcome: () => void) => {
        clearTimeout(timer);
        clearInterval(poll);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        outcome();
      };
      const waiter: Waiter = {
        done,
        resolve: (at) => finish(() => resolve(at)),
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`not converged after ${timeoutMs} ms: ${describe()}`))),
        timeoutMs,
      );
      const poll = setInterval(() => {
        const reason = this.failure?.message ?? abortIf?.();
        if (reason !== undefined) finish(() => reject(new Error(`${reason} (${describe()})`)));
      }, 100);
      this.waiters.push(waiter);
    });
  }

  private onEvent(type: WatchEventType, object: ListedObject, arrivedAt: number): void {
    if (type === 'BOOKMARK') return;
    this.firstChangeAt ??= arrivedAt;
    this.changes++;
    this.changedNames.add(object.metadata.name);
    if (type === 'DELETED') {
      this.live.delete(object.metadata.name);
      this.correct.delete(object.metadata.name);
    } else {
      this.record(object, arrivedAt);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.evaluate();
      });
    }
  }

  private record(object: ListedObject, arrivedAt: number): void {
    this.live.set(object.metadata.name, { object, arrivedAt });
    this.dirty.add(object.metadata.name);
  }

  private evaluate(): void {
    for (const name of this.dirty) {
      const expected = this.expected.get(name);
      const live = this.live.get(name);
      const ok =
        expected !== undefined &&
        live !== undefined &&
        policyDifferences(expected, live.object as unknown as GlobalNetworkPolicy).length === 0;
      if (ok) this.correct.add(name);
      else this.correct.delete(name);
    }
    this.dirty.clear();
    for (const waiter of [...this.waiters]) {
      const at = waiter.done();
      if (at !== undefined) waiter.resolve(at);
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
  }
}
