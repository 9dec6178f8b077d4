// What both client transactions share: sending the request, the retransmission timer that
// only unreliable transports need (A or E) next to the timeout (B or F), following the
// transport when it moves a large request to a stream, and transport errors.
import type { SipRequest } from '../sip/message.js';
import { type Endpoint, isReliable } from '../transport/types.js';
import { Transaction } from './base.js';
import type { TimerHandle } from './clock.js';
import { initialRetransmit, sixtyFourT1 } from './timers.js';
import type { ClientHandler, TxnEnv, TxnState } from './types.js';

export abstract class ClientTransactionBase extends Transaction {
  readonly request: SipRequest;
  readonly handler: ClientHandler;
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
    this.request = request;
    this.target = target;
    this.handler = handler;
    this.reliable = isReliable(target.transport);
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
