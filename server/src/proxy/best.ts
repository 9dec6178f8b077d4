// The response a fork sends upstream when no 2xx or 6xx settled it (RFC 3261 §16.7 step 6,
// NkSIP's best_response): 6xx, then 3xx, then 401/407 with every challenge merged, then
// 415/420/484, then other 4xx, then 5xx, lowest code first within a class and the earliest
// among equals. A 503 goes up as 500, since it speaks of this hop, not of the target.
import type { SipResponse } from '../sip/message.js';

function rank(status: number): number {
  if (status >= 600) return 1;
  if (status >= 300 && status < 400) return 2;
  if (status === 401 || status === 407) return 3;
  if (status === 415 || status === 420 || status === 484) return 4;
  if (status >= 400 && status < 500) return 5;
  return 6;
}

const effective = (status: number): number => (status === 503 ? 500 : status);

/** The best of the final responses (≥ 300) gathered by a fork, or undefined when none. */
export function bestResponse(responses: readonly SipResponse[]): SipResponse | undefined {
  let best: SipResponse | undefined;
  for (const r of responses) {
    if (r.status < 300) continue;
    if (!best) {
      best = r;
      continue;
    }
    const a = rank(r.status);
    const b = rank(best.status);
    if (a < b || (a === b && effective(r.status) < effective(best.status))) best = r;
  }
  if (!best) return undefined;
  const out = best.copy();
  if (out.status === 503) {
    out.status = 500;
    out.reason = 'Server Internal Error';
  }
  if (out.status === 401 || out.status === 407) {
    // §16.7 step 7: every challenge of every 401/407 goes up, unmodified
    for (const r of responses) {
      if (r === best || (r.status !== 401 && r.status !== 407)) continue;
      for (const h of r.headers) {
        if (h.name === 'www-authenticate' || h.name === 'proxy-authenticate') out.headers.push({ ...h });
      }
    }
  }
  return out;
}
