/**
 * The API server's failures as one typed error. The server answers failures with a `Status` object
 * ({code, reason, message, details.causes}); ApiError keeps those fields so callers branch on `reason`/`status`
 * (404 NotFound, 409 Conflict / AlreadyExists, 410 Expired / Gone, 422 Invalid with field causes) instead of
 * parsing messages.
 */

export interface StatusCause {
  /** e.g. FieldValueInvalid, FieldValueRequired */
  reason?: string;
  message?: string;
  /** The offending field, e.g. `spec.egress[0].to[1].ipBlock.cidr`. */
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** The wire format of metav1.Status. */
export interface Status {
  apiVersion?: string;
  kind?: 'Status';
  status?: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  code?: number;
  details?: StatusDetails;
}

export class ApiError extends Error {
  /** The HTTP status code (for a watch ERROR event, the Status object's code). */
  readonly status: number;
  /** The Status reason (NotFound, Conflict, AlreadyExists, Invalid, Expired, Gone, Forbidden, ...). */
  readonly reason: string;
  readonly details: StatusDetails | undefined;
  /** Request context, for logs: "PUT /apis/.../leases/x". */
  readonly request: string | undefined;

  constructor(status: number, reason: string, message: string, details?: StatusDetails, request?: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
    this.details = details;
    this.request = request;
  }

  /** Field-level causes of a 422 Invalid (empty for other errors). */
  get causes(): StatusCause[] {
    return this.details?.causes ?? [];
  }

  static fromStatus(status: Status, fallbackCode: number, request?: string): ApiError {
    const code = status.code ?? fallbackCode;
    const reason = status.reason || reasonForCode(code);
    return new ApiError(code, reason, status.message || reason, status.details, request);
  }

  /** From a non-2xx response body, which is a Status when the API server answered, and anything when a proxy did. */
  static fromResponse(code: number, body: string, request?: string): ApiError {
    const parsed = parseJson(body);
    if (isStatus(parsed)) return ApiError.fromStatus(parsed, code, request);
    const text = body.trim().slice(0, 500);
    const reason = reasonForCode(code);
    return new ApiError(code, reason, text ? `${reason}: ${text}` : reason, undefined, request);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function isStatus(value: unknown): value is Status {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'Status';
}

function reasonForCode(code: number): string {
  switch (code) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 405:
      return 'MethodNotAllowed';
    case 409:
      return 'Conflict';
    case 410:
      return 'Gone';
    case 415:
      return 'UnsupportedMediaType';
    case 422:
      return 'Invalid';
    case 429:
      return 'TooManyRequests';
    case 500:
      return 'InternalError';
    case 503:
      return 'ServiceUnavailable';
    case 504:
      return 'Timeout';
    default:
      return code >= 500 ? 'InternalError' : 'Unknown';
  }
}

export function isApiError(err: unknown): err is ApiError {
  return err instanceof ApiError;
}

export function isNotFound(err: unknown): boolean {
  return isApiError(err) && err.status === 404;
}

/** A write lost an optimistic-concurrency race (stale resourceVersion): re-read and retry. */
export function isConflict(err: unknown): boolean {
  return isApiError(err) && err.status === 409 && err.reason !== 'AlreadyExists';
}

export function isAlreadyExists(err: unknown): boolean {
  return isApiError(err) && err.status === 409 && err.reason === 'AlreadyExists';
}

/** The resourceVersion (or continue token) is older than etcd keeps: relist. */
export function isGone(err: unknown): boolean {
  return isApiError(err) && (err.status === 410 || err.reason === 'Expired' || err.reason === 'Gone');
}

export function isInvalid(err: unknown): boolean {
  return isApiError(err) && err.status === 422;
}
