// The proxy's edits to messages, pure: request copies per RFC 3261 §16.4 and §16.6, the
// next hop of a request, deterministic stateless branches
// (§16.11). Nothing here sends anything.
import { createHash } from 'node:crypto';
import type { ProxyOptions } from '../core/decision.js';
import { getParam, removeParam, SipSyntaxError, unescapeUri } from '../sip/grammar.js';
import { formatVia, parseNameAddr, type Via, viaBranch } from '../sip/headers.js';
import { MAGIC_COOKIE, newBranch } from '../sip/ids.js';
import type { Header, SipMessage, SipRequest } from '../sip/message.js';
import { canonicalName } from '../sip/names.js';
import { formatUri, isSipUri, parseUri, type SipUri, type Uri } from '../sip/uri.js';
import { normalizeIp, stripBrackets } from '../transport/address.js';
import { parseFlowToken } from '../transport/flow.js';
import type { Endpoint } from '../transport/types.js';

/** Branch prefixes: every Via this proxy adds starts with one, stateless ones with the second. */
export const STATEFUL_MARK = `${MAGIC_COOKIE}nkp`;
export const STATELESS_MARK = `${MAGIC_COOKIE}nks`;

/** A target as an app writes it: a bare URI, `<URI>` or a name-addr with parameters. */
export function parseTarget(s: string): Uri {
  const t = s.trim();
  return t.includes('<') ? parseNameAddr(t).uri : parseUri(t);
}

/** URI of a Route / Record-Route / Path value. */
export function routeUri(value: string): Uri {
  return parseNameAddr(value).uri;
}

/** Where a header of this name goes: before the first of its name, else after the Vias. */
function placeFor(msg: SipMessage, name: string): number {
  const first = msg.headers.findIndex((h) => h.name === name);
  if (first >= 0) return first;
  let lastVia = -1;
  msg.headers.forEach((h, i) => {
    if (h.name === 'via') lastVia = i;
  });
  return lastVia + 1;
}

/** Inserts values of a header above the existing ones (the first value given ends on top). */
export function insertTop(msg: SipMessage, name: string, values: readonly string[]): void {
  if (values.length === 0) return;
  const n = canonicalName(name);
  const at = placeFor(msg, n);
  msg.headers.splice(at, 0, ...values.map((value): Header => ({ name: n, value })));
  msg.drop(n);
}

/** Replaces every value of a list header (one line per value), keeping its place. */
function setValues(msg: SipMessage, name: string, values: readonly string[]): void {
  const at = placeFor(msg, name);
  const before = msg.headers.slice(0, at).filter((h) => h.name !== name);
  const after = msg.headers.slice(at).filter((h) => h.name !== name);
  msg.headers = [...before, ...values.map((value): Header => ({ name, value })), ...after];
  msg.drop(name);
}

export type IsLocal = (uri: SipUri) => boolean;

function sipUriOf(value: string): SipUri | undefined {
  try {
    const u = routeUri(value);
    return isSipUri(u) ? u : undefined;
  } catch (err) {
    if (err instanceof SipSyntaxError) return undefined;
    throw err;
  }
}

/**
 * RFC 3261 §16.4 on a received request (edited in place): a Request-URI that is one of our
 * Record-Route values (a strict router upstream) gets back the last Route; a `maddr` naming
 * us is stripped with the port and transport; every Route value on top that points at us
 * goes (two of them when we double Record-Routed, RFC 5658) — but one that `keep` says names
 * a flow to send over (flow.ts) stays on top, for `takeFlow` once the request is built.
 */
export function preprocess(req: SipRequest, isLocal: IsLocal, keep?: IsLocal): void {
  let routes = req.headerValues('route');
  const ruri = req.ruri;
  if (isSipUri(ruri) && getParam(ruri.params, 'lr') !== undefined && isLocal(ruri) && routes.length > 0) {
    const last = routes[routes.length - 1] as string;
    req.uri = formatUri(routeUri(last));
    routes = routes.slice(0, -1);
    setValues(req, 'route', routes);
  }
  const target = req.ruri;
  if (isSipUri(target)) {
    const maddr = getParam(target.params, 'maddr');
    if (maddr && isLocal({ ...target, host: maddr, params: [] })) {
      const { port: _port, ...rest } = target;
      let params = removeParam(target.params, 'maddr');
      params = removeParam(params, 'transport');
      req.uri = formatUri({ ...rest, params });
    }
  }
  let drop = 0;
  for (const r of routes) {
    const u = sipUriOf(r);
    if (!u || !isLocal(u) || keep?.(u)) break;
    drop++;
  }
  if (drop > 0) setValues(req, 'route', routes.slice(drop));
}

/**
 * What an RFC 2543 strict router does on receipt (NkSIP's `strict_proxy`), edited in place: a
 * request whose Request-URI names us (it was strict-routed here, RFC 3261 §12.2.1.1 or §16.6
 * step 6) takes the top Route as its Request-URI, without the parameters and headers a
 * Request-URI may not carry, and loses that Route. True when it did: the request then goes to
 * its Request-URI whatever Route it still carries (the last of them is the remote target).
 */
export function strictRoute(req: SipRequest, isLocal: IsLocal): boolean {
  const ruri = req.ruri;
  const routes = req.headerValues('route');
  const top = routes[0];
  if (top === undefined || !isSipUri(ruri) || !isLocal(ruri)) return false;
  const next = routeUri(top);
  if (!isSipUri(next)) throw new SipSyntaxError(`Route ${top} is not a SIP URI`);
  req.uri = formatUri({ ...next, params: removeParam(next.params, 'method'), headers: [] });
  setValues(req, 'route', routes.slice(1));
  return true;
}

/**
 * RFC 5626 §5.3 at the edge: a top Route of ours whose user part is a flow token (flow.ts)
 * is removed and its flow returned: the request goes over that connection, towards the next
 * Route or the Request-URI (`hop`).
 */
export function takeFlow(req: SipRequest, isLocal: IsLocal): { flow: Endpoint; hop: Uri } | undefined {
  const routes = req.headerValues('route');
  const first = routes[0];
  if (first === undefined) return undefined;
  const u = sipUriOf(first);
  const flow = u && isLocal(u) ? parseFlowToken(u.user) : undefined;
  if (!flow) return undefined;
  // a UDP flow leaves from the socket its Route names, the one the UA's NAT binding knows
  if (flow.transport === 'udp' && u)
    flow.from = [{ transport: 'udp', address: normalizeIp(stripBrackets(u.host)), port: u.port ?? 5060 }];
  setValues(req, 'route', routes.slice(1));
  const next = routes[1];
  return { flow, hop: next !== undefined ? routeUri(next) : req.ruri };
}

/** Headers no app or URI may set on a proxied request: the stack owns them. */
const OWNED = new Set(['via', 'content-length', 'call-id', 'cseq', 'from', 'to', 'max-forwards']);

/** Applies the `?name=value` headers of a target URI (RFC 3261 §19.1.5) and drops them. */
function applyUriHeaders(req: SipRequest, uri: SipUri): SipUri {
  for (const [rawName, rawValue] of uri.headers) {
    const name = canonicalName(unescapeUri(rawName));
    if (name === 'body' || OWNED.has(name)) continue;
    const value = unescapeUri(rawValue ?? '');
    if (name === 'route') insertTop(req, 'route', [value]);
    else req.addHeader(name, value);
  }
  return { ...uri, headers: [] };
}

/**
 * A copy of the (pre-processed) request for one target, RFC 3261 §16.6 steps 1–7: Request-URI,
 * Max-Forwards, the app's header edits and Route set, strict-router fix-up, and the URI the
 * request goes towards (first Route, else the Request-URI). Record-Route, Path and Via wait
 * for the next hop's address (they depend on the socket it leaves by). A request `strictRoute`
 * rewrote goes to its Request-URI as it is: its Route set is the strict routers' business.
 */
export function targetRequest(
  base: SipRequest,
  target: Uri | undefined,
  options: ProxyOptions,
  strictRouted = false,
): { req: SipRequest; hop: Uri } {
  const req = base.copy();
  if (target) {
    req.uri = formatUri(
      isSipUri(target) && target.headers.length > 0 ? applyUriHeaders(req, target) : target,
    );
  }
  const mf = req.maxForwards;
  req.setHeader('max-forwards', String(mf === undefined ? 70 : Math.max(0, mf - 1)));
  for (const op of options.headers ?? []) {
    const name = canonicalName(op.name);
    if (name === 'via' || name === 'content-length') continue;
    switch (op.op) {
      case 'add':
        req.addHeader(name, op.value);
        break;
      case 'insert':
        insertTop(req, name, [op.value]);
        break;
      case 'replace':
        if (op.value === '') req.removeHeader(name);
        else req.setHeader(name, op.value);
        break;
      case 'remove':
        req.removeHeader(name);
        break;
    }
  }
  if (strictRouted) return { req, hop: req.ruri };
  const extra = (options.route ?? []).map((r) => r.trim()).filter((r) => r !== '');
  insertTop(
    req,
    'route',
    extra.map((r) => (r.startsWith('<') ? r : `<${r}>`)),
  );
  // §16.6 step 6: a next hop that is a strict router gets the Request-URI it expects
  const routes = req.headerValues('route');
  const first = routes[0];
  if (first !== undefined) {
    const u = routeUri(first);
    if (isSipUri(u) && getParam(u.params, 'lr') === undefined) {
      const rest = [...routes.slice(1), `<${req.uri}>`];
      req.uri = formatUri(u);
      setValues(req, 'route', rest);
      return { req, hop: u };
    }
    // §16.6 step 7: a loose router's next hop is the first Route
    return { req, hop: u };
  }
  return { req, hop: req.ruri };
}

/** Puts our Via on top; the transport fills in sent-protocol and sent-by when it sends. */
export function pushVia(
  req: SipRequest,
  transport: string,
  host: string,
  port: number,
  branch: string,
): void {
  const via: Via = { protocol: 'SIP/2.0', transport: transport.toUpperCase(), host, port, params: [] };
  via.params.push(['branch', branch]);
  req.prependHeader('via', formatVia(via));
}

export function statefulBranch(): string {
  return STATEFUL_MARK + newBranch().slice(MAGIC_COOKIE.length);
}

/**
 * RFC 3261 §16.11: the same request (retransmission, and the CANCEL or non-2xx ACK sharing its
 * top Via) towards the same target always gets the same branch. From the incoming branch when
 * it is an RFC 3261 one, else from the fields that identify the transaction (the method and To
 * tag left out so CANCEL and ACK map with their INVITE).
 */
export function statelessBranch(req: SipRequest, target: string): string {
  const via = req.topVia;
  const b = via ? viaBranch(via) : undefined;
  const key =
    via && b?.startsWith(MAGIC_COOKIE) && b.length > MAGIC_COOKIE.length
      ? `${b}|${via.host.toLowerCase()}|${via.port ?? ''}|${target}`
      : `${req.fromTag ?? ''}|${req.callId}|${req.uri}|${via ? formatVia(via) : ''}|${req.cseq.seq}|${target}`;
  return STATELESS_MARK + createHash('sha1').update(key, 'latin1').digest('hex').slice(0, 24);
}

/** Whether a branch is one this proxy generated. */
export function isOurBranch(branch: string | undefined): boolean {
  return branch !== undefined && (branch.startsWith(STATEFUL_MARK) || branch.startsWith(STATELESS_MARK));
}

/** Option tags of a header, lowercase. */
export function optionTags(msg: SipMessage, name: string): string[] {
  return msg
    .headerValues(name)
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
}
