/** Claims between profiles: which profile owns each GNP name when several would write it (./claims.ts). */
import fc from 'fast-check';
import type { VpcEgressProfile, VpcEgressProfileSpec } from '../api/v1alpha1.js';
import { claimedPolicyNames, conflictsBetweenProfiles, resolveClaims } from './claims.js';
import { vpePolicyName } from './rules.js';

/** A profile whose spec the API server may not have validated (claims are made before validation). */
const profile = (spec: Record<string, unknown>): VpcEgressProfile => ({
  metadata: { name: 'prod' },
  spec: spec as VpcEgressProfileSpec,
});

const US_SOUTH_1 = { name: 'us-south-1', addressPrefixes: ['10.240.0.0/18'] };

describe('conflicts between profiles', () => {
  const withZones = (
    name: string,
    creationTimestamp: string | undefined,
    ...zoneNames: string[]
  ): VpcEgressProfile => ({
    metadata: { name, ...(creationTimestamp ? { creationTimestamp } : {}) },
    spec: { zones: zoneNames.map((z, i) => ({ name: z, addressPrefixes: [`10.${i}.0.0/16`] })) },
  });

  it('lets the older profile keep a (gateway, zone) and reports a conflict on the newer one', () => {
    const older = withZones('zeta', '2024-01-01T00:00:00Z', 'us-south-1', 'us-south-2');
    const newer = withZones('alpha', '2024-06-01T00:00:00Z', 'us-south-2', 'us-south-3');
    const { owners, conflicts } = conflictsBetweenProfiles([newer, older]);
    expect(conflicts).toEqual([
      { profile: 'alpha', policy: 'allow-vpe-gateway-registry-us-south-2', heldBy: 'zeta' },
    ]);
    expect(Object.fromEntries(owners)).toEqual({
      'allow-vpe-gateway-registry-us-south-1': 'zeta',
      'allow-vpe-gateway-registry-us-south-2': 'zeta',
      'allow-vpe-gateway-registry-us-south-3': 'alpha',
    });
  });

  it('breaks a creation-time tie by name, and treats a profile not yet created as the newest', () => {
    const t = '2024-01-01T00:00:00Z';
    expect(conflictsBetweenProfiles([withZones('b', t, 'z'), withZones('a', t, 'z')]).conflicts).toEqual([
      { profile: 'b', policy: vpePolicyName('registry', 'z'), heldBy: 'a' },
    ]);
    expect(
      conflictsBetweenProfiles([withZones('a', undefined, 'z'), withZones('b', t, 'z')]).conflicts,
    ).toEqual([{ profile: 'a', policy: vpePolicyName('registry', 'z'), heldBy: 'b' }]);
  });

  it('compares times, not strings', () => {
    // Same instant written two ways; the later-written one in a different offset is still older.
    const older = withZones('b', '2024-01-01T10:00:00+02:00', 'z'); // 08:00Z
    const newer = withZones('a', '2024-01-01T09:00:00Z', 'z');
    expect(conflictsBetweenProfiles([newer, older]).conflicts).toEqual([
      { profile: 'a', policy: vpePolicyName('registry', 'z'), heldBy: 'b' },
    ]);
  });

  it('does not depend on the order the profiles are given in', () => {
    const claim = fc.record({
      profile: fc.constantFrom('p1', 'p2', 'p3', 'p4'),
      creationTimestamp: fc.option(fc.constantFrom('2024-01-01T00:00:00Z', '2024-02-01T00:00:00Z'), {
        nil: undefined,
      }),
      policies: fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 4 }),
    });
    fc.assert(
      fc.property(
        fc
          .uniqueArray(claim, { maxLength: 4, selector: (c) => c.profile })
          .chain((cs) => fc.tuple(fc.constant(cs), fc.shuffledSubarray(cs, { minLength: cs.length }))),
        ([claims, shuffled]) => {
          const a = resolveClaims(claims);
          const b = resolveClaims(shuffled);
          expect(b.conflicts).toEqual(a.conflicts);
          expect([...b.owners].sort()).toEqual([...a.owners].sort());
          // Every claimed policy has exactly one owner, and every other claimant has a conflict for it.
          for (const c of claims) {
            for (const p of c.policies) {
              const owner = a.owners.get(p);
              const conflicted = a.conflicts.some(
                (x) => x.profile === c.profile && x.policy === p && x.heldBy === owner,
              );
              expect(owner === c.profile || conflicted).toBe(true);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('claims the names of every usable (gateway, zone) pair, even when the rest of the spec is invalid', () => {
    expect(
      claimedPolicyNames(
        profile({
          zones: [
            { name: 'us-south-2', addressPrefixes: ['not a cidr'] },
            { name: 'Bad Name', addressPrefixes: [] },
          ],
          gateways: [
            { name: 'registry', ports: [] },
            { name: 'cos', ports: [443] },
          ],
        }),
      ),
    ).toEqual(['allow-vpe-gateway-cos-us-south-2', 'allow-vpe-gateway-registry-us-south-2']);
    expect(claimedPolicyNames(profile({}), [US_SOUTH_1])).toEqual(['allow-vpe-gateway-registry-us-south-1']);
  });
});
