package io.nksip;

/**
 * An Error message from the server, or the stream failing. {@link #code()} is the contract's
 * ErrorCode in lower camel case ({@code invalidAnswer}, {@code configMismatch},
 * {@code pendingPrack}, ...), or {@code stream} when the gRPC stream itself failed.
 */
public final class ServerException extends RuntimeException {
  private final String code;
  private final long ref;

  public ServerException(String code, String message, long ref) {
    super(message);
    this.code = code;
    this.ref = ref;
  }

  public String code() { return code; }
  /** The callback or command id the error is about; 0 when none. */
  public long ref() { return ref; }

  /** Refusals retrying cannot fix: invalid config, config mismatch, listen failure, bad token. */
  boolean fatal() {
    return switch (code) {
      case "protocol", "invalidConfig", "configMismatch", "listenFailed", "unauthenticated", "permissionDenied",
          "unimplemented", "invalidArgument" -> true;
      default -> false;
    };
  }

  @Override
  public String toString() {
    return "ServerException(" + code + "): " + getMessage();
  }
}
