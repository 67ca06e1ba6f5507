import fc from 'fast-check';
import { DurationError, formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['45s', 45_000],
    ['1.5h', 5_400_000],
    ['.5s', 500],
    ['1h0m0s', 3_600_000],
    ['250ms', 250],
    ['1500us', 2], // rounded to the nearest millisecond
    ['2µs', 0],
    ['0', 0],
    ['+5m', 300_000],
    [' 10m ', 600_000],
    ['1m1m', 120_000], // Go adds repeated units too
  ])('%j is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['', 'is empty'],
    ['10', 'has no unit; write e.g. "10m"'],
    ['-5m', 'is negative'],
    ['5 m', 'unknown unit " m"'],
    ['10d', 'unknown unit "d"'],
    ['m', 'is not a duration'],
    ['1.2.3s', 'is not a duration'],
    ['ten minutes', 'is not a duration'],
  ])('rejects %j with a message that says why', (text, why) => {
    expect(() => parseDuration(text, 'spec.x')).toThrow(DurationError);
    expect(() => parseDuration(text, 'spec.x')).toThrow(why);
    expect(() => parseDuration(text, 'spec.x')).toThrow(/^spec\.x /);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [250, '250ms'],
    [1500, '1.5s'],
    [45_000, '45s'],
    [600_000, '10m0s'],
    [5_400_000, '1h30m0s'],
    [90_061_000, '25h1m1s'],
  ])('%d ms prints as %j, like Go', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('prints what parseDuration reads back', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 * 3_600_000 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
      { numRuns: 1000 },
    );
  });
});
