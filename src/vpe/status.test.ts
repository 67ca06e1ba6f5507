import type { Condition } from '../api/kube.js';
import type { VpcEgressProfileStatus } from '../api/v1alpha1.js';
import { nextProfileStatus, profileConditions, type ProfileOutcome } from './status.js';

const brief = (outcome: ProfileOutcome) =>
  profileConditions(outcome, 7).map(
    (c) => `${c.type}=${c.status} ${c.reason}: ${c.message} (gen ${c.observedGeneration})`,
  );

describe('profileConditions', () => {
  it.each<[string, ProfileOutcome, string[]]>([
    [
      'every policy in place',
      { written: 2, total: 2, conflicts: [], overlap: '' },
      [
        'Ready=True PoliciesInPlace: 2 GlobalNetworkPolicies in place (gen 7)',
        'Invalid=False SpecValid: the spec is valid (gen 7)',
        'Conflict=False NoConflict: no other owner claims these policies (gen 7)',
        'PrefixOverlap=False NoOverlap: no prefix is in two zones (gen 7)',
      ],
    ],
    [
      'a policy held by an older profile',
      { written: 1, total: 2, conflicts: ['p-a is held by the older profile old'], overlap: '' },
      [
        'Ready=False Conflict: 1 of 2 policies in place; p-a is held by the older profile old (gen 7)',
        'Invalid=False SpecValid: the spec is valid (gen 7)',
        'Conflict=True PolicyClaimedElsewhere: p-a is held by the older profile old (gen 7)',
        'PrefixOverlap=False NoOverlap: no prefix is in two zones (gen 7)',
      ],
    ],
    [
      'a prefix in two zones (still ready)',
      { written: 2, total: 2, conflicts: [], overlap: 'spec.zones[1]: 10.0.0.0/16 is also in zone a' },
      [
        'Ready=True PoliciesInPlace: 2 GlobalNetworkPolicies in place (gen 7)',
        'Invalid=False SpecValid: the spec is valid (gen 7)',
        'Conflict=False NoConflict: no other owner claims these policies (gen 7)',
        'PrefixOverlap=True PrefixInMultipleZones: spec.zones[1]: 10.0.0.0/16 is also in zone a (gen 7)',
      ],
    ],
    [
      'an invalid spec: only Ready and Invalid, the old policies kept',
      { invalid: 'spec.order: must be a number' },
      [
        'Ready=False InvalidSpec: spec rejected; the last good policies are kept: spec.order: must be a number (gen 7)',
        'Invalid=True InvalidSpec: spec.order: must be a number (gen 7)',
      ],
    ],
  ])('%s', (_name, outcome, expected) => {
    expect(brief(outcome)).toEqual(expected);
  });
});

describe('nextProfileStatus', () => {
  const now = new Date('2026-01-02T03:04:05Z');
  const ready = profileConditions({ written: 1, total: 1, conflicts: [], overlap: '' }, 3);
  const discovered: Condition = {
    type: 'Discovered',
    status: 'True',
    reason: 'Discovered',
    message: 'ok',
    lastTransitionTime: '2026-01-01T00:00:00Z',
  };

  it('sets the fields, the generation and the conditions with their transition time', () => {
    const next = nextProfileStatus(
      undefined,
      3,
      { conditions: ready, fields: { policies: ['p'] }, discovering: false },
      now,
    );
    expect(next?.status.observedGeneration).toBe(3);
    expect(next?.status.policies).toEqual(['p']);
    expect(next?.status.conditions?.map((c) => [c.type, c.lastTransitionTime])).toEqual([
      ['Ready', '2026-01-02T03:04:05.000Z'],
      ['Invalid', '2026-01-02T03:04:05.000Z'],
      ['Conflict', '2026-01-02T03:04:05.000Z'],
      ['PrefixOverlap', '2026-01-02T03:04:05.000Z'],
    ]);
    expect(next?.patch).toEqual(next?.status);
  });

  it('returns undefined when nothing changes, so a resync writes nothing', () => {
    const first = nextProfileStatus(
      undefined,
      3,
      { conditions: ready, fields: { policies: ['p'] }, discovering: false },
      now,
    );
    const later = new Date(now.getTime() + 60_000);
    expect(
      nextProfileStatus(
        first?.status,
        3,
        { conditions: ready, fields: { policies: ['p'] }, discovering: false },
        later,
      ),
    ).toBeUndefined();
  });

  it('a profile that stops discovering loses what discovery wrote, sent as null in the patch', () => {
    const previous: VpcEgressProfileStatus = {
      discoveredZones: [{ name: 'z', addressPrefixes: ['10.0.0.0/16'] }],
      lastDiscoveryTime: '2026-01-01T00:00:00Z',
      conditions: [discovered],
    };
    const next = nextProfileStatus(previous, 3, { conditions: ready, fields: {}, discovering: false }, now);
    expect(next?.status.discoveredZones).toBeUndefined();
    expect(next?.status.conditions?.some((c) => c.type === 'Discovered')).toBe(false);
    expect(next?.patch).toMatchObject({ discoveredZones: null, lastDiscoveryTime: null });
  });

  it('a discovering profile keeps them', () => {
    const previous: VpcEgressProfileStatus = {
      discoveredZones: [{ name: 'z', addressPrefixes: ['10.0.0.0/16'] }],
      conditions: [discovered],
    };
    const next = nextProfileStatus(previous, 3, { conditions: ready, fields: {}, discovering: true }, now);
    expect(next?.status.discoveredZones).toEqual(previous.discoveredZones);
    expect(next?.status.conditions?.some((c) => c.type === 'Discovered')).toBe(true);
    expect(next?.patch).not.toHaveProperty('lastDiscoveryTime');
  });
});
