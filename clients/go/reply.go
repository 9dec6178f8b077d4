package nksip

import (
	"fmt"
	"slices"

	pb "github.com/nksip/nksip-go/gen/nksip/v1"
)

// HeaderEdit is an edit of the headers of a message the server builds or forwards.
type HeaderEdit struct {
	Kind  pb.HeaderOp_Kind
	Name  string
	Value string
}

// AddHeader appends a header line after any existing ones.
func AddHeader(name, value string) HeaderEdit {
	return HeaderEdit{Kind: pb.HeaderOp_KIND_ADD, Name: name, Value: value}
}

// ReplaceHeader removes every line of the header, then adds this value.
func ReplaceHeader(name, value string) HeaderEdit {
	return HeaderEdit{Kind: pb.HeaderOp_KIND_REPLACE, Name: name, Value: value}
}

// RemoveHeader removes every line of the header.
func RemoveHeader(name string) HeaderEdit {
	return HeaderEdit{Kind: pb.HeaderOp_KIND_REMOVE, Name: name}
}

// InsertHeader puts a header line before any existing ones.
func InsertHeader(name, value string) HeaderEdit {
	return HeaderEdit{Kind: pb.HeaderOp_KIND_INSERT, Name: name, Value: value}
}

func toHeaderOps(edits []HeaderEdit) []*pb.HeaderOp {
	out := make([]*pb.HeaderOp, len(edits))
	for i, e := range edits {
		out[i] = &pb.HeaderOp{Kind: e.Kind, Name: e.Name, Value: e.Value}
	}
	return out
}

// Reply is a SIP reply: a bare code (no header generated for you) or one of NkSIP's named
// replies, which fix the code and add the headers they imply. Build one with [Status] or a
// named constructor ([OK], [Busy], ...) and refine it with the With* methods, which return
// a copy.
type Reply struct {
	// Code is any status 100–699; 0 with a Named reply.
	Code  int
	Named pb.NamedReply
	// Reason phrase; the standard one when empty.
	Reason      string
	Headers     []HeaderEdit
	Body        []byte
	ContentType string
	// Contacts: the targets of a redirect, or a Contact for other replies.
	Contacts []string
	// Realm of Authenticate / ProxyAuthenticate (default: the From domain).
	Realm string
	// Header values of the named replies that carry one.
	Allow, Accept, Unsupported, Require, Warning string
	// MinValue: Min-SE (422) or Min-Expires (423).
	MinValue uint32
}

func (Reply) isMethodAnswer() {}

// WithHeaders adds header edits.
func (r Reply) WithHeaders(edits ...HeaderEdit) Reply {
	r.Headers = append(slices.Clone(r.Headers), edits...)
	return r
}

// WithHeader adds a header line.
func (r Reply) WithHeader(name, value string) Reply { return r.WithHeaders(AddHeader(name, value)) }

// WithBody sets the body and its Content-Type ("" lets the server tell SDP).
func (r Reply) WithBody(body []byte, contentType string) Reply {
	r.Body = body
	r.ContentType = contentType
	return r
}

// WithReason sets the reason phrase.
func (r Reply) WithReason(reason string) Reply {
	r.Reason = reason
	return r
}

// WithContacts sets the Contact URIs.
func (r Reply) WithContacts(uris ...string) Reply {
	r.Contacts = slices.Clone(uris)
	return r
}

func (r Reply) toProto() (*pb.Reply, error) {
	if (r.Code == 0) == (r.Named == pb.NamedReply_NAMED_REPLY_UNSPECIFIED) {
		return nil, fmt.Errorf("nksip: a reply needs either a code or a name")
	}
	if r.Code != 0 && (r.Code < 100 || r.Code > 699) {
		return nil, fmt.Errorf("nksip: invalid reply code %d", r.Code)
	}
	return &pb.Reply{
		Code: uint32(r.Code), Named: r.Named, Reason: r.Reason, Headers: toHeaderOps(r.Headers),
		Body: r.Body, ContentType: r.ContentType, Contacts: r.Contacts, Realm: r.Realm,
		Allow: r.Allow, Accept: r.Accept, Unsupported: r.Unsupported, Require: r.Require,
		Warning: r.Warning, MinValue: r.MinValue,
	}, nil
}

// Status is any status code with no header generated for you, e.g. Status(480).
func Status(code int) Reply { return Reply{Code: code} }

func named(n pb.NamedReply) Reply { return Reply{Named: n} }

// Ringing is 180.
func Ringing() Reply { return named(pb.NamedReply_NAMED_REPLY_RINGING) }

// SessionProgress is 183.
func SessionProgress() Reply { return named(pb.NamedReply_NAMED_REPLY_SESSION_PROGRESS) }

// RelRinging is 180 sent reliably (100rel), with an optional body (SDP).
func RelRinging(body []byte) Reply {
	return named(pb.NamedReply_NAMED_REPLY_REL_RINGING).WithBody(body, "")
}

// RelSessionProgress is 183 sent reliably (100rel), with an optional body (SDP).
func RelSessionProgress(body []byte) Reply {
	return named(pb.NamedReply_NAMED_REPLY_REL_SESSION_PROGRESS).WithBody(body, "")
}

// OK is 200.
func OK() Reply { return named(pb.NamedReply_NAMED_REPLY_OK) }

// Answer is 200 with a body (an SDP answer unless contentType says otherwise).
func Answer(body []byte, contentType string) Reply {
	return named(pb.NamedReply_NAMED_REPLY_ANSWER).WithBody(body, contentType)
}

// Accepted is 202.
func Accepted() Reply { return named(pb.NamedReply_NAMED_REPLY_ACCEPTED) }

// Redirect is 300 with the contacts as Contact headers.
func Redirect(contacts ...string) Reply {
	return named(pb.NamedReply_NAMED_REPLY_REDIRECT).WithContacts(contacts...)
}

// RedirectPermanent is 301.
func RedirectPermanent(contacts ...string) Reply {
	return named(pb.NamedReply_NAMED_REPLY_REDIRECT_PERMANENT).WithContacts(contacts...)
}

// RedirectTemporary is 302.
func RedirectTemporary(contacts ...string) Reply {
	return named(pb.NamedReply_NAMED_REPLY_REDIRECT_TEMPORARY).WithContacts(contacts...)
}

// InvalidRequest is 400 with an optional reason.
func InvalidRequest(reason string) Reply {
	return named(pb.NamedReply_NAMED_REPLY_INVALID_REQUEST).WithReason(reason)
}

// Authenticate is 401 with WWW-Authenticate for realm ("" : the From domain).
func Authenticate(realm string) Reply {
	r := named(pb.NamedReply_NAMED_REPLY_AUTHENTICATE)
	r.Realm = realm
	return r
}

// Forbidden is 403.
func Forbidden(reason string) Reply {
	return named(pb.NamedReply_NAMED_REPLY_FORBIDDEN).WithReason(reason)
}

// NotFound is 404.
func NotFound(reason string) Reply {
	return named(pb.NamedReply_NAMED_REPLY_NOT_FOUND).WithReason(reason)
}

// MethodNotAllowed is 405 with Allow ("": the app's Allow).
func MethodNotAllowed(allow string) Reply {
	r := named(pb.NamedReply_NAMED_REPLY_METHOD_NOT_ALLOWED)
	r.Allow = allow
	return r
}

// ProxyAuthenticate is 407 with Proxy-Authenticate for realm.
func ProxyAuthenticate(realm string) Reply {
	r := named(pb.NamedReply_NAMED_REPLY_PROXY_AUTHENTICATE)
	r.Realm = realm
	return r
}

// Timeout is 408.
func Timeout() Reply { return named(pb.NamedReply_NAMED_REPLY_TIMEOUT) }

// UnsupportedMediaType is 415 with Accept.
func UnsupportedMediaType(accept string) Reply {
	r := named(pb.NamedReply_NAMED_REPLY_UNSUPPORTED_MEDIA_TYPE)
	r.Accept = accept
	return r
}

// BadExtension is 420 with Unsupported.
func BadExtension(unsupported string) Reply {
	r := named(pb.NamedReply_NAMED_REPLY_BAD_EXTENSION)
	r.Unsupported = unsupported
	return r
}

// ExtensionRequired is 421 with Require.
func ExtensionRequired(require string) Reply {
	r := named(pb.NamedReply_NAMED_REPLY_EXTENSION_REQUIRED)
	r.Require = require
	return r
}

// SessionTooSmall is 422 with Min-SE.
func SessionTooSmall(minSE uint32) Reply {
	r := named(pb.NamedReply_NAMED_REPLY_SESSION_TOO_SMALL)
	r.MinValue = minSE
	return r
}

// IntervalTooBrief is 423 with Min-Expires.
func IntervalTooBrief(minExpires uint32) Reply {
	r := named(pb.NamedReply_NAMED_REPLY_INTERVAL_TOO_BRIEF)
	r.MinValue = minExpires
	return r
}

// TemporarilyUnavailable is 480.
func TemporarilyUnavailable() Reply {
	return named(pb.NamedReply_NAMED_REPLY_TEMPORARILY_UNAVAILABLE)
}

// NoTransaction is 481.
func NoTransaction() Reply { return named(pb.NamedReply_NAMED_REPLY_NO_TRANSACTION) }

// UnknownDialog is 481 (NkSIP's unknown_dialog).
func UnknownDialog() Reply { return named(pb.NamedReply_NAMED_REPLY_UNKNOWN_DIALOG) }

// LoopDetected is 482.
func LoopDetected() Reply { return named(pb.NamedReply_NAMED_REPLY_LOOP_DETECTED) }

// TooManyHops is 483.
func TooManyHops() Reply { return named(pb.NamedReply_NAMED_REPLY_TOO_MANY_HOPS) }

// Busy is 486.
func Busy() Reply { return named(pb.NamedReply_NAMED_REPLY_BUSY) }

// RequestTerminated is 487.
func RequestTerminated() Reply { return named(pb.NamedReply_NAMED_REPLY_REQUEST_TERMINATED) }

// NotAcceptable is 488 with Warning.
func NotAcceptable(warning string) Reply {
	r := named(pb.NamedReply_NAMED_REPLY_NOT_ACCEPTABLE)
	r.Warning = warning
	return r
}

// RequestPending is 491.
func RequestPending() Reply { return named(pb.NamedReply_NAMED_REPLY_REQUEST_PENDING) }

// InternalError is 500.
func InternalError(reason string) Reply {
	return named(pb.NamedReply_NAMED_REPLY_INTERNAL_ERROR).WithReason(reason)
}

// ServiceUnavailable is 503.
func ServiceUnavailable() Reply { return named(pb.NamedReply_NAMED_REPLY_SERVICE_UNAVAILABLE) }

// BusyEverywhere is 600.
func BusyEverywhere() Reply { return named(pb.NamedReply_NAMED_REPLY_BUSY_EVERYWHERE) }

// Decline is 603.
func Decline() Reply { return named(pb.NamedReply_NAMED_REPLY_DECLINE) }

// NamedReply is any of NkSIP's named replies by its proto value, for those without a
// constructor here.
func NamedReply(n pb.NamedReply) Reply { return named(n) }
