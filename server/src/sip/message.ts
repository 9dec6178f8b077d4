// SIP requests and responses. Header text is held as "binary" (latin1) strings: one char
// per octet, so a message parsed and serialised again keeps its bytes, including UTF-8
// display names and reason phrases. `toText`/`fromText` convert at the edges where real
// Unicode text is wanted (apps, logs).
//
// Structured views (Via list, From/To, CSeq, ...) are parsed on first use and cached, so the
// hot path pays only for the headers it reads; any edit through the methods below drops the
// cache of the header it touches.
import { getParam, SipSyntaxError, splitTopLevel } from './grammar.js';
import { type CSeq, type NameAddr, parseCSeq, parseNameAddr, parseVia, type Via } from './headers.js';
import { canonicalName, isListHeader } from './names.js';
import { parseUri, type Uri } from './uri.js';

export interface Header {
  /** Lowercase full name (compact forms expanded). */
  name: string;
  /** Value with line folding replaced by a single space and outer whitespace trimmed. */
  value: string;
  /** The header line exactly as received (without its final CRLF), kept while unmodified. */
  raw?: string;
}

abstract class SipMessageBase {
  headers: Header[];
  body: Buffer;
  version: string;
  private cache = new Map<string, unknown>();

  constructor(headers: Header[], body: Buffer, version: string) {
    this.headers = headers;
    this.body = body;
    this.version = version;
  }

  /** First value of a header (the whole line for non-list headers). */
  header(name: string): string | undefined {
    for (const h of this.headers) if (h.name === name) return h.value;
    return undefined;
  }

  /** Header lines with this name, in order. */
  headerLines(name: string): string[] {
    const out: string[] = [];
    for (const h of this.headers) if (h.name === name) out.push(h.value);
    return out;
  }

  /** Every value of a header; for list headers, comma-separated values are split apart. */
  headerValues(name: string): string[] {
    const lines = this.headerLines(name);
    if (!isListHeader(name)) return lines;
    const out: string[] = [];
    for (const line of lines) for (const v of splitTopLevel(line)) out.push(v);
    return out;
  }

  hasHeader(name: string): boolean {
    for (const h of this.headers) if (h.name === name) return true;
    return false;
  }

  /** Appends a header (name given in any case, compact or full). */
  addHeader(name: string, value: string): this {
    const n = canonicalName(name);
    this.headers.push({ name: n, value });
    this.cache.delete(n);
    return this;
  }

  /** Puts a header first among the headers (before any of the same name). */
  prependHeader(name: string, value: string): this {
    const n = canonicalName(name);
    this.headers.unshift({ name: n, value });
    this.cache.delete(n);
    return this;
  }

  /** Replaces every line of a header with one value, at the place of the first. */
  setHeader(name: string, value: string): this {
    const n = canonicalName(name);
    const idx = this.headers.findIndex((h) => h.name === n);
    if (idx < 0) return this.addHeader(n, value);
    this.headers = this.headers.filter((h, i) => h.name !== n || i === idx);
    this.headers[this.headers.findIndex((h) => h.name === n)] = { name: n, value };
    this.cache.delete(n);
    return this;
  }

  removeHeader(name: string): this {
    const n = canonicalName(name);
    this.headers = this.headers.filter((h) => h.name !== n);
    this.cache.delete(n);
    return this;
  }

  protected cached<T>(key: string, make: () => T): T {
    if (this.cache.has(key)) return this.cache.get(key) as T;
    const v = make();
    this.cache.set(key, v);
    return v;
  }

  /** All Via values, top first. Throws SipSyntaxError if any is malformed. */
  get vias(): Via[] {
    return this.cached('via', () => this.headerValues('via').map(parseVia));
  }

  get topVia(): Via | undefined {
    return this.vias[0];
  }

  get callId(): string {
    return this.cached('call-id', () => {
      const v = this.header('call-id');
      if (!v) throw new SipSyntaxError('missing Call-ID');
      return v;
    });
  }

  get cseq(): CSeq {
    return this.cached('cseq', () => {
      const v = this.header('cseq');
      if (v === undefined) throw new SipSyntaxError('missing CSeq');
      return parseCSeq(v);
    });
  }

  get from(): NameAddr {
    return this.cached('from', () => requiredAddr(this, 'from'));
  }

  get to(): NameAddr {
    return this.cached('to', () => requiredAddr(this, 'to'));
  }

  get fromTag(): string | undefined {
    return getParam(this.from.params, 'tag') ?? undefined;
  }

  get toTag(): string | undefined {
    return getParam(this.to.params, 'tag') ?? undefined;
  }

  get contacts(): NameAddr[] {
    return this.cached('contact', () =>
      this.headerValues('contact')
        .filter((v) => v !== '*')
        .map(parseNameAddr),
    );
  }

  /** Max-Forwards, or undefined when absent. */
  get maxForwards(): number | undefined {
    return this.cached('max-forwards', () => {
      const v = this.header('max-forwards');
      if (v === undefined) return undefined;
      if (!/^\d{1,10}$/.test(v)) throw new SipSyntaxError('bad Max-Forwards');
      return Number(v);
    });
  }

  get contentType(): string | undefined {
    return this.header('content-type');
  }

  /** Drops every cached structured view; call after editing `headers` directly. */
  invalidate(): void {
    this.cache.clear();
  }
}

function requiredAddr(m: SipMessageBase, name: string): NameAddr {
  const lines = m.headerLines(name);
  if (lines.length === 0) throw new SipSyntaxError(`missing ${name === 'from' ? 'From' : 'To'}`);
  return parseNameAddr(lines[0] as string);
}

export class SipRequest extends SipMessageBase {
  readonly kind = 'request' as const;
  method: string;
  /** Request-URI text as received (or set). */
  uri: string;

  constructor(
    method: string,
    uri: string,
    headers: Header[] = [],
    body: Buffer = EMPTY,
    version = 'SIP/2.0',
  ) {
    super(headers, body, version);
    this.method = method;
    this.uri = uri;
  }

  /** The Request-URI parsed; throws SipSyntaxError when malformed. */
  get ruri(): Uri {
    return this.cached(`ruri:${this.uri}`, () => parseUri(this.uri));
  }
}

export class SipResponse extends SipMessageBase {
  readonly kind = 'response' as const;
  status: number;
  reason: string;

  constructor(
    status: number,
    reason: string,
    headers: Header[] = [],
    body: Buffer = EMPTY,
    version = 'SIP/2.0',
  ) {
    super(headers, body, version);
    this.status = status;
    this.reason = reason;
  }
}

export type SipMessage = SipRequest | SipResponse;

export const EMPTY = Buffer.alloc(0);

/** Binary (latin1) header text → Unicode, for apps and logs. */
export function toText(binary: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: testing for 8-bit chars
  return /[^\x00-\x7f]/.test(binary) ? Buffer.from(binary, 'latin1').toString('utf8') : binary;
}

/** Unicode text → binary (latin1) header text, for values coming from apps. */
export function fromText(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: testing for 8-bit chars
  return /[^\x00-\x7f]/.test(text) ? Buffer.from(text, 'utf8').toString('latin1') : text;
}
