/**
 * fast-check generators for policy scenarios: namespaces with labels, labelled pods with named ports and IPs,
 * NetworkPolicies using every construct of networking.k8s.io/v1, and connections between pods and external
 * addresses. Shared by the differential tests and any other property test that needs a cluster.
 *
 * Vocabularies are deliberately tiny (a few keys, values, ports, CIDRs around the pod addresses) so that random
 * selectors, ports and ipBlocks actually match the random pods often; a generator whose policies never select
 * anything would make every property pass vacuously.
 */
import fc from 'fast-check';
import type {
  IPBlock,
  LabelSelector,
  LabelSelectorRequirement,
  NetworkPolicy,
  NetworkPolicyEgressRule,
  NetworkPolicyIngressRule,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  NetworkPolicySpec,
  PolicyType,
  Protocol,
} from '../../src/api/kube.js';
import { formatIp } from '../../src/util/cidr.js';
import type { ConnectivityInput } from '../../src/policy/connectivity.js';
import {
  clusterModel,
  namespaceModel,
  podModel,
  type ClusterModel,
  type Connection,
  type ConnectionProtocol,
  type NamedPort,
  type NamespaceModel,
  type PeerRef,
  type PodModel,
} from '../../src/policy/model.js';

export const NAMESPACE_NAMES = ['ns-a', 'ns-b', 'ns-c'] as const;
export const POD_LABEL_KEYS = ['app', 'tier', 'env', 'example.com/role'] as const;
export const NAMESPACE_LABEL_KEYS = ['usage', 'env', 'team'] as const;
export const LABEL_VALUES = ['a', 'b', ''] as const;
export const PORT_NAMES = ['http', 'dns', 'metrics'] as const;
export const PORT_NUMBERS = [53, 80, 443, 8080, 9090] as const;
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];
/** Addresses outside the pods: public, private-but-not-pod, and IPv6. */
export const EXTERNAL_IPS = ['203.0.113.7', '192.168.1.10', '10.9.9.9', '2001:db8::1', 'fd00::9:9'] as const;

/** An ipBlock's CIDR and the excepts generated policies choose from (strict subsets of the CIDR). */
export interface IpBlockChoice {
  cidr: string;
  except: readonly string[];
}

/** ipBlocks near the pod addresses (10.0.<ns>.<pod>, fd00::<ns>:<pod>), with strict-subset excepts. */
export const IP_BLOCKS: readonly IpBlockChoice[] = [
  { cidr: '10.0.0.0/16', except: ['10.0.1.0/24', '10.0.2.0/24', '10.0.0.2/32'] },
  { cidr: '10.0.1.0/24', except: ['10.0.1.2/31', '10.0.1.1/32'] },
  { cidr: '10.0.0.0/8', except: ['10.0.0.0/16', '10.9.0.0/16'] },
  { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '192.168.0.0/16', '203.0.113.0/24'] },
  { cidr: '203.0.113.0/24', except: ['203.0.113.7/32'] },
  { cidr: '::/0', except: ['fd00::/8', '2001:db8::/32'] },
  { cidr: 'fd00::/16', except: ['fd00::1:0/112', 'fd00::2:1/128'] },
  // Host bits set: Kubernetes (and the translation) use the network, 10.0.2.0/24.
  { cidr: '10.0.2.9/24', except: [] },
];

/** Label keys Calico sets on workload endpoints; selectors on them cannot be translated exactly. */
export const RESERVED_POD_LABEL_KEYS = ['projectcalico.org/namespace', 'pcns.usage'] as const;

export interface PolicyScenario {
  namespaces: NamespaceModel[];
  pods: PodModel[];
  policies: NetworkPolicy[];
  connections: Connection[];
}

/** Each key present with probability 2/3; values mostly 'a' or 'b', sometimes the empty value. */
export const labelsOf = (keys: readonly string[]): fc.Arbitrary<Record<string, string>> =>
  fc
    .tuple(
      ...keys.map((key) =>
        fc.option(
          labelValueArbitrary.map((value) => [key, value] as const),
          { freq: 3 },
        ),
      ),
    )
    .map((entries) => Object.fromEntries(entries.filter((entry) => entry !== null)));

const labelValueArbitrary = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('a', 'b') },
  { weight: 1, arbitrary: fc.constant('') },
);

// ---------------------------------------------------------------------------------------------------------------
// Cluster

export const namespacesArbitrary: fc.Arbitrary<NamespaceModel[]> = fc
  .uniqueArray(fc.constantFrom(...NAMESPACE_NAMES), { minLength: 1, maxLength: NAMESPACE_NAMES.length })
  .chain((names) =>
    fc.tuple(
      ...names.map((name) => labelsOf(NAMESPACE_LABEL_KEYS).map((labels) => namespaceModel(name, labels))),
    ),
  );

const namedPortArbitrary: fc.Arbitrary<NamedPort> = fc.record({
  name: fc.constantFrom(...PORT_NAMES),
  port: fc.constantFrom(...PORT_NUMBERS),
  protocol: fc.constantFrom(...PROTOCOLS),
});

/** Pods in the given namespaces; each has an IPv4 address, most an IPv6 one, a few none (like manifests). */
export function podsArbitrary(namespaces: readonly NamespaceModel[]): fc.Arbitrary<PodModel[]> {
  const pod = fc.record({
    namespaceIndex: fc.nat({ max: namespaces.length - 1 }),
    labels: labelsOf(POD_LABEL_KEYS),
    namedPorts: fc.uniqueArray(namedPortArbitrary, {
      maxLength: 3,
      selector: (port) => `${port.name}/${port.protocol}`,
    }),
    addresses: fc.constantFrom('dual', 'dual', 'v4', 'none'),
    serviceAccount: fc.option(fc.constantFrom('default', 'builder'), { nil: undefined }),
  });
  return fc.array(pod, { minLength: 1, maxLength: 6 }).map((drafts) =>
    drafts.map((draft, index) => {
      const namespace = namespaces[draft.namespaceIndex] as NamespaceModel;
      const nsNumber = NAMESPACE_NAMES.indexOf(namespace.name as (typeof NAMESPACE_NAMES)[number]);
      const ips = [];
      if (draft.addresses !== 'none') ips.push(`10.0.${nsNumber}.${index + 1}`);
      if (draft.addresses === 'dual') ips.push(`fd00::${nsNumber}:${index + 1}`);
      return podModel({
        namespace: namespace.name,
        name: `pod-${index}`,
        labels: draft.labels,
        namedPorts: draft.namedPorts,
        ips,
        ...(draft.serviceAccount ? { serviceAccountName: draft.serviceAccount } : {}),
      });
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Policies

const requirementArbitrary = (keys: readonly string[]): fc.Arbitrary<LabelSelectorRequirement> =>
  fc.oneof(
    fc.record({
      key: fc.constantFrom(...keys),
      operator: fc.constantFrom('In' as const, 'NotIn' as const),
      values: fc.uniqueArray(fc.constantFrom(...LABEL_VALUES), { minLength: 1, maxLength: 3 }),
    }),
    fc.record({
      key: fc.constantFrom(...keys),
      operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const),
    }),
  );

/** Empty (`{}`, matches everything), matchLabels, matchExpressions, or both; mostly one term, to match often. */
export const labelSelectorArbitrary = (keys: readonly string[]): fc.Arbitrary<LabelSelector> => {
  const matchLabels = fc.dictionary(fc.constantFrom(...keys), labelValueArbitrary, {
    minKeys: 1,
    maxKeys: 2,
  });
  const matchExpressions = fc.array(requirementArbitrary(keys), { minLength: 1, maxLength: 2 });
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant({}) },
    { weight: 4, arbitrary: matchLabels.map((labels) => ({ matchLabels: labels })) },
    { weight: 3, arbitrary: matchExpressions.map((expressions) => ({ matchExpressions: expressions })) },
    {
      weight: 1,
      arbitrary: fc.tuple(matchLabels, matchExpressions).map(([labels, expressions]) => ({
        matchLabels: labels,
        matchExpressions: expressions,
      })),
    },
  );
};

const podSelectorArbitrary = fc.oneof(
  { weight: 20, arbitrary: labelSelectorArbitrary(POD_LABEL_KEYS) },
  // Rarely, a key Calico reserves: translation must refuse it (counted by the differential test).
  { weight: 1, arbitrary: labelSelectorArbitrary(RESERVED_POD_LABEL_KEYS) },
);

const namespaceSelectorArbitrary = labelSelectorArbitrary([
  ...NAMESPACE_LABEL_KEYS,
  'kubernetes.io/metadata.name',
]).map((selector): LabelSelector =>
  // Name-based namespace selection is common in real policies; give it a real namespace name to match.
  selector.matchLabels && 'kubernetes.io/metadata.name' in selector.matchLabels
    ? { ...selector, matchLabels: { ...selector.matchLabels, 'kubernetes.io/metadata.name': 'ns-b' } }
    : selector,
);

/** An ipBlock from `blocks`, with a subset of its excepts (possibly none, possibly written as `except: []`). */
const ipBlockArbitrary = (blocks: readonly IpBlockChoice[]): fc.Arbitrary<IPBlock> =>
  fc
    .constantFrom(...blocks)
    .chain((block) =>
      fc
        .subarray([...block.except])
        .chain((except) =>
          fc
            .boolean()
            .map((omit): IPBlock =>
              omit && except.length === 0 ? { cidr: block.cidr } : { cidr: block.cidr, except },
            ),
        ),
    );

export const peerArbitraryOver = (blocks: readonly IpBlockChoice[]): fc.Arbitrary<NetworkPolicyPeer> =>
  fc.oneof(
    podSelectorArbitrary.map((podSelector) => ({ podSelector })),
    namespaceSelectorArbitrary.map((namespaceSelector) => ({ namespaceSelector })),
    fc
      .tuple(podSelectorArbitrary, namespaceSelectorArbitrary)
      .map(([podSelector, namespaceSelector]) => ({ podSelector, namespaceSelector })),
    ipBlockArbitrary(blocks).map((ipBlock) => ({ ipBlock })),
  );

export const peerArbitrary: fc.Arbitrary<NetworkPolicyPeer> = peerArbitraryOver(IP_BLOCKS);

export const portArbitrary: fc.Arbitrary<NetworkPolicyPort> = fc
  .record(
    {
      protocol: fc.constantFrom(...PROTOCOLS),
      port: fc.oneof(fc.constantFrom(...PORT_NUMBERS), fc.constantFrom(...PORT_NAMES, 'nope')),
      endSpan: fc.constantFrom(0, 10, 1000),
    },
    { requiredKeys: [] },
  )
  .map(({ protocol, port, endSpan }) => {
    const result: NetworkPolicyPort = {};
    if (protocol !== undefined) result.protocol = protocol;
    if (port !== undefined) result.port = port;
    if (typeof port === 'number' && endSpan !== undefined) result.endPort = port + endSpan;
    return result;
  });

/** absent, `[]`, or one to three items. */
const optionalList = <T>(item: fc.Arbitrary<T>): fc.Arbitrary<T[] | undefined> =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constant<T[]>([]) },
    { weight: 4, arbitrary: fc.array(item, { minLength: 1, maxLength: 3 }) },
  );

const ingressRuleArbitrary = (
  peer: fc.Arbitrary<NetworkPolicyPeer>,
): fc.Arbitrary<NetworkPolicyIngressRule> =>
  fc
    .record({ from: optionalList(peer), ports: optionalList(portArbitrary) })
    .map(({ from, ports }) => ({ ...(from ? { from } : {}), ...(ports ? { ports } : {}) }));

const egressRuleArbitrary = (peer: fc.Arbitrary<NetworkPolicyPeer>): fc.Arbitrary<NetworkPolicyEgressRule> =>
  fc
    .record({ to: optionalList(peer), ports: optionalList(portArbitrary) })
    .map(({ to, ports }) => ({ ...(to ? { to } : {}), ...(ports ? { ports } : {}) }));

const policyTypesArbitrary: fc.Arbitrary<PolicyType[] | undefined> = fc.constantFrom(
  undefined,
  ['Ingress'],
  ['Egress'],
  ['Ingress', 'Egress'],
  ['Egress', 'Ingress'],
);

/** Where the generated policies' ipBlocks come from, and how many policies a set has. */
export interface PolicyVocabulary {
  /** Default IP_BLOCKS (around the addresses podsArbitrary gives). */
  ipBlocks?: readonly IpBlockChoice[];
  /** Policies per set (networkPoliciesArbitrary): default 0 to 4. */
  minPolicies?: number;
  maxPolicies?: number;
}

export function networkPolicyArbitrary(
  namespaces: readonly string[],
  vocabulary: PolicyVocabulary = {},
): fc.Arbitrary<NetworkPolicy> {
  const peer = peerArbitraryOver(vocabulary.ipBlocks ?? IP_BLOCKS);
  return fc
    .record({
      namespace: fc.constantFrom(...namespaces),
      podSelector: podSelectorArbitrary,
      policyTypes: policyTypesArbitrary,
      ingress: optionalList(ingressRuleArbitrary(peer)),
      egress: optionalList(egressRuleArbitrary(peer)),
    })
    .map(({ namespace, podSelector, policyTypes, ingress, egress }) => {
      const spec: NetworkPolicySpec = { podSelector };
      if (policyTypes) spec.policyTypes = policyTypes;
      if (ingress) spec.ingress = ingress;
      if (egress) spec.egress = egress;
      return {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'np', namespace },
        spec,
      };
    });
}

/** Policies with unique names per namespace. */
export function networkPoliciesArbitrary(
  namespaces: readonly string[],
  vocabulary: PolicyVocabulary = {},
): fc.Arbitrary<NetworkPolicy[]> {
  return fc
    .array(networkPolicyArbitrary(namespaces, vocabulary), {
      minLength: vocabulary.minPolicies ?? 0,
      maxLength: vocabulary.maxPolicies ?? 4,
    })
    .map((policies) =>
      policies.map((policy, index) => ({ ...policy, metadata: { ...policy.metadata, name: `np-${index}` } })),
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Connections

// Mostly the ports policies and pods use, plus one inside the endPort ranges and one nobody uses.
const CONNECTION_PORTS = [53, 80, 443, 8080, 9090, 8085, 1234] as const;

export function connectionArbitrary(pods: readonly PodModel[]): fc.Arbitrary<Connection> {
  const podRef: fc.Arbitrary<PeerRef> = fc
    .constantFrom(...pods)
    .map((pod) => ({ kind: 'pod', namespace: pod.namespace, name: pod.name }));
  const externalRef: fc.Arbitrary<PeerRef> = fc
    .constantFrom(...EXTERNAL_IPS)
    .map((ip) => ({ kind: 'external', ip }));
  const ends = fc.oneof(
    { weight: 3, arbitrary: fc.tuple(podRef, podRef) },
    { weight: 1, arbitrary: fc.tuple(podRef, externalRef) },
    { weight: 1, arbitrary: fc.tuple(externalRef, podRef) },
  );
  const service = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        protocol: fc.constantFrom(...PROTOCOLS),
        port: fc.constantFrom(...CONNECTION_PORTS),
      }),
    },
    { weight: 1, arbitrary: fc.record({ protocol: fc.constantFrom<ConnectionProtocol>('ICMP') }) },
  );
  return fc
    .tuple(ends, service, fc.constantFrom<4 | 6 | undefined>(undefined, 4, 6))
    .map(([[src, dst], svc, family]) => {
      const externalFamily = [src, dst].find((side) => side.kind === 'external');
      const connection: Connection = { src, dst, ...svc };
      if (externalFamily === undefined && family !== undefined) connection.ipFamily = family;
      // ICMP is IPv4's; over IPv6 the same question is ICMPv6.
      const v6 =
        externalFamily?.kind === 'external' ? externalFamily.ip.includes(':') : connection.ipFamily === 6;
      if (connection.protocol === 'ICMP' && v6) connection.protocol = 'ICMPv6';
      return connection;
    });
}

export const policyScenarioArbitrary: fc.Arbitrary<PolicyScenario> = namespacesArbitrary.chain((namespaces) =>
  podsArbitrary(namespaces).chain((pods) =>
    fc.record({
      namespaces: fc.constant(namespaces),
      pods: fc.constant(pods),
      policies: networkPoliciesArbitrary(namespaces.map((ns) => ns.name)),
      connections: fc.array(connectionArbitrary(pods), { minLength: 4, maxLength: 12 }),
    }),
  ),
);

export function scenarioCluster(scenario: PolicyScenario): ClusterModel {
  return clusterModel(scenario.namespaces, scenario.pods);
}

/** The scenario's pods as the connectivity analysis sees them (each pod its own peer). */
export function scenarioConnectivityInput(
  scenario: Pick<PolicyScenario, 'namespaces' | 'pods' | 'policies'>,
): ConnectivityInput {
  return {
    namespaces: scenario.namespaces,
    endpoints: scenario.pods.map((p: PodModel) => ({
      namespace: p.namespace,
      name: p.name,
      labels: p.labels,
      ports: p.namedPorts.map((port) => ({
        name: port.name,
        containerPort: port.port,
        protocol: port.protocol,
      })),
      ips: p.ips.map(formatIp),
      hostNetwork: p.hostNetwork,
      owner: { kind: 'Pod', name: p.name },
      ...(p.serviceAccountName ? { serviceAccountName: p.serviceAccountName } : {}),
    })),
    networkPolicies: scenario.policies.map((policy) => ({
      object: policy,
      namespace: policy.metadata?.namespace ?? '',
    })),
  };
}
