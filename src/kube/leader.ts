/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's LeaderElector semantics (client-node has
 * none): acquire when the lease is free or expired, renew every retryPeriod, step down when renewal has not
 * succeeded for renewDeadline, release on shutdown so a standby takes over at once instead of after
 * leaseDuration. Every write is an optimistic-concurrency PUT with the resourceVersion read just before, so two
 * candidates racing for an expired lease cannot both win.
 *
 * Expiry is judged by when THIS process last saw the lease record change (client-go's observedTime), never by
 * comparing the holder's renewTime with our clock, so clock skew between nodes cannot cause two leaders.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeObject, ObjectMeta } from '../api/kube.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { gauge, perRegistry, sharedRegistry, type Registry } from '../observability/metrics.js';
import type { ResourceClient } from './resource.js';
import { sleep, systemClock, toMicroTime, type Clock } from '../util/clock.js';
import { isAlreadyExists, isConflict, isNotFound } from './errors.js';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease extends KubeObject {
  metadata: ObjectMeta & { name: string; namespace?: string };
  spec?: LeaseSpec;
}

/** The three Lease calls the elector makes; a ResourceClient<Lease> is one. */
export type LeaseStore = Pick<ResourceClient<Lease>, 'get' | 'create' | 'update'>;

export interface LeaderCallbacks {
  /** We lead: start writing. `signal` aborts the moment leadership is lost or released. */
  onStartedLeading(signal: AbortSignal): void;
  /** We no longer lead (lost or released): stop writing. Called only after onStartedLeading. */
  onStoppedLeading(): void;
  /** The observed holder changed (including to ourselves); '' when the lease was released. */
  onNewLeader?(identity: string): void;
}

export interface LeaderElectionOptions {
  leases: LeaseStore;
  namespace: string;
  /** The Lease's name, e.g. calico-vpc-operator-leader. */
  name: string;
  /** Unique per replica, e.g. the pod name plus a random suffix. */
  identity: string;
  /** Standbys wait this long after the last observed change before taking over (default 15 s). */
  leaseDurationMs?: number;
  /** The leader steps down when it could not renew for this long (default 10 s). */
  renewDeadlineMs?: number;
  /** Between attempts to acquire or renew (default 2 s). */
  retryPeriodMs?: number;
  /** Release the lease when run()'s signal aborts (default true). */
  releaseOnCancel?: boolean;
  callbacks: LeaderCallbacks;
  clock?: Clock;
  random?: () => number;
  logger?: Logger;
  registry?: Registry;
}

/** client-go's JitterFactor for the acquire loop. */
const JITTER_FACTOR = 1.2;

const leaderMetrics = perRegistry((registry) => ({
  status: gauge(registry, {
    name: 'leader_election_master_status',
    help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.',
    labelNames: ['name'] as const,
  }),
}));

/**
 * A unique identity per process, like client-go's recommendation: the pod name (the hostname in a pod) plus a
 * random suffix, so a restarted pod with the same name is a new candidate, not a zombie leader.
 */
export function defaultLeaderIdentity(): string {
  return `${hostname()}_${randomUUID()}`;
}

export interface LeaderElectionTimings {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

/**
 * What is wrong with these timings (client-go's rules), or undefined. `names` words the message for the caller:
 * the CLI names its flags.
 */
export function leaderElectionTimingError(
  { leaseDurationMs, renewDeadlineMs, retryPeriodMs }: LeaderElectionTimings,
  names: Record<keyof LeaderElectionTimings, string> = {
    leaseDurationMs: 'leaseDurationMs',
    renewDeadlineMs: 'renewDeadlineMs',
    retryPeriodMs: 'retryPeriodMs',
  },
): string | undefined {
  if (!(retryPeriodMs > 0)) return `${names.retryPeriodMs} must be > 0, got ${retryPeriodMs} ms`;
  if (!(leaseDurationMs > renewDeadlineMs)) {
    return `${names.leaseDurationMs} (${leaseDurationMs} ms) must be greater than ${names.renewDeadlineMs} (${renewDeadlineMs} ms)`;
  }
  if (!(renewDeadlineMs > JITTER_FACTOR * retryPeriodMs)) {
    return `${names.renewDeadlineMs} (${renewDeadlineMs} ms) must be greater than ${JITTER_FACTOR} x ${names.retryPeriodMs} (${retryPeriodMs} ms)`;
  }
  if (leaseDurationMs % 1000 !== 0) {
    return `${names.leaseDurationMs} must be whole seconds (the Lease stores seconds), got ${leaseDurationMs} ms`;
  }
  return undefined;
}

export class LeaderElector {
  readonly identity: string;
  private readonly options: Required<
    Pick<LeaderElectionOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs' | 'releaseOnCancel'>
  > &
    LeaderElectionOptions;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly log: Logger;
  private readonly metrics: ReturnType<typeof leaderMetrics>;
  /** The last lease we read or wrote, and when (our clock) its record last changed. */
  private observed: Lease | undefined;
  private observedTime = 0;
  private observedHolder = '';
  private leading = false;
  private leadership: AbortController | undefined;
  private readonly stopRun = new AbortController();
  private running: Promise<void> | undefined;

  constructor(options: LeaderElectionOptions) {
    const leaseDurationMs = options.leaseDurationMs ?? 15_000;
    const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    const retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (!options.identity) throw new Error('leader election: identity must not be empty');
    if (!options.name) throw new Error('leader election: the lease name must not be empty');
    if (!options.namespace) throw new Error('leader election: the lease namespace must not be empty');
    const problem = leaderElectionTimingError({ leaseDurationMs, renewDeadlineMs, retryPeriodMs });
    if (problem) throw new Error(`leader election: ${problem}`);
    this.options = {
      ...options,
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
      releaseOnCancel: options.releaseOnCancel ?? true,
    };
    this.identity = options.identity;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.log = (options.logger ?? silentLogger).child({
      lease: `${options.namespace}/${options.name}`,
      identity: options.identity,
    });
    this.metrics = leaderMetrics(options.registry ?? sharedRegistry());
    this.metrics.status.set({ name: options.name }, 0);
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder we last observed ('' when free or unknown). */
  getLeader(): string {
    return this.observedHolder;
  }

  /**
   * Campaigns until elected, leads until leadership is lost or `signal` aborts, then resolves. With
   * releaseOnCancel, an abort releases the lease. One elector runs once.
   */
  run(signal?: AbortSignal): Promise<void> {
    if (this.running) throw new Error('leader election: run() was already called');
    const onAbort = () => this.stopRun.abort();
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.running = this.campaign().finally(() => signal?.removeEventListener('abort', onAbort));
    return this.running;
  }

  /** Stops campaigning or leading and, if leading, hands the lease back (holderIdentity ''). */
  async release(): Promise<void> {
    this.stopRun.abort();
    await this.running;
  }

  private async campaign(): Promise<void> {
    const stop = this.stopRun.signal;
    this.log.info('campaigning for leadership');
    // Acquire: poll with jitter until we hold the lease.
    while (!stop.aborted) {
      if (await this.tryAcquireOrRenew(stop)) break;
      const delay = this.options.retryPeriodMs * (1 + JITTER_FACTOR * this.random());
      try {
        await sleep(this.clock, delay, stop);
      } catch {
        return;
      }
    }
    if (stop.aborted) {
      // Stopped while the winning write was in flight: hand back what we just took.
      if (this.options.releaseOnCancel) await this.releaseLease();
      return;
    }
    this.startLeading();
    // Renew: every retryPeriod; step down once renewal has failed for renewDeadline.
    let lastRenew = this.clock.now();
    while (!stop.aborted) {
      try {
        await sleep(this.clock, this.options.retryPeriodMs, stop);
      } catch {
        break;
      }
      const remaining = lastRenew + this.options.renewDeadlineMs - this.clock.now();
      const renewed = remaining > 0 && (await this.tryAcquireOrRenew(stop, remaining));
      if (renewed) {
        lastRenew = this.clock.now();
        continue;
      }
      if (stop.aborted) break;
      const lostToOther = this.observedHolder !== '' && this.observedHolder !== this.identity;
      if (lostToOther || this.clock.now() - lastRenew >= this.options.renewDeadlineMs) {
        this.log.error(
          { sinceLastRenewMs: this.clock.now() - lastRenew, holder: this.observedHolder },
          lostToOther
            ? 'lease taken by another holder; stepping down'
            : 'failed to renew the lease in time; stepping down',
        );
        await this.stepDown(false);
        return;
      }
    }
    await this.stepDown(this.options.releaseOnCancel);
  }

  private startLeading(): void {
    this.leading = true;
    this.leadership = new AbortController();
    this.metrics.status.set({ name: this.options.name }, 1);
    this.log.info('became leader');
    try {
      this.options.callbacks.onStartedLeading(this.leadership.signal);
    } catch (err) {
      this.log.error({ err }, 'onStartedLeading threw');
    }
  }

  private async stepDown(release: boolean): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    this.metrics.status.set({ name: this.options.name }, 0);
    this.leadership?.abort();
    if (release) await this.releaseLease();
    try {
      this.options.callbacks.onStoppedLeading();
    } catch (err) {
      this.log.error({ err }, 'onStoppedLeading threw');
    }
  }

  /** client-go's release(): an empty holder and a 1 s duration, written only if we still hold the lease. */
  private async releaseLease(): Promise<void> {
    const lease = this.observed;
    if (!lease || lease.spec?.holderIdentity !== this.identity) return;
    const now = toMicroTime(this.clock.now());
    try {
      const released = await this.options.leases.update(
        {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: lease.spec?.leaseTransitions ?? 0,
          },
        },
        { signal: AbortSignal.timeout(this.options.renewDeadlineMs) },
      );
      this.observe(released);
      this.log.info('released the lease');
    } catch (err) {
      this.log.warn({ err }, 'could not release the lease; standbys take over when it expires');
    }
  }

  /** One attempt (client-go's tryAcquireOrRenew). False on any failure; never throws. */
  private async tryAcquireOrRenew(stop: AbortSignal, budgetMs?: number): Promise<boolean> {
    const attempt = new AbortController();
    const onStop = () => attempt.abort();
    stop.addEventListener('abort', onStop, { once: true });
    const timer = budgetMs === undefined ? undefined : this.clock.setTimeout(() => attempt.abort(), budgetMs);
    const { namespace, name } = this.options;
    const now = this.clock.now();
    const leaseDurationSeconds = this.options.leaseDurationMs / 1000;
    try {
      let current: Lease;
      try {
        current = await this.options.leases.get(name, { namespace, signal: attempt.signal });
      } catch (err) {
        if (!isNotFound(err)) throw err;
        const created = await this.options.leases.create(
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: {
              holderIdentity: this.identity,
              leaseDurationSeconds,
              acquireTime: toMicroTime(now),
              renewTime: toMicroTime(now),
              leaseTransitions: 0,
            },
          },
          { signal: attempt.signal },
        );
        this.observe(created);
        return true;
      }
      this.observe(current);
      const holder = current.spec?.holderIdentity ?? '';
      const expired =
        this.clock.now() >=
        this.observedTime + (current.spec?.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
      if (holder !== '' && holder !== this.identity && !expired) return false;
      if (attempt.signal.aborted) return false;
      const ours = holder === this.identity;
      const renewTime = toMicroTime(this.clock.now());
      const updated = await this.options.leases.update(
        {
          ...current,
          spec: {
            ...current.spec,
            holderIdentity: this.identity,
            leaseDurationSeconds,
            renewTime,
            acquireTime: ours ? (current.spec?.acquireTime ?? renewTime) : renewTime,
            leaseTransitions: (current.spec?.leaseTransitions ?? 0) + (ours ? 0 : 1),
          },
        },
        { signal: attempt.signal },
      );
      this.observe(updated);
      return true;
    } catch (err) {
      if (isConflict(err) || isAlreadyExists(err)) this.log.debug({ err }, 'lost a race for the lease');
      else if (!stop.aborted) this.log.warn({ err }, 'lease request failed');
      return false;
    } finally {
      if (timer !== undefined) this.clock.clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
    }
  }

  private observe(lease: Lease): void {
    const previous = this.observed;
    const changed =
      !previous ||
      previous.metadata.resourceVersion !== lease.metadata.resourceVersion ||
      JSON.stringify(previous.spec) !== JSON.stringify(lease.spec);
    this.observed = lease;
    if (changed) this.observedTime = this.clock.now();
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder !== this.observedHolder) {
      this.observedHolder = holder;
      if (holder) this.log.info({ holder }, 'new leader observed');
      try {
        this.options.callbacks.onNewLeader?.(holder);
      } catch (err) {
        this.log.error({ err }, 'onNewLeader threw');
      }
    }
  }
}
