// The UAS core: what happens to a request between the transaction layer and whoever decides
// its answer (today the built-in defaults, later the SipApps). It applies NkSIP's processing
// order (reference §4): CANCEL matching, merged requests, the stateless checks, then the
// decision; every server transaction it is handed gets exactly one final response.
import type { Logger } from 'pino';
import { makeResponse } from '../sip/build.js';
import { newTag } from '../sip/ids.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Parsed } from '../sip/parser.js';
import { checkRequest, checkResponse } from '../sip/validate.js';
import type { ServerTxn, TransactionLayer } from '../transaction/index.js';
import type { Incoming, SipTransport, Source } from '../transport/types.js';
import type { Reply } from './reply.js';
import { defaultReply, precheck, type UasProfile } from './uas-checks.js';

/** Whoever decides the answer to a request that passed every check. */
export interface RequestHandler {
  /**
   * The answer, now or later; `undefined` for none (only right for ACK). A handler that
   * throws or rejects gets the request a 500.
   */
  handle(req: SipRequest, source: Source): Reply | undefined | Promise<Reply | undefined>;
  /** The INVITE was cancelled and has been answered 487. */
  cancelled?(invite: SipRequest): void;
}

export interface UasCoreOptions {
  transport: SipTransport;
  layer: TransactionLayer;
  profile: (source: Source) => UasProfile;
  handler?: RequestHandler;
  logger?: Logger;
}

export class UasCore {
  private readonly transport: SipTransport;
  private readonly layer: TransactionLayer;
  private readonly profile: (source: Source) => UasProfile;
  private readonly log: Logger | undefined;
  private handler: RequestHandler;
  /** One To tag per server transaction, so every response to a request carries the same. */
  private readonly tags = new WeakMap<ServerTxn, string>();
  private draining = false;

  constructor(opts: UasCoreOptions) {
    this.transport = opts.transport;
    this.layer = opts.layer;
    this.profile = opts.profile;
    this.log = opts.logger;
    this.handler = opts.handler ?? { handle: (req, source) => defaultReply(req, this.profile(source)) };
    this.layer.setUser({
      onRequest: (req, txn, source) => this.onRequest(req, txn, source),
      onAck: () => {
        // ACKs for our 2xx: no dialogs yet, so nothing waits for them
      },
      onStrayResponse: (resp, source) =>
        this.log?.debug({ status: resp.status, source }, 'stray response dropped'),
      onServerFailure: (txn, reason) =>
        this.log?.debug({ method: txn.request.method, reason }, 'transaction failed'),
    });
  }

  setHandler(handler: RequestHandler): void {
    this.handler = handler;
  }

  /** From now on new requests get 503 (shutdown); live transactions carry on. */
  drain(): void {
    this.draining = true;
  }

  /**
   * Entry for everything the transport receives: the stateless checks of RFC 3261 §8.2
   * (answered without a transaction, so a malformed INVITE gets no 100 Trying first), then
   * the transaction layer.
   */
  receive(inc: Incoming): void {
    const parsed: Parsed = inc.defect === undefined ? { msg: inc.msg } : { msg: inc.msg, defect: inc.defect };
    let verdict: { status: number; reason: string } | string | undefined;
    try {
      verdict = inc.msg.kind === 'request' ? checkRequest(parsed) : checkResponse(parsed);
    } catch (err) {
      this.log?.error({ err }, 'message check failed');
      return;
    }
    if (verdict === undefined) {
      this.layer.receive(inc);
      return;
    }
    if (typeof verdict === 'string' || inc.msg.kind === 'response') {
      this.log?.debug({ reason: verdict, source: inc.source }, 'malformed response dropped');
      return;
    }
    this.rejectStateless(inc.msg, inc.source, verdict.status, verdict.reason);
  }

  private rejectStateless(req: SipRequest, source: Source, status: number, reason: string): void {
    if (req.method === 'ACK') return;
    this.log?.debug({ status, reason, source, method: req.method }, 'malformed request rejected');
    let resp: SipResponse;
    try {
      resp = makeResponse(req, status, { reason });
    } catch {
      return;
    }
    this.transport.sendResponse(resp, source).catch((err: unknown) => {
      this.log?.debug({ err }, 'could not send the rejection');
    });
  }

  private onRequest(req: SipRequest, txn: ServerTxn, source: Source): void {
    if (req.method === 'CANCEL') {
      this.onCancel(req, txn);
      return;
    }
    if (txn.mergedWith !== undefined) {
      this.respond(txn, { status: 482, reason: 'Loop Detected' });
      return;
    }
    if (this.draining) {
      this.respond(txn, { status: 503, reason: 'Service Unavailable', headers: [['Retry-After', '5']] });
      return;
    }
    const profile = this.profile(source);
    const rejection = precheck(req, profile);
    if (rejection) {
      this.respond(txn, rejection);
      return;
    }
    let decided: ReturnType<RequestHandler['handle']>;
    try {
      decided = this.handler.handle(req, source);
    } catch (err) {
      this.log?.error({ err, method: req.method }, 'request handler failed');
      this.respond(txn, { status: 500, reason: 'Server Internal Error' });
      return;
    }
    if (decided instanceof Promise) {
      decided.then(
        (r) => this.answer(txn, r),
        (err: unknown) => {
          this.log?.error({ err, method: req.method }, 'request handler failed');
          this.respond(txn, { status: 500, reason: 'Server Internal Error' });
        },
      );
    } else {
      this.answer(txn, decided);
    }
  }

  private answer(txn: ServerTxn, r: Reply | undefined): void {
    // a handler with nothing to say still owes the request a final response
    this.respond(txn, r ?? { status: 500, reason: 'No Answer' });
  }

  /** RFC 3261 §9.2: 200 for the CANCEL, 487 for the INVITE if it is still unanswered. */
  private onCancel(cancel: SipRequest, txn: ServerTxn): void {
    const invite = this.layer.findInviteForCancel(cancel);
    if (!invite) {
      this.respond(txn, { status: 481 });
      return;
    }
    // RFC 3261 §9.2: the 200 to the CANCEL and the INVITE's responses share a To tag
    const tag = this.tags.get(invite) ?? newTag();
    this.tags.set(invite, tag);
    this.respond(txn, { status: 200 }, tag);
    if (invite.state === 'proceeding') {
      this.respond(invite, { status: 487 });
      this.handler.cancelled?.(invite.request);
    }
  }

  /** Sends a response on the transaction; false when it already had its final one. */
  respond(txn: ServerTxn, r: Reply, toTag?: string): boolean {
    let tag = toTag ?? this.tags.get(txn);
    if (tag === undefined && r.status > 100) {
      tag = newTag();
      this.tags.set(txn, tag);
    }
    const opts: Parameters<typeof makeResponse>[2] = {};
    if (r.reason !== undefined) opts.reason = r.reason;
    if (tag !== undefined) opts.toTag = tag;
    if (r.headers) opts.headers = r.headers;
    if (r.body) opts.body = r.body;
    if (r.contentType) opts.contentType = r.contentType;
    return txn.respond(makeResponse(txn.request, r.status, opts));
  }
}
