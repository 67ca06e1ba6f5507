/**
 * Calico's semantics for GlobalNetworkPolicies applied to Kubernetes workload endpoints (pods), as Felix enforces
 * them. Sources: libcalico-go `syncersv1/updateprocessors/{globalnetworkpolicyprocessor,rules,selectors}.go` (how
 * v3 selectors become the selectors Felix evaluates), Felix's rule rendering and tier chains, the v3 defaulting.
 *
 * - Policies are grouped by tier; tiers run in order (lower first, missing order last, ties by name), policies
 *   inside a tier by order (missing order last) then name. For each direction separately, only policies whose
 *   `types` include it and whose selector matches the endpoint take part.
 * - Within a tier the first matching rule with Allow or Deny decides; Pass leaves the tier; Log continues.
 * - A tier that selected the endpoint and reached its end without a decision applies its default action (Deny
 *   unless the tier says Pass): the end-of-tier deny.
 * - An endpoint no tier decided about gets its profiles: for Kubernetes pods the namespace profile `kns.<ns>`,
 *   which allows everything. So a pod no policy selects is allowed, as in Kubernetes.
 * - Policies with doNotTrack or preDNAT apply to host endpoints only and are skipped for pods.
 * - Selectors see the endpoint's labels plus the inherited profile labels (`pcns.*`, `pcsa.*`); a rule's
 *   namespaceSelector is rewritten to `pcns.`-prefixed keys with `all()` -> `has(projectcalico.org/namespace)` and
 *   `global()` -> `!has(projectcalico.org/namespace)`, then ANDed with the rule's selector (rules.go
 *   getEndpointSelector); a policy's own namespaceSelector / serviceAccountSelector likewise (with Calico's
 *   replacement of `all()` over the whole combined selector). Calico does that replacement on the selector TEXT,
 *   so it would also rewrite a string literal containing `all()`; we rewrite the AST and do not reproduce that.
 * - A selector (or notSelector) in a rule matches endpoints only; an external address is in no endpoint's IP set.
 *   Nets match the address; a pod whose address in the connection's family is unknown matches no net.
 * - Ports need a protocol that has ports (TCP, UDP, SCTP, UDPLite), as Calico validates. A named port matches when
 *   the endpoint on that side (the destination for `destination.ports`) has a port of that name and protocol.
 *   Source ports are unknown (ephemeral) unless the connection gives one: `source.ports` then never matches and
 *   `source.notPorts` always does.
 * - `types` missing: the v3 API server's defaulting (Ingress, Egress if only egress rules, both if both), or, for
 *   objects read from crd.projectcalico.org/v1 storage (no defaulting), Felix's reading: both directions.
 */
import type {
  CalicoPort,
  CalicoRule,
  EntityRule,
  GlobalNetworkPolicy,
  PolicyDirection,
} from '../calico/types.js';
import { DEFAULT_TIER, DEFAULT_TIER_ORDER } from '../calico/types.js';
import { cidrContainsIp, formatCidr, formatIp, parseCidr, type Cidr } from '../util/cidr.js';
import { type FieldError, type Validated, type FieldPath } from '../api/errors.js';
import {
  CALICO_NAMESPACE_LABEL,
  CALICO_NAMESPACE_LABEL_PREFIX,
  CALICO_SERVICEACCOUNT_LABEL,
  CALICO_SERVICEACCOUNT_LABEL_PREFIX,
} from '../translate/networkpolicy.js';
import {
  calicoEndpointLabels,
  verdictOf,
  describeEndpoint,
  namedPortNumbers,
  type Direction,
  type DirectionOutcome,
  type DirectionVerdict,
  type Labels,
  type Mismatch,
  type NamespaceModel,
  type PodModel,
  type PolicyRef,
  type ResolvedConnection,
  type ResolvedEndpoint,
  type Verdict,
} from './model.js';
import {
  parseSelector,
  SelectorParseError,
  selectorFromNode,
  type Selector,
  type SelectorNode,
} from '../selectors/calico.js';

export interface CalicoTier {
  name: string;
  /** Missing: after every tier with an order. The default tier's is 1,000,000 unless given here. */
  order?: number;
  /** What happens at the end of the tier for endpoints it selected: Deny (Calico's default) or Pass. */
  defaultAction?: 'Deny' | 'Pass';
}

export interface CalicoPolicyOptions {
  /**
   * How to read a missing `spec.types`: `v3` (default) as the projectcalico.org/v3 API defaults it;
   * `crd-v1` as Felix reads crd.projectcalico.org/v1 objects, which nobody defaulted: both directions.
   */
  missingTypes?: 'v3' | 'crd-v1';
}

type PortMatch = { kind: 'range'; first: number; last: number } | { kind: 'name'; name: string };

interface CompiledEntity {
  nets: Cidr[] | undefined;
  notNets: Cidr[] | undefined;
  /** The effective selector (namespace/service-account scoping included); undefined: no selector constraint. */
  selector: Selector | undefined;
  notSelector: Selector | undefined;
  ports: PortMatch[] | undefined;
  notPorts: PortMatch[] | undefined;
}

/** A compiled Calico rule. */
export type CalicoCompiledRule = CompiledRule;

interface CompiledRule {
  action: CalicoRule['action'];
  ipVersion: 4 | 6 | undefined;
  protocol: number | undefined;
  notProtocol: number | undefined;
  icmp: { type?: number; code?: number } | undefined;
  notICMP: { type?: number; code?: number } | undefined;
  source: CompiledEntity;
  destination: CompiledEntity;
}

export interface CompiledCalicoPolicy {
  /** The policy as explanations name it: the GNP, or the Calico NetworkPolicy it stands for (./calico-namespaced.ts). */
  readonly ref: PolicyRef & { kind: 'GlobalNetworkPolicy' | 'NetworkPolicy' };
  readonly name: string;
  readonly tier: string;
  readonly order: number | undefined;
  readonly types: readonly PolicyDirection[];
  /** doNotTrack / preDNAT policies apply to host endpoints only. */
  readonly hostEndpointsOnly: boolean;
  readonly selector: Selector;
  readonly ingress: readonly CompiledRule[];
  readonly egress: readonly CompiledRule[];
}

/** Calico's protocol numbers; Calico accepts the names in any case and numbers 1-255. */
const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = {
  tcp: 6,
  udp: 17,
  icmp: 1,
  icmpv6: 58,
  sctp: 132,
  udplite: 136,
};
const PROTOCOLS_WITH_PORTS = new Set([6, 17, 132, 136]);

// ---------------------------------------------------------------------------------------------------------------
// Compilation

/** Parses a GNP's selectors, nets and ports; an invalid policy gets errors naming its fields. */
export function compileCalicoPolicy(
  gnp: GlobalNetworkPolicy,
  options: CalicoPolicyOptions = {},
): Validated<CompiledCalicoPolicy> {
  const errors: FieldError[] = [];
  const name = gnp.metadata?.name ?? '';
  if (name === '') errors.push({ path: ['metadata', 'name'], message: 'required' });
  const spec = gnp.spec ?? {};
  const tier = policyTier(name, spec);

  let selectorNode = parseInto(spec.selector ?? '', ['spec', 'selector'], errors);
  if (spec.namespaceSelector) {
    const prefixed = prefixLabels(
      parseInto(spec.namespaceSelector, ['spec', 'namespaceSelector'], errors),
      CALICO_NAMESPACE_LABEL_PREFIX,
    );
    selectorNode = replaceAllNodes(and(selectorNode, prefixed), {
      kind: 'has',
      label: CALICO_NAMESPACE_LABEL,
    });
  }
  if (spec.serviceAccountSelector) {
    const prefixed = prefixLabels(
      parseInto(spec.serviceAccountSelector, ['spec', 'serviceAccountSelector'], errors),
      CALICO_SERVICEACCOUNT_LABEL_PREFIX,
    );
    selectorNode = replaceAllNodes(and(selectorNode, prefixed), {
      kind: 'has',
      label: CALICO_SERVICEACCOUNT_LABEL,
    });
  }

  const ingress = (spec.ingress ?? []).map((rule, index) =>
    compileRule(rule, ['spec', 'ingress', index], errors),
  );
  const egress = (spec.egress ?? []).map((rule, index) =>
    compileRule(rule, ['spec', 'egress', index], errors),
  );
  const types = policyTypes(
    spec.types,
    (spec.ingress ?? []).length,
    (spec.egress ?? []).length,
    options,
    errors,
  );

  if (errors.length > 0) return { ok: false, errors };
  const order = spec.order;
  return {
    ok: true,
    value: {
      ref: { kind: 'GlobalNetworkPolicy', name, tier, order },
      name,
      tier,
      order,
      types,
      hostEndpointsOnly: spec.doNotTrack === true || spec.preDNAT === true,
      selector: selectorFromNode(selectorNode),
      ingress,
      egress,
    },
  };
}

/** The tier is spec.tier; objects from crd.projectcalico.org/v1 storage carry it only as the name's prefix. */
export function policyTier(name: string, spec: { tier?: string }): string {
  const dot = name.indexOf('.');
  return spec.tier || (dot > 0 ? name.slice(0, dot) : DEFAULT_TIER);
}

function policyTypes(
  given: readonly PolicyDirection[] | undefined,
  ingressRules: number,
  egressRules: number,
  options: CalicoPolicyOptions,
  errors: FieldError[],
): PolicyDirection[] {
  if (given !== undefined && given.length > 0) {
    given.forEach((type, index) => {
      if (type !== 'Ingress' && type !== 'Egress') {
        errors.push({
          path: ['spec', 'types', index],
          message: `${JSON.stringify(type)} is not Ingress or Egress`,
        });
      }
    });
    return (['Ingress', 'Egress'] as const).filter((type) => given.includes(type));
  }
  if (options.missingTypes === 'crd-v1') return ['Ingress', 'Egress'];
  // projectcalico.org/v3 defaulting (calico apiserver / 3.32 admission policy).
  if (egressRules === 0) return ['Ingress'];
  return ingressRules === 0 ? ['Egress'] : ['Ingress', 'Egress'];
}

const unmodelledMatches = new WeakSet<FieldError>();

function unmodelled(path: FieldPath, message: string): FieldError {
  const error = { path, message };
  unmodelledMatches.add(error);
  return error;
}

/**
 * Whether compileCalicoPolicy refused a field because this evaluator does not model it (valid Calico), rather
 * than because Calico itself would reject it: lint reports the first kind as a warning, not as an invalid policy.
 */
export function isUnmodelledMatch(error: FieldError): boolean {
  return unmodelledMatches.has(error);
}

function compileRule(rule: CalicoRule, path: FieldPath, errors: FieldError[]): CompiledRule {
  const protocol = compileProtocol(rule.protocol, [...path, 'protocol'], errors);
  const notProtocol = compileProtocol(rule.notProtocol, [...path, 'notProtocol'], errors);
  if (!['Allow', 'Deny', 'Pass', 'Log'].includes(rule.action)) {
    errors.push({
      path: [...path, 'action'],
      message: `${JSON.stringify(rule.action)} is not Allow, Deny, Pass or Log`,
    });
  }
  if (rule.ipVersion !== undefined && rule.ipVersion !== 4 && rule.ipVersion !== 6) {
    errors.push({ path: [...path, 'ipVersion'], message: 'must be 4 or 6' });
  }
  // Matches this evaluator does not model are refused, never read as "matches everything": an Allow rule
  // limited to a Service's endpoints or to HTTP paths would otherwise be reported as allowing every peer.
  if (rule.http !== undefined) {
    errors.push(
      unmodelled([...path, 'http'], 'HTTP matches (application layer policy) are not evaluated by this tool'),
    );
  }
  for (const side of ['source', 'destination'] as const) {
    if (rule[side]?.services !== undefined) {
      errors.push(
        unmodelled(
          [...path, side, 'services'],
          "Service matches are not evaluated by this tool (it does not read the Services' endpoints)",
        ),
      );
    }
  }
  const source = compileEntity(rule.source ?? {}, [...path, 'source'], protocol, errors);
  const destination = compileEntity(rule.destination ?? {}, [...path, 'destination'], protocol, errors);
  checkNetFamilies(rule.ipVersion, { source, destination }, path, errors);
  return {
    action: rule.action,
    ipVersion: rule.ipVersion,
    protocol,
    notProtocol,
    icmp: rule.icmp,
    notICMP: rule.notICMP,
    source,
    destination,
  };
}

/**
 * Calico's validator (libcalico-go validator.go validateRule): all nets and notNets of a rule must be of one
 * family, matching ipVersion when given, and a notNets entry may not be a catch-all /0 (it matches nothing).
 */
function checkNetFamilies(
  ipVersion: 4 | 6 | undefined,
  entities: { source: CompiledEntity; destination: CompiledEntity },
  path: FieldPath,
  errors: FieldError[],
): void {
  const families = new Set<number>();
  for (const side of ['source', 'destination'] as const) {
    for (const field of ['nets', 'notNets'] as const) {
      const nets = entities[side][field] ?? [];
      const entityFieldPath = [...path, side, field];
      nets.forEach((cidr) => families.add(cidr.family));
      if (ipVersion !== undefined && nets.some((cidr) => cidr.family !== ipVersion)) {
        errors.push({
          path: entityFieldPath,
          message: `a CIDR does not match the rule's ipVersion ${ipVersion}`,
        });
      }
      if (field === 'notNets' && nets.some((cidr) => cidr.prefixLength === 0)) {
        errors.push({
          path: entityFieldPath,
          message: 'a catch-all CIDR in notNets makes the rule match nothing',
        });
      }
    }
  }
  if (families.size > 1)
    errors.push({ path, message: 'the rule mixes IPv4 and IPv6 CIDRs, which Calico rejects' });
}

function compileProtocol(
  value: CalicoRule['protocol'],
  path: FieldPath,
  errors: FieldError[],
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 1 && value <= 255) return value;
  } else {
    const number = PROTOCOL_NUMBERS[String(value).toLowerCase()];
    if (number !== undefined) return number;
  }
  errors.push({
    path,
    message: `${JSON.stringify(value)} is not a protocol (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255)`,
  });
  return undefined;
}

function compileEntity(
  entity: EntityRule,
  path: FieldPath,
  protocol: number | undefined,
  errors: FieldError[],
): CompiledEntity {
  const nets = compileNets(entity.nets, [...path, 'nets'], errors);
  const notNets = compileNets(entity.notNets, [...path, 'notNets'], errors);
  const ports = compilePorts(entity.ports, [...path, 'ports'], protocol, errors);
  const notPorts = compilePorts(entity.notPorts, [...path, 'notPorts'], protocol, errors);

  // rules.go getEndpointSelector with ns == "" (a global policy).
  const namespaceSelector = entity.namespaceSelector
    ? replaceGlobal(
        replaceAllNodes(
          prefixLabels(
            parseInto(entity.namespaceSelector, [...path, 'namespaceSelector'], errors),
            CALICO_NAMESPACE_LABEL_PREFIX,
          ),
          { kind: 'has', label: CALICO_NAMESPACE_LABEL },
        ),
      )
    : undefined;
  const parts: SelectorNode[] = [];
  const accounts = entity.serviceAccounts;
  if (accounts?.selector) {
    parts.push(
      prefixLabels(
        parseInto(accounts.selector, [...path, 'serviceAccounts', 'selector'], errors),
        CALICO_SERVICEACCOUNT_LABEL_PREFIX,
      ),
    );
  }
  if (accounts?.names && accounts.names.length > 0) {
    parts.push({ kind: 'in', label: CALICO_SERVICEACCOUNT_LABEL, values: accounts.names });
  }
  if (entity.selector) parts.push(parseInto(entity.selector, [...path, 'selector'], errors));
  let selector: SelectorNode | undefined = parts.length === 0 ? undefined : parts.reduce(and);
  if (namespaceSelector !== undefined)
    selector = selector === undefined ? namespaceSelector : and(namespaceSelector, selector);
  const notSelector = entity.notSelector
    ? parseInto(entity.notSelector, [...path, 'notSelector'], errors)
    : undefined;

  return {
    nets,
    notNets,
    selector: selector === undefined ? undefined : toSelector(selector, path, errors),
    notSelector: notSelector === undefined ? undefined : toSelector(notSelector, path, errors),
    ports,
    notPorts,
  };
}

function compileNets(nets: string[] | undefined, path: FieldPath, errors: FieldError[]): Cidr[] | undefined {
  if (nets === undefined || nets.length === 0) return undefined;
  const parsed: Cidr[] = [];
  nets.forEach((text, index) => {
    // Calico accepts bare addresses and masks host bits (ParseCIDROrIP, then the network).
    const cidr = parseCidr(text, { hostBits: 'mask', bareAddress: true });
    if (cidr.ok) parsed.push(cidr.value);
    else errors.push({ path: [...path, index], message: cidr.message });
  });
  return parsed;
}

function compilePorts(
  ports: CalicoPort[] | undefined,
  path: FieldPath,
  protocol: number | undefined,
  errors: FieldError[],
): PortMatch[] | undefined {
  if (ports === undefined || ports.length === 0) return undefined;
  if (protocol === undefined || !PROTOCOLS_WITH_PORTS.has(protocol)) {
    errors.push({
      path,
      message: 'ports need the rule protocol to be TCP, UDP, SCTP or UDPLite (Calico rejects them otherwise)',
    });
  }
  return ports.map((port, index) => {
    const portPath = [...path, index];
    const text = String(port);
    const range = /^([0-9]+)(?::([0-9]+))?$/.exec(text);
    if (range) {
      const first = Number(range[1]);
      const last = range[2] === undefined ? first : Number(range[2]);
      if (first < 0 || last > 65535 || first > last)
        errors.push({ path: portPath, message: `${text} is not a port or port range within 0-65535` });
      return { kind: 'range', first, last };
    }
    if (typeof port === 'number' || !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i.test(text)) {
      errors.push({
        path: portPath,
        message: `${JSON.stringify(port)} is not a port, a range "first:last" or a port name`,
      });
    }
    return { kind: 'name', name: text };
  });
}

function parseInto(text: string, path: FieldPath, errors: FieldError[]): SelectorNode {
  try {
    return parseSelector(text).root;
  } catch (error) {
    if (!(error instanceof SelectorParseError)) throw error;
    errors.push({ path, message: error.message });
    return { kind: 'all' };
  }
}

function toSelector(node: SelectorNode, path: FieldPath, errors: FieldError[]): Selector | undefined {
  try {
    return selectorFromNode(node);
  } catch (error) {
    errors.push({ path, message: error instanceof Error ? error.message : String(error) });
    return undefined;
  }
}

function and(left: SelectorNode, right: SelectorNode): SelectorNode {
  return { kind: 'and', operands: [left, right] };
}

/** Calico's PrefixVisitor: every label name in the selector gets the prefix. */
function prefixLabels(node: SelectorNode, prefix: string): SelectorNode {
  switch (node.kind) {
    case 'all':
    case 'global':
      return node;
    case 'not':
      return { kind: 'not', operand: prefixLabels(node.operand, prefix) };
    case 'and':
    case 'or':
      return { kind: node.kind, operands: node.operands.map((operand) => prefixLabels(operand, prefix)) };
    default:
      return { ...node, label: prefix + node.label };
  }
}

function replaceAllNodes(node: SelectorNode, replacement: SelectorNode): SelectorNode {
  return mapLeaves(node, (leaf) => (leaf.kind === 'all' ? replacement : leaf));
}

function replaceGlobal(node: SelectorNode): SelectorNode {
  return mapLeaves(node, (leaf) =>
    leaf.kind === 'global' ? { kind: 'not', operand: { kind: 'has', label: CALICO_NAMESPACE_LABEL } } : leaf,
  );
}

function mapLeaves(node: SelectorNode, map: (leaf: SelectorNode) => SelectorNode): SelectorNode {
  switch (node.kind) {
    case 'not':
      return { kind: 'not', operand: mapLeaves(node.operand, map) };
    case 'and':
    case 'or':
      return { kind: node.kind, operands: node.operands.map((operand) => mapLeaves(operand, map)) };
    default:
      return map(node);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The policy set

interface CompiledTier {
  name: string;
  order: number | undefined;
  defaultAction: 'Deny' | 'Pass';
  policies: CompiledCalicoPolicy[];
}

export interface CalicoPolicySet {
  /** Tiers with at least one policy, in evaluation order, their policies in evaluation order. */
  readonly tiers: readonly CompiledTier[];
}

/**
 * Orders compiled policies into tiers. Tiers not described in `tiers` get no order (they run last) and a Deny
 * default action, except the default tier (order 1,000,000).
 */
export function calicoPolicySet(
  policies: readonly CompiledCalicoPolicy[],
  tiers: readonly CalicoTier[] = [],
): CalicoPolicySet {
  const described = new Map(tiers.map((tier) => [tier.name, tier]));
  const byTier = new Map<string, CompiledCalicoPolicy[]>();
  for (const policy of policies) byTier.set(policy.tier, [...(byTier.get(policy.tier) ?? []), policy]);
  const compiled: CompiledTier[] = [...byTier.entries()].map(([name, members]) => {
    const tier = described.get(name);
    return {
      name,
      order: tier ? tier.order : name === DEFAULT_TIER ? DEFAULT_TIER_ORDER : undefined,
      defaultAction: tier?.defaultAction ?? 'Deny',
      policies: [...members].sort((a, b) => compareOrder(a.order, b.order) || compareNames(a.name, b.name)),
    };
  });
  compiled.sort((a, b) => compareOrder(a.order, b.order) || compareNames(a.name, b.name));
  return { tiers: compiled };
}

function compareOrder(a: number | undefined, b: number | undefined): number {
  return (a ?? Number.POSITIVE_INFINITY) - (b ?? Number.POSITIVE_INFINITY) || 0;
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

export interface TierTrace {
  tier: string;
  /** What the tier did: decided by a rule, passed, or applied its end-of-tier action. */
  result: 'allow' | 'deny' | 'pass' | 'end-of-tier-deny' | 'end-of-tier-pass';
  selectedBy: PolicyRef[];
}

export interface CalicoDirectionVerdict extends DirectionVerdict {
  /** The tiers that selected the endpoint, in order, up to the deciding one. */
  tiers: TierTrace[];
}

export type CalicoVerdict = Verdict<CalicoDirectionVerdict>;

export function calicoVerdict(policySet: CalicoPolicySet, connection: ResolvedConnection): CalicoVerdict {
  return verdictOf(connection, (direction) => directionVerdict(policySet, connection, direction));
}

/**
 * Whether Calico allows one direction of a connection: the verdict's `allowed` for that direction, decided by the
 * same walk through the tiers without recording it or wording why rules do not match (what listing every pair of a
 * cluster needs).
 */
export function calicoDirectionAllowed(
  policySet: CalicoPolicySet,
  connection: ResolvedConnection,
  direction: Direction,
  /**
   * The rules that may match: those calicoRuleMayMatch accepts for this connection's endpoints (at any protocol and
   * port). The others cannot match, so the walk skips them instead of testing them again.
   */
  mayMatch?: ReadonlySet<CalicoCompiledRule>,
): boolean {
  return walkTiers(policySet, connection, direction, undefined, mayMatch).allowed;
}

/**
 * Whether the rule can match the connection's endpoints and family at some protocol and destination port: every
 * part of the rule but its protocol, notProtocol, notICMP and destination ports holds. A rule that matches the
 * connection at any protocol and port passes this test.
 */
export function calicoRuleMayMatch(rule: CalicoCompiledRule, connection: ResolvedConnection): boolean {
  return testRule(rule, connection, () => false, 'endpoints');
}

function directionVerdict(
  policySet: CalicoPolicySet,
  connection: ResolvedConnection,
  direction: Direction,
): CalicoDirectionVerdict {
  const verdict: CalicoDirectionVerdict = {
    direction,
    endpoint: describeEndpoint(direction === 'Ingress' ? connection.dst : connection.src),
    allowed: true,
    outcome: 'not-applicable',
    selectedBy: [],
    allowedBy: [],
    rules: [],
    tiers: [],
  };
  return { ...verdict, ...walkTiers(policySet, connection, direction, verdict, undefined) };
}

/**
 * The tiers in order, as Felix walks them for the endpoint on the deciding side; with `explain`, every tier that
 * selected the endpoint and every rule considered is recorded there, with why it did not match.
 */
function walkTiers(
  policySet: CalicoPolicySet,
  connection: ResolvedConnection,
  direction: Direction,
  explain: CalicoDirectionVerdict | undefined,
  mayMatch: ReadonlySet<CompiledRule> | undefined,
): { allowed: boolean; outcome: DirectionOutcome } {
  const endpoint = direction === 'Ingress' ? connection.dst : connection.src;
  if (endpoint.kind !== 'pod') return { allowed: true, outcome: 'not-applicable' };
  const labels = endpointLabels(endpoint);
  const selects = (policy: CompiledCalicoPolicy) =>
    !policy.hostEndpointsOnly && policy.types.includes(direction) && policy.selector.matches(labels);

  let selectedByAny = false;
  for (const tier of policySet.tiers) {
    // Explaining names every policy of the tier that selects the endpoint, before its rules; deciding asks lazily.
    const members = explain ? tier.policies.filter(selects) : tier.policies;
    let trace: TierTrace | undefined;
    if (explain && members.length > 0) {
      trace = { tier: tier.name, result: 'end-of-tier-deny', selectedBy: members.map((p) => p.ref) };
      explain.tiers.push(trace);
      explain.selectedBy.push(...trace.selectedBy);
    }
    let selected = false;
    let decided: 'Allow' | 'Deny' | 'Pass' | undefined;
    for (const policy of members) {
      if (!explain && !selects(policy)) continue;
      selected = true;
      const rules = direction === 'Ingress' ? policy.ingress : policy.egress;
      for (const [ruleIndex, rule] of rules.entries()) {
        let matched: boolean;
        if (explain) {
          const mismatches = ruleMismatches(rule, connection);
          matched = mismatches.length === 0;
          explain.rules.push({
            rule: { policy: policy.ref, direction, ruleIndex },
            matched,
            action: rule.action,
            mismatches,
          });
          if (matched && rule.action === 'Allow')
            explain.allowedBy.push({ policy: policy.ref, direction, ruleIndex });
        } else {
          matched = (mayMatch === undefined || mayMatch.has(rule)) && ruleMatches(rule, connection);
        }
        if (matched && rule.action !== 'Log') {
          decided = rule.action;
          break;
        }
      }
      if (decided !== undefined) break;
    }
    if (!selected) continue;
    selectedByAny = true;
    if (decided === 'Allow') {
      if (trace) trace.result = 'allow';
      return { allowed: true, outcome: 'allowed-by-rule' };
    }
    if (decided === 'Deny') {
      if (trace) trace.result = 'deny';
      return { allowed: false, outcome: 'denied-by-rule' };
    }
    if (decided === 'Pass') {
      if (trace) trace.result = 'pass';
      continue;
    }
    if (tier.defaultAction === 'Pass') {
      if (trace) trace.result = 'end-of-tier-pass';
      continue;
    }
    return { allowed: false, outcome: 'end-of-tier-deny' };
  }
  return { allowed: true, outcome: selectedByAny ? 'passed-to-profile' : 'no-policy-selects' };
}

/**
 * Receives each failing part of a rule, its message worded only when asked; returning false stops testing the
 * rule (deciding needs only the first failure, explaining wants them all).
 */
type MismatchSink = (field: string, message: () => string) => boolean;

function ruleMismatches(rule: CompiledRule, connection: ResolvedConnection): Mismatch[] {
  const mismatches: Mismatch[] = [];
  testRule(rule, connection, (field, message) => {
    mismatches.push({ field, message: message() });
    return true;
  });
  return mismatches;
}

function ruleMatches(rule: CompiledRule, connection: ResolvedConnection): boolean {
  return testRule(rule, connection, () => false);
}

/**
 * Tests every part of a rule against the connection, telling `fail` each part that fails; true when none did.
 * `endpoints`: only the parts that do not depend on the connection's protocol and destination port.
 */
function testRule(
  rule: CompiledRule,
  connection: ResolvedConnection,
  fail: MismatchSink,
  parts: 'all' | 'endpoints' = 'all',
): boolean {
  const all = parts === 'all';
  let matched = true;
  const failed = (field: string, message: () => string): boolean => {
    matched = false;
    return fail(field, message);
  };
  const protocol = PROTOCOL_NUMBERS[connection.protocol.toLowerCase()] as number;
  if (
    rule.ipVersion !== undefined &&
    rule.ipVersion !== connection.family &&
    !failed('ipVersion', () => `IPv${rule.ipVersion} only, the connection is IPv${connection.family}`)
  )
    return false;
  if (
    all &&
    rule.protocol !== undefined &&
    rule.protocol !== protocol &&
    !failed('protocol', () => `protocol ${protocolName(rule.protocol as number)}, not ${connection.protocol}`)
  )
    return false;
  if (
    all &&
    rule.notProtocol !== undefined &&
    rule.notProtocol === protocol &&
    !failed('notProtocol', () => `excludes ${connection.protocol}`)
  )
    return false;
  if (
    rule.icmp !== undefined &&
    (rule.icmp.type !== undefined || rule.icmp.code !== undefined) &&
    !failed('icmp', () => 'matches only some ICMP types/codes; connections carry no ICMP type')
  )
    return false;
  if (
    all &&
    rule.notICMP !== undefined &&
    (connection.protocol === 'ICMP' || connection.protocol === 'ICMPv6') &&
    !failed('notICMP', () => 'excludes some ICMP types/codes; connections carry no ICMP type')
  )
    return false;
  // Source ports are the connection's own (unknown unless given): the same at every destination port.
  if (!testEntity(rule.source, connection.src, connection.srcPort, 'source', connection, failed, true))
    return false;
  if (!testEntity(rule.destination, connection.dst, connection.port, 'destination', connection, failed, all))
    return false;
  return matched;
}

/** One side of a rule against one side of the connection; false when `fail` asked to stop. */
function testEntity(
  entity: CompiledEntity,
  endpoint: ResolvedEndpoint,
  port: number | undefined,
  side: 'source' | 'destination',
  connection: ResolvedConnection,
  fail: MismatchSink,
  withPorts: boolean,
): boolean {
  const who = () => describeEndpoint(endpoint);
  const address = endpoint.address;
  if (entity.nets !== undefined) {
    const nets = entity.nets;
    const inside = address !== undefined && nets.some((cidr) => cidrContainsIp(cidr, address));
    if (
      !inside &&
      !fail(
        `${side}.nets`,
        () =>
          `${address === undefined ? `${who()} has no known IPv${connection.family} address` : formatIp(address)} is not in ${nets.map(formatCidr).join(', ')}`,
      )
    )
      return false;
  }
  if (entity.notNets !== undefined && address !== undefined) {
    const excluded = entity.notNets.find((cidr) => cidrContainsIp(cidr, address));
    if (
      excluded &&
      !fail(`${side}.notNets`, () => `${formatIp(address)} is in the excluded ${formatCidr(excluded)}`)
    )
      return false;
  }
  const labels = endpoint.kind === 'pod' ? endpointLabels(endpoint) : undefined;
  const selector = entity.selector;
  if (
    selector !== undefined &&
    !(labels !== undefined && selector.matches(labels)) &&
    !fail(
      `${side}.selector`,
      () =>
        `${who()} ${labels === undefined ? 'is not a workload endpoint' : 'does not match'} ${selector.toString()}`,
    )
  )
    return false;
  const notSelector = entity.notSelector;
  if (
    notSelector !== undefined &&
    labels !== undefined &&
    notSelector.matches(labels) &&
    !fail(`${side}.notSelector`, () => `${who()} matches the excluded ${notSelector.toString()}`)
  )
    return false;
  if (!withPorts) return true;
  const ports = entity.ports;
  if (ports !== undefined) {
    const matched =
      port !== undefined && ports.some((match) => portMatches(match, port, endpoint, connection));
    if (
      !matched &&
      !fail(`${side}.ports`, () =>
        port === undefined
          ? `the ${side} port is unknown`
          : `port ${port} is not in ${ports.map(describePort).join(', ')}${namedPortNote(ports, endpoint)}`,
      )
    )
      return false;
  }
  if (entity.notPorts !== undefined && port !== undefined) {
    const excluded = entity.notPorts.find((match) => portMatches(match, port, endpoint, connection));
    if (excluded && !fail(`${side}.notPorts`, () => `port ${port} is excluded by ${describePort(excluded)}`))
      return false;
  }
  return true;
}

// Every rule of every policy looks at the same few endpoints; build each one's label view once.
const labelCache = new WeakMap<PodModel, { namespace: NamespaceModel; labels: Labels }>();

function endpointLabels(endpoint: ResolvedEndpoint & { kind: 'pod' }): Labels {
  const cached = labelCache.get(endpoint.pod);
  if (cached !== undefined && cached.namespace === endpoint.namespace) return cached.labels;
  const labels = calicoEndpointLabels(endpoint.pod, endpoint.namespace);
  labelCache.set(endpoint.pod, { namespace: endpoint.namespace, labels });
  return labels;
}

function portMatches(
  match: PortMatch,
  port: number,
  endpoint: ResolvedEndpoint,
  connection: ResolvedConnection,
): boolean {
  if (match.kind === 'range') return port >= match.first && port <= match.last;
  return (
    endpoint.kind === 'pod' && namedPortNumbers(endpoint.pod, match.name, connection.protocol).includes(port)
  );
}

function namedPortNote(ports: readonly PortMatch[], endpoint: ResolvedEndpoint): string {
  return ports.some((port) => port.kind === 'name') && endpoint.kind !== 'pod'
    ? ` (named ports resolve only on workload endpoints)`
    : '';
}

function describePort(match: PortMatch): string {
  if (match.kind === 'name') return match.name;
  return match.first === match.last ? String(match.first) : `${match.first}:${match.last}`;
}

function protocolName(number: number): string {
  const name = Object.entries(PROTOCOL_NUMBERS).find(([, value]) => value === number)?.[0];
  return name === undefined
    ? String(number)
    : name.toUpperCase().replace('ICMPV6', 'ICMPv6').replace('UDPLITE', 'UDPLite');
}
