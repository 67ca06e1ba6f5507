/** The assembled program (./program.ts): what every command shares. */
import { readFileSync } from 'node:fs';
import { captureIO } from './io.js';
import { runCli } from './program.js';

describe('calico-vpc', () => {
  it('prints the package version with --version and -V, exit 0', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    for (const flag of ['--version', '-V']) {
      const io = captureIO('');
      expect(await runCli([flag], io, [])).toBe(0);
      expect(io.out()).toBe(`${version}\n`);
    }
  });
});
