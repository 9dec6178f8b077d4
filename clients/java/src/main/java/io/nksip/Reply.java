package io.nksip;

import com.google.protobuf.ByteString;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import nksip.v1.Decisions;
import nksip.v1.Decisions.NamedReply;

/**
 * A SIP reply: a bare status ({@link #status}, no header generated) or one of NkSIP's named
 * replies ({@link #ok}, {@link #busy}, ...), which fix the code and add the headers the name
 * implies. Immutable: each {@code with...} returns a copy.
 */
public final class Reply implements MethodAnswer {
  private final int code;
  private final NamedReply named;
  private final String reason;
  private final List<HeaderEdit> headers;
  private final byte[] body;
  private final String contentType;
  private final List<String> contacts;
  private final String realm;
  private final String allow;
  private final String accept;
  private final String unsupported;
  private final String require;
  private final String warning;
  private final int minValue;

  private Reply(int code, NamedReply named, String reason, List<HeaderEdit> headers, byte[] body,
      String contentType, List<String> contacts, String realm, String allow, String accept,
      String unsupported, String require, String warning, int minValue) {
    this.code = code;
    this.named = named;
    this.reason = reason;
    this.headers = List.copyOf(headers);
    this.body = body;
    this.contentType = contentType;
    this.contacts = List.copyOf(contacts);
    this.realm = realm;
    this.allow = allow;
    this.accept = accept;
    this.unsupported = unsupported;
    this.require = require;
    this.warning = warning;
    this.minValue = minValue;
  }

  private static Reply of(int code, NamedReply named) {
    return new Reply(code, named, "", List.of(), new byte[0], "", List.of(), "", "", "", "", "", "", 0);
  }

  private Reply copy(String reason, List<HeaderEdit> headers, byte[] body, String contentType,
      List<String> contacts, String realm, String allow, String accept, String unsupported,
      String require, String warning, int minValue) {
    return new Reply(code, named, reason, headers, body, contentType, contacts, realm, allow, accept,
        unsupported, require, warning, minValue);
  }

  /** Any code 100–699; no header is generated for you (NkSIP's {Code, Opts}). */
  public static Reply status(int code) {
    return of(code, NamedReply.NAMED_REPLY_UNSPECIFIED);
  }

  /** Any named reply of the contract. */
  public static Reply named(NamedReply n) {
    return of(0, n);
  }

  public static Reply ringing() { return named(NamedReply.NAMED_REPLY_RINGING); }
  public static Reply sessionProgress() { return named(NamedReply.NAMED_REPLY_SESSION_PROGRESS); }
  /** 180 sent reliably (RFC 3262); body may be null. */
  public static Reply relRinging(byte[] body) { return named(NamedReply.NAMED_REPLY_REL_RINGING).withBody(body, ""); }
  /** 183 sent reliably; body may be null. */
  public static Reply relSessionProgress(byte[] body) {
    return named(NamedReply.NAMED_REPLY_REL_SESSION_PROGRESS).withBody(body, "");
  }
  public static Reply ok() { return named(NamedReply.NAMED_REPLY_OK); }
  /** 200 with a body (an SDP answer when contentType is empty). */
  public static Reply answer(byte[] body, String contentType) {
    return named(NamedReply.NAMED_REPLY_ANSWER).withBody(body, contentType);
  }
  public static Reply accepted() { return named(NamedReply.NAMED_REPLY_ACCEPTED); }
  public static Reply redirect(String... contacts) { return named(NamedReply.NAMED_REPLY_REDIRECT).withContacts(contacts); }
  public static Reply redirectPermanent(String... contacts) {
    return named(NamedReply.NAMED_REPLY_REDIRECT_PERMANENT).withContacts(contacts);
  }
  public static Reply redirectTemporary(String... contacts) {
    return named(NamedReply.NAMED_REPLY_REDIRECT_TEMPORARY).withContacts(contacts);
  }
  public static Reply invalidRequest(String reason) { return named(NamedReply.NAMED_REPLY_INVALID_REQUEST).withReason(reason); }
  /** 401 with WWW-Authenticate for realm (empty: the From domain). */
  public static Reply authenticate(String realm) {
    Reply r = named(NamedReply.NAMED_REPLY_AUTHENTICATE);
    return r.copy(r.reason, r.headers, r.body, r.contentType, r.contacts, nz(realm), "", "", "", "", "", 0);
  }
  public static Reply forbidden(String reason) { return named(NamedReply.NAMED_REPLY_FORBIDDEN).withReason(reason); }
  public static Reply notFound(String reason) { return named(NamedReply.NAMED_REPLY_NOT_FOUND).withReason(reason); }
  /** 405 with Allow (empty: the app's Allow). */
  public static Reply methodNotAllowed(String allow) {
    Reply r = named(NamedReply.NAMED_REPLY_METHOD_NOT_ALLOWED);
    return r.copy("", List.of(), r.body, "", List.of(), "", nz(allow), "", "", "", "", 0);
  }
  /** 407 with Proxy-Authenticate for realm. */
  public static Reply proxyAuthenticate(String realm) {
    Reply r = named(NamedReply.NAMED_REPLY_PROXY_AUTHENTICATE);
    return r.copy("", List.of(), r.body, "", List.of(), nz(realm), "", "", "", "", "", 0);
  }
  public static Reply timeout() { return named(NamedReply.NAMED_REPLY_TIMEOUT); }
  public static Reply unsupportedMediaType(String accept) {
    Reply r = named(NamedReply.NAMED_REPLY_UNSUPPORTED_MEDIA_TYPE);
    return r.copy("", List.of(), r.body, "", List.of(), "", "", nz(accept), "", "", "", 0);
  }
  public static Reply badExtension(String unsupported) {
    Reply r = named(NamedReply.NAMED_REPLY_BAD_EXTENSION);
    return r.copy("", List.of(), r.body, "", List.of(), "", "", "", nz(unsupported), "", "", 0);
  }
  public static Reply extensionRequired(String require) {
    Reply r = named(NamedReply.NAMED_REPLY_EXTENSION_REQUIRED);
    return r.copy("", List.of(), r.body, "", List.of(), "", "", "", "", nz(require), "", 0);
  }
  /** 422 with Min-SE. */
  public static Reply sessionTooSmall(int minSe) {
    Reply r = named(NamedReply.NAMED_REPLY_SESSION_TOO_SMALL);
    return r.copy("", List.of(), r.body, "", List.of(), "", "", "", "", "", "", minSe);
  }
  /** 423 with Min-Expires. */
  public static Reply intervalTooBrief(int minExpires) {
    Reply r = named(NamedReply.NAMED_REPLY_INTERVAL_TOO_BRIEF);
    return r.copy("", List.of(), r.body, "", List.of(), "", "", "", "", "", "", minExpires);
  }
  public static Reply temporarilyUnavailable() { return named(NamedReply.NAMED_REPLY_TEMPORARILY_UNAVAILABLE); }
  public static Reply noTransaction() { return named(NamedReply.NAMED_REPLY_NO_TRANSACTION); }
  public static Reply unknownDialog() { return named(NamedReply.NAMED_REPLY_UNKNOWN_DIALOG); }
  public static Reply loopDetected() { return named(NamedReply.NAMED_REPLY_LOOP_DETECTED); }
  public static Reply tooManyHops() { return named(NamedReply.NAMED_REPLY_TOO_MANY_HOPS); }
  public static Reply busy() { return named(NamedReply.NAMED_REPLY_BUSY); }
  public static Reply requestTerminated() { return named(NamedReply.NAMED_REPLY_REQUEST_TERMINATED); }
  /** 488 with Warning. */
  public static Reply notAcceptable(String warning) {
    Reply r = named(NamedReply.NAMED_REPLY_NOT_ACCEPTABLE);
    return r.copy("", List.of(), r.body, "", List.of(), "", "", "", "", "", nz(warning), 0);
  }
  public static Reply requestPending() { return named(NamedReply.NAMED_REPLY_REQUEST_PENDING); }
  public static Reply internalError(String reason) { return named(NamedReply.NAMED_REPLY_INTERNAL_ERROR).withReason(reason); }
  public static Reply serviceUnavailable() { return named(NamedReply.NAMED_REPLY_SERVICE_UNAVAILABLE); }
  public static Reply busyEverywhere() { return named(NamedReply.NAMED_REPLY_BUSY_EVERYWHERE); }
  public static Reply decline() { return named(NamedReply.NAMED_REPLY_DECLINE); }

  /** Adds header edits. */
  public Reply withHeaders(HeaderEdit... edits) {
    return withHeaders(Arrays.asList(edits));
  }

  public Reply withHeaders(List<HeaderEdit> edits) {
    List<HeaderEdit> hs = new ArrayList<>(headers);
    hs.addAll(edits);
    return copy(reason, hs, body, contentType, contacts, realm, allow, accept, unsupported, require, warning, minValue);
  }

  /** Adds a header line. */
  public Reply withHeader(String name, String value) {
    return withHeaders(HeaderEdit.add(name, value));
  }

  /** Sets the body and its Content-Type (empty: application/sdp when it looks like SDP). */
  public Reply withBody(byte[] body, String contentType) {
    return copy(reason, headers, body == null ? new byte[0] : body.clone(), nz(contentType), contacts, realm, allow,
        accept, unsupported, require, warning, minValue);
  }

  public Reply withBody(String body, String contentType) {
    return withBody(body.getBytes(StandardCharsets.UTF_8), contentType);
  }

  public Reply withReason(String reason) {
    return copy(nz(reason), headers, body, contentType, contacts, realm, allow, accept, unsupported, require, warning,
        minValue);
  }

  /** Contact URIs: the targets of a redirect, or a Contact for other replies. */
  public Reply withContacts(String... uris) {
    return withContacts(Arrays.asList(uris));
  }

  public Reply withContacts(List<String> uris) {
    return copy(reason, headers, body, contentType, uris, realm, allow, accept, unsupported, require, warning, minValue);
  }

  public int code() { return code; }
  public NamedReply named() { return named; }
  public String reason() { return reason; }
  public List<HeaderEdit> headers() { return headers; }
  public byte[] body() { return body.clone(); }
  public String contentType() { return contentType; }
  public List<String> contacts() { return contacts; }

  /** The contract's Reply; throws IllegalArgumentException for a reply the server would refuse. */
  public Decisions.Reply toProto() {
    boolean hasNamed = named != NamedReply.NAMED_REPLY_UNSPECIFIED;
    if ((code == 0) == !hasNamed) throw new IllegalArgumentException("a reply needs either a code or a name");
    if (code != 0 && (code < 100 || code > 699)) throw new IllegalArgumentException("invalid reply code " + code);
    return Decisions.Reply.newBuilder()
        .setCode(code)
        .setNamed(named)
        .setReason(reason)
        .addAllHeaders(HeaderEdit.toProto(headers))
        .setBody(ByteString.copyFrom(body))
        .setContentType(contentType)
        .addAllContacts(contacts)
        .setRealm(realm)
        .setAllow(allow)
        .setAccept(accept)
        .setUnsupported(unsupported)
        .setRequire(require)
        .setWarning(warning)
        .setMinValue(minValue)
        .build();
  }

  @Override
  public String toString() {
    return hasName() ? "Reply(" + named + ")" : "Reply(" + code + ")";
  }

  private boolean hasName() {
    return named != NamedReply.NAMED_REPLY_UNSPECIFIED;
  }

  private static String nz(String s) {
    return s == null ? "" : s;
  }
}
