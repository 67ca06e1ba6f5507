/**
 * Calico GlobalNetworkPolicy checks: what Calico would reject, CIDRs with host bits, and `vpe-rule-missing`.
 *
 * vpe-rule-missing asks one question per (zone prefix, port): may a worker's private host endpoint
 * (`ibm.role == 'worker_private'`) send TCP to it? Policies are compiled by src/policy/calico-eval.ts and ordered by
 * its calicoPolicySet (tiers, order, name); the walk below follows Calico's first-match-per-tier rule. It is not
 * calicoVerdict because that evaluator models pods (workload endpoints, with the labels Calico adds to them), not
 * host endpoints, and answers for one address while a zone is a range: here every rule cuts the range into the
 * parts it allows, denies or passes on, so a zone split across several rules is judged exactly.
 */
import type { FieldError } from '../api/errors.js';
import type { VpcEgressProfile } from '../api/v1alpha1.js';
import { DEFAULT_GATEWAYS, DEFAULT_VPE_ORDER, DEFAULT_WORKER_SELECTOR } from '../api/v1alpha1.js';
import type { CalicoNetworkPolicyView, GlobalNetworkPolicyView } from '../manifests/index.js';
import { globalPolicyOfNamespaced } from '../policy/calico-namespaced.js';
import {
  calicoPolicySet,
  compileCalicoPolicy,
  isUnmodelledMatch,
  type CalicoPolicySet,
  type CalicoTier,
  type CompiledCalicoPolicy,
} from '../policy/calico-eval.js';
import type { Labels } from '../selectors/kubernetes.js';
import { parseSelector } from '../selectors/calico.js';
import {
  cidrToRange,
  formatCidr,
  intersectIntervals,
  mergeIntervals,
  parseCidr,
  rangeToCidrs,
  subtractIntervals,
  type IpInterval,
} from '../util/cidr.js';
import { findingAt, type LintFinding } from './finding.js';
import { RULES } from './rules.js';
import type { ProfileTranslation } from './translation.js';

/** The labels IBM Cloud puts on a worker's private-network host endpoint. */
export const WORKER_PRIVATE_LABELS: Labels = { 'ibm.role': 'worker_private' };
/** The VPE gateway for Registry: what every zone must allow (IBM's documented rule). */
export const VPE_GATEWAY_PORTS: readonly number[] = [443, 4443];
const TCP = 6;
const ALL_IPV4: IpInterval = { family: 4, first: 0n, last: 0xffffffffn };

type CompiledRule = CompiledCalicoPolicy['egress'][number];

interface CompiledView {
  readonly view: GlobalNetworkPolicyView;
  readonly policy: CompiledCalicoPolicy;
}

/** Compiles every GNP; those Calico would reject become findings and take no part in vpe-rule-missing. */
export function compileGlobalNetworkPolicies(views: readonly GlobalNetworkPolicyView[]): {
  compiled: CompiledView[];
  findings: LintFinding[];
} {
  const compiled: CompiledView[] = [];
  const findings: LintFinding[] = [];
  for (const view of views) {
    const result = compileCalicoPolicy(view.object, {
      missingTypes: view.apiGroup === 'crd.projectcalico.org' ? 'crd-v1' : 'v3',
    });
    if (result.ok) compiled.push({ view, policy: result.value });
    else findings.push(...compileFindings(view, result.errors));
    findings.push(...hostBitFindings(view));
  }
  return { compiled, findings };
}

/**
 * What Calico would reject in its namespaced NetworkPolicies, checked as connectivity reads them (the global policy
 * Felix sees). They select workload endpoints of one namespace, never a worker's host endpoint, so they take no part
 * in vpe-rule-missing.
 */
export function calicoNetworkPolicyFindings(views: readonly CalicoNetworkPolicyView[]): LintFinding[] {
  return views.flatMap((view) => {
    const global = globalPolicyOfNamespaced(view.object, view.namespace);
    const result = global.ok
      ? compileCalicoPolicy(global.value, {
          missingTypes: view.apiGroup === 'crd.projectcalico.org' ? 'crd-v1' : 'v3',
        })
      : global;
    return [...(result.ok ? [] : compileFindings(view, result.errors)), ...hostBitFindings(view)];
  });
}

function compileFindings(
  view: GlobalNetworkPolicyView | CalicoNetworkPolicyView,
  errors: readonly FieldError[],
): LintFinding[] {
  return errors.map((error) =>
    findingAt(
      isUnmodelledMatch(error) ? RULES.unevaluatedCalicoMatch : RULES.invalidCalicoPolicy,
      view.source,
      error.path,
      error.message,
    ),
  );
}

function hostBitFindings(view: GlobalNetworkPolicyView | CalicoNetworkPolicyView): LintFinding[] {
  const findings: LintFinding[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    (view.object.spec?.[direction] ?? []).forEach((rule, r) => {
      for (const side of ['source', 'destination'] as const) {
        for (const field of ['nets', 'notNets'] as const) {
          (rule[side]?.[field] ?? []).forEach((text, i) => {
            const strict = parseCidr(text, { bareAddress: true });
            const masked = parseCidr(text, { bareAddress: true, hostBits: 'mask' });
            if (strict.ok || !masked.ok) return;
            findings.push(
              findingAt(
                RULES.cidrHostBits,
                view.source,
                ['spec', direction, r, side, field, i],
                `${text} has host bits set; Calico uses the network ${formatCidr(masked.value)}`,
              ),
            );
          });
        }
      }
    });
  }
  return findings;
}

const selectsWorkerEgress = (policy: CompiledCalicoPolicy) =>
  policy.types.includes('Egress') && policy.selector.matches(WORKER_PRIVATE_LABELS);

function portInRanges(ports: CompiledRule['destination']['ports'], port: number): boolean {
  return (ports ?? []).some((p) => p.kind === 'range' && p.first <= port && port <= p.last);
}

/**
 * The destination addresses a rule matches for TCP from a worker's host endpoint to `port`. Conditions that need
 * what a host endpoint does not have (a destination endpoint selector: VPE gateways are not endpoints; a named
 * port) or what is unknown here (the worker's own address, the source port) make the rule match nothing, so an
 * allow is never assumed; the resulting blind spot for deny rules is the price of never inventing a hole.
 */
function matchedDestinations(rule: CompiledRule, port: number): IpInterval[] {
  if (rule.ipVersion === 6) return [];
  if (rule.protocol !== undefined && rule.protocol !== TCP) return [];
  if (rule.notProtocol === TCP || rule.icmp !== undefined || rule.notICMP !== undefined) return [];
  const { source, destination } = rule;
  if (source.nets !== undefined || source.notNets !== undefined || source.ports !== undefined) return [];
  if (source.selector && !source.selector.matches(WORKER_PRIVATE_LABELS)) return [];
  if (source.notSelector?.matches(WORKER_PRIVATE_LABELS)) return [];
  if (destination.selector !== undefined) return [];
  if (destination.ports !== undefined && !portInRanges(destination.ports, port)) return [];
  if (portInRanges(destination.notPorts, port)) return [];
  const nets = destination.nets
    ? destination.nets.filter((c) => c.family === 4).map(cidrToRange)
    : [ALL_IPV4];
  const notNets = (destination.notNets ?? []).filter((c) => c.family === 4).map(cidrToRange);
  return subtractIntervals(nets, notNets);
}

interface Denial {
  readonly addresses: IpInterval[];
  /** `GlobalNetworkPolicy "x" (order 100)`, or the end of a tier. */
  readonly by: string;
  /** The policy whose rule denied it; undefined for the end of a tier. */
  readonly policy?: CompiledCalicoPolicy;
}

interface EgressVerdict {
  readonly allowed: IpInterval[];
  readonly denied: Denial[];
}

function describePolicy(policy: CompiledCalicoPolicy): string {
  return `GlobalNetworkPolicy "${policy.name}"${policy.order !== undefined ? ` (order ${policy.order})` : ''}`;
}

/** Which of `destinations` a worker may reach on TCP `port`, and what denies the rest. */
function workerEgress(
  set: CalicoPolicySet,
  port: number,
  destinations: readonly IpInterval[],
): EgressVerdict {
  const allowed: IpInterval[] = [];
  const denied: Denial[] = [];
  let undecided = mergeIntervals(destinations);
  for (const tier of set.tiers) {
    const policies = tier.policies.filter(selectsWorkerEgress);
    if (policies.length === 0 || undecided.length === 0) continue;
    let open = undecided;
    const passed: IpInterval[] = [];
    for (const policy of policies) {
      for (const rule of policy.egress) {
        const hit = intersectIntervals(open, matchedDestinations(rule, port));
        if (hit.length === 0 || rule.action === 'Log') continue;
        if (rule.action === 'Allow') allowed.push(...hit);
        else if (rule.action === 'Deny') denied.push({ addresses: hit, by: describePolicy(policy), policy });
        else passed.push(...hit);
        open = subtractIntervals(open, hit);
      }
    }
    if (open.length > 0) {
      if (tier.defaultAction === 'Pass') passed.push(...open);
      else denied.push({ addresses: open, by: `the end of tier "${tier.name}" (no rule allows it)` });
    }
    undecided = mergeIntervals(passed);
  }
  // Passed out of every tier: a host endpoint has no profile that would allow it.
  if (undecided.length > 0)
    denied.push({ addresses: undecided, by: 'no tier allowing it (passed by every tier)' });
  return { allowed: mergeIntervals(allowed), denied };
}

function formatIntervals(intervals: readonly IpInterval[]): string {
  return intervals.flatMap(rangeToCidrs).map(formatCidr).join(', ');
}

/**
 * vpe-rule-missing. `profiles` are the input's VpcEgressProfiles with their translations: a valid profile counts
 * as the allow rules the operator will write for it, so its zones are checked against the user's policies (a
 * deny ordered before the profile's rules, a selector or gateway that does not cover the workers).
 */
export function vpeRuleFindings(
  compiled: readonly CompiledView[],
  profiles: readonly ProfileTranslation[],
  hasProfileObjects: boolean,
  tiers: readonly CalicoTier[],
): LintFinding[] {
  const restricting = compiled.filter((c) => selectsWorkerEgress(c.policy));
  if (restricting.length === 0) return [];
  const generated: CompiledCalicoPolicy[] = [];
  for (const profile of profiles) {
    for (const gnp of profile.translation?.policies ?? []) {
      const result = compileCalicoPolicy(gnp);
      if (result.ok) generated.push(result.value);
    }
  }
  const set = calicoPolicySet([...compiled.map((c) => c.policy), ...generated], tiers);
  const restrictor = pickRestrictor(restricting, set);

  if (!hasProfileObjects) {
    const [first, ...rest] = VPE_GATEWAY_PORTS.map((port) => workerEgress(set, port, [ALL_IPV4]).allowed);
    const reachable = rest.reduce((acc, allowed) => intersectIntervals(acc, allowed), first ?? []);
    if (reachable.length > 0) return [];
    return [
      findingAt(
        RULES.vpeRuleMissing,
        restrictor.view.source,
        ['spec', 'selector'],
        `${describePolicy(restrictor.policy)} restricts the egress of the workers (${DEFAULT_WORKER_SELECTOR}), but no policy in the input allows them TCP ${VPE_GATEWAY_PORTS.join(' and ')} to any address: ` +
          'on VPC clusters (version 1.28 and later) image pulls go through the VPE gateway for Registry and will fail. ' +
          'Declare the VPC zones and their address prefixes in a VpcEgressProfile (`calico-vpc import-prefixes`) so that one allow rule per zone is written and kept',
      ),
    ];
  }

  const findings: LintFinding[] = [];
  for (const { object, translation } of profiles) {
    if (!translation) continue;
    const spec = (object.raw as unknown as VpcEgressProfile).spec;
    for (const zone of translation.zones) {
      const ranges = zone.addressPrefixes.flatMap((text) => {
        const cidr = parseCidr(text);
        return cidr.ok ? [cidrToRange(cidr.value)] : [];
      });
      const denials = VPE_GATEWAY_PORTS.flatMap((port) =>
        workerEgress(set, port, ranges).denied.map((denial) => ({ port, ...denial })),
      );
      if (denials.length === 0) continue;
      const zoneIndex = (spec.zones ?? []).findIndex((z) => z.name === zone.name);
      findings.push(
        findingAt(
          RULES.vpeRuleMissing,
          object.source,
          zoneIndex >= 0 ? ['spec', 'zones', zoneIndex, 'name'] : ['spec'],
          `the workers (${DEFAULT_WORKER_SELECTOR}) cannot reach the VPE gateways of zone "${zone.name}": ` +
            `${describeDenials(denials)}${profileHints(spec, denials, restrictor)}`,
        ),
      );
    }
  }
  return findings;
}

interface PortDenial extends Denial {
  readonly port: number;
}

/** "TCP 443 and 4443 to 10.0.0.0/18 are denied by X; TCP 4443 to ... is denied by Y", one clause per cause. */
function describeDenials(denials: readonly PortDenial[]): string {
  const clauses = new Map<string, { ports: number[]; addresses: string; by: string }>();
  for (const { port, addresses, by } of denials) {
    const text = formatIntervals(addresses);
    const key = `${by}\n${text}`;
    const clause = clauses.get(key) ?? { ports: [], addresses: text, by };
    clause.ports.push(port);
    clauses.set(key, clause);
  }
  return [...clauses.values()]
    .map(
      ({ ports, addresses, by }) =>
        `TCP ${ports.join(' and ')} to ${addresses} ${ports.length > 1 ? 'are' : 'is'} denied by ${by}`,
    )
    .join('; ');
}

/** The policy to point at: the first one (in evaluation order) that selects the workers and denies egress. */
function pickRestrictor(restricting: readonly CompiledView[], set: CalicoPolicySet): CompiledView {
  const order = set.tiers.flatMap((t) => t.policies);
  const ranked = [...restricting].sort((a, b) => order.indexOf(a.policy) - order.indexOf(b.policy));
  return ranked.find((c) => c.policy.egress.some((r) => r.action === 'Deny')) ?? (ranked[0] as CompiledView);
}

/** Why the profile's own rules do not cover its zone, in the profile's terms. */
function profileHints(
  spec: VpcEgressProfile['spec'],
  denials: readonly PortDenial[],
  restrictor: CompiledView,
): string {
  const hints: string[] = [];
  const selector = spec.selector ?? DEFAULT_WORKER_SELECTOR;
  if (!parseSelector(selector).matches(WORKER_PRIVATE_LABELS)) {
    hints.push(
      `the profile's selector ${JSON.stringify(selector)} does not select the workers' private host endpoints`,
    );
  }
  const gateways = spec.gateways ?? DEFAULT_GATEWAYS;
  const deniedPorts = [...new Set(denials.map((d) => d.port))];
  const unopened = deniedPorts.filter(
    (port) => !gateways.some((g) => (g.protocol ?? 'TCP') === 'TCP' && g.ports.includes(port)),
  );
  if (unopened.length > 0) hints.push(`the profile's gateways do not open TCP ${unopened.join(' and ')}`);
  const order = spec.order ?? DEFAULT_VPE_ORDER;
  const before = [
    ...new Set(
      denials.flatMap((d) => (d.policy?.order !== undefined && d.policy.order <= order ? [d.policy] : [])),
    ),
  ];
  for (const policy of before) {
    hints.push(
      `${describePolicy(policy)} comes before the profile's rules (order ${order}): give the profile a lower spec.order`,
    );
  }
  if (denials.every((d) => d.policy === undefined) && unopened.length === 0 && hints.length === 0) {
    hints.push(`worker egress is restricted by ${describePolicy(restrictor.policy)}`);
  }
  return hints.length > 0 ? `. ${capitalize(hints.join('; '))}` : '';
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
