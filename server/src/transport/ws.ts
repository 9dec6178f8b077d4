// SIP over WebSocket (RFC 7118), WS and WSS, on the `ws` library. One HTTP(S) server per
// address and port accepts upgrades for the URL paths listening on it (apps share a port by
// path; the longest prefix picks the app above us), only with the `sip` subprotocol (§4.1:
// without it the upgrade is refused). Each WebSocket message is one SIP message (§5.2), so a
// WsConnection needs no stream framer; a message over the size limit closes the connection.
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import {
  type ConnectionOptions,
  checkServerIdentity,
  type PeerCertificate,
  rootCertificates,
} from 'node:tls';
import type { Logger } from 'pino';
import { type ClientOptions, WebSocket, WebSocketServer } from 'ws';
import { hostText, ipFamily, normalizeIp } from './address.js';
import { type Connection, type ConnectionHandlers, newConnectionId } from './connection.js';
import { bindStream, type Listener, type ListenSpec, normalizedAddress, specFamily } from './listener.js';
import type { TlsSettings } from './tls.js';

export type WsTransport = 'ws' | 'wss';

/** The subprotocol of RFC 7118 §4.1. */
export const SIP_SUBPROTOCOL = 'sip';

export interface WsOptions {
  /** Largest WebSocket message accepted (bytes); a bigger one closes the connection (1009). */
  maxPayload: number;
  /** Close after this long without a message either way (ms); 0 disables. */
  idleTimeout: number;
  logger?: Logger | undefined;
}

/** `/` for an absent path; no trailing slash otherwise (`/ws/` serves the same as `/ws`). */
export function normalizePath(path: string | undefined): string {
  if (path === undefined || path === '' || path === '/') return '/';
  const p = path.startsWith('/') ? path : `/${path}`;
  return p.endsWith('/') ? p.slice(0, -1) : p;
}

/** Whether listener path `prefix` serves request path `path`: whole segments only. */
export function pathServes(prefix: string, path: string): boolean {
  return prefix === '/' || path === prefix || path.startsWith(`${prefix}/`);
}

/** The longest of `prefixes` serving `path`, or undefined. */
export function longestPrefix(prefixes: Iterable<string>, path: string): string | undefined {
  let best: string | undefined;
  for (const p of prefixes)
    if (pathServes(p, path) && (best === undefined || p.length > best.length)) best = p;
  return best;
}

export type WsAcceptHandler = (
  ws: WebSocket,
  req: IncomingMessage,
  listener: WsListener,
  path: string,
) => void;

export class WsListener implements Listener {
  private closing: Promise<void> | undefined;
  /** The URL paths served on this port, each with the number of listen specs holding it. */
  private readonly paths = new Map<string, number>();

  private constructor(
    readonly transport: WsTransport,
    private readonly server: HttpServer,
    private readonly wss: WebSocketServer,
    readonly address: string,
    readonly port: number,
    readonly family: 4 | 6,
    readonly host: string | undefined,
  ) {}

  static async open(
    transport: WsTransport,
    spec: ListenSpec,
    path: string,
    tls: TlsSettings | undefined,
    opts: WsOptions,
    onAccept: WsAcceptHandler,
  ): Promise<WsListener> {
    const family = specFamily(spec);
    let server: HttpServer;
    if (transport === 'wss') {
      if (!tls) throw new Error('cannot listen on wss: no TLS certificate configured (tls.cert, tls.key)');
      try {
        server = createHttpsServer({ cert: tls.cert, key: tls.key }) as unknown as HttpServer;
      } catch (e) {
        throw new Error(`cannot listen on wss: bad certificate or key: ${(e as Error).message}`);
      }
    } else {
      server = createHttpServer();
    }
    // plain HTTP requests get 426: this port speaks WebSocket only
    server.on('request', (_req, res) => {
      res.writeHead(426, { Connection: 'close', Upgrade: 'websocket' }).end();
    });
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.maxPayload,
      clientTracking: false,
      handleProtocols: (protocols) => (protocols.has(SIP_SUBPROTOCOL) ? SIP_SUBPROTOCOL : false),
    });
    const port = await bindStream(server, spec, { ...spec, transport: 'tcp' });
    const listener = new WsListener(transport, server, wss, normalizedAddress(spec), port, family, spec.host);
    listener.paths.set(path, 1);
    server.on('upgrade', (req, socket, head) => listener.upgrade(req, socket, head, opts.logger, onAccept));
    server.on('tlsClientError', (err: Error, socket: Duplex & { remoteAddress?: string }) =>
      opts.logger?.warn({ port, peer: socket.remoteAddress, err: err.message }, 'wss handshake failed'),
    );
    server.on('clientError', (err: Error, socket: Duplex) => {
      opts.logger?.debug({ port, err: err.message }, `${transport} bad http request`);
      socket.destroy();
    });
    server.on('error', (err) => opts.logger?.warn({ err: err.message, port }, `${transport} listener error`));
    return listener;
  }

  /** Another listen spec on this port: serve its path too. */
  addPath(path: string): void {
    this.paths.set(path, (this.paths.get(path) ?? 0) + 1);
  }

  /** A listen spec going away; true when no path is left (the caller closes the server). */
  removePath(path: string): boolean {
    const n = this.paths.get(path) ?? 0;
    if (n <= 1) this.paths.delete(path);
    else this.paths.set(path, n - 1);
    return this.paths.size === 0;
  }

  servesPath(path: string): boolean {
    return this.paths.has(path);
  }

  private upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    log: Logger | undefined,
    onAccept: WsAcceptHandler,
  ): void {
    const path = normalizePath(new URL(req.url ?? '/', 'http://x').pathname);
    const reject = (status: number, reason: string) => {
      log?.warn(
        {
          transport: this.transport,
          port: this.port,
          path,
          peer: (socket as { remoteAddress?: string }).remoteAddress,
        },
        `websocket upgrade refused: ${reason}`,
      );
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      socket.destroy();
    };
    if (longestPrefix(this.paths.keys(), path) === undefined) {
      reject(404, 'Not Found');
      return;
    }
    const offered = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim().toLowerCase());
    if (!offered.includes(SIP_SUBPROTOCOL)) {
      reject(400, 'Bad Request (subprotocol sip required)');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => onAccept(ws, req, this, path));
  }

  /** Stops accepting; upgraded connections are the manager's to close, so no waiting for them. */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      this.server.close();
      this.server.closeIdleConnections();
      setImmediate(resolve);
    });
    return this.closing;
  }
}

const PONG_WAIT_MS = 30_000;

/** A SIP flow over one WebSocket, accepted or opened. */
export class WsConnection implements Connection {
  readonly id = newConnectionId();
  readonly closed: Promise<void>;
  private isOpen = true;
  private idle: NodeJS.Timeout | undefined;
  private pinged = false;

  constructor(
    private readonly ws: WebSocket,
    readonly transport: WsTransport,
    readonly inbound: boolean,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly localAddress: string,
    readonly localPort: number,
    /** The URL path the connection was upgraded on (`/` when opened by us). */
    readonly path: string,
    handlers: ConnectionHandlers,
    private readonly opts: WsOptions,
  ) {
    this.touch();
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      this.touch();
      const buf = Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.isBuffer(data)
          ? data
          : Buffer.from(data);
      handlers.message(this, buf);
    });
    ws.on('pong', () => this.touch());
    ws.on('error', (err) => {
      // over-limit messages (1009) and protocol errors: ws closes the socket after this
      opts.logger?.info({ conn: this.describe(), err: err.message }, 'websocket error');
    });
    this.closed = new Promise((resolve) => {
      ws.once('close', () => {
        this.isOpen = false;
        clearTimeout(this.idle);
        handlers.closed(this);
        resolve();
      });
    });
  }

  get open(): boolean {
    return this.isOpen && this.ws.readyState === WebSocket.OPEN;
  }

  send(data: Buffer): Promise<void> {
    if (!this.open) return Promise.reject(new Error(`${this.describe()} is closed`));
    this.touch();
    return new Promise((resolve, reject) => {
      // text frames: SIP is UTF-8 text (RFC 7118 §5.1), and browsers' stacks expect strings
      this.ws.send(data, { binary: false }, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(reason = 'closed'): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.opts.logger?.debug({ conn: this.describe(), reason }, 'closing connection');
    // a closing handshake can wait on a dead peer; the socket goes at once
    this.ws.terminate();
  }

  describe(): string {
    return `${this.transport}#${this.id} ${hostText(this.remoteAddress)}:${this.remotePort}`;
  }

  private touch(): void {
    if (this.opts.idleTimeout <= 0) return;
    this.pinged = false;
    this.arm(this.opts.idleTimeout);
  }

  private arm(ms: number): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.onIdle(), ms);
    this.idle.unref();
  }

  /**
   * Quiet for the idle timeout: a WebSocket ping first (browsers answer it without their SIP
   * stack's help, so a registered browser keeps the connection it is reached by), and the
   * close only when no pong comes within PONG_WAIT_MS (or the idle timeout, if shorter).
   */
  private onIdle(): void {
    if (this.pinged || !this.open) {
      this.close('idle timeout');
      return;
    }
    this.pinged = true;
    this.ws.ping();
    this.arm(Math.min(PONG_WAIT_MS, this.opts.idleTimeout));
  }
}

/** Peer and local addresses of an accepted or opened WebSocket's socket. */
export function socketAddresses(ws: WebSocket, req?: IncomingMessage) {
  const s = (req?.socket ?? (ws as unknown as { _socket?: import('node:net').Socket })._socket) as
    | import('node:net').Socket
    | undefined;
  return {
    remoteAddress: normalizeIp(s?.remoteAddress ?? ''),
    remotePort: s?.remotePort ?? 0,
    localAddress: normalizeIp(s?.localAddress ?? ''),
    localPort: s?.localPort ?? 0,
  };
}

/**
 * Opens a WebSocket to `ws(s)://address:port/` with the `sip` subprotocol. WSS checks the
 * server's certificate against `serverName` like TLS does, unless verification is off.
 */
export function connectWs(
  transport: WsTransport,
  address: string,
  port: number,
  serverName: string | undefined,
  tls: TlsSettings | undefined,
  opts: WsOptions,
  timeout: number,
  signal?: AbortSignal,
): Promise<WebSocket> {
  const scheme = transport === 'wss' ? 'wss' : 'ws';
  const url = `${scheme}://${hostText(address)}:${port}/`;
  const where = `${transport} ${hostText(address)}:${port}`;
  const name = serverName ?? address;
  const wsOpts: ClientOptions = {
    maxPayload: opts.maxPayload,
    handshakeTimeout: timeout,
    perMessageDeflate: false,
  };
  if (transport === 'wss') {
    // ws hands these to tls.connect as they are
    const secure: ConnectionOptions = {
      rejectUnauthorized: tls?.verify !== false,
      checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(name, cert),
    };
    if (ipFamily(name) === 0) secure.servername = name;
    if (tls?.ca !== undefined) secure.ca = [...rootCertificates, tls.ca];
    Object.assign(wsOpts, secure);
  }
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [SIP_SUBPROTOCOL], wsOpts);
    const done = () => signal?.removeEventListener('abort', onAbort);
    const onAbort = () => {
      done();
      ws.terminate();
      reject(new Error(`connect to ${where} aborted: transport closing`));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    ws.once('error', (err: NodeJS.ErrnoException) => {
      done();
      ws.terminate();
      // ws's own words for a server ignoring our subprotocol: "Server sent no subprotocol"
      const why = /subprotocol/i.test(err.message)
        ? `the server did not accept the sip subprotocol (${err.message})`
        : err.message;
      reject(
        Object.assign(new Error(`connect to ${where} failed: ${why}`, { cause: err }), { code: err.code }),
      );
    });
    ws.once('open', () => {
      done();
      if (ws.protocol !== SIP_SUBPROTOCOL) {
        ws.terminate();
        reject(new Error(`connect to ${where} failed: the server did not accept the sip subprotocol`));
        return;
      }
      ws.removeAllListeners('error');
      resolve(ws);
    });
  });
}
