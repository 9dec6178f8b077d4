// The seam between the SIP core and the application logic: the built-in default app
// implements it in-process, the apps layer implements it for SipApps over gRPC.
import type { SipRequest } from '../sip/message.js';
import type { Source } from '../transport/types.js';
import type { RouteDecision } from './decision.js';
import type { Reply } from './reply.js';

/** Sends a 101–199 response before the final one; false once a final was sent. */
export type Provisional = (r: Reply) => boolean;

export interface AppHandler {
  /** NkSIP's sip_route. Called for every request, ACK and CANCEL excepted. */
  route(req: SipRequest, source: Source): RouteDecision | Promise<RouteDecision>;
  /**
   * The method callback (sip_invite, sip_options, ...) for a request processed here that
   * passed the checks: its final answer, now or later. A promise that never settles is
   * bounded by the transaction's lifetime (408). Before the final answer, `provisional`
   * sends 101–199 responses (ringing, session progress) on the request's transaction.
   */
  method(req: SipRequest, source: Source, provisional?: Provisional): Reply | Promise<Reply>;
  /** An ACK for a 2xx we sent (sip_ack): notification only. */
  ack?(ack: SipRequest, source: Source): void;
  /** The INVITE was cancelled and has been answered 487 (sip_cancel). */
  cancelled?(invite: SipRequest, cancel: SipRequest): void;
}
