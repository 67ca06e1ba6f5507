/**
 * Which Calico API the cluster serves, from discovery. The decision is pure (chooseCalicoApi); the shell only
 * asks the API server what it serves.
 */
import {
  GLOBAL_NETWORK_POLICY_RESOURCES,
  crdNamingForCalicoVersion,
  type CalicoApi,
  type WireOptions,
} from '../calico/flavour.js';
import type { KubeObject } from '../api/kube.js';
import type { KubeClient } from '../kube/client.js';
import { CLUSTER_INFORMATIONS } from '../kube/resources.js';

export type CalicoApiChoice = CalicoApi | 'auto';

export interface ServedCalicoApis {
  v3: boolean;
  crd: boolean;
}

/**
 * `projectcalico.org/v3` where it is served (calico-apiserver, or Calico 3.32's native v3 CRDs): it is the
 * supported API, validated and defaulted by Calico. Else `crd.projectcalico.org/v1`, Calico's storage, written
 * the way Calico's own client would. An explicit choice must be served.
 */
export function chooseCalicoApi(served: ServedCalicoApis, choice: CalicoApiChoice): CalicoApi {
  const describe = (api: CalicoApi) => GLOBAL_NETWORK_POLICY_RESOURCES[api].apiVersion;
  if (choice !== 'auto') {
    if (!served[choice]) {
      throw new Error(
        `--calico-api=${choice}: this cluster does not serve ${describe(choice)} globalnetworkpolicies` +
          (served.v3 || served.crd
            ? ` (it serves ${served.v3 ? describe('v3') : describe('crd')}; use --calico-api=auto)`
            : ''),
      );
    }
    return choice;
  }
  if (served.v3) return 'v3';
  if (served.crd) return 'crd';
  throw new Error(
    'Calico is not installed: the cluster serves neither projectcalico.org/v3 nor crd.projectcalico.org/v1 ' +
      'globalnetworkpolicies. Install Calico (or its CRDs) first.',
  );
}

export async function detectCalicoApi(
  client: KubeClient,
  choice: CalicoApiChoice,
): Promise<{ api: CalicoApi; wireOptions: WireOptions }> {
  const has = (api: CalicoApi) => {
    const r = GLOBAL_NETWORK_POLICY_RESOURCES[api];
    return client.discovery.hasResource(r.group, r.version, r.plural);
  };
  const [v3, crd] = await Promise.all([has('v3'), has('crd')]);
  const api = chooseCalicoApi({ v3, crd }, choice);
  if (api === 'v3') return { api, wireOptions: {} };
  // How crd.projectcalico.org/v1 names default-tier policies changed in 3.32; ClusterInformation says which
  // Calico runs. Without it (CRDs only, no Calico yet) the older convention is the one every version reads.
  const info = await client
    .resource<KubeObject & { spec?: { calicoVersion?: string } }>(CLUSTER_INFORMATIONS)
    .get('default')
    .catch(() => undefined);
  return { api, wireOptions: { crdNaming: crdNamingForCalicoVersion(info?.spec?.calicoVersion) } };
}
