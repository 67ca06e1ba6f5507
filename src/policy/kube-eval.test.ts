import { formatPath } from '../api/errors.js';
import type { NetworkPolicy, NetworkPolicySpec } from '../api/kube.js';
import {
  compileNetworkPolicy,
  describeLabelSelector,
  kubeVerdict,
  type CompiledNetworkPolicy,
} from './kube-eval.js';
import {
  clusterModel,
  namespaceModel,
  podModel,
  resolveConnection,
  type ClusterModel,
  type Connection,
  type ConnectionProtocol,
  type PeerRef,
  type Verdict,
} from './model.js';

const cluster: ClusterModel = clusterModel(
  [namespaceModel('shop', { team: 'web' }), namespaceModel('ops', { team: 'ops' }), namespaceModel('lab')],
  [
    podModel({
      namespace: 'shop',
      name: 'web',
      labels: { app: 'web' },
      namedPorts: [
        { name: 'http', port: 8080, protocol: 'TCP' },
        { name: 'dns', port: 5353, protocol: 'UDP' },
      ],
      ips: ['10.0.0.10', 'fd00::10'],
    }),
    podModel({ namespace: 'shop', name: 'client', labels: { app: 'client' }, ips: ['10.0.0.11'] }),
    podModel({ namespace: 'shop', name: 'nolabels', ips: ['10.0.0.12'] }),
    podModel({ namespace: 'ops', name: 'monitor', labels: { app: 'client' }, ips: ['10.0.1.10'] }),
    podModel({
      namespace: 'lab',
      name: 'probe',
      labels: { app: 'client', stage: 'beta' },
      ips: ['10.0.2.10'],
    }),
    podModel({ namespace: 'shop', name: 'host-agent', ips: ['192.168.0.5'], hostNetwork: true }),
  ],
);

const pod = (ref: string): PeerRef => {
  const [namespace, name] = ref.split('/') as [string, string];
  return { kind: 'pod', namespace, name };
};
const ip = (address: string): PeerRef => ({ kind: 'external', ip: address });

function policy(spec: NetworkPolicySpec, namespace = 'shop', name = 'p'): CompiledNetworkPolicy {
  const compiled = compileNetworkPolicy({ metadata: { name, namespace }, spec });
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.errors));
  return compiled.value;
}

function verdict(
  policies: CompiledNetworkPolicy[],
  src: PeerRef,
  dst: PeerRef,
  protocol: ConnectionProtocol = 'TCP',
  port: number | null = 80,
  extra: Partial<Connection> = {},
): Verdict {
  const resolved = resolveConnection(cluster, {
    src,
    dst,
    protocol,
    ...(port === null ? {} : { port }),
    ...extra,
  });
  if (!resolved.ok) throw new Error(JSON.stringify(resolved.errors));
  return kubeVerdict(policies, resolved.value);
}

const allowed = (...args: Parameters<typeof verdict>): boolean => verdict(...args).allowed;

const webIngress = (ingress: NetworkPolicySpec['ingress']): CompiledNetworkPolicy =>
  policy({ podSelector: { matchLabels: { app: 'web' } }, ingress: ingress ?? [] });

describe('kubeVerdict: isolation', () => {
  it('allows everything when no policy selects either pod', () => {
    const result = verdict([], pod('shop/client'), pod('shop/web'));
    expect(result.allowed).toBe(true);
    expect(result.ingress.outcome).toBe('no-policy-selects');
    expect(result.egress.outcome).toBe('no-policy-selects');
  });

  it('ingress: [] with the type isolates the selected pods only', () => {
    const denyAll = policy({
      podSelector: { matchLabels: { app: 'web' } },
      policyTypes: ['Ingress'],
      ingress: [],
    });
    const result = verdict([denyAll], pod('shop/client'), pod('shop/web'));
    expect(result.allowed).toBe(false);
    expect(result.ingress).toMatchObject({
      outcome: 'no-rule-allows',
      selectedBy: [denyAll.ref],
      allowedBy: [],
    });
    expect(allowed([denyAll], pod('shop/web'), pod('shop/client'))).toBe(true);
  });

  it('a policy in another namespace does not select', () => {
    const denyAll = policy({ podSelector: {}, policyTypes: ['Ingress'] }, 'ops');
    expect(allowed([denyAll], pod('shop/client'), pod('shop/web'))).toBe(true);
  });

  it('needs egress at the source AND ingress at the destination', () => {
    const denyEgress = policy({ podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'] });
    const result = verdict([denyEgress], pod('shop/client'), pod('shop/web'));
    expect(result.allowed).toBe(false);
    expect(result.egress.outcome).toBe('no-rule-allows');
    expect(result.ingress.outcome).toBe('no-policy-selects');
  });

  it('policies are additive: one allowing rule is enough', () => {
    const denyAll = policy({ podSelector: {}, policyTypes: ['Ingress'] }, 'shop', 'deny');
    const allowClients = webIngress([{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }]);
    const result = verdict([denyAll, allowClients], pod('shop/client'), pod('shop/web'));
    expect(result.allowed).toBe(true);
    expect(result.ingress.allowedBy).toEqual([
      { policy: allowClients.ref, direction: 'Ingress', ruleIndex: 0 },
    ]);
  });

  it('ingress: [{}] allows everything, including from outside', () => {
    expect(allowed([webIngress([{}])], ip('198.51.100.1'), pod('shop/web'))).toBe(true);
  });

  it('an external source imposes no egress policy; a host-network pod is an address', () => {
    const denyAllEgress = policy({ podSelector: {}, policyTypes: ['Egress'] });
    const result = verdict([denyAllEgress], pod('shop/host-agent'), pod('shop/web'));
    expect(result.egress.outcome).toBe('not-applicable');
    expect(result.egress.endpoint).toBe('192.168.0.5 (host-network pod shop/host-agent)');
  });
});

describe('kubeVerdict: peers', () => {
  it('podSelector alone matches only the policy namespace', () => {
    const p = webIngress([{ from: [{ podSelector: { matchLabels: { app: 'client' } } }] }]);
    expect(allowed([p], pod('shop/client'), pod('shop/web'))).toBe(true);
    const denied = verdict([p], pod('ops/monitor'), pod('shop/web'));
    expect(denied.allowed).toBe(false);
    expect(denied.ingress.rules[0]?.mismatches[0]).toEqual({
      field: 'from[0]',
      message: "ops/monitor is not in the policy's namespace shop (a podSelector alone selects only there)",
    });
  });

  it('namespaceSelector alone matches every pod of the selected namespaces', () => {
    const p = webIngress([{ from: [{ namespaceSelector: { matchLabels: { team: 'ops' } } }] }]);
    expect(allowed([p], pod('ops/monitor'), pod('shop/web'))).toBe(true);
    expect(allowed([p], pod('shop/client'), pod('shop/web'))).toBe(false);
  });

  it('every namespace has its name label', () => {
    const p = webIngress([
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'lab' } } }] },
    ]);
    expect(allowed([p], pod('lab/probe'), pod('shop/web'))).toBe(true);
  });

  it('podSelector and namespaceSelector in one peer are ANDed; in two peers ORed', () => {
    const and = webIngress([
      {
        from: [
          {
            namespaceSelector: {},
            podSelector: { matchExpressions: [{ key: 'stage', operator: 'Exists' }] },
          },
        ],
      },
    ]);
    expect(allowed([and], pod('lab/probe'), pod('shop/web'))).toBe(true);
    expect(allowed([and], pod('ops/monitor'), pod('shop/web'))).toBe(false);
    const or = webIngress([
      {
        from: [
          { namespaceSelector: { matchLabels: { team: 'ops' } } },
          { podSelector: { matchLabels: { app: 'client' } } },
        ],
      },
    ]);
    expect(allowed([or], pod('ops/monitor'), pod('shop/web'))).toBe(true);
    expect(allowed([or], pod('shop/client'), pod('shop/web'))).toBe(true);
    expect(allowed([or], pod('lab/probe'), pod('shop/web'))).toBe(false);
  });

  it('NotIn and DoesNotExist match pods without the label', () => {
    const p = webIngress([
      {
        from: [
          { podSelector: { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['client'] }] } },
        ],
      },
    ]);
    expect(allowed([p], pod('shop/nolabels'), pod('shop/web'))).toBe(true);
    expect(allowed([p], pod('shop/client'), pod('shop/web'))).toBe(false);
  });

  it('ipBlock with except matches external and pod addresses, per family', () => {
    const p = webIngress([{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.1.0/24'] } }] }]);
    expect(allowed([p], ip('10.0.200.1'), pod('shop/web'))).toBe(true);
    expect(allowed([p], pod('shop/client'), pod('shop/web'))).toBe(true);
    const excepted = verdict([p], pod('ops/monitor'), pod('shop/web'));
    expect(excepted.allowed).toBe(false);
    expect(excepted.ingress.rules[0]?.mismatches[0]?.message).toBe(
      '10.0.1.10 is in the excepted 10.0.1.0/24 of ipBlock 10.0.0.0/16 except 10.0.1.0/24',
    );
    expect(allowed([p], ip('2001:db8::1'), pod('shop/web'))).toBe(false);
    const v6 = webIngress([{ from: [{ ipBlock: { cidr: '2001:db8::/32' } }] }]);
    expect(allowed([v6], ip('2001:db8::1'), pod('shop/web'))).toBe(true);
  });

  it('a pod without an address in the family matches no ipBlock', () => {
    const p = webIngress([{ from: [{ ipBlock: { cidr: '::/0' } }] }]);
    const result = verdict([p], pod('shop/client'), pod('shop/web'), 'TCP', 80, { ipFamily: 6 });
    expect(result.allowed).toBe(false);
    expect(result.ingress.rules[0]?.mismatches[0]?.message).toBe(
      'shop/client has no IPv6 address to match ipBlock ::/0',
    );
  });

  it('selectors never match external addresses', () => {
    const p = webIngress([{ from: [{ namespaceSelector: {} }] }]);
    expect(allowed([p], ip('10.0.0.99'), pod('shop/web'))).toBe(false);
  });
});

describe('kubeVerdict: ports', () => {
  const from = [{ podSelector: {} }];

  it('defaults the protocol to TCP; no port means every port of the protocol', () => {
    const p = webIngress([{ from, ports: [{ port: 80 }, { protocol: 'UDP' }] }]);
    expect(allowed([p], pod('shop/client'), pod('shop/web'), 'TCP', 80)).toBe(true);
    expect(allowed([p], pod('shop/client'), pod('shop/web'), 'TCP', 81)).toBe(false);
    expect(allowed([p], pod('shop/client'), pod('shop/web'), 'UDP', 9999)).toBe(true);
    expect(allowed([p], pod('shop/client'), pod('shop/web'), 'SCTP', 80)).toBe(false);
    expect(allowed([p], pod('shop/client'), pod('shop/web'), 'ICMP', null)).toBe(false);
  });

  it('no ports allows every protocol, ICMP included', () => {
    expect(allowed([webIngress([{ from }])], pod('shop/client'), pod('shop/web'), 'ICMP', null)).toBe(true);
  });

  it('endPort is an inclusive range', () => {
    const p = webIngress([{ from, ports: [{ protocol: 'SCTP', port: 9000, endPort: 9010 }] }]);
    expect(allowed([p], pod('shop/client'), pod('shop/web'), 'SCTP', 9000)).toBe(true);
    expect(allowed([p], pod('shop/client'), pod('shop/web'), 'SCTP', 9010)).toBe(true);
    expect(allowed([p], pod('shop/client'), pod('shop/web'), 'SCTP', 9011)).toBe(false);
  });

  it('named ports resolve on the destination pod, by name and protocol', () => {
    const ingress = webIngress([{ from, ports: [{ port: 'http' }, { port: 'dns', protocol: 'UDP' }] }]);
    expect(allowed([ingress], pod('shop/client'), pod('shop/web'), 'TCP', 8080)).toBe(true);
    expect(allowed([ingress], pod('shop/client'), pod('shop/web'), 'UDP', 5353)).toBe(true);
    const miss = verdict([ingress], pod('shop/client'), pod('shop/web'), 'TCP', 5353);
    expect(miss.allowed).toBe(false);
    expect(miss.ingress.rules[0]?.mismatches).toEqual([
      { field: 'ports[0]', message: 'named port http is 8080 on shop/web, not 5353' },
      { field: 'ports[1]', message: 'protocol UDP, not TCP' },
    ]);
    // Egress: resolved on the destination, so never on an external address.
    const egress = policy({
      podSelector: { matchLabels: { app: 'client' } },
      policyTypes: ['Egress'],
      egress: [{ ports: [{ port: 'http' }] }],
    });
    expect(allowed([egress], pod('shop/client'), pod('shop/web'), 'TCP', 8080)).toBe(true);
    expect(allowed([egress], pod('shop/client'), ip('203.0.113.1'), 'TCP', 8080)).toBe(false);
  });
});

describe('compileNetworkPolicy', () => {
  it('rejects what the API server rejects, naming the fields', () => {
    const invalid: NetworkPolicy = {
      metadata: { name: 'bad', namespace: 'shop' },
      spec: {
        podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] },
        ingress: [{ from: [{}, { ipBlock: { cidr: 'nope' } }], ports: [{ port: 'http', endPort: 9 }] }],
      },
    };
    const result = compileNetworkPolicy(invalid);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((error) => formatPath(error.path))).toEqual([
      'spec.podSelector.matchExpressions[0].values',
      'spec.ingress[0].from[0]',
      'spec.ingress[0].from[1].ipBlock.cidr',
      'spec.ingress[0].ports[0].endPort',
    ]);
  });

  it('describes selectors the way kubectl does', () => {
    expect(
      describeLabelSelector({
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 'env', operator: 'NotIn', values: ['a', 'b'] },
          { key: 'x', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('app=web,env notin (a,b),!x');
    expect(describeLabelSelector({})).toBe('{} (everything)');
  });
});
