/**
 * What an integration test file needs: the admin KubeConfig of the run's real API server, isolated
 * namespaces and names, and — on the local control plane only — the API server process for fault tests.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { LocalControlPlane } from '../../src/controlplane/local.js';
import { installAllCrds } from '../../src/controlplane/install.js';
import { stateFileFor, type IntegrationState } from './setup-control-plane.js';
import { existsSync } from 'node:fs';

export function integrationState(): IntegrationState {
  const file =
    process.env.CVO_INTEGRATION_STATE ??
    [stateFileFor(process.ppid), stateFileFor(process.pid)].find((f) => existsSync(f)) ??
    stateFileFor(process.ppid);
  return JSON.parse(readFileSync(file, 'utf8')) as IntegrationState;
}

export function testKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(integrationState().kubeconfig);
  return kc;
}

/** A DNS-1123 name unique to this run: `<prefix>-<8 hex>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Creates a namespace for one test file; returns its name. */
export async function createTestNamespace(
  kc: KubeConfig,
  prefix = 'test',
  labels: Record<string, string> = {},
) {
  const name = uniqueName(prefix);
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name, labels } } });
  return name;
}

export async function deleteTestNamespace(kc: KubeConfig, name: string): Promise<void> {
  await kc
    .makeApiClient(CoreV1Api)
    .deleteNamespace({ name })
    .catch(() => undefined);
}

/**
 * The shared control plane of this run. Do NOT restart or stop it: other test files run against it in
 * parallel. Fault tests use `startDedicatedControlPlane` instead.
 */
export function sharedControlPlane(): LocalControlPlane | undefined {
  const state = integrationState();
  return state.controlPlaneStateFile ? LocalControlPlane.attach(state.controlPlaneStateFile) : undefined;
}

/**
 * A control plane of a test file's own (etcd + kube-apiserver, ~10 s to start, CRDs installed), for fault tests
 * that restart or stop the API server: `restartApiServer()`, `stopApiServer()`, `startApiServer()`, `stop()`.
 * Returns undefined when the run targets an existing cluster (USE_EXISTING_CLUSTER=true): such tests must skip
 * and say why.
 */
export async function startDedicatedControlPlane(
  opts: { extraApiServerArgs?: string[] } = {},
): Promise<{ cp: LocalControlPlane; kc: KubeConfig } | undefined> {
  if (integrationState().existingCluster) return undefined;
  const cp = await LocalControlPlane.start({ controllerManager: false, log: () => undefined, ...opts });
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  try {
    await installAllCrds(kc);
  } catch (err) {
    await cp.stop();
    throw err;
  }
  return { cp, kc };
}

/** Polls `check` until it returns a value other than undefined/false, or fails with `what` after timeoutMs. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  // Generous: a bound on a wait, not a timing assertion; a loaded 2-core CI machine can be slow.
  timeoutMs = 90_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
