import { manifestsFromSources } from '../manifests/index.js';
import { lintManifests } from './lint.js';

const lint = (...docs: string[]) =>
  lintManifests(manifestsFromSources([{ file: 'in.yaml', text: docs.join('\n---\n') }]));
const only = (ruleId: string, ...docs: string[]) => lint(...docs).filter((f) => f.ruleId === ruleId);

const namespace = (name: string, labels: string) =>
  `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}, labels: ${labels}}`;
const deployment = (name: string, ns: string, labels: string) =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: {template: {metadata: {labels: ${labels}}, spec: {containers: [{name: c}]}}}`;
const policy = (ns: string | undefined, spec: string) =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: p${ns ? `\n  namespace: ${ns}` : ''}\nspec:\n${spec}`;

const cluster = [
  namespace('shop', '{team: shop}'),
  namespace('ops', '{team: ops}'),
  deployment('web', 'shop', '{app: web, tier: frontend}'),
  deployment('api', 'shop', '{app: api, tier: backend}'),
  deployment('prom', 'ops', '{app: prometheus}'),
];

describe('label-key-case', () => {
  it('finds a selector key that only differs in case from the pods’ label, and suggests it', () => {
    const findings = only(
      'label-key-case',
      ...cluster,
      policy(
        'shop',
        '  podSelector: {matchLabels: {App: web}}\n  ingress:\n  - from:\n    - podSelector:\n        matchExpressions: [{key: TIER, operator: In, values: [frontend]}]',
      ),
    );
    expect(findings.map((f) => [f.line, f.col, f.severity, f.message, f.suggestion])).toEqual([
      [
        30,
        31,
        'warning',
        'label key "App" is on no pod in the input, but pods are labelled "app"; label keys are case-sensitive, did you mean "app"?',
        'app',
      ],
      [
        34,
        34,
        'warning',
        'label key "TIER" is on no pod in the input, but pods are labelled "tier"; label keys are case-sensitive, did you mean "tier"?',
        'tier',
      ],
    ]);
  });

  it('checks namespace selectors against namespace labels', () => {
    const findings = only(
      'label-key-case',
      ...cluster,
      policy(
        'shop',
        '  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {Team: ops}}',
      ),
    );
    expect(findings.map((f) => f.suggestion)).toEqual(['team']);
  });

  it('says nothing about keys that exist, keys unlike any label, or when there is nothing to compare with', () => {
    expect(
      only(
        'label-key-case',
        ...cluster,
        policy('shop', '  podSelector: {matchLabels: {app: web, color: blue}}'),
      ),
    ).toEqual([]);
    expect(only('label-key-case', policy('shop', '  podSelector: {matchLabels: {Tier: web}}'))).toEqual([]);
  });

  it('replaces the selects-nothing finding it explains', () => {
    const findings = lint(...cluster, policy('shop', '  podSelector: {matchLabels: {Tier: backend}}'));
    expect(findings.map((f) => f.ruleId)).toEqual(['label-key-case']);
  });
});

describe('selector-matches-nothing', () => {
  it('finds a policy podSelector that selects no pod of the policy’s namespace', () => {
    const findings = only(
      'selector-matches-nothing',
      ...cluster,
      policy('shop', '  podSelector: {matchLabels: {app: prometheus}}'),
    );
    expect(findings.map((f) => f.message)).toEqual([
      'spec.podSelector selects no pod: none of the 2 pods and workloads of namespace "shop" in the input matches app=prometheus; the policy has no effect',
    ]);
  });

  it('explains a policy without a namespace', () => {
    const findings = only('selector-matches-nothing', ...cluster, policy(undefined, '  podSelector: {}'));
    expect(findings.map((f) => f.message)).toEqual([
      'spec.podSelector selects no pod: the input has no pods or workloads in namespace "default" (the policy names no namespace; kubectl puts it in the current one, "default" by default); the policy has no effect',
    ]);
  });

  it('finds peers that select nothing: pods of the own namespace, namespaces, or both together', () => {
    const spec = [
      '  podSelector: {}',
      '  ingress:',
      '  - from:',
      '    - podSelector: {matchLabels: {app: prometheus}}',
      '    - namespaceSelector: {matchLabels: {team: finance}}',
      '    - namespaceSelector: {matchLabels: {team: ops}}',
      '      podSelector: {matchLabels: {app: web}}',
      '    - namespaceSelector: {matchLabels: {team: ops}}',
      '      podSelector: {matchLabels: {app: prometheus}}',
    ].join('\n');
    const findings = only('selector-matches-nothing', ...cluster, policy('shop', spec));
    expect(findings.map((f) => f.message)).toEqual([
      'podSelector app=prometheus selects no pod: none of the 2 pods and workloads of namespace "shop" (the policy\'s own; add a namespaceSelector to select pods of other namespaces) matches it; this peer allows nothing',
      'namespaceSelector team=finance selects none of the 2 namespaces declared in the input (ops, shop); this peer allows nothing',
      'this peer (namespaceSelector team=ops AND podSelector app=web) selects no pod: no pod or workload of the namespaces it selects (ops) matches the podSelector; it allows nothing',
    ]);
  });

  it('judges pods only when the input has pods or workloads, and namespaces only when it declares some', () => {
    const spec =
      '  podSelector: {matchLabels: {app: x}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {team: x}}\n    - podSelector: {matchLabels: {app: x}}';
    expect(only('selector-matches-nothing', policy('shop', spec))).toEqual([]);
    const withPodsOnly = only(
      'selector-matches-nothing',
      deployment('web', 'shop', '{app: web}'),
      policy('shop', spec),
    );
    expect(withPodsOnly.map((f) => f.message.split(':')[0])).toEqual([
      'spec.podSelector selects no pod',
      'podSelector app=x selects no pod',
    ]);
  });
});

describe('peers-or-vs-and', () => {
  it('warns about a namespaceSelector peer and a podSelector peer that were probably one peer', () => {
    const spec = [
      '  podSelector: {}',
      '  egress:',
      '  - to:',
      '    - namespaceSelector: {matchLabels: {team: ops}}',
      '    - podSelector: {matchLabels: {app: prometheus}}',
    ].join('\n');
    const findings = only('peers-or-vs-and', ...cluster, policy('shop', spec));
    expect(findings).toHaveLength(1);
    expect(findings[0]?.severity).toBe('warning');
    expect(findings[0]?.line).toBe(34);
    expect(findings[0]?.message).toBe(
      'to[0] (namespaceSelector team=ops) and to[1] (podSelector app=prometheus) are two peers, so this rule allows traffic to EVERY pod of the namespaces matching team=ops, OR to the pods matching app=prometheus in the policy\'s own namespace "shop". If you meant only the pods matching app=prometheus in the namespaces matching team=ops, put both selectors in ONE peer (remove the "-" before podSelector): Kubernetes combines them since 1.11',
    );
  });

  it('stays quiet when the peers are already combined, or are of one kind', () => {
    const combined =
      '  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {team: ops}}\n      podSelector: {matchLabels: {app: prometheus}}';
    const podsOnly =
      '  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {app: web}}\n    - podSelector: {matchLabels: {app: api}}';
    const withIpBlock =
      '  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/8}\n    - podSelector: {matchLabels: {app: api}}';
    for (const spec of [combined, podsOnly, withIpBlock])
      expect(only('peers-or-vs-and', ...cluster, policy('shop', spec))).toEqual([]);
  });
});
