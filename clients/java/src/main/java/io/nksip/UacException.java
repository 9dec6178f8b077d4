package io.nksip;

/**
 * Why a request could not be sent or completed (NkSIP's {error, Reason}): {@link #kind()} is
 * the contract's UacErrorKind in lower camel case ({@code invalidUri}, {@code unknownDialog},
 * {@code serviceUnavailable}, ...), or {@code disconnected} (the stream broke or the app
 * stopped first), {@code notConnected}, {@code unknownRequest}.
 */
public final class UacException extends RuntimeException {
  private final String kind;
  private final String callId;

  public UacException(String kind, String message, String callId) {
    super(message == null || message.isEmpty() ? kind : kind + ": " + message);
    this.kind = kind;
    this.callId = callId == null ? "" : callId;
  }

  public String kind() { return kind; }
  /** The request's Call-ID, when the server told it. */
  public String callId() { return callId; }
}
