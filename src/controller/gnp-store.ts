/**
 * The only code that writes GlobalNetworkPolicies. It works on logical (projectcalico.org/v3-shaped) policies;
 * src/calico/flavour.ts turns them into what the cluster's Calico API stores.
 *
 * Compare-and-update rather than server-side apply: the reconcilers compare the desired policy with the cached
 * live one anyway, so an unchanged policy costs no request at all (a no-op resync makes zero writes), and a write
 * carries the cached resourceVersion, so a concurrent edit fails with 409 and the key is retried against fresh
 * state instead of overwriting it.
 *
 * It never touches an object without our managed-by label: a name collision with someone else's policy is
 * reported (NotOwnedError), never overwritten.
 */
import type { KubeObject } from '../api/kube.js';
import { fromWire, storedPolicyName, toWire, type CalicoApi, type WireOptions } from '../calico/flavour.js';
import {
  cachedGnp,
  cachedGnpOfMetadata,
  isCachedGnp,
  isManaged,
  needsUpdate,
  specDigest,
  type CachedGnp,
} from '../calico/compare.js';
import { DEFAULT_TIER, type GlobalNetworkPolicy } from '../calico/types.js';
import type { ResourceClient } from '../kube/resource.js';
import { isAlreadyExists, isNotFound } from '../kube/errors.js';
import type { Informer, InformerEvent } from '../kube/informer.js';
import { sharedRegistry, type Registry } from '../observability/metrics.js';
import { writeMetrics } from './write-metrics.js';

export class NotOwnedError extends Error {
  constructor(readonly policyName: string) {
    super(
      `a GlobalNetworkPolicy named ${JSON.stringify(policyName)} already exists and is not managed by calico-vpc-operator; ` +
        'it was left untouched: rename or delete it, or change the source',
    );
  }
}

/** What the store knows of its last write of one stored name: the version written and the spec it holds. */
interface OwnWrite {
  resourceVersion: string;
  specDigest: string;
  tier: string | undefined;
}

/**
 * Stored name -> this store's last create or update of it. Shared by the store (which records its writes) and the
 * GNP informer's transform (which reads them): the watch event carrying exactly that resourceVersion is the echo
 * of our own write, whose spec we know without reading it.
 */
export class OwnWrites {
  private readonly writes = new Map<string, OwnWrite>();

  get(name: string): OwnWrite | undefined {
    return this.writes.get(name);
  }

  record(name: string, write: OwnWrite): void {
    this.writes.set(name, write);
  }

  forget(name: string): void {
    this.writes.delete(name);
  }

  /** True when `object` is the version of our last write of it. */
  isOwnVersion(object: KubeObject): boolean {
    const { name, resourceVersion } = object.metadata ?? {};
    return (
      name !== undefined &&
      resourceVersion !== undefined &&
      this.writes.get(name)?.resourceVersion === resourceVersion
    );
  }
}

/** The kind of what a metadata-only list or watch sends. */
const PARTIAL_OBJECT_METADATA_KIND = 'PartialObjectMetadata';

/**
 * The GNP informer's transform: each stored GNP of `api` cached as metadata and a digest of its spec (cachedGnp).
 * The informer lists GNPs in full (digests of what is stored) and watches them as metadata only (the spec is most
 * of a GNP's bytes, and the watch mostly brings back our own writes): a watched version's spec is known when it
 * is our own write (`ownWrites`), or when its metadata.generation equals the cached entry's (custom resources
 * count every change outside metadata, so the spec is the one already digested). Otherwise someone else changed
 * the spec: the entry's digest is null and GnpStore.ensure reads the object in full before comparing.
 */
export function gnpCacheTransform(
  api: CalicoApi,
  ownWrites: OwnWrites,
): (object: KubeObject, cached: KubeObject | undefined) => KubeObject {
  return (object, cached) => {
    if (object.kind !== PARTIAL_OBJECT_METADATA_KIND) return cachedGnp(object, api);
    const own = ownWrites.isOwnVersion(object) ? ownWrites.get(object.metadata!.name!) : undefined;
    if (own) return cachedGnpOfMetadata(object, api, own);
    const generation = object.metadata?.generation;
    const sameSpec =
      cached !== undefined &&
      isCachedGnp(cached) &&
      cached.specDigest !== null &&
      generation !== undefined &&
      cached.metadata.generation === generation;
    return cachedGnpOfMetadata(
      object,
      api,
      sameSpec ? { specDigest: cached.specDigest!, tier: cached.spec.tier } : undefined,
    );
  };
}

export type WriteOutcome = 'created' | 'updated' | 'unchanged';

/** A watch event held while its GNP is being written: its version, and how to queue its keys. */
interface HeldEvent {
  resourceVersion: string | undefined;
  release: () => void;
}

export class GnpStore {
  private readonly writes: ReturnType<typeof writeMetrics>;
  /** Stored name -> the watch events held while the store writes it (ignoringOwnWrites). */
  private readonly writesInFlight = new Map<string, HeldEvent[]>();

  constructor(
    readonly api: CalicoApi,
    private readonly resource: ResourceClient<KubeObject>,
    /**
     * An informer over the managed GNPs of `api` (label selector MANAGED_BY_LABEL=MANAGED_BY_VALUE), caching them
     * as gnpCacheTransform(api, ownWrites) makes them: metadata and a digest of the spec.
     */
    readonly informer: Informer<KubeObject>,
    registry: Registry = sharedRegistry(),
    private readonly wireOptions: WireOptions = {},
    /**
     * This store's last write of each stored name (shared with the informer's transform). The watch event carrying
     * exactly that version is the echo of our own write: it holds the state the reconcile just decided on, so
     * mapping it back to its source key would only re-run that reconcile to find nothing to do (it doubled the
     * reconciles of a cold start; bench/). An entry is dropped once that echo, any other version of the object or
     * its deletion has been seen.
     */
    private readonly ownWrites: OwnWrites = new OwnWrites(),
  ) {
    this.writes = writeMetrics(registry);
    informer.onChange((event) => {
      const name = event.object.metadata?.name;
      if (name === undefined || this.ownWrites.get(name) === undefined) return;
      if (event.type === 'deleted' || !this.isOwnWrite(event)) {
        this.ownWrites.forget(name);
        return;
      }
      // The echo is cached now, with the digest of our write, so the record has served (one per GNP we ever wrote
      // would stay otherwise): it goes once this event has reached the handlers after this one, which map it to
      // no key (ignoringOwnWrites).
      const version = event.object.metadata?.resourceVersion;
      queueMicrotask(() => {
        if (this.ownWrites.get(name)?.resourceVersion === version) this.ownWrites.forget(name);
      });
    });
  }

  /**
   * An event mapper for the GNP informer that maps the echo of this store's own write to no key, and every other
   * event (someone else's change, a deletion, a resync) as `map` does. A version of a GNP that arrives while the
   * store is writing it cannot be told apart yet (the echo often beats the write's answer: a tenth of the
   * reconciles of a cold start re-ran for it): it is held until the write ends, then dropped when it is the
   * version written, else its keys go to `enqueue`.
   */
  ignoringOwnWrites<T extends KubeObject>(
    map: (event: InformerEvent<T>) => string[],
    enqueue: (key: string) => void,
  ): (event: InformerEvent<T>) => string[] {
    return (event) => {
      if (this.isOwnWrite(event)) return [];
      const held =
        event.type === 'added' || event.type === 'modified'
          ? this.writesInFlight.get(event.object.metadata?.name ?? '')
          : undefined;
      if (held === undefined) return map(event);
      held.push({
        resourceVersion: event.object.metadata?.resourceVersion,
        release: () => map(event).forEach(enqueue),
      });
      return [];
    };
  }

  /**
   * Runs one create or update of `name`, holding the watch events of that name that arrive meanwhile (see
   * ignoringOwnWrites), and releases those that are not the version written.
   */
  private async writing(name: string, write: () => Promise<KubeObject>): Promise<KubeObject> {
    const held: HeldEvent[] = [];
    this.writesInFlight.set(name, held);
    let written: string | undefined;
    try {
      const stored = await write();
      written = stored.metadata?.resourceVersion;
      return stored;
    } finally {
      if (this.writesInFlight.get(name) === held) this.writesInFlight.delete(name);
      for (const event of held)
        if (written === undefined || event.resourceVersion !== written) event.release();
    }
  }

  private isOwnWrite(event: InformerEvent<KubeObject>): boolean {
    return (event.type === 'added' || event.type === 'modified') && this.ownWrites.isOwnVersion(event.object);
  }

  /**
   * Records a write from the server's answer (metadata only). When the echo beat the answer, the cache already
   * holds this version without a digest: it is our write, so its digest is the one we wrote (client-go's mutation
   * cache does the same for the object it just wrote).
   */
  private recordWrite(stored: KubeObject, written: GlobalNetworkPolicy, digest: string): void {
    const { name, resourceVersion } = stored.metadata ?? {};
    if (name === undefined || resourceVersion === undefined) return;
    const cached = this.informer.get(name);
    if (cached && isCachedGnp(cached) && cached.metadata.resourceVersion === resourceVersion) {
      // The echo came first: there is nothing left to recognise.
      cached.specDigest ??= digest;
      this.ownWrites.forget(name);
      return;
    }
    this.ownWrites.record(name, { resourceVersion, specDigest: digest, tier: written.spec.tier });
  }

  /** The logical name of a stored object (without Calico's tier prefix). */
  logicalName(stored: KubeObject): string {
    return fromWire(stored as GlobalNetworkPolicy, this.api).metadata.name;
  }

  /** The name a logical policy is stored under. */
  wireNameOf(name: string, tier?: string): string {
    return this.wireName(name, tier);
  }

  private wireName(name: string, tier?: string): string {
    return storedPolicyName(name, tier || DEFAULT_TIER, this.api, this.wireOptions);
  }

  /** Creates or updates `desired` so the cluster stores exactly it; writes nothing when it already does. */
  async ensure(desired: GlobalNetworkPolicy, signal?: AbortSignal): Promise<WriteOutcome> {
    const wire = toWire(desired, this.api, this.wireOptions);
    const name = wire.metadata.name;
    const digest = specDigest(wire.spec, this.api);
    let live: KubeObject | undefined = this.informer.get(name);
    if (!live) {
      try {
        const created = await this.writing(name, () =>
          this.resource.create(wire, { signal, metadataOnly: true }),
        );
        this.recordWrite(created, wire, digest);
        this.writes.inc({ verb: 'create', resource: 'globalnetworkpolicies' });
        return 'created';
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        // Not in our cache: either not ours (the cache only holds managed objects) or not yet seen.
        live = await this.resource.get(name, { signal });
      }
    } else if (isCachedGnp(live) && live.specDigest === null) {
      // Someone else changed the spec (the watch only says that the generation moved): compare with what is stored.
      live = await this.resource.get(name, { signal });
    }
    if (!isManaged(live)) throw new NotOwnedError(desired.metadata.name);
    if (!needsUpdate(wire, live as GlobalNetworkPolicy | CachedGnp, digest)) return 'unchanged';
    const metadata = {
      ...wire.metadata,
      // Labels and annotations others added stay; ours win.
      labels: { ...live.metadata?.labels, ...wire.metadata?.labels },
      annotations: { ...live.metadata?.annotations, ...wire.metadata?.annotations },
      resourceVersion: live.metadata?.resourceVersion,
    };
    const updated = await this.writing(name, () =>
      this.resource.update({ ...wire, metadata }, { signal, metadataOnly: true }),
    );
    this.recordWrite(updated, wire, digest);
    this.writes.inc({ verb: 'update', resource: 'globalnetworkpolicies' });
    return 'updated';
  }

  /** Deletes a managed policy by its stored object; objects we do not manage are never deleted. */
  async remove(live: KubeObject, signal?: AbortSignal): Promise<boolean> {
    if (!isManaged(live)) return false;
    try {
      await this.resource.delete(live.metadata!.name!, {
        preconditions: live.metadata?.uid ? { uid: live.metadata.uid } : undefined,
        signal,
      });
      this.writes.inc({ verb: 'delete', resource: 'globalnetworkpolicies' });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Stored objects (wire form) whose labels match every given pair. */
  storedWithLabels(labels: Record<string, string>): KubeObject[] {
    return this.informer
      .list()
      .filter((o) => Object.entries(labels).every(([k, v]) => o.metadata?.labels?.[k] === v));
  }
}
