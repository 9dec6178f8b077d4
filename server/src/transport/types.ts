// What the transport layer offers the layers above. Everything here is about where bytes
// come from and go to; nothing about transactions.
import type { SipMessage, SipRequest, SipResponse } from '../sip/message.js';

export type TransportName = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** A transport address. `address` is a bare IP (no IPv6 brackets). */
export interface Endpoint {
  transport: TransportName;
  address: string;
  port: number;
  /**
   * Local listeners a request should leave from when one fits (an app's own listeners, so
   * its Via and Contact name them and in-dialog requests come back to it). Any listener
   * otherwise.
   */
  from?: readonly LocalAddress[];
  /**
   * The host name the target was reached by (the URI's host before resolution): TLS and WSS
   * check the peer's certificate against it. The address is checked when absent.
   */
  serverName?: string;
  /**
   * A flow (RFC 5626): on a stream transport, only the connection already open to the peer
   * is used; none open fails the send with FlowFailedError rather than connecting anew.
   */
  flow?: boolean;
}

/** A local listener by transport, address (as bound) and port. */
export interface LocalAddress {
  transport: TransportName;
  address: string;
  port: number;
}

/** Where a message came from: the peer, the local socket it reached, the connection. */
export interface Source extends Endpoint {
  localAddress: string;
  localPort: number;
  /** Stream transports: the connection it arrived on, reused for the answers (§18.2.2). */
  connectionId?: number;
  /** WS and WSS: the URL path of the connection's upgrade (apps share a port by path). */
  path?: string;
}

export interface Incoming {
  msg: SipMessage;
  /** Set when the message breaks the grammar: the reason phrase of the 400 it deserves. */
  defect?: string;
  source: Source;
  /** Octets the message occupied, for stateless forwarding and logs. */
  size: number;
}

export function isReliable(t: TransportName): boolean {
  return t !== 'udp';
}

/**
 * A response serialized once, to be sent again unchanged: what a completed transaction keeps
 * to answer retransmissions of its request. Opaque to the layers above; `status` for logs.
 */
export interface PreparedResponse {
  readonly status: number;
}

/** The transport layer as the transaction layer and the cores see it. */
export interface SipTransport {
  /**
   * Sends a request towards `target`. The caller has put a top Via carrying the branch; the
   * transport fills in its sent-protocol, sent-by and `rport` for the socket it really uses
   * (which is TCP rather than UDP for a request over the UDP size limit, §18.1.1), and
   * resolves with the endpoint the request went to.
   */
  sendRequest(req: SipRequest, target: Endpoint): Promise<Endpoint>;
  /** Sends a response back along the path of RFC 3261 §18.2.2 / RFC 3581 for `source`. */
  sendResponse(resp: SipResponse, source: Source): Promise<void>;
  /**
   * What `sendResponse` would send, made once to be kept: `sendPrepared` then sends it
   * (again) for the same `source`, or the one a retransmission of the request came from.
   */
  prepareResponse(resp: SipResponse, source: Source): PreparedResponse;
  sendPrepared(prepared: PreparedResponse, source: Source): Promise<void>;
}
