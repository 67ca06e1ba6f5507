/**
 * The linter on real inputs: the seed's scenario as its user wrote it and as they meant it, IBM's published
 * Calico policies (read from the shared reference data beside the repository) and the samples we ship.
 */
import { loadManifests } from '../manifests/index.js';
import { lintManifests } from './lint.js';

const noStdin = () => Promise.reject(new Error('no stdin in this test'));
const lintPaths = async (...paths: string[]) => lintManifests(await loadManifests(paths, noStdin));

describe('the seed as the user wrote it', () => {
  it('finds every mistake, where it is, with the fix', async () => {
    const findings = await lintPaths('test/fixtures/seed');
    expect(
      findings.map((f) => [f.file.replace('test/fixtures/seed/', ''), f.line, f.col, f.ruleId, f.suggestion]),
    ).toEqual([
      ['accounts-allow.yaml', 7, 3, 'unknown-field', 'namespace'],
      ['accounts-allow.yaml', 13, 7, 'label-key-case', 'tier'],
      ['accounts-allow.yaml', 16, 11, 'unknown-field', 'namespaceSelector'],
      ['accounts-allow.yaml', 20, 9, 'wrong-type', undefined],
      ['backend-allow.yaml', 18, 15, 'label-key-case', 'tier'],
      ['db-allow.yaml', 17, 15, 'label-key-case', 'tier'],
    ]);
    expect(findings.filter((f) => f.severity === 'error').map((f) => f.ruleId)).toEqual([
      'unknown-field',
      'unknown-field',
      'wrong-type',
    ]);
  });
});

describe('the seed as the user meant it', () => {
  it('is clean', async () => {
    expect(await lintPaths('test/fixtures/seed-fixed')).toEqual([]);
  });
});

describe("IBM's Calico policy samples", () => {
  it('give no error', async () => {
    const findings = await lintPaths('../shared/reference/ibm/kube-samples/');
    expect(findings.filter((f) => f.severity === 'error')).toEqual([]);
    // The one warning is true: the sample's two HostEndpoints share the placeholder name `<worker-node-name>-...`.
    expect(findings.map((f) => f.ruleId)).toEqual(['duplicate-object']);
  });

  it('still give no error with the seed scenario and a profile beside them', async () => {
    const findings = await lintPaths(
      '../shared/reference/ibm/kube-samples/',
      'test/fixtures/seed-fixed',
      'config/samples',
    );
    expect(findings.filter((f) => f.severity === 'error')).toEqual([]);
  });
});

describe('the shipped samples', () => {
  it('are clean', async () => {
    expect(await lintPaths('config/samples')).toEqual([]);
  });
});
