// What every listening socket shares, whatever its transport. UDP listeners also send (a
// response leaves from the socket its request reached); stream listeners hand accepted
// connections to the manager, TLS and WS/WSS listeners included.
import { isIP, type Server as NetServer } from 'node:net';
import { normalizeIp } from './address.js';
import type { TransportName } from './types.js';

export type ListenTransport = TransportName;

export interface ListenSpec {
  transport: ListenTransport;
  /** A bare IP: `0.0.0.0`, `::` or a specific address. */
  address: string;
  /** 0 picks a free port. */
  port: number;
  /**
   * Host to put in Via sent-by when bound to a wildcard address (a public name or the
   * address a NAT maps us to). Falls back to the manager's `localHost`.
   */
  host?: string;
  /** WS and WSS: the URL path served (`/` when absent); listeners share a port by path. */
  path?: string;
}

export interface Listener {
  readonly transport: TransportName;
  /** Bound address, normalised; may be a wildcard. */
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
  readonly host: string | undefined;
  close(): Promise<void>;
}

/** Checks a spec's address and returns its family, or throws a readable error. */
export function specFamily(spec: ListenSpec): 4 | 6 {
  const family = isIP(spec.address);
  if (family === 0) throw new Error(`cannot listen on ${spec.transport} ${spec.address}: not an IP address`);
  return family as 4 | 6;
}

export function normalizedAddress(spec: ListenSpec): string {
  return normalizeIp(spec.address);
}

/** Why a bind failed, in words a user reads: the one phrasing for every caller. */
export function bindFailure(err: NodeJS.ErrnoException): string {
  if (err.code === 'EADDRINUSE') return 'address already in use';
  if (err.code === 'EADDRNOTAVAIL') return 'address not available on this host';
  if (err.code === 'EACCES') return 'permission denied';
  return err.message;
}

/** Bind failures with the address and port named, keeping the system code for callers. */
export function listenError(spec: ListenSpec, err: NodeJS.ErrnoException): Error {
  const where = `${spec.transport} ${spec.address.includes(':') ? `[${spec.address}]` : spec.address}:${spec.port}`;
  const why = bindFailure(err);
  const out = new Error(`cannot listen on ${where}: ${why}${err.code ? ` (${err.code})` : ''}`, {
    cause: err,
  });
  return Object.assign(out, { code: err.code });
}

/**
 * Binds a stream server (TCP, TLS, HTTP for WebSocket) to the spec's address and port; the port
 * it got. A failure closes the server and rejects with listenError for `report` (the spec).
 */
export function bindStream(server: NetServer, spec: ListenSpec, report: ListenSpec = spec): Promise<number> {
  const family = specFamily(spec);
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.close();
      reject(listenError(report, err));
    };
    server.once('error', onError);
    server.listen({ host: spec.address, port: spec.port, ipv6Only: family === 6, exclusive: true }, () => {
      server.off('error', onError);
      const bound = server.address();
      resolve(typeof bound === 'object' && bound ? bound.port : spec.port);
    });
  });
}
