// Friendly read-only views of the protobuf Request and Response: the parsed essentials plus
// header(name) / headers(name) over the ordered header list, and the body as bytes and text.

import type { Header, NameAddr, Param, Request, Response, TransportInfo, Uri, Via } from './pb.js';
import type { Reply } from './reply.js';

/** A SIP, SIPS or TEL URI (proto Uri) with a parameter lookup. */
export interface SipUri extends Uri {
  /** The value of a URI parameter ('' for a flag such as `lr`), undefined when absent. */
  param(name: string): string | undefined;
}

/** A From, To, Contact or Route value (proto NameAddr). */
export interface Address {
  /** The value as written, parameters included. */
  readonly raw: string;
  readonly displayName: string;
  readonly uri: SipUri;
  readonly params: readonly Param[];
  /** The `tag` parameter, '' when absent. */
  readonly tag: string;
  /** A header parameter ('' for a flag), undefined when absent. */
  param(name: string): string | undefined;
}

const EMPTY_URI: Uri = { raw: '', scheme: '', user: '', host: '', port: 0, params: [], headers: [] };

function findParam(params: readonly Param[], name: string): string | undefined {
  const n = name.toLowerCase();
  for (const p of params) if (p.name.toLowerCase() === n) return p.value;
  return undefined;
}

// Classes rather than spread copies with closures: every callback builds several of these
// (Request-URI, From, To, Contacts, Routes), and one shape with a shared `param` is cheaper.
class UriView implements SipUri {
  readonly raw: string;
  readonly scheme: string;
  readonly user: string;
  readonly host: string;
  readonly port: number;
  readonly params: Param[];
  readonly headers: Param[];

  constructor(u: Uri) {
    this.raw = u.raw;
    this.scheme = u.scheme;
    this.user = u.user;
    this.host = u.host;
    this.port = u.port;
    this.params = u.params;
    this.headers = u.headers;
  }

  param(name: string): string | undefined {
    return findParam(this.params, name);
  }
}

class AddressView implements Address {
  readonly raw: string;
  readonly displayName: string;
  readonly uri: SipUri;
  readonly params: readonly Param[];
  readonly tag: string;

  constructor(na: NameAddr | undefined) {
    this.raw = na?.raw ?? '';
    this.displayName = na?.displayName ?? '';
    this.uri = toSipUri(na?.uri);
    this.params = na?.params ?? [];
    this.tag = findParam(this.params, 'tag') ?? '';
  }

  param(name: string): string | undefined {
    return findParam(this.params, name);
  }
}

export function toSipUri(uri: Uri | undefined): SipUri {
  return new UriView(uri ?? EMPTY_URI);
}

export function toAddress(na: NameAddr | undefined): Address {
  return new AddressView(na);
}

// RFC 3261 §7.3.3 and later RFCs' compact forms; the server already expands them in messages,
// this lets `header('v')` find Via too.
const COMPACT: Readonly<Record<string, string>> = {
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
};

function canonicalName(name: string): string {
  const n = name.toLowerCase();
  return COMPACT[n] ?? n;
}

const NO_TRANSPORT: TransportInfo = { transport: '', localIp: '', localPort: 0, remoteIp: '', remotePort: 0 };

/** What requests and responses share. */
export abstract class SipMessage {
  readonly from: Address;
  readonly to: Address;
  readonly callId: string;
  readonly cseq: number;
  readonly cseqMethod: string;
  /** Via values, top first. */
  readonly vias: readonly Via[];
  readonly contacts: readonly Address[];
  /** Every header line in order: lowercase full names, values as received. */
  readonly allHeaders: readonly Header[];
  /** The body's exact octets. */
  readonly body: Buffer;
  readonly contentType: string;
  /** Where the message came from. */
  readonly transport: TransportInfo;

  protected constructor(m: Request | Response) {
    this.from = toAddress(m.from);
    this.to = toAddress(m.to);
    this.callId = m.callId;
    this.cseq = m.cseq;
    this.cseqMethod = m.cseqMethod;
    this.vias = m.vias;
    this.contacts = m.contacts.map(toAddress);
    this.allHeaders = m.headers;
    // a view of the decoded bytes, not a copy
    this.body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
    this.contentType = m.contentType;
    this.transport = m.transport ?? NO_TRANSPORT;
  }

  /** The first value of a header (any case, compact forms allowed), undefined when absent. */
  header(name: string): string | undefined {
    const n = canonicalName(name);
    for (const h of this.allHeaders) if (h.name === n) return h.value;
    return undefined;
  }

  /**
   * Every line of a header, in order. A line with several comma-separated values stays one
   * entry, as received.
   */
  headers(name: string): string[] {
    const n = canonicalName(name);
    const out: string[] = [];
    for (const h of this.allHeaders) if (h.name === n) out.push(h.value);
    return out;
  }

  hasHeader(name: string): boolean {
    return this.header(name) !== undefined;
  }

  /** The body decoded as UTF-8. */
  get text(): string {
    return this.body.toString('utf8');
  }
}

/** A request as a callback sees it. */
export class SipRequest extends SipMessage {
  readonly method: string;
  readonly ruri: SipUri;
  readonly routes: readonly Address[];
  /** -1 when the header is absent. */
  readonly maxForwards: number;
  /** `Contact: *` (REGISTER). */
  readonly contactStar: boolean;
  /** The protobuf message this view was built from. */
  readonly raw: Request;

  constructor(
    req: Request,
    /** Handle of the request: for a late reply after `noreply()`. '' when there is none. */
    readonly handle = '',
    /** The dialog the request belongs to, '' when none. */
    readonly dialogHandle = '',
    private readonly lateReply?: (handle: string, reply: Reply) => void,
  ) {
    super(req);
    this.raw = req;
    this.method = req.method;
    this.ruri = toSipUri(req.ruri);
    this.routes = req.routes.map(toAddress);
    this.maxForwards = req.maxForwards;
    this.contactStar = req.contactStar;
  }

  /**
   * Answers this request later (after the callback returned `noreply()`): provisional
   * replies first if you want, then one final reply. Throws when the request has no handle
   * or the app is not connected.
   */
  reply(reply: Reply): void {
    if (!this.lateReply || this.handle === '') throw new Error('this request has no handle to reply to');
    this.lateReply(this.handle, reply);
  }
}

/** Handles a UAC response carries (proto UacEvent). */
export interface UacMeta {
  /** Handle of the request sent, for `cancel`. */
  readonly requestHandle: string;
  /** Dialog created or used (INVITE 101–299, SUBSCRIBE/REFER 2xx), '' when none. */
  readonly dialogHandle: string;
  readonly subscriptionHandle: string;
  /** A provisional response sent reliably (100rel): its RSeq; absent otherwise. */
  readonly rseq?: number;
}

const NO_META: UacMeta = { requestHandle: '', dialogHandle: '', subscriptionHandle: '' };

/** A response: to a request the app sent, or a proxy branch's final response. */
export class SipResponse extends SipMessage implements UacMeta {
  readonly code: number;
  readonly reason: string;
  readonly requestHandle: string;
  readonly dialogHandle: string;
  readonly subscriptionHandle: string;
  /** The RSeq of a reliable provisional response (100rel), else 0. */
  readonly rseq: number;
  readonly raw: Response;

  constructor(res: Response, meta: UacMeta = NO_META) {
    super(res);
    this.raw = res;
    this.code = res.code;
    this.reason = res.reason;
    this.requestHandle = meta.requestHandle;
    this.dialogHandle = meta.dialogHandle;
    this.subscriptionHandle = meta.subscriptionHandle;
    this.rseq = meta.rseq ?? 0;
  }

  /** 200–299. */
  get ok(): boolean {
    return this.code >= 200 && this.code < 300;
  }
}
