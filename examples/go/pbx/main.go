// pbx: NkSIP's NkPBX sample as a SipApp, the server's built-in PBX done from outside; the
// same behaviour and flags as examples/typescript/pbx.ts and examples/python/pbx.py.
//
// A registrar (the registrar plugin) and a forking proxy for its domains:
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
// Build and run (scripts/install-go-deps.sh builds it too):
//
//	cd examples/go && go build -o bin/pbx ./pbx && bin/pbx --user alice:1234 --user bob:5678
//
// Flags: --server HOST:PORT (default $NKSIP_SERVER or 127.0.0.1:50051), --name NAME (pbx),
// --listen URI (repeatable; none: the server's own listeners), --domain DOMAIN (repeatable;
// default nksip; the address a request came to is always served too), --realm REALM (default
// the first domain), --user NAME:PASSWORD (repeatable; the password may be HA1!<hex>),
// --users FILE (a JSON object {"name": "password"}), --token TOKEN (default $NKSIP_TOKEN).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"maps"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	nksip "github.com/nksip/nksip-go"
	pb "github.com/nksip/nksip-go/gen/nksip/v1"
)

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

type pbx struct {
	domains []string
	realm   string
	users   map[string]string
	app     *nksip.App
	// closed once app is set: a callback may come before Start returns
	ready chan struct{}
}

func isSIP(scheme string) bool { return scheme == "sip" || scheme == "sips" }

// ours: our domains, and the address the request came to (a softphone may use either).
func (p *pbx) ours(host string, req *nksip.Request) bool {
	h := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return slices.Contains(p.domains, h) || h == strings.ToLower(req.Transport.GetLocalIp())
}

// authorize runs before route for every request but ACK and CANCEL: first with no
// credentials checked (ok lets the request in at no cost), then with them.
func (p *pbx) authorize(_ context.Context, auth *pb.AuthInfo, req *nksip.Request) (nksip.AuthorizeDecision, error) {
	u := req.RURI
	if req.To.Tag == "" && !(isSIP(u.Scheme) && p.ours(u.Host, req)) {
		return nksip.AuthorizeForbidden(), nil
	}
	if req.Method == "OPTIONS" && u.User == "" && req.To.Tag == "" {
		return nksip.AuthorizeOK(), nil
	}
	register := req.Method == "REGISTER"
	if !register && (auth.GetRegister() || auth.GetDialog()) {
		return nksip.AuthorizeOK(), nil
	}
	who := req.From.URI.User
	if register {
		who = req.To.URI.User
	}
	for _, d := range auth.GetDigests() {
		if d.GetOk() && d.GetUser() == who {
			return nksip.AuthorizeOK(), nil
		}
	}
	switch {
	case len(auth.GetDigests()) > 0:
		return nksip.AuthorizeForbidden(), nil
	case register:
		return nksip.AuthorizeAuthenticate(p.realm), nil
	default:
		return nksip.AuthorizeProxyAuthenticate(p.realm), nil
	}
}

func (p *pbx) getUserPass(_ context.Context, user, _ string, _ *nksip.Request) (nksip.UserPass, error) {
	if pass, ok := p.users[user]; ok {
		return nksip.Password(pass), nil
	}
	return nksip.UnknownUser(), nil
}

// everyoneBut: every registered contact of every user but caller, on domain.
func (p *pbx) everyoneBut(ctx context.Context, caller, domain string) ([]string, error) {
	var all []string
	for user := range p.users {
		if user == caller {
			continue
		}
		uris, err := p.app.Registrar().Find(ctx, "sip:"+user+"@"+domain)
		if err != nil {
			return nil, err
		}
		all = append(all, uris...)
	}
	return all, nil
}

// shuffledPairs: shuffled, then in pairs (NkPBX's 201).
func shuffledPairs(uris []string) nksip.UriSet {
	s := slices.Clone(uris)
	rand.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	var set nksip.UriSet
	for chunk := range slices.Chunk(s, 2) {
		set = append(set, chunk)
	}
	return set
}

func (p *pbx) route(ctx context.Context, req *nksip.Request) (nksip.RouteDecision, error) {
	<-p.ready
	// in a dialog: along its route set when it names us (the server drops our own Route),
	// else answered here (481 and the like)
	if req.To.Tag != "" {
		if len(req.Routes) > 0 {
			return nksip.Proxy(nil, nksip.ProxyOptions{}), nil
		}
		return nksip.Process(), nil
	}
	if req.Method == "ACK" || req.Method == "CANCEL" {
		return nksip.Process(), nil
	}
	u := req.RURI
	if !isSIP(u.Scheme) || !p.ours(u.Host, req) {
		return nksip.RouteReply(nksip.Forbidden("Domain Not Served")), nil
	}
	if req.Method == "REGISTER" || u.User == "" {
		return nksip.Process(), nil
	}
	caller := req.From.URI.User
	if u.User == "200" || u.User == "201" {
		everyone, err := p.everyoneBut(ctx, caller, u.Host)
		if err != nil {
			return nil, err
		}
		logf("%s %s@%s from %s: %d contacts", req.Method, u.User, u.Host, caller, len(everyone))
		switch {
		case len(everyone) == 0:
			return nksip.RouteReply(nksip.TemporarilyUnavailable()), nil
		case u.User == "200":
			return nksip.Proxy(nksip.Parallel(everyone...), nksip.ProxyOptions{RecordRoute: true}), nil
		default:
			return nksip.Proxy(shuffledPairs(everyone), nksip.ProxyOptions{}), nil
		}
	}
	set, err := p.app.Registrar().QFind(ctx, "sip:"+u.User+"@"+u.Host)
	if err != nil {
		return nil, err
	}
	logf("%s %s@%s from %s: %v", req.Method, u.User, u.Host, caller, set)
	if len(set) > 0 {
		return nksip.Proxy(set, nksip.ProxyOptions{RecordRoute: true}), nil
	}
	if _, known := p.users[u.User]; known {
		return nksip.RouteReply(nksip.TemporarilyUnavailable()), nil
	}
	return nksip.RouteReply(nksip.NotFound("")), nil
}

func logf(format string, args ...any) { log.Printf(format, args...) }

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds | log.LUTC)
	log.SetOutput(os.Stdout)
	server := flag.String("server", envOr("NKSIP_SERVER", "127.0.0.1:50051"), "the server's gRPC address")
	name := flag.String("name", "pbx", "the app's name")
	realm := flag.String("realm", "", "the digest realm (default the first domain)")
	usersFile := flag.String("users", "", `users from a JSON object {"name": "password"}`)
	token := flag.String("token", os.Getenv("NKSIP_TOKEN"), "the server's shared secret")
	var listen, domains, users list
	flag.Var(&listen, "listen", "a listener of its own (repeatable); none: the server's own listeners")
	flag.Var(&domains, "domain", "a domain served (repeatable; default nksip)")
	flag.Var(&users, "user", "NAME:PASSWORD (repeatable; the password may be HA1!<hex>)")
	flag.Parse()

	p := &pbx{users: map[string]string{}, ready: make(chan struct{})}
	for _, d := range domains {
		p.domains = append(p.domains, strings.ToLower(d))
	}
	if len(p.domains) == 0 {
		p.domains = []string{"nksip"}
	}
	p.realm = *realm
	if p.realm == "" {
		p.realm = p.domains[0]
	}
	if *usersFile != "" {
		data, err := os.ReadFile(*usersFile)
		if err == nil {
			err = json.Unmarshal(data, &p.users)
		}
		if err != nil {
			log.Fatalf("--users %s: %v", *usersFile, err)
		}
	}
	for _, u := range users {
		user, pass, ok := strings.Cut(u, ":")
		if !ok || user == "" {
			log.Fatalf("--user %s: expected NAME:PASSWORD", u)
		}
		p.users[user] = pass
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app, err := nksip.Start(ctx, nksip.Options{
		App:     *name,
		Server:  *server,
		Token:   *token,
		Listen:  listen,
		Plugins: []nksip.Plugin{{Name: "registrar"}},
		Notify: nksip.Events{
			OnDisconnected: func(error) { logf("disconnected from the server; reconnecting") },
		},
	}, nksip.Handlers{
		Authorize:   p.authorize,
		GetUserPass: p.getUserPass,
		Route:       p.route,
	})
	if err != nil {
		log.Fatal(err)
	}
	p.app = app
	close(p.ready)
	logf("pbx ready: %s on %s; domains %s; realm %s; users %s", *name, strings.Join(app.Started().Listeners, ", "),
		strings.Join(p.domains, ", "), p.realm, strings.Join(slices.Sorted(maps.Keys(p.users)), ", "))
	<-ctx.Done()
	_ = app.Stop(context.Background())
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
