// Completed non-INVITE server transactions over unreliable transports, kept small. For the
// 64*T1 of Timer J such a transaction only answers retransmissions of its request with the
// same bytes: at thousands of requests a second, keeping the parsed request, the response
// object and a timer for each would hold hundreds of thousands of objects for the GC to trace.
// A record keeps the key, the prepared response and where it goes; one timer per layer
// ends the records in the order they were made (Timer J is the same for all of them).
import type { PreparedResponse, SipTransport, Source } from '../transport/types.js';
import type { Clock, TimerHandle } from './clock.js';
import type { TxnState } from './types.js';

export class CompletedRecord {
  /** Set when Timer J passed or the transaction was ended early. */
  ended = false;

  constructor(
    readonly key: string,
    readonly mergeKey: string | undefined,
    readonly response: PreparedResponse,
    public source: Source,
    readonly expires: number,
  ) {}

  get state(): TxnState {
    return this.ended ? 'terminated' : 'completed';
  }
}

/** What the queue needs from its layer. */
export interface CompletedHost {
  readonly clock: Clock;
  readonly transport: SipTransport;
  /** Drops an ended record from the layer's maps. */
  forget(rec: CompletedRecord): void;
  /** A retransmitted response could not be sent. */
  resendFailed(rec: CompletedRecord, err: Error): void;
}

/** The records of one layer, oldest first, and the one timer that ends them. */
export class CompletedQueue {
  private readonly host: CompletedHost;
  private queue: CompletedRecord[] = [];
  private head = 0;
  /** Records queued and not ended. */
  private live = 0;
  private timer: TimerHandle | undefined;

  constructor(host: CompletedHost) {
    this.host = host;
  }

  /** A record for a transaction that entered Completed now and lives `ms` more. */
  add(
    key: string,
    mergeKey: string | undefined,
    response: PreparedResponse,
    source: Source,
    ms: number,
  ): CompletedRecord {
    const rec = new CompletedRecord(key, mergeKey, response, source, this.host.clock.now() + ms);
    this.queue.push(rec);
    this.live++;
    if (this.timer === undefined) this.arm(ms);
    return rec;
  }

  /** A retransmission of the request: the same response again, where the peer is now. */
  resend(rec: CompletedRecord, source: Source): void {
    if (rec.ended) return;
    if (source.connectionId !== undefined && source.connectionId !== rec.source.connectionId) {
      rec.source = source; // the old connection may be gone; answer where the peer is now
    }
    this.host.transport
      .sendPrepared(rec.response, rec.source)
      .catch((err: Error) => this.host.resendFailed(rec, err));
  }

  /** Ends a record before its time (transport failure, abort). */
  end(rec: CompletedRecord): void {
    if (rec.ended) return;
    this.finish(rec);
    // ended ones would only wait for their turn: no timer is left behind for nothing
    if (this.live === 0) this.clear();
  }

  /** Ends every record now (shutdown). */
  close(): void {
    for (let i = this.head; i < this.queue.length; i++) {
      const rec = this.queue[i] as CompletedRecord;
      if (!rec.ended) this.finish(rec);
    }
    this.clear();
  }

  private clear(): void {
    if (this.timer !== undefined) this.host.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.queue = [];
    this.head = 0;
    this.live = 0;
  }

  private finish(rec: CompletedRecord): void {
    rec.ended = true;
    this.live--;
    this.host.forget(rec);
  }

  private arm(ms: number): void {
    this.timer = this.host.clock.setTimer(ms, () => this.sweep());
  }

  private sweep(): void {
    this.timer = undefined;
    const now = this.host.clock.now();
    let i = this.head;
    for (; i < this.queue.length; i++) {
      const rec = this.queue[i] as CompletedRecord;
      if (rec.expires > now) break;
      if (!rec.ended) this.finish(rec);
    }
    this.head = i;
    // drop the swept part now and then, not at every sweep: copying is what costs
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    const next = this.live > 0 ? this.queue[this.head] : undefined;
    if (next) this.arm(Math.max(0, next.expires - now));
  }
}
