/**
 * Time as a dependency. Backoff, watchdogs, resync, work-queue delays and leader election all wait on this
 * interface, so tests drive them with a ManualClock (test/support/manual-clock.ts) instead of sleeping.
 */

export type TimerHandle = { readonly id: number } | ReturnType<typeof setTimeout>;

export interface Clock {
  /** Milliseconds since the epoch (the wall clock: Lease and Event timestamps are written with it). */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => {
    const timer = setTimeout(callback, Math.max(0, delayMs));
    // A pending backoff or resync timer must never keep a stopping process alive.
    timer.unref?.();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export class AbortedError extends Error {
  constructor(message = 'aborted') {
    super(message);
    this.name = 'AbortError';
  }
}

/** Resolves after `delayMs` on `clock`, or rejects with AbortedError as soon as `signal` aborts. */
export function sleep(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError());
      return;
    }
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(new AbortedError());
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, delayMs);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err instanceof AbortedError);
}

/** metav1.MicroTime (Lease and Event times): RFC 3339 with exactly six fractional digits; the server rejects three. */
export function toMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Jittered exponential backoff with a cap, like client-go's wait.Backoff with Jitter. */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** The delay is multiplied by a random value in [1, 1 + jitter]. */
  jitter: number;
}

export function backoffDelay(
  policy: BackoffPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, attempt));
  return Math.min(policy.maxMs, base * (1 + policy.jitter * random()));
}
