// The INVITE client transaction (RFC 3261 §17.1.1 with the Accepted state of RFC 6026).
//
//   Calling --1xx--> Proceeding --2xx--> Accepted --Timer M--> Terminated
//      |                 |
//      +----300-699------+--> Completed (ACK sent) --Timer D--> Terminated
//   Calling --Timer B / transport error--> Terminated (TU told)
import { makeNon2xxAck } from '../sip/build.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import { type Endpoint, isReliable } from '../transport/types.js';
import { Transaction } from './base.js';
import type { TimerHandle } from './clock.js';
import { initialRetransmit, sixtyFourT1, timerD } from './timers.js';
import type { ClientHandler, TxnEnv } from './types.js';

export class ClientInviteTransaction extends Transaction {
  readonly isInvite = true;
  /** The INVITE as sent: what a CANCEL (makeCancel) is built from. */
  readonly request: SipRequest;
  readonly handler: ClientHandler;
  /** Where the INVITE went: the endpoint the transport reports once sent (CANCEL goes there too). */
  target: Endpoint;
  /** Whether a provisional response arrived: §9.1 allows a CANCEL only after one. */
  gotProvisional = false;
  private reliable: boolean;
  private interval = 0;
  private ack: SipRequest | undefined;
  private timerA: TimerHandle | undefined;
  private timerB: TimerHandle | undefined;
  private timerD: TimerHandle | undefined;
  private timerM: TimerHandle | undefined;

  constructor(env: TxnEnv, key: string, request: SipRequest, target: Endpoint, handler: ClientHandler) {
    super(env, key, 'calling');
    this.request = request;
    this.target = target;
    this.handler = handler;
    this.reliable = isReliable(target.transport);
  }

  /** Sends the INVITE and starts Timers A (unreliable only) and B. */
  start(): void {
    const t = this.env.timers;
    this.env.transport.sendRequest(this.request, this.target).then(
      (ep) => this.guard(() => this.sentTo(ep)),
      (err: Error) => this.guard(() => this.transportError(err)),
    );
    if (!this.reliable) {
      this.interval = initialRetransmit(t);
      this.timerA = this.timer(this.interval, () => this.onTimerA());
    }
    this.timerB = this.timer(sixtyFourT1(t), () => this.onTimerB());
  }

  receiveResponse(resp: SipResponse): void {
    const s = resp.status;
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        this.timerA = this.clear(this.timerA);
        this.timerB = this.clear(this.timerB);
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

  private sentTo(ep: Endpoint): void {
    this.target = ep;
    // the transport may have switched to a stream (§18.1.1, request over the UDP size limit)
    if (!this.reliable && isReliable(ep.transport)) {
      this.reliable = true;
      this.timerA = this.clear(this.timerA);
    }
  }

  private onTimerA(): void {
    this.timerA = undefined;
    if (this.state !== 'calling') return;
    this.env.transport
      .sendRequest(this.request, this.target)
      .catch((err: Error) => this.guard(() => this.transportError(err)));
    // no T2 cap for INVITE: A doubles until Timer B ends it
    this.interval *= 2;
    this.timerA = this.timer(this.interval, () => this.onTimerA());
  }

  private onTimerB(): void {
    this.timerB = undefined;
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

  private transportError(err: Error): void {
    if (this.state !== 'calling' && this.state !== 'proceeding') return;
    this.terminate();
    this.handler.onTransportError(err);
  }

  protected override onLifetimeExpired(): void {
    const pending = this.state === 'calling' || this.state === 'proceeding';
    this.terminate();
    if (pending) this.handler.onTimeout();
  }

  protected override clearTimers(): void {
    this.timerA = this.clear(this.timerA);
    this.timerB = this.clear(this.timerB);
    this.timerD = this.clear(this.timerD);
    this.timerM = this.clear(this.timerM);
  }
}
