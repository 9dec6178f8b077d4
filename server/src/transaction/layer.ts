// The transaction layer: matches what the transport delivers to transactions (RFC 3261
// §17.1.3, §17.2.3), creates server transactions for new requests, runs client transactions
// for the cores, and passes up only what the transaction user must see.
import type { Logger } from 'pino';
import { makeCancel, makeResponse, makeStatelessResponse } from '../sip/build.js';
import { SipSyntaxError } from '../sip/grammar.js';
import { viaBranch } from '../sip/headers.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Endpoint, Incoming, PreparedResponse, SipTransport, Source } from '../transport/types.js';
import { ChurnMap } from '../util/churn-map.js';
import { WAITING } from './base.js';
import { ClientInviteTransaction } from './client-invite.js';
import { ClientNonInviteTransaction } from './client-non-invite.js';
import type { Clock } from './clock.js';
import { CompletedQueue, CompletedRecord } from './completed.js';
import { clientKey, matchesByBranch, mergeKey, serverKey, topViaOf } from './keys.js';
import { ServerInviteTransaction } from './server-invite.js';
import { ServerNonInviteTransaction } from './server-non-invite.js';
import { type TimerConfig, timerConfig } from './timers.js';
import type { ClientHandler, ServerFailure, ServerTxn, TransactionUser, TxnEnv } from './types.js';

export type ClientTransaction = ClientInviteTransaction | ClientNonInviteTransaction;
export type ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction;

export interface TransactionLayerOptions {
  transport: SipTransport;
  clock: Clock;
  /** ms; defaults 500 / 4000 / 5000 (RFC 3261 Table 4). */
  t1?: number;
  t2?: number;
  t4?: number;
  /** Longest life of any transaction, ms (NkSIP `sip_trans_timeout`, default 900 s). */
  transTimeout?: number;
  /** Do not send the automatic 100 Trying for INVITE (NkSIP `sip_no_100`). */
  no100?: boolean;
  /**
   * What to do with a merged request (§8.2.2.2). `report` (default): create its transaction
   * and pass it up with `mergedWith` set; only a UAS core may answer 482, since a proxy sees
   * legitimate spirals that look the same. `reject`: answer 482 here, through a transaction
   * of its own so retransmissions and the ACK are absorbed; the TU never sees it.
   */
  mergedRequests?: 'report' | 'reject';
  logger?: Logger;
  user?: Partial<TransactionUser>;
}

export class TransactionLayer {
  readonly timers: TimerConfig;
  private readonly transport: SipTransport;
  private readonly log: Logger | undefined;
  private readonly no100: boolean;
  private readonly rejectMerged: boolean;
  private user: Partial<TransactionUser>;
  private readonly clients = new ChurnMap<string, ClientTransaction>();
  /** Server transactions by key; completed non-INVITE ones over UDP as their record. */
  private readonly servers = new ChurnMap<string, ServerTransaction | CompletedRecord>();
  /** Server transactions (or records) of requests without To tag, by mergeKey. */
  private readonly merges = new ChurnMap<string, ServerTransaction | CompletedRecord>();
  private readonly completed: CompletedQueue;
  private readonly env: TxnEnv;

  constructor(opts: TransactionLayerOptions) {
    this.transport = opts.transport;
    this.log = opts.logger;
    this.no100 = opts.no100 ?? false;
    this.rejectMerged = opts.mergedRequests === 'reject';
    this.user = opts.user ?? {};
    this.timers = timerConfig({ t1: opts.t1, t2: opts.t2, t4: opts.t4, transTimeout: opts.transTimeout });
    this.env = {
      clock: opts.clock,
      transport: opts.transport,
      timers: this.timers,
      log: opts.logger,
      removed: (txn) => this.removed(txn as ClientTransaction | ServerTransaction),
      serverFailure: (txn, reason, err) => this.serverFailure(txn, reason, err),
      settled: (txn) => this.user.onSettled?.(txn),
      passAck: (ack, source, txn) => this.passAck(ack, source, txn),
      complete: (key, mkey, response, source, ms) => this.complete(key, mkey, response, source, ms),
      endCompleted: (rec) => this.completed.end(rec),
    };
    this.completed = new CompletedQueue({
      clock: opts.clock,
      transport: opts.transport,
      forget: (rec) => this.forget(rec),
      resendFailed: (rec, err) => {
        // §17.2.4; the TU has long had its final answer and holds no state for it
        this.log?.debug({ err, txn: rec.key }, 'retransmitted response not sent');
        this.completed.end(rec);
      },
    });
  }

  /** Replaces the given TU callbacks (the others stay). */
  setUser(user: Partial<TransactionUser>): void {
    this.user = { ...this.user, ...user };
  }

  /** Live transactions, for tests and metrics. */
  stats(): { client: number; server: number } {
    return { client: this.clients.size, server: this.servers.size };
  }

  /** Transactions still waiting for a final response: shutdown waits for this to reach zero. */
  pending(): number {
    let n = 0;
    for (const t of this.clients.values()) if (WAITING.has(t.state)) n++;
    for (const t of this.servers.values()) if (WAITING.has(t.state)) n++;
    return n;
  }

  /** Everything the transport receives comes in here. Never throws. */
  receive(inc: Incoming): void {
    try {
      if (inc.msg.kind === 'request') this.receiveRequest(inc.msg, inc);
      else this.receiveResponse(inc.msg, inc);
    } catch (err) {
      if (err instanceof SipSyntaxError && inc.msg.kind === 'request') {
        this.badRequest(inc, err.message);
      } else if (err instanceof SipSyntaxError) {
        this.log?.debug({ err }, 'unreadable response dropped');
      } else {
        this.log?.error({ err }, 'transaction layer failed on an incoming message');
      }
    }
  }

  /**
   * Starts a client transaction: the request must carry a top Via with its branch. The 2xx
   * to an INVITE, and every further 2xx within 64*T1, goes to `handler.onResponse`.
   */
  sendRequest(req: SipRequest, target: Endpoint, handler: ClientHandler): ClientTransaction {
    if (req.method === 'ACK') throw new Error('an ACK is not a transaction: send it through the transport');
    const branch = viaBranch(topViaOf(req));
    if (!branch) throw new Error('request without a Via branch');
    const key = clientKey(branch, req.method);
    if (this.clients.has(key)) throw new Error(`client transaction ${branch} ${req.method} exists`);
    const txn =
      req.method === 'INVITE'
        ? new ClientInviteTransaction(this.env, key, req, target, handler)
        : new ClientNonInviteTransaction(this.env, key, req, target, handler);
    this.clients.set(key, txn);
    txn.start();
    return txn;
  }

  /**
   * Sends a CANCEL for a client INVITE transaction (§9.1): same branch, to where the INVITE
   * went. §9.1 forbids it before a provisional arrived (`txn.gotProvisional`); holding it
   * until then is the UAC core's decision, not made here. Throws once the INVITE has its
   * final response (nothing is left to cancel, and its request was let go).
   */
  sendCancel(invite: ClientInviteTransaction, handler: ClientHandler, reason?: string): ClientTransaction {
    return this.sendRequest(makeCancel(invite.request, reason), invite.target, handler);
  }

  /**
   * The server INVITE transaction a CANCEL targets (§9.2): by branch and sent-by when the
   * branch has the cookie, else by Request-URI, To (with tag), From tag, Call-ID, CSeq number
   * and top Via. The core answers the CANCEL 200 (or 481 when undefined) and the INVITE 487.
   */
  findInviteForCancel(cancel: SipRequest): ServerInviteTransaction | undefined {
    try {
      const txn = this.servers.get(serverKey(cancel, 'INVITE'));
      return txn instanceof ServerInviteTransaction ? txn : undefined;
    } catch (err) {
      if (err instanceof SipSyntaxError) return undefined;
      throw err;
    }
  }

  /** Ends every transaction without telling anyone (shutdown). */
  close(): void {
    this.completed.close();
    for (const t of [...this.clients.values(), ...this.servers.values()]) {
      if (!(t instanceof CompletedRecord)) t.abort();
    }
  }

  private receiveRequest(req: SipRequest, inc: Incoming): void {
    if (inc.defect !== undefined) {
      this.badRequest(inc, inc.defect);
      return;
    }
    if (req.method === 'ACK') {
      this.receiveAck(req, inc.source);
      return;
    }
    const key = serverKey(req, req.method);
    const existing = this.servers.get(key);
    if (existing instanceof CompletedRecord) {
      this.completed.resend(existing, inc.source);
      return;
    }
    if (existing) {
      existing.receiveRetransmission(req, inc.source);
      return;
    }
    this.newRequest(req, key, inc.source);
  }

  private receiveAck(ack: SipRequest, source: Source): void {
    let txn: ServerInviteTransaction | undefined;
    if (matchesByBranch(ack)) {
      txn = inviteOnly(this.servers.get(serverKey(ack, 'INVITE')));
    } else {
      // RFC 2543: the INVITE had this To tag (re-INVITE) or none; the ACK must carry the
      // tag of the response the transaction sent
      const tag = ack.toTag ?? '';
      txn =
        inviteOnly(this.servers.get(serverKey(ack, 'INVITE', tag))) ??
        inviteOnly(this.servers.get(serverKey(ack, 'INVITE', '')));
      if (txn && (txn.sentTag ?? '') !== tag) txn = undefined;
    }
    if (txn) txn.receiveAck(ack, source);
    else this.passAck(ack, source, undefined);
  }

  private newRequest(req: SipRequest, key: string, source: Source): void {
    const isInvite = req.method === 'INVITE';
    const txn = isInvite
      ? new ServerInviteTransaction(this.env, key, req, source)
      : new ServerNonInviteTransaction(this.env, key, req, source);
    try {
      this.dispatchNew(req, txn, source, isInvite);
    } finally {
      // Indexed once the TU had its go: nothing can look for it in between (its copies
      // arrive on later ticks), and most are answered at once, so the record of a completed
      // one takes the place directly instead of replacing the transaction.
      if (!txn.terminated && !(txn instanceof ServerNonInviteTransaction && txn.compacted)) {
        this.servers.set(txn.key, txn);
        if (txn.mergeKey !== undefined) this.merges.set(txn.mergeKey, txn);
      }
      // the lifetime bound, for a request the TU did not answer at once (or threw on); from
      // now, which is still the tick the request arrived in
      txn.armLifetime();
    }
  }

  private dispatchNew(req: SipRequest, txn: ServerTransaction, source: Source, isInvite: boolean): void {
    // CANCEL is matched hop by hop to its INVITE, never a merged copy of one
    const mkey = req.method === 'CANCEL' ? undefined : mergeKey(req);
    if (mkey !== undefined) {
      const first = this.merges.get(mkey);
      if (first) {
        txn.mergedWith = first;
        if (this.rejectMerged) {
          this.log?.debug({ callId: req.callId }, 'merged request rejected');
          txn.respond(makeResponse(req, 482));
          return;
        }
      } else {
        txn.mergeKey = mkey; // indexed under it with the transaction, below
      }
    }
    if (isInvite && !this.no100) (txn as ServerInviteTransaction).sendTrying();
    if (this.user.onRequest) this.user.onRequest(req, txn, source);
    else this.log?.warn({ method: req.method }, 'no transaction user for a request');
  }

  private receiveResponse(resp: SipResponse, inc: Incoming): void {
    if (inc.defect !== undefined) {
      this.log?.debug({ defect: inc.defect }, 'malformed response dropped'); // §18.1.2
      return;
    }
    const via = resp.topVia;
    const branch = via ? viaBranch(via) : undefined;
    const txn = branch ? this.clients.get(clientKey(branch, resp.cseq.method)) : undefined;
    if (txn) txn.receiveResponse(resp);
    else if (this.user.onStrayResponse) this.user.onStrayResponse(resp, inc.source);
  }

  private badRequest(inc: Incoming, reason: string): void {
    if (this.user.onBadRequest) {
      this.user.onBadRequest(inc, reason);
      return;
    }
    const req = inc.msg as SipRequest;
    if (req.method === 'ACK') return; // never answered
    let resp: SipResponse;
    try {
      resp = makeStatelessResponse(req, 400, { reason });
    } catch {
      return; // not even the headers of a response can be copied: drop (RFC 3261 §18.3)
    }
    this.transport.sendResponse(resp, inc.source).catch((err: unknown) => {
      this.log?.debug({ err }, '400 send failed');
    });
  }

  private passAck(ack: SipRequest, source: Source, txn: ServerTxn | undefined): void {
    if (this.user.onAck) this.user.onAck(ack, source, txn);
  }

  private serverFailure(txn: ServerTxn, reason: ServerFailure, err?: Error): void {
    this.log?.debug({ reason, err, method: txn.request.method }, 'server transaction failed');
    this.user.onServerFailure?.(txn, reason, err);
  }

  /** A transaction entering Completed hands its place in the maps to its record. */
  private complete(
    key: string,
    mkey: string | undefined,
    response: PreparedResponse,
    source: Source,
    ms: number,
  ): CompletedRecord {
    const rec = this.completed.add(key, mkey, response, source, ms);
    this.servers.set(key, rec);
    if (mkey !== undefined) this.merges.set(mkey, rec);
    return rec;
  }

  private forget(rec: CompletedRecord): void {
    // a record keeps its keys to the end: copies of its request come to it, and later
    // requests with its merge key are merged with it rather than indexed
    this.servers.delete(rec.key);
    if (rec.mergeKey !== undefined) this.merges.delete(rec.mergeKey);
  }

  private removed(txn: ClientTransaction | ServerTransaction): void {
    if (txn instanceof ClientInviteTransaction || txn instanceof ClientNonInviteTransaction) {
      if (this.clients.get(txn.key) === txn) this.clients.delete(txn.key);
      return;
    }
    if (this.servers.get(txn.key) === txn) this.servers.delete(txn.key);
    const mkey = txn.mergeKey;
    if (mkey !== undefined && this.merges.get(mkey) === txn) this.merges.delete(mkey);
  }
}

function inviteOnly(t: ServerTransaction | CompletedRecord | undefined): ServerInviteTransaction | undefined {
  return t instanceof ServerInviteTransaction ? t : undefined;
}
