/**
 * Inputs for the `cli` benchmark: manifest files of the size real clusters export, written once to a temporary
 * directory and fed to the shipped CLI bundle. Seeded, so every run measures the same work.
 */
import type { Pod } from '../src/api/kube.js';
import { generateNamespaces, generateNetworkPolicies, namespaceName, seededRandom } from './generate.js';

const APPS = ['web', 'api', 'worker', 'db', 'cache', 'queue', 'auth', 'billing', 'reports', 'gateway'];
const TIERS = ['frontend', 'backend', 'data'];
const PORT_NAMES = ['http', 'https', 'metrics', 'grpc', 'admin'];

/**
 * `count` Pods nothing owns (each its own peer, the hardest case for connectivity), over `namespaces` namespaces,
 * with pod IPs and named ports, labelled from the same vocabulary the policies select by.
 */
export function generatePods({
  count,
  namespaces,
  seed = 1,
}: {
  count: number;
  namespaces: number;
  seed?: number;
}): Pod[] {
  const random = seededRandom(seed + 7);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  return Array.from({ length: count }, (_, index): Pod => {
    const labels: Record<string, string> = { app: pick(APPS), tier: pick(TIERS) };
    if (random() < 0.5) labels.version = `v${1 + Math.floor(random() * 3)}`;
    if (random() < 0.1) labels.track = 'canary';
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `pod-${index}`, namespace: namespaceName(index % namespaces), labels },
      spec: {
        containers: [
          {
            name: 'main',
            image: 'registry.example/app:1',
            ports: [
              { name: pick(PORT_NAMES), containerPort: 8080 },
              { name: 'metrics', containerPort: 9090 },
            ],
          },
        ],
      },
      status: { podIP: `172.30.${Math.floor(index / 250)}.${(index % 250) + 1}` },
    } as Pod;
  });
}

/** A `kind: List` JSON document, as `kubectl get -o json` prints. */
export function listJson(items: readonly unknown[]): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

/** The NetworkPolicy collection for render and lint: `count` policies over 200 namespaces, one JSON List. */
export function networkPolicyListJson(count: number, seed = 1): string {
  const namespaces = 200;
  return listJson([
    ...generateNamespaces(namespaces),
    ...generateNetworkPolicies({ count, namespaces, seed }),
  ]);
}

/** Pods, namespaces and policies for connectivity (the generator's policies have ipBlocks with excepts). */
export function connectivityJson(pods: number, policies: number, seed = 1): string {
  const namespaces = 20;
  return listJson([
    ...generateNamespaces(namespaces),
    ...generatePods({ count: pods, namespaces, seed }),
    ...generateNetworkPolicies({ count: policies, namespaces, seed }),
  ]);
}
