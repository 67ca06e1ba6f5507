import { Registry } from '../observability/metrics.js';
import { toMicroTime } from '../util/clock.js';
import { ManualClock, settle } from '../../test/support/manual-clock.js';
import { ApiError } from './errors.js';
import { LeaderElector, defaultLeaderIdentity, type Lease, type LeaseStore } from './leader.js';

/** An in-memory Lease API with the server's optimistic concurrency: a PUT with a stale resourceVersion is a 409. */
class FakeLeases {
  lease: Lease | undefined;
  rv = 1;
  writes: { by: string | undefined; spec: Lease['spec'] }[] = [];
  /** Identities whose requests fail as if the network were down. */
  readonly unreachable = new Set<string>();

  storeFor(identity: string): LeaseStore {
    const check = () => {
      if (this.unreachable.has(identity)) throw new Error(`connect ECONNREFUSED (${identity})`);
    };
    return {
      get: async (name) => {
        await Promise.resolve();
        check();
        if (!this.lease || this.lease.metadata.name !== name)
          throw new ApiError(404, 'NotFound', 'not found');
        return structuredClone(this.lease);
      },
      create: async (lease) => {
        await Promise.resolve();
        check();
        if (this.lease) throw new ApiError(409, 'AlreadyExists', 'already exists');
        this.lease = {
          ...structuredClone(lease),
          metadata: { ...lease.metadata, resourceVersion: String(++this.rv) },
        };
        this.writes.push({ by: identity, spec: lease.spec });
        return structuredClone(this.lease);
      },
      update: async (lease) => {
        await Promise.resolve();
        check();
        if (!this.lease) throw new ApiError(404, 'NotFound', 'not found');
        if (lease.metadata.resourceVersion !== this.lease.metadata.resourceVersion) {
          throw new ApiError(409, 'Conflict', 'the object has been modified');
        }
        this.lease = {
          ...structuredClone(lease),
          metadata: { ...lease.metadata, resourceVersion: String(++this.rv) },
        };
        this.writes.push({ by: identity, spec: lease.spec });
        return structuredClone(this.lease);
      },
    };
  }

  /** Someone else (another operator version, a human) writes the lease. */
  overwrite(spec: Lease['spec']): void {
    if (!this.lease) throw new Error('no lease');
    this.lease = {
      ...this.lease,
      spec: { ...this.lease.spec, ...spec },
      metadata: { ...this.lease.metadata, resourceVersion: String(++this.rv) },
    };
  }
}

function candidate(leases: FakeLeases, clock: ManualClock, identity: string, random = () => 0) {
  const log: string[] = [];
  let leadingSignal: AbortSignal | undefined;
  const elector = new LeaderElector({
    leases: leases.storeFor(identity),
    namespace: 'ops',
    name: 'leader',
    identity,
    clock,
    random,
    registry: new Registry(),
    callbacks: {
      onStartedLeading: (signal) => {
        leadingSignal = signal;
        log.push('started');
      },
      onStoppedLeading: () => log.push('stopped'),
      onNewLeader: (holder) => log.push(`leader=${holder}`),
    },
  });
  return { elector, log, leadingSignal: () => leadingSignal };
}

describe('LeaderElector', () => {
  it('creates a missing lease and leads, writing MicroTime timestamps', async () => {
    const clock = new ManualClock(Date.UTC(2025, 5, 1, 12, 0, 0, 123));
    const leases = new FakeLeases();
    const a = candidate(leases, clock, 'a');
    void a.elector.run();
    await settle();
    expect(a.elector.isLeader()).toBe(true);
    expect(a.log).toEqual(['leader=a', 'started']);
    expect(leases.lease?.spec).toEqual({
      holderIdentity: 'a',
      leaseDurationSeconds: 15,
      acquireTime: '2025-06-01T12:00:00.123000Z',
      renewTime: '2025-06-01T12:00:00.123000Z',
      leaseTransitions: 0,
    });
    await a.elector.release();
  });

  it('renews every retryPeriod while leading', async () => {
    const clock = new ManualClock();
    const leases = new FakeLeases();
    const a = candidate(leases, clock, 'a');
    void a.elector.run();
    await settle();
    await clock.advance(2000);
    await clock.advance(2000);
    expect(leases.writes.map((w) => w.by)).toEqual(['a', 'a', 'a']);
    expect(leases.lease?.spec?.renewTime).toBe(toMicroTime(clock.now()));
    expect(leases.lease?.spec?.acquireTime).toBe(leases.writes[0]?.spec?.acquireTime);
    await a.elector.release();
  });

  it('with two candidates, exactly one leads; release hands over at the next retry, counting the transition', async () => {
    const clock = new ManualClock();
    const leases = new FakeLeases();
    const a = candidate(leases, clock, 'a');
    const b = candidate(leases, clock, 'b');
    void a.elector.run();
    await settle();
    void b.elector.run();
    for (let i = 0; i < 10; i++) {
      await clock.advance(1000);
      expect([a.elector.isLeader(), b.elector.isLeader()]).toEqual([true, false]);
    }
    expect(b.elector.getLeader()).toBe('a');

    await a.elector.release();
    expect(a.log).toEqual(['leader=a', 'started', 'leader=', 'stopped']);
    expect(a.leadingSignal()?.aborted).toBe(true);
    expect(leases.lease?.spec?.holderIdentity).toBe('');
    // b retries within retryPeriod * (1 + 1.2) and finds the lease free.
    await clock.advance(4400);
    expect(b.elector.isLeader()).toBe(true);
    expect(leases.lease?.spec?.holderIdentity).toBe('b');
    expect(leases.lease?.spec?.leaseTransitions).toBe(1);
    await b.elector.release();
  });

  it('a leader that cannot renew steps down after renewDeadline; a standby takes over only after leaseDuration', async () => {
    const clock = new ManualClock();
    const leases = new FakeLeases();
    const a = candidate(leases, clock, 'a');
    const b = candidate(leases, clock, 'b');
    void a.elector.run();
    await settle();
    void b.elector.run();
    await settle();
    const lastRenewal = clock.now();
    leases.unreachable.add('a');

    await clock.advance(9_000);
    expect(a.elector.isLeader()).toBe(true);
    await clock.advance(1_000);
    // 10 s without a successful renewal: a stops before its lease can expire for anyone else.
    expect(a.elector.isLeader()).toBe(false);
    expect(a.log).toContain('stopped');
    expect(a.leadingSignal()?.aborted).toBe(true);
    expect(b.elector.isLeader()).toBe(false);

    // b saw the last renewal at about lastRenewal: it may take over 15 s after that observation, not before.
    while (clock.now() < lastRenewal + 14_000) {
      await clock.advance(500);
      expect(b.elector.isLeader()).toBe(false);
    }
    await clock.advance(6_000);
    expect(b.elector.isLeader()).toBe(true);
    expect(leases.lease?.spec?.holderIdentity).toBe('b');
    await b.elector.release();
  });

  it('steps down at once when another holder took the lease', async () => {
    const clock = new ManualClock();
    const leases = new FakeLeases();
    const a = candidate(leases, clock, 'a');
    void a.elector.run();
    await settle();
    leases.overwrite({ holderIdentity: 'intruder' });
    await clock.advance(2000);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.log).toEqual(['leader=a', 'started', 'leader=intruder', 'stopped']);
    // It does not "release" a lease it no longer holds.
    expect(leases.lease?.spec?.holderIdentity).toBe('intruder');
  });

  it('candidates racing for an expired lease: optimistic concurrency lets exactly one win', async () => {
    const clock = new ManualClock();
    const leases = new FakeLeases();
    const old = candidate(leases, clock, 'old');
    void old.elector.run();
    await settle();
    leases.unreachable.add('old');
    const racers = ['r1', 'r2', 'r3'].map((id) => candidate(leases, clock, id));
    for (const r of racers) void r.elector.run();
    await clock.advance(30_000);
    expect(racers.filter((r) => r.elector.isLeader())).toHaveLength(1);
    expect(old.elector.isLeader()).toBe(false);
    for (const r of racers) await r.elector.release();
  });

  it('run resolves when its signal aborts while campaigning, without touching the lease', async () => {
    const clock = new ManualClock();
    const leases = new FakeLeases();
    const a = candidate(leases, clock, 'a');
    const b = candidate(leases, clock, 'b');
    void a.elector.run();
    await settle();
    const abort = new AbortController();
    const running = b.elector.run(abort.signal);
    await clock.advance(3000);
    abort.abort();
    await running;
    expect(b.log).toEqual(['leader=a']);
    expect(leases.writes.every((w) => w.by === 'a')).toBe(true);
    await a.elector.release();
  });

  it('rejects settings that could let two replicas lead', () => {
    const base = {
      leases: new FakeLeases().storeFor('x'),
      namespace: 'ops',
      name: 'leader',
      identity: 'x',
      registry: new Registry(),
      callbacks: { onStartedLeading: () => {}, onStoppedLeading: () => {} },
    };
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(
      /leaseDurationMs \(10000 ms\) must be greater than renewDeadlineMs/,
    );
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).toThrow(
      /renewDeadlineMs \(2000 ms\) must be greater than 1.2 x retryPeriodMs/,
    );
    expect(() => new LeaderElector({ ...base, identity: '' })).toThrow(/identity/);
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 15_500 })).toThrow(/whole seconds/);
  });

  it('gives each process its own identity', () => {
    expect(defaultLeaderIdentity()).not.toBe(defaultLeaderIdentity());
  });

  it('formats MicroTime with six fractional digits', () => {
    expect(toMicroTime(Date.UTC(2025, 0, 2, 3, 4, 5, 6))).toBe('2025-01-02T03:04:05.006000Z');
  });
});
