package io.nksip;

import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import nksip.v1.Uac.UacErrorKind;
import nksip.v1.Uac.UacEvent;

/**
 * A request in flight: {@link #result()} completes with the final response (or a
 * {@link UacException}), {@link #provisionals()} lists the provisional ones so far,
 * {@link #requestHandle()} completes once the server told the handle (to CANCEL an INVITE).
 * Thread-safe.
 */
public final class Call {
  private final long id;
  private final String method;
  private final CompletableFuture<Response> result = new CompletableFuture<>();
  private final CompletableFuture<String> handle = new CompletableFuture<>();
  private final List<Response> provisionals = new CopyOnWriteArrayList<>();
  private final Consumer<Response> onProvisional;
  // completes the futures: off the receiving thread, so stages chained on them may block
  private final Executor completer;
  private volatile String handleText = "";
  private volatile boolean done;

  Call(long id, String method, Consumer<Response> onProvisional, Executor completer) {
    this.id = id;
    this.method = method;
    this.onProvisional = onProvisional;
    this.completer = completer;
  }

  Call(long id, String method, Consumer<Response> onProvisional) {
    this(id, method, onProvisional, Runnable::run);
  }

  /** The command id the server's events carry. */
  public long id() { return id; }

  public String method() { return method; }

  /** The final response; fails with a {@link UacException} when the request could not complete. */
  public CompletableFuture<Response> result() {
    return result.copy();
  }

  /** The provisional responses received so far, in order. */
  public List<Response> provisionals() {
    return List.copyOf(provisionals);
  }

  /** The request's handle, once the server told it; fails when the call ended without one. */
  public CompletableFuture<String> requestHandle() {
    return handle.copy();
  }

  public boolean isDone() {
    return done;
  }

  /** Feeds an event; true once the call is complete. */
  boolean event(UacEvent ev) {
    if (handleText.isEmpty() && !ev.getRequestHandle().isEmpty()) {
      String h = ev.getRequestHandle();
      handleText = h;
      completer.execute(() -> handle.complete(h));
    }
    switch (ev.getEventCase()) {
      case PROVISIONAL -> {
        Response p = new Response(ev.getProvisional(), ev, handleText);
        provisionals.add(p);
        if (onProvisional != null) onProvisional.accept(p);
        return false;
      }
      case FINAL -> {
        return finish(new Response(ev.getFinal(), ev, handleText), null);
      }
      case ERROR -> {
        return finish(null, new UacException(errorKind(ev.getError().getKind()), ev.getError().getMessage(),
            ev.getCallId()));
      }
      default -> {
        return false;
      }
    }
  }

  static String errorKind(UacErrorKind k) {
    if (k == UacErrorKind.UNRECOGNIZED) return "unspecified";
    return Names.lowerCamel(Names.stripPrefix(k.name(), "UAC_ERROR_KIND_").toLowerCase(Locale.ROOT));
  }

  /** Ends the call with an error unless it has ended already. */
  void fail(Throwable err) {
    finish(null, err);
  }

  private synchronized boolean finish(Response r, Throwable err) {
    if (done) return false;
    done = true;
    completer.execute(() -> {
      handle.completeExceptionally(new UacException("unknownRequest", method + " has no request handle", ""));
      if (err == null) result.complete(r);
      else result.completeExceptionally(err);
    });
    return true;
  }

  @Override
  public String toString() {
    return "Call(" + id + " " + method + ")";
  }
}
