// Session timers (RFC 4028, NkSIP nksip_timers): Session-Expires and Min-SE on INVITE and
// UPDATE, 422 for an interval below our Min-SE (and the caller's automatic retry with the
// Min-SE it names), the refresher role negotiated per transaction, and one timer set per
// dialog: the refresher is reminded at SE/2 (`invite_refresh` with the local SDP, the app
// then refreshes with a re-INVITE or UPDATE) and a session not refreshed in time gets a BYE,
// at SE for the refresher and SE - min(32, SE/3) for the other side (§10).
import { newBranch } from '../sip/ids.js';
import { SipRequest, type SipResponse } from '../sip/message.js';
import type { Clock, TimerHandle } from '../transaction/clock.js';
import { ChurnMap } from '../util/churn-map.js';
import type { Dialog, DialogUpdate } from './dialog/dialog.js';
import type { DialogTable } from './dialog/table.js';
import { type Reply, reply } from './reply.js';

/** Seconds (NkSIP `sip_timers_se`, `sip_timers_min_se`). */
export interface TimerSettings {
  se: number;
  minSe: number;
}

export const DEFAULT_TIMERS: TimerSettings = { se: 1800, minSe: 90 };
/** RFC 4028 §4: no Min-SE below 90 s. */
export const LOWEST_MIN_SE = 90;

export type Refresher = 'uac' | 'uas';

export interface SessionExpires {
  se: number;
  refresher: Refresher | undefined;
}

/** `Session-Expires: delta-seconds [;refresher=uac|uas]` (compact form `x`). */
export function parseSessionExpires(msg: SipRequest | SipResponse): SessionExpires | undefined {
  const v = msg.header('session-expires');
  if (v === undefined) return undefined;
  const m = /^\s*(\d{1,10})\s*(;.*)?$/.exec(v);
  if (!m) return undefined;
  const r = /;\s*refresher\s*=\s*(uac|uas)\b/i.exec(m[2] ?? '');
  return { se: Number(m[1]), refresher: r ? (r[1]?.toLowerCase() as Refresher) : undefined };
}

export function parseMinSe(msg: SipRequest | SipResponse): number | undefined {
  const m = /^\s*(\d{1,10})\s*(;.*)?$/.exec(msg.header('min-se') ?? '');
  return m ? Number(m[1]) : undefined;
}

function supportsTimer(msg: SipRequest | SipResponse): boolean {
  const has = (h: string) => msg.headerValues(h).some((t) => t.trim().toLowerCase() === 'timer');
  return has('supported') || has('require');
}

/** UAS (§8.1): an INVITE or UPDATE asking for less than our Min-SE gets 422 with it. */
export function sessionTooSmall(req: SipRequest, s: TimerSettings): Reply | undefined {
  if (req.method !== 'INVITE' && req.method !== 'UPDATE') return undefined;
  const se = parseSessionExpires(req);
  if (!se) return undefined;
  const min = Math.max(s.minSe, parseMinSe(req) ?? 0);
  return se.se < min ? reply(422, 'Session Interval Too Small', [['Min-SE', String(min)]]) : undefined;
}

/**
 * UAS (§9): what our 2xx to an INVITE or UPDATE says: the interval asked for, and the
 * refresher asked for or, when the caller left it open, the caller if it supports timers.
 * Undefined when the request asked for no session timer.
 */
export function uasSessionExpires(
  req: SipRequest,
): { se: number; refresher: Refresher; require: boolean } | undefined {
  const se = parseSessionExpires(req);
  if (!se) return undefined;
  const supported = supportsTimer(req);
  return { se: se.se, refresher: se.refresher ?? (supported ? 'uac' : 'uas'), require: supported };
}

/** UAC (§7.1): the headers an INVITE or UPDATE carries. */
export function uacTimerHeaders(s: TimerSettings): [string, string][] {
  return [
    ['Session-Expires', String(Math.max(s.se, s.minSe))],
    ['Min-SE', String(s.minSe)],
  ];
}

/**
 * UAC (§7.4): the INVITE again after a 422, asking for the Min-SE the 422 names: a new
 * branch and CSeq, everything else as it was. Undefined when the 422 names no usable Min-SE.
 */
export function retryAfter422(req: SipRequest, resp: SipResponse): SipRequest | undefined {
  const min = parseMinSe(resp);
  const asked = parseSessionExpires(req)?.se ?? 0;
  if (min === undefined || min <= asked) return undefined;
  const out = new SipRequest(req.method, req.uri);
  for (const h of req.headers) {
    if (h.name === 'session-expires' || h.name === 'min-se') continue;
    if (h.name === 'via') {
      out.headers.push({
        name: 'via',
        value: h.value.replace(/;\s*branch=[^;,\s]+/i, `;branch=${newBranch()}`),
      });
    } else if (h.name === 'cseq') {
      out.headers.push({ name: 'cseq', value: `${req.cseq.seq + 1} ${req.method}` });
    } else {
      out.headers.push({ ...h });
    }
  }
  out.headers.push({ name: 'session-expires', value: String(min) }, { name: 'min-se', value: String(min) });
  out.body = req.body;
  out.invalidate();
  return out;
}

interface Armed {
  timers: TimerHandle[];
}

export interface SessionTimersOptions {
  clock: Clock;
  /** The session expired: hang up (a BYE with a Reason), telling `notify` what it does to the dialog. */
  bye: (d: Dialog, notify: (u: DialogUpdate) => void) => void;
  dialogs: DialogTable;
}

/** The session timers of the dialogs, one set per dialog, dropped with the dialog. */
export class SessionTimers {
  private readonly armed = new ChurnMap<Dialog, Armed>();

  constructor(private readonly o: SessionTimersOptions) {
    o.dialogs.onRemoved((d) => this.disarm(d));
  }

  get size(): number {
    return this.armed.size;
  }

  /**
   * A 2xx to an INVITE or UPDATE set the session interval `se` (seconds): restart the timers.
   * `refresher`: we refresh (reminder at SE/2 through `notify`, BYE at SE); else BYE at
   * SE - min(32, SE/3).
   */
  arm(d: Dialog, se: number, refresher: boolean, notify: (u: DialogUpdate) => void): void {
    this.disarm(d);
    if (d.ended || se <= 0) return;
    const a: Armed = { timers: [] };
    const { clock } = this.o;
    const expire = () => {
      if (this.armed.get(d) !== a) return;
      this.disarm(d);
      if (!d.ended) this.o.bye(d, notify);
    };
    if (refresher) {
      a.timers.push(
        clock.setTimer((se * 1000) / 2, () => {
          if (this.armed.get(d) !== a || d.ended) return;
          notify({ type: 'invite_refresh', sdp: d.session.local ?? Buffer.alloc(0) });
        }),
      );
      a.timers.push(clock.setTimer(se * 1000, expire));
    } else {
      a.timers.push(clock.setTimer((se - Math.min(32, se / 3)) * 1000, expire));
    }
    this.armed.set(d, a);
  }

  disarm(d: Dialog): void {
    const a = this.armed.get(d);
    if (!a) return;
    for (const t of a.timers) this.o.clock.clearTimer(t);
    this.armed.delete(d);
  }

  close(): void {
    for (const d of [...this.armed.keys()]) this.disarm(d);
  }
}
