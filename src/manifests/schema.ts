/**
 * A small schema language and its validator. The API server rejects unknown fields and wrong shapes (kubectl's
 * strict field validation); the offline tools must too, because an ignored field changes meaning: a peer whose
 * only field is the misspelled `NamespaceSelector` would otherwise read as "no restriction". The object schemas
 * themselves live in ./schemas.ts.
 */
import { describe, isPlainObject } from './parse.js';
import type { PathSegment } from '../api/errors.js';

/** Returns a message when the value is wrong, undefined when it is fine. */
export type ValueCheck<T> = (value: T) => string | undefined;

export type Schema =
  | { readonly type: 'string'; readonly enum?: readonly string[]; readonly check?: ValueCheck<string> }
  | {
      readonly type: 'integer';
      readonly minimum?: number;
      readonly maximum?: number;
      readonly enum?: readonly number[];
    }
  | { readonly type: 'number' }
  | { readonly type: 'boolean' }
  | { readonly type: 'int-or-string'; readonly check?: ValueCheck<number | string> }
  | { readonly type: 'array'; readonly items: Schema }
  | {
      readonly type: 'map';
      readonly values: Schema;
      readonly checkKey?: ValueCheck<string>;
    }
  | ObjectSchema
  | { readonly type: 'any' };

export interface ObjectSchema {
  readonly type: 'object';
  /** The API's name for the type (`NetworkPolicyPeer`), used in messages. */
  readonly name: string;
  readonly fields: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  /** Unknown fields allowed: for kinds whose full schema we do not carry (Pod), only the fields we read are typed. */
  readonly open?: boolean;
}

export type SchemaIssueKind = 'unknown-field' | 'wrong-type' | 'missing-field' | 'invalid-value';

export interface SchemaIssue {
  readonly kind: SchemaIssueKind;
  /** The offending field. For unknown-field the last segment is the unknown name itself. */
  readonly path: PathSegment[];
  /** A complete sentence for the user, including any did-you-mean. */
  readonly message: string;
  /** The replacement text when there is an obvious one (the right field name or enum value). */
  readonly suggestion?: string;
}

export function validate(schema: Schema, value: unknown, path: PathSegment[] = []): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  visit(schema, value, path, [], issues);
  return issues;
}

function visit(
  schema: Schema,
  value: unknown,
  path: PathSegment[],
  outer: ObjectSchema[],
  issues: SchemaIssue[],
) {
  const wrongType = (expected: string, hint?: string) =>
    issues.push({
      kind: 'wrong-type',
      path,
      message: `expected ${expected}, got ${describe(value)}${hint ? `; ${hint}` : ''}`,
    });
  switch (schema.type) {
    case 'any':
      return;
    case 'string': {
      if (typeof value !== 'string') {
        const hint =
          typeof value === 'number' || typeof value === 'boolean'
            ? `quote it ("${String(value)}"): YAML reads it as a ${typeof value}`
            : undefined;
        return void wrongType('a string', hint);
      }
      if (schema.enum && !schema.enum.includes(value)) return void badEnum(schema.enum, value, path, issues);
      const problem = schema.check?.(value);
      if (problem) issues.push({ kind: 'invalid-value', path, message: problem });
      return;
    }
    case 'integer': {
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        const hint =
          typeof value === 'string' && /^\d+$/.test(value) ? `remove the quotes (${value})` : undefined;
        return void wrongType('an integer', hint);
      }
      if (schema.enum && !schema.enum.includes(value))
        return void badEnum(schema.enum.map(String), value, path, issues);
      if (
        (schema.minimum !== undefined && value < schema.minimum) ||
        (schema.maximum !== undefined && value > schema.maximum)
      ) {
        issues.push({
          kind: 'invalid-value',
          path,
          message: `${value} is out of range ${schema.minimum ?? '-inf'}..${schema.maximum ?? 'inf'}`,
        });
      }
      return;
    }
    case 'number':
      if (typeof value !== 'number') wrongType('a number');
      return;
    case 'boolean':
      if (typeof value !== 'boolean') wrongType('true or false');
      return;
    case 'int-or-string': {
      if (typeof value !== 'string' && !(typeof value === 'number' && Number.isInteger(value))) {
        return void wrongType('an integer or a string');
      }
      const problem = schema.check?.(value);
      if (problem) issues.push({ kind: 'invalid-value', path, message: problem });
      return;
    }
    case 'array': {
      if (value === null) return;
      if (!Array.isArray(value)) {
        const element = schema.items.type === 'object' ? schema.items.name : describeSchema(schema.items);
        return void wrongType(`a list of ${element}`, listHint(value));
      }
      value.forEach((item, i) => visit(schema.items, item, [...path, i], outer, issues));
      return;
    }
    case 'map': {
      if (value === null) return;
      if (!isPlainObject(value)) return void wrongType(`a map of ${describeSchema(schema.values)}`);
      for (const [key, item] of Object.entries(value)) {
        const problem = schema.checkKey?.(key);
        if (problem) issues.push({ kind: 'invalid-value', path: [...path, key], message: problem });
        visit(schema.values, item, [...path, key], outer, issues);
      }
      return;
    }
    case 'object':
      return void visitObject(schema, value, path, outer, issues);
  }
}

function visitObject(
  schema: ObjectSchema,
  value: unknown,
  path: PathSegment[],
  outer: ObjectSchema[],
  issues: SchemaIssue[],
) {
  if (!isPlainObject(value)) {
    if (value === null) return;
    const hint = Array.isArray(value)
      ? 'remove the leading "-": this field takes one object, not a list'
      : undefined;
    issues.push({
      kind: 'wrong-type',
      path,
      message: `expected a ${schema.name} (a map), got ${describe(value)}${hint ? `; ${hint}` : ''}`,
    });
    return;
  }
  const misspelled = new Set<string>();
  for (const [key, item] of Object.entries(value)) {
    const fieldSchema = Object.hasOwn(schema.fields, key) ? schema.fields[key] : undefined;
    if (fieldSchema) {
      visit(fieldSchema, item, [...path, key], [schema, ...outer], issues);
    } else if (!schema.open) {
      const issue = unknownField(schema, key, [...path, key], outer);
      if (issue.suggestion) misspelled.add(issue.suggestion);
      issues.push(issue);
    }
  }
  for (const key of schema.required ?? []) {
    // `PodSelector:` is one mistake (reported as unknown-field with the right name), not two.
    if (value[key] === undefined && !misspelled.has(key)) {
      issues.push({
        kind: 'missing-field',
        path: [...path, key],
        message: `${schema.name} requires the field "${key}"`,
      });
    }
  }
}

function unknownField(
  schema: ObjectSchema,
  key: string,
  path: PathSegment[],
  outer: ObjectSchema[],
): SchemaIssue {
  const suggestion = closestName(key, Object.keys(schema.fields));
  if (suggestion) {
    return {
      kind: 'unknown-field',
      path,
      message: `unknown field "${key}" in ${schema.name}; did you mean "${suggestion}"?`,
      suggestion,
    };
  }
  // A field of an enclosing object one or two levels up is almost always an indentation slip.
  const owner = outer.slice(0, 2).find((o) => Object.hasOwn(o.fields, key));
  const where = owner ? `; "${key}" is a field of ${owner.name}: check the indentation` : '';
  const known = Object.keys(schema.fields).sort();
  return {
    kind: 'unknown-field',
    path,
    message: `unknown field "${key}" in ${schema.name}${where || `; known fields: ${known.join(', ')}`}`,
  };
}

function badEnum(
  allowed: readonly string[],
  value: string | number,
  path: PathSegment[],
  issues: SchemaIssue[],
) {
  const suggestion = closestName(String(value), allowed);
  issues.push({
    kind: 'invalid-value',
    path,
    message: `${JSON.stringify(value)} is not one of ${allowed.map((a) => `"${a}"`).join(', ')}${
      suggestion ? `; did you mean "${suggestion}"?` : ''
    }`,
    ...(suggestion ? { suggestion } : {}),
  });
}

function listHint(value: unknown): string | undefined {
  if (!isPlainObject(value)) return undefined;
  const entries = Object.entries(value);
  const scalar = (v: unknown) => ['string', 'number', 'boolean'].includes(typeof v);
  const inline = entries.length > 0 && entries.length <= 3 && entries.every(([, v]) => scalar(v));
  const example = inline ? `: \`- ${entries.map(([k, v]) => `${k}: ${String(v)}`).join(', ')}\`` : '';
  return `make it a list item by starting it with "- "${example}`;
}

function describeSchema(schema: Schema): string {
  switch (schema.type) {
    case 'object':
      return schema.name;
    case 'array':
      return `lists of ${describeSchema(schema.items)}`;
    case 'map':
      return 'maps';
    case 'int-or-string':
      return 'integers or strings';
    default:
      return `${schema.type}s`;
  }
}

/**
 * The candidate the user most likely meant: a case-insensitive match first (`NamespaceSelector`), else the nearest
 * by edit distance with transpositions (`namspaceSelector`, `destinaton`), allowing one edit per four characters.
 */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  const sameCase = candidates.find((c) => c.toLowerCase() === lower);
  if (sameCase !== undefined) return sameCase;
  const budget = Math.max(1, Math.floor(name.length / 4));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of [...candidates].sort()) {
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= budget ? best : undefined;
}

/** Optimal string alignment distance (Levenshtein plus adjacent transposition). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number) => d[i * cols + j] as number;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, at(i - 2, j - 2) + 1);
      d[i * cols + j] = v;
    }
  }
  return at(a.length, b.length);
}
