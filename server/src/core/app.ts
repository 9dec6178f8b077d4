// The seam between the SIP core and the application logic: the built-in default app
// implements it in-process, the apps layer implements it for SipApps over gRPC.
import type { AuthResult } from '../auth/server.js';
import type { SipRequest } from '../sip/message.js';
import type { Source } from '../transport/types.js';
import type { CallScope } from './calls.js';
import type { RouteDecision } from './decision.js';
import type { Dialog, DialogUpdate } from './dialog/dialog.js';
import type { Reply } from './reply.js';
import type { SessionUpdate } from './session.js';
import type { TimerSettings } from './timers.js';

/** Sends a 101–199 response before the final one; false once a final was sent. */
export type Provisional = (r: Reply) => boolean;

/** What the core knows of a request beyond the message: the dialog it belongs to, if any. */
export interface RequestContext {
  /** The UAS dialog the request was matched to (after the dialog checks passed). */
  dialog?: Dialog;
}

/** Where a dialog update comes from: the dialog and the request that drove it (or created it). */
export interface DialogUpdateContext {
  dialog: Dialog;
  req: SipRequest;
  source: Source;
}

/**
 * What `authorize` is told (NkSIP's AuthList): empty on the first call; on the second, the
 * request's Digest credentials checked with `getUserPass` (stale ones left out: they get a
 * new challenge with stale=true), whether it comes from an ip:port already authorised in its
 * dialog, and whether its source matches a registration of the app's registrar.
 */
export interface AuthList {
  dialog: boolean;
  register: boolean;
  digests: AuthResult[];
}

/** NkSIP's sip_authorize answers; `reply` is the apps layer's for an invalid answer (500). */
export type AuthDecision =
  | { kind: 'ok' }
  | { kind: 'forbidden' }
  | { kind: 'authenticate'; realm?: string }
  | { kind: 'proxy_authenticate'; realm?: string }
  | { kind: 'reply'; reply: Reply };

export const AUTH_OK: AuthDecision = Object.freeze({ kind: 'ok' });

export interface AppHandler {
  /**
   * NkSIP's sip_authorize (processing step 3, before route), for every request but ACK and
   * CANCEL. Called first with an empty AuthList; when that is not ok, again with the list
   * computed. Absent: every request is authorised.
   */
  authorize?(req: SipRequest, source: Source, auth: AuthList): AuthDecision | Promise<AuthDecision>;
  /**
   * NkSIP's sip_get_user_pass for one credential: the password (or `HA1!<hex>`), true to
   * accept without checking, false for an unknown user. User and realm are text. Absent:
   * '' for `anonymous`, false for anyone else.
   */
  getUserPass?(
    user: string,
    realm: string,
    req: SipRequest,
    source: Source,
  ): string | boolean | Promise<string | boolean>;
  /** Whether the request's source is a registered contact of its From (the `register` token). */
  isRegistered?(req: SipRequest, source: Source): boolean | Promise<boolean>;
  /** NkSIP's sip_route. Called for every request, ACK and CANCEL excepted. */
  route(req: SipRequest, source: Source): RouteDecision | Promise<RouteDecision>;
  /**
   * The method callback (sip_invite, sip_options, ...) for a request processed here that
   * passed the checks: its final answer, now or later. A promise that never settles is
   * bounded by the transaction's lifetime (408). Before the final answer, `provisional`
   * sends 101–199 responses (ringing, session progress) on the request's transaction.
   * `ctx.dialog` is set for a request inside a dialog of ours.
   */
  method(
    req: SipRequest,
    source: Source,
    provisional?: Provisional,
    ctx?: RequestContext,
  ): Reply | Promise<Reply>;
  /** An ACK for a 2xx we sent (sip_ack): notification only; `ctx.dialog` is the dialog it confirmed. */
  ack?(ack: SipRequest, source: Source, ctx?: RequestContext): void;
  /** The INVITE was cancelled and has been answered 487 (sip_cancel). */
  cancelled?(invite: SipRequest, cancel: SipRequest): void;
  /** A dialog changed (sip_dialog_update): notification only. */
  dialogUpdate?(update: DialogUpdate, ctx: DialogUpdateContext): void;
  /** An offer/answer exchange completed or the session ended (sip_session_update): notification only. */
  sessionUpdate?(update: SessionUpdate, ctx: DialogUpdateContext): void;
  /** The app's session timer settings (NkSIP's timers plugin); RFC 4028's defaults when absent. */
  timers?(source: Source): TimerSettings | undefined;
  /** Whose calls the requests through this listener are, and their limit (NkSIP `sip_max_calls`). */
  callScope?(source: Source): CallScope | undefined;
}
