/**
 * Every resource the operator and the CLI read or write, in one place (controller-runtime finds them in its
 * scheme; we name them). A new watched resource is one entry here, its informer in the controller that watches it
 * (src/controller/), and its RBAC rule in config/rbac/role.yaml (pinned by test/unit/config.test.ts).
 */
import { GROUP, VERSION, VPC_EGRESS_PROFILE_KIND, VPC_EGRESS_PROFILE_PLURAL } from '../api/v1alpha1.js';
import { GLOBAL_NETWORK_POLICY_RESOURCES, type CalicoApi } from '../calico/flavour.js';
import type { ResourceRef } from './resource.js';

const core = (plural: string, kind: string, namespaced: boolean): ResourceRef =>
  Object.freeze({ group: '', version: 'v1', plural, namespaced, kind });

// Read: the inputs of the translation and of the offline analysis.
export const NAMESPACES = core('namespaces', 'Namespace', false);
export const PODS = core('pods', 'Pod', true);
export const REPLICATION_CONTROLLERS = core('replicationcontrollers', 'ReplicationController', true);
export const NETWORK_POLICIES: ResourceRef = Object.freeze({
  group: 'networking.k8s.io',
  version: 'v1',
  plural: 'networkpolicies',
  namespaced: true,
  kind: 'NetworkPolicy',
});
const workload = (group: string, plural: string, kind: string): ResourceRef =>
  Object.freeze({ group, version: 'v1', plural, namespaced: true, kind });
export const DEPLOYMENTS = workload('apps', 'deployments', 'Deployment');
/** The workloads whose pod templates the offline analysis reads (src/manifests/inventory.ts). */
export const WORKLOADS: readonly ResourceRef[] = Object.freeze([
  REPLICATION_CONTROLLERS,
  DEPLOYMENTS,
  workload('apps', 'replicasets', 'ReplicaSet'),
  workload('apps', 'statefulsets', 'StatefulSet'),
  workload('apps', 'daemonsets', 'DaemonSet'),
  workload('batch', 'jobs', 'Job'),
  workload('batch', 'cronjobs', 'CronJob'),
]);
/** The IBM Cloud API key of a discovering VpcEgressProfile (one GET, never watched). */
export const SECRETS = core('secrets', 'Secret', true);

// Ours.
export const VPC_EGRESS_PROFILES: ResourceRef = Object.freeze({
  group: GROUP,
  version: VERSION,
  plural: VPC_EGRESS_PROFILE_PLURAL,
  namespaced: false,
  kind: VPC_EGRESS_PROFILE_KIND,
});

// Written: the translations, leader election, Events.
export function globalNetworkPolicies(api: CalicoApi): ResourceRef {
  const { group, version, plural, kind } = GLOBAL_NETWORK_POLICY_RESOURCES[api];
  return { group, version, plural, namespaced: false, kind };
}
/** Calico's namespaced NetworkPolicies (read by `connectivity --kubeconfig`), beside its GNPs in group and version. */
export function calicoNetworkPolicies(api: CalicoApi): ResourceRef {
  const { group, version } = GLOBAL_NETWORK_POLICY_RESOURCES[api];
  return { group, version, plural: 'networkpolicies', namespaced: true, kind: 'NetworkPolicy' };
}
export function tiers(api: CalicoApi): ResourceRef {
  const { group, version } = GLOBAL_NETWORK_POLICY_RESOURCES[api];
  return { group, version, plural: 'tiers', namespaced: false, kind: 'Tier' };
}
/** Which Calico version runs (crd.projectcalico.org/v1 only; read once at start). */
export const CLUSTER_INFORMATIONS: ResourceRef = Object.freeze({
  group: 'crd.projectcalico.org',
  version: 'v1',
  plural: 'clusterinformations',
  namespaced: false,
  kind: 'ClusterInformation',
});
export const LEASES: ResourceRef = Object.freeze({
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  namespaced: true,
  kind: 'Lease',
});
export const EVENTS: ResourceRef = Object.freeze({
  group: 'events.k8s.io',
  version: 'v1',
  plural: 'events',
  namespaced: true,
  kind: 'Event',
});
