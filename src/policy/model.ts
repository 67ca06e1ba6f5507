/**
 * The evaluation model shared by the Kubernetes evaluator (kube-eval.ts), the Calico evaluator (calico-eval.ts),
 * the differential tests and the CLI's connectivity analysis: namespaces, pods, external addresses, connections,
 * how a pod looks to Calico (its workload endpoint's labels), and the explanation structure both evaluators return.
 *
 * Both evaluators identify endpoints by identity (which pod), not by address, so they also work on manifests whose
 * pods have no IPs yet; addresses matter only for CIDR matching (ipBlock / nets), where a pod without an address
 * of the connection's family matches no CIDR. Calico really matches selectors by IP-set membership; identity is
 * the same thing for pods that have addresses, and the only sensible reading for pods that do not.
 */
import type { Namespace, Pod, Protocol } from '../api/kube.js';
import { NAMESPACE_NAME_LABEL } from '../api/kube.js';
import { type FieldError, type Validated, type FieldPath } from '../api/errors.js';
import { formatIp, parseIp, type IpAddress, type IpFamily } from '../util/cidr.js';
import {
  CALICO_K8S_ORCHESTRATOR,
  CALICO_NAME_LABEL,
  CALICO_NAMESPACE_LABEL,
  CALICO_NAMESPACE_LABEL_PREFIX,
  CALICO_ORCHESTRATOR_LABEL,
  CALICO_SERVICEACCOUNT_LABEL,
  CALICO_SERVICEACCOUNT_LABEL_PREFIX,
} from '../translate/networkpolicy.js';
import type { Labels } from '../selectors/kubernetes.js';

export type { Labels } from '../selectors/kubernetes.js';
export type { IpAddress, IpFamily } from '../util/cidr.js';

// ---------------------------------------------------------------------------------------------------------------
// Cluster

export interface NamespaceModel {
  readonly name: string;
  /** Effective labels: always include `kubernetes.io/metadata.name: <name>`, as the API server guarantees. */
  readonly labels: Labels;
}

/** A named container port (Calico maps only named ports into the endpoint; unnamed ones cannot be referenced). */
export interface NamedPort {
  readonly name: string;
  readonly port: number;
  readonly protocol: Protocol;
}

export interface PodModel {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Labels;
  /** Named ports of all containers and init containers (Calico includes both). */
  readonly namedPorts: readonly NamedPort[];
  /** At most one per family in practice; empty for pods built from manifests. */
  readonly ips: readonly IpAddress[];
  readonly serviceAccountName?: string;
  /**
   * Host-network pods are not workload endpoints: no NetworkPolicy or workload policy applies to them and
   * selectors never match them; their traffic has the node's address. They are evaluated as plain addresses.
   */
  readonly hostNetwork: boolean;
}

export interface ClusterModel {
  readonly namespaces: ReadonlyMap<string, NamespaceModel>;
  readonly pods: readonly PodModel[];
  /** Namespaces of pods that were not given as Namespace objects: assumed to carry only the name label. */
  readonly implicitNamespaces: readonly string[];
  pod(namespace: string, name: string): PodModel | undefined;
}

/** A namespace with its effective labels (the name label added or corrected, as the API server does). */
export function namespaceModel(name: string, labels: Labels = {}): NamespaceModel {
  return { name, labels: { ...labels, [NAMESPACE_NAME_LABEL]: name } };
}

/** A pod from plain values (IPs as text); throws on an unparsable IP, since callers pass literals. */
export function podModel(pod: {
  namespace: string;
  name: string;
  labels?: Labels;
  namedPorts?: readonly NamedPort[];
  ips?: readonly string[];
  serviceAccountName?: string;
  hostNetwork?: boolean;
}): PodModel {
  const ips = (pod.ips ?? []).map((text) => {
    const parsed = parseIp(text);
    if (!parsed.ok) throw new Error(`pod ${pod.namespace}/${pod.name}: ${parsed.message}`);
    return parsed.value;
  });
  return {
    namespace: pod.namespace,
    name: pod.name,
    labels: pod.labels ?? {},
    namedPorts: pod.namedPorts ?? [],
    ips,
    ...(pod.serviceAccountName ? { serviceAccountName: pod.serviceAccountName } : {}),
    hostNetwork: pod.hostNetwork ?? false,
  };
}

/** Indexes namespaces and pods; namespaces that pods use but that are missing are added implicitly. */
export function clusterModel(namespaces: readonly NamespaceModel[], pods: readonly PodModel[]): ClusterModel {
  const byName = new Map<string, NamespaceModel>();
  for (const namespace of namespaces)
    byName.set(namespace.name, namespaceModel(namespace.name, namespace.labels));
  const implicit: string[] = [];
  for (const pod of pods) {
    if (!byName.has(pod.namespace)) {
      byName.set(pod.namespace, namespaceModel(pod.namespace));
      implicit.push(pod.namespace);
    }
  }
  const podIndex = new Map(pods.map((pod) => [podKey(pod.namespace, pod.name), pod]));
  return {
    namespaces: byName,
    pods,
    implicitNamespaces: implicit.sort(),
    pod: (namespace, name) => podIndex.get(podKey(namespace, name)),
  };
}

function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/**
 * The model of a cluster from wire-format objects (files or a live cluster). Pod IPs come from status.podIPs
 * (else status.podIP); pods need metadata.namespace.
 */
export function buildClusterModel(input: {
  namespaces?: readonly Namespace[];
  pods?: readonly Pod[];
}): Validated<ClusterModel> {
  const errors: FieldError[] = [];
  const namespaces = (input.namespaces ?? []).map((ns) =>
    namespaceModel(ns.metadata.name, ns.metadata.labels ?? {}),
  );
  const pods: PodModel[] = [];
  (input.pods ?? []).forEach((pod, index) => {
    const path: FieldPath = ['pods', index];
    const namespace = pod.metadata.namespace;
    if (namespace === undefined || namespace === '') {
      errors.push({
        path: [...path, 'metadata', 'namespace'],
        message: `pod ${pod.metadata.name}: required`,
      });
      return;
    }
    const ips: IpAddress[] = [];
    const texts =
      pod.status?.podIPs?.map((entry) => entry.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
    texts.forEach((text, ipIndex) => {
      const parsed = parseIp(text);
      if (parsed.ok) ips.push(parsed.value);
      else errors.push({ path: [...path, 'status', 'podIPs', ipIndex], message: parsed.message });
    });
    const namedPorts: NamedPort[] = [];
    for (const container of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
      for (const port of container.ports ?? []) {
        if (port.name)
          namedPorts.push({ name: port.name, port: port.containerPort, protocol: port.protocol ?? 'TCP' });
      }
    }
    pods.push({
      namespace,
      name: pod.metadata.name,
      labels: pod.metadata.labels ?? {},
      namedPorts,
      ips,
      ...(pod.spec.serviceAccountName ? { serviceAccountName: pod.spec.serviceAccountName } : {}),
      hostNetwork: pod.spec.hostNetwork === true,
    });
  });
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: clusterModel(namespaces, pods) };
}

// ---------------------------------------------------------------------------------------------------------------
// How Calico sees a pod (libcalico-go conversion/workload_endpoint_default.go, conversion.go NamespaceToProfile)

/**
 * The workload endpoint's own labels: the pod's labels, then Calico's namespace and orchestrator labels (which
 * override pod labels of the same key), and the service account label when the name is shorter than 63.
 */
export function workloadEndpointLabels(pod: PodModel): Labels {
  const labels: Record<string, string> = { ...pod.labels };
  labels[CALICO_NAMESPACE_LABEL] = pod.namespace;
  labels[CALICO_ORCHESTRATOR_LABEL] = CALICO_K8S_ORCHESTRATOR;
  if (pod.serviceAccountName && pod.serviceAccountName.length < 63) {
    labels[CALICO_SERVICEACCOUNT_LABEL] = pod.serviceAccountName;
  }
  return labels;
}

/** The labels the namespace's profile (`kns.<ns>`) gives its endpoints: `pcns.<key>`, plus the name. */
export function namespaceProfileLabels(namespace: NamespaceModel): Labels {
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(namespace.labels))
    labels[CALICO_NAMESPACE_LABEL_PREFIX + key] = value;
  labels[CALICO_NAMESPACE_LABEL_PREFIX + CALICO_NAME_LABEL] = namespace.name;
  return labels;
}

/** The service account profile's labels; we do not model ServiceAccount objects, so only the name label. */
export function serviceAccountProfileLabels(pod: PodModel): Labels {
  return pod.serviceAccountName
    ? { [CALICO_SERVICEACCOUNT_LABEL_PREFIX + CALICO_NAME_LABEL]: pod.serviceAccountName }
    : {};
}

/**
 * The labels Calico's selectors see on the pod's endpoint: its own labels, falling back to the inherited profile
 * labels. Own labels win (Felix's label index looks up the endpoint's labels before its parents'), which is why a
 * pod labelled `pcns.<key>` can satisfy a namespaceSelector on `<key>` in Calico but not in Kubernetes; the lint
 * should flag such pods.
 */
export function calicoEndpointLabels(pod: PodModel, namespace: NamespaceModel): Labels {
  return {
    ...serviceAccountProfileLabels(pod),
    ...namespaceProfileLabels(namespace),
    ...workloadEndpointLabels(pod),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Connections

export type ConnectionProtocol = Protocol | 'ICMP' | 'ICMPv6';

/** One side of a connection: a pod by name, or an address outside the pod network (or a host-network pod). */
export type PeerRef = { kind: 'pod'; namespace: string; name: string } | { kind: 'external'; ip: string };

export interface Connection {
  src: PeerRef;
  dst: PeerRef;
  protocol: ConnectionProtocol;
  /** Destination port; required for TCP, UDP and SCTP, absent for ICMP. */
  port?: number;
  /** Source port, only for Calico rules that match source ports; unknown (ephemeral) when absent. */
  srcPort?: number;
  /** The IP family between two pods; by default the first family both pods have an address in, else IPv4. */
  ipFamily?: IpFamily;
}

export type ResolvedEndpoint =
  | {
      kind: 'pod';
      pod: PodModel;
      namespace: NamespaceModel;
      /** The pod's address in the connection's family, when known. */
      address: IpAddress | undefined;
    }
  | {
      kind: 'external';
      address: IpAddress;
      /** Set when the address is a host-network pod's. */
      hostNetworkPod?: PodModel;
    };

export interface ResolvedConnection {
  src: ResolvedEndpoint;
  dst: ResolvedEndpoint;
  protocol: ConnectionProtocol;
  port: number | undefined;
  srcPort: number | undefined;
  family: IpFamily;
}

export function resolveConnection(
  cluster: ClusterModel,
  connection: Connection,
): Validated<ResolvedConnection> {
  const errors: FieldError[] = [];
  const { protocol, port, srcPort } = connection;
  const needsPort = protocol === 'TCP' || protocol === 'UDP' || protocol === 'SCTP';
  if (!['TCP', 'UDP', 'SCTP', 'ICMP', 'ICMPv6'].includes(protocol)) {
    errors.push({
      path: ['protocol'],
      message: `${JSON.stringify(protocol)} is not one of TCP, UDP, SCTP, ICMP, ICMPv6`,
    });
  } else if (needsPort && !isPort(port)) {
    errors.push({ path: ['port'], message: `${protocol} needs a destination port from 1 to 65535` });
  } else if (!needsPort && port !== undefined) {
    errors.push({ path: ['port'], message: `${protocol} has no ports` });
  }
  if (srcPort !== undefined && !isPort(srcPort))
    errors.push({ path: ['srcPort'], message: 'must be from 1 to 65535' });

  const src = lookUpPeer(cluster, connection.src, ['src'], errors);
  const dst = lookUpPeer(cluster, connection.dst, ['dst'], errors);
  if (errors.length > 0 || src === undefined || dst === undefined) return { ok: false, errors };

  const family = connectionFamily(src, dst, connection.ipFamily);
  if (family === undefined) {
    return {
      ok: false,
      errors: [{ path: ['ipFamily'], message: 'the two sides are of different IP families' }],
    };
  }
  if (protocol === 'ICMP' && family === 6)
    errors.push({ path: ['protocol'], message: 'ICMP is IPv4; use ICMPv6' });
  if (protocol === 'ICMPv6' && family === 4)
    errors.push({ path: ['protocol'], message: 'ICMPv6 is IPv6; use ICMP' });
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    value: {
      src: resolveEndpoint(src, family),
      dst: resolveEndpoint(dst, family),
      protocol,
      port,
      srcPort,
      family,
    },
  };
}

/**
 * The IP family of a connection between two sides: an address (outside, or a host-network pod's) fixes it; between
 * two pods it is the requested one, else the first family both have an address in, else IPv4. undefined when the
 * sides fix different families (or one other than the requested one).
 */
export function connectionFamily(
  src: LookedUpPeer,
  dst: LookedUpPeer,
  requested?: IpFamily,
): IpFamily | undefined {
  const fixed = src.kind === 'external' ? src.ip.family : dst.kind === 'external' ? dst.ip.family : undefined;
  if (fixed !== undefined) {
    if (dst.kind === 'external' && dst.ip.family !== fixed) return undefined;
    return requested === undefined || requested === fixed ? fixed : undefined;
  }
  if (requested !== undefined) return requested;
  const both = (f: IpFamily) =>
    src.kind === 'pod' && dst.kind === 'pod' && !!addressOf(src.pod, f) && !!addressOf(dst.pod, f);
  return both(4) ? 4 : both(6) ? 6 : 4;
}

/** A looked-up side as it takes part in a connection of `family` (a pod's address in that family, if any). */
export function resolveEndpoint(side: LookedUpPeer, family: IpFamily): ResolvedEndpoint {
  return side.kind === 'external'
    ? {
        kind: 'external',
        address: side.ip,
        ...(side.hostNetworkPod ? { hostNetworkPod: side.hostNetworkPod } : {}),
      }
    : { kind: 'pod', pod: side.pod, namespace: side.namespace, address: addressOf(side.pod, family) };
}

/** A side of a connection found in the model: a pod, or an address (outside, or a host-network pod's). */
export type LookedUpPeer =
  | { kind: 'pod'; pod: PodModel; namespace: NamespaceModel }
  | { kind: 'external'; ip: IpAddress; hostNetworkPod?: PodModel };

/** The side `ref` names, as resolveConnection finds it; errors go to `errors` under `path`. */
export function lookUpPeer(
  cluster: ClusterModel,
  ref: PeerRef,
  path: FieldPath,
  errors: FieldError[],
): LookedUpPeer | undefined {
  if (ref.kind === 'external') {
    const parsed = parseIp(ref.ip);
    if (!parsed.ok) {
      errors.push({ path: [...path, 'ip'], message: parsed.message });
      return undefined;
    }
    return { kind: 'external', ip: parsed.value };
  }
  const pod = cluster.pod(ref.namespace, ref.name);
  if (pod === undefined) {
    errors.push({ path, message: `no pod ${ref.namespace}/${ref.name} in the model` });
    return undefined;
  }
  if (pod.hostNetwork) {
    const ip = pod.ips[0];
    if (ip === undefined) {
      errors.push({ path, message: `host-network pod ${ref.namespace}/${ref.name} has no IP to evaluate` });
      return undefined;
    }
    return { kind: 'external', ip, hostNetworkPod: pod };
  }
  return {
    kind: 'pod',
    pod,
    namespace: cluster.namespaces.get(pod.namespace) ?? namespaceModel(pod.namespace),
  };
}

function addressOf(pod: PodModel, family: IpFamily): IpAddress | undefined {
  return pod.ips.find((ip) => ip.family === family);
}

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** `ns/pod`, or the address. */
export function describeEndpoint(endpoint: ResolvedEndpoint): string {
  if (endpoint.kind === 'pod') return `${endpoint.pod.namespace}/${endpoint.pod.name}`;
  const ip = formatIp(endpoint.address);
  return endpoint.hostNetworkPod
    ? `${ip} (host-network pod ${endpoint.hostNetworkPod.namespace}/${endpoint.hostNetworkPod.name})`
    : ip;
}

/** `TCP/8080`, `ICMP`. */
export function describeService(connection: Pick<ResolvedConnection, 'protocol' | 'port'>): string {
  return connection.port === undefined ? connection.protocol : `${connection.protocol}/${connection.port}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Verdicts and explanations (shared by both evaluators; the CLI's --explain prints them in words)

export type Direction = 'Ingress' | 'Egress';

/** A Kubernetes NetworkPolicy in k8s mode; in calico mode a Calico namespaced NetworkPolicy (k8s ones are GNPs). */
export type PolicyRef =
  | { kind: 'NetworkPolicy'; namespace: string; name: string }
  | { kind: 'GlobalNetworkPolicy'; name: string; tier: string; order: number | undefined };

/** A rule: index into the policy's ingress or egress list (Kubernetes rule or Calico rule). */
export interface RuleRef {
  policy: PolicyRef;
  direction: Direction;
  ruleIndex: number;
}

/** Why a rule did not match, one entry per failing part; `field` is relative to the rule (e.g. `from[1]`). */
export interface Mismatch {
  field: string;
  message: string;
}

export interface RuleEvaluation {
  rule: RuleRef;
  matched: boolean;
  /** Calico only: the rule's action. Kubernetes rules always allow. */
  action?: 'Allow' | 'Deny' | 'Pass' | 'Log';
  /** Empty when matched. */
  mismatches: Mismatch[];
}

export type DirectionOutcome =
  /** The endpoint on this side is not a pod's workload endpoint (external address, host network): nothing applies. */
  | 'not-applicable'
  /** No policy selects the endpoint for this direction: Kubernetes non-isolation, Calico's allowing profile. */
  | 'no-policy-selects'
  /** Kubernetes: a rule of a selecting policy allows it. Calico: the first matching Allow rule. */
  | 'allowed-by-rule'
  /** Kubernetes: selected, and no rule of any selecting policy allows it. */
  | 'no-rule-allows'
  /** Calico: the first matching rule is a Deny. */
  | 'denied-by-rule'
  /** Calico: a tier selected the endpoint and none of its rules matched: the tier's default action (Deny). */
  | 'end-of-tier-deny'
  /** Calico: every selecting tier passed: the profile (allow) decides. */
  | 'passed-to-profile';

export interface DirectionVerdict {
  direction: Direction;
  /** The endpoint whose policy decides: the destination for Ingress, the source for Egress. */
  endpoint: string;
  allowed: boolean;
  outcome: DirectionOutcome;
  /** The policies that select the endpoint for this direction, in evaluation order. */
  selectedBy: PolicyRef[];
  /** The rules that allow the connection (Kubernetes: all of them; Calico: the deciding Allow rule). */
  allowedBy: RuleRef[];
  /** Every rule considered, in evaluation order, with why it did or did not match. */
  rules: RuleEvaluation[];
}

export interface Verdict<D extends DirectionVerdict = DirectionVerdict> {
  /** Allowed only if both directions allow. */
  allowed: boolean;
  /** `src -> dst TCP/80 (IPv4)`. */
  connection: string;
  egress: D;
  ingress: D;
}

/** A connection's verdict from its two directions, each decided by its own endpoint's policies. */
export function verdictOf<D extends DirectionVerdict>(
  connection: ResolvedConnection,
  decide: (direction: Direction) => D,
): Verdict<D> {
  const egress = decide('Egress');
  const ingress = decide('Ingress');
  return {
    allowed: egress.allowed && ingress.allowed,
    connection: describeConnection(connection),
    egress,
    ingress,
  };
}

export function describeConnection(connection: ResolvedConnection): string {
  return `${describeEndpoint(connection.src)} -> ${describeEndpoint(connection.dst)} ${describeService(connection)} (IPv${connection.family})`;
}

/** The named port `name`/`protocol` of a pod, if it has one (what both Kubernetes and Calico resolve). */
export function namedPortNumbers(pod: PodModel, name: string, protocol: ConnectionProtocol): number[] {
  return pod.namedPorts
    .filter((port) => port.name === name && port.protocol === protocol)
    .map((port) => port.port);
}
