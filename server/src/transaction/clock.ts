// Time for the transaction layer: real timers in the server, a fake one in tests so every
// timer of RFC 3261 §17 can be fired without waiting.

export type TimerHandle = { readonly id: number };

export interface Clock {
  now(): number;
  setTimer(ms: number, fn: () => void): TimerHandle;
  clearTimer(h: TimerHandle): void;
}
