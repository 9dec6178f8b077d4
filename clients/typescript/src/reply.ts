// SIP replies: a bare code with options, or one of NkSIP's named replies (proto Reply).
import { type HeadersInput, toHeaderOps } from './headers.js';
import { NamedReply, type Reply as PbReply } from './pb.js';

/** A body: bytes, or text sent as UTF-8. */
export type Body = string | Uint8Array;

/** Everything a reply may carry besides its code or name. */
export interface ReplyOptions {
  /** Reason phrase; the standard one when absent. */
  reason?: string;
  headers?: HeadersInput;
  body?: Body;
  /** Content-Type of `body`; the server uses `application/sdp` when absent and the body is SDP. */
  contentType?: string;
  /** Contact URIs: the targets of a redirect, or a Contact for other replies. */
  contacts?: readonly string[];
  /** Realm of authenticate / proxyAuthenticate (default: the From domain). */
  realm?: string;
  /** Header values of the named replies that carry one. */
  allow?: string;
  accept?: string;
  unsupported?: string;
  require?: string;
  warning?: string;
  /** Min-SE (422) or Min-Expires (423). */
  minValue?: number;
}

/** NkSIP's named replies (proto NamedReply). Each fixes the code and adds the headers it implies. */
export const NAMED_REPLIES = {
  ringing: NamedReply.NAMED_REPLY_RINGING,
  sessionProgress: NamedReply.NAMED_REPLY_SESSION_PROGRESS,
  relRinging: NamedReply.NAMED_REPLY_REL_RINGING,
  relSessionProgress: NamedReply.NAMED_REPLY_REL_SESSION_PROGRESS,
  ok: NamedReply.NAMED_REPLY_OK,
  answer: NamedReply.NAMED_REPLY_ANSWER,
  accepted: NamedReply.NAMED_REPLY_ACCEPTED,
  redirect: NamedReply.NAMED_REPLY_REDIRECT,
  redirectPermanent: NamedReply.NAMED_REPLY_REDIRECT_PERMANENT,
  redirectTemporary: NamedReply.NAMED_REPLY_REDIRECT_TEMPORARY,
  invalidRequest: NamedReply.NAMED_REPLY_INVALID_REQUEST,
  authenticate: NamedReply.NAMED_REPLY_AUTHENTICATE,
  forbidden: NamedReply.NAMED_REPLY_FORBIDDEN,
  notFound: NamedReply.NAMED_REPLY_NOT_FOUND,
  methodNotAllowed: NamedReply.NAMED_REPLY_METHOD_NOT_ALLOWED,
  proxyAuthenticate: NamedReply.NAMED_REPLY_PROXY_AUTHENTICATE,
  timeout: NamedReply.NAMED_REPLY_TIMEOUT,
  conditionalRequestFailed: NamedReply.NAMED_REPLY_CONDITIONAL_REQUEST_FAILED,
  requestTooLarge: NamedReply.NAMED_REPLY_REQUEST_TOO_LARGE,
  unsupportedMediaType: NamedReply.NAMED_REPLY_UNSUPPORTED_MEDIA_TYPE,
  unsupportedUriScheme: NamedReply.NAMED_REPLY_UNSUPPORTED_URI_SCHEME,
  badExtension: NamedReply.NAMED_REPLY_BAD_EXTENSION,
  extensionRequired: NamedReply.NAMED_REPLY_EXTENSION_REQUIRED,
  sessionTooSmall: NamedReply.NAMED_REPLY_SESSION_TOO_SMALL,
  intervalTooBrief: NamedReply.NAMED_REPLY_INTERVAL_TOO_BRIEF,
  flowFailed: NamedReply.NAMED_REPLY_FLOW_FAILED,
  firstHopLacksOutbound: NamedReply.NAMED_REPLY_FIRST_HOP_LACKS_OUTBOUND,
  temporarilyUnavailable: NamedReply.NAMED_REPLY_TEMPORARILY_UNAVAILABLE,
  noTransaction: NamedReply.NAMED_REPLY_NO_TRANSACTION,
  unknownDialog: NamedReply.NAMED_REPLY_UNKNOWN_DIALOG,
  loopDetected: NamedReply.NAMED_REPLY_LOOP_DETECTED,
  tooManyHops: NamedReply.NAMED_REPLY_TOO_MANY_HOPS,
  ambiguous: NamedReply.NAMED_REPLY_AMBIGUOUS,
  busy: NamedReply.NAMED_REPLY_BUSY,
  requestTerminated: NamedReply.NAMED_REPLY_REQUEST_TERMINATED,
  notAcceptable: NamedReply.NAMED_REPLY_NOT_ACCEPTABLE,
  badEvent: NamedReply.NAMED_REPLY_BAD_EVENT,
  requestPending: NamedReply.NAMED_REPLY_REQUEST_PENDING,
  internalError: NamedReply.NAMED_REPLY_INTERNAL_ERROR,
  serviceUnavailable: NamedReply.NAMED_REPLY_SERVICE_UNAVAILABLE,
  busyEverywhere: NamedReply.NAMED_REPLY_BUSY_EVERYWHERE,
  decline: NamedReply.NAMED_REPLY_DECLINE,
} as const satisfies Record<string, NamedReply>;

export type NamedReplyName = keyof typeof NAMED_REPLIES;

/**
 * A SIP reply: `{ code: 486 }` (any code 100–699, no header generated for you) or
 * `{ named: 'busy' }` (NkSIP's named reply), with options. The helpers below build them.
 */
export type Reply =
  | (ReplyOptions & { code: number; named?: never })
  | (ReplyOptions & { named: NamedReplyName; code?: never });

/** Converts a Reply to the proto message. Throws on a reply that gives neither or both. */
export function toProtoReply(r: Reply): PbReply {
  const named = r.named === undefined ? NamedReply.NAMED_REPLY_UNSPECIFIED : NAMED_REPLIES[r.named];
  if (r.named !== undefined && named === undefined) throw new TypeError(`unknown named reply '${r.named}'`);
  const code = r.code ?? 0;
  if ((code === 0) === (r.named === undefined)) throw new TypeError('a reply needs either a code or a name');
  if (code !== 0 && (!Number.isInteger(code) || code < 100 || code > 699)) {
    throw new TypeError(`invalid reply code ${code}`);
  }
  return {
    code,
    named,
    reason: r.reason ?? '',
    headers: toHeaderOps(r.headers),
    body: toBuffer(r.body),
    contentType: r.contentType ?? '',
    contacts: [...(r.contacts ?? [])],
    realm: r.realm ?? '',
    allow: r.allow ?? '',
    accept: r.accept ?? '',
    unsupported: r.unsupported ?? '',
    require: r.require ?? '',
    warning: r.warning ?? '',
    minValue: r.minValue ?? 0,
  };
}

export function toBuffer(body: Body | undefined): Buffer {
  if (body === undefined) return Buffer.alloc(0);
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
}

const named = (name: NamedReplyName, opts?: ReplyOptions): Reply => ({ ...opts, named: name });

/** Any status code, e.g. `status(480, { reason: 'Not Here' })`. No header is generated for you. */
export const status = (code: number, opts?: ReplyOptions): Reply => ({ ...opts, code });

/** 180. */
export const ringing = (opts?: ReplyOptions) => named('ringing', opts);
/** 183. */
export const sessionProgress = (opts?: ReplyOptions) => named('sessionProgress', opts);
/** 180 sent reliably (100rel), optionally with a body (SDP). */
export const relRinging = (body?: Body, opts?: ReplyOptions) => named('relRinging', { ...opts, body });
/** 183 sent reliably (100rel), optionally with a body (SDP). */
export const relSessionProgress = (body?: Body, opts?: ReplyOptions) =>
  named('relSessionProgress', { ...opts, body });
/** 200. */
export const ok = (opts?: ReplyOptions) => named('ok', opts);
/** 200 with a body (an SDP answer unless `contentType` says otherwise). */
export const answer = (body: Body, opts?: ReplyOptions) => named('answer', { ...opts, body });
/** 202. */
export const accepted = (opts?: ReplyOptions) => named('accepted', opts);
/** 300 with the contacts as Contact headers. */
export const redirect = (contacts: readonly string[], opts?: ReplyOptions) =>
  named('redirect', { ...opts, contacts });
/** 301. */
export const redirectPermanent = (contacts: readonly string[], opts?: ReplyOptions) =>
  named('redirectPermanent', { ...opts, contacts });
/** 302. */
export const redirectTemporary = (contacts: readonly string[], opts?: ReplyOptions) =>
  named('redirectTemporary', { ...opts, contacts });
/** 400. */
export const invalidRequest = (reason?: string, opts?: ReplyOptions) =>
  named('invalidRequest', { ...opts, reason });
/** 401 with WWW-Authenticate for `realm` (default: the From domain). */
export const authenticate = (realm?: string, opts?: ReplyOptions) =>
  named('authenticate', { ...opts, realm });
/** 403. */
export const forbidden = (reason?: string, opts?: ReplyOptions) => named('forbidden', { ...opts, reason });
/** 404. */
export const notFound = (reason?: string, opts?: ReplyOptions) => named('notFound', { ...opts, reason });
/** 405 with Allow (default: the app's Allow). */
export const methodNotAllowed = (allow?: string, opts?: ReplyOptions) =>
  named('methodNotAllowed', { ...opts, allow });
/** 407 with Proxy-Authenticate for `realm`. */
export const proxyAuthenticate = (realm?: string, opts?: ReplyOptions) =>
  named('proxyAuthenticate', { ...opts, realm });
/** 408. */
export const timeout = (reason?: string, opts?: ReplyOptions) => named('timeout', { ...opts, reason });
/** 412. */
export const conditionalRequestFailed = (opts?: ReplyOptions) => named('conditionalRequestFailed', opts);
/** 413. */
export const requestTooLarge = (opts?: ReplyOptions) => named('requestTooLarge', opts);
/** 415 with Accept. */
export const unsupportedMediaType = (accept?: string, opts?: ReplyOptions) =>
  named('unsupportedMediaType', { ...opts, accept });
/** 416. */
export const unsupportedUriScheme = (opts?: ReplyOptions) => named('unsupportedUriScheme', opts);
/** 420 with Unsupported. */
export const badExtension = (unsupported: string, opts?: ReplyOptions) =>
  named('badExtension', { ...opts, unsupported });
/** 421 with Require. */
export const extensionRequired = (require: string, opts?: ReplyOptions) =>
  named('extensionRequired', { ...opts, require });
/** 422 with Min-SE. */
export const sessionTooSmall = (minSe: number, opts?: ReplyOptions) =>
  named('sessionTooSmall', { ...opts, minValue: minSe });
/** 423 with Min-Expires. */
export const intervalTooBrief = (minExpires: number, opts?: ReplyOptions) =>
  named('intervalTooBrief', { ...opts, minValue: minExpires });
/** 430. */
export const flowFailed = (opts?: ReplyOptions) => named('flowFailed', opts);
/** 439. */
export const firstHopLacksOutbound = (opts?: ReplyOptions) => named('firstHopLacksOutbound', opts);
/** 480. */
export const temporarilyUnavailable = (opts?: ReplyOptions) => named('temporarilyUnavailable', opts);
/** 481. */
export const noTransaction = (opts?: ReplyOptions) => named('noTransaction', opts);
/** 481 (NkSIP's unknown_dialog). */
export const unknownDialog = (opts?: ReplyOptions) => named('unknownDialog', opts);
/** 482. */
export const loopDetected = (opts?: ReplyOptions) => named('loopDetected', opts);
/** 483. */
export const tooManyHops = (opts?: ReplyOptions) => named('tooManyHops', opts);
/** 485. */
export const ambiguous = (opts?: ReplyOptions) => named('ambiguous', opts);
/** 486. */
export const busy = (opts?: ReplyOptions) => named('busy', opts);
/** 487. */
export const requestTerminated = (opts?: ReplyOptions) => named('requestTerminated', opts);
/** 488 with Warning. */
export const notAcceptable = (warning?: string, opts?: ReplyOptions) =>
  named('notAcceptable', { ...opts, warning });
/** 489. */
export const badEvent = (opts?: ReplyOptions) => named('badEvent', opts);
/** 491. */
export const requestPending = (opts?: ReplyOptions) => named('requestPending', opts);
/** 500. */
export const internalError = (reason?: string, opts?: ReplyOptions) =>
  named('internalError', { ...opts, reason });
/** 503. */
export const serviceUnavailable = (opts?: ReplyOptions) => named('serviceUnavailable', opts);
/** 600. */
export const busyEverywhere = (opts?: ReplyOptions) => named('busyEverywhere', opts);
/** 603. */
export const decline = (opts?: ReplyOptions) => named('decline', opts);
