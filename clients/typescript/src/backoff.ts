// Reconnect delays: exponential, capped, with jitter so a restarted server is not hit by every
// app at once.

export interface ReconnectOptions {
  /** false: never reconnect (a broken stream stops the app). Default true. */
  enabled?: boolean;
  /** First delay, ms. Default 100. */
  initialDelayMs?: number;
  /** Longest delay, ms. Default 10000. */
  maxDelayMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Share of each delay drawn at random (0: none, 1: anywhere in [0, delay]). Default 0.5. */
  jitter?: number;
  /** Attempts in a row before giving up (the app then stops). Default: unlimited. */
  maxAttempts?: number;
}

export type Backoff = Required<ReconnectOptions>;

export function backoffPolicy(o: ReconnectOptions | boolean | undefined): Backoff {
  const opts = typeof o === 'boolean' ? { enabled: o } : (o ?? {});
  return {
    enabled: opts.enabled ?? true,
    initialDelayMs: opts.initialDelayMs ?? 100,
    maxDelayMs: opts.maxDelayMs ?? 10_000,
    factor: opts.factor ?? 2,
    jitter: Math.min(1, Math.max(0, opts.jitter ?? 0.5)),
    maxAttempts: opts.maxAttempts ?? Number.POSITIVE_INFINITY,
  };
}

/** The delay before attempt `attempt` (1 for the first retry). */
export function backoffDelay(p: Backoff, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(p.maxDelayMs, p.initialDelayMs * p.factor ** Math.max(0, attempt - 1));
  return Math.round(base * (1 - p.jitter * random()));
}
