/**
 * Go-style durations ("10m", "1h30m", "1.5s"), the form Kubernetes users know from other operators' specs.
 * Parsed to whole milliseconds.
 */

const UNIT_MS: Readonly<Record<string, number>> = Object.freeze({
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 MICRO SIGN, as Go accepts
  μs: 1e-3, // U+03BC GREEK SMALL LETTER MU, as Go accepts
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
});

const UNIT_NAMES = 'h, m, s, ms, us, ns';

export class DurationError extends Error {
  override readonly name = 'DurationError';
}

/**
 * Parses a non-negative Go duration into milliseconds (rounded to the nearest millisecond). Go's grammar: a
 * sequence of decimal numbers, each with an optional fraction and a required unit; "0" alone needs no unit.
 * `field` names the setting in error messages.
 */
export function parseDuration(text: string, field = 'duration'): number {
  if (typeof text !== 'string')
    throw new DurationError(`${field} must be a string like "10m" (got ${typeof text})`);
  const input = text.trim();
  if (input === '') throw new DurationError(`${field} is empty; write a duration like "10m" or "1h30m"`);
  if (input.startsWith('-'))
    throw new DurationError(`${field} "${text}" is negative; durations here must be positive`);
  const body = input.startsWith('+') ? input.slice(1) : input;
  if (body === '0') return 0;
  if (/^\d+(\.\d*)?$/.test(body)) {
    throw new DurationError(
      `${field} "${text}" has no unit; write e.g. "${body}m" or "${body}s" (units: ${UNIT_NAMES})`,
    );
  }
  const part = /(\d+\.?\d*|\.\d+)([^\d.]+)/y;
  let totalMs = 0;
  let position = 0;
  while (position < body.length) {
    part.lastIndex = position;
    const match = part.exec(body);
    if (!match) {
      throw new DurationError(
        `${field} "${text}" is not a duration; write numbers with units, like "10m", "1h30m" or "45s" (units: ${UNIT_NAMES})`,
      );
    }
    const [, amount = '', unit = ''] = match;
    const unitMs = UNIT_MS[unit];
    if (unitMs === undefined) {
      throw new DurationError(`${field} "${text}" has an unknown unit "${unit}"; use one of ${UNIT_NAMES}`);
    }
    totalMs += Number(amount) * unitMs;
    position = part.lastIndex;
  }
  if (!Number.isFinite(totalMs) || totalMs > Number.MAX_SAFE_INTEGER) {
    throw new DurationError(`${field} "${text}" is too large`);
  }
  return Math.round(totalMs);
}

/** Formats milliseconds the way Go prints a duration: "10m0s", "1h30m0s", "1.5s", "250ms", "0s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot format a duration of ${ms} ms`);
  const whole = Math.round(ms);
  if (whole === 0) return '0s';
  if (whole < 1000) return `${whole}ms`;
  const hours = Math.floor(whole / 3_600_000);
  const minutes = Math.floor((whole % 3_600_000) / 60_000);
  const secondsMs = whole % 60_000;
  const seconds = String(secondsMs / 1000);
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}
