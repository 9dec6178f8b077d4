// The non-INVITE server transaction (RFC 3261 §17.2.2).
//
//   Trying --1xx--> Proceeding --200-699--> Completed --Timer J--> Terminated
//   Trying --200-699--> Completed
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Source } from '../transport/types.js';
import type { TimerHandle } from './clock.js';
import { ServerTransactionBase } from './server-base.js';
import { timerJ } from './timers.js';
import type { TxnEnv } from './types.js';

export class ServerNonInviteTransaction extends ServerTransactionBase {
  readonly isInvite = false;
  private timerJ: TimerHandle | undefined;

  constructor(env: TxnEnv, key: string, request: SipRequest, source: Source) {
    super(env, key, request, source, 'trying');
  }

  override respond(resp: SipResponse): boolean {
    // Completed discards any further response from the TU
    if (this.state !== 'trying' && this.state !== 'proceeding') return false;
    this.lastResponse = resp;
    if (resp.status < 200) {
      this.state = 'proceeding';
    } else {
      this.state = 'completed';
      const j = timerJ(this.env.timers, this.reliable);
      // sent before a zero Timer J removes the transaction, so the send happens either way
      this.send(resp);
      if (j === 0) {
        this.terminate();
      } else {
        this.timerJ = this.timer(j, () => this.terminate());
        // for the 64*T1 of Timer J only retransmissions matter: free the parsed views of
        // the request and of the response, which shares some (they come back on demand),
        // so thousands of completed transactions weigh little
        this.request.invalidate();
        resp.invalidate();
      }
      return true;
    }
    this.send(resp);
    return true;
  }

  override receiveRetransmission(_req: SipRequest, source: Source): void {
    // Trying absorbs: there is nothing to resend yet
    if (this.state === 'proceeding' || this.state === 'completed') this.resendLast(source);
  }

  protected override clearTimers(): void {
    this.timerJ = this.clear(this.timerJ);
  }
}
