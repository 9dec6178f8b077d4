// conformance: the NkSIP test peer (reference/nksip.md §7) as a Go SipApp, driven by request
// headers: the same behaviour, environment, stdin commands and stdout JSON lines as
// examples/typescript/conformance.ts, which documents every x-nk-* header. The
// cross-language suite in test/conformance drives it.
//
//	examples/go/bin/conformance     (built by scripts/install-go-deps.sh)
//
// Environment: NKSIP_SERVER (default 127.0.0.1:50051), NKSIP_APP (default conformance),
// NKSIP_LISTEN, NKSIP_TOKEN, NKSIP_PASS (default 1234), NKSIP_SIP_PASS, NKSIP_MAX_CALLS, NKSIP_TIMERS
// (`se,min_se`), NKSIP_PLUGINS, NKSIP_ROUTE (registrar | forward | strict).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	nksip "github.com/nksip/nksip-go"
	pb "github.com/nksip/nksip-go/gen/nksip/v1"
)

var (
	name      = envOr("NKSIP_APP", "conformance")
	password  = envOr("NKSIP_PASS", "1234")
	routeMode = os.Getenv("NKSIP_ROUTE")
	app       *nksip.App
	// closed once the app stops: what `ignore` waits for
	stopped = make(chan struct{})
)

func envOr(k, def string) string {
	if v, ok := os.LookupEnv(k); ok {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

var outMu sync.Mutex

// emit prints one JSON event line.
func emit(ev string, fields map[string]any) {
	obj := map[string]any{"ev": ev, "app": name}
	for k, v := range fields {
		obj[k] = v
	}
	b, err := json.Marshal(obj)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"ev": "error", "app": name, "message": err.Error()})
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

// credential parses `[realm/]password` or `password;realm=R;user=U`.
func credential(text string) nksip.Credential {
	parts := strings.Split(strings.TrimSpace(text), ";")
	c := nksip.Credential{Password: parts[0]}
	if realm, pass, ok := strings.Cut(parts[0], "/"); ok {
		c.Realm, c.Password = realm, pass
	}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		switch strings.TrimSpace(k) {
		case "realm":
			c.Realm = strings.TrimSpace(v)
		case "user":
			c.User = strings.TrimSpace(v)
		}
	}
	return c
}

func header(req *nksip.Request, n string) (string, bool) { return req.Headers.Get(n) }

// idHeaders: x-nk-id with the values received plus this app's name, as one line.
func idHeaders(req *nksip.Request) []nksip.HeaderEdit {
	var ids []string
	for _, v := range req.HeaderValues("x-nk-id") {
		ids = append(ids, splitList(v)...)
	}
	ids = append(ids, name)
	return []nksip.HeaderEdit{nksip.ReplaceHeader("x-nk-id", strings.Join(ids, ","))}
}

// requestText is the request as received, for reply-request.
func requestText(req *nksip.Request) string {
	lines := []string{req.Method + " " + req.RURI.Raw + " SIP/2.0"}
	for _, h := range req.Headers {
		lines = append(lines, h.GetName()+": "+h.GetValue())
	}
	return strings.Join(lines, "\r\n") + "\r\n\r\n" + req.Text()
}

func isCode(op string, first byte) bool {
	return len(op) == 3 && op[0] >= first && op[0] <= '6' && op[1] >= '0' && op[1] <= '9' && op[2] >= '0' && op[2] <= '9'
}

func atoi(s string) int {
	n := 0
	for _, c := range strings.TrimSpace(s) {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// finalReply is the answer op asks for; ok false: none (wait, pending).
func finalReply(op string, req *nksip.Request) (nksip.Reply, bool) {
	h := idHeaders(req)
	if isCode(op, '1') && op[0] == '3' {
		return nksip.Status(atoi(op)).WithHeaders(h...).WithContacts(req.HeaderValues("x-nk-contact")...), true
	}
	if isCode(op, '1') {
		return nksip.Status(atoi(op)).WithHeaders(h...), true
	}
	switch op {
	case "ok", "reply-stateless", "reply-stateful", "rel-answer", "rel-offer":
		return nksip.OK().WithHeaders(h...), true
	case "busy", "prov-busy", "rel-prov-busy", "rel-prov-prov-busy", "rel-prov-pending":
		return nksip.Busy().WithHeaders(h...), true
	case "decline":
		return nksip.Decline().WithHeaders(h...), true
	case "answer":
		return nksip.Answer(req.Body, req.ContentType).WithHeaders(h...), true
	case "reply-request":
		return nksip.OK().WithHeaders(h...).WithBody([]byte(requestText(req)), "message/sip"), true
	case "wait", "pending":
		return nksip.Reply{}, false
	}
	return nksip.InvalidRequest("Unknown x-nk-op " + op).WithHeaders(h...), true
}

func provisionalReply(op string, req *nksip.Request) (nksip.Reply, bool) {
	switch op {
	case "prov-busy":
		return nksip.SessionProgress(), true
	case "rel-prov-busy":
		return nksip.RelSessionProgress(nil), true
	case "pending":
		return nksip.Ringing(), true
	}
	prov, ok := header(req, "x-nk-prov")
	if !ok {
		return nksip.Reply{}, false
	}
	if len(prov) == 3 && prov[0] == '1' && atoi(prov) > 0 {
		return nksip.Status(atoi(prov)), true
	}
	return nksip.Ringing(), true
}

func sleepMs(ms int) {
	if ms > 0 {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
}

func lateReply(req *nksip.Request, r nksip.Reply) {
	if err := req.Reply(r); err != nil {
		emit("error", map[string]any{"where": "late reply", "message": err.Error()})
	}
}

var relFlows = map[string]bool{"rel-prov-prov-busy": true, "rel-prov-pending": true, "rel-answer": true, "rel-offer": true}

// handle answers every method callback as the headers say.
func handle(ctx context.Context, req *nksip.Request) (nksip.MethodAnswer, error) {
	return handleAs(ctx, req, strings.ToLower(req.Method))
}

// handleAs is handle with the callback's name (reinvite, resubscribe differ from the method).
func handleAs(ctx context.Context, req *nksip.Request, kind string) (nksip.MethodAnswer, error) {
	emit("callback", map[string]any{"kind": kind, "method": req.Method,
		"callId": req.CallID, "dialog": req.DialogHandle})
	if req.Method == "MESSAGE" && req.HasHeader("x-nk-uac") {
		go runUac(req)
		return nksip.NoReply(), nil
	}
	if req.Method == "MESSAGE" && (req.HasHeader("x-nk-authlist") || req.HasHeader("x-nk-authclear")) {
		clearV, clear := header(req, "x-nk-authclear")
		h := clearV
		if !clear {
			h = req.Header("x-nk-authlist")
		}
		list, found, err := app.AuthorizedList(ctx, strings.TrimSpace(h), clear)
		if err != nil {
			return nil, err
		}
		v := "unknown"
		if found {
			v = strings.Join(list, ",")
		}
		return nksip.OK().WithHeaders(nksip.ReplaceHeader("x-nk-authlist", v)), nil
	}
	if req.Method == "PRACK" {
		prackSeen(req.CallID)
	}
	if req.Method == "MESSAGE" && req.HasHeader("x-nk-reg") {
		return registrarOp(ctx, req), nil
	}
	op, ok := "", false
	if req.RURI.User != "" {
		op, ok = header(req, "x-nk-op-"+req.RURI.User)
	}
	if !ok {
		op, ok = header(req, "x-nk-op-"+name)
	}
	if !ok {
		op, ok = header(req, "x-nk-op")
	}
	if !ok {
		op = "ok"
	}
	op = strings.ToLower(strings.TrimSpace(op))
	if req.Method == "INVITE" && relFlows[op] {
		go relFlow(req, op)
		return nksip.NoReply(), nil
	}
	switch op {
	case "ignore":
		<-stopped
		return nksip.NoReply(), nil
	case "reply-invalid":
		return nksip.Raw(&pb.CallbackAnswer{Answer: &pb.CallbackAnswer_Route{Route: &pb.RouteDecision{
			Decision: &pb.RouteDecision_Process{Process: &pb.Process{}}}}}), nil
	}
	sleep, ok := header(req, "x-nk-sleep-"+name)
	if !ok {
		sleep = req.Header("x-nk-sleep")
	}
	delay := atoi(sleep)
	final, hasFinal := finalReply(op, req)
	prov, hasProv := provisionalReply(op, req)
	if !hasProv {
		sleepMs(delay)
		if !hasFinal {
			return nksip.NoReply(), nil
		}
		return final, nil
	}
	// A provisional first: answer later through the request handle.
	lateReply(req, prov)
	if hasFinal {
		go func() {
			sleepMs(delay)
			lateReply(req, final)
		}()
	}
	return nksip.NoReply(), nil
}

// PRACKs seen per Call-ID, and who waits for them.
var (
	prackMu     sync.Mutex
	pracks      = map[string]int{}
	prackChange = make(chan struct{})
)

func prackSeen(callID string) {
	prackMu.Lock()
	pracks[callID]++
	close(prackChange)
	prackChange = make(chan struct{})
	prackMu.Unlock()
}

// waitPracks returns once n PRACKs of callID arrived (false after 5 s).
func waitPracks(callID string, n int) bool {
	deadline := time.After(5 * time.Second)
	for {
		prackMu.Lock()
		got, ch := pracks[callID], prackChange
		prackMu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

// relFlow runs the reliable provisional flows (NkSIP t17): each step waits for the PRACK of
// the last.
func relFlow(req *nksip.Request, op string) {
	h := idHeaders(req)
	delay := atoi(req.Header("x-nk-sleep"))
	switch op {
	case "rel-prov-prov-busy":
		lateReply(req, nksip.RelRinging(nil))
		waitPracks(req.CallID, 1)
		lateReply(req, nksip.RelSessionProgress(nil))
		waitPracks(req.CallID, 2)
		lateReply(req, nksip.Busy().WithHeaders(h...))
	case "rel-prov-pending":
		lateReply(req, nksip.RelRinging(nil))
		lateReply(req, nksip.RelSessionProgress(nil))
		waitPracks(req.CallID, 1)
		lateReply(req, nksip.Busy().WithHeaders(h...))
	case "rel-answer":
		sdp := nksip.AnswerSDP(req.Body, name, "", 40004)
		lateReply(req, nksip.RelSessionProgress(sdp))
		waitPracks(req.CallID, 1)
		sleepMs(delay)
		lateReply(req, nksip.Answer(sdp, "").WithHeaders(h...))
	default:
		sdp := nksip.NewSDP(name, "", nksip.SDPMedia{Port: 40006, Formats: []string{"0"}})
		lateReply(req, nksip.RelSessionProgress(sdp))
		waitPracks(req.CallID, 1)
		lateReply(req, nksip.Answer(sdp, "").WithHeaders(h...))
	}
}

// registrarOp: x-nk-reg find | qfind | delete | clear on this app's registrar.
func registrarOp(ctx context.Context, req *nksip.Request) nksip.MethodAnswer {
	f := strings.Fields(req.Header("x-nk-reg"))
	for len(f) < 3 {
		f = append(f, "")
	}
	op, aor, contact := f[0], f[1], f[2]
	h := idHeaders(req)
	reg := app.Registrar()
	var result any
	var err error
	switch op {
	case "find":
		result, err = reg.Find(ctx, aor)
	case "qfind":
		result, err = reg.QFind(ctx, aor)
	case "delete":
		result, err = reg.Delete(ctx, aor, contact)
	case "clear":
		err = reg.Clear(ctx)
		result = true
	default:
		err = errString("unknown x-nk-reg op " + op)
	}
	if err != nil {
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "nksip: "), "registrar: ")
		return nksip.Status(500).WithHeaders(append(h, nksip.ReplaceHeader("x-nk-reg-error", msg))...)
	}
	b, _ := json.Marshal(result)
	return nksip.OK().WithHeaders(append(h, nksip.ReplaceHeader("x-nk-reg-result", string(b)))...)
}

type errString string

func (e errString) Error() string { return string(e) }

// registrarRoute: NKSIP_ROUTE=registrar, NkSIP's test proxy routing to the R-URI's contacts.
func registrarRoute(ctx context.Context, req *nksip.Request, o nksip.ProxyOptions) (nksip.RouteDecision, error) {
	if req.To.Tag != "" {
		return nksip.Proxy(nil, o), nil
	}
	u := req.RURI
	set, err := app.Registrar().QFind(ctx, u.Raw)
	if err != nil {
		return nil, err
	}
	if len(set) == 0 {
		return nksip.RouteReply(nksip.Status(480).WithHeaders(idHeaders(req)...)), nil
	}
	if strings.ToLower(strings.TrimSpace(req.Header("x-nk-proxy-mode"))) == "stateless" {
		return nksip.ProxyStateless(set, o), nil
	}
	return nksip.Proxy(set, o), nil
}

// modeOptions: the proxy options of NKSIP_ROUTE modes, from the request's x-nk-* headers.
func modeOptions(req *nksip.Request) nksip.ProxyOptions {
	edits := idHeaders(req)
	for _, line := range req.HeaderValues("x-nk-add") {
		n, v, _ := strings.Cut(line, ":")
		edits = append(edits, nksip.AddHeader(strings.TrimSpace(n), strings.TrimSpace(v)))
	}
	for _, n := range req.HeaderValues("x-nk-remove") {
		edits = append(edits, nksip.RemoveHeader(strings.TrimSpace(n)))
	}
	if req.HasHeader("x-nk-clear-route") {
		edits = append(edits, nksip.RemoveHeader("route"))
	}
	// consumed here: the next proxy does not apply them again
	for _, h := range []string{"x-nk-route", "x-nk-add", "x-nk-remove", "x-nk-clear-route"} {
		if req.HasHeader(h) {
			edits = append(edits, nksip.RemoveHeader(h))
		}
	}
	return nksip.ProxyOptions{RecordRoute: req.HasHeader("x-nk-rr"), Path: req.HasHeader("x-nk-path"),
		FollowRedirects: req.HasHeader("x-nk-redirect"), BranchEvents: req.HasHeader("x-nk-branch"),
		Route: req.HeaderValues("x-nk-route"), Headers: edits}
}

// branchAnswer: x-nk-branch continue | fork <uris> | reply <code>.
func branchAnswer(req *nksip.Request) nksip.BranchDecision {
	f := strings.Fields(req.Header("x-nk-branch"))
	for len(f) < 2 {
		f = append(f, "")
	}
	switch f[0] {
	case "fork":
		return nksip.BranchFork(nksip.Parallel(splitList(f[1])...), nksip.ProxyOptions{RecordRoute: req.HasHeader("x-nk-rr")})
	case "reply":
		code := atoi(f[1])
		if code == 0 {
			code = 500
		}
		return nksip.BranchReply(nksip.Status(code).WithHeaders(idHeaders(req)...))
	}
	return nksip.BranchContinue()
}

func sdpOffer() []byte {
	id := time.Now().UnixMilli()
	return []byte("v=0\r\no=" + name + " " + itoa(id) + " " + itoa(id) + " IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// runUac: x-nk-uac, send a request from the app and report its outcome in the MESSAGE's answer.
func runUac(req *nksip.Request) {
	ctx := context.Background()
	f := strings.Fields(req.Header("x-nk-uac"))
	method, uri := "OPTIONS", ""
	if len(f) > 0 {
		method = f[0]
	}
	if len(f) > 1 {
		uri = f[1]
	}
	var headers []nksip.HeaderEdit
	for _, line := range req.HeaderValues("x-nk-uac-header") {
		n, v, _ := strings.Cut(line, ":")
		headers = append(headers, nksip.AddHeader(strings.TrimSpace(n), strings.TrimSpace(v)))
	}
	result := map[string]string{}
	m := strings.ToUpper(method)
	inDialog := strings.TrimSpace(req.Header("x-nk-uac-dialog"))
	var pass []nksip.Credential
	for _, p := range req.HeaderValues("x-nk-uac-pass") {
		pass = append(pass, credential(p))
	}
	var maxTries *uint32
	if v, ok := header(req, "x-nk-uac-max-tries"); ok {
		maxTries = nksip.Uint32(uint32(atoi(v)))
	}
	opts := &nksip.UacOptions{Headers: headers, Pass: pass, AuthMaxTries: maxTries}
	fail := func(err error) {
		result["x-nk-uac-status"] = "error"
		if ue, ok := err.(*nksip.UacError); ok {
			result["x-nk-uac-error"] = ue.Kind
		} else {
			result["x-nk-uac-error"] = err.Error()
		}
	}
	func() {
		if uri == "dialog" {
			// in the MESSAGE's dialog: the outcome is reported, the dialog left as it is
			var res *nksip.Response
			var err error
			if m == "REFRESH" {
				mode := req.Header("x-nk-uac-refresh")
				if mode == "" {
					mode = "keep"
				}
				opts.Auto2xxAck = true
				res, err = app.Refresh(ctx, req.DialogHandle, mode, opts)
			} else {
				if m == "UPDATE" || m == "INVITE" {
					opts.Body = sdpOffer()
				}
				opts.Auto2xxAck = m == "INVITE"
				res, err = app.Request(ctx, m, nksip.InDialog(req.DialogHandle), opts)
			}
			if err != nil {
				fail(err)
				return
			}
			result["x-nk-uac-status"] = itoa(int64(res.Code))
			result["x-nk-uac-reason"] = res.Reason
			result["x-nk-uac-sdp-version"] = nksip.SDPVersion(res.Body)
			return
		}
		isInvite := m == "INVITE"
		if isInvite && !req.HasHeader("x-nk-uac-no-sdp") {
			opts.Body, opts.ContentType = sdpOffer(), "application/sdp"
		}
		if isInvite {
			opts.Auto2xxAck = true
			if req.HasHeader("x-nk-uac-prack-body") {
				opts.PrackBody = sdpOffer()
			}
		}
		to := nksip.ToURI(uri)
		if inDialog != "" {
			to = nksip.InDialog(inDialog)
		}
		res, err := app.Request(ctx, method, to, opts)
		if err != nil {
			fail(err)
			return
		}
		result["x-nk-uac-status"] = itoa(int64(res.Code))
		result["x-nk-uac-reason"] = res.Reason
		result["x-nk-uac-cseq"] = itoa(int64(res.CSeq))
		if isInvite && res.OK() && res.DialogHandle != "" && inDialog == "" {
			if req.HasHeader("x-nk-uac-keep") {
				result["x-nk-uac-dialog"] = res.DialogHandle
			} else if bye, err := app.Bye(ctx, res.DialogHandle, nil); err != nil {
				fail(err)
			} else {
				result["x-nk-uac-bye-status"] = itoa(int64(bye.Code))
			}
		}
	}()
	fields := map[string]any{"method": method, "uri": uri}
	reply := nksip.OK()
	for k, v := range result {
		fields[k] = v
		reply = reply.WithHeaders(nksip.ReplaceHeader(k, v))
	}
	emit("uac", fields)
	if err := req.Reply(reply); err != nil {
		emit("error", map[string]any{"where": "uac late reply", "message": err.Error()})
	}
}

func route(ctx context.Context, req *nksip.Request) (nksip.RouteDecision, error) {
	t := req.Transport
	emit("callback", map[string]any{"kind": "route", "method": req.Method, "callId": req.CallID, "ruri": req.RURI.Raw,
		"transport": fmt.Sprintf("%s %s:%d %s:%d", t.GetTransport(), t.GetLocalIp(), t.GetLocalPort(), t.GetRemoteIp(), t.GetRemotePort())})
	op := strings.ToLower(strings.TrimSpace(req.Header("x-nk-op")))
	switch op {
	case "reply-stateless":
		return nksip.RouteReplyStateless(nksip.OK().WithHeaders(idHeaders(req)...)), nil
	case "reply-stateful":
		return nksip.RouteReply(nksip.OK().WithHeaders(idHeaders(req)...)), nil
	case "route-invalid":
		return nksip.Raw(&pb.CallbackAnswer{Answer: &pb.CallbackAnswer_Method{Method: &pb.MethodDecision{
			Decision: &pb.MethodDecision_Noreply{Noreply: &pb.NoReply{}}}}}), nil
	}
	hops := req.HeaderValues("x-nk-proxy")
	if len(hops) == 0 {
		if routeMode == "forward" {
			return nksip.Proxy(nil, modeOptions(req)), nil
		}
		if routeMode == "strict" {
			return nksip.StrictProxy(nil, modeOptions(req)), nil
		}
		inDialog := req.To.Tag != ""
		if routeMode == "registrar" && req.Method != "REGISTER" && (inDialog || req.RURI.User != "") {
			return registrarRoute(ctx, req, modeOptions(req))
		}
		return nksip.Process(), nil
	}
	var set nksip.UriSet
	for _, group := range strings.Split(hops[0], "|") {
		var uris []string
		for _, u := range strings.Split(group, ",") {
			u = strings.TrimSpace(u)
			if strings.HasPrefix(u, "<") && strings.HasSuffix(u, ">") {
				u = u[1 : len(u)-1]
			}
			if u != "" {
				uris = append(uris, u)
			}
		}
		if len(uris) > 0 {
			set = append(set, uris)
		}
	}
	edits := []nksip.HeaderEdit{nksip.RemoveHeader("x-nk-proxy")}
	for _, h := range hops[1:] {
		edits = append(edits, nksip.AddHeader("x-nk-proxy", h))
	}
	o := nksip.ProxyOptions{RecordRoute: req.HasHeader("x-nk-rr"), FollowRedirects: req.HasHeader("x-nk-redirect"),
		Path: req.HasHeader("x-nk-path"), BranchEvents: req.HasHeader("x-nk-branch"),
		Headers: append(edits, idHeaders(req)...)}
	switch strings.ToLower(strings.TrimSpace(req.Header("x-nk-proxy-mode"))) {
	case "stateless":
		return nksip.ProxyStateless(set, o), nil
	case "strict":
		return nksip.StrictProxy(set, o), nil
	}
	return nksip.Proxy(set, o), nil
}

// authorize: x-nk-auth challenges until the request carries a credential that checks out.
func authorize(_ context.Context, auth *pb.AuthInfo, req *nksip.Request) (nksip.AuthorizeDecision, error) {
	h, ok := header(req, "x-nk-auth")
	if !ok {
		return nksip.AuthorizeOK(), nil
	}
	parts := strings.Split(strings.TrimSpace(h), ";")
	want, flags := parts[0], parts[1:]
	digests := []string{}
	anyOK := false
	for _, d := range auth.GetDigests() {
		digests = append(digests, d.GetUser()+"@"+d.GetRealm()+":"+boolText(d.GetOk()))
		anyOK = anyOK || d.GetOk()
	}
	emit("callback", map[string]any{"kind": "authorize", "method": req.Method, "callId": req.CallID,
		"dialog": auth.GetDialog(), "register": auth.GetRegister(), "digests": digests})
	noDialog := false
	for _, f := range flags {
		noDialog = noDialog || f == "nodialog"
	}
	switch {
	case auth.GetDialog() && !noDialog, auth.GetRegister(), anyOK:
		return nksip.AuthorizeOK(), nil
	case len(auth.GetDigests()) > 0:
		return nksip.AuthorizeForbidden(), nil
	}
	kind, realm, _ := strings.Cut(want, ":")
	if kind == "proxy" {
		return nksip.AuthorizeProxyAuthenticate(realm), nil
	}
	if want == "true" {
		want = ""
	}
	return nksip.AuthorizeAuthenticate(want), nil
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func emitSession(u nksip.SessionUpdate, via string) {
	emit("session", map[string]any{"dialog": u.DialogHandle, "kind": u.KindName(),
		"local": nksip.SDPVersion(u.LocalSDP), "remote": nksip.SDPVersion(u.RemoteSDP), "via": via})
}

func emitDialog(u nksip.DialogUpdate, via string) {
	fields := map[string]any{"dialog": u.DialogHandle, "status": u.StatusName(), "inviteStatus": u.InviteStatus,
		"stopReason": u.StopReason, "via": via}
	if via == "callback" {
		fields["refreshSdp"] = nksip.SDPVersion(u.SDP)
	}
	emit("dialog", fields)
}

var handlers = nksip.Handlers{
	Route:  route,
	Invite: handle,
	Reinvite: func(ctx context.Context, req *nksip.Request) (nksip.MethodAnswer, error) {
		return handleAs(ctx, req, "reinvite")
	},
	Bye:       handle,
	Options:   handle,
	Info:      handle,
	Update:    handle,
	Message:   handle,
	Subscribe: handle,
	Resubscribe: func(ctx context.Context, req *nksip.Request) (nksip.MethodAnswer, error) {
		return handleAs(ctx, req, "resubscribe")
	},
	Notify:    handle,
	Refer:     handle,
	Publish:   handle,
	Prack:     handle,
	Authorize: authorize,
	GetUserPass: func(_ context.Context, user, _ string, _ *nksip.Request) (nksip.UserPass, error) {
		if user == "anonymous" {
			return nksip.Password(""), nil
		}
		return nksip.Password(password), nil
	},
	Ack: func(_ context.Context, req *nksip.Request) error {
		emit("callback", map[string]any{"kind": "ack", "callId": req.CallID, "dialog": req.DialogHandle})
		return nil
	},
	Cancel: func(_ context.Context, invite, _ *nksip.Request) error {
		emit("callback", map[string]any{"kind": "cancel", "callId": invite.CallID})
		return nil
	},
	DialogUpdate: func(_ context.Context, u nksip.DialogUpdate) error {
		emitDialog(u, "callback")
		return nil
	},
	SessionUpdate: func(_ context.Context, u nksip.SessionUpdate) error {
		emitSession(u, "callback")
		return nil
	},
	BranchFinal: func(_ context.Context, b nksip.Branch, req *nksip.Request) (nksip.BranchDecision, error) {
		emit("branch", map[string]any{"callId": req.CallID, "uri": b.URI, "code": b.Response.Code, "pending": b.Pending})
		return branchAnswer(req), nil
	},
}

func main() {
	var sipPass []nksip.Credential
	for _, p := range splitList(os.Getenv("NKSIP_SIP_PASS")) {
		sipPass = append(sipPass, credential(p))
	}
	var plugins []nksip.Plugin
	for _, p := range splitList(os.Getenv("NKSIP_PLUGINS")) {
		plugins = append(plugins, nksip.Plugin{Name: p})
	}
	if t := splitList(os.Getenv("NKSIP_TIMERS")); len(t) == 2 {
		plugins = append(plugins, nksip.Plugin{Name: "timers", Options: map[string]string{"se": t[0], "min_se": t[1]}})
	}
	opts := nksip.Options{
		App:      name,
		Server:   envOr("NKSIP_SERVER", nksip.DefaultServer),
		Listen:   splitList(os.Getenv("NKSIP_LISTEN")),
		Token:    os.Getenv("NKSIP_TOKEN"),
		Pass:     sipPass,
		MaxCalls: envUint32("NKSIP_MAX_CALLS"),
		Plugins:  plugins,
		Notify: nksip.Events{
			OnStarted:      func(info nksip.StartedInfo) { emit("started", structFields(info)) },
			OnDisconnected: func(err error) { emit("disconnected", map[string]any{"message": errText(err)}) },
			OnCallbackExpired: func(e *pb.CallbackExpired) {
				emit("expired", map[string]any{"id": e.GetId(), "kind": nksip.CallbackName(e.GetKind()),
					"handledBy": e.GetHandledBy(), "code": e.GetCode()})
			},
			OnCallbackError: func(k pb.CallbackKind, err error) {
				emit("callback-error", map[string]any{"name": nksip.CallbackName(k), "message": err.Error()})
			},
			OnError: func(e *nksip.ServerError) {
				emit("error", map[string]any{"code": e.Code, "message": e.Message, "ref": e.Ref})
			},
			// dialog and session changes sent as notifications rather than callbacks
			OnSessionUpdate: func(u nksip.SessionUpdate) { emitSession(u, "notification") },
			OnDialogUpdate:  func(u nksip.DialogUpdate) { emitDialog(u, "notification") },
		},
	}
	var err error
	app, err = nksip.Start(context.Background(), opts, handlers)
	if err != nil {
		emit("error", map[string]any{"where": "start", "message": err.Error()})
		os.Exit(1)
	}
	go readCommands()
	emit("ready", structFields(app.Started()))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
	case <-app.Closed():
		if left.Load() {
			<-sig
		}
	}
	close(stopped)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = app.Stop(ctx)
}

func errText(err error) any {
	if err == nil {
		return nil
	}
	return err.Error()
}

func structFields(v any) map[string]any {
	b, _ := json.Marshal(v)
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	return out
}

// ---- control from stdin

type command struct {
	ID           string       `json:"id"`
	Cmd          string       `json:"cmd"`
	Method       string       `json:"method"`
	URI          string       `json:"uri"`
	Dialog       string       `json:"dialog"`
	Subscription string       `json:"subscription"`
	Call         string       `json:"call"`
	Reason       *string      `json:"reason"`
	CallID       string       `json:"callId"`
	Opts         *commandOpts `json:"opts"`
}

// commandOpts is UacOptions as JSON: headers as [[name, value]...] (added), body as text.
type commandOpts struct {
	Headers           [][2]string     `json:"headers"`
	Body              *string         `json:"body"`
	ContentType       string          `json:"contentType"`
	Contact           string          `json:"contact"`
	MakeContact       bool            `json:"makeContact"`
	From              string          `json:"from"`
	To                string          `json:"to"`
	Route             []string        `json:"route"`
	CallID            string          `json:"callId"`
	CSeq              *uint32         `json:"cseq"`
	Expires           *uint32         `json:"expires"`
	Pass              json.RawMessage `json:"pass"`
	AuthMaxTries      *uint32         `json:"authMaxTries"`
	Event             string          `json:"event"`
	ReferTo           string          `json:"referTo"`
	Unregister        bool            `json:"unregister"`
	UnregisterAll     bool            `json:"unregisterAll"`
	ToAsFrom          bool            `json:"toAsFrom"`
	Auto2xxAck        bool            `json:"auto2xxAck"`
	NoAutoExpire      bool            `json:"noAutoExpire"`
	Reason            string          `json:"reason"`
	SubscriptionState string          `json:"subscriptionState"`
	SipIfMatch        string          `json:"sipIfMatch"`
	LocalHost         string          `json:"localHost"`
	PrackBody         *string         `json:"prackBody"`
	ManualPrack       bool            `json:"manualPrack"`
	SessionExpires    uint32          `json:"sessionExpires"`
	MinSe             uint32          `json:"minSe"`
	Refresh           string          `json:"refresh"`
}

func (c *commandOpts) uacOptions() (*nksip.UacOptions, error) {
	if c == nil {
		c = &commandOpts{}
	}
	o := &nksip.UacOptions{ContentType: c.ContentType, Contact: c.Contact, MakeContact: c.MakeContact,
		From: c.From, To: c.To, Route: c.Route, CallID: c.CallID, CSeq: c.CSeq, Expires: c.Expires,
		AuthMaxTries: c.AuthMaxTries, Event: c.Event, ReferTo: c.ReferTo, Unregister: c.Unregister,
		UnregisterAll: c.UnregisterAll, ToAsFrom: c.ToAsFrom, Auto2xxAck: c.Auto2xxAck, NoAutoExpire: c.NoAutoExpire,
		Reason: c.Reason, SubscriptionState: c.SubscriptionState, SipIfMatch: c.SipIfMatch, LocalHost: c.LocalHost,
		ManualPrack: c.ManualPrack, SessionExpires: c.SessionExpires, MinSE: c.MinSe, Refresh: c.Refresh,
		Provisionals: true}
	for _, h := range c.Headers {
		o.Headers = append(o.Headers, nksip.AddHeader(h[0], h[1]))
	}
	if c.Body != nil {
		o.Body = []byte(*c.Body)
	}
	if c.PrackBody != nil {
		o.PrackBody = []byte(*c.PrackBody)
	}
	if len(c.Pass) > 0 {
		var one string
		if err := json.Unmarshal(c.Pass, &one); err == nil {
			o.Pass = []nksip.Credential{{Password: one}}
		} else {
			var many []nksip.Credential
			var raw []struct{ Realm, User, Password string }
			if err := json.Unmarshal(c.Pass, &raw); err != nil {
				return nil, err
			}
			for _, r := range raw {
				many = append(many, nksip.Credential{Realm: r.Realm, User: r.User, Password: r.Password})
			}
			o.Pass = many
		}
	}
	return o, nil
}

var (
	callsMu sync.Mutex
	calls   = map[string]*nksip.Call{}
)

func responseFields(r *nksip.Response) map[string]any {
	headers := make([][2]string, 0, len(r.Headers))
	for _, h := range r.Headers {
		headers = append(headers, [2]string{h.GetName(), h.GetValue()})
	}
	return map[string]any{"code": r.Code, "reason": r.Reason, "dialog": r.DialogHandle,
		"subscription": r.SubscriptionHandle, "callId": r.CallID, "cseq": r.CSeq, "headers": headers,
		"body": string(r.Body)}
}

// left is set by the leave command: the app stopped on purpose and the process stays.
var left atomic.Bool

func result(id string, fields map[string]any) {
	fields["id"] = id
	emit("result", fields)
}

func runCommand(c command) {
	var call *nksip.Call
	switch c.Cmd {
	case "request":
		opts, err := c.Opts.uacOptions()
		if err != nil {
			result(c.ID, map[string]any{"error": "command", "message": err.Error()})
			return
		}
		to := nksip.ToURI(c.URI)
		if c.Dialog != "" {
			to = nksip.InDialog(c.Dialog)
		} else if c.Subscription != "" {
			to = nksip.InSubscription(c.Subscription)
		}
		method := c.Method
		if method == "" {
			method = "OPTIONS"
		}
		call = app.Send(method, to, opts)
	case "dialog", "dialogs", "stop-dialog":
		go runDialogCommand(c)
		return
	case "stun":
		go func(id, uri string) {
			r, err := app.Stun(context.Background(), uri)
			if err != nil {
				kind := "exception"
				if ue, ok := err.(*nksip.UacError); ok {
					kind = ue.Kind
				}
				result(id, map[string]any{"error": kind, "message": err.Error()})
				return
			}
			result(id, map[string]any{
				"local":  map[string]any{"address": r.Local.Address, "port": r.Local.Port},
				"public": map[string]any{"address": r.Public.Address, "port": r.Public.Port},
			})
		}(c.ID, c.URI)
		return
	case "leave":
		// the app stops and the process stays: a request now is NkSIP's service_not_started
		left.Store(true)
		go func(id string) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_ = app.Stop(ctx)
			result(id, map[string]any{"left": true})
		}(c.ID)
		return
	case "cancel":
		callsMu.Lock()
		invite := calls[c.Call]
		callsMu.Unlock()
		if invite == nil {
			result(c.ID, map[string]any{"error": "command", "message": "no call " + c.Call})
			return
		}
		reason := ""
		if c.Reason != nil {
			reason = *c.Reason
		}
		id := c.ID
		go func() {
			h, err := invite.RequestHandle(context.Background())
			if err != nil {
				result(id, map[string]any{"error": "unknownRequest", "message": err.Error()})
				return
			}
			cancel := app.CancelHandle(h, &nksip.UacOptions{Reason: reason})
			watch(id, cancel)
		}()
		return
	default:
		result(c.ID, map[string]any{"error": "command", "message": "unknown command " + c.Cmd})
		return
	}
	callsMu.Lock()
	calls[c.ID] = call
	callsMu.Unlock()
	go watch(c.ID, call)
}

// watch prints a call's provisionals and its result.
func watch(id string, call *nksip.Call) {
	for p := range call.Provisionals() {
		f := responseFields(p)
		f["id"] = id
		emit("provisional", f)
	}
	res, err := call.Wait(context.Background())
	if err != nil {
		kind := "exception"
		if ue, ok := err.(*nksip.UacError); ok {
			kind = ue.Kind
		}
		result(id, map[string]any{"error": kind, "message": err.Error()})
		return
	}
	result(id, responseFields(res))
}

func runDialogCommand(c command) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	failed := func(err error) { result(c.ID, map[string]any{"error": "dialog", "message": err.Error()}) }
	switch c.Cmd {
	case "dialog":
		d, err := app.Dialog(ctx, c.Dialog)
		if err != nil {
			failed(err)
			return
		}
		if d == nil {
			result(c.ID, map[string]any{"info": nil})
			return
		}
		result(c.ID, map[string]any{"info": dialogJSON(d)})
	case "dialogs":
		ds, err := app.Dialogs(ctx, c.CallID)
		if err != nil {
			failed(err)
			return
		}
		infos := make([]map[string]any, 0, len(ds))
		for i := range ds {
			infos = append(infos, dialogJSON(&ds[i]))
		}
		result(c.ID, map[string]any{"infos": infos})
	default:
		if err := app.StopDialog(ctx, c.Dialog); err != nil {
			failed(err)
			return
		}
		result(c.ID, map[string]any{"stopped": c.Dialog})
	}
}

func readCommands() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var c command
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			emit("error", map[string]any{"where": "command", "message": err.Error(), "line": line})
			continue
		}
		runCommand(c)
	}
}

// dialogJSON prints a DialogInfo as every conformance app does: its JSON fields plus the
// INVITE session's SDP bodies as text.
func dialogJSON(d *nksip.DialogInfo) map[string]any {
	out := map[string]any{}
	if b, err := json.Marshal(d); err == nil {
		_ = json.Unmarshal(b, &out)
	}
	if len(d.InviteLocalSDP) > 0 {
		out["inviteLocalSdp"] = string(d.InviteLocalSDP)
	}
	if len(d.InviteRemoteSDP) > 0 {
		out["inviteRemoteSdp"] = string(d.InviteRemoteSDP)
	}
	return out
}

// envUint32 reads a number from the environment; nil when unset or not a number.
func envUint32(key string) *uint32 {
	n, err := strconv.ParseUint(os.Getenv(key), 10, 32)
	if err != nil {
		return nil
	}
	v := uint32(n)
	return &v
}
