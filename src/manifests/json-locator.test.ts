import fc from 'fast-check';
import { hasDuplicateKey } from './json-locator.js';
import { parseManifestText, parseYamlText } from './parse.js';
import type { PathSegment } from './path.js';

/** Every path into `value`, plus one absent field under each map and one index past the end of each list. */
function pathsOf(value: unknown, prefix: PathSegment[] = []): PathSegment[][] {
  const paths: PathSegment[][] = [prefix];
  if (Array.isArray(value)) {
    value.forEach((item, index) => paths.push(...pathsOf(item, [...prefix, index])));
    paths.push([...prefix, value.length]);
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) paths.push(...pathsOf(item, [...prefix, key]));
    paths.push([...prefix, 'absent']);
  }
  return paths;
}

describe('JSON positions', () => {
  it('are the positions the YAML parser gives the same text, for every field, key and value', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 4 }),
        fc.constantFrom<string | number>(0, 1, 2, '\t'),
        (data, indent) => {
          const text = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', data }, null, indent);
          const json = parseManifestText(text, 'x.json');
          const yaml = parseYamlText(text, 'x.json');
          expect(json.errors).toEqual([]);
          expect(yaml.errors).toEqual([]);
          const [fast] = json.objects;
          const [slow] = yaml.objects;
          expect(fast?.raw).toEqual(slow?.raw);
          for (const path of pathsOf(slow?.raw)) {
            for (const at of ['key', 'value'] as const) {
              expect([path, at, fast?.source.locate(path, at)]).toEqual([
                path,
                at,
                slow?.source.locate(path, at),
              ]);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('locates the items of a long List without rescanning it', () => {
    const items = Array.from({ length: 3 }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: `n${i}` },
    }));
    const text = JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 1);
    const { objects } = parseManifestText(text, 'l.json');
    expect(objects.map((o) => o.source.locate('metadata.name', 'value'))).toEqual(
      parseYamlText(text, 'l.json').objects.map((o) => o.source.locate('metadata.name', 'value')),
    );
  });

  it('leaves text that is not JSON to the YAML parser, which words the error with its position', () => {
    const { errors } = parseManifestText('{"apiVersion": "v1",\n  "kind": "Pod",,\n  "x": 1}\n', 'bad.json');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.position).toEqual({ line: 2, col: 17 });
  });
});

describe('hasDuplicateKey', () => {
  it('finds no duplicate in what JSON.stringify writes, and finds one a text repeats a key in', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 4 }),
        fc.constantFrom<string | number>(0, 2),
        fc.string(),
        (data, indent, key) => {
          expect(hasDuplicateKey(JSON.stringify({ data }, null, indent))).toBe(false);
          // The same key twice in one object, however deep, with any value between.
          const twice = `{"data": [${JSON.stringify(data)}, {${JSON.stringify(key)}: 1, "x": ${JSON.stringify(data)}, ${JSON.stringify(key)}: 2}]}`;
          expect(hasDuplicateKey(twice)).toBe(true);
        },
      ),
    );
  });
});
