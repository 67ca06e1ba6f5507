import { formatPath } from '../api/errors.js';
/**
 * The connectivity analysis: hand-written cases for each rule of the connlist format, and property tests that
 * (1) every reported port set agrees with the evaluator at random ports and addresses, in both modes, and
 * (2) the two modes give the same connlist for NetworkPolicies.
 *
 * Reproduce a property failure with the seed fast-check prints: `FC_SEED=<seed> npx jest src/policy/connectivity`.
 */
import fc from 'fast-check';
import type { NetworkPolicy, NetworkPolicySpec, Protocol } from '../api/kube.js';
import type { GlobalNetworkPolicy } from '../calico/types.js';
import { formatIp, type IpInterval } from '../util/cidr.js';
import { formatFieldError } from '../api/errors.js';
import { translateNetworkPolicy } from '../translate/networkpolicy.js';
import {
  namespacesArbitrary,
  networkPoliciesArbitrary,
  podsArbitrary,
  scenarioConnectivityInput as scenarioInput,
  type PolicyScenario,
} from '../../test/support/policy-arbitraries.js';
import {
  calicoPolicySet,
  calicoVerdict,
  compileCalicoPolicy,
  type CompiledCalicoPolicy,
} from './calico-eval.js';
import {
  analyzeConnectivity,
  formatPortSet,
  PORT_PROTOCOLS,
  portSetHas,
  type ConnectivityInput,
  type ConnectivityMode,
  type ConnectivityReport,
  type EndpointInput,
  type PairConnectivity,
  type PortSet,
} from './connectivity.js';
import { compileNetworkPolicy, kubeVerdict } from './kube-eval.js';
import { clusterModel, resolveConnection, type PeerRef, type Verdict } from './model.js';

// ---------------------------------------------------------------------------------------------------------------
// Builders

function pod(
  namespace: string,
  name: string,
  labels: Record<string, string>,
  extra: Partial<EndpointInput> = {},
): EndpointInput {
  return {
    namespace,
    name,
    labels,
    ports: [],
    ips: [],
    hostNetwork: false,
    owner: { kind: 'Pod', name },
    ...extra,
  };
}

function deployment(
  namespace: string,
  name: string,
  labels: Record<string, string>,
  extra: Partial<EndpointInput> = {},
) {
  return pod(namespace, name, labels, { owner: { kind: 'Deployment', name }, ...extra });
}

function np(namespace: string, name: string, spec: NetworkPolicySpec) {
  const object: NetworkPolicy = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace },
    spec,
  };
  return { object, namespace };
}

function analyze(input: Partial<ConnectivityInput>, mode: ConnectivityMode = 'k8s', focusWorkload?: string) {
  const result = analyzeConnectivity(
    { namespaces: [], endpoints: [], networkPolicies: [], ...input },
    { mode, ...(focusWorkload ? { focusWorkload } : {}) },
  );
  if (!result.ok)
    throw new Error(result.problems.map((p) => `${p.subject}: ${p.errors.map(formatFieldError)}`).join('\n'));
  return result.report;
}

function lines(report: ConnectivityReport): string[] {
  return report.connections.map((c) => `${c.src} => ${c.dst} : ${c.conn}`);
}

const ALL = 'All Connections';
const WORLD = '0.0.0.0-255.255.255.255[External]';

// ---------------------------------------------------------------------------------------------------------------
// The format

describe('formatPortSet', () => {
  const set = (parts: Partial<Record<Protocol, [number, number][]>>): PortSet => ({
    SCTP: (parts.SCTP ?? []).map(([first, last]) => ({ first, last })),
    TCP: (parts.TCP ?? []).map(([first, last]) => ({ first, last })),
    UDP: (parts.UDP ?? []).map(([first, last]) => ({ first, last })),
  });

  it('writes every port of every protocol as All Connections, nothing as No Connections', () => {
    expect(formatPortSet(set({ SCTP: [[1, 65535]], TCP: [[1, 65535]], UDP: [[1, 65535]] }))).toBe(ALL);
    expect(formatPortSet(set({}))).toBe('No Connections');
  });

  it('lists protocols by name and ports as single ports or a-b ranges', () => {
    expect(
      formatPortSet(
        set({
          TCP: [
            [80, 80],
            [9090, 9090],
          ],
        }),
      ),
    ).toBe('TCP 80,9090');
    expect(
      formatPortSet(
        set({
          SCTP: [[1, 65535]],
          TCP: [
            [1, 79],
            [81, 65535],
          ],
          UDP: [[1, 65535]],
        }),
      ),
    ).toBe('SCTP 1-65535,TCP 1-79,81-65535,UDP 1-65535');
    // All ports of TCP only is not All Connections.
    expect(formatPortSet(set({ TCP: [[1, 65535]] }))).toBe('TCP 1-65535');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Peers

describe('peers', () => {
  it('makes all pods of a workload one peer, and never lists a peer to itself', () => {
    const owner = { kind: 'Deployment', name: 'web' };
    const report = analyze({
      endpoints: [
        pod('shop', 'web-7d9f-abcde', { app: 'web' }, { owner }),
        pod('shop', 'web-7d9f-fghij', { app: 'web' }, { owner }),
        pod('shop', 'debug', { app: 'debug' }),
      ],
    });
    expect(report.workloads.map((peer) => peer.id)).toEqual(['shop/debug[Pod]', 'shop/web[Deployment]']);
    expect(lines(report)).toEqual([
      `${WORLD} => shop/debug[Pod] : ${ALL}`,
      `${WORLD} => shop/web[Deployment] : ${ALL}`,
      `shop/debug[Pod] => ${WORLD} : ${ALL}`,
      `shop/debug[Pod] => shop/web[Deployment] : ${ALL}`,
      `shop/web[Deployment] => ${WORLD} : ${ALL}`,
      `shop/web[Deployment] => shop/debug[Pod] : ${ALL}`,
    ]);
  });

  it('gives undeclared namespaces their name label, which namespaceSelectors can match', () => {
    const report = analyze({
      endpoints: [deployment('a', 'server', {}), deployment('b', 'client', {}), deployment('c', 'other', {})],
      networkPolicies: [
        np('a', 'from-b', {
          podSelector: {},
          ingress: [
            { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'b' } } }] },
          ],
        }),
      ],
    });
    const toServer = lines(report).filter((line) => line.includes('=> a/server'));
    expect(toServer).toEqual([`b/client[Deployment] => a/server[Deployment] : ${ALL}`]);
  });

  it('leaves out host-network pods without an address, with a warning', () => {
    const report = analyze({
      endpoints: [deployment('kube-system', 'agent', {}, { hostNetwork: true }), deployment('a', 'app', {})],
    });
    expect(report.workloads.map((peer) => peer.id)).toEqual(['a/app[Deployment]']);
    expect(report.warnings).toEqual([
      'kube-system/agent[Deployment] uses the host network and has no pod IP in the input: left out of the analysis',
    ]);
  });

  it.each(['k8s', 'calico'] as const)(
    'pairs an IPv6-only host-network pod with workloads but not with the IPv4 outside ranges, saying so (%s mode)',
    (mode) => {
      const input = {
        namespaces: [],
        endpoints: [
          pod('a', 'host6', {}, { ips: ['fd00::5'], hostNetwork: true }),
          pod('a', 'web', { app: 'web' }, { ips: ['10.0.0.5'] }),
        ],
        networkPolicies: [
          np('a', 'web-in', {
            podSelector: { matchLabels: { app: 'web' } },
            ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] }],
          }),
        ],
      };
      for (const explain of [false, true]) {
        const result = analyzeConnectivity(input, { mode, explain });
        if (!result.ok) throw new Error(JSON.stringify(result.problems));
        const { report } = result;
        const ids = report.pairs.map((pair) => `${pair.src.id} => ${pair.dst.id}`);
        expect(ids).toContain('a/host6[Pod] => a/web[Pod]');
        expect(ids).toContain('a/web[Pod] => a/host6[Pod]');
        expect(ids.filter((id) => id.includes('host6') && id.includes('External'))).toEqual([]);
        expect(ids.filter((id) => id.includes('web') && id.includes('External')).length).toBeGreaterThan(0);
        expect(report.warnings).toEqual([
          'a/host6[Pod] uses the host network and has only IPv6 addresses in the input: its connections with the ' +
            'outside ranges (IPv4) are not listed',
        ]);
      }
    },
  );

  it('says so when the input has no workloads at all', () => {
    const report = analyze({
      networkPolicies: [np('a', 'deny', { podSelector: {}, policyTypes: ['Ingress'] })],
    });
    expect(report.pairs).toEqual([]);
    expect(report.warnings).toEqual([
      'no workloads in the input (Pods, Deployments, ...): there are no connections to list',
    ]);
  });

  it('reports a pod whose IP cannot be parsed, naming the field', () => {
    const result = analyzeConnectivity(
      { namespaces: [], endpoints: [pod('a', 'x', {}, { ips: ['10.0.0.300'] })], networkPolicies: [] },
      { mode: 'k8s' },
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toEqual([
      expect.objectContaining({ kind: 'endpoint', index: 0, subject: 'Pod a/x' }),
    ]);
    expect(formatPath(result.problems[0]?.errors[0]?.path ?? [])).toBe('status.podIPs[0]');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Ports

describe('ports', () => {
  const server = deployment(
    'a',
    'server',
    { app: 'server' },
    {
      ports: [
        { name: 'http', containerPort: 8080, protocol: 'TCP' },
        { name: 'dns', containerPort: 5353, protocol: 'UDP' },
      ],
    },
  );
  const client = deployment('a', 'client', { app: 'client' });
  const connTo = (report: ConnectivityReport, from: string, to: string) =>
    report.connections.find((c) => c.src === from && c.dst === to)?.conn ?? 'No Connections';

  it('groups SCTP, TCP and UDP ports with endPort ranges, the protocol defaulting to TCP', () => {
    const report = analyze({
      endpoints: [server, client],
      networkPolicies: [
        np('a', 'ports', {
          podSelector: { matchLabels: { app: 'server' } },
          ingress: [
            {
              ports: [
                { protocol: 'UDP', port: 53 },
                { protocol: 'SCTP', port: 1000, endPort: 1010 },
                { port: 9090 },
                { port: 80 },
              ],
            },
          ],
        }),
      ],
    });
    expect(connTo(report, 'a/client[Deployment]', 'a/server[Deployment]')).toBe(
      'SCTP 1000-1010,TCP 80,9090,UDP 53',
    );
    expect(connTo(report, WORLD, 'a/server[Deployment]')).toBe('SCTP 1000-1010,TCP 80,9090,UDP 53');
  });

  it('resolves named ports against the destination container ports of the same protocol', () => {
    const report = analyze({
      endpoints: [server, client],
      networkPolicies: [
        np('a', 'named', {
          podSelector: {},
          policyTypes: ['Egress'],
          // `dns` over TCP names no port of the server (its dns is UDP); `http` is 8080/TCP.
          egress: [
            { ports: [{ port: 'http' }, { port: 'dns', protocol: 'TCP' }, { port: 'dns', protocol: 'UDP' }] },
          ],
        }),
      ],
    });
    expect(connTo(report, 'a/client[Deployment]', 'a/server[Deployment]')).toBe('TCP 8080,UDP 5353');
    // The client has no named ports, and an outside address never has any.
    expect(connTo(report, 'a/server[Deployment]', 'a/client[Deployment]')).toBe('No Connections');
    expect(connTo(report, 'a/server[Deployment]', WORLD)).toBe('No Connections');
  });

  it('subtracts nothing it should not: all ports but one', () => {
    const report = analyze({
      endpoints: [server, client],
      networkPolicies: [
        np('a', 'all-but-80', {
          podSelector: { matchLabels: { app: 'server' } },
          ingress: [
            {
              ports: [
                { protocol: 'TCP', port: 1, endPort: 79 },
                { protocol: 'TCP', port: 81, endPort: 65535 },
              ],
            },
            { ports: [{ protocol: 'UDP' }, { protocol: 'SCTP' }] },
          ],
        }),
      ],
    });
    expect(connTo(report, 'a/client[Deployment]', 'a/server[Deployment]')).toBe(
      'SCTP 1-65535,TCP 1-79,81-65535,UDP 1-65535',
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Addresses

describe('outside addresses', () => {
  const app = deployment('a', 'app', { app: 'app' });

  it('cuts destinations at egress ipBlock boundaries, cidr minus except, and leaves sources whole', () => {
    const report = analyze({
      endpoints: [app],
      networkPolicies: [
        np('a', 'egress', {
          podSelector: {},
          policyTypes: ['Egress'],
          egress: [
            { to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }], ports: [{ port: 443 }] },
          ],
        }),
      ],
    });
    expect(report.externalSources.map((peer) => peer.id)).toEqual([WORLD]);
    expect(lines(report)).toEqual([
      `${WORLD} => a/app[Deployment] : ${ALL}`,
      'a/app[Deployment] => 10.0.0.0-10.0.255.255[External] : TCP 443',
      'a/app[Deployment] => 10.2.0.0-10.255.255.255[External] : TCP 443',
    ]);
    expect(report.externalDestinations.map((peer) => peer.id)).toEqual([
      '0.0.0.0-9.255.255.255[External]',
      '10.0.0.0-10.0.255.255[External]',
      '10.1.0.0-10.1.255.255[External]',
      '10.2.0.0-10.255.255.255[External]',
      '11.0.0.0-255.255.255.255[External]',
    ]);
  });

  it('cuts sources at ingress ipBlocks; an except at the edge of its cidr cuts once, as netpol-analyzer does', () => {
    const report = analyze({
      endpoints: [app],
      networkPolicies: [
        np('a', 'ingress', {
          podSelector: {},
          ingress: [{ from: [{ ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.0.0/24'] } }] }],
        }),
      ],
    });
    expect(report.externalDestinations.map((peer) => peer.id)).toEqual([WORLD]);
    expect(report.externalSources.map((peer) => peer.id)).toEqual([
      '0.0.0.0-192.168.0.255[External]',
      '192.168.1.0-192.168.255.255[External]',
      '192.169.0.0-255.255.255.255[External]',
    ]);
    expect(lines(report)).toEqual([
      `192.168.1.0-192.168.255.255[External] => a/app[Deployment] : ${ALL}`,
      `a/app[Deployment] => ${WORLD} : ${ALL}`,
    ]);
  });

  it('prints a single address as FIRST-FIRST and ignores IPv6 blocks in the IPv4 listing', () => {
    const report = analyze({
      endpoints: [app],
      networkPolicies: [
        np('a', 'one-host', {
          podSelector: {},
          policyTypes: ['Egress'],
          egress: [{ to: [{ ipBlock: { cidr: '203.0.113.7/32' } }, { ipBlock: { cidr: '2001:db8::/32' } }] }],
        }),
      ],
    });
    expect(lines(report)).toContain(`a/app[Deployment] => 203.0.113.7-203.0.113.7[External] : ${ALL}`);
    expect(report.externalDestinations).toHaveLength(3);
  });

  it('matches pods with an IP by the ipBlocks that contain it, and pods without one by none', () => {
    const report = analyze({
      endpoints: [
        deployment('a', 'db', { app: 'db' }),
        pod('b', 'inside', {}, { ips: ['10.4.0.9'] }),
        pod('b', 'outside', {}, { ips: ['10.5.0.9'] }),
        pod('b', 'unknown', {}),
      ],
      networkPolicies: [
        np('a', 'db', {
          podSelector: { matchLabels: { app: 'db' } },
          ingress: [{ from: [{ ipBlock: { cidr: '10.4.0.0/16' } }] }],
        }),
      ],
    });
    expect(lines(report).filter((line) => line.includes('=> a/db'))).toEqual([
      `10.4.0.0-10.4.255.255[External] => a/db[Deployment] : ${ALL}`,
      `b/inside[Pod] => a/db[Deployment] : ${ALL}`,
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Options and modes

describe('focus workload', () => {
  const input = {
    endpoints: [deployment('a', 'one', {}), deployment('a', 'two', {}), deployment('b', 'one', {})],
  };

  it('keeps the pairs with the workload on either side, by NAMESPACE/NAME, NAME or the full peer name', () => {
    const focused = lines(analyze(input, 'k8s', 'a/one'));
    expect(focused).toEqual([
      `${WORLD} => a/one[Deployment] : ${ALL}`,
      `a/one[Deployment] => ${WORLD} : ${ALL}`,
      `a/one[Deployment] => a/two[Deployment] : ${ALL}`,
      `a/one[Deployment] => b/one[Deployment] : ${ALL}`,
      `a/two[Deployment] => a/one[Deployment] : ${ALL}`,
      `b/one[Deployment] => a/one[Deployment] : ${ALL}`,
    ]);
    expect(lines(analyze(input, 'k8s', 'a/one[Deployment]'))).toEqual(focused);
    // A bare name matches it in every namespace.
    expect(lines(analyze(input, 'k8s', 'one'))).toHaveLength(10);
  });

  it('refuses a workload that is not in the input, listing those that are', () => {
    const result = analyzeConnectivity(
      { namespaces: [], networkPolicies: [], ...input },
      { mode: 'k8s', focusWorkload: 'a/three' },
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems[0]?.errors[0]?.message).toBe(
      'no workload or pod of that name in the input (there are: a/one[Deployment], a/two[Deployment], b/one[Deployment])',
    );
  });
});

describe('modes', () => {
  const endpoints = [deployment('a', 'web', { app: 'web' }), deployment('a', 'db', { app: 'db' })];
  const denyDbIngress: GlobalNetworkPolicy = {
    apiVersion: 'projectcalico.org/v3',
    kind: 'GlobalNetworkPolicy',
    metadata: { name: 'security.deny-web-to-db' },
    spec: {
      tier: 'security',
      order: 10,
      selector: "app == 'db'",
      types: ['Ingress'],
      ingress: [
        {
          action: 'Deny',
          protocol: 'TCP',
          source: { selector: "app == 'web'" },
          destination: { ports: [5432] },
        },
        { action: 'Pass' },
      ],
    },
  };

  it('k8s mode ignores GlobalNetworkPolicies and says so', () => {
    const report = analyze({ endpoints, globalNetworkPolicies: [{ object: denyDbIngress }] }, 'k8s');
    expect(lines(report)).toContain(`a/web[Deployment] => a/db[Deployment] : ${ALL}`);
    expect(report.warnings).toEqual([
      '1 GlobalNetworkPolicy ignored: --mode k8s evaluates NetworkPolicies only; use --mode calico to include them',
    ]);
  });

  it('calico mode evaluates GNPs in their tiers, Deny and Pass included, with the NetworkPolicies', () => {
    const report = analyze(
      {
        endpoints,
        globalNetworkPolicies: [{ object: denyDbIngress }],
        tiers: [{ name: 'security', order: 100 }],
        networkPolicies: [
          np('a', 'db', {
            podSelector: { matchLabels: { app: 'db' } },
            ingress: [
              {
                from: [{ podSelector: { matchLabels: { app: 'web' } } }],
                ports: [{ port: 5432 }, { port: 6000 }],
              },
            ],
          }),
        ],
      },
      'calico',
    );
    // 5432 is denied by the security tier before the NetworkPolicy's allow; 6000 passes to it.
    expect(lines(report)).toContain('a/web[Deployment] => a/db[Deployment] : TCP 6000');
    expect(report.translatedFrom.size).toBe(1);
  });

  it('replaces a GNP the controller generated from a NetworkPolicy of the input by a fresh translation', () => {
    const policy = np('a', 'db', { podSelector: { matchLabels: { app: 'db' } }, ingress: [] });
    const translation = translateNetworkPolicy(policy.object);
    if (!translation.ok) throw new Error('translation failed');
    const stale: GlobalNetworkPolicy = {
      ...translation.policy,
      spec: { ...translation.policy.spec, ingress: [{ action: 'Allow' }] },
    };
    const report = analyze(
      { endpoints, networkPolicies: [policy], globalNetworkPolicies: [{ object: stale }] },
      'calico',
    );
    expect(lines(report).some((line) => line.includes('=> a/db'))).toBe(false);
    expect(report.warnings).toEqual([
      `GlobalNetworkPolicy ${translation.policy.metadata.name} replaced by a fresh translation of NetworkPolicy a/db`,
    ]);
  });

  it('reports the policies it cannot use, by kind and index', () => {
    const result = analyzeConnectivity(
      {
        namespaces: [],
        endpoints,
        networkPolicies: [
          np('a', 'fine', { podSelector: {} }),
          np('a', 'broken', { podSelector: {}, ingress: [{ ports: [{ port: 80, endPort: 70 }] }] }),
        ],
      },
      { mode: 'k8s' },
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(
      result.problems.map((p) => [p.kind, p.index, p.subject, formatPath(p.errors[0]?.path ?? [])]),
    ).toEqual([['NetworkPolicy', 1, 'NetworkPolicy a/broken', 'spec.ingress[0].ports[0].endPort']]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Properties

type Scenario = Omit<PolicyScenario, 'connections'>;

const scenarioArbitrary: fc.Arbitrary<Scenario> = namespacesArbitrary.chain((namespaces) =>
  podsArbitrary(namespaces).chain((pods) =>
    networkPoliciesArbitrary(namespaces.map((ns) => ns.name)).map((policies) => ({
      namespaces,
      pods,
      policies,
    })),
  ),
);

// The ports policies and pods use, at and around every boundary they make (endPort spans of 0, 10 and 1000).
const BOUNDARY_PORTS = [53, 80, 443, 8080, 9090].flatMap((port) =>
  [0, 10, 1000].flatMap((span) => [port - 1, port, port + span, port + span + 1]),
);
const portArbitrary = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(1, 65535, ...BOUNDARY_PORTS) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 65535 }) },
);

interface Sample {
  pair: number;
  protocol: Protocol;
  port: number;
  /** When set, the port is instead one of the destination's named container ports, or the port next to it. */
  nearNamedPort: { index: number; delta: -1 | 0 | 1 } | null;
  /** Where in an outside range: its first or last address, or somewhere inside. */
  offset: 'first' | 'last' | number;
}

const sampleArbitrary: fc.Arbitrary<Sample> = fc.record({
  pair: fc.nat(),
  protocol: fc.constantFrom(...PORT_PROTOCOLS),
  port: portArbitrary,
  nearNamedPort: fc.option(fc.record({ index: fc.nat(), delta: fc.constantFrom<-1 | 0 | 1>(-1, 0, 1) }), {
    freq: 2,
  }),
  offset: fc.oneof(fc.constantFrom<'first' | 'last'>('first', 'last'), fc.nat()),
});

/**
 * Every port where the input could make a verdict change, worked out from the policies and pods (not from the
 * analysis): each numeric port and endPort and the port after it, and each named container port of the
 * destination and the port after it.
 */
function inputBoundaryPorts(scenario: Scenario, dst: PairConnectivity['dst']): number[] {
  const ports = new Set<number>([1, 65535]);
  for (const policy of scenario.policies) {
    for (const rule of [...(policy.spec?.ingress ?? []), ...(policy.spec?.egress ?? [])]) {
      for (const port of rule.ports ?? []) {
        if (typeof port.port === 'number') [port.port, port.port + 1].forEach((p) => ports.add(p));
        if (typeof port.endPort === 'number') [port.endPort, port.endPort + 1].forEach((p) => ports.add(p));
      }
    }
  }
  if (dst.kind === 'workload')
    dst.pod.namedPorts.forEach((named) => ports.add(named.port).add(named.port + 1));
  return [...ports].filter((port) => port >= 1 && port <= 65535);
}

function addressIn(range: IpInterval, offset: Sample['offset']): string {
  const size = range.last - range.first + 1n;
  const value =
    offset === 'first' ? range.first : offset === 'last' ? range.last : range.first + (BigInt(offset) % size);
  return formatIp({ family: range.family, value });
}

/** The pair's side as the scenario's own cluster names it (the pod, not the analysis' `name[Pod]` peer). */
function referenceRef(pair: PairConnectivity, side: 'src' | 'dst', offset: Sample['offset']): PeerRef {
  const peer = pair[side];
  return peer.kind === 'workload'
    ? { kind: 'pod', namespace: peer.namespace, name: peer.name }
    : { kind: 'external', ip: addressIn(peer.range, offset) };
}

interface Tally {
  samples: number;
  allowed: number;
  partial: number;
  skipped: number;
}

/** Each sample's port-in-CONNS against the evaluator's verdict on the same connection; the first disagreement. */
function checkSamples(
  scenario: Scenario,
  report: ConnectivityReport,
  samples: readonly Sample[],
  evaluate: (resolved: Parameters<typeof kubeVerdict>[1]) => Verdict,
  tally: Tally,
): string | undefined {
  const cluster = clusterModel(scenario.namespaces, scenario.pods);
  const first = samples[0];
  // One pair swept at every port the input makes interesting, in every protocol; then the random samples.
  const sweep: Sample[] = first
    ? PORT_PROTOCOLS.flatMap((protocol) =>
        inputBoundaryPorts(
          scenario,
          (report.pairs[first.pair % report.pairs.length] as PairConnectivity).dst,
        ).map((port) => ({ ...first, protocol, port, nearNamedPort: null })),
      )
    : [];
  for (const sample of [...sweep, ...samples]) {
    const pair = report.pairs[sample.pair % report.pairs.length] as PairConnectivity;
    const named = pair.dst.kind === 'workload' ? pair.dst.pod.namedPorts : [];
    const near =
      sample.nearNamedPort && named.length > 0 ? named[sample.nearNamedPort.index % named.length] : undefined;
    const port =
      near && sample.nearNamedPort
        ? Math.min(65535, Math.max(1, near.port + sample.nearNamedPort.delta))
        : sample.port;
    const protocol = near?.protocol ?? sample.protocol;
    const connection = {
      src: referenceRef(pair, 'src', sample.offset),
      dst: referenceRef(pair, 'dst', sample.offset),
      protocol,
      port,
    };
    const resolved = resolveConnection(cluster, connection);
    if (!resolved.ok) throw new Error(`bad sample: ${resolved.errors.map(formatFieldError).join('; ')}`);
    const expected = evaluate(resolved.value).allowed;
    const reported = portSetHas(pair.allowed, protocol, port);
    tally.samples++;
    if (expected) tally.allowed++;
    if (pair.conn !== 'All Connections' && pair.conn !== 'No Connections') tally.partial++;
    if (expected !== reported) {
      return [
        `${pair.src.id} => ${pair.dst.id} : ${pair.conn}`,
        `but the evaluator says ${expected ? 'allowed' : 'denied'} for ${JSON.stringify(connection)}`,
        `policies: ${JSON.stringify(scenario.policies)}`,
        `pods: ${JSON.stringify(scenarioInput(scenario).endpoints)}`,
        `namespaces: ${JSON.stringify(scenario.namespaces)}`,
      ].join('\n');
    }
  }
  return undefined;
}

const envNumber = (name: string): number | undefined => {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : Number(value);
};
const runs = (numRuns: number) => ({
  numRuns: envNumber('FC_NUM_RUNS') ?? numRuns,
  seed: envNumber('FC_SEED'),
});
const samplesArbitrary = fc.array(sampleArbitrary, { minLength: 10, maxLength: 30 });

/** The scenario's policies as GNPs, or undefined when one cannot be translated (a key Calico reserves). */
function translatedPolicies(scenario: Scenario): CompiledCalicoPolicy[] | undefined {
  const compiled: CompiledCalicoPolicy[] = [];
  for (const policy of scenario.policies) {
    const translation = translateNetworkPolicy(policy);
    if (!translation.ok) return undefined;
    const result = compileCalicoPolicy(translation.policy);
    if (!result.ok) throw new Error(result.errors.map(formatFieldError).join('; '));
    compiled.push(result.value);
  }
  return compiled;
}

function expectNotVacuous(tally: Tally): void {
  // Both verdicts, and pairs with some but not all ports, occur often enough for the property to mean something.
  expect(tally.samples).toBeGreaterThan(1000);
  // Observed over many seeds: about 70-80% allowed, 3-12% of samples on pairs with some but not all ports.
  expect(tally.allowed / tally.samples).toBeGreaterThan(0.2);
  expect(tally.allowed / tally.samples).toBeLessThan(0.95);
  expect(tally.partial / tally.samples).toBeGreaterThan(0.01);
}

describe('agreement with the evaluator', () => {
  it('k8s mode: a port is in CONNS exactly when kube-eval allows that connection', () => {
    const tally: Tally = { samples: 0, allowed: 0, partial: 0, skipped: 0 };
    fc.assert(
      fc.property(scenarioArbitrary, samplesArbitrary, (scenario, samples) => {
        const report = analyze(scenarioInput(scenario), 'k8s');
        const compiled = scenario.policies.map((policy) => {
          const result = compileNetworkPolicy(policy);
          if (!result.ok) throw new Error(result.errors.map(formatFieldError).join('; '));
          return result.value;
        });
        const disagreement = checkSamples(scenario, report, samples, (c) => kubeVerdict(compiled, c), tally);
        if (disagreement) throw new Error(disagreement);
      }),
      runs(100),
    );
    expectNotVacuous(tally);
  });

  it('calico mode: a port is in CONNS exactly when calico-eval allows it under the translated GNPs', () => {
    const tally: Tally = { samples: 0, allowed: 0, partial: 0, skipped: 0 };
    fc.assert(
      fc.property(scenarioArbitrary, samplesArbitrary, (scenario, samples) => {
        const compiled = translatedPolicies(scenario);
        if (compiled === undefined) {
          tally.skipped++;
          return;
        }
        const report = analyze(scenarioInput(scenario), 'calico');
        const policySet = calicoPolicySet(compiled);
        const disagreement = checkSamples(
          scenario,
          report,
          samples,
          (c) => calicoVerdict(policySet, c),
          tally,
        );
        if (disagreement) throw new Error(disagreement);
      }),
      runs(100),
    );
    expectNotVacuous(tally);
  });

  it('k8s and calico modes print the same connlist for the same NetworkPolicies', () => {
    let compared = 0;
    fc.assert(
      fc.property(scenarioArbitrary, (scenario) => {
        if (translatedPolicies(scenario) === undefined) return;
        compared++;
        const input = scenarioInput(scenario);
        expect(analyze(input, 'calico').connections).toEqual(analyze(input, 'k8s').connections);
      }),
      runs(100),
    );
    expect(compared).toBeGreaterThan(60);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The listing path against the explaining path

/**
 * Scenarios where the listing's sharing matters: pods copied under new names (the same labels and ports, an address
 * of the same block, or none), so that classes hold several workloads and sides share answers, a host-network pod
 * now and then, and more policies than above.
 */
const listingScenarioArbitrary: fc.Arbitrary<Scenario> = namespacesArbitrary.chain((namespaces) =>
  podsArbitrary(namespaces).chain((pods) =>
    fc
      .tuple(
        networkPoliciesArbitrary(
          namespaces.map((ns) => ns.name),
          { minPolicies: 1, maxPolicies: 7 },
        ),
        fc.array(fc.record({ pod: fc.nat(), ips: fc.constantFrom('all', 'IPv6', 'none') }), { maxLength: 5 }),
        fc.option(fc.nat(), { nil: undefined }),
      )
      .map(([policies, copies, hostNetwork]) => {
        const copied = copies.map(({ pod, ips }, index) => {
          const original = pods[pod % pods.length] as (typeof pods)[number];
          return {
            ...original,
            name: `copy-${index}`,
            // The original's addresses plus 100 in the last group: the same ipBlocks hold them. IPv6 only: two such
            // pods talk over IPv6, where the same workload has another address.
            ips: original.ips
              .filter((ip) => ips === 'all' || (ips === 'IPv6' && ip.family === 6))
              .map((ip) => ({ ...ip, value: ip.value + 100n })),
          };
        });
        const all = [...pods, ...copied].map((pod, index) =>
          // With an IPv4 address: a host-network pod is an address, and outside ranges are IPv4 (an IPv6-only
          // host-network pod cannot be paired with them: the analysis stops on that, in both paths).
          hostNetwork !== undefined &&
          index === hostNetwork % (pods.length + copied.length) &&
          pod.ips[0]?.family === 4
            ? { ...pod, hostNetwork: true }
            : pod,
        );
        return { namespaces, pods: all, policies };
      }),
  ),
);

describe('the listing path', () => {
  it('lists every pair exactly as the explaining path (the full verdict per port segment) does, in both modes', () => {
    const seen = { compared: 0, pairs: 0, partial: 0, allowed: 0, denied: 0, hostNetwork: 0 };
    fc.assert(
      fc.property(
        listingScenarioArbitrary,
        fc.constantFrom<ConnectivityMode>('k8s', 'calico'),
        (scenario, mode) => {
          if (mode === 'calico' && translatedPolicies(scenario) === undefined) return;
          const input = scenarioInput(scenario);
          const listed = analyzeConnectivity(input, { mode });
          const explained = analyzeConnectivity(input, { mode, explain: true });
          if (!listed.ok || !explained.ok) throw new Error('the scenario is valid input');
          const text = (report: ConnectivityReport) =>
            report.pairs.map((pair) => `${pair.src.id} => ${pair.dst.id} : ${pair.conn}`);
          expect(text(listed.report)).toEqual(text(explained.report));
          seen.compared++;
          seen.hostNetwork += scenario.pods.some((pod) => pod.hostNetwork) ? 1 : 0;
          for (const pair of listed.report.pairs) {
            seen.pairs++;
            if (pair.conn === 'All Connections') seen.allowed++;
            else if (pair.conn === 'No Connections') seen.denied++;
            else seen.partial++;
          }
        },
      ),
      runs(300),
    );
    // Not vacuous: many pairs of every kind, host-network pods among them.
    expect(seen.compared).toBeGreaterThan(200);
    expect(Math.min(seen.allowed, seen.denied, seen.partial)).toBeGreaterThan(seen.pairs / 50);
    expect(seen.hostNetwork).toBeGreaterThan(20);
  });
});
