/**
 * `calico-vpc lint`: every rule over one set of manifests, findings sorted by file and position.
 */
import type { VpcEgressProfile } from '../api/v1alpha1.js';
import {
  classify,
  type Inventory,
  type ManifestError,
  type ManifestObject,
  type SchemaIssue,
} from '../manifests/index.js';
import { conflictsBetweenProfiles } from '../vpe/claims.js';
import { calicoReservedLabelFindings } from './calico-labels.js';
import { compareFindings, findingAt, type LintFinding } from './finding.js';
import { RULES } from './rules.js';
import { selectorFindings } from './selectors.js';
import {
  duplicateObjectFindings,
  schemaFindings,
  unreadableDocumentFindings,
  unrecognizedObjectFindings,
} from './structure.js';
import { networkPolicyTranslationFindings, profileTranslation } from './translation.js';
import {
  calicoNetworkPolicyFindings,
  compileGlobalNetworkPolicies,
  vpeRuleFindings,
} from './worker-egress.js';

/** What lint reads: the output of src/manifests' loadManifests / manifestsFromSources. */
export interface LintInput {
  readonly objects: readonly ManifestObject[];
  readonly inventory: Inventory;
  readonly parseErrors: readonly ManifestError[];
}

export function lintManifests(input: LintInput): LintFinding[] {
  const { objects, inventory, parseErrors } = input;
  const issues = new Map<ManifestObject, readonly SchemaIssue[]>(
    inventory.invalid.map(({ object, issues: list }) => [object, list]),
  );
  const issuesOf = (object: ManifestObject) => issues.get(object) ?? [];
  const ofKind = (kind: ReturnType<typeof classify>) => objects.filter((o) => classify(o) === kind);

  const findings: LintFinding[] = [
    ...unreadableDocumentFindings(parseErrors),
    ...schemaFindings(inventory),
    ...unrecognizedObjectFindings(inventory.ignored),
    ...duplicateObjectFindings(objects),
  ];

  const networkPolicies = ofKind('NetworkPolicy');
  for (const object of networkPolicies)
    findings.push(...networkPolicyTranslationFindings(object, issuesOf(object)));
  findings.push(...selectorFindings(networkPolicies, inventory));
  findings.push(...calicoReservedLabelFindings(inventory));

  const profileObjects = ofKind('VpcEgressProfile');
  const profiles = profileObjects.map((object) => profileTranslation(object, issuesOf(object)));
  for (const profile of profiles) findings.push(...profile.findings);
  findings.push(...profileConflictFindings(inventory));

  const gnps = compileGlobalNetworkPolicies(inventory.globalNetworkPolicies);
  findings.push(...gnps.findings);
  findings.push(...calicoNetworkPolicyFindings(inventory.calicoNetworkPolicies));
  findings.push(...vpeRuleFindings(gnps.compiled, profiles, profileObjects.length > 0, inventory.tiers));

  return unique(findings).sort(compareFindings);
}

/** Two profiles of the input that would write the same policy: the operator gives it to the older one only. */
function profileConflictFindings(inventory: Inventory): LintFinding[] {
  const byName = new Map(inventory.vpcEgressProfiles.map((p) => [p.object.metadata.name, p]));
  const { conflicts } = conflictsBetweenProfiles(
    inventory.vpcEgressProfiles.map((p) => p.object as VpcEgressProfile),
  );
  return conflicts.flatMap((conflict) => {
    const loaded = byName.get(conflict.profile);
    if (!loaded) return [];
    return [
      findingAt(
        RULES.profileConflict,
        loaded.source,
        ['metadata', 'name'],
        `VpcEgressProfile "${conflict.profile}" and "${conflict.heldBy}" both write GlobalNetworkPolicy "${conflict.policy}"; ` +
          `the operator gives it to "${conflict.heldBy}" (the older, or the first by name) and reports a Conflict on "${conflict.profile}"`,
      ),
    ];
  });
}

function unique(findings: readonly LintFinding[]): LintFinding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const key = JSON.stringify([f.file, f.line, f.col, f.ruleId, f.message]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
