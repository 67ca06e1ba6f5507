/**
 * Findings about the shape of the input: unreadable documents, schema violations (unknown fields, wrong types,
 * missing fields, bad enum values), objects that look like a kind we read but are not, duplicates.
 */
import {
  apiGroupOf,
  definedAt,
  describeObject,
  redefinitions,
  closestName,
  isPlainObject,
  WORKLOAD_TEMPLATE_PATHS,
  type Inventory,
  type ManifestError,
  type ManifestObject,
  type SchemaIssueKind,
} from '../manifests/index.js';
import { findingAt, type LintFinding } from './finding.js';
import { RULES, type LintRule } from './rules.js';

const ISSUE_RULES: Record<SchemaIssueKind, LintRule> = {
  'unknown-field': RULES.unknownField,
  'wrong-type': RULES.wrongType,
  'missing-field': RULES.missingField,
  'invalid-value': RULES.invalidValue,
};

export function unreadableDocumentFindings(errors: readonly ManifestError[]): LintFinding[] {
  return errors.map((e) => ({
    file: e.file,
    line: e.position?.line ?? 1,
    col: e.position?.col ?? 1,
    severity: RULES.yamlSyntax.severity,
    ruleId: RULES.yamlSyntax.id,
    message: `document ${e.document}: ${e.path ? `${e.path}: ` : ''}${e.detail}`,
  }));
}

export function schemaFindings(inventory: Inventory): LintFinding[] {
  return [...inventory.invalid, ...inventory.tolerated].flatMap(({ object, issues }) =>
    issues.map((issue) =>
      findingAt(ISSUE_RULES[issue.kind], object.source, issue.path, issue.message, {
        at: issue.kind === 'unknown-field' ? 'key' : 'value',
        suggestion: issue.suggestion,
      }),
    ),
  );
}

/** The kinds the tools read, with the apiVersion each should have. */
const KNOWN_KINDS: Readonly<Record<string, string>> = {
  Namespace: 'v1',
  Pod: 'v1',
  NetworkPolicy: 'networking.k8s.io/v1',
  VpcEgressProfile: 'calico-vpc.io/v1alpha1',
  GlobalNetworkPolicy: 'projectcalico.org/v3',
  ...Object.fromEntries(
    Object.keys(WORKLOAD_TEMPLATE_PATHS).map((kind) => [
      kind,
      kind === 'Job' || kind === 'CronJob' ? 'batch/v1' : kind === 'ReplicationController' ? 'v1' : 'apps/v1',
    ]),
  ),
};

/** Kinds of other APIs that share a name with one we read: Calico's namespaced NetworkPolicy is not a mistake. */
const OTHER_APIS_OF_KNOWN_KINDS: Readonly<Record<string, readonly string[]>> = {
  NetworkPolicy: ['projectcalico.org', 'crd.projectcalico.org'],
};

export function unrecognizedObjectFindings(ignored: readonly ManifestObject[]): LintFinding[] {
  const findings: LintFinding[] = [];
  for (const object of ignored) {
    const { kind, apiVersion, source } = object;
    if (kind === undefined) {
      // Kustomizations, Helm values and the like have no kind either: only a document shaped like one of our
      // kinds is worth a word.
      const looksLike = guessKind(object.raw);
      if (looksLike !== undefined) {
        findings.push(
          findingAt(
            RULES.unrecognizedObject,
            source,
            [],
            `the document has no kind, so it is skipped; it looks like a ${looksLike}: add kind: ${looksLike} and apiVersion: ${KNOWN_KINDS[looksLike] ?? ''}`,
            { suggestion: looksLike },
          ),
        );
      }
      continue;
    }
    const expected = KNOWN_KINDS[kind];
    if (expected !== undefined) {
      const group = apiGroupOf(apiVersion);
      if (group !== undefined && OTHER_APIS_OF_KNOWN_KINDS[kind]?.includes(group)) continue;
      findings.push(
        findingAt(
          RULES.unrecognizedObject,
          source,
          ['apiVersion'],
          `${kind} with apiVersion ${apiVersion === undefined ? '(none)' : JSON.stringify(apiVersion)} is not read; use apiVersion: ${expected}`,
          { suggestion: expected },
        ),
      );
      continue;
    }
    const meant = closestName(kind, Object.keys(KNOWN_KINDS));
    if (meant !== undefined) {
      findings.push(
        findingAt(
          RULES.unrecognizedObject,
          source,
          ['kind'],
          `kind ${JSON.stringify(kind)} is not a kind these tools read; did you mean "${meant}"?`,
          { suggestion: meant },
        ),
      );
    }
  }
  return findings;
}

function guessKind(raw: Readonly<Record<string, unknown>>): string | undefined {
  const spec = isPlainObject(raw.spec) ? raw.spec : undefined;
  if (!spec) return undefined;
  if ('podSelector' in spec) return 'NetworkPolicy';
  const zones = spec.zones;
  if (Array.isArray(zones) && zones.some((z) => isPlainObject(z) && 'addressPrefixes' in z))
    return 'VpcEgressProfile';
  if ('selector' in spec && ('egress' in spec || 'ingress' in spec)) return 'GlobalNetworkPolicy';
  return undefined;
}

export function duplicateObjectFindings(objects: readonly ManifestObject[]): LintFinding[] {
  return redefinitions(objects).map(({ later, earlier }) =>
    findingAt(
      RULES.duplicateObject,
      later.source,
      ['metadata', 'name'],
      `${describeObject(later)} is also defined at ${definedAt(earlier)}; this one replaces it`,
    ),
  );
}
