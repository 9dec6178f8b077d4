// The dialogs of a server, found by id (Call-ID, local tag, remote tag) or by handle.
// A UAC request that forks has several early dialogs, one per remote tag: `forRequest` lists
// them. `uacResponse`/`uasResponse` find or create the dialog a response belongs to, apply
// it and drop the dialog when it stops, so the counts go back to zero with the calls.
// NkSIP's `dialog_timeout` (a dialog not refreshed in time gets a BYE) stays with the
// caller, which owns the timers: `updated` on each dialog says when it last saw activity.
import type { SipRequest, SipResponse } from '../../sip/message.js';
import { ChurnMap } from '../../util/churn-map.js';
import type { CallCounter } from '../calls.js';
import { createsDialog, Dialog, type DialogContext, type DialogUpdate, dialogId } from './dialog.js';

export interface DialogCounts {
  total: number;
  early: number;
  confirmed: number;
}

export interface DialogStep {
  /** Undefined when the response neither belongs to a dialog nor creates one. */
  dialog: Dialog | undefined;
  updates: DialogUpdate[];
  /** The dialog was created by this response. */
  created: boolean;
}

export class DialogTable {
  private readonly byId = new ChurnMap<string, Dialog>();
  private readonly byHandle = new ChurnMap<string, Dialog>();
  /** The dialogs of each Call-ID (a fork's branches share one): lookups by call stay O(call). */
  private readonly byCall = new ChurnMap<string, Dialog[]>();
  private readonly removedListeners: ((d: Dialog) => void)[] = [];

  /** `calls`: where each dialog holds its call live while it is in the table. */
  constructor(private readonly calls?: CallCounter) {}

  /** Called with each dialog that leaves the table (what is kept per dialog elsewhere goes too). */
  onRemoved(fn: (d: Dialog) => void): void {
    this.removedListeners.push(fn);
  }

  add(d: Dialog): void {
    if (this.byId.has(d.id)) throw new Error(`dialog ${d.handle} already in the table`);
    this.byId.set(d.id, d);
    this.byHandle.set(d.handle, d);
    const call = this.byCall.get(d.callId);
    if (call) call.push(d);
    else this.byCall.set(d.callId, [d]);
    this.calls?.hold(d.owner, d.callId);
  }

  remove(d: Dialog): boolean {
    if (this.byId.get(d.id) !== d) return false;
    this.byId.delete(d.id);
    this.byHandle.delete(d.handle);
    const call = this.byCall.get(d.callId) ?? [];
    if (call.length <= 1) this.byCall.delete(d.callId);
    else call.splice(call.indexOf(d), 1);
    this.calls?.release(d.owner, d.callId);
    for (const fn of this.removedListeners) fn(d);
    return true;
  }

  get(callId: string, localTag: string, remoteTag: string): Dialog | undefined {
    return this.byId.get(dialogId(callId, localTag, remoteTag));
  }

  handle(h: string): Dialog | undefined {
    return this.byHandle.get(h);
  }

  /** The dialog of a message we sent or of a response to it: local = From tag, remote = To tag. */
  findUac(msg: SipRequest | SipResponse): Dialog | undefined {
    const local = msg.fromTag;
    const remote = msg.toTag;
    if (local === undefined || remote === undefined) return undefined;
    return this.get(msg.callId, local, remote);
  }

  /** The dialog of a request we received: local = To tag, remote = From tag. */
  findUas(req: SipRequest): Dialog | undefined {
    const local = req.toTag;
    const remote = req.fromTag;
    if (local === undefined || remote === undefined) return undefined;
    return this.get(req.callId, local, remote);
  }

  /** Every dialog of one of our requests (same Call-ID and local tag): the branches of a fork. */
  forRequest(callId: string, localTag: string): Dialog[] {
    return this.byCallId(callId).filter((d) => d.localTag === localTag);
  }

  /** The other early dialogs of the same request as `d` (forked branches still ringing). */
  earlySiblings(d: Dialog): Dialog[] {
    return this.forRequest(d.callId, d.localTag).filter((o) => o !== d && o.early);
  }

  /** NkSIP `nksip_dialog:get_all/2`: the dialogs of a Call-ID. */
  byCallId(callId: string): Dialog[] {
    return [...(this.byCall.get(callId) ?? [])];
  }

  all(): Dialog[] {
    return [...this.byId.values()];
  }

  get size(): number {
    return this.byId.size;
  }

  counts(): DialogCounts {
    let early = 0;
    for (const d of this.byId.values()) if (d.early) early++;
    return { total: this.byId.size, early, confirmed: this.byId.size - early };
  }

  /**
   * A response to a request we sent: applied to its dialog, or creating one (101–299 with a To
   * tag to an INVITE, 2xx to SUBSCRIBE/REFER/NOTIFY). A stopped dialog leaves the table.
   */
  uacResponse(req: SipRequest, resp: SipResponse, ctx: DialogContext): DialogStep {
    const existing = this.findUac(resp);
    if (existing) return this.settle(existing, existing.uacResponse(req, resp, ctx.now), false);
    if (resp.toTag === undefined || !createsDialog(req.method, resp.status)) {
      return { dialog: undefined, updates: [], created: false };
    }
    const { dialog, updates } = Dialog.uac(req, resp, ctx);
    this.add(dialog);
    return this.settle(dialog, updates, true);
  }

  /** A response we send to `req`: applied to its dialog, or creating one as `uacResponse`. */
  uasResponse(req: SipRequest, resp: SipResponse, ctx: DialogContext): DialogStep {
    // the common case on the hot path (OPTIONS, REGISTER, MESSAGE... out of a dialog): no
    // dialog to find or make; an INVITE's final may still end the early dialog a 1xx made
    if (req.toTag === undefined && req.method !== 'INVITE' && !createsDialog(req.method, resp.status)) {
      return { dialog: undefined, updates: [], created: false };
    }
    const local = resp.toTag;
    const remote = req.fromTag;
    const existing =
      local !== undefined && remote !== undefined ? this.get(req.callId, local, remote) : undefined;
    if (existing) return this.settle(existing, existing.uasResponse(req, resp, ctx.now), false);
    if (local === undefined || remote === undefined || !createsDialog(req.method, resp.status)) {
      return { dialog: undefined, updates: [], created: false };
    }
    const { dialog, updates } = Dialog.uas(req, resp, ctx);
    this.add(dialog);
    return this.settle(dialog, updates, true);
  }

  /** Removes `d` when `updates` (from any of its methods) stopped it; returns the updates. */
  settle(d: Dialog, updates: DialogUpdate[], created = false): DialogStep {
    if (d.ended) this.remove(d);
    return { dialog: d, updates, created };
  }
}
