/**
 * Calico's selector language: tokenizer, parser, evaluator and canonical printer, written to accept exactly what
 * libcalico-go accepts (`lib/selector/tokenizer/tokenizer.go`, `lib/selector/parser/parser.go`) and to evaluate
 * exactly as its AST does (`lib/selector/parser/ast.go`). Felix enforces what Calico parses, not what its docs
 * say, so wherever the two disagree the source wins; the quirks we reproduce on purpose are listed here:
 *
 * - Whitespace is only space and tab. A newline (e.g. from a YAML literal block) is an invalid character.
 * - A label key is any run of `[A-Za-z0-9_./-]`, so keys may start with a digit, `.`, `/` or `-`.
 * - String literals are `'...'` or `"..."` with no escapes: a value containing both quote kinds is inexpressible.
 * - Operator words after a label are matched as prefixes with optional whitespace inside: `notin`, `startswith`,
 *   `endswith` are accepted; `has(`, `all(` and `global(` need the `(` right after the word.
 * - `a != 'x'` and `a not in {...}` are TRUE when label `a` is absent (LabelNeValueNode / LabelNotInSetNode
 *   return true on a missing label); `==`, `in`, `contains`, `starts with`, `ends with` are false when it is absent.
 * - `!` binds tighter than `&&`, which binds tighter than `||`; a run of `!` collapses to its parity.
 * - Set literals may be empty (`{}`) and may end with a comma after at least one item (`{'a',}`).
 * - An empty or all-whitespace selector parses as `all()` (parseRoot). Careful in rules: there an absent or empty
 *   `selector`/`namespaceSelector` means "no constraint" (any source, even a non-Calico IP) while `all()` means
 *   "any Calico endpoint"; the rule evaluator must not call parseSelector('') for an absent rule selector.
 * - `global()` evaluates to true on any labels (GlobalNode.Evaluate). Calico gives it a special meaning only as a
 *   rule's `namespaceSelector` (non-namespaced endpoints); that is the rule evaluator's business, not this file's.
 */

import type { Labels } from './kubernetes.js';

/** Calico's label-key alphabet (tokenizer `findIdentifier`). */
const LABEL_KEY_CHAR = /[A-Za-z0-9_./-]/;
const LABEL_KEY = /^[A-Za-z0-9_./-]+$/;

export type ComparisonKind = 'eq' | 'ne' | 'contains' | 'startsWith' | 'endsWith';

/** The selector AST, mirroring libcalico-go's node types one to one. */
export type SelectorNode =
  | { readonly kind: 'all' }
  | { readonly kind: 'global' }
  | { readonly kind: 'has'; readonly label: string }
  | { readonly kind: ComparisonKind; readonly label: string; readonly value: string }
  /** `values` is sorted by code point and free of duplicates, as Calico's StringSet is. */
  | { readonly kind: 'in' | 'notIn'; readonly label: string; readonly values: readonly string[] }
  | { readonly kind: 'not'; readonly operand: SelectorNode }
  /** At least two operands; a single operand is never wrapped. */
  | { readonly kind: 'and' | 'or'; readonly operands: readonly SelectorNode[] };

export class SelectorParseError extends Error {
  constructor(
    readonly selector: string,
    /** 0-based offset (UTF-16 code units) into `selector` where parsing failed. */
    readonly position: number,
    /** What the parser needed at `position`, in words. */
    readonly expected: string,
    found: string,
  ) {
    super(
      `invalid Calico selector ${JSON.stringify(selector)}: expected ${expected} at position ${position}, found ${found}`,
    );
    this.name = 'SelectorParseError';
  }
}

/** A parsed selector. Build one with parseSelector (from text) or selectorFromNode (from an AST). */
export interface Selector {
  readonly root: SelectorNode;
  matches(labels: Labels): boolean;
  /**
   * Calico's canonical text (libcalico-go Selector.String()): `&&`/`||` groups parenthesised, single spaces
   * around operators, sets sorted and de-duplicated, values in double quotes unless they contain one.
   * The one deliberate difference: `!(!x)` is collapsed to `x` while parsing, so printing is a fixed point
   * (Calico prints `!!x`, which it then re-parses as `x`).
   */
  toString(): string;
}

class ParsedSelector implements Selector {
  private cachedString: string | undefined;

  constructor(readonly root: SelectorNode) {}

  matches(labels: Labels): boolean {
    return evaluate(this.root, labels);
  }

  toString(): string {
    this.cachedString ??= print(this.root);
    return this.cachedString;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Quoting

/**
 * The Calico string literal for `value`: single quotes unless the value contains one, then double quotes.
 * Calico literals have no escapes, so a value with both quote kinds cannot be written; that throws rather than
 * producing a selector that means something else.
 */
export function quoteSelectorValue(value: string): string {
  return quoteLiteral(value, "'");
}

/** A value with both quote kinds: no Calico string literal can hold it. */
export class UnquotableSelectorValueError extends Error {
  constructor(readonly value: string) {
    super(
      `label value ${JSON.stringify(value)} contains both ' and ", which a Calico selector cannot express ` +
        '(Calico string literals have no escapes)',
    );
    this.name = 'UnquotableSelectorValueError';
  }
}

function quoteLiteral(value: string, preferred: "'" | '"'): string {
  const other = preferred === "'" ? '"' : "'";
  if (!value.includes(preferred)) return preferred + value + preferred;
  if (!value.includes(other)) return other + value + other;
  throw new UnquotableSelectorValueError(value);
}

// ---------------------------------------------------------------------------------------------------------------
// Public entry points

export function parseSelector(text: string): Selector {
  return new ParsedSelector(new Parser(text, tokenize(text)).parseRoot());
}

export function isValidSelector(text: string): boolean {
  try {
    parseSelector(text);
    return true;
  } catch (error) {
    if (error instanceof SelectorParseError) return false;
    throw error;
  }
}

/** True when `key` is a label key Calico's selector grammar can name. */
export function isSelectorLabelKey(key: string): boolean {
  return LABEL_KEY.test(key);
}

/**
 * A Selector from an AST built in code. Normalises the way the parser does (sets sorted and de-duplicated,
 * `!!x` collapsed) and rejects what Calico could not print or parse back: invalid label keys, values with both
 * quote kinds, `and`/`or` with fewer than two operands.
 */
export function selectorFromNode(node: SelectorNode): Selector {
  return new ParsedSelector(normalise(node));
}

function normalise(node: SelectorNode): SelectorNode {
  switch (node.kind) {
    case 'all':
    case 'global':
      return node;
    case 'has':
      checkLabelKey(node.label);
      return node;
    case 'eq':
    case 'ne':
    case 'contains':
    case 'startsWith':
    case 'endsWith':
      checkLabelKey(node.label);
      quoteLiteral(node.value, '"');
      return node;
    case 'in':
    case 'notIn':
      checkLabelKey(node.label);
      node.values.forEach((value) => quoteLiteral(value, '"'));
      return { kind: node.kind, label: node.label, values: toStringSet(node.values) };
    case 'not':
      return negate(normalise(node.operand));
    case 'and':
    case 'or':
      if (node.operands.length < 2) {
        throw new Error(
          `a selector '${node.kind}' node needs at least two operands, got ${node.operands.length}`,
        );
      }
      return { kind: node.kind, operands: node.operands.map(normalise) };
  }
}

function checkLabelKey(key: string): void {
  if (!LABEL_KEY.test(key)) {
    throw new Error(
      `${JSON.stringify(key)} is not a label key a Calico selector can name (allowed: [A-Za-z0-9_./-]+)`,
    );
  }
}

function negate(operand: SelectorNode): SelectorNode {
  return operand.kind === 'not' ? operand.operand : { kind: 'not', operand };
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

function evaluate(node: SelectorNode, labels: Labels): boolean {
  switch (node.kind) {
    case 'all':
    case 'global':
      return true;
    case 'has':
      return Object.hasOwn(labels, node.label);
    case 'not':
      return !evaluate(node.operand, labels);
    case 'and':
      return node.operands.every((operand) => evaluate(operand, labels));
    case 'or':
      return node.operands.some((operand) => evaluate(operand, labels));
    default:
      break;
  }
  const value = Object.hasOwn(labels, node.label) ? labels[node.label] : undefined;
  switch (node.kind) {
    case 'eq':
      return value === node.value;
    case 'ne':
      return value !== node.value; // true when absent, as Calico
    case 'contains':
      return value !== undefined && value.includes(node.value);
    case 'startsWith':
      return value !== undefined && value.startsWith(node.value);
    case 'endsWith':
      return value !== undefined && value.endsWith(node.value);
    case 'in':
      return value !== undefined && node.values.includes(value);
    case 'notIn':
      return value === undefined || !node.values.includes(value); // true when absent, as Calico
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Printing (libcalico-go collectFragments)

const COMPARISON_TEXT: Record<ComparisonKind, string> = {
  eq: '==',
  ne: '!=',
  contains: 'contains',
  startsWith: 'starts with',
  endsWith: 'ends with',
};

function print(node: SelectorNode): string {
  switch (node.kind) {
    case 'all':
      return 'all()';
    case 'global':
      return 'global()';
    case 'has':
      return `has(${node.label})`;
    case 'eq':
    case 'ne':
    case 'contains':
    case 'startsWith':
    case 'endsWith':
      return `${node.label} ${COMPARISON_TEXT[node.kind]} ${quoteLiteral(node.value, '"')}`;
    case 'in':
    case 'notIn':
      return `${node.label} ${node.kind === 'in' ? 'in' : 'not in'} {${node.values.map((v) => quoteLiteral(v, '"')).join(', ')}}`;
    case 'not':
      return `!${print(node.operand)}`;
    case 'and':
    case 'or':
      return `(${node.operands.map(print).join(node.kind === 'and' ? ' && ' : ' || ')})`;
  }
}

/** Go sorts strings by UTF-8 bytes, which is code-point order; JS `<` compares UTF-16 units, which is not. */
function compareCodePoints(a: string, b: string): number {
  const left = Array.from(a);
  const right = Array.from(b);
  const length = Math.min(left.length, right.length);
  for (let i = 0; i < length; i++) {
    const difference = left[i]!.codePointAt(0)! - right[i]!.codePointAt(0)!;
    if (difference !== 0) return difference;
  }
  return left.length - right.length;
}

function toStringSet(values: readonly string[]): string[] {
  return [...new Set(values)].sort(compareCodePoints);
}

// ---------------------------------------------------------------------------------------------------------------
// Tokenizer (libcalico-go tokenizer.AppendTokens)

type TokenKind =
  | 'label'
  | 'string'
  | 'lbrace'
  | 'rbrace'
  | 'comma'
  | 'eq'
  | 'ne'
  | 'in'
  | 'not'
  | 'notIn'
  | 'contains'
  | 'startsWith'
  | 'endsWith'
  | 'all'
  | 'has'
  | 'lparen'
  | 'rparen'
  | 'and'
  | 'or'
  | 'global'
  | 'eof';

interface Token {
  kind: TokenKind;
  /** Label key, string literal contents or has() key; empty for the others. */
  value: string;
  start: number;
}

const SINGLE_CHAR_TOKENS: Partial<Record<string, TokenKind>> = {
  '(': 'lparen',
  ')': 'rparen',
  '{': 'lbrace',
  '}': 'rbrace',
  ',': 'comma',
};

const OPERATOR_EXPECTATION = 'an operator (==, !=, in, not in, contains, starts with, ends with)';

function isWhitespace(char: string | undefined): boolean {
  return char === ' ' || char === '\t';
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  const fail = (at: number, expected: string): never => {
    throw new SelectorParseError(text, at, expected, describeInputAt(text, at));
  };
  const skipWhitespace = (from: number): number => {
    let at = from;
    while (isWhitespace(text[at])) at++;
    return at;
  };
  const labelKeyEnd = (from: number): number => {
    let at = from;
    while (at < text.length && LABEL_KEY_CHAR.test(text[at]!)) at++;
    return at;
  };
  // Calico matches these words as plain prefixes, optionally followed by whitespace and a second word.
  const twoWordOperator = (first: string, second: string): number | undefined => {
    if (!text.startsWith(first, pos)) return undefined;
    const at = skipWhitespace(pos + first.length);
    return text.startsWith(second, at) ? at + second.length : fail(at, `'${second}' after '${first}'`);
  };
  // `name(` followed by optional whitespace and `)`.
  const emptyCall = (name: string): number | undefined => {
    if (!text.startsWith(`${name}(`, pos)) return undefined;
    const at = skipWhitespace(pos + name.length + 1);
    return text[at] === ')' ? at + 1 : fail(at, `')' to close ${name}(`);
  };

  for (;;) {
    pos = skipWhitespace(pos);
    const start = pos;
    const char = text[pos];
    if (char === undefined) {
      tokens.push({ kind: 'eof', value: '', start });
      return tokens;
    }
    const push = (kind: TokenKind, end: number, value = ''): void => {
      tokens.push({ kind, value, start });
      pos = end;
    };
    const single = SINGLE_CHAR_TOKENS[char];
    if (single !== undefined) {
      push(single, pos + 1);
      continue;
    }
    switch (char) {
      case '"':
      case "'": {
        const close = text.indexOf(char, pos + 1);
        if (close === -1) fail(text.length, `a closing ${char} for the string starting at position ${start}`);
        push('string', close + 1, text.slice(pos + 1, close));
        continue;
      }
      case '=':
        if (text[pos + 1] !== '=') fail(pos, "'=='");
        push('eq', pos + 2);
        continue;
      case '!':
        if (text[pos + 1] === '=') push('ne', pos + 2);
        else push('not', pos + 1);
        continue;
      case '&':
        if (text[pos + 1] !== '&') fail(pos, "'&&'");
        push('and', pos + 2);
        continue;
      case '|':
        if (text[pos + 1] !== '|') fail(pos, "'||'");
        push('or', pos + 2);
        continue;
      default:
        break;
    }
    if (tokens.at(-1)?.kind === 'label') {
      // Directly after a label only an operator word may follow (Calico checks them in this order).
      let end: number | undefined;
      if (text.startsWith('contains', pos)) push('contains', pos + 'contains'.length);
      else if ((end = twoWordOperator('starts', 'with')) !== undefined) push('startsWith', end);
      else if ((end = twoWordOperator('ends', 'with')) !== undefined) push('endsWith', end);
      else if ((end = twoWordOperator('not', 'in')) !== undefined) push('notIn', end);
      else if (text.startsWith('in', pos)) push('in', pos + 'in'.length);
      else fail(pos, `${OPERATOR_EXPECTATION} after label '${tokens.at(-1)!.value}'`);
      continue;
    }
    if (text.startsWith('has(', pos)) {
      const keyStart = skipWhitespace(pos + 'has('.length);
      const keyEnd = labelKeyEnd(keyStart);
      if (keyEnd === keyStart) fail(keyStart, 'a label key inside has(');
      const close = skipWhitespace(keyEnd);
      if (text[close] !== ')') fail(close, "')' to close has(");
      push('has', close + 1, text.slice(keyStart, keyEnd));
      continue;
    }
    let end: number | undefined;
    if ((end = emptyCall('all')) !== undefined) {
      push('all', end);
      continue;
    }
    if ((end = emptyCall('global')) !== undefined) {
      push('global', end);
      continue;
    }
    end = labelKeyEnd(pos);
    if (end === pos) {
      fail(pos, "a label key, has(, all(), global(), '!' or '('");
    }
    // Calico's findIdentifier finds nothing when a key runs to the end of the input and fails right there. Such a
    // key can never be followed by its operator, so the parser rejects it too; letting it through gives the
    // better message (e.g. for `a == b`, that a string literal was expected at `b`).
    push('label', end, text.slice(pos, end));
  }
}

function describeInputAt(text: string, at: number): string {
  const char = text.codePointAt(at);
  return char === undefined ? 'end of selector' : JSON.stringify(String.fromCodePoint(char));
}

// ---------------------------------------------------------------------------------------------------------------
// Parser (libcalico-go parser.parseRoot / parseOrExpression / parseAndExpression / parseOperation)

const TOKEN_TEXT: Record<Exclude<TokenKind, 'label' | 'string' | 'has'>, string> = {
  lbrace: "'{'",
  rbrace: "'}'",
  comma: "','",
  eq: "'=='",
  ne: "'!='",
  in: "'in'",
  not: "'!'",
  notIn: "'not in'",
  contains: "'contains'",
  startsWith: "'starts with'",
  endsWith: "'ends with'",
  all: "'all()'",
  lparen: "'('",
  rparen: "')'",
  and: "'&&'",
  or: "'||'",
  global: "'global()'",
  eof: 'end of selector',
};

function describeToken(token: Token): string {
  switch (token.kind) {
    case 'label':
      return `label '${token.value}'`;
    case 'string':
      return `string ${quoteLiteral(token.value, '"')}`;
    case 'has':
      return `'has(${token.value})'`;
    default:
      return TOKEN_TEXT[token.kind];
  }
}

const COMPARISON_TOKENS: Partial<Record<TokenKind, ComparisonKind>> = {
  eq: 'eq',
  ne: 'ne',
  contains: 'contains',
  startsWith: 'startsWith',
  endsWith: 'endsWith',
};

class Parser {
  private index = 0;

  constructor(
    private readonly text: string,
    private readonly tokens: readonly Token[],
  ) {}

  parseRoot(): SelectorNode {
    if (this.peek().kind === 'eof') return { kind: 'all' };
    const node = this.parseOr();
    if (this.peek().kind !== 'eof') this.fail("'&&', '||' or end of selector");
    return node;
  }

  private peek(): Token {
    // The tokenizer always ends with eof and the parser never consumes it, so this is always in range.
    return this.tokens[this.index]!;
  }

  private next(): Token {
    const token = this.peek();
    this.index++;
    return token;
  }

  private fail(expected: string): never {
    const token = this.peek();
    throw new SelectorParseError(this.text, token.start, expected, describeToken(token));
  }

  private parseOr(): SelectorNode {
    const operands = [this.parseAnd()];
    while (this.peek().kind === 'or') {
      this.index++;
      operands.push(this.parseAnd());
    }
    return operands.length === 1 ? operands[0]! : { kind: 'or', operands };
  }

  private parseAnd(): SelectorNode {
    const operands = [this.parseOperation()];
    while (this.peek().kind === 'and') {
      this.index++;
      operands.push(this.parseOperation());
    }
    return operands.length === 1 ? operands[0]! : { kind: 'and', operands };
  }

  private parseOperation(): SelectorNode {
    let negated = false;
    while (this.peek().kind === 'not') {
      negated = !negated;
      this.index++;
    }
    const operation = this.parseUnnegatedOperation();
    return negated ? negate(operation) : operation;
  }

  private parseUnnegatedOperation(): SelectorNode {
    const token = this.peek();
    switch (token.kind) {
      case 'has':
        this.index++;
        return { kind: 'has', label: token.value };
      case 'all':
        this.index++;
        return { kind: 'all' };
      case 'global':
        this.index++;
        return { kind: 'global' };
      case 'lparen': {
        this.index++;
        const inner = this.parseOr();
        if (this.peek().kind !== 'rparen') this.fail("')', '&&' or '||'");
        this.index++;
        return inner;
      }
      case 'label':
        this.index++;
        return this.parseLabelOperation(token.value);
      default:
        return this.fail("a label key, has(), all(), global(), '!' or '('");
    }
  }

  private parseLabelOperation(label: string): SelectorNode {
    const operator = this.peek();
    const comparison = COMPARISON_TOKENS[operator.kind];
    if (comparison !== undefined) {
      this.index++;
      return {
        kind: comparison,
        label,
        value: this.expectString(`a string literal after ${describeToken(operator)}`),
      };
    }
    if (operator.kind !== 'in' && operator.kind !== 'notIn')
      this.fail(`${OPERATOR_EXPECTATION} after label '${label}'`);
    this.index++;
    if (this.peek().kind !== 'lbrace') this.fail(`a set literal '{...}' after ${describeToken(operator)}`);
    this.index++;
    const values: string[] = [];
    let expected = "a string literal or '}'";
    while (this.peek().kind === 'string') {
      values.push(this.next().value);
      if (this.peek().kind !== 'comma') {
        expected = "',' or '}'";
        break;
      }
      this.index++;
    }
    if (this.peek().kind !== 'rbrace') this.fail(expected);
    this.index++;
    return { kind: operator.kind, label, values: toStringSet(values) };
  }

  private expectString(expected: string): string {
    if (this.peek().kind !== 'string') this.fail(expected);
    return this.next().value;
  }
}
