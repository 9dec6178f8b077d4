// The UAS core: what happens to a request between the transaction layer and whoever decides
// its answer (today the built-in defaults, later the SipApps). It applies NkSIP's processing
// order (reference §4): CANCEL matching, merged requests, the stateless checks, then the
// decision; every server transaction it is handed gets exactly one final response.
import type { Logger } from 'pino';
import { makeResponse, type ResponseOptions, reasonPhrase } from '../sip/build.js';
import { newTag } from '../sip/ids.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Parsed } from '../sip/parser.js';
import { checkRequest, checkResponse } from '../sip/validate.js';
import type { ServerTxn, TransactionLayer } from '../transaction/index.js';
import type { Incoming, SipTransport, Source } from '../transport/types.js';
import type { AppHandler } from './app.js';
import type { RouteDecision } from './decision.js';
import { defaultApp } from './default-app.js';
import type { Forwarder } from './forwarder.js';
import type { Reply } from './reply.js';
import { precheck, type UasProfile } from './uas-checks.js';

export interface UasCoreOptions {
  transport: SipTransport;
  layer: TransactionLayer;
  profile: (source: Source) => UasProfile;
  /** The application logic; NkSIP's defaults when absent. */
  app?: AppHandler;
  /** The proxy, for `proxy` decisions; without one they are answered 500. */
  forwarder?: Forwarder;
  logger?: Logger;
}

export class UasCore {
  private readonly transport: SipTransport;
  private readonly layer: TransactionLayer;
  private readonly profile: (source: Source) => UasProfile;
  private readonly log: Logger | undefined;
  private app: AppHandler;
  private readonly forwarder: Forwarder | undefined;
  /** One To tag per server transaction, so every response to a request carries the same. */
  private readonly tags = new WeakMap<ServerTxn, string>();
  private draining = false;

  constructor(opts: UasCoreOptions) {
    this.transport = opts.transport;
    this.layer = opts.layer;
    this.profile = opts.profile;
    this.log = opts.logger;
    this.app = opts.app ?? defaultApp(opts.profile);
    this.forwarder = opts.forwarder;
    this.layer.setUser({
      onRequest: (req, txn, source) => this.onRequest(req, txn, source),
      onAck: (ack, source) => this.onAck(ack, source),
      onStrayResponse: (resp, source) => {
        if (this.forwarder) this.forwarder.stray(resp, source);
        else this.log?.debug({ status: resp.status, source }, 'stray response dropped');
      },
      onServerFailure: (txn, reason) =>
        this.log?.debug({ method: txn.request.method, reason }, 'transaction failed'),
    });
  }

  /** Who decides from now on (the apps layer swaps SipApps in and out). */
  setApp(app: AppHandler): void {
    this.app = app;
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

  /** Answers without a transaction: malformed requests and stateless decisions. */
  private rejectStateless(req: SipRequest, source: Source, status: number, reason: string, r?: Reply): void {
    if (req.method === 'ACK') return;
    this.log?.debug({ status, reason, source, method: req.method }, 'stateless answer');
    let resp: SipResponse;
    try {
      resp = makeResponse(req, status, responseOptions(r ?? { status, reason }));
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
    if (this.draining) {
      this.respond(txn, { status: 503, reason: 'Service Unavailable', headers: [['Retry-After', '5']] });
      return;
    }
    this.settle(
      () => this.app.route(req, source),
      (decision) => this.decided(req, txn, source, decision),
      txn,
      'route',
    );
  }

  /** What NkSIP does with each sip_route answer (reference §4). */
  private decided(req: SipRequest, txn: ServerTxn, source: Source, d: RouteDecision): void {
    switch (d.kind) {
      case 'process':
      case 'process_stateless': {
        const stateless = d.kind === 'process_stateless';
        if (stateless && req.method === 'INVITE') {
          this.respond(txn, { status: 500, reason: 'Invalid Service Reply' });
          return;
        }
        // a merged request is a loop only for the UAS; a proxy sees legitimate spirals
        // that look the same (RFC 3261 §8.2.2.2, §16.3)
        if (txn.mergedWith !== undefined && !stateless) {
          this.respond(txn, { status: 482, reason: 'Loop Detected' });
          return;
        }
        const rejection = precheck(req, this.profile(source));
        if (rejection) {
          this.finish(txn, rejection, stateless);
          return;
        }
        this.settle(
          () => this.app.method(req, source, (r) => r.status > 100 && r.status < 200 && this.respond(txn, r)),
          (r) => this.finish(txn, r, stateless),
          txn,
          'method',
        );
        return;
      }
      case 'reply':
        this.respond(txn, d.reply);
        return;
      case 'reply_stateless':
        this.finish(txn, d.reply, true);
        return;
      case 'proxy':
        if (!this.forwarder) {
          this.respond(txn, { status: 500, reason: 'No Proxy' });
          return;
        }
        this.forwarder.forward(req, txn, source, d.targets, d.options);
        return;
      case 'proxy_stateless':
        txn.abort();
        if (this.forwarder) this.forwarder.forwardStateless(req, source, d.targets, d.options);
        return;
    }
  }

  /** An ACK for a 2xx: proxied on if the route decision says so, else told to the app. */
  private onAck(ack: SipRequest, source: Source): void {
    this.settle(
      () => this.app.route(ack, source),
      (d) => {
        if ((d.kind === 'proxy' || d.kind === 'proxy_stateless') && this.forwarder) {
          this.forwarder.forwardAck(ack, source, d.targets, d.options);
        } else if (d.kind === 'process' || d.kind === 'process_stateless') {
          this.app.ack?.(ack, source);
        }
      },
      undefined,
      'route',
    );
  }

  /**
   * Runs an app step that may answer now or later; a throw or rejection answers the request
   * 500 (an ACK, having no transaction, is only logged).
   */
  private settle<T>(
    step: () => T | Promise<T>,
    then: (v: T) => void,
    txn: ServerTxn | undefined,
    what: string,
  ): void {
    const fail = (err: unknown) => {
      this.log?.error({ err, step: what }, 'app step failed');
      if (txn) this.respond(txn, { status: 500, reason: 'Server Internal Error' });
    };
    const next = (r: T) => {
      try {
        then(r);
      } catch (err) {
        fail(err);
      }
    };
    let v: T | Promise<T>;
    try {
      v = step();
    } catch (err) {
      fail(err);
      return;
    }
    if (v instanceof Promise) v.then(next, fail);
    else next(v);
  }

  /** The final answer, through the transaction or (stateless) straight to the transport. */
  private finish(txn: ServerTxn, r: Reply, stateless: boolean): void {
    if (!stateless) {
      this.respond(txn, r);
      return;
    }
    txn.abort();
    this.rejectStateless(txn.request, txn.source, r.status, r.reason ?? reasonPhrase(r.status), r);
  }

  /**
   * A CANCEL whose INVITE has no transaction here: if the INVITE was proxied statelessly,
   * the route decision says so again and the CANCEL follows it (its branch is derived the
   * same way, so it matches downstream); otherwise 481 (§9.2).
   */
  private cancelWithoutInvite(cancel: SipRequest, txn: ServerTxn): void {
    this.settle(
      () => this.app.route(cancel, txn.source),
      (d) => {
        if (d.kind === 'proxy_stateless' && this.forwarder) {
          txn.abort();
          this.forwarder.forwardStateless(cancel, txn.source, d.targets, d.options);
        } else {
          this.respond(txn, { status: 481 });
        }
      },
      txn,
      'route',
    );
  }

  /** RFC 3261 §9.2: 200 for the CANCEL, 487 for the INVITE if it is still unanswered. */
  private onCancel(cancel: SipRequest, txn: ServerTxn): void {
    const invite = this.layer.findInviteForCancel(cancel);
    if (!invite) {
      this.cancelWithoutInvite(cancel, txn);
      return;
    }
    // RFC 3261 §9.2: the 200 to the CANCEL and the INVITE's responses share a To tag
    const tag = this.tags.get(invite) ?? newTag();
    this.tags.set(invite, tag);
    this.respond(txn, { status: 200 }, tag);
    if (this.forwarder?.isProxying(invite)) {
      // the 487 comes back from downstream (§16.10)
      this.forwarder.cancel(invite, cancel);
    } else if (invite.state === 'proceeding') {
      this.respond(invite, { status: 487 });
      this.app.cancelled?.(invite.request, cancel);
    }
  }

  /** Sends a response on the transaction; false when it already had its final one. */
  respond(txn: ServerTxn, r: Reply, toTag?: string): boolean {
    let tag = toTag ?? this.tags.get(txn);
    if (tag === undefined && r.status > 100) {
      tag = newTag();
      this.tags.set(txn, tag);
    }
    const opts = responseOptions(r);
    if (tag !== undefined) opts.toTag = tag;
    const resp = makeResponse(txn.request, r.status, opts);
    copyRecordRoute(txn.request, resp);
    return txn.respond(resp);
  }
}

/**
 * A dialog-creating response carries the request's Record-Route, so the caller learns the
 * route set (RFC 3261 §12.1.1; NkSIP does it for 101–299 to INVITE and NOTIFY).
 */
function copyRecordRoute(req: SipRequest, resp: SipResponse): void {
  if (resp.status <= 100 || resp.status >= 300) return;
  if (
    req.method !== 'INVITE' &&
    req.method !== 'NOTIFY' &&
    req.method !== 'SUBSCRIBE' &&
    req.method !== 'REFER'
  )
    return;
  for (const h of req.headers) if (h.name === 'record-route') resp.headers.push(h);
}

function responseOptions(r: Reply): ResponseOptions {
  const opts: ResponseOptions = {};
  if (r.reason !== undefined) opts.reason = r.reason;
  if (r.headers) opts.headers = r.headers;
  if (r.body) opts.body = r.body;
  if (r.contentType) opts.contentType = r.contentType;
  return opts;
}
