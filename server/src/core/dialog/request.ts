// Requests inside a dialog (RFC 3261 §12.2.1.1), as NkSIP's nksip_call_uac_dialog builds
// them: From/To/Call-ID from the dialog, CSeq one above the local sequence (the INVITE's
// number for its ACK), the Request-URI and Route from the remote target and the route set —
// loose routing when the first route has `lr`, strict routing (first route as Request-URI,
// remote target as last Route) when it has not — the local target as Contact where one is
// needed, a Via with a fresh branch for the transport to complete, then the same header
// operations as out-of-dialog requests (uac-build.ts). The request is final: do not hand it
// to target.ts `routeRequest` (which would rewrite a strict-routed request a second time);
// send it to `hopOf(nextHop)`.
import { removeParam } from '../../sip/grammar.js';
import { formatNameAddr } from '../../sip/headers.js';
import { newBranch } from '../../sip/ids.js';
import { fromText, SipRequest } from '../../sip/message.js';
import { isSdpType } from '../../sip/sdp.js';
import { formatUri, isSipUri, type SipUri, type Uri, uriParam } from '../../sip/uri.js';
import type { HeaderOp } from '../decision.js';
import { applyOp, nextCSeq, UacError } from '../uac-build.js';
import { type Dialog, type DialogUpdate, TARGET_REFRESH } from './dialog.js';

export type DialogErrorKind = 'unknown_dialog' | 'invalid_dialog' | 'request_pending';

/** NkSIP's errors for in-dialog requests; bad options come as UacError (uac-build.ts). */
export class DialogError extends Error {
  override name = 'DialogError';
  constructor(
    readonly kind: DialogErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export interface InDialogSpec {
  method: string;
  /** NkSIP `cseq_num`: a forced CSeq number; the local sequence keeps the highest sent. */
  cseq?: number;
  /** Replaces the local target as Contact (target refresh requests carry the local target). */
  contact?: string;
  headers?: HeaderOp[];
  body?: Buffer;
  contentType?: string;
  /** A Reason header (BYE with a reason, NkSIP `{reason, ...}`). */
  reason?: string;
}

export interface BuiltInDialog {
  /** Complete but for the Via sent-by (a placeholder the transport writes). */
  req: SipRequest;
  /** Where the request goes first: the first route, or the remote target without one. */
  nextHop: Uri;
  /** The first route had no `lr`: the request was strict-routed. */
  strict: boolean;
  /** A Contact is needed but the dialog has no local target: the core adds one. */
  makeContact: boolean;
  /** What sending it did to the dialog (re-INVITE, BYE, ACK confirming). */
  updates: DialogUpdate[];
}

const MAX_CSEQ = 2 ** 31 - 1;
const SUBSCRIPTION_METHODS = new Set(['SUBSCRIBE', 'NOTIFY', 'REFER']);

/** Whether `method` may be sent in `dialog` now; the NkSIP error when not. */
export function uacRequestError(dialog: Dialog, method: string): DialogError | undefined {
  if (dialog.ended) return new DialogError('unknown_dialog', 'the dialog has ended');
  const status = dialog.inviteStatus;
  if (method === 'ACK') {
    return status === 'accepted_uac'
      ? undefined
      : new DialogError('invalid_dialog', `no 2xx to acknowledge (INVITE ${status ?? 'none'})`);
  }
  if (status === 'bye' && !SUBSCRIPTION_METHODS.has(method)) {
    return new DialogError('unknown_dialog', 'the dialog is ending (BYE)');
  }
  if (method === 'INVITE' && status !== undefined && status !== 'confirmed') {
    return new DialogError('request_pending', `an INVITE is in progress (${status})`);
  }
  return undefined;
}

function isSdpBody(spec: InDialogSpec): boolean {
  if (spec.body === undefined || spec.body.length === 0) return false;
  return spec.contentType === undefined || isSdpType(spec.contentType);
}

/** A Request-URI from a route or target URI: no `method` parameter, no headers (§12.2.1.1). */
function asRequestUri(u: Uri): Uri {
  if (!isSipUri(u)) return u;
  const out: SipUri = { ...u, params: removeParam(u.params, 'method'), headers: [] };
  return out;
}

/** Via transport for the first hop; the transport layer writes the real one. */
function viaTransport(u: Uri): string {
  if (!isSipUri(u)) return 'UDP';
  if (u.scheme === 'sips') return 'TLS';
  const t = uriParam(u, 'transport');
  return typeof t === 'string' && t !== '' ? t.toUpperCase() : 'UDP';
}

function text(v: string, what: string): string {
  if (/[\r\n\0]/.test(v)) throw new UacError('invalid_option', `${what} contains a line break`);
  return fromText(v.trim());
}

/**
 * Builds a request in `dialog` and records it there (local CSeq, INVITE usage, BYE, ACK).
 * Throws DialogError (unknown_dialog, invalid_dialog, request_pending) or UacError (bad spec).
 */
export function buildInDialogRequest(dialog: Dialog, spec: InDialogSpec, now: number): BuiltInDialog {
  const method = spec.method;
  if (typeof method !== 'string' || !/^[A-Za-z0-9.!%*_+`'~-]+$/.test(method)) {
    throw new UacError('invalid_option', `bad method ${String(method)}`);
  }
  if (method === 'CANCEL') throw new UacError('unknown_request', 'a CANCEL is sent with cancel(handle)');
  const err = uacRequestError(dialog, method);
  if (err) throw err;
  // RFC 3311 §5.1: no new offer in an UPDATE while one is unanswered (NkSIP request_pending)
  if (method === 'UPDATE' && dialog.session.offerPending() && spec.body !== undefined && isSdpBody(spec)) {
    throw new DialogError('request_pending', 'an offer is waiting for its answer');
  }

  // ---- CSeq: ACK reuses the INVITE's; otherwise one above the local sequence, or forced
  let seq: number;
  if (method === 'ACK') {
    seq = (dialog.invite as { cseq: number }).cseq;
  } else if (spec.cseq !== undefined) {
    if (!Number.isInteger(spec.cseq) || spec.cseq < 1 || spec.cseq > MAX_CSEQ) {
      throw new UacError('invalid_option', `bad CSeq ${spec.cseq}`);
    }
    seq = spec.cseq;
  } else {
    seq = dialog.localSeq === undefined ? nextCSeq() : dialog.localSeq + 1;
    if (seq > MAX_CSEQ) throw new UacError('invalid_option', 'local CSeq exhausted');
  }

  // ---- Request-URI and Route (§12.2.1.1)
  const routes = dialog.routeSet;
  const first = routes[0];
  const strict = first !== undefined && isSipUri(first.uri) && uriParam(first.uri, 'lr') === undefined;
  let ruri: Uri;
  let routeValues: string[];
  let nextHop: Uri;
  if (first === undefined) {
    ruri = asRequestUri(dialog.remoteTarget);
    routeValues = [];
    nextHop = dialog.remoteTarget;
  } else if (strict) {
    ruri = asRequestUri(first.uri);
    routeValues = [
      ...routes.slice(1).map((r) => formatNameAddr(r, formatUri)),
      `<${formatUri(dialog.remoteTarget)}>`,
    ];
    nextHop = first.uri;
  } else {
    ruri = asRequestUri(dialog.remoteTarget);
    routeValues = routes.map((r) => formatNameAddr(r, formatUri));
    nextHop = first.uri;
  }

  const req = new SipRequest(method, formatUri(ruri));
  const add = (name: string, value: string) => req.headers.push({ name, value });
  add('via', `SIP/2.0/${viaTransport(nextHop)} localhost;branch=${newBranch()}`);
  add('max-forwards', '70');
  for (const r of routeValues) add('route', r);
  add('from', dialog.rawLocalUri);
  add('to', dialog.rawRemoteUri);
  add('call-id', dialog.callId);
  add('cseq', `${seq} ${method}`);
  let makeContact = false;
  if (spec.contact !== undefined) {
    add('contact', text(spec.contact, 'Contact'));
  } else if (TARGET_REFRESH.has(method) || method === 'REFER') {
    if (dialog.localTarget) add('contact', `<${formatUri(dialog.localTarget)}>`);
    else makeContact = true;
  }
  if (method === 'ACK') {
    // the ACK carries the INVITE's credentials (NkSIP)
    for (const h of dialog.invite?.request?.headers ?? []) {
      if (h.name === 'authorization' || h.name === 'proxy-authorization') add(h.name, h.value);
    }
  }
  if (method === 'PRACK' && dialog.rack !== undefined && !spec.headers?.some((h) => /^rack$/i.test(h.name))) {
    add('rack', dialog.rack);
  }
  if (spec.reason !== undefined) add('reason', text(spec.reason, 'Reason'));
  if (spec.body !== undefined && spec.body.length > 0) {
    req.body = spec.body;
    if (spec.contentType !== undefined) add('content-type', text(spec.contentType, 'Content-Type'));
  }
  for (const op of spec.headers ?? []) applyOp(req, op, 'invalid_option');
  req.invalidate();
  if (req.cseq.seq !== seq || req.cseq.method !== method) {
    throw new UacError('invalid_option', 'the CSeq of an in-dialog request is the dialog’s to set');
  }
  const updates = dialog.requestSent(req, now);
  return { req, nextHop, strict, makeContact, updates };
}
