// The non-INVITE client transaction (RFC 3261 §17.1.2).
//
//   Trying --1xx--> Proceeding --200-699--> Completed --Timer K--> Terminated
//   Trying --200-699--> Completed
//   Trying/Proceeding --Timer F / transport error--> Terminated (TU told)
import type { SipRequest, SipResponse } from '../sip/message.js';
import { type Endpoint, isReliable } from '../transport/types.js';
import { Transaction } from './base.js';
import type { TimerHandle } from './clock.js';
import { initialRetransmit, sixtyFourT1, timerT4 } from './timers.js';
import type { ClientHandler, TxnEnv } from './types.js';

export class ClientNonInviteTransaction extends Transaction {
  readonly isInvite = false;
  readonly request: SipRequest;
  readonly handler: ClientHandler;
  /** Where the request went: the endpoint the transport reports once sent. */
  target: Endpoint;
  private reliable: boolean;
  private interval = 0;
  private timerE: TimerHandle | undefined;
  private timerF: TimerHandle | undefined;
  private timerK: TimerHandle | undefined;

  constructor(env: TxnEnv, key: string, request: SipRequest, target: Endpoint, handler: ClientHandler) {
    super(env, key, 'trying');
    this.request = request;
    this.target = target;
    this.handler = handler;
    this.reliable = isReliable(target.transport);
  }

  /** Sends the request and starts Timers E (unreliable only) and F. */
  start(): void {
    const t = this.env.timers;
    this.env.transport.sendRequest(this.request, this.target).then(
      (ep) => this.guard(() => this.sentTo(ep)),
      (err: Error) => this.guard(() => this.transportError(err)),
    );
    if (!this.reliable) {
      this.interval = initialRetransmit(t);
      this.timerE = this.timer(this.interval, () => this.onTimerE());
    }
    this.timerF = this.timer(sixtyFourT1(t), () => this.onTimerF());
  }

  receiveResponse(resp: SipResponse): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return; // Completed absorbs
    if (resp.status < 200) {
      this.state = 'proceeding';
    } else {
      this.state = 'completed';
      this.timerE = this.clear(this.timerE);
      this.timerF = this.clear(this.timerF);
      const k = timerT4(this.env.timers, this.reliable);
      if (k === 0) this.terminate();
      else this.timerK = this.timer(k, () => this.terminate());
    }
    this.handler.onResponse(resp);
  }

  private sentTo(ep: Endpoint): void {
    this.target = ep;
    if (!this.reliable && isReliable(ep.transport)) {
      this.reliable = true;
      this.timerE = this.clear(this.timerE);
    }
  }

  private onTimerE(): void {
    this.timerE = undefined;
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    this.env.transport
      .sendRequest(this.request, this.target)
      .catch((err: Error) => this.guard(() => this.transportError(err)));
    // Trying backs off up to T2; once a provisional came, the peer is alive: just every T2
    const t2 = this.env.timers.t2;
    this.interval = this.state === 'trying' ? Math.min(2 * this.interval, t2) : t2;
    this.timerE = this.timer(this.interval, () => this.onTimerE());
  }

  private onTimerF(): void {
    this.timerF = undefined;
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    this.terminate();
    this.handler.onTimeout();
  }

  private transportError(err: Error): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    this.terminate();
    this.handler.onTransportError(err);
  }

  protected override onLifetimeExpired(): void {
    const pending = this.state === 'trying' || this.state === 'proceeding';
    this.terminate();
    if (pending) this.handler.onTimeout();
  }

  protected override clearTimers(): void {
    this.timerE = this.clear(this.timerE);
    this.timerF = this.clear(this.timerF);
    this.timerK = this.clear(this.timerK);
  }
}
