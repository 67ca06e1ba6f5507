/**
 * The HTTP plumbing shared by the IAM and VPC clients: a per-attempt timeout that also covers reading the body,
 * bounded retries with jittered exponential backoff on 429/5xx/network failures, Retry-After, and no redirects
 * (a redirect could carry a bearer token or an API key to another host).
 */
import { backoffDelay, sleep, systemClock, type BackoffPolicy, type Clock } from '../util/clock.js';
import { IbmCloudError, redact } from './errors.js';
import { fetchFromEnvironment } from './proxy.js';

export type FetchFunction = typeof globalThis.fetch;

/** Injected so tests are deterministic and fast: time, waiting and randomness. */
export interface HttpDependencies {
  fetch: FetchFunction;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** Resolves after `ms`; rejects when the signal aborts. (Per-request timeouts use real time: they bound the network.) */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** In [0, 1), for jitter. */
  random: () => number;
}

export interface RetryPolicy {
  /** Total attempts, including the first. */
  maxAttempts: number;
  /** Waits between attempts (the same jittered exponential backoff the informers use). */
  backoff: BackoffPolicy;
  /** A Retry-After longer than this is not waited for: the request fails as RateLimited and carries the delay. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 4,
  backoff: Object.freeze({ initialMs: 500, maxMs: 8_000, factor: 2, jitter: 0.5 }),
  maxRetryAfterMs: 60_000,
});

export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;

/** What callers may inject; explicit `now`/`sleep` win over `clock`, which wins over the system clock. */
export interface InjectableDependencies {
  fetch?: FetchFunction;
  /** The operator's clock (e.g. the controller's ManualClock in tests). */
  clock?: Clock;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

export function httpDependencies(injected: InjectableDependencies): HttpDependencies {
  const clock = injected.clock ?? systemClock;
  return {
    // Node's fetch, through HTTPS_PROXY when one is set (proxy.ts).
    fetch: injected.fetch ?? fetchFromEnvironment(),
    now: injected.now ?? (() => clock.now()),
    sleep: injected.sleep ?? ((ms, signal) => sleep(clock, ms, signal)),
    random: injected.random ?? Math.random,
  };
}

export function retryPolicy(overrides: Partial<RetryPolicy> | undefined): RetryPolicy {
  return { ...DEFAULT_RETRY_POLICY, ...overrides };
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: string;
  /** Set when the last answer was a 429/503 with a Retry-After we did not (or could no longer) wait for. */
  retryAfterMs: number | undefined;
  attempts: number;
}

export interface HttpRequest {
  /** Used in messages: "IAM", "the VPC API". */
  service: string;
  url: URL;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  /** Strings that must never appear in an error this request produces (the API key, a token). */
  secrets: readonly string[];
}

export interface HttpOptions {
  deps: HttpDependencies;
  retry: RetryPolicy;
  timeoutMs: number;
  signal: AbortSignal | undefined;
}

/**
 * Sends the request, retrying transient failures. Returns the last answer whatever its status (the caller knows
 * what a 404 means for its API); throws IbmCloudError only when no answer came (Timeout, Unreachable) or when the
 * server redirected. Aborting `signal` rejects with the signal's reason and stops retrying.
 */
export async function requestWithRetry(request: HttpRequest, options: HttpOptions): Promise<HttpAnswer> {
  const { deps, retry, timeoutMs, signal } = options;
  const attempts = Math.max(1, Math.floor(retry.maxAttempts));
  let lastFailure: IbmCloudError | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    signal?.throwIfAborted();
    const outcome = await attemptOnce(request, timeoutMs, deps.fetch, signal);
    const isLast = attempt === attempts;
    if (outcome instanceof IbmCloudError) {
      lastFailure = outcome;
      if (isLast) break;
      await deps.sleep(backoffDelay(retry.backoff, attempt - 1, deps.random), signal);
      continue;
    }
    if (outcome.status >= 300 && outcome.status < 400) {
      const location = outcome.headers.get('location') ?? '(no Location header)';
      throw new IbmCloudError(
        'BadResponse',
        `${request.service} at ${request.url.origin} answered ${outcome.status} redirecting to ` +
          `${redact(location, request.secrets)}; refusing to follow a redirect with credentials`,
        { status: outcome.status },
      );
    }
    if (!isRetryableStatus(outcome.status)) return { ...outcome, retryAfterMs: undefined, attempts: attempt };
    const retryAfterMs = parseRetryAfter(outcome.headers.get('retry-after'), deps.now());
    if (isLast || (retryAfterMs !== undefined && retryAfterMs > retry.maxRetryAfterMs)) {
      return { ...outcome, retryAfterMs, attempts: attempt };
    }
    await deps.sleep(retryAfterMs ?? backoffDelay(retry.backoff, attempt - 1, deps.random), signal);
  }
  // Only reachable when every attempt failed without an answer.
  throw (
    lastFailure ??
    new IbmCloudError('Unreachable', `cannot reach ${request.service} at ${request.url.origin}`)
  );
}

async function attemptOnce(
  request: HttpRequest,
  timeoutMs: number,
  fetchFunction: FetchFunction,
  callerSignal: AbortSignal | undefined,
): Promise<{ status: number; headers: Headers; body: string } | IbmCloudError> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
  try {
    const response = await fetchFunction(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: 'manual',
      signal,
    });
    // Reading the body under the same signal: a server that sends headers and then stalls is also a timeout.
    const body = await response.text();
    return { status: response.status, headers: response.headers, body };
  } catch (error) {
    if (callerSignal?.aborted) throw callerSignal.reason;
    if (timeout.aborted) {
      return new IbmCloudError(
        'Timeout',
        `${request.service} at ${request.url.origin} did not answer within ${formatSeconds(timeoutMs)}`,
      );
    }
    return new IbmCloudError(
      'Unreachable',
      `cannot reach ${request.service} at ${request.url.origin}: ${redact(describeNetworkError(error), request.secrets)}`,
    );
  }
}

/** 429, and 5xx except those that will not change on retry (501 Not Implemented, 505 Version Not Supported). */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/** Retry-After is either delay-seconds or an HTTP-date (RFC 9110 10.2.3); anything else is ignored. */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // HTTP-dates always name the day or month; this keeps Date.parse's leniency ("-5" is a year) out.
  const date = /[a-z]{3}/i.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

function describeNetworkError(error: unknown): string {
  // undici reports "fetch failed" and puts the useful part (ECONNREFUSED, ENOTFOUND, certificate errors) in cause.
  // Duck-typed: errors from fetch may come from another realm (test runners' VMs), where instanceof Error fails.
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 3 && isErrorLike(current); depth++) {
    const { message, code } = current;
    parts.push(typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message);
    current = current.cause;
  }
  return parts.length > 0 ? parts.join(': ') : String(error);
}

function isErrorLike(value: unknown): value is { message: string; code?: unknown; cause?: unknown } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { message?: unknown }).message === 'string'
  );
}

export function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

/**
 * Bearer tokens and API keys must not travel in clear text. Plain http is allowed only to the loopback interface,
 * where test servers and local proxies live.
 */
export function parseServiceUrl(value: string, field: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new IbmCloudError('InvalidConfig', `${field} "${value}" is not a URL`);
  }
  const loopback = url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new IbmCloudError(
      'InvalidConfig',
      `${field} "${value}" must use https (plain http is accepted only for localhost)`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new IbmCloudError('InvalidConfig', `${field} must not contain credentials`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw new IbmCloudError('InvalidConfig', `${field} "${value}" must not have a query or a fragment`);
  }
  return url;
}

/** Joins a path to a base URL keeping the base's path ("https://h/v1" + "vpcs/x" = "https://h/v1/vpcs/x"). */
export function joinUrl(base: URL, path: string): URL {
  const basePath = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  const url = new URL(base.href);
  url.pathname = basePath + path.replace(/^\/+/, '');
  return url;
}

export function parseJson<T>(text: string): T | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}

/** Waits for `promise`, but rejects as soon as `signal` aborts (the promise itself carries on). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
