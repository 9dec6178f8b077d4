// Building an out-of-dialog request from a UAC request spec (RFC 3261 §8.1.1) the way
// NkSIP's nksip_call_uac_make and nksip_uac do it (reference §3): validation with NkSIP's
// errors, the headers NkSIP adds per method, URI-embedded headers and `;method=`, header
// operations applied last. Pure: no I/O, no timers. The Via and an automatic Contact need
// the next hop and the listener, so the UAC core adds them.

import { isToken, parseParams, SipSyntaxError, splitTopLevel, unescapeUri } from '../sip/grammar.js';
import { formatNameAddr, type NameAddr, parseNameAddr } from '../sip/headers.js';
import { newCallId, newTag } from '../sip/ids.js';
import { fromText, type Header, SipRequest } from '../sip/message.js';
import { canonicalName } from '../sip/names.js';
import { formatUri, isSipUri, isTelUri, parseUri, type SipUri, type Uri } from '../sip/uri.js';
import type { LocalAddress } from '../transport/types.js';
import type { CallScope } from './calls.js';
import type { HeaderOp } from './decision.js';

export type UacErrorKind =
  | 'invalid_uri'
  | 'invalid_from'
  | 'invalid_to'
  | 'invalid_route'
  | 'invalid_contact'
  | 'invalid_option'
  | 'unknown_dialog'
  | 'unknown_request'
  | 'request_pending'
  | 'service_unavailable'
  | 'too_many_calls'
  | 'invalid_event'
  | 'invalid_refer_to'
  | 'not_implemented';

export class UacError extends Error {
  override name = 'UacError';
  constructor(
    readonly kind: UacErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export interface UacRequestSpec {
  /** Any token; a `;method=` parameter of the URI wins (NkSIP). */
  method: string;
  /** Request-URI; `<...>` form allowed; `?headers` are added to the request, `?body=` is the body. */
  uri: string;
  from?: string;
  to?: string;
  callId?: string;
  cseq?: number;
  contact?: string;
  /** true: generate a Contact; false: never, not even for the methods that get one by default. */
  makeContact?: boolean;
  route?: string[];
  headers?: HeaderOp[];
  body?: Buffer;
  contentType?: string;
  expires?: number;
  noAutoExpire?: boolean;
  unregister?: boolean;
  unregisterAll?: boolean;
  toAsFrom?: boolean;
  auto2xxAck?: boolean;
  reason?: string;
  event?: string;
  referTo?: string;
  subscriptionState?: string;
  sipIfMatch?: string;
  localHost?: string;
}

export interface UacDefaults {
  from: string;
  route: string[];
  localHost?: string;
  userAgent?: string;
  allow: string;
  supported: string;
  /** The local listeners requests leave from when one fits (an app's own); any otherwise. */
  listeners?: readonly LocalAddress[];
  /** Whose calls the requests are, and their limit (an app's); the built-in app's otherwise. */
  calls?: CallScope;
}

export interface BuiltRequest {
  /** Everything but the Via and an automatic Contact. */
  req: SipRequest;
  /** Whether the core must add a Contact (when the request still has none). */
  makeContact: boolean;
  /** User part for that Contact: the From user, as NkSIP does. */
  contactUser: string | undefined;
}

/** Methods that get a Contact when none is given (NkSIP `nksip_call_uac_make:make/4`). */
const AUTO_CONTACT = new Set(['INVITE', 'SUBSCRIBE', 'NOTIFY', 'REFER', 'UPDATE']);
/** Methods that get Supported and Allow (NkSIP `nksip_uac`). */
const SUPPORTED_ALLOW = new Set(['OPTIONS', 'REGISTER', 'INVITE', 'SUBSCRIBE', 'UPDATE']);
const NEEDS_EVENT = new Set(['SUBSCRIBE', 'NOTIFY', 'PUBLISH']);
/** Headers with one value: a URI-embedded one replaces ours instead of adding a second. */
const SINGLE = new Set([
  'from',
  'to',
  'call-id',
  'cseq',
  'max-forwards',
  'content-type',
  'expires',
  'event',
  'subscription-state',
  'refer-to',
  'sip-if-match',
  'date',
  'user-agent',
]);
const SUB_STATES = new Set(['active', 'pending', 'terminated']);
const CALL_ID_RE = /^[!-~]+$/;
const MAX_CSEQ = 2 ** 31 - 1;

let cseqCounter = Math.floor(Math.random() * 100_000) + 1;

/** A fresh CSeq number for a new Call-ID (any value below 2^31 is fine, §8.1.1.5). */
export function nextCSeq(): number {
  cseqCounter = cseqCounter >= 1_000_000_000 ? 1 : cseqCounter + 1;
  return cseqCounter;
}

function fail(kind: UacErrorKind, message: string): never {
  throw new UacError(kind, message);
}

/** Header text from an app (Unicode) to the binary form messages hold; no line breaks. */
function headerText(v: string, kind: UacErrorKind, what: string): string {
  if (/[\r\n\0]/.test(v)) fail(kind, `${what} contains a line break`);
  return fromText(v.trim());
}

/** A name-addr, or a bare URI (whose `;params` are then URI parameters, as NkSIP reads them). */
function parseAddress(text: string): NameAddr {
  if (text.includes('<') || text.startsWith('"')) return parseNameAddr(text);
  return { uri: parseUri(text), params: [] };
}

function parseRuri(text: string): Uri {
  if (text.includes('<') || text.startsWith('"')) {
    const a = parseNameAddr(text);
    if (a.params.length > 0) throw new SipSyntaxError('parameters after the Request-URI');
    return a.uri;
  }
  return parseUri(text);
}

function tryParse<T>(kind: UacErrorKind, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof UacError) throw err;
    return fail(kind, `${what}: ${(err as Error).message}`);
  }
}

function withoutTag(a: NameAddr): NameAddr {
  return { ...a, params: a.params.filter(([n]) => n.toLowerCase() !== 'tag') };
}

function checkInteger(v: number, min: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < min || v > max) fail('invalid_option', `bad ${what} ${v}`);
  return v;
}

/** `token *(;param)`: Event and Subscription-State values. */
function checkTokenWithParams(v: string, kind: UacErrorKind, what: string): string {
  const text = headerText(v, kind, what);
  const semi = text.indexOf(';');
  const head = (semi < 0 ? text : text.slice(0, semi)).trim();
  if (!isToken(head)) fail(kind, `bad ${what} ${v}`);
  if (semi >= 0) tryParse(kind, `bad ${what}`, () => parseParams(text.slice(semi)));
  return text;
}

/** Builds the request for `spec`; throws UacError with NkSIP's error for bad input. */
export function buildRequest(spec: UacRequestSpec, d: UacDefaults, now: number): BuiltRequest {
  if (typeof spec.method !== 'string' || !isToken(spec.method)) {
    fail('invalid_option', `bad method ${String(spec.method)}`);
  }
  // ---- Request-URI, ;method= and ?headers
  const ruriText = headerText(String(spec.uri ?? ''), 'invalid_uri', 'Request-URI');
  const parsedRuri = tryParse('invalid_uri', `bad Request-URI ${spec.uri}`, () => parseRuri(ruriText));
  let method = spec.method;
  let uriHeaders: [string, string][] = [];
  let ruri: Uri = parsedRuri;
  if (isSipUri(parsedRuri)) {
    const m = parsedRuri.params.find(([n]) => n.toLowerCase() === 'method');
    if (m) {
      if (m[1] === null || !isToken(m[1])) fail('invalid_uri', `bad method parameter in ${spec.uri}`);
      method = m[1].toUpperCase();
    }
    uriHeaders = parsedRuri.headers.map(([n, v]) => [unescapeUri(n), unescapeUri(v ?? '')]);
    ruri = {
      ...parsedRuri,
      params: parsedRuri.params.filter(([n]) => n.toLowerCase() !== 'method'),
      headers: [],
    };
  }
  if (method === 'ACK') fail('unknown_dialog', 'an ACK is sent within a dialog (or with auto2xxAck)');
  if (method === 'CANCEL') fail('unknown_request', 'a CANCEL is sent with cancel(handle)');
  const req = new SipRequest(method, formatUri(ruri));

  // ---- From, To, Call-ID, CSeq
  const fromAddr = tryParse('invalid_from', 'bad From', () =>
    parseNameAddr(headerText(spec.from ?? d.from, 'invalid_from', 'From')),
  );
  const from: NameAddr = fromAddr.params.some(([n]) => n.toLowerCase() === 'tag')
    ? fromAddr
    : { ...fromAddr, params: [...fromAddr.params, ['tag', newTag()]] };
  let to: string;
  const toAsFrom = spec.toAsFrom ?? (method === 'REGISTER' && spec.to === undefined);
  if (toAsFrom) {
    to = formatNameAddr(withoutTag(fromAddr), formatUri);
  } else if (spec.to !== undefined) {
    const t = tryParse('invalid_to', 'bad To', () =>
      parseNameAddr(headerText(spec.to as string, 'invalid_to', 'To')),
    );
    to = formatNameAddr(t, formatUri);
  } else {
    to = `<${formatUri(toUriOf(ruri))}>`;
  }
  const callId = spec.callId ?? newCallId();
  if (typeof callId !== 'string' || !CALL_ID_RE.test(callId)) fail('invalid_option', `bad Call-ID ${callId}`);
  const cseq = checkInteger(spec.cseq ?? nextCSeq(), 1, MAX_CSEQ, 'CSeq');

  // ---- Route
  const routes: string[] = [];
  const routeList = spec.route ?? d.route;
  if (!Array.isArray(routeList)) fail('invalid_route', 'route must be a list of URIs');
  for (const r of routeList) {
    const text = headerText(r, 'invalid_route', 'Route');
    for (const one of tryParse('invalid_route', 'bad Route', () => splitTopLevel(text))) {
      if (one === '') continue;
      const a = tryParse('invalid_route', `bad Route ${one}`, () => parseAddress(one));
      if (!isSipUri(a.uri)) fail('invalid_route', `Route ${one} is not a SIP URI`);
      routes.push(formatNameAddr(a, formatUri));
    }
  }

  // ---- Contact
  let contact: string | undefined;
  let makeContact = spec.makeContact ?? (AUTO_CONTACT.has(method) && spec.contact === undefined);
  if (spec.unregisterAll) {
    contact = '*';
    makeContact = false;
  } else if (spec.contact !== undefined) {
    const text = headerText(spec.contact, 'invalid_contact', 'Contact');
    if (text === '*') {
      if (method !== 'REGISTER') fail('invalid_contact', 'Contact * is only for REGISTER');
      contact = '*';
    } else {
      const parts = tryParse('invalid_contact', 'bad Contact', () => splitTopLevel(text));
      const addrs = parts.map((p) => tryParse('invalid_contact', `bad Contact ${p}`, () => parseNameAddr(p)));
      contact = addrs.map((a) => formatNameAddr(a, formatUri)).join(', ');
    }
    makeContact = false;
  } else if (spec.unregister) {
    makeContact = true;
  }

  // ---- method-specific values
  let expires = spec.expires;
  if (expires !== undefined) checkInteger(expires, 0, 2 ** 32 - 1, 'expires');
  if (spec.unregister || spec.unregisterAll) expires = 0;
  let event: string | undefined;
  if (spec.event !== undefined) event = checkTokenWithParams(spec.event, 'invalid_event', 'Event');
  else if (NEEDS_EVENT.has(method)) fail('invalid_event', `${method} needs an event`);
  let subState: string | undefined;
  if (spec.subscriptionState !== undefined) {
    if (method !== 'NOTIFY') fail('invalid_option', 'subscriptionState is only for NOTIFY');
    subState = checkTokenWithParams(spec.subscriptionState, 'invalid_option', 'Subscription-State');
    const state = (subState.split(';')[0] as string).trim().toLowerCase();
    if (!SUB_STATES.has(state)) fail('invalid_option', `bad Subscription-State ${spec.subscriptionState}`);
  } else if (method === 'NOTIFY') {
    subState = 'active';
  }
  let referTo: string | undefined;
  if (spec.referTo !== undefined) {
    const text = headerText(spec.referTo, 'invalid_refer_to', 'Refer-To');
    const a = tryParse('invalid_refer_to', `bad Refer-To ${spec.referTo}`, () => parseAddress(text));
    referTo = formatNameAddr(a, formatUri);
  } else if (method === 'REFER') {
    fail('invalid_refer_to', 'REFER needs referTo');
  }
  let body = spec.body;
  const uriBody = uriHeaders.find(([n]) => n.toLowerCase() === 'body');
  if (body === undefined && uriBody) body = Buffer.from(uriBody[1], 'latin1');
  if (method === 'PUBLISH' && (body === undefined || body.length === 0) && spec.sipIfMatch === undefined) {
    fail('invalid_option', 'PUBLISH needs a body (or sipIfMatch to refresh or remove)');
  }

  // ---- headers, in the order RFC 3261 §8.1.1 lists them, then what NkSIP adds
  const add = (name: string, value: string) => req.headers.push({ name, value });
  add('max-forwards', '70');
  for (const r of routes) add('route', r);
  add('from', formatNameAddr(from, formatUri));
  add('to', to);
  add('call-id', callId);
  add('cseq', `${cseq} ${method}`);
  if (contact !== undefined) add('contact', contact);
  if (expires !== undefined) add('expires', String(expires));
  if (event !== undefined) add('event', event);
  if (subState !== undefined) add('subscription-state', subState);
  if (referTo !== undefined) add('refer-to', referTo);
  if (spec.sipIfMatch !== undefined) {
    const etag = headerText(spec.sipIfMatch, 'invalid_option', 'SIP-If-Match');
    if (!/^[!-~]+$/.test(etag)) fail('invalid_option', `bad SIP-If-Match ${spec.sipIfMatch}`);
    add('sip-if-match', etag);
  }
  if (spec.reason !== undefined) add('reason', headerText(spec.reason, 'invalid_option', 'Reason'));
  if (method === 'MESSAGE' && expires !== undefined) add('date', new Date(now).toUTCString());
  if (SUPPORTED_ALLOW.has(method)) {
    if (d.supported.trim() !== '') add('supported', d.supported);
    if (d.allow.trim() !== '') add('allow', d.allow);
  }
  if (method === 'UPDATE') add('accept', 'application/sdp');
  if (d.userAgent !== undefined && d.userAgent !== '') add('user-agent', fromText(d.userAgent));
  for (const [n, v] of uriHeaders) {
    if (n.toLowerCase() === 'body') continue;
    const op: HeaderOp = { op: SINGLE.has(canonicalName(n)) ? 'replace' : 'add', name: n, value: v };
    applyOp(req, op, 'invalid_uri');
  }
  if (body !== undefined && body.length > 0) {
    req.body = body;
    if (spec.contentType !== undefined) {
      req.setHeader('content-type', headerText(spec.contentType, 'invalid_option', 'Content-Type'));
    }
  }
  for (const op of spec.headers ?? []) applyOp(req, op, 'invalid_option');
  req.invalidate();
  checkBuilt(req, method);
  return { req, makeContact, contactUser: isSipUri(from.uri) ? from.uri.user : undefined };
}

/** The default To: the Request-URI without port, parameters and headers (NkSIP). */
function toUriOf(ruri: Uri): Uri {
  if (isSipUri(ruri)) {
    const u: SipUri = { scheme: ruri.scheme, host: ruri.host, params: [], headers: [] };
    if (ruri.user !== undefined) u.user = ruri.user;
    return u;
  }
  if (isTelUri(ruri)) return { scheme: 'tel', number: ruri.number, params: [] };
  return ruri;
}

/** One header operation (core/decision.ts): add, replace, remove, insert before the same name. */
export function applyOp(req: SipRequest, op: HeaderOp, kind: UacErrorKind): void {
  if (typeof op.name !== 'string' || !isToken(op.name)) fail(kind, `bad header name ${String(op.name)}`);
  const name = canonicalName(op.name);
  if (name === 'via') fail(kind, 'the Via is the transport layer’s to write');
  if (op.op === 'remove') {
    req.removeHeader(name);
    return;
  }
  const value = headerText(String(op.value ?? ''), kind, `header ${op.name}`);
  switch (op.op) {
    case 'add':
      req.addHeader(name, value);
      return;
    case 'replace':
      req.setHeader(name, value);
      return;
    case 'insert': {
      const at = req.headers.findIndex((h) => h.name === name);
      const h: Header = { name, value };
      if (at < 0) req.headers.push(h);
      else req.headers.splice(at, 0, h);
      req.invalidate();
      return;
    }
    default:
      fail(kind, `unknown header operation ${String((op as HeaderOp).op)}`);
  }
}

/** After the header operations: the request must still be one we can send. */
function checkBuilt(req: SipRequest, method: string): void {
  tryParse('invalid_from', 'bad From', () => req.from);
  if (req.fromTag === undefined) {
    const idx = req.headers.findIndex((h) => h.name === 'from');
    const h = req.headers[idx] as Header;
    req.headers[idx] = { name: 'from', value: `${h.value};tag=${newTag()}` };
    req.invalidate();
  }
  tryParse('invalid_to', 'bad To', () => req.to);
  const callId = tryParse('invalid_option', 'bad Call-ID', () => req.callId);
  if (!CALL_ID_RE.test(callId)) fail('invalid_option', `bad Call-ID ${callId}`);
  const cseq = tryParse('invalid_option', 'bad CSeq', () => req.cseq);
  if (cseq.method !== method) fail('invalid_option', `CSeq method ${cseq.method} is not ${method}`);
  tryParse('invalid_option', 'bad Max-Forwards', () => req.maxForwards);
  tryParse('invalid_contact', 'bad Contact', () => req.contacts);
  for (const r of tryParse('invalid_route', 'bad Route', () => req.headerValues('route'))) {
    const a = tryParse('invalid_route', `bad Route ${r}`, () => parseNameAddr(r));
    if (!isSipUri(a.uri)) fail('invalid_route', `Route ${r} is not a SIP URI`);
  }
  tryParse('invalid_uri', 'bad Request-URI', () => req.ruri);
}
