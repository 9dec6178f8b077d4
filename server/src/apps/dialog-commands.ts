// Dialog commands from an app (NkSIP's nksip_dialog get_meta / get_all / stop): the state the
// server keeps of a dialog, as the contract's DialogInfo, and a forced stop. Dialog state lives
// in the server (DESIGN.md), so any instance of an app may read a dialog another one started.
import type { Dialog } from '../core/dialog/dialog.js';
import type { DialogTable } from '../core/dialog/table.js';
import type { DialogCommand, DialogInfo, DialogResult } from '../gen/nksip/v1/service.js';
import { formatUri } from '../sip/uri.js';

/** The dialogs as apps may see them: the table, and a stop that tells the dialog's app. */
export interface DialogPort {
  readonly table: DialogTable;
  /**
   * The dialogs the server keeps as a record-routing proxy, when it has some: found by handle
   * and Call-ID as the others; their role is `uac` (the proxy reads them from the caller's side).
   */
  readonly proxyTable?: DialogTable;
  /** Stops a dialog now (reason `forced`), telling its app as any other stop. */
  stop(dialog: Dialog): void;
}

export function dialogInfo(d: Dialog): DialogInfo {
  const inv = d.invite;
  return {
    handle: d.handle,
    callId: d.callId,
    localTag: d.localTag,
    remoteTag: d.remoteTag,
    role: d.role,
    created: d.created,
    updated: d.updated,
    localSeq: d.localSeq ?? 0,
    remoteSeq: d.remoteSeq ?? 0,
    localUri: d.rawLocalUri,
    remoteUri: d.rawRemoteUri,
    localTarget: d.localTarget ? formatUri(d.localTarget) : '',
    remoteTarget: formatUri(d.remoteTarget),
    routeSet: d.rawRouteSet,
    early: d.early,
    secure: d.secure,
    inviteStatus: inv?.status ?? '',
    inviteAnswered: inv?.answered ?? 0,
    inviteLocalSdp: d.session.local ?? Buffer.alloc(0),
    inviteRemoteSdp: d.session.remote ?? Buffer.alloc(0),
    subscriptions: [...d.subscriptions.values()].map((s) => (s.id ? `${s.event};id=${s.id}` : s.event)),
  };
}

/** Runs one DialogCommand. */
export function runDialogCommand(port: DialogPort, cmd: DialogCommand): DialogResult {
  const table = port.table;
  const result: DialogResult = { id: cmd.id, dialogs: [], error: '' };
  const op = cmd.op;
  switch (op?.$case) {
    case 'get': {
      const d = table.handle(op.value);
      const found = d ?? port.proxyTable?.handle(op.value);
      if (found) result.dialogs.push(dialogInfo(found));
      else result.error = `unknown dialog ${JSON.stringify(op.value)}`;
      return result;
    }
    case 'list':
      result.dialogs = table.byCallId(op.value).map(dialogInfo);
      for (const d of port.proxyTable?.byCallId(op.value) ?? []) result.dialogs.push(dialogInfo(d));
      return result;
    case 'stop': {
      const d = table.handle(op.value) ?? port.proxyTable?.handle(op.value);
      if (!d) {
        result.error = `unknown dialog ${JSON.stringify(op.value)}`;
        return result;
      }
      port.stop(d);
      return result;
    }
    default:
      result.error = 'empty DialogCommand';
      return result;
  }
}
