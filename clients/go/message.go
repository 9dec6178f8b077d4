package nksip

import (
	"strings"

	pb "github.com/nksip/nksip-go/gen/nksip/v1"
)

// URI is a SIP, SIPS or TEL URI as the server parsed it.
type URI struct {
	// Raw is the URI exactly as written.
	Raw    string
	Scheme string
	User   string
	Host   string
	// Port is 0 when absent.
	Port    uint32
	Params  []*pb.Param
	Headers []*pb.Param
}

// Param is the value of a URI parameter ("" for a flag such as lr) and whether it is there.
func (u URI) Param(name string) (string, bool) { return findParam(u.Params, name) }

// Address is a From, To, Contact or Route value.
type Address struct {
	Raw         string
	DisplayName string
	URI         URI
	Params      []*pb.Param
	// Tag is the tag parameter, "" when absent.
	Tag string
}

// Param is the value of a header parameter and whether it is there.
func (a Address) Param(name string) (string, bool) { return findParam(a.Params, name) }

func findParam(params []*pb.Param, name string) (string, bool) {
	for _, p := range params {
		if strings.EqualFold(p.GetName(), name) {
			return p.GetValue(), true
		}
	}
	return "", false
}

func toURI(u *pb.Uri) URI {
	return URI{Raw: u.GetRaw(), Scheme: u.GetScheme(), User: u.GetUser(), Host: u.GetHost(),
		Port: u.GetPort(), Params: u.GetParams(), Headers: u.GetHeaders()}
}

func toAddress(na *pb.NameAddr) Address {
	tag, _ := findParam(na.GetParams(), "tag")
	return Address{Raw: na.GetRaw(), DisplayName: na.GetDisplayName(), URI: toURI(na.GetUri()),
		Params: na.GetParams(), Tag: tag}
}

func toAddresses(nas []*pb.NameAddr) []Address {
	out := make([]Address, len(nas))
	for i, na := range nas {
		out[i] = toAddress(na)
	}
	return out
}

// RFC 3261 §7.3.3 and later compact forms; the server already expands them, this lets
// Header("v") find Via too.
var compactNames = map[string]string{
	"a": "accept-contact", "b": "referred-by", "c": "content-type", "d": "request-disposition",
	"e": "content-encoding", "f": "from", "i": "call-id", "j": "reject-contact", "k": "supported",
	"l": "content-length", "m": "contact", "n": "identity-info", "o": "event", "r": "refer-to",
	"s": "subject", "t": "to", "u": "allow-events", "v": "via", "x": "session-expires", "y": "identity",
}

func canonicalName(name string) string {
	n := strings.ToLower(name)
	if full, ok := compactNames[n]; ok {
		return full
	}
	return n
}

// Headers is the ordered header list of a message: lowercase full names, values as received.
type Headers []*pb.Header

// Get is the first value of a header (any case, compact forms allowed) and whether it is there.
func (hs Headers) Get(name string) (string, bool) {
	n := canonicalName(name)
	for _, h := range hs {
		if h.GetName() == n {
			return h.GetValue(), true
		}
	}
	return "", false
}

// Value is the first value of a header, "" when absent.
func (hs Headers) Value(name string) string {
	v, _ := hs.Get(name)
	return v
}

// Has tells whether the header is present.
func (hs Headers) Has(name string) bool {
	_, ok := hs.Get(name)
	return ok
}

// All is every line of a header in order; a line with several comma-separated values stays
// one entry, as received.
func (hs Headers) All(name string) []string {
	n := canonicalName(name)
	var out []string
	for _, h := range hs {
		if h.GetName() == n {
			out = append(out, h.GetValue())
		}
	}
	return out
}

// Message is what requests and responses share.
type Message struct {
	From        Address
	To          Address
	CallID      string
	CSeq        uint32
	CSeqMethod  string
	Vias        []*pb.Via
	Contacts    []Address
	Headers     Headers
	Body        []byte
	ContentType string
	// Transport tells where the message came from.
	Transport *pb.TransportInfo
}

// Header is the first value of a header, "" when absent (see [Headers.Get]).
func (m *Message) Header(name string) string { return m.Headers.Value(name) }

// HasHeader tells whether a header is present.
func (m *Message) HasHeader(name string) bool { return m.Headers.Has(name) }

// HeaderValues is every line of a header in order.
func (m *Message) HeaderValues(name string) []string { return m.Headers.All(name) }

// Text is the body as a string.
func (m *Message) Text() string { return string(m.Body) }

// Request is a request as a callback sees it.
type Request struct {
	Message
	Method string
	RURI   URI
	Routes []Address
	// MaxForwards is -1 when the header is absent.
	MaxForwards int32
	// ContactStar: `Contact: *` (REGISTER).
	ContactStar bool
	// Handle is the request's handle, for a late reply after [NoReply]; "" when none.
	Handle string
	// DialogHandle is the dialog the request belongs to, "" when none.
	DialogHandle string
	// Proto is the message the view was built from.
	Proto *pb.Request
	app   *App
}

func newRequest(r *pb.Request, handle, dialog string, app *App) *Request {
	return &Request{
		Message: Message{From: toAddress(r.GetFrom()), To: toAddress(r.GetTo()), CallID: r.GetCallId(),
			CSeq: r.GetCseq(), CSeqMethod: r.GetCseqMethod(), Vias: r.GetVias(), Contacts: toAddresses(r.GetContacts()),
			Headers: r.GetHeaders(), Body: r.GetBody(), ContentType: r.GetContentType(), Transport: r.GetTransport()},
		Method: r.GetMethod(), RURI: toURI(r.GetRuri()), Routes: toAddresses(r.GetRoutes()),
		MaxForwards: r.GetMaxForwards(), ContactStar: r.GetContactStar(),
		Handle: handle, DialogHandle: dialog, Proto: r, app: app,
	}
}

// Reply answers the request later, after its callback returned [NoReply]: provisional
// replies first if wanted, then one final reply. It fails when the request has no handle or
// the app is not connected.
func (r *Request) Reply(reply Reply) error {
	if r.app == nil || r.Handle == "" {
		return errorString("this request has no handle to reply to")
	}
	return r.app.Reply(r.Handle, reply)
}

// Response is a response to a request the app sent, or a proxy branch's final response.
type Response struct {
	Message
	Code   int
	Reason string
	// RequestHandle is the handle of the request sent, for CANCEL.
	RequestHandle string
	// DialogHandle is the dialog created or used (INVITE 101–299, SUBSCRIBE/REFER 2xx).
	DialogHandle       string
	SubscriptionHandle string
	// RSeq of a reliable provisional response (100rel), else 0.
	RSeq  uint32
	Proto *pb.Response
}

// OK tells whether the code is 2xx.
func (r *Response) OK() bool { return r.Code >= 200 && r.Code < 300 }

func newResponse(r *pb.Response, ev *pb.UacEvent, handle string) *Response {
	res := &Response{
		Message: Message{From: toAddress(r.GetFrom()), To: toAddress(r.GetTo()), CallID: r.GetCallId(),
			CSeq: r.GetCseq(), CSeqMethod: r.GetCseqMethod(), Vias: r.GetVias(), Contacts: toAddresses(r.GetContacts()),
			Headers: r.GetHeaders(), Body: r.GetBody(), ContentType: r.GetContentType(), Transport: r.GetTransport()},
		Code: int(r.GetCode()), Reason: r.GetReason(), Proto: r, RequestHandle: handle,
	}
	if ev != nil {
		res.DialogHandle = ev.GetDialogHandle()
		res.SubscriptionHandle = ev.GetSubscriptionHandle()
		res.RSeq = ev.GetRseq()
	}
	return res
}

type errorString string

func (e errorString) Error() string { return string(e) }
