import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { formatPath } from '../api/errors.js';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { CalicoRule, GlobalNetworkPolicy, GlobalNetworkPolicySpec } from '../calico/types.js';
import fc from 'fast-check';
import type { EntityRule } from '../calico/types.js';
import {
  calicoDirectionAllowed,
  calicoPolicySet,
  calicoRuleMayMatch,
  calicoVerdict,
  compileCalicoPolicy,
  type CalicoPolicyOptions,
  type CalicoTier,
  type CalicoVerdict,
  type CompiledCalicoPolicy,
} from './calico-eval.js';
import {
  clusterModel,
  namespaceModel,
  podModel,
  resolveConnection,
  type Connection,
  type ConnectionProtocol,
  type PeerRef,
} from './model.js';

const cluster = clusterModel(
  [namespaceModel('shop', { team: 'web' }), namespaceModel('ops', { team: 'ops' })],
  [
    podModel({
      namespace: 'shop',
      name: 'web',
      labels: { app: 'web' },
      namedPorts: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      ips: ['10.0.0.10', 'fd00::10'],
      serviceAccountName: 'web-sa',
    }),
    podModel({ namespace: 'shop', name: 'client', labels: { app: 'client' }, ips: ['10.0.0.11'] }),
    podModel({ namespace: 'ops', name: 'monitor', labels: { app: 'client' }, ips: ['10.0.1.10'] }),
    // Carries a label that shadows the inherited namespace label `pcns.team` (see the impersonation test).
    podModel({ namespace: 'ops', name: 'impostor', labels: { 'pcns.team': 'web' }, ips: ['10.0.1.11'] }),
  ],
);

const pod = (ref: string): PeerRef => {
  const [namespace, name] = ref.split('/') as [string, string];
  return { kind: 'pod', namespace, name };
};
const ip = (address: string): PeerRef => ({ kind: 'external', ip: address });

function gnp(name: string, spec: GlobalNetworkPolicySpec): GlobalNetworkPolicy {
  return { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name }, spec };
}

function compile(policy: GlobalNetworkPolicy, options?: CalicoPolicyOptions): CompiledCalicoPolicy {
  const compiled = compileCalicoPolicy(policy, options);
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.errors));
  return compiled.value;
}

function verdict(
  policies: GlobalNetworkPolicy[],
  src: PeerRef,
  dst: PeerRef,
  service: { protocol?: ConnectionProtocol; port?: number | null } & Partial<Connection> = {},
  tiers: CalicoTier[] = [],
): CalicoVerdict {
  const { protocol = 'TCP', port = 80, ...rest } = service;
  const resolved = resolveConnection(cluster, {
    src,
    dst,
    protocol,
    ...(port === null ? {} : { port }),
    ...rest,
  });
  if (!resolved.ok) throw new Error(JSON.stringify(resolved.errors));
  return calicoVerdict(
    calicoPolicySet(
      policies.map((policy) => compile(policy)),
      tiers,
    ),
    resolved.value,
  );
}

/** A policy selecting shop/web for ingress with the given rules. */
const webIngress = (
  name: string,
  ingress: CalicoRule[],
  extra: GlobalNetworkPolicySpec = {},
): GlobalNetworkPolicy => gnp(name, { selector: "app == 'web'", types: ['Ingress'], ingress, ...extra });

const ingressInto = (policies: GlobalNetworkPolicy[], src: PeerRef, service = {}, tiers: CalicoTier[] = []) =>
  verdict(policies, src, pod('shop/web'), service, tiers).ingress;

describe('calicoVerdict: tiers, order and actions', () => {
  it('allows when no policy selects the endpoint (the namespace profile allows)', () => {
    expect(ingressInto([], pod('shop/client'))).toMatchObject({
      allowed: true,
      outcome: 'no-policy-selects',
      tiers: [],
    });
  });

  it('applies the end-of-tier deny to an endpoint the tier selects', () => {
    const result = ingressInto(
      [webIngress('nothing-matches', [{ action: 'Allow', protocol: 'UDP' }])],
      pod('shop/client'),
    );
    expect(result).toMatchObject({ allowed: false, outcome: 'end-of-tier-deny' });
    expect(result.tiers).toEqual([expect.objectContaining({ tier: 'default', result: 'end-of-tier-deny' })]);
  });

  it('first matching Allow or Deny wins, in order, ties by name, missing order last', () => {
    const deny = webIngress('b-deny', [{ action: 'Deny' }], { order: 100 });
    const allow = webIngress('a-allow', [{ action: 'Allow' }], { order: 100 });
    const earlyDeny = webIngress('z-deny', [{ action: 'Deny' }], { order: 50 });
    const unordered = webIngress('0-allow', [{ action: 'Allow' }]);
    expect(ingressInto([deny, allow], pod('shop/client'))).toMatchObject({
      allowed: true,
      outcome: 'allowed-by-rule',
    });
    expect(ingressInto([deny, allow, earlyDeny], pod('shop/client'))).toMatchObject({
      allowed: false,
      outcome: 'denied-by-rule',
    });
    const result = ingressInto([unordered, deny], pod('shop/client'));
    expect(result).toMatchObject({ allowed: false, outcome: 'denied-by-rule' });
    expect(result.selectedBy.map((ref) => ref.name)).toEqual(['b-deny', '0-allow']);
  });

  it('Log does not decide; the next rule does', () => {
    const result = ingressInto(
      [webIngress('log', [{ action: 'Log' }, { action: 'Deny' }])],
      pod('shop/client'),
    );
    expect(result.outcome).toBe('denied-by-rule');
    expect(result.rules.map((rule) => rule.action)).toEqual(['Log', 'Deny']);
  });

  it('Pass leaves the tier; the next tier or the profile decides', () => {
    const pass = gnp('security.pass', {
      tier: 'security',
      order: 1,
      selector: 'all()',
      types: ['Ingress'],
      ingress: [{ action: 'Pass' }],
    });
    const tiers: CalicoTier[] = [{ name: 'security', order: 100 }];
    expect(ingressInto([pass], pod('shop/client'), {}, tiers)).toMatchObject({
      allowed: true,
      outcome: 'passed-to-profile',
    });
    const deny = webIngress('deny', [{ action: 'Deny' }]);
    const result = ingressInto([pass, deny], pod('shop/client'), {}, tiers);
    expect(result).toMatchObject({ allowed: false, outcome: 'denied-by-rule' });
    expect(result.tiers.map((tier) => [tier.tier, tier.result])).toEqual([
      ['security', 'pass'],
      ['default', 'deny'],
    ]);
  });

  it('runs tiers by order; a tier with defaultAction Pass does not deny', () => {
    const allowInDefault = webIngress('allow', [{ action: 'Allow' }]);
    const securityNoMatch = gnp('guard', {
      tier: 'security',
      selector: 'all()',
      types: ['Ingress'],
      ingress: [{ action: 'Allow', protocol: 'UDP' }],
    });
    expect(
      ingressInto([allowInDefault, securityNoMatch], pod('shop/client'), {}, [
        { name: 'security', order: 10 },
      ]).outcome,
    ).toBe('end-of-tier-deny');
    expect(
      ingressInto([allowInDefault, securityNoMatch], pod('shop/client'), {}, [
        { name: 'security', order: 10, defaultAction: 'Pass' },
      ]).outcome,
    ).toBe('allowed-by-rule');
    // Ordered after the default tier (1,000,000), the security tier is never reached.
    expect(
      ingressInto([allowInDefault, securityNoMatch], pod('shop/client'), {}, [
        { name: 'security', order: 2_000_000 },
      ]).outcome,
    ).toBe('allowed-by-rule');
  });

  it('takes the tier from the name prefix when spec.tier is missing (crd.projectcalico.org/v1 objects)', () => {
    expect(compile(gnp('security.x', {})).tier).toBe('security');
    expect(compile(gnp('plain', {})).tier).toBe('default');
  });

  it('skips host-endpoint-only policies (doNotTrack, preDNAT) for pods', () => {
    const preDnat = webIngress('pre', [{ action: 'Deny' }], { preDNAT: true, applyOnForward: true });
    expect(ingressInto([preDnat], pod('shop/client')).outcome).toBe('no-policy-selects');
  });

  it('defaults missing types as the v3 API does, or as Felix reads v1 objects', () => {
    const egressOnly = gnp('e', { egress: [{ action: 'Deny' }] });
    expect(compile(egressOnly).types).toEqual(['Egress']);
    expect(compile(gnp('n', {})).types).toEqual(['Ingress']);
    expect(compile(gnp('b', { ingress: [], egress: [{ action: 'Deny' }] })).types).toEqual(['Egress']);
    expect(compile(gnp('b', { ingress: [{ action: 'Allow' }], egress: [{ action: 'Deny' }] })).types).toEqual(
      ['Ingress', 'Egress'],
    );
    expect(compile(gnp('n', {}), { missingTypes: 'crd-v1' }).types).toEqual(['Ingress', 'Egress']);
  });
});

describe('calicoVerdict: rule matching', () => {
  const allowOnly = (rule: Omit<CalicoRule, 'action'>): GlobalNetworkPolicy =>
    webIngress('only', [{ action: 'Allow', ...rule }]);
  const allows = (rule: Omit<CalicoRule, 'action'>, src: PeerRef, service = {}): boolean =>
    ingressInto([allowOnly(rule)], src, service).allowed;

  it('protocol by name in any case or by number; notProtocol', () => {
    expect(allows({ protocol: 'tcp' as never }, pod('shop/client'))).toBe(true);
    expect(allows({ protocol: 6 }, pod('shop/client'))).toBe(true);
    expect(allows({ protocol: 'UDP' }, pod('shop/client'))).toBe(false);
    expect(allows({ notProtocol: 'TCP' }, pod('shop/client'))).toBe(false);
    expect(allows({ notProtocol: 'TCP' }, pod('shop/client'), { protocol: 'ICMP', port: null })).toBe(true);
  });

  it('ipVersion', () => {
    expect(allows({ ipVersion: 6 }, ip('2001:db8::1'))).toBe(true);
    expect(allows({ ipVersion: 6 }, ip('192.0.2.1'))).toBe(false);
  });

  it('nets (bare addresses too) and notNets', () => {
    expect(allows({ source: { nets: ['10.0.0.11'] } }, pod('shop/client'))).toBe(true);
    expect(allows({ source: { nets: ['10.0.0.0/24'], notNets: ['10.0.0.8/29'] } }, pod('shop/client'))).toBe(
      false,
    );
    expect(allows({ source: { notNets: ['10.0.0.0/8'] } }, ip('203.0.113.9'))).toBe(true);
    expect(allows({ source: { nets: ['10.0.0.0/8'] } }, ip('2001:db8::1'))).toBe(false);
  });

  it('selector and notSelector match workload endpoints, never external addresses', () => {
    expect(allows({ source: { selector: "app == 'client'" } }, pod('ops/monitor'))).toBe(true);
    expect(allows({ source: { selector: 'all()' } }, ip('10.0.0.11'))).toBe(false);
    expect(allows({ source: { notSelector: "app == 'client'" } }, pod('shop/client'))).toBe(false);
    expect(allows({ source: { notSelector: "app == 'client'" } }, ip('10.0.0.11'))).toBe(true);
  });

  it('selectors see Calico labels: namespace, orchestrator, service account, pcns.* inherited', () => {
    expect(
      allows(
        { source: { selector: "projectcalico.org/namespace == 'ops' && pcns.team == 'ops'" } },
        pod('ops/monitor'),
      ),
    ).toBe(true);
    const fromWeb = verdict(
      [
        gnp('sa', {
          selector: "projectcalico.org/serviceaccount == 'web-sa' && pcsa.projectcalico.org/name == 'web-sa'",
          types: ['Egress'],
          egress: [{ action: 'Deny' }],
        }),
      ],
      pod('shop/web'),
      pod('shop/client'),
    );
    expect(fromWeb.egress.outcome).toBe('denied-by-rule');
  });

  it('namespaceSelector: pcns.-prefixed, all() = any namespace, global() = none; ANDed with the selector', () => {
    expect(allows({ source: { namespaceSelector: "team == 'ops'" } }, pod('ops/monitor'))).toBe(true);
    expect(allows({ source: { namespaceSelector: "team == 'ops'" } }, pod('shop/client'))).toBe(false);
    expect(
      allows({ source: { namespaceSelector: "projectcalico.org/name == 'shop'" } }, pod('shop/client')),
    ).toBe(true);
    expect(allows({ source: { namespaceSelector: 'all()' } }, pod('shop/client'))).toBe(true);
    expect(allows({ source: { namespaceSelector: 'all()' } }, ip('10.0.0.11'))).toBe(false);
    expect(allows({ source: { namespaceSelector: 'global()' } }, pod('shop/client'))).toBe(false);
    expect(
      allows(
        { source: { namespaceSelector: "team == 'ops'", selector: "app == 'nobody'" } },
        pod('ops/monitor'),
      ),
    ).toBe(false);
  });

  it("a policy's own namespaceSelector scopes it", () => {
    const scoped = gnp('scoped', {
      namespaceSelector: "team == 'ops'",
      types: ['Egress'],
      egress: [{ action: 'Deny' }],
    });
    expect(verdict([scoped], pod('ops/monitor'), pod('shop/web')).egress.outcome).toBe('denied-by-rule');
    expect(verdict([scoped], pod('shop/client'), pod('shop/web')).egress.outcome).toBe('no-policy-selects');
  });

  it('reproduces Calico: a pod label pcns.<key> shadows its namespace label (Kubernetes would not match)', () => {
    expect(allows({ source: { namespaceSelector: "team == 'web'" } }, pod('ops/impostor'))).toBe(true);
  });

  it('serviceAccounts.names', () => {
    const deny = gnp('d', {
      selector: "app == 'client'",
      types: ['Ingress'],
      ingress: [{ action: 'Deny', source: { serviceAccounts: { names: ['web-sa'] } } }],
    });
    expect(verdict([deny], pod('shop/web'), pod('shop/client')).ingress.outcome).toBe('denied-by-rule');
  });

  it('ports: numbers, ranges, named ports on the destination, notPorts', () => {
    expect(allows({ protocol: 'TCP', destination: { ports: [80] } }, pod('shop/client'))).toBe(true);
    expect(allows({ protocol: 'TCP', destination: { ports: ['70:79', 81] } }, pod('shop/client'))).toBe(
      false,
    );
    expect(
      allows({ protocol: 'TCP', destination: { ports: ['http'] } }, pod('shop/client'), { port: 8080 }),
    ).toBe(true);
    expect(
      allows({ protocol: 'TCP', destination: { ports: ['http'] } }, pod('shop/client'), { port: 80 }),
    ).toBe(false);
    expect(
      allows({ protocol: 'UDP', destination: { ports: ['http'] } }, pod('shop/client'), {
        protocol: 'UDP',
        port: 8080,
      }),
    ).toBe(false);
    expect(allows({ protocol: 'TCP', destination: { notPorts: ['1:1024'] } }, pod('shop/client'))).toBe(
      false,
    );
  });

  it('source ports are unknown unless the connection gives one', () => {
    expect(allows({ protocol: 'TCP', source: { ports: [5000] } }, pod('shop/client'))).toBe(false);
    expect(
      allows({ protocol: 'TCP', source: { ports: [5000] } }, pod('shop/client'), { srcPort: 5000 }),
    ).toBe(true);
    expect(allows({ protocol: 'TCP', source: { notPorts: [5000] } }, pod('shop/client'))).toBe(true);
  });

  it('explains a non-matching rule field by field', () => {
    const result = ingressInto(
      [allowOnly({ protocol: 'UDP', source: { nets: ['192.0.2.0/24'] } })],
      pod('shop/client'),
    );
    expect(result.rules[0]?.mismatches).toEqual([
      { field: 'protocol', message: 'protocol UDP, not TCP' },
      { field: 'source.nets', message: '10.0.0.11 is not in 192.0.2.0/24' },
    ]);
  });
});

describe('calicoDirectionAllowed', () => {
  // Random GNPs in two tiers, with every action and every kind of match, against random connections of the cluster.
  const selectorText = fc.constantFrom(
    'all()',
    "app == 'web'",
    "app == 'client'",
    'has(app)',
    "projectcalico.org/namespace == 'ops'",
    "app in {'web', 'client'} && !has(pcns.team)",
  );
  const portMatch = fc.constantFrom<number | string>(80, 443, 8080, '8000:8100', '1:1024', 'http');
  /** A record with only some of `full`'s fields (at most `most`): rules that constrain everything never match. */
  const some = <T extends object>(full: fc.Arbitrary<T>, most: number): fc.Arbitrary<Partial<T>> =>
    full.chain((value) =>
      fc
        .subarray(Object.keys(value) as (keyof T)[], { maxLength: most })
        .map((keys) => Object.fromEntries(keys.map((key) => [key, value[key]])) as Partial<T>),
    );
  const entity: fc.Arbitrary<EntityRule> = some(
    fc.record({
      nets: fc.constantFrom(['10.0.0.0/24'], ['10.0.1.0/24', '203.0.113.0/24'], ['0.0.0.0/0']),
      notNets: fc.constantFrom(['10.0.0.11/32'], ['10.0.1.0/25']),
      selector: selectorText,
      notSelector: selectorText,
      namespaceSelector: fc.constantFrom("team == 'web'", 'all()', 'global()'),
      ports: fc.array(portMatch, { minLength: 1, maxLength: 2 }),
      notPorts: fc.array(portMatch, { minLength: 1, maxLength: 2 }),
    }),
    2,
  );
  const rule: fc.Arbitrary<CalicoRule> = fc
    .tuple(
      fc.constantFrom<CalicoRule['action']>('Allow', 'Deny', 'Pass', 'Log'),
      some(
        fc.record({
          protocol: fc.constantFrom<CalicoRule['protocol']>('TCP', 'UDP', 'SCTP', 'ICMP', 6),
          notProtocol: fc.constantFrom<CalicoRule['protocol']>('UDP', 'TCP'),
          ipVersion: fc.constantFrom<4 | 6>(4, 6),
          icmp: fc.constantFrom({ type: 8 }, {}),
        }),
        1,
      ),
      entity,
      entity,
    )
    // Calico takes ports only with a protocol that has them: those rules get TCP.
    .map(([action, fields, source, destination]) => {
      const ported = [source, destination].some((e) => e.ports || e.notPorts);
      return { action, ...fields, ...(ported ? { protocol: 'TCP' } : {}), source, destination };
    });
  const policies = fc.array(
    fc.record({
      tier: fc.constantFrom('default', 'security'),
      order: fc.option(fc.constantFrom(10, 20), { nil: undefined }),
      selector: selectorText,
      types: fc.constantFrom<('Ingress' | 'Egress')[]>(['Ingress'], ['Egress'], ['Ingress', 'Egress']),
      doNotTrack: fc.boolean(),
      ingress: fc.array(rule, { maxLength: 3 }),
      egress: fc.array(rule, { maxLength: 3 }),
    }),
    { maxLength: 5 },
  );
  const refs: PeerRef[] = [...cluster.pods.map((p) => pod(`${p.namespace}/${p.name}`)), ip('203.0.113.7')];
  const connection = fc.record({
    src: fc.constantFrom(...refs),
    dst: fc.constantFrom(...refs),
    protocol: fc.constantFrom<ConnectionProtocol>('TCP', 'UDP', 'SCTP'),
    port: fc.constantFrom(80, 443, 8080, 8050, 5000),
  });

  it('decides every direction as the explaining verdict does, also skipping the rules the endpoints rule out, on random policies, tiers and connections', () => {
    const outcomes = new Set<string>();
    let skipped = 0;
    fc.assert(
      fc.property(
        policies,
        fc.constantFrom<'Deny' | 'Pass'>('Deny', 'Pass'),
        fc.array(connection, { minLength: 1, maxLength: 10 }),
        (drafts, securityDefault, connections) => {
          const compiled = drafts.flatMap((draft, index) => {
            const { tier, doNotTrack, ...spec } = draft;
            const result = compileCalicoPolicy(
              gnp(`${tier}.p-${index}`, { ...spec, tier, ...(doNotTrack ? { doNotTrack } : {}) }),
            );
            return result.ok ? [result.value] : [];
          });
          const set = calicoPolicySet(compiled, [
            { name: 'security', order: 100, defaultAction: securityDefault },
          ]);
          for (const wanted of connections) {
            if (wanted.src === wanted.dst) continue;
            const resolved = resolveConnection(cluster, wanted);
            if (!resolved.ok) continue;
            const explained = calicoVerdict(set, resolved.value);
            // The rules that may match these endpoints, judged as the listing does: at another protocol and port.
            const elsewhere = { ...resolved.value, protocol: 'UDP' as const, port: 1 };
            const mayMatch = new Set(
              compiled
                .flatMap((policy) => [...policy.ingress, ...policy.egress])
                .filter((rule) => calicoRuleMayMatch(rule, elsewhere)),
            );
            for (const direction of ['Ingress', 'Egress'] as const) {
              const verdict = direction === 'Ingress' ? explained.ingress : explained.egress;
              outcomes.add(verdict.outcome);
              expect(calicoDirectionAllowed(set, resolved.value, direction)).toBe(verdict.allowed);
              expect(calicoDirectionAllowed(set, resolved.value, direction, mayMatch)).toBe(verdict.allowed);
            }
            skipped +=
              compiled.flatMap((policy) => [...policy.ingress, ...policy.egress]).length - mayMatch.size;
          }
        },
      ),
      { numRuns: 300 },
    );
    // Rules were left out of walks (the endpoints rule them out), and every way a direction can end occurs.
    expect(skipped).toBeGreaterThan(100);
    expect([...outcomes].sort()).toEqual([
      'allowed-by-rule',
      'denied-by-rule',
      'end-of-tier-deny',
      'no-policy-selects',
      'not-applicable',
      'passed-to-profile',
    ]);
  });
});

describe('compileCalicoPolicy', () => {
  it('reports every invalid field', () => {
    const result = compileCalicoPolicy(
      gnp('bad', {
        selector: "app = 'x'",
        types: ['Sideways' as never],
        ingress: [
          { action: 'Allow', destination: { ports: [80], nets: ['10.0.0.0/40'] } },
          { action: 'Maybe' as never, protocol: 'GRE' as never },
        ],
      }),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((error) => formatPath(error.path))).toEqual([
      'spec.selector',
      'spec.ingress[0].destination.nets[0]',
      'spec.ingress[0].destination.ports',
      'spec.ingress[1].protocol',
      'spec.ingress[1].action',
      'spec.types[0]',
    ]);
  });

  it('refuses the matches it does not model (HTTP, Services) instead of reading them as matching everyone', () => {
    const result = compileCalicoPolicy(
      webIngress('r', [
        { action: 'Allow', http: { methods: ['GET'] } },
        { action: 'Allow', source: { services: { name: 'api', namespace: 'shop' } } },
        { action: 'Allow', destination: { services: { name: 'db' } } },
      ]),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((error) => `${formatPath(error.path)}: ${error.message}`)).toEqual([
      'spec.ingress[0].http: HTTP matches (application layer policy) are not evaluated by this tool',
      "spec.ingress[1].source.services: Service matches are not evaluated by this tool (it does not read the Services' endpoints)",
      "spec.ingress[2].destination.services: Service matches are not evaluated by this tool (it does not read the Services' endpoints)",
    ]);
  });

  it('applies Calico’s CIDR family rules', () => {
    const pathsOf = (rule: CalicoRule): string[] => {
      const result = compileCalicoPolicy(webIngress('r', [rule]));
      return result.ok ? [] : result.errors.map((error) => formatPath(error.path));
    };
    expect(
      pathsOf({ action: 'Allow', source: { nets: ['10.0.0.0/8'] }, destination: { nets: ['fd00::/8'] } }),
    ).toEqual(['spec.ingress[0]']);
    expect(pathsOf({ action: 'Allow', ipVersion: 6, source: { nets: ['10.0.0.0/8'] } })).toEqual([
      'spec.ingress[0].source.nets',
    ]);
    expect(pathsOf({ action: 'Allow', source: { notNets: ['0.0.0.0/0'] } })).toEqual([
      'spec.ingress[0].source.notNets',
    ]);
    expect(
      pathsOf({ action: 'Allow', ipVersion: 4, source: { nets: ['10.0.0.0/8'], notNets: ['10.1.0.0/16'] } }),
    ).toEqual([]);
  });
});

// IBM's published policy samples (read-only reference data next to the project).
const IBM_SAMPLES = resolve(process.cwd(), '../shared/reference/ibm/kube-samples/calico-policies');
const describeWithSamples = existsSync(IBM_SAMPLES) ? describe : describe.skip;

describeWithSamples(
  "IBM's Calico policy samples (skipped when ../shared/reference is not checked out)",
  () => {
    const policies: GlobalNetworkPolicy[] = [];
    for (const folder of ['private-network-isolation/us-south', 'public-network-isolation/us-south']) {
      for (const file of readdirSync(join(IBM_SAMPLES, folder)).filter((name) => name.endsWith('.yaml'))) {
        for (const document of parseAllDocuments(readFileSync(join(IBM_SAMPLES, folder, file), 'utf8'))) {
          const object = document.toJS() as { kind?: string } | null;
          if (object?.kind === 'GlobalNetworkPolicy') policies.push(object as GlobalNetworkPolicy);
        }
      }
    }

    it('all compile', () => {
      expect(policies.length).toBeGreaterThan(15);
      for (const policy of policies) {
        const compiled = compileCalicoPolicy(policy);
        expect({ name: policy.metadata.name, errors: compiled.ok ? [] : compiled.errors }).toEqual({
          name: policy.metadata.name,
          errors: [],
        });
      }
    });

    it('pods may reach other pods and public addresses, not private networks on other ports', () => {
      const egressPods = policies.filter((policy) => policy.metadata.name === 'allow-egress-pods-private');
      expect(egressPods).toHaveLength(1);
      expect(verdict(policies, pod('shop/client'), pod('ops/monitor'), { port: 12345 }).egress.allowed).toBe(
        true,
      );
      expect(verdict(policies, pod('shop/client'), ip('8.8.8.8'), { port: 12345 }).egress.allowed).toBe(true);
      const privateDenied = verdict(policies, pod('shop/client'), ip('10.200.0.1'), { port: 12345 }).egress;
      expect(privateDenied).toMatchObject({ allowed: false, outcome: 'end-of-tier-deny' });
      expect(
        verdict(policies, pod('shop/client'), ip('10.200.0.1'), { protocol: 'UDP', port: 53 }).egress.allowed,
      ).toBe(true);
    });
  },
);
