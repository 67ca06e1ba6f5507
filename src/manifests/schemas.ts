/**
 * The schemas of the kinds the tools read: field names, shapes, required fields and enums, i.e. what the API
 * server's decoder rejects. Semantic rules (label syntax, port names, CIDRs, peers with no selector) belong to
 * the code that gives the fields meaning: src/selectors/kubernetes.ts, src/translate/networkpolicy.ts and
 * src/vpe/rules.ts.
 *
 * None is written by hand. The Kubernetes kinds (NetworkPolicy, Namespace, Pod and the workloads, ObjectMeta,
 * LabelSelector) are generated from the OpenAPI schema Kubernetes publishes, with the overrides in
 * ./kubernetes-overrides.ts (./kubernetes-schemas.generated.ts); VpcEgressProfile's spec is derived from its one
 * definition (src/api/vpc-egress-profile.ts); the Calico GlobalNetworkPolicy, NetworkPolicy and Tier specs are built from the
 * projectcalico.org/v3 CRDs we install (./calico-openapi.generated.ts), whose fields are those of
 * crd.projectcalico.org/v1 too (schemas.test.ts compares with both groups' CRDs). `npm run generate` writes the
 * generated modules. Pods and workloads are open: only the fields we read are typed, the rest is the API server's
 * business.
 */
import { VPC_EGRESS_PROFILE } from '../api/vpc-egress-profile.js';
import {
  GLOBAL_NETWORK_POLICY_SPEC,
  NETWORK_POLICY_SPEC as CALICO_NETWORK_POLICY_SPEC,
  TIER_SPEC,
} from './calico-openapi.generated.js';
import { schemaOf } from './from-definition.js';
import {
  CRON_JOB_SCHEMA,
  DAEMON_SET_SCHEMA,
  DEPLOYMENT_SCHEMA,
  JOB_SCHEMA,
  OBJECT_META_SCHEMA,
  REPLICA_SET_SCHEMA,
  REPLICATION_CONTROLLER_SCHEMA,
  STATEFUL_SET_SCHEMA,
} from './kubernetes-schemas.generated.js';
import { objectSchemaOfOpenApi, type OpenApiNaming } from './openapi.js';
import type { ObjectSchema, Schema } from './schema.js';

export {
  LABEL_SELECTOR_SCHEMA,
  NAMESPACE_SCHEMA,
  NETWORK_POLICY_SCHEMA,
  POD_SCHEMA,
} from './kubernetes-schemas.generated.js';

/** The workload kinds whose pod templates become endpoints (src/manifests/inventory.ts WORKLOAD_TEMPLATE_PATHS). */
export const WORKLOAD_SCHEMAS: Readonly<Record<string, ObjectSchema>> = {
  Deployment: DEPLOYMENT_SCHEMA,
  ReplicaSet: REPLICA_SET_SCHEMA,
  StatefulSet: STATEFUL_SET_SCHEMA,
  DaemonSet: DAEMON_SET_SCHEMA,
  Job: JOB_SCHEMA,
  CronJob: CRON_JOB_SCHEMA,
  ReplicationController: REPLICATION_CONTROLLER_SCHEMA,
};

const typeMeta = { apiVersion: { type: 'string' }, kind: { type: 'string' } } as const satisfies Record<
  string,
  Schema
>;

export const VPC_EGRESS_PROFILE_SCHEMA: ObjectSchema = {
  type: 'object',
  name: 'VpcEgressProfile',
  fields: {
    ...typeMeta,
    metadata: OBJECT_META_SCHEMA,
    spec: schemaOf(VPC_EGRESS_PROFILE.schema.properties.spec, 'VpcEgressProfileSpec'),
    status: { type: 'any' },
  },
  required: ['metadata', 'spec'],
};

/** Calico's validator, not its CRD, limits protocol names (the CRD says only "integer or string"). */
const CALICO_PROTOCOL: Schema = {
  type: 'int-or-string',
  check: (p) =>
    typeof p === 'number'
      ? p >= 1 && p <= 255
        ? undefined
        : `protocol number ${p} is outside 1..255`
      : ['TCP', 'UDP', 'ICMP', 'ICMPv6', 'SCTP', 'UDPLite'].includes(p)
        ? undefined
        : `"${p}" is not a protocol Calico knows: TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1..255`,
};

/** The Go type names of Calico's API (api/pkg/apis/projectcalico/v3), by the field that holds each object. */
const CALICO_NAMING: OpenApiNaming = {
  names: {
    spec: 'GlobalNetworkPolicySpec',
    'ingress[]': 'Rule',
    'egress[]': 'Rule',
    icmp: 'ICMPFields',
    notICMP: 'ICMPFields',
    source: 'EntityRule (source)',
    destination: 'EntityRule (destination)',
    serviceAccounts: 'ServiceAccountMatch',
    services: 'ServiceMatch',
    http: 'HTTPMatch',
    'paths[]': 'HTTPPath',
    metadata: 'RuleMetadata',
  },
  refine: { protocol: CALICO_PROTOCOL, notProtocol: CALICO_PROTOCOL },
};

export const GLOBAL_NETWORK_POLICY_SCHEMA: ObjectSchema = {
  type: 'object',
  name: 'GlobalNetworkPolicy',
  fields: {
    ...typeMeta,
    metadata: OBJECT_META_SCHEMA,
    spec: objectSchemaOfOpenApi(GLOBAL_NETWORK_POLICY_SPEC, 'spec', CALICO_NAMING),
    status: { type: 'any' },
  },
  required: ['metadata', 'spec'],
};

/** Calico's namespaced NetworkPolicy (not Kubernetes' NetworkPolicy of networking.k8s.io). */
export const CALICO_NETWORK_POLICY_SCHEMA: ObjectSchema = {
  type: 'object',
  name: 'NetworkPolicy',
  fields: {
    ...typeMeta,
    metadata: OBJECT_META_SCHEMA,
    spec: objectSchemaOfOpenApi(CALICO_NETWORK_POLICY_SPEC, 'spec', {
      ...CALICO_NAMING,
      names: { ...CALICO_NAMING.names, spec: 'NetworkPolicySpec' },
    }),
    status: { type: 'any' },
  },
  required: ['metadata', 'spec'],
};

/** Calico's Tier (both API groups have the same spec). */
export const TIER_SCHEMA: ObjectSchema = {
  type: 'object',
  name: 'Tier',
  fields: {
    ...typeMeta,
    metadata: OBJECT_META_SCHEMA,
    spec: objectSchemaOfOpenApi(TIER_SPEC, 'spec', { names: { spec: 'TierSpec' } }),
    status: { type: 'any' },
  },
  required: ['metadata'],
};
