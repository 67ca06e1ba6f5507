import { manifestsFromSources } from '../manifests/index.js';
import { lintManifests } from './lint.js';

const lint = (...docs: string[]) =>
  lintManifests(manifestsFromSources([{ file: 'in.yaml', text: docs.join('\n---\n') }]));
const brief = (...docs: string[]) =>
  lint(...docs).map((f) => `${f.line}:${f.col} ${f.severity} ${f.ruleId}: ${f.message}`);

const policy = (spec: string, metadata = '{name: p, namespace: shop}') =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: ${metadata}\nspec:\n${spec}`;
const profile = (name: string, spec: string) =>
  `apiVersion: calico-vpc.io/v1alpha1\nkind: VpcEgressProfile\nmetadata: {name: ${name}}\nspec:\n${spec}`;

describe('untranslatable', () => {
  it('reports what the operator would refuse, at the field', () => {
    const findings = lint(
      policy(
        [
          '  podSelector: {matchLabels: {app: "two words"}}',
          '  egress:',
          '  - to:',
          '    - ipBlock: {cidr: 10.0.0.0/33}',
        ].join('\n'),
      ),
    );
    expect(findings.map((f) => [f.line, f.ruleId, f.severity])).toEqual([
      [5, 'untranslatable', 'error'],
      [8, 'untranslatable', 'error'],
    ]);
    expect(findings[0]?.message).toContain('two words');
    expect(findings[1]?.message).toContain('10.0.0.0/33');
  });

  it('translates a policy without a namespace as kubectl would place it, without complaint', () => {
    expect(lint(policy('  podSelector: {}', '{name: p}'))).toEqual([]);
  });

  it('does not repeat what a schema finding already says', () => {
    // The peer's only field is misspelled: to the translator it is "a peer with nothing in it".
    const findings = lint(policy('  podSelector: {}\n  ingress:\n  - from:\n    - PodSelector: {}'));
    expect(findings.map((f) => f.ruleId)).toEqual(['unknown-field']);
  });
});

describe('translation warnings', () => {
  it('reports rules that policyTypes turns off, and ipBlocks with host bits', () => {
    expect(
      brief(
        policy(
          [
            '  podSelector: {}',
            '  policyTypes: [Ingress]',
            '  ingress:',
            '  - from:',
            '    - ipBlock: {cidr: 10.0.0.1/8}',
            '  egress:',
            '  - {}',
          ].join('\n'),
        ),
      ),
    ).toEqual([
      '9:23 warning cidr-host-bits: 10.0.0.1/8 has host bits set; Kubernetes uses the network 10.0.0.0/8, and so does the GNP',
      '11:3 warning rules-ignored: ignored: spec.policyTypes does not include Egress, so Kubernetes does not enforce these rules',
    ]);
  });
});

describe('invalid-profile and prefix-overlap', () => {
  it('reports every rejected field of a profile, and overlapping zones as a warning', () => {
    const findings = brief(
      profile(
        'bad',
        [
          '  zones:',
          '  - name: z1',
          '    addressPrefixes: [10.240.1.0/18, 127.0.0.0/16]',
          '  - name: z1',
          '    addressPrefixes: [10.0.0.0/8]',
        ].join('\n'),
      ),
      profile(
        'good',
        [
          '  zones:',
          '  - name: a',
          '    addressPrefixes: [10.240.0.0/18]',
          '  - name: b',
          '    addressPrefixes: [10.240.0.0/24]',
        ].join('\n'),
      ),
    );
    expect(
      findings.filter((f) => f.includes('invalid-profile')).map((f) => f.slice(0, f.indexOf(':', 6))),
    ).toEqual([
      '7:23 error invalid-profile',
      '7:38 error invalid-profile',
      '8:11 error invalid-profile',
      '9:23 error invalid-profile',
    ]);
    expect(findings[0]).toBe(
      '7:23 error invalid-profile: 10.240.1.0/18 has host bits set; the network is 10.240.0.0/18',
    );
    expect(findings.filter((f) => !f.includes('invalid-profile'))).toEqual([
      '19:23 warning prefix-overlap: 10.240.0.0/24 overlaps 10.240.0.0/18 of zone "a" (spec.zones[0].addressPrefixes[0]); a VPC address prefix belongs to one zone',
    ]);
  });
});

describe('profile-conflict', () => {
  it('reports the profile that would not get a policy another one writes', () => {
    const zones = '  zones:\n  - name: us-south-1\n    addressPrefixes: [10.240.0.0/18]';
    const findings = lint(profile('a-old', zones), profile('b-new', zones)).filter(
      (f) => f.ruleId === 'profile-conflict',
    );
    expect(findings.map((f) => [f.line, f.message])).toEqual([
      [
        11,
        'VpcEgressProfile "b-new" and "a-old" both write GlobalNetworkPolicy "allow-vpe-gateway-registry-us-south-1"; the operator gives it to "a-old" (the older, or the first by name) and reports a Conflict on "b-new"',
      ],
    ]);
  });
});
