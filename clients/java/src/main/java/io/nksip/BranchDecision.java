package io.nksip;

import nksip.v1.Service;

/** The answer to branch_final: go on, fork again within this fork, or reply upstream. */
public sealed interface BranchDecision permits BranchDecision.Continue, BranchDecision.Fork,
    BranchDecision.ReplyWith, RawAnswer {
  /** Go on as NkSIP does (best-response selection). */
  static BranchDecision continueFork() { return new Continue(); }
  /** Launch these targets now, within this fork. */
  static BranchDecision fork(UriSet set, ProxyOptions o) { return new Fork(set, o); }
  /** Stop forking and send this reply upstream. */
  static BranchDecision reply(Reply r) { return new ReplyWith(r); }

  record Continue() implements BranchDecision {}
  record Fork(UriSet set, ProxyOptions options) implements BranchDecision {}
  record ReplyWith(Reply reply) implements BranchDecision {}

  static Service.BranchDecision toProto(BranchDecision d) {
    var b = Service.BranchDecision.newBuilder();
    if (d instanceof Continue) return b.setContinue(nksip.v1.Decisions.Ack.getDefaultInstance()).build();
    if (d instanceof Fork f) return b.setFork(ProxyOptions.proxy(f.set(), f.options())).build();
    if (d instanceof ReplyWith r) return b.setReply(r.reply().toProto()).build();
    throw new IllegalArgumentException("invalid branch decision " + d);
  }
}
