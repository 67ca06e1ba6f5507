/**
 * Starts or stops a local control plane (etcd, kube-apiserver, kube-controller-manager; src/controlplane/local.ts)
 * with our CRDs and Calico's, for hack/e2e-local.sh. Its processes outlive this script, which only starts or stops
 * them:
 *
 *   node --import tsx e2e/support/local-control-plane.ts start   # prints {"kubeconfig": ..., "stateFile": ...}
 *   node --import tsx e2e/support/local-control-plane.ts stop <stateFile>
 */
import { installAllCrds } from '../../src/controlplane/install.js';
import { LocalControlPlane } from '../../src/controlplane/local.js';
import { loadKubeConfig } from '../../src/kube/config.js';

const log = (line: string) => process.stderr.write(`[e2e-local] ${line}\n`);

async function start(): Promise<void> {
  const cp = await LocalControlPlane.start({ log });
  try {
    await installAllCrds(loadKubeConfig({ path: cp.kubeconfigPath }));
  } catch (err) {
    await cp.stop({ keepWorkDir: true });
    throw new Error(`installing CRDs failed (control plane logs kept in ${cp.logsDir()}): ${String(err)}`);
  }
  process.stdout.write(`${JSON.stringify({ kubeconfig: cp.kubeconfigPath, stateFile: cp.stateFilePath })}\n`);
}

async function stop(stateFile: string | undefined): Promise<void> {
  if (!stateFile) throw new Error('usage: local-control-plane.ts stop <stateFile>');
  await LocalControlPlane.attach(stateFile).stop({
    keepWorkDir: process.env.CVO_KEEP_CONTROL_PLANE === 'true',
  });
}

const [command, argument] = process.argv.slice(2);
try {
  if (command === 'start') await start();
  else if (command === 'stop') await stop(argument);
  else
    throw new Error(
      `usage: local-control-plane.ts start | stop <stateFile> (got ${JSON.stringify(command ?? '')})`,
    );
} catch (err) {
  log(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
}
