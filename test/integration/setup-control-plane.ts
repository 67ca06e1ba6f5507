/**
 * Starts ONE real control plane (etcd + kube-apiserver + kube-controller-manager, see src/controlplane/local.ts)
 * for the whole integration run and installs our CRDs and Calico's. Test files attach to it through
 * test/integration/harness.ts and isolate themselves with their own namespaces and names.
 *
 * USE_EXISTING_CLUSTER=true runs the same tests against the cluster in KUBECONFIG instead (like envtest);
 * tests that need to restart the API server skip there, saying why.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig, VersionApi } from '@kubernetes/client-node';
import { LocalControlPlane, REPO_ROOT } from '../../src/controlplane/local.js';
import { installAllCrds } from '../../src/controlplane/install.js';

const STATE_DIR = join(REPO_ROOT, 'node_modules', '.cache', 'calico-vpc-operator');

/**
 * The state of one jest run, keyed by the jest main process: concurrent runs on one machine must not read each
 * other's control plane. Test workers are that process's children (or the process itself, in band).
 */
export function stateFileFor(jestPid: number): string {
  return join(STATE_DIR, `integration-state-${jestPid}.json`);
}

export interface IntegrationState {
  kubeconfig: string;
  existingCluster: boolean;
  controlPlaneStateFile?: string;
  serverVersion: string;
}

export async function setupIntegration(): Promise<void> {
  const stateFile = stateFileFor(process.pid);
  mkdirSync(STATE_DIR, { recursive: true });
  let state: IntegrationState;
  if (process.env.USE_EXISTING_CLUSTER === 'true') {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    const version = await kc.makeApiClient(VersionApi).getCode();
    await installAllCrds(kc);
    const kubeconfig = join(STATE_DIR, `existing-kubeconfig-${process.pid}`);
    writeFileSync(kubeconfig, kc.exportConfig(), { mode: 0o600 });
    state = { kubeconfig, existingCluster: true, serverVersion: version.gitVersion };
  } else {
    const started = Date.now();
    const cp = await LocalControlPlane.start();
    (globalThis as { __controlPlane?: LocalControlPlane }).__controlPlane = cp;
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    try {
      await installAllCrds(kc);
    } catch (err) {
      await cp.stop({ keepWorkDir: true });
      throw new Error(`installing CRDs failed (control plane logs kept in ${cp.logsDir()}): ${String(err)}`);
    }
    state = {
      kubeconfig: cp.kubeconfigPath,
      existingCluster: false,
      controlPlaneStateFile: cp.stateFilePath,
      serverVersion: cp.version,
    };
    process.stderr.write(
      `\nintegration: real kube-apiserver ${cp.version} at ${cp.state.server} with etcd, ready with CRDs in ${Date.now() - started} ms\n`,
    );
  }
  writeFileSync(stateFile, JSON.stringify(state, null, 2));
  process.env.CVO_INTEGRATION_STATE = stateFile;
}

export async function teardownIntegration(): Promise<void> {
  rmSync(stateFileFor(process.pid), { force: true });
  const cp = (globalThis as { __controlPlane?: LocalControlPlane }).__controlPlane;
  if (!cp) return;
  // Keep the logs when asked (CVO_KEEP_CONTROL_PLANE=true), to read the API server's side of a failure.
  const keep = process.env.CVO_KEEP_CONTROL_PLANE === 'true';
  await cp.stop({ keepWorkDir: keep });
  if (keep) process.stderr.write(`control plane work dir kept: ${cp.state.workDir}\n`);
}
