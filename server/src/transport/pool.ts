// Live connections, by id (answers go back on the connection a request came on, §18.2.2)
// and by peer (a new request to a peer reuses a connection to it, whichever side opened it).
// Concurrent sends to the same peer share one connection attempt.
import { peerKey } from './address.js';
import type { Connection } from './connection.js';
import type { TransportName } from './types.js';

export class ConnectionPool {
  private readonly byId = new Map<number, Connection>();
  private readonly byPeer = new Map<string, Connection>();
  private readonly connecting = new Map<string, Promise<Connection>>();

  get size(): number {
    return this.byId.size;
  }

  add(conn: Connection): void {
    this.byId.set(conn.id, conn);
    const key = peerKey(conn.transport, conn.remoteAddress, conn.remotePort);
    // the newest connection wins: an older one may be on its way out
    this.byPeer.set(key, conn);
  }

  remove(conn: Connection): void {
    this.byId.delete(conn.id);
    const key = peerKey(conn.transport, conn.remoteAddress, conn.remotePort);
    if (this.byPeer.get(key) === conn) this.byPeer.delete(key);
  }

  get(id: number): Connection | undefined {
    const conn = this.byId.get(id);
    return conn?.open ? conn : undefined;
  }

  /** The open connection to a peer, if there is one. */
  find(transport: TransportName, address: string, port: number): Connection | undefined {
    const c = this.byPeer.get(peerKey(transport, address, port));
    return c?.open ? c : undefined;
  }

  /** An open connection to the peer, or the one being opened, or a new one from `open`. */
  obtain(
    transport: TransportName,
    address: string,
    port: number,
    open: () => Promise<Connection>,
  ): Promise<Connection> {
    const key = peerKey(transport, address, port);
    const existing = this.byPeer.get(key);
    if (existing?.open) return Promise.resolve(existing);
    const pending = this.connecting.get(key);
    if (pending) return pending;
    const attempt = open().finally(() => this.connecting.delete(key));
    this.connecting.set(key, attempt);
    return attempt;
  }

  /** Closes every connection and waits until they are all gone. */
  async closeAll(): Promise<void> {
    // the owner aborts connects in flight; wait for them to settle so none slips in later
    await Promise.allSettled([...this.connecting.values()]);
    const all = [...this.byId.values()];
    for (const conn of all) conn.close('transport closing');
    await Promise.all(all.map((c) => c.closed));
  }
}
