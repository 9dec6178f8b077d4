// SIP, SIPS and TEL URIs (RFC 3261 §19.1, RFC 3966); any other scheme is kept as an
// absolute URI (RFC 3261 allows them in Request-URI, To, From and Contact).
import { formatParams, getParam, type Param, parseParams, SipSyntaxError, unescapeUri } from './grammar.js';

export interface SipUri {
  scheme: 'sip' | 'sips';
  user?: string;
  password?: string;
  /** Host as written; IPv6 references keep their brackets. */
  host: string;
  port?: number;
  params: Param[];
  /** `?name=value&...` headers embedded in the URI, still escaped. */
  headers: Param[];
}

export interface TelUri {
  scheme: 'tel';
  number: string;
  params: Param[];
}

export interface AbsoluteUri {
  scheme: string;
  opaque: string;
}

export type Uri = SipUri | TelUri | AbsoluteUri;

export function isSipUri(u: Uri): u is SipUri {
  return u.scheme === 'sip' || u.scheme === 'sips';
}

export function isTelUri(u: Uri): u is TelUri {
  return u.scheme === 'tel';
}

const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+.-]*$/;

export function parseUri(s: string): Uri {
  const colon = s.indexOf(':');
  if (colon <= 0) throw new SipSyntaxError(`no scheme in URI ${s}`);
  const scheme = s.slice(0, colon);
  if (!SCHEME_RE.test(scheme)) throw new SipSyntaxError(`bad URI scheme ${scheme}`);
  const rest = s.slice(colon + 1);
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c <= 32 || c === 127) throw new SipSyntaxError('white space or control char in URI');
  }
  const lower = scheme.toLowerCase();
  if (lower === 'sip' || lower === 'sips') return parseSipUri(lower, rest);
  if (lower === 'tel') return parseTelUri(rest);
  if (rest === '') throw new SipSyntaxError('empty absolute URI');
  return { scheme: lower, opaque: rest };
}

function parseSipUri(scheme: 'sip' | 'sips', s: string): SipUri {
  // '@' cannot appear unescaped in params or headers, so the first one ends the userinfo.
  const at = s.indexOf('@');
  let user: string | undefined;
  let password: string | undefined;
  let hostPart = s;
  if (at >= 0) {
    const userinfo = s.slice(0, at);
    hostPart = s.slice(at + 1);
    const pc = userinfo.indexOf(':');
    user = pc >= 0 ? userinfo.slice(0, pc) : userinfo;
    if (pc >= 0) password = userinfo.slice(pc + 1);
    if (user === '') throw new SipSyntaxError('empty user in SIP URI');
    checkUserChars(user);
  }
  let headers: Param[] = [];
  const q = hostPart.indexOf('?');
  if (q >= 0) {
    headers = parseUriHeaders(hostPart.slice(q + 1));
    hostPart = hostPart.slice(0, q);
  }
  let params: Param[] = [];
  const semi = hostPart.indexOf(';');
  if (semi >= 0) {
    params = parseParams(hostPart.slice(semi));
    hostPart = hostPart.slice(0, semi);
  }
  const { host, port } = parseHostPort(hostPart);
  const uri: SipUri = { scheme, host, params, headers };
  if (user !== undefined) uri.user = user;
  if (password !== undefined) uri.password = password;
  if (port !== undefined) uri.port = port;
  return uri;
}

function checkUserChars(user: string): void {
  for (let i = 0; i < user.length; i++) {
    const c = user.charCodeAt(i);
    if (c === 60 || c === 62 || c === 34 || c === 64) throw new SipSyntaxError('bad character in URI user');
  }
}

function parseUriHeaders(s: string): Param[] {
  if (s === '') return [];
  return s.split('&').map((h): Param => {
    const eq = h.indexOf('=');
    if (eq <= 0) throw new SipSyntaxError(`bad URI header ${h}`);
    return [h.slice(0, eq), h.slice(eq + 1)];
  });
}

const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;
const IPV6_REF_RE = /^\[[0-9A-Fa-f:.]+\]$/;

/** Dotted quad of digits: the common case, checked without the hostname regex. */
function isIpv4Literal(h: string): boolean {
  let dots = 0;
  let digits = 0;
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (c === 46) {
      if (digits === 0) return false;
      dots++;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      digits++;
    } else {
      return false;
    }
  }
  return dots === 3 && digits > 0;
}

/** Parses `host[:port]` where host is a name, an IPv4 address or an `[IPv6]` reference. */
export function parseHostPort(s: string): { host: string; port?: number } {
  let host: string;
  let portStr: string | undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) throw new SipSyntaxError('unterminated IPv6 reference');
    host = s.slice(0, close + 1);
    const after = s.slice(close + 1);
    if (after !== '') {
      if (after[0] !== ':') throw new SipSyntaxError('text after IPv6 reference');
      portStr = after.slice(1);
    }
    if (!IPV6_REF_RE.test(host) || host.split(':').length < 3)
      throw new SipSyntaxError(`bad IPv6 reference ${host}`);
  } else {
    const colon = s.indexOf(':');
    host = colon >= 0 ? s.slice(0, colon) : s;
    if (colon >= 0) portStr = s.slice(colon + 1);
    if (!isIpv4Literal(host) && !HOSTNAME_RE.test(host)) throw new SipSyntaxError(`bad host ${host}`);
  }
  if (portStr === undefined) return { host };
  if (!/^[0-9]{1,5}$/.test(portStr) || Number(portStr) > 65535)
    throw new SipSyntaxError(`bad port ${portStr}`);
  return { host, port: Number(portStr) };
}

function parseTelUri(s: string): TelUri {
  const semi = s.indexOf(';');
  const number = semi >= 0 ? s.slice(0, semi) : s;
  if (number === '' || !/^[0-9A-Fa-f*#+().\-pw]+$/.test(number))
    throw new SipSyntaxError(`bad tel number ${number}`);
  return { scheme: 'tel', number, params: semi >= 0 ? parseParams(s.slice(semi)) : [] };
}

export function formatUri(u: Uri): string {
  if (isSipUri(u)) {
    let out = `${u.scheme}:`;
    if (u.user !== undefined) out += u.password !== undefined ? `${u.user}:${u.password}@` : `${u.user}@`;
    out += u.host;
    if (u.port !== undefined) out += `:${u.port}`;
    out += formatParams(u.params);
    if (u.headers.length > 0) out += `?${u.headers.map(([n, v]) => `${n}=${v ?? ''}`).join('&')}`;
    return out;
  }
  if (isTelUri(u)) return `tel:${u.number}${formatParams(u.params)}`;
  return `${u.scheme}:${(u as AbsoluteUri).opaque}`;
}

export function uriParam(u: Uri, name: string): string | null | undefined {
  return 'params' in u ? getParam(u.params, name) : undefined;
}

/** Host without IPv6 brackets, lowercased: what a socket address or a comparison needs. */
export function bareHost(host: string): string {
  return (host.startsWith('[') ? host.slice(1, -1) : host).toLowerCase();
}

/** `user@host` of a SIP URI, unescaped, for registrar keys and comparisons. */
export function aorOf(u: SipUri): string {
  const user = u.user !== undefined ? `${unescapeUri(u.user)}@` : '';
  return `${u.scheme}:${user}${u.host.toLowerCase()}`;
}
