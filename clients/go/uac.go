package nksip

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"sync"

	pb "github.com/nksip/nksip-go/gen/nksip/v1"
)

// Credential answers 401/407 challenges automatically (NkSIP's sip_pass).
type Credential struct {
	// Realm: "" for any realm.
	Realm string
	User  string
	// Password, or "HA1!" followed by the hex HA1.
	Password string
}

func toProtoPass(cs []Credential) []*pb.Credential {
	out := make([]*pb.Credential, len(cs))
	for i, c := range cs {
		out[i] = &pb.Credential{Realm: c.Realm, User: c.User, Password: c.Password}
	}
	return out
}

// UacOptions are the options of a request the app sends (proto UacOptions); all optional.
// Pointer fields distinguish "absent" from zero.
type UacOptions struct {
	Headers     []HeaderEdit
	Body        []byte
	ContentType string
	// Contact to send; MakeContact has the server build one from the listener used.
	Contact     string
	MakeContact bool
	// From and To as name-addr text (defaults: the app's from, the target URI).
	From, To string
	// Route URIs (outbound proxy) in order; the app's route when empty.
	Route  []string
	CallID string
	CSeq   *uint32
	// Expires (REGISTER, SUBSCRIBE, PUBLISH); for INVITE, CANCEL after this many seconds.
	Expires *uint32
	// Pass: digest credentials tried before the app's own.
	Pass []Credential
	// AuthMaxTries: how many challenges the server answers (nil: 5; 0: none).
	AuthMaxTries *uint32
	// Event header (SUBSCRIBE, NOTIFY, PUBLISH); ReferTo (REFER).
	Event, ReferTo string
	// REGISTER: Expires 0 for our Contact / `Contact: *`; To equal to From.
	Unregister, UnregisterAll, ToAsFrom bool
	// INVITE: ACK a 2xx automatically; no automatic CANCEL when Expires passes.
	Auto2xxAck, NoAutoExpire bool
	// Reason header (BYE, CANCEL).
	Reason string
	// NOTIFY: Subscription-State (default active). PUBLISH: SIP-If-Match.
	SubscriptionState, SipIfMatch string
	// Host for Via and Contact instead of the listener's.
	LocalHost string
	// INVITE (100rel): the body of the automatic PRACKs; ManualPrack: none are sent.
	PrackBody   []byte
	ManualPrack bool
	// INVITE/UPDATE session timers (RFC 4028), seconds.
	SessionExpires, MinSE uint32
	// Refresh: re-INVITE/UPDATE with the dialog's last local SDP, version incremented,
	// direction active, hold, inactive, recvonly or keep. Ignored when Body is given.
	Refresh string
	// Provisionals asks the server for provisional responses (always on for INVITE, and
	// implied by OnProvisional).
	Provisionals bool
	// OnProvisional is called with each provisional response, in order, from the SDK's
	// receiving goroutine: it must not block.
	OnProvisional func(*Response)
}

// Uint32 is a helper for the optional fields of [UacOptions].
func Uint32(v uint32) *uint32 { return &v }

func (o *UacOptions) toProto(provisionals bool) *pb.UacOptions {
	if o == nil {
		o = &UacOptions{}
	}
	return &pb.UacOptions{
		Headers: toHeaderOps(o.Headers), Body: o.Body, ContentType: o.ContentType, Contact: o.Contact,
		MakeContact: o.MakeContact, From: o.From, To: o.To, Route: o.Route, CallId: o.CallID,
		Cseq: o.CSeq, Expires: o.Expires, Provisionals: provisionals, Pass: toProtoPass(o.Pass),
		Event: o.Event, ReferTo: o.ReferTo, Unregister: o.Unregister, UnregisterAll: o.UnregisterAll,
		ToAsFrom: o.ToAsFrom, Auto_2XxAck: o.Auto2xxAck, NoAutoExpire: o.NoAutoExpire, Reason: o.Reason,
		SubscriptionState: o.SubscriptionState, SipIfMatch: o.SipIfMatch, LocalHost: o.LocalHost,
		AuthMaxTries: o.AuthMaxTries, PrackBody: o.PrackBody, ManualPrack: o.ManualPrack,
		SessionExpires: o.SessionExpires, MinSe: o.MinSE, Refresh: o.Refresh,
	}
}

// Target is where a request goes: a URI (out of a dialog), a dialog or a subscription.
type Target struct {
	URI, Dialog, Subscription string
}

// ToURI targets a URI, out of any dialog.
func ToURI(uri string) Target { return Target{URI: uri} }

// InDialog targets a dialog by its handle.
func InDialog(handle string) Target { return Target{Dialog: handle} }

// InSubscription targets a subscription by its handle.
func InSubscription(handle string) Target { return Target{Subscription: handle} }

// UacError is why a request could not be sent or completed (NkSIP's {error, Reason}).
type UacError struct {
	// Kind is the contract's kind, in lower camel case (invalidUri, unknownDialog, ...), or
	// disconnected (the stream broke or the app stopped first) or notConnected.
	Kind    string
	Message string
	// CallID of the request, when the server told it.
	CallID string
}

func (e *UacError) Error() string {
	if e.Message == "" {
		return "nksip: " + e.Kind
	}
	return fmt.Sprintf("nksip: %s: %s", e.Kind, e.Message)
}

func uacErrorKind(k pb.UacErrorKind) string {
	return lowerCamel(strings.TrimPrefix(k.String(), "UAC_ERROR_KIND_"))
}

// Call is a request in flight: [Call.Wait] for the final response, [Call.Provisionals]
// for the provisional ones, [Call.RequestHandle] to CANCEL an INVITE. Safe for concurrent use.
type Call struct {
	ID     uint64
	Method string

	mu            sync.Mutex
	changed       chan struct{} // closed and replaced on every event
	handle        string
	provisionals  []*Response
	final         *Response
	err           error
	done          chan struct{}
	onProvisional func(*Response)
}

func newCall(id uint64, method string, onProv func(*Response)) *Call {
	return &Call{ID: id, Method: method, changed: make(chan struct{}), done: make(chan struct{}), onProvisional: onProv}
}

// Done is closed once the call has its final response or error.
func (c *Call) Done() <-chan struct{} { return c.done }

// Wait returns the final response, or the error (a *UacError, or ctx's).
func (c *Call) Wait(ctx context.Context) (*Response, error) {
	select {
	case <-c.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.final, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Provisionals yields the provisional responses in order, blocking for the next one until
// the final response (or error) ends the sequence.
func (c *Call) Provisionals() iter.Seq[*Response] {
	return func(yield func(*Response) bool) {
		for i := 0; ; {
			c.mu.Lock()
			if i < len(c.provisionals) {
				p := c.provisionals[i]
				c.mu.Unlock()
				i++
				if !yield(p) {
					return
				}
				continue
			}
			ch, settled := c.changed, c.final != nil || c.err != nil
			c.mu.Unlock()
			if settled {
				return
			}
			<-ch
		}
	}
}

// RequestHandle waits until the server told the request's handle (for CANCEL); "" and an
// error when the call ended without one.
func (c *Call) RequestHandle(ctx context.Context) (string, error) {
	for {
		c.mu.Lock()
		h, ch, settled := c.handle, c.changed, c.final != nil || c.err != nil
		c.mu.Unlock()
		if h != "" {
			return h, nil
		}
		if settled {
			return "", &UacError{Kind: "unknownRequest", Message: c.Method + " has no request handle"}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// event feeds a UacEvent; true once the call is complete.
func (c *Call) event(ev *pb.UacEvent) bool {
	c.mu.Lock()
	if c.handle == "" && ev.GetRequestHandle() != "" {
		c.handle = ev.GetRequestHandle()
	}
	handle := c.handle
	var prov *Response
	done := false
	switch e := ev.GetEvent().(type) {
	case *pb.UacEvent_Provisional:
		prov = newResponse(e.Provisional, ev, handle)
		c.provisionals = append(c.provisionals, prov)
	case *pb.UacEvent_Final:
		if c.final == nil && c.err == nil {
			c.final = newResponse(e.Final, ev, handle)
			done = true
		}
	case *pb.UacEvent_Error:
		if c.final == nil && c.err == nil {
			c.err = &UacError{Kind: uacErrorKind(e.Error.GetKind()), Message: e.Error.GetMessage(), CallID: ev.GetCallId()}
			done = true
		}
	}
	c.wakeLocked()
	c.mu.Unlock()
	if prov != nil && c.onProvisional != nil {
		c.onProvisional(prov)
	}
	if done {
		close(c.done)
	}
	return done
}

// fail ends the call with err unless it has ended already.
func (c *Call) fail(err error) {
	c.mu.Lock()
	if c.final != nil || c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	c.wakeLocked()
	c.mu.Unlock()
	close(c.done)
}

func (c *Call) wakeLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}
