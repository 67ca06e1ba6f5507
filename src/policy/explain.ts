/**
 * `connectivity --explain`: the evaluator's verdicts for every pair, in words. For each ordered pair, its ports are
 * grouped by the reason they are allowed or denied (one reason per direction: the source's egress, the
 * destination's ingress), and each reason says which policies select the endpoint and which rule allows, or why the
 * connection is denied: an isolated pod that no rule lets in, a Calico tier's end-of-tier deny, a Deny rule.
 * Pairs that no policy touches on either side are listed together at the end: they are open by default.
 *
 * The text is built only from what does not change from one port to the next (the policies, the rules, why a
 * peer does not match), so that ports with the same reason form one group; a rule that fails only on its ports is
 * said to, and the group's ports say which ones.
 */
import type { Protocol } from '../api/kube.js';
import type { CalicoDirectionVerdict } from './calico-eval.js';
import {
  appendPortRange,
  formatPortSet,
  type ConnectivityPeer,
  type ConnectivityReport,
  type PairConnectivity,
  type PortRange,
} from './connectivity.js';
import { formatIp, formatRange } from '../util/cidr.js';
import type { Direction, DirectionVerdict, Mismatch, PolicyRef, RuleEvaluation, RuleRef } from './model.js';

export const EXPLAINED_SECTION = 'Connections that policies decide';
export const DEFAULT_SECTION = 'All Connections, because no policy selects either side';

/** The explanation of every pair of the report (which must have been analysed with `explain`). */
export function explainConnectivity(report: ConnectivityReport): string {
  const explained: string[] = [];
  const open: string[] = [];
  for (const pair of report.pairs) {
    const groups = reasonGroups(report, pair);
    if (groups.length === 1 && groups[0]?.openByDefault) open.push(`${pair.src.id} => ${pair.dst.id}`);
    else explained.push(explainPair(pair, groups));
  }
  const sections: string[] = [];
  if (explained.length > 0) sections.push(`## ${EXPLAINED_SECTION}\n\n${explained.join('\n')}`);
  if (open.length > 0) sections.push(`## ${DEFAULT_SECTION}\n\n${open.map((line) => `${line}\n`).join('')}`);
  return sections.join('\n');
}

/**
 * One pair in full, even when no policy touches it (for `--explain --from --to`): which policies select each side,
 * then the ports grouped by their reason, as explainConnectivity words them.
 */
export function explainOnePair(report: ConnectivityReport, pair: PairConnectivity): string {
  const [header, ...reasons] = explainPair(pair, reasonGroups(report, pair)).split('\n');
  const verdict = pair.segments?.[0]?.verdict;
  const selection = verdict
    ? [selectionLine(report, verdict.egress, pair.src), selectionLine(report, verdict.ingress, pair.dst)]
    : [];
  return [header, ...selection.map((line) => `  ${line}`), ...reasons].join('\n');
}

/** Which policies select the side for the direction (the same for every port of a pair). */
function selectionLine(
  report: ConnectivityReport,
  verdict: DirectionVerdict,
  endpoint: ConnectivityPeer,
): string {
  const head = `${verdict.direction.toLowerCase()} ${verdict.direction === 'Egress' ? 'from' : 'to'} ${endpoint.id}`;
  if (endpoint.kind === 'external') return `${head}: outside the cluster, so no policy selects it`;
  if (verdict.selectedBy.length === 0)
    return `${head}: selected by no ${report.mode === 'k8s' ? 'NetworkPolicy' : 'GlobalNetworkPolicy'}`;
  return `${head}: selected by ${describePolicies(report, verdict.selectedBy)}`;
}

interface ReasonGroup {
  readonly allowed: boolean;
  readonly lines: readonly string[];
  readonly ports: Record<Protocol, PortRange[]>;
  /** No policy selects either endpoint: allowed because nothing restricts it. */
  readonly openByDefault: boolean;
}

function explainPair(pair: PairConnectivity, groups: readonly ReasonGroup[]): string {
  const ordered = [...groups.filter((group) => group.allowed), ...groups.filter((group) => !group.allowed)];
  const text = [`${pair.src.id} => ${pair.dst.id} : ${pair.conn}`];
  for (const group of ordered) {
    text.push(`  ${group.allowed ? 'Allowed' : 'Denied'} ${formatPortSet(group.ports)}, because:`);
    text.push(...group.lines.map((line) => `    ${line}`));
  }
  return `${text.join('\n')}\n`;
}

function reasonGroups(report: ConnectivityReport, pair: PairConnectivity): ReasonGroup[] {
  if (pair.segments === undefined)
    throw new Error('explainConnectivity needs a report analysed with explain: true');
  const groups = new Map<string, ReasonGroup>();
  for (const segment of pair.segments) {
    const verdict = segment.verdict;
    if (verdict === undefined)
      throw new Error('explainConnectivity needs a report analysed with explain: true');
    const lines = [
      ...directionLines(report, verdict.egress, pair.src, pair.dst),
      ...directionLines(report, verdict.ingress, pair.dst, pair.src),
    ];
    const key = `${segment.allowed}\n${lines.join('\n')}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = {
        allowed: segment.allowed,
        lines,
        ports: { SCTP: [], TCP: [], UDP: [] },
        openByDefault: [verdict.egress, verdict.ingress].every((side) => OPEN_OUTCOMES.has(side.outcome)),
      };
      groups.set(key, group);
    }
    appendPortRange(group.ports[segment.protocol], segment.first, segment.last);
  }
  return [...groups.values()];
}

const OPEN_OUTCOMES: ReadonlySet<string> = new Set(['not-applicable', 'no-policy-selects']);

// ---------------------------------------------------------------------------------------------------------------
// One direction

/**
 * The reason for one direction: `endpoint` is the side whose policies decide (the source for egress), `far` the
 * other side, which the rules' peers must match.
 */
function directionLines(
  report: ConnectivityReport,
  verdict: DirectionVerdict,
  endpoint: ConnectivityPeer,
  far: ConnectivityPeer,
): string[] {
  const direction = verdict.direction.toLowerCase();
  const head = `${direction} ${verdict.direction === 'Egress' ? 'from' : 'to'} ${endpoint.id}`;
  const tiers = (verdict as Partial<CalicoDirectionVerdict>).tiers ?? [];
  const passed = tiers.filter((tier) => tier.result === 'pass' || tier.result === 'end-of-tier-pass');
  // Earlier tiers that passed the connection on are part of the reason for what a later tier decided.
  const after =
    passed.length > 0 ? ` (after ${describeTiers(passed.map((tier) => tier.tier))} passed it on)` : '';
  switch (verdict.outcome) {
    case 'not-applicable':
      return [
        endpoint.kind === 'external'
          ? `${head}: not restricted: it is outside the cluster, and policies restrict only pods`
          : `${head}: not restricted: it uses the host network, where pod policies do not apply`,
      ];
    case 'no-policy-selects':
      return [
        report.mode === 'k8s'
          ? `${head}: allowed: no NetworkPolicy selects it for ${direction}, so it is not isolated`
          : `${head}: allowed: no GlobalNetworkPolicy selects it for ${direction}, and its namespace profile allows everything`,
      ];
    case 'allowed-by-rule': {
      return [
        `${head}: allowed by ${joinWords(verdict.allowedBy.map((rule) => describeRule(report, rule)))}${after}`,
      ];
    }
    case 'denied-by-rule': {
      const denying = verdict.rules.find((rule) => rule.matched && rule.action === 'Deny');
      return [
        `${head}: denied by ${denying ? describeRule(report, denying.rule) : 'a Deny rule'} (action Deny)${after}`,
      ];
    }
    case 'passed-to-profile':
      return [
        `${head}: allowed: ${describeTiers(tiers.map((tier) => tier.tier))} passed it on, and its namespace profile allows everything`,
      ];
    case 'no-rule-allows': {
      const selecting = verdict.selectedBy;
      const names = describePolicies(report, selecting);
      const [verb, their] = selecting.length === 1 ? ['selects', 'its'] : ['select', 'their'];
      return [
        `${head}: denied: ${names} ${verb} it for ${direction} (it is isolated), and none of ${their} ${direction} rules allows this:`,
        ...unmatchedRules(report, selecting, verdict.rules, verdict.direction, far),
      ];
    }
    case 'end-of-tier-deny': {
      const tier = tiers[tiers.length - 1];
      const selecting = tier?.selectedBy ?? verdict.selectedBy;
      const names = describePolicies(report, selecting);
      return [
        `${head}: denied by the end of tier ${tier?.tier ?? '?'}${after}: ${names} of that tier ${selecting.length === 1 ? 'selects' : 'select'} it for ${direction}, and none of ${selecting.length === 1 ? 'its' : 'their'} rules matched, so the tier's default action (Deny) applies:`,
        ...unmatchedRules(report, selecting, verdict.rules, verdict.direction, far),
      ];
    }
    default:
      return [`${head}: ${verdict.allowed ? 'allowed' : 'denied'} (${String(verdict.outcome)})`];
  }
}

/** One bullet per rule of the selecting policies that did not match, or per policy that has no rules. */
function unmatchedRules(
  report: ConnectivityReport,
  policies: readonly PolicyRef[],
  rules: readonly RuleEvaluation[],
  direction: Direction,
  far: ConnectivityPeer,
): string[] {
  const lines: string[] = [];
  for (const policy of policies) {
    const own = rules.filter((evaluation) => samePolicy(evaluation.rule.policy, policy));
    if (own.length === 0) {
      lines.push(`  - ${describePolicy(report, policy)} has no ${direction.toLowerCase()} rules`);
      continue;
    }
    for (const evaluation of own.filter((rule) => !rule.matched)) {
      lines.push(
        `  - ${describeRule(report, evaluation.rule)}: ${describeMismatches(evaluation, direction, far)}`,
      );
    }
  }
  return lines;
}

/**
 * Why a rule did not match, without what depends on the port: the peer's reasons when the peer does not match,
 * else that only the protocol or port does not.
 */
function describeMismatches(evaluation: RuleEvaluation, direction: Direction, far: ConnectivityPeer): string {
  const peerReasons = evaluation.mismatches.filter((mismatch) => !isServiceMismatch(mismatch));
  if (peerReasons.length === 0) {
    return `the ${direction === 'Ingress' ? 'source' : 'destination'} matches, but not the protocol or port`;
  }
  return peerReasons
    .map((mismatch) => `${mismatch.field}: ${inRangeTerms(mismatch.message, far)}`)
    .join('; ');
}

/** Rule parts that depend on the connection's protocol or destination port. */
function isServiceMismatch(mismatch: Mismatch): boolean {
  return (
    /^ports(\[|$)/.test(mismatch.field) ||
    ['protocol', 'notProtocol', 'destination.ports', 'destination.notPorts', 'icmp', 'notICMP'].includes(
      mismatch.field,
    )
  );
}

/**
 * The evaluator names an outside address by the one address it evaluated, the first of the range; every address
 * of the range gets the same verdict, so the message is about the range.
 */
function inRangeTerms(message: string, far: ConnectivityPeer): string {
  if (far.kind !== 'external') return message;
  const address = `${formatIp({ family: far.range.family, value: far.range.first })} `;
  return message.startsWith(address) ? `${formatRange(far.range)} ${message.slice(address.length)}` : message;
}

function samePolicy(a: PolicyRef, b: PolicyRef): boolean {
  return a.kind === 'NetworkPolicy' && b.kind === 'NetworkPolicy'
    ? a.namespace === b.namespace && a.name === b.name
    : a.kind === b.kind && a.name === b.name;
}

function describePolicy(report: ConnectivityReport, policy: PolicyRef): string {
  return `${policy.kind} ${policyName(report, policy)}`;
}

/** `NetworkPolicy a`, `NetworkPolicies a and b` (the evaluators never mix the two kinds). */
function describePolicies(report: ConnectivityReport, policies: readonly PolicyRef[]): string {
  const kinds = [...new Set(policies.map((policy) => policy.kind))];
  const names = joinWords(policies.map((policy) => policyName(report, policy)));
  if (kinds.length !== 1) return joinWords(policies.map((policy) => describePolicy(report, policy)));
  const kind = kinds[0] as string;
  return `${policies.length === 1 ? kind : kind.replace(/y$/, 'ies')} ${names}`;
}

function policyName(report: ConnectivityReport, policy: PolicyRef): string {
  if (policy.kind === 'NetworkPolicy') return `${policy.namespace}/${policy.name}`;
  const source = report.translatedFrom.get(policy.name);
  return `${policy.name}${source === undefined ? '' : ` (from NetworkPolicy ${source})`}`;
}

function describeRule(report: ConnectivityReport, rule: RuleRef): string {
  return `${describePolicy(report, rule.policy)} spec.${rule.direction.toLowerCase()}[${rule.ruleIndex}]`;
}

function describeTiers(names: readonly string[]): string {
  return `${names.length === 1 ? 'tier' : 'tiers'} ${joinWords(names)}`;
}

/** `a`, `a and b`, `a, b and c`. */
function joinWords(words: readonly string[]): string {
  if (words.length <= 1) return words[0] ?? '';
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}
