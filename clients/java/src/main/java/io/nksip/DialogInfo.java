package io.nksip;

import java.util.List;
import nksip.v1.Service;

/** A dialog as the server keeps it (NkSIP's dialog metadata). Times are ms since the epoch. */
public record DialogInfo(String handle, String callId, String localTag, String remoteTag, String role,
    long created, long updated, int localSeq, int remoteSeq, String localUri, String remoteUri,
    String localTarget, String remoteTarget, List<String> routeSet, boolean early, boolean secure,
    String inviteStatus, long inviteAnswered, byte[] inviteLocalSdp, byte[] inviteRemoteSdp,
    List<String> subscriptions) {
  static DialogInfo of(Service.DialogInfo d) {
    return new DialogInfo(d.getHandle(), d.getCallId(), d.getLocalTag(), d.getRemoteTag(), d.getRole(),
        d.getCreated(), d.getUpdated(), d.getLocalSeq(), d.getRemoteSeq(), d.getLocalUri(), d.getRemoteUri(),
        d.getLocalTarget(), d.getRemoteTarget(), List.copyOf(d.getRouteSetList()), d.getEarly(), d.getSecure(),
        d.getInviteStatus(), d.getInviteAnswered(), d.getInviteLocalSdp().toByteArray(),
        d.getInviteRemoteSdp().toByteArray(), List.copyOf(d.getSubscriptionsList()));
  }
}
