import fc from 'fast-check';
import {
  isSelectorLabelKey,
  isValidSelector,
  parseSelector,
  quoteSelectorValue,
  SelectorParseError,
  UnquotableSelectorValueError,
  selectorFromNode,
  type SelectorNode,
} from './calico.js';
import type { Labels } from './kubernetes.js';

function matches(selector: string, labels: Labels): boolean {
  return parseSelector(selector).matches(labels);
}

function parseError(selector: string): SelectorParseError {
  try {
    parseSelector(selector);
  } catch (error) {
    if (error instanceof SelectorParseError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(selector)} to be rejected`);
}

describe('Calico selector evaluation, operator by operator', () => {
  // [selector, labels that match, labels that do not]
  const cases: [string, Labels[], Labels[]][] = [
    ["a == 'b'", [{ a: 'b' }, { a: 'b', c: 'd' }], [{}, { a: 'c' }, { c: 'b' }, { a: 'B' }]],
    ['a == "b"', [{ a: 'b' }], [{}, { a: 'bb' }]],
    ["a == ''", [{ a: '' }], [{}, { a: 'x' }]],
    // Calico's LabelNeValueNode is true when the label is absent.
    ["a != 'b'", [{}, { a: 'c' }, { a: '' }, { c: 'b' }], [{ a: 'b' }]],
    ["a in {'x', 'y'}", [{ a: 'x' }, { a: 'y' }], [{}, { a: 'z' }, { b: 'x' }]],
    ['a in {}', [], [{}, { a: '' }, { a: 'x' }]],
    // Calico's LabelNotInSetNode is true when the label is absent.
    ["a not in {'x', 'y'}", [{}, { a: 'z' }, { b: 'x' }], [{ a: 'x' }, { a: 'y' }]],
    ['a not in {}', [{}, { a: 'x' }], []],
    ['has(a)', [{ a: '' }, { a: 'x' }], [{}, { b: 'a' }]],
    ['!has(a)', [{}, { b: 'a' }], [{ a: '' }]],
    ['! has(a)', [{}], [{ a: 'x' }]],
    ["a contains 'ell'", [{ a: 'hello' }, { a: 'ell' }], [{}, { a: 'elo' }]],
    ["a contains ''", [{ a: '' }, { a: 'x' }], [{}]],
    ["a starts with 'he'", [{ a: 'hello' }, { a: 'he' }], [{}, { a: 'ahe' }]],
    ["a ends with 'lo'", [{ a: 'hello' }, { a: 'lo' }], [{}, { a: 'loa' }]],
    ['all()', [{}, { a: 'b' }], []],
    ['', [{}, { a: 'b' }], []],
    [' \t ', [{}, { a: 'b' }], []],
    ['global()', [{}, { a: 'b' }], []],
    ['!all()', [], [{}, { a: 'b' }]],
    ["a == 'x' && b == 'y'", [{ a: 'x', b: 'y' }], [{ a: 'x' }, { b: 'y' }, { a: 'x', b: 'z' }]],
    ["a == 'x' || b == 'y'", [{ a: 'x' }, { b: 'y' }, { a: 'x', b: 'y' }], [{}, { a: 'y', b: 'x' }]],
    ["!(a == 'x' || b == 'y')", [{}, { a: 'y' }], [{ a: 'x' }, { b: 'y' }]],
    // A label value may hold the other quote kind.
    [`a in {"'", '"'}`, [{ a: "'" }, { a: '"' }], [{ a: '' }]],
    // Keys with every character Calico allows, including a leading digit, dot, slash or dash.
    ["app.kubernetes.io/name == 'web'", [{ 'app.kubernetes.io/name': 'web' }], [{ app: 'web' }]],
    ["-_./9 == 'v'", [{ '-_./9': 'v' }], [{}]],
    // Keywords are ordinary label keys where a label is expected.
    ["in in {'in'}", [{ in: 'in' }], [{}]],
    ["not not in {'x'}", [{}, { not: 'y' }], [{ not: 'x' }]],
    ["all == 'x' && has(has)", [{ all: 'x', has: '' }], [{ all: 'x' }]],
    ["contains contains 'contains'", [{ contains: 'xcontainsx' }], [{ contains: 'x' }]],
    // Values are compared exactly: no trimming, case-sensitive, whitespace inside literals kept.
    ["a == ' b '", [{ a: ' b ' }], [{ a: 'b' }]],
  ];
  it.each(cases)('%s', (selector, matching, nonMatching) => {
    const parsed = parseSelector(selector);
    const reparsed = parseSelector(parsed.toString());
    for (const labels of matching) {
      expect([labels, parsed.matches(labels), reparsed.matches(labels)]).toEqual([labels, true, true]);
    }
    for (const labels of nonMatching) {
      expect([labels, parsed.matches(labels), reparsed.matches(labels)]).toEqual([labels, false, false]);
    }
  });

  it('does not read inherited object properties as labels', () => {
    expect(matches('has(constructor)', {})).toBe(false);
    expect(matches("toString != 'x'", {})).toBe(true);
    expect(matches("__proto__ == 'x'", {})).toBe(false);
  });
});

describe('precedence', () => {
  it('binds && tighter than ||', () => {
    const selector = parseSelector("a == 'x' || b == 'y' && c == 'z'");
    expect(selector.toString()).toBe('(a == "x" || (b == "y" && c == "z"))');
    expect(selector.matches({ a: 'x' })).toBe(true);
    expect(selector.matches({ b: 'y' })).toBe(false);
    expect(parseSelector("a == 'x' && b == 'y' || c == 'z'").toString()).toBe(
      '((a == "x" && b == "y") || c == "z")',
    );
  });

  it('binds ! tighter than && and ||', () => {
    const selector = parseSelector("!a == 'x' && b == 'y'");
    expect(selector.toString()).toBe('(!a == "x" && b == "y")');
    expect(selector.matches({ b: 'y' })).toBe(true);
    expect(selector.matches({})).toBe(false);
    expect(parseSelector("!has(a) || b == 'y'").toString()).toBe('(!has(a) || b == "y")');
  });

  it('applies ! to a parenthesised group and collapses runs of !', () => {
    expect(parseSelector("!(a == 'x' && b == 'y')").matches({ a: 'x' })).toBe(true);
    expect(parseSelector('!!has(a)').toString()).toBe('has(a)');
    expect(parseSelector('! ! !has(a)').toString()).toBe('!has(a)');
    expect(parseSelector('!(!has(a))').toString()).toBe('has(a)');
  });

  it('keeps explicit grouping', () => {
    const selector = parseSelector("(a == 'x' || b == 'y') && c == 'z'");
    expect(selector.toString()).toBe('((a == "x" || b == "y") && c == "z")');
    expect(selector.matches({ a: 'x' })).toBe(false);
    expect(selector.matches({ b: 'y', c: 'z' })).toBe(true);
  });
});

describe('canonical form (Calico Selector.String())', () => {
  const cases: [string, string][] = [
    ['', 'all()'],
    [' all() ', 'all()'],
    [' (all() )', 'all()'],
    ['global( )', 'global()'],
    ['! (has( b)||! has(a ))', '!(has(b) || !has(a))'],
    [`! (a == "b"&&! c != "d")`, '!(a == "b" && !c != "d")'],
    [`a == "'"`, `a == "'"`],
    [`a == '"'`, `a == '"'`],
    [`a startswith '"'`, `a starts with '"'`],
    [`a ends  with "'"`, `a ends with "'"`],
    [`a!='"'`, `a != '"'`],
    [`a notin{'x'}`, 'a not in {"x"}'],
    [`a in {'d', "a", 'b', 'a'}`, 'a in {"a", "b", "d"}'],
    [`a in {'x',}`, 'a in {"x"}'],
    ['a in {}', 'a in {}'],
    ["a == 'x' && b == 'y' && c == 'z'", '(a == "x" && b == "y" && c == "z")'],
    ["a == 'x' && (b == 'y' && c == 'z')", '(a == "x" && (b == "y" && c == "z"))'],
  ];
  it.each(cases)('%j prints as %j and round-trips', (input, canonical) => {
    const printed = parseSelector(input).toString();
    expect(printed).toBe(canonical);
    expect(parseSelector(printed).toString()).toBe(canonical);
  });

  it('sorts set members by code point, as Go sorts strings', () => {
    // UTF-16 order would put the astral U+1F600 before U+FFFD; UTF-8 byte (code point) order puts it after.
    expect(parseSelector("a in {'\u{1F600}', '\uFFFD', 'B', 'a'}").toString()).toBe(
      'a in {"B", "a", "\uFFFD", "\u{1F600}"}',
    );
  });
});

describe('grammar edge cases Calico accepts', () => {
  it.each([
    "a=='b'",
    "a in{'b'}",
    "a not  in {'b'}",
    'a starts\twith "b"',
    "a contains'b'",
    '\thas(a)\t',
    'has( a )',
    'all( )',
    'a in {\'x\', "y",}',
    "((a == 'x'))",
    "a == 'multi\nline'", // no escapes: anything up to the closing quote is the value
  ])('accepts %j', (selector) => {
    expect(isValidSelector(selector)).toBe(true);
  });
});

describe('rejected selectors name the position and what was expected', () => {
  const cases: [string, number, RegExp][] = [
    ['a == b', 5, /a string literal after '=='/],
    ["'b' == a", 0, /a label key/],
    ['b', 1, /an operator .* after label 'b'/],
    ['a ', 2, /an operator/],
    ['a b', 2, /an operator .* after label 'a'/],
    ["a = 'b'", 2, /'=='/],
    ["a == 'b' & c == 'd'", 9, /'&&'/],
    ["a == 'b' | c == 'd'", 9, /'\|\|'/],
    ['!', 1, /a label key, has\(\), all\(\), global\(\), '!' or '\('/],
    ['a == "FOO', 9, /a closing " for the string starting at position 5/],
    [`a == "FOO'`, 10, /a closing "/],
    ['(', 1, /a label key/],
    ["(a == 'x'", 9, /'\)', '&&' or '\|\|'/],
    [')', 0, /a label key/],
    ['()', 1, /a label key/],
    ['%', 0, /a label key/],
    ["a == 'b' && %", 12, /a label key/],
    ['has(foo) &&', 11, /found end of selector/],
    ["a in 'x'", 5, /a set literal/],
    ['a in {,}', 6, /a string literal or '}'/],
    ["a in {'x' 'y'}", 10, /',' or '}'/],
    ["a in {'x',,}", 10, /a string literal or '}'/],
    ["a starts 'x'", 9, /'with' after 'starts'/],
    ["a not == 'x'", 6, /'in' after 'not'/],
    ["a squiggles 'x'", 2, /an operator/],
    ['has (a)', 4, /an operator .* after label 'has'/],
    ['has()', 4, /a label key inside has\(/],
    ['has(a b)', 6, /'\)' to close has\(/],
    ['all(x)', 4, /'\)' to close all\(/],
    ['global(x)', 7, /'\)' to close global\(/],
    ["a == 'x'\n&& b == 'y'", 8, /found "\\n"/],
    ["a == 'x' b == 'y'", 9, /'&&', '\|\|' or end of selector/],
    ["all() == 'x'", 6, /'&&', '\|\|' or end of selector/],
  ];
  it.each(cases)('%j fails at %i', (selector, position, expected) => {
    const error = parseError(selector);
    expect(error.position).toBe(position);
    expect(error.message).toMatch(expected);
    expect(error.message).toContain(`position ${position}`);
    expect(error.selector).toBe(selector);
    expect(isValidSelector(selector)).toBe(false);
  });
});

describe('quoteSelectorValue', () => {
  it('prefers single quotes and falls back to double quotes', () => {
    expect(quoteSelectorValue('web')).toBe("'web'");
    expect(quoteSelectorValue('')).toBe("''");
    expect(quoteSelectorValue("it's")).toBe(`"it's"`);
    expect(quoteSelectorValue('say "hi"')).toBe(`'say "hi"'`);
  });

  it('refuses a value with both quote kinds', () => {
    expect(() => quoteSelectorValue(`it's "x"`)).toThrow(UnquotableSelectorValueError);
    expect(() => quoteSelectorValue(`it's "x"`)).toThrow(/both ' and "/);
  });

  it('yields a literal that parses back to the same value', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', ' ', "'", '"', '\\', 'é', '{', ')') }), (value) => {
        fc.pre(!(value.includes("'") && value.includes('"')));
        expect(parseSelector(`k == ${quoteSelectorValue(value)}`).matches({ k: value })).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('selectorFromNode', () => {
  it('normalises sets and double negation like the parser', () => {
    const selector = selectorFromNode({
      kind: 'not',
      operand: { kind: 'not', operand: { kind: 'in', label: 'a', values: ['y', 'x', 'y'] } },
    });
    expect(selector.toString()).toBe('a in {"x", "y"}');
  });

  it('rejects what Calico could not parse back', () => {
    expect(() => selectorFromNode({ kind: 'has', label: 'a b' })).toThrow(/not a label key/);
    expect(() => selectorFromNode({ kind: 'eq', label: 'a', value: `'"` })).toThrow(/both ' and "/);
    expect(() => selectorFromNode({ kind: 'and', operands: [{ kind: 'all' }] })).toThrow(/two operands/);
  });

  it('isSelectorLabelKey follows the tokenizer alphabet', () => {
    expect(isSelectorLabelKey('projectcalico.org/namespace')).toBe(true);
    expect(isSelectorLabelKey('')).toBe(false);
    expect(isSelectorLabelKey('a:b')).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Properties

const LABEL_KEYS = [
  'a',
  'b',
  'app.kubernetes.io/name',
  '-x_y.z/',
  '9',
  'in',
  'not',
  'has',
  'all',
  'contains',
];
const LABEL_VALUES = ['', 'x', 'y', 'xy', ' x', "it's", 'say "hi"', 'é', '\u{1F600}'];

const labelKey = fc.constantFrom(...LABEL_KEYS);
const labelValue = fc.constantFrom(...LABEL_VALUES);
const labelMap: fc.Arbitrary<Labels> = fc.dictionary(labelKey, labelValue, { maxKeys: 5 });

const astArbitrary: fc.Arbitrary<SelectorNode> = fc.letrec<{ node: SelectorNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant<SelectorNode>({ kind: 'all' }),
    fc.constant<SelectorNode>({ kind: 'global' }),
    labelKey.map((label): SelectorNode => ({ kind: 'has', label })),
    fc
      .tuple(fc.constantFrom('eq', 'ne', 'contains', 'startsWith', 'endsWith' as const), labelKey, labelValue)
      .map(([kind, label, value]): SelectorNode => ({ kind, label, value })),
    fc
      .tuple(fc.constantFrom('in', 'notIn' as const), labelKey, fc.array(labelValue, { maxLength: 4 }))
      .map(([kind, label, values]): SelectorNode => ({ kind, label, values })),
    tie('node').map((operand): SelectorNode => ({ kind: 'not', operand })),
    fc
      .tuple(fc.constantFrom('and', 'or' as const), fc.array(tie('node'), { minLength: 2, maxLength: 3 }))
      .map(([kind, operands]): SelectorNode => ({ kind, operands })),
  ),
})).node;

/** The meaning of each node, written from libcalico-go's ast.go independently of the module under test. */
function oracle(node: SelectorNode, labels: Labels): boolean {
  const present = 'label' in node && Object.hasOwn(labels, node.label);
  const value = 'label' in node && present ? labels[node.label]! : '';
  switch (node.kind) {
    case 'all':
    case 'global':
      return true;
    case 'has':
      return present;
    case 'eq':
      return present && value === node.value;
    case 'ne':
      return !present || value !== node.value;
    case 'contains':
      return present && value.indexOf(node.value) >= 0;
    case 'startsWith':
      return present && value.slice(0, node.value.length) === node.value;
    case 'endsWith':
      return (
        present &&
        value.length >= node.value.length &&
        value.slice(value.length - node.value.length) === node.value
      );
    case 'in':
      return present && node.values.some((v) => v === value);
    case 'notIn':
      return !present || node.values.every((v) => v !== value);
    case 'not':
      return !oracle(node.operand, labels);
    case 'and':
      return node.operands.reduce((acc, operand) => oracle(operand, labels) && acc, true);
    case 'or':
      return node.operands.reduce((acc, operand) => oracle(operand, labels) || acc, false);
  }
}

/**
 * Prints an AST in one of the many spellings Calico accepts: random spaces and tabs where the tokenizer allows
 * them, either quote kind where the value permits, redundant parentheses, `startswith`/`notin` spellings.
 * `next` supplies the randomness (from a fast-check stream, so failures replay from the seed).
 */
function noisyPrint(node: SelectorNode, next: () => number): string {
  const pick = <T>(options: readonly T[]): T => options[next() % options.length]!;
  const ws = (): string => pick(['', '', ' ', '  ', '\t', ' \t ']);
  const ws1 = (): string => pick([' ', '  ', '\t', ' \t']);
  const literal = (value: string): string => {
    const kinds = ["'", '"'].filter((q) => !value.includes(q));
    const quote = pick(kinds);
    return quote + value + quote;
  };
  const word = (text: string): string => text.split(' ').join(pick([' ', '  ', '\t', '']));
  const inner = (n: SelectorNode, parent: 'and' | 'or' | 'not' | 'top'): string => {
    let text: string;
    let isGroup = false;
    switch (n.kind) {
      case 'all':
        text = `all(${ws()})`;
        break;
      case 'global':
        text = `global(${ws()})`;
        break;
      case 'has':
        text = `has(${ws()}${n.label}${ws()})`;
        break;
      case 'eq':
        text = `${n.label}${ws()}==${ws()}${literal(n.value)}`;
        break;
      case 'ne':
        text = `${n.label}${ws()}!=${ws()}${literal(n.value)}`;
        break;
      case 'contains':
        text = `${n.label}${ws1()}contains${ws()}${literal(n.value)}`;
        break;
      case 'startsWith':
        text = `${n.label}${ws1()}${word('starts with')}${ws()}${literal(n.value)}`;
        break;
      case 'endsWith':
        text = `${n.label}${ws1()}${word('ends with')}${ws()}${literal(n.value)}`;
        break;
      case 'in':
      case 'notIn': {
        const items = n.values.map((v) => `${ws()}${literal(v)}${ws()}`).join(',');
        const trailing = n.values.length > 0 ? pick(['', ',']) : '';
        text = `${n.label}${ws1()}${n.kind === 'in' ? 'in' : word('not in')}${ws()}{${items}${trailing}${ws()}}`;
        break;
      }
      case 'not':
        text = `!${ws()}${inner(n.operand, 'not')}`;
        break;
      case 'and':
      case 'or':
        text = n.operands
          .map((o) => inner(o, n.kind as 'and' | 'or'))
          .join(`${ws()}${n.kind === 'and' ? '&&' : '||'}${ws()}`);
        isGroup = true;
        break;
    }
    const needsParens =
      isGroup && (parent === 'not' || parent === 'and' || (parent === 'or' && n.kind === 'or'));
    return needsParens || pick([false, false, false, true]) ? `(${ws()}${text}${ws()})` : text;
  };
  return `${ws()}${inner(node, 'top')}${ws()}`;
}

const printable = (node: SelectorNode): boolean => {
  switch (node.kind) {
    case 'eq':
    case 'ne':
    case 'contains':
    case 'startsWith':
    case 'endsWith':
      return !(node.value.includes("'") && node.value.includes('"'));
    case 'in':
    case 'notIn':
      return node.values.every((v) => !(v.includes("'") && v.includes('"')));
    case 'not':
      return printable(node.operand);
    case 'and':
    case 'or':
      return node.operands.every(printable);
    default:
      return true;
  }
};

describe('selector properties', () => {
  it('toString of a random AST parses back to a selector with the same meaning', () => {
    fc.assert(
      fc.property(astArbitrary, fc.array(labelMap, { minLength: 1, maxLength: 8 }), (ast, labelMaps) => {
        fc.pre(printable(ast));
        const reparsed = parseSelector(selectorFromNode(ast).toString());
        for (const labels of labelMaps) {
          expect(reparsed.matches(labels)).toBe(oracle(ast, labels));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('any accepted spelling of an AST means what the AST means', () => {
    fc.assert(
      fc.property(
        astArbitrary,
        fc.infiniteStream(fc.nat()),
        fc.array(labelMap, { minLength: 1, maxLength: 8 }),
        (ast, stream, labelMaps) => {
          fc.pre(printable(ast));
          const iterator = stream[Symbol.iterator]();
          const text = noisyPrint(ast, () => iterator.next().value as number);
          const parsed = parseSelector(text);
          for (const labels of labelMaps) {
            expect(parsed.matches(labels)).toBe(oracle(ast, labels));
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('parse(toString(parse(s))) prints the same as parse(s): canonical form is a fixed point', () => {
    fc.assert(
      fc.property(astArbitrary, fc.infiniteStream(fc.nat()), (ast, stream) => {
        fc.pre(printable(ast));
        const iterator = stream[Symbol.iterator]();
        const once = parseSelector(noisyPrint(ast, () => iterator.next().value as number)).toString();
        expect(parseSelector(once).toString()).toBe(once);
      }),
      { numRuns: 1000 },
    );
  });

  it('token soup either parses to a fixed point or fails with a SelectorParseError inside the text', () => {
    const piece = fc.constantFrom(
      'a',
      'b.c/d',
      ' ',
      '\t',
      '==',
      '!=',
      '!',
      '=',
      '&&',
      '||',
      '&',
      '|',
      '(',
      ')',
      '{',
      '}',
      ',',
      "'x'",
      '"y"',
      "'",
      'in',
      'not',
      'not in',
      'contains',
      'starts with',
      'ends',
      'has(a)',
      'has(',
      'all()',
      'global()',
      '%',
      '\n',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const text = pieces.join('');
        let printed: string;
        try {
          printed = parseSelector(text).toString();
        } catch (error) {
          expect(error).toBeInstanceOf(SelectorParseError);
          const { position } = error as SelectorParseError;
          expect(position).toBeGreaterThanOrEqual(0);
          expect(position).toBeLessThanOrEqual(text.length);
          return;
        }
        expect(parseSelector(printed).toString()).toBe(printed);
      }),
      { numRuns: 2000 },
    );
  });
});
