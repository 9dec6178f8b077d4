// The request of a callback, written to the wire straight from the parsed SIP message.
//
// Every callback carries its request (proto Request): with `requestToPb` that is some sixty
// objects made per request (URIs, name-addrs, params, headers), walked once by the generated
// encoder and dropped. At tens of thousands of callbacks a second those objects were about a
// fifth of what the server allocated on the app path, and their walk through the generated
// code's megamorphic loads a good part of the encoding. `writeRequest` writes the same fields,
// in the same order, from the message itself, into a `WireRequest`; the generated
// `Request.encode` copies those bytes (below), so the messages that carry a request need no
// other change.
//
// `requestToPb` stays the reference: the bytes written here must be exactly its encoding
// (server/test/apps-wire-request.test.ts checks the torture corpus and typical traffic).
// Reading a field of a WireRequest (tests do) decodes its bytes: what an app reads.
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { type Request as PbRequest, Request as PbRequestCodec } from '../gen/nksip/v1/sip.js';
import type { Param } from '../sip/grammar.js';
import { type NameAddr, parseNameAddr, parseVia, type Via } from '../sip/headers.js';
import { type SipRequest, toText } from '../sip/message.js';
import { isSipUri, isTelUri, parseUri, type Uri } from '../sip/uri.js';
import type { Source } from '../transport/types.js';
import { cachedOr, rawUriOf } from './convert.js';

// Field tags: field number << 3 | wire type (0 varint, 2 length-delimited), as proto/ says.
const Tag = {
  ParamName: (1 << 3) | 2,
  ParamValue: (2 << 3) | 2,
  ParamFlag: (3 << 3) | 0,
  UriRaw: (1 << 3) | 2,
  UriScheme: (2 << 3) | 2,
  UriUser: (3 << 3) | 2,
  UriHost: (4 << 3) | 2,
  UriPort: (5 << 3) | 0,
  UriParams: (6 << 3) | 2,
  UriHeaders: (7 << 3) | 2,
  NameAddrRaw: (1 << 3) | 2,
  NameAddrDisplay: (2 << 3) | 2,
  NameAddrUri: (3 << 3) | 2,
  NameAddrParams: (4 << 3) | 2,
  ViaTransport: (1 << 3) | 2,
  ViaHost: (2 << 3) | 2,
  ViaPort: (3 << 3) | 0,
  ViaParams: (4 << 3) | 2,
  HeaderName: (1 << 3) | 2,
  HeaderValue: (2 << 3) | 2,
  TransportName: (1 << 3) | 2,
  TransportLocalIp: (2 << 3) | 2,
  TransportLocalPort: (3 << 3) | 0,
  TransportRemoteIp: (4 << 3) | 2,
  TransportRemotePort: (5 << 3) | 0,
  Method: (1 << 3) | 2,
  Ruri: (2 << 3) | 2,
  From: (3 << 3) | 2,
  To: (4 << 3) | 2,
  CallId: (5 << 3) | 2,
  CSeq: (6 << 3) | 0,
  CSeqMethod: (7 << 3) | 2,
  Vias: (8 << 3) | 2,
  Contacts: (9 << 3) | 2,
  ContactStar: (10 << 3) | 0,
  Routes: (11 << 3) | 2,
  MaxForwards: (12 << 3) | 0,
  Headers: (13 << 3) | 2,
  Body: (14 << 3) | 2,
  ContentType: (15 << 3) | 2,
  Transport: (16 << 3) | 2,
} as const;
type Tag = (typeof Tag)[keyof typeof Tag];

/** What @bufbuild/protobuf's writer keeps private: its bytes and how far they are written. */
interface WriterState {
  buffer: Uint8Array;
  pos: number;
  ensureCapacity(size: number): void;
}

/** Whether this version of the writer has that shape; if not, text takes its public path. */
const DIRECT = ((): boolean => {
  const st = new BinaryWriter() as unknown as Partial<WriterState>;
  return (
    typeof st.ensureCapacity === 'function' && typeof st.pos === 'number' && st.buffer instanceof Uint8Array
  );
})();

/**
 * Writes an ASCII string with its length prefix straight into the writer's bytes; false
 * (nothing written) for other text. The writer's own fast path stops at 32 characters and
 * header values are longer; the checks of both are done in the one loop.
 */
function ascii(w: BinaryWriter, s: string): boolean {
  const len = s.length;
  if (!DIRECT || len >= 0x4000) return false;
  const st = w as unknown as WriterState;
  st.ensureCapacity(len + 2);
  const buf = st.buffer;
  let pos = st.pos;
  if (len < 0x80) buf[pos++] = len;
  else {
    buf[pos++] = (len & 0x7f) | 0x80;
    buf[pos++] = len >>> 7;
  }
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return false;
    buf[pos++] = c;
  }
  st.pos = pos;
  return true;
}

/** proto3: a field at its default value is not written. */
function str(w: BinaryWriter, tag: Tag, s: string): void {
  if (s === '') return;
  w.uint32(tag);
  if (!ascii(w, s)) w.string(s);
}

/** Header text (binary) as the app's Unicode, `toText`: ASCII is the same either way. */
function txt(w: BinaryWriter, tag: Tag, s: string): void {
  if (s === '') return;
  w.uint32(tag);
  if (!ascii(w, s)) w.string(toText(s));
}

function uint(w: BinaryWriter, tag: Tag, n: number): void {
  if (n !== 0) w.uint32(tag).uint32(n);
}

function params(w: BinaryWriter, tag: Tag, list: readonly Param[]): void {
  for (const [name, value] of list) {
    w.uint32(tag).fork();
    txt(w, Tag.ParamName, name);
    if (value === null) w.uint32(Tag.ParamFlag).bool(true);
    else txt(w, Tag.ParamValue, value);
    w.join();
  }
}

/** As `uriToPb`. */
function uri(w: BinaryWriter, tag: Tag, raw: string, parsed?: Uri): void {
  w.uint32(tag).fork();
  txt(w, Tag.UriRaw, raw);
  let u = parsed;
  if (u === undefined) {
    try {
      u = parseUri(raw);
    } catch {
      const colon = raw.indexOf(':');
      if (colon > 0) str(w, Tag.UriScheme, raw.slice(0, colon).toLowerCase());
      w.join();
      return;
    }
  }
  str(w, Tag.UriScheme, u.scheme);
  if (isSipUri(u)) {
    txt(w, Tag.UriUser, u.user ?? '');
    str(w, Tag.UriHost, u.host);
    uint(w, Tag.UriPort, u.port ?? 0);
    params(w, Tag.UriParams, u.params);
    params(w, Tag.UriHeaders, u.headers);
  } else if (isTelUri(u)) {
    str(w, Tag.UriUser, u.number);
    params(w, Tag.UriParams, u.params);
  }
  w.join();
}

/** As `nameAddrToPb`. */
function nameAddr(w: BinaryWriter, tag: Tag, value: string, parsed?: NameAddr): void {
  let na = parsed;
  if (na === undefined) {
    try {
      na = parseNameAddr(value);
    } catch {
      w.uint32(tag).fork();
      txt(w, Tag.NameAddrRaw, value);
      uri(w, Tag.NameAddrUri, rawUriOf(value));
      w.join();
      return;
    }
  }
  w.uint32(tag).fork();
  txt(w, Tag.NameAddrRaw, value);
  txt(w, Tag.NameAddrDisplay, na.displayName ?? '');
  uri(w, Tag.NameAddrUri, rawUriOf(value), na.uri);
  params(w, Tag.NameAddrParams, na.params);
  w.join();
}

function via(w: BinaryWriter, v: Via): void {
  w.uint32(Tag.Vias).fork();
  str(w, Tag.ViaTransport, v.transport);
  str(w, Tag.ViaHost, v.host);
  uint(w, Tag.ViaPort, v.port ?? 0);
  params(w, Tag.ViaParams, v.params);
  w.join();
}

/** From and To, in field order. */
const ADDRS = [
  ['from', Tag.From],
  ['to', Tag.To],
] as const;

/** As `requestToPb` followed by the generated encoder, field by field in number order. */
export function writeRequest(w: BinaryWriter, req: SipRequest, source: Source | undefined): void {
  str(w, Tag.Method, req.method);
  uri(
    w,
    Tag.Ruri,
    req.uri,
    cachedOr(() => req.ruri),
  );
  for (const [name, tag] of ADDRS) {
    const value = req.header(name);
    if (value !== undefined)
      nameAddr(
        w,
        tag,
        value,
        cachedOr(() => req[name]),
      );
  }
  txt(w, Tag.CallId, req.header('call-id') ?? '');
  const cseq = cachedOr(() => req.cseq);
  uint(w, Tag.CSeq, cseq?.seq ?? 0);
  str(w, Tag.CSeqMethod, cseq?.method ?? '');
  const vias = cachedOr(() => req.vias);
  if (vias) {
    for (const v of vias) via(w, v);
  } else {
    // some Via is malformed: the good ones; the bad one reaches the app only in headers
    for (const text of req.headerValues('via')) {
      const v = cachedOr(() => parseVia(text));
      if (v) via(w, v);
    }
  }
  const contacts = req.headerValues('contact');
  let star = false;
  if (contacts.length > 0) {
    const parsed = cachedOr(() => req.contacts);
    let i = 0;
    for (const text of contacts) {
      if (text.trim() === '*') {
        star = true;
        continue;
      }
      // the parsed Contacts follow the order of their texts, the star left out
      nameAddr(w, Tag.Contacts, text, parsed?.[i++]);
    }
  }
  if (star) w.uint32(Tag.ContactStar).bool(true);
  for (const text of req.headerValues('route')) nameAddr(w, Tag.Routes, text);
  let maxForwards = -1;
  try {
    maxForwards = req.maxForwards ?? -1;
  } catch {
    // malformed: shown in headers only
  }
  if (maxForwards !== 0) w.uint32(Tag.MaxForwards).int32(maxForwards);
  for (const h of req.headers) {
    w.uint32(Tag.Headers).fork();
    str(w, Tag.HeaderName, h.name);
    txt(w, Tag.HeaderValue, h.value);
    w.join();
  }
  if (req.body.length !== 0) w.uint32(Tag.Body).bytes(req.body);
  txt(w, Tag.ContentType, req.contentType ?? '');
  if (source) {
    w.uint32(Tag.Transport).fork();
    str(w, Tag.TransportName, source.transport);
    str(w, Tag.TransportLocalIp, source.localAddress);
    uint(w, Tag.TransportLocalPort, source.localPort);
    str(w, Tag.TransportRemoteIp, source.address);
    uint(w, Tag.TransportRemotePort, source.port);
    w.join();
  }
}

/** Where requests are written, one at a time; their bytes are then copied out. */
let scratch = new BinaryWriter();

/** What `w` holds, copied out (into Node's pool: these bytes live only until they are sent). */
function take(w: BinaryWriter): Uint8Array {
  if (!DIRECT) return w.finish();
  const st = w as unknown as WriterState;
  const out = Buffer.allocUnsafe(st.pos);
  out.set(st.buffer.subarray(0, st.pos));
  st.pos = 0;
  return out;
}

/**
 * A proto Request encoded from the SIP request when the callback is made (what the app sees
 * is the request as it was then, though the message waits for the end of the event loop's
 * turn to be sent): the generated encoders copy its bytes; reading a field decodes them.
 */
export class WireRequest {
  readonly bytes: Uint8Array;
  #decoded: PbRequest | undefined;

  constructor(req: SipRequest, source: Source | undefined) {
    try {
      writeRequest(scratch, req, source);
    } catch (err) {
      scratch = new BinaryWriter(); // not left half written for the next one
      throw err;
    }
    this.bytes = take(scratch);
  }

  get decoded(): PbRequest {
    this.#decoded ??= PbRequestCodec.decode(this.bytes);
    return this.#decoded;
  }

  /** This, as the type the generated messages hold (its fields are the getters below). */
  asPb(): PbRequest {
    return this as unknown as PbRequest;
  }
}

// Every field of the proto Request, read through the decoding; the Record makes the compiler
// ask for a field added to the proto (which `writeRequest` must then write too).
const FIELDS: Record<keyof PbRequest, true> = {
  method: true,
  ruri: true,
  from: true,
  to: true,
  callId: true,
  cseq: true,
  cseqMethod: true,
  vias: true,
  contacts: true,
  contactStar: true,
  routes: true,
  maxForwards: true,
  headers: true,
  body: true,
  contentType: true,
  transport: true,
};
for (const name of Object.keys(FIELDS) as (keyof PbRequest)[]) {
  Object.defineProperty(WireRequest.prototype, name, {
    get(this: WireRequest) {
      return this.decoded[name];
    },
  });
}

/** A callback's request, for a message to an app. */
export function wireRequest(req: SipRequest, source?: Source): PbRequest {
  return new WireRequest(req, source).asPb();
}

// The generated encoder writes a WireRequest its own way, wherever a message holds one.
const generatedEncode = PbRequestCodec.encode;
PbRequestCodec.encode = (message, writer) => {
  if (message instanceof WireRequest) return (writer ?? new BinaryWriter()).raw(message.bytes);
  return generatedEncode(message, writer);
};
