import { captureIO } from '../io.js';
import { runCli } from '../program.js';
import { registerRun } from './run.js';

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
    [['--leader-elect-lease-duration', 'soon'], /--leader-elect-lease-duration: expected a duration/],
  ])('%j is refused with exit code 2, naming the flags', async (args, message) => {
    const { code, err } = await run(args);
    expect(code).toBe(2);
    expect(err).toMatch(message);
  });
});
