/**
 * Which Kubernetes types the render/lint schemas are generated from, and where they depart from the published
 * OpenAPI v3 (k8s.io/kubernetes api/openapi-spec/v3). The published schema is the decoder's view: field names,
 * shapes and `required`. It has no enums (Go string types such as `Protocol` are plain strings there), no ranges,
 * and some of its `required` lists are stricter or looser than what the API server and `kubectl apply
 * --validate=strict` accept. Each departure below says which part of the server's real validation
 * (k8s.io/kubernetes pkg/apis/*\/validation) it copies, or why the tools want it.
 *
 * `npm run generate` (hack/generated-files.ts) reads these with the trimmed copy of the published schema in
 * hack/schemas/ and writes ./kubernetes-schemas.generated.ts. Adding a Kubernetes kind the tools read: a root
 * here, `npm run generate` with the spec in the Go module cache (hack/build-control-plane.sh downloads it).
 */
import type { Schema } from './schema.js';

/**
 * The OpenAPI components of the kinds the tools read; the generated module exports each type they reach as
 * `<TYPE>_SCHEMA` (NETWORK_POLICY_SCHEMA, LABEL_SELECTOR_SCHEMA, OBJECT_META_SCHEMA, ...).
 */
export const KUBERNETES_SCHEMA_ROOTS: readonly string[] = [
  'io.k8s.api.networking.v1.NetworkPolicy',
  'io.k8s.api.core.v1.Namespace',
  'io.k8s.api.core.v1.Pod',
  // The workloads whose pod templates become endpoints (src/manifests/inventory.ts WORKLOAD_TEMPLATE_PATHS).
  'io.k8s.api.apps.v1.Deployment',
  'io.k8s.api.apps.v1.ReplicaSet',
  'io.k8s.api.apps.v1.StatefulSet',
  'io.k8s.api.apps.v1.DaemonSet',
  'io.k8s.api.batch.v1.Job',
  'io.k8s.api.batch.v1.CronJob',
  'io.k8s.api.core.v1.ReplicationController',
];

export interface TypeOverride {
  /**
   * Only these published fields are typed; any other field is accepted unchecked (ObjectSchema.open). For the
   * kinds the tools read only labels and ports from: the rest of a pod is the API server's business, and a copy of
   * all of PodSpec would report problems (resource quantities, probes) that have nothing to do with policy.
   */
  readonly pick?: readonly string[];
  /** Replaces the published `required` list. */
  readonly required?: readonly string[];
  /** Replaces a published field's schema by a stricter one of the same type (an enum, a range). */
  readonly refine?: Readonly<Record<string, Schema>>;
  /** Fields the published schema lacks but objects carry. */
  readonly add?: Readonly<Record<string, Schema>>;
  /** Fields holding an object type whose `required` differs at this place from the type's own. */
  readonly requiredAt?: Readonly<Record<string, readonly string[]>>;
  /** For a type that is not an object (Time): the schema used wherever it is referenced. */
  readonly replace?: Schema;
}

/** ValidateNetworkPolicyPort and validateContainerPorts accept these (core.Protocol without an enum in OpenAPI). */
const PROTOCOL: Schema = { type: 'string', enum: ['TCP', 'UDP', 'SCTP'] };
/** validation.IsValidPortNum. */
const PORT_NUMBER: Schema = { type: 'integer', minimum: 1, maximum: 65535 };

/** By OpenAPI component name; the generator fails on an override of a type or field the schema does not have. */
export const KUBERNETES_OVERRIDES: Readonly<Record<string, TypeOverride>> = {
  'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta': {
    // Not the server's rule (generateName may stand in for it): the tools name every object they report on, and
    // `generateName` alone names nothing until the server does. Pod templates are exempt (requiredAt below).
    required: ['name'],
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.Time': {
    // metav1.Time decodes null (`kubectl create --dry-run -o yaml` writes `creationTimestamp: null`) as well as
    // RFC 3339 text, and YAML may hand either over; nothing the tools decide depends on a timestamp.
    replace: { type: 'any' },
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference': {
    // Published with `uid` required, and the server refuses an owner reference without one. The tools read owner
    // references only to name a pod's controller (kind and name), and hand-written pod lists for `connectivity`
    // leave the uid out: requiring it would turn every such pod into a finding about nothing policy depends on.
    required: ['apiVersion', 'kind', 'name'],
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement': {
    // ValidateLabelSelectorRequirement: the four operators.
    refine: { operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] } },
  },
  'io.k8s.api.networking.v1.NetworkPolicy': {
    // The tools refuse a NetworkPolicy without `spec` rather than guess what it was meant to select (the server
    // defaults it to an empty podSelector: every pod of the namespace isolated for ingress).
    required: ['metadata', 'spec'],
    // Present on objects read back from clusters of Kubernetes 1.24-1.26 (removed from the API in 1.27); never
    // written by users.
    add: { status: { type: 'any' } },
  },
  'io.k8s.api.networking.v1.NetworkPolicySpec': {
    // ValidateNetworkPolicySpec: policyTypes are Ingress and Egress.
    refine: { policyTypes: { type: 'array', items: { type: 'string', enum: ['Ingress', 'Egress'] } } },
  },
  'io.k8s.api.networking.v1.NetworkPolicyPort': { refine: { protocol: PROTOCOL } },
  'io.k8s.api.core.v1.Namespace': { required: ['metadata'] },
  'io.k8s.api.core.v1.Pod': { pick: ['metadata', 'spec', 'status'], required: ['metadata'] },
  'io.k8s.api.core.v1.PodSpec': {
    pick: ['containers', 'initContainers', 'hostNetwork'],
    // Published: `containers` required. A pod listed only for its labels (connectivity inputs) need not carry its
    // containers: the tools read named ports from them when present.
    required: [],
  },
  'io.k8s.api.core.v1.Container': {
    pick: ['name', 'ports'],
    // Published: `name` required; the tools read only the ports, whose names are what policies refer to.
    required: [],
  },
  'io.k8s.api.core.v1.ContainerPort': {
    // validateContainerPorts: containerPort must be a port number, hostPort 0 (none) or a port number.
    refine: {
      containerPort: PORT_NUMBER,
      hostPort: { type: 'integer', minimum: 0, maximum: 65535 },
      protocol: PROTOCOL,
    },
  },
  'io.k8s.api.core.v1.PodStatus': { pick: ['podIP', 'podIPs'] },
  'io.k8s.api.core.v1.PodTemplateSpec': { requiredAt: { metadata: [] } },
  'io.k8s.api.batch.v1.JobTemplateSpec': { requiredAt: { metadata: [] } },
  ...workloads(
    ['apps', 'Deployment'],
    ['apps', 'ReplicaSet'],
    ['apps', 'StatefulSet'],
    ['apps', 'DaemonSet'],
    ['batch', 'Job'],
    ['core', 'ReplicationController'],
  ),
  'io.k8s.api.batch.v1.CronJob': { pick: ['metadata', 'spec'], required: ['metadata'] },
  'io.k8s.api.batch.v1.CronJobSpec': { pick: ['jobTemplate'], required: [] },
};

/** A workload and its spec are read for the pod template only. */
function workloads(...kinds: (readonly [string, string])[]): Record<string, TypeOverride> {
  return Object.fromEntries(
    kinds.flatMap(([group, kind]) => [
      [`io.k8s.api.${group}.v1.${kind}`, { pick: ['metadata', 'spec'], required: ['metadata'] }],
      [`io.k8s.api.${group}.v1.${kind}Spec`, { pick: ['template'], required: [] }],
    ]),
  );
}
