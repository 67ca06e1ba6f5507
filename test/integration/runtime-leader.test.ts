/**
 * Leader election on a real coordination.k8s.io/v1 Lease: two candidates, exactly one leader, failover after a
 * release and after the leader stops renewing. Short durations (4 s lease) keep the file quick; the logic is the
 * same as with the 15 s defaults.
 */
import { KubeClient } from '../../src/kube/client.js';
import { LEASES } from '../../src/kube/resources.js';
import { LeaderElector, type Lease, type LeaseStore } from '../../src/kube/leader.js';
import { Registry } from '../../src/observability/metrics.js';
import {
  createTestNamespace,
  deleteTestNamespace,
  eventually,
  testKubeConfig,
  uniqueName,
} from './harness.js';

// The integration project's testTimeout does not reach tests (jest ignores it inside `projects`).
const TIMEOUT_MS = 60_000;

const TIMINGS = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 };

interface Candidate {
  elector: LeaderElector;
  log: string[];
  /** Makes every Lease request of this candidate fail, as if its node lost the network. */
  partition(): void;
  running: Promise<void>;
}

describe('LeaderElector against a real API server', () => {
  const kc = testKubeConfig();
  const client = new KubeClient(kc, { registry: new Registry() });
  const leases = client.resource<Lease>(LEASES);
  let ns: string;
  const candidates: Candidate[] = [];

  beforeAll(async () => {
    ns = await createTestNamespace(kc, 'rt-leader');
  });

  afterEach(async () => {
    for (const c of candidates.splice(0)) await c.elector.release();
  });

  afterAll(async () => {
    await deleteTestNamespace(kc, ns);
    client.close();
  });

  /** Samples both candidates every 20 ms; returns how often both believed they led. */
  function overlapMonitor(x: Candidate, y: Candidate): () => number {
    let overlaps = 0;
    const timer = setInterval(() => {
      if (x.elector.isLeader() && y.elector.isLeader()) overlaps++;
    }, 20);
    return () => {
      clearInterval(timer);
      return overlaps;
    };
  }

  function candidate(lease: string, identity: string): Candidate {
    let partitioned = false;
    const guard =
      <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
      (...args: A): Promise<R> =>
        partitioned ? Promise.reject(new Error('network unreachable')) : fn(...args);
    const store: LeaseStore = {
      get: guard(leases.get.bind(leases)),
      create: guard(leases.create.bind(leases)),
      update: guard(leases.update.bind(leases)),
    };
    const log: string[] = [];
    const elector = new LeaderElector({
      ...TIMINGS,
      leases: store,
      namespace: ns,
      name: lease,
      identity,
      registry: new Registry(),
      callbacks: {
        onStartedLeading: () => log.push('started'),
        onStoppedLeading: () => log.push('stopped'),
      },
    });
    const c = { elector, log, partition: () => (partitioned = true), running: elector.run() };
    candidates.push(c);
    return c;
  }

  it(
    'elects exactly one of two candidates and fails over at once when the leader releases',
    async () => {
      const lease = uniqueName('lease');
      const a = candidate(lease, 'replica-a');
      const b = candidate(lease, 'replica-b');
      const overlaps = overlapMonitor(a, b);
      const [first, second] = await eventually('a leader', () =>
        a.elector.isLeader() ? [a, b] : b.elector.isLeader() ? [b, a] : undefined,
      );
      // Over several renewals, never two leaders.
      for (let i = 0; i < 10; i++) {
        expect([first.elector.isLeader(), second.elector.isLeader()]).toEqual([true, false]);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const held = await leases.get(lease, { namespace: ns });
      expect(held.spec).toMatchObject({
        holderIdentity: first.elector.identity,
        leaseDurationSeconds: 4,
        leaseTransitions: 0,
      });
      expect(held.spec?.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

      await first.elector.release();
      expect(first.log).toEqual(['started', 'stopped']);
      await eventually('the standby to take over', () => second.elector.isLeader());
      const after = await leases.get(lease, { namespace: ns });
      expect(after.spec).toMatchObject({ holderIdentity: second.elector.identity, leaseTransitions: 1 });
      expect(overlaps()).toBe(0);
    },
    TIMEOUT_MS,
  );

  it(
    'a leader that can no longer renew steps down, and the standby takes over once the lease expires',
    async () => {
      const lease = uniqueName('lease');
      const a = candidate(lease, 'replica-a');
      await eventually('a to lead', () => a.elector.isLeader());
      const b = candidate(lease, 'replica-b');
      const overlaps = overlapMonitor(a, b);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(b.elector.isLeader()).toBe(false);

      a.partition();
      await eventually('a to step down', () => a.log.includes('stopped'), 10_000);
      await eventually('b to take over the expired lease', () => b.elector.isLeader(), 15_000);
      expect((await leases.get(lease, { namespace: ns })).spec?.holderIdentity).toBe('replica-b');
      expect(overlaps()).toBe(0);
      await a.running;
    },
    TIMEOUT_MS,
  );
});
