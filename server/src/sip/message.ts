// SIP requests and responses. Header text is held as "binary" (latin1) strings: one char
// per octet, so a message parsed and serialised again keeps its bytes, including UTF-8
// display names and reason phrases. `toText`/`fromText` convert at the edges where real
// Unicode text is wanted (apps, logs).
//
// Structured views (Via list, From/To, CSeq, ...) are parsed on first use and cached, so the
// hot path pays only for the headers it reads; any edit through the methods below drops the
// cache of the header it touches.
import { getParam, SipSyntaxError, splitTopLevel } from './grammar.js';
import {
  type CSeq,
  formatVia,
  type NameAddr,
  parseCSeq,
  parseNameAddr,
  parseVia,
  type Via,
} from './headers.js';
import { keptCopy } from './kept.js';
import { canonicalName, isListHeader } from './names.js';
import { detached } from './strings.js';
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
  // Parsed views, filled on first use (plain fields: cheaper than a Map on the hot path).
  private _vias: Via[] | undefined;
  private _callId: string | undefined;
  private _cseq: CSeq | undefined;
  private _from: NameAddr | undefined;
  private _to: NameAddr | undefined;
  private _contacts: NameAddr[] | undefined;
  private _maxForwards: number | null | undefined;

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
    this.drop(n);
    return this;
  }

  /** Puts a header first among the headers (before any of the same name). */
  prependHeader(name: string, value: string): this {
    const n = canonicalName(name);
    this.headers.unshift({ name: n, value });
    this.drop(n);
    return this;
  }

  /** Replaces every line of a header with one value, at the place of the first. */
  setHeader(name: string, value: string): this {
    const n = canonicalName(name);
    const idx = this.headers.findIndex((h) => h.name === n);
    if (idx < 0) return this.addHeader(n, value);
    this.headers = this.headers.filter((h, i) => h.name !== n || i === idx);
    this.headers[this.headers.findIndex((h) => h.name === n)] = { name: n, value };
    this.drop(n);
    return this;
  }

  removeHeader(name: string): this {
    const n = canonicalName(name);
    this.headers = this.headers.filter((h) => h.name !== n);
    this.drop(n);
    return this;
  }

  /**
   * Forgets the parsed view of one header (lowercase full name) after its lines were edited
   * in `headers` directly; the other views stay.
   */
  drop(name: string): void {
    switch (name) {
      case 'via':
        this._vias = undefined;
        break;
      case 'call-id':
        this._callId = undefined;
        break;
      case 'cseq':
        this._cseq = undefined;
        break;
      case 'from':
        this._from = undefined;
        break;
      case 'to':
        this._to = undefined;
        break;
      case 'contact':
        this._contacts = undefined;
        break;
      case 'max-forwards':
        this._maxForwards = undefined;
        break;
    }
  }

  /**
   * Takes over another message's parsed Via, From, Call-ID and CSeq views: for a response
   * built from a request, whose header lines it copies unchanged (RFC 3261 §8.2.6), so the
   * transport routing the response does not parse them again.
   */
  shareViews(from: SipMessageBase): void {
    this._vias ??= from._vias;
    this._from ??= from._from;
    this._callId ??= from._callId;
    this._cseq ??= from._cseq;
  }

  /**
   * Takes over every parsed view of a message whose header lines this one copies unchanged
   * (the proxy's copies): the views are never edited in place, so both may hold them.
   */
  protected copyViews(from: SipMessageBase): void {
    this.shareViews(from);
    this._to = from._to;
    this._contacts = from._contacts;
    this._maxForwards = from._maxForwards;
  }

  /** Replaces the first Via value (keeping any others of its line); its parsed view follows. */
  setTopVia(via: Via): void {
    const text = formatVia(via);
    const idx = this.headers.findIndex((h) => h.name === 'via');
    const line = this.headers[idx];
    if (!line) throw new Error('message has no Via');
    const comma = line.value.indexOf(',');
    let value = text;
    if (comma >= 0) {
      const values = splitTopLevel(line.value);
      values[0] = text;
      value = values.join(', ');
    }
    this.headers[idx] = { name: 'via', value };
    if (this._vias !== undefined) {
      const vias = this._vias.slice();
      vias[0] = via;
      this._vias = vias;
    }
  }

  /** Removes the first Via value (a proxy's own, from a response); its parsed view follows. */
  shiftVia(): void {
    const idx = this.headers.findIndex((h) => h.name === 'via');
    const line = this.headers[idx];
    if (!line) return;
    if (line.value.indexOf(',') < 0) {
      this.headers.splice(idx, 1);
    } else {
      const values = splitTopLevel(line.value);
      if (values.length <= 1) this.headers.splice(idx, 1);
      else this.headers[idx] = { name: 'via', value: values.slice(1).join(', ') };
    }
    if (this._vias !== undefined) this._vias = this._vias.slice(1);
  }

  /** All Via values, top first. Throws SipSyntaxError if any is malformed. */
  get vias(): Via[] {
    this._vias ??= this.headerValues('via').map(parseVia);
    return this._vias;
  }

  /** The top Via alone: routing needs only it, so the others stay unparsed. */
  get topVia(): Via | undefined {
    if (this._vias !== undefined) return this._vias[0];
    let line: string | undefined;
    let single = true;
    for (const h of this.headers) {
      if (h.name !== 'via') continue;
      if (line !== undefined) {
        single = false;
        break;
      }
      line = h.value;
    }
    if (line === undefined) return undefined;
    const comma = line.indexOf(',');
    const via = parseVia(comma < 0 ? line : (splitTopLevel(line)[0] as string));
    // one Via value in all: that is the whole list, kept so it is not parsed again
    if (single && comma < 0) this._vias = [via];
    return via;
  }

  get callId(): string {
    if (this._callId === undefined) {
      const v = this.header('call-id');
      if (!v) throw new SipSyntaxError('missing Call-ID');
      this._callId = v;
    }
    return this._callId;
  }

  get cseq(): CSeq {
    if (this._cseq === undefined) {
      const v = this.header('cseq');
      if (v === undefined) throw new SipSyntaxError('missing CSeq');
      this._cseq = parseCSeq(v);
    }
    return this._cseq;
  }

  get from(): NameAddr {
    this._from ??= requiredAddr(this, 'from');
    return this._from;
  }

  get to(): NameAddr {
    this._to ??= requiredAddr(this, 'to');
    return this._to;
  }

  get fromTag(): string | undefined {
    return this._from ? (getParam(this._from.params, 'tag') ?? undefined) : tagOf(this, 'from');
  }

  get toTag(): string | undefined {
    return this._to ? (getParam(this._to.params, 'tag') ?? undefined) : tagOf(this, 'to');
  }

  get contacts(): NameAddr[] {
    this._contacts ??= this.headerValues('contact')
      .filter((v) => v !== '*')
      .map(parseNameAddr);
    return this._contacts;
  }

  /** Max-Forwards, or undefined when absent. */
  get maxForwards(): number | undefined {
    if (this._maxForwards === undefined) {
      const v = this.header('max-forwards');
      if (v === undefined) {
        this._maxForwards = null;
      } else {
        if (!/^\d{1,10}$/.test(v)) throw new SipSyntaxError('bad Max-Forwards');
        this._maxForwards = Number(v);
      }
    }
    return this._maxForwards ?? undefined;
  }

  get contentType(): string | undefined {
    return this.header('content-type');
  }

  /** Drops every cached structured view; call after editing `headers` directly. */
  invalidate(): void {
    for (const n of ['via', 'call-id', 'cseq', 'from', 'to', 'contact', 'max-forwards']) this.drop(n);
  }
}

/**
 * The tag of From or To read straight from the text, for matching without a full name-addr
 * parse; falls back to the parser when the value has anything unusual (quotes, escapes).
 */
function tagOf(m: SipMessageBase, name: 'from' | 'to'): string | undefined {
  const v = m.header(name);
  if (v === undefined || v.includes('"'))
    return getParam((name === 'from' ? m.from : m.to).params, 'tag') ?? undefined;
  // header parameters follow the '>' of a name-addr, or the URI of an addr-spec
  const gt = v.lastIndexOf('>');
  const params = gt >= 0 ? v.slice(gt + 1) : v.slice(Math.max(0, v.indexOf(';')));
  const m1 = /;\s*tag\s*=\s*([^;\s]+)/i.exec(params);
  return m1 ? m1[1] : undefined;
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

  private parsedUri: { text: string; uri: Uri } | undefined;

  /** A copy with its own header list (the header objects are shared: edits replace them). */
  copy(): SipRequest {
    const out = new SipRequest(this.method, this.uri, this.headers.slice(), this.body, this.version);
    out.copyViews(this);
    out.parsedUri = this.parsedUri;
    return out;
  }

  /**
   * The same request holding nothing else alive: header values copied out of the received
   * message's text, without the lines as received (it is not forwarded again), no parsed
   * views, the body among kept bytes (kept.ts). For a request kept long after it was handled.
   */
  compacted(): SipRequest {
    const headers: Header[] = this.headers.map((h) => ({ name: h.name, value: detached(h.value) }));
    const body = this.body.length > 0 ? keptCopy(this.body) : EMPTY;
    return new SipRequest(this.method, detached(this.uri), headers, body, this.version);
  }

  /** The Request-URI parsed; throws SipSyntaxError when malformed. */
  get ruri(): Uri {
    if (this.parsedUri?.text !== this.uri) this.parsedUri = { text: this.uri, uri: parseUri(this.uri) };
    return this.parsedUri.uri;
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

  /** A copy with its own header list (the header objects are shared: edits replace them). */
  copy(): SipResponse {
    const out = new SipResponse(this.status, this.reason, this.headers.slice(), this.body, this.version);
    out.copyViews(this);
    return out;
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
