/**
 * Kubernetes NetworkPolicy -> one GlobalNetworkPolicy with exactly its semantics (src/translate/networkpolicy.ts).
 *
 * Key: `namespace/name` of the NetworkPolicy. Level-triggered: the reconcile reads the policy, its namespace and
 * the managed GNPs from the caches and converges; it never trusts an event's payload.
 * - Translation off (globally, or for a namespace labelled `calico-vpc.io/translate: "false"`), the policy
 *   deleted, or its namespace deleted or terminating: its GNP is deleted.
 * - A policy that cannot be translated: a Warning Event on it and a log line with the reason; its previous GNP
 *   stays (a typo never removes or weakens what works) and nothing else is blocked.
 * - Orphans (a managed GNP whose NetworkPolicy is gone, e.g. deleted while the operator was down) come back
 *   through the GNP informer's list and resync events, mapped to their source key, and are deleted here.
 */
import type { KubeObject, Namespace, NetworkPolicy, ObjectMeta } from '../api/kube.js';
import {
  NP_NAME_ANNOTATION,
  NP_NAMESPACE_LABEL,
  SOURCE_LABEL,
  SOURCE_NETWORKPOLICY,
} from '../calico/types.js';
import type { EventRecorder } from '../kube/events.js';
import type { Informer, InformerEvent } from '../kube/informer.js';
import { splitKey } from '../kube/informer.js';
import { NAMESPACES, NETWORK_POLICIES } from '../kube/resources.js';
import { counter, perRegistry, sharedRegistry, type Registry } from '../observability/metrics.js';
import { formatFieldError } from '../api/errors.js';
import { translateNetworkPolicy, type NetworkPolicyTranslationOptions } from '../translate/networkpolicy.js';
import type { ControllerSetup } from './context.js';
import { Controller, type ReconcileFunction } from './controller.js';
import type { GnpStore } from './gnp-store.js';

/** Label on a Namespace that turns translation off for its NetworkPolicies. */
export const TRANSLATE_NAMESPACE_LABEL = 'calico-vpc.io/translate';

/** The informer index of managed GNPs by their source NetworkPolicy key. */
export const SOURCE_KEY_INDEX = 'networkpolicy-key';

type Labelled = { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } };

/** `namespace/name` of the NetworkPolicy a managed GNP was made from, or undefined for other GNPs. */
export function sourceKeyOf(gnp: Labelled): string | undefined {
  const labels = gnp.metadata?.labels ?? {};
  const namespace = labels[NP_NAMESPACE_LABEL];
  const name = gnp.metadata?.annotations?.[NP_NAME_ANNOTATION];
  return labels[SOURCE_LABEL] === SOURCE_NETWORKPOLICY && namespace && name
    ? `${namespace}/${name}`
    : undefined;
}

const npMetrics = perRegistry((registry) => ({
  failures: counter(registry, {
    name: 'calico_vpc_translation_failures_total',
    help: 'NetworkPolicies that could not be translated (their previous GNP, if any, is kept).',
    labelNames: ['namespace'] as const,
  }),
}));

export interface NetworkPolicyReconcilerDeps {
  networkPolicies: Informer<CachedNetworkPolicy>;
  namespaces: Informer<Namespace>;
  gnps: GnpStore;
  events: EventRecorder;
  /** Global switch (--translate-network-policies). */
  enabled: boolean;
  translation?: NetworkPolicyTranslationOptions;
  registry?: Registry;
}

/** NetworkPolicy reconciles in parallel unless `--concurrency` says otherwise. */
export const DEFAULT_NETWORK_POLICY_WORKERS = 16;

/**
 * What the NetworkPolicy cache keeps: what translation reads (name, namespace, spec) and what an Event about the
 * policy names (uid, resourceVersion); labels, annotations (kubectl's last-applied copy among them), managedFields
 * and timestamps are dropped. The policies are only read, so nothing is lost on the server.
 *
 * The spec is kept as its JSON text: the cache is the controller's largest (one entry per NetworkPolicy), and a
 * parsed spec takes about 2.5 times the bytes of its text in V8 (2.4 against 1.0 KB per benchmark policy). A
 * reconcile parses it back (expandNetworkPolicy), a few microseconds once per reconcile of the policy.
 */
export interface CachedNetworkPolicy extends KubeObject {
  metadata: Pick<ObjectMeta, 'uid' | 'resourceVersion'> & { name: string; namespace?: string };
  /** JSON.stringify of the policy's spec. */
  specJson: string;
}

export function compactNetworkPolicy(np: NetworkPolicy): CachedNetworkPolicy {
  const { name, namespace, uid, resourceVersion } = np.metadata;
  // One literal with every key, present or not: built with spreads of optional parts, the entries of a running
  // controller each got a hidden class of their own (about 230 bytes per entry in a heap snapshot).
  return {
    apiVersion: np.apiVersion,
    kind: np.kind,
    metadata: { name, namespace, uid, resourceVersion },
    specJson: flatJson(np.spec),
  };
}

/**
 * JSON.stringify of an object, as a flat string. V8's JSON.stringify returns a rope: its builder's growing parts
 * joined by cons strings, about 200 bytes of headers per benchmark policy on top of the text, kept for as long as
 * the cache entry. Reading a character of a rope flattens it in place, and the next scavenge drops the rope's
 * nodes: about 2.5 MB less heap at 10,000 policies.
 */
function flatJson(value: object): string {
  const text = JSON.stringify(value);
  // (A spec the server left out stays undefined, as before: its reconcile reports the parse error.)
  void text?.charCodeAt(0);
  return text;
}

/** The NetworkPolicy a cache entry was made from, without what compactNetworkPolicy drops; a fresh copy. */
export function expandNetworkPolicy(cached: CachedNetworkPolicy): NetworkPolicy {
  return {
    ...(cached.apiVersion && { apiVersion: cached.apiVersion as NetworkPolicy['apiVersion'] }),
    ...(cached.kind && { kind: cached.kind as NetworkPolicy['kind'] }),
    metadata: { ...cached.metadata },
    spec: JSON.parse(cached.specJson) as NetworkPolicy['spec'],
  };
}

/** What the Namespace cache keeps: what namespaceTranslationEnabled and the keys read. */
export function compactNamespace(namespace: Namespace): Namespace {
  const { name, uid, resourceVersion, labels, deletionTimestamp } = namespace.metadata;
  return {
    ...(namespace.apiVersion && { apiVersion: namespace.apiVersion }),
    ...(namespace.kind && { kind: namespace.kind }),
    metadata: {
      name,
      uid,
      resourceVersion,
      ...(labels && { labels }),
      ...(deletionTimestamp && { deletionTimestamp }),
    },
  };
}

export function namespaceTranslationEnabled(namespace: Namespace | undefined): boolean {
  return (
    namespace !== undefined &&
    !namespace.metadata.deletionTimestamp &&
    namespace.metadata.labels?.[TRANSLATE_NAMESPACE_LABEL] !== 'false'
  );
}

/** A Namespace event -> every NetworkPolicy in it, and every GNP still labelled with it (orphans included). */
export function namespaceEventKeys(deps: Pick<NetworkPolicyReconcilerDeps, 'networkPolicies' | 'gnps'>) {
  return (event: InformerEvent<Namespace>): string[] => {
    if (event.type === 'resync') return [];
    const ns = event.key;
    const keys = new Set(
      deps.networkPolicies.byIndex('namespace', ns).map((np) => `${ns}/${np.metadata.name}`),
    );
    for (const gnp of deps.gnps.informer.byIndex(NP_NAMESPACE_LABEL, ns)) {
      const key = sourceKeyOf(gnp);
      if (key) keys.add(key);
    }
    return [...keys];
  };
}

/** A managed GNP event -> its source NetworkPolicy (drift repair and orphan pruning). */
export function networkPolicyGnpEventKeys(event: InformerEvent<Labelled>): string[] {
  const key = sourceKeyOf(event.object);
  return key ? [key] : [];
}

export function networkPolicyReconciler(deps: NetworkPolicyReconcilerDeps): ReconcileFunction {
  const metrics = npMetrics(deps.registry ?? sharedRegistry());
  return async (key, ctx) => {
    const { namespace, name } = splitKey(key);
    const existing = deps.gnps.informer.byIndex(SOURCE_KEY_INDEX, key);
    const cached = deps.networkPolicies.get(key);
    const enabled =
      deps.enabled &&
      cached !== undefined &&
      namespaceTranslationEnabled(deps.namespaces.get(namespace ?? ''));
    if (!enabled) {
      for (const live of existing) await deps.gnps.remove(live, ctx.signal);
      if (existing.length)
        ctx.log.info({ gnps: existing.map((g) => g.metadata?.name) }, 'translation not wanted; GNP deleted');
      return;
    }

    const np = expandNetworkPolicy(cached);
    const translation = translateNetworkPolicy(np, deps.translation);
    if (!translation.ok) {
      metrics.failures.inc({ namespace: namespace ?? '' });
      const reason = translation.errors.map(formatFieldError).join('; ');
      ctx.log.warn(
        { errors: translation.errors, kept: existing.map((g) => g.metadata?.name) },
        'cannot translate; previous GNP kept',
      );
      deps.events.event(np, {
        type: 'Warning',
        reason: 'TranslationFailed',
        action: 'Translate',
        note: `${name} cannot be translated to a Calico GlobalNetworkPolicy${existing.length ? ' (its previous translation is kept)' : ''}: ${reason}`,
      });
      return;
    }
    const desired = translation.policy;
    const outcome = await deps.gnps.ensure(desired, ctx.signal);
    if (outcome !== 'unchanged') ctx.log.info({ gnp: desired.metadata.name, outcome }, 'GNP written');
    const wireName = deps.gnps.wireNameOf(desired.metadata.name, desired.spec.tier);
    for (const stale of existing) {
      if (stale.metadata?.name !== wireName) await deps.gnps.remove(stale, ctx.signal);
    }
  };
}

/** The NetworkPolicy controller: NetworkPolicies and Namespaces in, one GNP per translatable policy out. */
export const setupNetworkPolicyController: ControllerSetup = (context) => {
  const { options } = context;
  // NetworkPolicies and Namespaces are only read: their caches keep only what this controller reads.
  const networkPolicies = context.informer<CachedNetworkPolicy, NetworkPolicy>(NETWORK_POLICIES, {
    transform: compactNetworkPolicy,
  });
  const namespaces = context.informer<Namespace>(NAMESPACES, {
    resyncPeriodMs: 0,
    transform: compactNamespace,
  });
  context.gnpInformer.addIndexers({
    [SOURCE_KEY_INDEX]: (gnp) => {
      const key = sourceKeyOf(gnp);
      return key ? [key] : [];
    },
    [NP_NAMESPACE_LABEL]: (gnp) => {
      const ns = gnp.metadata?.labels?.[NP_NAMESPACE_LABEL];
      return ns ? [ns] : [];
    },
  });
  const deps: NetworkPolicyReconcilerDeps = {
    networkPolicies,
    namespaces,
    gnps: context.gnps,
    events: context.events,
    enabled: options.translateNetworkPolicies ?? true,
    translation: options.translation,
    registry: context.registry,
  };
  const controller = new Controller({
    name: 'networkpolicy',
    concurrency: options.concurrency ?? DEFAULT_NETWORK_POLICY_WORKERS,
    logger: context.logger,
    registry: context.registry,
    reconcile: networkPolicyReconciler(deps),
  });
  return controller
    .watches(networkPolicies)
    .watches(namespaces, namespaceEventKeys(deps))
    .watches(
      context.gnpInformer,
      context.gnps.ignoringOwnWrites(networkPolicyGnpEventKeys, (key) => controller.enqueue(key)),
    );
};
