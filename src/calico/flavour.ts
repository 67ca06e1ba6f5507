/**
 * The only place that knows how the two Calico APIs store a GlobalNetworkPolicy.
 *
 * - `v3`: `projectcalico.org/v3`, the supported API, served by calico-apiserver (3.29-3.31) or by Calico 3.32's
 *   native v3 CRDs. What we send is what Calico stores; the server defaults `spec.tier`, `spec.types` and the
 *   `projectcalico.org/tier` label (see ./compare.ts for how those are told apart from drift).
 * - `crd`: `crd.projectcalico.org/v1`, Calico's internal storage, written directly when no v3 API is served. Nothing
 *   validates or defaults it, so we write exactly what Calico's own client (libcalico-go's k8s backend) would have
 *   written for the same v3 object, so that calicoctl, calico-apiserver and Felix all read it back as that object:
 *     - the stored name carries the tier: `default.<name>` (3.29-3.31; Felix takes the tier from the part before
 *       the first dot). From 3.32 the stored name is the plain name, and kube-controllers' policy-name migrator
 *       renames `default.<name>` objects whose v3 name is `<name>` (a rename that would fight ours), hence
 *       CrdNaming;
 *     - the annotation `projectcalico.org/metadata: {"name":"<name>"}` holds the v3 name (3.30+), without which
 *       calicoctl cannot fetch the object by its name;
 *     - `spec.tier` and the `projectcalico.org/tier` label set, as Calico's API sets them;
 *     - `spec.types` always explicit: Felix reads an empty `types` as Ingress AND Egress, while the v3 API would
 *       have defaulted it from the rules.
 *   Our own labels stay on the stored object itself (Calico's client would move them into the metadata annotation),
 *   because the operator finds its objects with a label selector; Calico merges both places when it reads.
 */
import type { ObjectMeta } from '../api/kube.js';
import type {
  CalicoNetworkPolicy,
  GlobalNetworkPolicy,
  GlobalNetworkPolicySpec,
  PolicyDirection,
} from './types.js';
import { DEFAULT_TIER } from './types.js';

export type CalicoApi = 'v3' | 'crd';

/** Where GlobalNetworkPolicies live in each API: what a Kubernetes client needs to address them. */
export interface CalicoResource {
  group: string;
  version: string;
  apiVersion: string;
  kind: 'GlobalNetworkPolicy';
  plural: 'globalnetworkpolicies';
}

export const GLOBAL_NETWORK_POLICY_RESOURCES: Readonly<Record<CalicoApi, Readonly<CalicoResource>>> =
  Object.freeze({
    v3: Object.freeze({
      group: 'projectcalico.org',
      version: 'v3',
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      plural: 'globalnetworkpolicies',
    }),
    crd: Object.freeze({
      group: 'crd.projectcalico.org',
      version: 'v1',
      apiVersion: 'crd.projectcalico.org/v1',
      kind: 'GlobalNetworkPolicy',
      plural: 'globalnetworkpolicies',
    }),
  });

export const CALICO_APIS: readonly CalicoApi[] = Object.freeze(['v3', 'crd']);

export function globalNetworkPolicyResource(api: CalicoApi): Readonly<CalicoResource> {
  return GLOBAL_NETWORK_POLICY_RESOURCES[api];
}

/** Which API an object was read from or is meant for, by its apiVersion; undefined for anything else. */
export function calicoApiOf(object: { apiVersion?: string }): CalicoApi | undefined {
  return CALICO_APIS.find((api) => GLOBAL_NETWORK_POLICY_RESOURCES[api].apiVersion === object.apiVersion);
}

/** Calico's internal annotation carrying the v3 object's metadata on crd.projectcalico.org/v1 objects. */
export const CALICO_METADATA_ANNOTATION = 'projectcalico.org/metadata';
/** The label Calico's API keeps equal to spec.tier (3.30+; 3.32's admission policies add it). */
export const CALICO_TIER_LABEL = 'projectcalico.org/tier';

/**
 * How crd.projectcalico.org/v1 names a default-tier policy: `tier-prefixed` (`default.<name>`, Calico 3.29-3.31)
 * or `plain` (`<name>`, Calico 3.32 and later).
 */
export type CrdNaming = 'tier-prefixed' | 'plain';

export interface WireOptions {
  /** Default `tier-prefixed`. Ignored for `v3`. */
  crdNaming?: CrdNaming;
}

/**
 * The naming convention of a Calico version as ClusterInformation's `spec.calicoVersion` reports it ("v3.31.7").
 * Unknown or unparseable versions get `tier-prefixed`, which every Calico up to 3.31 requires and 3.32 still reads.
 */
export function crdNamingForCalicoVersion(version: string | undefined): CrdNaming {
  const match = /^v?(\d+)\.(\d+)(?:\.|$|-)/.exec(version?.trim() ?? '');
  if (!match) return 'tier-prefixed';
  const major = Number(match[1]);
  const minor = Number(match[2]);
  return major > 3 || (major === 3 && minor >= 32) ? 'plain' : 'tier-prefixed';
}

const MAX_NAME_LENGTH = 253;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function tierOf(gnp: Pick<GlobalNetworkPolicy, 'spec'>): string {
  return gnp.spec.tier === undefined || gnp.spec.tier === '' ? DEFAULT_TIER : gnp.spec.tier;
}

/** The name of the stored object for a policy's v3 name. */
export function storedPolicyName(
  name: string,
  tier: string,
  api: CalicoApi,
  options: WireOptions = {},
): string {
  if (api === 'v3' || name.includes('.')) return name;
  return tier === DEFAULT_TIER && (options.crdNaming ?? 'tier-prefixed') === 'plain'
    ? name
    : `${tier}.${name}`;
}

/**
 * Why a v3 policy name cannot be used (undefined when it can): it must be a DNS-1123 subdomain with at most one
 * dot, a dotted name must start with its tier (`<tier>.`), and the stored name must fit in 253 characters, which
 * leaves 245 for a default-tier name stored as `default.<name>`.
 */
export function policyNameError(
  name: string,
  api: CalicoApi,
  options: WireOptions & { tier?: string } = {},
): string | undefined {
  const tier = options.tier === undefined || options.tier === '' ? DEFAULT_TIER : options.tier;
  if (name === '') return 'a policy name must not be empty';
  if (!DNS_SUBDOMAIN.test(name)) {
    return (
      `${JSON.stringify(name)} is not a valid policy name: lower-case letters, digits, '-' and '.', ` +
      'starting and ending with a letter or digit'
    );
  }
  const dots = name.split('.').length - 1;
  if (dots > 1) return `${JSON.stringify(name)} is not a valid policy name: Calico allows at most one '.'`;
  if (dots === 1 && !name.startsWith(`${tier}.`)) {
    return `${JSON.stringify(name)} is not a valid policy name: a name with a '.' must start with its tier, "${tier}."`;
  }
  if (dots === 1 && tier === DEFAULT_TIER) {
    return `${JSON.stringify(name)} is not a valid policy name: name default-tier policies without the "default." prefix`;
  }
  const stored = storedPolicyName(name, tier, api, options);
  if (stored.length > MAX_NAME_LENGTH) {
    const room = MAX_NAME_LENGTH - (stored.length - name.length);
    return `${JSON.stringify(name)} is too long: ${name.length} characters, at most ${room} here`;
  }
  return undefined;
}

/** What Calico's v3 API defaults an absent `spec.types` to (MutatingAdmissionPolicy / calico-apiserver). */
export function defaultPolicyTypes(spec: GlobalNetworkPolicySpec): PolicyDirection[] {
  if (spec.ingress !== undefined && spec.egress !== undefined) return ['Ingress', 'Egress'];
  return spec.egress !== undefined ? ['Egress'] : ['Ingress'];
}

/**
 * A copy whose top level, metadata and spec can be changed without touching `gnp`; rules and maps are shared,
 * never mutated here. (A deep structuredClone of every policy on every write was 3% of the controller's CPU.)
 */
function copyOuter<P extends GlobalNetworkPolicy | CalicoNetworkPolicy>(gnp: P): P {
  return { ...gnp, metadata: { ...gnp.metadata }, spec: { ...gnp.spec } };
}

function withoutKey<V>(record: Record<string, V> | undefined, key: string): Record<string, V> | undefined {
  if (record === undefined) return undefined;
  const { [key]: _removed, ...rest } = record;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

function setOrDelete<K extends keyof ObjectMeta>(
  metadata: ObjectMeta,
  key: K,
  value: ObjectMeta[K] | undefined,
) {
  if (value === undefined) delete metadata[key];
  else metadata[key] = value;
}

/**
 * The stored form of a (v3-shaped) policy for `api`. Throws on a name Calico cannot store (policyNameError).
 * The result shares rules and other nested values with `gnp`: treat both as read-only.
 */
export function toWire(
  gnp: GlobalNetworkPolicy,
  api: CalicoApi,
  options: WireOptions = {},
): GlobalNetworkPolicy {
  const tier = tierOf(gnp);
  const problem = policyNameError(gnp.metadata.name, api, { ...options, tier });
  if (problem) throw new Error(`cannot store GlobalNetworkPolicy: ${problem}`);
  const wire = copyOuter(gnp);
  wire.apiVersion = GLOBAL_NETWORK_POLICY_RESOURCES[api].apiVersion;
  wire.kind = 'GlobalNetworkPolicy';
  if (api === 'v3') return wire;

  wire.metadata.name = storedPolicyName(gnp.metadata.name, tier, api, options);
  wire.metadata.labels = { ...gnp.metadata.labels, [CALICO_TIER_LABEL]: tier };
  wire.metadata.annotations = {
    ...gnp.metadata.annotations,
    [CALICO_METADATA_ANNOTATION]: JSON.stringify({ name: gnp.metadata.name }),
  };
  // Key order as the v3 object has it, tier first, so stored objects read naturally.
  const { tier: _tier, types, ...rest } = wire.spec;
  wire.spec = { tier, ...rest, types: types && types.length > 0 ? types : defaultPolicyTypes(gnp.spec) };
  return wire;
}

interface StoredMetadata {
  name?: unknown;
  labels?: unknown;
  annotations?: unknown;
}

function stringRecord(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
}

/** The v3 metadata Calico keeps in the annotation of a crd.projectcalico.org/v1 object, if readable. */
export function storedV3Metadata(object: { metadata?: ObjectMeta }): StoredMetadata | undefined {
  const text = object.metadata?.annotations?.[CALICO_METADATA_ANNOTATION];
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as StoredMetadata)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The labels Calico sees on a stored object: for crd.projectcalico.org/v1, its own labels merged with those kept
 * in the metadata annotation (where Calico's client puts them), as libcalico-go merges them when it reads.
 */
export function effectiveLabels(object: {
  apiVersion?: string;
  metadata?: ObjectMeta;
}): Record<string, string> {
  const own = object.metadata?.labels ?? {};
  if (calicoApiOf(object) !== 'crd') return { ...own };
  return { ...own, ...stringRecord(storedV3Metadata(object)?.labels) };
}

/**
 * The v3-shaped policy of a stored object: the inverse of toWire (`fromWire(toWire(x, api), api)` equals x).
 * Shares nested values with `object`, like toWire. Calico stores its namespaced NetworkPolicy the same way (the
 * tier-prefixed name, the v3 metadata annotation), so it is read back the same way.
 */
export function fromWire<P extends GlobalNetworkPolicy | CalicoNetworkPolicy>(object: P, api: CalicoApi): P {
  const gnp = copyOuter(object);
  gnp.apiVersion = GLOBAL_NETWORK_POLICY_RESOURCES.v3.apiVersion;
  if (api === 'v3') return gnp;

  const stored = storedV3Metadata(object);
  const metadata = gnp.metadata;
  if (typeof stored?.name === 'string' && stored.name !== '') {
    metadata.name = stored.name;
  } else if (metadata.name.startsWith(`${DEFAULT_TIER}.`)) {
    metadata.name = metadata.name.slice(DEFAULT_TIER.length + 1);
  }
  const tier = tierOf(gnp);
  let labels: Record<string, string> | undefined = { ...metadata.labels, ...stringRecord(stored?.labels) };
  if (labels[CALICO_TIER_LABEL] === tier) labels = withoutKey(labels, CALICO_TIER_LABEL);
  setOrDelete(metadata, 'labels', labels && Object.keys(labels).length > 0 ? labels : undefined);
  const annotations = withoutKey(
    { ...metadata.annotations, ...stringRecord(stored?.annotations) },
    CALICO_METADATA_ANNOTATION,
  );
  setOrDelete(metadata, 'annotations', annotations);
  if (gnp.spec.tier === DEFAULT_TIER) delete gnp.spec.tier;
  return gnp;
}
