// The transport layer as one object: listeners, connections, and the RFC 3261 §18 / RFC 3581
// rules for where messages go and what the top Via says about it. Upper layers see only
// `SipTransport` plus `onMessage`; sockets never leave this folder.

import type { RemoteInfo } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import type { Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { DEFAULT_MAX_BODY_SIZE, DEFAULT_MAX_HEADER_SIZE } from '../sip/framer.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import { parseMessage } from '../sip/parser.js';
import { serialize, serializeKept } from '../sip/serializer.js';
import {
  hostText,
  ipFamily,
  isLoopback,
  isWildcard,
  loopbackFor,
  normalizeIp,
  sameIp,
  stripBrackets,
} from './address.js';
import { type Connection, StreamConnection, type StreamOptions } from './connection.js';
import { FlowFailedError } from './flow.js';
import { type KeepAliveHandle, KeepAlives } from './keepalive.js';
import type { Listener, ListenSpec } from './listener.js';
import { ConnectionPool } from './pool.js';
import { answerRequest, decodeStun, isStun, type MappedAddress } from './stun.js';
import { StunClient, type StunClientOptions } from './stun-client.js';
import { connectTcp, TcpListener } from './tcp.js';
import { connectTls, TlsListener, type TlsSettings } from './tls.js';
import type {
  Endpoint,
  Incoming,
  LocalAddress,
  PreparedResponse,
  SipTransport,
  Source,
  TransportName,
} from './types.js';
import { isReliable } from './types.js';
import { UdpListener } from './udp.js';
import {
  type ResponseDestination,
  responseDestination,
  safeTopVia,
  setSentBy,
  stampReceived,
} from './via.js';
import {
  connectWs,
  normalizePath,
  socketAddresses,
  WsConnection,
  WsListener,
  type WsOptions,
  type WsTransport,
} from './ws.js';

export interface TransportOptions {
  logger?: Logger;
  /**
   * Largest request sent over UDP; bigger ones go over TCP (RFC 3261 §18.1.1: 1300 bytes
   * when the path MTU is unknown).
   */
  udpMaxSize?: number;
  /** Via sent-by host for listeners bound to a wildcard address (a ListenSpec `host` wins). */
  localHost?: string;
  /** Stream connections with no traffic for this long are closed (ms). Default 180 s. */
  idleTimeout?: number;
  /** Outgoing connection attempts fail after this long (ms). Default 10 s. */
  connectTimeout?: number;
  /** Stream framing limits; see `FramerOptions`. */
  maxHeaderSize?: number;
  maxBodySize?: number;
  /** Retransmission of the Binding requests we send (`stun`, UDP keep-alives). */
  stun?: StunClientOptions;
  /**
   * RFC 5626 keep-alives on every stream connection we open, every this many ms (0: only
   * the flows `keepAlive` is asked for).
   */
  keepAliveInterval?: number;
  /** How long a CRLFCRLF ping waits for its pong (RFC 5626 §4.4.1: 10 s). */
  pongTimeout?: number;
  /** Certificate and key for TLS and WSS listeners, trust and verification for connecting. */
  tls?: TlsSettings;
  /** Largest WebSocket message accepted; default the framing limits (headers plus body). */
  wsMaxMessage?: number;
}

/** A flow that is gone: a connection closed, or a flow silent to keep-alives. */
export interface FlowLost {
  transport: TransportName;
  address: string;
  port: number;
  localAddress: string;
  localPort: number;
  connectionId?: number;
  /** `closed` (by the peer or an error), `keepalive` (no answer to keep-alives), `idle`. */
  reason: 'closed' | 'keepalive' | 'idle';
}

export type FlowLostHandler = (lost: FlowLost) => void;

const PING = Buffer.from('\r\n\r\n');

/** What a Binding request found: the socket it left from and the address the peer saw. */
export interface StunResult {
  local: { address: string; port: number };
  mapped: MappedAddress;
}

export interface TransportStats {
  listeners: number;
  connections: number;
}

export type MessageHandler = (inc: Incoming) => void;

export const DEFAULT_UDP_MAX_SIZE = 1300;
export const DEFAULT_IDLE_TIMEOUT = 180_000;
export const DEFAULT_CONNECT_TIMEOUT = 10_000;

/** Socket errors after which §18.1.1 says a request moved from UDP to TCP should retry on UDP. */
const NO_TCP = new Set(['ECONNREFUSED', 'ECONNRESET']);

type StreamTransport = Exclude<TransportName, 'udp'>;

export class TransportManager implements SipTransport {
  private readonly log: Logger | undefined;
  private readonly udpMaxSize: number;
  private readonly localHost: string | undefined;
  private readonly connectTimeout: number;
  private readonly streamOpts: StreamOptions;
  private readonly wsOpts: WsOptions;
  private readonly tls: TlsSettings | undefined;
  private readonly listeners: Listener[] = [];
  private readonly pool = new ConnectionPool();
  private readonly aborter = new AbortController();
  private handler: MessageHandler | undefined;
  private isClosed = false;
  private readonly stunClient: StunClient;
  /** Keep-alive probes give up sooner than a `stun` command. */
  private readonly keepAliveStun: StunClient;
  private readonly keepAlives = new KeepAlives();
  private readonly keepAliveInterval: number;
  private readonly pongTimeout: number;
  private readonly flowLostHandlers: FlowLostHandler[] = [];

  constructor(opts: TransportOptions = {}) {
    this.log = opts.logger;
    this.udpMaxSize = opts.udpMaxSize ?? DEFAULT_UDP_MAX_SIZE;
    this.localHost = opts.localHost;
    this.connectTimeout = opts.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT;
    this.streamOpts = {
      idleTimeout: opts.idleTimeout ?? DEFAULT_IDLE_TIMEOUT,
      maxHeaderSize: opts.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE,
      maxBodySize: opts.maxBodySize ?? DEFAULT_MAX_BODY_SIZE,
      logger: opts.logger,
    };
    this.stunClient = new StunClient(opts.stun);
    this.keepAliveStun = new StunClient({ ...opts.stun, rc: Math.min(opts.stun?.rc ?? 7, 3), rm: 4 });
    this.keepAliveInterval = opts.keepAliveInterval ?? 0;
    this.pongTimeout = opts.pongTimeout ?? 10_000;
    this.wsOpts = {
      maxPayload:
        opts.wsMaxMessage ??
        (opts.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE) + (opts.maxBodySize ?? DEFAULT_MAX_BODY_SIZE),
      idleTimeout: this.streamOpts.idleTimeout,
      logger: opts.logger,
    };
    this.tls = opts.tls;
  }

  /** Starts a listener; resolves with the port actually bound (useful with port 0). */
  async listen(spec: ListenSpec): Promise<number> {
    this.ensureOpen();
    let listener: Listener;
    if (spec.transport === 'udp') {
      listener = await UdpListener.open(spec, (d, r, l) => this.onDatagram(d, r, l), this.log);
    } else if (spec.transport === 'tcp') {
      listener = await TcpListener.open(spec, (s) => this.onAccept(s, 'tcp'), this.log);
    } else if (spec.transport === 'tls') {
      if (!this.tls)
        throw new Error('cannot listen on tls: no TLS certificate configured (tls.cert, tls.key)');
      listener = await TlsListener.open(
        spec,
        this.tls,
        this.connectTimeout,
        (s) => this.onAccept(s, 'tls'),
        this.log,
      );
    } else if (spec.transport === 'ws' || spec.transport === 'wss') {
      const path = normalizePath(spec.path);
      const shared = this.wsListener(spec.transport, spec.address, spec.port);
      if (shared && spec.port !== 0) {
        // another path on a port already served: no new socket
        shared.addPath(path);
        this.log?.info(
          { transport: shared.transport, address: shared.address, port: shared.port, path },
          'listening',
        );
        return shared.port;
      }
      listener = await WsListener.open(spec.transport, spec, path, this.tls, this.wsOpts, (ws, req, l, p) =>
        this.adoptWs(ws, l.transport, true, p, req),
      );
    } else {
      throw new Error(`transport ${String(spec.transport)} is not supported`);
    }
    if (this.isClosed) {
      await listener.close();
      throw new Error('transport closed');
    }
    this.listeners.push(listener);
    this.log?.info(
      {
        transport: listener.transport,
        address: listener.address,
        port: listener.port,
        ...(listener instanceof WsListener ? { path: normalizePath(spec.path) } : {}),
      },
      'listening',
    );
    return listener.port;
  }

  /**
   * Opens listeners that share one port (UDP and TCP of one listen URI) and resolves with it.
   * With port 0 the first gets a free port and the others take the same number; if another
   * socket already holds that number for a later transport, all are closed and a new port is
   * tried (a few times), so callers never see that race.
   */
  async listenGroup(specs: readonly ListenSpec[]): Promise<number> {
    const first = specs[0];
    if (!first) throw new Error('no listener to open');
    const attempts = first.port === 0 ? 8 : 1;
    for (let attempt = 1; ; attempt++) {
      const opened: ListenSpec[] = [];
      let port = first.port;
      try {
        for (const spec of specs) {
          port = await this.listen(opened.length === 0 ? spec : { ...spec, port });
          opened.push({ ...spec, port });
        }
        return port;
      } catch (err) {
        await Promise.all(opened.map((o) => this.closeListener(o.transport, o.address, o.port, o.path)));
        const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
        if (!inUse || opened.length === 0 || attempt >= attempts) throw err;
      }
    }
  }

  /** Every received message goes to this handler (one handler; a later call replaces it). */
  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  /** The listeners open now (apps open and close theirs while the server runs). */
  listening(): readonly { transport: TransportName; address: string; port: number }[] {
    return this.listeners.map((l) => ({ transport: l.transport, address: l.address, port: l.port }));
  }

  /**
   * Closes one listener (an app's, after its grace period); connections it accepted stay. A
   * WS/WSS port serving several paths stops serving `path` and closes with its last one.
   */
  async closeListener(transport: TransportName, address: string, port: number, path?: string): Promise<void> {
    const addr = normalizeIp(address);
    const i = this.listeners.findIndex(
      (l) => l.transport === transport && l.address === addr && l.port === port,
    );
    if (i < 0) return;
    const ws = this.listeners[i];
    if (ws instanceof WsListener && !ws.removePath(normalizePath(path))) {
      this.log?.info({ transport, address: addr, port, path: normalizePath(path) }, 'listener path closed');
      return;
    }
    const [listener] = this.listeners.splice(i, 1);
    await listener?.close();
    this.log?.info({ transport, address: addr, port }, 'listener closed');
  }

  stats(): TransportStats {
    return { listeners: this.listeners.length, connections: this.pool.size };
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.aborter.abort();
    this.stunClient.close();
    this.keepAliveStun.close();
    this.keepAlives.close();
    const listeners = this.listeners.splice(0);
    await Promise.all([this.pool.closeAll(), ...listeners.map((l) => l.close())]);
  }

  async sendRequest(req: SipRequest, target: Endpoint): Promise<Endpoint> {
    this.ensureOpen();
    const address = await this.resolve(target.address);
    if (target.transport !== 'udp') {
      const { transport, port, from, serverName, flow } = target;
      return this.sendOnStream(req, transport, address, port, from, serverName, flow);
    }
    const listener = pickListener(preferred(this.udpListeners(), target.from), address);
    if (!listener) throw new Error(`no udp listener for IPv${ipFamily(address)} to send to ${address}`);
    setSentBy(req, 'udp', this.sentByHost(listener, address), listener.port);
    let data = serialize(req);
    if (data.length > this.udpMaxSize) {
      try {
        return await this.sendOnStream(req, 'tcp', address, target.port, target.from);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === undefined || !NO_TCP.has(code)) throw err;
        this.log?.debug(
          { address, port: target.port, code },
          'no TCP at target, large request sent over UDP',
        );
        setSentBy(req, 'udp', this.sentByHost(listener, address), listener.port);
        data = serialize(req);
      }
    }
    await listener.send(data, target.port, address);
    return target.from
      ? { transport: 'udp', address, port: target.port, from: target.from }
      : { transport: 'udp', address, port: target.port };
  }

  /**
   * Where a request sent towards `target` would leave from, as a Contact should name it: the
   * listener `sendRequest` would pick and the host its Via sent-by would carry (bare, IPv6
   * without brackets; the configured `localHost` or a ListenSpec `host` when one applies).
   * `target.address` must be an IP (resolve names first). Throws when no listener of that
   * transport and IP family exists.
   */
  localContact(target: Endpoint): { host: string; port: number; transport: TransportName } {
    const address = normalizeIp(target.address);
    const transport = target.transport;
    const candidates =
      transport === 'udp' ? this.udpListeners() : this.listeners.filter((l) => l.transport === transport);
    const listener = pickListener(preferred(candidates, target.from), address);
    if (!listener) {
      throw new Error(`no ${transport} listener for IPv${ipFamily(address)} to reach ${address}`);
    }
    return { host: this.sentByHost(listener, address), port: listener.port, transport };
  }

  sendResponse(resp: SipResponse, source: Source): Promise<void> {
    return this.sendPrepared(prepared(resp, source, serialize(resp)), source);
  }

  prepareResponse(resp: SipResponse, source: Source): PreparedResponse {
    return prepared(resp, source, serializeKept(resp));
  }

  sendPrepared(prepared: PreparedResponse, source: Source): Promise<void> {
    // failures are rejections, never throws: callers chain .catch on the result
    if (this.isClosed) return Promise.reject(new Error('transport closed'));
    if (!(prepared instanceof PreparedSend))
      return Promise.reject(new Error('not prepared by this transport'));
    const { data, dest } = prepared;
    if (isReliable(source.transport) && source.connectionId !== undefined) {
      const conn = this.pool.get(source.connectionId);
      if (conn) return conn.send(data);
    }
    // the common case, a UDP answer to an IP, goes out without a promise chain
    if (dest.transport === 'udp' && prepared.ip !== undefined)
      return this.sendUdpResponse(data, source, prepared.ip, dest.port);
    return this.sendResponseResolved(data, source, dest);
  }

  private sendUdpResponse(data: Buffer, source: Source, address: string, port: number): Promise<void> {
    // from the socket the request reached, so a NAT binding made by the request lets it in
    const listener = this.udpListenerOf(source, address) ?? pickListener(this.udpListeners(), address);
    if (!listener)
      return Promise.reject(new Error(`no udp listener for IPv${ipFamily(address)} to answer ${address}`));
    return listener.send(data, port, address);
  }

  private async sendResponseResolved(data: Buffer, source: Source, dest: ResponseDestination): Promise<void> {
    const address = await this.resolve(dest.host);
    if (dest.transport !== 'udp') {
      const transport = dest.transport;
      const conn = await this.pool.obtain(transport, address, dest.port, () =>
        this.connect(transport, address, dest.port),
      );
      return conn.send(data);
    }
    return this.sendUdpResponse(data, source, address, dest.port);
  }

  private async sendOnStream(
    req: SipRequest,
    transport: StreamTransport,
    address: string,
    port: number,
    from?: readonly LocalAddress[],
    serverName?: string,
    flow?: boolean,
  ): Promise<Endpoint> {
    const conn = await this.pool.obtain(transport, address, port, () =>
      flow
        ? Promise.reject(new FlowFailedError(`${transport} flow to ${hostText(address)}:${port} is gone`))
        : this.connect(transport, address, port, serverName),
    );
    const listener = pickListener(
      preferred(
        this.listeners.filter((l) => l.transport === transport),
        from,
      ),
      address,
    );
    if (listener) {
      setSentBy(req, transport, this.sentByHost(listener, address, conn), listener.port);
    } else {
      // no listener to come back to: the connection itself is the only way back
      setSentBy(req, transport, conn.localAddress, conn.localPort);
    }
    await conn.send(serialize(req));
    return from ? { transport, address, port, from } : { transport, address, port };
  }

  private async connect(
    transport: StreamTransport,
    address: string,
    port: number,
    serverName?: string,
  ): Promise<Connection> {
    const signal = this.aborter.signal;
    let conn: Connection | undefined;
    try {
      if (transport === 'ws' || transport === 'wss') {
        const ws = await connectWs(
          transport,
          address,
          port,
          serverName,
          this.tls,
          this.wsOpts,
          this.connectTimeout,
          signal,
        );
        conn = this.adoptWs(ws, transport, false, '/');
      } else {
        const socket =
          transport === 'tls'
            ? await connectTls(address, port, serverName, this.tls, this.connectTimeout, signal)
            : await connectTcp(address, port, this.connectTimeout, signal);
        conn = this.adopt(socket, transport, false);
      }
    } catch (err) {
      // the UAC sees a transport error (503); the operator sees why, certificates above all
      if (transport !== 'tcp') this.log?.warn({ err: (err as Error).message }, `${transport} connect failed`);
      throw err;
    }
    if (!conn) throw new Error('transport closed');
    return conn;
  }

  private onAccept(socket: Socket, transport: 'tcp' | 'tls'): void {
    this.adopt(socket, transport, true);
  }

  private adoptWs(
    ws: import('ws').WebSocket,
    transport: WsTransport,
    inbound: boolean,
    path: string,
    req?: import('node:http').IncomingMessage,
  ): Connection | undefined {
    if (this.isClosed) {
      ws.terminate();
      return undefined;
    }
    const a = socketAddresses(ws, req);
    const conn = new WsConnection(
      ws,
      transport,
      inbound,
      a.remoteAddress,
      a.remotePort,
      a.localAddress,
      a.localPort,
      path,
      {
        message: (c, data) => this.receive(data, { ...connectionSource(c), path }),
        closed: (c) => this.pool.remove(c),
      },
      this.wsOpts,
    );
    this.pool.add(conn);
    this.log?.debug({ conn: conn.describe(), inbound, path }, 'connection open');
    return conn;
  }

  private wsListener(transport: WsTransport, address: string, port: number): WsListener | undefined {
    const addr = normalizeIp(address);
    return this.listeners.find(
      (l): l is WsListener =>
        l instanceof WsListener && l.transport === transport && l.address === addr && l.port === port,
    );
  }

  private adopt(socket: Socket, transport: TransportName, inbound: boolean): Connection | undefined {
    if (this.isClosed) {
      socket.destroy();
      return undefined;
    }
    const conn = new StreamConnection(
      socket,
      transport,
      inbound,
      {
        message: (c, data) => this.receive(data, connectionSource(c)),
        closed: (c) => this.connectionClosed(c),
      },
      this.streamOpts,
    );
    this.pool.add(conn);
    this.log?.debug({ conn: conn.describe(), inbound }, 'connection open');
    if (!inbound && this.keepAliveInterval > 0) {
      this.keepAlive(
        { transport, address: conn.remoteAddress, port: conn.remotePort },
        this.keepAliveInterval,
      );
    }
    return conn;
  }

  /**
   * Sends a STUN Binding request to `host:port` from a UDP listener (one of `from` when one
   * fits) and resolves with that listener and the address the peer saw (NkSIP
   * `nksip_uac:stun`). A name is resolved to one address first.
   */
  async stun(host: string, port: number, from?: readonly LocalAddress[]): Promise<StunResult> {
    this.ensureOpen();
    const address = await this.resolve(host);
    const listener = pickListener(preferred(this.udpListeners(), from), address);
    if (!listener) throw new Error(`no udp listener for IPv${ipFamily(address)} to reach ${address}`);
    const mapped = await this.stunClient.request((d) => listener.send(d, port, address), { address, port });
    return { local: { address: this.sentByHost(listener, address), port: listener.port }, mapped };
  }

  private onDatagram(data: Buffer, rinfo: RemoteInfo, listener: UdpListener): void {
    if (isStun(data)) {
      this.onStun(data, rinfo, listener);
      return;
    }
    this.receive(data, {
      transport: 'udp',
      address: normalizeIp(rinfo.address),
      port: rinfo.port,
      localAddress: listener.address,
      localPort: listener.port,
    });
  }

  /** Flows that die (connections closing, keep-alives unanswered) are reported here. */
  onFlowLost(handler: FlowLostHandler): void {
    this.flowLostHandlers.push(handler);
  }

  /**
   * Keeps the flow to `target` alive (RFC 5626 §4.4) every `intervalMs`: CRLFCRLF pings on
   * the connection to it (closed when no traffic answers within the pong timeout), STUN
   * Binding requests over UDP from the listener that would send to it (the flow is lost when
   * none is answered or the mapped address changes). Either way `onFlowLost` hears of it.
   */
  keepAlive(target: Endpoint, intervalMs: number): KeepAliveHandle {
    const address = normalizeIp(stripBrackets(target.address));
    const { transport, port } = target;
    const key = `${transport}|${address}|${port}`;
    if (isReliable(transport)) {
      const probe = async (): Promise<boolean> => {
        const conn = this.pool.find(transport, address, port);
        if (!conn) return false;
        const sentAt = Date.now();
        await conn.send(PING);
        await new Promise((r) => setTimeout(r, this.pongTimeout).unref());
        return conn.open && (conn.lastReceived ?? 0) >= sentAt;
      };
      // a dead connection reports itself as it closes
      return this.keepAlives.start(key, intervalMs, probe, () =>
        this.pool.find(transport, address, port)?.close('keepalive'),
      );
    }
    const listener = pickListener(preferred(this.udpListeners(), target.from), address);
    if (!listener) throw new Error(`no udp listener for IPv${ipFamily(address)} to reach ${address}`);
    let mapped: string | undefined;
    const probe = async (): Promise<boolean> => {
      const m = await this.keepAliveStun.request((d) => listener.send(d, port, address), { address, port });
      const now = `${m.address}|${m.port}`;
      mapped ??= now;
      return mapped === now;
    };
    return this.keepAlives.start(key, intervalMs, probe, (why) => {
      this.log?.info({ flow: `udp:${hostText(address)}:${port}`, why }, 'udp flow lost');
      this.flowLost({
        transport: 'udp',
        address,
        port,
        localAddress: listener.address,
        localPort: listener.port,
        reason: 'keepalive',
      });
    });
  }

  private flowLost(lost: FlowLost): void {
    if (this.isClosed) return;
    for (const h of this.flowLostHandlers) {
      try {
        h(lost);
      } catch (err) {
        this.log?.error({ err }, 'flow-lost handler threw');
      }
    }
  }

  private connectionClosed(c: Connection): void {
    this.pool.remove(c);
    this.keepAlives.stop(`${c.transport}|${c.remoteAddress}|${c.remotePort}`);
    const why = c.closeReason;
    if (why === 'transport closing') return;
    const lost: FlowLost = {
      ...connectionSource(c),
      reason: why === 'keepalive' ? 'keepalive' : why === 'idle timeout' ? 'idle' : 'closed',
    };
    this.flowLost(lost);
  }

  /** RFC 5389 on the SIP port: Binding requests answered, responses to our own matched. */
  private onStun(data: Buffer, rinfo: RemoteInfo, listener: UdpListener): void {
    const msg = decodeStun(data);
    const from = `${rinfo.address}:${rinfo.port}`;
    if (!msg) {
      this.log?.debug({ from }, 'dropped malformed STUN message');
      return;
    }
    if (msg.cls === 'request') {
      const answer = answerRequest(msg, { address: normalizeIp(rinfo.address), port: rinfo.port });
      if (answer)
        listener.send(answer, rinfo.port, rinfo.address).catch((err: Error) => {
          this.log?.debug({ from, err: err.message }, 'STUN answer not sent');
        });
      return;
    }
    if (!this.stunClient.onResponse(msg) && !this.keepAliveStun.onResponse(msg))
      this.log?.debug({ from }, 'dropped unexpected STUN response');
  }

  private receive(data: Buffer, source: Source): void {
    if (isBlank(data)) return; // a keep-alive datagram (CRLFs): nothing to parse or answer
    let parsed: ReturnType<typeof parseMessage>;
    try {
      // a WebSocket message is one SIP message, framed like a datagram (RFC 7118 §5.2)
      const framed = source.transport === 'ws' || source.transport === 'wss';
      parsed = parseMessage(data, { stream: isReliable(source.transport) && !framed });
    } catch (err) {
      this.log?.debug(
        { from: `${source.address}:${source.port}`, err: (err as Error).message },
        'dropped unparseable',
      );
      return;
    }
    const { msg } = parsed;
    if (msg.kind === 'request') {
      stampReceived(msg, source.address, source.port);
    } else if (!safeTopVia(msg)) {
      // §18.1.2: a response is matched by its top Via; without one it belongs to nobody
      this.log?.debug({ from: `${source.address}:${source.port}` }, 'dropped response without a valid Via');
      return;
    }
    const inc: Incoming = { msg, source, size: data.length };
    if (parsed.defect !== undefined) inc.defect = parsed.defect;
    if (!this.handler) {
      this.log?.debug('message received with no handler installed');
      return;
    }
    try {
      this.handler(inc);
    } catch (err) {
      this.log?.error({ err }, 'message handler threw');
    }
  }

  private udpListeners(): UdpListener[] {
    return this.listeners.filter((l): l is UdpListener => l instanceof UdpListener);
  }

  private udpListenerOf(source: Source, address: string): UdpListener | undefined {
    let family: number | undefined;
    for (const l of this.listeners) {
      if (!(l instanceof UdpListener) || l.port !== source.localPort) continue;
      family ??= ipFamily(address);
      // sources of our own listeners carry its address as is: no need to normalise those
      if (
        l.family === family &&
        (l.address === source.localAddress || sameIp(l.address, source.localAddress))
      )
        return l;
    }
    return undefined;
  }

  /** Via sent-by host for a message leaving `listener` towards `target` (RFC 3261 §18.1.1). */
  private sentByHost(listener: Listener, target: string, conn?: Connection): string {
    if (!isWildcard(listener.address)) return listener.address;
    if (listener.host !== undefined) return listener.host;
    if (isLoopback(target)) return loopbackFor(listener.family);
    const configured = this.localHost;
    if (configured !== undefined && [0, listener.family].includes(ipFamily(configured))) return configured;
    if (conn) return conn.localAddress;
    return interfaceAddress(listener.family) ?? loopbackFor(listener.family);
  }

  private async resolve(host: string): Promise<string> {
    const bare = stripBrackets(host);
    if (ipFamily(bare) !== 0) return normalizeIp(bare);
    // plain A/AAAA for now; RFC 3263 (NAPTR, SRV) belongs to its own module
    const { address } = await lookup(bare);
    return normalizeIp(address);
  }

  private ensureOpen(): void {
    if (this.isClosed) throw new Error('transport closed');
  }
}

/** Where a message read from a connection came from: its peer, our end, the connection. */
function connectionSource(c: Connection): Source {
  return {
    transport: c.transport,
    address: c.remoteAddress,
    port: c.remotePort,
    localAddress: c.localAddress,
    localPort: c.localPort,
    connectionId: c.id,
  };
}

/** The §18.2.2 destination is read from the Via now, so the bytes alone go out again. */
function prepared(resp: SipResponse, source: Source, data: Buffer): PreparedSend {
  return new PreparedSend(resp.status, data, responseDestination(safeTopVia(resp), source));
}

/** A response's bytes and where §18.2.2 sends them when there is no connection to answer on. */
class PreparedSend implements PreparedResponse {
  /** The destination host as a normalised IP, or undefined for a name to resolve. */
  readonly ip: string | undefined;

  constructor(
    readonly status: number,
    readonly data: Buffer,
    readonly dest: ResponseDestination,
  ) {
    const bare = stripBrackets(dest.host);
    this.ip = ipFamily(bare) === 0 ? undefined : normalizeIp(bare);
  }
}

/** The best listener to send from towards `address`: same family, able to reach it. */
/** The candidates named in `from`, when any is; all of them otherwise. */
function preferred<L extends Listener>(candidates: L[], from: readonly LocalAddress[] | undefined): L[] {
  if (from === undefined || from.length === 0) return candidates;
  const named = candidates.filter((l) =>
    from.some(
      (f) =>
        f.transport === l.transport && f.port === l.port && normalizeIp(f.address) === normalizeIp(l.address),
    ),
  );
  return named.length > 0 ? named : candidates;
}

function pickListener<L extends Listener>(candidates: L[], address: string): L | undefined {
  const family = ipFamily(address);
  const toLoopback = isLoopback(address);
  let best: L | undefined;
  let bestScore = 0;
  for (const l of candidates) {
    if (l.family !== family) continue;
    const wildcard = isWildcard(l.address);
    const onLoopback = !wildcard && isLoopback(l.address);
    // a socket bound to loopback cannot reach anything else; prefer it for loopback peers
    const score = toLoopback ? (onLoopback ? 3 : wildcard ? 2 : 1) : onLoopback ? 0 : 2;
    if (score > bestScore) {
      best = l;
      bestScore = score;
    }
  }
  return best;
}

function isBlank(data: Buffer): boolean {
  for (const b of data) if (b !== 13 && b !== 10) return false;
  return true;
}

const ifaceCache = new Map<number, string | undefined>();

/** First global address of this host for a family, for Via on wildcard listeners. */
function interfaceAddress(family: 4 | 6): string | undefined {
  if (ifaceCache.has(family)) return ifaceCache.get(family);
  let found: string | undefined;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal || a.family !== `IPv${family}`) continue;
      // link-local IPv6 needs a scope id nobody can put in a Via
      if (family === 6 && a.address.toLowerCase().startsWith('fe80')) continue;
      found ??= a.address;
    }
  }
  ifaceCache.set(family, found);
  return found;
}
