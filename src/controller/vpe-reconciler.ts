/**
 * VpcEgressProfile -> one GlobalNetworkPolicy per (gateway, zone): the VPE gateway allow rules.
 *
 * Level-triggered: every reconcile reads the profile and the managed policies from the caches, computes the
 * desired set with the same pure translation the CLI's `render` uses, and writes only the difference.
 * - Deletion is an owner-label sweep (no finalizer): policies labelled with a profile that no longer exists are
 *   deleted, whether the profile went away while we watched or while we were down. ownerReferences would need
 *   a garbage collector, which not every control plane runs, and a finalizer would block deleting profiles
 *   once the operator is uninstalled.
 * - An invalid spec changes nothing in the cluster: the last good policies stay, status says why (Ready=False,
 *   Invalid=True) and a Warning Event names the field.
 * - Two profiles claiming the same (gateway, zone): the older keeps it (see resolveClaims); the newer reports
 *   Conflict. The decision depends only on the profiles, never on event order, so it cannot flap.
 */
import {
  VPC_EGRESS_PROFILE_KIND,
  API_VERSION,
  type VpcEgressProfile,
  type VpcZone,
} from '../api/v1alpha1.js';
import { PROFILE_LABEL, SOURCE_LABEL, SOURCE_VPE } from '../calico/types.js';
import type { ResourceClient } from '../kube/resource.js';
import type { EventRecorder } from '../kube/events.js';
import { isNotFound } from '../kube/errors.js';
import { VPC_EGRESS_PROFILES } from '../kube/resources.js';
import type { Informer, InformerEvent } from '../kube/informer.js';
import { formatFieldError } from '../api/errors.js';
import { claimedPolicyNames, resolveClaims } from '../vpe/claims.js';
import { translateProfile } from '../vpe/rules.js';
import { effectiveZones } from '../vpe/discovery-state.js';
import { nextProfileStatus, profileConditions, type StatusUpdate } from '../vpe/status.js';
import { sharedRegistry, type Registry } from '../observability/metrics.js';
import { writeMetrics } from './write-metrics.js';
import { jsonEqual } from '../api/conditions.js';
import type { ControllerSetup } from './context.js';
import {
  Controller,
  type ReconcileContext,
  type ReconcileFunction,
  type ReconcileResult,
} from './controller.js';
import { VpcDiscovery, type ZoneSource } from '../vpe/discovery.js';
import { NotOwnedError, type GnpStore } from './gnp-store.js';

export interface VpeReconcilerDeps {
  profiles: Informer<VpcEgressProfile>;
  profileClient: ResourceClient<VpcEgressProfile>;
  gnps: GnpStore;
  events: EventRecorder;
  registry?: Registry;
  now?: () => Date;
  /**
   * Zones to translate instead of spec.zones, when the profile discovers them from the VPC API (issue 8);
   * undefined: use spec.zones. May also report a status fragment and a requeue delay.
   */
  zonesFor?: (profile: VpcEgressProfile, ctx: ReconcileContext) => Promise<ZoneSource | undefined>;
}

/** Keys for the VPE controller from a profile event: the profile, and — when claims may have moved — every profile. */
export function profileEventKeys(profiles: Informer<VpcEgressProfile>) {
  return (event: InformerEvent<VpcEgressProfile>): string[] => {
    if (event.type === 'resync') return [event.key];
    const claimsChanged =
      event.type !== 'modified' ||
      !event.old ||
      !jsonEqual(
        claimedPolicyNames(event.old, cachedZonesOf(event.old)),
        claimedPolicyNames(event.object, cachedZonesOf(event.object)),
      );
    return claimsChanged
      ? [...new Set([event.key, ...profiles.list().map((p) => p.metadata.name)])]
      : [event.key];
  };
}

/** The zones a profile's policies are made of, as far as the cache knows; undefined: spec.zones. */
function cachedZonesOf(profile: VpcEgressProfile): VpcZone[] | undefined {
  return profile.spec?.discovery?.ibmCloud
    ? effectiveZones(profile.spec, profile.status?.discoveredZones)
    : undefined;
}

/** A managed VPE policy's event -> its owning profile (drift repair: an edited or deleted policy is restored). */
export function vpePolicyEventKeys(
  event: InformerEvent<{ metadata?: { labels?: Record<string, string> } }>,
): string[] {
  const labels = event.object.metadata?.labels ?? {};
  return labels[SOURCE_LABEL] === SOURCE_VPE && labels[PROFILE_LABEL] ? [labels[PROFILE_LABEL]] : [];
}

export function vpeReconciler(deps: VpeReconcilerDeps): ReconcileFunction {
  const now = deps.now ?? (() => new Date());
  return async (name, ctx): Promise<ReconcileResult | void> => {
    const owned = deps.gnps.storedWithLabels({ [SOURCE_LABEL]: SOURCE_VPE, [PROFILE_LABEL]: name });
    const profile = deps.profiles.get(name);
    if (!profile || profile.metadata.deletionTimestamp) {
      for (const live of owned) await deps.gnps.remove(live, ctx.signal);
      if (owned.length)
        ctx.log.info({ deleted: owned.map((o) => o.metadata?.name) }, 'profile gone; its policies deleted');
      return;
    }

    const source = deps.zonesFor ? await deps.zonesFor(profile, ctx) : undefined;
    const translation = translateProfile(profile, source ? { zones: source.zones } : {});
    const generation = profile.metadata.generation;
    const ownedNames = owned.map((o) => deps.gnps.logicalName(o)).sort();

    if (!translation.ok) {
      const message = translation.errors.map(formatFieldError).join('; ');
      ctx.log.warn({ errors: translation.errors }, 'invalid spec; keeping the last good policies');
      deps.events.event(profile, {
        type: 'Warning',
        reason: 'InvalidSpec',
        action: 'Reconcile',
        note: message,
      });
      await writeStatus(deps, profile, now(), {
        conditions: [...profileConditions({ invalid: message }, generation), ...(source?.conditions ?? [])],
        fields: { policies: ownedNames, ...source?.status },
        discovering: source !== undefined,
      });
      return source?.requeueAfterMs ? { requeueAfterMs: source.requeueAfterMs } : undefined;
    }

    const { policies, zones, warnings } = translation.value;
    const live = deps.profiles.list().filter((p) => !p.metadata.deletionTimestamp);
    // Each profile claims the zones its policies come from: this one's from the zone source, the others' as their
    // status last recorded them (spec.zones merged with discovered zones).
    const claims = resolveClaims(
      live.map((p) => ({
        profile: p.metadata.name,
        creationTimestamp: p.metadata.creationTimestamp,
        policies: claimedPolicyNames(p, p.metadata.name === name ? source?.zones : cachedZonesOf(p)),
      })),
    );
    const conflicts: string[] = claims.conflicts
      .filter((c) => c.profile === name)
      .map((c) => `${c.policy} is held by the older profile ${c.heldBy}`);

    const written: string[] = [];
    const changed: string[] = [];
    for (const policy of policies) {
      const policyName = policy.metadata.name;
      if (claims.owners.get(policyName) !== name) continue;
      try {
        const outcome = await deps.gnps.ensure(policy, ctx.signal);
        written.push(policyName);
        if (outcome !== 'unchanged') changed.push(`${outcome} ${policyName}`);
      } catch (err) {
        if (!(err instanceof NotOwnedError)) throw err;
        conflicts.push(err.message);
      }
    }
    const keep = new Set(written.map((n) => deps.gnps.wireNameOf(n)));
    for (const stale of owned) {
      if (keep.has(stale.metadata?.name ?? '')) continue;
      if (await deps.gnps.remove(stale, ctx.signal)) changed.push(`deleted ${deps.gnps.logicalName(stale)}`);
    }
    if (changed.length) {
      ctx.log.info({ changes: changed }, 'policies written');
      deps.events.event(profile, {
        type: 'Normal',
        reason: 'PoliciesUpdated',
        action: 'Reconcile',
        note: changed.join(', '),
      });
    }
    for (const warning of warnings) {
      deps.events.event(profile, {
        type: 'Warning',
        reason: warning.code ?? 'Warning',
        action: 'Validate',
        note: formatFieldError(warning),
      });
    }

    const outcome = {
      written: written.length,
      total: policies.length,
      conflicts,
      overlap: warnings.map(formatFieldError).join('; '),
    };
    await writeStatus(deps, profile, now(), {
      conditions: [...profileConditions(outcome, generation), ...(source?.conditions ?? [])],
      fields: { policies: written.sort(), zones, zoneCount: zones.length, ...source?.status },
      discovering: source !== undefined,
    });
    return source?.requeueAfterMs ? { requeueAfterMs: source.requeueAfterMs } : undefined;
  };
}

/** Merge-patches the status when it changes (nextProfileStatus decides what and whether). */
async function writeStatus(
  deps: VpeReconcilerDeps,
  profile: VpcEgressProfile,
  now: Date,
  update: StatusUpdate,
): Promise<void> {
  const next = nextProfileStatus(profile.status, profile.metadata.generation, update, now);
  if (!next) return;
  try {
    await deps.profileClient.patch(
      profile.metadata.name,
      { apiVersion: API_VERSION, kind: VPC_EGRESS_PROFILE_KIND, status: next.patch },
      { type: 'merge', subresource: 'status' },
    );
    writeMetrics(deps.registry ?? sharedRegistry()).inc({
      verb: 'patch',
      resource: 'vpcegressprofiles/status',
    });
  } catch (err) {
    // Deleted meanwhile: its next reconcile sweeps the policies.
    if (!isNotFound(err)) throw err;
  }
}

/** The VpcEgressProfile controller: profiles in, one GNP per (gateway, zone) out, discovery when asked. */
export const setupVpcEgressProfileController: ControllerSetup = (context) => {
  const { options } = context;
  const profileClient = context.client.resource<VpcEgressProfile>(VPC_EGRESS_PROFILES);
  const profiles = context.informer<VpcEgressProfile>(VPC_EGRESS_PROFILES);
  const discovery = options.zonesFor
    ? undefined
    : new VpcDiscovery({
        client: context.client,
        logger: context.logger,
        registry: context.registry,
        events: context.events,
        signal: context.signal,
        ...options.discovery,
      });
  const controller = new Controller({
    name: 'vpcegressprofile',
    concurrency: 1,
    logger: context.logger,
    registry: context.registry,
    reconcile: vpeReconciler({
      profiles,
      profileClient,
      gnps: context.gnps,
      events: context.events,
      registry: context.registry,
      zonesFor: options.zonesFor ?? discovery?.zonesFor,
    }),
  })
    .watches(profiles, profileEventKeys(profiles))
    .watches(
      context.gnpInformer,
      context.gnps.ignoringOwnWrites(vpePolicyEventKeys, (key) => controller.enqueue(key)),
    );
  discovery?.bindController(controller);
  options.onProfileController?.(controller);
  return controller;
};
