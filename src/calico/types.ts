/**
 * Calico policy types, in the shape of projectcalico.org/v3 (the supported API). How the same object is stored
 * under crd.projectcalico.org/v1 lives in ./flavour.ts and nowhere else.
 */
import type { ObjectMeta } from '../api/kube.js';

export type CalicoProtocol = 'TCP' | 'UDP' | 'SCTP' | 'ICMP' | 'ICMPv6' | 'UDPLite' | number;
export type CalicoAction = 'Allow' | 'Deny' | 'Log' | 'Pass';
export type PolicyDirection = 'Ingress' | 'Egress';

/** A port: a number, a range "a:b", or a named port. */
export type CalicoPort = number | string;

export interface EntityRule {
  nets?: string[];
  notNets?: string[];
  selector?: string;
  notSelector?: string;
  namespaceSelector?: string;
  ports?: CalicoPort[];
  notPorts?: CalicoPort[];
  serviceAccounts?: { names?: string[]; selector?: string };
  /** A Kubernetes Service's endpoints (resolved by Felix from EndpointSlices, which this tool does not read). */
  services?: { name?: string; namespace?: string };
}

export interface CalicoRule {
  action: CalicoAction;
  ipVersion?: 4 | 6;
  protocol?: CalicoProtocol;
  notProtocol?: CalicoProtocol;
  icmp?: { type?: number; code?: number };
  notICMP?: { type?: number; code?: number };
  source?: EntityRule;
  destination?: EntityRule;
  /** Application-layer match (enforced by Calico's ALP/Envoy, not by Felix's dataplane rules). */
  http?: { methods?: string[]; paths?: Record<string, string>[] };
  metadata?: { annotations?: Record<string, string> };
}

export interface GlobalNetworkPolicySpec {
  tier?: string;
  order?: number;
  selector?: string;
  namespaceSelector?: string;
  serviceAccountSelector?: string;
  types?: PolicyDirection[];
  ingress?: CalicoRule[];
  egress?: CalicoRule[];
  doNotTrack?: boolean;
  preDNAT?: boolean;
  applyOnForward?: boolean;
}

export interface GlobalNetworkPolicy {
  apiVersion: string;
  kind: 'GlobalNetworkPolicy';
  metadata: ObjectMeta & { name: string };
  spec: GlobalNetworkPolicySpec;
}

/** A Calico namespaced NetworkPolicy's spec: a GNP's without the fields only global policies have. */
export type NetworkPolicySpec = Omit<
  GlobalNetworkPolicySpec,
  'namespaceSelector' | 'doNotTrack' | 'preDNAT' | 'applyOnForward'
>;

/** Calico's namespaced NetworkPolicy (projectcalico.org/v3), not Kubernetes' networking.k8s.io one. */
export interface CalicoNetworkPolicy {
  apiVersion: string;
  kind: 'NetworkPolicy';
  metadata: ObjectMeta & { name: string };
  spec: NetworkPolicySpec;
}

/** Calico's default tier, as Calico defines it. */
export const DEFAULT_TIER = 'default';
export const DEFAULT_TIER_ORDER = 1_000_000;

/** Labels that mark what the operator owns. It never touches a GNP without MANAGED_BY_LABEL=MANAGED_BY_VALUE. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'calico-vpc-operator';
/** What produced a managed GNP: SOURCE_VPE or SOURCE_NETWORKPOLICY. */
export const SOURCE_LABEL = 'calico-vpc.io/source';
export const SOURCE_VPE = 'vpc-egress-profile';
export const SOURCE_NETWORKPOLICY = 'networkpolicy';
/** VPE rules: the owning profile, zone and gateway. */
export const PROFILE_LABEL = 'calico-vpc.io/profile';
export const ZONE_LABEL = 'calico-vpc.io/zone';
export const GATEWAY_LABEL = 'calico-vpc.io/gateway';
/**
 * NetworkPolicy translations: the source policy's namespace (a label: namespace names fit in 63 characters, so
 * a namespace's GNPs can be listed by label) and its full name (an annotation: policy names can be 253 long).
 */
export const NP_NAMESPACE_LABEL = 'calico-vpc.io/networkpolicy-namespace';
export const NP_NAME_ANNOTATION = 'calico-vpc.io/networkpolicy-name';
