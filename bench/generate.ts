/**
 * A seeded, deterministic generator of realistic NetworkPolicies and Namespaces for the benchmarks: the same seed
 * gives byte-identical objects on every machine, so numbers from two runs measure the same work.
 *
 * The mix follows what clusters carry: most policies select an app (often with expressions), allow ingress from
 * a few peers (same-namespace pods, other teams' namespaces, both at once, ipBlocks with excepts, IPv4 and IPv6)
 * on a few ports (numbers, names, ranges; TCP, UDP, SCTP), and many also restrict egress (DNS to kube-system,
 * the internet minus private ranges). Everything generated is valid for the API server and translates.
 */
import type {
  LabelSelector,
  LabelSelectorRequirement,
  Namespace,
  NetworkPolicy,
  NetworkPolicyEgressRule,
  NetworkPolicyIngressRule,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  PolicyType,
} from '../src/api/kube.js';

export const BENCH_NAMESPACE_PREFIX = 'bench-';
/** The label the latency benchmark changes on a policy's podSelector. */
export const REVISION_LABEL = 'bench-revision';

/** mulberry32: a small, fast PRNG with a 32-bit seed; plenty for picking shapes, and the same everywhere. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;

function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

function chance(random: Random, probability: number): boolean {
  return random() < probability;
}

function between(random: Random, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

const TEAMS = ['payments', 'accounts', 'finance', 'search', 'platform'];
const ENVIRONMENTS = ['prod', 'staging', 'dev'];
const APPS = ['web', 'api', 'worker', 'db', 'cache', 'queue', 'auth', 'billing', 'reports', 'gateway'];
const TIERS = ['frontend', 'backend', 'data'];
const NUMERIC_PORTS = [80, 443, 8080, 8443, 5432, 6379, 9090, 3306, 27017, 11211];
const PORT_NAMES = ['http', 'https', 'metrics', 'grpc', 'admin'];

export function namespaceName(index: number): string {
  return `${BENCH_NAMESPACE_PREFIX}${index}`;
}

/** Namespaces `bench-0..count-1`, labelled by team and environment so namespace selectors match some of them. */
export function generateNamespaces(count: number): Namespace[] {
  return Array.from({ length: count }, (_, index) => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: namespaceName(index),
      labels: {
        team: TEAMS[index % TEAMS.length] as string,
        env: ENVIRONMENTS[index % ENVIRONMENTS.length] as string,
      },
    },
  }));
}

function expressions(random: Random): LabelSelectorRequirement[] {
  const candidates: LabelSelectorRequirement[] = [
    { key: 'tier', operator: 'In', values: TIERS.filter(() => chance(random, 0.6)).concat('backend') },
    { key: 'track', operator: 'NotIn', values: ['canary', 'experimental'] },
    { key: 'version', operator: 'Exists' },
    { key: 'deprecated', operator: 'DoesNotExist' },
  ];
  const chosen = candidates.filter(() => chance(random, 0.4));
  // In's values must be unique for a canonical selector; the API server accepts duplicates, but realistic YAML has none.
  return chosen.map((requirement) =>
    requirement.values ? { ...requirement, values: [...new Set(requirement.values)] } : requirement,
  );
}

function podSelector(random: Random): LabelSelector {
  if (chance(random, 0.1)) return {};
  const selector: LabelSelector = { matchLabels: { app: pick(random, APPS) } };
  if (chance(random, 0.5)) {
    const matchExpressions = expressions(random);
    if (matchExpressions.length > 0) selector.matchExpressions = matchExpressions;
  }
  return selector;
}

function namespaceSelector(random: Random, namespaces: number): LabelSelector {
  const roll = random();
  if (roll < 0.4) return { matchLabels: { team: pick(random, TEAMS) } };
  if (roll < 0.6) {
    return {
      matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'staging'] }],
      matchLabels: { team: pick(random, TEAMS) },
    };
  }
  if (roll < 0.8) {
    return {
      matchLabels: { 'kubernetes.io/metadata.name': namespaceName(between(random, 0, namespaces - 1)) },
    };
  }
  if (roll < 0.9) return { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev'] }] };
  return {};
}

function ipBlockPeer(random: Random): NetworkPolicyPeer {
  if (chance(random, 0.15)) {
    return {
      ipBlock: { cidr: 'fd00:10::/32', except: [`fd00:10:${between(random, 1, 255).toString(16)}::/48`] },
    };
  }
  const second = between(random, 0, 255);
  const except = Array.from(
    new Set(Array.from({ length: between(random, 0, 3) }, () => between(random, 0, 255))),
    (third) => `10.${second}.${third}.0/24`,
  );
  return {
    ipBlock: except.length > 0 ? { cidr: `10.${second}.0.0/16`, except } : { cidr: `10.${second}.0.0/16` },
  };
}

function peer(random: Random, namespaces: number): NetworkPolicyPeer {
  const roll = random();
  if (roll < 0.35) return { podSelector: podSelector(random) };
  if (roll < 0.55) return { namespaceSelector: namespaceSelector(random, namespaces) };
  if (roll < 0.8) {
    return { namespaceSelector: namespaceSelector(random, namespaces), podSelector: podSelector(random) };
  }
  return ipBlockPeer(random);
}

function ports(random: Random): NetworkPolicyPort[] {
  const count = pick(random, [0, 1, 1, 2, 2, 3, 4]);
  return Array.from({ length: count }, (): NetworkPolicyPort => {
    const roll = random();
    if (roll < 0.45) return { protocol: 'TCP', port: pick(random, NUMERIC_PORTS) };
    if (roll < 0.55) return { port: pick(random, NUMERIC_PORTS) };
    if (roll < 0.7) return { protocol: 'TCP', port: pick(random, PORT_NAMES) };
    if (roll < 0.82) {
      const first = pick(random, [8000, 9000, 30000]);
      return { protocol: 'TCP', port: first, endPort: first + between(random, 1, 100) };
    }
    if (roll < 0.95) return { protocol: 'UDP', port: pick(random, [53, 123, 514, 8125]) };
    return { protocol: 'SCTP', port: pick(random, [3868, 2905]) };
  });
}

function peers(random: Random, namespaces: number): NetworkPolicyPeer[] {
  return Array.from({ length: between(random, 1, 3) }, () => peer(random, namespaces));
}

function ingressRule(random: Random, namespaces: number): NetworkPolicyIngressRule {
  const rule: NetworkPolicyIngressRule = {};
  if (!chance(random, 0.05)) rule.from = peers(random, namespaces);
  const rulePorts = ports(random);
  if (rulePorts.length > 0) rule.ports = rulePorts;
  return rule;
}

const DNS_EGRESS: NetworkPolicyEgressRule = {
  to: [
    {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
      podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
    },
  ],
  ports: [
    { protocol: 'UDP', port: 53 },
    { protocol: 'TCP', port: 53 },
  ],
};

const INTERNET_EGRESS: NetworkPolicyEgressRule = {
  to: [
    { ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] } },
    { ipBlock: { cidr: '::/0', except: ['fc00::/7'] } },
  ],
  ports: [{ protocol: 'TCP', port: 443 }],
};

function egressRules(random: Random, namespaces: number): NetworkPolicyEgressRule[] {
  const rules: NetworkPolicyEgressRule[] = [structuredClone(DNS_EGRESS)];
  if (chance(random, 0.4)) rules.push(structuredClone(INTERNET_EGRESS));
  for (let i = between(random, 0, 2); i > 0; i--) {
    const rule: NetworkPolicyEgressRule = { to: peers(random, namespaces) };
    const rulePorts = ports(random);
    if (rulePorts.length > 0) rule.ports = rulePorts;
    rules.push(rule);
  }
  return rules;
}

export interface GenerateOptions {
  count: number;
  namespaces: number;
  seed?: number;
}

/**
 * `count` NetworkPolicies, spread round-robin over namespaces `bench-0..namespaces-1`. Names are `np-<i>`, and
 * every seventh is dotted (`allow.np-<i>`), as real names often are, so the GNP naming of dots is exercised.
 */
export function generateNetworkPolicies({ count, namespaces, seed = 1 }: GenerateOptions): NetworkPolicy[] {
  if (!(namespaces >= 1)) throw new Error(`namespaces must be at least 1, got ${namespaces}`);
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, index): NetworkPolicy => {
    const roll = random();
    const policyTypes: PolicyType[] | undefined =
      roll < 0.3 ? undefined : roll < 0.7 ? ['Ingress', 'Egress'] : roll < 0.9 ? ['Ingress'] : ['Egress'];
    const wantsIngress = policyTypes === undefined || policyTypes.includes('Ingress');
    const wantsEgress = policyTypes?.includes('Egress') ?? false;
    const np: NetworkPolicy = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name: index % 7 === 3 ? `allow.np-${index}` : `np-${index}`,
        namespace: namespaceName(index % namespaces),
      },
      spec: { podSelector: podSelector(random) },
    };
    if (policyTypes) np.spec.policyTypes = policyTypes;
    // A default-deny for a direction is `ingress: []` with the type set; about one in ten policies is one.
    if (wantsIngress) {
      np.spec.ingress = chance(random, 0.1)
        ? []
        : Array.from({ length: between(random, 1, 3) }, () => ingressRule(random, namespaces));
    }
    if (wantsEgress) np.spec.egress = egressRules(random, namespaces);
    return np;
  });
}

/** The policy with its podSelector narrowed by `bench-revision=r<revision>`: each revision changes its GNP. */
export function revisedNetworkPolicy(np: NetworkPolicy, revision: number): NetworkPolicy {
  const revised = structuredClone(np);
  revised.spec.podSelector = {
    ...revised.spec.podSelector,
    matchLabels: { ...revised.spec.podSelector.matchLabels, [REVISION_LABEL]: `r${revision}` },
  };
  return revised;
}

/** The JSON merge patch that turns the stored policy into `revisedNetworkPolicy(np, revision)`. */
export function revisionPatch(revision: number): unknown {
  return { spec: { podSelector: { matchLabels: { [REVISION_LABEL]: `r${revision}` } } } };
}
