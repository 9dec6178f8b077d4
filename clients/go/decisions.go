package nksip

import (
	"slices"

	pb "github.com/nksip/nksip-go/gen/nksip/v1"
)

// MethodAnswer is what a method callback (invite, options, bye, ...) returns: a [Reply], or
// [NoReply] to answer later with [Request.Reply].
type MethodAnswer interface{ isMethodAnswer() }

type noReply struct{}

func (noReply) isMethodAnswer() {}

// NoReply answers nothing now; the app replies later through the request's handle. The
// server still bounds the wait by the transaction's life.
func NoReply() MethodAnswer { return noReply{} }

// ProxyOptions are the options of a proxy decision.
type ProxyOptions struct {
	// RecordRoute inserts Record-Route so in-dialog requests come through this server.
	RecordRoute bool
	// Path adds Path to a REGISTER (RFC 3327).
	Path bool
	// FollowRedirects launches the Contacts of a 3xx within the fork instead of relaying it.
	FollowRedirects bool
	// Headers are edits of the forwarded request's headers.
	Headers []HeaderEdit
	// Route URIs inserted before the request's own Route headers.
	Route []string
	// BranchEvents calls BranchFinal with each branch's final response before the best one
	// is chosen.
	BranchEvents bool
}

// UriSet is a proxy target set: serial groups of URIs tried in parallel within a group
// (NkSIP's UriSet normalised). Empty: the Request-URI.
type UriSet [][]string

// Parallel is one group of URIs tried in parallel.
func Parallel(uris ...string) UriSet { return UriSet{slices.Clone(uris)} }

// Serial is one URI after the other.
func Serial(uris ...string) UriSet {
	out := make(UriSet, len(uris))
	for i, u := range uris {
		out[i] = []string{u}
	}
	return out
}

func toProtoProxy(set UriSet, o ProxyOptions) *pb.Proxy {
	groups := make([]*pb.UriGroup, 0, len(set))
	for _, g := range set {
		if len(g) > 0 {
			groups = append(groups, &pb.UriGroup{Uris: slices.Clone(g)})
		}
	}
	return &pb.Proxy{UriSet: groups, Options: &pb.ProxyOptions{
		RecordRoute: o.RecordRoute, Path: o.Path, FollowRedirects: o.FollowRedirects,
		Headers: toHeaderOps(o.Headers), Route: o.Route, BranchEvents: o.BranchEvents,
	}}
}

// RouteDecision is the answer to Route (NkSIP's sip_route); build one with [Process],
// [ProcessStateless], [RouteReply], [RouteReplyStateless], [Proxy], [ProxyStateless] or
// [StrictProxy].
type RouteDecision interface{ isRouteDecision() }

type routeDecision struct {
	build func() (*pb.RouteDecision, error)
}

func (routeDecision) isRouteDecision() {}

// Process processes the request here: its method callback comes next.
func Process() RouteDecision {
	return routeDecision{func() (*pb.RouteDecision, error) {
		return &pb.RouteDecision{Decision: &pb.RouteDecision_Process{Process: &pb.Process{}}}, nil
	}}
}

// ProcessStateless processes without a transaction (not for INVITE: the server answers 500).
func ProcessStateless() RouteDecision {
	return routeDecision{func() (*pb.RouteDecision, error) {
		return &pb.RouteDecision{Decision: &pb.RouteDecision_ProcessStateless{ProcessStateless: &pb.Process{}}}, nil
	}}
}

// RouteReply answers the request now, statefully.
func RouteReply(r Reply) RouteDecision {
	return routeDecision{func() (*pb.RouteDecision, error) {
		p, err := r.toProto()
		return &pb.RouteDecision{Decision: &pb.RouteDecision_Reply{Reply: p}}, err
	}}
}

// RouteReplyStateless answers the request now without a transaction.
func RouteReplyStateless(r Reply) RouteDecision {
	return routeDecision{func() (*pb.RouteDecision, error) {
		p, err := r.toProto()
		return &pb.RouteDecision{Decision: &pb.RouteDecision_ReplyStateless{ReplyStateless: p}}, err
	}}
}

// Proxy proxies statefully to set (empty: the Request-URI).
func Proxy(set UriSet, o ProxyOptions) RouteDecision {
	return routeDecision{func() (*pb.RouteDecision, error) {
		return &pb.RouteDecision{Decision: &pb.RouteDecision_Proxy{Proxy: toProtoProxy(set, o)}}, nil
	}}
}

// ProxyStateless forwards statelessly to the first URI only.
func ProxyStateless(set UriSet, o ProxyOptions) RouteDecision {
	return routeDecision{func() (*pb.RouteDecision, error) {
		return &pb.RouteDecision{Decision: &pb.RouteDecision_ProxyStateless{ProxyStateless: toProtoProxy(set, o)}}, nil
	}}
}

// StrictProxy is the test-only strict-router simulation (NkSIP's strict_proxy).
func StrictProxy(set UriSet, o ProxyOptions) RouteDecision {
	return routeDecision{func() (*pb.RouteDecision, error) {
		return &pb.RouteDecision{Decision: &pb.RouteDecision_StrictProxy{StrictProxy: toProtoProxy(set, o)}}, nil
	}}
}

// AuthorizeDecision is the answer to Authorize (NkSIP's sip_authorize).
type AuthorizeDecision interface{ isAuthorizeDecision() }

type authorizeDecision struct {
	kind  pb.AuthorizeDecision_Kind
	realm string
}

func (authorizeDecision) isAuthorizeDecision() {}

// AuthorizeOK lets the request through.
func AuthorizeOK() AuthorizeDecision { return authorizeDecision{kind: pb.AuthorizeDecision_KIND_OK} }

// AuthorizeForbidden answers 403.
func AuthorizeForbidden() AuthorizeDecision {
	return authorizeDecision{kind: pb.AuthorizeDecision_KIND_FORBIDDEN}
}

// AuthorizeAuthenticate challenges with 401 for realm ("": the From domain).
func AuthorizeAuthenticate(realm string) AuthorizeDecision {
	return authorizeDecision{kind: pb.AuthorizeDecision_KIND_AUTHENTICATE, realm: realm}
}

// AuthorizeProxyAuthenticate challenges with 407 for realm.
func AuthorizeProxyAuthenticate(realm string) AuthorizeDecision {
	return authorizeDecision{kind: pb.AuthorizeDecision_KIND_PROXY_AUTHENTICATE, realm: realm}
}

// UserPass is the answer to GetUserPass: a password (or "HA1!" and the hex HA1), accept
// without checking, or unknown user.
type UserPass interface{ isUserPass() }

type userPass struct {
	password string
	accept   *bool
}

func (userPass) isUserPass() {}

// Password answers with the user's password (or "HA1!" followed by the hex HA1).
func Password(p string) UserPass { return userPass{password: p} }

// AcceptUser accepts the user without checking a password.
func AcceptUser() UserPass { t := true; return userPass{accept: &t} }

// UnknownUser refuses the user.
func UnknownUser() UserPass { f := false; return userPass{accept: &f} }

// BranchDecision is the answer to BranchFinal (ProxyOptions.BranchEvents).
type BranchDecision interface{ isBranchDecision() }

type branchDecision struct {
	build func() (*pb.BranchDecision, error)
}

func (branchDecision) isBranchDecision() {}

// BranchContinue goes on as NkSIP does (best-response selection).
func BranchContinue() BranchDecision {
	return branchDecision{func() (*pb.BranchDecision, error) {
		return &pb.BranchDecision{Decision: &pb.BranchDecision_Continue{Continue: &pb.Ack{}}}, nil
	}}
}

// BranchFork launches these targets now, within this fork.
func BranchFork(set UriSet, o ProxyOptions) BranchDecision {
	return branchDecision{func() (*pb.BranchDecision, error) {
		return &pb.BranchDecision{Decision: &pb.BranchDecision_Fork{Fork: toProtoProxy(set, o)}}, nil
	}}
}

// BranchReply stops forking and sends this reply upstream.
func BranchReply(r Reply) BranchDecision {
	return branchDecision{func() (*pb.BranchDecision, error) {
		p, err := r.toProto()
		return &pb.BranchDecision{Decision: &pb.BranchDecision_Reply{Reply: p}}, err
	}}
}

// RawAnswer is an answer passed to the server as is, whatever the callback: for testing the
// server's handling of invalid answers (it answers the request 500 "Invalid Service Reply").
// It is accepted wherever a decision is.
type RawAnswer struct {
	// Answer carries the oneof to send (its id is set by the SDK); nil sends an empty answer.
	Answer *pb.CallbackAnswer
}

// Raw sends answer's oneof unchecked (see [RawAnswer]).
func Raw(answer *pb.CallbackAnswer) RawAnswer { return RawAnswer{Answer: answer} }

func (RawAnswer) isMethodAnswer()      {}
func (RawAnswer) isRouteDecision()     {}
func (RawAnswer) isAuthorizeDecision() {}
func (RawAnswer) isUserPass()          {}
func (RawAnswer) isBranchDecision()    {}
