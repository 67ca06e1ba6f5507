/**
 * Address-prefix discovery from the IBM Cloud VPC API (`spec.discovery.ibmCloud`), as the VPE reconciler's
 * `zonesFor` hook. The pure rules live in src/vpe/discovery-state.ts; this is the impure shell around them: it reads the
 * API key's Secret, keeps IAM tokens, schedules refreshes and turns outcomes into status, Events and metrics.
 *
 * - Attempts run beside the reconcile, not inside it: a reconcile waits for a due attempt at most `waitMs`, then
 *   carries on with the zones it already knows, and the attempt requeues the profile when it finishes. The profile
 *   controller runs one reconcile at a time, so a VPC API that hangs must not hold up the other profiles or drift
 *   repair. Every attempt (Secret read, IAM, every page) is bounded by `timeoutMs`.
 * - A failed attempt never removes zones: the last good discovered zones (in memory, else status) keep producing the
 *   same rules, and Discovered=False + Degraded=True say why. Invalid discovery settings do the same.
 * - The Secret is read with one GET of exactly the referenced object (never a list or a watch, so the RBAC can name
 *   that one Secret). The key itself is only handed to IamTokenSource; it is never logged and never part of a
 *   status, Event or metric (messages are also redacted with it, in case a server echoed it).
 * - What was discovered is also remembered in memory, because the informer's copy of the status lags behind our own
 *   status write; reading it back too early would briefly compute rules without the discovered zones.
 * - The annotation `calico-vpc.io/discovery-requested-at` asks for a discovery now: whenever its value changes
 *   (like Flux's reconcile.fluxcd.io/requestedAt), e.g. right after adding an address prefix to the VPC.
 */
import { formatPath } from '../api/errors.js';
import type { KubeObject } from '../api/kube.js';
import type { VpcEgressProfile, VpcEgressProfileStatus, VpcZone, ZoneStatus } from '../api/v1alpha1.js';
import {
  DEGRADED_CONDITION,
  DISCOVERED_CONDITION,
  DISCOVERY_PATH,
  apiKeyFromSecret,
  discoverySettings,
  discoverySettingsKey,
  discoveryStatus,
  mergeZones,
  nextDiscoveryAt,
  rememberDiscovery,
  type DiscoveryMemory,
  type DiscoveryResult,
  type DiscoverySettings,
  type SecretLike,
} from './discovery-state.js';
import { formatDuration } from '../util/duration.js';
import { IbmCloudError, redact } from '../ibm/errors.js';
import type { FetchFunction, RetryPolicy } from '../ibm/http.js';
import { IamTokenSource } from '../ibm/iam.js';
import { listAddressPrefixes } from '../ibm/vpc.js';
import type { KubeClient } from '../kube/client.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { isApiError, isNotFound } from '../kube/errors.js';
import { noopEventRecorder, type EventRecorder } from '../kube/events.js';
import type { Logger } from '../observability/logger.js';
import { counter, histogram, perRegistry, sharedRegistry, type Registry } from '../observability/metrics.js';
import { formatFieldError } from '../api/errors.js';
import type { ConditionInput } from '../api/conditions.js';
import { SECRETS } from '../kube/resources.js';

/** Change its value (e.g. to the current time) to make the operator discover the profile's prefixes now. */
export const DISCOVERY_REQUEST_ANNOTATION = 'calico-vpc.io/discovery-requested-at';
/** Bound on one whole attempt: reading the Secret, the IAM token and every page of prefixes. */
export const DEFAULT_DISCOVERY_TIMEOUT_MS = 60_000;
/** How long a reconcile waits for a due attempt before carrying on with the zones it already knows. */
export const DEFAULT_DISCOVERY_WAIT_MS = 10_000;
/** Per HTTP request to IAM or the VPC API (the client retries transient failures within the attempt). */
export const DEFAULT_DISCOVERY_REQUEST_TIMEOUT_MS = 15_000;
/** Never requeue sooner than this, whatever the schedule says (a due attempt that just failed, clock skew). */
const MIN_REQUEUE_MS = 1_000;
/** Per-profile state not touched for this long belongs to a deleted profile (a live one is touched every resync). */
const FORGET_AFTER_MS = 2 * 24 * 3_600_000;

interface Secret extends KubeObject, SecretLike {}

export interface DiscoveryOptions {
  /** Reads the API key's Secret (a GET of that one object). */
  client: Pick<KubeClient, 'resource'>;
  logger: Logger;
  registry?: Registry;
  events?: EventRecorder;
  /** Scheduling, the attempt bound and the reconcile wait run on this clock; default the system clock. */
  clock?: Clock;
  /** How IAM and the VPC API are reached; default globalThis.fetch. */
  fetch?: FetchFunction;
  timeoutMs?: number;
  waitMs?: number;
  requestTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Aborting it (operator shutdown) cancels attempts in flight without recording them as failures. */
  signal?: AbortSignal;
}

/** What a reconcile lends discovery: its logger and its cancellation (the controller's ReconcileContext is one). */
export interface ReconcileContext {
  log: Logger;
  signal: AbortSignal;
}

/** The zones a discovering profile translates, with the status and conditions discovery owns. */
export interface ZoneSource {
  zones: VpcZone[];
  /** Status fields the source owns (discoveredZones, lastDiscoveryTime). */
  status?: Partial<VpcEgressProfileStatus>;
  conditions?: ConditionInput[];
  requeueAfterMs?: number;
}

export interface Discovery {
  /** The VPE reconciler's hook: undefined for a profile without spec.discovery.ibmCloud. */
  zonesFor(profile: VpcEgressProfile, ctx: ReconcileContext): Promise<ZoneSource | undefined>;
  /** Where a finished background attempt requeues its profile (the profile controller). */
  bindController(controller: { enqueue(key: string): void }): void;
}

const discoveryMetrics = perRegistry((registry: Registry) => ({
  total: counter(registry, {
    name: 'calico_vpc_discovery_total',
    help: 'Address-prefix discoveries from the IBM Cloud VPC API, by result: success, or the failure reason.',
    labelNames: ['result'] as const,
  }),
  duration: histogram(registry, {
    name: 'calico_vpc_discovery_duration_seconds',
    help: 'Time one address-prefix discovery took: reading the Secret, the IAM token and every page of prefixes.',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120],
  }),
}));

/** What the last finished attempt says, in the form the status takes. */
interface Outcome {
  settingsKey: string;
  discoveredZones: ZoneStatus[] | undefined;
  lastDiscoveryTime: string | undefined;
  discovered: ConditionInput;
  degraded: ConditionInput;
}

interface ProfileState {
  name: string;
  memory: DiscoveryMemory | undefined;
  outcome: Outcome | undefined;
  attempt: Promise<void> | undefined;
  /** Reconciles currently waiting for `attempt`; when none is, the finished attempt requeues the profile. */
  waiting: number;
  /** The DISCOVERY_REQUEST_ANNOTATION value already acted upon (or present when we first saw the profile). */
  handledRequest: string | undefined;
  /** The last invalid-settings message an Event was recorded for (recorded again only when it changes). */
  reportedInvalid: string | undefined;
  tokenKey: string | undefined;
  touchedAt: number;
}

interface CachedTokens {
  resourceVersion: string;
  tokens: IamTokenSource;
}

/**
 * Address-prefix discovery for every discovering profile: one attempt at a time per profile, in the background,
 * requeueing the profile when it ends; IAM tokens reused per API key. The VPE reconciler asks `zonesFor`.
 */
export class VpcDiscovery implements Discovery {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly events: EventRecorder;
  private readonly metrics: ReturnType<typeof discoveryMetrics>;
  private readonly timeoutMs: number;
  private readonly waitMs: number;
  private readonly requestTimeoutMs: number;
  private readonly secrets: ReturnType<DiscoveryOptions['client']['resource']>;
  /** By profile uid: a profile deleted and re-created under the same name starts afresh. */
  private readonly states: Map<string, ProfileState>;
  /** By (Secret ref, IAM endpoint): one token source per API key, so refreshes reuse IAM's token for its life. */
  private readonly tokenSources: Map<string, CachedTokens>;
  private enqueue: (key: string) => void = () => {};

  constructor(private readonly options: DiscoveryOptions) {
    this.clock = this.options.clock ?? systemClock;
    this.log = this.options.logger.child({ component: 'discovery' });
    this.events = this.options.events ?? noopEventRecorder;
    this.metrics = discoveryMetrics(this.options.registry ?? sharedRegistry());
    this.timeoutMs = this.options.timeoutMs ?? DEFAULT_DISCOVERY_TIMEOUT_MS;
    this.waitMs = this.options.waitMs ?? DEFAULT_DISCOVERY_WAIT_MS;
    this.requestTimeoutMs = this.options.requestTimeoutMs ?? DEFAULT_DISCOVERY_REQUEST_TIMEOUT_MS;
    this.secrets = this.options.client.resource<Secret>(SECRETS);
    this.states = new Map<string, ProfileState>();
    this.tokenSources = new Map<string, CachedTokens>();
  }

  /** The VPE reconciler's hook (a bound function, to hand over as is). */
  readonly zonesFor = (profile: VpcEgressProfile, ctx: ReconcileContext): Promise<ZoneSource | undefined> =>
    this.resolveZones(profile, ctx);

  bindController(controller: { enqueue(key: string): void }): void {
    this.enqueue = (key) => controller.enqueue(key);
  }

  private forgetStale(now: number): void {
    for (const [uid, state] of this.states) {
      if (now - state.touchedAt > FORGET_AFTER_MS && state.attempt === undefined) this.states.delete(uid);
    }
    const used = new Set([...this.states.values()].map((state) => state.tokenKey));
    for (const key of this.tokenSources.keys()) if (!used.has(key)) this.tokenSources.delete(key);
  }

  private async readApiKey(
    settings: DiscoverySettings,
    signal: AbortSignal,
  ): Promise<{ apiKey: string; resourceVersion: string }> {
    const ref = settings.apiKeySecretRef;
    let secret: Secret | undefined;
    try {
      secret = await this.secrets.get(ref.name, { namespace: ref.namespace, signal });
    } catch (error) {
      if (signal.aborted) throw error;
      if (!isNotFound(error)) {
        const where = `Secret ${ref.namespace}/${ref.name} (${formatPath([...DISCOVERY_PATH, 'apiKeySecretRef'])})`;
        if (isApiError(error) && error.status === 403) {
          throw new IbmCloudError(
            'ApiKeySecretUnusable',
            `the operator may not read ${where}: grant its ServiceAccount "get" on exactly that Secret ` +
              '(see config/rbac/ibm_discovery_secret_reader_role.yaml)',
          );
        }
        throw new Error(`reading ${where} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return {
      apiKey: apiKeyFromSecret(secret, ref),
      resourceVersion: secret?.metadata?.resourceVersion ?? '',
    };
  }

  private tokensFor(
    state: ProfileState,
    settings: DiscoverySettings,
    apiKey: string,
    resourceVersion: string,
  ): IamTokenSource {
    const ref = settings.apiKeySecretRef;
    const key = JSON.stringify([ref.namespace, ref.name, ref.key, settings.iamEndpoint]);
    state.tokenKey = key;
    const cached = this.tokenSources.get(key);
    // A new resourceVersion may hold a new key (rotation): the old source's token belongs to the old key.
    if (cached && cached.resourceVersion === resourceVersion) return cached.tokens;
    const tokens = new IamTokenSource({
      apiKey,
      iamEndpoint: settings.iamEndpoint,
      requestTimeoutMs: this.requestTimeoutMs,
      retry: this.options.retry,
      clock: this.clock,
      ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
    });
    this.tokenSources.set(key, { resourceVersion, tokens });
    return tokens;
  }

  /** One attempt; resolves with the result and the key (for redaction), never rejects unless shut down. */
  private async discover(
    state: ProfileState,
    settings: DiscoverySettings,
    signal: AbortSignal,
  ): Promise<{ result: DiscoveryResult; apiKey: string | undefined }> {
    let apiKey: string | undefined;
    try {
      const secret = await this.readApiKey(settings, signal);
      apiKey = secret.apiKey;
      const zones = await listAddressPrefixes({
        region: settings.region,
        vpcId: settings.vpcId,
        endpoint: settings.endpoint,
        tokens: this.tokensFor(state, settings, secret.apiKey, secret.resourceVersion),
        requestTimeoutMs: this.requestTimeoutMs,
        retry: this.options.retry,
        clock: this.clock,
        signal,
        ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
      });
      return { result: { ok: true, zones }, apiKey };
    } catch (error) {
      return { result: { ok: false, error }, apiKey };
    }
  }

  private async runAttempt(
    state: ProfileState,
    profile: VpcEgressProfile,
    settings: DiscoverySettings,
  ): Promise<void> {
    const startedAt = this.clock.now();
    const attempt = new AbortController();
    const timer = this.clock.setTimeout(
      () =>
        attempt.abort(
          new IbmCloudError(
            'Timeout',
            `reading the Secret, the IAM token and the address prefixes did not finish within ${formatDuration(this.timeoutMs)}`,
          ),
        ),
      this.timeoutMs,
    );
    const signal = this.options.signal
      ? AbortSignal.any([attempt.signal, this.options.signal])
      : attempt.signal;
    let outcome: Awaited<ReturnType<typeof this.discover>>;
    try {
      outcome = await this.discover(state, settings, signal);
    } finally {
      this.clock.clearTimeout(timer);
    }
    if (this.options.signal?.aborted) return; // shutting down: not the cloud's failure
    let { result } = outcome;
    if (!result.ok && attempt.signal.aborted) result = { ok: false, error: attempt.signal.reason };

    const finishedAt = this.clock.now();
    const previous: VpcEgressProfileStatus = { ...profile.status, ...this.lastDiscovered(state, profile) };
    const update = discoveryStatus(previous, result, {
      now: finishedAt,
      generation: profile.metadata.generation,
      settings,
    });
    state.memory = rememberDiscovery(state.memory, settings, finishedAt, update);
    const secretsToHide = outcome.apiKey ? [outcome.apiKey] : [];
    const discovered = {
      ...update.condition,
      message: redact(update.condition.message, secretsToHide),
    };
    const degradedMessage = update.degraded ? redact(update.degraded.message, secretsToHide) : undefined;
    state.outcome = {
      settingsKey: discoverySettingsKey(settings),
      discoveredZones: update.discoveredZones,
      lastDiscoveryTime: update.lastDiscoveryTime,
      discovered,
      degraded: update.degraded
        ? {
            type: DEGRADED_CONDITION,
            status: 'True',
            reason: update.degraded.reason,
            message: degradedMessage ?? '',
          }
        : {
            type: DEGRADED_CONDITION,
            status: 'False',
            reason: 'DiscoverySucceeded',
            message: `the zones come from VPC ${settings.vpcId} in ${settings.region}`,
          },
    };

    this.metrics.total.inc({ result: update.succeeded ? 'success' : discovered.reason });
    this.metrics.duration.observe(Math.max(0, finishedAt - startedAt) / 1000);
    const fields = { profile: state.name, vpcId: settings.vpcId, region: settings.region };
    if (update.succeeded) {
      if (update.changed) {
        const note = describeZoneChanges(previous.discoveredZones, update.discoveredZones ?? []);
        this.log.info({ ...fields, changes: note }, 'discovered address prefixes changed');
        this.events.event(profile, { type: 'Normal', reason: 'ZonesDiscovered', action: 'Discover', note });
      } else {
        this.log.debug(fields, 'discovered address prefixes unchanged');
      }
    } else {
      this.log.warn(
        { ...fields, reason: discovered.reason, message: discovered.message },
        'discovery failed',
      );
      this.events.event(profile, {
        type: 'Warning',
        reason: 'DiscoveryFailed',
        action: 'Discover',
        note: discovered.message,
      });
    }
  }

  /** The newest discovered zones: this process's last attempt, else what status says. */
  private lastDiscovered(
    state: ProfileState,
    profile: VpcEgressProfile,
  ): { discoveredZones: ZoneStatus[] | undefined; lastDiscoveryTime: string | undefined } {
    if (state.outcome) {
      return {
        discoveredZones: state.outcome.discoveredZones,
        lastDiscoveryTime: state.outcome.lastDiscoveryTime,
      };
    }
    return {
      discoveredZones: profile.status?.discoveredZones,
      lastDiscoveryTime: profile.status?.lastDiscoveryTime,
    };
  }

  private statusFields(state: ProfileState, profile: VpcEgressProfile): Partial<VpcEgressProfileStatus> {
    const last = this.lastDiscovered(state, profile);
    return last.discoveredZones === undefined
      ? {}
      : {
          discoveredZones: last.discoveredZones,
          ...(last.lastDiscoveryTime ? { lastDiscoveryTime: last.lastDiscoveryTime } : {}),
        };
  }

  private async waitForAttempt(state: ProfileState, signal: AbortSignal): Promise<void> {
    const attempt = state.attempt;
    if (!attempt) return;
    state.waiting++;
    let timer: TimerHandle | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        attempt,
        new Promise<void>((resolve) => {
          timer = this.clock.setTimeout(resolve, this.waitMs);
          onAbort = resolve;
          signal.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      if (timer !== undefined) this.clock.clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
      state.waiting--;
    }
  }

  private invalidSettings(
    state: ProfileState,
    profile: VpcEgressProfile,
    ctx: ReconcileContext,
    message: string,
  ): ZoneSource {
    const generation = profile.metadata.generation;
    const observed = generation === undefined ? {} : { observedGeneration: generation };
    const last = this.lastDiscovered(state, profile);
    const kept =
      last.discoveredZones && last.discoveredZones.length > 0
        ? `keeping the ${last.discoveredZones.length} zone(s) discovered at ${last.lastDiscoveryTime ?? 'an earlier time'}`
        : 'no zones have been discovered yet; only spec.zones are used';
    const full = `discovery is not configured correctly: ${message}; ${kept}`;
    if (state.reportedInvalid !== full) {
      state.reportedInvalid = full;
      ctx.log.warn({ message: full }, 'invalid discovery settings');
      this.events.event(profile, {
        type: 'Warning',
        reason: 'InvalidDiscoverySettings',
        action: 'Validate',
        note: full,
      });
    }
    return {
      zones: mergeZones(profile.spec, last.discoveredZones).zones,
      status: this.statusFields(state, profile),
      conditions: [
        {
          type: DISCOVERED_CONDITION,
          status: 'False',
          reason: 'InvalidSettings',
          message: full,
          ...observed,
        },
        {
          type: DEGRADED_CONDITION,
          status: 'True',
          reason: 'InvalidDiscoverySettings',
          message: full,
          ...observed,
        },
      ],
    };
  }

  private async resolveZones(
    profile: VpcEgressProfile,
    ctx: ReconcileContext,
  ): Promise<ZoneSource | undefined> {
    const now = this.clock.now();
    this.forgetStale(now);
    const id = profile.metadata.uid ?? profile.metadata.name;
    const checked = discoverySettings(profile.spec);
    if (checked === undefined) {
      this.states.delete(id);
      return undefined;
    }
    const requested = profile.metadata.annotations?.[DISCOVERY_REQUEST_ANNOTATION];
    let state = this.states.get(id);
    if (!state) {
      state = {
        name: profile.metadata.name,
        memory: undefined,
        outcome: undefined,
        attempt: undefined,
        waiting: 0,
        // An annotation present before we first saw the profile was meant for an earlier run: not a new request.
        handledRequest: requested,
        reportedInvalid: undefined,
        tokenKey: undefined,
        touchedAt: now,
      };
      this.states.set(id, state);
    }
    state.touchedAt = now;
    if (!checked.ok)
      return this.invalidSettings(state, profile, ctx, checked.errors.map(formatFieldError).join('; '));
    state.reportedInvalid = undefined;
    const settings = checked.value;

    const requestedNow = requested !== state.handledRequest;
    if (!state.attempt && (requestedNow || now >= nextDiscoveryAt(settings, profile, state.memory))) {
      state.handledRequest = requested;
      const owner = state;
      ctx.log.debug({ vpcId: settings.vpcId, requested: requestedNow }, 'discovering address prefixes');
      owner.attempt = this.runAttempt(owner, profile, settings)
        .catch((error: unknown) =>
          this.log.error({ err: error, profile: owner.name }, 'discovery attempt failed'),
        )
        .finally(() => {
          owner.attempt = undefined;
          if (owner.waiting === 0 && !this.options.signal?.aborted) this.enqueue(owner.name);
        });
    }
    await this.waitForAttempt(state, ctx.signal);
    return this.zoneSource(state, profile, settings);
  }

  private zoneSource(
    state: ProfileState,
    profile: VpcEgressProfile,
    settings: DiscoverySettings,
  ): ZoneSource {
    const generation = profile.metadata.generation;
    const observed = generation === undefined ? {} : { observedGeneration: generation };
    const merge = mergeZones(profile.spec, this.lastDiscovered(state, profile).discoveredZones);
    const conditions: ConditionInput[] = [];
    const outcome = state.outcome?.settingsKey === discoverySettingsKey(settings) ? state.outcome : undefined;
    if (outcome) {
      // The outcome still describes the current spec when only non-discovery fields changed.
      let discoveredMessage = outcome.discovered.message;
      if (outcome.discovered.status === 'True' && merge.handListedOnly.length > 0) {
        discoveredMessage +=
          `; spec.zones also lists ${merge.handListedOnly.join(', ')}, which the VPC does not have: ` +
          'kept as written';
      }
      conditions.push(
        { ...outcome.discovered, message: discoveredMessage, ...observed },
        { ...outcome.degraded, ...observed },
      );
    } else if (state.attempt) {
      conditions.push({
        type: DISCOVERED_CONDITION,
        status: 'Unknown',
        reason: 'Discovering',
        message: `reading the address prefixes of VPC ${settings.vpcId} in ${settings.region}`,
        ...observed,
      });
    }
    // While an attempt runs, it requeues the profile when it ends; the delay is only a safety net.
    const requeueAfterMs = state.attempt
      ? this.timeoutMs
      : Math.max(MIN_REQUEUE_MS, nextDiscoveryAt(settings, profile, state.memory) - this.clock.now());
    return { zones: merge.zones, status: this.statusFields(state, profile), conditions, requeueAfterMs };
  }
}

/**
 * "added 10.240.192.0/18 to us-south-2; removed zone us-south-3 (10.240.128.0/18)": what a refresh changed, for
 * the Event and the log. The first discovery lists everything.
 */
export function describeZoneChanges(
  before: readonly ZoneStatus[] | undefined,
  after: readonly ZoneStatus[],
): string {
  if (before === undefined || before.length === 0) {
    const zones = after.map((zone) => `${zone.name} (${zone.addressPrefixes.join(', ')})`);
    return `discovered ${after.length} zone(s): ${zones.join('; ')}`;
  }
  const old = new Map(before.map((zone) => [zone.name, zone.addressPrefixes]));
  const now = new Map(after.map((zone) => [zone.name, zone.addressPrefixes]));
  const names = [...new Set([...old.keys(), ...now.keys()])].sort();
  const changes: string[] = [];
  for (const name of names) {
    const was = old.get(name);
    const is = now.get(name);
    if (!was && is) changes.push(`new zone ${name} (${is.join(', ')})`);
    else if (was && !is) changes.push(`removed zone ${name} (${was.join(', ')})`);
    else if (was && is) {
      const added = is.filter((cidr) => !was.includes(cidr));
      const removed = was.filter((cidr) => !is.includes(cidr));
      if (added.length > 0) changes.push(`added ${added.join(', ')} to ${name}`);
      if (removed.length > 0) changes.push(`removed ${removed.join(', ')} from ${name}`);
    }
  }
  return changes.length > 0 ? changes.join('; ') : 'no change';
}
