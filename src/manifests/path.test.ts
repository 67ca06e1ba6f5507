import fc from 'fast-check';
import { fieldPath } from '../api/errors.js';
import { formatPath, parsePath, type PathSegment } from './path.js';

const segment: fc.Arbitrary<PathSegment> = fc.oneof(
  fc.nat({ max: 50 }),
  fc.constantFrom(
    'spec',
    'ingress',
    'from',
    'podSelector',
    'matchLabels',
    'app.kubernetes.io/name',
    'tier',
    'x-y',
  ),
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_./-]{0,10}$/),
);

describe('formatPath', () => {
  it('writes paths as Kubernetes does', () => {
    expect(formatPath(['spec', 'ingress', 0, 'from', 1, 'NamespaceSelector'])).toBe(
      'spec.ingress[0].from[1].NamespaceSelector',
    );
    expect(formatPath(['metadata', 'labels', 'app.kubernetes.io/name'])).toBe(
      'metadata.labels[app.kubernetes.io/name]',
    );
    expect(formatPath([])).toBe('');
  });

  it('agrees with the translators’ fieldPath, so every tool prints the same path', () => {
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), (path) => formatPath(path) === fieldPath('', ...path)),
      { numRuns: 500 },
    );
  });
});

describe('parsePath', () => {
  it('reads back what formatPath writes (keys that are all digits read as indexes)', () => {
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), (path) => {
        const expected = path.map((s) => (typeof s === 'string' && /^\d+$/.test(s) ? Number(s) : s));
        expect(parsePath(formatPath(path))).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('rejects an unclosed bracket', () => {
    expect(() => parsePath('spec.ingress[0')).toThrow('unclosed [');
  });
});
