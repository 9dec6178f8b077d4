// SIP ⇄ protobuf for the SipApp contract (proto/nksip/v1): requests and responses as apps see
// them (parsed essentials, every header in order, body, transport), and the apps' answers
// (replies with NkSIP's named replies, proxy decisions, header operations) in the core's
// own terms. Header text inside the server is latin1 "binary"; protobuf strings are UTF-8,
// so every text crossing here goes through `toText` / `fromText`.
import { randomBytes } from 'node:crypto';
import type { HeaderOp as CoreHeaderOp, ProxyOptions as CoreProxyOptions, UriSet } from '../core/decision.js';
import type { Reply as CoreReply } from '../core/reply.js';
import {
  HeaderOp_Kind,
  NamedReply,
  type HeaderOp as PbHeaderOp,
  type Proxy as PbProxy,
  type Reply as PbReply,
} from '../gen/nksip/v1/decisions.js';
import type {
  NameAddr as PbNameAddr,
  Param as PbParam,
  Request as PbRequest,
  Response as PbResponse,
  TransportInfo as PbTransportInfo,
  Uri as PbUri,
  Via as PbVia,
} from '../gen/nksip/v1/sip.js';
import type { Param } from '../sip/grammar.js';
import { type NameAddr, parseNameAddr, parseVia, type Via } from '../sip/headers.js';
import { fromText, type SipRequest, type SipResponse, toText } from '../sip/message.js';
import { isSipUri, isTelUri, parseUri, type Uri } from '../sip/uri.js';
import type { Source } from '../transport/types.js';

/** An answer from an app that does not fit: the request gets 500 "Invalid Service Reply". */
export class InvalidAnswer extends Error {
  override name = 'InvalidAnswer';
}

export const INVALID_SERVICE_REPLY: CoreReply = { status: 500, reason: 'Invalid Service Reply' };

// ---------------------------------------------------------------------------------------
// SIP → protobuf

function paramsToPb(params: readonly Param[]): PbParam[] {
  return params.map(([name, value]) => ({
    name: toText(name),
    value: value === null ? '' : toText(value),
    flag: value === null,
  }));
}

export function uriToPb(raw: string, parsed?: Uri): PbUri {
  const out: PbUri = { raw: toText(raw), scheme: '', user: '', host: '', port: 0, params: [], headers: [] };
  let u = parsed;
  if (u === undefined) {
    try {
      u = parseUri(raw);
    } catch {
      const colon = raw.indexOf(':');
      if (colon > 0) out.scheme = raw.slice(0, colon).toLowerCase();
      return out;
    }
  }
  out.scheme = u.scheme;
  if (isSipUri(u)) {
    out.user = toText(u.user ?? '');
    out.host = u.host;
    out.port = u.port ?? 0;
    out.params = paramsToPb(u.params);
    out.headers = paramsToPb(u.headers);
  } else if (isTelUri(u)) {
    out.user = u.number;
    out.params = paramsToPb(u.params);
  }
  return out;
}

/** The raw URI text of a parsed name-addr value: between the angle brackets, or the addr-spec. */
export function rawUriOf(value: string): string {
  const lt = value.indexOf('<');
  if (lt >= 0) {
    const gt = value.indexOf('>', lt);
    if (gt > lt) return value.slice(lt + 1, gt);
  }
  const semi = value.indexOf(';');
  return (semi >= 0 ? value.slice(0, semi) : value).trim();
}

export function nameAddrToPb(value: string, parsed?: NameAddr): PbNameAddr {
  let na = parsed;
  if (na === undefined) {
    try {
      na = parseNameAddr(value);
    } catch {
      return { raw: toText(value), displayName: '', uri: uriToPb(rawUriOf(value)), params: [] };
    }
  }
  return {
    raw: toText(value),
    displayName: toText(na.displayName ?? ''),
    uri: uriToPb(rawUriOf(value), na.uri),
    params: paramsToPb(na.params),
  };
}

/** Parsed views the message already holds (validation made them), or undefined when bad. */
export function cachedOr<T>(view: () => T): T | undefined {
  try {
    return view();
  } catch {
    return undefined;
  }
}

function viasToPb(msg: SipRequest | SipResponse): PbVia[] {
  const toPb = (via: Via): PbVia => ({
    transport: via.transport,
    host: via.host,
    port: via.port ?? 0,
    params: paramsToPb(via.params),
  });
  const all = cachedOr(() => msg.vias);
  if (all) return all.map(toPb);
  // some Via is malformed: pass the good ones; the bad one reaches the app only in `headers`
  const out: PbVia[] = [];
  for (const v of msg.headerValues('via')) {
    const via = cachedOr(() => parseVia(v));
    if (via) out.push(toPb(via));
  }
  return out;
}

function contactsToPb(msg: SipRequest | SipResponse): { contacts: PbNameAddr[]; star: boolean } {
  const values = msg.headerValues('contact');
  const star = values.some((v) => v.trim() === '*');
  const texts = values.filter((v) => v.trim() !== '*');
  // the parsed Contacts follow the same order as their texts
  const parsed = cachedOr(() => msg.contacts);
  return { contacts: texts.map((v, i) => nameAddrToPb(v, parsed?.[i])), star };
}

function cseqOf(msg: SipRequest | SipResponse): { seq: number; method: string } {
  try {
    return msg.cseq;
  } catch {
    return { seq: 0, method: '' };
  }
}

function firstAddr(msg: SipRequest | SipResponse, name: 'from' | 'to'): PbNameAddr | undefined {
  const v = msg.header(name);
  return v === undefined
    ? undefined
    : nameAddrToPb(
        v,
        cachedOr(() => msg[name]),
      );
}

export function transportToPb(source: Source): PbTransportInfo {
  return {
    transport: source.transport,
    localIp: source.localAddress,
    localPort: source.localPort,
    remoteIp: source.address,
    remotePort: source.port,
  };
}

/**
 * A request as proto objects: the reference `writeRequest` (wire-request.ts) is tested
 * against byte for byte; the server itself sends requests through that writer.
 */
export function requestToPb(req: SipRequest, source?: Source): PbRequest {
  const cseq = cseqOf(req);
  const { contacts, star } = contactsToPb(req);
  let maxForwards = -1;
  try {
    maxForwards = req.maxForwards ?? -1;
  } catch {
    // malformed: shown in headers only
  }
  const out: PbRequest = {
    method: req.method,
    ruri: uriToPb(
      req.uri,
      cachedOr(() => req.ruri),
    ),
    from: firstAddr(req, 'from'),
    to: firstAddr(req, 'to'),
    callId: toText(req.header('call-id') ?? ''),
    cseq: cseq.seq,
    cseqMethod: cseq.method,
    vias: viasToPb(req),
    contacts,
    contactStar: star,
    routes: req.headerValues('route').map((v) => nameAddrToPb(v)),
    maxForwards,
    headers: req.headers.map((h) => ({ name: h.name, value: toText(h.value) })),
    body: req.body,
    contentType: toText(req.contentType ?? ''),
    transport: source ? transportToPb(source) : undefined,
  };
  return out;
}

export function responseToPb(resp: SipResponse, source?: Source): PbResponse {
  const cseq = cseqOf(resp);
  return {
    code: resp.status,
    reason: toText(resp.reason),
    from: firstAddr(resp, 'from'),
    to: firstAddr(resp, 'to'),
    callId: toText(resp.header('call-id') ?? ''),
    cseq: cseq.seq,
    cseqMethod: cseq.method,
    vias: viasToPb(resp),
    contacts: contactsToPb(resp).contacts,
    headers: resp.headers.map((h) => ({ name: h.name, value: toText(h.value) })),
    body: resp.body,
    contentType: toText(resp.contentType ?? ''),
    transport: source ? transportToPb(source) : undefined,
  };
}

// ---------------------------------------------------------------------------------------
// protobuf → core

const HEADER_NAME = /^[A-Za-z0-9!%*_+`'~.-]+$/;

const HEADER_OP_KINDS: Record<number, CoreHeaderOp['op']> = {
  [HeaderOp_Kind.KIND_ADD]: 'add',
  [HeaderOp_Kind.KIND_REPLACE]: 'replace',
  [HeaderOp_Kind.KIND_REMOVE]: 'remove',
  [HeaderOp_Kind.KIND_INSERT]: 'insert',
};

export function headerOpFromPb(op: PbHeaderOp): CoreHeaderOp {
  const kind = HEADER_OP_KINDS[op.kind];
  if (kind === undefined) throw new InvalidAnswer(`header operation on "${op.name}" has no kind`);
  if (!HEADER_NAME.test(op.name)) throw new InvalidAnswer(`bad header name "${op.name}"`);
  if (op.value.includes('\r') || op.value.includes('\n'))
    throw new InvalidAnswer(`header ${op.name}: line breaks are not allowed`);
  return { op: kind, name: op.name, value: fromText(op.value) };
}

/** Applies header operations to a list of (name, value) pairs; names compared case-blind. */
export function applyHeaderOps(
  headers: [string, string][],
  ops: readonly CoreHeaderOp[],
): [string, string][] {
  let out = headers;
  for (const op of ops) {
    const same = (n: string) => n.toLowerCase() === op.name.toLowerCase();
    switch (op.op) {
      case 'add':
        out.push([op.name, op.value]);
        break;
      case 'insert':
        out.unshift([op.name, op.value]);
        break;
      case 'remove':
        out = out.filter(([n]) => !same(n));
        break;
      case 'replace':
        out = out.filter(([n]) => !same(n));
        if (op.value !== '') out.push([op.name, op.value]);
        break;
    }
  }
  return out;
}

/** What a named reply needs from its context to build its headers. */
export interface ReplyContext {
  /** The request being answered. */
  req: SipRequest;
  /** The app's (or server's) Allow header value. */
  allow: string;
  /** Supported option tags. */
  supported: string[];
  /** Our Contact for this request's listener, when known. */
  contact?: string;
}

type Extra = (r: PbReply, ctx: ReplyContext) => [string, string][];

interface NamedSpec {
  code: number;
  extra?: Extra;
  reliable?: boolean;
}

const contactsOf: Extra = (r) => r.contacts.map((c) => ['Contact', contactText(c)]);

function needField(value: string, field: string, name: string): string {
  if (value === '') throw new InvalidAnswer(`named reply ${name} needs "${field}"`);
  return fromText(value);
}

/**
 * A challenge NkSIP style. The nonce is random and not yet remembered: checking answers to
 * it comes with digest authentication (its own issue).
 */
function challenge(header: string): Extra {
  return (r, ctx) => {
    let realm = r.realm;
    if (realm === '') {
      try {
        const from = ctx.req.from.uri;
        realm = isSipUri(from) ? from.host : 'nksip';
      } catch {
        realm = 'nksip';
      }
    }
    const nonce = randomBytes(12).toString('hex');
    return [[header, `Digest realm="${fromText(realm)}", nonce="${nonce}", algorithm=MD5, qop="auth"`]];
  };
}

/** NkSIP's named replies (reference §4 "Reply values"): code and the headers each adds. */
export const NAMED_REPLIES: Record<number, NamedSpec> = {
  [NamedReply.NAMED_REPLY_RINGING]: { code: 180 },
  [NamedReply.NAMED_REPLY_SESSION_PROGRESS]: { code: 183 },
  // sent reliably when the caller supports 100rel (core/prack.ts)
  [NamedReply.NAMED_REPLY_REL_RINGING]: { code: 180, reliable: true },
  [NamedReply.NAMED_REPLY_REL_SESSION_PROGRESS]: { code: 183, reliable: true },
  [NamedReply.NAMED_REPLY_OK]: { code: 200 },
  [NamedReply.NAMED_REPLY_ANSWER]: { code: 200 },
  [NamedReply.NAMED_REPLY_ACCEPTED]: { code: 202 },
  [NamedReply.NAMED_REPLY_REDIRECT]: { code: 300, extra: contactsOf },
  [NamedReply.NAMED_REPLY_REDIRECT_PERMANENT]: { code: 301, extra: contactsOf },
  [NamedReply.NAMED_REPLY_REDIRECT_TEMPORARY]: { code: 302, extra: contactsOf },
  [NamedReply.NAMED_REPLY_INVALID_REQUEST]: { code: 400 },
  [NamedReply.NAMED_REPLY_AUTHENTICATE]: { code: 401, extra: challenge('WWW-Authenticate') },
  [NamedReply.NAMED_REPLY_FORBIDDEN]: { code: 403 },
  [NamedReply.NAMED_REPLY_NOT_FOUND]: { code: 404 },
  [NamedReply.NAMED_REPLY_METHOD_NOT_ALLOWED]: {
    code: 405,
    extra: (r, ctx) => [['Allow', r.allow !== '' ? fromText(r.allow) : ctx.allow]],
  },
  [NamedReply.NAMED_REPLY_PROXY_AUTHENTICATE]: { code: 407, extra: challenge('Proxy-Authenticate') },
  [NamedReply.NAMED_REPLY_TIMEOUT]: { code: 408 },
  [NamedReply.NAMED_REPLY_CONDITIONAL_REQUEST_FAILED]: { code: 412 },
  [NamedReply.NAMED_REPLY_REQUEST_TOO_LARGE]: { code: 413 },
  [NamedReply.NAMED_REPLY_UNSUPPORTED_MEDIA_TYPE]: {
    code: 415,
    extra: (r) => [['Accept', needField(r.accept, 'accept', 'unsupported_media_type')]],
  },
  [NamedReply.NAMED_REPLY_UNSUPPORTED_URI_SCHEME]: { code: 416 },
  [NamedReply.NAMED_REPLY_BAD_EXTENSION]: {
    code: 420,
    extra: (r) => [['Unsupported', needField(r.unsupported, 'unsupported', 'bad_extension')]],
  },
  [NamedReply.NAMED_REPLY_EXTENSION_REQUIRED]: {
    code: 421,
    extra: (r) => [['Require', needField(r.require, 'require', 'extension_required')]],
  },
  [NamedReply.NAMED_REPLY_SESSION_TOO_SMALL]: {
    code: 422,
    extra: (r) => [['Min-SE', String(needMin(r, 'session_too_small'))]],
  },
  [NamedReply.NAMED_REPLY_INTERVAL_TOO_BRIEF]: {
    code: 423,
    extra: (r) => [['Min-Expires', String(needMin(r, 'interval_too_brief'))]],
  },
  [NamedReply.NAMED_REPLY_FLOW_FAILED]: { code: 430 },
  [NamedReply.NAMED_REPLY_FIRST_HOP_LACKS_OUTBOUND]: { code: 439 },
  [NamedReply.NAMED_REPLY_TEMPORARILY_UNAVAILABLE]: { code: 480 },
  [NamedReply.NAMED_REPLY_NO_TRANSACTION]: { code: 481 },
  [NamedReply.NAMED_REPLY_UNKNOWN_DIALOG]: { code: 481 },
  [NamedReply.NAMED_REPLY_LOOP_DETECTED]: { code: 482 },
  [NamedReply.NAMED_REPLY_TOO_MANY_HOPS]: { code: 483 },
  [NamedReply.NAMED_REPLY_AMBIGUOUS]: { code: 485 },
  [NamedReply.NAMED_REPLY_BUSY]: { code: 486 },
  [NamedReply.NAMED_REPLY_REQUEST_TERMINATED]: { code: 487 },
  [NamedReply.NAMED_REPLY_NOT_ACCEPTABLE]: {
    code: 488,
    extra: (r) => (r.warning !== '' ? [['Warning', fromText(r.warning)]] : []),
  },
  [NamedReply.NAMED_REPLY_BAD_EVENT]: { code: 489 },
  [NamedReply.NAMED_REPLY_REQUEST_PENDING]: { code: 491 },
  [NamedReply.NAMED_REPLY_INTERNAL_ERROR]: { code: 500 },
  [NamedReply.NAMED_REPLY_SERVICE_UNAVAILABLE]: { code: 503 },
  [NamedReply.NAMED_REPLY_BUSY_EVERYWHERE]: { code: 600 },
  [NamedReply.NAMED_REPLY_DECLINE]: { code: 603 },
};

function needMin(r: PbReply, name: string): number {
  if (r.minValue === 0) throw new InvalidAnswer(`named reply ${name} needs "min_value"`);
  return r.minValue;
}

function contactText(c: string): string {
  const t = fromText(c.trim());
  if (t === '') throw new InvalidAnswer('empty contact');
  if (/[\r\n]/.test(t)) throw new InvalidAnswer('contact with a line break');
  return t.includes('<') ? t : `<${t}>`;
}

const ALLOW_SUPPORTED = new Set(['INVITE', 'UPDATE', 'SUBSCRIBE', 'REFER']);
const EVENT_ECHO = new Set(['SUBSCRIBE', 'NOTIFY', 'PUBLISH']);

/**
 * NkSIP's automatic response processing for named replies (reference §4; skipped for a bare
 * code). Left for the dialogs issue: Expires on a SUBSCRIBE 2xx, reliable provisionals.
 */
function automaticHeaders(code: number, headers: [string, string][], ctx: ReplyContext): [string, string][] {
  const req = ctx.req;
  const has = (n: string) => headers.some(([h]) => h.toLowerCase() === n);
  const out: [string, string][] = [];
  const ts = req.header('timestamp');
  if (ts !== undefined && !has('timestamp')) out.push(['Timestamp', ts]);
  if (code > 100 && ALLOW_SUPPORTED.has(req.method)) {
    if (!has('allow')) out.push(['Allow', ctx.allow]);
    if (!has('supported') && ctx.supported.length > 0) out.push(['Supported', ctx.supported.join(', ')]);
  }
  if (code > 100 && code < 300) {
    // Record-Route is copied by the UAS core into every dialog-creating response, ours or not
    if (ALLOW_SUPPORTED.has(req.method) && !has('contact') && ctx.contact !== undefined) {
      out.push(['Contact', ctx.contact]);
    }
    if (req.method === 'REGISTER' && code >= 200) {
      for (const p of req.headerLines('path')) out.push(['Path', p]);
    }
  }
  if (EVENT_ECHO.has(req.method) && !has('event')) {
    const ev = req.header('event');
    if (ev !== undefined) out.push(['Event', ev]);
  }
  return out;
}

export function looksLikeSdp(body: Buffer): boolean {
  return body.length >= 3 && body.subarray(0, 3).toString('latin1') === 'v=0';
}

/**
 * A protobuf Reply as the core's Reply. Throws InvalidAnswer for a reply that does not fit
 * (neither or both of code and named, a code outside 100–699, a named reply missing the
 * value its header needs, a bad header operation).
 */
export function replyFromPb(r: PbReply, ctx: ReplyContext): CoreReply {
  const hasCode = r.code !== 0;
  const hasNamed = r.named !== NamedReply.NAMED_REPLY_UNSPECIFIED;
  if (hasCode && hasNamed) throw new InvalidAnswer('a reply gives either a code or a named reply, not both');
  if (!hasCode && !hasNamed) throw new InvalidAnswer('a reply needs a code (100–699) or a named reply');
  let code: number;
  let headers: [string, string][] = [];
  if (hasCode) {
    if (!Number.isInteger(r.code) || r.code < 100 || r.code > 699) {
      throw new InvalidAnswer(`reply code ${r.code} is outside 100–699`);
    }
    code = r.code;
    for (const c of r.contacts) headers.push(['Contact', contactText(c)]);
  } else {
    const spec = NAMED_REPLIES[r.named];
    if (!spec) throw new InvalidAnswer(`unknown named reply ${r.named}`);
    code = spec.code;
    if (spec.extra) headers.push(...spec.extra(r, ctx));
    if (spec.extra !== contactsOf) for (const c of r.contacts) headers.push(['Contact', contactText(c)]);
  }
  headers = applyHeaderOps(headers, r.headers.map(headerOpFromPb));
  if (hasNamed) headers.push(...automaticHeaders(code, headers, ctx));
  if (r.reason !== '' && /[\r\n]/.test(r.reason)) throw new InvalidAnswer('reason with a line break');
  const out: CoreReply = { status: code };
  if (hasNamed && NAMED_REPLIES[r.named]?.reliable) out.reliable = true;
  if (r.reason !== '') out.reason = fromText(r.reason);
  if (headers.length > 0) out.headers = headers;
  if (r.body.length > 0) {
    out.body = Buffer.from(r.body);
    if (r.contentType !== '') out.contentType = fromText(r.contentType);
    else if (looksLikeSdp(out.body)) out.contentType = 'application/sdp';
  } else if (r.named === NamedReply.NAMED_REPLY_ANSWER) {
    throw new InvalidAnswer('named reply answer needs a body');
  }
  return out;
}

function checkUri(text: string, what: string): string {
  const t = text.trim().replace(/^<(.*)>$/, '$1');
  try {
    parseUri(t);
  } catch (e) {
    throw new InvalidAnswer(`${what}: bad URI "${text}": ${(e as Error).message}`);
  }
  return fromText(t);
}

export function proxyOptionsFromPb(p: PbProxy): CoreProxyOptions {
  const o = p.options;
  const out: CoreProxyOptions = {};
  if (!o) return out;
  if (o.recordRoute) out.recordRoute = true;
  if (o.path) out.path = true;
  if (o.followRedirects) out.followRedirects = true;
  if (o.headers.length > 0) out.headers = o.headers.map(headerOpFromPb);
  if (o.route.length > 0) out.route = o.route.map((u) => checkUri(u, 'proxy route'));
  return out;
}

/** A URI set: serial groups of parallel URIs; empty groups dropped; empty means the R-URI. */
export function uriSetFromPb(p: PbProxy): UriSet {
  return p.uriSet.map((g) => g.uris.map((u) => checkUri(u, 'proxy target'))).filter((g) => g.length > 0);
}
