/**
 * Two profiles claiming the same (gateway, zone) policy: the older keeps it, the newer reports Conflict. The
 * decision depends only on the profiles, never on event order, so it cannot flap; the controller, `render` and
 * `lint` all ask this module.
 */
import type { VpcEgressProfile, VpcZone, VpeGateway } from '../api/v1alpha1.js';
import { DEFAULT_GATEWAYS } from '../api/v1alpha1.js';
import { DNS_LABEL, MAX_LABEL_LENGTH, isRecord, vpePolicyName } from './rules.js';

export interface ProfileClaim {
  profile: string;
  creationTimestamp?: string;
  /** The GNP names the profile writes (or, while its spec is invalid, keeps). */
  policies: readonly string[];
}

export interface PolicyConflict {
  /** The profile that does not get the policy. */
  profile: string;
  policy: string;
  /** The older profile that keeps it. */
  heldBy: string;
}

export interface ClaimResolution {
  /** Policy name -> the profile that owns it. */
  owners: Map<string, string>;
  /** Sorted by profile, then policy. */
  conflicts: PolicyConflict[];
}

/**
 * The GNP names a profile's spec asks for, without validating the rest of it: every (gateway, zone) pair whose
 * names are usable. `zones` overrides spec.zones as in translateProfile.
 */
export function claimedPolicyNames(profile: VpcEgressProfile, zones?: readonly VpcZone[]): string[] {
  const usable = (name: unknown): name is string =>
    typeof name === 'string' && name.length <= MAX_LABEL_LENGTH && DNS_LABEL.test(name);
  const spec: Partial<Record<string, unknown>> = isRecord(profile.spec) ? profile.spec : {};
  const gatewayList: unknown = spec.gateways ?? DEFAULT_GATEWAYS;
  const zoneList: unknown = zones ?? spec.zones ?? [];
  const gatewayNames = Array.isArray(gatewayList)
    ? gatewayList.map((g: Partial<VpeGateway> | undefined) => g?.name).filter(usable)
    : [];
  const zoneNames = Array.isArray(zoneList)
    ? zoneList.map((z: Partial<VpcZone> | undefined) => z?.name).filter(usable)
    : [];
  const names = new Set(gatewayNames.flatMap((g) => zoneNames.map((z) => vpePolicyName(g, z))));
  return [...names].sort();
}

function creationTime(claim: ProfileClaim): number {
  const time = claim.creationTimestamp === undefined ? NaN : Date.parse(claim.creationTimestamp);
  // Not yet created (e.g. a file given to the CLI): younger than anything that exists.
  return Number.isNaN(time) ? Number.POSITIVE_INFINITY : time;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Who owns each claimed policy: the oldest claimant (creationTimestamp, then name), so that the answer never
 * depends on the order events arrive in and a newer profile can never take a policy from an older one.
 */
export function resolveClaims(claims: readonly ProfileClaim[]): ClaimResolution {
  const ordered = [...claims].sort(
    (a, b) => creationTime(a) - creationTime(b) || compareStrings(a.profile, b.profile),
  );
  const owners = new Map<string, string>();
  const conflicts: PolicyConflict[] = [];
  for (const claim of ordered) {
    for (const policy of new Set(claim.policies)) {
      const owner = owners.get(policy);
      if (owner === undefined) owners.set(policy, claim.profile);
      else if (owner !== claim.profile) conflicts.push({ profile: claim.profile, policy, heldBy: owner });
    }
  }
  conflicts.sort((a, b) => compareStrings(a.profile, b.profile) || compareStrings(a.policy, b.policy));
  return { owners, conflicts };
}

/** resolveClaims over what each profile's spec claims (see claimedPolicyNames). */
export function conflictsBetweenProfiles(profiles: readonly VpcEgressProfile[]): ClaimResolution {
  return resolveClaims(
    profiles.map((profile) => ({
      profile: profile.metadata.name,
      creationTimestamp: profile.metadata.creationTimestamp,
      policies: claimedPolicyNames(profile),
    })),
  );
}
