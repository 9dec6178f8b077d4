// The dialogs a stateful record-routing proxy sees (NkSIP keeps them too: reference §5, t10
// dialog). The proxy stands where the caller's UAC would and reads every message as the
// caller's side of the dialog: requests from the caller are `requestSent`, from the callee
// `requestReceived`, and responses to each `uacResponse` / `uasResponse`. The table is the
// proxy's own: the endpoints of the same call may be apps of this server, whose UAC and UAS
// dialogs carry the same ids. The app that proxied the creating request is told of every
// change (DIALOG_UPDATE, SESSION_UPDATE) through the AppHandler seam the UAS core uses.
import type { Logger } from 'pino';
import type { AppHandler } from '../core/app.js';
import type { CallCounter } from '../core/calls.js';
import { createsDialog, type Dialog, type DialogUpdate, type StopReason } from '../core/dialog/dialog.js';
import { DialogTable } from '../core/dialog/table.js';
import type { SipRequest, SipResponse } from '../sip/message.js';
import type { Clock, TimerHandle } from '../transaction/index.js';
import type { Source } from '../transport/types.js';

/** NkSIP's `sip_dialog_timeout` default: 1800 s. */
export const DEFAULT_PROXY_DIALOG_TIMEOUT_MS = 1_800_000;

export type ProxyDialogApp = Pick<AppHandler, 'dialogUpdate' | 'sessionUpdate'>;

/** Which way a message of a dialog travels, seen from the caller's side. */
type Way = 'caller' | 'callee';

export class ProxyDialogs {
  readonly table: DialogTable;
  private app: ProxyDialogApp | undefined;
  /** Each dialog's creating request and where it arrived: the app told is the one serving it. */
  private readonly origins = new WeakMap<Dialog, { req: SipRequest; source: Source }>();
  private sweepTimer: TimerHandle | undefined;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    private readonly log: Logger | undefined,
    calls?: CallCounter,
  ) {
    this.table = new DialogTable(calls);
  }

  setApp(app: ProxyDialogApp): void {
    this.app = app;
  }

  get size(): number {
    return this.table.size;
  }

  /** An in-dialog request about to be forwarded (ACK included): its dialog, updated. */
  request(req: SipRequest): Dialog | undefined {
    const found = this.find(req, req);
    if (!found) return undefined;
    const { dialog, way } = found;
    const now = this.clock.now();
    let updates: DialogUpdate[];
    if (req.method === 'ACK') {
      updates = way === 'caller' ? dialog.requestSent(req, now) : dialog.ackReceived(req, now).updates;
    } else {
      updates = way === 'caller' ? dialog.requestSent(req, now) : dialog.requestReceived(req, now);
    }
    this.changed(dialog, this.table.settle(dialog, updates).updates, req);
    return dialog;
  }

  /**
   * A response a branch received for `req` (the request as it reached us): applied to its
   * dialog, or creating one when `mayCreate` (the proxy record-routed a dialog-creating
   * request and the branch had not seen this To tag: a late 2xx retransmission after the
   * BYE must not bring the dialog back).
   */
  response(
    req: SipRequest,
    resp: SipResponse,
    source: Source,
    mayCreate: boolean,
    owner?: string,
  ): Dialog | undefined {
    if (resp.status <= 100) return undefined;
    const now = this.clock.now();
    const found = this.find(req, resp);
    if (found) {
      const { dialog, way } = found;
      const updates =
        way === 'caller' ? dialog.uacResponse(req, resp, now) : dialog.uasResponse(req, resp, now);
      this.changed(dialog, this.table.settle(dialog, updates).updates, req);
      return dialog;
    }
    if (!mayCreate || req.toTag !== undefined || resp.toTag === undefined) return undefined;
    if (!createsDialog(req.method, resp.status)) return undefined;
    let step: ReturnType<DialogTable['uacResponse']>;
    try {
      step = this.table.uacResponse(req, resp, { now, owner });
    } catch (err) {
      this.log?.debug({ err, callId: req.callId }, 'proxy: response left out of dialogs');
      return undefined;
    }
    const dialog = step.dialog;
    if (!dialog) return undefined;
    this.origins.set(dialog, { req, source });
    this.changed(dialog, step.updates, req);
    this.armSweep();
    return dialog;
  }

  /** Stops a dialog the proxy will see no more of (a losing early branch, an app's stop). */
  stop(dialog: Dialog, why: StopReason, req?: SipRequest): void {
    if (dialog.ended) return;
    const updates = dialog.stop(why);
    this.changed(dialog, this.table.settle(dialog, updates).updates, req);
  }

  close(): void {
    this.closed = true;
    if (this.sweepTimer !== undefined) this.clock.clearTimer(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  /** Dialogs idle for the dialog timeout stop (NkSIP): a BYE lost on the way leaves none behind. */
  sweep(): number {
    const oldest = this.clock.now() - this.timeoutMs;
    let n = 0;
    for (const d of this.table.all()) {
      if (d.updated > oldest) continue;
      n++;
      this.stop(d, 'timeout');
    }
    return n;
  }

  private armSweep(): void {
    if (this.sweepTimer !== undefined || this.closed || this.table.size === 0) return;
    const every = Math.max(1000, Math.min(60_000, Math.floor(this.timeoutMs / 10)));
    this.sweepTimer = this.clock.setTimer(every, () => {
      this.sweepTimer = undefined;
      this.sweep();
      this.armSweep();
    });
  }

  /** The dialog of a message and the way it goes: From/To tags as the caller sent them, or swapped. */
  private find(req: SipRequest, msg: SipRequest | SipResponse): { dialog: Dialog; way: Way } | undefined {
    const from = msg.fromTag;
    const to = msg.toTag;
    if (from === undefined || to === undefined || this.table.size === 0) return undefined;
    const caller = this.table.get(req.callId, from, to);
    if (caller) return { dialog: caller, way: 'caller' };
    const callee = this.table.get(req.callId, to, from);
    return callee ? { dialog: callee, way: 'callee' } : undefined;
  }

  private changed(dialog: Dialog, updates: DialogUpdate[], by: SipRequest | undefined): void {
    const app = this.app;
    const origin = this.origins.get(dialog);
    if (!app || !origin) return;
    const { source } = origin;
    const req = by ?? origin.req;
    for (const update of updates) {
      try {
        if (update.type === 'session') app.sessionUpdate?.(update.update, { dialog, req, source });
        else app.dialogUpdate?.(update, { dialog, req, source });
      } catch (err) {
        this.log?.error({ err, dialog: dialog.handle }, 'proxy: dialog update callback failed');
      }
    }
  }
}
