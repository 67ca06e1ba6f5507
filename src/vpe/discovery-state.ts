/**
 * The discovery state of a VpcEgressProfile, as pure functions the controller calls around the one impure step
 * (`listAddressPrefixes`):
 *
 * ```
 * const settings = discoverySettings(profile.spec);            // undefined: discovery is off
 * if (settings && !settings.ok) -> report settings.errors (Invalid), keep status.discoveredZones, stop here
 * if (settings && now >= nextDiscoveryAt(settings.value, profile, memory)) {
 *   const apiKey = apiKeyFromSecret(secret, settings.value.apiKeySecretRef);   // may throw IbmCloudError
 *   result = { ok: true, zones: await listAddressPrefixes(...) }  or  { ok: false, error }
 *   update = discoveryStatus(profile.status, result, { now, generation, settings: settings.value });
 *   memory = rememberDiscovery(memory, settings.value, now, update);
 * }
 * const zones = effectiveZones(profile.spec, update?.discoveredZones ?? profile.status?.discoveredZones);
 * ```
 *
 * A failed discovery never removes zones: status keeps the last good `discoveredZones`, and the profile's rules are
 * computed from them as before, while the Discovered condition turns False and the profile reports Degraded.
 */
import type { Condition, ObjectMeta } from '../api/kube.js';
import type {
  IbmCloudDiscovery,
  SecretKeyRef,
  VpcEgressProfileSpec,
  VpcEgressProfileStatus,
  VpcZone,
  ZoneStatus,
} from '../api/v1alpha1.js';
import type { FieldError, Validated } from '../api/errors.js';
import { DNS_SUBDOMAIN_PATTERN, SECRET_KEY_PATTERN } from '../api/vpc-egress-profile.js';
import { DurationError, formatDuration, parseDuration } from '../util/duration.js';
import { IbmCloudError } from '../ibm/errors.js';
import { parseServiceUrl } from '../ibm/http.js';
import { defaultIamEndpointFor, defaultVpcEndpoint, isRegionName, isVpcId } from '../ibm/vpc.js';

export const DISCOVERY_PATH = 'spec.discovery.ibmCloud';
export const DISCOVERED_CONDITION = 'Discovered';
/** True while discovery fails and the last good zones are used. */
export const DEGRADED_CONDITION = 'Degraded';
/** What discovery owns in a profile's status: removed when the profile stops discovering. */
export const DISCOVERY_STATUS_FIELDS = ['discoveredZones', 'lastDiscoveryTime'] as const;
export const DISCOVERY_CONDITIONS: readonly string[] = [DISCOVERED_CONDITION, DEGRADED_CONDITION];

/** `spec.discovery.ibmCloud`, checked, with defaults filled in. */
export interface DiscoverySettings {
  region: string;
  vpcId: string;
  /** The VPC API base URL: the spec's, or the region's public endpoint. */
  endpoint: string;
  /** The spec's, or private IAM for a private VPC endpoint, public IAM otherwise. */
  iamEndpoint: string;
  apiKeySecretRef: SecretKeyRef;
  refreshIntervalMs: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Settings

export const DEFAULT_REFRESH_INTERVAL = '10m';
export const DEFAULT_REFRESH_INTERVAL_MS = 10 * 60_000;
/** Below a minute the operator would mostly be spending the account's VPC API rate limit. */
export const MIN_REFRESH_INTERVAL_MS = 60_000;
/** Above a day discovery is effectively off; Node timers also misfire beyond about 24.8 days. */
export const MAX_REFRESH_INTERVAL_MS = 24 * 3_600_000;

/** `refreshInterval` in milliseconds: default 10m, at least 1m, at most 24h. */
export function parseRefreshInterval(
  value: string | undefined,
  field = 'spec.discovery.ibmCloud.refreshInterval',
): number {
  if (value === undefined || value === null) return DEFAULT_REFRESH_INTERVAL_MS;
  const ms = parseDuration(value, field);
  if (ms < MIN_REFRESH_INTERVAL_MS) {
    throw new DurationError(
      `${field} "${value}" is shorter than the minimum 1m; the VPC API is rate limited per account, and prefixes ` +
        'change rarely',
    );
  }
  if (ms > MAX_REFRESH_INTERVAL_MS) {
    throw new DurationError(`${field} "${value}" is longer than the maximum 24h`);
  }
  return ms;
}

const DNS_SUBDOMAIN = new RegExp(DNS_SUBDOMAIN_PATTERN);
const SECRET_KEY = new RegExp(SECRET_KEY_PATTERN);
const IBM_VPC_HOST = /^([a-z]{2,}(?:-[a-z0-9]+)+)(?:\.private)?\.iaas\.cloud\.ibm\.com$/;

/**
 * `spec.discovery.ibmCloud` checked and defaulted; undefined when discovery is off. Reports every problem at once,
 * each with its field path.
 */
export function discoverySettings(
  spec: VpcEgressProfileSpec | undefined,
): Validated<DiscoverySettings> | undefined {
  const raw: unknown = spec?.discovery?.ibmCloud;
  if (raw === undefined || raw === null) return undefined;
  const errors: FieldError[] = [];
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, errors: [{ path: DISCOVERY_PATH, message: 'must be an object' }] };
  }
  const discovery = raw as Partial<Record<keyof IbmCloudDiscovery, unknown>>;

  const region = discovery.region;
  if (!isRegionName(region)) {
    errors.push({
      path: `${DISCOVERY_PATH}.region`,
      message: `${describe(region)} is not an IBM Cloud region name like us-south or eu-de`,
    });
  }
  const vpcId = discovery.vpcId;
  if (!isVpcId(vpcId)) {
    errors.push({
      path: `${DISCOVERY_PATH}.vpcId`,
      message: `${describe(vpcId)} is not a VPC ID like r006-2f8b7c4e-8a1d-4b9e-9f3a-6c2d1e0b5a71 (see \`ibmcloud is vpcs\`)`,
    });
  }
  const apiKeySecretRef = checkSecretRef(discovery.apiKeySecretRef, errors);

  let endpoint: string | undefined;
  if (discovery.endpoint !== undefined) {
    endpoint = checkUrl(discovery.endpoint, `${DISCOVERY_PATH}.endpoint`, errors);
    const regionOfHost = endpoint ? IBM_VPC_HOST.exec(new URL(endpoint).hostname)?.[1] : undefined;
    if (regionOfHost !== undefined && isRegionName(region) && regionOfHost !== region) {
      errors.push({
        path: `${DISCOVERY_PATH}.endpoint`,
        message: `is the endpoint of region ${regionOfHost}, but region is ${region}; a VPC is only visible from its own region's endpoint`,
      });
    }
  } else if (isRegionName(region)) {
    endpoint = defaultVpcEndpoint(region);
  }
  let iamEndpoint: string | undefined;
  if (discovery.iamEndpoint !== undefined) {
    iamEndpoint = checkUrl(discovery.iamEndpoint, `${DISCOVERY_PATH}.iamEndpoint`, errors);
  } else if (endpoint !== undefined) {
    iamEndpoint = defaultIamEndpointFor(endpoint);
  }

  let refreshIntervalMs: number | undefined;
  if (discovery.refreshInterval !== undefined && typeof discovery.refreshInterval !== 'string') {
    errors.push({
      path: `${DISCOVERY_PATH}.refreshInterval`,
      message: `must be a duration string like "10m", got ${describe(discovery.refreshInterval)}`,
    });
  } else {
    try {
      refreshIntervalMs = parseRefreshInterval(
        discovery.refreshInterval,
        `${DISCOVERY_PATH}.refreshInterval`,
      );
    } catch (error) {
      if (!(error instanceof DurationError)) throw error;
      // parseRefreshInterval's message starts with the field path; FieldError carries it separately.
      errors.push({
        path: `${DISCOVERY_PATH}.refreshInterval`,
        message: error.message.replace(`${DISCOVERY_PATH}.refreshInterval `, ''),
      });
    }
  }

  if (
    errors.length > 0 ||
    !isRegionName(region) ||
    !isVpcId(vpcId) ||
    !apiKeySecretRef ||
    !endpoint ||
    !iamEndpoint ||
    refreshIntervalMs === undefined
  ) {
    return { ok: false, errors };
  }
  return { ok: true, value: { region, vpcId, endpoint, iamEndpoint, apiKeySecretRef, refreshIntervalMs } };
}

function checkSecretRef(raw: unknown, errors: FieldError[]): SecretKeyRef | undefined {
  const path = `${DISCOVERY_PATH}.apiKeySecretRef`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    errors.push({
      path,
      message: 'is required: the namespace, name and key of the Secret holding the API key',
    });
    return undefined;
  }
  const ref = raw as Partial<Record<keyof SecretKeyRef, unknown>>;
  const before = errors.length;
  for (const field of ['namespace', 'name'] as const) {
    const value = ref[field];
    if (typeof value !== 'string' || value.length > 253 || !DNS_SUBDOMAIN.test(value)) {
      errors.push({ path: `${path}.${field}`, message: `${describe(value)} is not a Kubernetes ${field}` });
    }
  }
  if (typeof ref.key !== 'string' || ref.key.length > 253 || !SECRET_KEY.test(ref.key)) {
    errors.push({
      path: `${path}.key`,
      message: `${describe(ref.key)} is not a Secret data key (letters, digits, '-', '_', '.')`,
    });
  }
  if (errors.length > before) return undefined;
  return { namespace: ref.namespace as string, name: ref.name as string, key: ref.key as string };
}

function checkUrl(raw: unknown, path: string, errors: FieldError[]): string | undefined {
  if (typeof raw !== 'string') {
    errors.push({ path, message: `must be a URL string, got ${describe(raw)}` });
    return undefined;
  }
  try {
    return parseServiceUrl(raw, path).href.replace(/\/$/, '');
  } catch (error) {
    if (!(error instanceof IbmCloudError)) throw error;
    errors.push({ path, message: error.message.replace(`${path} `, '') });
    return undefined;
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'a missing value';
  if (typeof value === 'string') return JSON.stringify(value);
  return `${Array.isArray(value) ? 'an array' : typeof value} ${JSON.stringify(value)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// The API key

/** The parts of a core/v1 Secret we read. */
export interface SecretLike {
  data?: Record<string, string>;
}

/**
 * The API key from the Secret's data (base64, as the API server returns it), trimmed. Messages name the Secret and
 * the key, and list the keys it does have, never a value.
 */
export function apiKeyFromSecret(secret: SecretLike | undefined, ref: SecretKeyRef): string {
  const where = `Secret ${ref.namespace}/${ref.name} (${DISCOVERY_PATH}.apiKeySecretRef)`;
  if (!secret) {
    throw new IbmCloudError(
      'ApiKeySecretUnusable',
      `${where} not found; create it with: kubectl -n ${ref.namespace} create secret generic ${ref.name} ` +
        `--from-literal=${ref.key}=<API key>`,
    );
  }
  const data = secret.data ?? {};
  const encoded = Object.hasOwn(data, ref.key) ? data[ref.key] : undefined;
  if (encoded === undefined) {
    const keys = Object.keys(data).sort();
    throw new IbmCloudError(
      'ApiKeySecretUnusable',
      `${where} has no key "${ref.key}" (its keys: ${keys.length > 0 ? keys.join(', ') : 'none'})`,
    );
  }
  const apiKey = Buffer.from(encoded, 'base64').toString('utf8').trim();
  if (apiKey === '') throw new IbmCloudError('ApiKeySecretUnusable', `${where}: key "${ref.key}" is empty`);
  return apiKey;
}

// ---------------------------------------------------------------------------------------------------------------
// Zones

export interface ZoneMerge {
  /** What the profile's rules are computed from. */
  zones: VpcZone[];
  /** Zones listed in spec.zones whose prefixes were replaced by the discovered ones. */
  replacedByDiscovery: string[];
  /** Zones listed in spec.zones that discovery did not return, kept as written (worth a warning). */
  handListedOnly: string[];
}

/**
 * How hand-listed (`spec.zones`) and discovered zones combine. The rule, zone by zone:
 *
 * - Discovery off (no `spec.discovery.ibmCloud`): `spec.zones` exactly; discovered zones left in status from an
 *   earlier configuration are ignored.
 * - Discovery on, nothing discovered yet (first run, or every attempt failed so far): `spec.zones` exactly, so a
 *   profile that listed zones by hand keeps working while discovery is being set up.
 * - Discovery on, zones discovered: **the VPC is authoritative for every zone it returns**. Such a zone gets
 *   exactly the discovered prefixes; a `spec.zones` entry of the same name does not add to them (so a prefix
 *   removed from the VPC stops being allowed even if someone once copied it by hand). A `spec.zones` entry for a
 *   zone the VPC does not return is kept as written: it is an explicit instruction we cannot verify, and removing
 *   it could break image pulls. It is reported in `handListedOnly`.
 *
 * Order: `spec.zones` order first (with discovered prefixes substituted), then zones only discovery knows, in
 * discovered order. The result is deterministic, so a resync produces the same policies.
 */
export function mergeZones(
  spec: VpcEgressProfileSpec | undefined,
  discovered: readonly VpcZone[] | undefined,
): ZoneMerge {
  const listed = Array.isArray(spec?.zones) ? spec.zones : [];
  const discoveryOn = spec?.discovery?.ibmCloud !== undefined && spec.discovery.ibmCloud !== null;
  if (!discoveryOn || discovered === undefined) {
    return { zones: listed.map(copyZone), replacedByDiscovery: [], handListedOnly: [] };
  }
  const discoveredByName = new Map(discovered.map((zone) => [zone.name, zone]));
  const zones: VpcZone[] = [];
  const replacedByDiscovery: string[] = [];
  const handListedOnly: string[] = [];
  const used = new Set<string>();
  for (const zone of listed) {
    const fromVpc = discoveredByName.get(zone.name);
    if (fromVpc && !used.has(zone.name)) {
      zones.push(copyZone(fromVpc));
      replacedByDiscovery.push(zone.name);
      used.add(zone.name);
    } else if (!fromVpc) {
      zones.push(copyZone(zone));
      handListedOnly.push(zone.name);
    }
    // A zone listed twice by hand: the first one took the discovered prefixes; translateProfile would reject a
    // duplicate anyway, and a discovered zone must not be emitted twice.
  }
  for (const zone of discovered) {
    if (!used.has(zone.name)) {
      zones.push(copyZone(zone));
      used.add(zone.name);
    }
  }
  return { zones, replacedByDiscovery, handListedOnly };
}

/** `mergeZones(spec, discovered).zones`: the zones the profile's rules are computed from. */
export function effectiveZones(
  spec: VpcEgressProfileSpec | undefined,
  discovered: readonly VpcZone[] | undefined,
): VpcZone[] {
  return mergeZones(spec, discovered).zones;
}

function copyZone(zone: VpcZone): VpcZone {
  return {
    name: zone.name,
    addressPrefixes: Array.isArray(zone.addressPrefixes) ? [...zone.addressPrefixes] : [],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Status after an attempt

export type DiscoveryResult = { ok: true; zones: readonly VpcZone[] } | { ok: false; error: unknown };

/** A condition without lastTransitionTime: the controller's condition helper keeps or sets that. */
export type ConditionUpdate = Omit<Condition, 'lastTransitionTime'>;

export interface DiscoveryStatusUpdate {
  /** For status.discoveredZones: the fresh zones on success, the last good ones on failure (never dropped). */
  discoveredZones: ZoneStatus[] | undefined;
  /** For status.lastDiscoveryTime: the time of the last success (unchanged by a failure). */
  lastDiscoveryTime: string | undefined;
  /** The Discovered condition. */
  condition: ConditionUpdate;
  /** On failure, what the profile's Degraded condition should say; undefined on success. */
  degraded: { reason: string; message: string } | undefined;
  /** True when discoveredZones differ from the previous status (worth an Event). */
  changed: boolean;
  /** Whether this attempt counts as a success for scheduling (see rememberDiscovery). */
  succeeded: boolean;
  /** The server asked us to wait this long (429 Retry-After) before the next attempt. */
  retryAfterMs: number | undefined;
}

export interface DiscoveryContext {
  /** Milliseconds since the epoch. */
  now: number;
  /** metadata.generation of the profile, for the condition's observedGeneration. */
  generation: number | undefined;
  settings: DiscoverySettings;
}

/**
 * The status fields and conditions after one discovery attempt. A successful call that returns no prefixes at all
 * counts as a failure: every VPC with subnets has prefixes, so an empty answer is far likelier a wrong account or
 * a broken API than the truth, and acting on it would remove every VPE rule.
 */
export function discoveryStatus(
  previous: VpcEgressProfileStatus | undefined,
  result: DiscoveryResult,
  context: DiscoveryContext,
): DiscoveryStatusUpdate {
  const { settings } = context;
  const source = `VPC ${settings.vpcId} in ${settings.region}`;
  const observed = context.generation === undefined ? {} : { observedGeneration: context.generation };
  const previousZones = previous?.discoveredZones;

  if (result.ok && result.zones.length > 0) {
    const zones = normalizeZones(result.zones);
    const prefixCount = zones.reduce((sum, zone) => sum + zone.addressPrefixes.length, 0);
    return {
      discoveredZones: zones,
      lastDiscoveryTime: new Date(context.now).toISOString(),
      condition: {
        type: DISCOVERED_CONDITION,
        status: 'True',
        reason: 'Discovered',
        message:
          `${plural(zones.length, 'zone')} with ${plural(prefixCount, 'address prefix', 'address prefixes')} ` +
          `from ${source}; next refresh in ${formatDuration(settings.refreshIntervalMs)}`,
        ...observed,
      },
      degraded: undefined,
      changed: !sameZones(previousZones, zones),
      succeeded: true,
      retryAfterMs: undefined,
    };
  }

  const { reason, problem, retryAfterMs } = result.ok
    ? {
        reason: 'NoAddressPrefixes',
        problem: `the VPC API returned no address prefixes for ${source}`,
        retryAfterMs: undefined,
      }
    : describeFailure(result.error);
  const kept =
    previousZones && previousZones.length > 0
      ? `keeping the ${plural(previousZones.length, 'zone')} discovered at ${previous?.lastDiscoveryTime ?? 'an earlier time'}`
      : 'no zones have been discovered yet; only spec.zones are used';
  const message = `discovery from ${source} failed: ${problem}; ${kept}`;
  return {
    discoveredZones: previousZones?.map(copyZone),
    lastDiscoveryTime: previous?.lastDiscoveryTime,
    condition: { type: DISCOVERED_CONDITION, status: 'False', reason, message, ...observed },
    degraded: { reason: 'DiscoveryFailed', message },
    changed: false,
    succeeded: false,
    retryAfterMs,
  };
}

function describeFailure(error: unknown): {
  reason: string;
  problem: string;
  retryAfterMs: number | undefined;
} {
  if (error instanceof IbmCloudError) {
    return { reason: error.kind, problem: error.message, retryAfterMs: error.retryAfterMs };
  }
  // Not ours (a Kubernetes API error reading the Secret, a bug): keep the message, which never holds the key since
  // the key is only ever in IamTokenSource's request body.
  return { reason: 'DiscoveryError', problem: describeUnknownError(error), retryAfterMs: undefined };
}

function describeUnknownError(error: unknown): string {
  // Duck-typed: errors from other realms fail instanceof; and String() throws on objects without a prototype.
  if (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { message?: unknown }).message === 'string'
  ) {
    return (error as { message: string }).message;
  }
  try {
    return String(error);
  } catch {
    return 'an error that cannot be described';
  }
}

/**
 * Zones sorted by name with duplicate prefixes dropped, prefixes kept in the given order (groupPrefixesByZone's
 * address order): status stays byte-identical while the VPC does not change.
 */
function normalizeZones(zones: readonly VpcZone[]): ZoneStatus[] {
  return [...zones]
    .map((zone) => ({ name: zone.name, addressPrefixes: [...new Set(zone.addressPrefixes)] }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Same zones with the same prefixes, whatever the order. */
function sameZones(a: readonly ZoneStatus[] | undefined, b: readonly ZoneStatus[]): boolean {
  const canonical = (zones: readonly ZoneStatus[]) =>
    JSON.stringify(normalizeZones(zones).map((zone) => [zone.name, [...zone.addressPrefixes].sort()]));
  return a !== undefined && canonical(a) === canonical(b);
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Scheduling

/** The parts of a VpcEgressProfile that scheduling reads. */
export type ProfileState = {
  metadata?: Pick<ObjectMeta, 'generation'>;
  status?: VpcEgressProfileStatus;
};

/** What the controller remembers per profile between attempts (in memory; status covers restarts). */
export interface DiscoveryMemory {
  /** Identifies the settings the attempts were made with; other settings start afresh. */
  settingsKey: string;
  lastAttemptAt: number;
  lastSuccessAt: number | undefined;
  consecutiveFailures: number;
  retryAfterMs: number | undefined;
}

/** First retry after a failure; doubles per failure up to the refresh interval. */
export const FAILURE_RETRY_INITIAL_MS = 30_000;

/** Region, VPC, endpoints and Secret: a change to any of them calls for a new discovery at once. */
export function discoverySettingsKey(settings: DiscoverySettings): string {
  const { region, vpcId, endpoint, iamEndpoint, apiKeySecretRef } = settings;
  return JSON.stringify([
    region,
    vpcId,
    endpoint,
    iamEndpoint,
    apiKeySecretRef.namespace,
    apiKeySecretRef.name,
    apiKeySecretRef.key,
  ]);
}

/** The memory after an attempt whose outcome `discoveryStatus` computed. */
export function rememberDiscovery(
  memory: DiscoveryMemory | undefined,
  settings: DiscoverySettings,
  now: number,
  update: Pick<DiscoveryStatusUpdate, 'succeeded' | 'retryAfterMs'>,
): DiscoveryMemory {
  const settingsKey = discoverySettingsKey(settings);
  const same = memory?.settingsKey === settingsKey ? memory : undefined;
  return update.succeeded
    ? { settingsKey, lastAttemptAt: now, lastSuccessAt: now, consecutiveFailures: 0, retryAfterMs: undefined }
    : {
        settingsKey,
        lastAttemptAt: now,
        lastSuccessAt: same?.lastSuccessAt,
        consecutiveFailures: (same?.consecutiveFailures ?? 0) + 1,
        retryAfterMs: update.retryAfterMs,
      };
}

/**
 * When the next discovery is due, in ms since the epoch (due when `now >= result`):
 * - after failures with these settings: 30s, 1m, 2m, ... capped at the refresh interval, and never sooner than a
 *   Retry-After the API sent;
 * - after a success with these settings: one refresh interval later;
 * - otherwise (new settings, or a restart): one refresh interval after status.lastDiscoveryTime when status was
 *   written for this generation of the spec, else now.
 */
export function nextDiscoveryAt(
  settings: DiscoverySettings,
  profile: ProfileState,
  memory: DiscoveryMemory | undefined,
): number {
  const interval = settings.refreshIntervalMs;
  const same = memory?.settingsKey === discoverySettingsKey(settings) ? memory : undefined;
  if (same && same.consecutiveFailures > 0) {
    const backoff = Math.min(interval, FAILURE_RETRY_INITIAL_MS * 2 ** (same.consecutiveFailures - 1));
    return same.lastAttemptAt + Math.max(backoff, same.retryAfterMs ?? 0);
  }
  if (same?.lastSuccessAt !== undefined) return same.lastSuccessAt + interval;
  if (memory !== undefined) return 0; // the settings changed: discover now
  const fromStatus = statusDiscoveryTime(profile);
  return fromStatus === undefined ? 0 : fromStatus + interval;
}

/** status.lastDiscoveryTime, if the Discovered condition was written for the current generation. */
function statusDiscoveryTime(profile: ProfileState): number | undefined {
  const status = profile.status;
  if (!status?.lastDiscoveryTime) return undefined;
  const condition = status.conditions?.find((entry) => entry.type === DISCOVERED_CONDITION);
  const generation = profile.metadata?.generation;
  if (generation !== undefined && condition?.observedGeneration !== generation) return undefined;
  const time = Date.parse(status.lastDiscoveryTime);
  return Number.isNaN(time) ? undefined : time;
}
