/**
 * calico-vpc.io/v1alpha1: our CRD types (wire format). crds/ holds the OpenAPI schema; keep both in step.
 */
import type { Condition, KubeObject, ObjectMeta } from './kube.js';

export const GROUP = 'calico-vpc.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const VPC_EGRESS_PROFILE_KIND = 'VpcEgressProfile';
export const VPC_EGRESS_PROFILE_PLURAL = 'vpcegressprofiles';

export interface VpcZone {
  name: string;
  addressPrefixes: string[];
}

export interface VpeGateway {
  name: string;
  protocol?: 'TCP' | 'UDP';
  ports: number[];
}

export interface SecretKeyRef {
  namespace: string;
  name: string;
  key: string;
}

export interface IbmCloudDiscovery {
  region: string;
  vpcId: string;
  apiKeySecretRef: SecretKeyRef;
  endpoint?: string;
  iamEndpoint?: string;
  /** A Go-style duration ("10m", "1h30m"); default 10m. */
  refreshInterval?: string;
}

export interface VpcEgressProfileSpec {
  vpc?: string;
  zones?: VpcZone[];
  gateways?: VpeGateway[];
  selector?: string;
  order?: number;
  discovery?: { ibmCloud?: IbmCloudDiscovery };
}

export interface ZoneStatus {
  name: string;
  /** The zone's prefixes after validation and aggregation, sorted. */
  addressPrefixes: string[];
}

export interface VpcEgressProfileStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  /** Names of the GlobalNetworkPolicies this profile owns (the name as written, without Calico's tier prefix). */
  policies?: string[];
  zones?: ZoneStatus[];
  /** How many zones `zones` has: kubectl's ZONES column (a printer column shows only the first item of a list). */
  zoneCount?: number;
  discoveredZones?: ZoneStatus[];
  lastDiscoveryTime?: string;
}

export interface VpcEgressProfile extends KubeObject {
  apiVersion?: typeof API_VERSION;
  kind?: typeof VPC_EGRESS_PROFILE_KIND;
  metadata: ObjectMeta & { name: string };
  spec: VpcEgressProfileSpec;
  status?: VpcEgressProfileStatus;
}

export const DEFAULT_GATEWAYS: readonly VpeGateway[] = Object.freeze([
  { name: 'registry', protocol: 'TCP', ports: [443, 4443] },
]);
export const DEFAULT_WORKER_SELECTOR = "ibm.role == 'worker_private'";
export const DEFAULT_VPE_ORDER = 500;
