import fc from 'fast-check';
import type { LabelSelector } from '../api/kube.js';
import { formatPath, type FieldPath } from '../api/errors.js';
import {
  compileLabelSelector,
  InvalidLabelSelectorError,
  labelKeyErrors,
  labelSelectorRequirements,
  labelValueErrors,
  matchesLabelSelector,
  validateLabelSelector,
  type Labels,
} from './kubernetes.js';

describe('matchesLabelSelector', () => {
  // [description, selector, labels that match, labels that do not]
  const cases: [string, LabelSelector, Labels[], Labels[]][] = [
    ['empty selector', {}, [{}, { a: 'x' }], []],
    [
      'empty matchLabels and matchExpressions',
      { matchLabels: {}, matchExpressions: [] },
      [{}, { a: 'x' }],
      [],
    ],
    [
      'matchLabels',
      { matchLabels: { a: 'x', b: 'y' } },
      [{ a: 'x', b: 'y', c: 'z' }],
      [{}, { a: 'x' }, { a: 'x', b: 'z' }],
    ],
    ['matchLabels with empty value', { matchLabels: { a: '' } }, [{ a: '' }], [{}, { a: 'x' }]],
    [
      'In',
      { matchExpressions: [{ key: 'a', operator: 'In', values: ['x', 'y'] }] },
      [{ a: 'x' }, { a: 'y' }],
      [{}, { a: 'z' }, { b: 'x' }],
    ],
    // apimachinery: NotIn matches when the key is absent.
    [
      'NotIn',
      { matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['x'] }] },
      [{}, { a: 'y' }, { b: 'x' }],
      [{ a: 'x' }],
    ],
    [
      'Exists',
      { matchExpressions: [{ key: 'a', operator: 'Exists' }] },
      [{ a: '' }, { a: 'x' }],
      [{}, { b: 'a' }],
    ],
    [
      'Exists with values: []',
      { matchExpressions: [{ key: 'a', operator: 'Exists', values: [] }] },
      [{ a: 'x' }],
      [{}],
    ],
    [
      'DoesNotExist',
      { matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] },
      [{}, { b: 'a' }],
      [{ a: '' }],
    ],
    [
      'matchLabels AND every expression',
      {
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['front', 'back'] },
          { key: 'canary', operator: 'DoesNotExist' },
        ],
      },
      [{ app: 'web', tier: 'front' }],
      [{ app: 'web' }, { app: 'db', tier: 'front' }, { app: 'web', tier: 'front', canary: '' }],
    ],
    [
      'contradictory requirements match nothing',
      { matchLabels: { a: 'x' }, matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['x'] }] },
      [],
      [{}, { a: 'x' }, { a: 'y' }],
    ],
    [
      'prefixed keys',
      { matchLabels: { 'kubernetes.io/metadata.name': 'prod' } },
      [{ 'kubernetes.io/metadata.name': 'prod' }],
      [{ name: 'prod' }],
    ],
  ];
  it.each(cases)('%s', (_description, selector, matching, nonMatching) => {
    const matcher = compileLabelSelector(selector);
    for (const labels of matching) {
      expect([labels, matcher(labels), matchesLabelSelector(selector, labels)]).toEqual([labels, true, true]);
    }
    for (const labels of nonMatching) {
      expect([labels, matcher(labels), matchesLabelSelector(selector, labels)]).toEqual([
        labels,
        false,
        false,
      ]);
    }
  });

  it('does not read inherited object properties as labels', () => {
    expect(matchesLabelSelector({ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, {})).toBe(
      false,
    );
    expect(
      matchesLabelSelector({ matchExpressions: [{ key: 'toString', operator: 'DoesNotExist' }] }, {}),
    ).toBe(true);
  });

  it('refuses to guess a meaning for an invalid selector', () => {
    const inWithoutValues: LabelSelector = { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] };
    expect(() => matchesLabelSelector(inWithoutValues, { a: 'x' })).toThrow(InvalidLabelSelectorError);
    expect(() => compileLabelSelector(inWithoutValues, ['spec', 'podSelector'])).toThrow(
      "spec.podSelector.matchExpressions[0].values: must be specified when `operator` is 'In' or 'NotIn'",
    );
    const unknownOperator = {
      matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }],
    } as unknown as LabelSelector;
    expect(() => matchesLabelSelector(unknownOperator, {})).toThrow(/unsupported value string "Gt"/);
  });
});

describe('validateLabelSelector', () => {
  const atPath: FieldPath = ['spec', 'ingress', 0, 'from', 1, 'podSelector'];
  const at = formatPath(atPath);
  const invalid: [string, unknown, { path: string; message: RegExp }[]][] = [
    ['not an object', 'app=web', [{ path: at, message: /must be an object/ }]],
    ['a list', [], [{ path: at, message: /must be an object/ }]],
    [
      'matchLabels not a map',
      { matchLabels: ['a'] },
      [{ path: `${at}.matchLabels`, message: /must be a map/ }],
    ],
    [
      'numeric label value',
      { matchLabels: { version: 1 } },
      [{ path: `${at}.matchLabels.version`, message: /value must be a string, got number 1/ }],
    ],
    [
      'invalid label value',
      { matchLabels: { app: 'a b' } },
      [
        {
          path: `${at}.matchLabels.app`,
          message: /invalid value "a b": a valid label must be an empty string or consist of/,
        },
      ],
    ],
    [
      'invalid key',
      { matchLabels: { 'a b': 'x' } },
      [{ path: `${at}.matchLabels[a b]`, message: /invalid label key "a b": name part must consist of/ }],
    ],
    [
      'matchExpressions not a list',
      { matchExpressions: {} },
      [{ path: `${at}.matchExpressions`, message: /must be a list/ }],
    ],
    [
      'requirement not an object',
      { matchExpressions: ['a'] },
      [{ path: `${at}.matchExpressions[0]`, message: /must be an object/ }],
    ],
    [
      'unknown operator',
      { matchExpressions: [{ key: 'a', operator: 'in', values: ['x'] }] },
      [
        {
          path: `${at}.matchExpressions[0].operator`,
          message: /unsupported value string "in": supported values: "In", "NotIn", "Exists", "DoesNotExist"/,
        },
      ],
    ],
    [
      'missing operator',
      { matchExpressions: [{ key: 'a' }] },
      [{ path: `${at}.matchExpressions[0].operator`, message: /unsupported value nothing/ }],
    ],
    [
      'In without values',
      { matchExpressions: [{ key: 'a', operator: 'In' }] },
      [{ path: `${at}.matchExpressions[0].values`, message: /must be specified/ }],
    ],
    [
      'NotIn with empty values',
      { matchExpressions: [{ key: 'a', operator: 'NotIn', values: [] }] },
      [{ path: `${at}.matchExpressions[0].values`, message: /must be specified/ }],
    ],
    [
      'Exists with values',
      { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] },
      [{ path: `${at}.matchExpressions[0].values`, message: /may not be specified/ }],
    ],
    [
      'DoesNotExist with values',
      { matchExpressions: [{ key: 'a', operator: 'DoesNotExist', values: ['x'] }] },
      [{ path: `${at}.matchExpressions[0].values`, message: /may not be specified/ }],
    ],
    [
      'values not a list',
      { matchExpressions: [{ key: 'a', operator: 'In', values: 'x' }] },
      [{ path: `${at}.matchExpressions[0].values`, message: /must be a list of strings, got string "x"/ }],
    ],
    [
      'non-string value',
      { matchExpressions: [{ key: 'a', operator: 'In', values: [true] }] },
      [{ path: `${at}.matchExpressions[0].values[0]`, message: /must be a string, got boolean true/ }],
    ],
    [
      'invalid expression value',
      { matchExpressions: [{ key: 'a', operator: 'In', values: ['ok', '-x'] }] },
      [{ path: `${at}.matchExpressions[0].values[1]`, message: /invalid value "-x"/ }],
    ],
    [
      'missing key',
      { matchExpressions: [{ operator: 'Exists' }] },
      [{ path: `${at}.matchExpressions[0].key`, message: /must be a string, got nothing/ }],
    ],
    [
      'invalid expression key',
      { matchExpressions: [{ key: 'Example.com/a', operator: 'Exists' }] },
      [{ path: `${at}.matchExpressions[0].key`, message: /prefix part a lowercase RFC 1123 subdomain/ }],
    ],
    [
      'every error, not only the first',
      {
        matchLabels: { '': 'x' },
        matchExpressions: [
          { key: 'a', operator: 'Exists', values: ['x'] },
          { key: 'b', operator: 'In' },
        ],
      },
      [
        { path: `${at}.matchLabels[]`, message: /name part must be non-empty/ },
        { path: `${at}.matchExpressions[0].values`, message: /may not be specified/ },
        { path: `${at}.matchExpressions[1].values`, message: /must be specified/ },
      ],
    ],
  ];
  it.each(invalid)('%s', (_description, selector, expected) => {
    const errors = validateLabelSelector(selector as LabelSelector, atPath);
    expect(errors).toHaveLength(expected.length);
    expected.forEach((want, i) => {
      expect(formatPath(errors[i]?.path ?? [])).toBe(want.path);
      expect(errors[i]?.message).toMatch(want.message);
    });
  });

  it.each<[string, LabelSelector]>([
    ['empty', {}],
    [
      'null members, as a YAML file may have them',
      { matchLabels: null, matchExpressions: null } as unknown as LabelSelector,
    ],
    [
      'Exists with values: null',
      { matchExpressions: [{ key: 'a', operator: 'Exists', values: null }] } as unknown as LabelSelector,
    ],
    [
      'everything valid',
      {
        matchLabels: { 'app.kubernetes.io/name': 'web-1', empty: '' },
        matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['a', 'a'] }],
      },
    ],
  ])('accepts %s', (_description, selector) => {
    expect(validateLabelSelector(selector, atPath)).toEqual([]);
  });
});

describe('label key and value rules (apimachinery IsQualifiedName / IsValidLabelValue)', () => {
  it.each([
    'a',
    'A1',
    'a.b-c_d',
    'example.com/name',
    'a/b',
    'kubernetes.io/metadata.name',
    `${'a'.repeat(253)}/${'b'.repeat(63)}`,
    `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}/x`,
  ])('key %s is valid', (key) => {
    expect(labelKeyErrors(key)).toEqual([]);
  });

  it.each<[string, RegExp]>([
    ['', /name part must be non-empty/],
    ['/a', /prefix part must be non-empty/],
    ['a/', /name part must be non-empty/],
    ['a/b/c', /a qualified name must consist of/],
    ['-a', /name part must consist of/],
    ['a-', /name part must consist of/],
    ['a b', /name part must consist of/],
    ['a'.repeat(64), /name part must be no more than 63 bytes/],
    ['Upper.com/a', /prefix part a lowercase RFC 1123 subdomain/],
    ['a_b.com/a', /prefix part a lowercase RFC 1123 subdomain/],
    [`${'a'.repeat(254)}/b`, /prefix part must be no more than 253 bytes/],
    ['é', /name part must consist of/],
  ])('key %j is invalid', (key, message) => {
    expect(labelKeyErrors(key).join('\n')).toMatch(message);
  });

  it.each(['', 'a', 'A-b_c.d', '1', 'a'.repeat(63)])('value %j is valid', (value) => {
    expect(labelValueErrors(value)).toEqual([]);
  });

  it.each<[string, RegExp]>([
    ['a'.repeat(64), /no more than 63 bytes/],
    ['-a', /a valid label must be an empty string or/],
    ['a.', /a valid label must be an empty string or/],
    ["it's", /a valid label/],
    ['a/b', /a valid label/],
    [' ', /a valid label/],
  ])('value %j is invalid', (value, message) => {
    expect(labelValueErrors(value).join('\n')).toMatch(message);
  });

  // The byte limits count UTF-8 bytes, not characters: 32 two-byte characters are 64 bytes, 21 three-byte ones
  // 63, and one astral character (a surrogate pair) is 4. The length checks skip encoding only when they may.
  it.each<[string, boolean]>([
    ['é'.repeat(31), false],
    ['é'.repeat(32), true],
    ['€'.repeat(21), false],
    ['€'.repeat(22), true],
    ['😀'.repeat(15) + 'abc', false],
    ['😀'.repeat(16), true],
    ['a'.repeat(21), false],
  ])('value %j counts %s over the 63-byte limit in UTF-8 bytes', (value, over) => {
    expect(labelValueErrors(value).some((m) => m.includes('no more than 63 bytes'))).toBe(over);
    expect(Buffer.byteLength(value, 'utf8') > 63).toBe(over);
  });
});

describe('labelSelectorRequirements', () => {
  it('merges matchLabels and matchExpressions, sorted by key, values sorted and de-duplicated', () => {
    expect(
      labelSelectorRequirements({
        matchLabels: { b: 'x', a: 'y' },
        matchExpressions: [
          { key: 'c', operator: 'NotIn', values: ['z', 'y', 'z'] },
          { key: 'a', operator: 'Exists' },
        ],
      }),
    ).toEqual([
      { key: 'a', operator: 'Exists', values: [] },
      { key: 'a', operator: 'In', values: ['y'] },
      { key: 'b', operator: 'In', values: ['x'] },
      { key: 'c', operator: 'NotIn', values: ['y', 'z'] },
    ]);
  });
});

describe('label selector properties', () => {
  const key = fc.constantFrom('a', 'b', 'c', 'app.kubernetes.io/name');
  const value = fc.constantFrom('', 'x', 'y', 'z');
  const labelMap = fc.dictionary(key, value, { maxKeys: 4 });

  it('a matchLabels-only selector matches a label map iff every pair is present', () => {
    fc.assert(
      fc.property(labelMap, labelMap, (matchLabels, labels) => {
        const everyPairPresent = Object.entries(matchLabels).every(
          ([k, v]) => Object.keys(labels).includes(k) && labels[k] === v,
        );
        expect(matchesLabelSelector({ matchLabels }, labels)).toBe(everyPairPresent);
      }),
      { numRuns: 1000 },
    );
  });

  it('a selector matches iff each of its requirements, alone, matches', () => {
    const requirement = fc.oneof(
      fc.record({
        key,
        operator: fc.constantFrom('In' as const, 'NotIn' as const),
        values: fc.array(value, { minLength: 1, maxLength: 3 }),
      }),
      fc.record({ key, operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const) }),
    );
    fc.assert(
      fc.property(
        labelMap,
        fc.array(requirement, { maxLength: 4 }),
        labelMap,
        (matchLabels, matchExpressions, labels) => {
          const whole = matchesLabelSelector({ matchLabels, matchExpressions }, labels);
          const parts = [
            ...Object.entries(matchLabels).map(([k, v]) =>
              matchesLabelSelector({ matchLabels: { [k]: v } }, labels),
            ),
            ...matchExpressions.map((expression) =>
              matchesLabelSelector({ matchExpressions: [expression] }, labels),
            ),
          ];
          expect(whole).toBe(parts.every(Boolean));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('NotIn is the complement of In, and DoesNotExist of Exists', () => {
    fc.assert(
      fc.property(key, fc.array(value, { minLength: 1, maxLength: 3 }), labelMap, (k, values, labels) => {
        const holds = (operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist', vs?: string[]): boolean =>
          matchesLabelSelector(
            { matchExpressions: [{ key: k, operator, ...(vs ? { values: vs } : {}) }] },
            labels,
          );
        expect(holds('NotIn', values)).toBe(!holds('In', values));
        expect(holds('DoesNotExist')).toBe(!holds('Exists'));
        expect(holds('Exists')).toBe(Object.keys(labels).includes(k));
      }),
      { numRuns: 500 },
    );
  });
});
