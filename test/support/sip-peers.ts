// Test-side SIP peers on real sockets (node:dgram, node:net): they record what the server
// sends, and let a test wait for a condition with a deadline, so nothing can hang.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { parseWire, StreamReader, type WireMessage } from './sip-wire.js';

abstract class Peer {
  /** Every message received, in order. */
  readonly messages: WireMessage[] = [];
  protected readonly events = new EventEmitter();

  protected got(msg: WireMessage): void {
    this.messages.push(msg);
    this.events.emit('change');
  }

  /** Resolves true as soon as `cond()` holds, false when `timeoutMs` passes first. */
  waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        this.events.off('change', check);
        resolve(v);
      };
      const check = () => {
        if (cond()) done(true);
      };
      const timer = setTimeout(() => done(cond()), timeoutMs);
      this.events.on('change', check);
    });
  }

  /** The first message (from `from` on) matching `pred`, or undefined after `timeoutMs`. */
  async waitFor(
    pred: (m: WireMessage) => boolean,
    timeoutMs: number,
    from = 0,
  ): Promise<WireMessage | undefined> {
    const find = () => this.messages.slice(from).find(pred);
    await this.waitUntil(() => find() !== undefined, timeoutMs);
    return find();
  }
}

export class UdpPeer extends Peer {
  private constructor(
    private readonly socket: UdpSocket,
    readonly address: string,
    readonly port: number,
  ) {
    super();
    socket.on('message', (data) => {
      this.got(parseWire(data));
    });
  }

  /** Binds a UDP socket on `address` (127.0.0.1 or ::1), port 0 for any free one. */
  static open(address = '127.0.0.1', port = 0): Promise<UdpPeer> {
    const socket = createSocket(address.includes(':') ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
    return new Promise((resolve, reject) => {
      socket.once('error', (err) => {
        socket.close();
        reject(err);
      });
      socket.bind({ address, port, exclusive: true }, () => {
        socket.removeAllListeners('error');
        socket.on('error', () => {
          // ICMP errors on a connectionless socket: nothing to do
        });
        resolve(new UdpPeer(socket, address, socket.address().port));
      });
    });
  }

  send(data: Buffer, port: number, address = this.address): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.send(data, port, address, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }
}

export class TcpPeer extends Peer {
  private readonly reader = new StreamReader();
  /** When the server closed (or reset) the connection, `Date.now()`; undefined while open. */
  closedAt: number | undefined;
  /** Why it closed, when an error came first (ECONNRESET, EPIPE). */
  error: string | undefined;
  readonly localPort: number;

  private constructor(private readonly socket: Socket) {
    super();
    this.localPort = socket.localPort ?? 0;
    socket.on('data', (chunk: Buffer) => {
      for (const msg of this.reader.push(chunk)) this.got(msg);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error ??= err.code ?? err.message;
    });
    socket.on('close', () => {
      this.closedAt = Date.now();
      this.events.emit('change');
    });
  }

  static connect(port: number, host = '127.0.0.1', timeoutMs = 2000): Promise<TcpPeer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`tcp connect to ${host}:${port} timed out`));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay(true);
        resolve(new TcpPeer(socket));
      });
    });
  }

  get isClosed(): boolean {
    return this.closedAt !== undefined;
  }

  /** Writes and waits until the bytes are handed to the kernel; false if the socket failed. */
  write(data: Buffer | string): Promise<boolean> {
    if (this.isClosed || this.socket.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.socket.write(data, (err) => resolve(!err));
    });
  }

  /** True once the server closed the connection, false if still open after `timeoutMs`. */
  waitClosed(timeoutMs: number): Promise<boolean> {
    return this.waitUntil(() => this.isClosed, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `cond` every `stepMs` until it holds (true) or `timeoutMs` passes (false). */
export async function until(cond: () => boolean, timeoutMs: number, stepMs = 5): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() >= deadline) return false;
    await sleep(stepMs);
  }
  return true;
}
