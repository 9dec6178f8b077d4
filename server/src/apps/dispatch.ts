// Dispatch of one SipApp's callbacks to its instances: the core's AppHandler seam on one side,
// the instances' streams on the other. Callbacks the app did not ask for get NkSIP's default
// here, with no round trip. Every callback sent has an id and a deadline; when the deadline
// passes or the instance goes away, it is sent to another instance if one is left, else the
// configured deadline reply or NkSIP's default applies, and the app is told. New requests are
// shared round robin; a Call-ID stays with the instance handling it while that one lives.
import type { Logger } from 'pino';
import { defaultGetUserPass } from '../auth/server.js';
import {
  type AppHandler,
  AUTH_OK,
  type AuthDecision,
  type AuthList,
  type DialogUpdateContext,
  type Provisional,
  type RequestContext,
} from '../core/app.js';
import type { CallScope } from '../core/calls.js';
import {
  type BranchAnswer,
  type BranchFinal,
  CONTINUE,
  PROCESS,
  type ProxyOptions,
  type RouteDecision,
} from '../core/decision.js';
import type { DialogUpdate } from '../core/dialog/dialog.js';
import { PendingPrack } from '../core/prack.js';
import type { Reply } from '../core/reply.js';
import type { SessionUpdate } from '../core/session.js';
import type { TimerSettings } from '../core/timers.js';
import { defaultReply, type UasProfile } from '../core/uas-checks.js';
import { AuthorizeDecision_Kind, type Reply as PbReply } from '../gen/nksip/v1/decisions.js';
import {
  type AuthInfo,
  type Callback,
  type CallbackAnswer,
  CallbackKind,
  type ConnectionLost,
  type ConnectResponse,
  DialogUpdate_Status,
  ErrorCode,
  type LateReply,
  type BranchInfo as PbBranchInfo,
  type DialogUpdate as PbDialogUpdate,
  type SessionUpdate as PbSessionUpdate,
  SessionUpdate_Kind,
} from '../gen/nksip/v1/service.js';
import { MemoryStore, REGISTRAR_TAGS, Registrar } from '../registrar/index.js';
import { newTag } from '../sip/ids.js';
import type { SipRequest } from '../sip/message.js';
import { detached } from '../sip/strings.js';
import type { Uri } from '../sip/uri.js';
import type { Clock, TimerHandle } from '../transaction/clock.js';
import type { Source } from '../transport/types.js';
import { ChurnMap } from '../util/churn-map.js';
import { type AppSettings, callbackName } from './app-config.js';
import {
  INVALID_SERVICE_REPLY,
  InvalidAnswer,
  NAMED_REPLIES,
  proxyOptionsFromPb,
  type ReplyContext,
  replyFromPb,
  responseToPb,
  uriSetFromPb,
} from './convert.js';
import { wireRequest } from './wire-request.js';

/** One connected instance of an app, as dispatch sees it: an id and a way to talk to it. */
export interface InstanceLink {
  readonly id: string;
  send(msg: ConnectResponse): void;
}

export interface DispatchOptions {
  settings: AppSettings;
  /** The server's Allow/Supported/Contact for a listener (NkSIP's defaults use them). */
  profile: (source: Source) => UasProfile;
  clock: Clock;
  logger?: Logger;
  /** How long a `noreply` request handle waits for its LateReply (ms). Default 900 s. */
  lateReplyTtlMs?: number;
  /** Call-IDs remembered for stickiness (oldest forgotten first). Default 100 000. */
  stickyMax?: number;
  /** The overload guard's bounds; `OVERLOAD_DEFAULTS` for those absent. */
  overload?: Partial<OverloadLimits>;
}

/**
 * When an app is sent no more callbacks: past its bound of callbacks in flight, new requests
 * get 503 at once instead of queueing behind callbacks whose deadlines would pass anyway.
 * The bound is what the app answers in `delayMs` at the best rate it answered over the last
 * half second, and at least `maxPendingPerInstance` per connected instance: an app that
 * keeps up at thousands of requests a second rides out a pause of its own or of the server
 * (a garbage collection, a core busy elsewhere) without a 503, one that stopped answering is
 * bounded by the count half a second later, and a slow decision holds a place without making
 * others wait for it.
 */
export interface OverloadLimits {
  maxPendingPerInstance: number;
  /** 0: the count alone. */
  delayMs: number;
}

export const OVERLOAD_DEFAULTS: OverloadLimits = { maxPendingPerInstance: 1000, delayMs: 250 };

/** The overload guard measures the answer rate over intervals of at least this (ms)... */
const RATE_INTERVAL_MS = 100;
/** ...and goes by the best of the last this many. */
const RATE_INTERVALS = 5;

type Purpose = 'route' | 'method' | 'notify' | 'authorize' | 'user_pass' | 'branch';

/** What a pending callback resolves with, by purpose. */
type Resolved =
  | RouteDecision
  | Reply
  | Promise<Reply>
  | AuthDecision
  | string
  | boolean
  | Promise<string | boolean>
  | BranchAnswer
  | undefined;

interface Pending {
  id: number;
  kind: CallbackKind;
  purpose: Purpose;
  req: SipRequest;
  source: Source;
  callId: string | undefined;
  instance: InstanceLink;
  timer: TimerHandle | undefined;
  /** Instances this callback was sent to (not sent there again). */
  tried: Set<string>;
  handle: string;
  cancel?: SipRequest;
  /** Method callbacks: sends a 1xx on the request's transaction. */
  provisional?: Provisional;
  /** The handle of the dialog the request belongs to ('' outside one). */
  dialog: string;
  /** dialog_update callbacks: what changed. */
  update?: PbDialogUpdate;
  /** authorize callbacks: the AuthList. */
  auth?: AuthInfo;
  /** get_user_pass callbacks: whose password. */
  userPass?: { user: string; realm: string };
  /** session_update callbacks: the exchange. */
  session?: PbSessionUpdate;
  /** branch_final callbacks: the branch. */
  branch?: PbBranchInfo;
  resolve: (v: Resolved) => void;
}

/** NkSIP's gruu and outbound plugins: the registrar issues GRUUs and keeps flows. */
function withRegistrarTags(supported: string[]): string[] {
  return [...supported, ...REGISTRAR_TAGS.filter((t) => !supported.includes(t))];
}

/** A registrar's 2xx says what else the app does (RFC 3261 §10.3 leaves it to the UAS). */
function withAllowSupported(r: Reply, profile: UasProfile): Reply {
  if (r.status < 200 || r.status >= 300) return r;
  return {
    ...r,
    headers: [...(r.headers ?? []), ['Allow', profile.allow], ['Supported', profile.supported.join(', ')]],
  };
}

/** What the overload guard answers: the app cannot take more now; try again shortly. */
const OVERLOADED: Reply = { status: 503, reason: 'Service Unavailable', headers: [['Retry-After', '1']] };

/** Whether a reply is a 1xx, by its code or its name. */
function isProvisional(r: PbReply): boolean {
  const code = r.code !== 0 ? r.code : (NAMED_REPLIES[r.named]?.code ?? 0);
  return code >= 100 && code < 200;
}

/** What a callback resolves to, by purpose: a route decision, a reply, a branch answer. */

interface Waiting {
  pending: Pending;
  timer: TimerHandle;
}

/** What a callback carries beyond its request. */
interface DispatchExtra {
  cancel?: SipRequest;
  provisional?: Provisional;
  dialog?: string;
  update?: PbDialogUpdate;
  auth?: AuthInfo;
  userPass?: { user: string; realm: string };
  session?: PbSessionUpdate;
  branch?: PbBranchInfo;
}

/** The AuthList as the contract's AuthInfo. */
export function authInfoToPb(a: AuthList): AuthInfo {
  return {
    digests: a.digests.map((d) => ({ realm: d.realm, user: d.user, ok: d.ok })),
    dialog: a.dialog,
    register: a.register,
  };
}

function authDecisionFromPb(kind: AuthorizeDecision_Kind, realm: string): AuthDecision {
  switch (kind) {
    case AuthorizeDecision_Kind.KIND_OK:
      return AUTH_OK;
    case AuthorizeDecision_Kind.KIND_FORBIDDEN:
      return { kind: 'forbidden' };
    case AuthorizeDecision_Kind.KIND_AUTHENTICATE:
      return realm === '' ? { kind: 'authenticate' } : { kind: 'authenticate', realm };
    case AuthorizeDecision_Kind.KIND_PROXY_AUTHENTICATE:
      return realm === '' ? { kind: 'proxy_authenticate' } : { kind: 'proxy_authenticate', realm };
    default:
      throw new InvalidAnswer(`authorize: unknown kind ${kind}`);
  }
}

/** A session update as the SessionUpdate message of the contract. */
export function sessionUpdateToPb(handle: string, u: SessionUpdate): PbSessionUpdate {
  const empty = Buffer.alloc(0);
  switch (u.type) {
    case 'start':
    case 'update':
      return {
        dialogHandle: handle,
        kind: u.type === 'start' ? SessionUpdate_Kind.KIND_START : SessionUpdate_Kind.KIND_UPDATE,
        localSdp: u.local,
        remoteSdp: u.remote,
      };
    case 'stop':
      return { dialogHandle: handle, kind: SessionUpdate_Kind.KIND_STOP, localSdp: empty, remoteSdp: empty };
  }
}

/** A dialog update as the DialogUpdate message of the contract. */
export function dialogUpdateToPb(handle: string, u: DialogUpdate): PbDialogUpdate {
  const pb: PbDialogUpdate = {
    dialogHandle: handle,
    status: DialogUpdate_Status.STATUS_UNSPECIFIED,
    inviteStatus: '',
    stopReason: '',
    sdp: Buffer.alloc(0),
    subscriptionHandle: '',
    retryAfter: 0,
  };
  switch (u.type) {
    case 'start':
      pb.status = DialogUpdate_Status.STATUS_START;
      break;
    case 'target_update':
      pb.status = DialogUpdate_Status.STATUS_TARGET_UPDATE;
      break;
    case 'stop':
      pb.status = DialogUpdate_Status.STATUS_STOP;
      break;
    case 'invite_timeout':
      pb.status = DialogUpdate_Status.STATUS_INVITE_TIMEOUT;
      break;
    case 'session':
      // sent as a SessionUpdate, never as a DialogUpdate
      break;
    case 'invite_refresh':
      pb.status = DialogUpdate_Status.STATUS_INVITE_REFRESH;
      pb.sdp = u.sdp;
      break;
    case 'invite_status':
      pb.status = DialogUpdate_Status.STATUS_INVITE_STATUS;
      if (typeof u.status === 'string') {
        pb.inviteStatus = u.status;
      } else {
        pb.inviteStatus = 'stop';
        pb.stopReason = String(u.status.stop);
      }
      break;
  }
  return pb;
}

const METHOD_KINDS: Record<string, CallbackKind> = {
  INVITE: CallbackKind.CALLBACK_KIND_INVITE,
  BYE: CallbackKind.CALLBACK_KIND_BYE,
  OPTIONS: CallbackKind.CALLBACK_KIND_OPTIONS,
  REGISTER: CallbackKind.CALLBACK_KIND_REGISTER,
  INFO: CallbackKind.CALLBACK_KIND_INFO,
  UPDATE: CallbackKind.CALLBACK_KIND_UPDATE,
  SUBSCRIBE: CallbackKind.CALLBACK_KIND_SUBSCRIBE,
  NOTIFY: CallbackKind.CALLBACK_KIND_NOTIFY,
  REFER: CallbackKind.CALLBACK_KIND_REFER,
  PUBLISH: CallbackKind.CALLBACK_KIND_PUBLISH,
  MESSAGE: CallbackKind.CALLBACK_KIND_MESSAGE,
  PRACK: CallbackKind.CALLBACK_KIND_PRACK,
};

/**
 * The callback a method request goes to: an in-dialog INVITE is `reinvite` when the app has
 * it, else `invite` (NkSIP's sip_reinvite default calls sip_invite); an in-dialog SUBSCRIBE
 * is `resubscribe`.
 */
export function methodCallback(
  req: SipRequest,
  callbacks: ReadonlySet<CallbackKind>,
): CallbackKind | undefined {
  let inDialog = false;
  try {
    inDialog = req.toTag !== undefined;
  } catch {
    // no usable To: treat as out of dialog
  }
  if (req.method === 'INVITE' && inDialog && callbacks.has(CallbackKind.CALLBACK_KIND_REINVITE)) {
    return CallbackKind.CALLBACK_KIND_REINVITE;
  }
  if (req.method === 'SUBSCRIBE' && inDialog) return CallbackKind.CALLBACK_KIND_RESUBSCRIBE;
  return METHOD_KINDS[req.method];
}

function callIdOf(req: SipRequest): string | undefined {
  try {
    return req.callId;
  } catch {
    return undefined;
  }
}

export class AppDispatcher implements AppHandler {
  readonly settings: AppSettings;
  private readonly scope: CallScope;
  private readonly profileOf: (source: Source) => UasProfile;
  private readonly clock: Clock;
  private readonly log: Logger | undefined;
  private readonly lateReplyTtl: number;
  private readonly stickyMax: number;
  private readonly overload: OverloadLimits;
  /** Answers counted since `rateSince`; answers per ms in the last intervals (a ring). */
  private answered = 0;
  private rateSince = 0;
  private readonly rates = new Float64Array(RATE_INTERVALS);
  private rateAt = 0;
  /** Requests answered 503 by the overload guard since the last log line about it. */
  private shed = 0;
  private shedLogged = 0;
  private readonly live: InstanceLink[] = [];
  private rr = 0;
  private nextId = 1;
  private readonly pending = new ChurnMap<number, Pending>();
  private readonly waiting = new ChurnMap<string, Waiting>();
  private readonly sticky = new Map<string, InstanceLink>();
  private closed = false;

  constructor(opts: DispatchOptions) {
    this.settings = opts.settings;
    this.scope = { owner: opts.settings.name, maxCalls: opts.settings.maxCalls };
    this.profileOf = opts.profile;
    this.clock = opts.clock;
    this.log = opts.logger;
    this.lateReplyTtl = opts.lateReplyTtlMs ?? 900_000;
    this.stickyMax = opts.stickyMax ?? 100_000;
    this.overload = { ...OVERLOAD_DEFAULTS, ...opts.overload };
    this.rateSince = opts.clock.now();
    const r = opts.settings.registrar;
    if (r) {
      this.store = new MemoryStore({ clock: opts.clock });
      this.store.startSweeper();
      this.registrar = new Registrar({ store: this.store, clock: opts.clock, ...r });
    }
  }

  /** The app's registrar plugin (NkSIP's nksip_registrar), when it enabled it. */
  readonly registrar: Registrar | undefined;
  private readonly store: MemoryStore | undefined;

  // ----- instances

  get instances(): number {
    return this.live.length;
  }

  addInstance(inst: InstanceLink): void {
    if (!this.live.includes(inst)) this.live.push(inst);
  }

  /** The instance is gone (stream broken or Stop): what it held goes elsewhere. */
  removeInstance(inst: InstanceLink): void {
    const i = this.live.indexOf(inst);
    if (i < 0) return;
    this.live.splice(i, 1);
    for (const p of [...this.pending.values()]) if (p.instance === inst) this.expire(p, false);
    for (const [handle, w] of [...this.waiting]) {
      if (w.pending.instance !== inst) continue;
      this.clock.clearTimer(w.timer);
      this.waiting.delete(handle);
      // the request still waits for its answer: ask another instance, else the default
      this.expire(w.pending, false);
    }
  }

  /** Shutdown: every pending callback and waiting request gets its default now. */
  close(): void {
    this.closed = true;
    this.store?.stopSweeper();
    for (const p of [...this.pending.values()]) {
      this.pending.delete(p.id);
      if (p.timer) this.clock.clearTimer(p.timer);
      this.fallback(p);
    }
    for (const w of [...this.waiting.values()]) {
      this.clock.clearTimer(w.timer);
      this.fallback(w.pending);
    }
    this.waiting.clear();
    this.sticky.clear();
  }

  pendingCount(): number {
    return this.pending.size + this.waiting.size;
  }

  // ----- AppHandler

  route(req: SipRequest, source: Source): RouteDecision | Promise<RouteDecision> {
    const kind = CallbackKind.CALLBACK_KIND_ROUTE;
    if (!this.wants(kind)) return PROCESS;
    return this.dispatch(kind, 'route', req, source) as Promise<RouteDecision>;
  }

  method(
    req: SipRequest,
    source: Source,
    provisional?: Provisional,
    ctx?: RequestContext,
  ): Reply | Promise<Reply> {
    const kind = methodCallback(req, this.settings.callbacks);
    if (kind === undefined || !this.wants(kind)) return this.defaultMethod(req, source);
    const extra: DispatchExtra = {};
    if (provisional) extra.provisional = provisional;
    if (ctx?.dialog) extra.dialog = ctx.dialog.handle;
    return this.dispatch(kind, 'method', req, source, extra) as Promise<Reply>;
  }

  ack(ack: SipRequest, source: Source, ctx?: RequestContext): void {
    const kind = CallbackKind.CALLBACK_KIND_ACK;
    const extra: DispatchExtra = ctx?.dialog ? { dialog: ctx.dialog.handle } : {};
    if (this.wants(kind)) void this.dispatch(kind, 'notify', ack, source, extra);
  }

  cancelled(invite: SipRequest, cancel: SipRequest): void {
    const kind = CallbackKind.CALLBACK_KIND_CANCEL;
    const source = this.sourceOfRequest(invite);
    if (this.wants(kind) && source) void this.dispatch(kind, 'notify', invite, source, { cancel });
  }

  dialogUpdate(update: DialogUpdate, ctx: DialogUpdateContext): void {
    const kind = CallbackKind.CALLBACK_KIND_DIALOG_UPDATE;
    if (!this.wants(kind)) return;
    const handle = ctx.dialog.handle;
    void this.dispatch(kind, 'notify', ctx.req, ctx.source, {
      dialog: handle,
      update: dialogUpdateToPb(handle, update),
    });
  }

  authorize(req: SipRequest, source: Source, auth: AuthList): AuthDecision | Promise<AuthDecision> {
    const kind = CallbackKind.CALLBACK_KIND_AUTHORIZE;
    if (!this.wants(kind)) return AUTH_OK;
    return this.dispatch(kind, 'authorize', req, source, {
      auth: authInfoToPb(auth),
    }) as Promise<AuthDecision>;
  }

  getUserPass(
    user: string,
    realm: string,
    req: SipRequest,
    source: Source,
  ): string | boolean | Promise<string | boolean> {
    const kind = CallbackKind.CALLBACK_KIND_GET_USER_PASS;
    if (!this.wants(kind)) return defaultGetUserPass(user, realm, req);
    return this.dispatch(kind, 'user_pass', req, source, { userPass: { user, realm } }) as Promise<
      string | boolean
    >;
  }

  /** The `register` token: the source is a registered contact of the From's AOR. */
  isRegistered(req: SipRequest, source: Source): boolean | Promise<boolean> {
    if (!this.registrar) return false;
    let aor: Uri;
    try {
      aor = req.from.uri;
    } catch {
      return false;
    }
    return this.registrar.isRegistered(aor, source).catch(() => false);
  }

  timers(): TimerSettings | undefined {
    return this.settings.timers;
  }

  /** The app's calls, and its own limit on them. */
  callScope(): CallScope {
    return this.scope;
  }

  sessionUpdate(update: SessionUpdate, ctx: DialogUpdateContext): void {
    const kind = CallbackKind.CALLBACK_KIND_SESSION_UPDATE;
    if (!this.wants(kind)) return;
    const handle = ctx.dialog.handle;
    void this.dispatch(kind, 'notify', ctx.req, ctx.source, {
      dialog: handle,
      session: sessionUpdateToPb(handle, update),
    });
  }

  /** BRANCH_FINAL for a fork the app asked to watch; `continue` when it cannot be asked. */
  private branchFinal(req: SipRequest, source: Source, b: BranchFinal): Promise<BranchAnswer> {
    const kind = CallbackKind.CALLBACK_KIND_BRANCH_FINAL;
    if (!this.wants(kind)) return Promise.resolve(CONTINUE);
    const branch: PbBranchInfo = { uri: b.uri, response: responseToPb(b.response), pending: b.pending };
    return this.dispatch(kind, 'branch', req, source, { branch }) as Promise<BranchAnswer>;
  }

  private sourceOfRequest(req: SipRequest): Source | undefined {
    for (const p of this.pending.values()) if (p.req === req) return p.source;
    for (const w of this.waiting.values()) if (w.pending.req === req) return w.pending.source;
    return this.lastSources.get(req);
  }

  /**
   * A flow that dialogs of this app used is gone: the instance handling each dialog's
   * Call-ID (else the first one) hears which of its dialogs used it.
   */
  connectionLost(
    lost: Omit<ConnectionLost, 'dialogs'>,
    dialogs: readonly { handle: string; callId: string }[],
  ): void {
    const byInstance = new Map<InstanceLink, string[]>();
    for (const d of dialogs) {
      const sticky = this.sticky.get(d.callId);
      const inst = sticky && this.live.includes(sticky) ? sticky : this.live[0];
      if (!inst) continue;
      const list = byInstance.get(inst) ?? [];
      list.push(d.handle);
      byInstance.set(inst, list);
    }
    for (const [inst, handles] of byInstance) {
      this.safeSend(inst, {
        msg: {
          $case: 'notification',
          value: { event: { $case: 'connectionLost', value: { ...lost, dialogs: handles } } },
        },
      });
    }
  }

  /** Sources of requests seen, so a later CANCEL notification can carry the INVITE's transport. */
  private readonly lastSources = new WeakMap<SipRequest, Source>();

  private wants(kind: CallbackKind): boolean {
    return !this.closed && this.settings.callbacks.has(kind) && this.live.length > 0;
  }

  // ----- defaults

  private profile(source: Source): UasProfile {
    const p = this.profileOf(source);
    const out: UasProfile = { ...p };
    if (this.settings.allow !== undefined) out.allow = this.settings.allow;
    // plugins add their methods to the default Allow (NkSIP: the registrar adds REGISTER)
    else if (this.registrar && !/\bREGISTER\b/i.test(out.allow)) out.allow = `${out.allow},REGISTER`;
    if (this.settings.supported !== undefined) out.supported = this.settings.supported;
    else if (this.registrar) out.supported = withRegistrarTags(out.supported);
    return out;
  }

  private defaultMethod(req: SipRequest, source: Source): Reply | Promise<Reply> {
    const profile = this.profile(source);
    if (req.method === 'REGISTER' && this.registrar) {
      return this.registrar.register(req, source).then((r) => withAllowSupported(r, profile));
    }
    return defaultReply(req, profile) ?? { status: 500, reason: 'No Answer' };
  }

  private replyContext(req: SipRequest, source: Source): ReplyContext {
    const p = this.profile(source);
    const ctx: ReplyContext = { req, allow: p.allow, supported: p.supported };
    if (p.contact !== undefined) ctx.contact = p.contact;
    return ctx;
  }

  // ----- sending callbacks

  private dispatch(
    kind: CallbackKind,
    purpose: Purpose,
    req: SipRequest,
    source: Source,
    extra: DispatchExtra = {},
  ): Promise<Resolved> {
    // only an INVITE is cancelled later; a WeakMap entry per request costs the GC
    if (req.method === 'INVITE') this.lastSources.set(req, source);
    if ((purpose === 'route' || purpose === 'method') && this.overloaded()) {
      if (purpose === 'method') return Promise.resolve(OVERLOADED);
      // Turned away from route, a non-INVITE is answered without a transaction: one kept for
      // Timer J per request turned away is memory and GC work just when the server has none
      // to spare, and a copy of the request is a new try anyway. An INVITE's 503 goes through
      // its transaction, which absorbs the ACK.
      return Promise.resolve({
        kind: req.method === 'INVITE' ? 'reply' : 'reply_stateless',
        reply: OVERLOADED,
      });
    }
    return new Promise((resolve) => {
      const callId = callIdOf(req);
      const inst = this.pick(callId, new Set());
      if (!inst) {
        resolve(
          this.defaultValue({
            purpose,
            req,
            source,
            ...(extra.userPass ? { userPass: extra.userPass } : {}),
          }),
        );
        return;
      }
      const p: Pending = {
        id: 0,
        kind,
        purpose,
        req,
        source,
        callId,
        instance: inst,
        timer: undefined,
        tried: new Set(),
        handle: purpose === 'method' ? `R_${newTag()}` : '',
        dialog: extra.dialog ?? '',
        resolve,
      };
      if (extra.cancel) p.cancel = extra.cancel;
      if (extra.provisional) p.provisional = extra.provisional;
      if (extra.update) p.update = extra.update;
      if (extra.auth) p.auth = extra.auth;
      if (extra.userPass) p.userPass = extra.userPass;
      if (extra.session) p.session = extra.session;
      if (extra.branch) p.branch = extra.branch;
      this.sendTo(p, inst);
    });
  }

  /**
   * Whether the app has as many callbacks in flight as its instances should hold; counts (and
   * logs at most once a second) each request turned away.
   */
  private overloaded(): boolean {
    const n = this.pending.size;
    if (n < this.overload.maxPendingPerInstance * Math.max(1, this.live.length)) return false;
    const now = this.clock.now();
    if (n < this.recentRate(now) * this.overload.delayMs) return false;
    this.shed++;
    if (now - this.shedLogged >= 1000) {
      this.log?.warn(
        { app: this.settings.name, pending: this.pending.size, shed: this.shed },
        'app overloaded: new requests answered 503',
      );
      this.shed = 0;
      this.shedLogged = now;
    }
    return true;
  }

  /** Counts an answer for the overload guard's answer rate. */
  private noteAnswer(): void {
    this.answered++;
    const now = this.clock.now();
    if (now - this.rateSince >= RATE_INTERVAL_MS) this.recentRate(now);
  }

  /**
   * The best answers per ms of the last intervals, the one just ended included: a pause in
   * the answers lowers it only once it outlasts them all.
   */
  private recentRate(now: number): number {
    const elapsed = now - this.rateSince;
    if (elapsed >= RATE_INTERVAL_MS) {
      // a span of several intervals without a roll (no answers came to roll it) counts as
      // that many intervals at its average rate
      const rate = this.answered / elapsed;
      const spans = Math.min(RATE_INTERVALS, Math.floor(elapsed / RATE_INTERVAL_MS));
      for (let i = 0; i < spans; i++) {
        this.rates[this.rateAt] = rate;
        this.rateAt = (this.rateAt + 1) % RATE_INTERVALS;
      }
      this.answered = 0;
      this.rateSince = now;
    }
    let best = 0;
    for (const r of this.rates) if (r > best) best = r;
    return best;
  }

  /** The sticky instance of a Call-ID while it lives, else the next in round robin. */
  private pick(callId: string | undefined, exclude: ReadonlySet<string>): InstanceLink | undefined {
    if (callId !== undefined) {
      const s = this.sticky.get(callId);
      if (s && this.live.includes(s) && !exclude.has(s.id)) return s;
    }
    // a first try excludes nobody: no copy of the list for it
    const candidates = exclude.size === 0 ? this.live : this.live.filter((i) => !exclude.has(i.id));
    if (candidates.length === 0) return undefined;
    const inst = candidates[this.rr++ % candidates.length] as InstanceLink;
    if (this.rr > 1e9) this.rr = 0;
    return inst;
  }

  private remember(callId: string | undefined, inst: InstanceLink): void {
    if (callId === undefined) return;
    this.sticky.delete(callId);
    this.sticky.set(detached(callId), inst);
    if (this.sticky.size <= this.stickyMax) return;
    // The oldest go a sixteenth at a time: a Map's deleted entries stay at its front until it
    // rehashes, and one oldest entry taken per new Call-ID walked over all of them each time
    // (tens of µs per callback once the limit was reached).
    const drop = this.sticky.size - this.stickyMax + (this.stickyMax >> 4);
    const oldest = this.sticky.keys();
    for (let i = 0; i < drop; i++) this.sticky.delete(oldest.next().value as string);
  }

  /** Call-IDs remembered for stickiness now (metrics, tests). */
  get stickyCount(): number {
    return this.sticky.size;
  }

  private deadlineOf(kind: CallbackKind): number {
    return this.settings.deadlinesMs.get(kind) ?? this.settings.defaultDeadlineMs;
  }

  private sendTo(p: Pending, inst: InstanceLink): void {
    p.id = this.nextId++;
    p.instance = inst;
    p.tried.add(inst.id);
    const deadline = this.deadlineOf(p.kind);
    p.timer = this.clock.setTimer(deadline, () => {
      p.timer = undefined;
      if (this.pending.get(p.id) === p) this.expire(p, true);
    });
    this.pending.set(p.id, p);
    this.remember(p.callId, inst);
    const cb: Callback = {
      id: p.id,
      kind: p.kind,
      request: wireRequest(p.req, p.source),
      requestHandle: p.handle,
      dialogHandle: p.dialog,
      deadlineMs: deadline,
      extra: p.cancel
        ? { $case: 'cancel', value: wireRequest(p.cancel) }
        : p.update
          ? { $case: 'dialogUpdate', value: p.update }
          : p.auth
            ? { $case: 'auth', value: p.auth }
            : p.userPass
              ? { $case: 'userPass', value: p.userPass }
              : p.session
                ? { $case: 'sessionUpdate', value: p.session }
                : p.branch
                  ? { $case: 'branch', value: p.branch }
                  : undefined,
    };
    try {
      inst.send({ msg: { $case: 'callback', value: cb } });
    } catch (err) {
      this.log?.warn({ err, app: this.settings.name, instance: inst.id }, 'could not send a callback');
    }
  }

  /**
   * A callback whose deadline passed (`byDeadline`) or whose instance left: to another
   * instance not yet tried, else the deadline reply or NkSIP's default; the instance that
   * had it, if still there, is told.
   */
  private expire(p: Pending, byDeadline: boolean): void {
    this.pending.delete(p.id);
    if (p.timer) this.clock.clearTimer(p.timer);
    p.timer = undefined;
    const old = p.instance;
    const oldId = p.id;
    const next = this.closed ? undefined : this.pick(undefined, p.tried);
    let handledBy: string;
    let code = 0;
    if (next) {
      handledBy = 'other_instance';
      this.sendTo(p, next);
    } else {
      ({ handledBy, code } = this.fallback(p));
    }
    this.log?.info(
      {
        app: this.settings.name,
        callback: callbackName(p.kind),
        id: oldId,
        instance: old.id,
        handledBy,
        code,
      },
      byDeadline ? 'callback deadline passed' : 'callback moved: its instance left',
    );
    if (this.live.includes(old)) {
      this.safeSend(old, {
        msg: {
          $case: 'notification',
          value: { event: { $case: 'callbackExpired', value: { id: oldId, kind: p.kind, handledBy, code } } },
        },
      });
    }
  }

  /** The configured deadline reply, else NkSIP's default; resolves the callback with it. */
  private fallback(p: Pending): { handledBy: string; code: number } {
    const configured = this.settings.deadlineReplies.get(p.kind);
    if (configured && (p.purpose === 'route' || p.purpose === 'method')) {
      const r = this.configuredReply(configured, p);
      if (r) {
        p.resolve(p.purpose === 'route' ? { kind: 'reply', reply: r } : r);
        return { handledBy: 'deadline_reply', code: r.status };
      }
    }
    const v = this.defaultValue(p);
    p.resolve(v);
    return {
      handledBy: 'default',
      code: typeof v === 'object' && v !== null && 'status' in v ? v.status : 0,
    };
  }

  private configuredReply(r: PbReply, p: Pending): Reply | undefined {
    try {
      return replyFromPb(r, this.replyContext(p.req, p.source));
    } catch (err) {
      this.log?.warn({ err, app: this.settings.name }, 'configured deadline reply unusable; default used');
      return undefined;
    }
  }

  private defaultValue(p: Pick<Pending, 'purpose' | 'req' | 'source' | 'userPass'>): Resolved {
    switch (p.purpose) {
      case 'route':
        return PROCESS;
      case 'method':
        return this.defaultMethod(p.req, p.source);
      case 'authorize':
        return AUTH_OK;
      case 'branch':
        return CONTINUE;
      case 'user_pass':
        return defaultGetUserPass(p.userPass?.user ?? '', p.userPass?.realm ?? '', p.req);
      default:
        return undefined;
    }
  }

  // ----- answers from instances

  private safeSend(inst: InstanceLink, msg: ConnectResponse): void {
    try {
      inst.send(msg);
    } catch (err) {
      this.log?.debug({ err, instance: inst.id }, 'could not write to an instance');
    }
  }

  private error(inst: InstanceLink, code: ErrorCode, message: string, ref = 0): void {
    this.safeSend(inst, { msg: { $case: 'error', value: { code, message, ref } } });
  }

  /** A CallbackAnswer from an instance. */
  answer(inst: InstanceLink, a: CallbackAnswer): void {
    const p = this.pending.get(a.id);
    if (!p || p.instance !== inst) {
      this.error(
        inst,
        ErrorCode.ERROR_CODE_UNKNOWN_CALLBACK,
        `no pending callback ${a.id} for this instance (unknown, expired or already answered)`,
        a.id,
      );
      return;
    }
    this.pending.delete(p.id);
    if (p.timer) this.clock.clearTimer(p.timer);
    p.timer = undefined;
    this.noteAnswer();
    try {
      this.apply(p, a);
    } catch (e) {
      if (!(e instanceof InvalidAnswer)) this.log?.error({ err: e }, 'answer handling failed');
      const what = e instanceof Error ? e.message : String(e);
      this.error(
        inst,
        ErrorCode.ERROR_CODE_INVALID_ANSWER,
        `invalid answer to ${callbackName(p.kind)} callback ${p.id}: ${what}`,
        p.id,
      );
      if (p.purpose === 'route' || p.purpose === 'authorize')
        p.resolve({ kind: 'reply', reply: INVALID_SERVICE_REPLY });
      else if (p.purpose === 'method') p.resolve(INVALID_SERVICE_REPLY);
      else if (p.purpose === 'user_pass') p.resolve(false);
      else if (p.purpose === 'branch') p.resolve(CONTINUE);
      else p.resolve(undefined);
    }
  }

  private apply(p: Pending, a: CallbackAnswer): void {
    const got = a.answer?.$case ?? 'nothing';
    if (p.purpose === 'notify') {
      if (a.answer?.$case !== 'ack') throw new InvalidAnswer(`expected ack, got ${got}`);
      p.resolve(undefined);
      return;
    }
    if (p.purpose === 'authorize') {
      if (a.answer?.$case !== 'authorize')
        throw new InvalidAnswer(`expected an AuthorizeDecision, got ${got}`);
      p.resolve(authDecisionFromPb(a.answer.value.kind, a.answer.value.realm));
      return;
    }
    if (p.purpose === 'user_pass') {
      if (a.answer?.$case !== 'userPass') throw new InvalidAnswer(`expected a UserPassDecision, got ${got}`);
      const r = a.answer.value.result;
      if (r === undefined) throw new InvalidAnswer('empty UserPassDecision');
      p.resolve(r.value);
      return;
    }
    if (p.purpose === 'branch') {
      if (a.answer?.$case !== 'branch')
        throw new InvalidAnswer(`expected a BranchDecision (branch), got ${got}`);
      p.resolve(this.branchDecision(p, a.answer.value.decision));
      return;
    }
    if (p.purpose === 'route') {
      if (a.answer?.$case !== 'route')
        throw new InvalidAnswer(`expected a RouteDecision (route), got ${got}`);
      p.resolve(this.routeDecision(p, a.answer.value.decision));
      return;
    }
    if (a.answer?.$case !== 'method')
      throw new InvalidAnswer(`expected a MethodDecision (method), got ${got}`);
    const d = a.answer.value.decision;
    if (d === undefined) throw new InvalidAnswer('empty MethodDecision');
    if (d.$case === 'noreply') {
      this.wait(p);
      return;
    }
    const reply = replyFromPb(d.value, this.replyContext(p.req, p.source));
    if (reply.status < 200) {
      // NkSIP: a provisional answer means "more to come": the final one is a LateReply
      this.sendProvisional(p, reply);
      this.wait(p);
      return;
    }
    p.resolve(this.finalReply(p, d.value));
  }

  /** Keeps a request for its LateReply, bounded by `lateReplyTtl`. */
  private wait(p: Pending): void {
    const timer = this.clock.setTimer(this.lateReplyTtl, () => {
      const w = this.waiting.get(p.handle);
      if (w?.pending !== p) return;
      this.waiting.delete(p.handle);
      p.resolve({ status: 408, reason: 'No Late Reply' });
    });
    this.waiting.set(p.handle, { pending: p, timer });
  }

  private sendProvisional(p: Pending, reply: Reply): void {
    if (reply.status <= 100 || !p.provisional) {
      throw new InvalidAnswer(`${reply.status} cannot be sent: 100 Trying is the server's own`);
    }
    try {
      p.provisional(reply);
    } catch (e) {
      if (!(e instanceof PendingPrack)) throw e;
      // NkSIP {error, pending_prack}: this 1xx is not sent, the request stays open
      this.error(
        p.instance,
        ErrorCode.ERROR_CODE_PENDING_PRACK,
        `pending_prack: ${reply.status} not sent, the previous reliable provisional response waits for its PRACK`,
        p.id,
      );
    }
  }

  private finalReply(p: Pending, r: PbReply): Reply {
    const reply = replyFromPb(r, this.replyContext(p.req, p.source));
    if (reply.status < 200) {
      throw new InvalidAnswer(`a provisional reply (${reply.status}) cannot be the final answer here`);
    }
    return reply;
  }

  private routeDecision(
    p: Pending,
    d: NonNullable<CallbackAnswer['answer'] & { $case: 'route' }>['value']['decision'],
  ): RouteDecision {
    if (d === undefined) throw new InvalidAnswer('empty RouteDecision');
    switch (d.$case) {
      case 'process':
        return PROCESS;
      case 'processStateless':
        if (p.req.method === 'INVITE') throw new InvalidAnswer('process_stateless is not allowed for INVITE');
        return { kind: 'process_stateless' };
      case 'reply':
      case 'replyStateless':
        return {
          kind: d.$case === 'reply' ? 'reply' : 'reply_stateless',
          reply: this.finalReply(p, d.value),
        };
      case 'proxy':
      case 'proxyStateless': {
        const options: ProxyOptions = proxyOptionsFromPb(d.value);
        // per-branch events exist only where there are branches: a stateful fork
        if (d.$case === 'proxy' && d.value.options?.branchEvents) {
          const { req, source } = p;
          options.onBranchFinal = (b) => this.branchFinal(req, source, b);
        }
        return {
          kind: d.$case === 'proxy' ? 'proxy' : 'proxy_stateless',
          targets: uriSetFromPb(d.value),
          options,
        };
      }
      case 'strictProxy':
        // NkSIP's test-only strict router: stateless, as NkSIP's is
        return {
          kind: 'proxy_stateless',
          targets: uriSetFromPb(d.value),
          options: { ...proxyOptionsFromPb(d.value), strict: true },
        };
    }
  }

  private branchDecision(
    p: Pending,
    d: NonNullable<CallbackAnswer['answer'] & { $case: 'branch' }>['value']['decision'],
  ): BranchAnswer {
    if (d === undefined) throw new InvalidAnswer('empty BranchDecision');
    switch (d.$case) {
      case 'continue':
        return CONTINUE;
      case 'fork':
        return { kind: 'fork', targets: uriSetFromPb(d.value), options: proxyOptionsFromPb(d.value) };
      case 'reply':
        return { kind: 'reply', reply: this.finalReply(p, d.value) };
    }
  }

  /** A LateReply for a request whose callback answered noreply. */
  lateReply(inst: InstanceLink, lr: LateReply): void {
    const w = this.waiting.get(lr.requestHandle);
    // a callback still pending (the app replies by handle before answering the callback, or
    // it moved here from an instance that left) may be answered by its request handle too
    const p = w?.pending ?? this.pendingByHandle(lr.requestHandle, inst);
    if (!p) {
      this.error(
        inst,
        ErrorCode.ERROR_CODE_UNKNOWN_REQUEST,
        `no request waits for a reply with handle ${JSON.stringify(lr.requestHandle)} (unknown or already answered)`,
      );
      return;
    }
    const invalid = (e: unknown) =>
      this.error(
        inst,
        ErrorCode.ERROR_CODE_INVALID_ANSWER,
        `invalid late reply for ${lr.requestHandle}: ${(e as Error).message}`,
        p.id,
      );
    if (lr.reply && isProvisional(lr.reply)) {
      // a 1xx before the final answer: send it; the request stays open
      try {
        this.sendProvisional(p, replyFromPb(lr.reply, this.replyContext(p.req, p.source)));
      } catch (e) {
        invalid(e);
      }
      return;
    }
    if (w) {
      this.waiting.delete(lr.requestHandle);
      this.clock.clearTimer(w.timer);
    } else {
      this.pending.delete(p.id);
      if (p.timer) this.clock.clearTimer(p.timer);
      p.timer = undefined;
    }
    try {
      if (!lr.reply) throw new InvalidAnswer('LateReply without a reply');
      p.resolve(this.finalReply(p, lr.reply));
    } catch (e) {
      invalid(e);
      p.resolve(INVALID_SERVICE_REPLY);
    }
  }

  private pendingByHandle(handle: string, inst: InstanceLink): Pending | undefined {
    if (handle === '') return undefined;
    for (const q of this.pending.values()) if (q.handle === handle && q.instance === inst) return q;
    return undefined;
  }
}
