// Test support for the transaction layer and the cores above it: a transport that records
// what it is asked to send, and realistic messages built as wire text and parsed back.
import { makeResponse } from '../../src/sip/build.js';
import type { SipRequest, SipResponse } from '../../src/sip/message.js';
import { parseMessage } from '../../src/sip/parser.js';
import { serialize } from '../../src/sip/serializer.js';
import { FakeClock } from '../../src/transaction/clock.js';
import { TransactionLayer, type TransactionLayerOptions } from '../../src/transaction/layer.js';
import type { ClientHandler, ServerFailure, ServerTxn } from '../../src/transaction/types.js';
import type {
  Endpoint,
  Incoming,
  PreparedResponse,
  SipTransport,
  Source,
  TransportName,
} from '../../src/transport/types.js';

export type Sent =
  | { kind: 'request'; msg: SipRequest; to: Endpoint }
  | { kind: 'response'; msg: SipResponse; to: Source };

export class FakeTransport implements SipTransport {
  readonly sent: Sent[] = [];
  /** When set, every send fails with it (after being recorded). */
  fail: Error | undefined;
  /** Where sendRequest claims the request went (e.g. TCP for an oversized UDP one). */
  route: ((target: Endpoint) => Endpoint) | undefined;

  sendRequest(req: SipRequest, target: Endpoint): Promise<Endpoint> {
    this.sent.push({ kind: 'request', msg: req, to: target });
    if (this.fail) return Promise.reject(this.fail);
    return Promise.resolve(this.route ? this.route(target) : target);
  }

  sendResponse(resp: SipResponse, source: Source): Promise<void> {
    this.sent.push({ kind: 'response', msg: resp, to: source });
    if (this.fail) return Promise.reject(this.fail);
    return Promise.resolve();
  }

  prepareResponse(resp: SipResponse): PreparedResponse {
    return { status: resp.status, msg: resp } as PreparedResponse;
  }

  sendPrepared(prepared: PreparedResponse, source: Source): Promise<void> {
    return this.sendResponse((prepared as PreparedResponse & { msg: SipResponse }).msg, source);
  }

  requests(method?: string): SipRequest[] {
    const out: SipRequest[] = [];
    for (const s of this.sent)
      if (s.kind === 'request' && (!method || s.msg.method === method)) out.push(s.msg);
    return out;
  }

  responses(status?: number): SipResponse[] {
    const out: SipResponse[] = [];
    for (const s of this.sent)
      if (s.kind === 'response' && (!status || s.msg.status === status)) out.push(s.msg);
    return out;
  }
}

export function parse(text: string): SipRequest | SipResponse {
  return parseMessage(Buffer.from(text, 'latin1')).msg;
}

/**
 * An INVITE with some of everything an app is shown: two Via values, a UTF-8 display name,
 * Contact and URI params, two Routes, an unknown header and a body.
 */
export function richInvite(): SipRequest {
  const text = [
    'INVITE sip:bob@biloxi.com;transport=udp SIP/2.0',
    'Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKx;rport, SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKy',
    'Max-Forwards: 69',
    'To: Bob <sip:bob@biloxi.com>',
    'From: "Alicé" <sip:alice@atlanta.com>;tag=1928',
    'Call-ID: abc@x',
    'CSeq: 7 INVITE',
    'Contact: <sip:alice@pc33.atlanta.com>;expires=60',
    'Route: <sip:p1@proxy;lr>, <sip:p2@proxy;lr>',
    'Content-Type: application/sdp',
    'X-Custom: 1',
    'Content-Length: 4',
    '',
    'v=0\n',
  ].join('\r\n');
  // header text is binary (latin1) in the server: the UTF-8 bytes as they arrive
  return parse(Buffer.from(text, 'utf8').toString('latin1')) as SipRequest;
}

export interface RequestSpec {
  method?: string;
  uri?: string;
  /** Branch of the top Via; null for none (RFC 2543). */
  branch?: string | null;
  sentBy?: string;
  viaTransport?: string;
  /** Extra Via values below the top one. */
  moreVias?: string[];
  callId?: string;
  /** null for a From without tag (RFC 2543). */
  fromTag?: string | null;
  toTag?: string;
  cseq?: number;
  cseqMethod?: string;
  /** Header lines added after Contact (`Name: value`). */
  headers?: string[];
}

/** A request as a peer would put it on the wire, parsed by the real parser. */
export function request(spec: RequestSpec = {}): SipRequest {
  const method = spec.method ?? 'INVITE';
  const branch = spec.branch === undefined ? 'z9hG4bK776asdhds' : spec.branch;
  const via = `SIP/2.0/${spec.viaTransport ?? 'UDP'} ${spec.sentBy ?? 'pc33.atlanta.com:5060'}${branch === null ? '' : `;branch=${branch}`}`;
  const fromTag = spec.fromTag === undefined ? '1928301774' : spec.fromTag;
  const lines = [
    `${method} ${spec.uri ?? 'sip:bob@biloxi.com'} SIP/2.0`,
    `Via: ${via}`,
    ...(spec.moreVias ?? []).map((v) => `Via: ${v}`),
    'Max-Forwards: 70',
    `To: Bob <sip:bob@biloxi.com>${spec.toTag ? `;tag=${spec.toTag}` : ''}`,
    `From: Alice <sip:alice@atlanta.com>${fromTag === null ? '' : `;tag=${fromTag}`}`,
    `Call-ID: ${spec.callId ?? 'a84b4c76e66710@pc33.atlanta.com'}`,
    `CSeq: ${spec.cseq ?? 314159} ${spec.cseqMethod ?? method}`,
    'Contact: <sip:alice@pc33.atlanta.com>',
    ...(spec.headers ?? []),
    'Content-Length: 0',
    '',
    '',
  ];
  return parse(lines.join('\r\n')) as SipRequest;
}

/** The response a peer would send to `req`, through the wire format and back. */
export function responseTo(req: SipRequest, status: number, toTag = 'a6c85cf'): SipResponse {
  return parse(serialize(makeResponse(req, status, { toTag })).toString('latin1')) as SipResponse;
}

export function source(transport: TransportName = 'udp', connectionId?: number): Source {
  const s: Source = {
    transport,
    address: '192.0.2.10',
    port: 5060,
    localAddress: '192.0.2.1',
    localPort: 5060,
  };
  if (connectionId !== undefined) s.connectionId = connectionId;
  return s;
}

export function endpoint(transport: TransportName = 'udp'): Endpoint {
  return { transport, address: '192.0.2.20', port: 5060 };
}

export function incoming(msg: SipRequest | SipResponse, from: Source = source(), defect?: string): Incoming {
  const inc: Incoming = { msg, source: from, size: 0 };
  if (defect !== undefined) inc.defect = defect;
  return inc;
}

/** Lets promise callbacks (transport send results) run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A client handler that records what it is told. */
export interface RecordingHandler extends ClientHandler {
  responses: SipResponse[];
  timeouts: number;
  errors: Error[];
}

export function recordingHandler(): RecordingHandler {
  const h: RecordingHandler = {
    responses: [],
    timeouts: 0,
    errors: [],
    onResponse: (r) => void h.responses.push(r),
    onTimeout: () => void h.timeouts++,
    onTransportError: (e) => void h.errors.push(e),
  };
  return h;
}

/** A layer on a fake clock and transport, with a TU that records every callback. */
export function harness(opts: Partial<Omit<TransactionLayerOptions, 'transport' | 'clock' | 'user'>> = {}) {
  const clock = new FakeClock();
  const transport = new FakeTransport();
  const requests: { req: SipRequest; txn: ServerTxn; source: Source }[] = [];
  const acks: { ack: SipRequest; txn: ServerTxn | undefined }[] = [];
  const strays: SipResponse[] = [];
  const failures: { txn: ServerTxn; reason: ServerFailure; err: Error | undefined }[] = [];
  const layer = new TransactionLayer({
    transport,
    clock,
    ...opts,
    user: {
      onRequest: (req, txn, src) => void requests.push({ req, txn, source: src }),
      onAck: (ack, _src, txn) => void acks.push({ ack, txn }),
      onStrayResponse: (resp) => void strays.push(resp),
      onServerFailure: (txn, reason, err) => void failures.push({ txn, reason, err }),
    },
  });
  return { clock, transport, layer, requests, acks, strays, failures };
}

/**
 * Runs the clock timer by timer up to `until` and returns the instants at which `count`
 * grew (once per new item): the retransmission schedule. Leaves the clock at `until`.
 */
export function schedule(clock: FakeClock, count: () => number, until: number): number[] {
  const times: number[] = [];
  let n = count();
  for (let due = clock.nextDue(); due !== undefined && due <= until; due = clock.nextDue()) {
    clock.advanceToNext();
    const c = count();
    for (; n < c; n++) times.push(clock.now());
  }
  if (clock.now() < until) clock.advance(until - clock.now());
  return times;
}
