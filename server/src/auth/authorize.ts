// The UAS authorisation step (NkSIP's processing step 3, after 100 Trying and CANCEL
// matching, before route): `authorize` with an empty AuthList first and, when that is not
// ok, again with the AuthList computed: each Digest credential checked against
// `getUserPass`, the `dialog` token (in-dialog request from an ip:port authorised in that
// dialog), the `register` token (source registered for the From). Its answer becomes the
// request's rejection (403, or a 401/407 challenge for the realm asked, the From domain by
// default), or nothing when the request may go on.
//
// A credential whose digest is right but whose nonce is stale (expired, issued to another
// source, from before a restart) is left out of the list, and a challenge for its realm says
// stale=true (RFC 7616 §3.3): the client answers it again without asking its user.
import type { AppHandler, AuthDecision, AuthList } from '../core/app.js';
import type { Dialog } from '../core/dialog/dialog.js';
import type { Reply } from '../core/reply.js';
import { type SipRequest, toText } from '../sip/message.js';
import type { Source } from '../transport/types.js';
import type { DialogAuth } from './dialog-auth.js';
import {
  type Authenticator,
  type AuthKind,
  type AuthResult,
  credentials,
  defaultGetUserPass,
  defaultRealm,
} from './server.js';

const EMPTY: AuthList = Object.freeze({ dialog: false, register: false, digests: [] }) as AuthList;

/** What the step decided: go on (undefined) or answer this. */
export type AuthOutcome = Reply | undefined;

export class UasAuthorizer {
  constructor(
    private readonly auth: Authenticator,
    private readonly dialogAuth: DialogAuth,
  ) {}

  /**
   * Runs the step for `req` (not ACK, not CANCEL). `dialog` is the dialog the request names
   * by its tags, if we have it. Synchronous when the app answers at once (no app authorize,
   * or ok to the empty list).
   */
  run(
    app: AppHandler,
    req: SipRequest,
    source: Source,
    dialog: Dialog | undefined,
  ): AuthOutcome | Promise<AuthOutcome> {
    const authorize = app.authorize;
    if (!authorize) return undefined;
    const first = authorize.call(app, req, source, EMPTY);
    if (first instanceof Promise)
      return first.then((d) =>
        d.kind === 'ok' ? this.passed(dialog, source) : this.second(app, req, source, dialog),
      );
    if (first.kind === 'ok') return this.passed(dialog, source);
    return this.second(app, req, source, dialog);
  }

  private passed(dialog: Dialog | undefined, source: Source): undefined {
    if (dialog) this.dialogAuth.add(dialog, source);
    return undefined;
  }

  private async second(
    app: AppHandler,
    req: SipRequest,
    source: Source,
    dialog: Dialog | undefined,
  ): Promise<AuthOutcome> {
    const { list, stale } = await this.authList(app, req, source, dialog);
    const d = await (app.authorize as NonNullable<AppHandler['authorize']>).call(app, req, source, list);
    return this.outcome(d, req, source, dialog, stale);
  }

  /** NkSIP's authorize_data: the tokens and the checked digests. */
  async authList(
    app: AppHandler,
    req: SipRequest,
    source: Source,
    dialog: Dialog | undefined,
  ): Promise<{ list: AuthList; stale: AuthResult[] }> {
    const getUserPass = app.getUserPass
      ? (user: string, realm: string) =>
          (app.getUserPass as NonNullable<AppHandler['getUserPass']>).call(app, user, realm, req, source)
      : (user: string, realm: string) => defaultGetUserPass(user, realm, req);
    const digests: AuthResult[] = [];
    const stale: AuthResult[] = [];
    for (const cred of credentials(req)) {
      const user = toText(cred.username);
      const realm = toText(cred.realm);
      let pass: string | boolean;
      try {
        pass = await getUserPass(user, realm);
      } catch {
        pass = false;
      }
      const r = this.auth.check(req, cred, pass, source);
      if (r.stale) stale.push(r);
      else digests.push(r);
    }
    let register = false;
    if (app.isRegistered) {
      try {
        register = await app.isRegistered(req, source);
      } catch {
        register = false;
      }
    }
    const inDialog = dialog !== undefined && this.dialogAuth.has(dialog, source);
    return { list: { dialog: inDialog, register, digests }, stale };
  }

  private outcome(
    d: AuthDecision,
    req: SipRequest,
    source: Source,
    dialog: Dialog | undefined,
    stale: AuthResult[],
  ): AuthOutcome {
    switch (d.kind) {
      case 'ok':
        return this.passed(dialog, source);
      case 'forbidden':
        return { status: 403 };
      case 'authenticate':
      case 'proxy_authenticate': {
        const kind: AuthKind = d.kind === 'authenticate' ? 401 : 407;
        const realm = d.realm !== undefined && d.realm !== '' ? d.realm : defaultRealm(req);
        const isStale = stale.some((s) => s.kind === kind && s.realm === realm);
        return this.auth.challenge(kind, realm, { source, stale: isStale });
      }
      case 'reply':
        return d.reply;
    }
  }
}
