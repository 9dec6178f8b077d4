// The PBX example in Java: NkSIP's NkPBX (reference/nksip.md §8) as a SipApp. A registrar
// (the registrar plugin) and a forking proxy to the registered contacts with Record-Route,
// digest authentication with the users given, and NkPBX's extensions:
//   200@domain  every registered endpoint but the caller, in parallel, with Record-Route
//   201@domain  the endpoints shuffled in pairs: pairs tried one after the other, both members
//               of a pair at once; adds x-nksip-pbx: 201, no Record-Route
//   300@domain  answered here: a reliable 180, then after 5 s a 200 with an inactive SDP
//   user@domain the user's registered contacts (404: no such user, 480: none registered);
//               SUBSCRIBE gets 403
//   domain only processed here (OPTIONS answered without a challenge)
//   other hosts proxied to the Request-URI with Record-Route
//
//   java -jar examples/java/pbx/target/nksip-pbx.jar --user alice:1234 --user bob:5678
//
// Options: --server host:port (default $NKSIP_SERVER, else 127.0.0.1:50051), --listen URI
// (repeatable; none: the server's own listeners), --realm (nksip), --domain (repeatable; the
// listeners' hosts, localhost and nksip are always ours), --user name:password (repeatable;
// a password may be `HA1!<hex>`), --users FILE (one name:password a line). Without users, any
// user is accepted with password 1234, as NkPBX does. Ctrl-C stops it.
package io.nksip.pbx;

import io.nksip.App;
import io.nksip.AppOptions;
import io.nksip.AuthorizeDecision;
import io.nksip.HeaderEdit;
import io.nksip.MethodAnswer;
import io.nksip.Plugin;
import io.nksip.ProxyOptions;
import io.nksip.Reply;
import io.nksip.Request;
import io.nksip.RouteDecision;
import io.nksip.Sdp;
import io.nksip.UriSet;
import io.nksip.UserPass;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import nksip.v1.Service.AuthInfo;

public final class Pbx implements io.nksip.SipApp {
  private final String realm;
  private final Map<String, String> users;
  private final Set<String> domains = ConcurrentHashMap.newKeySet();
  /** The AORs that registered here, for 200@ and 201@. */
  private final Set<String> aors = ConcurrentHashMap.newKeySet();
  private volatile App app;

  Pbx(String realm, Map<String, String> users, List<String> domains) {
    this.realm = realm;
    this.users = users;
    this.domains.addAll(List.of("localhost", "nksip"));
    for (String d : domains) this.domains.add(d.toLowerCase(Locale.ROOT));
  }

  static String aor(String scheme, String user, String host) {
    return scheme + ":" + user + "@" + host.toLowerCase(Locale.ROOT);
  }

  private boolean ours(String host) {
    return domains.contains(host.toLowerCase(Locale.ROOT));
  }

  private static ProxyOptions recordRoute() {
    return ProxyOptions.create().recordRoute(true);
  }

  @Override
  public RouteDecision route(Request req) throws Exception {
    // a request may come between the join and App.start returning
    if (app == null) return RouteDecision.reply(Reply.serviceUnavailable());
    var ruri = req.ruri();
    if (req.method().equals("REGISTER")) {
      if (!ours(ruri.host())) return RouteDecision.reply(Reply.forbidden("Not our domain"));
      var to = req.to().uri();
      aors.add(aor(to.scheme(), to.user(), to.host()));
      return RouteDecision.process();
    }
    // in a dialog: follow the route set the Record-Route made
    if (!req.to().tag().isEmpty()) return RouteDecision.proxy(UriSet.EMPTY, ProxyOptions.create());
    if (!ours(ruri.host())) return RouteDecision.proxy(UriSet.EMPTY, recordRoute());
    String user = ruri.user();
    if (user.isEmpty() || user.equals("300")) return RouteDecision.process();
    var from = req.from().uri();
    String caller = aor(from.scheme(), from.user(), from.host());
    switch (user) {
      case "200": {
        List<String> all = endpoints(caller);
        if (all.isEmpty()) return RouteDecision.reply(Reply.temporarilyUnavailable());
        return RouteDecision.proxy(UriSet.parallel(all), recordRoute());
      }
      case "201": {
        List<String> all = endpoints(caller);
        if (all.isEmpty()) return RouteDecision.reply(Reply.temporarilyUnavailable());
        Collections.shuffle(all);
        List<List<String>> pairs = new ArrayList<>();
        for (int i = 0; i < all.size(); i += 2) pairs.add(all.subList(i, Math.min(i + 2, all.size())));
        return RouteDecision.proxy(new UriSet(pairs), ProxyOptions.create().header(HeaderEdit.add("x-nksip-pbx", "201")));
      }
      default:
        break;
    }
    if (req.method().equals("SUBSCRIBE")) return RouteDecision.reply(Reply.forbidden(""));
    if (!users.isEmpty() && !users.containsKey(user)) return RouteDecision.reply(Reply.notFound("User not found"));
    UriSet contacts = app.registrar().qfind(aor(ruri.scheme(), user, ruri.host())).get(5, TimeUnit.SECONDS);
    if (contacts.isEmpty()) return RouteDecision.reply(Reply.temporarilyUnavailable());
    return RouteDecision.proxy(contacts, recordRoute());
  }

  /** The contacts of every AOR registered here but the caller's. */
  private List<String> endpoints(String caller) throws Exception {
    List<String> out = new ArrayList<>();
    for (String a : aors) {
      if (a.equals(caller)) continue;
      out.addAll(app.registrar().find(a).get(5, TimeUnit.SECONDS));
    }
    return out;
  }

  /** 300@: a reliable 180, then after 5 s a 200 with an inactive SDP; anything else local: 603. */
  @Override
  public MethodAnswer invite(Request req) {
    if (!req.ruri().user().equals("300")) return Reply.decline();
    req.reply(Reply.relRinging(null));
    CompletableFuture.delayedExecutor(5, TimeUnit.SECONDS).execute(() -> {
      byte[] sdp = Sdp.offer("pbx", "", new Sdp.Media("audio", 40000, List.of("0"), "inactive"));
      try {
        req.reply(Reply.answer(sdp, ""));
      } catch (RuntimeException e) {
        System.err.println("pbx: 300 not answered: " + e.getMessage());
      }
    });
    return MethodAnswer.noReply();
  }

  /**
   * In-dialog requests and sources with a registration pass; a good digest passes, a bad one
   * gets 403; none gets a challenge: 401 for REGISTER (the registrar is the UAS), 407 for the
   * rest (the PBX is a proxy). OPTIONS to the PBX itself is answered without one.
   */
  @Override
  public AuthorizeDecision authorize(AuthInfo auth, Request req) {
    if (auth.getDialog() || auth.getRegister()) return AuthorizeDecision.ok();
    if (auth.getDigestsList().stream().anyMatch(AuthInfo.Digest::getOk)) return AuthorizeDecision.ok();
    if (auth.getDigestsCount() > 0) return AuthorizeDecision.forbidden();
    if (req.method().equals("OPTIONS") && req.ruri().user().isEmpty()) return AuthorizeDecision.ok();
    if (req.method().equals("REGISTER")) return AuthorizeDecision.authenticate(realm);
    return AuthorizeDecision.proxyAuthenticate(realm);
  }

  @Override
  public UserPass getUserPass(String user, String realm, Request req) {
    if (users.isEmpty()) return UserPass.password("1234");
    String p = users.get(user);
    return p == null ? UserPass.unknown() : UserPass.password(p);
  }

  static void usage(String why) {
    System.err.println("pbx: " + why);
    System.err.println("usage: java -jar nksip-pbx.jar [--server host:port] [--listen URI]... [--realm R]"
        + " [--domain D]... [--user name:password]... [--users FILE]");
    System.exit(2);
  }

  static void addUser(Map<String, String> users, String spec) {
    int c = spec.indexOf(':');
    if (c <= 0) usage("a user is name:password, got " + spec);
    users.put(spec.substring(0, c).trim(), spec.substring(c + 1).trim());
  }

  public static void main(String[] args) throws Exception {
    String server = System.getenv().getOrDefault("NKSIP_SERVER", AppOptions.DEFAULT_SERVER);
    String realm = "nksip";
    List<String> listen = new ArrayList<>();
    List<String> domains = new ArrayList<>();
    Map<String, String> users = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (a.equals("-h") || a.equals("--help")) usage("a registrar and forking proxy (NkPBX)");
      if (i + 1 >= args.length) usage(a + " needs a value");
      String v = args[++i];
      switch (a) {
        case "--server" -> server = v;
        case "--listen" -> listen.add(v);
        case "--realm" -> realm = v;
        case "--domain" -> domains.add(v);
        case "--user" -> addUser(users, v);
        case "--users" -> {
          try {
            for (String line : Files.readAllLines(Path.of(v))) {
              if (!line.isBlank() && !line.trim().startsWith("#")) addUser(users, line.trim());
            }
          } catch (IOException e) {
            usage("cannot read " + v + ": " + e.getMessage());
          }
        }
        default -> usage("unknown option " + a);
      }
    }
    Pbx pbx = new Pbx(realm, users, domains);
    AppOptions opts = new AppOptions("pbx").server(server).listen(listen).plugin(Plugin.of("registrar"));
    pbx.app = App.start(opts, pbx);
    Set<String> where = new LinkedHashSet<>();
    for (String l : pbx.app.started().listeners()) {
      // udp:127.0.0.1:5060: the host is a domain of ours
      String[] parts = l.split(":");
      if (parts.length >= 3) pbx.domains.add(String.join(":", List.of(parts).subList(1, parts.length - 1)));
      where.add(l);
    }
    System.out.println("pbx: serving on " + String.join(", ", where) + "; realm " + realm + "; domains "
        + String.join(", ", pbx.domains) + "; users " + (users.isEmpty() ? "any (password 1234)" : String.join(", ", users.keySet())));
    CountDownLatch done = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      pbx.app.close();
      done.countDown();
    }));
    pbx.app.closed().join();
    done.await(5, TimeUnit.SECONDS);
  }
}
