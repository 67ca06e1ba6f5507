import { manifestsFromSources } from '../manifests/index.js';
import { lintManifests } from './lint.js';

const lint = (text: string) => lintManifests(manifestsFromSources([{ file: 'in.yaml', text }]));

describe('calico-reserved-label', () => {
  it('flags a pod label that impersonates a namespace label Calico derives, at the key', () => {
    const findings = lint(
      [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata: {name: sneaky, namespace: accounts}',
        'spec:',
        '  selector: {matchLabels: {app: x}}',
        '  template:',
        '    metadata:',
        '      labels:',
        '        app: x',
        '        pcns.kubernetes.io/metadata.name: finance',
        '    spec: {containers: [{name: c, image: i}]}',
      ].join('\n'),
    ).filter((f) => f.ruleId === 'calico-reserved-label');
    expect(findings).toHaveLength(1);
    expect(findings[0]).toEqual(expect.objectContaining({ line: 10, col: 9, severity: 'warning' }));
    expect(findings[0]?.message).toContain('pcns.kubernetes.io/metadata.name');
  });

  it('says nothing about ordinary labels', () => {
    const findings = lint(
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a, labels: {app: x, "example.com/pcns.x": y}}\nspec: {containers: [{name: c}]}\n',
    );
    expect(findings.filter((f) => f.ruleId === 'calico-reserved-label')).toEqual([]);
  });
});
