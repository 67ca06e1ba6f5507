/**
 * `calico-vpc lint` end to end, in-process: golden outputs for the three formats (test/fixtures/golden/, read and
 * reviewed by hand; regenerate them only by re-running the command and reading the diff), exit codes, stdin.
 */
import { readFileSync } from 'node:fs';
import { captureIO } from '../io.js';
import { runCli } from '../program.js';
import { registerLint } from './lint.js';

const FIXTURES = ['-f', 'test/fixtures/seed', '-f', 'test/fixtures/worker-egress'];

async function lint(args: string[], stdin = '') {
  const io = captureIO(stdin);
  const code = await runCli(['lint', ...args], io, [registerLint]);
  return { code, out: io.out(), err: io.err() };
}

describe('calico-vpc lint', () => {
  // JSON goldens are compared as data: the repository's formatter owns their layout.
  it.each([
    ['text', 'lint.txt', (text: string): unknown => text],
    ['json', 'lint.json', (text: string): unknown => JSON.parse(text)],
    ['sarif', 'lint.sarif', (text: string): unknown => JSON.parse(text)],
  ])('prints -o %s as in test/fixtures/golden/%s and exits 1 on errors', async (format, golden, read) => {
    const result = await lint([...FIXTURES, '-o', format]);
    expect(read(result.out)).toEqual(read(readFileSync(`test/fixtures/golden/${golden}`, 'utf8')));
    expect(result.err).toBe('5 errors, 7 warnings\n');
    expect(result.code).toBe(1);
  });

  it('exits 0 on warnings only, and 1 with --strict', async () => {
    const warningsOnly = [
      '-f',
      'test/fixtures/seed/backend-allow.yaml',
      '-f',
      'test/fixtures/seed/workloads.yaml',
    ];
    const relaxed = await lint(warningsOnly);
    expect(relaxed.code).toBe(0);
    expect(relaxed.out).toMatch(/^test\/fixtures\/seed\/backend-allow\.yaml:18:15: warning label-key-case: /);
    expect(relaxed.err).toBe('0 errors, 1 warning\n');
    expect((await lint([...warningsOnly, '--strict'])).code).toBe(1);
  });

  it('prints nothing and exits 0 on clean input', async () => {
    expect(await lint(['-f', 'test/fixtures/seed-fixed'])).toEqual({ code: 0, out: '', err: '' });
    expect(await lint(['-f', 'test/fixtures/seed-fixed', '-o', 'json'])).toEqual({
      code: 0,
      out: '[]\n',
      err: '',
    });
  });

  it('reads standard input with -f -', async () => {
    const text = readFileSync('test/fixtures/seed/accounts-allow.yaml', 'utf8');
    const result = await lint(['-f', '-', '-o', 'json'], text);
    const findings = JSON.parse(result.out) as { file: string; ruleId: string }[];
    expect(findings.map((f) => [f.file, f.ruleId])).toEqual([
      ['<stdin>', 'unknown-field'],
      ['<stdin>', 'unknown-field'],
      ['<stdin>', 'wrong-type'],
    ]);
  });

  it('names a path it cannot read and rejects an unknown format', async () => {
    const missing = await lint(['-f', 'test/fixtures/nope.yaml']);
    expect(missing).toEqual({
      code: 1,
      out: '',
      err: 'error: cannot read test/fixtures/nope.yaml: no such file or directory\n',
    });
    const format = await lint(['-f', 'test/fixtures/seed', '-o', 'xml']);
    expect(format.code).toBe(1);
    expect(format.err).toContain("argument 'xml' is invalid. Allowed choices are text, json, sarif.");
  });
});
