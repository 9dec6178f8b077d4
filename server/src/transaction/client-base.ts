// What both client transactions share: sending the request, the retransmission timer that
// only unreliable transports need (A or E) next to the timeout (B or F), following the
// transport when it moves a large request to a stream, and transport errors.
import type { SipRequest, SipResponse } from '../sip/message.js';
import { type Endpoint, isReliable } from '../transport/types.js';
import { Transaction } from './base.js';
import type { TimerHandle } from './clock.js';
import { initialRetransmit, sixtyFourT1 } from './timers.js';
import type { ClientHandler, TxnEnv, TxnState } from './types.js';

const nothing = (): void => {};

/** The handler of a transaction past its final response: nothing is passed up any more. */
const SETTLED: ClientHandler = responsesOnly(nothing);

/** A handler that only takes responses, made outside any TU scope so it holds nothing else. */
export function responsesOnly(onResponse: (resp: SipResponse) => void): ClientHandler {
  return { onResponse, onTimeout: nothing, onTransportError: nothing };
}

export abstract class ClientTransactionBase extends Transaction {
  private sent: SipRequest | undefined;
  protected handler: ClientHandler;
  /** Where the request went: the endpoint the transport reports once sent (CANCEL goes there too). */
  target: Endpoint;
  protected reliable: boolean;
  /** The current retransmission interval of Timer A or E. */
  protected interval = 0;
  /** Timer A (INVITE) or E (non-INVITE). */
  protected retransmit: TimerHandle | undefined;
  /** Timer B (INVITE) or F (non-INVITE). */
  protected timeout: TimerHandle | undefined;

  constructor(
    env: TxnEnv,
    key: string,
    initial: TxnState,
    request: SipRequest,
    target: Endpoint,
    handler: ClientHandler,
  ) {
    super(env, key, initial);
    this.sent = request;
    this.target = target;
    this.handler = handler;
    this.reliable = isReliable(target.transport);
  }

  /** The request as sent: what a CANCEL is built from while the transaction is pending. */
  get request(): SipRequest {
    if (this.sent === undefined)
      throw new Error(`the request of finished transaction ${this.key} was let go`);
    return this.sent;
  }

  /**
   * Past the final response, while a timer (D, K, M) still absorbs retransmissions, the
   * request is let go (no CANCEL, no retransmission can need it), and unless the TU still
   * gets responses (Accepted) its handler too, whose closures hold the TU's whole state of
   * the request (a proxy's fork): thousands of such transactions a second then hold little.
   */
  protected letGo(keepHandler: boolean): void {
    if (!keepHandler) this.handler = SETTLED;
    this.sent = undefined;
  }

  /** Sends the request and starts the retransmission timer (unreliable only) and the timeout. */
  start(): void {
    const t = this.env.timers;
    this.env.transport.sendRequest(this.request, this.target).then(
      (ep) => this.guard(() => this.sentTo(ep)),
      (err: Error) => this.guard(() => this.transportError(err)),
    );
    if (!this.reliable) {
      this.interval = initialRetransmit(t);
      this.retransmit = this.timer(this.interval, () => this.onRetransmit());
    }
    this.timeout = this.timer(sixtyFourT1(t), () => this.onTimeout());
  }

  protected abstract onRetransmit(): void;
  protected abstract onTimeout(): void;
  /** States in which the outcome is still open (a transport error ends the transaction). */
  protected abstract pending(): boolean;

  private sentTo(ep: Endpoint): void {
    this.target = ep;
    // the transport may have switched to a stream (§18.1.1, request over the UDP size limit)
    if (!this.reliable && isReliable(ep.transport)) {
      this.reliable = true;
      this.retransmit = this.clear(this.retransmit);
    }
  }

  protected transportError(err: Error): void {
    if (!this.pending()) return;
    this.terminate();
    this.handler.onTransportError(err);
  }
}
