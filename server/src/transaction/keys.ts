// Transaction keys: one string per transaction so that matching a message costs one Map
// lookup. Server keys follow RFC 3261 §17.2.3 (and its RFC 2543 fallback), client keys
// §17.1.3, and the merge key §8.2.2.2.
import { SipSyntaxError } from '../sip/grammar.js';
import { formatVia, type Via, viaBranch } from '../sip/headers.js';
import { MAGIC_COOKIE } from '../sip/ids.js';
import type { SipRequest } from '../sip/message.js';
import { flat } from '../sip/strings.js';

/**
 * Whether a branch is an RFC 3261 one. A branch that is the bare cookie carries no unique
 * part (RFC 4475 badbranch) and must be matched the RFC 2543 way like any cookieless one.
 */
export function hasCookie(branch: string | undefined): branch is string {
  return branch !== undefined && branch.length > MAGIC_COOKIE.length && branch.startsWith(MAGIC_COOKIE);
}

export function topViaOf(req: SipRequest): Via {
  const via = req.topVia;
  if (!via) throw new SipSyntaxError('missing Via');
  return via;
}

/**
 * The key of the server transaction `req` belongs to, for a transaction of `method`: the
 * request's own method, except INVITE for an ACK and for the INVITE a CANCEL targets.
 *
 * RFC 3261 branches: branch + sent-by + method. Otherwise (RFC 2543 peers) the key holds
 * Request-URI, To tag, From tag, Call-ID, CSeq number and method and the whole top Via.
 * `toTag` overrides the request's To tag: an ACK is looked up both with its tag and with
 * none, since the INVITE it acknowledges may have carried none.
 */
export function serverKey(req: SipRequest, method: string, toTag?: string): string {
  const via = topViaOf(req);
  const branch = viaBranch(via);
  if (hasCookie(branch)) return flat(`${branch}\n${via.host.toLowerCase()}\n${via.port ?? ''}\n${method}`);
  // '\r' cannot occur in a branch token, so the two key spaces never collide
  return flat(
    `\r${req.uri}\n${toTag ?? req.toTag ?? ''}\n${req.fromTag ?? ''}\n${req.callId}\n${req.cseq.seq}\n${method}\n${formatVia(via)}`,
  );
}

/** Whether `req` is matched by branch (true) or by the RFC 2543 rules (false). */
export function matchesByBranch(req: SipRequest): boolean {
  return hasCookie(viaBranch(topViaOf(req)));
}

/** §17.1.3: the branch of the top Via plus the CSeq method (tells CANCEL from INVITE). */
export function clientKey(branch: string, method: string): string {
  return `${branch}\n${method}`;
}

/**
 * §8.2.2.2: requests outside a dialog that share From tag, Call-ID and CSeq are copies of
 * one request that reached us by different paths. Undefined when the request cannot be a
 * merged copy (it has a To tag, or no From tag to compare, RFC 2543).
 */
export function mergeKey(req: SipRequest): string | undefined {
  if (req.toTag !== undefined) return undefined;
  const fromTag = req.fromTag;
  if (fromTag === undefined) return undefined;
  const cseq = req.cseq;
  return flat(`${req.callId}\n${fromTag}\n${cseq.seq}\n${cseq.method}`);
}
