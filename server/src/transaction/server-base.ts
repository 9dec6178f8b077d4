// What both server transactions share: the request and where it came from, the last
// response (resent on retransmissions), sending with transport-failure handling, and the
// lifetime bound that answers 408 for a request the TU never answered.
import { makeResponse } from '../sip/build.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import { isReliable, type Source } from '../transport/types.js';
import { Transaction } from './base.js';
import type { CompletedRecord } from './completed.js';
import type { ServerTxn, TxnEnv, TxnState } from './types.js';

export abstract class ServerTransactionBase extends Transaction implements ServerTxn {
  abstract readonly isInvite: boolean;
  /** Replaced by its compacted copy by an INVITE transaction when Accepted. */
  request: SipRequest;
  /** Where the request came from; a retransmission on another connection moves it there. */
  source: Source;
  lastResponse: SipResponse | undefined;
  mergedWith: ServerTxn | CompletedRecord | undefined;
  localTag: string | undefined;
  /** The layer's merge-index key when this transaction is the one indexed under it. */
  mergeKey: string | undefined;
  protected readonly reliable: boolean;

  constructor(env: TxnEnv, key: string, request: SipRequest, source: Source, initial: TxnState) {
    super(env, key, initial, false);
    this.request = request;
    this.source = source;
    this.reliable = isReliable(source.transport);
  }

  /**
   * Sends a response from the TU through this transaction. Returns false when the state
   * machine discards it (a final already sent, or terminated).
   */
  abstract respond(resp: SipResponse): boolean;

  /** A retransmission of the request arrived. */
  abstract receiveRetransmission(req: SipRequest, source: Source): void;

  protected get hasFinal(): boolean {
    return this.lastResponse !== undefined && this.lastResponse.status >= 200;
  }

  protected send(resp: SipResponse): void {
    this.env.transport
      .sendResponse(resp, this.source)
      .catch((err: Error) => this.guard(() => this.transportError(err)));
  }

  protected resendLast(source: Source): void {
    if (source.connectionId !== undefined && source.connectionId !== this.source.connectionId) {
      this.source = source; // the old connection may be gone; answer where the peer is now
    }
    if (this.lastResponse) this.send(this.lastResponse);
  }

  /** §17.2.4: a response that cannot be sent ends the transaction; the TU is told. */
  protected transportError(err: Error): void {
    this.terminate();
    this.env.serverFailure(this, 'transport', err);
  }

  protected override onLifetimeExpired(): void {
    // nothing may hang forever: a request the TU never answered gets NkSIP's 408
    if (!this.hasFinal) {
      this.send(makeResponse(this.request, 408, { reason: 'Transaction Timeout' }));
    }
    this.terminate();
    this.env.serverFailure(this, 'lifetime');
  }
}
