package nksip

// Tests against the real nksip-server through nksiptest: the built CLI
// (dist/server/src/cli.js, `make build`) as a child process on 127.0.0.1 with port 0 (or a
// port chosen here when the test restarts it), stopped by its PID. Skipped when node or the
// build is missing.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/nksip/nksip-go/gen/nksip/v1"
	"github.com/nksip/nksip-go/nksiptest"
)

type server = nksiptest.Server

func startServer(t *testing.T, grpcAddr string) *server {
	t.Helper()
	cli, err := filepath.Abs("../../dist/server/src/cli.js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cli); err != nil {
		t.Skipf("%s missing: run `make build` first", cli)
	}
	return nksiptest.Start(t, nksiptest.Options{CLI: cli, GRPC: grpcAddr})
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pc, err := net.ListenPacket("udp", l.Addr().String())
	if err != nil {
		return freePort(t)
	}
	pc.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

func start(t *testing.T, o Options, h Handlers) *App {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if o.Reconnect.Initial == 0 {
		o.Reconnect = Backoff{Initial: 50 * time.Millisecond, Max: 300 * time.Millisecond}
	}
	app, err := Start(ctx, o, h)
	if err != nil {
		t.Fatalf("start %s: %v", o.App, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = app.Stop(ctx)
	})
	return app
}

func wait(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A UAS app on the server's own listener and a UAC app on a listener of its own.
func pair(t *testing.T, srv *server, uas Handlers, uasEvents Events) (uasApp, uac *App, target string) {
	uasApp = start(t, Options{App: "uas", Server: srv.GRPC, Notify: uasEvents}, uas)
	uac = start(t, Options{App: "uac", Server: srv.GRPC, Listen: []string{"sip:127.0.0.1:" + freePort(t)}}, Handlers{})
	return uasApp, uac, "sip:uas@127.0.0.1:" + fmt.Sprint(srv.Port("udp"))
}

func TestServerOptionsAnsweredByAnApp(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	seen := make(chan string, 1)
	_, uac, target := pair(t, srv, Handlers{
		Options: func(ctx context.Context, req *Request) (MethodAnswer, error) {
			if _, ok := ctx.Deadline(); !ok {
				return nil, errors.New("no deadline on the callback's context")
			}
			seen <- req.Header("x-test")
			return OK().WithHeader("x-app", "go"), nil
		},
	}, Events{})
	res, err := uac.Options(wait(t), ToURI(target), &UacOptions{Headers: []HeaderEdit{AddHeader("x-test", "42")}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 200 || res.Header("x-app") != "go" {
		t.Fatalf("got %d %q", res.Code, res.Header("x-app"))
	}
	if got := <-seen; got != "42" {
		t.Fatalf("the app saw x-test %q", got)
	}
}

func TestServerInviteProvisionalsLateReplyAndCancel(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	cancelled := make(chan string, 1)
	_, uac, target := pair(t, srv, Handlers{
		Invite: func(ctx context.Context, req *Request) (MethodAnswer, error) {
			if err := req.Reply(Ringing()); err != nil {
				return nil, err
			}
			if req.Header("x-op") == "busy" {
				go func() { _ = req.Reply(Busy()) }()
			}
			return NoReply(), nil
		},
		Cancel: func(_ context.Context, invite, _ *Request) error {
			cancelled <- invite.CallID
			return nil
		},
	}, Events{})
	var watched atomic.Int32
	call := uac.Send("INVITE", ToURI(target), &UacOptions{Headers: []HeaderEdit{AddHeader("x-op", "busy")},
		OnProvisional: func(*Response) { watched.Add(1) }})
	var codes []int
	for p := range call.Provisionals() {
		codes = append(codes, p.Code)
	}
	res, err := call.Wait(wait(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 486 || len(codes) == 0 || codes[len(codes)-1] != 180 || watched.Load() != int32(len(codes)) {
		t.Fatalf("final %d, provisionals %v, watched %d", res.Code, codes, watched.Load())
	}

	// held with 180 until the app CANCELs it
	held := uac.Send("INVITE", ToURI(target), nil)
	for p := range held.Provisionals() {
		if p.Code == 180 {
			break
		}
	}
	cres, err := uac.Cancel(wait(t), held, "")
	if err != nil || cres.Code != 200 {
		t.Fatalf("CANCEL: %v %v", cres, err)
	}
	final, err := held.Wait(wait(t))
	if err != nil || final.Code != 487 {
		t.Fatalf("cancelled INVITE: %v %v", final, err)
	}
	select {
	case id := <-cancelled:
		if id != final.CallID {
			t.Fatalf("cancel callback for %s, INVITE %s", id, final.CallID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the UAS was not told of the CANCEL")
	}
}

func TestServerFailingCallbacksAnswer500AndTheAppServesOn(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	var failures atomic.Int32
	_, uac, target := pair(t, srv, Handlers{
		Options: func(_ context.Context, req *Request) (MethodAnswer, error) {
			switch req.Header("x-op") {
			case "panic":
				panic("the handler panicked")
			case "error":
				return nil, errors.New("the handler failed")
			case "invalid":
				return Reply{}, nil
			}
			return OK(), nil
		},
	}, Events{OnCallbackError: func(pb.CallbackKind, error) { failures.Add(1) }})
	for i, op := range []string{"panic", "error", "invalid"} {
		res, err := uac.Options(wait(t), ToURI(target), &UacOptions{Headers: []HeaderEdit{AddHeader("x-op", op)}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Code != 500 || failures.Load() != int32(i+1) {
			t.Fatalf("%s: got %d, %d failures told", op, res.Code, failures.Load())
		}
	}
	res, err := uac.Options(wait(t), ToURI(target), nil)
	if err != nil || res.Code != 200 {
		t.Fatalf("after the failures: %v %v", res, err)
	}
}

func TestServerUacErrorsAndDialogQueries(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	_, uac, _ := pair(t, srv, Handlers{}, Events{})
	_, err := uac.Options(wait(t), ToURI("not a uri"), nil)
	var ue *UacError
	if !errors.As(err, &ue) || ue.Kind != "invalidUri" {
		t.Fatalf("invalid URI: %v", err)
	}
	_, err = uac.Bye(wait(t), "D_nothing", nil)
	if !errors.As(err, &ue) || ue.Kind != "unknownDialog" {
		t.Fatalf("unknown dialog: %v", err)
	}
	d, err := uac.Dialog(wait(t), "D_nothing")
	if err != nil || d != nil {
		t.Fatalf("unknown dialog info: %v %v", d, err)
	}
	if err := uac.StopDialog(wait(t), "D_nothing"); err == nil {
		t.Fatal("stopping an unknown dialog succeeded")
	}
}

func TestServerRefusesAnInvalidConfigAtOnce(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Start(ctx, Options{App: "bad", Server: srv.GRPC, Listen: []string{"http://nowhere"}}, Handlers{})
	var se *ServerError
	if !errors.As(err, &se) || !isFatal(se) {
		t.Fatalf("invalid listen URI: %v", err)
	}
}

func TestServerRestartTheAppRejoinsAndServes(t *testing.T) {
	grpcAddr := "127.0.0.1:" + freePort(t)
	srv := startServer(t, grpcAddr)
	var rejoined atomic.Bool
	disconnected := make(chan struct{}, 1)
	uasApp, uac, target := pair(t, srv, Handlers{
		Options: func(context.Context, *Request) (MethodAnswer, error) { return OK(), nil },
	}, Events{
		OnStarted:      func(i StartedInfo) { rejoined.Store(i.Reconnected) },
		OnDisconnected: func(error) { disconnected <- struct{}{} },
	})
	if res, err := uac.Options(wait(t), ToURI(target), nil); err != nil || res.Code != 200 {
		t.Fatalf("before the restart: %v %v", res, err)
	}
	srv.Stop()
	select {
	case <-disconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("the app was not told the stream broke")
	}
	_, err := uac.Options(wait(t), ToURI(target), nil)
	var ue *UacError
	if !errors.As(err, &ue) || (ue.Kind != "notConnected" && ue.Kind != "disconnected") {
		t.Fatalf("a request with the server down: %v", err)
	}
	srv2 := startServer(t, grpcAddr)
	deadline := time.Now().Add(15 * time.Second)
	for !(uasApp.Connected() && uac.Connected()) {
		if time.Now().After(deadline) {
			t.Fatal("the apps did not rejoin the restarted server")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !rejoined.Load() {
		t.Fatal("Started after the restart was not marked Reconnected")
	}
	target2 := "sip:uas@127.0.0.1:" + fmt.Sprint(srv2.Port("udp"))
	if res, err := uac.Options(wait(t), ToURI(target2), nil); err != nil || res.Code != 200 {
		t.Fatalf("after the restart: %v %v", res, err)
	}
}

func TestServerStopFailsPendingAndRefusesNewRequests(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	_, uac, target := pair(t, srv, Handlers{
		Invite: func(_ context.Context, req *Request) (MethodAnswer, error) { return NoReply(), nil },
	}, Events{})
	call := uac.Send("INVITE", ToURI(target), nil)
	if _, err := call.RequestHandle(wait(t)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := uac.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-uac.Closed():
	default:
		t.Fatal("Closed not closed after Stop")
	}
	_, err := call.Wait(wait(t))
	var ue *UacError
	if !errors.As(err, &ue) || ue.Kind != "disconnected" {
		t.Fatalf("pending INVITE after Stop: %v", err)
	}
	_, err = uac.Options(wait(t), ToURI(target), nil)
	if !errors.As(err, &ue) || ue.Kind != "notConnected" {
		t.Fatalf("a request after Stop: %v", err)
	}
}

func TestServerRefusedReliableProvisionalIsPendingPrack(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	errs := make(chan *ServerError, 4)
	_, uac, target := pair(t, srv, Handlers{
		Invite: func(_ context.Context, req *Request) (MethodAnswer, error) {
			if err := req.Reply(RelRinging(nil)); err != nil {
				return nil, err
			}
			// the caller sends no PRACK: the 180 still waits for one, so the server refuses this
			if err := req.Reply(RelSessionProgress(nil)); err != nil {
				return nil, err
			}
			return NoReply(), nil
		},
	}, Events{OnError: func(e *ServerError) { errs <- e }})
	call := uac.Send("INVITE", ToURI(target), &UacOptions{ManualPrack: true})
	var codes []int
	for p := range call.Provisionals() {
		codes = append(codes, p.Code)
		if p.Code == 180 {
			break
		}
	}
	var got *ServerError
	select {
	case got = <-errs:
	case <-time.After(5 * time.Second):
		t.Fatalf("no error for the refused 183 (provisionals %v)", codes)
	}
	if got.Code != "pendingPrack" || got.Ref == 0 {
		t.Fatalf("error %q ref %d (%s)", got.Code, got.Ref, got.Message)
	}
	// the request stays open: a CANCEL ends it
	if _, err := uac.Cancel(wait(t), call, ""); err != nil {
		t.Fatal(err)
	}
	final, err := call.Wait(wait(t))
	if err != nil || final.Code != 487 {
		t.Fatalf("final %v %v", final, err)
	}
	for p := range call.Provisionals() {
		if p.Code == 183 {
			t.Fatal("the refused 183 was sent")
		}
	}
}

func TestServerUacDialogAndSessionUpdatesComeByCallback(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	updates := make(chan string, 16)
	notified := make(chan string, 16)
	start(t, Options{App: "uas", Server: srv.GRPC}, Handlers{
		Invite: func(_ context.Context, req *Request) (MethodAnswer, error) {
			return Answer(AnswerSDP(req.Body, "uas", "", 40010), ""), nil
		},
	})
	uac := start(t, Options{App: "uac", Server: srv.GRPC, Listen: []string{"sip:127.0.0.1:" + freePort(t)},
		Notify: Events{
			OnDialogUpdate:  func(u DialogUpdate) { notified <- "dialog " + u.StatusName() },
			OnSessionUpdate: func(u SessionUpdate) { notified <- "session " + u.KindName() },
		}}, Handlers{
		DialogUpdate: func(_ context.Context, u DialogUpdate) error {
			updates <- "dialog " + u.StatusName() + " " + u.DialogHandle
			return nil
		},
		SessionUpdate: func(_ context.Context, u SessionUpdate) error {
			updates <- "session " + u.KindName() + " " + u.DialogHandle
			return nil
		},
	})
	target := "sip:uas@127.0.0.1:" + fmt.Sprint(srv.Port("udp"))
	res, err := uac.Request(wait(t), "INVITE", ToURI(target), &UacOptions{Body: NewSDP("uac", ""),
		ContentType: "application/sdp", Auto2xxAck: true})
	if err != nil || res.Code != 200 || res.DialogHandle == "" {
		t.Fatalf("INVITE: %v %v", res, err)
	}
	if _, err := uac.Bye(wait(t), res.DialogHandle, nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"dialog start": false, "session start": false, "dialog stop": false, "session stop": false}
	deadline := time.After(5 * time.Second)
	for !want["dialog start"] || !want["session start"] || !want["dialog stop"] || !want["session stop"] {
		select {
		case u := <-updates:
			var what, handle string
			if i := strings.LastIndex(u, " "); i > 0 {
				what, handle = u[:i], u[i+1:]
			}
			if handle != res.DialogHandle {
				t.Fatalf("update %q for another dialog than %s", u, res.DialogHandle)
			}
			if _, ok := want[what]; ok {
				want[what] = true
			}
		case <-deadline:
			t.Fatalf("updates seen: %v", want)
		}
	}
	select {
	case n := <-notified:
		t.Fatalf("a %s came as a notification", n)
	default:
	}
}
