package io.nksip;

import nksip.v1.Service;

/** A dialog change (NkSIP's sip_dialog_update), of a dialog the app answered or its own requests made. */
public record DialogUpdate(String dialogHandle, Service.DialogUpdate.Status status, String inviteStatus,
    String stopReason, byte[] sdp, String subscriptionHandle, int retryAfter) {
  static DialogUpdate of(Service.DialogUpdate u) {
    return new DialogUpdate(u.getDialogHandle(), u.getStatus(), u.getInviteStatus(), u.getStopReason(),
        u.getSdp().toByteArray(), u.getSubscriptionHandle(), u.getRetryAfter());
  }

  /** start, targetUpdate, stop, inviteStatus, inviteRefresh, inviteTimeout, subscriptionStatus. */
  public String statusName() {
    return Names.lowerCamel(Names.stripPrefix(status.name(), "STATUS_"));
  }
}
