package io.nksip;

import nksip.v1.Service;
import nksip.v1.Uac;

/**
 * Hooks for what needs no answer. They run on the SDK's receiving thread and must not block.
 * Every method does nothing by default.
 */
public interface Events {
  /** The app joined (or rejoined) the server. */
  default void onStarted(StartedInfo info) {}
  /** The stream broke; pending requests failed. A reconnect follows unless disabled. */
  default void onDisconnected(Throwable cause) {}
  /** Waiting {@code delayMs} before reconnect attempt {@code attempt}. */
  default void onReconnecting(int attempt, long delayMs) {}
  /** A server Error message (invalidAnswer, pendingPrack, ...), or the stream failing. */
  default void onError(ServerException e) {}
  /** A callback failed (exception, invalid answer); the SDK answered for it (500 for requests). */
  default void onCallbackError(Service.CallbackKind kind, Throwable error) {}
  /** A callback's deadline passed and the answer came from elsewhere. */
  default void onCallbackExpired(Service.CallbackExpired e) {}
  /** Dialog changes sent as notifications (the server sends them as callbacks today). */
  default void onDialogUpdate(DialogUpdate u) {}
  /** Session changes sent as notifications (the server sends them as callbacks today). */
  default void onSessionUpdate(SessionUpdate u) {}
  default void onRegistration(Service.RegistrationStatus s) {}
  /** An automatic registration or ping changed state. */
  default void onAutoStatus(Service.AutoStatus s) {}
  /** A UAC event for no pending request (e.g. an extra 2xx of a forked INVITE). */
  default void onUacEvent(Uac.UacEvent ev) {}
  /** The app closed (after close(), or when it gave up reconnecting). */
  default void onClosed() {}
}
