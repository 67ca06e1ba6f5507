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
import type { CalicoNetworkPolicy, GlobalNetworkPolicy, PolicyDirection } from '../calico/types.js';
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
  calicoDirectionAllowed,
  calicoPolicySet,
  calicoRuleMayMatch,
  calicoVerdict,
  compileCalicoPolicy,
  type CalicoCompiledRule,
  type CalicoPolicyOptions,
  type CalicoTier,
  type CompiledCalicoPolicy,
} from './calico-eval.js';
import { globalPolicyOfNamespaced } from './calico-namespaced.js';
import {
  compileNetworkPolicy,
  kubeDirectionAllowed,
  kubeRulePeerMatches,
  kubeRulePortMatches,
  kubeVerdict,
  type CompiledNetworkPolicy,
  type KubeRule,
} from './kube-eval.js';
import type { Labels } from '../selectors/kubernetes.js';
import {
  calicoEndpointLabels,
  clusterModel,
  connectionFamily,
  lookUpPeer,
  namespaceModel,
  resolveConnection,
  resolveEndpoint,
  type IpFamily,
  type LookedUpPeer,
  type ResolvedEndpoint,
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
  /**
   * Calico namespaced NetworkPolicies in the projectcalico.org/v3 shape; `namespace` is where the policy applies.
   * Evaluated in calico mode; k8s mode refuses them (a problem each) unless `skipUnevaluatedPolicies`.
   */
  readonly calicoNetworkPolicies?: readonly {
    readonly object: CalicoNetworkPolicy;
    readonly namespace: string;
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
  /** k8s mode: analyse without the Calico NetworkPolicies of the input (with a warning) instead of refusing. */
  readonly skipUnevaluatedPolicies?: boolean;
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
  readonly kind: 'NetworkPolicy' | 'GlobalNetworkPolicy' | 'CalicoNetworkPolicy' | 'endpoint' | 'focus';
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

/**
 * A rule as the listing decides with it: its test of the far side of the connection (the source for an ingress
 * rule, the destination for an egress one), which does not depend on the port, apart from its test of the port.
 */
interface ListingRule {
  /** Unique among the engine's rules. */
  readonly id: number;
  /** The same number for rules whose far-side tests are the same (the same peers, in the same namespace). */
  readonly farTest: number;
  farMatches(far: ResolvedEndpoint): boolean;
  portMatches(connection: ResolvedConnection): boolean;
  /** What this rule alone cuts the ports at (RuleBoundaries of one rule). */
  readonly portCuts: Readonly<Record<Protocol, readonly number[]>>;
  readonly namedPorts: ReadonlySet<Protocol>;
}

interface SideDecision {
  readonly portCuts: Readonly<Record<Protocol, readonly number[]>>;
  readonly namedPorts: ReadonlySet<Protocol>;
  /** The side's answer for the pair at the connection's protocol and port. */
  allowed(connection: ResolvedConnection): boolean;
}

interface PolicyEngine {
  readonly policies: readonly AnalysedPolicy[];
  /**
   * The listing's deciding path, for engines whose direction answer is "some rule of a selecting policy matches":
   * per direction, each policy's rules; a connection is allowed for a side when one of the rules of the policies
   * that select it matches both its far side and its port. Undefined: list through `sideUnder`.
   */
  readonly listingRules?: (policy: number, direction: Direction) => readonly ListingRule[];
  verdict(connection: ResolvedConnection): Verdict;
  /**
   * One side's answer for one pair, port segment by port segment, under only the policies at `indices` (ascending).
   * Both evaluators consider, per direction, only the policies that select that direction's endpoint, so passing
   * the ones that select the side in question gives that side's answer exactly, without testing every other policy
   * of the input again. `portCuts` and `namedPorts` say where that answer can change along the ports of `pair`.
   */
  sideUnder(indices: readonly number[], pair: ResolvedConnection, direction: Direction): SideDecision;
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
  let nextRuleId = 0;
  const farTests = new Map<string, number>();
  const listingRules = policies.map((policy) => {
    const forDirection = (direction: Direction): ListingRule[] =>
      (policy.types.includes(direction)
        ? direction === 'Ingress'
          ? policy.ingress
          : policy.egress
        : []
      ).map((rule) => ({
        id: nextRuleId++,
        farTest: numberOf(farTests, JSON.stringify([policy.namespace, rule.peersText])),
        farMatches: (far) => kubeRulePeerMatches(rule, policy.namespace, far),
        portMatches: (connection) => kubeRulePortMatches(rule, connection),
        ...kubeRuleBoundaries(rule),
      }));
    return { Ingress: forDirection('Ingress'), Egress: forDirection('Egress') };
  });
  return {
    listingRules: (index, direction) => (listingRules[index] as Record<Direction, ListingRule[]>)[direction],
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
    sideUnder: (indices, _pair, direction) => {
      const { portCuts, namedPorts } = mergeBoundaries(
        indices.map((index) => kubeBoundaries(policies[index] as CompiledNetworkPolicy, direction)),
      );
      return {
        portCuts,
        namedPorts,
        allowed: (connection) => kubeDirectionAllowed(subset(indices), connection, direction),
      };
    },
  };
}

/** The number of `key` in `numbers`, a new one (the count so far) for a new key. */
function numberOf(numbers: Map<string, number>, key: string): number {
  let number = numbers.get(key);
  if (number === undefined) numbers.set(key, (number = numbers.size));
  return number;
}

function kubeBoundaries(policy: CompiledNetworkPolicy, direction: Direction): RuleBoundaries {
  // Rules of a direction the policy's types leave out are not enforced, so they cut nothing.
  const rules = policy.types.includes(direction)
    ? direction === 'Ingress'
      ? policy.ingress
      : policy.egress
    : [];
  return mergeBoundaries(rules.map(kubeRuleBoundaries));
}

/** What several rules (or policies) cut together. */
function mergeBoundaries(boundaries: readonly RuleBoundaries[]): RuleBoundaries {
  return {
    portCuts: {
      SCTP: boundaries.flatMap((b) => b.portCuts.SCTP),
      TCP: boundaries.flatMap((b) => b.portCuts.TCP),
      UDP: boundaries.flatMap((b) => b.portCuts.UDP),
    },
    namedPorts: new Set(boundaries.flatMap((b) => [...b.namedPorts])),
    addressSets: boundaries.flatMap((b) => b.addressSets),
    ownAddressSets: boundaries.flatMap((b) => b.ownAddressSets),
  };
}

function kubeRuleBoundaries(rule: KubeRule): RuleBoundaries {
  const portCuts: Record<Protocol, number[]> = { SCTP: [], TCP: [], UDP: [] };
  const addressSets: IpInterval[][] = [];
  const namedPorts = new Set<Protocol>();
  for (const port of rule.ports ?? []) {
    if (typeof port.port === 'number')
      portCuts[port.protocol].push(port.port, (port.endPort ?? port.port) + 1);
    else if (typeof port.port === 'string') namedPorts.add(port.protocol);
  }
  for (const peer of rule.peers ?? []) {
    if (peer.kind === 'ipBlock') addressSets.push(addressSet([peer.cidr], peer.except));
  }
  return { portCuts, namedPorts, addressSets, ownAddressSets: [] };
}

function calicoEngine(policies: readonly CompiledCalicoPolicy[], tiers: readonly CalicoTier[]): PolicyEngine {
  const policySet = calicoPolicySet(policies, tiers);
  // Every policy asks whether it selects each class of workloads: build a workload's Calico labels once.
  const labels = new WeakMap<PodModel, Labels>();
  const endpointLabels = (pod: PodModel, namespace: NamespaceModel): Labels => {
    let known = labels.get(pod);
    if (known === undefined) labels.set(pod, (known = calicoEndpointLabels(pod, namespace)));
    return known;
  };
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
        policy.selector.matches(endpointLabels(pod, namespace)),
      boundaries: {
        Ingress: calicoBoundaries(policy, 'Ingress'),
        Egress: calicoBoundaries(policy, 'Egress'),
      },
    })),
    verdict: (connection) => calicoVerdict(policySet, connection),
    sideUnder: (indices, pair, direction) => {
      // Only the rules that can match the pair's endpoints (at some port) can decide, or cut the ports.
      const mayMatch = new Set<CalicoCompiledRule>();
      const portCuts: Record<Protocol, number[]> = { SCTP: [], TCP: [], UDP: [] };
      const namedPorts = new Set<Protocol>();
      for (const index of indices) {
        const policy = policies[index] as CompiledCalicoPolicy;
        const rules = !policy.types.includes(direction)
          ? []
          : direction === 'Ingress'
            ? policy.ingress
            : policy.egress;
        for (const rule of rules) {
          if (!calicoRuleMayMatch(rule, pair)) continue;
          mayMatch.add(rule);
          addCalicoRulePortCuts(rule, portCuts, namedPorts);
        }
      }
      const set = subset(indices);
      return {
        portCuts,
        namedPorts,
        allowed: (connection) => calicoDirectionAllowed(set, connection, direction, mayMatch),
      };
    },
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
    addCalicoRulePortCuts(rule, portCuts, namedPorts);
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

/**
 * Where a rule's destination ports start and stop matching. Only destination ports depend on the connection's
 * port; source ports are unknown (ephemeral). Calico accepts ports only with a protocol; a protocol that is not
 * one of ours (UDPLite) cuts nothing of ours.
 */
function addCalicoRulePortCuts(
  rule: CalicoCompiledRule,
  portCuts: Record<Protocol, number[]>,
  namedPorts: Set<Protocol>,
): void {
  const protocols = PORT_PROTOCOLS.filter(
    (protocol) => rule.protocol === undefined || rule.protocol === PROTOCOL_NUMBERS[protocol],
  );
  for (const match of [...(rule.destination.ports ?? []), ...(rule.destination.notPorts ?? [])]) {
    for (const protocol of protocols) {
      if (match.kind === 'range') portCuts[protocol].push(match.first, match.last + 1);
      else namedPorts.add(protocol);
    }
  }
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
  if (input.endpoints.length === 0) {
    // An empty listing would otherwise look like "nothing may talk"; say that the input had no one to list.
    warnings.push('no workloads in the input (Pods, Deployments, ...): there are no connections to list');
  }
  const cluster = clusterModel(
    input.namespaces.map((namespace) => namespaceModel(namespace.name, namespace.labels)),
    peers.map((peer) => peer.pod),
  );

  const translatedFrom = new Map<string, string>();
  const engine =
    options.mode === 'k8s'
      ? kubeModeEngine(input, options, problems, warnings)
      : calicoModeEngine(input, options, translatedFrom, problems, warnings);

  const focused =
    options.focusWorkload === undefined ? undefined : focusPeers(peers, options.focusWorkload, problems);
  if (problems.length > 0 || engine === undefined) return { ok: false, problems };

  const sides = peerSides(cluster, peers, engine);
  const externalSources = externalPeers(engine, sides, 'Ingress');
  const externalDestinations = externalPeers(engine, sides, 'Egress');
  const analyse =
    options.explain === true
      ? explainedPair(cluster, engine, sides)
      : engine.listingRules
        ? listingAnalyser(cluster, engine, sides, peers, externalSources, externalDestinations)
        : pairAnalyser(cluster, engine, sides);

  const sources = sortById<ConnectivityPeer>([...peers, ...externalSources]);
  const destinations = sortById<ConnectivityPeer>([...peers, ...externalDestinations]);
  const pairs: PairConnectivity[] = [];
  const apartFromOutside = new Set<string>();
  for (const src of sources) {
    for (const dst of destinations) {
      if (src === dst || (src.kind === 'external' && dst.kind === 'external')) continue;
      if (focused && !focused.has(src.id) && !focused.has(dst.id)) continue;
      const besideOutside = src.kind === 'external' ? dst : dst.kind === 'external' ? src : undefined;
      const hostOnly = besideOutside && hostNetworkWithoutIpv4(besideOutside);
      if (hostOnly) {
        apartFromOutside.add(hostOnly.id);
        continue;
      }
      pairs.push(analyse(src, dst));
    }
  }
  for (const id of apartFromOutside) {
    // No packet can pass between them, so there is no line to print; said once rather than dropped silently.
    warnings.push(
      `${id} uses the host network and has only IPv6 addresses in the input: its connections with the outside ` +
        'ranges (IPv4) are not listed',
    );
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

/**
 * A host-network workload with no IPv4 address: it takes part in connections as its (IPv6) address, and the outside
 * ranges are IPv4, so the two cannot be paired. (A pod-network workload keeps its identity whatever the family.)
 */
function hostNetworkWithoutIpv4(peer: ConnectivityPeer): WorkloadPeer | undefined {
  return peer.kind === 'workload' && peer.pod.hostNetwork && !peer.pod.ips.some((ip) => ip.family === 4)
    ? peer
    : undefined;
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
  options: ConnectivityOptions,
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
  (input.calicoNetworkPolicies ?? []).forEach(({ object, namespace }, index) => {
    const subject = `${calicoNetworkPolicySubject(object, namespace)} is not evaluated in --mode k8s`;
    const why =
      'Kubernetes semantics do not include Calico policies: connections it denies would be reported allowed';
    if (options.skipUnevaluatedPolicies === true) warnings.push(`${subject}: ${why}`);
    else
      problems.push({
        kind: 'CalicoNetworkPolicy',
        index,
        subject,
        errors: [
          {
            path: [],
            message: `${why}; use --mode calico, or --skip-unevaluated-policies to analyse without it`,
          },
        ],
      });
  });
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
  (input.calicoNetworkPolicies ?? []).forEach(({ object, namespace, missingTypes }, index) => {
    const subject = calicoNetworkPolicySubject(object, namespace);
    const global = globalPolicyOfNamespaced(object, namespace);
    const result = global.ok
      ? compileCalicoPolicy(global.value, missingTypes ? { missingTypes } : {})
      : global;
    if (!result.ok) {
      problems.push({ kind: 'CalicoNetworkPolicy', index, subject, errors: result.errors });
      return;
    }
    if (missingTypes === 'crd-v1' && !object.spec?.types?.length) {
      warnings.push(
        `${subject} (crd.projectcalico.org/v1) has no spec.types: Felix applies it to Ingress and Egress`,
      );
    }
    const { tier, order } = result.value;
    const ref = { kind: 'NetworkPolicy' as const, namespace, name: object.metadata?.name ?? '', tier, order };
    compiled.push({ ...result.value, ref });
  });
  return problems.length > 0 ? undefined : calicoEngine(compiled, input.tiers ?? []);
}

function withNamespace(np: NetworkPolicy, namespace: string): NetworkPolicy {
  return np.metadata?.namespace === namespace ? np : { ...np, metadata: { ...np.metadata, namespace } };
}

function networkPolicySubject(np: NetworkPolicy, namespace: string): string {
  return `NetworkPolicy ${namespace}/${np.metadata?.name ?? '<unnamed>'}`;
}

function calicoNetworkPolicySubject(policy: CalicoNetworkPolicy, namespace: string): string {
  return `Calico NetworkPolicy ${namespace}/${policy.metadata?.name ?? '<unnamed>'}`;
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

  /**
   * The classes of IPv4 ranges, each inside one class (as outside ranges cut at least as finely are), in ascending
   * order: a number per range, equal for ranges of the same class. One sweep, not a search per range.
   */
  classesOf(ranges: readonly IpInterval[]): Int32Array {
    const cuts = this.cuts[4];
    const classes = new Int32Array(ranges.length);
    let cut = 0;
    ranges.forEach((range, index) => {
      while (cut < cuts.length && (cuts[cut] as bigint) <= range.first) cut++;
      classes[index] = cut;
    });
    return classes;
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
  /** Per workload, its class: workloads no rule can tell apart (the same key), numbered from 0. */
  readonly classOf: ReadonlyMap<string, number>;
  readonly classCount: number;
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
  const classIndex = new Map<string, number>();
  const classOf = new Map<string, number>();
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
      classIndex.set(identityKey, classIndex.size);
    }
    byPeer.set(peer.id, sides);
    classOf.set(peer.id, classIndex.get(identityKey) as number);
  }
  return { byPeer, classOf, classCount: classIndex.size, applying, addresses };
}

const NO_SIDE: PeerSide = {
  selecting: [],
  portCuts: { SCTP: [], TCP: [], UDP: [] },
  namedPorts: new Set(),
  farAddresses: new AddressClasses([]),
  key: '',
};

const ALL_PORTS: PortSet = { SCTP: [FULL_RANGE], TCP: [FULL_RANGE], UDP: [FULL_RANGE] };
const NO_PORTS: PortSet = { SCTP: [], TCP: [], UDP: [] };

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
      const pair = resolvePair(cluster, src, dst);
      // The subset may select the other endpoint too; only this direction's answer is this side's.
      const decision = engine.sideUnder(side.selecting, pair, direction);
      answer = allowedPorts(pair, dst, decision.portCuts, decision.namedPorts, (connection) => ({
        allowed: decision.allowed(connection),
      })).allowed;
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

/** One side's rules as the listing walks them, and the answers it gave. */
interface ListingSide {
  readonly selected: boolean;
  /** The rules of the policies selecting the side, in evaluation order, by id and by far-side test. */
  readonly rules: Int32Array;
  readonly farTests: Int32Array;
  /** The side's own named ports, for an ingress side (the destination's, where named ports resolve); else -1. */
  readonly namedPorts: number;
  /** By a hash of the matching rules: the answers given. */
  readonly answers: Map<number, ListingAnswer[]>;
  /** Per outside range on the far side, its class as this side's rules tell the outside apart (made when needed). */
  outsideClasses: Int32Array | undefined;
  /** Per such class: the answer (a port set number), -1 before it is known. */
  outsideAnswers: Int32Array | undefined;
  readonly farAddresses: AddressClasses;
}

/** How the listing sees a peer: how it takes part in connections and, as a far side, which view of it rules test. */
interface ListingPeer {
  readonly looked: LookedUpPeer;
  /**
   * Far-side views: workloads of one class look alike to every rule, outside ranges each are their own. A
   * workload's view in a connection is `view` for IPv4 and `view + 1` for IPv6 (its address differs).
   */
  readonly view: number;
  /** Outside ranges: the index among the sources or the destinations; -1 for workloads. */
  readonly outside: number;
  /** Workloads: the same number for the same named container ports; -1 for addresses (no port has a name). */
  readonly namedPorts: number;
  readonly egress: ListingSide;
  readonly ingress: ListingSide;
}

/** One side's answer for a set of rules that matched the far side, in a family, towards some named ports. */
interface ListingAnswer {
  readonly family: IpFamily;
  readonly namedPorts: number;
  readonly rules: Int32Array;
  /** The allowed ports, by their number in PortSetNumbers. */
  readonly ports: number;
}

/**
 * A side's answer (a port set number) towards the far side of a pair `from` => `to` (`dst` is `to`'s peer), in
 * the pair's IP family.
 */
type SideAnswer = (
  side: ListingSide,
  direction: Direction,
  far: ListingPeer,
  from: ListingPeer,
  to: ListingPeer,
  dst: ConnectivityPeer,
  family: IpFamily,
) => number;

/** Port sets numbered by content, so that pairs whose two sides gave the same sets share their intersection. */
class PortSetNumbers {
  private readonly byText = new Map<string, number>();
  readonly sets: PortSet[] = [];

  number(set: PortSet): number {
    const text = formatPortSet(set);
    let number = this.byText.get(text);
    if (number === undefined) {
      number = this.sets.length;
      this.sets.push(set);
      this.byText.set(text, number);
    }
    return number;
  }
}

/**
 * Pairs without explanations, for engines with listing rules (Kubernetes semantics: a side allows what some rule of
 * a policy selecting it allows).
 *
 * Per pair and side, the rules of the side's selecting policies are tested against the far side, each far-side
 * test once per far-side view for the whole listing (a class of workloads in a family, or an outside range); only
 * the rules that match take part in the port walk, whose segments only their ports cut. Sides with the same
 * selecting policies (and, for ingress, the same named ports) are one, and share answers whenever the same rules
 * match (in the same family, towards the same named ports). Outside ranges that a side's rules cannot tell apart
 * (the classes of its address sets) get one answer per side. Pairs whose two answers are the same share the
 * intersection and its text. This runs for every pair of a cluster (millions): the per-pair part allocates nothing
 * but the pair.
 */
function listingAnalyser(
  cluster: ClusterModel,
  engine: PolicyEngine,
  sides: PeerSides,
  peers: readonly WorkloadPeer[],
  externalSources: readonly ExternalPeer[],
  externalDestinations: readonly ExternalPeer[],
): PairAnalyser {
  const rules: ListingRule[] = [];
  let farTestCount = 0;
  const listingSides = new Map<string, ListingSide>();
  const namedPortNumbers = new Map<string, number>();
  const listingSide = (side: PeerSide, direction: Direction, namedPorts: number): ListingSide => {
    const key = `${direction} ${side.selecting.join(',')} ${namedPorts}`;
    let known = listingSides.get(key);
    if (known === undefined) {
      const sideRules = side.selecting.flatMap((index) => engine.listingRules?.(index, direction) ?? []);
      for (const rule of sideRules) {
        rules[rule.id] = rule;
        farTestCount = Math.max(farTestCount, rule.farTest + 1);
      }
      known = {
        selected: side.selecting.length > 0,
        rules: Int32Array.from(sideRules, (rule) => rule.id),
        farTests: Int32Array.from(sideRules, (rule) => rule.farTest),
        namedPorts,
        answers: new Map(),
        outsideClasses: undefined,
        outsideAnswers: undefined,
        farAddresses: side.farAddresses,
      };
      listingSides.set(key, known);
    }
    return known;
  };
  const unselected = listingSide(NO_SIDE, 'Egress', -1);

  const listingPeers = new Map<ConnectivityPeer, ListingPeer>();
  for (const peer of peers) {
    const errors: FieldError[] = [];
    const looked = lookUpPeer(cluster, peer.ref, [], errors);
    // Every ref was built from the model itself; failing here is a bug, not bad input.
    if (looked === undefined) throw new Error(`cannot look up ${peer.id}: ${errors.map(formatFieldError)}`);
    // Named ports resolve only on a pod's endpoint: a host-network pod is an address, whose ports have no names.
    const namedPorts =
      looked.kind === 'pod' ? numberOf(namedPortNumbers, JSON.stringify(peer.pod.namedPorts)) : -1;
    const peerSides = sides.byPeer.get(peer.id);
    listingPeers.set(peer, {
      looked,
      view: 2 * (sides.classOf.get(peer.id) as number),
      outside: -1,
      namedPorts,
      egress: peerSides ? listingSide(peerSides.Egress, 'Egress', -1) : unselected,
      ingress: peerSides ? listingSide(peerSides.Ingress, 'Ingress', namedPorts) : unselected,
    });
  }
  [...externalSources, ...externalDestinations].forEach((peer, index) =>
    listingPeers.set(peer, {
      looked: { kind: 'external', ip: { family: 4, value: peer.range.first } },
      view: 2 * sides.classCount + index,
      outside: index < externalSources.length ? index : index - externalSources.length,
      namedPorts: -1,
      egress: unselected,
      ingress: unselected,
    }),
  );
  const viewCount = 2 * sides.classCount + externalSources.length + externalDestinations.length;
  /** Per far view, per far-side test: 0 not tested yet, 1 it matches the view, 2 it does not. */
  const viewMatches: (Int8Array | undefined)[] = new Array(viewCount);
  const viewEndpoints: (ResolvedEndpoint | undefined)[] = new Array(viewCount);
  const portSets = new PortSetNumbers();
  const allPorts = portSets.number(ALL_PORTS);
  const noPorts = portSets.number(NO_PORTS);
  const intersections = new Map<number, { allowed: PortSet; conn: string }>();
  const matching = new Int32Array(rules.length);

  /** The side's answer towards the far side, from the rules that match it. */
  const ruleAnswer: SideAnswer = (side, direction, far, from, to, dst, family) => {
    const view = far.outside < 0 && family === 6 ? far.view + 1 : far.view;
    let row = viewMatches[view];
    if (row === undefined) viewMatches[view] = row = new Int8Array(farTestCount);
    let count = 0;
    let hash: number = family;
    let named = false;
    const ids = side.rules;
    const tests = side.farTests;
    for (let i = 0; i < ids.length; i++) {
      const test = tests[i] as number;
      let match = row[test] as number;
      const id = ids[i] as number;
      if (match === 0) {
        let endpoint = viewEndpoints[view];
        if (endpoint === undefined) viewEndpoints[view] = endpoint = resolveEndpoint(far.looked, family);
        match = (rules[id] as ListingRule).farMatches(endpoint) ? 1 : 2;
        row[test] = match;
      }
      if (match !== 1) continue;
      matching[count++] = id;
      hash = Math.imul(hash ^ id, 0x01000193);
      if ((rules[id] as ListingRule).namedPorts.size > 0) named = true;
    }
    if (count === 0) return noPorts;
    // Named ports resolve on the destination: the far side's for egress, the side's own for ingress.
    const namedPorts = !named ? -1 : direction === 'Egress' ? far.namedPorts : side.namedPorts;
    hash = Math.imul(hash ^ namedPorts, 0x01000193);
    const candidates = side.answers.get(hash);
    if (candidates !== undefined) {
      for (const answer of candidates) {
        if (answer.family !== family || answer.namedPorts !== namedPorts || answer.rules.length !== count)
          continue;
        let same = true;
        for (let i = 0; i < count && same; i++) same = answer.rules[i] === matching[i];
        if (same) return answer.ports;
      }
    }
    const matched = Array.from(matching.subarray(0, count), (id) => rules[id] as ListingRule);
    const cuts: Record<Protocol, number[]> = { SCTP: [], TCP: [], UDP: [] };
    const namedProtocols = new Set<Protocol>();
    for (const rule of matched) {
      for (const protocol of PORT_PROTOCOLS) cuts[protocol].push(...rule.portCuts[protocol]);
      for (const protocol of rule.namedPorts) namedProtocols.add(protocol);
    }
    const connection: ResolvedConnection = {
      src: resolveEndpoint(from.looked, family),
      dst: resolveEndpoint(to.looked, family),
      protocol: 'TCP',
      port: MIN_PORT,
      srcPort: undefined,
      family,
    };
    const { allowed } = allowedPorts(connection, dst, cuts, namedProtocols, (c) => ({
      allowed: matched.some((rule) => rule.portMatches(c)),
    }));
    const answer: ListingAnswer = {
      family,
      namedPorts,
      rules: matching.slice(0, count),
      ports: portSets.number(allowed),
    };
    if (candidates === undefined) side.answers.set(hash, [answer]);
    else candidates.push(answer);
    return answer.ports;
  };

  const directionAnswer: SideAnswer = (side, direction, far, from, to, dst, family) => {
    if (!side.selected) return allPorts;
    if (far.outside < 0) return ruleAnswer(side, direction, far, from, to, dst, family);
    // An outside range: one answer per class of the outside that this side's rules tell apart.
    const ranges = direction === 'Egress' ? externalDestinations : externalSources;
    side.outsideClasses ??= side.farAddresses.classesOf(ranges.map((range) => range.range));
    const outsideClass = side.outsideClasses[far.outside] as number;
    side.outsideAnswers ??= new Int32Array(
      side.outsideClasses.reduce((max, c) => Math.max(max, c), 0) + 1,
    ).fill(-1);
    let answer = side.outsideAnswers[outsideClass] as number;
    if (answer < 0) {
      answer = ruleAnswer(side, direction, far, from, to, dst, family);
      side.outsideAnswers[outsideClass] = answer;
    }
    return answer;
  };

  return (src, dst) => {
    const from = listingPeers.get(src) as ListingPeer;
    const to = listingPeers.get(dst) as ListingPeer;
    const family = connectionFamily(from.looked, to.looked);
    if (family === undefined)
      throw new Error(`cannot evaluate ${src.id} => ${dst.id}: different IP families`);
    const egress = directionAnswer(from.egress, 'Egress', to, from, to, dst, family);
    const ingress = directionAnswer(to.ingress, 'Ingress', from, from, to, dst, family);
    const key = egress * 2 ** 26 + ingress;
    let both = intersections.get(key);
    if (both === undefined) {
      const allowed = intersectPortSets(portSets.sets[egress] as PortSet, portSets.sets[ingress] as PortSet);
      both = { allowed, conn: formatPortSet(allowed) };
      intersections.set(key, both);
    }
    return { src, dst, allowed: both.allowed, conn: both.conn };
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
    const resolved = resolvePair(cluster, src, dst);
    const { allowed, segments } = allowedPorts(resolved, dst, cuts, named, (connection) => {
      const verdict = engine.verdict(connection);
      return { allowed: verdict.allowed, verdict };
    });
    return { src, dst, allowed, conn: formatPortSet(allowed), segments };
  };
}

/** A pair as a connection to evaluate (its port and protocol to be set per segment). */
function resolvePair(
  cluster: ClusterModel,
  src: ConnectivityPeer,
  dst: ConnectivityPeer,
): ResolvedConnection {
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
  return resolved.value;
}

/**
 * The ports a verdict function allows from `src` to `dst`, asking it once per port segment: between two cuts (and
 * the destination's named ports, when a rule names ports) every port gets the same verdict.
 */
function allowedPorts(
  resolved: ResolvedConnection,
  dst: ConnectivityPeer,
  portCuts: Readonly<Record<Protocol, readonly number[]>>,
  namedPorts: ReadonlySet<Protocol>,
  decide: (connection: ResolvedConnection) => { allowed: boolean; verdict?: Verdict },
): { allowed: PortSet; segments: PortSegment[] } {
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
      const { allowed: allowedHere, verdict } = decide({ ...resolved, protocol, port: first });
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
