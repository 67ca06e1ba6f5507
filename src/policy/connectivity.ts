/**
 * Connectivity analysis: which connections the policies allow between every ordered pair of peers, in the connlist
 * terms of np-guard's netpol-analyzer (`src => dst : conns`), computed with the same evaluators the differential
 * tests prove equal (kube-eval.ts for NetworkPolicy semantics, calico-eval.ts for the GNPs), never a second copy of
 * their semantics.
 *
 * Peers. A workload (its top owner: Deployment, StatefulSet, ...) or a Pod nothing owns is one peer,
 * `namespace/name[Kind]`; all pods of a workload are represented by one of them (the template when the input is
 * manifests), as netpol-analyzer does. Outside addresses are `FIRST-LAST[External]` IPv4 ranges: the address
 * space cut wherever some policy's address set starts or ends (sources by the ingress ipBlocks / source nets,
 * destinations by the egress ipBlocks / destination nets), so every address of a range is treated alike by every
 * rule; with no address rule in play the whole space is one range. An ipBlock's set is its cidr minus its excepts,
 * as netpol-analyzer computes it, so an except that shares an edge with its cidr makes no extra cut; and a policy
 * that applies to no workload of the input (a host-endpoint policy) cuts nothing, since it decides nothing here.
 *
 * Ports, without evaluating 3 x 65535 ports per pair: the verdict for a pair can only change at a port where some
 * rule of a policy that applies to the pair starts or stops matching. Those boundaries are known from the rules
 * (numeric ports, endPort ranges, Calico port ranges, and the destination's named container ports when a rule
 * names ports); between two boundaries every port gets the same verdict, so the evaluator is asked once per
 * segment and protocol. The property tests in connectivity.test.ts check the result against the evaluator at
 * random ports and addresses.
 *
 * IP families: pods are compared over the first family both have an address in (IPv4 when neither has one), as
 * the evaluator's resolveConnection does; outside ranges are IPv4, like netpol-analyzer's. IBM Cloud VPC clusters
 * are IPv4-only.
 */
import type { NetworkPolicy, Protocol } from '../api/kube.js';
import type { GlobalNetworkPolicy, PolicyDirection } from '../calico/types.js';
import {
  cidrToRange,
  formatIp,
  formatRange,
  parseIp,
  partitionAtBoundaries,
  subtractIntervals,
  type Cidr,
  type IpAddress,
  type IpInterval,
} from '../util/cidr.js';
import { formatFieldError, type FieldError } from '../api/errors.js';
import { translateNetworkPolicy, type NetworkPolicyTranslationOptions } from '../translate/networkpolicy.js';
import {
  calicoPolicySet,
  calicoVerdict,
  compileCalicoPolicy,
  type CalicoPolicyOptions,
  type CalicoTier,
  type CompiledCalicoPolicy,
} from './calico-eval.js';
import {
  compileNetworkPolicy,
  kubeDirectionAllowed,
  kubeVerdict,
  type CompiledNetworkPolicy,
} from './kube-eval.js';
import type { Labels } from '../selectors/kubernetes.js';
import {
  calicoEndpointLabels,
  clusterModel,
  namespaceModel,
  resolveConnection,
  type ClusterModel,
  type Direction,
  type NamedPort,
  type NamespaceModel,
  type PeerRef,
  type PodModel,
  type ResolvedConnection,
  type Verdict,
} from './model.js';

// ---------------------------------------------------------------------------------------------------------------
// Input

export type ConnectivityMode = 'k8s' | 'calico';
export const CONNECTIVITY_MODES: readonly ConnectivityMode[] = ['k8s', 'calico'];

/**
 * One pod, or the pod template of a workload, with its top owner. The manifest inventory's PodEndpoint has this
 * shape, so `inventory.endpoints` can be passed as is.
 */
export interface EndpointInput {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Labels;
  readonly ports: readonly {
    readonly name?: string;
    readonly containerPort: number;
    readonly protocol: Protocol;
  }[];
  /** status.podIPs; empty for templates. */
  readonly ips: readonly string[];
  readonly hostNetwork: boolean;
  /** The top owning workload, or `{ kind: 'Pod', name }` for a pod nothing owns. */
  readonly owner: { readonly kind: string; readonly name: string };
  readonly serviceAccountName?: string;
}

export interface ConnectivityInput {
  /** Namespaces with their labels (undeclared ones may be left out: they get the name label only). */
  readonly namespaces: readonly { readonly name: string; readonly labels: Labels }[];
  readonly endpoints: readonly EndpointInput[];
  /** `namespace` is where the policy applies (metadata.namespace, or the default the loader chose). */
  readonly networkPolicies: readonly { readonly object: NetworkPolicy; readonly namespace: string }[];
  /** Calico GlobalNetworkPolicies in the projectcalico.org/v3 shape; used in calico mode. */
  readonly globalNetworkPolicies?: readonly {
    readonly object: GlobalNetworkPolicy;
    /** How to read a missing spec.types: `crd-v1` for objects read from crd.projectcalico.org/v1. */
    readonly missingTypes?: CalicoPolicyOptions['missingTypes'];
  }[];
  /** Calico tiers (order, default action); tiers not described run after those described, with Deny. */
  readonly tiers?: readonly CalicoTier[];
}

export interface ConnectivityOptions {
  readonly mode: ConnectivityMode;
  /** `namespace/name`, `name`, or `namespace/name[Kind]`: only pairs with this workload on one side. */
  readonly focusWorkload?: string;
  /** Keep the evaluator's verdict for every port segment (for explain.ts). */
  readonly explain?: boolean;
  /** How NetworkPolicies are translated in calico mode (tier, order), as the controller would. */
  readonly translation?: NetworkPolicyTranslationOptions;
}

// ---------------------------------------------------------------------------------------------------------------
// Port sets

/** The port protocols, in the order connlist prints them. */
export const PORT_PROTOCOLS = ['SCTP', 'TCP', 'UDP'] as const satisfies readonly Protocol[];
export const MIN_PORT = 1;
export const MAX_PORT = 65535;
export const ALL_CONNECTIONS = 'All Connections';
export const NO_CONNECTIONS = 'No Connections';

/** An inclusive port range. */
export interface PortRange {
  readonly first: number;
  readonly last: number;
}

/** Destination ports per protocol, as sorted, disjoint, non-adjacent ranges. */
export type PortSet = Readonly<Record<Protocol, readonly PortRange[]>>;

const FULL_RANGE: PortRange = { first: MIN_PORT, last: MAX_PORT };

export function portSetHas(set: PortSet, protocol: Protocol, port: number): boolean {
  return set[protocol].some((range) => range.first <= port && port <= range.last);
}

export function isEmptyPortSet(set: PortSet): boolean {
  return PORT_PROTOCOLS.every((protocol) => set[protocol].length === 0);
}

function isFullPortSet(set: PortSet): boolean {
  return PORT_PROTOCOLS.every((protocol) => {
    const ranges = set[protocol];
    return ranges.length === 1 && ranges[0]?.first === MIN_PORT && ranges[0]?.last === MAX_PORT;
  });
}

/**
 * connlist's text for a port set: `All Connections`, `No Connections`, or the protocols that have ports, sorted
 * by name and joined by `,`, each as `PROTO a-b,c` (`SCTP 1-65535,TCP 1-79,81-65535,UDP 1-65535`).
 */
export function formatPortSet(set: PortSet): string {
  if (isFullPortSet(set)) return ALL_CONNECTIONS;
  if (isEmptyPortSet(set)) return NO_CONNECTIONS;
  return PORT_PROTOCOLS.filter((protocol) => set[protocol].length > 0)
    .map((protocol) => `${protocol} ${set[protocol].map(formatPortRange).join(',')}`)
    .join(',');
}

function formatPortRange({ first, last }: PortRange): string {
  return first === last ? String(first) : `${first}-${last}`;
}

/** Appends a range after the last of sorted ranges, joining the two when they touch. */
export function appendPortRange(ranges: PortRange[], first: number, last: number): void {
  const previous = ranges[ranges.length - 1];
  if (previous && previous.last + 1 >= first) ranges[ranges.length - 1] = { first: previous.first, last };
  else ranges.push({ first, last });
}

// ---------------------------------------------------------------------------------------------------------------
// Output

export interface WorkloadPeer {
  readonly kind: 'workload';
  /** `namespace/name[Kind]`. */
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  readonly workloadKind: string;
  /** The pod (or template) that stands for all pods of the workload; its model name is `name[Kind]`. */
  readonly pod: PodModel;
  readonly ref: PeerRef;
}

export interface ExternalPeer {
  readonly kind: 'external';
  /** `FIRST-LAST[External]`. */
  readonly id: string;
  readonly range: IpInterval;
  /** The range's first address: every address of the range gets the same verdicts. */
  readonly ref: PeerRef;
}

export type ConnectivityPeer = WorkloadPeer | ExternalPeer;

/** Ports of one protocol that got the same verdict. */
export interface PortSegment {
  readonly protocol: Protocol;
  readonly first: number;
  readonly last: number;
  readonly allowed: boolean;
  /** The evaluator's verdict for every port of the segment (with `explain` only). */
  readonly verdict?: Verdict;
}

export interface PairConnectivity {
  readonly src: ConnectivityPeer;
  readonly dst: ConnectivityPeer;
  readonly allowed: PortSet;
  /** formatPortSet(allowed). */
  readonly conn: string;
  /** With `explain`: every port of every protocol, in protocol then port order. */
  readonly segments?: readonly PortSegment[];
}

/** One connlist line; also the JSON/CSV/Markdown row. */
export interface ConnectionLine {
  readonly src: string;
  readonly dst: string;
  readonly conn: string;
}

export interface ConnectivityReport {
  readonly mode: ConnectivityMode;
  /** The model the evaluator saw: one pod per workload peer. */
  readonly cluster: ClusterModel;
  readonly workloads: readonly WorkloadPeer[];
  /** External ranges as sources (cut by ingress address rules) and as destinations (cut by egress ones). */
  readonly externalSources: readonly ExternalPeer[];
  readonly externalDestinations: readonly ExternalPeer[];
  /** Every analysed ordered pair, denied ones included, sorted by source then destination. */
  readonly pairs: readonly PairConnectivity[];
  /** The allowed pairs as connlist lines, in the same order. */
  readonly connections: readonly ConnectionLine[];
  /** Calico mode: the NetworkPolicy (`namespace/name`) each generated GNP was translated from, by GNP name. */
  readonly translatedFrom: ReadonlyMap<string, string>;
  /** Things the user should know that do not stop the analysis (ignored objects, replaced GNPs). */
  readonly warnings: readonly string[];
}

/** Input the analysis cannot use, with the index of the offending object in its input list. */
export interface ConnectivityProblem {
  readonly kind: 'NetworkPolicy' | 'GlobalNetworkPolicy' | 'endpoint' | 'focus';
  /** Index into the input list of that kind; -1 for an option. */
  readonly index: number;
  /** `NetworkPolicy accounts/backend-allow`. */
  readonly subject: string;
  readonly errors: readonly FieldError[];
}

export type ConnectivityResult =
  | { readonly ok: true; readonly report: ConnectivityReport }
  | { readonly ok: false; readonly problems: readonly ConnectivityProblem[] };

export function describeProblem(problem: ConnectivityProblem): string {
  return `${problem.subject}: ${problem.errors.map(formatFieldError).join('; ')}`;
}

// ---------------------------------------------------------------------------------------------------------------
// The policies, as one evaluator with what the analysis needs to know about their rules

/** Per direction, what a policy's rules say that can change the verdict along ports or addresses. */
interface RuleBoundaries {
  /** Per protocol, ports where a rule's port match starts or stops (the port after a range's end). */
  readonly portCuts: Readonly<Record<Protocol, readonly number[]>>;
  /** The protocols in which some rule matches ports by name (resolved on the destination pod). */
  readonly namedPorts: ReadonlySet<Protocol>;
  /** The address sets of the rules' peers on the far side (IPv4 and IPv6), each as merged intervals. */
  readonly addressSets: readonly (readonly IpInterval[])[];
  /** Address sets the rules match against the selected endpoint's own address (Calico only). */
  readonly ownAddressSets: readonly (readonly IpInterval[])[];
}

interface AnalysedPolicy {
  /** Whether the policy applies to the pod for the direction (the same test the evaluator makes). */
  selects(pod: PodModel, namespace: NamespaceModel, direction: Direction): boolean;
  readonly boundaries: Readonly<Record<Direction, RuleBoundaries>>;
}

interface PolicyEngine {
  readonly policies: readonly AnalysedPolicy[];
  verdict(connection: ResolvedConnection): Verdict;
  /**
   * The verdict under only the policies at `indices` (ascending). Both evaluators consider, per direction, only
   * the policies that select that direction's endpoint, so passing the ones that select the side in question
   * gives that side's answer exactly, without testing every other policy of the input again.
   */
  verdictUnder(indices: readonly number[], connection: ResolvedConnection): Verdict;
  /** `verdictUnder(indices, connection)[direction].allowed`, without building explanations. */
  allowedUnder(indices: readonly number[], connection: ResolvedConnection, direction: Direction): boolean;
}

function kubeEngine(policies: readonly CompiledNetworkPolicy[]): PolicyEngine {
  // One array per distinct subset: the listing path asks the same subset once per port segment.
  const subsets = new Map<readonly number[], CompiledNetworkPolicy[]>();
  const subset = (indices: readonly number[]) => {
    let set = subsets.get(indices);
    if (set === undefined) {
      set = indices.map((index) => policies[index] as CompiledNetworkPolicy);
      subsets.set(indices, set);
    }
    return set;
  };
  return {
    policies: policies.map((policy) => ({
      selects: (pod, _namespace, direction) =>
        !pod.hostNetwork &&
        policy.namespace === pod.namespace &&
        policy.types.includes(direction) &&
        policy.podSelector.matches(pod.labels),
      boundaries: {
        Ingress: kubeBoundaries(policy, 'Ingress'),
        Egress: kubeBoundaries(policy, 'Egress'),
      },
    })),
    verdict: (connection) => kubeVerdict(policies, connection),
    verdictUnder: (indices, connection) => kubeVerdict(subset(indices), connection),
    allowedUnder: (indices, connection, direction) =>
      kubeDirectionAllowed(subset(indices), connection, direction),
  };
}

function kubeBoundaries(policy: CompiledNetworkPolicy, direction: Direction): RuleBoundaries {
  const portCuts: Record<Protocol, number[]> = { SCTP: [], TCP: [], UDP: [] };
  const addressSets: IpInterval[][] = [];
  const namedPorts = new Set<Protocol>();
  // Rules of a direction the policy's types leave out are not enforced, so they cut nothing.
  const rules = policy.types.includes(direction)
    ? direction === 'Ingress'
      ? policy.ingress
      : policy.egress
    : [];
  for (const rule of rules) {
    for (const port of rule.ports ?? []) {
      if (typeof port.port === 'number')
        portCuts[port.protocol].push(port.port, (port.endPort ?? port.port) + 1);
      else if (typeof port.port === 'string') namedPorts.add(port.protocol);
    }
    for (const peer of rule.peers ?? []) {
      if (peer.kind === 'ipBlock') addressSets.push(addressSet([peer.cidr], peer.except));
    }
  }
  return { portCuts, namedPorts, addressSets, ownAddressSets: [] };
}

function calicoEngine(policies: readonly CompiledCalicoPolicy[], tiers: readonly CalicoTier[]): PolicyEngine {
  const policySet = calicoPolicySet(policies, tiers);
  const subsets = new Map<string, ReturnType<typeof calicoPolicySet>>();
  const subset = (indices: readonly number[]) => {
    const key = indices.join(',');
    let set = subsets.get(key);
    if (set === undefined) {
      set = calicoPolicySet(
        indices.map((index) => policies[index] as CompiledCalicoPolicy),
        tiers,
      );
      subsets.set(key, set);
    }
    return set;
  };
  return {
    policies: policies.map((policy) => ({
      selects: (pod, namespace, direction) =>
        !pod.hostNetwork &&
        !policy.hostEndpointsOnly &&
        policy.types.includes(direction) &&
        policy.selector.matches(calicoEndpointLabels(pod, namespace)),
      boundaries: {
        Ingress: calicoBoundaries(policy, 'Ingress'),
        Egress: calicoBoundaries(policy, 'Egress'),
      },
    })),
    verdict: (connection) => calicoVerdict(policySet, connection),
    verdictUnder: (indices, connection) => calicoVerdict(subset(indices), connection),
    allowedUnder: (indices, connection, direction) =>
      calicoVerdict(subset(indices), connection)[direction === 'Egress' ? 'egress' : 'ingress'].allowed,
  };
}

function calicoBoundaries(policy: CompiledCalicoPolicy, direction: PolicyDirection): RuleBoundaries {
  const portCuts: Record<Protocol, number[]> = { SCTP: [], TCP: [], UDP: [] };
  const addressSets: IpInterval[][] = [];
  const ownAddressSets: IpInterval[][] = [];
  const namedPorts = new Set<Protocol>();
  const rules = policy.types.includes(direction)
    ? direction === 'Ingress'
      ? policy.ingress
      : policy.egress
    : [];
  for (const rule of rules) {
    // Only destination ports depend on the connection's port; source ports are unknown (ephemeral). Calico
    // accepts ports only with a protocol; a protocol that is not one of ours (UDPLite) cuts nothing of ours.
    const protocols = PORT_PROTOCOLS.filter(
      (protocol) => rule.protocol === undefined || rule.protocol === PROTOCOL_NUMBERS[protocol],
    );
    for (const match of [...(rule.destination.ports ?? []), ...(rule.destination.notPorts ?? [])]) {
      for (const protocol of protocols) {
        if (match.kind === 'range') portCuts[protocol].push(match.first, match.last + 1);
        else namedPorts.add(protocol);
      }
    }
    // The far side: the source of an ingress rule, the destination of an egress rule.
    const far = direction === 'Ingress' ? rule.source : rule.destination;
    if (far.nets !== undefined || far.notNets !== undefined) {
      addressSets.push(addressSet(far.nets ?? [ALL_IPV4, ALL_IPV6], far.notNets ?? []));
    }
    const own = direction === 'Ingress' ? rule.destination : rule.source;
    if (own.nets !== undefined || own.notNets !== undefined) {
      ownAddressSets.push(addressSet(own.nets ?? [ALL_IPV4, ALL_IPV6], own.notNets ?? []));
    }
  }
  return { portCuts, namedPorts, addressSets, ownAddressSets };
}

/** IANA protocol numbers, which compiled Calico rules carry. */
const PROTOCOL_NUMBERS: Readonly<Record<Protocol, number>> = { SCTP: 132, TCP: 6, UDP: 17 };

const ALL_IPV4: Cidr = { family: 4, network: 0n, prefixLength: 0 };
const ALL_IPV6: Cidr = { family: 6, network: 0n, prefixLength: 0 };

/** The addresses in some `include` and in no `exclude`, as merged intervals. */
function addressSet(include: readonly Cidr[], exclude: readonly Cidr[]): IpInterval[] {
  return subtractIntervals(include.map(cidrToRange), exclude.map(cidrToRange));
}

// ---------------------------------------------------------------------------------------------------------------
// The analysis

/** Runs the analysis; invalid input (a policy the API server or the translation refuses) gives problems. */
export function analyzeConnectivity(
  input: ConnectivityInput,
  options: ConnectivityOptions,
): ConnectivityResult {
  const problems: ConnectivityProblem[] = [];
  const warnings: string[] = [];

  const peers = workloadPeers(input.endpoints, problems, warnings);
  const cluster = clusterModel(
    input.namespaces.map((namespace) => namespaceModel(namespace.name, namespace.labels)),
    peers.map((peer) => peer.pod),
  );

  const translatedFrom = new Map<string, string>();
  const engine =
    options.mode === 'k8s'
      ? kubeModeEngine(input, problems, warnings)
      : calicoModeEngine(input, options, translatedFrom, problems, warnings);

  const focused =
    options.focusWorkload === undefined ? undefined : focusPeers(peers, options.focusWorkload, problems);
  if (problems.length > 0 || engine === undefined) return { ok: false, problems };

  const sides = peerSides(cluster, peers, engine);
  const externalSources = externalPeers(engine, sides, 'Ingress');
  const externalDestinations = externalPeers(engine, sides, 'Egress');
  const analyse =
    options.explain === true ? explainedPair(cluster, engine, sides) : pairAnalyser(cluster, engine, sides);

  const sources = sortById<ConnectivityPeer>([...peers, ...externalSources]);
  const destinations = sortById<ConnectivityPeer>([...peers, ...externalDestinations]);
  const pairs: PairConnectivity[] = [];
  for (const src of sources) {
    for (const dst of destinations) {
      if (src === dst || (src.kind === 'external' && dst.kind === 'external')) continue;
      if (focused && !focused.has(src.id) && !focused.has(dst.id)) continue;
      pairs.push(analyse(src, dst));
    }
  }
  const connections = pairs
    .filter((pair) => !isEmptyPortSet(pair.allowed))
    .map((pair) => ({ src: pair.src.id, dst: pair.dst.id, conn: pair.conn }));

  return {
    ok: true,
    report: {
      mode: options.mode,
      cluster,
      workloads: peers,
      externalSources,
      externalDestinations,
      pairs,
      connections,
      translatedFrom,
      warnings,
    },
  };
}

/** One peer per top owner, represented by its first pod (or template) in input order. */
function workloadPeers(
  endpoints: readonly EndpointInput[],
  problems: ConnectivityProblem[],
  warnings: string[],
): WorkloadPeer[] {
  const byId = new Map<string, WorkloadPeer>();
  endpoints.forEach((endpoint, index) => {
    const { namespace, owner } = endpoint;
    const id = `${namespace}/${owner.name}[${owner.kind}]`;
    const ips: IpAddress[] = [];
    const errors: FieldError[] = [];
    endpoint.ips.forEach((text, ipIndex) => {
      const parsed = parseIp(text);
      if (parsed.ok) ips.push(parsed.value);
      else errors.push({ path: ['status', 'podIPs', ipIndex], message: parsed.message });
    });
    if (errors.length > 0) {
      problems.push({ kind: 'endpoint', index, subject: `Pod ${namespace}/${endpoint.name}`, errors });
      return;
    }
    if (byId.has(id)) return;
    if (endpoint.hostNetwork && ips.length === 0) {
      // Its traffic has the node's address, which the input does not tell; no pod policy applies to it.
      warnings.push(`${id} uses the host network and has no pod IP in the input: left out of the analysis`);
      return;
    }
    const namedPorts: NamedPort[] = endpoint.ports.flatMap((port) =>
      port.name ? [{ name: port.name, port: port.containerPort, protocol: port.protocol }] : [],
    );
    const modelName = `${owner.name}[${owner.kind}]`;
    byId.set(id, {
      kind: 'workload',
      id,
      namespace,
      name: owner.name,
      workloadKind: owner.kind,
      // Named `name[Kind]` so that the evaluator's explanations name the peer exactly as the connlist does.
      pod: {
        namespace,
        name: modelName,
        labels: endpoint.labels,
        namedPorts,
        ips,
        ...(endpoint.serviceAccountName ? { serviceAccountName: endpoint.serviceAccountName } : {}),
        hostNetwork: endpoint.hostNetwork,
      },
      ref: { kind: 'pod', namespace, name: modelName },
    });
  });
  return sortById([...byId.values()]);
}

function kubeModeEngine(
  input: ConnectivityInput,
  problems: ConnectivityProblem[],
  warnings: string[],
): PolicyEngine | undefined {
  const compiled: CompiledNetworkPolicy[] = [];
  input.networkPolicies.forEach(({ object, namespace }, index) => {
    const result = compileNetworkPolicy(withNamespace(object, namespace));
    if (result.ok) compiled.push(result.value);
    else
      problems.push({
        kind: 'NetworkPolicy',
        index,
        subject: networkPolicySubject(object, namespace),
        errors: result.errors,
      });
  });
  const ignored = input.globalNetworkPolicies?.length ?? 0;
  if (ignored > 0) {
    warnings.push(
      `${ignored} GlobalNetworkPolic${ignored === 1 ? 'y' : 'ies'} ignored: --mode k8s evaluates NetworkPolicies only; use --mode calico to include them`,
    );
  }
  return problems.length > 0 ? undefined : kubeEngine(compiled);
}

function calicoModeEngine(
  input: ConnectivityInput,
  options: ConnectivityOptions,
  translatedFrom: Map<string, string>,
  problems: ConnectivityProblem[],
  warnings: string[],
): PolicyEngine | undefined {
  const compiled: CompiledCalicoPolicy[] = [];
  input.networkPolicies.forEach(({ object, namespace }, index) => {
    const subject = networkPolicySubject(object, namespace);
    const translation = translateNetworkPolicy(withNamespace(object, namespace), options.translation);
    if (!translation.ok) {
      problems.push({
        kind: 'NetworkPolicy',
        index,
        subject: `${subject} cannot be translated`,
        errors: translation.errors,
      });
      return;
    }
    const result = compileCalicoPolicy(translation.policy);
    if (!result.ok) {
      problems.push({
        kind: 'NetworkPolicy',
        index,
        subject: `the translation of ${subject}`,
        errors: result.errors,
      });
      return;
    }
    compiled.push(result.value);
    translatedFrom.set(result.value.name, `${namespace}/${object.metadata?.name ?? ''}`);
  });
  (input.globalNetworkPolicies ?? []).forEach(({ object, missingTypes }, index) => {
    const name = object.metadata?.name ?? '';
    const source = translatedFrom.get(name);
    if (source !== undefined) {
      // A dump of a cluster holds both a NetworkPolicy and the GNP the controller made of it: one policy, once.
      warnings.push(`GlobalNetworkPolicy ${name} replaced by a fresh translation of NetworkPolicy ${source}`);
      return;
    }
    if (missingTypes === 'crd-v1' && !object.spec?.types?.length) {
      warnings.push(
        `GlobalNetworkPolicy ${name} (crd.projectcalico.org/v1) has no spec.types: Felix applies it to Ingress and Egress`,
      );
    }
    const result = compileCalicoPolicy(object, missingTypes ? { missingTypes } : {});
    if (result.ok) compiled.push(result.value);
    else
      problems.push({
        kind: 'GlobalNetworkPolicy',
        index,
        subject: `GlobalNetworkPolicy ${name}`,
        errors: result.errors,
      });
  });
  return problems.length > 0 ? undefined : calicoEngine(compiled, input.tiers ?? []);
}

function withNamespace(np: NetworkPolicy, namespace: string): NetworkPolicy {
  return np.metadata?.namespace === namespace ? np : { ...np, metadata: { ...np.metadata, namespace } };
}

function networkPolicySubject(np: NetworkPolicy, namespace: string): string {
  return `NetworkPolicy ${namespace}/${np.metadata?.name ?? '<unnamed>'}`;
}

/** The ids of the workloads `focus` names; a problem naming the known workloads when it names none. */
function focusPeers(
  peers: readonly WorkloadPeer[],
  focus: string,
  problems: ConnectivityProblem[],
): Set<string> {
  const match = /^(?:([^/]+)\/)?([^/[\]]+)(?:\[([^\]]+)\])?$/.exec(focus.trim());
  const matching = match
    ? peers.filter(
        (peer) =>
          (match[1] === undefined || peer.namespace === match[1]) &&
          peer.name === match[2] &&
          (match[3] === undefined || peer.workloadKind === match[3]),
      )
    : [];
  if (matching.length === 0) {
    const known = peers.map((peer) => peer.id);
    problems.push({
      kind: 'focus',
      index: -1,
      subject: focus,
      errors: [
        {
          path: [],
          message: match
            ? `no workload or pod of that name in the input${known.length > 0 ? ` (there are: ${known.join(', ')})` : ''}`
            : 'expected NAMESPACE/NAME or NAME',
        },
      ],
    });
  }
  return new Set(matching.map((peer) => peer.id));
}

/**
 * The IPv4 ranges the address rules of the policies that apply to some workload cut the outside into, for sources
 * (Ingress rules) or destinations (Egress rules).
 */
function externalPeers(engine: PolicyEngine, sides: PeerSides, direction: Direction): ExternalPeer[] {
  const intervals = [cidrToRange(ALL_IPV4)];
  // A policy that applies to no workload of the input decides nothing here (IBM's host-endpoint policies, say):
  // its address rules would only cut the outside into ranges that all get the same answers.
  for (const index of sides.applying[direction]) {
    for (const set of (engine.policies[index] as AnalysedPolicy).boundaries[direction].addressSets)
      intervals.push(...set.filter((i) => i.family === 4));
  }
  return partitionAtBoundaries(intervals).map((range) => ({
    kind: 'external',
    id: `${formatRange(range)}[External]`,
    range,
    ref: { kind: 'external', ip: formatIp({ family: 4, value: range.first }) },
  }));
}

/**
 * Addresses cut into classes at the edges of address sets: two addresses in the same class are in exactly the same
 * sets, so every rule built from those sets treats them alike.
 */
class AddressClasses {
  private readonly cuts: Record<4 | 6, bigint[]> = { 4: [], 6: [] };

  constructor(sets: Iterable<readonly IpInterval[]>) {
    const cuts = { 4: new Set<bigint>(), 6: new Set<bigint>() };
    for (const set of sets) {
      for (const interval of set) cuts[interval.family].add(interval.first).add(interval.last + 1n);
    }
    for (const family of [4, 6] as const)
      this.cuts[family] = [...cuts[family]].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** `family:index`: the same text for two addresses exactly when they are in the same class. */
  classOf(ip: IpAddress): string {
    const cuts = this.cuts[ip.family];
    let low = 0;
    let high = cuts.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((cuts[mid] as bigint) <= ip.value) low = mid + 1;
      else high = mid;
    }
    return `${ip.family}:${low}`;
  }
}

/** What the policies that select a workload for one direction contribute to its verdicts. */
interface PeerSide {
  /** Indices of the policies that select the workload for the direction, ascending. */
  readonly selecting: readonly number[];
  readonly portCuts: Readonly<Record<Protocol, readonly number[]>>;
  readonly namedPorts: ReadonlySet<Protocol>;
  /** The far side's addresses as these policies tell them apart. */
  readonly farAddresses: AddressClasses;
  /** A key equal for workloads these policies treat alike (same selection, labels, namespace, ports, addresses). */
  readonly key: string;
}

interface PeerSides {
  readonly byPeer: ReadonlyMap<string, Readonly<Record<Direction, PeerSide>>>;
  /** Policies that select some workload, per direction. */
  readonly applying: Readonly<Record<Direction, ReadonlySet<number>>>;
  /** Every address set of every policy: what any rule can tell apart about a workload's own address. */
  readonly addresses: AddressClasses;
}

/**
 * Each policy's selection is computed once per distinct (namespace, labels, service account) of the workloads,
 * not once per pair: workloads with identical labels in one namespace form one class.
 */
function peerSides(cluster: ClusterModel, peers: readonly WorkloadPeer[], engine: PolicyEngine): PeerSides {
  const addresses = new AddressClasses(
    engine.policies.flatMap((policy) => [
      ...policy.boundaries.Ingress.addressSets,
      ...policy.boundaries.Egress.addressSets,
      ...policy.boundaries.Ingress.ownAddressSets,
      ...policy.boundaries.Egress.ownAddressSets,
    ]),
  );
  const applying = { Ingress: new Set<number>(), Egress: new Set<number>() };
  const byClass = new Map<string, Record<Direction, PeerSide>>();
  const byPeer = new Map<string, Record<Direction, PeerSide>>();
  for (const peer of peers) {
    const { pod } = peer;
    const selectionKey = JSON.stringify([
      pod.namespace,
      pod.hostNetwork,
      pod.serviceAccountName ?? '',
      Object.entries(pod.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    ]);
    const identityKey = JSON.stringify([
      selectionKey,
      pod.namedPorts,
      pod.ips.map((ip) => addresses.classOf(ip)),
    ]);
    let sides = byClass.get(identityKey);
    if (sides === undefined) {
      const namespace = cluster.namespaces.get(pod.namespace) ?? namespaceModel(pod.namespace);
      const side = (direction: Direction): PeerSide => {
        const selecting: number[] = [];
        const portCuts: Record<Protocol, Set<number>> = { SCTP: new Set(), TCP: new Set(), UDP: new Set() };
        const namedPorts = new Set<Protocol>();
        const addressSets: (readonly IpInterval[])[] = [];
        engine.policies.forEach((policy, index) => {
          if (!policy.selects(pod, namespace, direction)) return;
          selecting.push(index);
          applying[direction].add(index);
          const boundaries = policy.boundaries[direction];
          for (const protocol of PORT_PROTOCOLS) {
            for (const cut of boundaries.portCuts[protocol]) portCuts[protocol].add(cut);
          }
          for (const protocol of boundaries.namedPorts) namedPorts.add(protocol);
          addressSets.push(...boundaries.addressSets);
        });
        return {
          selecting,
          portCuts: {
            SCTP: [...portCuts.SCTP].sort((a, b) => a - b),
            TCP: [...portCuts.TCP].sort((a, b) => a - b),
            UDP: [...portCuts.UDP].sort((a, b) => a - b),
          },
          namedPorts,
          farAddresses: new AddressClasses(addressSets),
          key: `${direction}${identityKey}`,
        };
      };
      sides = { Ingress: side('Ingress'), Egress: side('Egress') };
      byClass.set(identityKey, sides);
    }
    byPeer.set(peer.id, sides);
  }
  return { byPeer, applying, addresses };
}

const NO_SIDE: PeerSide = {
  selecting: [],
  portCuts: { SCTP: [], TCP: [], UDP: [] },
  namedPorts: new Set(),
  farAddresses: new AddressClasses([]),
  key: '',
};

const ALL_PORTS: PortSet = { SCTP: [FULL_RANGE], TCP: [FULL_RANGE], UDP: [FULL_RANGE] };

type PairAnalyser = (src: ConnectivityPeer, dst: ConnectivityPeer) => PairConnectivity;

/**
 * Pairs without explanations. The two directions are decided apart: the source's egress by the policies that
 * select the source, the destination's ingress by those that select the destination; the pair gets the ports both
 * allow. Each side's answer is computed once per class of equivalent pairs: the deciding workload's class and
 * the far side as those policies can tell it apart (an outside range by the address classes of their rules, a
 * workload by its class), so a thousand outside ranges that one workload's policies do not tell apart cost one
 * evaluation for that workload, not a thousand.
 */
function pairAnalyser(cluster: ClusterModel, engine: PolicyEngine, sides: PeerSides): PairAnalyser {
  const answers = new Map<string, PortSet>();
  const farKey = (side: PeerSide, far: ConnectivityPeer): string => {
    if (far.kind === 'external')
      return `e${side.farAddresses.classOf({ family: 4, value: far.range.first })}`;
    const farSides = sides.byPeer.get(far.id);
    return `w${farSides?.Ingress.key ?? far.id}`;
  };
  const directionAnswer = (
    direction: Direction,
    side: PeerSide,
    src: ConnectivityPeer,
    dst: ConnectivityPeer,
  ): PortSet => {
    if (side.selecting.length === 0) return ALL_PORTS;
    const key = `${side.key}|${farKey(side, direction === 'Egress' ? dst : src)}`;
    let answer = answers.get(key);
    if (answer === undefined) {
      answer = allowedPorts(
        cluster,
        src,
        dst,
        side.portCuts,
        side.namedPorts,
        // The subset may select the other endpoint too; only this direction's answer is this side's.
        (connection) => ({ allowed: engine.allowedUnder(side.selecting, connection, direction) }),
      ).allowed;
      answers.set(key, answer);
    }
    return answer;
  };
  return (src, dst) => {
    const egress = directionAnswer('Egress', sides.byPeer.get(src.id)?.Egress ?? NO_SIDE, src, dst);
    const ingress = directionAnswer('Ingress', sides.byPeer.get(dst.id)?.Ingress ?? NO_SIDE, src, dst);
    const allowed = intersectPortSets(egress, ingress);
    return { src, dst, allowed, conn: formatPortSet(allowed) };
  };
}

/** Pairs with the evaluator's full verdict for every port segment, both directions at once (for explain.ts). */
function explainedPair(cluster: ClusterModel, engine: PolicyEngine, sides: PeerSides): PairAnalyser {
  return (src, dst) => {
    const egress = sides.byPeer.get(src.id)?.Egress ?? NO_SIDE;
    const ingress = sides.byPeer.get(dst.id)?.Ingress ?? NO_SIDE;
    const cuts = {
      SCTP: [...egress.portCuts.SCTP, ...ingress.portCuts.SCTP],
      TCP: [...egress.portCuts.TCP, ...ingress.portCuts.TCP],
      UDP: [...egress.portCuts.UDP, ...ingress.portCuts.UDP],
    };
    const named = new Set([...egress.namedPorts, ...ingress.namedPorts]);
    const { allowed, segments } = allowedPorts(cluster, src, dst, cuts, named, (connection) => {
      const verdict = engine.verdict(connection);
      return { allowed: verdict.allowed, verdict };
    });
    return { src, dst, allowed, conn: formatPortSet(allowed), segments };
  };
}

/**
 * The ports a verdict function allows from `src` to `dst`, asking it once per port segment: between two cuts (and
 * the destination's named ports, when a rule names ports) every port gets the same verdict.
 */
function allowedPorts(
  cluster: ClusterModel,
  src: ConnectivityPeer,
  dst: ConnectivityPeer,
  portCuts: Readonly<Record<Protocol, readonly number[]>>,
  namedPorts: ReadonlySet<Protocol>,
  decide: (connection: ResolvedConnection) => { allowed: boolean; verdict?: Verdict },
): { allowed: PortSet; segments: PortSegment[] } {
  const resolved = resolveConnection(cluster, {
    src: src.ref,
    dst: dst.ref,
    protocol: 'TCP',
    port: MIN_PORT,
  });
  if (!resolved.ok) {
    // Every ref was built from the model itself; failing here is a bug, not bad input.
    throw new Error(
      `cannot evaluate ${src.id} => ${dst.id}: ${resolved.errors.map(formatFieldError).join('; ')}`,
    );
  }
  const allowed: Record<Protocol, PortRange[]> = { SCTP: [], TCP: [], UDP: [] };
  const segments: PortSegment[] = [];
  for (const protocol of PORT_PROTOCOLS) {
    const starts = new Set<number>([MIN_PORT, ...portCuts[protocol]]);
    if (namedPorts.has(protocol) && dst.kind === 'workload') {
      for (const port of dst.pod.namedPorts)
        if (port.protocol === protocol) starts.add(port.port).add(port.port + 1);
    }
    const segmentStarts = [...starts]
      .filter((port) => port >= MIN_PORT && port <= MAX_PORT)
      .sort((a, b) => a - b);
    segmentStarts.forEach((first, index) => {
      const last = (segmentStarts[index + 1] ?? MAX_PORT + 1) - 1;
      const { allowed: allowedHere, verdict } = decide({ ...resolved.value, protocol, port: first });
      if (allowedHere) appendPortRange(allowed[protocol], first, last);
      segments.push({ protocol, first, last, allowed: allowedHere, ...(verdict && { verdict }) });
    });
  }
  return { allowed, segments };
}

/** The ports in both sets. */
function intersectPortSets(a: PortSet, b: PortSet): PortSet {
  if (a === ALL_PORTS) return b;
  if (b === ALL_PORTS) return a;
  const result: Record<Protocol, PortRange[]> = { SCTP: [], TCP: [], UDP: [] };
  for (const protocol of PORT_PROTOCOLS) {
    const left = a[protocol];
    const right = b[protocol];
    let i = 0;
    let j = 0;
    while (i < left.length && j < right.length) {
      const l = left[i] as PortRange;
      const r = right[j] as PortRange;
      const first = Math.max(l.first, r.first);
      const last = Math.min(l.last, r.last);
      if (first <= last) appendPortRange(result[protocol], first, last);
      if (l.last < r.last) i++;
      else j++;
    }
  }
  return result;
}

function sortById<T extends { id: string }>(peers: T[]): T[] {
  return peers.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
