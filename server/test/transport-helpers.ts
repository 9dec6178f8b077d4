// Peers for the transport tests: raw UDP sockets and TCP clients/servers on loopback that
// record what they receive, with every wait bounded and every socket tracked for cleanup.
import { createSocket, type RemoteInfo } from 'node:dgram';
import { connect, createServer, type Socket } from 'node:net';
import { StreamFramer } from '../src/sip/framer.js';
import type { SipRequest } from '../src/sip/message.js';
import { parseMessage } from '../src/sip/parser.js';
import type { TransportManager, TransportOptions } from '../src/transport/manager.js';
import type { Incoming } from '../src/transport/types.js';

/** Things to close after each test, last opened first closed. */
export const cleanups: (() => unknown)[] = [];

export async function cleanup(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c();
}

export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A queue that hands items to waiters, so tests can await "the next one". */
export class Queue<T> {
  readonly items: T[] = [];
  private waiters: ((v: T) => void)[] = [];

  put(v: T): void {
    const w = this.waiters.shift();
    if (w) w(v);
    else this.items.push(v);
  }

  next(what: string, ms = 2000): Promise<T> {
    const v = this.items.shift();
    if (v !== undefined) return Promise.resolve(v);
    return within(new Promise<T>((r) => this.waiters.push(r)), ms, what);
  }
}

export async function newManager(
  create: (opts: TransportOptions) => TransportManager,
  opts: TransportOptions = {},
): Promise<{ m: TransportManager; inbox: Queue<Incoming> }> {
  const m = create(opts);
  cleanups.push(() => m.close());
  const inbox = new Queue<Incoming>();
  m.onMessage((inc) => inbox.put(inc));
  return { m, inbox };
}

export function requestText(opts: { via: string; method?: string; body?: string; callId?: string }): string {
  const method = opts.method ?? 'OPTIONS';
  const body = opts.body ?? '';
  return (
    `${method} sip:bob@example.com SIP/2.0\r\nVia: ${opts.via}\r\nMax-Forwards: 70\r\n` +
    'From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n' +
    `Call-ID: ${opts.callId ?? 'call-1'}\r\nCSeq: 1 ${method}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

export function request(
  opts: { via?: string; method?: string; body?: string; callId?: string } = {},
): SipRequest {
  const { msg } = parseMessage(
    Buffer.from(requestText({ via: opts.via ?? 'SIP/2.0/UDP placeholder;branch=z9hG4bK-out', ...opts })),
  );
  if (msg.kind !== 'request') throw new Error('not a request');
  return msg;
}

export interface UdpPeer {
  port: number;
  inbox: Queue<{ text: string; rinfo: RemoteInfo }>;
  send(text: string | Buffer, port: number, address?: string): Promise<void>;
}

export function udpPeer(address = '127.0.0.1', port = 0): Promise<UdpPeer> {
  const socket = createSocket(address.includes(':') ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
  const inbox = new Queue<{ text: string; rinfo: RemoteInfo }>();
  socket.on('message', (data, rinfo) => inbox.put({ text: data.toString('latin1'), rinfo }));
  cleanups.push(() => new Promise<void>((r) => socket.close(() => r())));
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () =>
      resolve({
        port: socket.address().port,
        inbox,
        send: (text, to, toAddress = address) =>
          new Promise((res, rej) =>
            socket.send(Buffer.from(text), to, toAddress, (e) => (e ? rej(e) : res())),
          ),
      }),
    );
  });
}

/** A framed TCP endpoint: what arrives on the socket, message by message. */
export interface StreamPeer {
  socket: Socket;
  inbox: Queue<string>;
  /** Raw bytes that were not SIP messages (CRLF pongs). */
  raw: Queue<string>;
  closed: Promise<void>;
}

function wrap(socket: Socket): StreamPeer {
  const framer = new StreamFramer();
  const inbox = new Queue<string>();
  const raw = new Queue<string>();
  socket.on('data', (chunk: Buffer) => {
    if (/^(\r\n)+$/.test(chunk.toString('latin1'))) raw.put(chunk.toString('latin1'));
    for (const f of framer.push(chunk)) if (f.type === 'message') inbox.put(f.data.toString('latin1'));
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  cleanups.push(() => {
    socket.destroy();
    return closed;
  });
  return { socket, inbox, raw, closed };
}

export function tcpClient(port: number, address = '127.0.0.1'): Promise<StreamPeer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: address });
    socket.once('error', reject);
    socket.once('connect', () => resolve(wrap(socket)));
  });
}

export interface TcpServerPeer {
  port: number;
  accepted: Queue<StreamPeer>;
  connections: StreamPeer[];
}

export function tcpServer(address = '127.0.0.1', port = 0): Promise<TcpServerPeer> {
  const accepted = new Queue<StreamPeer>();
  const connections: StreamPeer[] = [];
  const server = createServer((socket) => {
    const peer = wrap(socket);
    connections.push(peer);
    accepted.put(peer);
  });
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: address, ipv6Only: address.includes(':') }, () => {
      const a = server.address();
      resolve({ port: typeof a === 'object' && a ? a.port : 0, accepted, connections });
    });
  });
}

export function parse(text: string) {
  return parseMessage(Buffer.from(text, 'latin1'), { stream: true }).msg;
}
