/**
 * What an integration test file needs: the admin KubeConfig of the run's real API server, isolated
 * namespaces and names, and — on the local control plane only — the API server process for fault tests.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { LocalControlPlane } from '../../src/controlplane/local.js';
import { STATE_FILE, type IntegrationState } from './setup-control-plane.js';

export function integrationState(): IntegrationState {
  return JSON.parse(readFileSync(process.env.CVO_INTEGRATION_STATE ?? STATE_FILE, 'utf8')) as IntegrationState;
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
export async function createTestNamespace(kc: KubeConfig, prefix = 'test', labels: Record<string, string> = {}) {
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
 * The local control plane, for fault tests (restart the API server). Undefined against an existing cluster:
 * such tests must skip and say why.
 */
export function localControlPlane(): LocalControlPlane | undefined {
  const state = integrationState();
  return state.controlPlaneStateFile ? LocalControlPlane.attach(state.controlPlaneStateFile) : undefined;
}

/** Polls `check` until it returns a value other than undefined/false, or fails with `what` after timeoutMs. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
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
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
