package io.nksip;

import nksip.v1.Decisions;

/** The answer to the route callback (NkSIP's sip_route). */
public sealed interface RouteDecision permits RouteDecision.Process, RouteDecision.ProcessStateless,
    RouteDecision.ReplyWith, RouteDecision.ReplyStateless, RouteDecision.Proxy, RouteDecision.ProxyStateless,
    RouteDecision.StrictProxy, RawAnswer {

  /** Process the request here: its method callback comes next. */
  static RouteDecision process() { return new Process(); }
  /** Process without a transaction (not allowed for INVITE: 500). */
  static RouteDecision processStateless() { return new ProcessStateless(); }
  static RouteDecision reply(Reply r) { return new ReplyWith(r); }
  static RouteDecision replyStateless(Reply r) { return new ReplyStateless(r); }
  /** Proxy to the URI set (empty: the Request-URI). */
  static RouteDecision proxy(UriSet set, ProxyOptions o) { return new Proxy(set, o); }
  /** Forward statelessly to the first URI only. */
  static RouteDecision proxyStateless(UriSet set, ProxyOptions o) { return new ProxyStateless(set, o); }
  /** Test-only strict-router simulation. */
  static RouteDecision strictProxy(UriSet set, ProxyOptions o) { return new StrictProxy(set, o); }

  record Process() implements RouteDecision {}
  record ProcessStateless() implements RouteDecision {}
  record ReplyWith(Reply reply) implements RouteDecision {}
  record ReplyStateless(Reply reply) implements RouteDecision {}
  record Proxy(UriSet set, ProxyOptions options) implements RouteDecision {}
  record ProxyStateless(UriSet set, ProxyOptions options) implements RouteDecision {}
  record StrictProxy(UriSet set, ProxyOptions options) implements RouteDecision {}

  static Decisions.RouteDecision toProto(RouteDecision d) {
    var b = Decisions.RouteDecision.newBuilder();
    var process = Decisions.Process.getDefaultInstance();
    if (d instanceof Process) return b.setProcess(process).build();
    if (d instanceof ProcessStateless) return b.setProcessStateless(process).build();
    if (d instanceof ReplyWith r) return b.setReply(r.reply().toProto()).build();
    if (d instanceof ReplyStateless r) return b.setReplyStateless(r.reply().toProto()).build();
    if (d instanceof Proxy p) return b.setProxy(ProxyOptions.proxy(p.set(), p.options())).build();
    if (d instanceof ProxyStateless p) return b.setProxyStateless(ProxyOptions.proxy(p.set(), p.options())).build();
    if (d instanceof StrictProxy p) return b.setStrictProxy(ProxyOptions.proxy(p.set(), p.options())).build();
    throw new IllegalArgumentException("invalid route decision " + d);
  }
}
