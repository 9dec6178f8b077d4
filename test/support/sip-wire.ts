// SIP on the wire for cross-process tests: a small, independent reader for what the server
// sends back (datagrams and TCP streams), builders for the requests the tests send, and the
// rewriting that lets the RFC 4475/5118 torture messages be replayed without any packet
// leaving the machine. Pure functions, no sockets; deliberately not built on server code, so
// a bug there cannot hide itself in the tests.

export interface WireMessage {
  startLine: string;
  /** Set for responses. */
  status?: number;
  reason?: string;
  /** Set for requests. */
  method?: string;
  /** Lowercase full names, values unfolded and trimmed, in order. */
  headers: [string, string][];
  body: Buffer;
}

const COMPACT: Record<string, string> = {
  i: 'call-id',
  v: 'via',
  f: 'from',
  t: 'to',
  l: 'content-length',
  c: 'content-type',
  m: 'contact',
  k: 'supported',
  s: 'subject',
  e: 'content-encoding',
};

const CRLFCRLF = Buffer.from('\r\n\r\n');

function fullName(name: string): string {
  const n = name.trim().toLowerCase();
  return COMPACT[n] ?? n;
}

/** Reads one message from `buf` (a datagram, or one frame cut by `StreamReader`). */
export function parseWire(buf: Buffer): WireMessage {
  let headEnd = buf.indexOf(CRLFCRLF);
  let bodyStart = headEnd + 4;
  if (headEnd < 0) {
    headEnd = buf.length;
    bodyStart = buf.length;
  }
  const head = buf.toString('latin1', 0, headEnd).replace(/\r\n[ \t]+/g, ' ');
  const lines = head.split('\r\n');
  const startLine = lines[0] ?? '';
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers.push([fullName(line.slice(0, colon)), line.slice(colon + 1).trim()]);
  }
  const msg: WireMessage = { startLine, headers, body: buf.subarray(bodyStart) };
  const status = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(startLine);
  if (status) {
    msg.status = Number(status[1]);
    msg.reason = status[2] ?? '';
  } else {
    msg.method = startLine.split(' ')[0] ?? '';
  }
  return msg;
}

export function headerOf(msg: WireMessage, name: string): string | undefined {
  const n = fullName(name);
  return msg.headers.find(([h]) => h === n)?.[1];
}

export function headersOf(msg: WireMessage, name: string): string[] {
  const n = fullName(name);
  return msg.headers.filter(([h]) => h === n).map(([, v]) => v);
}

/** Cuts a TCP byte stream into messages by Content-Length (0 when absent), skipping CRLF pongs. */
export class StreamReader {
  private buf = Buffer.alloc(0);

  push(chunk: Buffer): WireMessage[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: WireMessage[] = [];
    for (;;) {
      let start = 0;
      while (start + 1 < this.buf.length && this.buf[start] === 13 && this.buf[start + 1] === 10) start += 2;
      this.buf = this.buf.subarray(start);
      const end = this.buf.indexOf(CRLFCRLF);
      if (end < 0) return out;
      const head = this.buf.toString('latin1', 0, end);
      const cl = /^(?:content-length|l)[ \t]*:[ \t]*(\d+)/im.exec(head);
      const total = end + 4 + (cl ? Number(cl[1]) : 0);
      if (this.buf.length < total) return out;
      out.push(parseWire(this.buf.subarray(0, total)));
      this.buf = this.buf.subarray(total);
    }
  }
}

export type Transport = 'udp' | 'tcp';

export interface RequestOptions {
  method?: string;
  transport: Transport;
  /** Our own address: the Via sent-by. */
  port: number;
  host?: string;
  ruri?: string;
  callId: string;
  branch?: string;
  cseq?: number;
  /** Extra header lines, without CRLF. */
  extra?: string[];
  contentType?: string;
  body?: Buffer | string;
}

/** A well-formed request from us (Via with rport, so the answer comes back to our socket). */
export function buildRequest(o: RequestOptions): Buffer {
  const method = o.method ?? 'OPTIONS';
  const host = o.host ?? '127.0.0.1';
  const body = typeof o.body === 'string' ? Buffer.from(o.body, 'latin1') : (o.body ?? Buffer.alloc(0));
  const lines = [
    `${method} ${o.ruri ?? 'sip:nksip@127.0.0.1'} SIP/2.0`,
    `Via: SIP/2.0/${o.transport.toUpperCase()} ${host}:${o.port};rport;branch=z9hG4bK-${o.branch ?? o.callId}`,
    'Max-Forwards: 70',
    `From: <sip:tester@127.0.0.1>;tag=t-${o.callId}`,
    'To: <sip:nksip@127.0.0.1>',
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq ?? 1} ${method}`,
    ...(o.extra ?? []),
  ];
  if (o.contentType) lines.push(`Content-Type: ${o.contentType}`);
  lines.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

/** The top Via value of a message (first value of the first Via line). */
export function topViaValue(msg: WireMessage): string | undefined {
  const line = headerOf(msg, 'via');
  if (line === undefined) return undefined;
  // Via values hold no quoted strings in practice; split at the first comma
  return line.split(',')[0]?.trim();
}

/** The ACK for a non-2xx final response to an INVITE (RFC 3261 §17.1.1.3), from the response. */
export function ackFor(ruri: string, resp: WireMessage): Buffer {
  const cseq = (headerOf(resp, 'cseq') ?? '1').trim().split(/\s+/)[0];
  const lines = [
    `ACK ${ruri} SIP/2.0`,
    `Via: ${topViaValue(resp) ?? ''}`,
    'Max-Forwards: 70',
    `From: ${headerOf(resp, 'from') ?? ''}`,
    `To: ${headerOf(resp, 'to') ?? ''}`,
    `Call-ID: ${headerOf(resp, 'call-id') ?? ''}`,
    `CSeq: ${cseq} ACK`,
    'Content-Length: 0',
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

// ---- replaying captured messages on loopback ----------------------------------------------

/** Linear white space as it may appear inside a header, folding included. */
const W = '(?:[ \\t]|\\r\\n[ \\t])*';
/** The top Via up to its sent-by: name, protocol, transport, sent-by host, optional port. */
const VIA_SENT_BY = new RegExp(
  `((?:via|v)${W}:${W}SIP${W}/${W}\\d+\\.\\d+${W}/${W})([A-Za-z0-9!%*_+\`'~.-]+)(${W})` +
    `(\\[[^\\]\\r\\n]*\\]|[^\\s;:,\\[\\]]+)((?:${W}:${W}\\d*)?)`,
  'iy',
);
const FIRST_VIA_LINE = /(^|\r\n)(?:via|v)[ \t]*:/i;
const IPV6_REF = /\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]/g;
const RECEIVED_IPV6 = /(;[ \t]*received[ \t]*=[ \t]*)([0-9A-Fa-f]*:[0-9A-Fa-f:.]+)/gi;
const IPV4 = /(?<![\w.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\w.])/g;

function isLoopbackV4(parts: number[]): boolean {
  return parts[0] === 127;
}

/**
 * Every IP literal in a header section that is not loopback (for checking a rewrite): IPv4
 * outside 127/8, IPv6 references other than [::1], and IPv6 `received` values other than ::1.
 */
export function foreignAddresses(head: string): string[] {
  const out: string[] = [];
  for (const m of head.matchAll(IPV4)) {
    const parts = m.slice(1, 5).map(Number);
    if (parts.every((p) => p <= 255) && !isLoopbackV4(parts)) out.push(m[0]);
  }
  for (const m of head.matchAll(IPV6_REF)) if (m[0] !== '[::1]') out.push(m[0]);
  for (const m of head.matchAll(RECEIVED_IPV6)) if (m[2] !== '::1') out.push(m[2] as string);
  return out;
}

/** Rewrites one message's header section (start line excluded) for a loopback replay. */
function rewriteHead(head: string, port: number, transport: Transport): string {
  const first = FIRST_VIA_LINE.exec(head);
  if (!first) throw new Error('no Via header to rewrite');
  VIA_SENT_BY.lastIndex = first.index + (first[1] as string).length;
  const via = VIA_SENT_BY.exec(head);
  if (!via) throw new Error(`top Via sent-by not found in: ${head.slice(first.index, first.index + 120)}`);
  const [whole, prefix, proto, gap] = via as unknown as [string, string, string, string];
  const newProto = transport === 'tcp' && proto.toUpperCase() === 'UDP' ? 'TCP' : proto;
  head =
    head.slice(0, via.index) +
    `${prefix}${newProto}${gap}127.0.0.1:${port}` +
    head.slice(via.index + whole.length);
  head = head.replace(IPV6_REF, '[::1]');
  head = head.replace(RECEIVED_IPV6, '$1::1');
  head = head.replace(IPV4, (m, a: string, b: string, c: string, d: string) => {
    const parts = [a, b, c, d].map(Number);
    return parts.every((p) => p <= 255) && !isLoopbackV4(parts) ? '127.0.0.1' : m;
  });
  return head;
}

const START_LINE = /^[A-Za-z0-9!%*_+`'~.-]+ \S+ SIP\/\d+\.\d+\r\n/;

/**
 * A captured message made safe to replay on loopback: in the header section (never the
 * start line, never the body) the top Via's sent-by becomes 127.0.0.1:`port` (and its UDP
 * transport TCP when replaying over TCP), other IPv4 literals 127.0.0.1 and IPv6 literals
 * ::1 (brackets kept as they were). Content-Length stays right as the body is untouched.
 * Octets after the first message's body that start another request (RFC 4475 dblreq) are
 * rewritten the same way, since over TCP they are a message of their own.
 */
export function rewriteForReplay(data: Buffer, port: number, transport: Transport): Buffer {
  const text = data.toString('latin1');
  const lineEnd = text.indexOf('\r\n');
  if (lineEnd < 0) return data;
  let headEnd = text.indexOf('\r\n\r\n', lineEnd);
  if (headEnd < 0) headEnd = text.length;
  const head = rewriteHead(text.slice(lineEnd, headEnd), port, transport);
  const rest = text.slice(headEnd);
  let tail = rest;
  const lengths = [...text.slice(lineEnd, headEnd).matchAll(/\r\n(?:content-length|l)[ \t]*:[ \t]*(\d+)/gi)];
  if (lengths.length === 1 && rest.startsWith('\r\n\r\n')) {
    const bodyEnd = 4 + Number(lengths[0]?.[1]);
    const after = rest.slice(bodyEnd);
    const lead = /^(?:\r\n)*/.exec(after)?.[0] ?? '';
    if (bodyEnd < rest.length && START_LINE.test(after.slice(lead.length))) {
      const next = rewriteForReplay(Buffer.from(after.slice(lead.length), 'latin1'), port, transport);
      tail = rest.slice(0, bodyEnd) + lead + next.toString('latin1');
    }
  }
  return Buffer.from(text.slice(0, lineEnd) + head + tail, 'latin1');
}

/** The header section of a message (start line excluded), for checks on a rewrite. */
export function headSection(data: Buffer): string {
  const text = data.toString('latin1');
  const lineEnd = text.indexOf('\r\n');
  const headEnd = text.indexOf('\r\n\r\n', lineEnd);
  return text.slice(lineEnd, headEnd < 0 ? text.length : headEnd);
}

/** A seeded PRNG (mulberry32), so fuzz inputs are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
