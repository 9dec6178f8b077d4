// Test support for the apps layer: a raw gRPC SipApp built from the generated client, and a
// raw UDP SIP peer, both on 127.0.0.1 and bounded in time.
import { createSocket, type Socket } from 'node:dgram';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { credentials } from '@grpc/grpc-js';
import { NamedReply, type Reply } from '../../server/src/gen/nksip/v1/decisions.js';
import {
  AppConfig,
  type Callback,
  CallbackKind,
  type ConnectRequest,
  type ConnectResponse,
  SipAppServiceClient,
  type Start,
  type Started,
} from '../../server/src/gen/nksip/v1/service.js';
import type { SipResponse } from '../../server/src/sip/message.js';
import { parseMessage } from '../../server/src/sip/parser.js';

export const K = CallbackKind;

export function appConfig(c: Partial<AppConfig> = {}): AppConfig {
  return AppConfig.fromPartial(c);
}

export function pbReply(r: Partial<Reply>): Reply {
  return {
    code: 0,
    named: NamedReply.NAMED_REPLY_UNSPECIFIED,
    reason: '',
    headers: [],
    body: Buffer.alloc(0),
    contentType: '',
    contacts: [],
    realm: '',
    allow: '',
    accept: '',
    unsupported: '',
    require: '',
    warning: '',
    minValue: 0,
    ...r,
  };
}

type Msg = NonNullable<ConnectResponse['msg']>;
type MsgMap = { [M in Msg as M['$case']]: M['value'] };

/** One app instance over a raw grpc-js stream: what it received, in order, awaitable. */
export class RawApp {
  readonly client: SipAppServiceClient;
  readonly call: ClientDuplexStream<ConnectRequest, ConnectResponse>;
  /** Every message received, the contents of a ResponseBatch in their place. */
  readonly received: Msg[] = [];
  /** How many ResponseBatch messages came, and the size of each. */
  readonly batches: number[] = [];
  ended = false;
  status: { code: number; details: string } | undefined;
  private waiters: (() => void)[] = [];

  constructor(address: string) {
    this.client = new SipAppServiceClient(address, credentials.createInsecure());
    this.call = this.client.connect();
    this.call.on('data', (m: ConnectResponse) => {
      if (m.msg?.$case === 'batch') {
        this.batches.push(m.msg.value.messages.length);
        for (const inner of m.msg.value.messages) if (inner.msg) this.received.push(inner.msg);
      } else if (m.msg) this.received.push(m.msg);
      this.wake();
    });
    this.call.on('status', (s: { code: number; details: string }) => {
      this.status = s;
      this.wake();
    });
    this.call.on('end', () => {
      this.ended = true;
      this.wake();
    });
    this.call.on('error', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(msg: ConnectRequest['msg']): void {
    this.call.write({ msg });
  }

  start(
    app: string,
    callbacks: CallbackKind[],
    config: AppConfig = appConfig(),
    token = '',
    batching = false,
  ): void {
    const start: Start = { app, config, callbacks, token, instanceId: '', batching };
    this.send({ $case: 'start', value: start });
  }

  /** Waits for a received message matching `pred` (searching from index `from`). */
  async waitFor<T extends Msg['$case']>(
    kind: T,
    pred: (v: MsgMap[T]) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<MsgMap[T]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const m of this.received) {
        const v = m.value as unknown as MsgMap[T];
        if (m.$case === kind && pred(v)) return v;
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no ${kind} within ${timeoutMs} ms; got ${JSON.stringify(this.received.map((m) => m.$case))}`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async started(): Promise<Started> {
    return this.waitFor('started');
  }

  async callback(pred: (c: Callback) => boolean = () => true): Promise<Callback> {
    return this.waitFor('callback', pred);
  }

  callbacks(): Callback[] {
    return this.received.flatMap((m) => (m.$case === 'callback' ? [m.value] : []));
  }

  answerMethod(id: number, r: Partial<Reply>): void {
    this.send({
      $case: 'answer',
      value: { id, answer: { $case: 'method', value: { decision: { $case: 'reply', value: pbReply(r) } } } },
    });
  }

  /** Resolves once the stream has ended (status received). */
  async closed(timeoutMs = 5000): Promise<{ code: number; details: string } | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.status === undefined && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.status;
  }

  /** Kills the stream as a crashing app would. */
  kill(): void {
    this.call.cancel();
    this.client.close();
  }

  stop(): void {
    if (!this.ended) {
      try {
        this.send({ $case: 'stop', value: {} });
        this.call.end();
      } catch {
        // already gone
      }
    }
    this.client.close();
  }
}

let seq = 0;

/** A UDP SIP peer on 127.0.0.1 that sends requests and collects responses. */
export class SipPeer {
  readonly socket: Socket;
  readonly responses: SipResponse[] = [];
  port = 0;

  private constructor() {
    this.socket = createSocket('udp4');
    this.socket.on('message', (data) => {
      try {
        const { msg } = parseMessage(data);
        if (msg.kind === 'response') this.responses.push(msg);
      } catch {
        // ignore
      }
    });
  }

  static async open(): Promise<SipPeer> {
    const p = new SipPeer();
    await new Promise<void>((resolve) => p.socket.bind(0, '127.0.0.1', () => resolve()));
    p.port = p.socket.address().port;
    return p;
  }

  /** Sends a request; returns its Call-ID and branch. */
  send(
    method: string,
    port: number,
    opts: { callId?: string; headers?: string[]; toTag?: string; branch?: string; cseq?: number } = {},
  ): { callId: string; branch: string } {
    seq++;
    const callId = opts.callId ?? `apps-${process.pid}-${seq}@127.0.0.1`;
    const branch = opts.branch ?? `z9hG4bKapps${process.pid}x${seq}`;
    const text = [
      `${method} sip:app@127.0.0.1:${port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport`,
      'Max-Forwards: 70',
      `To: <sip:app@127.0.0.1>${opts.toTag ? `;tag=${opts.toTag}` : ''}`,
      `From: <sip:peer@127.0.0.1>;tag=p${seq}`,
      `Call-ID: ${callId}`,
      `CSeq: ${opts.cseq ?? 1} ${method}`,
      `Contact: <sip:peer@127.0.0.1:${this.port}>`,
      ...(opts.headers ?? []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    this.socket.send(Buffer.from(text, 'latin1'), port, '127.0.0.1');
    return { callId, branch };
  }

  /** ACK for a non-2xx final response (same branch, the response's To). */
  ack(port: number, resp: SipResponse, branch: string): void {
    const text = [
      `ACK sip:app@127.0.0.1:${port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport`,
      'Max-Forwards: 70',
      `To: ${resp.header('to')}`,
      `From: ${resp.header('from')}`,
      `Call-ID: ${resp.header('call-id')}`,
      `CSeq: ${resp.cseq.seq} ACK`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    this.socket.send(Buffer.from(text, 'latin1'), port, '127.0.0.1');
  }

  async final(callId: string, timeoutMs = 5000): Promise<SipResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.responses.find((x) => x.status >= 200 && x.header('call-id') === callId);
      if (r) return r;
      if (Date.now() > deadline) throw new Error(`no final response for ${callId} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  close(): void {
    this.socket.close();
  }
}
