/**
 * Kubernetes NetworkPolicy semantics (networking.k8s.io/v1), as the API reference and the upstream conformance
 * tests define them:
 * - A pod is isolated for a direction when any NetworkPolicy of its namespace selects it (podSelector) and has that
 *   direction in its (defaulted) policyTypes; a non-isolated pod allows everything in that direction.
 * - An isolated pod allows what at least one rule of one selecting policy allows (policies are additive).
 * - A connection is allowed when the source's egress allows it AND the destination's ingress allows it; the side
 *   that is not a pod (an external address, a host-network pod) imposes nothing.
 * - A rule matches when one of its peers matches (no peers: any) AND one of its ports matches (no ports: any).
 * - Peers: podSelector alone = pods of the policy's namespace; namespaceSelector alone = all pods of the selected
 *   namespaces; both = the selected pods of the selected namespaces; ipBlock = addresses in cidr and in no except.
 *   Implementation-defined, and done here as Calico does: ipBlock also matches pod addresses.
 * - Ports: protocol (default TCP) must equal the connection's; no port = every port of the protocol; a number
 *   with endPort is a range; a name is resolved against the DESTINATION pod's named container ports with the same
 *   protocol (so a named port never matches traffic to an external address).
 */
import type {
  LabelSelector,
  LabelSelectorRequirement,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  PolicyType,
  Protocol,
} from '../api/kube.js';
import {
  cidrContainsIp,
  formatCidr,
  formatIp,
  ipv4MappedMessage,
  parseCidr,
  type Cidr,
  type Parsed,
} from '../util/cidr.js';
import { formatPath, type FieldError, type Validated, type FieldPath } from '../api/errors.js';
import { effectivePolicyTypes } from '../translate/networkpolicy.js';
import { compileLabelSelector, InvalidLabelSelectorError, type Labels } from '../selectors/kubernetes.js';
import {
  verdictOf,
  describeEndpoint,
  namedPortNumbers,
  type Direction,
  type DirectionVerdict,
  type Mismatch,
  type PolicyRef,
  type ResolvedConnection,
  type ResolvedEndpoint,
  type RuleEvaluation,
  type RuleRef,
  type Verdict,
} from './model.js';

interface CompiledSelector {
  readonly text: string;
  readonly matches: (labels: Labels) => boolean;
}

type CompiledPeer =
  | { kind: 'ipBlock'; cidr: Cidr; except: Cidr[] }
  | { kind: 'selectors'; pods: CompiledSelector | undefined; namespaces: CompiledSelector | undefined };

interface CompiledPort {
  protocol: Protocol;
  /** undefined: every port of the protocol. */
  port: number | string | undefined;
  endPort: number | undefined;
}

interface CompiledRule {
  /** undefined: any peer. */
  peers: CompiledPeer[] | undefined;
  /** The peers as written (JSON): rules with the same text in one namespace match the same endpoints. */
  peersText: string;
  /** undefined: any protocol and port. */
  ports: CompiledPort[] | undefined;
}

/** A compiled ingress or egress rule. */
export type KubeRule = CompiledRule;

export interface CompiledNetworkPolicy {
  readonly ref: PolicyRef & { kind: 'NetworkPolicy' };
  readonly namespace: string;
  readonly podSelector: CompiledSelector;
  readonly types: readonly PolicyType[];
  readonly ingress: readonly CompiledRule[];
  readonly egress: readonly CompiledRule[];
}

const PROTOCOLS: readonly string[] = ['TCP', 'UDP', 'SCTP'];

/**
 * Checks a NetworkPolicy as the API server would (the parts that decide its meaning) and prepares it for
 * evaluation. A policy the API server would reject gets errors, never a guessed meaning.
 */
export function compileNetworkPolicy(np: NetworkPolicy): Validated<CompiledNetworkPolicy> {
  const errors: FieldError[] = [];
  const namespace = np.metadata?.namespace;
  const name = np.metadata?.name;
  if (!namespace) errors.push({ path: ['metadata', 'namespace'], message: 'required' });
  if (!name) errors.push({ path: ['metadata', 'name'], message: 'required' });
  const spec = np.spec;
  if (spec === undefined || spec === null)
    return { ok: false, errors: [...errors, { path: ['spec'], message: 'required' }] };

  const podSelector = compileSelector(spec.podSelector ?? {}, ['spec', 'podSelector'], errors);
  (spec.policyTypes ?? []).forEach((type, index) => {
    if (type !== 'Ingress' && type !== 'Egress') {
      errors.push({
        path: ['spec', 'policyTypes', index],
        message: `unsupported value ${JSON.stringify(type)}`,
      });
    }
  });
  const ingress = (spec.ingress ?? []).map((rule, index) =>
    compileRule(rule?.from, rule?.ports, ['spec', 'ingress', index], 'from', errors),
  );
  const egress = (spec.egress ?? []).map((rule, index) =>
    compileRule(rule?.to, rule?.ports, ['spec', 'egress', index], 'to', errors),
  );
  if (errors.length > 0 || podSelector === undefined) return { ok: false, errors };
  return {
    ok: true,
    value: {
      ref: { kind: 'NetworkPolicy', namespace: namespace as string, name: name as string },
      namespace: namespace as string,
      podSelector,
      types: effectivePolicyTypes(spec),
      ingress,
      egress,
    },
  };
}

function compileRule(
  peers: NetworkPolicyPeer[] | undefined,
  ports: NetworkPolicyPort[] | undefined,
  path: FieldPath,
  peersField: 'from' | 'to',
  errors: FieldError[],
): CompiledRule {
  return {
    peersText: JSON.stringify(peers === undefined || peers.length === 0 ? null : peers),
    peers:
      peers === undefined || peers.length === 0
        ? undefined
        : peers.map((peer, index) => compilePeer(peer, [...path, peersField, index], errors)),
    ports:
      ports === undefined || ports.length === 0
        ? undefined
        : ports.map((port, index) => compilePort(port, [...path, 'ports', index], errors)),
  };
}

function compilePeer(peer: NetworkPolicyPeer, path: FieldPath, errors: FieldError[]): CompiledPeer {
  const selectors = peer.podSelector !== undefined || peer.namespaceSelector !== undefined;
  if (peer.ipBlock !== undefined) {
    if (selectors)
      errors.push({ path, message: 'ipBlock cannot be combined with pod or namespace selectors' });
    const cidr = parseIpBlockCidr(peer.ipBlock.cidr);
    if (!cidr.ok) {
      errors.push({ path: [...path, 'ipBlock', 'cidr'], message: cidr.message });
      return { kind: 'ipBlock', cidr: { family: 4, network: 0n, prefixLength: 0 }, except: [] };
    }
    const except: Cidr[] = [];
    (peer.ipBlock.except ?? []).forEach((text, index) => {
      const parsed = parseIpBlockCidr(text);
      if (parsed.ok) except.push(parsed.value);
      else errors.push({ path: [...path, 'ipBlock', 'except', index], message: parsed.message });
    });
    return { kind: 'ipBlock', cidr: cidr.value, except };
  }
  if (!selectors) errors.push({ path, message: 'must specify a peer' });
  return {
    kind: 'selectors',
    pods:
      peer.podSelector === undefined
        ? undefined
        : compileSelector(peer.podSelector, [...path, 'podSelector'], errors),
    namespaces:
      peer.namespaceSelector === undefined
        ? undefined
        : compileSelector(peer.namespaceSelector, [...path, 'namespaceSelector'], errors),
  };
}

/** As the API server reads an ipBlock CIDR: host bits masked (Go's net.ParseCIDR), IPv4-mapped IPv6 refused. */
function parseIpBlockCidr(text: string): Parsed<Cidr> {
  const parsed = parseCidr(text, { hostBits: 'mask' });
  const mapped = parsed.ok ? ipv4MappedMessage(text, parsed.value) : undefined;
  return mapped === undefined ? parsed : { ok: false, message: mapped };
}

function compilePort(port: NetworkPolicyPort, path: FieldPath, errors: FieldError[]): CompiledPort {
  const protocol = port.protocol ?? 'TCP';
  if (!PROTOCOLS.includes(protocol))
    errors.push({
      path: [...path, 'protocol'],
      message: `unsupported value ${JSON.stringify(protocol)}`,
    });
  if (port.endPort !== undefined && typeof port.port !== 'number') {
    errors.push({ path: [...path, 'endPort'], message: 'may only be used with a numeric port' });
  }
  if (port.endPort !== undefined && typeof port.port === 'number' && port.endPort < port.port) {
    errors.push({ path: [...path, 'endPort'], message: 'must be greater than or equal to port' });
  }
  return { protocol, port: port.port ?? undefined, endPort: port.endPort ?? undefined };
}

function compileSelector(
  selector: LabelSelector,
  path: FieldPath,
  errors: FieldError[],
): CompiledSelector | undefined {
  try {
    return { text: describeLabelSelector(selector), matches: compileLabelSelector(selector, path) };
  } catch (error) {
    if (!(error instanceof InvalidLabelSelectorError)) throw error;
    errors.push(...error.errors);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

/** The Kubernetes verdict on a connection under the given policies (of any namespaces). */
export function kubeVerdict(
  policies: readonly CompiledNetworkPolicy[],
  connection: ResolvedConnection,
): Verdict {
  return verdictOf(connection, (direction) => directionVerdict(policies, connection, direction));
}

/**
 * Whether the Kubernetes policies allow one direction of a connection: the same decision as the verdict's
 * `allowed` for that direction, without building the explanation of every rule that does not match (what listing
 * every pair of a cluster needs; explanations cost most of the time there).
 */
export function kubeDirectionAllowed(
  policies: readonly CompiledNetworkPolicy[],
  connection: ResolvedConnection,
  direction: Direction,
): boolean {
  const endpoint = direction === 'Ingress' ? connection.dst : connection.src;
  if (endpoint.kind !== 'pod') return true;
  // No array of the selecting policies: this runs once per port segment of every class of pairs.
  const peer = direction === 'Ingress' ? connection.src : connection.dst;
  let selected = false;
  for (const policy of policies) {
    if (!selects(policy, endpoint, direction)) continue;
    selected = true;
    for (const rule of direction === 'Ingress' ? policy.ingress : policy.egress) {
      if (ruleMatches(rule, policy.namespace, peer, connection)) return true;
    }
  }
  return !selected;
}

/** Whether a policy isolates the pod for the direction. */
function selects(
  policy: CompiledNetworkPolicy,
  endpoint: ResolvedEndpoint & { kind: 'pod' },
  direction: Direction,
): boolean {
  return (
    policy.namespace === endpoint.pod.namespace &&
    policy.types.includes(direction) &&
    policy.podSelector.matches(endpoint.pod.labels)
  );
}

function directionVerdict(
  policies: readonly CompiledNetworkPolicy[],
  connection: ResolvedConnection,
  direction: Direction,
): DirectionVerdict {
  const endpoint = direction === 'Ingress' ? connection.dst : connection.src;
  const base = { direction, endpoint: describeEndpoint(endpoint), selectedBy: [], allowedBy: [], rules: [] };
  if (endpoint.kind !== 'pod') return { ...base, allowed: true, outcome: 'not-applicable' };

  const selecting = policies.filter((policy) => selects(policy, endpoint, direction));
  if (selecting.length === 0) return { ...base, allowed: true, outcome: 'no-policy-selects' };

  const peer = direction === 'Ingress' ? connection.src : connection.dst;
  const rules: RuleEvaluation[] = [];
  for (const policy of selecting) {
    (direction === 'Ingress' ? policy.ingress : policy.egress).forEach((rule, ruleIndex) => {
      const ref: RuleRef = { policy: policy.ref, direction, ruleIndex };
      const mismatches = ruleMismatches(
        rule,
        policy.namespace,
        peer,
        connection,
        direction === 'Ingress' ? 'from' : 'to',
      );
      rules.push({ rule: ref, matched: mismatches.length === 0, mismatches });
    });
  }
  const allowedBy = rules.filter((rule) => rule.matched).map((rule) => rule.rule);
  return {
    ...base,
    selectedBy: selecting.map((policy) => policy.ref),
    allowed: allowedBy.length > 0,
    outcome: allowedBy.length > 0 ? 'allowed-by-rule' : 'no-rule-allows',
    allowedBy,
    rules,
  };
}

/** A rule matches when one of its peers matches (no peers: any) and one of its ports matches (no ports: any). */
function ruleMatches(
  rule: CompiledRule,
  policyNamespace: string,
  peer: ResolvedEndpoint,
  connection: ResolvedConnection,
): boolean {
  return kubeRulePeerMatches(rule, policyNamespace, peer) && kubeRulePortMatches(rule, connection);
}

/**
 * The peer half of a rule's match: one of its peers matches the endpoint on the far side (no peers: any). It does
 * not depend on the port, so listing every port of a pair tests it once, not once per port segment.
 */
export function kubeRulePeerMatches(
  rule: KubeRule,
  policyNamespace: string,
  peer: ResolvedEndpoint,
): boolean {
  return (
    rule.peers === undefined ||
    rule.peers.some((candidate) => peerMismatch(candidate, policyNamespace, peer) === undefined)
  );
}

/** The port half of a rule's match: one of its ports matches the connection's protocol and port (no ports: any). */
export function kubeRulePortMatches(rule: KubeRule, connection: ResolvedConnection): boolean {
  return rule.ports === undefined || rule.ports.some((port) => portMismatch(port, connection) === undefined);
}

function ruleMismatches(
  rule: CompiledRule,
  policyNamespace: string,
  peer: ResolvedEndpoint,
  connection: ResolvedConnection,
  peersField: 'from' | 'to',
): Mismatch[] {
  const mismatches: Mismatch[] = [];
  if (rule.peers !== undefined) {
    const peerMisses = rule.peers.map((candidate) => peerMismatch(candidate, policyNamespace, peer));
    if (peerMisses.every((miss) => miss !== undefined)) {
      peerMisses.forEach((why, index) =>
        mismatches.push({ field: formatPath([peersField, index]), message: (why as Why)() }),
      );
    }
  }
  if (rule.ports !== undefined) {
    const portMisses = rule.ports.map((port) => portMismatch(port, connection));
    if (portMisses.every((miss) => miss !== undefined)) {
      portMisses.forEach((why, index) =>
        mismatches.push({ field: formatPath(['ports', index]), message: (why as Why)() }),
      );
    }
  }
  return mismatches;
}

/**
 * Why a peer or port does not match, formatted only when asked: the evaluator formats reasons for explanations,
 * and deciding whether a connection is allowed must not pay for them.
 */
type Why = () => string;

/** undefined when the peer matches the endpoint; otherwise why not. */
function peerMismatch(
  peer: CompiledPeer,
  policyNamespace: string,
  endpoint: ResolvedEndpoint,
): Why | undefined {
  if (peer.kind === 'ipBlock') {
    const address = endpoint.address;
    if (address === undefined)
      return () =>
        `${describeEndpoint(endpoint)} has no IPv${peer.cidr.family} address to match ${describeIpBlock(peer)}`;
    if (!cidrContainsIp(peer.cidr, address))
      return () => `${formatIp(address)} is outside ${describeIpBlock(peer)}`;
    const excepted = peer.except.find((cidr) => cidrContainsIp(cidr, address));
    if (excepted)
      return () =>
        `${formatIp(address)} is in the excepted ${formatCidr(excepted)} of ${describeIpBlock(peer)}`;
    return undefined;
  }
  if (endpoint.kind !== 'pod')
    return () => `${describeEndpoint(endpoint)} is not a pod, and pod/namespace selectors only match pods`;
  const { pod, namespace } = endpoint;
  if (peer.namespaces === undefined) {
    if (pod.namespace !== policyNamespace) {
      return () =>
        `${describeEndpoint(endpoint)} is not in the policy's namespace ${policyNamespace} (a podSelector alone selects only there)`;
    }
  } else if (!peer.namespaces.matches(namespace.labels)) {
    const selector = peer.namespaces;
    return () => `namespace ${namespace.name} does not match namespaceSelector ${selector.text}`;
  }
  if (peer.pods !== undefined && !peer.pods.matches(pod.labels)) {
    const selector = peer.pods;
    return () => `${describeEndpoint(endpoint)} does not match podSelector ${selector.text}`;
  }
  return undefined;
}

function describeIpBlock(peer: { cidr: Cidr; except: Cidr[] }): string {
  return `ipBlock ${formatCidr(peer.cidr)}${peer.except.length > 0 ? ` except ${peer.except.map(formatCidr).join(', ')}` : ''}`;
}

function portMismatch(port: CompiledPort, connection: ResolvedConnection): Why | undefined {
  if (port.protocol !== connection.protocol)
    return () => `protocol ${port.protocol}, not ${connection.protocol}`;
  if (port.port === undefined) return undefined;
  const actual = connection.port as number;
  if (typeof port.port === 'number') {
    const first = port.port;
    const last = port.endPort ?? first;
    if (actual >= first && actual <= last) return undefined;
    return () => (last === first ? `port ${first}, not ${actual}` : `ports ${first}-${last}, not ${actual}`);
  }
  const name = port.port;
  const dst = connection.dst;
  if (dst.kind !== 'pod') return () => `named port ${name} cannot be resolved: the destination is not a pod`;
  const numbers = namedPortNumbers(dst.pod, name, port.protocol);
  if (numbers.includes(actual)) return undefined;
  return () =>
    numbers.length === 0
      ? `destination pod ${describeEndpoint(dst)} has no ${port.protocol} port named ${name}`
      : `named port ${name} is ${numbers.join(', ')} on ${describeEndpoint(dst)}, not ${actual}`;
}

/** `app=web,tier in (a,b),!legacy` as kubectl prints selectors; `{}` (everything) for an empty one. */
export function describeLabelSelector(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([key, value]) => `${key}=${value}`);
  for (const requirement of selector.matchExpressions ?? []) parts.push(describeRequirement(requirement));
  return parts.length === 0 ? '{} (everything)' : parts.join(',');
}

function describeRequirement({ key, operator, values }: LabelSelectorRequirement): string {
  switch (operator) {
    case 'In':
      return `${key} in (${(values ?? []).join(',')})`;
    case 'NotIn':
      return `${key} notin (${(values ?? []).join(',')})`;
    case 'Exists':
      return key;
    case 'DoesNotExist':
      return `!${key}`;
    default:
      return `${key} ${String(operator)}`;
  }
}
