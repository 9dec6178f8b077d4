// Where a request we originate goes first (RFC 3261 §8.1.2): the first Route when there is
// one (loose routing), with the §12.2.1.1 rewrite when that Route is a strict router, else
// the Request-URI; then `transport`, `maddr` and port from that URI, and the host resolved.
// Deliberately minimal and isolated: RFC 3263 (NAPTR/SRV, TLS, WS) replaces `hopOf` and the
// resolver later without touching the UAC core.
import { lookup } from 'node:dns/promises';
import { getParam, removeParam } from '../sip/grammar.js';
import { parseNameAddr } from '../sip/headers.js';
import type { SipRequest } from '../sip/message.js';
import { formatUri, isSipUri, type SipUri, type Uri } from '../sip/uri.js';
import { ipFamily, normalizeIp, stripBrackets } from '../transport/address.js';
import type { Endpoint, TransportName } from '../transport/types.js';

export type TargetErrorKind = 'invalid_uri' | 'invalid_route' | 'service_unavailable';

export class TargetError extends Error {
  override name = 'TargetError';
  constructor(
    readonly kind: TargetErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** The next hop before resolution. `host` is bare (no IPv6 brackets): an IP or a name. */
export interface NextHop {
  transport: TransportName;
  host: string;
  port: number;
  /** The URI named no port (`port` is the default): RFC 3263 may look for SRV records. */
  defaultPort?: boolean;
  /** The URI named no transport (`transport` is the default): RFC 3263 may look for NAPTR. */
  defaultTransport?: boolean;
  /** A sips: URI: RFC 3263 picks among the secure transports only. */
  secure?: boolean;
}

/** Turns a host name into an IP address. */
export type Resolver = (host: string) => Promise<string>;

/** Plain A/AAAA through the system resolver (what the transport does for responses). */
export const dnsResolver: Resolver = async (host) => (await lookup(host)).address;

const KNOWN = new Set(['udp', 'tcp', 'tls', 'ws', 'wss']);

/** Transport, host and port to reach a SIP URI (RFC 3261 §8.1.2, without RFC 3263). */
export function hopOf(uri: Uri): NextHop {
  if (!isSipUri(uri)) {
    throw new TargetError('service_unavailable', `cannot send to a ${uri.scheme}: URI without a SIP route`);
  }
  const param = getParam(uri.params, 'transport');
  const sips = uri.scheme === 'sips';
  let tp = param === undefined || param === null ? (sips ? 'tls' : 'udp') : param.toLowerCase();
  if (!KNOWN.has(tp)) throw new TargetError('service_unavailable', `transport ${tp} is unknown`);
  // RFC 3261 §26.2.2: a sips: URI is reached over TLS (TCP or UDP upgraded; WSS stays)
  if (sips && tp !== 'wss') tp = 'tls';
  const maddr = getParam(uri.params, 'maddr');
  const host = stripBrackets(maddr ?? uri.host);
  const port = uri.port ?? (tp === 'tls' || tp === 'wss' ? 5061 : 5060);
  const hop: NextHop = { transport: tp as TransportName, host, port };
  if (uri.port === undefined) hop.defaultPort = true;
  if (param === undefined || param === null) hop.defaultTransport = true;
  if (sips) hop.secure = true;
  return hop;
}

/**
 * The next hop of `req` from its Route headers and Request-URI. When the first Route lacks
 * `lr` (a strict router, §12.2.1.1) the request is rewritten: that URI becomes the
 * Request-URI (without the parameters and headers a Request-URI may not carry) and the old
 * Request-URI goes last in the Route set.
 */
export function routeRequest(req: SipRequest): NextHop {
  let routes: string[];
  let first: Uri;
  try {
    routes = req.headerValues('route');
    first = parseNameAddr(routes[0] ?? `<${req.uri}>`).uri;
  } catch (err) {
    const kind = req.hasHeader('route') ? 'invalid_route' : 'invalid_uri';
    throw new TargetError(kind, (err as Error).message);
  }
  if (routes.length === 0) return hopOf(first);
  if (!isSipUri(first)) throw new TargetError('invalid_route', `Route ${routes[0]} is not a SIP URI`);
  if (getParam(first.params, 'lr') !== undefined) return hopOf(first);
  const strict: SipUri = { ...first, params: removeParam(first.params, 'method'), headers: [] };
  const rest = [...routes.slice(1), `<${req.uri}>`];
  const at = req.headers.findIndex((h) => h.name === 'route');
  req.headers = req.headers.filter((h) => h.name !== 'route');
  req.headers.splice(at, 0, ...rest.map((value) => ({ name: 'route', value })));
  req.uri = formatUri(strict);
  req.invalidate();
  return hopOf(strict);
}

/** The endpoint of a hop: at once for an IP literal, through `resolve` for a name. */
export function resolveHop(hop: NextHop, resolve: Resolver): Endpoint | Promise<Endpoint> {
  if (ipFamily(hop.host) !== 0) {
    return { transport: hop.transport, address: normalizeIp(hop.host), port: hop.port };
  }
  return resolve(hop.host).then((address) => {
    if (ipFamily(address) === 0) throw new Error(`resolver gave ${address} for ${hop.host}, not an IP`);
    const ep: Endpoint = { transport: hop.transport, address: normalizeIp(address), port: hop.port };
    // TLS and WSS check the certificate against the name, not the address
    if (hop.transport === 'tls' || hop.transport === 'wss') ep.serverName = hop.host;
    return ep;
  });
}

/** Every target of a hop, in the order to try them (RFC 3263: NAPTR, SRV, A/AAAA). */
export type Locate = (hop: NextHop) => Promise<Endpoint[]>;

/** What RFC 3263 is to look up for a hop: only what its URI named explicitly. */
export function locateInput(hop: NextHop): {
  secure: boolean;
  host: string;
  port?: number;
  transport?: Endpoint['transport'];
} {
  const out: ReturnType<typeof locateInput> = { secure: hop.secure === true, host: hop.host };
  if (!hop.defaultPort) out.port = hop.port;
  if (!hop.defaultTransport) out.transport = hop.transport;
  return out;
}
