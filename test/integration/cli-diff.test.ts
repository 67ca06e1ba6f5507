/**
 * `calico-vpc diff --before-kubeconfig` against the run's real kube-apiserver: the seed applied as its users applied
 * it (the real API server refuses accounts-allow.yaml, so backend-allow and db-allow are in force), diffed with the
 * corrected policies from a file, which take the cluster's workloads. The namespaces are renamed per run, and only
 * lines between this test's workloads (or them and the outside) are compared: the cluster is shared with other
 * test files whose objects the diff also reads.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../src/api/kube.js';
import { captureIO } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';
import { registerDiff } from '../../src/cli/commands/diff.js';
import { KubeClient } from '../../src/kube/client.js';
import { applyManifests } from '../../e2e/support/apply.js';
import { deleteTestNamespace, integrationState, testKubeConfig, uniqueName } from './harness.js';

// The integration project's testTimeout does not reach tests (jest ignores it inside `projects`).
const TIMEOUT_MS = 90_000;

const prefix = uniqueName('diff');
/** The seed's text with its namespaces (and the labels and names that spell them) unique to this run. */
const renamed = (text: string) =>
  text.replaceAll('accounts', `${prefix}-accounts`).replaceAll('finance', `${prefix}-finance`);
const objectsOf = (file: string): KubeObject[] =>
  parseAllDocuments(renamed(readFileSync(file, 'utf8'))).map((doc) => doc.toJS() as KubeObject);

const kc = testKubeConfig();
const client = new KubeClient(kc);
const workdir = mkdtempSync(join(tmpdir(), 'cvo-diff-'));

afterAll(async () => {
  await deleteTestNamespace(kc, `${prefix}-accounts`);
  await deleteTestNamespace(kc, `${prefix}-finance`);
  client.close();
  rmSync(workdir, { recursive: true, force: true });
});

describe('diff against a live cluster', () => {
  it(
    'the seed as the real API server took it, against the corrected policies in a file',
    async () => {
      await applyManifests(client, [
        ...objectsOf('test/fixtures/seed/namespaces.yaml'),
        ...objectsOf('test/fixtures/seed/workloads.yaml'),
        ...objectsOf('test/fixtures/seed/backend-allow.yaml'),
        ...objectsOf('test/fixtures/seed/db-allow.yaml'),
      ]);
      // What the README says of the seed: its cross-namespace policy as written does not get in.
      await expect(
        applyManifests(client, objectsOf('test/fixtures/seed/accounts-allow.yaml')),
      ).rejects.toThrow();

      const after = join(workdir, 'policies.yaml');
      writeFileSync(after, renamed(readFileSync('test/fixtures/seed-fixed/policies.yaml', 'utf8')));
      const io = captureIO();
      const code = await runCli(
        ['diff', '--before-kubeconfig', integrationState().kubeconfig, '--after', after],
        io,
        [registerDiff],
      );
      expect(io.err()).toContain('note: --after has no workloads: using those of --before on both sides\n');
      expect(code).toBe(1);

      const ours = (id: string) => id.endsWith('[External]') || id.startsWith(`${prefix}-`);
      const lines = io
        .out()
        .split('\n')
        .filter((line) => {
          const match = /^diff-type: [^,]+, source: ([^,]+), destination: ([^,]+),/.exec(line);
          return match !== null && ours(match[1] as string) && ours(match[2] as string);
        });
      const expected = renamed(readFileSync('test/fixtures/diff/seed/diff.txt', 'utf8'))
        .split('\n')
        .filter((line) => line.startsWith('diff-type:'));
      expect(lines).toEqual(expected);
    },
    TIMEOUT_MS,
  );
});
