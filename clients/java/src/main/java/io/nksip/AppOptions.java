package io.nksip;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import nksip.v1.Service;

/**
 * Options of an {@link App}: the app's name (required), where the server is, the contract's
 * AppConfig (equal for every instance of an app), reconnect policy and event hooks.
 * Mutable, fluent setters.
 */
public final class AppOptions {
  /** The server's default gRPC address. */
  public static final String DEFAULT_SERVER = "127.0.0.1:50051";

  String app;
  String server = DEFAULT_SERVER;
  String token = "";
  final List<String> listen = new ArrayList<>();
  String from = "";
  final List<String> route = new ArrayList<>();
  String localHost = "";
  Service.Timers timers;
  final List<Plugin> plugins = new ArrayList<>();
  String allow = "", supported = "", accept = "", events = "";
  final Map<String, Duration> deadlines = new LinkedHashMap<>();
  Duration defaultDeadline = Duration.ZERO;
  final Map<String, Reply> deadlineReplies = new LinkedHashMap<>();
  Duration grace = Duration.ZERO;
  final List<Credential> pass = new ArrayList<>();
  Integer maxCalls;
  Backoff reconnect = Backoff.DEFAULT;
  Duration startTimeout = Duration.ofSeconds(10);
  Duration stopTimeout = Duration.ofSeconds(2);
  Duration joinTimeout = Duration.ZERO;
  Events notify = new Events() {};

  public AppOptions(String app) {
    this.app = app;
  }

  /** gRPC address host:port; default {@link #DEFAULT_SERVER}. */
  public AppOptions server(String v) { server = v; return this; }
  /** The server's shared secret, when it has one. */
  public AppOptions token(String v) { token = v; return this; }
  /** Listen URIs; none: take over the server's own listeners while connected. */
  public AppOptions listen(List<String> uris) { listen.addAll(uris); return this; }
  public AppOptions listen(String uri) { listen.add(uri); return this; }
  /** Default From of the requests the app sends. */
  public AppOptions from(String v) { from = v; return this; }
  /** Route URIs added to every request the app sends (outbound proxy). */
  public AppOptions route(List<String> uris) { route.addAll(uris); return this; }
  /** Host for Via, Contact and Record-Route. */
  public AppOptions localHost(String v) { localHost = v; return this; }
  public AppOptions timers(Service.Timers v) { timers = v; return this; }
  public AppOptions plugin(Plugin p) { plugins.add(p); return this; }
  public AppOptions plugins(List<Plugin> ps) { plugins.addAll(ps); return this; }
  public AppOptions allow(String v) { allow = v; return this; }
  public AppOptions supported(String v) { supported = v; return this; }
  public AppOptions accept(String v) { accept = v; return this; }
  public AppOptions events(String v) { events = v; return this; }
  /** The deadline of one callback, by wire name (invite, get_user_pass, ...). */
  public AppOptions deadline(String callback, Duration d) { deadlines.put(callback, d); return this; }
  /** The deadline of the other callbacks (zero: the server's, 5 s). */
  public AppOptions defaultDeadline(Duration d) { defaultDeadline = d; return this; }
  /** What to answer when a callback's deadline passes, by wire name. */
  public AppOptions deadlineReply(String callback, Reply r) { deadlineReplies.put(callback, r); return this; }
  /** How long the listeners stay open after the last instance leaves (zero: 10 s). */
  public AppOptions grace(Duration d) { grace = d; return this; }
  /** The app's credentials for every request it sends (NkSIP sip_pass). */
  public AppOptions pass(Credential c) { pass.add(c); return this; }
  public AppOptions pass(List<Credential> cs) { pass.addAll(cs); return this; }
  /** The app's limit on concurrent calls (NkSIP sip_max_calls); unset: only the server's. */
  public AppOptions maxCalls(int n) { maxCalls = n; return this; }
  /** The reconnect policy (also for the first join); {@link Backoff#DISABLED} for none. */
  public AppOptions reconnect(Backoff b) { reconnect = b; return this; }
  /** How long to wait for Started once a stream is open (10 s). */
  public AppOptions startTimeout(Duration d) { startTimeout = d; return this; }
  /** How long close() waits for the server to close the stream after Stop (2 s). */
  public AppOptions stopTimeout(Duration d) { stopTimeout = d; return this; }
  /** How long App.start keeps retrying an unreachable server (zero: until it answers). */
  public AppOptions joinTimeout(Duration d) { joinTimeout = d; return this; }
  /** Hooks for what needs no answer. */
  public AppOptions notify(Events e) { notify = e; return this; }

  Service.AppConfig config() {
    var b = Service.AppConfig.newBuilder()
        .addAllListen(listen)
        .setFrom(from)
        .addAllRoute(route)
        .setLocalHost(localHost)
        .setAllow(allow)
        .setSupported(supported)
        .setAccept(accept)
        .setEvents(events)
        .setDefaultDeadlineMs((int) defaultDeadline.toMillis())
        .setGraceMs((int) grace.toMillis())
        .addAllPass(Credential.toProto(pass));
    if (timers != null) b.setTimers(timers);
    for (Plugin p : plugins) b.addPlugins(Service.Plugin.newBuilder().setName(p.name()).putAllOptions(p.options()));
    deadlines.forEach((k, d) -> b.putDeadlinesMs(k, (int) d.toMillis()));
    deadlineReplies.forEach((k, r) -> b.putDeadlineReplies(k, r.toProto()));
    if (maxCalls != null) b.setMaxCalls(maxCalls);
    return b.build();
  }
}
