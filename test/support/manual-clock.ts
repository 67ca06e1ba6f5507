/** Test support: time that moves only when a test says so (the production clock is src/util/clock.ts). */
import type { Clock, TimerHandle } from '../../src/util/clock.js';

interface ManualTimer {
  readonly id: number;
  dueAt: number;
  callback: () => void;
}

/**
 * A clock that moves only when told. `advance` fires due timers in order and lets the promise chains they start
 * settle before moving on, so async loops (backoff, renew) progress as they would in real time.
 */
export class ManualClock implements Clock {
  private current: number;
  private nextId = 1;
  private readonly timers = new Map<number, ManualTimer>();

  constructor(startMs = Date.UTC(2025, 0, 1)) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const timer: ManualTimer = { id: this.nextId++, dueAt: this.current + Math.max(0, delayMs), callback };
    this.timers.set(timer.id, timer);
    return { id: timer.id };
  }

  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === 'object' && handle !== null && 'id' in handle && typeof handle.id === 'number') {
      this.timers.delete(handle.id);
    }
  }

  /** The number of timers not yet fired. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Delay until the next timer fires, or undefined when none is pending. */
  nextTimerIn(): number | undefined {
    let next: number | undefined;
    for (const timer of this.timers.values())
      next = next === undefined ? timer.dueAt : Math.min(next, timer.dueAt);
    return next === undefined ? undefined : next - this.current;
  }

  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await settle();
    for (;;) {
      const due = [...this.timers.values()]
        .filter((timer) => timer.dueAt <= target)
        .sort((a, b) => a.dueAt - b.dueAt || a.id - b.id)[0];
      if (!due) break;
      this.timers.delete(due.id);
      this.current = Math.max(this.current, due.dueAt);
      due.callback();
      await settle();
    }
    this.current = target;
    await settle();
  }
}

/** Lets every already-resolved promise chain run to its next real wait. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
