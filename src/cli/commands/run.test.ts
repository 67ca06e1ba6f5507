import { CliExit, captureIO } from '../io.js';
import { runCli } from '../program.js';
import { registerRun, runSettings, type RunFlags } from './run.js';

// Only the flag checks: they run before any cluster is looked for, so these need none. The controller itself is
// run by test/integration/process-operator.test.ts.
const run = async (args: string[]) => {
  const io = captureIO('');
  const code = await runCli(['run', '--log-level', 'silent', ...args], io, [registerRun]);
  return { code, err: io.err() };
};

describe('calico-vpc run: leader election timings', () => {
  it.each<[string[], RegExp]>([
    [
      ['--leader-elect-lease-duration', '10s', '--leader-elect-renew-deadline', '10s'],
      /--leader-elect-lease-duration \(10000 ms\) must be greater than --leader-elect-renew-deadline \(10000 ms\)/,
    ],
    [
      ['--leader-elect-retry-period', '9s'],
      /--leader-elect-renew-deadline \(10000 ms\) must be greater than 1.2 x --leader-elect-retry-period/,
    ],
    [['--leader-elect-lease-duration', '15500ms'], /--leader-elect-lease-duration must be whole seconds/],
    [['--leader-elect-lease-duration', 'soon'], /--leader-elect-lease-duration "soon" is not a duration/],
  ])('%j is refused with exit code 2, naming the flags', async (args, message) => {
    const { code, err } = await run(args);
    expect(code).toBe(2);
    expect(err).toMatch(message);
  });
});

describe('calico-vpc run: every flag is checked before anything starts', () => {
  // The defaults commander fills in (see registerRun).
  const defaults: RunFlags = {
    samples: true,
    calicoApi: 'auto',
    leaderElect: false,
    leaderElectionId: 'calico-vpc-operator-leader',
    leaderElectLeaseDuration: '15s',
    leaderElectRenewDeadline: '10s',
    leaderElectRetryPeriod: '2s',
    metricsBindAddress: ':8080',
    healthProbeBindAddress: ':8081',
    logLevel: 'info',
    translateNetworkPolicies: true,
    networkPolicyOrder: '1000',
    tier: 'default',
    concurrency: '16',
    resyncPeriod: '10m',
  };
  const refused = (flags: Partial<RunFlags>) => {
    try {
      runSettings({ ...defaults, ...flags });
    } catch (err) {
      expect(err).toBeInstanceOf(CliExit);
      return err as CliExit;
    }
    throw new Error(`accepted ${JSON.stringify(flags)}`);
  };

  it.each<[Partial<RunFlags>, RegExp]>([
    [{ networkPolicyOrder: 'first' }, /--network-policy-order: expected a number, got "first"/],
    [{ networkPolicyOrder: '' }, /--network-policy-order: expected a number/],
    [{ concurrency: '0' }, /--concurrency: expected a positive integer/],
    [{ resyncPeriod: '10' }, /--resync-period "10" has no unit/],
    [{ metricsBindAddress: 'localhost' }, /--metrics-bind-address: "localhost" is not a bind address/],
    [{ healthProbeBindAddress: ':99999' }, /--health-probe-bind-address: ":99999" is not a bind address/],
  ])('%j is refused with exit code 2', (flags, message) => {
    const err = refused(flags);
    expect(err.message).toMatch(message);
    expect(err.code).toBe(2);
  });

  it('reads durations in the one Go grammar, e.g. 1h30m and 1m30s', () => {
    const settings = runSettings({
      ...defaults,
      resyncPeriod: '1h30m',
      leaderElectLeaseDuration: '1m30s',
      leaderElectRenewDeadline: '1m',
      leaderElectRetryPeriod: '2.5s',
    });
    expect(settings.resyncPeriodMs).toBe(5_400_000);
    expect(settings.timings).toEqual({
      leaseDurationMs: 90_000,
      renewDeadlineMs: 60_000,
      retryPeriodMs: 2500,
    });
  });

  it('turns the defaults into settings', () => {
    expect(runSettings(defaults)).toEqual({
      timings: { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000 },
      translation: { order: 1000, tier: 'default' },
      concurrency: 16,
      resyncPeriodMs: 600_000,
      metricsAddress: { host: '0.0.0.0', port: 8080 },
      healthAddress: { host: '0.0.0.0', port: 8081 },
    });
  });
});
