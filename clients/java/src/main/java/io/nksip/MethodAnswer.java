package io.nksip;

/**
 * What a method callback (invite, options, bye, ...) answers: a {@link Reply}, or
 * {@link #noReply()} to answer later with {@link Request#reply} (provisionals first if you
 * like, then one final).
 */
public sealed interface MethodAnswer permits Reply, MethodAnswer.NoReply, RawAnswer {
  /** No answer now: reply later through the request's handle. */
  static MethodAnswer noReply() {
    return NoReply.INSTANCE;
  }

  /** See {@link MethodAnswer#noReply()}. */
  enum NoReply implements MethodAnswer {
    INSTANCE
  }
}
