import { manifestsFromSources } from '../manifests/index.js';
import { lintManifests } from './lint.js';

const lint = (...docs: string[]) =>
  lintManifests(manifestsFromSources([{ file: 'in.yaml', text: docs.join('\n---\n') }]));
const vpe = (...docs: string[]) => lint(...docs).filter((f) => f.ruleId === 'vpe-rule-missing');

const gnp = (name: string, body: string, apiVersion = 'projectcalico.org/v3') =>
  `apiVersion: ${apiVersion}\nkind: GlobalNetworkPolicy\nmetadata: {name: ${name}}\nspec:\n${body}`;
const WORKERS = "  selector: ibm.role == 'worker_private'";
/** IBM's deny-all-private-default: the last word on worker egress. */
const denyAll = gnp(
  'deny-all-private-default',
  `${WORKERS}\n  order: 99900\n  types: [Egress]\n  egress:\n  - action: Deny`,
);
const allowTcp = (name: string, ports: string, nets: string, order = 500) =>
  gnp(
    name,
    `${WORKERS}\n  order: ${order}\n  types: [Egress]\n  egress:\n  - action: Allow\n    protocol: TCP\n    source: {}\n    destination: {nets: ${nets}, ports: ${ports}}`,
  );
const profile = (spec: string, name = 'us-south') =>
  `apiVersion: calico-vpc.io/v1alpha1\nkind: VpcEgressProfile\nmetadata: {name: ${name}}\nspec:\n${spec}`;
const THREE_ZONES = [
  '  zones:',
  '  - {name: us-south-1, addressPrefixes: [10.240.0.0/18]}',
  '  - {name: us-south-2, addressPrefixes: [10.240.64.0/18]}',
  '  - {name: us-south-3, addressPrefixes: [10.240.128.0/18]}',
].join('\n');

describe('vpe-rule-missing without a VpcEgressProfile', () => {
  it('warns, at the policy that denies, when worker egress is restricted and TCP 443+4443 go nowhere', () => {
    const findings = vpe(allowTcp('allow-dns', '[53]', '[0.0.0.0/0]'), denyAll);
    expect(findings.map((f) => [f.line, f.col, f.severity])).toEqual([[18, 13, 'warning']]);
    expect(findings[0]?.message).toBe(
      'GlobalNetworkPolicy "deny-all-private-default" (order 99900) restricts the egress of the workers (ibm.role == \'worker_private\'), ' +
        'but no policy in the input allows them TCP 443 and 4443 to any address: on VPC clusters (version 1.28 and later) image pulls go ' +
        'through the VPE gateway for Registry and will fail. Declare the VPC zones and their address prefixes in a VpcEgressProfile ' +
        '(`calico-vpc import-prefixes`) so that one allow rule per zone is written and kept',
    );
  });

  it('is satisfied by a hand-written VPE rule in the seed’s shape, and not by one port alone', () => {
    expect(vpe(denyAll, allowTcp('allow-vpe-gateway-registry', '[443, 4443]', '[10.245.0.0/16]'))).toEqual(
      [],
    );
    expect(vpe(denyAll, allowTcp('only-443', '[443]', '[10.245.0.0/16]'))).toHaveLength(1);
    // 443 and 4443 allowed, but never to the same address.
    expect(
      vpe(denyAll, allowTcp('a', '[443]', '[10.1.0.0/16]'), allowTcp('b', '[4443]', '[10.2.0.0/16]')),
    ).toHaveLength(1);
  });

  it('does not count an allow that comes after a deny of the same traffic', () => {
    const earlyDeny = gnp(
      'deny-early',
      `${WORKERS}\n  order: 10\n  types: [Egress]\n  egress:\n  - action: Deny`,
    );
    expect(vpe(earlyDeny, allowTcp('allow-vpe', '[443, 4443]', '[10.245.0.0/16]'))).toHaveLength(1);
  });

  it('does not count rules that match endpoints, other protocols or other sources', () => {
    const toEndpoints = gnp(
      'to-workers',
      `${WORKERS}\n  types: [Egress]\n  egress:\n  - action: Allow\n    destination: {selector: "ibm.role == 'worker_private'"}`,
    );
    const udp = gnp(
      'udp',
      `${WORKERS}\n  types: [Egress]\n  egress:\n  - action: Allow\n    protocol: UDP\n    destination: {ports: [443, 4443]}`,
    );
    const otherSource = gnp(
      'other-source',
      `${WORKERS}\n  types: [Egress]\n  egress:\n  - action: Allow\n    source: {selector: "ibm.role == 'worker_public'"}`,
    );
    expect(vpe(denyAll, toEndpoints, udp, otherSource)).toHaveLength(1);
  });

  it('stays quiet when no policy restricts worker egress', () => {
    const ingressOnly = gnp('ingress-only', `${WORKERS}\n  types: [Ingress]\n  ingress:\n  - action: Deny`);
    const pods = gnp(
      'pods',
      "  selector: projectcalico.org/orchestrator == 'k8s'\n  types: [Egress]\n  egress:\n  - action: Deny",
    );
    expect(vpe(ingressOnly, pods)).toEqual([]);
  });

  it('reads a missing types the way each API group does', () => {
    const rules = `${WORKERS}\n  ingress:\n  - action: Allow\n  egress:\n  - action: Deny\n    protocol: UDP`;
    // projectcalico.org/v3 defaults types from the rules present; crd.projectcalico.org/v1 is read as both.
    expect(vpe(gnp('v3', rules))).toHaveLength(1);
    expect(
      vpe(gnp('default.v1', `${WORKERS}\n  ingress:\n  - action: Allow`, 'crd.projectcalico.org/v1')),
    ).toHaveLength(1);
    expect(vpe(gnp('v3-ingress', `${WORKERS}\n  ingress:\n  - action: Allow`))).toEqual([]);
  });
});

describe('vpe-rule-missing with a VpcEgressProfile', () => {
  it('counts the profile as its per-zone rules: IBM’s deny-all after them is fine', () => {
    expect(vpe(denyAll, profile(THREE_ZONES))).toEqual([]);
  });

  it('reports each zone a deny ordered before the profile blocks, and says how to fix it', () => {
    const deny = gnp(
      'deny-private',
      `${WORKERS}\n  order: 100\n  types: [Egress]\n  egress:\n  - action: Deny\n    destination: {nets: [10.240.64.0/18, 10.240.160.0/19]}`,
    );
    const findings = vpe(deny, profile(THREE_ZONES));
    expect(findings.map((f) => [f.line, f.message])).toEqual([
      [
        18,
        'the workers (ibm.role == \'worker_private\') cannot reach the VPE gateways of zone "us-south-2": TCP 443 and 4443 to 10.240.64.0/18 ' +
          'are denied by GlobalNetworkPolicy "deny-private" (order 100). GlobalNetworkPolicy "deny-private" (order 100) comes before the ' +
          "profile's rules (order 500): give the profile a lower spec.order",
      ],
      [
        19,
        'the workers (ibm.role == \'worker_private\') cannot reach the VPE gateways of zone "us-south-3": TCP 443 and 4443 to 10.240.160.0/19 ' +
          'are denied by GlobalNetworkPolicy "deny-private" (order 100). GlobalNetworkPolicy "deny-private" (order 100) comes before the ' +
          "profile's rules (order 500): give the profile a lower spec.order",
      ],
    ]);
    // With a lower order the profile's rules win.
    expect(vpe(deny, profile(`${THREE_ZONES}\n  order: 50`))).toEqual([]);
  });

  it('explains a profile whose gateways or selector do not cover the workers', () => {
    const gateways = profile(`${THREE_ZONES}\n  gateways: [{name: registry, protocol: TCP, ports: [443]}]`);
    expect(vpe(denyAll, gateways).map((f) => f.message.slice(f.message.indexOf('TCP')))).toEqual(
      ['10.240.0.0/18', '10.240.64.0/18', '10.240.128.0/18'].map(
        (net) =>
          `TCP 4443 to ${net} is denied by GlobalNetworkPolicy "deny-all-private-default" (order 99900). The profile's gateways do not open TCP 4443`,
      ),
    );
    const selector = profile(`${THREE_ZONES}\n  selector: "ibm.role == 'worker_public'"`);
    expect(vpe(denyAll, selector)[0]?.message).toMatch(
      /does not select the workers' private host endpoints$/,
    );
  });

  it('judges a zone split across several allow rules as a whole', () => {
    const halves = allowTcp('halves', '[4443]', '[10.240.0.0/19, 10.240.32.0/19]', 400);
    const gateways = profile(
      `  zones: [{name: us-south-1, addressPrefixes: [10.240.0.0/18]}]\n  gateways: [{name: registry, protocol: TCP, ports: [443]}]`,
    );
    expect(vpe(denyAll, halves, gateways)).toEqual([]);
    const oneHalf = allowTcp('half', '[4443]', '[10.240.0.0/19]', 400);
    expect(vpe(denyAll, oneHalf, gateways).map((f) => f.message.slice(f.message.indexOf('TCP')))).toEqual([
      'TCP 4443 to 10.240.32.0/19 is denied by GlobalNetworkPolicy "deny-all-private-default" (order 99900). The profile\'s gateways do not open TCP 4443',
    ]);
  });

  it('leaves invalid profiles to invalid-profile', () => {
    const findings = lint(
      denyAll,
      profile('  zones: [{name: us-south-1, addressPrefixes: [10.240.1.0/18]}]'),
    );
    expect(findings.map((f) => f.ruleId)).toEqual(['invalid-profile']);
  });
});

describe('invalid-calico-policy and cidr-host-bits', () => {
  it('reports what Calico rejects, such as the documentation’s placeholder, and masks host bits with a warning', () => {
    const placeholder = allowTcp(
      'allow-vpe-gateway-registry',
      '[443, 4443]',
      "['<entire-vpc-address-prefix-range>']",
    );
    const hostBits = allowTcp('host-bits', '[443, 4443]', '[10.245.1.0/16]');
    const badSelector = gnp('bad-selector', "  selector: ibm.role = 'worker_private'");
    expect(
      lint(placeholder, hostBits, badSelector).map(
        (f) => `${f.line} ${f.severity} ${f.ruleId}: ${f.message}`,
      ),
    ).toEqual([
      '12 error invalid-calico-policy: "<entire-vpc-address-prefix-range>" is not a valid CIDR or address',
      '25 warning cidr-host-bits: 10.245.1.0/16 has host bits set; Calico uses the network 10.245.0.0/16',
      '31 error invalid-calico-policy: invalid Calico selector "ibm.role = \'worker_private\'": expected \'==\' at position 9, found "="',
    ]);
  });
});

describe('unevaluated-calico-match', () => {
  it('warns about valid Calico matches lint does not model (HTTP, Services) instead of calling them invalid', () => {
    const http = gnp(
      'http-only',
      `${WORKERS}\n  types: [Egress]\n  egress:\n  - action: Allow\n    http: {methods: [GET]}`,
    );
    const service = gnp(
      'to-service',
      `${WORKERS}\n  types: [Egress]\n  egress:\n  - action: Allow\n    destination:\n      services: {name: registry, namespace: kube-system}`,
    );
    expect(lint(http, service).map((f) => `${f.line} ${f.severity} ${f.ruleId}`)).toEqual([
      '9 warning unevaluated-calico-match',
      '20 warning unevaluated-calico-match',
    ]);
  });
});

describe('Calico namespaced NetworkPolicies', () => {
  it('reports what Calico would reject in them, at the field, as for GlobalNetworkPolicies', () => {
    const calicoNetworkPolicy = (name: string, body: string) =>
      `apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: ${name}, namespace: shop}\nspec:\n${body}`;
    const badSelector = calicoNetworkPolicy('bad-selector', "  selector: app = 'web'");
    const badRule = calicoNetworkPolicy(
      'bad-rule',
      "  selector: app == 'web'\n  ingress:\n  - action: Allow\n    source: {selector: tier = 'x', nets: [10.0.0.1/24]}",
    );
    const service = calicoNetworkPolicy(
      'service',
      "  selector: app == 'web'\n  ingress:\n  - action: Allow\n    source:\n      services: {name: api}",
    );
    const good = calicoNetworkPolicy('good', "  selector: app == 'web'\n  types: [Ingress]");
    expect(
      lint(badSelector, badRule, service, good).map((f) => `${f.line} ${f.severity} ${f.ruleId}`),
    ).toEqual([
      '5 error invalid-calico-policy',
      '14 error invalid-calico-policy',
      '14 warning cidr-host-bits',
      '24 warning unevaluated-calico-match',
    ]);
  });
});

describe('vpe-rule-missing and tiers', () => {
  it('follows a Pass out of a tier into the next, and the Tier objects of the input', () => {
    const platform = gnp(
      'platform.pass-registry',
      `  tier: platform\n${WORKERS}\n  types: [Egress]\n  egress:\n  - action: Pass\n    protocol: TCP\n    destination: {ports: [443, 4443]}\n  - action: Deny`,
    );
    const tier = (order: number) =>
      `apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: platform}\nspec: {order: ${order}}`;
    // The platform tier runs first and passes TCP 443/4443 on to the default tier, where the profile allows it.
    expect(vpe(tier(100), platform, profile(THREE_ZONES))).toEqual([]);
    const denyFirst = gnp(
      'platform.deny',
      `  tier: platform\n${WORKERS}\n  types: [Egress]\n  egress:\n  - action: Deny`,
    );
    const findings = vpe(tier(100), denyFirst, profile(THREE_ZONES));
    expect(findings).toHaveLength(3);
    expect(findings[0]?.message).toContain('denied by GlobalNetworkPolicy "platform.deny"');
    // Ordered after the default tier (1,000,000), the same deny comes too late to matter.
    expect(vpe(tier(2_000_000), denyFirst, profile(THREE_ZONES))).toEqual([]);
  });
});

describe('vpe-rule-missing and the end of a tier', () => {
  it('denies at the end of the tier what no rule decides, Log rules deciding nothing', () => {
    const logOnly = gnp('log', `${WORKERS}\n  order: 10\n  types: [Egress]\n  egress:\n  - action: Log`);
    const gateways = profile(
      `  zones: [{name: us-south-1, addressPrefixes: [10.240.0.0/18]}]\n  gateways: [{name: registry, protocol: TCP, ports: [443]}]`,
    );
    expect(vpe(logOnly, gateways).map((f) => f.message.slice(f.message.indexOf('TCP')))).toEqual([
      'TCP 4443 to 10.240.0.0/18 is denied by the end of tier "default" (no rule allows it). The profile\'s gateways do not open TCP 4443',
    ]);
  });
});
