/**
 * A VpcEgressProfile's status as pure functions of what the reconcile found: the conditions (Ready, Invalid,
 * Conflict, PrefixOverlap) and the next status with the merge patch that writes it. The reconciler
 * (src/controller/vpe-reconciler.ts) only gathers the outcome and sends the patch.
 */
import type { Condition } from '../api/kube.js';
import type { VpcEgressProfileStatus } from '../api/v1alpha1.js';
import { jsonEqual, setConditions, type ConditionInput } from '../api/conditions.js';
import { DISCOVERY_CONDITIONS, DISCOVERY_STATUS_FIELDS } from './discovery-state.js';

/** What one reconcile of a profile came to. */
export type ProfileOutcome =
  | {
      /** The spec was rejected (the formatted field errors); the last good policies stay. */
      invalid: string;
    }
  | {
      invalid?: undefined;
      /** Policies this profile holds and wrote, of `total` it asks for. */
      written: number;
      total: number;
      /** Why some policies are not this profile's: held by an older profile, or not ours at all. */
      conflicts: readonly string[];
      /** Prefixes in two zones (the formatted warnings), or ''. */
      overlap: string;
    };

/** The profile's own conditions for an outcome (discovery adds its own, see discovery-state.ts). */
export function profileConditions(outcome: ProfileOutcome, generation: number | undefined): ConditionInput[] {
  const observedGeneration = generation;
  if (outcome.invalid !== undefined) {
    const message = outcome.invalid;
    return [
      {
        type: 'Ready',
        status: 'False',
        reason: 'InvalidSpec',
        message: `spec rejected; the last good policies are kept: ${message}`,
        observedGeneration,
      },
      { type: 'Invalid', status: 'True', reason: 'InvalidSpec', message, observedGeneration },
    ];
  }
  const { written, total, conflicts, overlap } = outcome;
  return [
    conflicts.length
      ? {
          type: 'Ready',
          status: 'False',
          reason: 'Conflict',
          message: `${written} of ${total} policies in place; ${conflicts.join('; ')}`,
          observedGeneration,
        }
      : {
          type: 'Ready',
          status: 'True',
          reason: 'PoliciesInPlace',
          message: `${written} GlobalNetworkPolicies in place`,
          observedGeneration,
        },
    {
      type: 'Invalid',
      status: 'False',
      reason: 'SpecValid',
      message: 'the spec is valid',
      observedGeneration,
    },
    conflicts.length
      ? {
          type: 'Conflict',
          status: 'True',
          reason: 'PolicyClaimedElsewhere',
          message: conflicts.join('; '),
          observedGeneration,
        }
      : {
          type: 'Conflict',
          status: 'False',
          reason: 'NoConflict',
          message: 'no other owner claims these policies',
          observedGeneration,
        },
    overlap
      ? {
          type: 'PrefixOverlap',
          status: 'True',
          reason: 'PrefixInMultipleZones',
          message: overlap,
          observedGeneration,
        }
      : {
          type: 'PrefixOverlap',
          status: 'False',
          reason: 'NoOverlap',
          message: 'no prefix is in two zones',
          observedGeneration,
        },
  ];
}

export interface StatusUpdate {
  conditions: ConditionInput[];
  fields: Partial<VpcEgressProfileStatus>;
  /** False (spec.zones only): what discovery left in the status (its fields and conditions) is removed. */
  discovering: boolean;
}

/**
 * The status after `update`, and the merge patch of `status` that writes it (a merge patch removes a field only
 * when it is sent as null); undefined when nothing changes, so a resync writes nothing.
 */
export function nextProfileStatus(
  previous: VpcEgressProfileStatus | undefined,
  generation: number | undefined,
  update: StatusUpdate,
  now: Date,
): { status: VpcEgressProfileStatus; patch: Record<string, unknown> } | undefined {
  const before = previous ?? {};
  const status: VpcEgressProfileStatus = {
    ...before,
    ...update.fields,
    observedGeneration: generation,
    conditions: setConditions(before.conditions, update.conditions, now.toISOString()) as Condition[],
  };
  const removed: Record<string, null> = {};
  if (!update.discovering) {
    for (const field of DISCOVERY_STATUS_FIELDS) {
      if (status[field] === undefined) continue;
      delete status[field];
      removed[field] = null;
    }
    status.conditions = status.conditions?.filter((c) => !DISCOVERY_CONDITIONS.includes(c.type));
  }
  if (jsonEqual(status, before)) return undefined;
  return { status, patch: { ...status, ...removed } };
}
