// SDP helpers for apps (NkSIP's nksip_sdp new/increment/update): build a simple offer or an
// answer, increment the o= version for a new offer, set the media direction (hold, unhold).
// They work on SDP text and keep every line they do not change, in its order.

export type SdpDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
const DIRECTIONS = new Set(['a=sendrecv', 'a=sendonly', 'a=recvonly', 'a=inactive']);

export interface SdpMediaSpec {
  /** audio, video... */
  media?: string;
  port: number;
  /** RTP payload formats, e.g. `[0, 8]`; rtpmap lines are added for the static ones known here. */
  formats?: readonly (number | string)[];
  direction?: SdpDirection;
}

export interface NewSdpOptions {
  /** Address for o= and c= (default 127.0.0.1). */
  host?: string;
  /** o= username (default `-`). */
  user?: string;
  /** Session id and first version (default: seconds since 1970). */
  sessionId?: number | bigint;
  /** Default one audio stream on port 40000 with PCMU and PCMA. */
  media?: readonly SdpMediaSpec[];
}

const STATIC_RTPMAP: Record<string, string> = {
  '0': 'PCMU/8000',
  '3': 'GSM/8000',
  '4': 'G723/8000',
  '8': 'PCMA/8000',
  '9': 'G722/8000',
  '18': 'G729/8000',
};

function lines(sdp: string): string[] {
  const out = sdp.split(/\r?\n/);
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

const join = (ls: readonly string[]) => `${ls.join('\r\n')}\r\n`;

function ipVersion(host: string): string {
  return host.includes(':') ? 'IP6' : 'IP4';
}

/** A new SDP offer (NkSIP nksip_sdp:new/2). */
export function newSdp(opts: NewSdpOptions = {}): string {
  const host = opts.host ?? '127.0.0.1';
  const id = String(opts.sessionId ?? Math.floor(Date.now() / 1000));
  const out = [
    'v=0',
    `o=${opts.user ?? '-'} ${id} ${id} IN ${ipVersion(host)} ${host}`,
    's=-',
    `c=IN ${ipVersion(host)} ${host}`,
    't=0 0',
  ];
  for (const m of opts.media ?? [{ port: 40000, formats: [0, 8] }]) {
    const formats = (m.formats ?? [0]).map(String);
    out.push(`m=${m.media ?? 'audio'} ${m.port} RTP/AVP ${formats.join(' ')}`);
    for (const f of formats) {
      const map = STATIC_RTPMAP[f];
      if (map) out.push(`a=rtpmap:${f} ${map}`);
    }
    out.push(`a=${m.direction ?? 'sendrecv'}`);
  }
  return join(out);
}

/**
 * An answer to `offer` (RFC 3264 §6): the same m= sections in the same order, each keeping
 * the offered formats we accept (all when `formats` is absent) on our `port`; a section with
 * none left is refused with port 0. The direction answers the offered one.
 */
export function answerSdp(
  offer: string,
  opts: { host?: string; port?: number; formats?: readonly (number | string)[]; user?: string } = {},
): string {
  const host = opts.host ?? '127.0.0.1';
  const id = String(Math.floor(Date.now() / 1000));
  const accept = opts.formats?.map(String);
  const out = [
    'v=0',
    `o=${opts.user ?? '-'} ${id} ${id} IN ${ipVersion(host)} ${host}`,
    's=-',
    `c=IN ${ipVersion(host)} ${host}`,
    't=0 0',
  ];
  const ls = lines(offer);
  const sessionDir = ls.find((l, i) => DIRECTIONS.has(l) && !ls.slice(0, i).some((x) => x.startsWith('m=')));
  let port = opts.port ?? 40000;
  for (let i = 0; i < ls.length; i++) {
    const l = ls[i] as string;
    if (!l.startsWith('m=')) continue;
    const [media = 'audio', , proto = 'RTP/AVP', ...formats] = l.slice(2).split(/ +/);
    const block: string[] = [];
    for (let j = i + 1; j < ls.length && !(ls[j] as string).startsWith('m='); j++)
      block.push(ls[j] as string);
    const kept = accept ? formats.filter((f) => accept.includes(f)) : formats;
    if (kept.length === 0) {
      out.push(`m=${media} 0 ${proto} ${formats[0] ?? '0'}`);
      continue;
    }
    out.push(`m=${media} ${port} ${proto} ${kept.join(' ')}`);
    port += 2;
    for (const b of block) {
      const fmt = /^a=(?:rtpmap|fmtp):(\S+)/.exec(b)?.[1];
      if (fmt !== undefined && kept.includes(fmt)) out.push(b);
    }
    const dir = (block.find((b) => DIRECTIONS.has(b)) ?? sessionDir ?? 'a=sendrecv').slice(2);
    out.push(`a=${answerDirection(dir as SdpDirection)}`);
  }
  return join(out);
}

function answerDirection(offered: SdpDirection): SdpDirection {
  if (offered === 'sendonly') return 'recvonly';
  if (offered === 'recvonly') return 'sendonly';
  return offered;
}

/** The same SDP with its o= version one higher (NkSIP nksip_sdp:increment/1). */
export function incrementSdp(sdp: string): string {
  return join(
    lines(sdp).map((l) => {
      if (!l.startsWith('o=')) return l;
      const f = l.slice(2).split(/ +/);
      if (f.length < 6 || !/^\d+$/.test(f[2] ?? '')) throw new TypeError(`bad SDP origin line ${l}`);
      f[2] = (BigInt(f[2] as string) + 1n).toString();
      return `o=${f.join(' ')}`;
    }),
  );
}

/**
 * The same SDP with `dir` on every m= section and no session-level direction (NkSIP
 * nksip_sdp:update/2). `sendonly` puts the other side on hold, `inactive` stops both ways.
 */
export function setSdpDirection(sdp: string, dir: SdpDirection): string {
  const ls = lines(sdp).filter((l) => !DIRECTIONS.has(l));
  const out: string[] = [];
  let inMedia = false;
  for (const l of ls) {
    if (l.startsWith('m=')) {
      if (inMedia) out.push(`a=${dir}`);
      inMedia = true;
    }
    out.push(l);
  }
  out.push(`a=${dir}`);
  return join(out);
}

/** The direction of the first m= section (its own, else the session's; sendrecv by default). */
export function sdpDirection(sdp: string): SdpDirection {
  const ls = lines(sdp);
  const m = ls.findIndex((l) => l.startsWith('m='));
  const session = (m < 0 ? ls : ls.slice(0, m)).find((l) => DIRECTIONS.has(l));
  if (m >= 0) {
    for (let j = m + 1; j < ls.length && !(ls[j] as string).startsWith('m='); j++) {
      if (DIRECTIONS.has(ls[j] as string)) return (ls[j] as string).slice(2) as SdpDirection;
    }
  }
  return (session?.slice(2) as SdpDirection | undefined) ?? 'sendrecv';
}

/** The o= session version, as text. */
export function sdpVersion(sdp: string): string | undefined {
  const o = lines(sdp).find((l) => l.startsWith('o='));
  return o?.slice(2).split(/ +/)[2];
}
