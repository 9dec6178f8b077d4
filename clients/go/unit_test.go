package nksip

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	pb "github.com/nksip/nksip-go/gen/nksip/v1"
)

func TestBackoffGrowsCapsAndJitters(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Factor: 2, Jitter: 0.5}
	if got := b.Delay(1, 0); got != 100*time.Millisecond {
		t.Fatalf("first delay %v", got)
	}
	if got := b.Delay(3, 0); got != 400*time.Millisecond {
		t.Fatalf("third delay %v", got)
	}
	if got := b.Delay(10, 0); got != time.Second {
		t.Fatalf("capped delay %v", got)
	}
	if got := b.Delay(1, 0.999); got <= 50*time.Millisecond-time.Millisecond || got >= 100*time.Millisecond {
		t.Fatalf("jittered delay %v, want within (50 ms, 100 ms)", got)
	}
	if got := (Backoff{}).Delay(1, 0); got != 100*time.Millisecond {
		t.Fatalf("default first delay %v", got)
	}
}

func TestReplyNeedsCodeOrName(t *testing.T) {
	if _, err := (Reply{}).toProto(); err == nil {
		t.Fatal("an empty reply was accepted")
	}
	both := OK()
	both.Code = 200
	if _, err := both.toProto(); err == nil {
		t.Fatal("a reply with a code and a name was accepted")
	}
	if _, err := Status(99).toProto(); err == nil {
		t.Fatal("code 99 was accepted")
	}
	p, err := Busy().WithHeader("x-a", "1").WithReason("Gone").toProto()
	if err != nil {
		t.Fatal(err)
	}
	if p.GetNamed() != pb.NamedReply_NAMED_REPLY_BUSY || p.GetReason() != "Gone" || len(p.GetHeaders()) != 1 ||
		p.GetHeaders()[0].GetKind() != pb.HeaderOp_KIND_ADD {
		t.Fatalf("busy reply %v", p)
	}
}

func TestWithHeadersDoesNotShareTheBase(t *testing.T) {
	base := OK().WithHeader("x-base", "1")
	a := base.WithHeader("x-a", "1")
	b := base.WithHeader("x-b", "1")
	if len(a.Headers) != 2 || len(b.Headers) != 2 || a.Headers[1].Name != "x-a" || b.Headers[1].Name != "x-b" {
		t.Fatalf("derived replies share headers: %v %v", a.Headers, b.Headers)
	}
}

func TestHeadersLookup(t *testing.T) {
	hs := Headers{{Name: "via", Value: "SIP/2.0/UDP a"}, {Name: "x-nk-id", Value: "a,b"}, {Name: "x-nk-id", Value: "c"}}
	if v, ok := hs.Get("V"); !ok || v != "SIP/2.0/UDP a" {
		t.Fatalf("compact form: %q %v", v, ok)
	}
	if got := hs.All("X-NK-ID"); len(got) != 2 || got[1] != "c" {
		t.Fatalf("all: %v", got)
	}
	if hs.Has("route") {
		t.Fatal("absent header found")
	}
}

func TestHandlersImplementedInWireOrder(t *testing.T) {
	h := Handlers{
		Options: func(context.Context, *Request) (MethodAnswer, error) { return OK(), nil },
		Route:   func(context.Context, *Request) (RouteDecision, error) { return Process(), nil },
	}
	got := h.implemented()
	if len(got) != 2 || got[0] != pb.CallbackKind_CALLBACK_KIND_ROUTE || got[1] != pb.CallbackKind_CALLBACK_KIND_OPTIONS {
		t.Fatalf("implemented %v", got)
	}
}

func callback(kind pb.CallbackKind) *pb.Callback {
	return &pb.Callback{Id: 7, Kind: kind, Request: &pb.Request{Method: "OPTIONS"}, RequestHandle: "R_1"}
}

func TestRunTurnsDecisionsIntoAnswers(t *testing.T) {
	h := Handlers{
		Route: func(context.Context, *Request) (RouteDecision, error) {
			return Proxy(Serial("sip:a@x", "sip:b@x"), ProxyOptions{RecordRoute: true}), nil
		},
		Invite: func(context.Context, *Request) (MethodAnswer, error) { return NoReply(), nil },
		GetUserPass: func(_ context.Context, user, _ string, _ *Request) (UserPass, error) {
			if user == "x" {
				return UnknownUser(), nil
			}
			return Password("p"), nil
		},
	}
	ans, ok, err := h.run(context.Background(), nil, callback(pb.CallbackKind_CALLBACK_KIND_ROUTE))
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	px := ans.GetRoute().GetProxy()
	if len(px.GetUriSet()) != 2 || px.GetUriSet()[1].GetUris()[0] != "sip:b@x" || !px.GetOptions().GetRecordRoute() {
		t.Fatalf("proxy answer %v", ans)
	}
	ans, _, _ = h.run(context.Background(), nil, callback(pb.CallbackKind_CALLBACK_KIND_INVITE))
	if ans.GetMethod().GetNoreply() == nil {
		t.Fatalf("noreply answer %v", ans)
	}
	cb := callback(pb.CallbackKind_CALLBACK_KIND_GET_USER_PASS)
	cb.Extra = &pb.Callback_UserPass{UserPass: &pb.UserPassInfo{User: "x"}}
	ans, _, _ = h.run(context.Background(), nil, cb)
	if up, isAccept := ans.GetUserPass().GetResult().(*pb.UserPassDecision_Accept); !isAccept || up.Accept {
		t.Fatalf("unknown user answer %v", ans)
	}
	if _, ok, _ := h.run(context.Background(), nil, callback(pb.CallbackKind_CALLBACK_KIND_BYE)); ok {
		t.Fatal("a callback the app does not implement was run")
	}
}

func TestRunReportsErrorsPanicsAndInvalidAnswers(t *testing.T) {
	h := Handlers{
		Options: func(context.Context, *Request) (MethodAnswer, error) { panic("boom") },
		Bye:     func(context.Context, *Request) (MethodAnswer, error) { return nil, errors.New("no") },
		Info:    func(context.Context, *Request) (MethodAnswer, error) { return nil, nil },
		Message: func(context.Context, *Request) (MethodAnswer, error) { return Reply{}, nil },
	}
	for _, k := range []pb.CallbackKind{pb.CallbackKind_CALLBACK_KIND_OPTIONS, pb.CallbackKind_CALLBACK_KIND_BYE,
		pb.CallbackKind_CALLBACK_KIND_INFO, pb.CallbackKind_CALLBACK_KIND_MESSAGE} {
		_, ok, err := h.run(context.Background(), nil, callback(k))
		if !ok || err == nil {
			t.Fatalf("%v: ok %v err %v", k, ok, err)
		}
	}
	_, _, err := h.run(context.Background(), nil, callback(pb.CallbackKind_CALLBACK_KIND_OPTIONS))
	if !strings.Contains(err.Error(), "boom") {
		t.Fatalf("panic error %v", err)
	}
	fail := answerOnFailure(pb.CallbackKind_CALLBACK_KIND_OPTIONS)
	if fail.GetMethod().GetReply().GetCode() != 500 {
		t.Fatalf("failure answer %v", fail)
	}
	if answerOnFailure(pb.CallbackKind_CALLBACK_KIND_AUTHORIZE).GetAuthorize().GetKind() != pb.AuthorizeDecision_KIND_FORBIDDEN {
		t.Fatal("authorize failure is not forbidden")
	}
}

func TestCallProvisionalsThenFinal(t *testing.T) {
	c := newCall(1, "INVITE", nil)
	got := make(chan []int)
	go func() {
		var codes []int
		for p := range c.Provisionals() {
			codes = append(codes, p.Code)
		}
		got <- codes
	}()
	c.event(&pb.UacEvent{Id: 1, RequestHandle: "R_9", Event: &pb.UacEvent_Provisional{Provisional: &pb.Response{Code: 180}}})
	h, err := c.RequestHandle(context.Background())
	if err != nil || h != "R_9" {
		t.Fatal(h, err)
	}
	c.event(&pb.UacEvent{Id: 1, Event: &pb.UacEvent_Provisional{Provisional: &pb.Response{Code: 183}}})
	if !c.event(&pb.UacEvent{Id: 1, Event: &pb.UacEvent_Final{Final: &pb.Response{Code: 486}}}) {
		t.Fatal("the final response did not complete the call")
	}
	if codes := <-got; len(codes) != 2 || codes[0] != 180 || codes[1] != 183 {
		t.Fatalf("provisionals %v", codes)
	}
	res, err := c.Wait(context.Background())
	if err != nil || res.Code != 486 || res.RequestHandle != "R_9" {
		t.Fatal(res, err)
	}
	c.fail(&UacError{Kind: "disconnected"})
	if res, err := c.Wait(context.Background()); err != nil || res.Code != 486 {
		t.Fatal("a later failure replaced the final response")
	}
}

func TestCallError(t *testing.T) {
	c := newCall(2, "OPTIONS", nil)
	c.event(&pb.UacEvent{Id: 2, CallId: "abc", Event: &pb.UacEvent_Error{Error: &pb.UacError{
		Kind: pb.UacErrorKind_UAC_ERROR_KIND_INVALID_URI, Message: "bad"}}})
	_, err := c.Wait(context.Background())
	var ue *UacError
	if !errors.As(err, &ue) || ue.Kind != "invalidUri" || ue.CallID != "abc" {
		t.Fatalf("error %v", err)
	}
}

func TestSDPHelpers(t *testing.T) {
	offer := NewSDP("me", "", SDPMedia{Port: 4000, Formats: []string{"0", "8"}, Direction: "sendonly"})
	if !strings.Contains(string(offer), "m=audio 4000 RTP/AVP 0 8\r\n") || !strings.Contains(string(offer), "a=rtpmap:8 PCMA/8000") {
		t.Fatalf("offer %q", offer)
	}
	ans := string(AnswerSDP(offer, "you", "", 5000))
	if !strings.Contains(ans, "m=audio 5000 RTP/AVP 0 8\r\n") || !strings.Contains(ans, "a=recvonly") {
		t.Fatalf("answer %q", ans)
	}
	if v := SDPVersion([]byte("v=0\r\no=- 12 34 IN IP4 1.2.3.4\r\n")); v != "34" {
		t.Fatalf("version %q", v)
	}
}
