/** The time source of everything that records or decides by time; tests pass a fixed or stepped one. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock that stands still until moved: for tests. */
export function manualClock(start = Date.UTC(2026, 0, 5, 10, 0, 0)): Clock & { set(ms: number): void; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    set: (ms) => {
      t = ms;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}
