/**
 * The one vocabulary for "what is wrong with this input, and where", shared by the translators, the lint rules,
 * the controller (conditions, Events) and the CLI (`file: document N: path: message`).
 *
 * - A FieldError rejects the input: nothing is written for it.
 * - A Finding is a FieldError with a severity and a stable machine-readable code, so that warnings can be
 *   reported (conditions, Events, lint output) without rejecting the input.
 *
 * Paths follow Kubernetes' field paths: `spec.zones[1].addressPrefixes[0]`, `metadata.labels[app.kubernetes.io/name]`.
 */

/** A map key (string) or a list index (number). */
export type PathSegment = string | number;
/** A field inside one object, as segments; formatted as text only when printed (`formatPath`). */
export type FieldPath = readonly PathSegment[];

export interface FieldError {
  path: FieldPath;
  message: string;
}

export type Severity = 'error' | 'warning';

export interface Finding extends FieldError {
  severity: Severity;
  /** Stable identifier, PascalCase (e.g. `PrefixInMultipleZones`); used as a condition/Event reason. */
  code: string;
}

/** Either a value or every error found in the input (never only the first one). */
export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The one place a field path becomes text, as Kubernetes prints it: numbers become `[i]`, identifiers `.name`,
 * anything else (map keys such as label names) `[key]`.
 */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${segment}]`;
  }
  return out;
}

/** `path: message`, or just the message when the error concerns the whole input. */
export function formatFieldError(error: FieldError): string {
  return error.path.length === 0 ? error.message : `${formatPath(error.path)}: ${error.message}`;
}
