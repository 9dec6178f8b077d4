// TLS (RFC 3261 §26.2, sips:): tcp.ts with `tls.createServer` and `tls.connect`. A TLSSocket is
// a net.Socket, so accepted and opened connections become StreamConnections like TCP ones;
// only the handshake and the certificate check are TLS's own.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import {
  type ConnectionOptions,
  checkServerIdentity,
  connect,
  createServer,
  rootCertificates,
  type Server,
  type TLSSocket,
} from 'node:tls';
import type { Logger } from 'pino';
import { hostText, ipFamily } from './address.js';
import { bindStream, type Listener, type ListenSpec, normalizedAddress, specFamily } from './listener.js';

/** Certificate, key and trust as PEM text (see `loadTlsFiles`). */
export interface TlsSettings {
  cert: string;
  key: string;
  /** Extra CAs trusted for outgoing connections, besides the system's roots. */
  ca?: string;
  /** Check the certificate of every peer we connect to (default true). */
  verify?: boolean;
}

/** TLS settings as the config gives them: PEM file paths. */
export interface TlsFiles {
  cert: string;
  key: string;
  ca?: string;
  verify?: boolean;
}

/** Reads the PEM files of a TLS config, naming the one that cannot be read. */
export function loadTlsFiles(files: TlsFiles): TlsSettings {
  const read = (what: string, path: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      throw new Error(`cannot read TLS ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  };
  const out: TlsSettings = { cert: read('certificate', files.cert), key: read('key', files.key) };
  if (files.ca !== undefined) out.ca = read('CA', files.ca);
  if (files.verify !== undefined) out.verify = files.verify;
  return out;
}

export type TlsAcceptHandler = (socket: Socket, listener: TlsListener) => void;

export class TlsListener implements Listener {
  readonly transport = 'tls' as const;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    readonly address: string,
    readonly port: number,
    readonly family: 4 | 6,
    readonly host: string | undefined,
  ) {}

  /**
   * Accepts TLS connections; a socket reaches `onAccept` only once its handshake is done. A
   * failed handshake (a plain TCP peer, a client refusing our certificate) or one not done
   * within `handshakeTimeout` ms is logged and the socket destroyed by Node.
   */
  static async open(
    spec: ListenSpec,
    settings: TlsSettings,
    handshakeTimeout: number,
    onAccept: TlsAcceptHandler,
    logger?: Logger,
  ): Promise<TlsListener> {
    const family = specFamily(spec);
    let server: Server;
    try {
      server = createServer({ cert: settings.cert, key: settings.key, handshakeTimeout });
    } catch (e) {
      throw new Error(`cannot listen on tls: bad certificate or key: ${(e as Error).message}`);
    }
    const port = await bindStream(server, spec, { ...spec, transport: 'tcp' });
    const listener = new TlsListener(server, normalizedAddress(spec), port, family, spec.host);
    server.on('secureConnection', (socket: TLSSocket) => onAccept(socket, listener));
    server.on('tlsClientError', (err, socket) =>
      logger?.warn(
        { port, peer: `${hostText(socket.remoteAddress ?? '?')}:${socket.remotePort}`, err: err.message },
        'tls handshake failed',
      ),
    );
    server.on('error', (err) => logger?.warn({ err: err.message, port }, 'tls listener error'));
    return listener;
  }

  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => this.server.close(() => resolve()));
    return this.closing;
  }
}

/**
 * Opens a TLS connection to an IP. The peer's certificate must name `serverName` (the host of
 * the URI we are sending to; the IP when the URI had one) and chain to a trusted CA unless
 * verification is off; a failure rejects with the reason OpenSSL gives.
 */
export function connectTls(
  address: string,
  port: number,
  serverName: string | undefined,
  settings: TlsSettings | undefined,
  timeout: number,
  signal?: AbortSignal,
): Promise<Socket> {
  const where = `tls ${hostText(address)}:${port}`;
  const name = serverName ?? address;
  const opts: ConnectionOptions = {
    host: address,
    port,
    rejectUnauthorized: settings?.verify !== false,
    // SNI takes host names only
    ...(ipFamily(name) === 0 ? { servername: name } : {}),
    // against the name we meant to reach, not the IP we dialled
    checkServerIdentity: (_host: string, cert) => checkServerIdentity(name, cert),
  };
  if (settings) {
    // our certificate too: a peer that asks for one (mutual TLS between proxies) gets it
    opts.cert = settings.cert;
    opts.key = settings.key;
    if (settings.ca !== undefined) opts.ca = [...rootCertificates, settings.ca];
  }
  return new Promise((resolve, reject) => {
    const socket = connect(opts);
    const fail = (err: Error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    };
    const onError = (err: NodeJS.ErrnoException) => {
      const cert = err.code !== undefined && CERT_ERRORS.test(err.code);
      const why = cert ? `certificate verification failed: ${err.message} (${err.code})` : err.message;
      fail(
        Object.assign(new Error(`connect to ${where} failed: ${why}`, { cause: err }), { code: err.code }),
      );
    };
    const onAbort = () => fail(new Error(`connect to ${where} aborted: transport closing`));
    const timer = setTimeout(
      () => fail(Object.assign(new Error(`connect to ${where} timed out`), { code: 'ETIMEDOUT' })),
      timeout,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

const CERT_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS_CERT_ALTNAME/;
