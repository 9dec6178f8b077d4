// The INVITE client transaction (RFC 3261 §17.1.1 with the Accepted state of RFC 6026).
//
//   Calling --1xx--> Proceeding --2xx--> Accepted --Timer M--> Terminated
//      |                 |
//      +----300-699------+--> Completed (ACK sent) --Timer D--> Terminated
//   Calling --Timer B / transport error--> Terminated (TU told)
import { makeNon2xxAck } from '../sip/build.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Endpoint } from '../transport/types.js';
import { ClientTransactionBase, responsesOnly } from './client-base.js';
import type { TimerHandle } from './clock.js';
import { sixtyFourT1, timerD } from './timers.js';
import type { ClientHandler, TxnEnv } from './types.js';

export class ClientInviteTransaction extends ClientTransactionBase {
  readonly isInvite = true;
  /** Whether a provisional response arrived: §9.1 allows a CANCEL only after one. */
  gotProvisional = false;
  private ack: SipRequest | undefined;
  private timerD: TimerHandle | undefined;
  private timerM: TimerHandle | undefined;

  constructor(env: TxnEnv, key: string, request: SipRequest, target: Endpoint, handler: ClientHandler) {
    // `request` is the INVITE as sent: what a CANCEL (makeCancel) is built from
    super(env, key, 'calling', request, target, handler);
  }

  /**
   * In Accepted, the 2xx still to come (retransmissions, other forks downstream) go to
   * `onResponse` alone from now on: the TU's handler, whose closures may hold all its state
   * of the request (a proxy's whole fork), is let go for the 32 s of Timer M.
   */
  passAcceptedTo(onResponse: (resp: SipResponse) => void): void {
    if (this.state === 'accepted') this.handler = responsesOnly(onResponse);
  }

  protected pending(): boolean {
    return this.state === 'calling' || this.state === 'proceeding';
  }

  receiveResponse(resp: SipResponse): void {
    const s = resp.status;
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        this.retransmit = this.clear(this.retransmit);
        this.timeout = this.clear(this.timeout);
        if (s < 200) {
          this.state = 'proceeding';
          this.gotProvisional = true;
        } else if (s < 300) {
          // RFC 6026: stay to pass on retransmitted and forked 2xx instead of dying here
          this.state = 'accepted';
          this.timerM = this.timer(sixtyFourT1(this.env.timers), () => this.terminate());
        } else {
          this.state = 'completed';
          this.ack = makeNon2xxAck(this.request, resp);
          this.sendAck();
          const d = timerD(this.env.timers, this.reliable);
          if (d === 0) this.terminate();
          else this.timerD = this.timer(d, () => this.terminate());
        }
        this.handler.onResponse(resp);
        // Completed only resends its ACK; Accepted still passes 2xx up
        if (s >= 200) this.letGo(this.state === 'accepted');
        return;
      case 'accepted':
        if (s >= 200 && s < 300) this.handler.onResponse(resp);
        return;
      case 'completed':
        // a retransmitted final means our ACK was lost
        if (s >= 300) this.sendAck();
        return;
      default:
        return;
    }
  }

  protected onRetransmit(): void {
    this.retransmit = undefined;
    if (this.state !== 'calling') return;
    this.env.transport
      .sendRequest(this.request, this.target)
      .catch((err: Error) => this.guard(() => this.transportError(err)));
    // no T2 cap for INVITE: A doubles until Timer B ends it
    this.interval *= 2;
    this.retransmit = this.timer(this.interval, () => this.onRetransmit());
  }

  protected onTimeout(): void {
    this.timeout = undefined;
    if (this.state !== 'calling') return;
    this.terminate();
    this.handler.onTimeout();
  }

  private sendAck(): void {
    if (!this.ack) return;
    this.env.transport.sendRequest(this.ack, this.target).catch((err: unknown) => {
      // the TU already has the final response; nothing is left to tell it
      this.env.log?.debug({ err, txn: this.key }, 'ACK send failed');
    });
  }

  protected override onLifetimeExpired(): void {
    const pending = this.state === 'calling' || this.state === 'proceeding';
    this.terminate();
    if (pending) this.handler.onTimeout();
  }

  protected override clearTimers(): void {
    this.retransmit = this.clear(this.retransmit);
    this.timeout = this.clear(this.timeout);
    this.timerD = this.clear(this.timerD);
    this.timerM = this.clear(this.timerM);
  }
}
