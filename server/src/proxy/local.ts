// Who "we" are, for the proxy: which URIs and Via sent-bys point at this server (RFC 3261
// §16.4 Route removal, R-URI restoration, stray responses by Via) and what host:port to
// write in Record-Route and Path for a given listener. Learned from the listeners the server
// reports and from the local side of every message received; no sockets here.
import { networkInterfaces } from 'node:os';
import {
  defaultPort,
  hostText,
  ipFamily,
  isLoopback,
  isWildcard,
  loopbackFor,
  normalizeIp,
  stripBrackets,
} from '../transport/address.js';
import type { Endpoint, Source, TransportName } from '../transport/types.js';

/** A listening socket of this server, as the entry layer knows it. */
export interface LocalListener {
  transport: TransportName;
  /** Bound address, may be a wildcard (`0.0.0.0`, `::`). */
  address: string;
  port: number;
}

/** Where a request towards `target` leaves from (TransportManager.localContact). */
export type LocalContact = (target: Endpoint) => { host: string; port: number };

export class LocalIdentity {
  private readonly listeners: (() => readonly LocalListener[]) | undefined;
  private readonly rrHost: string | undefined;
  private readonly contact: LocalContact | undefined;
  /** `host|port` of sockets seen on messages we received. */
  private readonly seen = new Set<string>();
  private readonly seenWildcardPorts = new Set<number>();

  constructor(
    listeners: (() => readonly LocalListener[]) | undefined,
    recordRouteHost: string | undefined,
    contact?: LocalContact,
  ) {
    this.listeners = listeners;
    this.rrHost = recordRouteHost?.toLowerCase();
    this.contact = contact;
  }

  /** Remembers the local socket a message reached. */
  learn(source: Source): void {
    if (isWildcard(source.localAddress)) this.seenWildcardPorts.add(source.localPort);
    else this.seen.add(`${normalizeIp(source.localAddress)}|${source.localPort}`);
  }

  /** Whether `host:port` (port absent: the transport's default) addresses this server. */
  isLocal(host: string, port: number | undefined, transport: TransportName = 'udp'): boolean {
    const h = normalizeIp(stripBrackets(host));
    const p = port ?? defaultPort(transport);
    const key = `${h}|${p}`;
    if (this.seen.has(key)) return true;
    const wildcardPorts = new Set(this.seenWildcardPorts);
    const ports = new Set(wildcardPorts);
    for (const k of this.seen) ports.add(Number(k.slice(k.lastIndexOf('|') + 1)));
    for (const l of this.listeners?.() ?? []) {
      ports.add(l.port);
      if (isWildcard(l.address)) wildcardPorts.add(l.port);
      else if (normalizeIp(l.address) === h && l.port === p) return true;
    }
    if (this.rrHost !== undefined && h === this.rrHost && ports.has(p)) return true;
    if (wildcardPorts.has(p) && (isLoopback(h) || interfaceAddresses().has(h))) return true;
    return false;
  }

  /**
   * Host to write for a socket bound to `localAddress` when talking to `peer`: the bound
   * address, else the configured host, else loopback for a loopback peer, else the first
   * interface address (what the transport puts in Via for wildcard listeners).
   */
  hostFor(localAddress: string, peer: string): string {
    if (!isWildcard(localAddress)) return localAddress;
    if (this.rrHost !== undefined) return this.rrHost;
    const family = ipFamily(peer) === 6 ? 6 : ipFamily(localAddress) === 6 ? 6 : 4;
    if (isLoopback(peer)) return loopbackFor(family);
    return firstInterface(family) ?? loopbackFor(family);
  }

  /** Our `lr` URI for the socket a request arrived on (inbound side of Record-Route). */
  inboundUri(source: Source): string {
    return lrUri(source.transport, this.hostFor(source.localAddress, source.address), source.localPort);
  }

  /**
   * Our `lr` URI for the side a request leaves by, towards `to`: what the transport says the
   * request will leave from when it can tell, else a listener of that transport and address
   * family when the server reports them, else the inbound socket's host and port
   * with the outgoing transport (UDP and TCP share a port in this server).
   */
  outboundUri(source: Source, to: Endpoint): string {
    // the listener (group) the request came in on, when it can reach the target: in-dialog
    // requests must come back to it, since another listener of this server may belong to
    // another app
    if (this.inboundReaches(source, to)) {
      return lrUri(to.transport, this.hostFor(source.localAddress, to.address), source.localPort);
    }
    if (this.contact) {
      try {
        const c = this.contact(to);
        this.seen.add(`${normalizeIp(c.host)}|${c.port}`);
        return lrUri(to.transport, c.host, c.port);
      } catch {
        // no listener of that transport and family: the guess below
      }
    }
    const family = ipFamily(to.address);
    const candidates = (this.listeners?.() ?? []).filter(
      (l) => l.transport === to.transport && ipFamily(l.address) === family,
    );
    const toLoopback = isLoopback(to.address);
    const best =
      candidates.find((l) => (toLoopback ? isLoopback(l.address) : !isLoopback(l.address))) ??
      candidates.find((l) => isWildcard(l.address)) ??
      candidates[0];
    if (best) return lrUri(to.transport, this.hostFor(best.address, to.address), best.port);
    const sameFamily = ipFamily(source.localAddress) === family || isWildcard(source.localAddress);
    const host = sameFamily ? this.hostFor(source.localAddress, to.address) : this.hostFor('::', to.address);
    return lrUri(to.transport, host, source.localPort);
  }

  /**
   * Whether the inbound socket's address and port serve the outgoing transport too (the same
   * transport, or a listener of that transport on the same address and port: UDP and TCP
   * share a port here) and face the target (same family; loopback only towards loopback).
   */
  private inboundReaches(source: Source, to: Endpoint): boolean {
    const local = source.localAddress;
    const family = ipFamily(to.address);
    if (!isWildcard(local) && (ipFamily(local) !== family || isLoopback(local) !== isLoopback(to.address))) {
      return false;
    }
    if (isWildcard(local) && ipFamily(local) === 4 && family === 6) return false;
    if (source.transport === to.transport) return true;
    const addr = normalizeIp(local);
    return (this.listeners?.() ?? []).some(
      (l) => l.transport === to.transport && l.port === source.localPort && normalizeIp(l.address) === addr,
    );
  }
}

function lrUri(transport: TransportName, host: string, port: number): string {
  const t = transport === 'udp' ? '' : `;transport=${transport}`;
  return `<sip:${hostText(host)}:${port}${t};lr>`;
}

let ifaces: Set<string> | undefined;

function interfaceAddresses(): Set<string> {
  if (ifaces) return ifaces;
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) out.add(normalizeIp(a.address));
  ifaces = out;
  return out;
}

function firstInterface(family: 4 | 6): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal || a.family !== `IPv${family}`) continue;
      if (family === 6 && a.address.toLowerCase().startsWith('fe80')) continue;
      return a.address;
    }
  }
  return undefined;
}
