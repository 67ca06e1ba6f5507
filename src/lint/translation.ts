/**
 * What the translators say about the input, as findings: the NetworkPolicy translator's errors (the operator would
 * refuse the policy) and warnings, and the VpcEgressProfile translator's errors and prefix warnings. The same
 * functions run in the controller, so lint reports exactly what the operator would do.
 */
import type { NetworkPolicy } from '../api/kube.js';
import type { VpcEgressProfile } from '../api/v1alpha1.js';
import {
  DEFAULT_NAMESPACE,
  isPlainObject,
  type FieldPath,
  type ManifestObject,
  type SchemaIssue,
} from '../manifests/index.js';
import type { FieldError, Finding } from '../api/errors.js';
import { translateNetworkPolicy } from '../translate/networkpolicy.js';
import { PREFIX_IN_MULTIPLE_ZONES, translateProfile, type VpeTranslation } from '../vpe/rules.js';
import { findingAt, type LintFinding } from './finding.js';
import { RULES, type LintRule } from './rules.js';

/** Translator warning codes and the lint rule each becomes. */
const WARNING_RULES: Readonly<Record<string, LintRule>> = {
  RulesIgnoredByPolicyTypes: RULES.ignoredRules,
  IpBlockHostBitsSet: RULES.cidrHostBits,
  [PREFIX_IN_MULTIPLE_ZONES]: RULES.prefixOverlap,
};

function startsWith(path: FieldPath, prefix: FieldPath): boolean {
  return prefix.length <= path.length && prefix.every((segment, i) => String(segment) === String(path[i]));
}

/**
 * The schema findings already explain anything on the same branch of the object (a peer whose only field is
 * misspelled is also "a peer with no selector" to the translator): report each problem once.
 */
function explainedBySchema(path: FieldPath, issues: readonly SchemaIssue[]): boolean {
  // A misspelled field is also a missing one: `adressPrefixes` explains "addressPrefixes is required".
  const explained = issues.flatMap((issue) =>
    issue.kind === 'unknown-field' && issue.suggestion !== undefined
      ? [issue.path, [...issue.path.slice(0, -1), issue.suggestion]]
      : [issue.path],
  );
  return explained.some((p) => startsWith(path, p) || startsWith(p, path));
}

function report(
  object: ManifestObject,
  issues: readonly SchemaIssue[],
  errors: readonly FieldError[],
  warnings: readonly Finding[],
  errorRule: LintRule,
): LintFinding[] {
  const findings: LintFinding[] = [];
  for (const error of errors) {
    if (explainedBySchema(error.path, issues)) continue;
    findings.push(findingAt(errorRule, object.source, error.path, error.message));
  }
  for (const warning of warnings) {
    if (explainedBySchema(warning.path, issues)) continue;
    const rule = WARNING_RULES[warning.code];
    // A warning code this linter does not map yet still reaches the user, with the code to search for.
    const message = rule ? warning.message : `${warning.message} (${warning.code})`;
    findings.push(findingAt(rule ?? RULES.translationWarning, object.source, warning.path, message));
  }
  return findings;
}

/**
 * Translates a copy of the policy with the namespace kubectl would give it: a file without a namespace is normal
 * (`kubectl apply -n`), and the translator rightly requires one.
 */
export function networkPolicyTranslationFindings(
  object: ManifestObject,
  issues: readonly SchemaIssue[],
): LintFinding[] {
  const meta = isPlainObject(object.raw.metadata) ? object.raw.metadata : {};
  const policy = {
    ...object.raw,
    metadata: { ...meta, namespace: typeof meta.namespace === 'string' ? meta.namespace : DEFAULT_NAMESPACE },
  } as unknown as NetworkPolicy;
  let result: ReturnType<typeof translateNetworkPolicy>;
  try {
    result = translateNetworkPolicy(policy);
  } catch (e) {
    // Only input the schema already rejects can make the translator stumble; those findings say what is wrong.
    if (issues.length > 0) return [];
    throw e;
  }
  return result.ok
    ? report(object, issues, [], result.warnings, RULES.untranslatable)
    : report(object, issues, result.errors, [], RULES.untranslatable);
}

export interface ProfileTranslation {
  readonly object: ManifestObject;
  readonly translation: VpeTranslation | undefined;
  readonly findings: LintFinding[];
}

export function profileTranslation(
  object: ManifestObject,
  issues: readonly SchemaIssue[],
): ProfileTranslation {
  let result: ReturnType<typeof translateProfile>;
  try {
    result = translateProfile(object.raw as unknown as VpcEgressProfile);
  } catch (e) {
    if (issues.length > 0) return { object, translation: undefined, findings: [] };
    throw e;
  }
  if (!result.ok) {
    return {
      object,
      translation: undefined,
      findings: report(object, issues, result.errors, [], RULES.invalidProfile),
    };
  }
  return {
    object,
    translation: issues.length === 0 ? result.value : undefined,
    findings: report(object, issues, [], result.value.warnings, RULES.invalidProfile),
  };
}
