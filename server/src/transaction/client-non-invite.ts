// The non-INVITE client transaction (RFC 3261 §17.1.2).
//
//   Trying --1xx--> Proceeding --200-699--> Completed --Timer K--> Terminated
//   Trying --200-699--> Completed
//   Trying/Proceeding --Timer F / transport error--> Terminated (TU told)
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Endpoint } from '../transport/types.js';
import { ClientTransactionBase } from './client-base.js';
import type { TimerHandle } from './clock.js';
import { timerT4 } from './timers.js';
import type { ClientHandler, TxnEnv } from './types.js';

export class ClientNonInviteTransaction extends ClientTransactionBase {
  readonly isInvite = false;
  private timerK: TimerHandle | undefined;

  constructor(env: TxnEnv, key: string, request: SipRequest, target: Endpoint, handler: ClientHandler) {
    super(env, key, 'trying', request, target, handler);
  }

  protected pending(): boolean {
    return this.state === 'trying' || this.state === 'proceeding';
  }

  receiveResponse(resp: SipResponse): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return; // Completed absorbs
    if (resp.status < 200) {
      this.state = 'proceeding';
    } else {
      this.state = 'completed';
      this.retransmit = this.clear(this.retransmit);
      this.timeout = this.clear(this.timeout);
      const k = timerT4(this.env.timers, this.reliable);
      if (k === 0) this.terminate();
      else this.timerK = this.timer(k, () => this.terminate());
    }
    this.handler.onResponse(resp);
    if (resp.status >= 200) this.letGo(false);
  }

  protected onRetransmit(): void {
    this.retransmit = undefined;
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    this.env.transport
      .sendRequest(this.request, this.target)
      .catch((err: Error) => this.guard(() => this.transportError(err)));
    // Trying backs off up to T2; once a provisional came, the peer is alive: just every T2
    const t2 = this.env.timers.t2;
    this.interval = this.state === 'trying' ? Math.min(2 * this.interval, t2) : t2;
    this.retransmit = this.timer(this.interval, () => this.onRetransmit());
  }

  protected onTimeout(): void {
    this.timeout = undefined;
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    this.terminate();
    this.handler.onTimeout();
  }

  protected override onLifetimeExpired(): void {
    const pending = this.state === 'trying' || this.state === 'proceeding';
    this.terminate();
    if (pending) this.handler.onTimeout();
  }

  protected override clearTimers(): void {
    this.retransmit = this.clear(this.retransmit);
    this.timeout = this.clear(this.timeout);
    this.timerK = this.clear(this.timerK);
  }
}
