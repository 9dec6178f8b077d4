// The proxy (RFC 3261 §16, NkSIP reference §5): stateful forking over a URI set of serial
// groups of parallel targets, stateless forwarding, the ACK for a proxied 2xx, and the
// stateless relay of responses that match no client transaction. Every message goes out
// through the transaction layer or the transport; the proxy owns timers (Timer C) and the
// state of each fork, which it drops as soon as the fork is over.
import { lookup } from 'node:dns/promises';
import type { Logger } from 'pino';
import type { AppHandler } from '../core/app.js';
import type { CallCounter } from '../core/calls.js';
import { type BranchAnswer, CONTINUE, type ProxyOptions, type UriSet } from '../core/decision.js';
import type { Dialog } from '../core/dialog/dialog.js';
import { stopReason } from '../core/dialog/dialog.js';
import type { Forwarder } from '../core/forwarder.js';
import { responseOptions } from '../core/reply.js';
import { makeResponse, makeStatelessResponse, reasonPhrase } from '../sip/build.js';
import { getParam, quote, SipSyntaxError } from '../sip/grammar.js';
import { viaBranch } from '../sip/headers.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import { detached } from '../sip/strings.js';
import { bareHost, formatUri, isSipUri, type SipUri, type Uri } from '../sip/uri.js';
import {
  type ClientHandler,
  ClientInviteTransaction,
  type ClientTransaction,
  type Clock,
  realClock,
  type ServerTxn,
  type TimerHandle,
  type TransactionLayer,
} from '../transaction/index.js';
import { hostText, ipFamily, normalizeIp, sameIp, stripBrackets } from '../transport/address.js';
import {
  FLOW_TRANSPORTS,
  FlowFailedError,
  flowToken,
  needsFlowToken,
  parseFlowToken,
  withFlowUser,
} from '../transport/flow.js';
import type { LocateInput } from '../transport/resolver.js';
import type { Endpoint, SipTransport, Source, TransportName } from '../transport/types.js';
import { ChurnMap } from '../util/churn-map.js';
import { bestResponse } from './best.js';
import { DEFAULT_PROXY_DIALOG_TIMEOUT_MS, type ProxyDialogApp, ProxyDialogs } from './dialogs.js';
import {
  insertTop,
  isOurBranch,
  optionTags,
  parseTarget,
  preprocess,
  pushVia,
  statefulBranch,
  statelessBranch,
  strictRoute,
  takeFlow,
  targetRequest,
} from './edit.js';
import { LocalIdentity, type LocalListener } from './local.js';
import { proxyTimerRequest, proxyTimerResponse } from './timers.js';

export interface SipProxyOptions {
  layer: TransactionLayer;
  /** The transport manager (any SipTransport: tests pass a fake). */
  transport: SipTransport;
  logger?: Logger;
  /** Timers of the proxy itself (Timer C); the transaction layer's own clock in tests. */
  clock?: Clock;
  /** Timer C, ms (RFC 3261 §16.6 step 11: more than 3 minutes). Default 180 s. */
  timerC?: number;
  /**
   * Host written in Record-Route and Path for listeners bound to a wildcard address (the
   * server's `localHost`), and recognised as ours in Route headers.
   */
  recordRouteHost?: string;
  /** The server's listeners: which Route/Via point at us, which socket faces the next hop. */
  listeners?: () => readonly LocalListener[];
  /**
   * Where a request towards a target leaves from (`TransportManager.localContact`): the
   * outgoing Record-Route and Path values. Without it they are derived from `listeners`.
   */
  localContact?: (target: Endpoint) => { host: string; port: number };
  /** Host name → IP address for next hops (RFC 3263 minimal: A/AAAA). Default dns.lookup. */
  resolve?: (host: string) => Promise<string>;
  /**
   * RFC 3263 server location for next hops with a host name: every target in order (replaces
   * `resolve`). A stateful branch moves on to the next after a transport error, a timeout or
   * a 503 that came before any provisional response (§4.3).
   */
  locate?: (input: LocateInput) => Promise<Endpoint[]>;
  /**
   * Whether two local sockets are served by the same application. Several apps share this
   * server, each behind its own listeners: a Route or Record-Route naming another app's
   * listener is a hop to that app, not ours to remove. Default: every listener is one service.
   */
  sameService?: (a: Source, b: Source) => boolean;
  /** NkSIP `sip_dialog_timeout` for the dialogs the proxy keeps, ms. Default 1800 s. */
  dialogTimeoutMs?: number;
  /** The live calls: each dialog the proxy keeps holds its call (core/calls.ts). */
  calls?: CallCounter;
}

export const DEFAULT_TIMER_C = 180_000;

/** What the proxy asks of the app that proxied: dialog notifications and session timer settings. */
export type ProxyApp = ProxyDialogApp & Pick<AppHandler, 'timers'>;

const COMPLETED_ELSEWHERE = 'SIP;cause=200;text="Call completed elsewhere"';

type Hop = { ok: true; ep: Endpoint; rest?: Endpoint[] } | { ok: false; status: number; reason: string };

interface Rejection {
  status: number;
  reason?: string;
  headers?: [string, string][];
}

interface Fork {
  readonly txn: ServerTxn;
  readonly source: Source;
  /** The request after §16.4 pre-processing: what every branch is copied from. */
  readonly base: SipRequest;
  readonly options: ProxyOptions;
  /** The app runs the timers plugin: its 2xx may need Session-Expires (RFC 4028 §8.2). */
  readonly timers: boolean;
  /** Serial groups with the options their branches use (a BRANCH_FINAL fork may bring its own). */
  readonly groups: Group[];
  /** Index of the next serial group to launch. */
  next: number;
  /** Branches without a final outcome yet. */
  readonly active: Set<Branch>;
  /** Final non-2xx outcomes gathered (ours popped), for the best response. */
  readonly responses: SipResponse[];
  /** A final response went upstream (a 2xx, a 6xx, or the best one). */
  answered: boolean;
  cancelled: boolean;
  /** A 6xx arrived: no new branches. */
  stopped: boolean;
  /** Targets already tried in this fork (URI text): a redirect loop ends here. */
  readonly tried: Set<string>;
  /** BRANCH_FINAL questions not answered yet: the fork cannot end before they are. */
  asking: number;
  ended: boolean;
}

interface Group {
  uris: Uri[];
  options: ProxyOptions;
}

interface Branch {
  readonly fork: Fork;
  readonly uri: Uri;
  readonly options: ProxyOptions;
  state: 'resolving' | 'sent' | 'done';
  ctx: ClientTransaction | undefined;
  provisional: boolean;
  /** A CANCEL is due: sent at once when a provisional arrived, else when one does (§9.1). */
  cancelWanted: boolean;
  cancelReason: string | undefined;
  cancelSent: boolean;
  timerC: TimerHandle | undefined;
  timerCFired: boolean;
  /** After Timer C's CANCEL: how long to wait for the final before giving up on it. */
  guard: TimerHandle | undefined;
  /** Early dialogs its provisionals made: they end with the branch unless a 2xx confirms them. */
  early: Dialog[] | undefined;
  /** To tags its responses carried: a 2xx retransmitted after the BYE makes no new dialog. */
  readonly tags: Set<string>;
  /** RFC 3263 §4.3: the next hop's other targets, tried in turn when this one fails. */
  alternatives?: Endpoint[];
}

/** The CANCELs we send need no handling: their INVITE's final response tells the outcome. */
const IGNORE: ClientHandler = { onResponse: () => {}, onTimeout: () => {}, onTransportError: () => {} };

export class SipProxy implements Forwarder {
  private readonly layer: TransactionLayer;
  private readonly transport: SipTransport;
  private readonly log: Logger | undefined;
  private readonly clock: Clock;
  private readonly timerC: number;
  private readonly resolveHost: (host: string) => Promise<string>;
  private readonly locate: ((input: LocateInput) => Promise<Endpoint[]>) | undefined;
  private readonly local: LocalIdentity;
  private readonly forks = new ChurnMap<ServerTxn, Fork>();
  private readonly live = new Set<Branch>();
  private readonly sameService: ((a: Source, b: Source) => boolean) | undefined;
  /** The dialogs of the requests this proxy record-routed statefully. */
  readonly dialogs: ProxyDialogs;
  private app: ProxyApp | undefined;

  /** A Route of ours naming a flow other than the one `source` came over: kept for `takeFlow`. */
  private flowElsewhere(source: Source): (u: SipUri) => boolean {
    return (u) => {
      const flow = parseFlowToken(u.user);
      return (
        flow !== undefined &&
        !(
          flow.transport === source.transport &&
          sameIp(flow.address, source.address) &&
          flow.port === source.port
        )
      );
    };
  }

  /** Any URI of ours (a flow token's Route is ours whichever listener it names). */
  private readonly isOurs = (u: SipUri): boolean =>
    this.local.isLocal(u.host, u.port, uriTransport(u) ?? 'udp');

  /** Whether a URI names us for a request that reached `source` (§16.4 Route removal). */
  private oursFor(source: Source): (u: SipUri) => boolean {
    return (u) => {
      const transport = uriTransport(u) ?? 'udp';
      if (!this.local.isLocal(u.host, u.port, transport)) return false;
      if (!this.sameService) return true;
      const other: Source = {
        transport,
        address: '',
        port: 0,
        localAddress: normalizeIp(stripBrackets(u.host)),
        localPort: u.port ?? 5060,
      };
      return this.sameService(source, other);
    };
  }

  constructor(opts: SipProxyOptions) {
    this.layer = opts.layer;
    this.transport = opts.transport;
    this.log = opts.logger;
    this.clock = opts.clock ?? realClock;
    this.timerC = opts.timerC ?? DEFAULT_TIMER_C;
    if (!Number.isFinite(this.timerC) || this.timerC <= 0) throw new RangeError('timerC must be > 0 ms');
    this.resolveHost = opts.resolve ?? (async (host) => (await lookup(host)).address);
    this.locate = opts.locate;
    this.local = new LocalIdentity(opts.listeners, opts.recordRouteHost, opts.localContact);
    this.sameService = opts.sameService;
    this.dialogs = new ProxyDialogs(
      this.clock,
      opts.dialogTimeoutMs ?? DEFAULT_PROXY_DIALOG_TIMEOUT_MS,
      this.log,
      opts.calls,
    );
  }

  /**
   * The app told of the proxy's dialogs and asked for its session timer settings (the apps
   * layer's router, once it exists).
   */
  setApp(app: ProxyApp): void {
    this.app = app;
    this.dialogs.setApp(app);
  }

  /** Shutdown: the dialog timeout sweep stops. */
  close(): void {
    this.dialogs.close();
  }

  /** Live forks, branches without a final outcome, and proxy dialogs (for leak checks and metrics). */
  stats(): { forks: number; branches: number; dialogs: number } {
    return { forks: this.forks.size, branches: this.live.size, dialogs: this.dialogs.size };
  }

  isProxying(txn: ServerTxn): boolean {
    const f = this.forks.get(txn);
    return f !== undefined && !f.ended;
  }

  // ---- stateful ---------------------------------------------------------------------------

  forward(req: SipRequest, txn: ServerTxn, source: Source, targets: UriSet, options: ProxyOptions): void {
    this.local.learn(source);
    let base: SipRequest;
    let groups: Group[];
    const timers = this.app?.timers?.(source);
    try {
      const rejection = check(req, options);
      if (rejection) {
        txn.respond(makeResponse(txn.request, rejection.status, responseOpts(rejection)));
        return;
      }
      base = req.copy();
      preprocess(base, this.oursFor(source), this.flowElsewhere(source));
      const step = timers ? proxyTimerRequest(base, timers) : undefined;
      if (step?.kind === 'reject') {
        const headers: [string, string][] = [['Min-SE', String(step.minSe)]];
        txn.respond(makeResponse(txn.request, 422, { reason: 'Session Interval Too Small', headers }));
        return;
      }
      groups = this.uriGroups(targets, base).map((uris) => ({ uris, options }));
    } catch (err) {
      if (!(err instanceof SipSyntaxError)) this.log?.error({ err }, 'proxy: cannot forward');
      txn.respond(makeResponse(txn.request, 500, { reason: 'Invalid Request' }));
      return;
    }
    const fork: Fork = {
      txn,
      source,
      base,
      options,
      timers: timers !== undefined,
      groups,
      next: 0,
      active: new Set(),
      responses: [],
      answered: false,
      cancelled: false,
      stopped: false,
      tried: new Set(),
      asking: 0,
      ended: false,
    };
    this.forks.set(txn, fork);
    if (req.toTag !== undefined) this.dialogs.request(req);
    if (!this.launchNext(fork)) this.end(fork);
  }

  cancel(txn: ServerTxn, cancel: SipRequest): void {
    const fork = this.forks.get(txn);
    if (!fork || fork.ended) return;
    fork.cancelled = true;
    // RFC 3326: the reason the caller gave travels with the CANCELs downstream
    const reason = cancel.headerLines('reason').join(', ') || undefined;
    for (const b of [...fork.active]) this.cancelBranch(b, reason);
  }

  /** Launches the next serial group that has targets not tried yet; false when none is left. */
  private launchNext(fork: Fork): boolean {
    while (fork.next < fork.groups.length) {
      const group = fork.groups[fork.next++] as Group;
      const created = this.newBranches(fork, group.uris, group.options);
      if (created.length === 0) continue;
      for (const b of created) this.start(b);
      return true;
    }
    return false;
  }

  private newBranches(fork: Fork, uris: readonly Uri[], options: ProxyOptions): Branch[] {
    const out: Branch[] = [];
    for (const uri of uris) {
      const key = formatUri(uri);
      if (fork.tried.has(key)) continue;
      fork.tried.add(key);
      const b: Branch = {
        fork,
        uri,
        options,
        state: 'resolving',
        ctx: undefined,
        provisional: false,
        cancelWanted: false,
        cancelReason: undefined,
        cancelSent: false,
        timerC: undefined,
        timerCFired: false,
        guard: undefined,
        early: undefined,
        tags: new Set(),
      };
      fork.active.add(b);
      this.live.add(b);
      out.push(b);
    }
    return out;
  }

  private start(b: Branch): void {
    const fork = b.fork;
    let req: SipRequest;
    let hopUri: Uri;
    let flowOf: Endpoint | undefined;
    try {
      ({ req, hop: hopUri } = targetRequest(fork.base, b.uri, b.options));
      const flow = takeFlow(req, this.isOurs);
      if (flow) {
        hopUri = flow.hop;
        flowOf = flow.flow;
      }
    } catch (err) {
      this.log?.debug({ err, target: formatUri(b.uri) }, 'proxy: unusable target');
      this.settle(b, this.synth(fork, 500, 'Invalid Target'));
      return;
    }
    this.hop(hopUri, flowOf).then(
      (h) => this.sendBranch(b, req, h),
      (err: unknown) => {
        this.log?.error({ err }, 'proxy: next hop failed');
        this.settle(b, this.synth(fork, 500));
      },
    );
  }

  private sendBranch(b: Branch, req: SipRequest, hop: Hop): void {
    if (b.state !== 'resolving') return;
    const fork = b.fork;
    if (fork.cancelled || b.cancelWanted) {
      // cancelled before it left: nothing downstream to CANCEL
      this.settle(b, this.synth(fork, 487));
      return;
    }
    if (!hop.ok) {
      this.settle(b, this.synth(fork, hop.status, hop.reason));
      return;
    }
    if (hop.rest) b.alternatives = hop.rest;
    const ctx = { current: true };
    try {
      this.stamp(req, fork.source, hop.ep, b.options, statefulBranch());
      b.ctx = this.layer.sendRequest(req, hop.ep, {
        onResponse: (resp) => {
          if (!ctx.current) return;
          if (resp.status === 503 && this.failover(b, ctx)) return;
          this.onResponse(b, resp);
        },
        onTimeout: () => {
          if (ctx.current && !this.failover(b, ctx)) this.onFailure(b, 408);
        },
        onTransportError: (err) => {
          if (!ctx.current) return;
          this.log?.debug({ err, to: hop.ep }, 'proxy: branch transport error');
          if (err instanceof FlowFailedError) this.onFailure(b, 430);
          else if (!this.failover(b, ctx)) this.onFailure(b, 503);
        },
      });
    } catch (err) {
      this.log?.error({ err }, 'proxy: cannot start a branch');
      this.settle(b, this.synth(fork, 500));
      return;
    }
    b.state = 'sent';
    if (req.method === 'INVITE') b.timerC = this.clock.setTimer(this.timerC, () => this.onTimerC(b));
  }

  private onResponse(b: Branch, resp: SipResponse): void {
    const fork = b.fork;
    const s = resp.status;
    const d = this.track(fork.txn, fork.source, fork.options.recordRoute === true, b.tags, resp);
    if (d?.early) {
      if (!b.early) b.early = [d];
      else if (!b.early.includes(d)) b.early.push(d);
    }
    const up = resp.copy();
    up.shiftVia();
    if (s < 200) {
      b.provisional = true;
      if (b.state !== 'sent') return;
      if (b.cancelWanted && !b.cancelSent) this.sendCancel(b);
      if (s === 100) return; // hop by hop
      if (b.timerC && !b.timerCFired) {
        // §16.7 step 2: every provisional but 100 restarts Timer C
        this.clock.clearTimer(b.timerC);
        b.timerC = this.clock.setTimer(this.timerC, () => this.onTimerC(b));
      }
      if (!fork.answered && !b.cancelWanted) fork.txn.respond(up);
      return;
    }
    if (s < 300) {
      // every 2xx goes up, even after another one (RFC 6026: the server txn is Accepted)
      this.up2xx(fork.txn, fork.timers ? fork.base : undefined, up);
      if (!fork.answered) {
        fork.answered = true;
        this.cancelPending(fork, b, COMPLETED_ELSEWHERE);
      }
      if (b.ctx instanceof ClientInviteTransaction) b.ctx.passAcceptedTo(this.acceptedRelay(fork, b));
      this.settle(b, undefined);
      return;
    }
    if (b.state !== 'sent') return;
    if (b.timerCFired) {
      this.settle(b, this.timerCResponse(fork));
      return;
    }
    if (s >= 600) {
      fork.stopped = true;
      if (!fork.answered) {
        fork.answered = true;
        fork.txn.respond(up);
        this.cancelPending(fork, b, `SIP;cause=${s};text=${quote(resp.reason)}`);
      }
      this.settle(b, up);
      return;
    }
    if (s < 400 && fork.options.followRedirects && !fork.cancelled && !fork.stopped && !fork.answered) {
      const created = this.newBranches(fork, this.redirectTargets(fork, up), b.options);
      if (created.length > 0) {
        this.settle(b, undefined);
        for (const nb of created) this.start(nb);
        return;
      }
    }
    this.settle(b, up);
  }

  /**
   * The dialog side of a response on a branch: a To tag not seen on it before may make a
   * dialog (Record-Route asked), a known one updates it. `tags`: the branch's tags so far.
   */
  private track(
    txn: ServerTxn,
    source: Source,
    recordRoute: boolean,
    tags: Set<string>,
    resp: SipResponse,
  ): Dialog | undefined {
    const tag = resp.toTag;
    const fresh = tag !== undefined && !tags.has(tag);
    // kept for Timer M: a slice of the response's text would keep all of it
    if (fresh) tags.add(detached(tag));
    return this.dialogs.response(txn.request, resp, source, fresh && recordRoute, txn.callOwner);
  }

  /**
   * What the INVITE transaction of a branch answered 2xx does with the 2xx still to come in
   * Accepted (retransmissions, other forks downstream): each goes up as the first did. It
   * holds only what that takes, not the fork: thousands of calls a second keep it 32 s.
   */
  private acceptedRelay(fork: Fork, b: Branch): (resp: SipResponse) => void {
    const { txn, source } = fork;
    const recordRoute = fork.options.recordRoute === true;
    const base = fork.timers ? fork.base : undefined;
    const tags = b.tags;
    return (resp) => {
      this.track(txn, source, recordRoute, tags, resp);
      const up = resp.copy();
      up.shiftVia();
      this.up2xx(txn, base, up);
    };
  }

  /** A 2xx (our Via popped) up through the server transaction; `base` when timers run (RFC 4028 §8.2). */
  private up2xx(txn: ServerTxn, base: SipRequest | undefined, up: SipResponse): void {
    if (base) proxyTimerResponse(txn.request, base, up);
    txn.respond(up);
  }

  /**
   * RFC 3263 §4.3: the branch's target failed before any provisional response: the request
   * again, as a new transaction, to the hop's next target. False when there is none left.
   */
  private failover(b: Branch, ctx: { current: boolean }): boolean {
    const next = b.alternatives?.shift();
    if (!next || b.state !== 'sent' || b.provisional || b.cancelWanted || b.fork.cancelled) return false;
    let req: SipRequest;
    try {
      ({ req } = targetRequest(b.fork.base, b.uri, b.options));
    } catch {
      return false;
    }
    ctx.current = false;
    if (b.timerC) this.clock.clearTimer(b.timerC);
    b.timerC = undefined;
    b.state = 'resolving';
    b.ctx = undefined;
    this.log?.debug({ target: formatUri(b.uri), next }, 'proxy: branch tries the next target');
    this.sendBranch(b, req, { ok: true, ep: next, rest: b.alternatives ?? [] });
    return true;
  }

  private onFailure(b: Branch, status: 408 | 430 | 503): void {
    if (b.state !== 'sent') return;
    const resp = b.timerCFired
      ? this.timerCResponse(b.fork)
      : this.synth(b.fork, status, status === 430 ? 'Flow Failed' : undefined);
    // an in-dialog request that timed out (a BYE whose answer never came) ends its dialog
    // as that answer would have (RFC 5057 §5.2); the To tag of the request is in the 408
    const req = b.fork.txn.request;
    if (req.toTag !== undefined) this.dialogs.response(req, resp, b.fork.source, false);
    this.settle(b, resp);
  }

  /** RFC 3261 §16.8. */
  private onTimerC(b: Branch): void {
    b.timerC = undefined;
    if (b.state !== 'sent') return;
    b.timerCFired = true;
    this.log?.debug({ target: formatUri(b.uri) }, 'proxy: Timer C fired');
    if (b.provisional && !b.cancelSent) {
      this.sendCancel(b);
      b.guard = this.clock.setTimer(64 * this.layer.timers.t1, () => {
        b.guard = undefined;
        if (b.state !== 'sent') return;
        b.ctx?.abort();
        this.settle(b, this.timerCResponse(b.fork));
      });
      return;
    }
    // no provisional (no CANCEL allowed) or CANCELled already and still no final: give up
    b.ctx?.abort();
    this.settle(b, this.timerCResponse(b.fork));
  }

  private cancelPending(fork: Fork, except: Branch | undefined, reason: string | undefined): void {
    for (const b of [...fork.active]) if (b !== except) this.cancelBranch(b, reason);
  }

  private cancelBranch(b: Branch, reason: string | undefined): void {
    if (b.cancelWanted) return;
    b.cancelWanted = true;
    b.cancelReason = reason;
    // a branch still resolving is dropped when it resolves; CANCEL is for INVITE only
    if (b.state !== 'sent' || b.fork.base.method !== 'INVITE') return;
    if (b.provisional) this.sendCancel(b);
  }

  private sendCancel(b: Branch): void {
    const ctx = b.ctx;
    if (b.cancelSent || !(ctx instanceof ClientInviteTransaction)) return;
    if (ctx.state !== 'calling' && ctx.state !== 'proceeding') return;
    b.cancelSent = true;
    try {
      this.layer.sendCancel(ctx, IGNORE, b.cancelReason);
    } catch (err) {
      this.log?.debug({ err }, 'proxy: CANCEL not sent');
    }
  }

  /** A branch has its outcome (a stored response, or none for a 2xx / dropped branch). */
  private settle(b: Branch, resp: SipResponse | undefined): void {
    if (b.state === 'done') return;
    b.state = 'done';
    if (b.timerC) this.clock.clearTimer(b.timerC);
    if (b.guard) this.clock.clearTimer(b.guard);
    b.timerC = undefined;
    b.guard = undefined;
    const fork = b.fork;
    fork.active.delete(b);
    this.live.delete(b);
    if (b.early) {
      // a losing branch's early dialogs: NkSIP removes them with the branch
      for (const d of b.early)
        if (d.early) this.dialogs.stop(d, resp ? stopReason(resp.status) : 'forced', fork.txn.request);
      b.early = undefined;
    }
    if (resp && resp.status < 600 && fork.options.onBranchFinal && isOpen(fork)) {
      this.ask(fork, b, resp, fork.options.onBranchFinal);
      return;
    }
    if (resp) fork.responses.push(resp);
    this.proceed(fork);
  }

  /** Next serial group, or the end, once no branch and no BRANCH_FINAL question is left. */
  private proceed(fork: Fork): void {
    if (fork.active.size > 0 || fork.asking > 0 || fork.ended) return;
    if (isOpen(fork) && this.launchNext(fork)) return;
    this.end(fork);
  }

  /** BRANCH_FINAL: the app sees the branch's final and may fork again or end the fork. */
  private ask(
    fork: Fork,
    b: Branch,
    resp: SipResponse,
    hook: NonNullable<ProxyOptions['onBranchFinal']>,
  ): void {
    fork.asking++;
    let answer: Promise<BranchAnswer>;
    try {
      answer = hook({ uri: formatUri(b.uri), response: resp, pending: fork.active.size });
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer
      .catch((err: unknown) => {
        this.log?.warn({ err }, 'proxy: branch decision failed; going on');
        return CONTINUE;
      })
      .then((a) => {
        fork.asking--;
        this.applyBranchAnswer(fork, resp, a);
        this.proceed(fork);
      })
      .catch((err: unknown) => this.log?.error({ err }, 'proxy: branch decision not applied'));
  }

  private applyBranchAnswer(fork: Fork, resp: SipResponse, a: BranchAnswer): void {
    if (a.kind === 'reply' && isOpen(fork)) {
      fork.answered = true;
      fork.stopped = true;
      const r = a.reply;
      fork.txn.respond(makeResponse(fork.txn.request, r.status, responseOptions(r)));
      this.cancelPending(
        fork,
        undefined,
        `SIP;cause=${r.status};text=${quote(r.reason ?? reasonPhrase(r.status))}`,
      );
      return;
    }
    fork.responses.push(resp);
    if (a.kind !== 'fork' || !isOpen(fork) || a.targets.length === 0) return;
    // the new branches keep the fork's hook: the app stays told of them too
    const options: ProxyOptions = { ...fork.options, ...a.options };
    if (fork.options.onBranchFinal) options.onBranchFinal = fork.options.onBranchFinal;
    const [first, ...rest] = this.uriGroups(a.targets, fork.base);
    fork.groups.splice(fork.next, 0, ...rest.map((uris) => ({ uris, options })));
    for (const nb of this.newBranches(fork, first ?? [], options)) this.start(nb);
  }

  /** Every branch is over: the best response goes up unless a final did already. */
  private end(fork: Fork): void {
    if (fork.ended) return;
    fork.ended = true;
    this.forks.delete(fork.txn);
    if (fork.answered) return;
    fork.answered = true;
    fork.txn.respond(bestResponse(fork.responses) ?? this.synth(fork, 480));
  }

  private redirectTargets(fork: Fork, resp: SipResponse): Uri[] {
    let contacts: Uri[];
    try {
      contacts = resp.contacts.map((c) => c.uri);
    } catch {
      return [];
    }
    const sips = fork.base.ruri.scheme === 'sips';
    return contacts.filter((u) => isSipUri(u) && (!sips || u.scheme === 'sips'));
  }

  private synth(fork: Fork, status: number, reason?: string): SipResponse {
    return makeResponse(fork.txn.request, status, reason !== undefined ? { reason } : {});
  }

  private timerCResponse(fork: Fork): SipResponse {
    return this.synth(fork, 408, 'Timer C Timeout');
  }

  /**
   * NkSIP's normalisation: targets parsed and grouped, empty groups dropped, the Request-URI
   * for an empty set. Invalid URIs are skipped; when none is left the fork has nothing to try
   * and answers 480.
   */
  private uriGroups(targets: UriSet, base: SipRequest): Uri[][] {
    const groups = targets
      .map((g) => g.map((s) => s.trim()).filter((s) => s !== ''))
      .filter((g) => g.length > 0);
    if (groups.length === 0) return [[base.ruri]];
    const out: Uri[][] = [];
    for (const g of groups) {
      const parsed: Uri[] = [];
      for (const s of g) {
        try {
          parsed.push(parseTarget(s));
        } catch {
          this.log?.debug({ target: s }, 'proxy: invalid target skipped');
        }
      }
      if (parsed.length > 0) out.push(parsed);
    }
    return out;
  }

  // ---- next hop and the proxy's own headers --------------------------------------------

  /**
   * RFC 3263 minimal: transport from `;transport=`, IP from maddr or host, port or 5060. A
   * flow (a Route of ours with a flow token) is the destination whatever the URI says.
   */
  private async hop(uri: Uri, flow?: Endpoint): Promise<Hop> {
    if (!isSipUri(uri)) return { ok: false, status: 416, reason: 'Unsupported URI Scheme' };
    // never a new connection for a flow: the UA's port listens for nothing (RFC 5626 §5.3)
    if (flow) return { ok: true, ep: { ...flow, flow: true } };
    const transport = uriTransport(uri);
    if (transport === undefined) {
      const t = getParam(uri.params, 'transport');
      return { ok: false, status: 503, reason: `Transport ${t ?? ''} Not Available` };
    }
    const maddr = getParam(uri.params, 'maddr');
    const host = bareHost(maddr || uri.host);
    if (this.locate && ipFamily(host) === 0) {
      const input: LocateInput = { secure: false, host };
      if (uri.port !== undefined) input.port = uri.port;
      if (getParam(uri.params, 'transport') != null) input.transport = transport;
      try {
        const [ep, ...rest] = await this.locate(input);
        if (ep) return { ok: true, ep, rest };
      } catch (err) {
        this.log?.debug({ err, host }, 'proxy: next hop not located');
      }
      return { ok: false, status: 503, reason: 'DNS Lookup Failed' };
    }
    let address: string;
    if (ipFamily(host) !== 0) {
      address = normalizeIp(host);
    } else {
      try {
        address = normalizeIp(stripBrackets(await this.resolveHost(host)));
      } catch (err) {
        this.log?.debug({ err, host }, 'proxy: next hop not resolved');
        return { ok: false, status: 503, reason: 'DNS Lookup Failed' };
      }
    }
    const port = uri.port ?? (transport === 'tls' || transport === 'wss' ? 5061 : 5060);
    const ep: Endpoint = { transport, address, port };
    // TLS and WSS check the certificate against the name, not the address
    if (ipFamily(host) === 0 && (transport === 'tls' || transport === 'wss')) ep.serverName = host;
    return { ok: true, ep };
  }

  /**
   * RFC 3261 §16.6 steps 4 and 8 once the next hop is known: Record-Route (two values when
   * the request changes transport or interface, RFC 5658, the outgoing one on top), Path for
   * REGISTER (RFC 3327), and our Via, whose sent-by the transport fills in.
   */
  private stamp(req: SipRequest, source: Source, ep: Endpoint, options: ProxyOptions, branch: string): void {
    const m = req.method;
    if (options.recordRoute && m !== 'REGISTER' && m !== 'ACK' && m !== 'CANCEL') {
      // a WebSocket client is reachable only over its connection: our Record-Route for its
      // side names that flow (RFC 7118 §5, RFC 5626 §5.3)
      let inbound = this.local.inboundUri(source);
      // a UA asking for outbound (RFC 5626 §5.3) is reached back over its flow as well
      if (needsFlowToken(source.transport) || outboundContact(req))
        inbound = withFlowUser(inbound, flowToken(source));
      let outbound = this.local.outboundUri(source, ep);
      if (needsFlowToken(ep.transport)) outbound = withFlowUser(outbound, flowToken(ep));
      // §16.6 step 4: a sips: Request-URI gets sips: Record-Route values
      if (req.ruri.scheme === 'sips') [inbound, outbound] = [asSips(inbound), asSips(outbound)];
      // a strict router's Record-Route has no `lr`: who routes through it must strict-route
      if (options.strict) [inbound, outbound] = [withoutLr(inbound), withoutLr(outbound)];
      insertTop(req, 'record-route', outbound === inbound ? [inbound] : [outbound, inbound]);
    }
    if (options.path && m === 'REGISTER') insertTop(req, 'path', [this.pathValue(req, source, ep)]);
    const host = hostText(this.local.hostFor(source.localAddress, ep.address));
    pushVia(req, ep.transport, host, source.localPort, branch);
  }

  /**
   * Our Path value for a REGISTER (RFC 3327). For an outbound registration (RFC 5626 §5.1:
   * `Supported: outbound` and a Contact with reg-id) it names the flow the REGISTER came on,
   * so requests the registrar sends back through us go over it, and carries `ob` when we are
   * the first hop (the only Via), telling the registrar the flow is kept (else it answers 439).
   */
  private pathValue(req: SipRequest, source: Source, ep: Endpoint): string {
    const uri = this.local.outboundUri(source, ep);
    if (!FLOW_TRANSPORTS.has(source.transport) || !supportsTag(req, 'outbound')) return uri;
    let regId = false;
    try {
      regId = req.contacts.length === 1 && req.contacts.some((c) => getParam(c.params, 'reg-id') != null);
    } catch {
      return uri;
    }
    if (!regId) return uri;
    const flow = withFlowUser(uri, flowToken(source));
    return req.headerValues('via').length === 1 ? flow.replace(/>$/, ';ob>') : flow;
  }

  // ---- stateless ----------------------------------------------------------------------------

  forwardStateless(req: SipRequest, source: Source, targets: UriSet, options: ProxyOptions): void {
    this.local.learn(source);
    if (req.method === 'ACK') {
      this.forwardAck(req, source, targets, options);
      return;
    }
    const answer = (r: Rejection) => this.replyStateless(req, source, r);
    let out: { req: SipRequest; hop: Uri };
    let first: Uri;
    try {
      const rejection = check(req, options);
      if (rejection) {
        answer(rejection);
        return;
      }
      const base = req.copy();
      const ours = this.oursFor(source);
      preprocess(base, ours, this.flowElsewhere(source));
      const strict = options.strict === true && strictRoute(base, ours);
      const target = strict ? base.ruri : this.uriGroups(targets, base)?.[0]?.[0];
      if (!target) {
        answer({ status: 480 });
        return;
      }
      first = target;
      out = targetRequest(base, strict ? undefined : first, options, strict);
    } catch (err) {
      this.log?.debug({ err }, 'proxy: cannot forward statelessly');
      answer({ status: 500, reason: 'Invalid Request' });
      return;
    }
    this.sendStateless(req, out, first, source, options, answer);
  }

  forwardAck(ack: SipRequest, source: Source, targets: UriSet, options: ProxyOptions): void {
    this.local.learn(source);
    let out: { req: SipRequest; hop: Uri };
    let first: Uri;
    try {
      if (ack.maxForwards === 0) return;
      if (ack.toTag !== undefined) this.dialogs.request(ack);
      const base = ack.copy();
      const ours = this.oursFor(source);
      preprocess(base, ours, this.flowElsewhere(source));
      const strict = options.strict === true && strictRoute(base, ours);
      const target = strict ? base.ruri : this.uriGroups(targets, base)?.[0]?.[0];
      if (!target) return;
      first = target;
      out = targetRequest(
        base,
        strict ? undefined : first,
        { ...options, recordRoute: false, path: false },
        strict,
      );
    } catch (err) {
      this.log?.debug({ err }, 'proxy: ACK not forwarded');
      return;
    }
    this.sendStateless(ack, out, first, source, options, () => {});
  }

  private sendStateless(
    orig: SipRequest,
    { req: out, hop: hopUri }: { req: SipRequest; hop: Uri },
    target: Uri,
    source: Source,
    options: ProxyOptions,
    answer: (r: Rejection) => void,
  ): void {
    let branch: string;
    let flowOf: Endpoint | undefined;
    try {
      branch = statelessBranch(orig, formatUri(target));
      const flow = takeFlow(out, this.isOurs);
      if (flow) {
        hopUri = flow.hop;
        flowOf = flow.flow;
      }
    } catch {
      answer({ status: 500, reason: 'Invalid Target' });
      return;
    }
    this.hop(hopUri, flowOf)
      .then((h) => {
        if (!h.ok) {
          answer({ status: h.status, reason: h.reason });
          return;
        }
        this.stamp(out, source, h.ep, options, branch);
        if (source.connectionId !== undefined) {
          // the way back to a stream peer: our Via carries its connection (see `stray`)
          const idx = out.headers.findIndex((x) => x.name === 'via');
          const via = out.headers[idx];
          if (via) out.headers[idx] = { name: 'via', value: `${via.value};nkc=${source.connectionId}` };
          out.drop('via');
        }
        return this.transport.sendRequest(out, h.ep);
      })
      .catch((err: unknown) => {
        // stateless, a dead flow can still be told (RFC 5626 §5.3); other failures are silent
        if (err instanceof FlowFailedError) answer({ status: 430, reason: 'Flow Failed' });
        this.log?.debug({ err, method: out.method }, 'proxy: stateless send failed');
      });
  }

  private replyStateless(req: SipRequest, source: Source, r: Rejection): void {
    if (req.method === 'ACK') return;
    let resp: SipResponse;
    try {
      resp = makeStatelessResponse(req, r.status, responseOpts(r));
    } catch {
      return;
    }
    this.transport.sendResponse(resp, source).catch((err: unknown) => {
      this.log?.debug({ err }, 'proxy: stateless answer not sent');
    });
  }

  /**
   * RFC 3261 §16.7 (no matching client transaction) and §16.11: a response whose top Via is
   * ours loses it and goes to the next Via as §18.2.2 says; anything else is dropped.
   */
  stray(resp: SipResponse, source: Source): void {
    let top: ReturnType<typeof firstTwo>;
    try {
      top = firstTwo(resp);
    } catch {
      return;
    }
    const [ours, next] = top;
    if (!ours || !next) {
      this.log?.debug({ status: resp.status }, 'proxy: stray response for us dropped');
      return;
    }
    const oursByBranch = isOurBranch(viaBranch(ours));
    const tp = ours.transport.toLowerCase();
    const oursByAddr = this.local.isLocal(
      ours.host,
      ours.port,
      KNOWN_TRANSPORTS.has(tp) ? (tp as TransportName) : 'udp',
    );
    if (!oursByBranch && !oursByAddr) {
      this.log?.debug({ status: resp.status, via: ours.host }, 'proxy: stray response not ours dropped');
      return;
    }
    const transport = next.transport.toLowerCase() as TransportName;
    if (!KNOWN_TRANSPORTS.has(transport)) {
      this.log?.debug({ transport }, 'proxy: stray response towards an unsupported transport');
      return;
    }
    const up = resp.copy();
    up.shiftVia();
    const received = getParam(next.params, 'received');
    const rport = getParam(next.params, 'rport');
    const dest: Source = {
      transport,
      address: normalizeIp(stripBrackets(received || next.host)),
      port: rport && /^\d{1,5}$/.test(rport) ? Number(rport) : (next.port ?? 5060),
      localAddress: source.localAddress,
      localPort: source.localPort,
    };
    const cid = getParam(ours.params, 'nkc');
    if (transport !== 'udp' && cid && /^\d{1,15}$/.test(cid)) dest.connectionId = Number(cid);
    this.transport.sendResponse(up, dest).catch((err: unknown) => {
      this.log?.debug({ err, status: resp.status }, 'proxy: stray response not relayed');
    });
  }
}

/** Still forking: no final went upstream and nothing stopped the fork. */
function isOpen(fork: Fork): boolean {
  return !fork.answered && !fork.cancelled && !fork.stopped && !fork.ended;
}

function firstTwo(resp: SipResponse) {
  const vias = resp.vias;
  return [vias[0], vias[1]] as const;
}

/** `<sip:h:p;transport=tls;lr>` → `<sips:h:p;lr>` (TLS is what sips: means). */
function asSips(uri: string): string {
  return uri.replace(/^<sip:/, '<sips:').replace(/;transport=tls(?=[;>])/i, '');
}

function withoutLr(uri: string): string {
  return uri.replace(/;lr(?=[;>])/i, '');
}

const KNOWN_TRANSPORTS: ReadonlySet<string> = new Set(['udp', 'tcp', 'tls', 'ws', 'wss']);

/**
 * The transport a SIP URI asks for (UDP by default, TLS for sips:, RFC 3261 §26.2.2);
 * undefined for one we cannot use.
 */
function uriTransport(u: SipUri): TransportName | undefined {
  const t = (getParam(u.params, 'transport') ?? (u.scheme === 'sips' ? 'tls' : 'udp')).toLowerCase();
  if (!KNOWN_TRANSPORTS.has(t)) return undefined;
  return u.scheme === 'sips' && t !== 'wss' ? 'tls' : (t as TransportName);
}

/**
 * RFC 3261 §16.3 and NkSIP's proxy checks on a request about to be proxied: Max-Forwards
 * (OPTIONS at 0 answered here), Proxy-Require (no extension needs a proxy's support here),
 * and Path for REGISTER (RFC 3327 §5.1: 421 when the UA does not support it).
 */
function check(req: SipRequest, options: ProxyOptions): Rejection | undefined {
  if (req.maxForwards === 0) {
    return req.method === 'OPTIONS' ? { status: 200, reason: 'Max Forwards' } : { status: 483 };
  }
  const proxyRequire = optionTags(req, 'proxy-require');
  if (proxyRequire.length > 0) {
    return { status: 420, headers: [['Unsupported', req.headerValues('proxy-require').join(', ')]] };
  }
  if (options.path && req.method === 'REGISTER' && !optionTags(req, 'supported').includes('path')) {
    return { status: 421, headers: [['Require', 'path']] };
  }
  return undefined;
}

function responseOpts(r: Rejection): { reason?: string; headers?: [string, string][] } {
  const o: { reason?: string; headers?: [string, string][] } = {};
  if (r.reason !== undefined) o.reason = r.reason;
  if (r.headers) o.headers = r.headers;
  return o;
}

function supportsTag(req: SipRequest, tag: string): boolean {
  try {
    return req.headerValues('supported').some((v) => v.toLowerCase() === tag);
  } catch {
    return false;
  }
}

/** A dialog-forming request from a UA using outbound: `Supported: outbound`, a Contact with `ob`. */
function outboundContact(req: SipRequest): boolean {
  if (!supportsTag(req, 'outbound')) return false;
  try {
    const c = req.contacts[0];
    return c !== undefined && isSipUri(c.uri) && getParam(c.uri.params, 'ob') !== undefined;
  } catch {
    return false;
  }
}
