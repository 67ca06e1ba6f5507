/**
 * One error type for everything that can go wrong talking to IBM Cloud, so the controller can turn any failure into
 * a condition reason without parsing messages. Messages say what to fix; they never contain the API key or a token
 * (the callers redact server-provided text, see `redact`).
 */

export type IbmCloudErrorKind =
  /** IAM refused the API key (wrong, deleted, disabled or expired key). */
  | 'InvalidApiKey'
  /** The VPC API refused the IAM token. */
  | 'Unauthorized'
  /** The identity behind the API key lacks an IAM role. */
  | 'Forbidden'
  /** The VPC does not exist in that region (or is invisible to the identity). */
  | 'VpcNotFound'
  /** 429 after every retry. */
  | 'RateLimited'
  /** 5xx after every retry. */
  | 'ServerError'
  /** No answer within the per-request timeout, on every attempt. */
  | 'Timeout'
  /** DNS, TCP or TLS failure on every attempt. */
  | 'Unreachable'
  /** An answer we cannot use: bad JSON, missing fields, a redirect, a foreign `next.href`, an unexpected status. */
  | 'BadResponse'
  /** The caller's settings are unusable (bad region, endpoint not https, ...). */
  | 'InvalidConfig'
  /** The API key's Secret is missing, lacks the key, or holds an empty value. */
  | 'ApiKeySecretUnusable';

export class IbmCloudError extends Error {
  override readonly name = 'IbmCloudError';
  readonly kind: IbmCloudErrorKind;
  /** The HTTP status of the last answer, when there was one. */
  readonly status: number | undefined;
  /** True when trying again later may succeed without anyone changing anything. */
  readonly transient: boolean;
  /** The server's Retry-After, in milliseconds, when it sent one we did not wait for. */
  readonly retryAfterMs: number | undefined;

  constructor(
    kind: IbmCloudErrorKind,
    message: string,
    details: { status?: number; retryAfterMs?: number } = {},
  ) {
    super(message);
    this.kind = kind;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.transient = TRANSIENT_KINDS.has(kind);
  }
}

const TRANSIENT_KINDS: ReadonlySet<IbmCloudErrorKind> = new Set<IbmCloudErrorKind>([
  'RateLimited',
  'ServerError',
  'Timeout',
  'Unreachable',
]);

/**
 * Removes every occurrence of each secret from text that came from elsewhere (a server's error message, a network
 * error's cause), because a misbehaving server may echo what it was sent.
 */
export function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length > 0) result = result.split(secret).join('<redacted>');
  }
  return result;
}
