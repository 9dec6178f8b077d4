// The NkSIP test peer (reference/nksip.md §7) as a Java SipApp, driven by request headers: the
// same behaviour, environment, stdin commands and stdout JSON lines as
// examples/typescript/conformance.ts, which documents every x-nk-* header. The cross-language
// suite in test/conformance drives it.
//
//   java -jar examples/java/conformance/target/nksip-conformance.jar
//
// Environment: NKSIP_SERVER (default 127.0.0.1:50051), NKSIP_APP (default conformance),
// NKSIP_LISTEN, NKSIP_TOKEN, NKSIP_PASS (default 1234), NKSIP_SIP_PASS, NKSIP_MAX_CALLS,
// NKSIP_TIMERS (`se,min_se`), NKSIP_PLUGINS, NKSIP_ROUTE (registrar | forward | strict).
package io.nksip.conformance;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.nksip.App;
import io.nksip.AppOptions;
import io.nksip.AuthorizeDecision;
import io.nksip.Branch;
import io.nksip.BranchDecision;
import io.nksip.Call;
import io.nksip.Credential;
import io.nksip.DialogInfo;
import io.nksip.DialogUpdate;
import io.nksip.Events;
import io.nksip.HeaderEdit;
import io.nksip.MethodAnswer;
import io.nksip.Plugin;
import io.nksip.ProxyOptions;
import io.nksip.RawAnswer;
import io.nksip.Reply;
import io.nksip.Request;
import io.nksip.Response;
import io.nksip.RouteDecision;
import io.nksip.Sdp;
import io.nksip.ServerException;
import io.nksip.SessionUpdate;
import io.nksip.SipApp;
import io.nksip.StartedInfo;
import io.nksip.Target;
import io.nksip.UacException;
import io.nksip.UacOptions;
import io.nksip.UriSet;
import io.nksip.UserPass;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import nksip.v1.Decisions;
import nksip.v1.Service;

public final class Main implements SipApp {
  static final String NAME = envOr("NKSIP_APP", "conformance");
  static final String PASSWORD = envOr("NKSIP_PASS", "1234");
  static final String ROUTE_MODE = envOr("NKSIP_ROUTE", "");
  static final Gson GSON = new GsonBuilder().serializeNulls().disableHtmlEscaping().create();
  static final PrintStream OUT = new PrintStream(System.out, false, StandardCharsets.UTF_8);
  /** Counted down once the app stops: what `ignore` waits for. */
  static final CountDownLatch STOPPED = new CountDownLatch(1);
  static final Set<String> REL_FLOWS = Set.of("rel-prov-prov-busy", "rel-prov-pending", "rel-answer", "rel-offer");
  static volatile App app;
  /** Set by the leave command: the app stopped on purpose and the process stays. */
  static volatile boolean left;

  static String envOr(String k, String def) {
    String v = System.getenv(k);
    return v == null ? def : v;
  }

  static List<String> splitList(String s) {
    List<String> out = new ArrayList<>();
    if (s == null) return out;
    for (String p : s.split(",")) {
      p = p.trim();
      if (!p.isEmpty()) out.add(p);
    }
    return out;
  }

  static List<String> fields(String s) {
    List<String> out = new ArrayList<>();
    if (s == null) return out;
    for (String p : s.trim().split("\\s+")) {
      if (!p.isEmpty()) out.add(p);
    }
    return out;
  }

  static String at(List<String> l, int i) {
    return i < l.size() ? l.get(i) : "";
  }

  /** Prints one JSON event line. */
  static void emit(String ev, Map<String, Object> fields) {
    Map<String, Object> obj = new LinkedHashMap<>();
    obj.put("ev", ev);
    obj.put("app", NAME);
    obj.putAll(fields);
    String line;
    try {
      line = GSON.toJson(obj);
    } catch (RuntimeException e) {
      line = GSON.toJson(Map.of("ev", "error", "app", NAME, "message", String.valueOf(e.getMessage())));
    }
    synchronized (OUT) {
      OUT.print(line);
      OUT.print('\n');
      OUT.flush();
    }
  }

  static Map<String, Object> map(Object... kv) {
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i + 1 < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
    return m;
  }

  /** Parses `[realm/]password` or `password;realm=R;user=U`. */
  static Credential credential(String text) {
    String[] parts = text.trim().split(";");
    String realm = "", user = "", pass = parts[0];
    int slash = parts[0].indexOf('/');
    if (slash >= 0) {
      realm = parts[0].substring(0, slash);
      pass = parts[0].substring(slash + 1);
    }
    for (int i = 1; i < parts.length; i++) {
      String[] kv = parts[i].split("=", 2);
      String v = kv.length > 1 ? kv[1].trim() : "";
      switch (kv[0].trim()) {
        case "realm" -> realm = v;
        case "user" -> user = v;
        default -> {}
      }
    }
    return new Credential(realm, user, pass);
  }

  /** x-nk-id with the values received plus this app's name, as one line. */
  static List<HeaderEdit> idHeaders(Request req) {
    List<String> ids = new ArrayList<>();
    for (String v : req.headerValues("x-nk-id")) ids.addAll(splitList(v));
    ids.add(NAME);
    return new ArrayList<>(List.of(HeaderEdit.replace("x-nk-id", String.join(",", ids))));
  }

  /** The request as received, for reply-request. */
  static String requestText(Request req) {
    List<String> lines = new ArrayList<>();
    lines.add(req.method() + " " + req.ruri().raw() + " SIP/2.0");
    for (var h : req.headers()) lines.add(h.getName() + ": " + h.getValue());
    return String.join("\r\n", lines) + "\r\n\r\n" + req.text();
  }

  static boolean isCode(String op) {
    return op.length() == 3 && op.charAt(0) >= '1' && op.charAt(0) <= '6' && Character.isDigit(op.charAt(1))
        && Character.isDigit(op.charAt(2));
  }

  static int atoi(String s) {
    if (s == null) return 0;
    s = s.trim();
    if (s.isEmpty()) return 0;
    int n = 0;
    for (char c : s.toCharArray()) {
      if (c < '0' || c > '9') return 0;
      n = n * 10 + (c - '0');
    }
    return n;
  }

  /** The final answer op asks for; null: none (wait, pending). */
  static Reply finalReply(String op, Request req) {
    List<HeaderEdit> h = idHeaders(req);
    if (isCode(op) && op.charAt(0) == '3') {
      return Reply.status(atoi(op)).withHeaders(h).withContacts(req.headerValues("x-nk-contact"));
    }
    if (isCode(op)) return Reply.status(atoi(op)).withHeaders(h);
    return switch (op) {
      case "ok", "reply-stateless", "reply-stateful", "rel-answer", "rel-offer" -> Reply.ok().withHeaders(h);
      case "busy", "prov-busy", "rel-prov-busy", "rel-prov-prov-busy", "rel-prov-pending" ->
          Reply.busy().withHeaders(h);
      case "decline" -> Reply.decline().withHeaders(h);
      case "answer" -> Reply.answer(req.body(), req.contentType()).withHeaders(h);
      case "reply-request" -> Reply.ok().withHeaders(h)
          .withBody(requestText(req).getBytes(StandardCharsets.UTF_8), "message/sip");
      case "wait", "pending" -> null;
      default -> Reply.invalidRequest("Unknown x-nk-op " + op).withHeaders(h);
    };
  }

  static Reply provisionalReply(String op, Request req) {
    switch (op) {
      case "prov-busy":
        return Reply.sessionProgress();
      case "rel-prov-busy":
        return Reply.relSessionProgress(null);
      case "pending":
        return Reply.ringing();
      default:
        break;
    }
    String prov = req.header("x-nk-prov");
    if (prov == null) return null;
    if (prov.length() == 3 && prov.charAt(0) == '1' && atoi(prov) > 0) return Reply.status(atoi(prov));
    return Reply.ringing();
  }

  static void sleepMs(int ms) {
    if (ms <= 0) return;
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  static void lateReply(Request req, Reply r) {
    try {
      req.reply(r);
    } catch (RuntimeException e) {
      emit("error", map("where", "late reply", "message", String.valueOf(e.getMessage())));
    }
  }

  static void background(Runnable r) {
    Thread t = new Thread(r, "conformance-task");
    t.setDaemon(true);
    t.start();
  }

  static <T> T await(CompletableFuture<T> f) throws Exception {
    try {
      return f.get(30, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof Exception ex) throw ex;
      throw e;
    }
  }

  /** Answers every method callback as the headers say. */
  MethodAnswer handle(Request req) throws Exception {
    return handleAs(req, req.method().toLowerCase(Locale.ROOT));
  }

  /** handle with the callback's name (reinvite, resubscribe differ from the method). */
  MethodAnswer handleAs(Request req, String kind) throws Exception {
    emit("callback", map("kind", kind, "method", req.method(), "callId", req.callId(), "dialog", req.dialogHandle()));
    if (req.method().equals("MESSAGE") && req.hasHeader("x-nk-uac")) {
      background(() -> runUac(req));
      return MethodAnswer.noReply();
    }
    if (req.method().equals("MESSAGE") && (req.hasHeader("x-nk-authlist") || req.hasHeader("x-nk-authclear"))) {
      String clearV = req.header("x-nk-authclear");
      boolean clear = clearV != null;
      String h = clear ? clearV : req.header("x-nk-authlist");
      var list = await(app.authorizedList(h.trim(), clear));
      String v = list.found() ? String.join(",", list.sources()) : "unknown";
      return Reply.ok().withHeaders(HeaderEdit.replace("x-nk-authlist", v));
    }
    if (req.method().equals("PRACK")) prackSeen(req.callId());
    if (req.method().equals("MESSAGE") && req.hasHeader("x-nk-reg")) return registrarOp(req);
    String op = null;
    if (!req.ruri().user().isEmpty()) op = req.header("x-nk-op-" + req.ruri().user());
    if (op == null) op = req.header("x-nk-op-" + NAME);
    if (op == null) op = req.header("x-nk-op");
    if (op == null) op = "ok";
    op = op.trim().toLowerCase(Locale.ROOT);
    if (req.method().equals("INVITE") && REL_FLOWS.contains(op)) {
      String flow = op;
      background(() -> relFlow(req, flow));
      return MethodAnswer.noReply();
    }
    switch (op) {
      case "ignore" -> {
        STOPPED.await();
        return MethodAnswer.noReply();
      }
      case "reply-invalid" -> {
        return new RawAnswer(Service.CallbackAnswer.newBuilder()
            .setRoute(Decisions.RouteDecision.newBuilder().setProcess(Decisions.Process.getDefaultInstance()))
            .build());
      }
      default -> {}
    }
    String sleep = req.header("x-nk-sleep-" + NAME);
    if (sleep == null) sleep = req.header("x-nk-sleep");
    int delay = atoi(sleep);
    Reply fin = finalReply(op, req);
    Reply prov = provisionalReply(op, req);
    if (prov == null) {
      sleepMs(delay);
      return fin == null ? MethodAnswer.noReply() : fin;
    }
    // a provisional first: answer later through the request handle
    lateReply(req, prov);
    if (fin != null) {
      background(() -> {
        sleepMs(delay);
        lateReply(req, fin);
      });
    }
    return MethodAnswer.noReply();
  }

  // PRACKs seen per Call-ID, and who waits for them.
  static final Map<String, Integer> PRACKS = new HashMap<>();

  static void prackSeen(String callId) {
    synchronized (PRACKS) {
      PRACKS.merge(callId, 1, Integer::sum);
      PRACKS.notifyAll();
    }
  }

  /** Returns once n PRACKs of callId arrived (false after 5 s). */
  static boolean waitPracks(String callId, int n) {
    long deadline = System.currentTimeMillis() + 5000;
    synchronized (PRACKS) {
      while (PRACKS.getOrDefault(callId, 0) < n) {
        long left = deadline - System.currentTimeMillis();
        if (left <= 0) return false;
        try {
          PRACKS.wait(left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return false;
        }
      }
      return true;
    }
  }

  /** The reliable provisional flows (NkSIP t17): each step waits for the PRACK of the last. */
  static void relFlow(Request req, String op) {
    List<HeaderEdit> h = idHeaders(req);
    int delay = atoi(req.header("x-nk-sleep"));
    switch (op) {
      case "rel-prov-prov-busy" -> {
        lateReply(req, Reply.relRinging(null));
        waitPracks(req.callId(), 1);
        lateReply(req, Reply.relSessionProgress(null));
        waitPracks(req.callId(), 2);
        lateReply(req, Reply.busy().withHeaders(h));
      }
      case "rel-prov-pending" -> {
        lateReply(req, Reply.relRinging(null));
        lateReply(req, Reply.relSessionProgress(null));
        waitPracks(req.callId(), 1);
        lateReply(req, Reply.busy().withHeaders(h));
      }
      case "rel-answer" -> {
        byte[] sdp = Sdp.answer(req.body(), NAME, "", 40004);
        lateReply(req, Reply.relSessionProgress(sdp));
        waitPracks(req.callId(), 1);
        sleepMs(delay);
        lateReply(req, Reply.answer(sdp, "").withHeaders(h));
      }
      default -> {
        byte[] sdp = Sdp.offer(NAME, "", Sdp.Media.audio(40006, "0"));
        lateReply(req, Reply.relSessionProgress(sdp));
        waitPracks(req.callId(), 1);
        lateReply(req, Reply.answer(sdp, "").withHeaders(h));
      }
    }
  }

  /** x-nk-reg find | qfind | delete | clear on this app's registrar. */
  static MethodAnswer registrarOp(Request req) {
    List<String> f = fields(req.header("x-nk-reg"));
    String op = at(f, 0), aor = at(f, 1), contact = at(f, 2);
    List<HeaderEdit> h = idHeaders(req);
    var reg = app.registrar();
    Object result;
    try {
      result = switch (op) {
        case "find" -> await(reg.find(aor));
        case "qfind" -> await(reg.qfind(aor)).groups();
        case "delete" -> await(reg.delete(aor, contact));
        case "clear" -> {
          await(reg.clear());
          yield true;
        }
        default -> throw new IllegalArgumentException("unknown x-nk-reg op " + op);
      };
    } catch (Exception e) {
      String msg = String.valueOf(e.getMessage());
      if (msg.startsWith("registrar: ")) msg = msg.substring("registrar: ".length());
      h.add(HeaderEdit.replace("x-nk-reg-error", msg));
      return Reply.status(500).withHeaders(h);
    }
    h.add(HeaderEdit.replace("x-nk-reg-result", GSON.toJson(result)));
    return Reply.ok().withHeaders(h);
  }

  /** NKSIP_ROUTE=registrar: NkSIP's test proxy routing to the R-URI's contacts. */
  static RouteDecision registrarRoute(Request req, ProxyOptions o) throws Exception {
    if (!req.to().tag().isEmpty()) return RouteDecision.proxy(UriSet.EMPTY, o);
    var u = req.ruri();
    UriSet set = await(app.registrar().qfind(u.raw()));
    if (set.isEmpty()) return RouteDecision.reply(Reply.status(480).withHeaders(idHeaders(req)));
    if (req.header("x-nk-proxy-mode", "").trim().toLowerCase(Locale.ROOT).equals("stateless")) {
      return RouteDecision.proxyStateless(set, o);
    }
    return RouteDecision.proxy(set, o);
  }

  /** The proxy options of NKSIP_ROUTE modes, from the request's x-nk-* headers. */
  static ProxyOptions modeOptions(Request req) {
    List<HeaderEdit> edits = idHeaders(req);
    for (String line : req.headerValues("x-nk-add")) {
      int c = line.indexOf(':');
      String n = c < 0 ? line : line.substring(0, c);
      String v = c < 0 ? "" : line.substring(c + 1);
      edits.add(HeaderEdit.add(n.trim(), v.trim()));
    }
    for (String n : req.headerValues("x-nk-remove")) edits.add(HeaderEdit.remove(n.trim()));
    if (req.hasHeader("x-nk-clear-route")) edits.add(HeaderEdit.remove("route"));
    // consumed here: the next proxy does not apply them again
    for (String h : List.of("x-nk-route", "x-nk-add", "x-nk-remove", "x-nk-clear-route")) {
      if (req.hasHeader(h)) edits.add(HeaderEdit.remove(h));
    }
    return ProxyOptions.create().recordRoute(req.hasHeader("x-nk-rr")).path(req.hasHeader("x-nk-path"))
        .followRedirects(req.hasHeader("x-nk-redirect")).branchEvents(req.hasHeader("x-nk-branch"))
        .route(req.headerValues("x-nk-route")).headers(edits);
  }

  /** x-nk-branch continue | fork <uris> | reply <code>. */
  static BranchDecision branchAnswer(Request req) {
    List<String> f = fields(req.header("x-nk-branch"));
    switch (at(f, 0)) {
      case "fork":
        return BranchDecision.fork(UriSet.parallel(splitList(at(f, 1))),
            ProxyOptions.create().recordRoute(req.hasHeader("x-nk-rr")));
      case "reply":
        int code = atoi(at(f, 1));
        return BranchDecision.reply(Reply.status(code == 0 ? 500 : code).withHeaders(idHeaders(req)));
      default:
        return BranchDecision.continueFork();
    }
  }

  static byte[] sdpOffer() {
    long id = System.currentTimeMillis();
    return ("v=0\r\no=" + NAME + " " + id + " " + id + " IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        + "m=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n").getBytes(StandardCharsets.UTF_8);
  }

  /** x-nk-uac: sends a request from the app and reports its outcome in the MESSAGE's answer. */
  static void runUac(Request req) {
    List<String> f = fields(req.header("x-nk-uac"));
    String method = f.isEmpty() ? "OPTIONS" : f.get(0);
    String uri = at(f, 1);
    Map<String, String> result = new LinkedHashMap<>();
    String m = method.toUpperCase(Locale.ROOT);
    String inDialog = req.header("x-nk-uac-dialog", "").trim();
    UacOptions opts = new UacOptions();
    for (String line : req.headerValues("x-nk-uac-header")) {
      int c = line.indexOf(':');
      String n = c < 0 ? line : line.substring(0, c);
      String v = c < 0 ? "" : line.substring(c + 1);
      opts.header(HeaderEdit.add(n.trim(), v.trim()));
    }
    for (String p : req.headerValues("x-nk-uac-pass")) opts.pass(credential(p));
    String maxTries = req.header("x-nk-uac-max-tries");
    if (maxTries != null) opts.authMaxTries(atoi(maxTries));
    try {
      if (uri.equals("dialog")) {
        // in the MESSAGE's dialog: the outcome is reported, the dialog left as it is
        Response res;
        if (m.equals("REFRESH")) {
          String mode = req.header("x-nk-uac-refresh", "");
          opts.auto2xxAck(true);
          res = await(app.refresh(req.dialogHandle(), mode.isEmpty() ? "keep" : mode, opts));
        } else {
          if (m.equals("UPDATE") || m.equals("INVITE")) opts.body(sdpOffer());
          opts.auto2xxAck(m.equals("INVITE"));
          res = await(app.request(m, Target.dialog(req.dialogHandle()), opts));
        }
        result.put("x-nk-uac-status", String.valueOf(res.code()));
        result.put("x-nk-uac-reason", res.reason());
        result.put("x-nk-uac-sdp-version", Sdp.version(res.body()));
      } else {
        boolean isInvite = m.equals("INVITE");
        if (isInvite && !req.hasHeader("x-nk-uac-no-sdp")) opts.body(sdpOffer()).contentType("application/sdp");
        if (isInvite) {
          opts.auto2xxAck(true);
          if (req.hasHeader("x-nk-uac-prack-body")) opts.prackBody(sdpOffer());
        }
        Target to = inDialog.isEmpty() ? Target.uri(uri) : Target.dialog(inDialog);
        Response res = await(app.request(method, to, opts));
        result.put("x-nk-uac-status", String.valueOf(res.code()));
        result.put("x-nk-uac-reason", res.reason());
        result.put("x-nk-uac-cseq", String.valueOf(res.cseq()));
        if (isInvite && res.isOk() && !res.dialogHandle().isEmpty() && inDialog.isEmpty()) {
          if (req.hasHeader("x-nk-uac-keep")) {
            result.put("x-nk-uac-dialog", res.dialogHandle());
          } else {
            try {
              Response bye = await(app.bye(res.dialogHandle(), null));
              result.put("x-nk-uac-bye-status", String.valueOf(bye.code()));
            } catch (Exception e) {
              fail(result, e);
            }
          }
        }
      }
    } catch (Exception e) {
      fail(result, e);
    }
    Map<String, Object> fieldsOut = map("method", method, "uri", uri);
    Reply reply = Reply.ok();
    for (var e : result.entrySet()) {
      fieldsOut.put(e.getKey(), e.getValue());
      reply = reply.withHeaders(HeaderEdit.replace(e.getKey(), e.getValue()));
    }
    emit("uac", fieldsOut);
    try {
      req.reply(reply);
    } catch (RuntimeException e) {
      emit("error", map("where", "uac late reply", "message", String.valueOf(e.getMessage())));
    }
  }

  static void fail(Map<String, String> result, Exception e) {
    result.put("x-nk-uac-status", "error");
    result.put("x-nk-uac-error", e instanceof UacException ue ? ue.kind() : String.valueOf(e.getMessage()));
  }

  @Override
  public RouteDecision route(Request req) throws Exception {
    var t = req.transport();
    emit("callback", map("kind", "route", "method", req.method(), "callId", req.callId(), "ruri", req.ruri().raw(),
        "transport", t.getTransport() + " " + t.getLocalIp() + ":" + t.getLocalPort() + " " + t.getRemoteIp() + ":"
            + t.getRemotePort()));
    String op = req.header("x-nk-op", "").trim().toLowerCase(Locale.ROOT);
    switch (op) {
      case "reply-stateless":
        return RouteDecision.replyStateless(Reply.ok().withHeaders(idHeaders(req)));
      case "reply-stateful":
        return RouteDecision.reply(Reply.ok().withHeaders(idHeaders(req)));
      case "route-invalid":
        return new RawAnswer(Service.CallbackAnswer.newBuilder()
            .setMethod(Decisions.MethodDecision.newBuilder().setNoreply(Decisions.NoReply.getDefaultInstance()))
            .build());
      default:
        break;
    }
    List<String> hops = req.headerValues("x-nk-proxy");
    if (hops.isEmpty()) {
      if (ROUTE_MODE.equals("forward")) return RouteDecision.proxy(UriSet.EMPTY, modeOptions(req));
      if (ROUTE_MODE.equals("strict")) return RouteDecision.strictProxy(UriSet.EMPTY, modeOptions(req));
      boolean inDialog = !req.to().tag().isEmpty();
      if (ROUTE_MODE.equals("registrar") && !req.method().equals("REGISTER")
          && (inDialog || !req.ruri().user().isEmpty())) {
        return registrarRoute(req, modeOptions(req));
      }
      return RouteDecision.process();
    }
    List<List<String>> groups = new ArrayList<>();
    for (String group : hops.get(0).split("\\|")) {
      List<String> uris = new ArrayList<>();
      for (String u : group.split(",")) {
        u = u.trim();
        if (u.startsWith("<") && u.endsWith(">")) u = u.substring(1, u.length() - 1);
        if (!u.isEmpty()) uris.add(u);
      }
      if (!uris.isEmpty()) groups.add(uris);
    }
    List<HeaderEdit> edits = new ArrayList<>();
    edits.add(HeaderEdit.remove("x-nk-proxy"));
    for (String h : hops.subList(1, hops.size())) edits.add(HeaderEdit.add("x-nk-proxy", h));
    edits.addAll(idHeaders(req));
    ProxyOptions o = ProxyOptions.create().recordRoute(req.hasHeader("x-nk-rr"))
        .followRedirects(req.hasHeader("x-nk-redirect")).path(req.hasHeader("x-nk-path"))
        .branchEvents(req.hasHeader("x-nk-branch")).headers(edits);
    UriSet set = new UriSet(groups);
    return switch (req.header("x-nk-proxy-mode", "").trim().toLowerCase(Locale.ROOT)) {
      case "stateless" -> RouteDecision.proxyStateless(set, o);
      case "strict" -> RouteDecision.strictProxy(set, o);
      default -> RouteDecision.proxy(set, o);
    };
  }

  /** x-nk-auth challenges until the request carries a credential that checks out. */
  @Override
  public AuthorizeDecision authorize(Service.AuthInfo auth, Request req) {
    String h = req.header("x-nk-auth");
    if (h == null) return AuthorizeDecision.ok();
    String[] parts = h.trim().split(";");
    String want = parts[0];
    List<String> flags = Arrays.asList(parts).subList(1, parts.length);
    List<String> digests = new ArrayList<>();
    boolean anyOk = false;
    for (var d : auth.getDigestsList()) {
      digests.add(d.getUser() + "@" + d.getRealm() + ":" + d.getOk());
      anyOk |= d.getOk();
    }
    emit("callback", map("kind", "authorize", "method", req.method(), "callId", req.callId(), "dialog",
        auth.getDialog(), "register", auth.getRegister(), "digests", digests));
    boolean noDialog = flags.contains("nodialog");
    if ((auth.getDialog() && !noDialog) || auth.getRegister() || anyOk) return AuthorizeDecision.ok();
    if (auth.getDigestsCount() > 0) return AuthorizeDecision.forbidden();
    int c = want.indexOf(':');
    String kind = c < 0 ? want : want.substring(0, c);
    String realm = c < 0 ? "" : want.substring(c + 1);
    if (kind.equals("proxy")) return AuthorizeDecision.proxyAuthenticate(realm);
    return AuthorizeDecision.authenticate(want.equals("true") ? "" : want);
  }

  @Override
  public UserPass getUserPass(String user, String realm, Request req) {
    return UserPass.password(user.equals("anonymous") ? "" : PASSWORD);
  }

  @Override
  public void ack(Request req) {
    emit("callback", map("kind", "ack", "callId", req.callId(), "dialog", req.dialogHandle()));
  }

  @Override
  public void cancel(Request invite, Request cancel) {
    emit("callback", map("kind", "cancel", "callId", invite.callId()));
  }

  @Override
  public void dialogUpdate(DialogUpdate u) {
    emitDialog(u, "callback");
  }

  @Override
  public void sessionUpdate(SessionUpdate u) {
    emitSession(u, "callback");
  }

  @Override
  public BranchDecision branchFinal(Branch b, Request req) {
    emit("branch", map("callId", req.callId(), "uri", b.uri(), "code", b.response().code(), "pending", b.pending()));
    return branchAnswer(req);
  }

  @Override public MethodAnswer invite(Request req) throws Exception { return handle(req); }
  @Override public MethodAnswer reinvite(Request req) throws Exception { return handleAs(req, "reinvite"); }
  @Override public MethodAnswer bye(Request req) throws Exception { return handle(req); }
  @Override public MethodAnswer options(Request req) throws Exception { return handle(req); }
  @Override public MethodAnswer info(Request req) throws Exception { return handle(req); }
  @Override public MethodAnswer update(Request req) throws Exception { return handle(req); }
  @Override public MethodAnswer message(Request req) throws Exception { return handle(req); }
  @Override public MethodAnswer subscribe(Request req) throws Exception { return handle(req); }
  @Override public MethodAnswer resubscribe(Request req) throws Exception { return handleAs(req, "resubscribe"); }
  @Override public MethodAnswer notify(Request req) throws Exception { return handle(req); }
  @Override public MethodAnswer refer(Request req) throws Exception { return handle(req); }
  @Override public MethodAnswer publish(Request req) throws Exception { return handle(req); }
  @Override public MethodAnswer prack(Request req) throws Exception { return handle(req); }

  static void emitSession(SessionUpdate u, String via) {
    emit("session", map("dialog", u.dialogHandle(), "kind", u.kindName(), "local", Sdp.version(u.localSdp()),
        "remote", Sdp.version(u.remoteSdp()), "via", via));
  }

  static void emitDialog(DialogUpdate u, String via) {
    Map<String, Object> f = map("dialog", u.dialogHandle(), "status", u.statusName(), "inviteStatus",
        u.inviteStatus(), "stopReason", u.stopReason(), "via", via);
    if (via.equals("callback")) f.put("refreshSdp", Sdp.version(u.sdp()));
    emit("dialog", f);
  }

  static Map<String, Object> startedFields(StartedInfo i) {
    return map("app", i.app(), "instanceId", i.instanceId(), "listeners", i.listeners(), "serverVersion",
        i.serverVersion(), "instances", i.instances(), "reconnected", i.reconnected());
  }

  static String callbackName(Service.CallbackKind k) {
    String n = k.name();
    return (n.startsWith("CALLBACK_KIND_") ? n.substring("CALLBACK_KIND_".length()) : n).toLowerCase(Locale.ROOT);
  }

  public static void main(String[] args) throws Exception {
    List<Credential> sipPass = new ArrayList<>();
    for (String p : splitList(System.getenv("NKSIP_SIP_PASS"))) sipPass.add(credential(p));
    List<Plugin> plugins = new ArrayList<>();
    for (String p : splitList(System.getenv("NKSIP_PLUGINS"))) plugins.add(Plugin.of(p));
    List<String> t = splitList(System.getenv("NKSIP_TIMERS"));
    if (t.size() == 2) plugins.add(new Plugin("timers", Map.of("se", t.get(0), "min_se", t.get(1))));
    AppOptions opts = new AppOptions(NAME)
        .server(envOr("NKSIP_SERVER", AppOptions.DEFAULT_SERVER))
        .listen(splitList(System.getenv("NKSIP_LISTEN")))
        .token(envOr("NKSIP_TOKEN", ""))
        .pass(sipPass)
        .plugins(plugins);
    String maxCalls = envOr("NKSIP_MAX_CALLS", "").trim();
    if (maxCalls.matches("\\d+")) opts.maxCalls(Integer.parseInt(maxCalls));
    opts.notify(new Events() {
          @Override public void onStarted(StartedInfo info) { emit("started", startedFields(info)); }
          @Override public void onDisconnected(Throwable cause) {
            emit("disconnected", map("message", cause == null ? null : cause.getMessage()));
          }
          @Override public void onCallbackExpired(Service.CallbackExpired e) {
            emit("expired", map("id", e.getId(), "kind", callbackName(e.getKind()), "handledBy", e.getHandledBy(),
                "code", e.getCode()));
          }
          @Override public void onCallbackError(Service.CallbackKind kind, Throwable error) {
            emit("callback-error", map("name", callbackName(kind), "message", String.valueOf(error.getMessage())));
          }
          @Override public void onError(ServerException e) {
            emit("error", map("code", e.code(), "message", e.getMessage(), "ref", e.ref()));
          }
          // dialog and session changes sent as notifications rather than callbacks
          @Override public void onSessionUpdate(SessionUpdate u) { emitSession(u, "notification"); }
          @Override public void onDialogUpdate(DialogUpdate u) { emitDialog(u, "notification"); }
        });
    try {
      app = App.start(opts, new Main());
    } catch (RuntimeException e) {
      emit("error", map("where", "start", "message", String.valueOf(e.getMessage())));
      OUT.flush();
      System.exit(1);
    }
    CountDownLatch exit = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      STOPPED.countDown();
      app.close();
      exit.countDown();
    }));
    Thread reader = new Thread(Main::readCommands, "conformance-stdin");
    reader.setDaemon(true);
    reader.start();
    emit("ready", startedFields(app.started()));
    app.closed().join();
    // left on purpose: the process stays until a signal (its shutdown hook) ends it
    if (left) exit.await();
    // closed without a signal (gave up reconnecting): leave
    STOPPED.countDown();
    System.exit(0);
  }

  // ---- control from stdin

  static final Map<String, Call> CALLS = new ConcurrentHashMap<>();

  static String str(JsonObject o, String k) {
    JsonElement e = o.get(k);
    return e == null || e.isJsonNull() ? "" : e.getAsString();
  }

  static boolean bool(JsonObject o, String k) {
    JsonElement e = o.get(k);
    return e != null && !e.isJsonNull() && e.getAsBoolean();
  }

  static Integer integer(JsonObject o, String k) {
    JsonElement e = o.get(k);
    return e == null || e.isJsonNull() ? null : e.getAsInt();
  }

  /** UacOptions from JSON: headers as [[name, value]...] (added), body as text. */
  static UacOptions uacOptions(JsonObject c) {
    UacOptions o = new UacOptions().provisionals(true);
    if (c == null) return o;
    o.contentType(str(c, "contentType")).contact(str(c, "contact")).makeContact(bool(c, "makeContact"))
        .from(str(c, "from")).to(str(c, "to")).callId(str(c, "callId")).event(str(c, "event"))
        .referTo(str(c, "referTo")).unregister(bool(c, "unregister")).unregisterAll(bool(c, "unregisterAll"))
        .toAsFrom(bool(c, "toAsFrom")).auto2xxAck(bool(c, "auto2xxAck")).noAutoExpire(bool(c, "noAutoExpire"))
        .reason(str(c, "reason")).subscriptionState(str(c, "subscriptionState")).sipIfMatch(str(c, "sipIfMatch"))
        .localHost(str(c, "localHost")).manualPrack(bool(c, "manualPrack")).refresh(str(c, "refresh"));
    Integer v;
    if ((v = integer(c, "cseq")) != null) o.cseq(v);
    if ((v = integer(c, "expires")) != null) o.expires(v);
    if ((v = integer(c, "authMaxTries")) != null) o.authMaxTries(v);
    if ((v = integer(c, "sessionExpires")) != null) o.sessionExpires(v);
    if ((v = integer(c, "minSe")) != null) o.minSe(v);
    if (c.has("route") && c.get("route").isJsonArray()) {
      for (JsonElement r : c.getAsJsonArray("route")) o.route(r.getAsString());
    }
    if (c.has("headers") && c.get("headers").isJsonArray()) {
      for (JsonElement h : c.getAsJsonArray("headers")) {
        JsonArray a = h.getAsJsonArray();
        o.header(HeaderEdit.add(a.get(0).getAsString(), a.get(1).getAsString()));
      }
    }
    if (c.has("body") && !c.get("body").isJsonNull()) o.body(c.get("body").getAsString());
    if (c.has("prackBody") && !c.get("prackBody").isJsonNull()) {
      o.prackBody(c.get("prackBody").getAsString().getBytes(StandardCharsets.UTF_8));
    }
    JsonElement pass = c.get("pass");
    if (pass != null && !pass.isJsonNull()) {
      if (pass.isJsonPrimitive()) {
        o.pass(Credential.password(pass.getAsString()));
      } else {
        for (JsonElement p : pass.getAsJsonArray()) {
          JsonObject po = p.getAsJsonObject();
          o.pass(new Credential(str(po, "realm"), str(po, "user"), str(po, "password")));
        }
      }
    }
    return o;
  }

  static Map<String, Object> responseFields(Response r) {
    List<List<String>> headers = new ArrayList<>();
    for (var h : r.headers()) headers.add(List.of(h.getName(), h.getValue()));
    return map("code", r.code(), "reason", r.reason(), "dialog", r.dialogHandle(), "subscription",
        r.subscriptionHandle(), "callId", r.callId(), "cseq", r.cseq(), "headers", headers, "body", r.text());
  }

  static void result(String id, Map<String, Object> fields) {
    fields.put("id", id);
    emit("result", fields);
  }

  static void runCommand(JsonObject c) {
    String id = str(c, "id");
    switch (str(c, "cmd")) {
      case "request" -> {
        UacOptions opts;
        try {
          opts = uacOptions(c.has("opts") && c.get("opts").isJsonObject() ? c.getAsJsonObject("opts") : null);
        } catch (RuntimeException e) {
          result(id, map("error", "command", "message", String.valueOf(e.getMessage())));
          return;
        }
        Target to = Target.uri(str(c, "uri"));
        if (!str(c, "dialog").isEmpty()) to = Target.dialog(str(c, "dialog"));
        else if (!str(c, "subscription").isEmpty()) to = Target.subscription(str(c, "subscription"));
        String method = str(c, "method").isEmpty() ? "OPTIONS" : str(c, "method");
        opts.onProvisional(p -> {
          Map<String, Object> f = responseFields(p);
          f.put("id", id);
          emit("provisional", f);
        });
        Call call = app.send(method, to, opts);
        CALLS.put(id, call);
        watch(id, call);
      }
      case "dialog", "dialogs", "stop-dialog" -> background(() -> runDialogCommand(c));
      case "stun" -> app.stun(str(c, "uri")).whenComplete((r, err) -> {
        if (err == null) {
          result(id, map(
              "local", map("address", r.local().address(), "port", r.local().port()),
              "public", map("address", r.publicAddress().address(), "port", r.publicAddress().port())));
        } else {
          Throwable e = unwrap(err);
          String kind = e instanceof UacException u ? u.kind() : "exception";
          result(id, map("error", kind, "message", String.valueOf(e.getMessage())));
        }
      });
      case "leave" -> {
        // the app stops and the process stays: a request now is NkSIP's service_not_started
        left = true;
        background(() -> {
          app.close();
          result(id, map("left", true));
        });
      }
      case "cancel" -> {
        Call invite = CALLS.get(str(c, "call"));
        if (invite == null) {
          result(id, map("error", "command", "message", "no call " + str(c, "call")));
          return;
        }
        String reason = str(c, "reason");
        invite.requestHandle().whenComplete((h, err) -> {
          if (err != null) {
            result(id, map("error", "unknownRequest", "message", String.valueOf(unwrap(err).getMessage())));
            return;
          }
          watch(id, app.cancel(h, new UacOptions().reason(reason)));
        });
      }
      default -> result(id, map("error", "command", "message", "unknown command " + str(c, "cmd")));
    }
  }

  static Throwable unwrap(Throwable t) {
    while ((t instanceof java.util.concurrent.CompletionException || t instanceof ExecutionException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  /** Prints a call's result (its provisionals are printed as they come). */
  static void watch(String id, Call call) {
    call.result().whenComplete((res, err) -> {
      if (err != null) {
        Throwable e = unwrap(err);
        String kind = e instanceof UacException ue ? ue.kind() : "exception";
        result(id, map("error", kind, "message", String.valueOf(e.getMessage())));
        return;
      }
      result(id, responseFields(res));
    });
  }

  static void runDialogCommand(JsonObject c) {
    String id = str(c, "id");
    try {
      switch (str(c, "cmd")) {
        case "dialog" -> {
          var d = await(app.dialog(str(c, "dialog")));
          result(id, map("info", d.map(Main::dialogJson).orElse(null)));
        }
        case "dialogs" -> {
          List<Map<String, Object>> infos = new ArrayList<>();
          for (DialogInfo d : await(app.dialogs(str(c, "callId")))) infos.add(dialogJson(d));
          result(id, map("infos", infos));
        }
        default -> {
          await(app.stopDialog(str(c, "dialog")));
          result(id, map("stopped", str(c, "dialog")));
        }
      }
    } catch (Exception e) {
      result(id, map("error", "dialog", "message", String.valueOf(e.getMessage())));
    }
  }

  /** A DialogInfo as every conformance app prints it, with the INVITE session's SDP bodies as text. */
  static Map<String, Object> dialogJson(DialogInfo d) {
    Map<String, Object> out = map("handle", d.handle(), "callId", d.callId(), "localTag", d.localTag(),
        "remoteTag", d.remoteTag(), "role", d.role(), "created", d.created(), "updated", d.updated());
    if (d.localSeq() != 0) out.put("localSeq", d.localSeq());
    if (d.remoteSeq() != 0) out.put("remoteSeq", d.remoteSeq());
    out.putAll(map("localUri", d.localUri(), "remoteUri", d.remoteUri(), "localTarget", d.localTarget(),
        "remoteTarget", d.remoteTarget(), "routeSet", d.routeSet(), "early", d.early(), "secure", d.secure()));
    if (!d.inviteStatus().isEmpty()) out.put("inviteStatus", d.inviteStatus());
    if (d.inviteAnswered() != 0) out.put("inviteAnswered", d.inviteAnswered());
    out.put("subscriptions", d.subscriptions());
    if (d.inviteLocalSdp().length > 0) out.put("inviteLocalSdp", new String(d.inviteLocalSdp(), StandardCharsets.UTF_8));
    if (d.inviteRemoteSdp().length > 0) {
      out.put("inviteRemoteSdp", new String(d.inviteRemoteSdp(), StandardCharsets.UTF_8));
    }
    return out;
  }

  static void readCommands() {
    try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
      String line;
      while ((line = in.readLine()) != null) {
        line = line.trim();
        if (line.isEmpty()) continue;
        JsonObject c;
        try {
          c = JsonParser.parseString(line).getAsJsonObject();
        } catch (RuntimeException e) {
          emit("error", map("where", "command", "message", String.valueOf(e.getMessage()), "line", line));
          continue;
        }
        try {
          runCommand(c);
        } catch (RuntimeException e) {
          emit("error", map("where", "command", "message", String.valueOf(e.getMessage()), "line", line));
        }
      }
    } catch (java.io.IOException e) {
      // stdin closed: nothing more to read
    }
  }
}
