// TCP: a listener accepting connections and an outgoing connect with a timeout. Both yield
// plain sockets that the manager wraps in a StreamConnection; TLS will mirror this file with
// `tls.createServer` and `tls.connect` and reuse everything else.
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { hostText } from './address.js';
import { bindStream, type Listener, type ListenSpec, normalizedAddress, specFamily } from './listener.js';

export type AcceptHandler = (socket: Socket, listener: TcpListener) => void;

export class TcpListener implements Listener {
  readonly transport = 'tcp' as const;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    readonly address: string,
    readonly port: number,
    readonly family: 4 | 6,
    readonly host: string | undefined,
  ) {}

  static async open(spec: ListenSpec, onAccept: AcceptHandler, logger?: Logger): Promise<TcpListener> {
    const server = createServer();
    const port = await bindStream(server, spec);
    const listener = new TcpListener(server, normalizedAddress(spec), port, specFamily(spec), spec.host);
    server.on('connection', (socket) => onAccept(socket, listener));
    server.on('error', (err) => logger?.warn({ err: err.message, port }, 'tcp listener error'));
    return listener;
  }

  /** Stops accepting; connections already accepted are the manager's to close. */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => this.server.close(() => resolve()));
    return this.closing;
  }
}

/** Opens a TCP connection to an IP, failing after `timeout` ms or when `signal` aborts. */
export function connectTcp(
  address: string,
  port: number,
  timeout: number,
  signal?: AbortSignal,
): Promise<Socket> {
  const where = `tcp ${hostText(address)}:${port}`;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port });
    const fail = (err: Error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    };
    const onError = (err: NodeJS.ErrnoException) =>
      fail(
        Object.assign(new Error(`connect to ${where} failed: ${err.message}`, { cause: err }), {
          code: err.code,
        }),
      );
    const onAbort = () => fail(new Error(`connect to ${where} aborted: transport closing`));
    const timer = setTimeout(
      () => fail(Object.assign(new Error(`connect to ${where} timed out`), { code: 'ETIMEDOUT' })),
      timeout,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
