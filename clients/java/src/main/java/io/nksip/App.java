package io.nksip;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import nksip.v1.Service;
import nksip.v1.Service.ConnectRequest;
import nksip.v1.Service.ConnectResponse;
import nksip.v1.SipAppServiceGrpc;
import nksip.v1.Uac;

/**
 * A running SipApp: one bidirectional stream to the server. Create it with {@link #start};
 * {@link #close()} stops it cleanly. When the stream breaks, pending requests fail with
 * {@code disconnected} and the app rejoins with the reconnect backoff, keeping its instance id.
 * Every method is safe for concurrent use.
 */
public final class App implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger("io.nksip");
  private static final AtomicInteger THREADS = new AtomicInteger();

  private final AppOptions opts;
  private final Callbacks callbacks;
  private final Events events;
  private final ManagedChannel channel;
  private final SipAppServiceGrpc.SipAppServiceStub stub;
  private final ExecutorService workers;
  private final AtomicLong nextId = new AtomicLong();
  private final Map<Long, Call> pending = new ConcurrentHashMap<>();
  private final Map<Long, CompletableFuture<ConnectResponse>> queries = new ConcurrentHashMap<>();
  private final CountDownLatch closedLatch = new CountDownLatch(1);
  private final CompletableFuture<Void> closedFuture = new CompletableFuture<>();
  // callbacks that keep the server's order, by key (Call-ID, or one key for the updates)
  private final Map<String, ArrayDeque<Runnable>> ordered = new HashMap<>();

  private final Object lock = new Object();
  private boolean stopping;
  private boolean isClosed;
  private Stream cur;
  private StartedInfo started;

  private App(AppOptions opts, SipApp app) {
    this.opts = opts;
    this.callbacks = new Callbacks(app);
    this.events = opts.notify;
    this.channel = ManagedChannelBuilder.forTarget(opts.server).usePlaintext().build();
    this.stub = SipAppServiceGrpc.newStub(channel);
    ThreadFactory tf = r -> {
      Thread t = new Thread(r, "nksip-" + opts.app + "-" + THREADS.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
    this.workers = Executors.newCachedThreadPool(tf);
  }

  /**
   * Connects, sends Start with the callbacks {@code app} overrides and returns once the server
   * answered Started. While the server cannot be reached it retries with the reconnect policy
   * (for {@link AppOptions#joinTimeout} at most); a refusal that retrying cannot fix (invalid
   * config, config mismatch, listen failure, bad token) is thrown at once.
   *
   * @throws ServerException when the app could not join
   */
  public static App start(AppOptions opts, SipApp app) {
    if (opts.app == null || opts.app.isEmpty()) throw new IllegalArgumentException("the app name is required");
    App a = new App(opts, app);
    try {
      a.open();
    } catch (ServerException e) {
      if (opts.reconnect.disabled() || e.fatal()) {
        a.shutdown();
        throw e;
      }
      LOG.log(Level.WARNING, "cannot join the server yet: {0}", e.getMessage());
      long deadline = opts.joinTimeout.isZero() ? Long.MAX_VALUE : System.nanoTime() + opts.joinTimeout.toNanos();
      try {
        a.reconnect(true, deadline);
      } catch (ServerException e2) {
        a.shutdown();
        throw e2;
      }
    }
    return a;
  }

  /** The app's name. */
  public String name() { return opts.app; }

  /** What the server said in the latest Started. */
  public StartedInfo started() {
    synchronized (lock) {
      return started;
    }
  }

  /** Whether the stream is up and joined. */
  public boolean connected() {
    return current() != null;
  }

  /** Completes once the app has closed. */
  public CompletableFuture<Void> closed() {
    return closedFuture.copy();
  }

  // ---- the stream

  /** One Connect call: Start, then everything the server sends, until it ends. */
  private final class Stream implements ClientResponseObserver<ConnectRequest, ConnectResponse> {
    private ClientCallStreamObserver<ConnectRequest> out;
    final CompletableFuture<StartedInfo> joined = new CompletableFuture<>();
    final CountDownLatch done = new CountDownLatch(1);
    private volatile boolean ready;
    private ServerException startError;

    @Override
    public void beforeStart(ClientCallStreamObserver<ConnectRequest> requestStream) {
      out = requestStream;
    }

    synchronized void send(ConnectRequest m) {
      out.onNext(m);
    }

    synchronized void halfClose() {
      try {
        out.onCompleted();
      } catch (RuntimeException ignored) {
        // already closed
      }
    }

    void cancel(String why) {
      out.cancel(why, null);
    }

    @Override
    public void onNext(ConnectResponse m) {
      if (ready) {
        dispatch(this, m);
        return;
      }
      switch (m.getMsgCase()) {
        case STARTED -> {
          ServerException refused = joinedStream(this, m.getStarted());
          if (refused != null) {
            joined.completeExceptionally(refused);
            cancel("app stopped");
          } else {
            ready = true;
            joined.complete(started());
          }
        }
        case ERROR -> startError = serverError(m.getError());
        default -> LOG.log(Level.WARNING, "unexpected message before Started: {0}", m.getMsgCase());
      }
    }

    @Override
    public void onError(Throwable t) {
      ended(t);
    }

    @Override
    public void onCompleted() {
      ended(null);
    }

    private void ended(Throwable t) {
      done.countDown();
      if (!ready) {
        joined.completeExceptionally(startError != null ? startError
            : t != null ? streamError(t) : new ServerException("stream", "stream closed before Started", 0));
        return;
      }
      ready = false;
      broken(this, t);
    }
  }

  private static ServerException serverError(Service.Error e) {
    String code = Names.lowerCamel(Names.stripPrefix(e.getCode().name(), "ERROR_CODE_"));
    String msg = e.getMessage().isEmpty() ? e.getCode().name() : e.getMessage();
    return new ServerException(code, msg, e.getRef());
  }

  private static ServerException streamError(Throwable t) {
    if (t instanceof ServerException se) return se;
    Status s = Status.fromThrowable(t);
    if (s.getCode() == Status.Code.UNKNOWN && !(t instanceof StatusRuntimeException)) {
      return new ServerException("stream", String.valueOf(t.getMessage()), 0);
    }
    String code = switch (s.getCode()) {
      case UNAUTHENTICATED -> "unauthenticated";
      case PERMISSION_DENIED -> "permissionDenied";
      case UNIMPLEMENTED -> "unimplemented";
      case INVALID_ARGUMENT -> "invalidArgument";
      default -> "stream";
    };
    String msg = s.getDescription() == null ? s.getCode().name() : s.getDescription();
    return new ServerException(code, msg, 0);
  }

  private ConnectRequest startMessage() {
    var start = Service.Start.newBuilder()
        .setApp(opts.app)
        .setConfig(opts.config())
        .addAllCallbacks(callbacks.implemented())
        .setToken(opts.token)
        // the server may send what it has at one moment as one ResponseBatch; answers go singly
        .setBatching(true);
    synchronized (lock) {
      if (started != null) start.setInstanceId(started.instanceId());
    }
    return ConnectRequest.newBuilder().setStart(start).build();
  }

  /** Opens a stream, sends Start and waits for Started; on success the stream is current. */
  private void open() {
    channel.resetConnectBackoff();
    Stream st = new Stream();
    stub.connect(st);
    try {
      st.send(startMessage());
      st.joined.get(opts.startTimeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      st.cancel("timed out waiting for Started");
      throw new ServerException("stream", "timed out waiting for Started", 0);
    } catch (ExecutionException e) {
      st.cancel("start failed");
      throw e.getCause() instanceof ServerException se ? se : streamError(e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      st.cancel("interrupted");
      throw new ServerException("stream", "interrupted while joining", 0);
    } catch (RuntimeException e) {
      st.cancel("start failed");
      throw streamError(e);
    }
  }

  /** Started came on st: it becomes the current stream (null), unless the app is stopping. */
  private ServerException joinedStream(Stream st, Service.Started s) {
    StartedInfo info;
    synchronized (lock) {
      if (stopping) return new ServerException("stream", "app stopped", 0);
      info = new StartedInfo(s.getApp(), s.getInstanceId(), List.copyOf(s.getListenersList()), s.getServerVersion(),
          s.getInstances(), started != null);
      started = info;
      cur = st;
    }
    LOG.log(Level.DEBUG, "joined the server as {0} (reconnected: {1})", info.instanceId(), info.reconnected());
    safely(() -> events.onStarted(info));
    return null;
  }

  private void broken(Stream st, Throwable t) {
    synchronized (lock) {
      if (stopping || cur != st) return;
      cur = null;
    }
    ServerException se = t == null ? new ServerException("stream", "closed by the server", 0) : streamError(t);
    LOG.log(Level.WARNING, "stream to the server broke: {0}", se.getMessage());
    failPending("the stream to the server broke");
    safely(() -> events.onDisconnected(se));
    if (t != null) emitError(se);
    if (opts.reconnect.disabled()) {
      shutdown();
      return;
    }
    workers.execute(() -> {
      try {
        reconnect(false, Long.MAX_VALUE);
      } catch (ServerException e) {
        shutdown();
      }
    });
  }

  /** Retries open with backoff until it succeeds, the app closes, the deadline passes or the policy gives up. */
  private void reconnect(boolean first, long deadline) {
    Backoff b = opts.reconnect;
    for (int attempt = 1;; attempt++) {
      if (b.maxAttempts() > 0 && attempt > b.maxAttempts()) {
        var e = new ServerException("stream", "gave up after " + (attempt - 1) + " reconnect attempts", 0);
        emitError(e);
        throw e;
      }
      Duration delay = b.delay(attempt);
      if (System.nanoTime() + delay.toNanos() > deadline) {
        throw new ServerException("stream", "the server could not be reached in time", 0);
      }
      int n = attempt;
      safely(() -> events.onReconnecting(n, delay.toMillis()));
      try {
        if (closedLatch.await(delay.toMillis(), TimeUnit.MILLISECONDS)) {
          throw new ServerException("stream", "app stopped", 0);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new ServerException("stream", "interrupted", 0);
      }
      try {
        open();
        return;
      } catch (ServerException se) {
        LOG.log(Level.DEBUG, "reconnect attempt {0} failed: {1}", attempt, se.getMessage());
        if (first && se.fatal()) throw se;
        if (!se.code().equals("stream")) emitError(se);
      }
    }
  }

  private Stream current() {
    synchronized (lock) {
      return stopping || cur == null ? null : cur;
    }
  }

  private void send(ConnectRequest m) {
    Stream st = current();
    if (st == null) throw new IllegalStateException("the app is not connected");
    try {
      st.send(m);
    } catch (RuntimeException e) {
      throw new IllegalStateException("the app is not connected: " + e.getMessage(), e);
    }
  }

  private void failPending(String why) {
    for (Long id : List.copyOf(pending.keySet())) {
      Call c = pending.remove(id);
      if (c != null) c.fail(new UacException("disconnected", c.method() + " not completed: " + why, ""));
    }
    for (Long id : List.copyOf(queries.keySet())) {
      var q = queries.remove(id);
      if (q != null) later(() -> q.completeExceptionally(new IllegalStateException("command not completed: " + why)));
    }
  }

  private void emitError(ServerException e) {
    LOG.log(Level.DEBUG, "server error {0}: {1}", e.code(), e.getMessage());
    safely(() -> events.onError(e));
  }

  /** Runs r on the workers (inline once they are shut down): futures complete off the receiving thread. */
  private void later(Runnable r) {
    try {
      workers.execute(r);
    } catch (RejectedExecutionException e) {
      r.run();
    }
  }

  private static void safely(Runnable r) {
    try {
      r.run();
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "an event hook failed", e);
    }
  }

  // ---- what the server sends

  private void dispatch(Stream st, ConnectResponse m) {
    switch (m.getMsgCase()) {
      case BATCH -> {
        for (ConnectResponse inner : m.getBatch().getMessagesList()) {
          if (inner.getMsgCase() != ConnectResponse.MsgCase.BATCH) dispatch(st, inner);
        }
      }
      case CALLBACK -> {
        Service.Callback cb = m.getCallback();
        Runnable task = () -> callback(st, cb);
        if (Callbacks.isUpdate(cb.getKind())) runOrdered("\u0000updates", task);
        else if (Callbacks.ordered(cb.getKind())) runOrdered(cb.getRequest().getCallId(), task);
        else workers.execute(task);
      }
      case UAC_EVENT -> {
        Uac.UacEvent ev = m.getUacEvent();
        Call c = pending.get(ev.getId());
        if (c == null) {
          safely(() -> events.onUacEvent(ev));
        } else if (c.event(ev)) {
          pending.remove(ev.getId());
        }
      }
      case DIALOG_RESULT -> answerQuery(m.getDialogResult().getId(), m);
      case AUTHORIZED_LIST -> answerQuery(m.getAuthorizedList().getId(), m);
      case STUN_RESULT -> answerQuery(m.getStunResult().getId(), m);
      case REGISTRAR_RESULT -> answerQuery(m.getRegistrarResult().getId(), m);
      case AUTO_RESULT -> {
        if (m.getAutoResult().getId() == 0) {
          for (var s : m.getAutoResult().getEntriesList()) safely(() -> events.onAutoStatus(s));
        } else {
          answerQuery(m.getAutoResult().getId(), m);
        }
      }
      case NOTIFICATION -> notification(m.getNotification());
      case ERROR -> emitError(serverError(m.getError()));
      case STARTED -> LOG.log(Level.WARNING, "Started received twice; ignored");
      default -> LOG.log(Level.DEBUG, "unknown message from the server ignored");
    }
  }

  private void notification(Service.Notification n) {
    switch (n.getEventCase()) {
      case DIALOG_UPDATE -> safely(() -> events.onDialogUpdate(DialogUpdate.of(n.getDialogUpdate())));
      case SESSION_UPDATE -> safely(() -> events.onSessionUpdate(SessionUpdate.of(n.getSessionUpdate())));
      case CALLBACK_EXPIRED -> safely(() -> events.onCallbackExpired(n.getCallbackExpired()));
      case REGISTRATION -> safely(() -> events.onRegistration(n.getRegistration()));
      default -> {}
    }
  }

  /** Runs task after every earlier task of the same key, on the workers. */
  private void runOrdered(String key, Runnable task) {
    synchronized (ordered) {
      ArrayDeque<Runnable> q = ordered.get(key);
      if (q != null) {
        q.add(task);
        return;
      }
      q = new ArrayDeque<>();
      q.add(task);
      ordered.put(key, q);
    }
    workers.execute(() -> {
      for (;;) {
        Runnable next;
        synchronized (ordered) {
          ArrayDeque<Runnable> q = ordered.get(key);
          next = q.poll();
          if (next == null) {
            ordered.remove(key);
            return;
          }
        }
        next.run();
      }
    });
  }

  private void callback(Stream st, Service.Callback cb) {
    if (!callbacks.has(cb.getKind())) {
      LOG.log(Level.WARNING, "callback {0} not implemented; not answered", cb.getKind());
      return;
    }
    Service.CallbackAnswer ans;
    try {
      ans = callbacks.run(this, cb);
    } catch (Throwable e) {
      LOG.log(Level.WARNING, "callback " + Names.callback(cb.getKind()) + " failed", e);
      safely(() -> events.onCallbackError(cb.getKind(), e));
      ans = Callbacks.onFailure(cb.getKind());
    }
    ans = ans.toBuilder().setId(cb.getId()).build();
    if (current() != st) {
      LOG.log(Level.DEBUG, "stream changed before callback {0} finished; answer dropped", cb.getId());
      return;
    }
    try {
      st.send(ConnectRequest.newBuilder().setAnswer(ans).build());
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "answer to callback {0} not sent: {1}", cb.getId(), e.getMessage());
    }
  }

  /**
   * Replies to a request whose callback answered {@link MethodAnswer#noReply()} (as
   * {@link Request#reply} does).
   *
   * @throws IllegalStateException when the app is not connected
   * @throws IllegalArgumentException for a reply the server would refuse
   */
  public void reply(String requestHandle, Reply reply) {
    send(ConnectRequest.newBuilder()
        .setLateReply(Service.LateReply.newBuilder().setRequestHandle(requestHandle).setReply(reply.toProto()))
        .build());
  }

  // ---- requests the app sends (UAC)

  /** Sends a request and returns at once: watch its provisionals, wait for its result, CANCEL it. */
  public Call send(String method, Target to, UacOptions opts) {
    method = method.toUpperCase(Locale.ROOT);
    if (opts == null) opts = new UacOptions();
    boolean provisionals = method.equals("INVITE") || opts.wantsProvisionals();
    var cmd = Uac.UacCommand.newBuilder()
        .setMethod(method)
        .setUri(to.uri())
        .setDialogHandle(to.dialog())
        .setSubscriptionHandle(to.subscription())
        .setOptions(opts.toProto(provisionals));
    return sendCommand(cmd, opts.onProvisional());
  }

  private Call sendCommand(Uac.UacCommand.Builder cmd, java.util.function.Consumer<Response> onProv) {
    long id = nextId.incrementAndGet();
    cmd.setId(id);
    Call c = new Call(id, cmd.getMethod(), onProv, this::later);
    pending.put(id, c);
    try {
      send(ConnectRequest.newBuilder().setCommand(cmd).build());
    } catch (IllegalStateException e) {
      pending.remove(id);
      c.fail(new UacException("notConnected", cmd.getMethod() + " not sent: " + e.getMessage(), ""));
    }
    return c;
  }

  /** Sends any method and completes with the final response (or a {@link UacException}). */
  public CompletableFuture<Response> request(String method, Target to, UacOptions opts) {
    return send(method, to, opts).result();
  }

  public CompletableFuture<Response> options(Target to, UacOptions opts) { return request("OPTIONS", to, opts); }
  public CompletableFuture<Response> register(String uri, UacOptions opts) {
    return request("REGISTER", Target.uri(uri), opts);
  }
  public CompletableFuture<Response> invite(Target to, UacOptions opts) { return request("INVITE", to, opts); }
  public CompletableFuture<Response> ack(String dialog, UacOptions opts) {
    return request("ACK", Target.dialog(dialog), opts);
  }
  public CompletableFuture<Response> bye(String dialog, UacOptions opts) {
    return request("BYE", Target.dialog(dialog), opts);
  }
  public CompletableFuture<Response> info(String dialog, UacOptions opts) {
    return request("INFO", Target.dialog(dialog), opts);
  }
  public CompletableFuture<Response> update(String dialog, UacOptions opts) {
    return request("UPDATE", Target.dialog(dialog), opts);
  }
  public CompletableFuture<Response> prack(String dialog, UacOptions opts) {
    return request("PRACK", Target.dialog(dialog), opts);
  }
  /** A session refresh re-INVITE: mode active, hold, inactive, recvonly or keep (null: keep). */
  public CompletableFuture<Response> refresh(String dialog, String mode, UacOptions opts) {
    if (opts == null) opts = new UacOptions();
    return request("INVITE", Target.dialog(dialog), opts.refresh(mode == null || mode.isEmpty() ? "keep" : mode));
  }
  public CompletableFuture<Response> message(Target to, UacOptions opts) { return request("MESSAGE", to, opts); }
  public CompletableFuture<Response> subscribe(Target to, UacOptions opts) { return request("SUBSCRIBE", to, opts); }
  public CompletableFuture<Response> notify(String subscription, UacOptions opts) {
    return request("NOTIFY", Target.subscription(subscription), opts);
  }
  public CompletableFuture<Response> refer(Target to, UacOptions opts) { return request("REFER", to, opts); }
  public CompletableFuture<Response> publish(Target to, UacOptions opts) { return request("PUBLISH", to, opts); }

  /** CANCELs the INVITE with this request handle (reason and headers of opts are used). */
  public Call cancel(String requestHandle, UacOptions opts) {
    var o = new UacOptions();
    if (opts != null) o.reason(opts.reasonText()).headers(opts.headerEdits());
    if (requestHandle == null || requestHandle.isEmpty()) {
      Call c = new Call(nextId.incrementAndGet(), "CANCEL", null, this::later);
      c.fail(new UacException("unknownRequest", "CANCEL: the INVITE has no request handle", ""));
      return c;
    }
    return sendCommand(Uac.UacCommand.newBuilder().setMethod("CANCEL").setRequestHandle(requestHandle)
        .setOptions(o.toProto(false)), null);
  }

  /** CANCELs an INVITE the app sent, once the server told its handle. */
  public CompletableFuture<Response> cancel(Call invite, String reason) {
    return invite.requestHandle()
        .thenCompose(h -> cancel(h, new UacOptions().reason(reason == null ? "" : reason)).result());
  }

  // ---- questions on the stream

  private CompletableFuture<ConnectResponse> ask(long id, ConnectRequest m) {
    var f = new CompletableFuture<ConnectResponse>();
    queries.put(id, f);
    try {
      send(m);
    } catch (IllegalStateException e) {
      queries.remove(id);
      later(() -> f.completeExceptionally(e));
    }
    return f;
  }

  private void answerQuery(long id, ConnectResponse m) {
    var f = queries.remove(id);
    if (f != null) later(() -> f.complete(m));
  }

  private CompletableFuture<Service.DialogResult> dialogCommand(Service.DialogCommand.Builder cmd) {
    long id = nextId.incrementAndGet();
    return ask(id, ConnectRequest.newBuilder().setDialogCommand(cmd.setId(id)).build())
        .thenApply(ConnectResponse::getDialogResult);
  }

  /** The dialog as the server keeps it (NkSIP get_meta); empty when unknown. */
  public CompletableFuture<Optional<DialogInfo>> dialog(String handle) {
    return dialogCommand(Service.DialogCommand.newBuilder().setGet(handle))
        .thenApply(r -> r.getDialogsCount() == 0 ? Optional.empty() : Optional.of(DialogInfo.of(r.getDialogs(0))));
  }

  /** Every dialog of a Call-ID. */
  public CompletableFuture<List<DialogInfo>> dialogs(String callId) {
    return dialogCommand(Service.DialogCommand.newBuilder().setList(callId))
        .thenApply(r -> r.getDialogsList().stream().map(DialogInfo::of).toList());
  }

  /** Stops a dialog at once, without a BYE (NkSIP nksip_dialog:stop/1). */
  public CompletableFuture<Void> stopDialog(String handle) {
    return dialogCommand(Service.DialogCommand.newBuilder().setStop(handle)).thenApply(r -> {
      if (!r.getError().isEmpty()) throw new IllegalStateException(r.getError());
      return null;
    });
  }

  /** An address and port a STUN Binding request found. */
  public record StunAddress(String address, int port) {}

  /** What a STUN Binding request found: the listener it left from and what the STUN server saw. */
  public record StunInfo(StunAddress local, StunAddress publicAddress) {}

  /**
   * Sends a STUN Binding request (NkSIP nksip_uac:stun) from one of the app's UDP listeners (the
   * server's when it has none) to uri: sip:host:port, host:port or host (port 3478; every
   * nksip-server UDP listener answers STUN on its SIP port). Fails with a UacException:
   * invalidUri, or serviceUnavailable when nothing answered.
   */
  public CompletableFuture<StunInfo> stun(String uri) {
    long id = nextId.incrementAndGet();
    var cmd = Service.StunCommand.newBuilder().setId(id).setUri(uri);
    return ask(id, ConnectRequest.newBuilder().setStun(cmd).build()).thenApply(m -> {
      var r = m.getStunResult();
      if (!r.getError().isEmpty()) {
        boolean invalid = r.getErrorKind() == Uac.UacErrorKind.UAC_ERROR_KIND_INVALID_URI;
        throw new UacException(invalid ? "invalidUri" : "serviceUnavailable", r.getError(), "");
      }
      return new StunInfo(
          new StunAddress(r.getLocalAddress(), r.getLocalPort()),
          new StunAddress(r.getPublicAddress(), r.getPublicPort()));
    });
  }

  /** A dialog's authorised sources; found is false when the dialog is unknown or ended. */
  public record AuthorizedSources(boolean found, List<String> sources) {}

  /** The authorised sources of a dialog (NkSIP get_authorized_list), emptied when clear is set. */
  public CompletableFuture<AuthorizedSources> authorizedList(String dialog, boolean clear) {
    long id = nextId.incrementAndGet();
    var req = Service.AuthorizedListRequest.newBuilder().setId(id).setDialogHandle(dialog).setClear(clear);
    return ask(id, ConnectRequest.newBuilder().setAuthorizedList(req).build()).thenApply(m -> {
      var l = m.getAuthorizedList();
      return new AuthorizedSources(l.getFound(), List.copyOf(l.getSourcesList()));
    });
  }

  /** The app's registrar (registrar plugin). */
  public Registrar registrar() {
    return new Registrar(this);
  }

  CompletableFuture<Service.RegistrarResult> registrarCommand(Service.RegistrarCommand.Builder cmd) {
    long id = nextId.incrementAndGet();
    return ask(id, ConnectRequest.newBuilder().setRegistrar(cmd.setId(id)).build()).thenApply(m -> {
      var r = m.getRegistrarResult();
      if (!r.getError().isEmpty()) throw new IllegalStateException("registrar: " + r.getError());
      return r;
    });
  }

  /** Starts, stops or lists automatic registrations and pings (its id is set for you). */
  public CompletableFuture<List<Service.AutoStatus>> auto(Service.AutoCommand cmd) {
    long id = nextId.incrementAndGet();
    return ask(id, ConnectRequest.newBuilder().setAuto(cmd.toBuilder().setId(id)).build()).thenApply(m -> {
      var r = m.getAutoResult();
      if (!r.getError().isEmpty()) throw new IllegalStateException("auto: " + r.getError());
      return List.copyOf(r.getEntriesList());
    });
  }

  // ---- stop

  /**
   * Sends Stop, waits for the server to close the stream ({@link AppOptions#stopTimeout}) and
   * closes the app. Pending requests fail with {@code disconnected}; new ones with
   * {@code notConnected}. Idempotent.
   */
  @Override
  public void close() {
    Stream st;
    synchronized (lock) {
      if (stopping) {
        st = null;
      } else {
        stopping = true;
        st = cur;
      }
    }
    failPending("app stopped");
    if (st != null) {
      try {
        st.send(ConnectRequest.newBuilder().setStop(Service.Stop.getDefaultInstance()).build());
        st.halfClose();
        if (!st.done.await(opts.stopTimeout.toMillis(), TimeUnit.MILLISECONDS)) {
          LOG.log(Level.WARNING, "server did not close the stream after Stop; cancelling it");
          st.cancel("app stopped");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (RuntimeException e) {
        LOG.log(Level.DEBUG, "stop: {0}", e.getMessage());
      }
    }
    shutdown();
  }

  private void shutdown() {
    synchronized (lock) {
      if (isClosed) return;
      isClosed = true;
      stopping = true;
    }
    closedLatch.countDown();
    failPending("app stopped");
    channel.shutdownNow();
    workers.shutdown();
    closedFuture.complete(null);
    safely(events::onClosed);
  }
}
