/**
 * Parsed objects -> typed views of what the tools reason about: namespaces, pod endpoints (pods and the pod
 * templates of workloads), NetworkPolicies, VpcEgressProfiles and Calico GlobalNetworkPolicies. An object of one of
 * these kinds enters its view only if it passes its schema; otherwise its problems are in `errors`, so a consumer
 * either refuses the input or, like the linter, reports them — it never reasons about half-understood policy.
 */
import type { ContainerPort, NetworkPolicy, Protocol } from '../api/kube.js';
import { NAMESPACE_NAME_LABEL } from '../api/kube.js';
import {
  API_VERSION as VPC_API_VERSION,
  VPC_EGRESS_PROFILE_KIND,
  type VpcEgressProfile,
} from '../api/v1alpha1.js';
import type { CalicoNetworkPolicy, GlobalNetworkPolicy } from '../calico/types.js';
import type { ManifestError } from './errors.js';
import { isPlainObject, type ManifestObject, type ObjectSource } from './parse.js';
import type { FieldPath } from '../api/errors.js';
import { validate, type ObjectSchema, type SchemaIssue } from './schema.js';
import {
  CALICO_NETWORK_POLICY_SCHEMA,
  GLOBAL_NETWORK_POLICY_SCHEMA,
  NAMESPACE_SCHEMA,
  NETWORK_POLICY_SCHEMA,
  POD_SCHEMA,
  TIER_SCHEMA,
  VPC_EGRESS_PROFILE_SCHEMA,
  WORKLOAD_SCHEMAS,
} from './schemas.js';

/** The namespace kubectl uses for a namespaced object that names none (with the default context). */
export const DEFAULT_NAMESPACE = 'default';
export const CALICO_API_GROUPS = ['projectcalico.org', 'crd.projectcalico.org'] as const;
export type CalicoApiGroup = (typeof CALICO_API_GROUPS)[number];

export type ObjectKind =
  | 'Namespace'
  | 'Pod'
  | 'workload'
  | 'NetworkPolicy'
  | 'VpcEgressProfile'
  | 'GlobalNetworkPolicy'
  | 'CalicoNetworkPolicy'
  | 'Tier'
  | 'other';

/** The workload kinds whose pod templates become endpoints, with where each keeps its template. */
export const WORKLOAD_TEMPLATE_PATHS: Readonly<Record<string, FieldPath>> = {
  Deployment: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};
const WORKLOAD_GROUPS: Readonly<Record<string, readonly string[]>> = {
  Deployment: ['apps', 'extensions'],
  ReplicaSet: ['apps', 'extensions'],
  StatefulSet: ['apps'],
  DaemonSet: ['apps', 'extensions'],
  Job: ['batch'],
  CronJob: ['batch'],
  ReplicationController: [''],
};

export interface Loaded<T> {
  readonly object: T;
  readonly source: ObjectSource;
}

export interface NamespacedLoaded<T> extends Loaded<T> {
  /** metadata.namespace, or DEFAULT_NAMESPACE when the object names none (see namespaceDefaulted). */
  readonly namespace: string;
  readonly namespaceDefaulted: boolean;
}

export interface NamespaceView {
  readonly name: string;
  /** Its labels, including kubernetes.io/metadata.name=<name> as the API server sets it. */
  readonly labels: Readonly<Record<string, string>>;
  /** False for a namespace only referenced by other objects: it exists with just the name label. */
  readonly declared: boolean;
  readonly source?: ObjectSource;
}

export interface TopOwner {
  /** `Deployment`, `StatefulSet`, ..., or `Pod` for a pod nothing owns. */
  readonly kind: string;
  readonly name: string;
}

/** A set of identical pods: one Pod, or the pods a workload's template makes. */
export interface PodEndpoint {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Serving container ports (containers and restartable init containers), protocol defaulted to TCP. */
  readonly ports: readonly (ContainerPort & { protocol: Protocol })[];
  /** status.podIPs / podIP of a Pod; empty for templates. */
  readonly ips: readonly string[];
  readonly hostNetwork: boolean;
  readonly owner: TopOwner;
  readonly source: ObjectSource;
  /** Where the labels are, relative to the object: metadata.labels or the template's. */
  readonly labelsPath: FieldPath;
}

export interface GlobalNetworkPolicyView extends Loaded<GlobalNetworkPolicy> {
  readonly apiGroup: CalicoApiGroup;
}

export interface CalicoNetworkPolicyView extends NamespacedLoaded<CalicoNetworkPolicy> {
  readonly apiGroup: CalicoApiGroup;
}

/** A Calico Tier: the order tiers run in and what happens at the end of one (Calico's defaults when absent). */
export interface TierView {
  readonly name: string;
  readonly order?: number;
  readonly defaultAction?: 'Deny' | 'Pass';
  readonly source: ObjectSource;
}

export interface InvalidObject {
  readonly object: ManifestObject;
  readonly issues: readonly SchemaIssue[];
}

export interface Inventory {
  readonly namespaces: readonly NamespaceView[];
  readonly endpoints: readonly PodEndpoint[];
  readonly networkPolicies: readonly NamespacedLoaded<NetworkPolicy>[];
  readonly vpcEgressProfiles: readonly Loaded<VpcEgressProfile>[];
  readonly globalNetworkPolicies: readonly GlobalNetworkPolicyView[];
  /** Calico's namespaced NetworkPolicies (evaluated in calico mode only). */
  readonly calicoNetworkPolicies: readonly CalicoNetworkPolicyView[];
  readonly tiers: readonly TierView[];
  /** Objects of kinds the tools do not read (Services, HostEndpoints, AdminNetworkPolicies, ...). */
  readonly ignored: readonly ManifestObject[];
  /** Objects of the kinds above that fail their schema; their issues are also in `errors`. */
  readonly invalid: readonly InvalidObject[];
  /** Objects read despite issues that cannot change a verdict (see isHarmless); their issues are in `warnings`. */
  readonly tolerated: readonly InvalidObject[];
  readonly warnings: readonly ManifestError[];
  readonly errors: readonly ManifestError[];
  /** True when the input has Pods or workloads, i.e. a "selects no pod" finding means something. */
  readonly hasEndpoints: boolean;
  /** True when the input declares at least one Namespace. */
  readonly hasDeclaredNamespaces: boolean;
}

export function apiGroupOf(apiVersion: string | undefined): string | undefined {
  if (apiVersion === undefined) return undefined;
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** Which view an object belongs to, by kind and API group (a Calico `NetworkPolicy` is not a Kubernetes one). */
export function classify(object: Pick<ManifestObject, 'apiVersion' | 'kind'>): ObjectKind {
  const group = apiGroupOf(object.apiVersion);
  const kind = object.kind;
  if (kind === undefined || group === undefined) return 'other';
  if (group === '' && (kind === 'Namespace' || kind === 'Pod')) return kind;
  if (WORKLOAD_GROUPS[kind]?.includes(group)) return 'workload';
  // Only v1 exists; another version is not read as if it were v1.
  if (object.apiVersion === 'networking.k8s.io/v1' && kind === 'NetworkPolicy') return 'NetworkPolicy';
  if (object.apiVersion === VPC_API_VERSION && kind === VPC_EGRESS_PROFILE_KIND) return 'VpcEgressProfile';
  if ((CALICO_API_GROUPS as readonly string[]).includes(group)) {
    if (kind === 'GlobalNetworkPolicy') return 'GlobalNetworkPolicy';
    if (kind === 'NetworkPolicy') return 'CalicoNetworkPolicy';
    if (kind === 'Tier') return 'Tier';
  }
  return 'other';
}

/**
 * Policy objects of kinds the tools do not evaluate (AdminNetworkPolicy,
 * BaselineAdminNetworkPolicy, ClusterNetworkPolicy, extensions/v1beta1 or misspelled NetworkPolicies): traffic they
 * deny would be reported allowed. Staged policies enforce nothing and are not counted. (Calico's namespaced
 * NetworkPolicy is read into its own view: calico mode evaluates it, k8s mode refuses it.)
 */
export function isUnevaluatedPolicy(object: ManifestObject): boolean {
  return (
    classify(object) === 'other' &&
    object.kind !== undefined &&
    /networkpolicy$/i.test(object.kind) &&
    !/^staged/i.test(object.kind)
  );
}

export function schemaFor(object: Pick<ManifestObject, 'apiVersion' | 'kind'>): ObjectSchema | undefined {
  switch (classify(object)) {
    case 'Namespace':
      return NAMESPACE_SCHEMA;
    case 'Pod':
      return POD_SCHEMA;
    case 'workload':
      return object.kind === undefined ? undefined : WORKLOAD_SCHEMAS[object.kind];
    case 'NetworkPolicy':
      return NETWORK_POLICY_SCHEMA;
    case 'VpcEgressProfile':
      return VPC_EGRESS_PROFILE_SCHEMA;
    case 'GlobalNetworkPolicy':
      return GLOBAL_NETWORK_POLICY_SCHEMA;
    case 'CalicoNetworkPolicy':
      return CALICO_NETWORK_POLICY_SCHEMA;
    case 'Tier':
      return TIER_SCHEMA;
    case 'other':
      return undefined;
  }
}

interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  ownerReferences?: { kind: string; name: string; controller?: boolean }[];
}

/**
 * What makes two objects the same object to the API server: group, kind, namespace (as written) and name.
 * Undefined for an object without kind or name.
 */
export function objectIdentity(object: ManifestObject): string | undefined {
  const meta = isPlainObject(object.raw.metadata) ? object.raw.metadata : undefined;
  if (object.kind === undefined || typeof meta?.name !== 'string') return undefined;
  const namespace =
    classify(object) !== 'Namespace' && typeof meta.namespace === 'string' ? meta.namespace : '';
  return [apiGroupOf(object.apiVersion), object.kind, namespace, meta.name].join('/');
}

/** `NetworkPolicy a/p`, `Namespace a`: how messages name an object. */
export function describeObject(object: ManifestObject): string {
  const meta = isPlainObject(object.raw.metadata) ? object.raw.metadata : {};
  const namespace =
    classify(object) !== 'Namespace' && typeof meta.namespace === 'string' ? `${meta.namespace}/` : '';
  return `${object.kind ?? 'object'} ${namespace}${String(meta.name)}`;
}

/** Each definition of an object that a later one replaces, with the one just before it. */
export function redefinitions(
  objects: readonly ManifestObject[],
): { readonly later: ManifestObject; readonly earlier: ManifestObject }[] {
  const last = new Map<string, ManifestObject>();
  const pairs: { later: ManifestObject; earlier: ManifestObject }[] = [];
  for (const object of objects) {
    const identity = objectIdentity(object);
    if (identity === undefined) continue;
    const earlier = last.get(identity);
    if (earlier !== undefined) pairs.push({ later: object, earlier });
    last.set(identity, object);
  }
  return pairs;
}

/**
 * What `kubectl apply -f` leaves in a cluster: of two definitions of one object (files in lexical order, documents
 * in order), the later one. A warning for each replaced definition names both places.
 */
export function latestDefinitions(objects: readonly ManifestObject[]): {
  objects: ManifestObject[];
  warnings: string[];
} {
  const pairs = redefinitions(objects);
  if (pairs.length === 0) return { objects: [...objects], warnings: [] };
  const replaced = new Set(pairs.map(({ earlier }) => earlier));
  return {
    objects: objects.filter((object) => !replaced.has(object)),
    warnings: pairs.map(
      ({ later, earlier }) =>
        later.source.error(
          ['metadata', 'name'],
          `${describeObject(later)} is also defined at ${definedAt(earlier)}; the later definition wins, as with kubectl apply -f`,
        ).message,
    ),
  };
}

/** `file:line` of an object's name. */
export function definedAt(object: ManifestObject): string {
  return `${object.source.file}:${object.source.locate(['metadata', 'name']).line}`;
}

/**
 * kubectl's default field validation warns about unknown fields and goes on. The tools do the same where a field
 * cannot change a verdict: an unknown field of a Namespace, Pod or workload (the fields they read are typed, so an
 * unknown one is one they do not read), and an owner reference without apiVersion or kind (it only names the
 * owner). Everything in policies, and every wrong type or value, stays an error.
 */
function isHarmless(object: ManifestObject, issue: SchemaIssue): boolean {
  const kind = classify(object);
  if (kind !== 'Namespace' && kind !== 'Pod' && kind !== 'workload') return false;
  if (issue.kind === 'unknown-field') return true;
  return issue.kind === 'missing-field' && issue.path.includes('ownerReferences');
}

export function buildInventory(objects: readonly ManifestObject[]): Inventory {
  const invalid: InvalidObject[] = [];
  const tolerated: InvalidObject[] = [];
  const ignored: ManifestObject[] = [];
  const declaredNamespaces = new Map<string, NamespaceView>();
  const pods: ManifestObject[] = [];
  const workloads: ManifestObject[] = [];
  const networkPolicies: NamespacedLoaded<NetworkPolicy>[] = [];
  const vpcEgressProfiles: Loaded<VpcEgressProfile>[] = [];
  const globalNetworkPolicies: GlobalNetworkPolicyView[] = [];
  const calicoNetworkPolicies: CalicoNetworkPolicyView[] = [];
  const tiers: TierView[] = [];

  for (const object of objects) {
    const schema = schemaFor(object);
    if (!schema) {
      ignored.push(object);
      continue;
    }
    const issues = validate(schema, object.raw);
    const harmless = issues.filter((issue) => isHarmless(object, issue));
    if (issues.length > harmless.length) {
      invalid.push({ object, issues });
      continue;
    }
    if (harmless.length > 0) tolerated.push({ object, issues: harmless });
    const meta = object.raw.metadata as Meta;
    switch (classify(object)) {
      case 'Namespace':
        // A later declaration of the same namespace replaces the earlier, as a later `kubectl apply` would.
        declaredNamespaces.set(meta.name, {
          name: meta.name,
          labels: { ...meta.labels, [NAMESPACE_NAME_LABEL]: meta.name },
          declared: true,
          source: object.source,
        });
        break;
      case 'Pod':
        pods.push(object);
        break;
      case 'workload':
        workloads.push(object);
        break;
      case 'NetworkPolicy':
        networkPolicies.push({
          object: withDefaultPodSelector(object.raw as unknown as NetworkPolicy),
          source: object.source,
          namespace: meta.namespace ?? DEFAULT_NAMESPACE,
          namespaceDefaulted: meta.namespace === undefined,
        });
        break;
      case 'VpcEgressProfile':
        vpcEgressProfiles.push({ object: object.raw as unknown as VpcEgressProfile, source: object.source });
        break;
      case 'GlobalNetworkPolicy':
        globalNetworkPolicies.push({
          object: object.raw as unknown as GlobalNetworkPolicy,
          source: object.source,
          apiGroup: apiGroupOf(object.apiVersion) as CalicoApiGroup,
        });
        break;
      case 'CalicoNetworkPolicy':
        calicoNetworkPolicies.push({
          object: object.raw as unknown as CalicoNetworkPolicy,
          source: object.source,
          namespace: meta.namespace ?? DEFAULT_NAMESPACE,
          namespaceDefaulted: meta.namespace === undefined,
          apiGroup: apiGroupOf(object.apiVersion) as CalicoApiGroup,
        });
        break;
      case 'Tier': {
        const spec = (object.raw.spec ?? {}) as { order?: number; defaultAction?: 'Deny' | 'Pass' };
        tiers.push({
          name: meta.name,
          ...(spec.order !== undefined ? { order: spec.order } : {}),
          ...(spec.defaultAction !== undefined ? { defaultAction: spec.defaultAction } : {}),
          source: object.source,
        });
        break;
      }
    }
  }

  const endpoints = podEndpoints(pods, workloads);
  const namespaces = new Map(declaredNamespaces);
  const referenced = [
    ...endpoints.map((e) => e.namespace),
    ...networkPolicies.map((p) => p.namespace),
    ...calicoNetworkPolicies.map((p) => p.namespace),
  ];
  for (const name of referenced) {
    if (!namespaces.has(name)) {
      namespaces.set(name, { name, labels: { [NAMESPACE_NAME_LABEL]: name }, declared: false });
    }
  }

  return {
    namespaces: [...namespaces.values()].sort((a, b) => compare(a.name, b.name)),
    endpoints,
    networkPolicies,
    vpcEgressProfiles,
    globalNetworkPolicies,
    calicoNetworkPolicies,
    tiers,
    ignored,
    invalid,
    tolerated,
    warnings: tolerated.flatMap(({ object, issues }) =>
      issues.map((i) => object.source.error(i.path, i.message)),
    ),
    errors: invalid.flatMap(({ object, issues }) =>
      issues.map((i) => object.source.error(i.path, i.message)),
    ),
    hasEndpoints: endpoints.length > 0,
    hasDeclaredNamespaces: declaredNamespaces.size > 0,
  };
}

type WorkloadKey = string;
const keyOf = (namespace: string, kind: string, name: string): WorkloadKey => `${namespace}/${kind}/${name}`;

/**
 * Pods stand for themselves under their top owner; a workload's template stands for its pods only when no Pod
 * of it is in the input (manifests rather than a cluster dump) and no other workload in the input owns it (the
 * Deployment, not its ReplicaSet, is the peer).
 */
function podEndpoints(pods: readonly ManifestObject[], workloads: readonly ManifestObject[]): PodEndpoint[] {
  const workloadByKey = new Map<WorkloadKey, ManifestObject>();
  for (const w of workloads) {
    const meta = w.raw.metadata as Meta;
    workloadByKey.set(keyOf(meta.namespace ?? DEFAULT_NAMESPACE, w.kind as string, meta.name), w);
  }

  /**
   * netpol-analyzer's naming: the controller owner as its reference names it, followed up through the owners that
   * are in the input (a Deployment in the input stands for its ReplicaSet's pods); itself when nothing owns it.
   */
  const topOwner = (namespace: string, meta: Meta, self: TopOwner): TopOwner => {
    let current = self;
    let currentMeta: Meta | undefined = meta;
    const seen = new Set<WorkloadKey>();
    while (currentMeta) {
      const ref = controllerRef(currentMeta);
      if (!ref) return current;
      const key = keyOf(namespace, ref.kind, ref.name);
      if (seen.has(key)) return current;
      seen.add(key);
      current = { kind: ref.kind, name: ref.name };
      currentMeta = workloadByKey.get(key)?.raw.metadata as Meta | undefined;
    }
    return current;
  };

  const endpoints: PodEndpoint[] = [];
  const represented = new Set<WorkloadKey>();
  for (const pod of pods) {
    const meta = pod.raw.metadata as Meta;
    const namespace = meta.namespace ?? DEFAULT_NAMESPACE;
    const labels = meta.labels ?? {};
    const owner = topOwner(namespace, meta, { kind: 'Pod', name: meta.name });
    if (owner.kind !== 'Pod') represented.add(keyOf(namespace, owner.kind, owner.name));
    const status = isPlainObject(pod.raw.status) ? pod.raw.status : {};
    const ips = new Set<string>();
    if (typeof status.podIP === 'string') ips.add(status.podIP);
    for (const entry of Array.isArray(status.podIPs) ? (status.podIPs as { ip?: string }[]) : []) {
      if (typeof entry.ip === 'string') ips.add(entry.ip);
    }
    endpoints.push({
      namespace,
      name: meta.name,
      labels,
      ports: containerPorts(pod.raw.spec),
      ips: [...ips],
      hostNetwork: isPlainObject(pod.raw.spec) && pod.raw.spec.hostNetwork === true,
      owner,
      source: pod.source,
      labelsPath: ['metadata', 'labels'],
    });
  }

  for (const workload of workloads) {
    const meta = workload.raw.metadata as Meta;
    const namespace = meta.namespace ?? DEFAULT_NAMESPACE;
    const kind = workload.kind as string;
    const ref = controllerRef(meta);
    if (ref && workloadByKey.has(keyOf(namespace, ref.kind, ref.name))) continue;
    const owner = topOwner(namespace, meta, { kind, name: meta.name });
    if (represented.has(keyOf(namespace, owner.kind, owner.name))) continue;
    const templatePath = WORKLOAD_TEMPLATE_PATHS[kind] as FieldPath;
    const template = valueAt(workload.raw, templatePath);
    const templateMeta = isPlainObject(template) && isPlainObject(template.metadata) ? template.metadata : {};
    const spec = isPlainObject(template) ? template.spec : undefined;
    endpoints.push({
      namespace,
      name: meta.name,
      labels: (templateMeta.labels as Record<string, string> | undefined) ?? {},
      ports: containerPorts(spec),
      ips: [],
      hostNetwork: isPlainObject(spec) && spec.hostNetwork === true,
      owner,
      source: workload.source,
      labelsPath: [...templatePath, 'metadata', 'labels'],
    });
  }
  return endpoints.sort(
    (a, b) =>
      compare(a.namespace, b.namespace) || compare(a.name, b.name) || compare(a.owner.kind, b.owner.kind),
  );
}

/** The API server stores a NetworkPolicy without spec.podSelector with `podSelector: {}` (every pod). */
function withDefaultPodSelector(np: NetworkPolicy): NetworkPolicy {
  return np.spec?.podSelector !== undefined ? np : { ...np, spec: { ...np.spec, podSelector: {} } };
}

/** The owner reference marked controller; one lacking its kind or name is ignored, as it names nothing. */
function controllerRef(meta: Meta): { kind: string; name: string } | undefined {
  return (meta.ownerReferences ?? []).find(
    (ref) => ref.controller === true && typeof ref.kind === 'string' && typeof ref.name === 'string',
  );
}

function containerPorts(spec: unknown): (ContainerPort & { protocol: Protocol })[] {
  if (!isPlainObject(spec)) return [];
  const serving = [
    ...(Array.isArray(spec.containers) ? spec.containers : []),
    // Sidecars (init containers that keep running) serve traffic like any container.
    ...(Array.isArray(spec.initContainers)
      ? spec.initContainers.filter((c) => isPlainObject(c) && c.restartPolicy === 'Always')
      : []),
  ] as { ports?: ContainerPort[] }[];
  return serving.flatMap((c) =>
    (c.ports ?? []).map((p) => ({
      containerPort: p.containerPort,
      protocol: p.protocol ?? 'TCP',
      ...(p.name !== undefined ? { name: p.name } : {}),
    })),
  );
}

export function valueAt(root: unknown, path: FieldPath): unknown {
  let value = root;
  for (const segment of path) {
    if (typeof segment === 'number') value = Array.isArray(value) ? value[segment] : undefined;
    else value = isPlainObject(value) ? value[segment] : undefined;
  }
  return value;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
