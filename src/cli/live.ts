/**
 * Reads what the offline tools analyse from a live cluster: Namespaces, Pods, the workloads that own them,
 * NetworkPolicies, and Calico GlobalNetworkPolicies, NetworkPolicies and Tiers from whichever Calico API the cluster
 * serves. The
 * objects become manifest sources (a JSON `List` per resource), so the cluster goes through the same loader,
 * schemas and inventory as files do, and the analysis cannot tell the two apart.
 */
import type { KubeObject } from '../api/kube.js';
import { KubeClient } from '../kube/client.js';
import { loadKubeConfig } from '../kube/config.js';
import type { ResourceRef } from '../kube/resource.js';
import {
  NAMESPACES,
  NETWORK_POLICIES,
  PODS,
  WORKLOADS,
  calicoNetworkPolicies,
  globalNetworkPolicies,
  tiers,
} from '../kube/resources.js';
import { CALICO_APIS, type CalicoApi } from '../calico/flavour.js';
import { stripForReadOnlyCache } from '../kube/informer.js';
import type { ManifestSource } from '../manifests/index.js';

/** What the reader needs from a cluster; KubeClient in production, a fake in tests. */
export interface ClusterLister {
  /** Every object of the resource, in all namespaces, with apiVersion and kind set. */
  list(ref: ResourceRef): Promise<KubeObject[]>;
  serves(group: string, version: string, plural: string): Promise<boolean>;
}

const KUBERNETES_RESOURCES: readonly ResourceRef[] = [NAMESPACES, PODS, ...WORKLOADS, NETWORK_POLICIES];

export interface ClusterRead {
  readonly sources: ManifestSource[];
  /** E.g. that no Calico API is served, so no GlobalNetworkPolicy was read. */
  readonly notes: string[];
}

/** Lists the resources and returns them as manifest sources named `<cluster>/<plural>`. */
export async function readCluster(lister: ClusterLister, clusterName: string): Promise<ClusterRead> {
  const notes: string[] = [];
  const refs: ResourceRef[] = [...KUBERNETES_RESOURCES];
  const calico = await firstServedCalicoApi(lister);
  if (calico === undefined) {
    notes.push(
      'the cluster serves no Calico API (projectcalico.org/v3 or crd.projectcalico.org/v1): no GlobalNetworkPolicies read',
    );
  } else {
    refs.push(globalNetworkPolicies(calico));
    const namespacedRef = calicoNetworkPolicies(calico);
    if (await lister.serves(namespacedRef.group, namespacedRef.version, namespacedRef.plural))
      refs.push(namespacedRef);
    else
      notes.push(
        `the cluster serves no ${namespacedRef.group} networkpolicies: no Calico NetworkPolicies read`,
      );
    const tierRef = tiers(calico);
    if (await lister.serves(tierRef.group, tierRef.version, tierRef.plural)) refs.push(tierRef);
  }
  const lists = await Promise.all(refs.map((ref) => lister.list(ref)));
  const sources = refs.map((ref, index) => ({
    // Calico's networkpolicies are told from Kubernetes' by their group, as kubectl names them.
    file: `${clusterName}/${ref.plural}${ref === refs.find((other) => other.plural === ref.plural) ? '' : `.${ref.group}`}`,
    text: JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      // managedFields and kubectl's last-applied copy are most of a live object's bytes and mean nothing here.
      items: (lists[index] ?? []).filter(isLive).map(stripForReadOnlyCache),
    }),
  }));
  return { sources, notes };
}

/**
 * The supported v3 API first: where calico-apiserver serves it, the crd.projectcalico.org/v1 objects behind it are
 * the same policies again, so only one of the two is read.
 */
async function firstServedCalicoApi(lister: ClusterLister): Promise<CalicoApi | undefined> {
  for (const api of CALICO_APIS) {
    const { group, version, plural } = globalNetworkPolicies(api);
    if (await lister.serves(group, version, plural)) return api;
  }
  return undefined;
}

/** Pods that have finished hold no address and take no traffic. */
function isLive(object: KubeObject): boolean {
  if (object.kind !== 'Pod') return true;
  const phase = (object as { status?: { phase?: string } }).status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed';
}

/** A ClusterLister on the operator's client, for the cluster of `kubeconfig` (and `context`). */
export function kubeconfigLister(
  kubeconfig: string,
  context?: string,
): ClusterLister & { name: string; close(): void } {
  const kc = loadKubeConfig({ path: kubeconfig, ...(context ? { context } : {}) });
  const client = new KubeClient(kc, { userAgent: 'calico-vpc-cli' });
  return {
    name: kc.getCurrentCluster()?.name ?? 'cluster',
    list: async (ref) => (await client.resource(ref).listAll()).items,
    serves: (group, version, plural) => client.discovery.hasResource(group, version, plural),
    close: () => client.close(),
  };
}
