/**
 * Calico's namespaced NetworkPolicy read as Felix reads it (libcalico-go's networkpolicyprocessor.go and rules.go):
 * the conversion itself on the cases Calico documents, the connections it gives next to GNPs in tiers and orders,
 * and a property: each namespaced policy evaluates exactly as the GNP written out by hand with its namespace terms.
 */
import fc from 'fast-check';
import type {
  CalicoNetworkPolicy,
  EntityRule,
  GlobalNetworkPolicy,
  GlobalNetworkPolicySpec,
  NetworkPolicySpec,
} from '../calico/types.js';
import { fromWire } from '../calico/flavour.js';
import {
  namespacesArbitrary,
  podsArbitrary,
  scenarioConnectivityInput,
} from '../../test/support/policy-arbitraries.js';
import { globalPolicyOfNamespaced } from './calico-namespaced.js';
import { analyzeConnectivity, type ConnectivityInput, type EndpointInput } from './connectivity.js';

const calicoPolicy = (
  name: string,
  spec: NetworkPolicySpec,
  apiVersion = 'projectcalico.org/v3',
): CalicoNetworkPolicy => ({
  apiVersion,
  kind: 'NetworkPolicy',
  metadata: { name, namespace: 'a' },
  spec,
});

const gnp = (name: string, spec: GlobalNetworkPolicySpec): GlobalNetworkPolicy => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'GlobalNetworkPolicy',
  metadata: { name },
  spec,
});

function converted(spec: NetworkPolicySpec, namespace = 'a'): GlobalNetworkPolicy {
  const result = globalPolicyOfNamespaced(calicoPolicy('p', spec), namespace);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.value;
}

const IN_A = "projectcalico.org/namespace == 'a'";

describe('globalPolicyOfNamespaced: the backend policy of networkpolicyprocessor.go', () => {
  it('is keyed <namespace>/<name>, selects within its namespace and keeps tier, order and types', () => {
    expect(
      converted({ tier: 'security', order: 5, selector: "app == 'db'", types: ['Ingress'], ingress: [] }),
    ).toEqual({
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      metadata: { name: 'a/p' },
      spec: {
        tier: 'security',
        order: 5,
        selector: `(app == 'db') && ${IN_A}`,
        types: ['Ingress'],
        ingress: [],
      },
    });
    expect(converted({}).spec).toEqual({ tier: 'default', selector: IN_A });
    expect(converted({ selector: 'all()' }, 'b').spec.selector).toBe(
      "(all()) && projectcalico.org/namespace == 'b'",
    );
  });

  it('confines a rule selector, a notSelector alone and serviceAccounts to the namespace (getEndpointSelector)', () => {
    const rules = converted({
      ingress: [
        { action: 'Allow', source: { selector: "app == 'web'" } },
        { action: 'Deny', source: { notSelector: "app == 'web'" } },
        { action: 'Allow', source: { serviceAccounts: { names: ['builder'] } } },
        { action: 'Allow', source: { serviceAccounts: { selector: "team == 'x'" }, selector: 'has(app)' } },
      ],
    }).spec.ingress;
    expect(rules?.map((rule) => rule.source)).toEqual([
      { selector: `${IN_A} && (app == 'web')` },
      { selector: IN_A, notSelector: "app == 'web'" },
      { selector: IN_A, serviceAccounts: { names: ['builder'] } },
      { selector: `${IN_A} && (has(app))`, serviceAccounts: { selector: "team == 'x'" } },
    ]);
  });

  it('leaves rules with a namespaceSelector (alone, with a selector, all(), global()) and rules without selectors as a GNP reads them', () => {
    const entities = [
      { namespaceSelector: "env == 'prod'" },
      { namespaceSelector: "env == 'prod'", selector: "app == 'web'" },
      { namespaceSelector: 'all()', selector: "app == 'web'" },
      { namespaceSelector: 'global()' },
      { nets: ['10.0.0.0/8'] },
      { ports: [80] },
    ];
    const rules = converted({
      egress: entities.map((destination) => ({
        action: 'Allow' as const,
        protocol: 'TCP' as const,
        destination,
      })),
    }).spec.egress;
    expect(rules?.map((rule) => rule.destination)).toEqual(entities);
  });

  it('takes the tier from spec.tier, else from a tier-prefixed name, and reads crd.projectcalico.org/v1 storage names back', () => {
    expect(globalPolicyOfNamespaced(calicoPolicy('security.p', {}), 'a')).toMatchObject({
      ok: true,
      value: { metadata: { name: 'a/security.p' }, spec: { tier: 'security' } },
    });
    const stored = fromWire(calicoPolicy('default.p', {}, 'crd.projectcalico.org/v1'), 'crd');
    expect(globalPolicyOfNamespaced(stored, 'a')).toMatchObject({
      ok: true,
      value: { metadata: { name: 'a/p' }, spec: { tier: 'default' } },
    });
  });

  it('points at the field of a selector that does not parse, even one that parses once wrapped in parentheses', () => {
    const result = globalPolicyOfNamespaced(
      calicoPolicy('p', {
        selector: "app == 'a') || (app == 'b'",
        ingress: [{ action: 'Allow', source: { selector: 'app ==' } }],
      }),
      'a',
    );
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors.map((error) => error.path)).toEqual([
      ['spec', 'selector'],
      ['spec', 'ingress', 0, 'source', 'selector'],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Connections

const namespace = (name: string, labels: Record<string, string> = {}) => ({
  name,
  labels: { ...labels, 'kubernetes.io/metadata.name': name },
});

const pod = (ns: string, name: string, labels: Record<string, string>, serviceAccountName?: string) =>
  ({
    namespace: ns,
    name,
    labels,
    ports: [{ containerPort: 80, protocol: 'TCP' }],
    ips: [],
    hostNetwork: false,
    owner: { kind: 'Pod', name },
    ...(serviceAccountName ? { serviceAccountName } : {}),
  }) satisfies EndpointInput;

/** Namespace a (env=dev) and b (env=prod), each with a web and a db pod; a's web runs as service account builder. */
const CLUSTER: Pick<ConnectivityInput, 'namespaces' | 'endpoints' | 'networkPolicies'> = {
  namespaces: [namespace('a', { env: 'dev' }), namespace('b', { env: 'prod' })],
  endpoints: [
    pod('a', 'db', { app: 'db' }),
    pod('a', 'web', { app: 'web' }, 'builder'),
    pod('b', 'db', { app: 'db' }),
    pod('b', 'web', { app: 'web' }),
  ],
  networkPolicies: [],
};

/** The workloads allowed to reach `to`, as `ns/name`. */
function sourcesOf(to: string, input: Partial<ConnectivityInput>): string[] {
  const result = analyzeConnectivity({ ...CLUSTER, ...input }, { mode: 'calico' });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.report.connections
    .filter((line) => line.dst === `${to}[Pod]` && !line.src.endsWith('[External]'))
    .map((line) => line.src.replace('[Pod]', ''));
}

/** A Calico NetworkPolicy in namespace a selecting its db, allowing ingress from `source`. */
const dbIngressFrom = (source: EntityRule) => ({
  object: calicoPolicy('db', { selector: "app == 'db'", ingress: [{ action: 'Allow', source }] }),
  namespace: 'a',
});

describe('a namespaced policy next to the rest of the cluster', () => {
  it("applies to its own namespace's endpoints only", () => {
    const input = { calicoNetworkPolicies: [dbIngressFrom({ selector: "app == 'nothing'" })] };
    expect(sourcesOf('a/db', input)).toEqual([]);
    expect(sourcesOf('b/db', input)).toEqual(['a/db', 'a/web', 'b/web']);
  });

  it('a rule selector matches in the namespace; a namespaceSelector alone, with a selector, all() and global() as Calico documents', () => {
    expect(
      sourcesOf('a/db', { calicoNetworkPolicies: [dbIngressFrom({ selector: "app == 'web'" })] }),
    ).toEqual(['a/web']);
    expect(
      sourcesOf('a/db', { calicoNetworkPolicies: [dbIngressFrom({ namespaceSelector: "env == 'prod'" })] }),
    ).toEqual(['b/db', 'b/web']);
    expect(
      sourcesOf('a/db', {
        calicoNetworkPolicies: [
          dbIngressFrom({ namespaceSelector: "env == 'prod'", selector: "app == 'web'" }),
        ],
      }),
    ).toEqual(['b/web']);
    expect(
      sourcesOf('a/db', {
        calicoNetworkPolicies: [dbIngressFrom({ namespaceSelector: 'all()', selector: "app == 'web'" })],
      }),
    ).toEqual(['a/web', 'b/web']);
    expect(
      sourcesOf('a/db', { calicoNetworkPolicies: [dbIngressFrom({ namespaceSelector: 'global()' })] }),
    ).toEqual([]);
  });

  it('a serviceAccounts rule matches the accounts of its own namespace; serviceAccountSelector narrows what the policy selects', () => {
    expect(
      sourcesOf('a/db', {
        calicoNetworkPolicies: [dbIngressFrom({ serviceAccounts: { names: ['builder'] } })],
      }),
    ).toEqual(['a/web']);
    const onlyBuilder = {
      object: calicoPolicy('deny-builder', {
        selector: 'all()',
        serviceAccountSelector: "projectcalico.org/name == 'builder'",
        types: ['Ingress'],
      }),
      namespace: 'a',
    };
    expect(sourcesOf('a/web', { calicoNetworkPolicies: [onlyBuilder] })).toEqual([]);
    expect(sourcesOf('a/db', { calicoNetworkPolicies: [onlyBuilder] })).toEqual(['a/web', 'b/db', 'b/web']);
  });

  it('shares tiers and orders with GNPs: a namespaced Deny at a lower order beats a GNP Allow, and loses at a higher one', () => {
    const allowAll = gnp('allow-all', { order: 100, selector: 'all()', ingress: [{ action: 'Allow' }] });
    const denyWeb = (order: number | undefined) => ({
      object: calicoPolicy('deny-web', {
        ...(order === undefined ? {} : { order }),
        selector: "app == 'db'",
        ingress: [{ action: 'Deny', source: { selector: "app == 'web'" } }],
      }),
      namespace: 'a',
    });
    const input = (order: number | undefined) => ({
      globalNetworkPolicies: [{ object: allowAll }],
      calicoNetworkPolicies: [denyWeb(order)],
    });
    expect(sourcesOf('a/db', input(10))).toEqual(['b/db', 'b/web']);
    expect(sourcesOf('a/db', input(1000))).toEqual(['a/web', 'b/db', 'b/web']);
    // Equal orders: Felix's PolicySorter breaks the tie by the backend key's name, `a/deny-web` for this policy.
    const tied = (gnpName: string) => ({
      globalNetworkPolicies: [{ object: { ...allowAll, metadata: { name: gnpName } } }],
      calicoNetworkPolicies: [denyWeb(100)],
    });
    expect(sourcesOf('a/db', tied('allow-all'))).toEqual(['b/db', 'b/web']);
    expect(sourcesOf('a/db', tied('a-allow-all'))).toEqual(['a/web', 'b/db', 'b/web']);
    // No order: after every policy with one, as for GNPs.
    expect(sourcesOf('a/db', input(undefined))).toEqual(['a/web', 'b/db', 'b/web']);
    // A tier of its own that runs first decides before the default tier's GNP.
    expect(
      sourcesOf('a/db', {
        ...input(1000),
        calicoNetworkPolicies: [
          {
            ...denyWeb(1000),
            object: { ...denyWeb(1000).object, spec: { ...denyWeb(1000).object.spec, tier: 'first' } },
          },
        ],
        tiers: [{ name: 'first', order: 1, defaultAction: 'Pass' }],
      }),
    ).toEqual(['b/db', 'b/web']);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Property: the same connections as the GNP written out by hand

const IN_NS_A = "projectcalico.org/namespace == 'ns-a'";

/** Namespaced policies in ns-a and the GNPs that say the same with explicit namespace terms. */
const EQUIVALENTS: readonly {
  name: string;
  namespaced: NetworkPolicySpec;
  global: GlobalNetworkPolicySpec;
}[] = [
  {
    name: 'rule selector',
    namespaced: {
      selector: "app == 'a'",
      ingress: [{ action: 'Allow', source: { selector: "tier == 'b'" } }],
    },
    global: {
      selector: `app == 'a' && ${IN_NS_A}`,
      ingress: [{ action: 'Allow', source: { selector: `${IN_NS_A} && tier == 'b'` } }],
    },
  },
  {
    name: 'namespaceSelector and selector, egress',
    namespaced: {
      selector: 'has(env)',
      egress: [
        { action: 'Deny', destination: { namespaceSelector: "usage == 'a'", selector: "app == 'b'" } },
        { action: 'Allow', destination: { namespaceSelector: "team != 'b'" } },
      ],
    },
    global: {
      selector: `${IN_NS_A} && has(env)`,
      egress: [
        { action: 'Deny', destination: { namespaceSelector: "usage == 'a'", selector: "app == 'b'" } },
        { action: 'Allow', destination: { namespaceSelector: "team != 'b'" } },
      ],
    },
  },
  {
    name: 'notSelector, serviceAccounts and global()',
    namespaced: {
      selector: 'all()',
      types: ['Ingress'],
      ingress: [
        { action: 'Deny', source: { notSelector: "app == 'a'" } },
        { action: 'Allow', source: { serviceAccounts: { names: ['builder'] } } },
        { action: 'Allow', source: { namespaceSelector: 'global()' } },
      ],
    },
    global: {
      selector: IN_NS_A,
      types: ['Ingress'],
      ingress: [
        { action: 'Deny', source: { selector: IN_NS_A, notSelector: "app == 'a'" } },
        { action: 'Allow', source: { selector: IN_NS_A, serviceAccounts: { names: ['builder'] } } },
        { action: 'Allow', source: { selector: '!has(projectcalico.org/namespace)' } },
      ],
    },
  },
  {
    name: 'serviceAccountSelector, ports and all()',
    namespaced: {
      selector: "env == 'a'",
      serviceAccountSelector: "projectcalico.org/name == 'default'",
      ingress: [
        { action: 'Allow', protocol: 'TCP', destination: { ports: [80, 'http'] } },
        { action: 'Allow', source: { namespaceSelector: 'all()', selector: "tier in {'a', 'b'}" } },
      ],
    },
    global: {
      selector: `${IN_NS_A} && env == 'a' && pcsa.projectcalico.org/name == 'default'`,
      ingress: [
        { action: 'Allow', protocol: 'TCP', destination: { ports: [80, 'http'] } },
        { action: 'Allow', source: { selector: "has(projectcalico.org/namespace) && tier in {'a', 'b'}" } },
      ],
    },
  },
];

describe('property: a namespaced policy evaluates exactly as its hand-written GNP', () => {
  it.each(EQUIVALENTS)('$name', ({ namespaced, global }) => {
    const scenario = namespacesArbitrary.chain((namespaces) =>
      podsArbitrary(namespaces).map((pods) => ({ namespaces, pods, policies: [] })),
    );
    fc.assert(
      fc.property(scenario, (cluster) => {
        const base = scenarioConnectivityInput(cluster);
        const listing = (input: ConnectivityInput) => {
          const result = analyzeConnectivity(input, { mode: 'calico' });
          if (!result.ok) throw new Error(JSON.stringify(result.problems));
          return result.report.connections;
        };
        const object: CalicoNetworkPolicy = {
          ...calicoPolicy('p', namespaced),
          metadata: { name: 'p', namespace: 'ns-a' },
        };
        expect(listing({ ...base, calicoNetworkPolicies: [{ object, namespace: 'ns-a' }] })).toEqual(
          listing({ ...base, globalNetworkPolicies: [{ object: gnp('p', global) }] }),
        );
      }),
      { numRuns: 60 },
    );
  });
});
