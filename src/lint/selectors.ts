/**
 * NetworkPolicy selector heuristics: keys that differ from the real labels only in case, selectors that select
 * nothing in the input, and the "two peers where one was meant" trap. They read the raw objects, so a policy with
 * a schema error elsewhere (the seed's accounts-allow) is still checked; a selector that is itself malformed is
 * skipped (the schema and translation findings report it).
 */
import type { LabelSelector } from '../api/kube.js';
import {
  DEFAULT_NAMESPACE,
  isPlainObject,
  LABEL_SELECTOR_SCHEMA,
  validate,
  type Inventory,
  type ManifestObject,
  type NamespaceView,
  type PathSegment,
  type PodEndpoint,
} from '../manifests/index.js';
import { describeLabelSelector } from '../policy/kube-eval.js';
import { compileLabelSelector, validateLabelSelector, type Labels } from '../selectors/kubernetes.js';
import { findingAt, type LintFinding } from './finding.js';
import { RULES } from './rules.js';

type Matcher = (labels: Labels) => boolean;

interface UsableSelector {
  readonly selector: LabelSelector;
  readonly matches: Matcher;
  readonly path: PathSegment[];
}

/** Well-formed selectors compiled, by their JSON: the policies of a cluster repeat a few selectors many times. */
type SelectorCache = Map<string, Omit<UsableSelector, 'path'> | null>;

/** The selector at `path` when it is well-formed (else undefined: other findings report it). */
function usableSelector(
  cache: SelectorCache,
  value: unknown,
  path: PathSegment[],
): UsableSelector | undefined {
  if (!isPlainObject(value)) return undefined;
  const key = JSON.stringify(value);
  let compiled = cache.get(key);
  if (compiled === undefined) {
    const selector = value as LabelSelector;
    compiled =
      validate(LABEL_SELECTOR_SCHEMA, value).length > 0 || validateLabelSelector(selector, []).length > 0
        ? null
        : { selector, matches: compileLabelSelector(selector) };
    cache.set(key, compiled);
  }
  return compiled === null ? undefined : { ...compiled, path };
}

interface SelectorKey {
  readonly key: string;
  /** Built only for a key that is reported: most keys are not. */
  path(): PathSegment[];
  readonly at: 'key' | 'value';
}

function selectorKeys(site: UsableSelector): SelectorKey[] {
  const keys: SelectorKey[] = Object.keys(site.selector.matchLabels ?? {}).map((key) => ({
    key,
    path: () => [...site.path, 'matchLabels', key],
    at: 'key',
  }));
  (site.selector.matchExpressions ?? []).forEach((requirement, i) =>
    keys.push({
      key: requirement.key,
      path: () => [...site.path, 'matchExpressions', i, 'key'],
      at: 'value',
    }),
  );
  return keys;
}

/** Per lower-cased label key, the first (in code-unit order) of the keys given that lower-case to it. */
function keysByLowerCase(keys: ReadonlySet<string>): ReadonlyMap<string, string> {
  const byLower = new Map<string, string>();
  for (const key of [...keys].sort()) {
    const lower = key.toLowerCase();
    if (!byLower.has(lower)) byLower.set(lower, key);
  }
  return byLower;
}

const pluralize = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
const describe = (site: UsableSelector) => describeLabelSelector(site.selector);

interface PolicyContext {
  readonly object: ManifestObject;
  readonly namespace: string;
  readonly namespaceDefaulted: boolean;
  readonly inventory: Inventory;
  readonly podLabelKeys: ReadonlySet<string>;
  readonly namespaceLabelKeys: ReadonlySet<string>;
  readonly podLabelKeysByLowerCase: ReadonlyMap<string, string>;
  readonly namespaceLabelKeysByLowerCase: ReadonlyMap<string, string>;
  /** The namespaces declared in the input, in input order. */
  readonly declared: readonly NamespaceView[];
  /** The namespaces each namespaceSelector selects, by its compiled matcher (one per distinct selector). */
  readonly selectedNamespaces: Map<Matcher, NamespaceView[]>;
  readonly selectors: SelectorCache;
  readonly findings: LintFinding[];
}

export function selectorFindings(
  networkPolicies: readonly ManifestObject[],
  inventory: Inventory,
): LintFinding[] {
  const findings: LintFinding[] = [];
  const podLabelKeys = new Set(inventory.endpoints.flatMap((e) => Object.keys(e.labels)));
  const namespaceLabelKeys = new Set(
    inventory.namespaces.filter((n) => n.declared).flatMap((n) => Object.keys(n.labels)),
  );
  const declared = inventory.namespaces.filter((n) => n.declared);
  const podLabelKeysByLowerCase = keysByLowerCase(podLabelKeys);
  const namespaceLabelKeysByLowerCase = keysByLowerCase(namespaceLabelKeys);
  const selected = new Map<Matcher, NamespaceView[]>();
  const selectors: SelectorCache = new Map();
  for (const object of networkPolicies) {
    const meta = isPlainObject(object.raw.metadata) ? object.raw.metadata : {};
    const namespace = typeof meta.namespace === 'string' ? meta.namespace : undefined;
    const context: PolicyContext = {
      object,
      namespace: namespace ?? DEFAULT_NAMESPACE,
      namespaceDefaulted: namespace === undefined,
      inventory,
      podLabelKeys,
      namespaceLabelKeys,
      podLabelKeysByLowerCase,
      namespaceLabelKeysByLowerCase,
      declared,
      selectedNamespaces: selected,
      selectors,
      findings,
    };
    checkPolicy(context);
  }
  return findings;
}

function checkPolicy(context: PolicyContext): void {
  const spec = context.object.raw.spec;
  if (!isPlainObject(spec)) return;
  const podSelector = usableSelector(context.selectors, spec.podSelector, ['spec', 'podSelector']);
  if (podSelector && !keyCase(context, podSelector, 'pod')) policySelectsNothing(context, podSelector);

  for (const [field, peersField] of [
    ['ingress', 'from'],
    ['egress', 'to'],
  ] as const) {
    const rules = spec[field];
    if (!Array.isArray(rules)) continue;
    rules.forEach((rule, r) => {
      if (!isPlainObject(rule) || !Array.isArray(rule[peersField])) return;
      const peersPath: PathSegment[] = ['spec', field, r, peersField];
      const peers = (rule[peersField] as unknown[]).map((peer, p) =>
        readPeer(context.selectors, peer, [...peersPath, p]),
      );
      for (const peer of peers) if (peer) checkPeer(context, peer);
      orVersusAnd(context, peers, peersPath, field);
    });
  }
}

interface Peer {
  readonly path: PathSegment[];
  readonly pods: UsableSelector | undefined;
  readonly namespaces: UsableSelector | undefined;
  /** Exactly which fields the peer has (whether or not they are well-formed). */
  readonly fields: ReadonlySet<string>;
}

function readPeer(cache: SelectorCache, value: unknown, path: PathSegment[]): Peer | undefined {
  if (!isPlainObject(value)) return undefined;
  return {
    path,
    pods: usableSelector(cache, value.podSelector, [...path, 'podSelector']),
    namespaces: usableSelector(cache, value.namespaceSelector, [...path, 'namespaceSelector']),
    fields: new Set(Object.keys(value)),
  };
}

/**
 * label-key-case: reports each key of the selector that no pod (or namespace) label has but one differs only in
 * case. Returns true when it reported, so the "selects nothing" finding (which it explains) is not repeated.
 */
function keyCase(context: PolicyContext, site: UsableSelector, of: 'pod' | 'namespace'): boolean {
  const known = of === 'pod' ? context.podLabelKeys : context.namespaceLabelKeys;
  const byLowerCase = of === 'pod' ? context.podLabelKeysByLowerCase : context.namespaceLabelKeysByLowerCase;
  if (byLowerCase.size === 0) return false;
  let reported = false;
  for (const { key, path, at } of selectorKeys(site)) {
    if (known.has(key)) continue;
    const meant = byLowerCase.get(key.toLowerCase());
    if (meant === undefined) continue;
    reported = true;
    context.findings.push(
      findingAt(
        RULES.labelKeyCase,
        context.object.source,
        path(),
        `label key "${key}" is on no ${of} in the input, but ${of}s are labelled "${meant}"; label keys are case-sensitive, did you mean "${meant}"?`,
        { at, suggestion: meant },
      ),
    );
  }
  return reported;
}

function podsOf(context: PolicyContext, namespaces: (ns: string) => boolean): PodEndpoint[] {
  return context.inventory.endpoints.filter((e) => namespaces(e.namespace));
}

function namespaceNote(context: PolicyContext): string {
  return context.namespaceDefaulted
    ? ` (the policy names no namespace; kubectl puts it in the current one, "${DEFAULT_NAMESPACE}" by default)`
    : '';
}

function policySelectsNothing(context: PolicyContext, site: UsableSelector): void {
  if (!context.inventory.hasEndpoints) return;
  const candidates = podsOf(context, (ns) => ns === context.namespace);
  if (candidates.some((pod) => site.matches(pod.labels))) return;
  const why =
    candidates.length === 0
      ? `the input has no pods or workloads in namespace "${context.namespace}"${namespaceNote(context)}`
      : `none of the ${pluralize(candidates.length, 'pod or workload', 'pods and workloads')} of namespace "${context.namespace}" in the input matches ${describe(site)}`;
  context.findings.push(
    findingAt(
      RULES.selectorMatchesNothing,
      context.object.source,
      site.path,
      `spec.podSelector selects no pod: ${why}; the policy has no effect`,
    ),
  );
}

function checkPeer(context: PolicyContext, peer: Peer): void {
  const podCase = peer.pods ? keyCase(context, peer.pods, 'pod') : false;
  const namespaceCase = peer.namespaces ? keyCase(context, peer.namespaces, 'namespace') : false;
  if (podCase || namespaceCase) return;
  const { inventory, declared } = context;

  if (peer.namespaces && !peer.fields.has('podSelector')) {
    if (!inventory.hasDeclaredNamespaces) return;
    const selected = selectedNamespaces(context, peer.namespaces);
    if (selected.length > 0) return;
    context.findings.push(
      findingAt(
        RULES.selectorMatchesNothing,
        context.object.source,
        peer.namespaces.path,
        `namespaceSelector ${describe(peer.namespaces)} selects none of the ${pluralize(declared.length, 'namespace', 'namespaces')} declared in the input (${declared.map((n) => n.name).join(', ')}); this peer allows nothing`,
      ),
    );
    return;
  }

  if (peer.pods && !peer.fields.has('namespaceSelector')) {
    if (!inventory.hasEndpoints) return;
    const candidates = podsOf(context, (ns) => ns === context.namespace);
    if (candidates.some((pod) => peer.pods?.matches(pod.labels))) return;
    const why =
      candidates.length === 0
        ? `the input has no pods or workloads in namespace "${context.namespace}"${namespaceNote(context)}, and a podSelector without a namespaceSelector selects pods of the policy's own namespace only`
        : `none of the ${pluralize(candidates.length, 'pod or workload', 'pods and workloads')} of namespace "${context.namespace}" (the policy's own; add a namespaceSelector to select pods of other namespaces) matches it`;
    context.findings.push(
      findingAt(
        RULES.selectorMatchesNothing,
        context.object.source,
        peer.pods.path,
        `podSelector ${describe(peer.pods)} selects no pod: ${why}; this peer allows nothing`,
      ),
    );
    return;
  }

  if (peer.pods && peer.namespaces) {
    const judgeable = inventory.hasEndpoints && (inventory.hasDeclaredNamespaces || isEmpty(peer.namespaces));
    if (!judgeable) return;
    const namespaces = new Set(selectedNamespaces(context, peer.namespaces).map((n) => n.name));
    const pods = podsOf(context, (ns) => namespaces.has(ns));
    if (pods.some((pod) => peer.pods?.matches(pod.labels))) return;
    const why =
      namespaces.size === 0
        ? `the namespaceSelector selects none of the namespaces in the input`
        : `no pod or workload of the namespaces it selects (${[...namespaces].sort().join(', ')}) matches the podSelector`;
    context.findings.push(
      findingAt(
        RULES.selectorMatchesNothing,
        context.object.source,
        peer.path,
        `this peer (namespaceSelector ${describe(peer.namespaces)} AND podSelector ${describe(peer.pods)}) selects no pod: ${why}; it allows nothing`,
      ),
    );
  }
}

function selectedNamespaces(context: PolicyContext, site: UsableSelector): NamespaceView[] {
  let selected = context.selectedNamespaces.get(site.matches);
  if (selected === undefined) {
    selected = context.inventory.namespaces.filter((n) => site.matches(n.labels));
    context.selectedNamespaces.set(site.matches, selected);
  }
  return selected;
}

function isEmpty(site: UsableSelector): boolean {
  return (
    Object.keys(site.selector.matchLabels ?? {}).length === 0 &&
    (site.selector.matchExpressions ?? []).length === 0
  );
}

/** peers-or-vs-and: one rule with a namespaceSelector-only peer and a podSelector-only peer. */
function orVersusAnd(
  context: PolicyContext,
  peers: readonly (Peer | undefined)[],
  peersPath: PathSegment[],
  field: 'ingress' | 'egress',
): void {
  const only = (name: string) => (peer: Peer | undefined) =>
    peer !== undefined && peer.fields.size === 1 && peer.fields.has(name);
  const namespacePeer = peers.find(only('namespaceSelector'));
  const podPeer = peers.find(only('podSelector'));
  if (!namespacePeer?.namespaces || !podPeer?.pods) return;
  const peersField = peersPath[peersPath.length - 1] as string;
  const index = (peer: Peer) => `${peersField}[${String(peer.path[peer.path.length - 1])}]`;
  const ns = describe(namespacePeer.namespaces);
  const pods = describe(podPeer.pods);
  const direction = field === 'ingress' ? 'from' : 'to';
  context.findings.push(
    findingAt(
      RULES.peersOrVsAnd,
      context.object.source,
      podPeer.path,
      `${index(namespacePeer)} (namespaceSelector ${ns}) and ${index(podPeer)} (podSelector ${pods}) are two peers, ` +
        `so this rule allows traffic ${direction} EVERY pod of the namespaces matching ${ns}, OR ${direction} the pods matching ${pods} ` +
        `in the policy's own namespace "${context.namespace}". If you meant only the pods matching ${pods} in the namespaces matching ${ns}, ` +
        `put both selectors in ONE peer (remove the "-" before podSelector): Kubernetes combines them since 1.11`,
    ),
  );
}
