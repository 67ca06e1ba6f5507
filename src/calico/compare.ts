/**
 * Does a live GlobalNetworkPolicy need writing? Compares only what the operator owns, after applying the
 * defaults Calico or the API server add, so that a no-op resync writes nothing while any edit of ours (a hand
 * edit of the spec, a removed or changed label of ours) is repaired.
 *
 * Owned: the whole spec (a hand-added rule or flag changes what the policy does, so it is drift); the labels and
 * annotations the desired object sets; for crd.projectcalico.org/v1, the v3 name kept in Calico's metadata
 * annotation.
 * Not owned: everything else in metadata (uid, resourceVersion, managedFields, other tools' labels and
 * annotations, the `projectcalico.org/tier` label the v3 API adds). A writer that keeps the live object's other
 * labels and annotations and overwrites ours therefore reaches a state this function calls equal in one write.
 */
import { hash } from 'node:crypto';
import type { KubeObject, ObjectMeta } from '../api/kube.js';
import {
  CALICO_METADATA_ANNOTATION,
  GLOBAL_NETWORK_POLICY_RESOURCES,
  calicoApiOf,
  defaultPolicyTypes,
  effectiveLabels,
  storedV3Metadata,
  type CalicoApi,
} from './flavour.js';
import type { GlobalNetworkPolicy, GlobalNetworkPolicySpec, PolicyDirection } from './types.js';
import {
  DEFAULT_TIER,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  SOURCE_NETWORKPOLICY,
  SOURCE_VPE,
} from './types.js';

/** True only for objects the operator created; it never updates or deletes anything else. */
export function isManaged(object: { apiVersion?: string; metadata?: ObjectMeta }): boolean {
  return effectiveLabels(object)[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
}

const BOOLEAN_FLAGS = ['doNotTrack', 'preDNAT', 'applyOnForward'] as const;
const PORT_FIELDS = ['ports', 'notPorts'] as const;
const DIRECTION_ORDER: readonly PolicyDirection[] = ['Ingress', 'Egress'];

/** Drops what JSON round trips and Go's omitempty erase: undefined, null, empty objects and empty lists. */
function prune(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(prune).filter((item) => item !== undefined);
    return items.length > 0 ? items : undefined;
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .map(([key, item]) => [key, prune(item)] as const)
      .filter(([, item]) => item !== undefined);
    return entries.length > 0 ? Object.fromEntries(entries) : undefined;
  }
  return value === null ? undefined : value;
}

function canonicalPort(port: unknown): unknown {
  return typeof port === 'string' && /^[0-9]+$/.test(port) ? Number(port) : port;
}

function canonicalEntity(entity: unknown): unknown {
  if (typeof entity !== 'object' || entity === null) return entity;
  const copy: Record<string, unknown> = { ...entity };
  for (const field of PORT_FIELDS) {
    if (Array.isArray(copy[field])) copy[field] = (copy[field] as unknown[]).map(canonicalPort);
  }
  return copy;
}

function canonicalRules(rules: unknown): unknown {
  if (!Array.isArray(rules)) return rules;
  return rules.map((rule: unknown) => {
    if (typeof rule !== 'object' || rule === null) return rule;
    const copy: Record<string, unknown> = { ...rule };
    for (const side of ['source', 'destination']) {
      if (side in copy) copy[side] = canonicalEntity(copy[side]);
    }
    return copy;
  });
}

/**
 * The spec as Calico means it: defaults applied (tier `default`; absent types as the v3 API defaults them, or, on
 * crd.projectcalico.org/v1 where nothing defaults, as Felix reads them: Ingress and Egress), false flags and
 * empty values dropped, numeric port strings as numbers, types in one order.
 */
export function canonicalSpec(spec: GlobalNetworkPolicySpec | undefined, api: CalicoApi): unknown {
  const source: GlobalNetworkPolicySpec = (prune(spec) as GlobalNetworkPolicySpec | undefined) ?? {};
  const copy: Record<string, unknown> = { ...source };
  for (const flag of BOOLEAN_FLAGS) if (copy[flag] === false) delete copy[flag];
  copy.tier = source.tier || DEFAULT_TIER;
  const types = source.types ?? (api === 'v3' ? defaultPolicyTypes(source) : [...DIRECTION_ORDER]);
  copy.types = DIRECTION_ORDER.filter((direction) => types.includes(direction));
  if (source.ingress) copy.ingress = canonicalRules(source.ingress);
  if (source.egress) copy.egress = canonicalRules(source.egress);
  return copy;
}

/** The keys `desired` sets, with their values in each object. */
function ownedEntries(
  desired: Record<string, string> | undefined,
  live: Record<string, string> | undefined,
  skip?: string,
): { key: string; desired: string; live: string | undefined }[] {
  return Object.entries(desired ?? {})
    .filter(([key]) => key !== skip)
    .map(([key, value]) => ({ key, desired: value, live: live?.[key] }));
}

/** JSON with object keys sorted, so equal values print equally. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    typeof item === 'object' && item !== null && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
}

/** The owned labels and annotations of `live` that differ from `desired`, as field paths. */
function metadataDifferences(desired: GlobalNetworkPolicy, live: { metadata?: ObjectMeta }): string[] {
  const differences: string[] = [];
  const liveMeta = live.metadata ?? {};
  for (const entry of ownedEntries(desired.metadata.labels, liveMeta.labels)) {
    if (entry.desired !== entry.live) differences.push(`metadata.labels[${entry.key}]`);
  }
  const annotations = ownedEntries(
    desired.metadata.annotations,
    liveMeta.annotations,
    CALICO_METADATA_ANNOTATION,
  );
  for (const entry of annotations) {
    if (entry.desired !== entry.live) differences.push(`metadata.annotations[${entry.key}]`);
  }
  // Of Calico's metadata annotation only the v3 name is ours; Calico may add timestamps to it when it writes.
  if (desired.metadata.annotations?.[CALICO_METADATA_ANNOTATION] !== undefined) {
    if (storedV3Metadata(desired)?.name !== storedV3Metadata(live)?.name) {
      differences.push(`metadata.annotations[${CALICO_METADATA_ANNOTATION}]`);
    }
  }
  return differences;
}

function requireApi(desired: GlobalNetworkPolicy): CalicoApi {
  const api = calicoApiOf(desired);
  if (api === undefined)
    throw new Error(`not a Calico GlobalNetworkPolicy apiVersion: ${desired.apiVersion}`);
  return api;
}

/**
 * The owned parts of the live object that differ from the desired one, as field paths (for logs and Events);
 * empty when nothing needs writing. Both objects are in stored (wire) form for the same API.
 */
export function policyDifferences(desired: GlobalNetworkPolicy, live: GlobalNetworkPolicy): string[] {
  const api = requireApi(desired);
  if (calicoApiOf(live) !== api) return ['apiVersion'];
  const differences = metadataDifferences(desired, live);
  const desiredSpec = canonicalSpec(desired.spec, api) as Record<string, unknown>;
  const liveSpec = canonicalSpec(live.spec, api) as Record<string, unknown>;
  for (const key of [...new Set([...Object.keys(desiredSpec), ...Object.keys(liveSpec)])].sort()) {
    if (stableJson(desiredSpec[key]) !== stableJson(liveSpec[key])) differences.push(`spec.${key}`);
  }
  return differences.sort();
}

/**
 * A digest of the spec as Calico means it (canonicalSpec): two specs have the same digest exactly when
 * policyDifferences finds no `spec.*` difference between them (up to a SHA-256 collision).
 */
export function specDigest(spec: GlobalNetworkPolicySpec | undefined, api: CalicoApi): string {
  return hash('sha256', canonicalSpecJson(spec, api), 'base64');
}

/**
 * `stableJson(canonicalSpec(spec, api))`, written in one pass without building the pruned and canonical copies
 * first: the digest of every GNP the operator writes goes through here, and the copies were most of its cost
 * (the unit tests hold the two to the same text).
 */
export function canonicalSpecJson(spec: GlobalNetworkPolicySpec | undefined, api: CalicoApi): string {
  const source = (spec ?? {}) as Record<string, unknown>;
  const rules = {
    ingress: prunedJson(source.ingress, RULES),
    egress: prunedJson(source.egress, RULES),
  };
  const prunedTypes = prune(source.types) as PolicyDirection[] | undefined;
  // defaultPolicyTypes reads only whether the pruned spec has ingress and egress rules.
  const present: GlobalNetworkPolicySpec = {
    ...(rules.ingress !== undefined && { ingress: [] }),
    ...(rules.egress !== undefined && { egress: [] }),
  };
  const types = prunedTypes ?? (api === 'v3' ? defaultPolicyTypes(present) : [...DIRECTION_ORDER]);
  const keys = new Set(Object.keys(source));
  keys.add('tier');
  keys.add('types');
  const parts: string[] = [];
  for (const key of inJsonOrder([...keys])) {
    let json: string | undefined;
    if (key === 'tier') {
      json = prunedJson(source.tier);
      if (json === undefined || FALSY_JSON.has(json)) json = JSON.stringify(DEFAULT_TIER);
    } else if (key === 'types') {
      json = JSON.stringify(DIRECTION_ORDER.filter((direction) => types.includes(direction)));
    } else if (key === 'ingress' || key === 'egress') {
      json = rules[key];
    } else {
      json = prunedJson(source[key]);
      if (json === 'false' && (BOOLEAN_FLAGS as readonly string[]).includes(key)) json = undefined;
    }
    if (json !== undefined) parts.push(`${JSON.stringify(key)}:${json}`);
  }
  return `{${parts.join(',')}}`;
}

/** The JSON of values `||` replaces (tier: '' or absent means the default tier). */
const FALSY_JSON = new Set(['""', '0', 'false', 'null']);

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const INSERTION_SORT_MAX = 16;

const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,9})$/;
const isArrayIndex = (key: string) => ARRAY_INDEX.test(key) && Number(key) < 2 ** 32 - 1;

/**
 * Keys in the order stableJson prints them: sorted, then as a JavaScript object orders them (array-index keys
 * first, ascending numerically), since stableJson builds a sorted object. Sorts `keys` in place.
 */
function inJsonOrder(keys: string[]): string[] {
  let digit = false;
  for (const key of keys) {
    const first = key.charCodeAt(0);
    if (first >= 48 && first <= 57) digit = true;
  }
  // Insertion sort by code units for a few keys (a spec's objects have a handful): Array.prototype.sort allocates
  // a work array per call, a tenth of what the controller allocated while converging.
  if (keys.length > INSERTION_SORT_MAX) keys.sort(byCodeUnits);
  else {
    for (let i = 1; i < keys.length; i++) {
      const key = keys[i]!;
      let j = i - 1;
      while (j >= 0 && keys[j]! > key) {
        keys[j + 1] = keys[j]!;
        j--;
      }
      keys[j + 1] = key;
    }
  }
  if (!digit) return keys;
  const indexes = keys.filter(isArrayIndex).sort((a, b) => Number(a) - Number(b));
  return indexes.length > 0 ? [...indexes, ...keys.filter((key) => !isArrayIndex(key))] : keys;
}

/** JSON.stringify of the object keys met so far: a spec's keys come from a small set. */
const keyJsonCache = new Map<string, string>();
const KEY_JSON_CACHE_LIMIT = 1000;

function keyJson(key: string): string {
  let json = keyJsonCache.get(key);
  if (json === undefined) {
    json = JSON.stringify(key);
    if (keyJsonCache.size < KEY_JSON_CACHE_LIMIT) keyJsonCache.set(key, json);
  }
  return json;
}

/**
 * How canonicalSpec treats a value below the spec: as it is (PLAIN); a list of rules (RULES), a rule (its source
 * and destination are entities), an entity (its ports and notPorts lists are PORTS), a list of ports (numeric
 * strings become numbers).
 */
const PLAIN = 0;
const RULES = 1;
const RULE = 2;
const ENTITY = 3;
const PORTS = 4;
type Shape = typeof PLAIN | typeof RULES | typeof RULE | typeof ENTITY | typeof PORTS;

/**
 * stableJson(prune(value)) of the value as canonicalSpec shapes it (`shape`), in one pass, or undefined when prune
 * drops the value; JSON scalars as JSON.stringify writes them.
 */
function prunedJson(value: unknown, shape: Shape = PLAIN): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'object') return JSON.stringify(value);
  if (!Array.isArray(value)) return prunedObjectJson(value as Record<string, unknown>, shape);
  let text = '';
  for (let i = 0; i < value.length; i++) {
    let item: unknown = value[i];
    let json: string | undefined;
    if (shape === RULES) json = shapedJson(item, RULE);
    else {
      if (shape === PORTS && item !== null && item !== undefined) item = canonicalPort(item);
      json = prunedJson(item);
    }
    if (json !== undefined) text += text ? `,${json}` : `[${json}`;
  }
  return text ? `${text}]` : undefined;
}

/** A rule or an entity (canonicalRules, canonicalEntity): an object's fields shaped, anything else as it is. */
function shapedJson(value: unknown, shape: typeof RULE | typeof ENTITY): string | undefined {
  return typeof value === 'object' && value !== null
    ? prunedObjectJson(asCopied(value), shape)
    : prunedJson(value);
}

function prunedObjectJson(object: Record<string, unknown>, shape: Shape): string | undefined {
  let text = '';
  for (const key of inJsonOrder(Object.keys(object))) {
    const value = object[key];
    let json: string | undefined;
    if (shape === RULE && (key === 'source' || key === 'destination')) json = shapedJson(value, ENTITY);
    else if (shape === ENTITY && (key === 'ports' || key === 'notPorts') && Array.isArray(value))
      json = prunedJson(value, PORTS);
    else json = prunedJson(value);
    if (json !== undefined) text += `${text ? ',' : '{'}${keyJson(key)}:${json}`;
  }
  return text ? `${text}}` : undefined;
}

/**
 * What canonicalRules and canonicalEntity see of a pruned value as they copy it with `{ ...value }`: an object as
 * it is, an array as an object of its pruned items' indexes (not a Calico shape; kept equal all the same).
 */
function asCopied(value: object): Record<string, unknown> {
  if (!Array.isArray(value)) return value as Record<string, unknown>;
  return { ...((prune(value) as unknown[] | undefined) ?? []) };
}

/**
 * What the operator's cache keeps of a stored GNP: the metadata the reconcilers and the compare read, the tier
 * (it decides the logical name on crd.projectcalico.org/v1) and a digest of the spec instead of the spec. A GNP
 * with many rules is several KB as a JavaScript object; this is a few hundred bytes, and the compare stays exact:
 * any edit of the spec by anyone changes the object's metadata.generation (custom resources count every change
 * outside metadata), and an entry whose generation moved without our write has no digest (null) until the store
 * has read the object in full (GnpStore.ensure).
 */
export interface CachedGnp extends KubeObject {
  apiVersion: string;
  metadata: Pick<
    ObjectMeta,
    'name' | 'uid' | 'resourceVersion' | 'generation' | 'labels' | 'annotations' | 'deletionTimestamp'
  >;
  spec: Pick<GlobalNetworkPolicySpec, 'tier'>;
  /** specDigest of the stored spec; null when the spec changed since it was last read or written by us. */
  specDigest: string | null;
}

export function isCachedGnp(object: object): object is CachedGnp {
  return 'specDigest' in object;
}

/**
 * The label values every managed GNP carries, one string each: a parsed object has its own copy of every value
 * longer than a few characters, 10,000 copies of "calico-vpc-operator" at 10,000 cached GNPs.
 */
const SHARED_LABEL_VALUES = new Map(
  [MANAGED_BY_VALUE, SOURCE_NETWORKPOLICY, SOURCE_VPE, DEFAULT_TIER].map((value) => [value, value]),
);

function withSharedValues(labels: Record<string, string>): Record<string, string> {
  const shared: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) shared[key] = SHARED_LABEL_VALUES.get(value) ?? value;
  return shared;
}

/** The metadata a cache entry keeps (of a full object, or of the PartialObjectMetadata a metadata watch sends). */
function cachedMetadata(object: KubeObject): CachedGnp['metadata'] {
  const { name, uid, resourceVersion, generation, labels, annotations, deletionTimestamp } =
    object.metadata ?? {};
  return {
    name,
    uid,
    resourceVersion,
    ...(generation !== undefined && { generation }),
    ...(labels && { labels: withSharedValues(labels) }),
    ...(annotations && { annotations }),
    ...(deletionTimestamp && { deletionTimestamp }),
  };
}

/** The spec of every cache entry without a tier: one frozen object rather than an empty one per entry. */
const NO_TIER: CachedGnp['spec'] = Object.freeze({});

function cachedSpec(tier: string | undefined): CachedGnp['spec'] {
  return tier === undefined ? NO_TIER : { tier };
}

/** The compact cache entry of a stored GNP of `api`, read in full (a list, a GET); idempotent. */
export function cachedGnp(object: KubeObject, api: CalicoApi): CachedGnp {
  if (isCachedGnp(object)) return object;
  const spec = (object as Partial<GlobalNetworkPolicy>).spec;
  return {
    apiVersion: object.apiVersion ?? GLOBAL_NETWORK_POLICY_RESOURCES[api].apiVersion,
    kind: object.kind ?? 'GlobalNetworkPolicy',
    metadata: cachedMetadata(object),
    spec: cachedSpec(spec?.tier),
    specDigest: specDigest(spec, api),
  };
}

/**
 * The cache entry of a GNP of `api` seen only as metadata (a PartialObjectMetadata watch event), with what is
 * known of its spec from elsewhere: our own write of that version, or the previous entry of the same generation;
 * `undefined` when neither tells (someone else changed the spec): the digest is then null.
 */
export function cachedGnpOfMetadata(
  object: KubeObject,
  api: CalicoApi,
  known: { specDigest: string; tier?: string } | undefined,
): CachedGnp {
  return {
    apiVersion: GLOBAL_NETWORK_POLICY_RESOURCES[api].apiVersion,
    kind: 'GlobalNetworkPolicy',
    metadata: cachedMetadata(object),
    spec: cachedSpec(known?.tier),
    specDigest: known?.specDigest ?? null,
  };
}

/**
 * True when writing `desired` would change something the operator owns in `live`, a stored object in full or as
 * the cache keeps it (cachedGnp). A cache entry whose spec is unknown (null digest) counts as different: the
 * caller reads such an object in full first when it wants to avoid a needless write (GnpStore.ensure does).
 * `desiredDigest` saves computing specDigest(desired.spec) again when the caller has it.
 */
export function needsUpdate(
  desired: GlobalNetworkPolicy,
  live: GlobalNetworkPolicy | CachedGnp,
  desiredDigest?: string,
): boolean {
  const api = requireApi(desired);
  if (calicoApiOf(live) !== api) return true;
  if (metadataDifferences(desired, live).length > 0) return true;
  const liveDigest = isCachedGnp(live) ? live.specDigest : specDigest(live.spec, api);
  return (desiredDigest ?? specDigest(desired.spec, api)) !== liveDigest;
}
