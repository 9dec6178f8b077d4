package io.nksip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.nksip.testing.TestServer;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import nksip.v1.Service.CallbackKind;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Against the real nksip-server: the built CLI (dist/server/src/cli.js, `make build`) as a child
 * process on 127.0.0.1 with port 0 (or a port chosen here when the test restarts it), stopped by
 * its PID. Skipped when node or the build is missing.
 */
class ServerTest {
  private final List<AutoCloseable> started = new ArrayList<>();
  private Path cli;

  @BeforeEach
  void needServer() {
    cli = TestServer.cli();
    Assumptions.assumeTrue(cli != null, "dist/server/src/cli.js missing: run `make build` first");
    Assumptions.assumeTrue(TestServer.nodeAvailable(), "node not found");
  }

  @AfterEach
  void stopEverything() throws Exception {
    // apps first, then the servers
    for (int i = started.size() - 1; i >= 0; i--) started.get(i).close();
  }

  TestServer server(String grpc) throws Exception {
    TestServer s = TestServer.start(cli, grpc, Map.of());
    started.add(s);
    return s;
  }

  App app(AppOptions o, SipApp a) {
    o.reconnect(new Backoff(false, Duration.ofMillis(50), Duration.ofMillis(300), 2, 0.5, 0))
        .joinTimeout(Duration.ofSeconds(15));
    App app = App.start(o, a);
    started.add(app);
    return app;
  }

  static int freePort() throws Exception {
    for (;;) {
      try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
        int port = s.getLocalPort();
        try (DatagramSocket d = new DatagramSocket(port, InetAddress.getLoopbackAddress())) {
          return port;
        } catch (Exception e) {
          // taken for UDP: try another
        }
      }
    }
  }

  /** A UAS app on the server's own listener and a UAC app on a listener of its own. */
  record Pair(App uas, App uac, String target) {}

  Pair pair(TestServer srv, SipApp uas, Events uasEvents) throws Exception {
    App u = app(new AppOptions("uas").server(srv.grpc()).notify(uasEvents), uas);
    App c = app(new AppOptions("uac").server(srv.grpc()).listen("sip:127.0.0.1:" + freePort()), new SipApp() {});
    return new Pair(u, c, "sip:uas@127.0.0.1:" + srv.port("udp"));
  }

  static <T> T get(CompletableFuture<T> f) throws Exception {
    return f.get(10, TimeUnit.SECONDS);
  }

  static UacException uacError(CompletableFuture<?> f) {
    var e = assertThrows(ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
    return assertInstanceOf(UacException.class, e.getCause());
  }

  @Test
  void optionsAnsweredByAnApp() throws Exception {
    TestServer srv = server(null);
    BlockingQueue<String> seen = new LinkedBlockingQueue<>();
    Pair p = pair(srv, new SipApp() {
      @Override
      public MethodAnswer options(Request req) {
        seen.add(req.header("x-test"));
        return Reply.ok().withHeader("x-app", "java");
      }
    }, new Events() {});
    Response res = get(p.uac().options(Target.uri(p.target()), new UacOptions().header("x-test", "42")));
    assertEquals(200, res.code());
    assertEquals("java", res.header("x-app"));
    assertEquals("42", seen.poll(5, TimeUnit.SECONDS));
    assertTrue(p.uas().started().listeners().contains("udp:127.0.0.1:" + srv.port("udp")));
  }

  @Test
  void inviteProvisionalsLateReplyAndCancel() throws Exception {
    TestServer srv = server(null);
    BlockingQueue<String> cancelled = new LinkedBlockingQueue<>();
    Pair p = pair(srv, new SipApp() {
      @Override
      public MethodAnswer invite(Request req) {
        req.reply(Reply.ringing());
        if ("busy".equals(req.header("x-op"))) CompletableFuture.runAsync(() -> req.reply(Reply.busy()));
        return MethodAnswer.noReply();
      }

      @Override
      public void cancel(Request invite, Request cancel) {
        cancelled.add(invite.callId());
      }
    }, new Events() {});
    List<Integer> watched = new CopyOnWriteArrayList<>();
    Call call = p.uac().send("INVITE", Target.uri(p.target()),
        new UacOptions().header("x-op", "busy").onProvisional(r -> watched.add(r.code())));
    Response res = get(call.result());
    assertEquals(486, res.code());
    assertEquals(180, watched.get(watched.size() - 1));
    assertEquals(watched.size(), call.provisionals().size());

    CompletableFuture<Response> ringing = new CompletableFuture<>();
    Call held = p.uac().send("INVITE", Target.uri(p.target()), new UacOptions().onProvisional(r -> {
      if (r.code() == 180) ringing.complete(r);
    }));
    get(ringing);
    assertEquals(200, get(p.uac().cancel(held, "")).code());
    Response fin = get(held.result());
    assertEquals(487, fin.code());
    assertEquals(fin.callId(), cancelled.poll(5, TimeUnit.SECONDS));
  }

  @Test
  void failingCallbacksAnswer500AndTheAppServesOn() throws Exception {
    TestServer srv = server(null);
    AtomicInteger failures = new AtomicInteger();
    Pair p = pair(srv, new SipApp() {
      @Override
      public MethodAnswer options(Request req) {
        return switch (req.header("x-op", "")) {
          case "throw" -> throw new IllegalStateException("the callback failed");
          case "null" -> null;
          case "invalid" -> Reply.status(99);
          default -> Reply.ok();
        };
      }
    }, new Events() {
      @Override
      public void onCallbackError(CallbackKind kind, Throwable error) {
        failures.incrementAndGet();
      }
    });
    int n = 0;
    for (String op : List.of("throw", "null", "invalid")) {
      Response res = get(p.uac().options(Target.uri(p.target()), new UacOptions().header("x-op", op)));
      assertEquals(500, res.code(), op);
      assertEquals("SipApp Callback Failed", res.reason(), op);
      assertEquals(++n, failures.get(), op);
    }
    assertEquals(200, get(p.uac().options(Target.uri(p.target()), null)).code());
    assertTrue(p.uas().connected());
  }

  @Test
  void uacErrorsAndDialogQueries() throws Exception {
    TestServer srv = server(null);
    Pair p = pair(srv, new SipApp() {}, new Events() {});
    assertEquals("invalidUri", uacError(p.uac().options(Target.uri("not a uri"), null)).kind());
    assertEquals("unknownDialog", uacError(p.uac().bye("D_nothing", null)).kind());
    assertTrue(get(p.uac().dialog("D_nothing")).isEmpty());
    var e = assertThrows(ExecutionException.class, () -> get(p.uac().stopDialog("D_nothing")));
    assertInstanceOf(IllegalStateException.class, e.getCause());
  }

  @Test
  void anInvalidConfigIsRefusedAtOnce() throws Exception {
    TestServer srv = server(null);
    var e = assertThrows(ServerException.class,
        () -> App.start(new AppOptions("bad").server(srv.grpc()).listen("http://nowhere"), new SipApp() {}));
    assertTrue(e.fatal(), e.code());
  }

  @Test
  void serverRestartTheAppsRejoinAndServe() throws Exception {
    String grpc = "127.0.0.1:" + freePort();
    TestServer srv = server(grpc);
    AtomicBoolean rejoined = new AtomicBoolean();
    CompletableFuture<Void> disconnected = new CompletableFuture<>();
    Pair p = pair(srv, new SipApp() {
      @Override
      public MethodAnswer options(Request req) {
        return Reply.ok().withHeader("x-served-by", "java");
      }
    }, new Events() {
      @Override
      public void onStarted(StartedInfo info) {
        rejoined.set(info.reconnected());
      }

      @Override
      public void onDisconnected(Throwable cause) {
        disconnected.complete(null);
      }
    });
    assertEquals(200, get(p.uac().options(Target.uri(p.target()), null)).code());
    srv.close();
    get(disconnected);
    String kind = uacError(p.uac().options(Target.uri(p.target()), null)).kind();
    assertTrue(kind.equals("notConnected") || kind.equals("disconnected"), kind);

    TestServer srv2 = server(grpc);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
    while (!(p.uas().connected() && p.uac().connected())) {
      if (System.nanoTime() > deadline) fail("the apps did not rejoin the restarted server");
      Thread.sleep(50);
    }
    assertTrue(rejoined.get(), "Started after the restart was not marked reconnected");
    Response res = get(p.uac().options(Target.uri("sip:uas@127.0.0.1:" + srv2.port("udp")), null));
    assertEquals(200, res.code());
    assertEquals("java", res.header("x-served-by"));
  }

  @Test
  void closeFailsPendingAndRefusesNewRequests() throws Exception {
    TestServer srv = server(null);
    Pair p = pair(srv, new SipApp() {
      @Override
      public MethodAnswer invite(Request req) {
        return MethodAnswer.noReply();
      }
    }, new Events() {});
    Call call = p.uac().send("INVITE", Target.uri(p.target()), null);
    assertFalse(get(call.requestHandle()).isEmpty());
    p.uac().close();
    assertTrue(p.uac().closed().isDone());
    assertEquals("disconnected", uacError(call.result()).kind());
    assertEquals("notConnected", uacError(p.uac().options(Target.uri(p.target()), null)).kind());
    p.uac().close(); // idempotent
  }

  @Test
  void aRefusedReliableProvisionalIsPendingPrack() throws Exception {
    TestServer srv = server(null);
    BlockingQueue<ServerException> errors = new LinkedBlockingQueue<>();
    Pair p = pair(srv, new SipApp() {
      @Override
      public MethodAnswer invite(Request req) {
        req.reply(Reply.relRinging(null));
        req.reply(Reply.relSessionProgress(null));
        return MethodAnswer.noReply();
      }
    }, new Events() {
      @Override
      public void onError(ServerException e) {
        errors.add(e);
      }
    });
    // no PRACK from the caller: the 180 waits for one however the two replies are timed
    Call call = p.uac().send("INVITE", Target.uri(p.target()), new UacOptions().manualPrack(true));
    ServerException e = errors.poll(10, TimeUnit.SECONDS);
    assertTrue(e != null, "no error for the refused 183");
    assertEquals("pendingPrack", e.code());
    assertNotEquals(0, e.ref());
    get(p.uac().cancel(call, ""));
    assertEquals(487, get(call.result()).code());
    assertTrue(call.provisionals().stream().noneMatch(r -> r.code() == 183), "the refused 183 was sent");
  }

  @Test
  void theDialogAndSessionOfTheAppsOwnInviteComeToItsCallbacks() throws Exception {
    TestServer srv = server(null);
    app(new AppOptions("uas").server(srv.grpc()), new SipApp() {
      @Override
      public MethodAnswer invite(Request req) {
        return Reply.answer(Sdp.answer(req.body(), "uas", "", 40010), "");
      }
    });
    BlockingQueue<String> updates = new LinkedBlockingQueue<>();
    App uac = app(new AppOptions("uac").server(srv.grpc()).listen("sip:127.0.0.1:" + freePort()), new SipApp() {
      @Override
      public void dialogUpdate(DialogUpdate u) {
        updates.add("dialog " + u.statusName() + " " + u.dialogHandle());
      }

      @Override
      public void sessionUpdate(SessionUpdate u) {
        updates.add("session " + u.kindName() + " " + u.dialogHandle());
      }
    });
    Response res = get(uac.invite(Target.uri("sip:uas@127.0.0.1:" + srv.port("udp")),
        new UacOptions().body(Sdp.offer("uac", "", Sdp.Media.audio(40020, "0"))).auto2xxAck(true)));
    assertEquals(200, res.code());
    String d = res.dialogHandle();
    assertEquals(200, get(uac.bye(d, null)).code());
    List<String> want = new ArrayList<>(List.of("dialog start " + d, "session start " + d, "session stop " + d,
        "dialog stop " + d));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!want.isEmpty() && System.nanoTime() < deadline) {
      String u = updates.poll(100, TimeUnit.MILLISECONDS);
      if (u != null) want.remove(u);
    }
    assertTrue(want.isEmpty(), "updates not seen: " + want);
  }

  @Test
  void anUnreachableServerFailsTheStartWithoutOrAfterRetrying() throws Exception {
    String nowhere = "127.0.0.1:" + freePort();
    var once = assertThrows(ServerException.class, () -> App.start(
        new AppOptions("nobody").server(nowhere).reconnect(Backoff.DISABLED), new SipApp() {}));
    assertEquals("stream", once.code());
    AtomicInteger attempts = new AtomicInteger();
    var retried = assertThrows(ServerException.class, () -> App.start(new AppOptions("nobody").server(nowhere)
        .reconnect(new Backoff(false, Duration.ofMillis(20), Duration.ofMillis(50), 2, 0, 3))
        .notify(new Events() {
          @Override
          public void onReconnecting(int attempt, long delayMs) {
            attempts.incrementAndGet();
          }
        }), new SipApp() {}));
    assertEquals("stream", retried.code());
    assertEquals(3, attempts.get());
  }
}
