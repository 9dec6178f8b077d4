// The non-INVITE server transaction (RFC 3261 §17.2.2).
//
//   Trying --1xx--> Proceeding --200-699--> Completed --Timer J--> Terminated
//   Trying --200-699--> Completed
//
// On an unreliable transport Completed is held by a compact record of the layer
// (completed.ts), which answers the retransmissions until Timer J; this object is then
// only what the TU may still hold.
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Source } from '../transport/types.js';
import type { CompletedRecord } from './completed.js';
import { ServerTransactionBase } from './server-base.js';
import { timerJ } from './timers.js';
import type { TxnEnv, TxnState } from './types.js';

export class ServerNonInviteTransaction extends ServerTransactionBase {
  readonly isInvite = false;
  private record: CompletedRecord | undefined;

  constructor(env: TxnEnv, key: string, request: SipRequest, source: Source) {
    super(env, key, request, source, 'trying');
  }

  /** Whether its Completed state is held by a record of the layer. */
  get compacted(): boolean {
    return this.record !== undefined;
  }

  override get state(): TxnState {
    return this.record?.ended ? 'terminated' : super.state;
  }

  override set state(next: TxnState) {
    super.state = next;
  }

  override respond(resp: SipResponse): boolean {
    // Completed discards any further response from the TU
    if (this.state !== 'trying' && this.state !== 'proceeding') return false;
    this.lastResponse = resp;
    if (resp.status < 200) {
      this.state = 'proceeding';
      this.send(resp);
      return true;
    }
    this.state = 'completed';
    const j = timerJ(this.env.timers, this.reliable);
    if (j === 0) {
      // sent before the zero Timer J removes the transaction, so the send happens either way
      this.send(resp);
      this.terminate();
      return true;
    }
    const transport = this.env.transport;
    let prepared: ReturnType<typeof transport.prepareResponse>;
    try {
      prepared = transport.prepareResponse(resp, this.source);
    } catch (err) {
      this.transportError(err as Error);
      return true;
    }
    this.record = this.env.complete(this.key, this.mergeKey, prepared, this.source, j);
    transport
      .sendPrepared(prepared, this.source)
      .catch((err: Error) => this.guard(() => this.transportError(err)));
    return true;
  }

  override receiveRetransmission(_req: SipRequest, source: Source): void {
    // Trying absorbs: there is nothing to resend yet (Completed is the record's)
    if (this.state === 'proceeding') this.resendLast(source);
  }

  protected override terminate(): void {
    super.terminate();
    if (this.record) this.env.endCompleted(this.record);
  }

  protected override clearTimers(): void {
    // Timer J belongs to the record
  }
}
