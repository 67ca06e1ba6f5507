import fc from 'fast-check';
import { parseAllDocuments } from 'yaml';
import { yamlDocument, yamlStream } from './yaml.js';

/** JSON data as the CLI prints it (no -0, which JSON itself cannot tell from 0). */
const jsonData = fc.jsonValue({ maxDepth: 5 }).map((value) => JSON.parse(JSON.stringify(value)) as unknown);

function readBack(text: string, version: '1.1' | '1.2'): unknown[] {
  return parseAllDocuments(text, { version }).map((doc) => {
    expect(doc.errors).toEqual([]);
    return doc.toJS() as unknown;
  });
}

describe('yamlDocument', () => {
  it('reads back as the same data in YAML 1.1 (kubectl) and 1.2', () => {
    fc.assert(
      fc.property(jsonData, (value) => {
        const text = yamlDocument(value);
        expect(readBack(text, '1.1')).toEqual([value]);
        expect(readBack(text, '1.2')).toEqual([value]);
      }),
      { numRuns: 500 },
    );
  });

  it('quotes the strings YAML would read as something else', () => {
    const tricky = [
      'yes',
      'On',
      'n',
      '~',
      '0777',
      '1e3',
      '1_000',
      '12:30',
      '- x',
      'a: b',
      'a #b',
      '',
      ' x',
      'null',
      '.inf',
      '<<',
      '@x',
      'x\ny',
    ];
    const text = yamlDocument(Object.fromEntries(tricky.map((word) => [word, word])));
    expect(readBack(text, '1.1')).toEqual([Object.fromEntries(tricky.map((word) => [word, word]))]);
    expect(text).toContain('name: "yes"'.replace('name', '"yes"'));
  });

  it('writes block YAML a reader expects, documents separated by ---', () => {
    expect(
      yamlStream([
        {
          kind: 'A',
          metadata: { name: 'a', labels: {} },
          spec: { rules: [{ action: 'Allow', ports: [80, '8000:8100'] }], types: [] },
        },
        { kind: 'B' },
      ]),
    ).toBe(
      [
        'kind: A',
        'metadata:',
        '  name: a',
        '  labels: {}',
        'spec:',
        '  rules:',
        '    - action: Allow',
        '      ports:',
        '        - 80',
        '        - "8000:8100"',
        '  types: []',
        '---',
        'kind: B',
        '',
      ].join('\n'),
    );
  });
});
