// Turns bytes into a SipRequest or SipResponse. Only framing happens here (start line,
// header lines, Content-Length, body); header values are parsed on demand by the message
// classes, and `validate.ts` decides whether a message is acceptable and what to answer.
import { isToken, SipSyntaxError } from './grammar.js';
import { type Header, type SipMessage, SipRequest, SipResponse } from './message.js';
import { canonicalName, knownName } from './names.js';

export interface Parsed {
  msg: SipMessage;
  /**
   * Set when the message is framed well enough to answer but breaks the grammar in a way
   * that calls for a 400 (request) or a drop (response): the reason phrase to use.
   */
  defect?: string;
}

export interface ParseOptions {
  /**
   * Stream transports frame by Content-Length, so the buffer holds exactly one message.
   * For datagrams (the default) a missing Content-Length means "the rest of the datagram"
   * and a larger one is an error (RFC 3261 §18.3).
   */
  stream?: boolean;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/**
 * Parses one message. Throws SipSyntaxError when there is no recognisable start line: such
 * input cannot be answered (there is nothing to answer to) and is dropped.
 */
export function parseMessage(buf: Buffer, opts: ParseOptions = {}): Parsed {
  let start = 0;
  // RFC 3261 §7.5: CRLFs before the start line are ignored
  while (start + 1 < buf.length && buf[start] === 13 && buf[start + 1] === 10) start += 2;
  let headEnd = buf.indexOf(CRLFCRLF, start);
  let bodyStart: number;
  if (headEnd < 0) {
    // no empty line: take it all as headers (RFC 4475 baddn ends after its last header)
    headEnd = buf.length;
    while (headEnd > start && (buf[headEnd - 1] === 10 || buf[headEnd - 1] === 13)) headEnd--;
    bodyStart = buf.length;
  } else {
    bodyStart = headEnd + 4;
  }
  const head = buf.toString('latin1', start, headEnd);
  const lines = head.split('\r\n');
  const startLine = lines[0] ?? '';
  let defect: string | undefined;
  const note = (d: string) => {
    defect ??= d;
  };

  const headers = parseHeaderLines(lines, note);
  const body = frameBody(buf, bodyStart, headers, opts, note);

  let msg: SipMessage;
  if (startLine.startsWith('SIP/')) {
    const m = /^(SIP\/\d+\.\d+) (\d+)(?: (.*))?$/.exec(startLine);
    if (!m) throw new SipSyntaxError('bad Status-Line');
    const status = Number(m[2]);
    if ((m[2] as string).length !== 3 || status < 100 || status > 699) note('Bad Status-Code');
    msg = new SipResponse(status, m[3] ?? '', headers, body, m[1]);
  } else {
    const parts = startLine.split(' ');
    const method = parts[0] ?? '';
    if (!isToken(method)) throw new SipSyntaxError('bad Request-Line');
    const version = parts[parts.length - 1] ?? '';
    if (!/^SIP\/\d+\.\d+$/i.test(version)) {
      // "SIP/2.0 " with trailing blanks, or no version at all
      if (!parts.some((p) => /^SIP\/\d+\.\d+$/i.test(p))) throw new SipSyntaxError('bad Request-Line');
    }
    if (parts.length !== 3) note('Bad Request-Line');
    const uri = parts.length === 3 ? (parts[1] as string) : parts.slice(1, -1).join(' ').trim();
    msg = new SipRequest(method, uri, headers, body, parts.length === 3 ? version : 'SIP/2.0');
  }
  return defect === undefined ? { msg } : { msg, defect };
}

function parseHeaderLines(lines: string[], note: (d: string) => void): Header[] {
  const headers: Header[] = [];
  for (let i = 1; i < lines.length; i++) {
    let line = lines[i] as string;
    if (line === '') continue;
    const c0 = line.charCodeAt(0);
    if (c0 === 32 || c0 === 9) {
      note('Bad Header Folding'); // a continuation with no header to continue
      continue;
    }
    // continuation lines (RFC 3261 §7.3.1 folding) belong to this header
    let folded = false;
    while (i + 1 < lines.length) {
      const next = lines[i + 1] as string;
      const n0 = next.charCodeAt(0);
      if (n0 !== 32 && n0 !== 9) break;
      line += `\r\n${next}`;
      folded = true;
      i++;
    }
    const colon = line.indexOf(':');
    let nameEnd = colon;
    while (nameEnd > 0 && (line.charCodeAt(nameEnd - 1) === 32 || line.charCodeAt(nameEnd - 1) === 9))
      nameEnd--;
    const name = nameEnd > 0 ? headerName(line.slice(0, nameEnd)) : undefined;
    if (name === undefined) {
      note('Malformed Header Line');
      continue;
    }
    const rawValue = line.slice(colon + 1);
    const value = (folded ? rawValue.replace(/\r\n[ \t]+/g, ' ') : rawValue).trim();
    headers.push({ name, value, raw: line });
  }
  return headers;
}

/** The canonical name of a header name as written, or undefined when it is no token. */
function headerName(wire: string): string | undefined {
  return knownName(wire) ?? (isToken(wire) ? canonicalName(wire) : undefined);
}

function frameBody(
  buf: Buffer,
  bodyStart: number,
  headers: Header[],
  opts: ParseOptions,
  note: (d: string) => void,
): Buffer {
  const available = buf.length - bodyStart;
  let len: number | undefined;
  for (const h of headers) {
    if (h.name !== 'content-length') continue;
    if (!/^\d{1,10}$/.test(h.value)) {
      note('Bad Content-Length');
      return buf.subarray(bodyStart, bodyStart);
    }
    const n = Number(h.value);
    if (len !== undefined && len !== n) {
      note('Conflicting Content-Length');
      return buf.subarray(bodyStart, bodyStart);
    }
    len = n;
  }
  if (len === undefined) return opts.stream ? buf.subarray(bodyStart, bodyStart) : buf.subarray(bodyStart);
  if (len > available) {
    note('Content-Length Exceeds Body');
    return buf.subarray(bodyStart);
  }
  // extra octets after the body of a datagram are ignored (RFC 3261 §18.3)
  return buf.subarray(bodyStart, bodyStart + len);
}
