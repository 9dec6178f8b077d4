// pbx: NkSIP's NkPBX sample (reference §8) as a Java SipApp, with the behaviour and flags of
// examples/typescript/pbx.ts. A registrar (the registrar plugin) and a forking proxy for its
// domains:
//
//   - digest authentication: REGISTER is challenged with 401, everything else with 407; a
//     wrong password gets 403. A request from a registered contact of its From user, or from
//     the other end of a dialog, needs no digest. A digest vouches only for its own user: a
//     REGISTER binds the To user who authenticated, other requests go out as the From user.
//   - OPTIONS to the PBX itself (no user part) is answered 200 without a challenge.
//   - <user>@<domain>: proxied to the user's registered contacts (parallel within a q value,
//     serial across q values, Record-Route); 480 when nothing is registered, 404 for a user
//     the PBX does not know.
//   - 200@<domain>: every registered contact but the caller's, all in parallel.
//   - 201@<domain>: the same contacts shuffled and tried in pairs, one pair after the other,
//     without Record-Route.
//   - any other domain: 403, never relayed (no open relay).
//
//   java -jar examples/java/pbx/target/nksip-pbx.jar --user alice:1234 --user bob:5678
//
// Flags (the same as every language's PBX example):
//   --server HOST:PORT   the server's gRPC address (default $NKSIP_SERVER or 127.0.0.1:50051)
//   --name NAME          the app's name (default pbx)
//   --listen URI         a listener of its own (repeatable); none: the server's own listeners
//   --domain DOMAIN      a domain served (repeatable; default nksip); the address a request
//                        came to is always served too
//   --realm REALM        the digest realm (default the first domain)
//   --user NAME:PASSWORD a user (repeatable); the password may be HA1!<hex of MD5(name:realm:password)>
//   --users FILE         users from a JSON object {"name": "password", ...}
//   --token TOKEN        the server's shared secret (default $NKSIP_TOKEN)
package io.nksip.pbx;

import com.google.gson.JsonParser;
import io.nksip.App;
import io.nksip.AppOptions;
import io.nksip.AuthorizeDecision;
import io.nksip.Events;
import io.nksip.Plugin;
import io.nksip.ProxyOptions;
import io.nksip.Reply;
import io.nksip.Request;
import io.nksip.RouteDecision;
import io.nksip.SipApp;
import io.nksip.StartedInfo;
import io.nksip.UriSet;
import io.nksip.UserPass;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import nksip.v1.Service.AuthInfo;

public final class Pbx implements SipApp {
  private final List<String> domains;
  private final String realm;
  private final Map<String, String> users;
  private volatile App app;

  Pbx(List<String> domains, String realm, Map<String, String> users) {
    this.domains = domains;
    this.realm = realm;
    this.users = users;
  }

  static void log(String line) {
    System.out.println(Instant.now() + " " + line);
    System.out.flush();
  }

  /** Our domains, and the address the request came to (a softphone may use either). */
  private boolean ours(String host, Request req) {
    String h = host.toLowerCase(Locale.ROOT);
    if (h.startsWith("[") && h.endsWith("]")) h = h.substring(1, h.length() - 1);
    return domains.contains(h) || h.equals(req.transport().getLocalIp().toLowerCase(Locale.ROOT));
  }

  private static boolean isSip(String scheme) {
    return scheme.equals("sip") || scheme.equals("sips");
  }

  /** Every registered contact of every user but caller, on domain. */
  private List<String> everyoneBut(String caller, String domain) throws Exception {
    List<String> out = new ArrayList<>();
    for (String u : users.keySet()) {
      if (!u.equals(caller)) out.addAll(app.registrar().find("sip:" + u + "@" + domain).get(5, TimeUnit.SECONDS));
    }
    return out;
  }

  /** Shuffled, then in pairs: NkPBX's 201. */
  private static UriSet shuffledPairs(List<String> uris) {
    List<String> s = new ArrayList<>(uris);
    Collections.shuffle(s);
    List<List<String>> pairs = new ArrayList<>();
    for (int i = 0; i < s.size(); i += 2) pairs.add(s.subList(i, Math.min(i + 2, s.size())));
    return new UriSet(pairs);
  }

  @Override
  public RouteDecision route(Request req) throws Exception {
    // in a dialog: along its route set when it names us (the server drops our own Route), else
    // answered here (481 and the like)
    if (!req.to().tag().isEmpty()) {
      return req.routes().isEmpty() ? RouteDecision.process() : RouteDecision.proxy(UriSet.EMPTY, null);
    }
    if (req.method().equals("ACK") || req.method().equals("CANCEL")) return RouteDecision.process();
    var ruri = req.ruri();
    if (!isSip(ruri.scheme()) || !ours(ruri.host(), req)) {
      return RouteDecision.reply(Reply.forbidden("Domain Not Served"));
    }
    String user = ruri.user();
    if (req.method().equals("REGISTER") || user.isEmpty()) return RouteDecision.process();
    // a request may come between the join and App.start returning
    if (app == null) return RouteDecision.reply(Reply.serviceUnavailable());
    String caller = req.from().uri().user();
    if (user.equals("200") || user.equals("201")) {
      List<String> all = everyoneBut(caller, ruri.host());
      log(req.method() + " " + user + "@" + ruri.host() + " from " + caller + ": " + all.size() + " contacts");
      if (all.isEmpty()) return RouteDecision.reply(Reply.temporarilyUnavailable());
      return user.equals("200")
          ? RouteDecision.proxy(UriSet.parallel(all), ProxyOptions.create().recordRoute(true))
          : RouteDecision.proxy(shuffledPairs(all), ProxyOptions.create().recordRoute(false));
    }
    UriSet set = app.registrar().qfind("sip:" + user + "@" + ruri.host()).get(5, TimeUnit.SECONDS);
    log(req.method() + " " + user + "@" + ruri.host() + " from " + caller + ": " + set.groups());
    if (!set.isEmpty()) return RouteDecision.proxy(set, ProxyOptions.create().recordRoute(true));
    return RouteDecision.reply(users.containsKey(user) ? Reply.temporarilyUnavailable() : Reply.notFound(""));
  }

  /**
   * Runs before route for every request but ACK and CANCEL: first with no credentials checked
   * (ok lets the request in at no cost), then with them.
   */
  @Override
  public AuthorizeDecision authorize(AuthInfo auth, Request req) {
    var ruri = req.ruri();
    boolean inDialog = !req.to().tag().isEmpty();
    if (!inDialog && !(isSip(ruri.scheme()) && ours(ruri.host(), req))) return AuthorizeDecision.forbidden();
    if (req.method().equals("OPTIONS") && ruri.user().isEmpty() && !inDialog) return AuthorizeDecision.ok();
    boolean register = req.method().equals("REGISTER");
    if (!register && (auth.getRegister() || auth.getDialog())) return AuthorizeDecision.ok();
    String who = register ? req.to().uri().user() : req.from().uri().user();
    if (auth.getDigestsList().stream().anyMatch(d -> d.getOk() && d.getUser().equals(who))) {
      return AuthorizeDecision.ok();
    }
    if (auth.getDigestsCount() > 0) return AuthorizeDecision.forbidden();
    return register ? AuthorizeDecision.authenticate(realm) : AuthorizeDecision.proxyAuthenticate(realm);
  }

  @Override
  public UserPass getUserPass(String user, String realm, Request req) {
    String p = users.get(user);
    return p == null ? UserPass.unknown() : UserPass.password(p);
  }

  static void usage(String why) {
    System.err.println("pbx: " + why);
    System.err.println("usage: java -jar nksip-pbx.jar [--server HOST:PORT] [--name NAME] [--listen URI]..."
        + " [--domain DOMAIN]... [--realm REALM] [--user NAME:PASSWORD]... [--users FILE] [--token TOKEN]");
    System.exit(2);
  }

  public static void main(String[] args) throws Exception {
    String server = System.getenv().getOrDefault("NKSIP_SERVER", AppOptions.DEFAULT_SERVER);
    String token = System.getenv().getOrDefault("NKSIP_TOKEN", "");
    String name = "pbx";
    String realm = null;
    String usersFile = null;
    List<String> listen = new ArrayList<>();
    List<String> domains = new ArrayList<>();
    List<String> userFlags = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (a.equals("-h") || a.equals("--help")) usage("NkPBX: a registrar and forking proxy");
      if (i + 1 >= args.length) usage(a + " needs a value");
      String v = args[++i];
      switch (a) {
        case "--server" -> server = v;
        case "--name" -> name = v;
        case "--listen" -> listen.add(v);
        case "--domain" -> domains.add(v.toLowerCase(Locale.ROOT));
        case "--realm" -> realm = v;
        case "--user" -> userFlags.add(v);
        case "--users" -> usersFile = v;
        case "--token" -> token = v;
        default -> usage("unknown flag " + a);
      }
    }
    if (domains.isEmpty()) domains.add("nksip");
    if (realm == null) realm = domains.get(0);
    Map<String, String> users = new LinkedHashMap<>();
    if (usersFile != null) {
      try {
        for (var e : JsonParser.parseString(Files.readString(Path.of(usersFile))).getAsJsonObject().entrySet()) {
          users.put(e.getKey(), e.getValue().getAsString());
        }
      } catch (IOException | RuntimeException e) {
        usage("--users " + usersFile + ": " + e.getMessage());
      }
    }
    for (String u : userFlags) {
      int c = u.indexOf(':');
      if (c <= 0) usage("--user " + u + ": expected NAME:PASSWORD");
      users.put(u.substring(0, c), u.substring(c + 1));
    }

    Pbx pbx = new Pbx(List.copyOf(domains), realm, users);
    AppOptions opts = new AppOptions(name).server(server).token(token).listen(listen).plugin(Plugin.of("registrar"))
        .notify(new Events() {
          @Override
          public void onDisconnected(Throwable cause) {
            log("disconnected from the server; reconnecting");
          }

          @Override
          public void onStarted(StartedInfo info) {
            if (info.reconnected()) log("rejoined the server");
          }
        });
    pbx.app = App.start(opts, pbx);
    List<String> where = pbx.app.started().listeners();
    log("pbx ready: " + name + " on " + (where.isEmpty() ? "?" : String.join(", ", where)) + "; domains "
        + String.join(", ", domains) + "; realm " + realm + "; users " + String.join(", ", users.keySet()));
    Runtime.getRuntime().addShutdownHook(new Thread(pbx.app::close));
    pbx.app.closed().join();
  }
}
