/** Kubeconfig loading (./config.ts). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from './config.js';

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
});
