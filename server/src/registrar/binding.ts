// One registered contact of an address-of-record (RFC 3261 §10.3), as the registrar keeps it
// and as a store persists it. Plain JSON data, so an external store (Redis) can hold it as is.

import { formatParams, getParam, type Param, unescapeUri } from '../sip/grammar.js';
import { formatNameAddr } from '../sip/headers.js';
import { formatUri, isSipUri, isTelUri, parseUri, type SipUri, type Uri } from '../sip/uri.js';
import { hostText, ipFamily, isWildcard, loopbackFor } from '../transport/address.js';
import { FLOW_TRANSPORTS, flowToken, needsFlowToken } from '../transport/flow.js';
import type { TransportName } from '../transport/types.js';

/** Where the REGISTER came from: the transport it arrived on and the peer's address. */
export interface BindingSource {
  transport: string;
  address: string;
  port: number;
  /** The local socket the REGISTER reached: where a flow to the UA starts (flow.ts). */
  localAddress?: string;
  localPort?: number;
}

export interface Binding {
  /**
   * Identity of the binding within its AOR: `+sip.instance` and `reg-id` when both are present
   * (RFC 5626 §6), else the contact URI's scheme, user, host, port, transport and URI headers.
   */
  key: string;
  /** The Contact as listed back, without its `expires` parameter: `"dn" <uri>;params`. */
  contact: string;
  /**
   * The contact URI: its URI parameters and (still escaped) headers kept, the contact-params
   * (after `>`, or after the URI in the addr-spec form) excluded (RFC 4475 §3.3.12–3.3.14).
   */
  uri: string;
  displayName?: string;
  /** Contact (header) parameters other than `expires`, as received: q, +sip.instance, ... */
  params: Param[];
  /** Absolute expiry, ms on the registrar's clock. */
  expires: number;
  q: number;
  callId: string;
  cseq: number;
  /** `+sip.instance` without its quotes, e.g. `<urn:uuid:...>`. */
  instance?: string;
  regId?: number;
  /** Path header values of the REGISTER (RFC 3327), top first; empty when none. */
  path: string[];
  source?: BindingSource;
  /**
   * RFC 5626 §6: the UA registered straight to us (one Via) with `Supported: outbound`, so
   * the binding is reached only over the flow the REGISTER came on (`source`).
   */
  ob?: boolean;
  /**
   * RFC 5627: what the temporary GRUUs issued for this binding's instance carry (gruu.ts);
   * kept while the instance refreshes under the same Call-ID, renewed otherwise.
   */
  gruuEpoch?: string;
  /** When the binding was last written, ms on the registrar's clock. */
  updatedAt: number;
}

/** The parsed contact URI of a binding. */
export function bindingUri(b: Binding): Uri {
  return parseUri(b.uri);
}

/** Seconds left before the binding expires, rounded up (0 once expired). */
export function remainingSeconds(b: Binding, now: number): number {
  return Math.max(0, Math.ceil((b.expires - now) / 1000));
}

/** The Contact header value of a registrar's 2xx: the binding with `;expires=<seconds left>`. */
export function contactValue(b: Binding, now: number): string {
  return `${b.contact};expires=${remainingSeconds(b, now)}`;
}

/** `"dn" <uri>;params` for a parsed contact whose expires parameter was removed. */
export function formatContact(uri: Uri, params: Param[], displayName?: string): string {
  const na = displayName !== undefined ? { displayName, uri, params } : { uri, params };
  return formatNameAddr(na, formatUri);
}

export function defaultTransport(u: SipUri): string {
  const t = getParam(u.params, 'transport');
  if (typeof t === 'string') return t.toLowerCase();
  return u.scheme === 'sips' ? 'tls' : 'udp';
}

export function defaultPort(u: SipUri): number {
  if (u.port !== undefined) return u.port;
  const t = defaultTransport(u);
  return u.scheme === 'sips' || t === 'tls' || t === 'wss' ? 5061 : 5060;
}

/**
 * The identity of a contact URI within an AOR. Like NkSIP's index (scheme, transport, user,
 * host, port, with default port and transport filled in) plus the URI's embedded headers,
 * since `<sip:u@h?Route=...>` reaches the UA by another path. User compared after
 * unescaping, byte for byte (`%00` and `%00%00` are two bindings, RFC 4475 §3.1.1.4).
 */
export function uriKey(u: Uri): string {
  if (isSipUri(u)) {
    const user = u.user !== undefined ? unescapeUri(u.user) : '';
    let key = `${u.scheme}\u0001${defaultTransport(u)}\u0001${user}\u0001${u.host.toLowerCase()}\u0001${defaultPort(u)}`;
    if (u.headers.length > 0) {
      const hs = u.headers
        .map(([n, v]) => `${unescapeUri(n).toLowerCase()}=${unescapeUri(v ?? '')}`)
        .sort()
        .join('&');
      key += `\u0001${hs}`;
    }
    return key;
  }
  if (isTelUri(u))
    return `tel\u0001${u.number.replace(/[-.()]/g, '')}${formatParams(u.params).toLowerCase()}`;
  return `${u.scheme}\u0001${u.opaque}`;
}

export function instanceKey(instance: string, regId: number): string {
  return `ob\u0001${instance}\u0001${regId}`;
}

// hvalue = *( hnv-unreserved / unreserved / escaped ) (RFC 3261 §25.1)
const HVALUE_SAFE = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()[]/?:+$") {
  HVALUE_SAFE[c.charCodeAt(0)] = 1;
}

/** Escapes a header value for use inside a URI's `?name=value` part. */
export function escapeHeaderValue(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 128 && HVALUE_SAFE[c] === 1) out += s[i];
    else out += `%${(c & 0xff).toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * The binding's URI as a proxy target. A stored Path becomes an escaped `?Route=` header
 * (NkSIP's `find/2`), which the proxy turns into Route headers on the forwarded request.
 */
export function targetUri(b: Binding): string {
  const path = bindingRoute(b);
  if (path.length === 0) return b.uri;
  const u = parseUri(b.uri);
  if (!isSipUri(u)) return b.uri;
  const route: Param = ['Route', escapeHeaderValue(path.join(','))];
  return formatUri({ ...u, headers: [...u.headers, route] });
}

/** The Route set that reaches the binding: its Path, else its flow (below), else none. */
export function bindingRoute(b: Binding): string[] {
  return b.path.length > 0 ? b.path.slice() : flowRoute(b);
}

/**
 * A UA registered straight over a WebSocket (no Path) is reached only over that connection
 * (RFC 7118 §5), and so is an outbound binding (`ob`, RFC 5626 §6) over any transport: a
 * Route of ours naming the flow, which the proxy takes off and follows.
 */
function flowRoute(b: Binding): string[] {
  const s = b.source;
  const t = s?.transport.toLowerCase() as TransportName | undefined;
  if (!s || t === undefined || s.localAddress === undefined || s.localPort === undefined) return [];
  if (!needsFlowToken(t) && !(b.ob === true && FLOW_TRANSPORTS.has(t))) return [];
  const local = isWildcard(s.localAddress)
    ? loopbackFor(ipFamily(s.localAddress) === 6 ? 6 : 4)
    : s.localAddress;
  const token = flowToken({ transport: t, address: s.address, port: s.port });
  const tp = t === 'udp' ? '' : `;transport=${t}`;
  return [`<sip:${token}@${hostText(local)}:${s.localPort}${tp};lr>`];
}
