// What every listening socket shares, whatever its transport. UDP listeners also send (a
// response leaves from the socket its request reached); stream listeners hand accepted
// connections to the manager, and TLS/WS listeners will do the same.
import { isIP } from 'node:net';
import { normalizeIp } from './address.js';
import type { TransportName } from './types.js';

export type ListenTransport = 'udp' | 'tcp';

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

/** Bind failures with the address and port named, keeping the system code for callers. */
export function listenError(spec: ListenSpec, err: NodeJS.ErrnoException): Error {
  const where = `${spec.transport} ${spec.address.includes(':') ? `[${spec.address}]` : spec.address}:${spec.port}`;
  const why =
    err.code === 'EADDRINUSE'
      ? 'address already in use'
      : err.code === 'EADDRNOTAVAIL'
        ? 'address not available on this host'
        : err.code === 'EACCES'
          ? 'permission denied'
          : err.message;
  const out = new Error(`cannot listen on ${where}: ${why}${err.code ? ` (${err.code})` : ''}`, {
    cause: err,
  });
  return Object.assign(out, { code: err.code });
}
