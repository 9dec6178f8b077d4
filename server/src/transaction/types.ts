// What the transaction layer and its transaction user (the UAS/UAC and proxy cores) say to
// each other, and what transactions need from the layer that owns them.
import type { Logger } from 'pino';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Incoming, PreparedResponse, SipTransport, Source } from '../transport/types.js';
import type { Clock } from './clock.js';
import type { CompletedRecord } from './completed.js';
import type { TimerConfig } from './timers.js';

export type TxnState =
  | 'calling'
  | 'trying'
  | 'proceeding'
  | 'accepted'
  | 'completed'
  | 'confirmed'
  | 'terminated';

/** Receives what happens to one client transaction. */
export interface ClientHandler {
  /** Every provisional, the final, and in the Accepted state every further 2xx (RFC 6026). */
  onResponse(resp: SipResponse): void;
  /** Timer B or F fired (or the transaction outlived `transTimeout`): synthesise a 408. */
  onTimeout(): void;
  /** The transport could not send the request (§17.1.4): synthesise a 503. */
  onTransportError(err: Error): void;
}

/** Why a server transaction ended (or, for `transport` in Accepted, failed) early. */
export type ServerFailure =
  /** Timer H: no ACK for a non-2xx final response to an INVITE. */
  | 'timer-h'
  /** The transport failed to send a response (§17.2.4). */
  | 'transport'
  /** `transTimeout` passed; a 408 was sent if the TU had sent no final response. */
  | 'lifetime';

/** Structural view of a server transaction, so the core can hold either kind. */
export interface ServerTxn {
  readonly request: SipRequest;
  readonly source: Source;
  readonly state: TxnState;
  /** The last response sent, while resent on retransmissions (none kept once a 2xx accepted an INVITE). */
  readonly lastResponse: SipResponse | undefined;
  /**
   * Set when the request is a merged copy of the one in that transaction (§8.2.2.2); once
   * that one completed (non-INVITE, unreliable transport) the record that stands for it.
   */
  readonly mergedWith: ServerTxn | CompletedRecord | undefined;
  /**
   * The To tag the TU gives its responses on this transaction, kept here for it (one tag per
   * transaction, RFC 3261 §8.2.6.2): a field costs less than a side table under load.
   */
  localTag: string | undefined;
  /**
   * The owner of the call this request counts in (core/calls.ts), kept here for the TU like
   * `localTag`. While `counted`, the TU's `onSettled` runs once the wait for a final response
   * ends (a hook of the layer's, not a function per transaction: there are thousands a second).
   */
  callOwner: string | undefined;
  counted: boolean;
  respond(resp: SipResponse): boolean;
  /** Ends the transaction silently: its answer went out statelessly, or never will. */
  abort(): void;
}

/**
 * The transaction user. Every callback is optional: a layer with none set absorbs what it
 * would have passed up (and logs it).
 */
export interface TransactionUser {
  /** A new request (not ACK) with its freshly created server transaction. */
  onRequest(req: SipRequest, txn: ServerTxn, source: Source): void;
  /**
   * An ACK the transaction layer does not absorb: the ACK for a 2xx, matching no
   * transaction or an INVITE server transaction in Accepted (then passed as `txn`).
   */
  onAck(ack: SipRequest, source: Source, txn: ServerTxn | undefined): void;
  /** A response matching no client transaction: a proxy forwards these 2xx statelessly. */
  onStrayResponse(resp: SipResponse, source: Source): void;
  /** A server transaction ended abnormally (see ServerFailure). */
  onServerFailure(txn: ServerTxn, reason: ServerFailure, err?: Error): void;
  /** A `counted` server transaction got its final response, or ended without one. */
  onSettled(txn: ServerTxn): void;
  /**
   * A request the transport marked defective, or whose Via/CSeq/Call-ID cannot be read.
   * When unset, the layer answers 400 statelessly with the defect as reason (never for ACK).
   */
  onBadRequest(inc: Incoming, reason: string): void;
}

/** What a transaction needs from the layer that owns it. */
export interface TxnEnv {
  readonly clock: Clock;
  readonly transport: SipTransport;
  readonly timers: TimerConfig;
  readonly log: Logger | undefined;
  /** Called once, when the transaction enters Terminated, to drop it from the maps. */
  removed(txn: object): void;
  serverFailure(txn: ServerTxn, reason: ServerFailure, err?: Error): void;
  settled(txn: ServerTxn): void;
  passAck(ack: SipRequest, source: Source, txn: ServerTxn): void;
  /**
   * A non-INVITE server transaction entered Completed on an unreliable transport: from now
   * on a compact record answers its retransmissions, for `ms` (Timer J).
   */
  complete(
    key: string,
    mergeKey: string | undefined,
    response: PreparedResponse,
    source: Source,
    ms: number,
  ): CompletedRecord;
  /** Ends a record before Timer J (the transaction was aborted or failed). */
  endCompleted(rec: CompletedRecord): void;
}
