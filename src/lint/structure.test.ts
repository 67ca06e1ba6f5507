import { manifestsFromSources } from '../manifests/index.js';
import { lintManifests } from './lint.js';

const lint = (text: string, file = 'in.yaml') => lintManifests(manifestsFromSources([{ file, text }]));
const brief = (text: string) =>
  lint(text).map((f) => `${f.line}:${f.col} ${f.severity} ${f.ruleId}: ${f.message}`);

describe('yaml-syntax', () => {
  it('reports an unreadable document at its position and checks the rest', () => {
    const findings = lint('kind: A\nspec: [\n---\napiVersion: v1\nkind: Namespace\nmetadata: {Name: x}\n');
    expect(findings.map((f) => [f.ruleId, f.severity, f.line])).toEqual([
      ['yaml-syntax', 'error', 3],
      // `Name` is reported as a misspelling of the required `name`, not also as a missing field.
      ['unknown-field', 'error', 6],
    ]);
    expect(findings[0]?.message).toMatch(/^document 1: line 3, column 1: /);
  });
});

describe('unknown-field, wrong-type, missing-field, invalid-value', () => {
  it('point at the offending key or value with the right spelling', () => {
    const text = [
      'apiVersion: networking.k8s.io/v1',
      'kind: NetworkPolicy',
      'metadata: {name: p, namespace: ns}',
      'spec:',
      '  podSelector: {}',
      '  policyTypes: [ingress]',
      '  ingres: []',
      '  egress:',
      '  - to:',
      '    - ipBlock: {cidr: 10.0.0.0/8}',
      '    ports:',
      '    - {protocol: tcp, port: 80}',
    ].join('\n');
    expect(brief(text)).toEqual([
      '6:17 error invalid-value: "ingress" is not one of "Ingress", "Egress"; did you mean "Ingress"?',
      '7:3 error unknown-field: unknown field "ingres" in NetworkPolicySpec; did you mean "ingress"?',
      '12:18 error invalid-value: "tcp" is not one of "TCP", "UDP", "SCTP"; did you mean "TCP"?',
    ]);
    expect(lint(text).map((f) => f.suggestion)).toEqual(['Ingress', 'ingress', 'TCP']);
  });

  it('checks VpcEgressProfiles and Calico policies too', () => {
    expect(
      brief(
        [
          'apiVersion: calico-vpc.io/v1alpha1',
          'kind: VpcEgressProfile',
          'metadata: {name: p}',
          'spec:',
          '  zones:',
          '  - name: z',
          '    adressPrefixes: [10.0.0.0/18]',
          '---',
          'apiVersion: projectcalico.org/v3',
          'kind: GlobalNetworkPolicy',
          'metadata: {name: g}',
          'spec:',
          '  selector: all()',
          '  egress:',
          '  - action: Allow',
          '    destinaton: {nets: [10.0.0.0/8]}',
        ].join('\n'),
      ),
    ).toEqual([
      '7:5 error unknown-field: unknown field "adressPrefixes" in VpcZone; did you mean "addressPrefixes"?',
      '16:5 error unknown-field: unknown field "destinaton" in Rule; did you mean "destination"?',
    ]);
  });
});

describe('unrecognized-object', () => {
  it('flags near-misses of the kinds the tools read, not other kinds or kindless files such as kustomizations', () => {
    const text = [
      'apiVersion: networking.k8s.io/v1\nkind: Networkpolicy\nmetadata: {name: a}',
      'apiVersion: extensions/v1beta1\nkind: NetworkPolicy\nmetadata: {name: b}',
      'apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: c, namespace: x}\nspec: {}',
      'apiVersion: v1\nkind: Service\nmetadata: {name: d}',
      'metadata: {name: e}',
      'resources: [a.yaml]',
      'metadata: {name: f}\nspec:\n  podSelector: {}',
    ].join('\n---\n');
    expect(brief(text)).toEqual([
      '2:7 warning unrecognized-object: kind "Networkpolicy" is not a kind these tools read; did you mean "NetworkPolicy"?',
      '5:13 warning unrecognized-object: NetworkPolicy with apiVersion "extensions/v1beta1" is not read; use apiVersion: networking.k8s.io/v1',
      '22:1 warning unrecognized-object: the document has no kind, so it is skipped; it looks like a NetworkPolicy: add kind: NetworkPolicy and apiVersion: networking.k8s.io/v1',
    ]);
  });
});

describe('duplicate-object', () => {
  it('flags the later of two objects with the same kind, namespace and name', () => {
    const ns = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}';
    const np = (namespace: string) =>
      `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: ${namespace}}\nspec: {podSelector: {}}`;
    expect(brief([ns, np('x1'), np('y1'), ns].join('\n---\n'))).toEqual([
      '17:18 warning duplicate-object: Namespace a is also defined at in.yaml:3; this one replaces it',
    ]);
  });
});
