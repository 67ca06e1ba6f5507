/**
 * Hand-written scenarios, one per bullet of the translation issue, each checked three ways: the expected
 * Kubernetes verdict (written down here), kube-eval on the NetworkPolicies, and calico-eval on their translations.
 * The seed's accounts/finance scenario comes first, with its three policies read as the user meant them.
 */
import type { NetworkPolicy, NetworkPolicySpec } from '../api/kube.js';
import { formatFieldError } from '../api/errors.js';
import { translateNetworkPolicy } from '../translate/networkpolicy.js';
import { calicoPolicySet, calicoVerdict, compileCalicoPolicy } from './calico-eval.js';
import { compileNetworkPolicy, kubeVerdict } from './kube-eval.js';
import {
  clusterModel,
  namespaceModel,
  podModel,
  resolveConnection,
  type ClusterModel,
  type ConnectionProtocol,
  type PeerRef,
} from './model.js';

function np(namespace: string, name: string, spec: NetworkPolicySpec): NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}

/** Both evaluators' verdicts; fails the test if they disagree. */
function verdictOf(
  cluster: ClusterModel,
  policies: NetworkPolicy[],
  src: string,
  dst: string,
  protocol: ConnectionProtocol = 'TCP',
  port: number | null = 80,
): boolean {
  const ref = (text: string): PeerRef => {
    if (!text.includes('/')) return { kind: 'external', ip: text };
    const [namespace, name] = text.split('/') as [string, string];
    return { kind: 'pod', namespace, name };
  };
  const connection = resolveConnection(cluster, {
    src: ref(src),
    dst: ref(dst),
    protocol,
    ...(port === null ? {} : { port }),
  });
  if (!connection.ok) throw new Error(connection.errors.map(formatFieldError).join('; '));
  const kube = policies.map((policy) => {
    const compiled = compileNetworkPolicy(policy);
    if (!compiled.ok) throw new Error(compiled.errors.map(formatFieldError).join('; '));
    return compiled.value;
  });
  const calico = policies.map((policy) => {
    const translated = translateNetworkPolicy(policy);
    if (!translated.ok) throw new Error(translated.errors.map(formatFieldError).join('; '));
    const compiled = compileCalicoPolicy(translated.policy);
    if (!compiled.ok) throw new Error(compiled.errors.map(formatFieldError).join('; '));
    return compiled.value;
  });
  const expected = kubeVerdict(kube, connection.value);
  const actual = calicoVerdict(calicoPolicySet(calico), connection.value);
  expect({ ingress: actual.ingress.allowed, egress: actual.egress.allowed }).toEqual({
    ingress: expected.ingress.allowed,
    egress: expected.egress.allowed,
  });
  return expected.allowed;
}

describe('the seed: accounts and finance', () => {
  const srv = (namespace: string, app: string, tier: string, octet: number) =>
    podModel({
      namespace,
      name: tier,
      labels: { app, tier },
      ips: [`10.1.${namespace === 'accounts' ? 1 : 2}.${octet}`],
    });
  const cluster = clusterModel(
    [namespaceModel('accounts', { usage: 'accounts' }), namespaceModel('finance', { usage: 'finance' })],
    [
      srv('accounts', 'Srv1', 'frontend', 1),
      srv('accounts', 'Srv1', 'backend', 2),
      srv('accounts', 'Srv1', 'db', 3),
      srv('finance', 'Srv2', 'frontend', 1),
      srv('finance', 'Srv2', 'backend', 2),
      srv('finance', 'Srv2', 'db', 3),
    ],
  );
  // As meant: `Tier` -> `tier`, `NamespaceSelector` -> `namespaceSelector`, `ports` a list, all in `accounts`.
  const policies = [
    np('accounts', 'backend-allow', {
      podSelector: { matchLabels: { app: 'Srv1', tier: 'backend' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'Srv1', tier: 'frontend' } } }] }],
    }),
    np('accounts', 'db-allow', {
      podSelector: { matchLabels: { app: 'Srv1', tier: 'db' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'Srv1', tier: 'backend' } } }] }],
    }),
    np('accounts', 'accounts-allow', {
      podSelector: { matchLabels: { app: 'Srv1', tier: 'backend' } },
      ingress: [
        { from: [{ namespaceSelector: { matchLabels: { usage: 'finance' } } }], ports: [{ port: 3111 }] },
      ],
    }),
  ];
  const allowed = (
    src: string,
    dst: string,
    protocol: ConnectionProtocol = 'TCP',
    port: number | null = 80,
  ): boolean => verdictOf(cluster, policies, src, dst, protocol, port);

  it('frontend -> backend and backend -> db are allowed', () => {
    expect(allowed('accounts/frontend', 'accounts/backend')).toBe(true);
    expect(allowed('accounts/backend', 'accounts/db', 'TCP', 5432)).toBe(true);
  });

  it('no connection is opened in reverse into the isolated backend and db, nor around the chain', () => {
    expect(allowed('accounts/db', 'accounts/backend')).toBe(false);
    expect(allowed('accounts/frontend', 'accounts/db')).toBe(false);
    // The frontend is selected by no policy, so it stays open: the seed's policies restrict only backend and db.
    expect(allowed('accounts/backend', 'accounts/frontend')).toBe(true);
  });

  it('finance reaches the accounts backend on TCP 3111 only', () => {
    for (const source of ['finance/frontend', 'finance/backend', 'finance/db']) {
      expect(allowed(source, 'accounts/backend', 'TCP', 3111)).toBe(true);
      expect(allowed(source, 'accounts/backend', 'TCP', 80)).toBe(false);
      expect(allowed(source, 'accounts/backend', 'UDP', 3111)).toBe(false);
      expect(allowed(source, 'accounts/db', 'TCP', 3111)).toBe(false);
    }
  });

  it('finance pods are not mistaken for accounts pods, and outsiders stay out', () => {
    expect(allowed('finance/frontend', 'accounts/backend', 'TCP', 8080)).toBe(false);
    expect(allowed('203.0.113.9', 'accounts/backend', 'TCP', 3111)).toBe(false);
  });

  it('pod and namespace selectors can be combined after all (the seed says they cannot)', () => {
    const combined = [
      np('accounts', 'backend-from-finance-backend', {
        podSelector: { matchLabels: { app: 'Srv1', tier: 'backend' } },
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { usage: 'finance' } },
                podSelector: { matchLabels: { tier: 'backend' } },
              },
            ],
            ports: [{ port: 3111 }],
          },
        ],
      }),
    ];
    expect(verdictOf(cluster, combined, 'finance/backend', 'accounts/backend', 'TCP', 3111)).toBe(true);
    expect(verdictOf(cluster, combined, 'finance/frontend', 'accounts/backend', 'TCP', 3111)).toBe(false);
    expect(verdictOf(cluster, combined, 'accounts/frontend', 'accounts/backend', 'TCP', 3111)).toBe(false);
  });
});

describe('one scenario per construct, Kubernetes and Calico agreeing', () => {
  const cluster = clusterModel(
    [namespaceModel('app', { env: 'prod' }), namespaceModel('dev', { env: 'dev' }), namespaceModel('mon')],
    [
      podModel({
        namespace: 'app',
        name: 'api',
        labels: { role: 'api' },
        namedPorts: [
          { name: 'http', port: 8080, protocol: 'TCP' },
          { name: 'metrics', port: 9090, protocol: 'TCP' },
        ],
        ips: ['10.2.0.1', 'fd00:2::1'],
      }),
      podModel({
        namespace: 'app',
        name: 'worker',
        labels: { role: 'worker' },
        ips: ['10.2.0.2', 'fd00:2::2'],
      }),
      podModel({
        namespace: 'dev',
        name: 'worker',
        labels: { role: 'worker', debug: 'true' },
        ips: ['10.2.1.2'],
      }),
      podModel({ namespace: 'mon', name: 'prom', labels: { role: 'prom' }, ips: ['10.2.2.3'] }),
    ],
  );
  const api = (spec: Partial<NetworkPolicySpec>): NetworkPolicy[] => [
    np('app', 'api', { podSelector: { matchLabels: { role: 'api' } }, ...spec }),
  ];
  const check = (
    policies: NetworkPolicy[],
    cases: [string, string, ConnectionProtocol, number | null, boolean][],
  ): void => {
    for (const [src, dst, protocol, port, expected] of cases) {
      expect({
        src,
        dst,
        protocol,
        port,
        allowed: verdictOf(cluster, policies, src, dst, protocol, port),
      }).toEqual({
        src,
        dst,
        protocol,
        port,
        allowed: expected,
      });
    }
  };

  it('podSelector only: same namespace', () =>
    check(api({ ingress: [{ from: [{ podSelector: { matchLabels: { role: 'worker' } } }] }] }), [
      ['app/worker', 'app/api', 'TCP', 80, true],
      ['dev/worker', 'app/api', 'TCP', 80, false],
    ]));

  it('namespaceSelector only, matchExpressions NotIn (absent label matches)', () =>
    check(
      api({
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev'] }] },
              },
            ],
          },
        ],
      }),
      [
        ['mon/prom', 'app/api', 'TCP', 80, true],
        ['app/worker', 'app/api', 'TCP', 80, true],
        ['dev/worker', 'app/api', 'TCP', 80, false],
      ],
    ));

  it('both selectors in one peer, Exists / DoesNotExist', () =>
    check(
      api({
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'Exists' }] },
                podSelector: { matchExpressions: [{ key: 'debug', operator: 'DoesNotExist' }] },
              },
            ],
          },
        ],
      }),
      [
        ['app/worker', 'app/api', 'TCP', 80, true],
        ['dev/worker', 'app/api', 'TCP', 80, false],
        ['mon/prom', 'app/api', 'TCP', 80, false],
      ],
    ));

  it('empty selectors: every pod of every namespace, nothing outside', () =>
    check(api({ ingress: [{ from: [{ namespaceSelector: {}, podSelector: {} }] }] }), [
      ['mon/prom', 'app/api', 'TCP', 80, true],
      ['10.2.9.9', 'app/api', 'TCP', 80, false],
    ]));

  it('ipBlock with except, IPv4 and IPv6', () =>
    check(
      api({
        ingress: [
          {
            from: [
              { ipBlock: { cidr: '10.2.0.0/16', except: ['10.2.1.0/24'] } },
              { ipBlock: { cidr: '2001:db8::/32' } },
            ],
          },
        ],
      }),
      [
        ['mon/prom', 'app/api', 'TCP', 80, true],
        ['dev/worker', 'app/api', 'TCP', 80, false],
        ['10.2.200.1', 'app/api', 'TCP', 80, true],
        ['2001:db8::7', 'app/api', 'TCP', 80, true],
        ['2001:db9::7', 'app/api', 'TCP', 80, false],
      ],
    ));

  it('several peers OR, from: [] and absent from allow any source', () => {
    check(
      api({
        ingress: [
          {
            from: [
              { podSelector: { matchLabels: { role: 'worker' } } },
              { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'mon' } } },
            ],
          },
        ],
      }),
      [
        ['app/worker', 'app/api', 'TCP', 80, true],
        ['mon/prom', 'app/api', 'TCP', 80, true],
        ['dev/worker', 'app/api', 'TCP', 80, false],
      ],
    );
    check(api({ ingress: [{ from: [] }] }), [['203.0.113.1', 'app/api', 'TCP', 80, true]]);
    check(api({ ingress: [{ ports: [{ port: 80 }] }] }), [
      ['203.0.113.1', 'app/api', 'TCP', 80, true],
      ['203.0.113.1', 'app/api', 'TCP', 81, false],
    ]);
  });

  it('ingress: [{}] allows all; ingress: [] with the type denies all', () => {
    check(api({ ingress: [{}] }), [['dev/worker', 'app/api', 'UDP', 53, true]]);
    check(api({ policyTypes: ['Ingress'], ingress: [] }), [
      ['app/worker', 'app/api', 'TCP', 80, false],
      ['app/api', 'app/worker', 'TCP', 80, true],
    ]);
  });

  it('ports: default TCP, UDP, SCTP, numeric, named, endPort, none', () =>
    check(
      api({
        ingress: [
          {
            ports: [
              { port: 'http' },
              { protocol: 'UDP', port: 53 },
              { protocol: 'SCTP', port: 7000, endPort: 7100 },
            ],
          },
        ],
      }),
      [
        ['app/worker', 'app/api', 'TCP', 8080, true],
        ['app/worker', 'app/api', 'TCP', 9090, false],
        ['app/worker', 'app/api', 'UDP', 53, true],
        ['app/worker', 'app/api', 'TCP', 53, false],
        ['app/worker', 'app/api', 'SCTP', 7050, true],
        ['app/worker', 'app/api', 'SCTP', 7101, false],
        ['app/worker', 'app/api', 'ICMP', null, false],
      ],
    ));

  it('egress: ipBlock with except, and named ports resolved on the destination pod', () =>
    check(
      [
        np('app', 'workers-out', {
          podSelector: { matchLabels: { role: 'worker' } },
          policyTypes: ['Egress'],
          egress: [
            { to: [{ podSelector: { matchLabels: { role: 'api' } } }], ports: [{ port: 'metrics' }] },
            { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }] },
          ],
        }),
      ],
      [
        ['app/worker', 'app/api', 'TCP', 9090, true],
        ['app/worker', 'app/api', 'TCP', 8080, false],
        ['app/worker', '8.8.8.8', 'UDP', 53, true],
        ['app/worker', '10.9.0.1', 'UDP', 53, false],
        ['app/worker', 'mon/prom', 'TCP', 9090, false],
      ],
    ));
});
