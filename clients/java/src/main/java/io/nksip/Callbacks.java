package io.nksip;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import nksip.v1.Decisions;
import nksip.v1.Service;
import nksip.v1.Service.AuthInfo;
import nksip.v1.Service.CallbackAnswer;
import nksip.v1.Service.CallbackKind;

/** Which callbacks a SipApp overrides, and calling them: a Callback in, its answer out. */
final class Callbacks {
  private static final Map<CallbackKind, Signature> SIGNATURES = new EnumMap<>(CallbackKind.class);

  private record Signature(String name, Class<?>... params) {}

  static {
    Class<?>[] req = {Request.class};
    String[] methods = {"invite", "reinvite", "bye", "options", "register", "info", "update", "subscribe",
        "resubscribe", "notify", "refer", "publish", "message", "prack"};
    for (String m : methods) {
      SIGNATURES.put(CallbackKind.valueOf("CALLBACK_KIND_" + m.toUpperCase()), new Signature(m, req));
    }
    SIGNATURES.put(CallbackKind.CALLBACK_KIND_ROUTE, new Signature("route", req));
    SIGNATURES.put(CallbackKind.CALLBACK_KIND_ACK, new Signature("ack", req));
    SIGNATURES.put(CallbackKind.CALLBACK_KIND_CANCEL, new Signature("cancel", Request.class, Request.class));
    SIGNATURES.put(CallbackKind.CALLBACK_KIND_AUTHORIZE, new Signature("authorize", AuthInfo.class, Request.class));
    SIGNATURES.put(CallbackKind.CALLBACK_KIND_GET_USER_PASS,
        new Signature("getUserPass", String.class, String.class, Request.class));
    SIGNATURES.put(CallbackKind.CALLBACK_KIND_DIALOG_UPDATE, new Signature("dialogUpdate", DialogUpdate.class));
    SIGNATURES.put(CallbackKind.CALLBACK_KIND_SESSION_UPDATE, new Signature("sessionUpdate", SessionUpdate.class));
    SIGNATURES.put(CallbackKind.CALLBACK_KIND_BRANCH_FINAL,
        new Signature("branchFinal", Branch.class, Request.class));
  }

  private static final Set<CallbackKind> ORDERED = EnumSet.of(CallbackKind.CALLBACK_KIND_ROUTE,
      CallbackKind.CALLBACK_KIND_ACK, CallbackKind.CALLBACK_KIND_CANCEL, CallbackKind.CALLBACK_KIND_AUTHORIZE,
      CallbackKind.CALLBACK_KIND_GET_USER_PASS, CallbackKind.CALLBACK_KIND_BRANCH_FINAL);

  private final SipApp app;
  private final Set<CallbackKind> implemented;

  Callbacks(SipApp app) {
    this.app = app;
    this.implemented = overridden(app.getClass());
  }

  /** The callbacks whose method the class (or a superclass) overrides, not the interface's default. */
  static Set<CallbackKind> overridden(Class<?> cls) {
    Set<CallbackKind> out = EnumSet.noneOf(CallbackKind.class);
    for (var e : SIGNATURES.entrySet()) {
      try {
        var m = cls.getMethod(e.getValue().name(), e.getValue().params());
        if (m.getDeclaringClass() != SipApp.class) out.add(e.getKey());
      } catch (NoSuchMethodException ignored) {
        // every callback is on SipApp
      }
    }
    return out;
  }

  List<CallbackKind> implemented() {
    return new ArrayList<>(implemented);
  }

  boolean has(CallbackKind k) {
    return implemented.contains(k);
  }

  /** Route, ack, cancel, authorize, get_user_pass and branch_final keep the server's order per Call-ID. */
  static boolean ordered(CallbackKind k) {
    return ORDERED.contains(k);
  }

  static boolean isUpdate(CallbackKind k) {
    return k == CallbackKind.CALLBACK_KIND_DIALOG_UPDATE || k == CallbackKind.CALLBACK_KIND_SESSION_UPDATE;
  }

  static boolean isMethod(CallbackKind k) {
    int n = k.getNumber();
    return n >= CallbackKind.CALLBACK_KIND_INVITE_VALUE && n <= CallbackKind.CALLBACK_KIND_PRACK_VALUE
        && k != CallbackKind.CALLBACK_KIND_ACK && k != CallbackKind.CALLBACK_KIND_CANCEL;
  }

  /** The answer that keeps the SIP side moving when a callback fails. */
  static CallbackAnswer onFailure(CallbackKind k) {
    var failure = Decisions.Reply.newBuilder().setCode(500).setReason("SipApp Callback Failed").build();
    var b = CallbackAnswer.newBuilder();
    if (k == CallbackKind.CALLBACK_KIND_ROUTE) {
      return b.setRoute(Decisions.RouteDecision.newBuilder().setReply(failure)).build();
    }
    if (isMethod(k)) return b.setMethod(Decisions.MethodDecision.newBuilder().setReply(failure)).build();
    return switch (k) {
      case CALLBACK_KIND_AUTHORIZE -> b.setAuthorize(Decisions.AuthorizeDecision.newBuilder()
          .setKind(Decisions.AuthorizeDecision.Kind.KIND_FORBIDDEN)).build();
      case CALLBACK_KIND_GET_USER_PASS -> b.setUserPass(Decisions.UserPassDecision.newBuilder().setAccept(false))
          .build();
      case CALLBACK_KIND_BRANCH_FINAL -> b.setBranch(Service.BranchDecision.newBuilder()
          .setContinue(Decisions.Ack.getDefaultInstance())).build();
      default -> ack();
    };
  }

  static CallbackAnswer ack() {
    return CallbackAnswer.newBuilder().setAck(Decisions.Ack.getDefaultInstance()).build();
  }

  /** Calls the callback cb names; an exception or an answer that does not fit is thrown. */
  CallbackAnswer run(App owner, Service.Callback cb) throws Exception {
    CallbackKind k = cb.getKind();
    Request req = cb.hasRequest() ? new Request(cb.getRequest(), cb.getRequestHandle(), cb.getDialogHandle(), owner)
        : null;
    switch (k) {
      case CALLBACK_KIND_ROUTE -> {
        Object d = app.route(need(req, k));
        if (d instanceof RawAnswer r) return r.answer();
        return CallbackAnswer.newBuilder().setRoute(RouteDecision.toProto((RouteDecision) notNull(d, k))).build();
      }
      case CALLBACK_KIND_ACK -> {
        app.ack(need(req, k));
        return ack();
      }
      case CALLBACK_KIND_CANCEL -> {
        Request invite = need(req, k);
        Request cancel = cb.hasCancel() ? new Request(cb.getCancel(), "", cb.getDialogHandle(), null) : invite;
        app.cancel(invite, cancel);
        return ack();
      }
      case CALLBACK_KIND_AUTHORIZE -> {
        Object d = app.authorize(cb.hasAuth() ? cb.getAuth() : AuthInfo.getDefaultInstance(), need(req, k));
        if (d instanceof RawAnswer r) return r.answer();
        if (d instanceof AuthorizeDecision.Of a) {
          return CallbackAnswer.newBuilder().setAuthorize(Decisions.AuthorizeDecision.newBuilder()
              .setKind(a.kind()).setRealm(a.realm())).build();
        }
        throw invalid(k, d);
      }
      case CALLBACK_KIND_GET_USER_PASS -> {
        var up = cb.getUserPass();
        Object d = app.getUserPass(up.getUser(), up.getRealm(), need(req, k));
        if (d instanceof RawAnswer r) return r.answer();
        var b = Decisions.UserPassDecision.newBuilder();
        if (d instanceof UserPass.Password p) b.setPassword(p.password() == null ? "" : p.password());
        else if (d instanceof UserPass.Accept a) b.setAccept(a.accept());
        else throw invalid(k, d);
        return CallbackAnswer.newBuilder().setUserPass(b).build();
      }
      case CALLBACK_KIND_DIALOG_UPDATE -> {
        if (!cb.hasDialogUpdate()) throw new IllegalArgumentException("dialog_update callback without its update");
        app.dialogUpdate(DialogUpdate.of(cb.getDialogUpdate()));
        return ack();
      }
      case CALLBACK_KIND_SESSION_UPDATE -> {
        if (!cb.hasSessionUpdate()) throw new IllegalArgumentException("session_update callback without its update");
        app.sessionUpdate(SessionUpdate.of(cb.getSessionUpdate()));
        return ack();
      }
      case CALLBACK_KIND_BRANCH_FINAL -> {
        if (!cb.hasBranch()) throw new IllegalArgumentException("branch_final callback without its branch");
        var br = cb.getBranch();
        Object d = app.branchFinal(new Branch(br.getUri(), new Response(br.getResponse(), null, ""), br.getPending()),
            need(req, k));
        if (d instanceof RawAnswer r) return r.answer();
        return CallbackAnswer.newBuilder().setBranch(BranchDecision.toProto((BranchDecision) notNull(d, k))).build();
      }
      default -> {
        if (!isMethod(k)) throw new IllegalArgumentException("unknown callback kind " + k);
        Object d = method(k, need(req, k));
        if (d instanceof RawAnswer r) return r.answer();
        var m = Decisions.MethodDecision.newBuilder();
        if (d instanceof MethodAnswer.NoReply) m.setNoreply(Decisions.NoReply.getDefaultInstance());
        else if (d instanceof Reply r) m.setReply(r.toProto());
        else throw invalid(k, d);
        return CallbackAnswer.newBuilder().setMethod(m).build();
      }
    }
  }

  private MethodAnswer method(CallbackKind k, Request req) throws Exception {
    return switch (k) {
      case CALLBACK_KIND_INVITE -> app.invite(req);
      case CALLBACK_KIND_REINVITE -> app.reinvite(req);
      case CALLBACK_KIND_BYE -> app.bye(req);
      case CALLBACK_KIND_OPTIONS -> app.options(req);
      case CALLBACK_KIND_REGISTER -> app.register(req);
      case CALLBACK_KIND_INFO -> app.info(req);
      case CALLBACK_KIND_UPDATE -> app.update(req);
      case CALLBACK_KIND_SUBSCRIBE -> app.subscribe(req);
      case CALLBACK_KIND_RESUBSCRIBE -> app.resubscribe(req);
      case CALLBACK_KIND_NOTIFY -> app.notify(req);
      case CALLBACK_KIND_REFER -> app.refer(req);
      case CALLBACK_KIND_PUBLISH -> app.publish(req);
      case CALLBACK_KIND_MESSAGE -> app.message(req);
      case CALLBACK_KIND_PRACK -> app.prack(req);
      default -> throw new IllegalArgumentException("not a method callback: " + k);
    };
  }

  private static Request need(Request req, CallbackKind k) {
    if (req == null) throw new IllegalArgumentException(Names.callback(k) + " callback without a request");
    return req;
  }

  private static Object notNull(Object d, CallbackKind k) {
    if (d == null) throw invalid(k, null);
    return d;
  }

  private static IllegalArgumentException invalid(CallbackKind k, Object d) {
    return new IllegalArgumentException("invalid " + Names.callback(k) + " answer: " + d);
  }
}
