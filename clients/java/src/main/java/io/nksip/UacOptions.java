package io.nksip;

import com.google.protobuf.ByteString;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import nksip.v1.Uac;

/**
 * Options of a request the app sends (the contract's UacOptions); every one is optional.
 * Mutable, fluent setters: {@code new UacOptions().body(sdp).auto2xxAck(true)}.
 */
public final class UacOptions {
  private final List<HeaderEdit> headers = new ArrayList<>();
  private final List<Credential> pass = new ArrayList<>();
  private final List<String> route = new ArrayList<>();
  private byte[] body = new byte[0];
  private byte[] prackBody = new byte[0];
  private String contentType = "", contact = "", from = "", to = "", callId = "", event = "", referTo = "",
      reason = "", subscriptionState = "", sipIfMatch = "", localHost = "", refresh = "";
  private Integer cseq, expires, authMaxTries;
  private boolean makeContact, unregister, unregisterAll, toAsFrom, auto2xxAck, noAutoExpire, manualPrack,
      provisionals;
  private int sessionExpires, minSe;
  private Consumer<Response> onProvisional;

  public UacOptions header(HeaderEdit edit) { headers.add(edit); return this; }
  public UacOptions headers(List<HeaderEdit> edits) { headers.addAll(edits); return this; }
  /** Adds a header line. */
  public UacOptions header(String name, String value) { return header(HeaderEdit.add(name, value)); }
  public UacOptions body(byte[] b) { body = b == null ? new byte[0] : b.clone(); return this; }
  public UacOptions body(String b) { return body(b.getBytes(StandardCharsets.UTF_8)); }
  public UacOptions contentType(String v) { contentType = v; return this; }
  /** Contact to send. */
  public UacOptions contact(String v) { contact = v; return this; }
  /** Have the server build a Contact from the listener used. */
  public UacOptions makeContact(boolean v) { makeContact = v; return this; }
  /** From as name-addr text (default: the app's from). */
  public UacOptions from(String v) { from = v; return this; }
  /** To as name-addr text (default: the target URI). */
  public UacOptions to(String v) { to = v; return this; }
  /** Route URIs (outbound proxy), in order; the app's route when none. */
  public UacOptions route(List<String> uris) { route.addAll(uris); return this; }
  public UacOptions route(String uri) { route.add(uri); return this; }
  public UacOptions callId(String v) { callId = v; return this; }
  public UacOptions cseq(int v) { cseq = v; return this; }
  /** Expires (REGISTER, SUBSCRIBE, PUBLISH); for INVITE, CANCEL after this many seconds. */
  public UacOptions expires(int v) { expires = v; return this; }
  /** Digest credentials tried before the app's own. */
  public UacOptions pass(Credential c) { pass.add(c); return this; }
  public UacOptions pass(List<Credential> cs) { pass.addAll(cs); return this; }
  /** How many challenges the server answers for this request (unset: 5; 0: none). */
  public UacOptions authMaxTries(int v) { authMaxTries = v; return this; }
  public UacOptions event(String v) { event = v; return this; }
  public UacOptions referTo(String v) { referTo = v; return this; }
  public UacOptions unregister(boolean v) { unregister = v; return this; }
  public UacOptions unregisterAll(boolean v) { unregisterAll = v; return this; }
  public UacOptions toAsFrom(boolean v) { toAsFrom = v; return this; }
  /** INVITE: ACK a 2xx automatically. */
  public UacOptions auto2xxAck(boolean v) { auto2xxAck = v; return this; }
  public UacOptions noAutoExpire(boolean v) { noAutoExpire = v; return this; }
  /** Reason header (BYE, CANCEL). */
  public UacOptions reason(String v) { reason = v; return this; }
  public UacOptions subscriptionState(String v) { subscriptionState = v; return this; }
  public UacOptions sipIfMatch(String v) { sipIfMatch = v; return this; }
  public UacOptions localHost(String v) { localHost = v; return this; }
  /** INVITE (100rel): the body of the automatic PRACKs. */
  public UacOptions prackBody(byte[] b) { prackBody = b == null ? new byte[0] : b.clone(); return this; }
  /** INVITE: no automatic PRACK; the app sends PRACK in the dialog itself. */
  public UacOptions manualPrack(boolean v) { manualPrack = v; return this; }
  /** Session timers (RFC 4028), seconds. */
  public UacOptions sessionExpires(int v) { sessionExpires = v; return this; }
  public UacOptions minSe(int v) { minSe = v; return this; }
  /** Re-INVITE/UPDATE with the dialog's last local SDP: active, hold, inactive, recvonly or keep. */
  public UacOptions refresh(String v) { refresh = v; return this; }
  /** Ask the server for provisional responses (always on for INVITE, and implied by onProvisional). */
  public UacOptions provisionals(boolean v) { provisionals = v; return this; }
  /** Called with each provisional response, in order, on the SDK's receiving thread: keep it short. */
  public UacOptions onProvisional(Consumer<Response> f) { onProvisional = f; return this; }

  Consumer<Response> onProvisional() { return onProvisional; }
  boolean wantsProvisionals() { return provisionals || onProvisional != null; }
  String reasonText() { return reason; }
  List<HeaderEdit> headerEdits() { return headers; }

  Uac.UacOptions toProto(boolean provisionals) {
    var b = Uac.UacOptions.newBuilder()
        .addAllHeaders(HeaderEdit.toProto(headers))
        .setBody(ByteString.copyFrom(body))
        .setContentType(contentType)
        .setContact(contact)
        .setMakeContact(makeContact)
        .setFrom(from)
        .setTo(to)
        .addAllRoute(route)
        .setCallId(callId)
        .setProvisionals(provisionals)
        .addAllPass(Credential.toProto(pass))
        .setEvent(event)
        .setReferTo(referTo)
        .setUnregister(unregister)
        .setUnregisterAll(unregisterAll)
        .setToAsFrom(toAsFrom)
        .setAuto2XxAck(auto2xxAck)
        .setNoAutoExpire(noAutoExpire)
        .setReason(reason)
        .setSubscriptionState(subscriptionState)
        .setSipIfMatch(sipIfMatch)
        .setLocalHost(localHost)
        .setPrackBody(ByteString.copyFrom(prackBody))
        .setManualPrack(manualPrack)
        .setSessionExpires(sessionExpires)
        .setMinSe(minSe)
        .setRefresh(refresh);
    if (cseq != null) b.setCseq(cseq);
    if (expires != null) b.setExpires(expires);
    if (authMaxTries != null) b.setAuthMaxTries(authMaxTries);
    return b.build();
  }
}
