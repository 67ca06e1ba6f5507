/** Kubeconfig loading (./config.ts). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { findDefaultKubeConfig, loadKubeConfig } from './config.js';

describe('loadKubeConfig', () => {
  it('names the missing context and lists the known ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
    const file = join(dir, 'config');
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:6443' }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'dev', cluster: 'c', user: 'u' }],
      currentContext: 'dev',
    });
    writeFileSync(file, kc.exportConfig());
    expect(() => loadKubeConfig({ path: file, context: 'prod' })).toThrow(
      '--context: no context "prod" in the kubeconfig (it has: dev)',
    );
    expect(loadKubeConfig({ path: file }).getCurrentCluster()?.server).toBe('https://127.0.0.1:6443');
    rmSync(dir, { recursive: true });
  });

  it('names the kubeconfig file and the flag that chose it when the file cannot be read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
    const missing = join(dir, 'missing');
    expect(() => loadKubeConfig({ path: missing, pathOrigin: '--kubeconfig' })).toThrow(
      `cannot read the kubeconfig ${missing} (--kubeconfig): no such file`,
    );
    const broken = join(dir, 'broken');
    writeFileSync(broken, 'apiVersion: v1\nkind: Config\nclusters: [\n');
    expect(() => loadKubeConfig({ path: broken })).toThrow(
      new RegExp(`^cannot read the kubeconfig ${broken}: unexpected end of the stream`),
    );
    expect(() => loadKubeConfig({ path: dir })).toThrow(`cannot read the kubeconfig ${dir}: is a directory`);
    rmSync(dir, { recursive: true });
  });

  it('names KUBECONFIG when the file it names cannot be read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
    const missing = join(dir, 'missing');
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = missing;
    try {
      expect(() => findDefaultKubeConfig()).toThrow(
        `cannot read the kubeconfig ${missing} (KUBECONFIG): no such file`,
      );
      expect(() => loadKubeConfig()).toThrow(`(KUBECONFIG): no such file`);
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
      rmSync(dir, { recursive: true });
    }
  });
});
