/**
 * IAM access tokens from an IBM Cloud API key, cached until shortly before they expire. Concurrent callers share
 * one token request. The API key appears only in the request body: never in a message, a log line or an error.
 */
import { IbmCloudError, redact } from './errors.js';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  httpDependencies,
  abortable,
  joinUrl,
  parseJson,
  parseServiceUrl,
  requestWithRetry,
  retryPolicy,
  type HttpDependencies,
  type InjectableDependencies,
  type RetryPolicy,
} from './http.js';

export const DEFAULT_IAM_ENDPOINT = 'https://iam.cloud.ibm.com';
export const IAM_APIKEY_GRANT_TYPE = 'urn:ibm:params:oauth:grant-type:apikey';

/** A bearer token for IBM Cloud APIs. */
export interface TokenProvider {
  getToken(signal?: AbortSignal): Promise<string>;
  /** Forget the cached token (the API that received it said 401), so the next getToken asks IAM again. */
  invalidate(): void;
}

export interface IamTokenSourceOptions extends InjectableDependencies {
  apiKey: string;
  /** Default https://iam.cloud.ibm.com; https://private.iam.cloud.ibm.com from inside IBM Cloud without internet. */
  iamEndpoint?: string;
  requestTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
}

interface CachedToken {
  accessToken: string;
  /** When we ask for a new one, in ms since the epoch. */
  refreshAtMs: number;
}

/** What IAM answers to a token request (the fields we use). */
interface IamTokenResponse {
  access_token?: unknown;
  expires_in?: unknown;
  expiration?: unknown;
}

/** What IAM answers on error, e.g. {"errorCode":"BXNIM0415E","errorMessage":"Provided API key could not be found."}. */
interface IamErrorResponse {
  errorCode?: unknown;
  errorMessage?: unknown;
}

export class IamTokenSource implements TokenProvider {
  readonly #apiKey: string;
  readonly #tokenUrl: URL;
  readonly #deps: HttpDependencies;
  readonly #retry: RetryPolicy;
  readonly #timeoutMs: number;
  #cached: CachedToken | undefined;
  #inFlight: Promise<CachedToken> | undefined;

  constructor(options: IamTokenSourceOptions) {
    if (typeof options.apiKey !== 'string' || options.apiKey.trim() === '') {
      throw new IbmCloudError('InvalidConfig', 'the IBM Cloud API key is empty');
    }
    // Secrets created with `echo` carry a trailing newline; IAM would reject the key with a confusing message.
    this.#apiKey = options.apiKey.trim();
    const endpoint = parseServiceUrl(options.iamEndpoint ?? DEFAULT_IAM_ENDPOINT, 'iamEndpoint');
    this.#tokenUrl = joinUrl(endpoint, 'identity/token');
    this.#deps = httpDependencies(options);
    this.#retry = retryPolicy(options.retry);
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  /** The IAM origin, for messages and metrics labels. */
  get endpoint(): string {
    return this.#tokenUrl.origin;
  }

  async getToken(signal?: AbortSignal): Promise<string> {
    signal?.throwIfAborted();
    const cached = this.#cached;
    if (cached && this.#deps.now() < cached.refreshAtMs) return cached.accessToken;
    // One request for everyone who asks meanwhile. It runs without any caller's signal, so one caller giving up
    // does not fail the others; each caller still stops waiting when its own signal aborts.
    this.#inFlight ??= this.#requestToken().finally(() => {
      this.#inFlight = undefined;
    });
    const token = await abortable(this.#inFlight, signal);
    return token.accessToken;
  }

  invalidate(): void {
    this.#cached = undefined;
  }

  async #requestToken(): Promise<CachedToken> {
    const secrets = [this.#apiKey];
    const answer = await requestWithRetry(
      {
        service: 'IAM',
        url: this.#tokenUrl,
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body: new URLSearchParams({ grant_type: IAM_APIKEY_GRANT_TYPE, apikey: this.#apiKey }).toString(),
        secrets,
      },
      { deps: this.#deps, retry: this.#retry, timeoutMs: this.#timeoutMs, signal: undefined },
    );
    const where = `IAM at ${this.#tokenUrl.origin}`;
    if (answer.status !== 200)
      throw iamFailure(answer.status, answer.body, answer.retryAfterMs, where, secrets);
    const receivedAtMs = this.#deps.now();
    const parsed = parseJson<IamTokenResponse>(answer.body);
    if (!parsed || typeof parsed.access_token !== 'string' || parsed.access_token === '') {
      throw new IbmCloudError('BadResponse', `${where} answered 200 without an access_token`, {
        status: 200,
      });
    }
    const expiresAtMs = tokenExpiry(parsed, receivedAtMs);
    if (expiresAtMs === undefined) {
      throw new IbmCloudError(
        'BadResponse',
        `${where} answered 200 without a usable expiration or expires_in`,
        {
          status: 200,
        },
      );
    }
    const cached = { accessToken: parsed.access_token, refreshAtMs: refreshTime(receivedAtMs, expiresAtMs) };
    this.#cached = cached;
    return cached;
  }
}

/**
 * The earlier of `expires_in` (relative, immune to clock skew between us and IAM) and `expiration` (absolute unix
 * seconds), so a skewed clock can only make us refresh early, never use an expired token.
 */
function tokenExpiry(response: IamTokenResponse, receivedAtMs: number): number | undefined {
  const candidates: number[] = [];
  if (
    typeof response.expires_in === 'number' &&
    Number.isFinite(response.expires_in) &&
    response.expires_in > 0
  ) {
    candidates.push(receivedAtMs + response.expires_in * 1000);
  }
  if (
    typeof response.expiration === 'number' &&
    Number.isFinite(response.expiration) &&
    response.expiration > 0
  ) {
    candidates.push(response.expiration * 1000);
  }
  return candidates.length > 0 ? Math.min(...candidates) : undefined;
}

/**
 * Refresh a margin before expiry: 10% of the lifetime but at least a minute (room for a slow VPC call to finish
 * with the token), and never more than half the lifetime, so short-lived tokens are still reused.
 */
export function refreshTime(receivedAtMs: number, expiresAtMs: number): number {
  const lifetimeMs = Math.max(0, expiresAtMs - receivedAtMs);
  const marginMs = Math.min(Math.max(60_000, lifetimeMs / 10), lifetimeMs / 2);
  return expiresAtMs - marginMs;
}

function iamFailure(
  status: number,
  body: string,
  retryAfterMs: number | undefined,
  where: string,
  secrets: readonly string[],
): IbmCloudError {
  const parsed = parseJson<IamErrorResponse>(body);
  const code = typeof parsed?.errorCode === 'string' ? parsed.errorCode : undefined;
  const serverMessage = typeof parsed?.errorMessage === 'string' ? parsed.errorMessage : undefined;
  const detail = redact([code, serverMessage].filter((part) => part !== undefined).join(': '), secrets);
  const suffix = detail === '' ? '' : ` (${detail})`;
  if (status === 400 || status === 401) {
    // IAM answers 400 BXNIM0415E for an unknown key, other BXNIM codes for disabled, locked or expired ones; a 400
    // without an IAM error code is a malformed request, which our fixed request should never be.
    if (status === 401 || code?.startsWith('BXNIM')) {
      return new IbmCloudError(
        'InvalidApiKey',
        `${where} refused the API key: the API key is invalid or was deleted${suffix}; ` +
          'create a new API key and put it in the Secret',
        { status },
      );
    }
  }
  if (status === 403) {
    return new IbmCloudError(
      'Forbidden',
      `${where} refused to issue a token (403)${suffix}; check the account's context-based restrictions and ` +
        'IP allow lists for IAM',
      { status },
    );
  }
  if (status === 429) {
    return new IbmCloudError('RateLimited', `${where} kept answering 429 Too Many Requests${suffix}`, {
      status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  if (status >= 500) {
    return new IbmCloudError('ServerError', `${where} kept answering ${status}${suffix}`, { status });
  }
  return new IbmCloudError('BadResponse', `${where} answered ${status} to the token request${suffix}`, {
    status,
  });
}
