// Dialog state as the server keeps it (NkSIP's nksip_dialog metadata), for `SipApp.dialog()`
// and `SipApp.dialogs()`.
import type { DialogInfo as PbDialogInfo } from './pb.js';

export interface DialogInfo {
  handle: string;
  callId: string;
  localTag: string;
  remoteTag: string;
  /** `uac`: the server sent the request that created it; `uas`: it answered one. */
  role: 'uac' | 'uas';
  /** Milliseconds since the epoch. */
  created: number;
  updated: number;
  /** Highest CSeq sent / last received; undefined when none yet. */
  localSeq: number | undefined;
  remoteSeq: number | undefined;
  /** From (local) and To (remote) as name-addr with tags. */
  localUri: string;
  remoteUri: string;
  /** Our Contact URI ('' when none yet) and the peer's. */
  localTarget: string;
  remoteTarget: string;
  /** Route header values of in-dialog requests, in order. */
  routeSet: string[];
  early: boolean;
  secure: boolean;
  /** init, proceeding_uac, ..., confirmed, bye; undefined without an INVITE usage. */
  inviteStatus: string | undefined;
  /** When a 2xx first answered an INVITE (ms since the epoch). */
  inviteAnswered: number | undefined;
  inviteLocalSdp: Buffer | undefined;
  inviteRemoteSdp: Buffer | undefined;
  /** `event;id=x` of each subscription usage. */
  subscriptions: string[];
}

const orUndefined = <T>(v: T, none: T): T | undefined => (v === none ? undefined : v);

export function toDialogInfo(d: PbDialogInfo): DialogInfo {
  return {
    handle: d.handle,
    callId: d.callId,
    localTag: d.localTag,
    remoteTag: d.remoteTag,
    role: d.role === 'uac' ? 'uac' : 'uas',
    created: d.created,
    updated: d.updated,
    localSeq: orUndefined(d.localSeq, 0),
    remoteSeq: orUndefined(d.remoteSeq, 0),
    localUri: d.localUri,
    remoteUri: d.remoteUri,
    localTarget: d.localTarget,
    remoteTarget: d.remoteTarget,
    routeSet: [...d.routeSet],
    early: d.early,
    secure: d.secure,
    inviteStatus: orUndefined(d.inviteStatus, ''),
    inviteAnswered: orUndefined(d.inviteAnswered, 0),
    inviteLocalSdp: d.inviteLocalSdp.length > 0 ? Buffer.from(d.inviteLocalSdp) : undefined,
    inviteRemoteSdp: d.inviteRemoteSdp.length > 0 ? Buffer.from(d.inviteRemoteSdp) : undefined,
    subscriptions: [...d.subscriptions],
  };
}
