package io.nksip;

import nksip.v1.Sip;
import nksip.v1.Uac.UacEvent;

/** A response to a request the app sent, with the handles the server told. */
public final class Response extends Message {
  private final Sip.Response proto;
  private final String requestHandle;
  private final String dialogHandle;
  private final String subscriptionHandle;
  private final int rseq;

  Response(Sip.Response r, UacEvent ev, String requestHandle) {
    super(r.getFrom(), r.getTo(), r.getCallId(), r.getCseq(), r.getCseqMethod(), r.getViasList(),
        r.getContactsList(), r.getHeadersList(), r.getBody().toByteArray(), r.getContentType(), r.getTransport());
    this.proto = r;
    this.requestHandle = requestHandle == null ? "" : requestHandle;
    this.dialogHandle = ev == null ? "" : ev.getDialogHandle();
    this.subscriptionHandle = ev == null ? "" : ev.getSubscriptionHandle();
    this.rseq = ev == null ? 0 : ev.getRseq();
  }

  public int code() { return proto.getCode(); }
  public String reason() { return proto.getReason(); }
  /** A 2xx. */
  public boolean isOk() { return code() >= 200 && code() < 300; }
  /** The request's handle (CANCEL an INVITE with it). */
  public String requestHandle() { return requestHandle; }
  /** The dialog created or used (INVITE 101–299, SUBSCRIBE/REFER 2xx); empty when none. */
  public String dialogHandle() { return dialogHandle; }
  public String subscriptionHandle() { return subscriptionHandle; }
  /** The RSeq of a reliable provisional (100rel), 0 otherwise. */
  public int rseq() { return rseq; }
  public Sip.Response proto() { return proto; }

  @Override
  public String toString() {
    return code() + " " + reason();
  }
}
