// UDP listener: one datagram socket per listening address, used both to receive and to send,
// so requests and responses leave from the address and port peers (and their NATs) expect.
import { createSocket, type RemoteInfo, type Socket, type SocketOptions } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import type { Logger } from 'pino';
import { type Listener, type ListenSpec, listenError, normalizedAddress, specFamily } from './listener.js';

export type DatagramHandler = (data: Buffer, rinfo: RemoteInfo, listener: UdpListener) => void;

const UDP_BUFFER = 4 * 1024 * 1024;

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/**
 * The address lookup of a socket. Every address it sends to is an IP already (the manager
 * resolves names first), and the default, `dns.lookup`, would still test it against two IP
 * patterns and answer on the next tick, for every datagram; this answers at once. Until the
 * socket is bound (its own bind lookup) and for anything not an IP literal, `dns.lookup`.
 */
function ipLookup(bound: () => boolean): SocketOptions['lookup'] {
  const lookup = (address: string, family: number, cb: LookupCallback): void => {
    if (bound() && (family === 6 ? address.includes(':') : IPV4.test(address))) cb(null, address, family);
    else dnsLookup(address, family, cb);
  };
  return lookup as unknown as SocketOptions['lookup'];
}

export class UdpListener implements Listener {
  readonly transport = 'udp' as const;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly address: string,
    readonly port: number,
    readonly family: 4 | 6,
    readonly host: string | undefined,
  ) {}

  static open(spec: ListenSpec, onDatagram: DatagramHandler, logger?: Logger): Promise<UdpListener> {
    const family = specFamily(spec);
    // ipv6Only: `::` takes IPv6 only, so `0.0.0.0` and `::` can share a port and every
    // source address a listener sees has the listener's family
    // a large receive buffer rides out event-loop pauses (GC) under load instead of
    // dropping datagrams; the kernel caps it at net.core.rmem_max
    let bound = false;
    const common = {
      recvBufferSize: UDP_BUFFER,
      sendBufferSize: UDP_BUFFER,
      lookup: ipLookup(() => bound),
    };
    const socket = createSocket(
      family === 6 ? { type: 'udp6', ipv6Only: true, ...common } : { type: 'udp4', ...common },
    );
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        socket.close();
        reject(listenError(spec, err));
      };
      socket.once('error', onError);
      socket.bind({ address: spec.address, port: spec.port, exclusive: true }, () => {
        bound = true;
        socket.off('error', onError);
        const listener = new UdpListener(
          socket,
          normalizedAddress(spec),
          socket.address().port,
          family,
          spec.host,
        );
        socket.on('message', (data, rinfo) => onDatagram(data, rinfo, listener));
        socket.on('error', (err) =>
          logger?.warn({ err: err.message, port: listener.port }, 'udp socket error'),
        );
        resolve(listener);
      });
    });
  }

  send(data: Buffer, port: number, address: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.send(data, port, address, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => this.socket.close(() => resolve()));
    return this.closing;
  }
}
