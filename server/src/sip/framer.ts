// Cuts a byte stream (TCP, TLS) into SIP messages. Pure: bytes in, frames out, no sockets or
// timers, so every way a read can be split or coalesced is testable byte by byte.
//
// A message is its header block up to the first CRLFCRLF plus Content-Length octets of body
// (RFC 3261 §18.3: on a stream the header is mandatory; here a missing one means an empty
// body, as most stacks do). Between messages, CRLFs are keep-alives (RFC 5626 §4.4.1): a
// CRLFCRLF is a ping the transport answers with a CRLF pong; a lone CRLF (a pong to our own
// ping, or stray padding before a start line, RFC 3261 §7.5) is consumed silently.
//
// Anything that makes the rest of the stream impossible to delimit is fatal: the connection
// must be closed (RFC 4475 §3.1.2.8 ncl, §3.1.2.11 mcl01), because guessing where the next
// message starts would let one peer smuggle requests past another.

export type Frame =
  /** One complete message: header block and body, leading CRLFs removed. */
  | { type: 'message'; data: Buffer }
  /** A CRLFCRLF keep-alive ping: answer with a single CRLF. */
  | { type: 'ping' }
  /** The stream cannot be framed any further: close the connection. */
  | { type: 'error'; reason: string };

export interface FramerOptions {
  /**
   * Largest header block (start line to CRLFCRLF inclusive). Bounds what a peer can make us
   * buffer before we know how long its message is. Default 64 KiB: real headers are a few
   * KiB, and Linux SIP stacks cap around here too.
   */
  maxHeaderSize?: number;
  /**
   * Largest Content-Length accepted. Default 1 MiB: SIP bodies (SDP, PIDF, multipart with a
   * small image) are far smaller; bulk content belongs to MSRP (RFC 4975), and without a
   * cap a single header line could make us hold gigabytes.
   */
  maxBodySize?: number;
}

export const DEFAULT_MAX_HEADER_SIZE = 64 * 1024;
export const DEFAULT_MAX_BODY_SIZE = 1024 * 1024;

const CR = 13;
const LF = 10;
const CRLFCRLF = Buffer.from('\r\n\r\n');

export class StreamFramer {
  private readonly maxHeader: number;
  private readonly maxBody: number;
  /**
   * Pending bytes live in `buf[start, end)`. Emitted messages may be views into `buf`, so
   * bytes before `end` are never overwritten: appends go after `end`, and when there is no
   * room the pending tail moves to a fresh buffer.
   */
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;
  private end = 0;
  /** Where the CRLFCRLF search resumes, so each byte is scanned about once. */
  private scanFrom = 0;
  /** Offset of the body once the header block is complete; -1 while still in the header. */
  private bodyStart = -1;
  private bodyLength = 0;
  /** CRLFs seen since the last message or ping, for telling pings from pongs. */
  private crlfs = 0;
  private failed: string | undefined;

  constructor(opts: FramerOptions = {}) {
    this.maxHeader = opts.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE;
    this.maxBody = opts.maxBodySize ?? DEFAULT_MAX_BODY_SIZE;
  }

  /** Bytes held while waiting for the rest of a message. */
  get pending(): number {
    return this.end - this.start;
  }

  /** Feeds one read; returns the frames it completes, in order. After an error, nothing more. */
  push(chunk: Buffer): Frame[] {
    const out: Frame[] = [];
    if (this.failed !== undefined || chunk.length === 0) return out;
    if (this.start === this.end) {
      // nothing pending: frame straight from the chunk, no copy for whole messages
      this.buf = chunk;
      this.start = 0;
      this.end = chunk.length;
      this.scanFrom = 0;
    } else {
      this.append(chunk);
    }
    this.drain(out);
    if (this.start === this.end) {
      this.buf = Buffer.alloc(0);
      this.start = this.end = 0;
    } else if (this.buf === chunk) {
      // the caller's chunk may be a view into memory it reuses: keep our own copy of the tail
      this.rebase(Buffer.allocUnsafe(Math.max(this.end - this.start, 4096)));
    }
    return out;
  }

  private append(chunk: Buffer): void {
    if (this.buf.length - this.end < chunk.length) {
      let need = this.end - this.start + chunk.length;
      // a known body length: make room for the whole message at once, so it is copied once
      if (this.bodyStart >= 0) need = Math.max(need, this.bodyStart + this.bodyLength - this.start);
      this.rebase(Buffer.allocUnsafe(Math.max(need, (this.end - this.start) * 2, 4096)));
    }
    chunk.copy(this.buf, this.end);
    this.end += chunk.length;
  }

  /** Moves the pending bytes to the start of `fresh`, keeping offsets relative. */
  private rebase(fresh: Buffer): void {
    const shift = this.start;
    this.buf.copy(fresh, 0, this.start, this.end);
    this.buf = fresh;
    this.end -= shift;
    this.start = 0;
    this.scanFrom = Math.max(0, this.scanFrom - shift);
    if (this.bodyStart >= 0) this.bodyStart -= shift;
  }

  private fail(out: Frame[], reason: string): void {
    this.failed = reason;
    this.buf = Buffer.alloc(0);
    this.start = this.end = 0;
    out.push({ type: 'error', reason });
  }

  private drain(out: Frame[]): void {
    const buf = this.buf;
    for (;;) {
      if (this.bodyStart < 0 && this.scanFrom === this.start) {
        // between messages: consume CRLF keep-alives
        while (this.start < this.end && buf[this.start] === CR) {
          if (this.start + 1 >= this.end) return; // a lone CR: wait for its LF
          if (buf[this.start + 1] !== LF) break; // garbage; the parser will reject it
          this.start += 2;
          this.scanFrom = this.start;
          if (++this.crlfs === 2) {
            this.crlfs = 0;
            out.push({ type: 'ping' });
          }
        }
        this.scanFrom = this.start;
        if (this.start === this.end) return;
        this.crlfs = 0;
      }
      if (this.bodyStart < 0) {
        // bounded view: past `end` the buffer holds stale bytes
        const at = buf.subarray(0, this.end).indexOf(CRLFCRLF, this.scanFrom);
        if (at < 0 || at + 4 - this.start > this.maxHeader) {
          if (at >= 0 || this.end - this.start > this.maxHeader) {
            this.fail(out, 'header too large');
            return;
          }
          // the terminator may straddle this read and the next one
          this.scanFrom = Math.max(this.start, this.end - 3);
          return;
        }
        const length = contentLength(buf.toString('latin1', this.start, at));
        if (typeof length === 'string') {
          this.fail(out, length);
          return;
        }
        if (length > this.maxBody) {
          this.fail(out, 'body too large');
          return;
        }
        this.bodyStart = at + 4;
        this.bodyLength = length;
      }
      const msgEnd = this.bodyStart + this.bodyLength;
      if (msgEnd > this.end) return;
      out.push({ type: 'message', data: buf.subarray(this.start, msgEnd) });
      this.start = this.scanFrom = msgEnd;
      this.bodyStart = -1;
      this.bodyLength = 0;
    }
  }
}

/**
 * The Content-Length of a header block (without its final CRLFCRLF): a number, 0 when absent,
 * or the reason the stream cannot be framed.
 */
function contentLength(head: string): number | string {
  let found: number | undefined;
  let pos = head.indexOf('\r\n');
  while (pos >= 0) {
    const lineStart = pos + 2;
    const next = head.indexOf('\r\n', lineStart);
    let lineEnd = next < 0 ? head.length : next;
    const c0 = head.charCodeAt(lineStart);
    const colon = head.indexOf(':', lineStart);
    if (c0 !== 32 && c0 !== 9 && colon > lineStart && colon < lineEnd) {
      const name = head.slice(lineStart, colon).trim().toLowerCase();
      if (name === 'content-length' || name === 'l') {
        // take folded continuation lines along, however unlikely
        let nextPos = next;
        while (nextPos >= 0 && (head.charCodeAt(nextPos + 2) === 32 || head.charCodeAt(nextPos + 2) === 9)) {
          nextPos = head.indexOf('\r\n', nextPos + 2);
          lineEnd = nextPos < 0 ? head.length : nextPos;
        }
        const value = head.slice(colon + 1, lineEnd).trim();
        if (!/^\d{1,10}$/.test(value)) return 'bad Content-Length';
        const n = Number(value);
        if (found !== undefined && found !== n) return 'conflicting Content-Length';
        found = n;
      }
    }
    pos = next;
  }
  return found ?? 0;
}
