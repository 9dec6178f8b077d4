package io.nksip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import nksip.v1.Decisions;
import nksip.v1.Service;
import nksip.v1.Service.CallbackKind;
import nksip.v1.Sip;
import nksip.v1.Uac;
import org.junit.jupiter.api.Test;

/** Replies, decisions, callbacks, calls and the SDP helpers, without a server. */
class UnitTest {
  @Test
  void repliesNeedACodeOrANameAndAValidCode() {
    assertThrows(IllegalArgumentException.class, () -> Reply.status(99).toProto());
    assertThrows(IllegalArgumentException.class, () -> Reply.status(700).toProto());
    var busy = Reply.busy().withHeader("x-a", "1").withReason("Later").toProto();
    assertEquals(Decisions.NamedReply.NAMED_REPLY_BUSY, busy.getNamed());
    assertEquals(0, busy.getCode());
    assertEquals("Later", busy.getReason());
    assertEquals("x-a", busy.getHeaders(0).getName());
    var auth = Reply.authenticate("realm1").toProto();
    assertEquals("realm1", auth.getRealm());
    assertEquals(423, Reply.status(423).toProto().getCode());
    assertEquals(List.of("sip:a@b"), Reply.redirect("sip:a@b").toProto().getContactsList());
    assertEquals(90, Reply.intervalTooBrief(90).toProto().getMinValue());
  }

  @Test
  void withReturnsACopy() {
    Reply ok = Reply.ok();
    Reply with = ok.withHeader("x-a", "1");
    assertTrue(ok.headers().isEmpty());
    assertEquals(1, with.headers().size());
  }

  @Test
  void decisionsBecomeTheirProtoCase() {
    var proxy = RouteDecision.toProto(RouteDecision.proxy(UriSet.serial("sip:a@h", "sip:b@h"),
        ProxyOptions.create().recordRoute(true).header(HeaderEdit.remove("x-y"))));
    assertEquals(2, proxy.getProxy().getUriSetCount());
    assertTrue(proxy.getProxy().getOptions().getRecordRoute());
    assertEquals(Decisions.HeaderOp.Kind.KIND_REMOVE, proxy.getProxy().getOptions().getHeaders(0).getKind());
    assertTrue(RouteDecision.toProto(RouteDecision.process()).hasProcess());
    assertTrue(RouteDecision.toProto(RouteDecision.replyStateless(Reply.ok())).hasReplyStateless());
    assertTrue(BranchDecision.toProto(BranchDecision.continueFork()).hasContinue());
    assertEquals(1, BranchDecision.toProto(BranchDecision.fork(UriSet.parallel("sip:a@h", "sip:b@h"), null))
        .getFork().getUriSetCount());
  }

  static final class OptionsOnly implements SipApp {
    @Override
    public MethodAnswer options(Request req) {
      return Reply.ok();
    }
  }

  static class Base implements SipApp {
    @Override
    public RouteDecision route(Request req) {
      return RouteDecision.process();
    }
  }

  static final class Derived extends Base {
    @Override
    public void dialogUpdate(DialogUpdate u) {}
  }

  @Test
  void onlyOverriddenCallbacksAreAskedFor() {
    assertEquals(Set.of(CallbackKind.CALLBACK_KIND_OPTIONS), Callbacks.overridden(OptionsOnly.class));
    assertEquals(Set.of(CallbackKind.CALLBACK_KIND_ROUTE, CallbackKind.CALLBACK_KIND_DIALOG_UPDATE),
        Callbacks.overridden(Derived.class));
    assertTrue(Callbacks.overridden(new SipApp() {}.getClass()).isEmpty());
  }

  static Service.Callback callback(CallbackKind k, Sip.Request req) {
    return Service.Callback.newBuilder().setId(7).setKind(k).setRequest(req).setRequestHandle("R1").build();
  }

  static Sip.Request request(String method, String... headers) {
    var b = Sip.Request.newBuilder().setMethod(method).setCallId("c1")
        .setRuri(Sip.Uri.newBuilder().setRaw("sip:u@h").setScheme("sip").setUser("u").setHost("h"))
        .setTo(Sip.NameAddr.newBuilder().setRaw("<sip:u@h>;tag=t1")
            .addParams(Sip.Param.newBuilder().setName("tag").setValue("t1")));
    for (int i = 0; i + 1 < headers.length; i += 2) {
      b.addHeaders(Sip.Header.newBuilder().setName(headers[i]).setValue(headers[i + 1]));
    }
    return b.build();
  }

  @Test
  void callbacksAnswerAndFailuresThrow() throws Exception {
    var cbs = new Callbacks(new SipApp() {
      @Override
      public MethodAnswer options(Request req) throws Exception {
        return switch (req.header("x-op", "")) {
          case "throw" -> throw new IllegalStateException("boom");
          case "null" -> null;
          case "later" -> MethodAnswer.noReply();
          default -> Reply.ok().withHeader("x-to-tag", req.to().tag());
        };
      }

      @Override
      public UserPass getUserPass(String user, String realm, Request req) {
        return UserPass.password("secret-" + user);
      }
    });
    var ok = cbs.run(null, callback(CallbackKind.CALLBACK_KIND_OPTIONS, request("OPTIONS")));
    assertEquals("t1", ok.getMethod().getReply().getHeaders(0).getValue());
    var later = cbs.run(null, callback(CallbackKind.CALLBACK_KIND_OPTIONS, request("OPTIONS", "x-op", "later")));
    assertTrue(later.getMethod().hasNoreply());
    assertThrows(IllegalStateException.class,
        () -> cbs.run(null, callback(CallbackKind.CALLBACK_KIND_OPTIONS, request("OPTIONS", "x-op", "throw"))));
    assertThrows(IllegalArgumentException.class,
        () -> cbs.run(null, callback(CallbackKind.CALLBACK_KIND_OPTIONS, request("OPTIONS", "x-op", "null"))));
    var up = cbs.run(null, Service.Callback.newBuilder().setKind(CallbackKind.CALLBACK_KIND_GET_USER_PASS)
        .setRequest(request("REGISTER")).setUserPass(Service.UserPassInfo.newBuilder().setUser("bob")).build());
    assertEquals("secret-bob", up.getUserPass().getPassword());
  }

  @Test
  void failureAnswersKeepTheCallMoving() {
    var route = Callbacks.onFailure(CallbackKind.CALLBACK_KIND_ROUTE);
    assertEquals(500, route.getRoute().getReply().getCode());
    assertEquals("SipApp Callback Failed", route.getRoute().getReply().getReason());
    assertEquals(500, Callbacks.onFailure(CallbackKind.CALLBACK_KIND_INVITE).getMethod().getReply().getCode());
    assertEquals(500, Callbacks.onFailure(CallbackKind.CALLBACK_KIND_PRACK).getMethod().getReply().getCode());
    assertEquals(Decisions.AuthorizeDecision.Kind.KIND_FORBIDDEN,
        Callbacks.onFailure(CallbackKind.CALLBACK_KIND_AUTHORIZE).getAuthorize().getKind());
    assertFalse(Callbacks.onFailure(CallbackKind.CALLBACK_KIND_GET_USER_PASS).getUserPass().getAccept());
    assertTrue(Callbacks.onFailure(CallbackKind.CALLBACK_KIND_BRANCH_FINAL).getBranch().hasContinue());
    assertTrue(Callbacks.onFailure(CallbackKind.CALLBACK_KIND_ACK).hasAck());
  }

  @Test
  void headersAreFoundInAnyCaseAndCompactForm() {
    var req = new Request(request("MESSAGE", "content-type", "text/plain", "x-nk-id", "a", "x-nk-id", "b"), "", "",
        null);
    assertEquals("text/plain", req.header("C"));
    assertEquals("text/plain", req.header("Content-Type"));
    assertEquals(List.of("a", "b"), req.headerValues("X-NK-ID"));
    assertNull(req.header("x-none"));
    assertThrows(IllegalStateException.class, () -> req.reply(Reply.ok()));
  }

  static Uac.UacEvent.Builder event(long id) {
    return Uac.UacEvent.newBuilder().setId(id).setRequestHandle("H1").setCallId("c9");
  }

  @Test
  void aCallCollectsProvisionalsThenItsFinal() throws Exception {
    List<Integer> seen = new CopyOnWriteArrayList<>();
    Call c = new Call(1, "INVITE", r -> seen.add(r.code()));
    assertFalse(c.event(event(1).setProvisional(Sip.Response.newBuilder().setCode(180)).setDialogHandle("D1").build()));
    assertEquals("H1", c.requestHandle().get(1, TimeUnit.SECONDS));
    assertTrue(c.event(event(1).setFinal(Sip.Response.newBuilder().setCode(200)).build()));
    assertFalse(c.event(event(1).setFinal(Sip.Response.newBuilder().setCode(200)).build()));
    assertEquals(List.of(180), seen);
    assertEquals("D1", c.provisionals().get(0).dialogHandle());
    assertEquals(200, c.result().get(1, TimeUnit.SECONDS).code());
  }

  @Test
  void aCallErrorIsAUacExceptionInLowerCamelCase() {
    Call c = new Call(2, "BYE", null);
    c.event(Uac.UacEvent.newBuilder().setId(2).setError(Uac.UacError.newBuilder()
        .setKind(Uac.UacErrorKind.UAC_ERROR_KIND_UNKNOWN_DIALOG).setMessage("no such dialog")).build());
    var e = assertThrows(CompletionException.class, () -> c.result().join());
    var ue = assertInstanceOf(UacException.class, e.getCause());
    assertEquals("unknownDialog", ue.kind());
    var h = assertThrows(CompletionException.class, () -> c.requestHandle().join());
    assertEquals("unknownRequest", ((UacException) h.getCause()).kind());
  }

  @Test
  void backoffGrowsToItsMaximumLessJitter() {
    Backoff b = new Backoff(false, Duration.ofMillis(100), Duration.ofSeconds(1), 2, 0.5, 0);
    assertEquals(Duration.ofMillis(100), b.delay(1, 0));
    assertEquals(Duration.ofMillis(400), b.delay(3, 0));
    assertEquals(Duration.ofSeconds(1), b.delay(10, 0));
    assertEquals(Duration.ofMillis(50), b.delay(1, 1));
  }

  @Test
  void sdpAnswerMirrorsTheOfferAndVersionsAreRead() {
    byte[] offer = Sdp.offer("alice", "127.0.0.1", new Sdp.Media("audio", 4000, List.of("0", "8"), "sendonly"));
    String answer = new String(Sdp.answer(offer, "bob", "", 5000), StandardCharsets.UTF_8);
    assertTrue(answer.contains("m=audio 5000 RTP/AVP 0 8\r\n"), answer);
    assertTrue(answer.contains("a=recvonly"), answer);
    assertTrue(answer.contains("a=rtpmap:8 PCMA/8000"), answer);
    assertEquals("7", Sdp.version("v=0\r\no=- 3 7 IN IP4 h\r\n".getBytes(StandardCharsets.UTF_8)));
    assertEquals("", Sdp.version(new byte[0]));
  }

  @Test
  void dialogUpdateNamesAreLowerCamel() {
    var u = DialogUpdate.of(Service.DialogUpdate.newBuilder()
        .setStatus(Service.DialogUpdate.Status.STATUS_TARGET_UPDATE).setSdp(ByteString.EMPTY).build());
    assertEquals("targetUpdate", u.statusName());
    assertEquals("start", SessionUpdate.of(Service.SessionUpdate.newBuilder()
        .setKind(Service.SessionUpdate.Kind.KIND_START).build()).kindName());
  }
}
