// Session timers at a stateful proxy whose app runs the timers plugin (RFC 4028 §8, NkSIP
// nksip_timers): an INVITE or UPDATE asking for less than the proxy's Min-SE gets 422; one
// that goes on carries the proxy's Min-SE when it is higher, and a Session-Expires no longer
// than the proxy's (inserted when absent). A 2xx from a UAS that does not do timers gets the
// Session-Expires and `Require: timer` when the caller supports them (§8.2), so the caller
// becomes the refresher.
import { parseMinSe, parseSessionExpires, type TimerSettings } from '../core/timers.js';
import type { SipRequest, SipResponse } from '../sip/message.js';

/** What the proxy does with a request: forward it (edited in place) or answer 422. */
export type ProxyTimerStep = { kind: 'forward' } | { kind: 'reject'; minSe: number };

function appliesTo(method: string): boolean {
  return method === 'INVITE' || method === 'UPDATE';
}

/** §8.2 on the copy about to be forwarded: 422 below our Min-SE, else Min-SE and Session-Expires set. */
export function proxyTimerRequest(req: SipRequest, s: TimerSettings): ProxyTimerStep {
  if (!appliesTo(req.method)) return { kind: 'forward' };
  const asked = parseSessionExpires(req);
  const minSe = Math.max(s.minSe, parseMinSe(req) ?? 0);
  if (asked && asked.se < minSe) return { kind: 'reject', minSe };
  if (minSe !== parseMinSe(req)) req.setHeader('min-se', String(minSe));
  const ours = Math.max(s.se, minSe);
  if (!asked) {
    req.setHeader('session-expires', String(ours));
  } else if (asked.se > ours) {
    req.setHeader('session-expires', `${ours}${asked.refresher ? `;refresher=${asked.refresher}` : ''}`);
  }
  return { kind: 'forward' };
}

function supportsTimer(msg: SipRequest | SipResponse): boolean {
  const has = (h: string) => msg.headerValues(h).some((t) => t.trim().toLowerCase() === 'timer');
  return has('supported') || has('require');
}

/**
 * §8.2 for a 2xx going upstream: the UAS said nothing of session timers while the caller
 * supports them, so the caller refreshes: Session-Expires (as forwarded) with `refresher=uac`
 * and `Require: timer` are added. `caller` is the request as received, `sent` as forwarded.
 */
export function proxyTimerResponse(caller: SipRequest, sent: SipRequest, resp: SipResponse): void {
  if (!appliesTo(sent.method) || resp.status < 200 || resp.status >= 300) return;
  if (resp.hasHeader('session-expires')) return;
  const se = parseSessionExpires(sent);
  if (!se || !supportsTimer(caller)) return;
  resp.addHeader('session-expires', `${se.se};refresher=uac`);
  resp.addHeader('require', 'timer');
}
