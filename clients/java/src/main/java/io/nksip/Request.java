package io.nksip;

import java.util.List;
import nksip.v1.Sip;

/** A request the server received, as a callback gives it. */
public final class Request extends Message {
  private final Sip.Request proto;
  private final String method;
  private final Uri ruri;
  private final List<Address> routes;
  private final String handle;
  private final String dialogHandle;
  private final App app;

  Request(Sip.Request r, String handle, String dialogHandle, App app) {
    super(r.getFrom(), r.getTo(), r.getCallId(), r.getCseq(), r.getCseqMethod(), r.getViasList(),
        r.getContactsList(), r.getHeadersList(), r.getBody().toByteArray(), r.getContentType(), r.getTransport());
    this.proto = r;
    this.method = r.getMethod();
    this.ruri = Uri.of(r.getRuri());
    this.routes = Address.of(r.getRoutesList());
    this.handle = handle;
    this.dialogHandle = dialogHandle;
    this.app = app;
  }

  public String method() { return method; }
  public Uri ruri() { return ruri; }
  public List<Address> routes() { return routes; }
  /** Max-Forwards, -1 when absent. */
  public int maxForwards() { return proto.getMaxForwards(); }
  /** {@code Contact: *}. */
  public boolean contactStar() { return proto.getContactStar(); }
  /** The request's handle, for a late reply. */
  public String handle() { return handle; }
  /** The dialog it belongs to; empty when none. */
  public String dialogHandle() { return dialogHandle; }
  /** The message as received from the server. */
  public Sip.Request proto() { return proto; }

  /**
   * Replies later to a request whose callback answered {@link MethodAnswer#noReply()}:
   * provisionals, then one final. Throws {@link IllegalStateException} when the app is not
   * connected or the request has no handle.
   */
  public void reply(Reply reply) {
    if (app == null || handle.isEmpty()) throw new IllegalStateException("this request has no handle to reply to");
    app.reply(handle, reply);
  }

  @Override
  public String toString() {
    return method + " " + ruri.raw();
  }
}
