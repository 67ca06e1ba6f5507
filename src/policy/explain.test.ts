/**
 * The words of `--explain` for each kind of reason; whole outputs are golden-tested in
 * src/cli/commands/connectivity.test.ts.
 */
import type { NetworkPolicy, NetworkPolicySpec } from '../api/kube.js';
import type { GlobalNetworkPolicy } from '../calico/types.js';
import { formatFieldError } from '../api/errors.js';
import {
  analyzeConnectivity,
  type ConnectivityInput,
  type ConnectivityMode,
  type EndpointInput,
} from './connectivity.js';
import { CONNLIST_FORMATS, formatConnlist, formatConnlistChunks } from './connectivity-format.js';
import { DEFAULT_SECTION, EXPLAINED_SECTION, explainConnectivity } from './explain.js';

function workload(
  namespace: string,
  name: string,
  labels: Record<string, string>,
  extra: Partial<EndpointInput> = {},
) {
  return {
    namespace,
    name,
    labels,
    ports: [],
    ips: [],
    hostNetwork: false,
    owner: { kind: 'Deployment', name },
    ...extra,
  } satisfies EndpointInput;
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

function explain(
  input: Partial<ConnectivityInput>,
  mode: ConnectivityMode = 'k8s',
  focusWorkload?: string,
): string {
  const result = analyzeConnectivity(
    { namespaces: [], endpoints: [], networkPolicies: [], ...input },
    { mode, explain: true, ...(focusWorkload ? { focusWorkload } : {}) },
  );
  if (!result.ok)
    throw new Error(result.problems.map((p) => p.errors.map(formatFieldError).join('; ')).join('\n'));
  return explainConnectivity(result.report);
}

/** The block of one pair: its header line up to the blank line that ends it. */
function block(text: string, header: string): string {
  const start = text.indexOf(`${header} : `);
  if (start < 0) throw new Error(`no block for ${header} in:\n${text}`);
  const end = text.indexOf('\n\n', start);
  return text.slice(start, end < 0 ? undefined : end + 1);
}

const web = workload('shop', 'web', { app: 'web' });
const db = workload(
  'shop',
  'db',
  { app: 'db' },
  { ports: [{ name: 'pg', containerPort: 5432, protocol: 'TCP' }] },
);

describe('explainConnectivity', () => {
  it('needs a report analysed with explain', () => {
    const result = analyzeConnectivity(
      { namespaces: [], endpoints: [web], networkPolicies: [] },
      { mode: 'k8s' },
    );
    if (!result.ok) throw new Error('unexpected problems');
    expect(() => explainConnectivity(result.report)).toThrow('explain: true');
  });

  it('lists pairs nothing restricts together at the end, without reasons', () => {
    expect(explain({ endpoints: [web] })).toBe(
      [
        `## ${DEFAULT_SECTION}`,
        '',
        '0.0.0.0-255.255.255.255[External] => shop/web[Deployment]',
        'shop/web[Deployment] => 0.0.0.0-255.255.255.255[External]',
        '',
      ].join('\n'),
    );
  });

  it('groups the ports of a pair by reason: the allowing rule, and why the rest is denied', () => {
    const text = explain({
      endpoints: [web, db],
      networkPolicies: [
        np('shop', 'db', {
          podSelector: { matchLabels: { app: 'db' } },
          ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 'pg' }] }],
        }),
      ],
    });
    expect(text.startsWith(`## ${EXPLAINED_SECTION}\n\n`)).toBe(true);
    expect(block(text, 'shop/web[Deployment] => shop/db[Deployment]')).toBe(
      [
        'shop/web[Deployment] => shop/db[Deployment] : TCP 5432',
        '  Allowed TCP 5432, because:',
        '    egress from shop/web[Deployment]: allowed: no NetworkPolicy selects it for egress, so it is not isolated',
        '    ingress to shop/db[Deployment]: allowed by NetworkPolicy shop/db spec.ingress[0]',
        '  Denied SCTP 1-65535,TCP 1-5431,5433-65535,UDP 1-65535, because:',
        '    egress from shop/web[Deployment]: allowed: no NetworkPolicy selects it for egress, so it is not isolated',
        '    ingress to shop/db[Deployment]: denied: NetworkPolicy shop/db selects it for ingress (it is isolated), and none of its ingress rules allows this:',
        '      - NetworkPolicy shop/db spec.ingress[0]: the source matches, but not the protocol or port',
        '',
      ].join('\n'),
    );
  });

  it('names every rule that allows, and says when a policy has no rules for the direction', () => {
    const text = explain({
      endpoints: [web, db],
      networkPolicies: [
        np('shop', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] }),
        np('shop', 'web-out', {
          podSelector: { matchLabels: { app: 'web' } },
          policyTypes: ['Egress'],
          egress: [{ to: [{ podSelector: {} }] }, { ports: [{ protocol: 'UDP', port: 53 }] }],
        }),
      ],
    });
    expect(block(text, 'shop/db[Deployment] => shop/web[Deployment]')).toContain(
      '      - NetworkPolicy shop/deny-egress has no egress rules\n',
    );
    expect(block(text, 'shop/web[Deployment] => shop/db[Deployment]')).toContain(
      '    egress from shop/web[Deployment]: allowed by NetworkPolicy shop/web-out spec.egress[0] and NetworkPolicy shop/web-out spec.egress[1]\n',
    );
  });

  it('speaks of outside ranges as ranges, and of host-network pods as unrestricted', () => {
    const agent = workload('kube-system', 'agent', {}, { hostNetwork: true, ips: ['10.240.0.4'] });
    const text = explain({
      endpoints: [web, agent],
      networkPolicies: [
        np('shop', 'web', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.240.0.0/16' } }] }] }),
      ],
    });
    expect(block(text, '0.0.0.0-10.239.255.255[External] => shop/web[Deployment]')).toContain(
      'from[0]: 0.0.0.0-10.239.255.255 is outside ipBlock 10.240.0.0/16',
    );
    // The host-network pod's address is the node's: inside the block, and no pod policy applies to it.
    expect(block(text, 'kube-system/agent[Deployment] => shop/web[Deployment]')).toContain(
      'egress from kube-system/agent[Deployment]: not restricted: it uses the host network, where pod policies do not apply',
    );
    expect(block(text, 'kube-system/agent[Deployment] => shop/web[Deployment]')).toContain(
      'ingress to shop/web[Deployment]: allowed by NetworkPolicy shop/web spec.ingress[0]',
    );
  });

  it('in calico mode, names the tier that denies, the tiers that passed, and the NetworkPolicy a GNP came from', () => {
    const passAll: GlobalNetworkPolicy = {
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      metadata: { name: 'platform.pass' },
      spec: {
        tier: 'platform',
        order: 1,
        selector: 'all()',
        types: ['Ingress'],
        ingress: [{ action: 'Pass' }],
      },
    };
    const text = explain(
      {
        endpoints: [web, db],
        globalNetworkPolicies: [{ object: passAll }],
        tiers: [{ name: 'platform', order: 10 }],
        networkPolicies: [np('shop', 'db', { podSelector: { matchLabels: { app: 'db' } }, ingress: [] })],
      },
      'calico',
      'shop/db',
    );
    const lines = block(text, 'shop/web[Deployment] => shop/db[Deployment]').split('\n');
    expect(lines[2]).toBe(
      '    egress from shop/web[Deployment]: allowed: no GlobalNetworkPolicy selects it for egress, and its namespace profile allows everything',
    );
    expect(lines[3]).toMatch(
      /^ {4}ingress to shop\/db\[Deployment\]: denied by the end of tier default \(after tier platform passed it on\): GlobalNetworkPolicy knp-shop-db-[0-9a-f]+ \(from NetworkPolicy shop\/db\) of that tier selects it for ingress/,
    );
    expect(lines[4]).toMatch(
      /^ {6}- GlobalNetworkPolicy knp-shop-db-[0-9a-f]+ \(from NetworkPolicy shop\/db\) has no ingress rules$/,
    );
    // Where the platform tier passes and nothing else selects the pod, its profile allows.
    expect(block(text, 'shop/db[Deployment] => shop/web[Deployment]')).toContain(
      'ingress to shop/web[Deployment]: allowed: tier platform passed it on, and its namespace profile allows everything',
    );
  });
});

describe('formatConnlist', () => {
  const rows = [
    { src: 'a/x[Pod]', dst: 'a/y[Pod]', conn: 'TCP 80,9090' },
    { src: 'a/y[Pod]', dst: '0.0.0.0-255.255.255.255[External]', conn: 'All Connections' },
  ];

  it('writes each format as netpol-analyzer does', () => {
    expect(formatConnlist(rows, 'txt')).toBe(
      'a/x[Pod] => a/y[Pod] : TCP 80,9090\na/y[Pod] => 0.0.0.0-255.255.255.255[External] : All Connections\n',
    );
    expect(formatConnlist(rows, 'csv')).toBe(
      'src,dst,conn\na/x[Pod],a/y[Pod],"TCP 80,9090"\na/y[Pod],0.0.0.0-255.255.255.255[External],All Connections\n',
    );
    expect(formatConnlist(rows, 'md')).toBe(
      '| src | dst | conn |\n|-----|-----|------|\n| a/x[Pod] | a/y[Pod] | TCP 80,9090 |\n| a/y[Pod] | 0.0.0.0-255.255.255.255[External] | All Connections |\n',
    );
    expect(JSON.parse(formatConnlist(rows, 'json'))).toEqual(rows);
  });

  it('writes nothing but the empty shape of each format when nothing is allowed', () => {
    expect(CONNLIST_FORMATS.map((format) => formatConnlist([], format))).toEqual([
      '',
      '[]\n',
      'src,dst,conn\n',
      '| src | dst | conn |\n|-----|-----|------|\n',
    ]);
  });

  it('writes a long list in chunks that join to the same text: JSON as JSON.stringify indents it', () => {
    const many = Array.from({ length: 10_000 }, (_, index) => ({
      src: `ns/p-${index}[Pod]`,
      dst: index % 3 === 0 ? '10.0.0.0-10.0.0.255[External]' : `ns/"q"-${index}[Pod]`,
      conn: index % 2 === 0 ? 'TCP 80,9090' : 'All Connections',
    }));
    const chunks = [...formatConnlistChunks(many, 'json')];
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.join('')).toBe(`${JSON.stringify(many, null, 2)}\n`);
    expect(formatConnlist(rows, 'json')).toBe(`${JSON.stringify(rows, null, 2)}\n`);
    expect([...formatConnlistChunks(many, 'txt')].join('')).toBe(
      many.map((row) => `${row.src} => ${row.dst} : ${row.conn}\n`).join(''),
    );
    expect([...formatConnlistChunks(many, 'csv')].join('').split('\n')).toHaveLength(many.length + 2);
  });
});
