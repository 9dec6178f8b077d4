// Parsers and formatters for the structured header values: Via, name-addr (From, To,
// Contact, Route, ...), CSeq and the digest auth headers.
import {
  formatParams,
  getParam,
  isToken,
  isTokenChar,
  isWs,
  type Param,
  parseParams,
  parseUint32,
  quote,
  SipSyntaxError,
  skipQuoted,
  splitTopLevel,
  unquote,
} from './grammar.js';
import { parseHostPort, parseUri, type Uri } from './uri.js';

export interface Via {
  /** `SIP/2.0` normally; kept as sent. */
  protocol: string;
  /** Uppercase transport: UDP, TCP, TLS, SCTP, WS, WSS or any other token. */
  transport: string;
  host: string;
  port?: number;
  params: Param[];
}

export interface NameAddr {
  displayName?: string;
  uri: Uri;
  /** Header parameters (tag, expires, q, ...), not URI parameters. */
  params: Param[];
}

export interface CSeq {
  seq: number;
  method: string;
}

const VIA_TRANSPORTS: Record<string, string> = {
  UDP: 'UDP',
  TCP: 'TCP',
  TLS: 'TLS',
  WS: 'WS',
  WSS: 'WSS',
  SCTP: 'SCTP',
};

export function parseVia(value: string): Via {
  let protocol: string;
  let transport: string;
  let rest: string;
  const sp = value.indexOf(' ');
  const known =
    sp > 8 && value.startsWith('SIP/2.0/') ? VIA_TRANSPORTS[value.slice(8, sp).toUpperCase()] : undefined;
  if (known !== undefined) {
    // the common spelling, `SIP/2.0/UDP host`, without a regular expression
    protocol = 'SIP/2.0';
    transport = known;
    rest = value.slice(sp + 1);
  } else {
    // sent-protocol allows LWS around each '/' (RFC 4475 §3.1.1.1)
    const m = /^([^\s/]+)\s*\/\s*([^\s/]+)\s*\/\s*([^\s/;]+)\s*/.exec(value);
    if (!m) throw new SipSyntaxError('bad Via sent-protocol');
    protocol = `${m[1]}/${m[2]}`;
    transport = (m[3] as string).toUpperCase();
    if (!isToken(m[1] as string) || !isToken(transport)) throw new SipSyntaxError('bad Via sent-protocol');
    rest = value.slice(m[0].length);
  }
  const semi = rest.indexOf(';');
  const sentBy = (semi >= 0 ? rest.slice(0, semi) : rest).trim();
  rest = semi >= 0 ? rest.slice(semi) : '';
  // LWS may surround the colon of sent-by (`host : port`)
  const { host, port } = parseHostPort(/\s/.test(sentBy) ? sentBy.replace(/\s*:\s*(\d+)$/, ':$1') : sentBy);
  const via: Via = { protocol, transport, host, params: rest ? parseParams(rest) : [] };
  if (port !== undefined) via.port = port;
  const ttl = getParam(via.params, 'ttl');
  if (ttl !== undefined && (ttl === null || !/^\d{1,3}$/.test(ttl) || Number(ttl) > 255)) {
    throw new SipSyntaxError('bad Via ttl');
  }
  return via;
}

export function formatVia(v: Via): string {
  return `${v.protocol}/${v.transport} ${v.host}${v.port !== undefined ? `:${v.port}` : ''}${formatParams(v.params)}`;
}

export function viaBranch(v: Via): string | undefined {
  return getParam(v.params, 'branch') ?? undefined;
}

export function parseNameAddr(value: string): NameAddr {
  const s = value.trim();
  if (s === '') throw new SipSyntaxError('empty address');
  let i = 0;
  let displayName: string | undefined;
  if (s[0] === '"') {
    const end = skipQuoted(s, 0);
    if (end < 0) throw new SipSyntaxError('unterminated quoted display name');
    displayName = unquote(s.slice(0, end));
    i = end;
    while (i < s.length && isWs(s.charCodeAt(i))) i++;
    if (s[i] !== '<') throw new SipSyntaxError('quoted display name without <URI>');
  } else {
    const lt = s.indexOf('<');
    if (lt > 0) {
      const dn = s.slice(0, lt).trim();
      // an unquoted display name is a sequence of tokens separated by LWS
      for (let k = 0; k < dn.length; k++) {
        const c = dn.charCodeAt(k);
        if (!isTokenChar(c) && !isWs(c)) throw new SipSyntaxError('display name must be quoted');
      }
      if (dn !== '') displayName = dn;
      i = lt;
    }
  }
  if (s[i] === '<') {
    const gt = s.indexOf('>', i);
    if (gt < 0) throw new SipSyntaxError('unterminated <URI>');
    const uri = parseUri(s.slice(i + 1, gt));
    const rest = s.slice(gt + 1).trim();
    const out: NameAddr = { uri, params: rest ? parseParams(rest) : [] };
    if (displayName !== undefined) out.displayName = displayName;
    return out;
  }
  // addr-spec form: parameters after the URI belong to the header, and the URI may carry
  // neither its own parameters nor headers (RFC 3261 §20.10); '?' or ',' means it needed <>.
  const semi = s.indexOf(';');
  const uriText = (semi >= 0 ? s.slice(0, semi) : s).trimEnd();
  if (/[?,\s]/.test(uriText)) throw new SipSyntaxError('URI with reserved characters must be in <>');
  return { uri: parseUri(uriText), params: semi >= 0 ? parseParams(s.slice(semi)) : [] };
}

export function formatNameAddr(a: NameAddr, formatUriFn: (u: Uri) => string): string {
  const dn = a.displayName !== undefined ? `${quote(a.displayName)} ` : '';
  return `${dn}<${formatUriFn(a.uri)}>${formatParams(a.params)}`;
}

export function nameAddrTag(a: NameAddr): string | undefined {
  return getParam(a.params, 'tag') ?? undefined;
}

export function parseCSeq(value: string): CSeq {
  const m = /^\s*(\S+)\s+(\S+)\s*$/.exec(value);
  if (!m) throw new SipSyntaxError('bad CSeq');
  const seq = parseUint32(m[1] as string);
  if (seq === undefined) throw new SipSyntaxError('CSeq number out of range');
  if (!isToken(m[2] as string)) throw new SipSyntaxError('bad CSeq method');
  return { seq, method: m[2] as string };
}

/** A digest (or other scheme's) challenge or credentials: scheme plus auth-params. */
export interface AuthValue {
  scheme: string;
  params: Record<string, string>;
  /** Text after the scheme when it is not name=value pairs (unknown schemes). */
  raw: string;
}

export function parseAuth(value: string): AuthValue {
  const s = value.trim();
  const sp = s.search(/\s/);
  const scheme = sp < 0 ? s : s.slice(0, sp);
  if (!isToken(scheme)) throw new SipSyntaxError('bad auth scheme');
  const raw = sp < 0 ? '' : s.slice(sp).trim();
  const params: Record<string, string> = {};
  if (raw !== '') {
    for (const part of splitTopLevel(raw)) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new SipSyntaxError('bad auth parameter');
      const name = part.slice(0, eq).trim().toLowerCase();
      const v = part.slice(eq + 1).trim();
      params[name] = v.startsWith('"') ? unquote(v) : v;
    }
  }
  return { scheme, params, raw };
}

const UNQUOTED_AUTH = new Set(['algorithm', 'stale', 'nc', 'qop']);

export function formatAuth(a: { scheme: string; params: Record<string, string> }, quoteQop = true): string {
  const parts = Object.entries(a.params).map(([k, v]) =>
    UNQUOTED_AUTH.has(k) && !(k === 'qop' && quoteQop) ? `${k}=${v}` : `${k}=${quote(v)}`,
  );
  return `${a.scheme} ${parts.join(', ')}`;
}
