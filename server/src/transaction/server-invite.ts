// The INVITE server transaction (RFC 3261 §17.2.1 with the Accepted state of RFC 6026).
//
//   Proceeding --2xx--> Accepted --Timer L--> Terminated
//       |                  (INVITE retransmissions absorbed, ACKs passed to the TU,
//       |                   2xx retransmitted by the TU sent on)
//       +--300-699--> Completed --ACK--> Confirmed --Timer I--> Terminated
//                         |
//                         +--Timer H--> Terminated (TU told)
import { makeResponse } from '../sip/build.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import { detached } from '../sip/strings.js';
import type { Source } from '../transport/types.js';
import type { TimerHandle } from './clock.js';
import { ServerTransactionBase } from './server-base.js';
import { initialRetransmit, sixtyFourT1, timerT4 } from './timers.js';
import type { TxnEnv } from './types.js';

export class ServerInviteTransaction extends ServerTransactionBase {
  readonly isInvite = true;
  private interval = 0;
  private timerG: TimerHandle | undefined;
  private timerH: TimerHandle | undefined;
  private timerI: TimerHandle | undefined;
  private timerL: TimerHandle | undefined;
  /** The To tag of the 2xx that took it to Accepted, whose response it does not keep. */
  private acceptedTag: string | undefined;

  constructor(env: TxnEnv, key: string, request: SipRequest, source: Source) {
    super(env, key, request, source, 'proceeding');
  }

  /** The To tag of the last response sent (RFC 2543 ACK matching). */
  get sentTag(): string | undefined {
    return this.acceptedTag ?? this.lastResponse?.toTag;
  }

  /** §17.2.1: a 100 Trying at once, so the client stops retransmitting the INVITE. */
  sendTrying(): void {
    this.respond(makeResponse(this.request, 100));
  }

  override respond(resp: SipResponse): boolean {
    const s = resp.status;
    if (this.state === 'accepted') {
      // the UAS core retransmits its 2xx itself (§13.3.1.4); forked 2xx from a proxy too
      if (s < 200 || s >= 300) return false;
      this.send(resp);
      return true;
    }
    if (this.state !== 'proceeding') return false;
    this.lastResponse = resp;
    if (s >= 200 && s < 300) {
      this.state = 'accepted';
      this.timerL = this.timer(sixtyFourT1(this.env.timers), () => this.terminate());
      // Accepted resends nothing of its own (the TU retransmits its 2xx): for the 32 s of
      // Timer L only the tag is kept, not the response (a proxy's holds the callee's 200)
      const tag = resp.toTag;
      this.acceptedTag = tag === undefined ? undefined : detached(tag);
      this.send(resp);
      this.lastResponse = undefined;
      this.request = this.request.compacted();
      return true;
    } else if (s >= 300) {
      this.state = 'completed';
      const t = this.env.timers;
      if (!this.reliable) {
        this.interval = initialRetransmit(t);
        this.timerG = this.timer(this.interval, () => this.onTimerG());
      }
      this.timerH = this.timer(sixtyFourT1(t), () => this.onTimerH());
    }
    this.send(resp);
    return true;
  }

  override receiveRetransmission(_req: SipRequest, source: Source): void {
    // Proceeding: the last provisional; Completed: the final. Accepted and Confirmed absorb.
    if (this.state === 'proceeding' || this.state === 'completed') this.resendLast(source);
  }

  /** An ACK matched this transaction. */
  receiveAck(ack: SipRequest, source: Source): void {
    switch (this.state) {
      case 'completed': {
        this.state = 'confirmed';
        this.timerG = this.clear(this.timerG);
        this.timerH = this.clear(this.timerH);
        const i = timerT4(this.env.timers, this.reliable);
        if (i === 0) this.terminate();
        else this.timerI = this.timer(i, () => this.terminate());
        return;
      }
      case 'accepted':
        // the ACK for a 2xx is a transaction of its own; the TU (dialog) wants it
        this.env.passAck(ack, source, this);
        return;
      default:
        // Confirmed absorbs retransmitted ACKs; an ACK before any final is meaningless
        return;
    }
  }

  protected override transportError(err: Error): void {
    if (this.state === 'accepted') {
      // Terminating now would turn INVITE retransmissions into new requests; the TU stops
      // its 2xx retransmissions, Timer L still ends the transaction
      this.env.serverFailure(this, 'transport', err);
      return;
    }
    super.transportError(err);
  }

  private onTimerG(): void {
    this.timerG = undefined;
    if (this.state !== 'completed' || !this.lastResponse) return;
    this.send(this.lastResponse);
    this.interval = Math.min(2 * this.interval, this.env.timers.t2);
    this.timerG = this.timer(this.interval, () => this.onTimerG());
  }

  private onTimerH(): void {
    this.timerH = undefined;
    if (this.state !== 'completed') return;
    this.terminate();
    this.env.serverFailure(this, 'timer-h');
  }

  protected override clearTimers(): void {
    this.timerG = this.clear(this.timerG);
    this.timerH = this.clear(this.timerH);
    this.timerI = this.clear(this.timerI);
    this.timerL = this.clear(this.timerL);
  }
}
