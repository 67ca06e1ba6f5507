/**
 * The shell scripts under hack/ and .ci/ pass ShellCheck and run in bash's strict mode. Several of them (the kind
 * path) cannot be run on the development machines, so static checking is most of what they get here.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { REPO_ROOT } from './kustomize.js';

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** hack/*.sh, and every file in .ci/ that starts with a bash shebang (repository-relative paths). */
function bashScripts(): string[] {
  const scripts = readdirSync(join(REPO_ROOT, 'hack'))
    .filter((f) => f.endsWith('.sh'))
    .map((f) => `hack/${f}`);
  const ci = join(REPO_ROOT, '.ci');
  if (existsSync(ci)) {
    for (const f of readdirSync(ci)) {
      const path = join(ci, f);
      if (statSync(path).isFile() && /^#!.*\bbash\b/.test(readFileSync(path, 'utf8').split('\n')[0] ?? '')) {
        scripts.push(`.ci/${f}`);
      }
    }
  }
  return scripts.sort();
}

const scripts = bashScripts();

describe('shell scripts', () => {
  it('include the kind path and the tool installer', () => {
    expect(scripts).toEqual(
      expect.arrayContaining(['hack/install-tools.sh', 'hack/kind-down.sh', 'hack/kind-up.sh']),
    );
  });

  it.each(scripts)('%s is executable and runs with set -euo pipefail', (script) => {
    const path = join(REPO_ROOT, script);
    expect(() => accessSync(path, constants.X_OK)).not.toThrow();
    expect(readFileSync(path, 'utf8')).toMatch(/^set -euo pipefail$/m);
  });
});

const shellcheck = onPath('shellcheck');
if (!shellcheck) {
  process.stderr.write(
    'test/unit/scripts.test.ts: skipping ShellCheck: shellcheck is not on PATH (hack/install-tools.sh installs it)\n',
  );
}
(shellcheck ? describe : describe.skip)(
  `ShellCheck${shellcheck ? '' : ' (skipped: shellcheck is not on PATH; hack/install-tools.sh installs it)'}`,
  () => {
    it.each(scripts)('%s has no findings', (script) => {
      let findings = '';
      try {
        execFileSync(shellcheck as string, ['--format=gcc', '--external-sources', script], {
          cwd: REPO_ROOT,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string };
        findings = `${e.stdout ?? ''}${e.stderr ?? ''}` || String(err);
      }
      expect(findings).toBe('');
    });
  },
);
