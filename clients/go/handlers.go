package nksip

import (
	"context"
	"fmt"
	"strings"

	pb "github.com/nksip/nksip-go/gen/nksip/v1"
)

// MethodHandler answers a request: a [Reply] (or [NoReply]) or an error, which the SDK turns
// into 500 "SipApp Callback Failed".
type MethodHandler func(ctx context.Context, req *Request) (MethodAnswer, error)

// Handlers are NkSIP's callbacks. Set the ones you need; the server answers the others
// itself with NkSIP's default and never sends them.
//
// Method callbacks (Invite, Options, ...) run each in its own goroutine. The decisions that
// steer a call (Route, Ack, Cancel, Authorize, GetUserPass, BranchFinal) run one at a time
// per Call-ID in the order the server sent them, as in NkSIP's process per call, and
// DialogUpdate and SessionUpdate one at a time in order for the whole app: keep those short
// (answer later with NoReply from a method callback for anything slow). Each gets a context
// that ends at the server's deadline for the answer (or when the app stops). An error or a
// panic answers 500 (route, methods), forbidden (authorize), unknown user
// (get_user_pass) or continue (branch_final), and is told to Events.OnCallbackError.
type Handlers struct {
	// Route decides what to do with a request (NkSIP's sip_route). Default: process.
	Route func(ctx context.Context, req *Request) (RouteDecision, error)
	// Invite: a new INVITE. Default 603.
	Invite MethodHandler
	// Reinvite: an in-dialog INVITE. Default: as Invite.
	Reinvite MethodHandler
	// Ack of a 2xx the app sent (notification).
	Ack func(ctx context.Context, req *Request) error
	// Bye: default 200.
	Bye MethodHandler
	// Cancel: the INVITE was cancelled; the server answers 200 and 487 itself (notification).
	Cancel func(ctx context.Context, invite, cancel *Request) error
	// Options: default 200 with Allow, Accept, Supported, Contact.
	Options MethodHandler
	// Register: default 405, or registrar processing with the registrar plugin.
	Register MethodHandler
	// Info: default 200 (in a dialog).
	Info MethodHandler
	// Update: default 603.
	Update MethodHandler
	// Subscribe: default 603.
	Subscribe MethodHandler
	// Resubscribe: default 200.
	Resubscribe MethodHandler
	// Notify: default 200.
	Notify MethodHandler
	// Refer: default 603.
	Refer MethodHandler
	// Publish: default 405.
	Publish MethodHandler
	// Message: default 603.
	Message MethodHandler
	// Prack: default 200.
	Prack MethodHandler
	// Authorize allows a request or challenges it (NkSIP's sip_authorize). Default ok.
	Authorize func(ctx context.Context, auth *pb.AuthInfo, req *Request) (AuthorizeDecision, error)
	// GetUserPass gives a user's password (NkSIP's sip_get_user_pass). Default: "" for
	// anonymous, unknown otherwise.
	GetUserPass func(ctx context.Context, user, realm string, req *Request) (UserPass, error)
	// DialogUpdate: a dialog changed, one the app answered or one of its own requests made
	// (notification).
	DialogUpdate func(ctx context.Context, u DialogUpdate) error
	// SessionUpdate: a media session changed, on either side (notification).
	SessionUpdate func(ctx context.Context, u SessionUpdate) error
	// BranchFinal: a proxy branch ended (asked for with ProxyOptions.BranchEvents).
	BranchFinal func(ctx context.Context, b Branch, req *Request) (BranchDecision, error)
}

// DialogUpdate is a dialog change (NkSIP's sip_dialog_update).
type DialogUpdate struct {
	DialogHandle string
	Status       pb.DialogUpdate_Status
	// InviteStatus: init, proceeding_uac, ..., confirmed, bye, stop (or a subscription's).
	InviteStatus string
	// StopReason: a SIP code, caller_bye, callee_bye, cancelled, timeout, ...
	StopReason string
	// SDP to refresh with (INVITE_REFRESH).
	SDP                []byte
	SubscriptionHandle string
	RetryAfter         uint32
}

// StatusName is the status in lower camel case as the other SDKs print it (start,
// targetUpdate, stop, inviteStatus, inviteRefresh, inviteTimeout, subscriptionStatus).
func (u DialogUpdate) StatusName() string {
	return lowerCamel(strings.TrimPrefix(u.Status.String(), "STATUS_"))
}

// SessionUpdate is a media session change (NkSIP's sip_session_update).
type SessionUpdate struct {
	DialogHandle string
	Kind         pb.SessionUpdate_Kind
	LocalSDP     []byte
	RemoteSDP    []byte
}

// KindName is start, update, stop (or unspecified).
func (u SessionUpdate) KindName() string {
	return strings.ToLower(strings.TrimPrefix(u.Kind.String(), "KIND_"))
}

// Branch is one proxy branch's final response.
type Branch struct {
	// URI is the branch's target.
	URI      string
	Response *Response
	// Pending is the number of branches still pending.
	Pending uint32
}

func lowerCamel(s string) string {
	parts := strings.Split(strings.ToLower(s), "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

func toDialogUpdate(u *pb.DialogUpdate) DialogUpdate {
	return DialogUpdate{DialogHandle: u.GetDialogHandle(), Status: u.GetStatus(), InviteStatus: u.GetInviteStatus(),
		StopReason: u.GetStopReason(), SDP: u.GetSdp(), SubscriptionHandle: u.GetSubscriptionHandle(),
		RetryAfter: u.GetRetryAfter()}
}

func toSessionUpdate(u *pb.SessionUpdate) SessionUpdate {
	return SessionUpdate{DialogHandle: u.GetDialogHandle(), Kind: u.GetKind(), LocalSDP: u.GetLocalSdp(),
		RemoteSDP: u.GetRemoteSdp()}
}

// CallbackName is the lowercase wire name of a callback kind (invite, get_user_pass, ...).
func CallbackName(k pb.CallbackKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "CALLBACK_KIND_"))
}

func (h *Handlers) methodHandler(k pb.CallbackKind) MethodHandler {
	switch k {
	case pb.CallbackKind_CALLBACK_KIND_INVITE:
		return h.Invite
	case pb.CallbackKind_CALLBACK_KIND_REINVITE:
		return h.Reinvite
	case pb.CallbackKind_CALLBACK_KIND_BYE:
		return h.Bye
	case pb.CallbackKind_CALLBACK_KIND_OPTIONS:
		return h.Options
	case pb.CallbackKind_CALLBACK_KIND_REGISTER:
		return h.Register
	case pb.CallbackKind_CALLBACK_KIND_INFO:
		return h.Info
	case pb.CallbackKind_CALLBACK_KIND_UPDATE:
		return h.Update
	case pb.CallbackKind_CALLBACK_KIND_SUBSCRIBE:
		return h.Subscribe
	case pb.CallbackKind_CALLBACK_KIND_RESUBSCRIBE:
		return h.Resubscribe
	case pb.CallbackKind_CALLBACK_KIND_NOTIFY:
		return h.Notify
	case pb.CallbackKind_CALLBACK_KIND_REFER:
		return h.Refer
	case pb.CallbackKind_CALLBACK_KIND_PUBLISH:
		return h.Publish
	case pb.CallbackKind_CALLBACK_KIND_MESSAGE:
		return h.Message
	case pb.CallbackKind_CALLBACK_KIND_PRACK:
		return h.Prack
	}
	return nil
}

func isMethodKind(k pb.CallbackKind) bool {
	return k >= pb.CallbackKind_CALLBACK_KIND_INVITE && k <= pb.CallbackKind_CALLBACK_KIND_PRACK &&
		k != pb.CallbackKind_CALLBACK_KIND_ACK && k != pb.CallbackKind_CALLBACK_KIND_CANCEL &&
		k != pb.CallbackKind_CALLBACK_KIND_AUTHORIZE
}

// implemented lists the callbacks set, in wire order, for Start.
func (h *Handlers) implemented() []pb.CallbackKind {
	var out []pb.CallbackKind
	for k := pb.CallbackKind_CALLBACK_KIND_ROUTE; k <= pb.CallbackKind_CALLBACK_KIND_BRANCH_FINAL; k++ {
		if h.has(k) {
			out = append(out, k)
		}
	}
	return out
}

func (h *Handlers) has(k pb.CallbackKind) bool {
	switch k {
	case pb.CallbackKind_CALLBACK_KIND_ROUTE:
		return h.Route != nil
	case pb.CallbackKind_CALLBACK_KIND_ACK:
		return h.Ack != nil
	case pb.CallbackKind_CALLBACK_KIND_CANCEL:
		return h.Cancel != nil
	case pb.CallbackKind_CALLBACK_KIND_AUTHORIZE:
		return h.Authorize != nil
	case pb.CallbackKind_CALLBACK_KIND_GET_USER_PASS:
		return h.GetUserPass != nil
	case pb.CallbackKind_CALLBACK_KIND_DIALOG_UPDATE:
		return h.DialogUpdate != nil
	case pb.CallbackKind_CALLBACK_KIND_SESSION_UPDATE:
		return h.SessionUpdate != nil
	case pb.CallbackKind_CALLBACK_KIND_BRANCH_FINAL:
		return h.BranchFinal != nil
	}
	return h.methodHandler(k) != nil
}

// answerOnFailure keeps the SIP side moving when a callback fails.
func answerOnFailure(k pb.CallbackKind) *pb.CallbackAnswer {
	failure := &pb.Reply{Code: 500, Reason: "SipApp Callback Failed"}
	switch {
	case k == pb.CallbackKind_CALLBACK_KIND_ROUTE:
		return &pb.CallbackAnswer{Answer: &pb.CallbackAnswer_Route{Route: &pb.RouteDecision{
			Decision: &pb.RouteDecision_Reply{Reply: failure}}}}
	case isMethodKind(k):
		return &pb.CallbackAnswer{Answer: &pb.CallbackAnswer_Method{Method: &pb.MethodDecision{
			Decision: &pb.MethodDecision_Reply{Reply: failure}}}}
	case k == pb.CallbackKind_CALLBACK_KIND_AUTHORIZE:
		return &pb.CallbackAnswer{Answer: &pb.CallbackAnswer_Authorize{Authorize: &pb.AuthorizeDecision{
			Kind: pb.AuthorizeDecision_KIND_FORBIDDEN}}}
	case k == pb.CallbackKind_CALLBACK_KIND_GET_USER_PASS:
		return &pb.CallbackAnswer{Answer: &pb.CallbackAnswer_UserPass{UserPass: &pb.UserPassDecision{
			Result: &pb.UserPassDecision_Accept{Accept: false}}}}
	case k == pb.CallbackKind_CALLBACK_KIND_BRANCH_FINAL:
		return &pb.CallbackAnswer{Answer: &pb.CallbackAnswer_Branch{Branch: &pb.BranchDecision{
			Decision: &pb.BranchDecision_Continue{Continue: &pb.Ack{}}}}}
	}
	return ackAnswer()
}

func ackAnswer() *pb.CallbackAnswer {
	return &pb.CallbackAnswer{Answer: &pb.CallbackAnswer_Ack{Ack: &pb.Ack{}}}
}

// run calls the handler cb names and returns the answer to send; ok is false when the app
// does not implement it (the server's deadline then applies its default). A handler's error,
// panic or invalid answer comes back as err.
func (h *Handlers) run(ctx context.Context, app *App, cb *pb.Callback) (ans *pb.CallbackAnswer, ok bool, err error) {
	k := cb.GetKind()
	if !h.has(k) {
		return nil, false, nil
	}
	defer func() {
		if p := recover(); p != nil {
			ans, ok, err = nil, true, fmt.Errorf("nksip: %s callback panicked: %v", CallbackName(k), p)
		}
	}()
	var req *Request
	if cb.GetRequest() != nil {
		req = newRequest(cb.GetRequest(), cb.GetRequestHandle(), cb.GetDialogHandle(), app)
	}
	need := func() error {
		if req == nil {
			return fmt.Errorf("nksip: %s callback without a request", CallbackName(k))
		}
		return nil
	}
	ans, err = h.dispatch(ctx, app, cb, req, need)
	return ans, true, err
}

func (h *Handlers) dispatch(ctx context.Context, app *App, cb *pb.Callback, req *Request, need func() error) (*pb.CallbackAnswer, error) {
	k := cb.GetKind()
	switch k {
	case pb.CallbackKind_CALLBACK_KIND_ROUTE:
		if err := need(); err != nil {
			return nil, err
		}
		d, err := h.Route(ctx, req)
		if err != nil {
			return nil, err
		}
		switch d := d.(type) {
		case RawAnswer:
			return rawAnswer(d), nil
		case routeDecision:
			p, err := d.build()
			if err != nil {
				return nil, err
			}
			return &pb.CallbackAnswer{Answer: &pb.CallbackAnswer_Route{Route: p}}, nil
		}
		return nil, fmt.Errorf("nksip: invalid route decision %v", d)
	case pb.CallbackKind_CALLBACK_KIND_ACK:
		if err := need(); err != nil {
			return nil, err
		}
		return ackAnswer(), h.Ack(ctx, req)
	case pb.CallbackKind_CALLBACK_KIND_CANCEL:
		if err := need(); err != nil {
			return nil, err
		}
		cancel := req
		if c := cb.GetCancel(); c != nil {
			cancel = newRequest(c, "", cb.GetDialogHandle(), nil)
		}
		return ackAnswer(), h.Cancel(ctx, req, cancel)
	case pb.CallbackKind_CALLBACK_KIND_AUTHORIZE:
		if err := need(); err != nil {
			return nil, err
		}
		auth := cb.GetAuth()
		if auth == nil {
			auth = &pb.AuthInfo{}
		}
		d, err := h.Authorize(ctx, auth, req)
		if err != nil {
			return nil, err
		}
		switch d := d.(type) {
		case RawAnswer:
			return rawAnswer(d), nil
		case authorizeDecision:
			return &pb.CallbackAnswer{Answer: &pb.CallbackAnswer_Authorize{Authorize: &pb.AuthorizeDecision{
				Kind: d.kind, Realm: d.realm}}}, nil
		}
		return nil, fmt.Errorf("nksip: invalid authorize decision %v", d)
	case pb.CallbackKind_CALLBACK_KIND_GET_USER_PASS:
		if err := need(); err != nil {
			return nil, err
		}
		up := cb.GetUserPass()
		d, err := h.GetUserPass(ctx, up.GetUser(), up.GetRealm(), req)
		if err != nil {
			return nil, err
		}
		switch d := d.(type) {
		case RawAnswer:
			return rawAnswer(d), nil
		case userPass:
			res := &pb.UserPassDecision{Result: &pb.UserPassDecision_Password{Password: d.password}}
			if d.accept != nil {
				res.Result = &pb.UserPassDecision_Accept{Accept: *d.accept}
			}
			return &pb.CallbackAnswer{Answer: &pb.CallbackAnswer_UserPass{UserPass: res}}, nil
		}
		return nil, fmt.Errorf("nksip: invalid get_user_pass answer %v", d)
	case pb.CallbackKind_CALLBACK_KIND_DIALOG_UPDATE:
		if cb.GetDialogUpdate() == nil {
			return nil, fmt.Errorf("nksip: dialog_update callback without its update")
		}
		return ackAnswer(), h.DialogUpdate(ctx, toDialogUpdate(cb.GetDialogUpdate()))
	case pb.CallbackKind_CALLBACK_KIND_SESSION_UPDATE:
		if cb.GetSessionUpdate() == nil {
			return nil, fmt.Errorf("nksip: session_update callback without its update")
		}
		return ackAnswer(), h.SessionUpdate(ctx, toSessionUpdate(cb.GetSessionUpdate()))
	case pb.CallbackKind_CALLBACK_KIND_BRANCH_FINAL:
		if err := need(); err != nil {
			return nil, err
		}
		b := cb.GetBranch()
		if b == nil {
			return nil, fmt.Errorf("nksip: branch_final callback without its branch")
		}
		d, err := h.BranchFinal(ctx, Branch{URI: b.GetUri(), Pending: b.GetPending(),
			Response: newResponse(b.GetResponse(), nil, "")}, req)
		if err != nil {
			return nil, err
		}
		switch d := d.(type) {
		case RawAnswer:
			return rawAnswer(d), nil
		case branchDecision:
			p, err := d.build()
			if err != nil {
				return nil, err
			}
			return &pb.CallbackAnswer{Answer: &pb.CallbackAnswer_Branch{Branch: p}}, nil
		}
		return nil, fmt.Errorf("nksip: invalid branch decision %v", d)
	}
	if err := need(); err != nil {
		return nil, err
	}
	d, err := h.methodHandler(k)(ctx, req)
	if err != nil {
		return nil, err
	}
	switch d := d.(type) {
	case RawAnswer:
		return rawAnswer(d), nil
	case noReply:
		return &pb.CallbackAnswer{Answer: &pb.CallbackAnswer_Method{Method: &pb.MethodDecision{
			Decision: &pb.MethodDecision_Noreply{Noreply: &pb.NoReply{}}}}}, nil
	case Reply:
		p, err := d.toProto()
		if err != nil {
			return nil, err
		}
		return &pb.CallbackAnswer{Answer: &pb.CallbackAnswer_Method{Method: &pb.MethodDecision{
			Decision: &pb.MethodDecision_Reply{Reply: p}}}}, nil
	}
	return nil, fmt.Errorf("nksip: invalid %s answer %v", CallbackName(k), d)
}

func rawAnswer(r RawAnswer) *pb.CallbackAnswer {
	if r.Answer == nil {
		return &pb.CallbackAnswer{}
	}
	return &pb.CallbackAnswer{Answer: r.Answer.Answer}
}
