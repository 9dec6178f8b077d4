// The callbacks an app implements, and how a Callback from the server becomes a call to one of
// them and its return value the CallbackAnswer.
import {
  AUTHORIZE_KIND,
  type AuthorizeAnswer,
  type BranchAnswer,
  isNoReply,
  isRaw,
  type MethodAnswer,
  type RawAnswer,
  type RouteDecision,
  toProtoProxy,
  toProtoRoute,
  type UserPassAnswer,
} from './decisions.js';
import { SipRequest, SipResponse } from './message.js';
import {
  type AuthInfo,
  AuthorizeDecision_Kind,
  type Callback,
  type CallbackAnswer,
  CallbackKind,
  type DialogUpdate,
  DialogUpdate_Status,
  type SessionUpdate,
  SessionUpdate_Kind,
} from './pb.js';
import { type Reply, toProtoReply } from './reply.js';

export type Awaitable<T> = T | PromiseLike<T>;

/** What every callback gets besides its arguments. */
export interface CallbackContext {
  /** The callback's id on the stream. */
  readonly id: number;
  readonly kind: CallbackName;
  /** Time the server gives the app to answer, ms. */
  readonly deadlineMs: number;
  /** Dialog the request belongs to, '' when none. */
  readonly dialogHandle: string;
  /** Handle of the request, for a late reply. */
  readonly requestHandle: string;
}

export type DialogStatus =
  | 'unspecified'
  | 'start'
  | 'targetUpdate'
  | 'stop'
  | 'inviteStatus'
  | 'inviteRefresh'
  | 'inviteTimeout'
  | 'subscriptionStatus';

/** A dialog changed (NkSIP's sip_dialog_update). */
export interface DialogUpdateEvent {
  readonly dialogHandle: string;
  readonly status: DialogStatus;
  /** inviteStatus: init, proceeding_uac, ..., confirmed, bye, stop; subscriptionStatus: init, pending, active, ... */
  readonly inviteStatus: string;
  /** Why it stopped: a SIP code, caller_bye, callee_bye, cancelled, timeout, ... */
  readonly stopReason: string;
  /** inviteRefresh: the SDP to refresh with. */
  readonly sdp: Buffer;
  readonly subscriptionHandle: string;
  readonly retryAfter: number;
}

/** A media session changed (NkSIP's sip_session_update). */
export interface SessionUpdateEvent {
  readonly dialogHandle: string;
  readonly kind: 'unspecified' | 'start' | 'update' | 'stop';
  readonly localSdp: Buffer;
  readonly remoteSdp: Buffer;
}

/** A proxy branch's final response (ProxyOptions.branchEvents). */
export interface BranchEvent {
  /** The branch's target URI. */
  readonly uri: string;
  readonly response: SipResponse;
  /** Branches still pending. */
  readonly pending: number;
}

type Method = (req: SipRequest, ctx: CallbackContext) => Awaitable<MethodAnswer | RawAnswer>;

/**
 * The callbacks of NkSIP. Implement the ones you need, as an object of functions or a class
 * instance; each may be sync or async. The server answers the others itself with NkSIP's
 * default and never sends them.
 */
export interface SipAppCallbacks {
  /** Decide what to do with a request (NkSIP's sip_route). Default: process. */
  route?(req: SipRequest, ctx: CallbackContext): Awaitable<RouteDecision | RawAnswer>;
  /** A new INVITE. Default 603. */
  invite?: Method;
  /** An in-dialog INVITE. Default: as invite. */
  reinvite?: Method;
  /** ACK of a 2xx we sent (notification). */
  ack?(req: SipRequest, ctx: CallbackContext): Awaitable<void>;
  /** Default 200. */
  bye?: Method;
  /** The INVITE was cancelled; the server answers 200 and 487 itself (notification). */
  cancel?(invite: SipRequest, cancel: SipRequest, ctx: CallbackContext): Awaitable<void>;
  /** Default 200 with Allow, Accept, Supported, Contact. */
  options?: Method;
  /** Default 405, or registrar processing with the registrar plugin. */
  register?: Method;
  /** Default 200 (in a dialog). */
  info?: Method;
  /** Default 603. */
  update?: Method;
  /** Default 603. */
  subscribe?: Method;
  /** Default 200. */
  resubscribe?: Method;
  /** Default 200. */
  notify?: Method;
  /** Default 603. */
  refer?: Method;
  /** Default 405. */
  publish?: Method;
  /** Default 603. */
  message?: Method;
  /** Default 200. */
  prack?: Method;
  /** Allow the request (NkSIP's sip_authorize). Default ok. */
  authorize?(auth: AuthInfo, req: SipRequest, ctx: CallbackContext): Awaitable<AuthorizeAnswer | RawAnswer>;
  /** The password of a user (NkSIP's sip_get_user_pass). Default: '' for anonymous, else unknown. */
  getUserPass?(
    user: string,
    realm: string,
    req: SipRequest,
    ctx: CallbackContext,
  ): Awaitable<UserPassAnswer | RawAnswer>;
  /** A dialog changed (notification). */
  dialogUpdate?(update: DialogUpdateEvent, ctx: CallbackContext): Awaitable<void>;
  /** A media session changed (notification). */
  sessionUpdate?(update: SessionUpdateEvent, ctx: CallbackContext): Awaitable<void>;
  /** A proxy branch ended (asked for with ProxyOptions.branchEvents). */
  branchFinal?(
    branch: BranchEvent,
    req: SipRequest,
    ctx: CallbackContext,
  ): Awaitable<BranchAnswer | RawAnswer>;
}

export type CallbackName = keyof SipAppCallbacks;

/** Each callback's kind on the wire. */
export const CALLBACK_KINDS: Readonly<Record<CallbackName, CallbackKind>> = {
  route: CallbackKind.CALLBACK_KIND_ROUTE,
  invite: CallbackKind.CALLBACK_KIND_INVITE,
  reinvite: CallbackKind.CALLBACK_KIND_REINVITE,
  ack: CallbackKind.CALLBACK_KIND_ACK,
  bye: CallbackKind.CALLBACK_KIND_BYE,
  cancel: CallbackKind.CALLBACK_KIND_CANCEL,
  options: CallbackKind.CALLBACK_KIND_OPTIONS,
  register: CallbackKind.CALLBACK_KIND_REGISTER,
  info: CallbackKind.CALLBACK_KIND_INFO,
  update: CallbackKind.CALLBACK_KIND_UPDATE,
  subscribe: CallbackKind.CALLBACK_KIND_SUBSCRIBE,
  resubscribe: CallbackKind.CALLBACK_KIND_RESUBSCRIBE,
  notify: CallbackKind.CALLBACK_KIND_NOTIFY,
  refer: CallbackKind.CALLBACK_KIND_REFER,
  publish: CallbackKind.CALLBACK_KIND_PUBLISH,
  message: CallbackKind.CALLBACK_KIND_MESSAGE,
  prack: CallbackKind.CALLBACK_KIND_PRACK,
  authorize: CallbackKind.CALLBACK_KIND_AUTHORIZE,
  getUserPass: CallbackKind.CALLBACK_KIND_GET_USER_PASS,
  dialogUpdate: CallbackKind.CALLBACK_KIND_DIALOG_UPDATE,
  sessionUpdate: CallbackKind.CALLBACK_KIND_SESSION_UPDATE,
  branchFinal: CallbackKind.CALLBACK_KIND_BRANCH_FINAL,
};

const NAME_OF_KIND = new Map<CallbackKind, CallbackName>(
  Object.entries(CALLBACK_KINDS).map(([name, kind]) => [kind, name as CallbackName]),
);

export const callbackName = (kind: CallbackKind): CallbackName | undefined => NAME_OF_KIND.get(kind);

/** The wire name of a callback (`get_user_pass`), as AppConfig's deadline maps want it. */
export const wireName = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const METHOD_CALLBACKS = new Set<CallbackName>([
  'invite',
  'reinvite',
  'bye',
  'options',
  'register',
  'info',
  'update',
  'subscribe',
  'resubscribe',
  'notify',
  'refer',
  'publish',
  'message',
  'prack',
]);

/** The callbacks an object implements (own or inherited functions), in wire order. */
export function implementedCallbacks(callbacks: object): CallbackName[] {
  const rec = callbacks as Record<string, unknown>;
  return (Object.keys(CALLBACK_KINDS) as CallbackName[]).filter((n) => typeof rec[n] === 'function');
}

const DIALOG_STATUS: Record<DialogUpdate_Status, DialogStatus> = {
  [DialogUpdate_Status.STATUS_UNSPECIFIED]: 'unspecified',
  [DialogUpdate_Status.STATUS_START]: 'start',
  [DialogUpdate_Status.STATUS_TARGET_UPDATE]: 'targetUpdate',
  [DialogUpdate_Status.STATUS_STOP]: 'stop',
  [DialogUpdate_Status.STATUS_INVITE_STATUS]: 'inviteStatus',
  [DialogUpdate_Status.STATUS_INVITE_REFRESH]: 'inviteRefresh',
  [DialogUpdate_Status.STATUS_INVITE_TIMEOUT]: 'inviteTimeout',
  [DialogUpdate_Status.STATUS_SUBSCRIPTION_STATUS]: 'subscriptionStatus',
};

const SESSION_KIND: Record<SessionUpdate_Kind, SessionUpdateEvent['kind']> = {
  [SessionUpdate_Kind.KIND_UNSPECIFIED]: 'unspecified',
  [SessionUpdate_Kind.KIND_START]: 'start',
  [SessionUpdate_Kind.KIND_UPDATE]: 'update',
  [SessionUpdate_Kind.KIND_STOP]: 'stop',
};

export function toDialogUpdateEvent(u: DialogUpdate): DialogUpdateEvent {
  return {
    dialogHandle: u.dialogHandle,
    status: DIALOG_STATUS[u.status] ?? 'unspecified',
    inviteStatus: u.inviteStatus,
    stopReason: u.stopReason,
    sdp: Buffer.from(u.sdp),
    subscriptionHandle: u.subscriptionHandle,
    retryAfter: u.retryAfter,
  };
}

export function toSessionUpdateEvent(u: SessionUpdate): SessionUpdateEvent {
  return {
    dialogHandle: u.dialogHandle,
    kind: SESSION_KIND[u.kind] ?? 'unspecified',
    localSdp: Buffer.from(u.localSdp),
    remoteSdp: Buffer.from(u.remoteSdp),
  };
}

type Answer = CallbackAnswer['answer'];

/** What the app sends when a callback throws: an answer that keeps the SIP side moving. */
export function answerOnFailure(name: CallbackName): Answer {
  const failure: Reply = { code: 500, reason: 'SipApp Callback Failed' };
  if (name === 'route')
    return { $case: 'route', value: { decision: { $case: 'reply', value: toProtoReply(failure) } } };
  if (METHOD_CALLBACKS.has(name)) {
    return { $case: 'method', value: { decision: { $case: 'reply', value: toProtoReply(failure) } } };
  }
  if (name === 'authorize')
    return { $case: 'authorize', value: { kind: AuthorizeDecision_Kind.KIND_FORBIDDEN, realm: '' } };
  if (name === 'getUserPass')
    return { $case: 'userPass', value: { result: { $case: 'accept', value: false } } };
  if (name === 'branchFinal')
    return { $case: 'branch', value: { decision: { $case: 'continue', value: {} } } };
  return { $case: 'ack', value: {} };
}

/**
 * Runs the callback `msg` names and returns the answer to send, or undefined when the app does
 * not implement it (the server's deadline then applies its default). Throws what the callback
 * throws, or a TypeError for a return value that is not a valid answer.
 */
export async function runCallback(
  callbacks: SipAppCallbacks,
  msg: Callback,
  lateReply: (handle: string, reply: Reply) => void,
): Promise<{ name: CallbackName; answer: Answer } | undefined> {
  const name = callbackName(msg.kind);
  if (name === undefined) return undefined;
  const cbs = callbacks as Required<SipAppCallbacks>;
  if (typeof cbs[name] !== 'function') return undefined;
  const ctx: CallbackContext = {
    id: msg.id,
    kind: name,
    deadlineMs: msg.deadlineMs,
    dialogHandle: msg.dialogHandle,
    requestHandle: msg.requestHandle,
  };
  const req = msg.request && new SipRequest(msg.request, msg.requestHandle, msg.dialogHandle, lateReply);
  const need = (): SipRequest => {
    if (!req) throw new TypeError(`${name} callback without a request`);
    return req;
  };
  const extra = msg.extra;
  const answer = async (): Promise<Answer> => {
    switch (name) {
      case 'route': {
        const d = await cbs.route(need(), ctx);
        return isRaw(d) ? d.answer : { $case: 'route', value: toProtoRoute(d) };
      }
      case 'ack':
        await cbs.ack(need(), ctx);
        return { $case: 'ack', value: {} };
      case 'cancel': {
        const cancel = extra?.$case === 'cancel' ? new SipRequest(extra.value) : need();
        await cbs.cancel(need(), cancel, ctx);
        return { $case: 'ack', value: {} };
      }
      case 'authorize': {
        const auth: AuthInfo =
          extra?.$case === 'auth' ? extra.value : { digests: [], dialog: false, register: false };
        const d = await cbs.authorize(auth, need(), ctx);
        if (isRaw(d)) return d.answer;
        const kind = AUTHORIZE_KIND[d.authorize];
        if (kind === undefined) throw new TypeError(`invalid authorize answer ${JSON.stringify(d)}`);
        return { $case: 'authorize', value: { kind, realm: 'realm' in d ? (d.realm ?? '') : '' } };
      }
      case 'getUserPass': {
        const up = extra?.$case === 'userPass' ? extra.value : { user: '', realm: '' };
        const d = await cbs.getUserPass(up.user, up.realm, need(), ctx);
        if (isRaw(d)) return d.answer;
        if (typeof d === 'string')
          return { $case: 'userPass', value: { result: { $case: 'password', value: d } } };
        if (typeof d === 'boolean')
          return { $case: 'userPass', value: { result: { $case: 'accept', value: d } } };
        throw new TypeError(`invalid getUserPass answer ${JSON.stringify(d)}`);
      }
      case 'dialogUpdate':
        if (extra?.$case !== 'dialogUpdate') throw new TypeError('dialogUpdate callback without its update');
        await cbs.dialogUpdate(toDialogUpdateEvent(extra.value), ctx);
        return { $case: 'ack', value: {} };
      case 'sessionUpdate':
        if (extra?.$case !== 'sessionUpdate')
          throw new TypeError('sessionUpdate callback without its update');
        await cbs.sessionUpdate(toSessionUpdateEvent(extra.value), ctx);
        return { $case: 'ack', value: {} };
      case 'branchFinal': {
        if (extra?.$case !== 'branch') throw new TypeError('branchFinal callback without its branch');
        const b = extra.value;
        const ev: BranchEvent = {
          uri: b.uri,
          pending: b.pending,
          response: new SipResponse(
            b.response ?? {
              code: 0,
              reason: '',
              callId: '',
              cseq: 0,
              cseqMethod: '',
              vias: [],
              contacts: [],
              headers: [],
              body: Buffer.alloc(0),
              contentType: '',
            },
          ),
        };
        const d = await cbs.branchFinal(ev, need(), ctx);
        if (isRaw(d)) return d.answer;
        switch (d.branch) {
          case 'continue':
            return { $case: 'branch', value: { decision: { $case: 'continue', value: {} } } };
          case 'fork':
            return {
              $case: 'branch',
              value: { decision: { $case: 'fork', value: toProtoProxy(d.uriSet, d.options) } },
            };
          case 'reply':
            return { $case: 'branch', value: { decision: { $case: 'reply', value: toProtoReply(d.reply) } } };
          default:
            throw new TypeError(`invalid branchFinal answer ${JSON.stringify(d)}`);
        }
      }
      default: {
        const d = await (cbs[name] as Method).call(callbacks, need(), ctx);
        if (isRaw(d)) return d.answer;
        if (typeof d !== 'object' || d === null) throw new TypeError(`invalid ${name} answer ${String(d)}`);
        if (isNoReply(d)) return { $case: 'method', value: { decision: { $case: 'noreply', value: {} } } };
        return { $case: 'method', value: { decision: { $case: 'reply', value: toProtoReply(d) } } };
      }
    }
  };
  return { name, answer: await answer() };
}
