// Connections of the connection-oriented transports. `Connection` is what the manager needs
// from any of them; `StreamConnection` is the byte-stream kind shared by TCP and TLS (a
// TLSSocket is a net.Socket), framed by `StreamFramer`. WebSocket connections, which carry
// one message per frame, will implement `Connection` on their own.
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { type FramerOptions, StreamFramer } from '../sip/framer.js';
import { normalizeIp } from './address.js';
import type { TransportName } from './types.js';

export interface Connection {
  readonly id: number;
  readonly transport: TransportName;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Accepted from a peer (true) or opened by us. */
  readonly inbound: boolean;
  readonly open: boolean;
  /** Resolves once the connection is closed and forgotten, whoever closed it. */
  readonly closed: Promise<void>;
  send(data: Buffer): Promise<void>;
  close(reason?: string): void;
  /** Why it was closed by us (`idle timeout`, `keepalive`...); undefined when the peer or an error closed it. */
  readonly closeReason?: string | undefined;
  /** When something last arrived on it (ms, Date.now()): keep-alives read it. */
  readonly lastReceived?: number;
}

export interface ConnectionHandlers {
  message(conn: Connection, data: Buffer): void;
  closed(conn: Connection): void;
}

export interface StreamOptions extends FramerOptions {
  /** Close after this long without traffic either way (ms); 0 disables. */
  idleTimeout: number;
  logger?: Logger | undefined;
}

let nextId = 1;

/** Ids are unique in the process, so a stale `Source.connectionId` never hits a newer connection. */
export function newConnectionId(): number {
  return nextId++;
}

const PONG = Buffer.from('\r\n');

export class StreamConnection implements Connection {
  readonly id = newConnectionId();
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly closed: Promise<void>;
  private readonly framer: StreamFramer;
  private isOpen = true;
  closeReason: string | undefined;
  lastReceived = Date.now();

  constructor(
    private readonly socket: Socket,
    readonly transport: TransportName,
    readonly inbound: boolean,
    handlers: ConnectionHandlers,
    private readonly opts: StreamOptions,
  ) {
    // read once: a destroyed socket forgets its addresses
    this.remoteAddress = normalizeIp(socket.remoteAddress ?? '');
    this.remotePort = socket.remotePort ?? 0;
    this.localAddress = normalizeIp(socket.localAddress ?? '');
    this.localPort = socket.localPort ?? 0;
    this.framer = new StreamFramer(opts);
    socket.setNoDelay(true);
    if (opts.idleTimeout > 0) {
      // Node restarts this timer on every read and write
      socket.setTimeout(opts.idleTimeout, () => this.close('idle timeout'));
    }
    socket.on('data', (chunk: Buffer) => {
      this.lastReceived = Date.now();
      for (const frame of this.framer.push(chunk)) {
        if (frame.type === 'message') {
          handlers.message(this, frame.data);
        } else if (frame.type === 'ping') {
          socket.write(PONG);
        } else {
          this.close(`framing error: ${frame.reason}`);
          return;
        }
      }
    });
    socket.on('error', (err) => {
      opts.logger?.debug({ conn: this.describe(), err: err.message }, 'connection error');
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.isOpen = false;
        handlers.closed(this);
        resolve();
      });
    });
  }

  get open(): boolean {
    return this.isOpen && !this.socket.destroyed;
  }

  send(data: Buffer): Promise<void> {
    if (!this.open) return Promise.reject(new Error(`${this.describe()} is closed`));
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(reason = 'closed'): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.closeReason = reason;
    this.opts.logger?.debug({ conn: this.describe(), reason }, 'closing connection');
    this.socket.destroy();
  }

  describe(): string {
    return `${this.transport}#${this.id} ${this.remoteAddress}:${this.remotePort}`;
  }
}
