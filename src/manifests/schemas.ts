/**
 * The schemas of the kinds the tools read: field names, shapes, required fields and enums, i.e. what the API
 * server's decoder rejects. Semantic rules (label syntax, port names, CIDRs, peers with no selector) belong to
 * the code that gives the fields meaning: src/selectors/kubernetes.ts, src/translate/networkpolicy.ts and
 * src/vpe/rules.ts.
 *
 * NetworkPolicy follows networking.k8s.io/v1 (k8s.io/api/networking/v1/types.go) field for field, hand-written;
 * VpcEgressProfile's spec is derived from its one definition (src/api/vpc-egress-profile.ts); the Calico
 * GlobalNetworkPolicy and Tier specs are built from the projectcalico.org/v3 CRDs we install
 * (./calico-openapi.generated.ts, `npm run generate`), whose fields are those of crd.projectcalico.org/v1 too
 * (schemas.test.ts compares with both groups' CRDs). Pods and workloads are open: only the fields we read are
 * typed, the rest is the API server's business.
 */
import { VPC_EGRESS_PROFILE } from '../api/vpc-egress-profile.js';
import { GLOBAL_NETWORK_POLICY_SPEC, TIER_SPEC } from './calico-openapi.generated.js';
import { schemaOf } from './from-definition.js';
import { objectSchemaOfOpenApi, type OpenApiNaming } from './openapi.js';
import type { ObjectSchema, Schema } from './schema.js';

const labelMap: Schema = { type: 'map', values: { type: 'string' } };

function objectMeta(): ObjectSchema {
  return {
    type: 'object',
    name: 'ObjectMeta',
    fields: {
      name: { type: 'string' },
      generateName: { type: 'string' },
      namespace: { type: 'string' },
      selfLink: { type: 'string' },
      uid: { type: 'string' },
      resourceVersion: { type: 'string' },
      generation: { type: 'integer' },
      creationTimestamp: { type: 'any' },
      deletionTimestamp: { type: 'any' },
      deletionGracePeriodSeconds: { type: 'integer' },
      labels: labelMap,
      annotations: { type: 'map', values: { type: 'string' } },
      ownerReferences: {
        type: 'array',
        items: {
          type: 'object',
          name: 'OwnerReference',
          fields: {
            apiVersion: { type: 'string' },
            kind: { type: 'string' },
            name: { type: 'string' },
            uid: { type: 'string' },
            controller: { type: 'boolean' },
            blockOwnerDeletion: { type: 'boolean' },
          },
          required: ['apiVersion', 'kind', 'name'],
        },
      },
      finalizers: { type: 'array', items: { type: 'string' } },
      managedFields: { type: 'array', items: { type: 'any' } },
    },
    // The tools name every object they report on; `generateName` alone names nothing until the server does.
    required: ['name'],
  };
}

const typeMeta = { apiVersion: { type: 'string' }, kind: { type: 'string' } } as const satisfies Record<
  string,
  Schema
>;

export const LABEL_SELECTOR_SCHEMA: ObjectSchema = {
  type: 'object',
  name: 'LabelSelector',
  fields: {
    matchLabels: labelMap,
    matchExpressions: {
      type: 'array',
      items: {
        type: 'object',
        name: 'LabelSelectorRequirement',
        fields: {
          key: { type: 'string' },
          operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
          values: { type: 'array', items: { type: 'string' } },
        },
        required: ['key', 'operator'],
      },
    },
  },
};

const NETWORK_POLICY_PORT: ObjectSchema = {
  type: 'object',
  name: 'NetworkPolicyPort',
  fields: {
    protocol: { type: 'string', enum: ['TCP', 'UDP', 'SCTP'] },
    port: { type: 'int-or-string' },
    endPort: { type: 'integer' },
  },
};

const NETWORK_POLICY_PEER: ObjectSchema = {
  type: 'object',
  name: 'NetworkPolicyPeer',
  fields: {
    podSelector: LABEL_SELECTOR_SCHEMA,
    namespaceSelector: LABEL_SELECTOR_SCHEMA,
    ipBlock: {
      type: 'object',
      name: 'IPBlock',
      fields: { cidr: { type: 'string' }, except: { type: 'array', items: { type: 'string' } } },
      required: ['cidr'],
    },
  },
};

function policyRule(name: string, peers: 'from' | 'to'): ObjectSchema {
  return {
    type: 'object',
    name,
    fields: {
      [peers]: { type: 'array', items: NETWORK_POLICY_PEER },
      ports: { type: 'array', items: NETWORK_POLICY_PORT },
    },
  };
}

export const NETWORK_POLICY_SCHEMA: ObjectSchema = {
  type: 'object',
  name: 'NetworkPolicy',
  fields: {
    ...typeMeta,
    metadata: objectMeta(),
    spec: {
      type: 'object',
      name: 'NetworkPolicySpec',
      fields: {
        podSelector: LABEL_SELECTOR_SCHEMA,
        policyTypes: { type: 'array', items: { type: 'string', enum: ['Ingress', 'Egress'] } },
        ingress: { type: 'array', items: policyRule('NetworkPolicyIngressRule', 'from') },
        egress: { type: 'array', items: policyRule('NetworkPolicyEgressRule', 'to') },
      },
    },
    // Present on objects read back from clusters of Kubernetes 1.24-1.26; never written by users.
    status: { type: 'any' },
  },
  required: ['metadata', 'spec'],
};

export const NAMESPACE_SCHEMA: ObjectSchema = {
  type: 'object',
  name: 'Namespace',
  fields: { ...typeMeta, metadata: objectMeta(), spec: { type: 'any' }, status: { type: 'any' } },
  required: ['metadata'],
};

export const VPC_EGRESS_PROFILE_SCHEMA: ObjectSchema = {
  type: 'object',
  name: 'VpcEgressProfile',
  fields: {
    ...typeMeta,
    metadata: objectMeta(),
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
    metadata: objectMeta(),
    spec: objectSchemaOfOpenApi(GLOBAL_NETWORK_POLICY_SPEC, 'spec', CALICO_NAMING),
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
    metadata: objectMeta(),
    spec: objectSchemaOfOpenApi(TIER_SPEC, 'spec', { names: { spec: 'TierSpec' } }),
    status: { type: 'any' },
  },
  required: ['metadata'],
};

const CONTAINER: ObjectSchema = {
  type: 'object',
  name: 'Container',
  open: true,
  fields: {
    name: { type: 'string' },
    ports: {
      type: 'array',
      items: {
        type: 'object',
        name: 'ContainerPort',
        fields: {
          name: { type: 'string' },
          containerPort: { type: 'integer', minimum: 1, maximum: 65535 },
          protocol: { type: 'string', enum: ['TCP', 'UDP', 'SCTP'] },
          hostPort: { type: 'integer', minimum: 1, maximum: 65535 },
          hostIP: { type: 'string' },
        },
        required: ['containerPort'],
      },
    },
  },
};

const POD_SPEC: ObjectSchema = {
  type: 'object',
  name: 'PodSpec',
  open: true,
  fields: {
    containers: { type: 'array', items: CONTAINER },
    initContainers: { type: 'array', items: CONTAINER },
    hostNetwork: { type: 'boolean' },
  },
};

const POD_TEMPLATE: ObjectSchema = {
  type: 'object',
  name: 'PodTemplateSpec',
  fields: { metadata: objectMetaWithoutName(), spec: POD_SPEC },
};

/** Pod templates carry metadata without a name. */
function objectMetaWithoutName(): ObjectSchema {
  const { required: _name, ...meta } = objectMeta();
  return meta;
}

export const POD_SCHEMA: ObjectSchema = {
  type: 'object',
  name: 'Pod',
  open: true,
  fields: {
    metadata: objectMeta(),
    spec: POD_SPEC,
    status: {
      type: 'object',
      name: 'PodStatus',
      open: true,
      fields: {
        podIP: { type: 'string' },
        podIPs: {
          type: 'array',
          items: { type: 'object', name: 'PodIP', fields: { ip: { type: 'string' } } },
        },
      },
    },
  },
  required: ['metadata'],
};

/** Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, ReplicationController: the pod template at spec.template. */
export const WORKLOAD_SCHEMA: ObjectSchema = {
  type: 'object',
  name: 'workload',
  open: true,
  fields: {
    metadata: objectMeta(),
    spec: { type: 'object', name: 'workload spec', open: true, fields: { template: POD_TEMPLATE } },
  },
  required: ['metadata'],
};

/** CronJob: the pod template at spec.jobTemplate.spec.template. */
export const CRON_JOB_SCHEMA: ObjectSchema = {
  type: 'object',
  name: 'CronJob',
  open: true,
  fields: {
    metadata: objectMeta(),
    spec: {
      type: 'object',
      name: 'CronJobSpec',
      open: true,
      fields: {
        jobTemplate: {
          type: 'object',
          name: 'JobTemplateSpec',
          fields: {
            metadata: objectMetaWithoutName(),
            spec: { type: 'object', name: 'JobSpec', open: true, fields: { template: POD_TEMPLATE } },
          },
        },
      },
    },
  },
  required: ['metadata'],
};
