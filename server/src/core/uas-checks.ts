// The checks of NkSIP's UAS processing order (reference §4, RFC 3261 §8.2) that need no
// dialog state, and the answers NkSIP gives by default to each method when no app decides.
import type { SipRequest } from '../sip/message.js';
import { isSipUri, isTelUri } from '../sip/uri.js';
import { type Reply, reply } from './reply.js';

export interface UasProfile {
  /** Allow header value. */
  allow: string;
  /** Option tags we support, lowercase. */
  supported: string[];
  /** Contact for answers that carry one (OPTIONS), e.g. `<sip:127.0.0.1:5060>`. */
  contact?: string;
}

/** Methods this stack knows; any other gets 501 (RFC 3261 §8.2.1). */
const KNOWN_METHODS = new Set([
  'INVITE',
  'ACK',
  'CANCEL',
  'BYE',
  'OPTIONS',
  'REGISTER',
  'INFO',
  'UPDATE',
  'PRACK',
  'SUBSCRIBE',
  'NOTIFY',
  'REFER',
  'MESSAGE',
  'PUBLISH',
]);

/** Content types an INVITE/UPDATE/PRACK body may have for us to process it. */
const SESSION_TYPES = new Set(['application/sdp', 'multipart/mixed', 'multipart/alternative']);

function mediaType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

/**
 * Checks that stop a request before any method processing: Max-Forwards, URI scheme,
 * Require, and whether we could read a session body. ACK and CANCEL are never rejected here
 * (RFC 3261 §8.2.2.3: Require is not checked on them; an ACK gets no response at all).
 */
export function precheck(req: SipRequest, profile: UasProfile): Reply | undefined {
  if (req.method === 'ACK' || req.method === 'CANCEL') return undefined;
  // an endpoint may answer OPTIONS whatever its Max-Forwards (RFC 3261 §16.3 step 2, NkSIP)
  if (req.maxForwards === 0 && req.method !== 'OPTIONS') return reply(483);
  const ruri = req.ruri;
  if (!isSipUri(ruri) && !isTelUri(ruri)) return reply(416);
  if (!KNOWN_METHODS.has(req.method)) return reply(501, undefined, [['Allow', profile.allow]]);
  const unsupported = req
    .headerValues('require')
    .map((t) => t.trim())
    .filter((t) => t !== '' && !profile.supported.includes(t.toLowerCase()));
  if (unsupported.length > 0) return reply(420, undefined, [['Unsupported', unsupported.join(', ')]]);
  if (req.method === 'INVITE' || req.method === 'UPDATE' || req.method === 'PRACK') {
    const ct = req.contentType;
    if (req.body.length > 0 && (ct === undefined || !SESSION_TYPES.has(mediaType(ct)))) {
      return reply(415, undefined, [['Accept', 'application/sdp']]);
    }
    const accept = req.headerValues('accept');
    if (
      accept.length > 0 &&
      !accept.some((a) => ['application/sdp', 'application/*', '*/*'].includes(mediaType(a)))
    ) {
      return reply(406, undefined, [
        ['Warning', '399 nksip "application/sdp is the only session description we answer"'],
      ]);
    }
  }
  return undefined;
}

/**
 * NkSIP's default answer for a request that passed the checks and that no app handled
 * (reference §4, `nksip_callbacks.erl`). A request with a To tag only gets here once the UAS
 * core matched it to one of our dialogs (the dialog checks answer the others 481), so it is
 * answered as inside that dialog; the methods that live only in a dialog get 481 outside one.
 */
export function defaultReply(req: SipRequest, profile: UasProfile): Reply | undefined {
  const inDialog = req.toTag !== undefined;
  switch (req.method) {
    case 'ACK':
      return undefined;
    case 'OPTIONS': {
      const headers: [string, string][] = [
        ['Allow', profile.allow],
        ['Accept', '*/*'],
        ['Supported', profile.supported.join(', ')],
      ];
      if (profile.contact) headers.unshift(['Contact', profile.contact]);
      return reply(200, undefined, headers);
    }
    case 'REGISTER':
      return reply(405, undefined, [['Allow', profile.allow]]);
    case 'PUBLISH':
      return reply(405, undefined, [['Allow', profile.allow]]);
    case 'BYE':
    case 'INFO':
    case 'PRACK':
    case 'NOTIFY':
      // these live only inside a dialog (or subscription) we know of: sip_bye, sip_info,
      // sip_prack and sip_notify answer 200 there
      return inDialog ? reply(200) : reply(481);
    case 'UPDATE':
      return inDialog ? reply(603) : reply(481);
    case 'SUBSCRIBE': {
      // sip_resubscribe: 200 (a refresh)
      if (inDialog) return reply(200);
      const event = (req.header('event') ?? '').split(';')[0]?.trim().toLowerCase();
      return event === 'refer' ? reply(603) : reply(489);
    }
    default:
      // sip_invite (sip_reinvite calls it), sip_message, sip_refer: 603
      return reply(603);
  }
}
