/**
 * Kubernetes NetworkPolicy -> one Calico GlobalNetworkPolicy with exactly the same meaning.
 *
 * Calico allows what ANY policy allows, so a translation wider than the Kubernetes meaning opens a hole. Anything
 * that cannot be expressed exactly fails the whole policy with errors naming the fields; nothing is dropped.
 *
 * Reference: libcalico-go `lib/backend/k8s/conversion/conversion.go` (`K8sNetworkPolicyToCalico`,
 * `k8sSelectorToCalico`, `k8sRuleToCalico`, `k8sPeerToCalicoFields`, `k8sPortToCalico`). Where ours differs, and why:
 *
 * 1. Calico emits a NAMESPACED NetworkPolicy; ours is a GlobalNetworkPolicy, so that the whole cluster policy is
 *    explicit in one place and can be ordered against the VPE rules and IBM's host-endpoint policies. In a
 *    namespaced policy Calico scopes the policy selector and every rule selector without a namespaceSelector to
 *    the policy's namespace implicitly (syncersv1/updateprocessors/rules.go `getEndpointSelector`); in a GNP
 *    nothing is implicit, so we write the scope into the selectors:
 *    - policy selector: `projectcalico.org/orchestrator == 'k8s' && projectcalico.org/namespace == '<ns>' && <pod>`
 *    - podSelector-only peer: the same three parts (a bare GNP rule selector would match every namespace).
 *    Calico's converter also prefixes pod selectors with the orchestrator term; we keep it, because a GNP selector
 *    otherwise also matches host endpoints and global network sets (IBM's workers are host endpoints).
 * 2. Calico drops a rule it cannot convert and converts the rest; we fail the whole policy (the controller keeps
 *    the previous GNP and reports the error), because a dropped allow-rule silently changes the meaning.
 * 3. Calico writes label values unquoted-checked (`'%s'`); a value containing `'` gives an unparsable (or, worse,
 *    different) selector. We quote with the one quoting function and fail on values with both quote kinds.
 * 4. Calico keeps rules of a direction missing from policyTypes (Felix ignores them); we omit them and warn.
 * 5. Selectors are canonical (sorted terms and values) and ports merged into sorted ranges, so equal meanings give
 *    byte-identical GNPs. Calico's SimplifyPorts merges numeric ports too; protocols are sorted as Calico does.
 * 6. Selectors on label keys Calico itself sets on workload endpoints (`projectcalico.org/namespace`,
 *    `projectcalico.org/orchestrator`, `projectcalico.org/serviceaccount`, the inherited `pcns.*`/`pcsa.*` keys),
 *    and namespace selectors on `projectcalico.org/name`, are rejected: Calico overrides or adds those labels, so
 *    such a selector means something else in Calico than in Kubernetes. Calico's converter passes them through.
 *
 * Same as Calico: order 1000 and tier `default` by default (both configurable); missing policyTypes default the
 * way the API server defaults them; the port protocol defaults to TCP; one Calico rule per (protocol, peer), with
 * all the protocol's ports in it; a missing or empty `from`/`to` and missing or empty `ports` mean "any".
 */
import type {
  IPBlock,
  LabelSelector,
  NetworkPolicy,
  NetworkPolicyEgressRule,
  NetworkPolicyIngressRule,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  NetworkPolicySpec,
  PolicyType,
  Protocol,
} from '../api/kube.js';
import {
  DEFAULT_TIER,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  NP_NAME_ANNOTATION,
  NP_NAMESPACE_LABEL,
  SOURCE_LABEL,
  SOURCE_NETWORKPOLICY,
  type CalicoPort,
  type CalicoRule,
  type EntityRule,
  type GlobalNetworkPolicy,
  type GlobalNetworkPolicySpec,
} from '../calico/types.js';
import {
  compareCidrs,
  cidrContains,
  formatCidr,
  ipv4MappedMessage,
  parseCidr,
  type Cidr,
} from '../util/cidr.js';
import { type FieldError, type Finding, type FieldPath } from '../api/errors.js';
import { gnpNameForNetworkPolicy } from './names.js';
import { andTerms, equalityTerm, labelSelectorTerms } from './selector.js';

/** The API version of the objects we build; src/calico converts to the storage flavour. */
export const CALICO_API_VERSION = 'projectcalico.org/v3';
/** Calico's own order for converted NetworkPolicies. */
export const DEFAULT_NETWORKPOLICY_ORDER = 1000;

/**
 * Labels Calico puts on every Kubernetes workload endpoint (libcalico-go `conversion/workload_endpoint_default.go`),
 * overriding pod labels of the same key, and the prefixes of the labels endpoints inherit from their namespace's
 * and service account's profiles (`conversion/constants.go`).
 */
export const CALICO_NAMESPACE_LABEL = 'projectcalico.org/namespace';
export const CALICO_ORCHESTRATOR_LABEL = 'projectcalico.org/orchestrator';
export const CALICO_SERVICEACCOUNT_LABEL = 'projectcalico.org/serviceaccount';
export const CALICO_K8S_ORCHESTRATOR = 'k8s';
export const CALICO_NAMESPACE_LABEL_PREFIX = 'pcns.';
export const CALICO_SERVICEACCOUNT_LABEL_PREFIX = 'pcsa.';
/** Calico sets `pcns.projectcalico.org/name` to the namespace's name on every namespace profile. */
export const CALICO_NAME_LABEL = 'projectcalico.org/name';

export interface NetworkPolicyTranslationOptions {
  /** The GNP's order; default 1000 like Calico's own conversion. */
  order?: number;
  /** The GNP's tier; default `default`. */
  tier?: string;
}

export type NetworkPolicyTranslation =
  { ok: true; policy: GlobalNetworkPolicy; warnings: Finding[] } | { ok: false; errors: FieldError[] };

const ORCHESTRATOR_TERM = equalityTerm(CALICO_ORCHESTRATOR_LABEL, CALICO_K8S_ORCHESTRATOR);
const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];
const POLICY_TYPES: readonly PolicyType[] = ['Ingress', 'Egress'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// Kubernetes IsValidPortName (IANA service name): at most 15, [a-z0-9-], a letter, no leading/trailing/double '-'.
const PORT_NAME = /^[a-z0-9]([a-z0-9]|-(?!-))*$/;
const DIGITS = /^[0-9]+$/;
const A_LETTER = /[a-z]/;

/**
 * The policy types the API server stores when `policyTypes` is empty: Ingress, plus Egress when there are egress
 * rules. Explicit types are returned as given (in Ingress, Egress order, without duplicates).
 */
export function effectivePolicyTypes(spec: Pick<NetworkPolicySpec, 'policyTypes' | 'egress'>): PolicyType[] {
  const given = spec.policyTypes ?? [];
  if (given.length > 0) return POLICY_TYPES.filter((type) => given.includes(type));
  return (spec.egress ?? []).length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

export function translateNetworkPolicy(
  np: NetworkPolicy,
  options: NetworkPolicyTranslationOptions = {},
): NetworkPolicyTranslation {
  const errors: FieldError[] = [];
  const warnings: Finding[] = [];
  const tier = options.tier ?? DEFAULT_TIER;
  const order = options.order ?? DEFAULT_NETWORKPOLICY_ORDER;
  if (!Number.isFinite(order))
    errors.push({ path: [], message: `the GNP order must be a finite number, got ${order}` });

  const name = np.metadata?.name;
  const namespace = np.metadata?.namespace;
  if (typeof name !== 'string' || name === '') {
    errors.push({ path: ['metadata', 'name'], message: 'required' });
  } else if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    errors.push({
      path: ['metadata', 'name'],
      message: `${JSON.stringify(name)} is not a valid object name (a DNS subdomain: lower-case alphanumerics, '-' and '.', at most 253 characters)`,
    });
  }
  if (typeof namespace !== 'string' || namespace === '') {
    errors.push({
      path: ['metadata', 'namespace'],
      message: 'required: a NetworkPolicy applies to the pods of its namespace',
    });
  } else if (namespace.length > 63 || !DNS_LABEL.test(namespace)) {
    errors.push({
      path: ['metadata', 'namespace'],
      message: `${JSON.stringify(namespace)} is not a valid namespace name (a DNS label: lower-case alphanumerics and '-', at most 63 characters)`,
    });
  }
  const spec: NetworkPolicySpec | undefined = np.spec;
  if (spec === undefined || spec === null || typeof spec !== 'object') {
    errors.push({ path: ['spec'], message: 'required' });
    return { ok: false, errors };
  }
  // Keep going with placeholders so that the spec's errors are reported together with the metadata's.
  const metadataValid = errors.length === 0;
  const ns = metadataValid ? (namespace as string) : 'invalid';
  const npName = metadataValid ? (name as string) : 'invalid';

  (spec.policyTypes ?? []).forEach((type, index) => {
    if (!POLICY_TYPES.includes(type)) {
      errors.push({
        path: ['spec', 'policyTypes', index],
        message: `${JSON.stringify(type)} is not a policy type: use Ingress or Egress`,
      });
    }
  });
  const types = effectivePolicyTypes(spec);

  const podTerms = podSelectorTerms(spec.podSelector ?? {}, ['spec', 'podSelector'], errors);
  const namespaceScope = `${ORCHESTRATOR_TERM} && ${equalityTerm(CALICO_NAMESPACE_LABEL, ns)}`;
  const selector = scopedSelector(namespaceScope, podTerms);

  const translated: Record<PolicyType, CalicoRule[]> = { Ingress: [], Egress: [] };
  for (const direction of POLICY_TYPES) {
    const ingress = direction === 'Ingress';
    const field = ingress ? 'ingress' : 'egress';
    const rules = (ingress ? spec.ingress : spec.egress) ?? [];
    if (!types.includes(direction)) {
      if (rules.length > 0) {
        warnings.push({
          path: ['spec', field],
          message: `ignored: spec.policyTypes does not include ${direction}, so Kubernetes does not enforce these rules`,
          severity: 'warning',
          code: 'RulesIgnoredByPolicyTypes',
        });
      }
      continue;
    }
    const peerField = ingress ? 'from' : 'to';
    const out = translated[direction];
    for (let ruleIndex = 0; ruleIndex < rules.length; ruleIndex++) {
      const rule = rules[ruleIndex];
      const peers = ingress
        ? (rule as NetworkPolicyIngressRule | undefined)?.from
        : (rule as NetworkPolicyEgressRule | undefined)?.to;
      ruleToCalico(
        direction,
        namespaceScope,
        { peers: peers ?? [], path: ['spec', field, ruleIndex, peerField] },
        { ports: rule?.ports ?? [], path: ['spec', field, ruleIndex, 'ports'] },
        errors,
        warnings,
        out,
      );
    }
  }

  if (errors.length > 0) return { ok: false, errors };

  const policySpec: GlobalNetworkPolicySpec = { tier, order, selector, types };
  if (types.includes('Ingress') && translated.Ingress.length > 0) policySpec.ingress = translated.Ingress;
  if (types.includes('Egress') && translated.Egress.length > 0) policySpec.egress = translated.Egress;

  return {
    ok: true,
    policy: {
      apiVersion: CALICO_API_VERSION,
      kind: 'GlobalNetworkPolicy',
      metadata: {
        name: gnpNameForNetworkPolicy(ns, npName, tier),
        labels: {
          [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
          [SOURCE_LABEL]: SOURCE_NETWORKPOLICY,
          [NP_NAMESPACE_LABEL]: ns,
        },
        annotations: { [NP_NAME_ANNOTATION]: npName },
      },
      spec: policySpec,
    },
    warnings,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Rules

interface PeerFields {
  selector?: string;
  namespaceSelector?: string;
  nets?: string[];
  notNets?: string[];
}

/** Appends the rule's Calico rules to `rules`. `namespaceScope`: the terms selecting the policy's namespace. */
function ruleToCalico(
  direction: PolicyType,
  namespaceScope: string,
  { peers, path: peersPath }: { peers: readonly NetworkPolicyPeer[]; path: FieldPath },
  { ports, path: portsPath }: { ports: readonly NetworkPolicyPort[]; path: FieldPath },
  errors: FieldError[],
  warnings: Finding[],
  rules: CalicoRule[],
): void {
  // No peers: any source/destination, including outside the cluster.
  const peerFields: PeerFields[] =
    peers.length === 0
      ? [{}]
      : peers.map((peer, index) =>
          peerToCalico(peer, namespaceScope, [...peersPath, index], errors, warnings),
        );
  const protocolPorts = portsByProtocol(ports, portsPath, errors);

  for (const { protocol, ports: calicoPorts } of protocolPorts) {
    for (const peer of peerFields) {
      const rule: CalicoRule = { action: 'Allow' };
      if (protocol !== undefined) rule.protocol = protocol;
      if (direction === 'Ingress') {
        const source = entityRule(peer, undefined);
        const destination = entityRule({}, calicoPorts);
        if (source) rule.source = source;
        if (destination) rule.destination = destination;
      } else {
        const destination = entityRule(peer, calicoPorts);
        if (destination) rule.destination = destination;
      }
      rules.push(rule);
    }
  }
}

function entityRule(peer: PeerFields, ports: CalicoPort[] | undefined): EntityRule | undefined {
  if (
    peer.selector === undefined &&
    peer.namespaceSelector === undefined &&
    peer.nets === undefined &&
    (peer.notNets === undefined || peer.notNets.length === 0) &&
    ports === undefined
  )
    return undefined;
  const entity: EntityRule = {};
  if (peer.selector !== undefined) entity.selector = peer.selector;
  if (peer.namespaceSelector !== undefined) entity.namespaceSelector = peer.namespaceSelector;
  if (peer.nets !== undefined) entity.nets = peer.nets;
  if (peer.notNets !== undefined && peer.notNets.length > 0) entity.notNets = peer.notNets;
  if (ports !== undefined) entity.ports = ports;
  return entity;
}

/** `scope && terms...`: andTerms of the scope's terms followed by `terms`, without building the list. */
function scopedSelector(scope: string, terms: readonly string[]): string {
  return terms.length === 0 ? scope : `${scope} && ${andTerms(terms)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Peers

function peerToCalico(
  peer: NetworkPolicyPeer,
  namespaceScope: string,
  path: FieldPath,
  errors: FieldError[],
  warnings: Finding[],
): PeerFields {
  if (peer === null || typeof peer !== 'object') {
    errors.push({ path, message: 'a peer must be an object with podSelector, namespaceSelector or ipBlock' });
    return {};
  }
  const hasSelectors = peer.podSelector !== undefined || peer.namespaceSelector !== undefined;
  if (peer.ipBlock !== undefined && hasSelectors) {
    errors.push({
      path,
      message:
        'ipBlock cannot be combined with podSelector or namespaceSelector in one peer; write them as two peers',
    });
    return {};
  }
  if (peer.ipBlock !== undefined)
    return ipBlockToCalico(peer.ipBlock, [...path, 'ipBlock'], errors, warnings);
  if (!hasSelectors) {
    errors.push({
      path,
      message: 'a peer must specify podSelector, namespaceSelector or ipBlock (an empty peer is not allowed)',
    });
    return {};
  }

  const podTerms = podSelectorTerms(peer.podSelector, [...path, 'podSelector'], errors);
  if (peer.namespaceSelector === undefined) {
    // podSelector alone means "pods in the policy's own namespace".
    return { selector: scopedSelector(namespaceScope, podTerms) };
  }
  const namespaceTerms = namespaceSelectorTerms(
    peer.namespaceSelector,
    [...path, 'namespaceSelector'],
    errors,
  );
  // Calico evaluates a rule's namespaceSelector against the endpoint's namespace labels (`pcns.` + key) and ANDs it
  // with the selector; `all()` there means "any namespaced endpoint". The orchestrator term keeps host endpoints
  // and network sets out even when the namespace selector is a negation (`!has(x)` would match them).
  return {
    selector: scopedSelector(ORCHESTRATOR_TERM, podTerms),
    namespaceSelector: andTerms(namespaceTerms),
  };
}

function ipBlockToCalico(
  block: IPBlock,
  path: FieldPath,
  errors: FieldError[],
  warnings: Finding[],
): PeerFields {
  if (block === null || typeof block !== 'object' || typeof block.cidr !== 'string') {
    errors.push({ path: [...path, 'cidr'], message: 'required' });
    return {};
  }
  const cidr = parseIpBlockCidr(block.cidr, [...path, 'cidr'], errors, warnings);
  const except: CanonicalCidr[] = [];
  (block.except ?? []).forEach((text, index) => {
    const exceptPath = [...path, 'except', index];
    if (typeof text !== 'string') {
      errors.push({ path: exceptPath, message: 'must be a CIDR string' });
      return;
    }
    const parsed = parseIpBlockCidr(text, exceptPath, errors, warnings);
    if (parsed === undefined || cidr === undefined) return;
    // Kubernetes rejects an except that is not a strict subset of the cidr; so do we (it would mean nothing).
    if (
      parsed.cidr.family !== cidr.cidr.family ||
      !cidrContains(cidr.cidr, parsed.cidr) ||
      parsed.cidr.prefixLength <= cidr.cidr.prefixLength
    ) {
      errors.push({ path: exceptPath, message: `${text} must be a strict subset of ${cidr.text}` });
      return;
    }
    except.push(parsed);
  });
  if (cidr === undefined) return {};
  // One ipBlock per rule and excepts inside its cidr: the rule's CIDRs share one family, as Calico's validator
  // requires, so no ipVersion is needed (Felix renders a rule with IPv4 nets only for IPv4), and no except is /0.
  const notNets = uniqueSorted(except).map((entry) => entry.text);
  return { nets: [cidr.text], notNets };
}

/** A parsed CIDR and its canonical text (formatCidr's). */
interface CanonicalCidr {
  cidr: Cidr;
  text: string;
}

function parseIpBlockCidr(
  text: string,
  path: FieldPath,
  errors: FieldError[],
  warnings: Finding[],
): CanonicalCidr | undefined {
  // Kubernetes parses ipBlock CIDRs with Go's net.ParseCIDR, which masks host bits; so do we, with a warning.
  // The strict parse first: it is the common case, and then the only parse.
  const strict = parseCidr(text);
  const parsed = strict.ok ? strict : parseCidr(text, { hostBits: 'mask' });
  if (!parsed.ok) {
    errors.push({ path, message: parsed.message });
    return undefined;
  }
  const mapped = ipv4MappedMessage(text, parsed.value);
  if (mapped !== undefined) {
    errors.push({ path, message: mapped });
    return undefined;
  }
  if (strict.ok) {
    // parseCidr accepts only the canonical IPv4 text (no leading zeros, no host bits), so it needs no
    // formatting again; IPv6 text can be written many ways (case, zero groups), so it does.
    return { cidr: strict.value, text: strict.value.family === 4 ? text : formatCidr(strict.value) };
  }
  const network = formatCidr(parsed.value);
  warnings.push({
    path,
    message: `${text} has host bits set; Kubernetes uses the network ${network}, and so does the GNP`,
    severity: 'warning',
    code: 'IpBlockHostBitsSet',
  });
  return { cidr: parsed.value, text: network };
}

function uniqueSorted(cidrs: CanonicalCidr[]): CanonicalCidr[] {
  if (cidrs.length < 2) return cidrs;
  const sorted = [...cidrs].sort((a, b) => compareCidrs(a.cidr, b.cidr));
  return sorted.filter(
    (entry, index) =>
      index === 0 || compareCidrs((sorted[index - 1] as CanonicalCidr).cidr, entry.cidr) !== 0,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Selectors with Calico-reserved keys

function podSelectorTerms(
  selector: LabelSelector | undefined,
  path: FieldPath,
  errors: FieldError[],
): string[] {
  return termsWithoutReservedKeys(selector, path, errors, (key) =>
    key === CALICO_NAMESPACE_LABEL ||
    key === CALICO_ORCHESTRATOR_LABEL ||
    key === CALICO_SERVICEACCOUNT_LABEL ||
    key.startsWith(CALICO_NAMESPACE_LABEL_PREFIX) ||
    key.startsWith(CALICO_SERVICEACCOUNT_LABEL_PREFIX)
      ? `Calico sets or inherits the label ${JSON.stringify(key)} on every workload endpoint, so a pod selector on it would not mean in Calico what it means in Kubernetes`
      : undefined,
  );
}

function namespaceSelectorTerms(selector: LabelSelector, path: FieldPath, errors: FieldError[]): string[] {
  return termsWithoutReservedKeys(selector, path, errors, (key) =>
    key === CALICO_NAME_LABEL
      ? `Calico sets the namespace label ${JSON.stringify(key)} to the namespace's name, so a namespace selector on it would not mean in Calico what it means in Kubernetes; select on kubernetes.io/metadata.name instead`
      : undefined,
  );
}

/** The selector's Calico terms; a key `reason` refuses, or an invalid selector, is an error and gives no terms. */
function termsWithoutReservedKeys(
  selector: LabelSelector | undefined,
  path: FieldPath,
  errors: FieldError[],
  reason: (key: string) => string | undefined,
): string[] {
  rejectReservedKeys(selector, path, errors, reason);
  const terms = labelSelectorTerms(selector, path);
  if (!terms.ok) {
    errors.push(...terms.errors);
    return [];
  }
  return terms.value;
}

function rejectReservedKeys(
  selector: LabelSelector | undefined,
  path: FieldPath,
  errors: FieldError[],
  reason: (key: string) => string | undefined,
): void {
  if (selector === undefined || selector === null || typeof selector !== 'object') return;
  for (const key of Object.keys(selector.matchLabels ?? {})) {
    const message = reason(key);
    if (message !== undefined) errors.push({ path: [...path, 'matchLabels', key], message });
  }
  (selector.matchExpressions ?? []).forEach((requirement, index) => {
    const message = typeof requirement?.key === 'string' ? reason(requirement.key) : undefined;
    if (message !== undefined) errors.push({ path: [...path, 'matchExpressions', index, 'key'], message });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Ports

interface ProtocolPorts {
  /** undefined: any protocol (the rule had no ports). */
  protocol: Protocol | undefined;
  /** undefined: every port of the protocol. */
  ports: CalicoPort[] | undefined;
}

interface PortAccumulator {
  all: boolean;
  ranges: [number, number][];
  /** Created on the first named port. */
  names: Set<string> | undefined;
}

// Calico sorts the protocol names for deterministic output; so do we. The accumulators are kept in this order.
const SORTED_PROTOCOLS: readonly Protocol[] = [...PROTOCOLS].sort();

function portsByProtocol(
  ports: readonly NetworkPolicyPort[],
  path: FieldPath,
  errors: FieldError[],
): ProtocolPorts[] {
  if (ports.length === 0) return [{ protocol: undefined, ports: undefined }];
  const byProtocol: (PortAccumulator | undefined)[] = [];
  ports.forEach((port, index) => {
    if (port === null || typeof port !== 'object') {
      errors.push({
        path: [...path, index],
        message: 'a port must be an object with protocol, port and endPort',
      });
      return;
    }
    const protocol = port.protocol ?? 'TCP';
    const slot = SORTED_PROTOCOLS.indexOf(protocol);
    if (slot < 0) {
      errors.push({
        path: [...path, index, 'protocol'],
        message: `${JSON.stringify(protocol)} is not supported: use TCP, UDP or SCTP`,
      });
      return;
    }
    let accumulator = byProtocol[slot];
    if (accumulator === undefined) {
      accumulator = { all: false, ranges: [], names: undefined };
      byProtocol[slot] = accumulator;
    }
    addPort(port, path, index, accumulator, errors);
  });
  const result: ProtocolPorts[] = [];
  for (let slot = 0; slot < SORTED_PROTOCOLS.length; slot++) {
    const accumulator = byProtocol[slot];
    if (accumulator === undefined) continue;
    result.push({
      protocol: SORTED_PROTOCOLS[slot],
      ports: accumulator.all ? undefined : calicoPorts(accumulator),
    });
  }
  return result;
}

/** `portsPath` and `index` name the port in errors (`path` is built only for one). */
function addPort(
  port: NetworkPolicyPort,
  portsPath: FieldPath,
  index: number,
  accumulator: PortAccumulator,
  errors: FieldError[],
): void {
  const { port: value, endPort } = port;
  const path = (): FieldPath => [...portsPath, index];
  if (value === undefined || value === null) {
    if (endPort !== undefined && endPort !== null) {
      errors.push({ path: [...path(), 'endPort'], message: 'endPort requires port' });
      return;
    }
    accumulator.all = true;
    return;
  }
  if (typeof value === 'string') {
    if (DIGITS.test(value)) {
      errors.push({
        path: [...path(), 'port'],
        message: `"${value}" is a string; write a port number without quotes (a quoted value is a port name)`,
      });
      return;
    }
    if (value.length > 15 || !PORT_NAME.test(value) || value.endsWith('-') || !A_LETTER.test(value)) {
      errors.push({
        path: [...path(), 'port'],
        message: `${JSON.stringify(value)} is not a valid port name (at most 15 lower-case letters, digits and single '-' inside, with at least one letter)`,
      });
      return;
    }
    if (endPort !== undefined && endPort !== null) {
      errors.push({ path: [...path(), 'endPort'], message: 'endPort cannot be used with a named port' });
      return;
    }
    (accumulator.names ??= new Set<string>()).add(value);
    return;
  }
  if (!isPortNumber(value)) {
    errors.push({
      path: [...path(), 'port'],
      message: `${JSON.stringify(value)} is not a port: use 1 to 65535 or a port name`,
    });
    return;
  }
  let last = value;
  if (endPort !== undefined && endPort !== null) {
    if (!isPortNumber(endPort) || endPort < value) {
      errors.push({
        path: [...path(), 'endPort'],
        message: `${JSON.stringify(endPort)} must be a port number from ${value} (port) to 65535`,
      });
      return;
    }
    last = endPort;
  }
  accumulator.ranges.push([value, last]);
}

function isPortNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** Numeric ports as the fewest sorted ranges (a single port as a number), then the named ports, sorted. */
function calicoPorts(accumulator: PortAccumulator): CalicoPort[] {
  const { ranges, names } = accumulator;
  if (ranges.length === 1 && names === undefined) {
    // The common case: one port or one range, nothing to sort or merge.
    const [first, last] = ranges[0] as [number, number];
    return [first === last ? first : `${first}:${last}`];
  }
  const named = names === undefined ? [] : [...names].sort();
  const sorted = [...ranges].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged: [number, number][] = [];
  for (const [first, last] of sorted) {
    const current = merged[merged.length - 1];
    if (current && first <= current[1] + 1) current[1] = Math.max(current[1], last);
    else merged.push([first, last]);
  }
  const numeric: CalicoPort[] = merged.map(([first, last]) => (first === last ? first : `${first}:${last}`));
  return named.length === 0 ? numeric : [...numeric, ...named];
}
