import type { FieldPath, ObjectSource } from '../manifests/index.js';
import type { LintRule, Severity } from './rules.js';

export interface LintFinding {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based, in UTF-16 code units (SARIF's default column kind). */
  readonly col: number;
  readonly severity: Severity;
  readonly ruleId: string;
  /** A complete sentence, including any did-you-mean. */
  readonly message: string;
  /** The replacement text, when there is one obvious fix (a field name, a label key). */
  readonly suggestion?: string;
}

/** A finding about a field of an object; `at: 'key'` points at the field's name rather than its value. */
export function findingAt(
  rule: LintRule,
  source: ObjectSource,
  path: FieldPath,
  message: string,
  options: { at?: 'key' | 'value'; suggestion?: string | undefined } = {},
): LintFinding {
  const { line, col } = source.locate(path, options.at ?? 'value');
  return {
    file: source.file,
    line,
    col,
    severity: rule.severity,
    ruleId: rule.id,
    message,
    ...(options.suggestion !== undefined ? { suggestion: options.suggestion } : {}),
  };
}

export function compareFindings(a: LintFinding, b: LintFinding): number {
  return (
    compareText(a.file, b.file) ||
    a.line - b.line ||
    a.col - b.col ||
    compareText(a.ruleId, b.ruleId) ||
    compareText(a.message, b.message)
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
