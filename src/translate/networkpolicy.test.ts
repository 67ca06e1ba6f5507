import fc from 'fast-check';
import type { NetworkPolicy, NetworkPolicyPort, NetworkPolicySpec } from '../api/kube.js';
import { formatPath } from '../api/errors.js';
import type { CalicoRule, GlobalNetworkPolicy } from '../calico/types.js';
import { parseSelector } from '../selectors/calico.js';
import { compareCidrs, formatCidr, parseCidr, type Cidr } from '../util/cidr.js';
import { gnpNameForNetworkPolicy } from './names.js';
import {
  effectivePolicyTypes,
  translateNetworkPolicy,
  type NetworkPolicyTranslationOptions,
} from './networkpolicy.js';

const ORCH = "projectcalico.org/orchestrator == 'k8s'";
const IN_NS = (ns: string): string => `projectcalico.org/namespace == '${ns}'`;

function np(spec: NetworkPolicySpec, name = 'policy', namespace = 'shop'): NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}

function gnp(policy: NetworkPolicy, options?: NetworkPolicyTranslationOptions): GlobalNetworkPolicy {
  const result = translateNetworkPolicy(policy, options);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  // Everything we write must be a selector Calico parses.
  const selectors = [result.policy.spec.selector ?? ''];
  for (const rule of [...(result.policy.spec.ingress ?? []), ...(result.policy.spec.egress ?? [])]) {
    for (const entity of [rule.source, rule.destination]) {
      if (entity?.selector) selectors.push(entity.selector);
      if (entity?.namespaceSelector) selectors.push(entity.namespaceSelector);
    }
  }
  for (const selector of selectors) expect(() => parseSelector(selector)).not.toThrow();
  return result.policy;
}

const ingressOf = (spec: NetworkPolicySpec): CalicoRule[] | undefined => gnp(np(spec)).spec.ingress;
const egressOf = (spec: NetworkPolicySpec): CalicoRule[] | undefined => gnp(np(spec)).spec.egress;

function errorsOf(policy: NetworkPolicy): { path: string; message: string }[] {
  const result = translateNetworkPolicy(policy);
  if (result.ok) throw new Error('expected the translation to fail');
  return result.errors.map((error) => ({ path: formatPath(error.path), message: error.message }));
}

describe('translateNetworkPolicy: the policy', () => {
  it('writes metadata, labels, annotation, tier, order, selector and explicit types', () => {
    expect(
      gnp(np({ podSelector: { matchLabels: { app: 'web' } }, ingress: [{}] }, 'allow-web', 'shop')),
    ).toEqual({
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      metadata: {
        name: gnpNameForNetworkPolicy('shop', 'allow-web'),
        labels: {
          'app.kubernetes.io/managed-by': 'calico-vpc-operator',
          'calico-vpc.io/source': 'networkpolicy',
          'calico-vpc.io/networkpolicy-namespace': 'shop',
        },
        annotations: { 'calico-vpc.io/networkpolicy-name': 'allow-web' },
      },
      spec: {
        tier: 'default',
        order: 1000,
        selector: `${ORCH} && ${IN_NS('shop')} && app == 'web'`,
        types: ['Ingress'],
        ingress: [{ action: 'Allow' }],
      },
    });
  });

  it('takes order and tier from the options', () => {
    const policy = gnp(np({ podSelector: {} }), { order: 250, tier: 'netpol' });
    expect(policy.spec).toMatchObject({ tier: 'netpol', order: 250 });
    expect(policy.metadata.name).toBe(gnpNameForNetworkPolicy('shop', 'policy', 'netpol'));
  });

  it('an empty podSelector selects every pod of the namespace (and only pods)', () => {
    expect(gnp(np({ podSelector: {} })).spec.selector).toBe(`${ORCH} && ${IN_NS('shop')}`);
  });

  it.each([
    [{ podSelector: {} }, ['Ingress']],
    [{ podSelector: {}, egress: [] }, ['Ingress']],
    [{ podSelector: {}, egress: [{}] }, ['Ingress', 'Egress']],
    [{ podSelector: {}, policyTypes: ['Egress'] }, ['Egress']],
    [{ podSelector: {}, policyTypes: ['Egress', 'Ingress'] }, ['Ingress', 'Egress']],
  ] as [NetworkPolicySpec, string[]][])(
    'defaults policyTypes as the API server does: %j -> %j',
    (spec, types) => {
      expect(effectivePolicyTypes(spec)).toEqual(types);
      expect(gnp(np(spec)).spec.types).toEqual(types);
    },
  );

  it('ingress: [] with the Ingress type denies all ingress (no rules, type kept)', () => {
    const policy = gnp(np({ podSelector: {}, policyTypes: ['Ingress'], ingress: [] }));
    expect(policy.spec.types).toEqual(['Ingress']);
    expect(policy.spec.ingress).toBeUndefined();
  });

  it('ingress: [{}] allows all ingress', () => {
    expect(ingressOf({ podSelector: {}, ingress: [{}] })).toEqual([{ action: 'Allow' }]);
  });

  it('drops rules of a direction missing from policyTypes, with a warning', () => {
    const result = translateNetworkPolicy(np({ podSelector: {}, policyTypes: ['Ingress'], egress: [{}] }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.policy.spec.egress).toBeUndefined();
    expect(result.warnings).toEqual([
      expect.objectContaining({ path: ['spec', 'egress'], code: 'RulesIgnoredByPolicyTypes' }),
    ]);
  });

  it('is byte-identical for the same meaning', () => {
    const a = np({
      podSelector: { matchLabels: { b: '2', a: '1' } },
      ingress: [
        {
          ports: [{ port: 80 }, { port: 81 }, { protocol: 'UDP', port: 53 }],
          from: [{ namespaceSelector: { matchLabels: { y: '1', x: '2' } } }],
        },
      ],
    });
    const b = np({
      podSelector: { matchLabels: { a: '1', b: '2' } },
      ingress: [
        {
          ports: [{ protocol: 'UDP', port: 53 }, { port: 81 }, { protocol: 'TCP', port: 80 }],
          from: [{ namespaceSelector: { matchLabels: { x: '2', y: '1' } } }],
        },
      ],
    });
    expect(JSON.stringify(gnp(a))).toBe(JSON.stringify(gnp(b)));
  });
});

describe('translateNetworkPolicy: peers', () => {
  it('podSelector alone is scoped to the policy namespace (a GNP selector is cluster-wide)', () => {
    expect(
      ingressOf({
        podSelector: {},
        ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }] }],
      }),
    ).toEqual([{ action: 'Allow', source: { selector: `${ORCH} && ${IN_NS('shop')} && role == 'client'` } }]);
  });

  it('an empty podSelector alone means every pod of the policy namespace', () => {
    expect(ingressOf({ podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] })).toEqual([
      { action: 'Allow', source: { selector: `${ORCH} && ${IN_NS('shop')}` } },
    ]);
  });

  it('namespaceSelector alone: every pod of the selected namespaces', () => {
    expect(
      ingressOf({
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { usage: 'finance' } } }] }],
      }),
    ).toEqual([{ action: 'Allow', source: { selector: ORCH, namespaceSelector: "usage == 'finance'" } }]);
  });

  it('an empty namespaceSelector: every pod of every namespace, not host endpoints', () => {
    expect(ingressOf({ podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] })).toEqual([
      { action: 'Allow', source: { selector: ORCH, namespaceSelector: 'all()' } },
    ]);
  });

  it('podSelector and namespaceSelector in one peer are ANDed', () => {
    expect(
      egressOf({
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: [
              {
                namespaceSelector: {
                  matchExpressions: [{ key: 'team', operator: 'NotIn', values: ['ops'] }],
                },
                podSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] },
              },
            ],
          },
        ],
      }),
    ).toEqual([
      {
        action: 'Allow',
        destination: { selector: `${ORCH} && has(app)`, namespaceSelector: "team not in {'ops'}" },
      },
    ]);
  });

  it('ipBlock becomes nets and notNets, IPv4 and IPv6, canonical', () => {
    expect(
      ingressOf({
        podSelector: {},
        ingress: [
          {
            from: [
              { ipBlock: { cidr: '10.0.0.0/8', except: ['10.2.0.0/16', '10.1.0.0/16'] } },
              { ipBlock: { cidr: '2001:DB8::/32', except: ['2001:db8:0:0::/64'] } },
            ],
          },
        ],
      }),
    ).toEqual([
      { action: 'Allow', source: { nets: ['10.0.0.0/8'], notNets: ['10.1.0.0/16', '10.2.0.0/16'] } },
      { action: 'Allow', source: { nets: ['2001:db8::/32'], notNets: ['2001:db8::/64'] } },
    ]);
  });

  it('masks host bits like Kubernetes, with a warning', () => {
    const result = translateNetworkPolicy(
      np({ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.1.2.3/16' } }] }] }),
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.policy.spec.ingress).toEqual([{ action: 'Allow', source: { nets: ['10.1.0.0/16'] } }]);
    expect(result.warnings).toEqual([
      expect.objectContaining({
        path: ['spec', 'ingress', 0, 'from', 0, 'ipBlock', 'cidr'],
        code: 'IpBlockHostBitsSet',
      }),
    ]);
  });

  it('several peers are several rules (OR); no peers or from: [] mean any source', () => {
    expect(
      ingressOf({
        podSelector: {},
        ingress: [
          { from: [{ podSelector: {} }, { ipBlock: { cidr: '192.0.2.0/24' } }] },
          { from: [] },
          { ports: [{ port: 443 }] },
        ],
      }),
    ).toEqual([
      { action: 'Allow', source: { selector: `${ORCH} && ${IN_NS('shop')}` } },
      { action: 'Allow', source: { nets: ['192.0.2.0/24'] } },
      { action: 'Allow' },
      { action: 'Allow', protocol: 'TCP', destination: { ports: [443] } },
    ]);
  });
});

describe('translateNetworkPolicy: ports', () => {
  it('defaults the protocol to TCP and writes one rule per protocol and peer', () => {
    expect(
      egressOf({
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: [{ ipBlock: { cidr: '10.0.0.0/8' } }, { namespaceSelector: {} }],
            ports: [
              { port: 53, protocol: 'UDP' },
              { port: 53 },
              { port: 'dns-tcp' },
              { protocol: 'SCTP', port: 9000, endPort: 9010 },
            ],
          },
        ],
      }),
    ).toEqual([
      { action: 'Allow', protocol: 'SCTP', destination: { nets: ['10.0.0.0/8'], ports: ['9000:9010'] } },
      {
        action: 'Allow',
        protocol: 'SCTP',
        destination: { selector: ORCH, namespaceSelector: 'all()', ports: ['9000:9010'] },
      },
      { action: 'Allow', protocol: 'TCP', destination: { nets: ['10.0.0.0/8'], ports: [53, 'dns-tcp'] } },
      {
        action: 'Allow',
        protocol: 'TCP',
        destination: { selector: ORCH, namespaceSelector: 'all()', ports: [53, 'dns-tcp'] },
      },
      { action: 'Allow', protocol: 'UDP', destination: { nets: ['10.0.0.0/8'], ports: [53] } },
      {
        action: 'Allow',
        protocol: 'UDP',
        destination: { selector: ORCH, namespaceSelector: 'all()', ports: [53] },
      },
    ]);
  });

  it('merges overlapping and adjacent numeric ports into ranges', () => {
    expect(
      ingressOf({
        podSelector: {},
        ingress: [
          { ports: [{ port: 82 }, { port: 80, endPort: 81 }, { port: 90, endPort: 95 }, { port: 93 }] },
        ],
      }),
    ).toEqual([{ action: 'Allow', protocol: 'TCP', destination: { ports: ['80:82', '90:95'] } }]);
  });

  it('a protocol without a port means every port of that protocol', () => {
    expect(
      ingressOf({
        podSelector: {},
        ingress: [{ ports: [{ protocol: 'UDP' }, { protocol: 'UDP', port: 53 }, {}] }],
      }),
    ).toEqual([
      { action: 'Allow', protocol: 'TCP' },
      { action: 'Allow', protocol: 'UDP' },
    ]);
  });
});

describe('translateNetworkPolicy: errors name the field and nothing is written', () => {
  it('rejects selectors on labels Calico sets itself', () => {
    expect(
      errorsOf(
        np({
          podSelector: { matchLabels: { 'projectcalico.org/namespace': 'other' } },
          ingress: [
            {
              from: [
                {
                  podSelector: { matchExpressions: [{ key: 'pcns.usage', operator: 'Exists' }] },
                  namespaceSelector: { matchLabels: { 'projectcalico.org/name': 'x' } },
                },
              ],
            },
          ],
        }),
      ).map((error) => error.path),
    ).toEqual([
      'spec.podSelector.matchLabels[projectcalico.org/namespace]',
      'spec.ingress[0].from[0].podSelector.matchExpressions[0].key',
      'spec.ingress[0].from[0].namespaceSelector.matchLabels[projectcalico.org/name]',
    ]);
  });

  it.each([
    [{ from: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }, 'spec.ingress[0].from[0].ipBlock.cidr'],
    [
      { from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] } }] },
      'spec.ingress[0].from[0].ipBlock.except[0]',
    ],
    [
      { from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.0.0/16'] } }] },
      'spec.ingress[0].from[0].ipBlock.except[0]',
    ],
    [{ from: [{ ipBlock: { cidr: '10.0.0.0/16' }, podSelector: {} }] }, 'spec.ingress[0].from[0]'],
    [{ from: [{}] }, 'spec.ingress[0].from[0]'],
    [{ ports: [{ port: 'http', endPort: 90 }] }, 'spec.ingress[0].ports[0].endPort'],
    [{ ports: [{ port: 90, endPort: 80 }] }, 'spec.ingress[0].ports[0].endPort'],
    [{ ports: [{ endPort: 80 }] }, 'spec.ingress[0].ports[0].endPort'],
    [{ ports: [{ port: 0 }] }, 'spec.ingress[0].ports[0].port'],
    [{ ports: [{ port: '8080' }] }, 'spec.ingress[0].ports[0].port'],
    [{ ports: [{ port: 'Not_A_Name' }] }, 'spec.ingress[0].ports[0].port'],
    [{ ports: [{ protocol: 'ICMP', port: 1 }] }, 'spec.ingress[0].ports[0].protocol'],
    [
      { from: [{ podSelector: { matchLabels: { app: `a'b"c` } } }] },
      'spec.ingress[0].from[0].podSelector.matchLabels.app',
    ],
  ] as [object, string][])('rule %j -> error at %s', (rule, path) => {
    expect(
      errorsOf(
        np({ podSelector: {}, ingress: [rule as NonNullable<NetworkPolicySpec['ingress']>[number]] }),
      ).map((error) => error.path),
    ).toContain(path);
  });

  it('requires a namespace and valid names', () => {
    expect(errorsOf({ metadata: { name: 'x' }, spec: { podSelector: {} } }).map((e) => e.path)).toEqual([
      'metadata.namespace',
    ]);
    expect(
      errorsOf({ metadata: { name: 'Bad_Name', namespace: 'ns' }, spec: { podSelector: {} } }).map(
        (e) => e.path,
      ),
    ).toEqual(['metadata.name']);
    expect(
      errorsOf({ metadata: { name: 'x' }, spec: { podSelector: {}, ingress: [{ from: [{}] }] } }).map(
        (e) => e.path,
      ),
    ).toEqual(['metadata.namespace', 'spec.ingress[0].from[0]']);
  });

  it('reports every error, not only the first', () => {
    expect(
      errorsOf(
        np({
          podSelector: {},
          ingress: [{ ports: [{ port: 0 }, { protocol: 'ICMP' as never }] }, { from: [{}] }],
        }),
      ).map((e) => e.path),
    ).toEqual([
      'spec.ingress[0].ports[0].port',
      'spec.ingress[0].ports[1].protocol',
      'spec.ingress[1].from[0]',
    ]);
  });
});

describe("the seed's three policies, as the user meant them", () => {
  // Read as intended: `Tier` -> `tier`, `NamespaceSelector` -> `namespaceSelector`, `ports` as a list,
  // `metadata.Namespace` -> `metadata.namespace`; the first two live in the accounts namespace too.
  const backendAllow = np(
    {
      podSelector: { matchLabels: { app: 'Srv1', tier: 'backend' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'Srv1', tier: 'frontend' } } }] }],
    },
    'backend-allow',
    'accounts',
  );
  const dbAllow = np(
    {
      podSelector: { matchLabels: { app: 'Srv1', tier: 'db' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'Srv1', tier: 'backend' } } }] }],
    },
    'db-allow',
    'accounts',
  );
  const accountsAllow = np(
    {
      podSelector: { matchLabels: { app: 'Srv1', tier: 'backend' } },
      ingress: [
        { from: [{ namespaceSelector: { matchLabels: { usage: 'finance' } } }], ports: [{ port: 3111 }] },
      ],
    },
    'accounts-allow',
    'accounts',
  );

  it('backend-allow', () => {
    expect(gnp(backendAllow).spec).toEqual({
      tier: 'default',
      order: 1000,
      selector: `${ORCH} && ${IN_NS('accounts')} && app == 'Srv1' && tier == 'backend'`,
      types: ['Ingress'],
      ingress: [
        {
          action: 'Allow',
          source: { selector: `${ORCH} && ${IN_NS('accounts')} && app == 'Srv1' && tier == 'frontend'` },
        },
      ],
    });
  });

  it('db-allow', () => {
    expect(gnp(dbAllow).spec.ingress).toEqual([
      {
        action: 'Allow',
        source: { selector: `${ORCH} && ${IN_NS('accounts')} && app == 'Srv1' && tier == 'backend'` },
      },
    ]);
  });

  it('accounts-allow', () => {
    expect(gnp(accountsAllow).spec).toEqual({
      tier: 'default',
      order: 1000,
      selector: `${ORCH} && ${IN_NS('accounts')} && app == 'Srv1' && tier == 'backend'`,
      types: ['Ingress'],
      ingress: [
        {
          action: 'Allow',
          protocol: 'TCP',
          source: { selector: ORCH, namespaceSelector: "usage == 'finance'" },
          destination: { ports: [3111] },
        },
      ],
    });
  });
});

describe('translateNetworkPolicy: the fast paths write what the plain code wrote (properties)', () => {
  it('ipBlock nets and notNets are the formatted parsed CIDRs, also when the given text is reused', () => {
    // The translator writes a strictly parsed IPv4 CIDR as given instead of formatting it again; this holds it to
    // formatCidr on texts with leading zeros, host bits, upper-case and long-form IPv6, and repeated excepts.
    // An address, a prefix for the cidr and longer ones for the excepts around the same address, so that most
    // excepts are inside the cidr; host bits are left in on purpose. Octets get a leading zero now and then.
    const octets = (value: number): string[] =>
      [24, 16, 8, 0].map((shift) => String((value >>> shift) & 255));
    const v4Text = (value: number, prefix: number, zero: boolean): string => {
      const parts = octets(value);
      if (zero) parts[3] = `0${parts[3]}`;
      return `${parts.join('.')}/${prefix}`;
    };
    const v4 = fc
      .tuple(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 31 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 32 })), {
          maxLength: 4,
        }),
        fc.integer({ min: 0, max: 20 }),
      )
      .map(([address, prefix, excepts, zero]) => ({
        base: v4Text(address, prefix, zero === 0),
        excepts: excepts.map(([noise, extra]) =>
          v4Text((address ^ (noise >>> prefix)) >>> 0, Math.min(32, prefix + extra), zero === 1),
        ),
      }));
    const group = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
    const v6 = fc
      .tuple(
        group,
        fc.integer({ min: 32, max: 48 }),
        fc.array(fc.tuple(group, fc.integer({ min: 64, max: 80 })), { maxLength: 4 }),
        fc.boolean(),
      )
      .map(([g, prefix, excepts, upper]) => ({
        base: `${upper ? '2001:DB8' : '2001:0db8'}:${g}::/${prefix}`,
        excepts: excepts.map(
          ([h, length]) => `2001:db8:${upper ? g.toUpperCase() : g}:${h}:0:0:0:0/${length}`,
        ),
      }));
    const masked = (text: string): Cidr => {
      const parsed = parseCidr(text, { hostBits: 'mask' });
      if (!parsed.ok) throw new Error(parsed.message);
      return parsed.value;
    };
    let translated = 0;
    fc.assert(
      fc.property(fc.oneof(v4, v4, v6), ({ base, excepts }) => {
        const result = translateNetworkPolicy(
          np({
            podSelector: {},
            ingress: [{ from: [{ ipBlock: { cidr: base, except: [...excepts, ...excepts] } }] }],
          }),
        );
        if (!result.ok) return;
        translated++;
        const source = result.policy.spec.ingress?.[0]?.source;
        expect(source?.nets).toEqual([formatCidr(masked(base))]);
        const notNets = excepts
          .map(masked)
          .sort(compareCidrs)
          .filter((c, i, all) => i === 0 || compareCidrs(all[i - 1] as Cidr, c) !== 0)
          .map(formatCidr);
        expect(source?.notNets ?? []).toEqual(notNets);
      }),
      { numRuns: 3000 },
    );
    expect(translated).toBeGreaterThan(1000);
  });

  it('ports are sorted, merged ranges then sorted names, per protocol in sorted order', () => {
    // The plain code the single-port fast path and the protocol slots replaced (valid ports only).
    const plain = (ports: NetworkPolicyPort[]): CalicoRule[] => {
      const byProtocol = new Map<string, { all: boolean; ranges: [number, number][]; names: Set<string> }>();
      for (const port of ports) {
        const protocol = port.protocol ?? 'TCP';
        const entry = byProtocol.get(protocol) ?? { all: false, ranges: [], names: new Set<string>() };
        byProtocol.set(protocol, entry);
        if (port.port === undefined) entry.all = true;
        else if (typeof port.port === 'string') entry.names.add(port.port);
        else entry.ranges.push([port.port, port.endPort ?? port.port]);
      }
      return [...byProtocol.keys()].sort().map((protocol) => {
        const entry = byProtocol.get(protocol)!;
        const rule: CalicoRule = { action: 'Allow', protocol: protocol as CalicoRule['protocol'] };
        if (entry.all) return rule;
        const merged: [number, number][] = [];
        for (const [first, last] of [...entry.ranges].sort((a, b) => a[0] - b[0] || a[1] - b[1])) {
          const current = merged[merged.length - 1];
          if (current && first <= current[1] + 1) current[1] = Math.max(current[1], last);
          else merged.push([first, last]);
        }
        const numeric = merged.map(([first, last]) => (first === last ? first : `${first}:${last}`));
        rule.destination = { ports: [...numeric, ...[...entry.names].sort()] };
        return rule;
      });
    };
    const port = fc.oneof(
      fc.record(
        {
          protocol: fc.constantFrom('TCP' as const, 'UDP' as const, 'SCTP' as const),
          port: fc.integer({ min: 1, max: 40 }),
        },
        { requiredKeys: ['port'] },
      ),
      fc
        .tuple(
          fc.constantFrom('TCP' as const, 'UDP' as const),
          fc.integer({ min: 1, max: 40 }),
          fc.integer({ min: 0, max: 5 }),
        )
        .map(([protocol, first, width]) => ({ protocol, port: first, endPort: first + width })),
      fc.record({
        protocol: fc.constantFrom('TCP' as const, 'SCTP' as const),
        port: fc.constantFrom('http', 'dns', 'a-b'),
      }),
      fc.record({ protocol: fc.constantFrom('UDP' as const, 'SCTP' as const) }),
    );
    fc.assert(
      fc.property(fc.array(port, { minLength: 1, maxLength: 6 }), (ports) => {
        const copy = JSON.parse(JSON.stringify(ports)) as NetworkPolicyPort[];
        expect(ingressOf({ podSelector: {}, ingress: [{ ports }] })).toEqual(plain(copy));
      }),
      { numRuns: 3000 },
    );
  });
});
