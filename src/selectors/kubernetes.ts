/**
 * Kubernetes LabelSelector semantics, as apimachinery's `metav1.LabelSelectorAsSelector` builds them and
 * `labels.Requirement.Matches` evaluates them, plus the API server's validation of a selector
 * (`metav1validation.ValidateLabelSelector`, `validation.IsQualifiedName`, `validation.IsValidLabelValue`).
 *
 * These functions take a PRESENT selector. A peer's absent podSelector/namespaceSelector does not mean `{}`
 * (absent namespaceSelector = the policy's own namespace, absent podSelector = every pod of the selected
 * namespaces, or nothing pod-based at all in an ipBlock peer); callers decide what absence means before calling.
 * Kubernetes' `nil` selector (matches nothing) is likewise the caller's business.
 */
import type { LabelSelector, LabelSelectorOperator } from '../api/kube.js';
import { formatFieldError, type FieldError, type FieldPath } from '../api/errors.js';

/** A label map as the evaluators read it (pod, namespace or endpoint labels). */
export type Labels = Readonly<Record<string, string>>;

/** One requirement: matchLabels entries become `In` with a single value (apimachinery's `Equals`, same meaning). */
export interface LabelRequirement {
  key: string;
  operator: LabelSelectorOperator;
  /** Sorted, de-duplicated; empty for Exists/DoesNotExist. */
  values: string[];
}

export class InvalidLabelSelectorError extends Error {
  constructor(readonly errors: readonly FieldError[]) {
    super(`invalid label selector: ${errors.map(formatFieldError).join('; ')}`);
    this.name = 'InvalidLabelSelectorError';
  }
}

const OPERATORS: readonly LabelSelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

// apimachinery pkg/util/validation: qualifiedNameFmt, dns1123SubdomainFmt, labelValueFmt.
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME_MESSAGE =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const MAX_NAME_PART = 63;
const MAX_SUBDOMAIN = 253;
const MAX_LABEL_VALUE = 63;

/**
 * Whether `text` is longer than `max` bytes in UTF-8. A UTF-16 code unit takes 1 to 3 bytes (a surrogate pair,
 * two units, takes 4), so the length alone decides almost every case without encoding anything; encoding every
 * key and value was a fifth of the translator's time (bench/).
 */
function exceedsBytes(text: string, max: number): boolean {
  if (text.length * 3 <= max) return false;
  if (text.length > max) return true;
  return Buffer.byteLength(text, 'utf8') > max;
}

// Returned for every valid key or value: validation runs for each one the translator sees, so the common answer
// allocates nothing. Frozen, because it is shared.
const NO_ERRORS: string[] = Object.freeze([]) as unknown as string[];

/** Problems with `key` as a label key (a Kubernetes qualified name); empty when valid. */
export function labelKeyErrors(key: string): string[] {
  // The common case, a key without prefix that is valid as it stands (the regex admits no '/').
  if (key.length <= MAX_NAME_PART && QUALIFIED_NAME_PART.test(key)) return NO_ERRORS;
  const parts = key.split('/');
  let name: string;
  const errors: string[] = [];
  if (parts.length === 1) {
    name = key;
  } else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) errors.push('prefix part must be non-empty');
    else {
      if (exceedsBytes(prefix, MAX_SUBDOMAIN))
        errors.push(`prefix part must be no more than ${MAX_SUBDOMAIN} bytes`);
      if (!DNS1123_SUBDOMAIN.test(prefix)) {
        errors.push(
          'prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, ' +
            "'-' or '.', and must start and end with an alphanumeric character",
        );
      }
    }
  } else {
    return [
      `a qualified name ${QUALIFIED_NAME_MESSAGE}, with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  if (name.length === 0) errors.push('name part must be non-empty');
  else {
    if (exceedsBytes(name, MAX_NAME_PART))
      errors.push(`name part must be no more than ${MAX_NAME_PART} bytes`);
    if (!QUALIFIED_NAME_PART.test(name)) errors.push(`name part ${QUALIFIED_NAME_MESSAGE}`);
  }
  return errors;
}

/** Problems with `value` as a label value; empty when valid. */
export function labelValueErrors(value: string): string[] {
  if (value.length <= MAX_LABEL_VALUE && LABEL_VALUE.test(value)) return NO_ERRORS;
  const errors: string[] = [];
  if (exceedsBytes(value, MAX_LABEL_VALUE)) errors.push(`must be no more than ${MAX_LABEL_VALUE} bytes`);
  if (!LABEL_VALUE.test(value)) {
    errors.push(
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', " +
        'and must start and end with an alphanumeric character',
    );
  }
  return errors;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Every problem the API server would report for this selector, with field paths under `path`
 * (e.g. `spec.podSelector`). Checks the shape too, because selectors from files are untyped YAML: a common slip
 * is `matchLabels: {version: 1}`, a number where a string is required.
 */
export function validateLabelSelector(selector: LabelSelector, path: FieldPath): FieldError[] {
  const errors: FieldError[] = [];
  const report: Report = (at, message) => {
    errors.push({ path: at, message });
  };
  if (!isRecord(selector)) {
    report(path, 'must be an object (a label selector)');
    return errors;
  }
  const { matchLabels, matchExpressions } = selector as Record<string, unknown>;
  if (matchLabels !== undefined && matchLabels !== null) {
    if (!isRecord(matchLabels)) {
      report([...path, 'matchLabels'], 'must be a map of label keys to values');
    } else {
      for (const key of Object.keys(matchLabels)) {
        const value = matchLabels[key];
        // The common case, a valid key with a valid value, has nothing to report and builds no field path.
        if (
          typeof value === 'string' &&
          labelKeyErrors(key).length === 0 &&
          labelValueErrors(value).length === 0
        )
          continue;
        const at = (): FieldPath => [...path, 'matchLabels', key];
        reportKey(key, at, report);
        if (typeof value !== 'string') report(at(), `value must be a string, got ${describe(value)}`);
        else reportValue(value, at, report);
      }
    }
  }
  if (matchExpressions !== undefined && matchExpressions !== null) {
    if (!Array.isArray(matchExpressions)) {
      report([...path, 'matchExpressions'], 'must be a list');
    } else {
      matchExpressions.forEach((requirement, i) =>
        validateRequirement(requirement, () => [...path, 'matchExpressions', i], report),
      );
    }
  }
  return errors;
}

/** `pathOf` builds the requirement's field path, called only when there is an error to report. */
function validateRequirement(requirement: unknown, pathOf: () => FieldPath, report: Report): void {
  if (!isRecord(requirement)) {
    report(pathOf(), 'must be an object with key, operator and values');
    return;
  }
  const { key, operator, values } = requirement;
  if (typeof key !== 'string') report([...pathOf(), 'key'], `must be a string, got ${describe(key)}`);
  else reportKey(key, () => [...pathOf(), 'key'], report);

  const valuesPath = (): FieldPath => [...pathOf(), 'values'];
  const valueList: unknown[] | undefined =
    values === undefined || values === null ? [] : Array.isArray(values) ? values : undefined;
  if (valueList === undefined) report(valuesPath(), `must be a list of strings, got ${describe(values)}`);

  switch (operator) {
    case 'In':
    case 'NotIn':
      if (valueList !== undefined && valueList.length === 0) {
        report(valuesPath(), "must be specified when `operator` is 'In' or 'NotIn'");
      }
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (valueList !== undefined && valueList.length > 0) {
        report(valuesPath(), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
      }
      break;
    default:
      report(
        [...pathOf(), 'operator'],
        `unsupported value ${describe(operator)}: supported values: ${OPERATORS.map((o) => `"${o}"`).join(', ')}`,
      );
  }
  valueList?.forEach((value, i) => {
    if (typeof value === 'string' && labelValueErrors(value).length === 0) return; // valid: no path built
    const at = (): FieldPath => [...valuesPath(), i];
    if (typeof value !== 'string') report(at(), `must be a string, got ${describe(value)}`);
    else reportValue(value, at, report);
  });
}

type Report = (path: FieldPath, message: string) => void;

// These run for every key and value of every selector; `pathOf` builds a field path only for an error.

function reportKey(key: string, pathOf: () => FieldPath, report: Report): void {
  for (const message of labelKeyErrors(key))
    report(pathOf(), `invalid label key ${JSON.stringify(key)}: ${message}`);
}

function reportValue(value: string, pathOf: () => FieldPath, report: Report): void {
  for (const message of labelValueErrors(value))
    report(pathOf(), `invalid value ${JSON.stringify(value)}: ${message}`);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The selector's requirements, sorted by key then operator (apimachinery sorts by key), values sorted and
 * de-duplicated. Throws InvalidLabelSelectorError when validateLabelSelector reports anything.
 */
export function labelSelectorRequirements(selector: LabelSelector, path: FieldPath = []): LabelRequirement[] {
  const errors = validateLabelSelector(selector, path);
  if (errors.length > 0) throw new InvalidLabelSelectorError(errors);
  const requirements: LabelRequirement[] = Object.entries(selector.matchLabels ?? {}).map(([key, value]) => ({
    key,
    operator: 'In',
    values: [value],
  }));
  for (const { key, operator, values } of selector.matchExpressions ?? []) {
    requirements.push({ key, operator, values: [...new Set(values ?? [])].sort(compareStrings) });
  }
  return requirements.sort((a, b) => compareStrings(a.key, b.key) || compareStrings(a.operator, b.operator));
}

function requirementMatches({ key, operator, values }: LabelRequirement, labels: Labels): boolean {
  const present = Object.hasOwn(labels, key);
  switch (operator) {
    case 'In':
      return present && values.includes(labels[key]!);
    case 'NotIn':
      return !present || !values.includes(labels[key]!); // absent key matches, as in apimachinery
    case 'Exists':
      return present;
    case 'DoesNotExist':
      return !present;
  }
}

/**
 * Validates once and returns a matcher: every requirement must hold; `{}` (no requirements) matches everything.
 * Throws InvalidLabelSelectorError for a selector the API server would reject (e.g. `In` with no values), since
 * guessing a meaning could widen a policy.
 */
export function compileLabelSelector(
  selector: LabelSelector,
  path: FieldPath = [],
): (labels: Labels) => boolean {
  const requirements = labelSelectorRequirements(selector, path);
  return (labels) => requirements.every((requirement) => requirementMatches(requirement, labels));
}

/** One-shot form of compileLabelSelector; prefer compiling once in loops. */
export function matchesLabelSelector(selector: LabelSelector, labels: Labels): boolean {
  return compileLabelSelector(selector)(labels);
}
