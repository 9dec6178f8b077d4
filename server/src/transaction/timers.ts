// The timer values of RFC 3261 Table 4 (and Timers L and M of RFC 6026), derived from T1, T2
// and T4. Reliable transports need no retransmission and no time to absorb retransmissions,
// hence the zero values.

export interface TimerConfig {
  /** RTT estimate, ms (RFC 3261 default 500). */
  t1: number;
  /** Longest retransmit interval for non-INVITE requests and INVITE responses, ms (4000). */
  t2: number;
  /** Longest time a message stays in the network, ms (5000). */
  t4: number;
  /** Upper bound on any transaction's life, ms (NkSIP `sip_trans_timeout`, 900 s). */
  transTimeout: number;
}

export const DEFAULT_TIMERS: Readonly<TimerConfig> = { t1: 500, t2: 4000, t4: 5000, transTimeout: 900_000 };

export function timerConfig(partial: Partial<TimerConfig>): TimerConfig {
  const c: TimerConfig = {
    t1: partial.t1 ?? DEFAULT_TIMERS.t1,
    t2: partial.t2 ?? DEFAULT_TIMERS.t2,
    t4: partial.t4 ?? DEFAULT_TIMERS.t4,
    transTimeout: partial.transTimeout ?? DEFAULT_TIMERS.transTimeout,
  };
  for (const [name, v] of Object.entries(c)) {
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`transaction timer ${name} must be > 0 ms`);
  }
  return c;
}

/** A and E start at T1 (G too); only on unreliable transports. */
export const initialRetransmit = (c: TimerConfig): number => c.t1;

/** B, F, H, J (unreliable), L and M: 64*T1. */
export const sixtyFourT1 = (c: TimerConfig): number => 64 * c.t1;

/**
 * D: "> 32 s" for unreliable transports. With a T1 above the default the server's Timer H
 * outlasts 32 s, so the wait is stretched to 64*T1 to keep absorbing its retransmissions.
 */
export const timerD = (c: TimerConfig, reliable: boolean): number =>
  reliable ? 0 : Math.max(32_000, 64 * c.t1);

/** I and K: T4 for unreliable transports, zero for reliable ones. */
export const timerT4 = (c: TimerConfig, reliable: boolean): number => (reliable ? 0 : c.t4);

/** J: 64*T1 for unreliable transports, zero for reliable ones. */
export const timerJ = (c: TimerConfig, reliable: boolean): number => (reliable ? 0 : 64 * c.t1);
