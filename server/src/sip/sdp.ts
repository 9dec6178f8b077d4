// SDP (RFC 4566) as offer/answer needs it (RFC 3264): the origin line parsed (its version is
// what a refresh increments), every other line kept as it came and in its order, session
// level and one block per m= section, so what we do not understand goes back out unchanged.
// Pure: no I/O. NkSIP's nksip_sdp parse/unparse/increment/update.

export class SdpError extends Error {
  override name = 'SdpError';
}

/** One `<type>=<value>` line other than v=, o=, s= and m=. */
export interface SdpLine {
  type: string;
  value: string;
}

export interface SdpOrigin {
  username: string;
  sessionId: string;
  /** Digits only; kept as text so 64-bit NTP-style versions survive. */
  sessionVersion: string;
  netType: string;
  addrType: string;
  address: string;
}

export interface SdpMedia {
  media: string;
  port: number;
  /** The `/<number of ports>` part, when given. */
  portCount?: number;
  proto: string;
  formats: string[];
  /** The lines after m=, in order (i=, c=, b=, k=, a=). */
  lines: SdpLine[];
}

export interface Sdp {
  version: number;
  origin: SdpOrigin;
  sessionName: string;
  /** Session-level lines after s=, in order (i=, u=, e=, p=, c=, b=, t=, r=, z=, k=, a=). */
  lines: SdpLine[];
  media: SdpMedia[];
}

export type SdpDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
const DIRECTIONS: ReadonlySet<string> = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);

const LINE = /^([a-z])=(.*)$/;
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/;

/** Content types that carry an SDP body. */
export function isSdpType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  return (contentType.split(';')[0] ?? '').trim().toLowerCase() === 'application/sdp';
}

/** Parses an SDP body; throws SdpError when it breaks RFC 4566's grammar. */
export function parseSdp(body: Buffer | string): Sdp {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const raw = text.split(/\r?\n/);
  while (raw.length > 0 && raw[raw.length - 1] === '') raw.pop();
  const lines: SdpLine[] = [];
  for (const l of raw) {
    const m = LINE.exec(l);
    if (!m) throw new SdpError(`bad SDP line ${JSON.stringify(l.slice(0, 60))}`);
    lines.push({ type: m[1] as string, value: m[2] as string });
  }
  const [v, o, s] = lines;
  if (v?.type !== 'v' || v.value.trim() !== '0') throw new SdpError('SDP must start with v=0');
  if (o?.type !== 'o') throw new SdpError('SDP without o= as second line');
  if (s?.type !== 's') throw new SdpError('SDP without s= as third line');
  const sdp: Sdp = {
    version: 0,
    origin: parseOrigin(o.value),
    sessionName: s.value,
    lines: [],
    media: [],
  };
  let current: SdpMedia | undefined;
  let sawTime = false;
  for (const line of lines.slice(3)) {
    if (line.type === 'v' || line.type === 'o' || line.type === 's') {
      throw new SdpError(`${line.type}= may appear only once`);
    }
    if (line.type === 'm') {
      current = parseMedia(line.value);
      sdp.media.push(current);
      continue;
    }
    if (line.type === 't' && !current) sawTime = true;
    (current ? current.lines : sdp.lines).push(line);
  }
  if (!sawTime) throw new SdpError('SDP without t=');
  const sessionConn = sdp.lines.some((l) => l.type === 'c');
  for (const m of sdp.media) {
    if (!sessionConn && m.port !== 0 && !m.lines.some((l) => l.type === 'c')) {
      throw new SdpError(`m=${m.media} without c= and no session c=`);
    }
  }
  return sdp;
}

function parseOrigin(v: string): SdpOrigin {
  const f = v.trim().split(/ +/);
  if (f.length !== 6) throw new SdpError('o= needs six fields');
  const [username, sessionId, sessionVersion, netType, addrType, address] = f as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (!/^\d+$/.test(sessionId) || !/^\d+$/.test(sessionVersion)) {
    throw new SdpError('o= session id and version must be numbers');
  }
  return { username, sessionId, sessionVersion, netType, addrType, address };
}

function parseMedia(v: string): SdpMedia {
  const f = v.trim().split(/ +/);
  if (f.length < 3) throw new SdpError('m= needs media, port and proto');
  const [media, portText, proto, ...formats] = f as [string, string, string, ...string[]];
  const pm = /^(\d+)(?:\/(\d+))?$/.exec(portText);
  if (!pm || !TOKEN.test(media)) throw new SdpError(`bad m= line ${JSON.stringify(v)}`);
  const port = Number(pm[1]);
  if (port > 65535) throw new SdpError(`bad m= port ${port}`);
  const m: SdpMedia = { media, port, proto, formats, lines: [] };
  if (pm[2] !== undefined) m.portCount = Number(pm[2]);
  return m;
}

/** The SDP as text, lines in their order, CRLF-terminated (RFC 4566 §5). */
export function formatSdp(sdp: Sdp): string {
  const o = sdp.origin;
  const out = [
    `v=${sdp.version}`,
    `o=${o.username} ${o.sessionId} ${o.sessionVersion} ${o.netType} ${o.addrType} ${o.address}`,
    `s=${sdp.sessionName}`,
    ...sdp.lines.map((l) => `${l.type}=${l.value}`),
  ];
  for (const m of sdp.media) {
    const port = m.portCount !== undefined ? `${m.port}/${m.portCount}` : String(m.port);
    out.push(`m=${[m.media, port, m.proto, ...m.formats].join(' ')}`);
    for (const l of m.lines) out.push(`${l.type}=${l.value}`);
  }
  return `${out.join('\r\n')}\r\n`;
}

/** The SDP of a body, or undefined when it does not parse. */
export function trySdp(body: Buffer | string): Sdp | undefined {
  try {
    return parseSdp(body);
  } catch {
    return undefined;
  }
}

/** A copy whose o= version is one higher (RFC 3264 §8: every new offer changes it). */
export function incrementVersion(sdp: Sdp): Sdp {
  const next = (BigInt(sdp.origin.sessionVersion) + 1n).toString();
  return { ...clone(sdp), origin: { ...sdp.origin, sessionVersion: next } };
}

/** The direction of a media section (its own attribute, else the session's; sendrecv by default). */
export function directionOf(sdp: Sdp, media = 0): SdpDirection {
  const m = sdp.media[media];
  const own = m?.lines.find((l) => l.type === 'a' && DIRECTIONS.has(l.value));
  const session = sdp.lines.find((l) => l.type === 'a' && DIRECTIONS.has(l.value));
  return ((own ?? session)?.value as SdpDirection | undefined) ?? 'sendrecv';
}

/**
 * A copy with `dir` on every media section and no session-level direction (NkSIP
 * nksip_sdp:update/2: sendrecv, sendonly, recvonly, inactive).
 */
export function setDirection(sdp: Sdp, dir: SdpDirection): Sdp {
  const out = clone(sdp);
  const notDir = (l: SdpLine) => !(l.type === 'a' && DIRECTIONS.has(l.value));
  if (out.media.length === 0) {
    out.lines = [...out.lines.filter(notDir), { type: 'a', value: dir }];
    return out;
  }
  out.lines = out.lines.filter(notDir);
  for (const m of out.media) m.lines = [...m.lines.filter(notDir), { type: 'a', value: dir }];
  return out;
}

function clone(sdp: Sdp): Sdp {
  return {
    ...sdp,
    origin: { ...sdp.origin },
    lines: sdp.lines.map((l) => ({ ...l })),
    media: sdp.media.map((m) => ({ ...m, formats: [...m.formats], lines: m.lines.map((l) => ({ ...l })) })),
  };
}
