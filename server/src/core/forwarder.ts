// What the UAS core needs from the proxy (services layer) when the application decides to
// proxy a request. Implemented in `proxy/`; the core only routes decisions to it.
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { ServerTxn } from '../transaction/types.js';
import type { Source } from '../transport/types.js';
import type { ProxyOptions, UriSet } from './decision.js';

export interface Forwarder {
  /**
   * Stateful proxying (RFC 3261 §16) of a request whose server transaction is `txn`: the
   * forwarder sends the final response on it (480 for an empty set after routing, 500 for
   * targets it cannot use).
   */
  forward(req: SipRequest, txn: ServerTxn, source: Source, targets: UriSet, options: ProxyOptions): void;
  /** Stateless forwarding to the first target (reference §5); no transaction involved. */
  forwardStateless(req: SipRequest, source: Source, targets: UriSet, options: ProxyOptions): void;
  /** An ACK for a 2xx (no transaction) that the route decision sends on. */
  forwardAck(ack: SipRequest, source: Source, targets: UriSet, options: ProxyOptions): void;
  /** Whether the INVITE of this server transaction is being proxied (CANCEL propagation). */
  isProxying(txn: ServerTxn): boolean;
  /** A CANCEL for a proxied INVITE: cancel every pending branch (§16.10). */
  cancel(txn: ServerTxn, cancel: SipRequest): void;
  /** A response that matched no client transaction: stateless relay by its Via (§16.11). */
  stray(resp: SipResponse, source: Source): void;
}
