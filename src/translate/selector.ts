/**
 * Kubernetes LabelSelector -> Calico selector expression.
 *
 * The output is canonical, so the same meaning always gives byte-identical text (no GNP churn when a user
 * reorders matchExpressions or their values): matchLabels first, sorted by key; then one term per
 * matchExpression, sorted by key, operator and values; In/NotIn values sorted and de-duplicated; duplicate terms
 * dropped. Terms are joined with ` && `, and an empty selector is `all()`.
 *
 * Semantics, checked against libcalico-go's AST (`lib/selector/parser/ast.go`) and the Kubernetes label selector:
 * - matchLabels `k: v`       -> `k == 'v'`         (both false when `k` is absent)
 * - In `k` {v1, v2}          -> `k in {'v1', 'v2'}` (both false when `k` is absent)
 * - NotIn `k` {v1, v2}       -> `k not in {...}`   (both TRUE when `k` is absent: LabelNotInSetNode returns true)
 * - Exists `k`               -> `has(k)`
 * - DoesNotExist `k`         -> `!has(k)`
 *
 * Calico string literals have no escapes (the tokenizer reads to the next matching quote), so a value holding
 * both quote kinds cannot be written. Such a selector fails with an error naming the field; it is never dropped
 * or approximated, because a dropped term widens the selector.
 *
 * Room note: the quoting function lives in src/selectors/calico.ts next to the parser that must read it back, so
 * this file imports it from there (the one place that knows Calico's literal syntax).
 */
import type { LabelSelector, LabelSelectorRequirement } from '../api/kube.js';
import { isSelectorLabelKey, quoteSelectorValue } from '../selectors/calico.js';
import { validateLabelSelector } from '../selectors/kubernetes.js';
import { type FieldError, type Validated, type FieldPath } from '../api/errors.js';

/** The Calico expression matching everything; what an empty Kubernetes selector means. */
export const MATCH_ALL = 'all()';

/**
 * The Calico terms (to be ANDed) equivalent to a Kubernetes label selector; `[]` for an empty selector.
 * `path` names the selector in errors, e.g. `spec.ingress[0].from[1].podSelector`.
 */
export function labelSelectorTerms(
  selector: LabelSelector | undefined,
  path: FieldPath,
): Validated<string[]> {
  if (selector === undefined) return { ok: true, value: [] };
  // The API server's rules first: they also vouch for the shape (strings where strings belong) used below.
  const invalid = validateLabelSelector(selector, path);
  if (invalid.length > 0) return { ok: false, errors: invalid };
  // Valid Kubernetes keys and values are always expressible in Calico's grammar; these checks keep that promise
  // local, so that a selector we cannot write exactly is an error here rather than a parse failure in Calico.
  const errors: FieldError[] = [];

  // This runs for every selector of every policy translated, so the common shapes (one label, one expression,
  // one value) take no sorting, de-duplicating or intermediate arrays, and field paths are built only for errors.
  const terms: string[] = [];
  const matchLabels = selector.matchLabels;
  if (matchLabels !== undefined && matchLabels !== null) {
    const keys = Object.keys(matchLabels);
    if (keys.length > 1) keys.sort(compareCodeUnits);
    for (const key of keys) {
      const keyPath = () => [...path, 'matchLabels', key];
      const quoted = quoteOrError(matchLabels[key] ?? '', keyPath, errors);
      if (checkKey(key, keyPath, errors) && quoted !== undefined) terms.push(`${key} == ${quoted}`);
    }
  }

  const requirements = selector.matchExpressions;
  if (requirements !== undefined && requirements !== null && requirements.length > 0) {
    const expressionTerms: ExpressionTerm[] = [];
    requirements.forEach((requirement, index) => {
      const term = requirementTerm(requirement, () => [...path, 'matchExpressions', index], errors);
      if (term === undefined) return;
      expressionTerms.push({ key: requirement.key, rank: OPERATOR_RANK[requirement.operator], term });
    });
    if (expressionTerms.length > 1) expressionTerms.sort(compareExpressionTerms);
    for (const entry of expressionTerms) terms.push(entry.term);
  }

  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: dedupe(terms) };
}

/** The Calico selector equivalent to a Kubernetes label selector: `all()` when it is empty. */
export function labelSelectorToCalico(
  selector: LabelSelector | undefined,
  path: FieldPath,
): Validated<string> {
  const terms = labelSelectorTerms(selector, path);
  return terms.ok ? { ok: true, value: andTerms(terms.value) } : terms;
}

/** ANDs Calico terms; none means `all()`. Each term must bind at least as tightly as `&&` (ours all do). */
export function andTerms(terms: readonly string[]): string {
  // One term is the common case, and join is not free even for one.
  return terms.length === 0 ? MATCH_ALL : terms.length === 1 ? (terms[0] as string) : terms.join(' && ');
}

/** `key == 'value'`, for labels Calico sets itself (values known to be quotable, keys known to be valid). */
export function equalityTerm(key: string, value: string): string {
  return `${key} == ${quoteSelectorValue(value)}`;
}

/** A matchExpression's term and what it is sorted by. */
interface ExpressionTerm {
  key: string;
  rank: number;
  term: string;
}

/**
 * By key, operator rank, then term: the order of the text `key NUL rank NUL term` the terms were first sorted by,
 * without building it (valid keys hold no NUL, so a key that is a prefix of another sorts first either way, and
 * ranks are single digits).
 */
function compareExpressionTerms(a: ExpressionTerm, b: ExpressionTerm): number {
  return compareCodeUnits(a.key, b.key) || a.rank - b.rank || compareCodeUnits(a.term, b.term);
}

// The order in which operators of the same key are listed; purely cosmetic, but fixed.
const OPERATOR_RANK: Record<LabelSelectorRequirement['operator'], number> = {
  In: 0,
  NotIn: 1,
  Exists: 2,
  DoesNotExist: 3,
};

/** `pathOf` builds the requirement's field path, called only when there is an error to report. */
function requirementTerm(
  requirement: LabelSelectorRequirement,
  pathOf: () => FieldPath,
  errors: FieldError[],
): string | undefined {
  const { key, operator } = requirement;
  const keyOk = checkKey(key, () => [...pathOf(), 'key'], errors);
  switch (operator) {
    case 'In':
    case 'NotIn': {
      const given = requirement.values ?? [];
      const values = given.length === 1 ? given : [...new Set(given)].sort(compareCodeUnits);
      let list = '';
      let quotable = true;
      for (let i = 0; i < values.length; i++) {
        const value = values[i] as string;
        const quoted = quoteOrError(value, () => [...pathOf(), 'values', given.indexOf(value)], errors);
        if (quoted === undefined) quotable = false;
        else list = i === 0 ? quoted : `${list}, ${quoted}`;
      }
      if (!keyOk || !quotable) return undefined;
      return `${key} ${operator === 'In' ? 'in' : 'not in'} {${list}}`;
    }
    case 'Exists':
      return keyOk ? `has(${key})` : undefined;
    case 'DoesNotExist':
      return keyOk ? `!has(${key})` : undefined;
    default:
      // validateLabelSelector reports unknown operators; nothing to add here.
      return undefined;
  }
}

// The checks below run for every key and value of every selector; `pathOf` builds a field path only for an error.

function checkKey(key: string, pathOf: () => FieldPath, errors: FieldError[]): boolean {
  if (isSelectorLabelKey(key)) return true;
  errors.push({
    path: pathOf(),
    message: `label key ${JSON.stringify(key)} cannot be named in a Calico selector (allowed characters: A-Z a-z 0-9 _ . / -)`,
  });
  return false;
}

function quoteOrError(value: string, pathOf: () => FieldPath, errors: FieldError[]): string | undefined {
  try {
    return quoteSelectorValue(value);
  } catch (error) {
    errors.push({ path: pathOf(), message: error instanceof Error ? error.message : String(error) });
    return undefined;
  }
}

/** The terms without repeats, first occurrence kept; the same array when there are none (the common case). */
function dedupe(terms: string[]): string[] {
  for (let i = 1; i < terms.length; i++) {
    if (terms.indexOf(terms[i] as string) !== i) return [...new Set(terms)];
  }
  return terms;
}

/** Plain UTF-16 code-unit order: deterministic and locale-independent (label keys are ASCII anyway). */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
