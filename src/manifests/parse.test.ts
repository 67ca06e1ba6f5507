import { ManifestError } from './errors.js';
import { parseManifestText, parseManifests } from './parse.js';

describe('parseManifestText', () => {
  it('reads every document of a stream with its 1-based number, skipping empty ones', () => {
    const text = [
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}',
      '',
      '# only a comment',
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: b}',
    ].join('\n---\n');
    const { objects, errors } = parseManifestText(text, 'ns.yaml');
    expect(errors).toEqual([]);
    expect(
      objects.map((o) => [o.kind, o.source.document, (o.raw.metadata as { name: string }).name]),
    ).toEqual([
      ['Namespace', 1, 'a'],
      ['Namespace', 4, 'b'],
    ]);
  });

  it('reads JSON, with positions', () => {
    const text =
      '{\n\t"apiVersion": "v1",\n\t"kind": "Pod",\n\t"metadata": {"name": "p", "labels": {"app": "x"}}\n}\n';
    const { objects, errors } = parseManifestText(text, 'pod.json');
    expect(errors).toEqual([]);
    expect(objects).toHaveLength(1);
    const [pod] = objects;
    expect(pod?.raw).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', labels: { app: 'x' } },
    });
    expect(pod?.source.locate('metadata.labels.app', 'key')).toEqual({ line: 4, col: 39 });
  });

  it('unpacks Lists, each item locating its own fields', () => {
    const text = [
      'apiVersion: v1',
      'kind: List',
      'items:',
      '- apiVersion: v1',
      '  kind: Namespace',
      '  metadata: {name: a}',
      '- apiVersion: networking.k8s.io/v1',
      '  kind: NetworkPolicyList',
      '  items:',
      '  - kind: NetworkPolicy',
      '    metadata:',
      '      name: np',
    ].join('\n');
    const { objects } = parseManifestText(text, 'list.yaml');
    expect(objects.map((o) => o.kind)).toEqual(['Namespace', 'NetworkPolicy']);
    const np = objects[1];
    expect(np?.source.base).toEqual(['items', 1, 'items', 0]);
    expect(np?.source.locate('metadata.name', 'value')).toEqual({ line: 12, col: 13 });
    expect(np?.source.error('metadata.name', 'bad').message).toBe(
      'list.yaml: document 1: items[1].items[0].metadata.name: bad',
    );
  });

  it('reads scalars as Kubernetes (YAML 1.1 in go-yaml) does', () => {
    const text = [
      'kind: X',
      'yes1: yes',
      'on1: on',
      'octal: 0777',
      'portRange: 20:50',
      'time: 2024-01-02T03:04:05Z',
      'quoted: "yes"',
    ].join('\n');
    const [object] = parseManifestText(text, 'x.yaml').objects;
    expect(object?.raw).toEqual({
      kind: 'X',
      yes1: true,
      on1: true,
      octal: 511,
      portRange: '20:50',
      time: '2024-01-02T03:04:05Z',
      quoted: 'yes',
    });
  });

  it('locates keys, values, list items and absent fields (at their nearest present ancestor)', () => {
    const text = [
      'kind: NetworkPolicy', // 1
      'spec:', // 2
      '  ingress:', // 3
      '  - from:', // 4
      '    - NamespaceSelector:', // 5
      '        matchLabels: {usage: finance}', // 6
      '    ports:', // 7
      '      port: 3111', // 8
    ].join('\n');
    const [np] = parseManifestText(text, 'np.yaml').objects;
    const source = np!.source;
    expect(source.locate('spec.ingress[0].from[0].NamespaceSelector', 'key')).toEqual({ line: 5, col: 7 });
    expect(source.locate('spec.ingress[0].from[0].NamespaceSelector', 'value')).toEqual({ line: 6, col: 9 });
    expect(source.locate('spec.ingress[0].ports', 'value')).toEqual({ line: 8, col: 7 });
    expect(source.locate(['spec', 'ingress', 0], 'value')).toEqual({ line: 4, col: 5 });
    expect(source.locate('spec.ingress[0].from[0].NamespaceSelector.matchLabels.usage', 'key')).toEqual({
      line: 6,
      col: 23,
    });
    expect(source.locate('spec.egress[3].to', 'value')).toEqual({ line: 3, col: 3 });
    expect(source.locate('', 'value')).toEqual({ line: 1, col: 1 });
  });

  it('follows aliases', () => {
    const text = 'kind: X\nlabels: &l\n  app: web\nspec:\n  selector: *l\n';
    const [object] = parseManifestText(text, 'a.yaml').objects;
    expect(object?.raw.spec).toEqual({ selector: { app: 'web' } });
    expect(object?.source.locate('spec.selector.app', 'key')).toEqual({ line: 3, col: 3 });
  });

  it('reports a broken document with its position and still reads the others', () => {
    const text = 'kind: A\n---\nkind: B\nspec: [1,\n---\nkind: C\n';
    const { objects, errors } = parseManifestText(text, 'bad.yaml');
    expect(objects.map((o) => o.kind)).toEqual(['A', 'C']);
    expect(errors).toHaveLength(1);
    const [error] = errors;
    expect(error).toBeInstanceOf(ManifestError);
    expect(error?.document).toBe(2);
    expect(error?.position?.line).toBeGreaterThanOrEqual(4);
    expect(error?.message).toMatch(/^bad\.yaml: document 2: line \d+, column \d+: /);
  });

  it('skips documents that are not objects, naming them; an item of a List that is not an object is an error', () => {
    const { objects, errors, skipped } = parseManifestText('just text\n---\n- a\n- b\n', 'notes.yaml');
    expect(objects).toEqual([]);
    expect(errors).toEqual([]);
    expect(skipped.map((e) => e.message)).toEqual([
      'notes.yaml: document 1: not a Kubernetes object (the string "just text"): skipped',
      'notes.yaml: document 2: not a Kubernetes object (a list): skipped',
    ]);
    expect(parseManifestText('kind: List\nitems: [3]\n', 'l.yaml').errors.map((e) => e.message)).toEqual([
      'l.yaml: document 1: items[0]: expected a Kubernetes object (a map with apiVersion and kind), got the number 3',
    ]);
  });

  it('rejects a List whose items is not a list', () => {
    const { errors } = parseManifestText('kind: List\nitems: {a: 1}\n', 'l.yaml');
    expect(errors.map((e) => e.message)).toEqual([
      'l.yaml: document 1: items: expected a list of objects, got a map',
    ]);
  });

  it('rejects duplicate keys, as kubectl does', () => {
    const { errors } = parseManifestText('kind: A\nkind: B\n', 'd.yaml');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.detail).toMatch(/unique/i);
  });

  it('rejects duplicate keys in JSON too, with their position, instead of keeping the last one', () => {
    const text = '{"kind": "NetworkPolicy",\n "metadata": {"name": "p", "name": "q"}}';
    const { objects, errors } = parseManifestText(text, 'd.json');
    expect(objects).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.detail).toMatch(/unique/i);
    expect(errors[0]?.position?.line).toBe(2);
    // Escaped keys are compared by what they mean, not how they are written.
    expect(parseManifestText('{"kind": "A", "ki\\u006ed": "B"}', 'e.json').errors).toHaveLength(1);
    // The same key in sibling objects is no duplicate.
    expect(
      parseManifestText('{"kind": "List", "items": [{"kind": "A"}, {"kind": "B"}]}', 'f.json').errors,
    ).toEqual([]);
  });

  it('keeps the sources apart', () => {
    const { objects } = parseManifests([
      { file: 'a.yaml', text: 'kind: A' },
      { file: 'b.yaml', text: 'kind: B\n---\nkind: C' },
    ]);
    expect(objects.map((o) => `${o.source.file}#${o.source.document}:${o.kind}`)).toEqual([
      'a.yaml#1:A',
      'b.yaml#1:B',
      'b.yaml#2:C',
    ]);
  });

  it('skips documents that are no Kubernetes object at all (a CI config, a values file, a list) with a warning at their position', () => {
    const text = [
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}',
      'stages: [build, test]\nimage: node:20',
      '- just\n- a list',
    ].join('\n---\n');
    const { objects, errors, skipped } = parseManifestText(text, 'mixed.yaml');
    expect(errors).toEqual([]);
    expect(objects.map((o) => o.kind)).toEqual(['Namespace']);
    expect(skipped.map((e) => [e.message, e.position])).toEqual([
      [
        'mixed.yaml: document 2: not a Kubernetes object (no apiVersion, kind or metadata): skipped',
        { line: 5, col: 1 },
      ],
      ['mixed.yaml: document 3: not a Kubernetes object (a list): skipped', { line: 8, col: 1 }],
    ]);
  });

  it('gives every unreadable document a position, as the YAML parser does for syntax errors', () => {
    const { errors } = parseManifestText(
      'apiVersion: v1\nkind: ConfigMap\ndata:\n  a: *missing\n',
      'alias.yaml',
    );
    expect(errors.map((e) => e.position)).toEqual([{ line: 4, col: 6 }]);
  });
});
