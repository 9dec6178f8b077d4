package io.nksip;

import java.util.ArrayList;
import java.util.List;
import nksip.v1.Decisions;

/** Options of a proxy decision (the contract's ProxyOptions). Mutable builder, fluent setters. */
public final class ProxyOptions {
  private boolean recordRoute;
  private boolean path;
  private boolean followRedirects;
  private boolean branchEvents;
  private final List<HeaderEdit> headers = new ArrayList<>();
  private final List<String> route = new ArrayList<>();

  public static ProxyOptions create() {
    return new ProxyOptions();
  }

  /** Insert Record-Route so in-dialog requests come through this server. */
  public ProxyOptions recordRoute(boolean v) { recordRoute = v; return this; }
  /** Add Path to a REGISTER (RFC 3327). */
  public ProxyOptions path(boolean v) { path = v; return this; }
  /** Launch the Contacts of a 3xx within the current fork instead of relaying it. */
  public ProxyOptions followRedirects(boolean v) { followRedirects = v; return this; }
  /** Tell the app each branch's final response (SipApp.branchFinal). */
  public ProxyOptions branchEvents(boolean v) { branchEvents = v; return this; }
  /** Header edits applied to the forwarded request. */
  public ProxyOptions headers(List<HeaderEdit> edits) { headers.addAll(edits); return this; }
  public ProxyOptions header(HeaderEdit edit) { headers.add(edit); return this; }
  /** Route URIs inserted before the request's own Route headers. */
  public ProxyOptions route(List<String> uris) { route.addAll(uris); return this; }

  Decisions.ProxyOptions toProto() {
    return Decisions.ProxyOptions.newBuilder()
        .setRecordRoute(recordRoute)
        .setPath(path)
        .setFollowRedirects(followRedirects)
        .setBranchEvents(branchEvents)
        .addAllHeaders(HeaderEdit.toProto(headers))
        .addAllRoute(route)
        .build();
  }

  static Decisions.Proxy proxy(UriSet set, ProxyOptions o) {
    return Decisions.Proxy.newBuilder()
        .addAllUriSet((set == null ? UriSet.EMPTY : set).toProto())
        .setOptions((o == null ? new ProxyOptions() : o).toProto())
        .build();
  }
}
