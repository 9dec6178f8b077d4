"""SIP replies: a bare code with options, or one of NkSIP's named replies (proto Reply)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TypedDict, Unpack

from nksip.headers import HeadersInput, to_header_ops
from nksip.v1 import decisions_pb2 as pb

#: A body: bytes, or text sent as UTF-8.
Body = bytes | str


class NamedReply(enum.Enum):
    """NkSIP's named replies. Each fixes the code and adds the headers its name implies."""

    RINGING = pb.NAMED_REPLY_RINGING
    SESSION_PROGRESS = pb.NAMED_REPLY_SESSION_PROGRESS
    REL_RINGING = pb.NAMED_REPLY_REL_RINGING
    REL_SESSION_PROGRESS = pb.NAMED_REPLY_REL_SESSION_PROGRESS
    OK = pb.NAMED_REPLY_OK
    ANSWER = pb.NAMED_REPLY_ANSWER
    ACCEPTED = pb.NAMED_REPLY_ACCEPTED
    REDIRECT = pb.NAMED_REPLY_REDIRECT
    REDIRECT_PERMANENT = pb.NAMED_REPLY_REDIRECT_PERMANENT
    REDIRECT_TEMPORARY = pb.NAMED_REPLY_REDIRECT_TEMPORARY
    INVALID_REQUEST = pb.NAMED_REPLY_INVALID_REQUEST
    AUTHENTICATE = pb.NAMED_REPLY_AUTHENTICATE
    FORBIDDEN = pb.NAMED_REPLY_FORBIDDEN
    NOT_FOUND = pb.NAMED_REPLY_NOT_FOUND
    METHOD_NOT_ALLOWED = pb.NAMED_REPLY_METHOD_NOT_ALLOWED
    PROXY_AUTHENTICATE = pb.NAMED_REPLY_PROXY_AUTHENTICATE
    TIMEOUT = pb.NAMED_REPLY_TIMEOUT
    CONDITIONAL_REQUEST_FAILED = pb.NAMED_REPLY_CONDITIONAL_REQUEST_FAILED
    REQUEST_TOO_LARGE = pb.NAMED_REPLY_REQUEST_TOO_LARGE
    UNSUPPORTED_MEDIA_TYPE = pb.NAMED_REPLY_UNSUPPORTED_MEDIA_TYPE
    UNSUPPORTED_URI_SCHEME = pb.NAMED_REPLY_UNSUPPORTED_URI_SCHEME
    BAD_EXTENSION = pb.NAMED_REPLY_BAD_EXTENSION
    EXTENSION_REQUIRED = pb.NAMED_REPLY_EXTENSION_REQUIRED
    SESSION_TOO_SMALL = pb.NAMED_REPLY_SESSION_TOO_SMALL
    INTERVAL_TOO_BRIEF = pb.NAMED_REPLY_INTERVAL_TOO_BRIEF
    FLOW_FAILED = pb.NAMED_REPLY_FLOW_FAILED
    FIRST_HOP_LACKS_OUTBOUND = pb.NAMED_REPLY_FIRST_HOP_LACKS_OUTBOUND
    TEMPORARILY_UNAVAILABLE = pb.NAMED_REPLY_TEMPORARILY_UNAVAILABLE
    NO_TRANSACTION = pb.NAMED_REPLY_NO_TRANSACTION
    UNKNOWN_DIALOG = pb.NAMED_REPLY_UNKNOWN_DIALOG
    LOOP_DETECTED = pb.NAMED_REPLY_LOOP_DETECTED
    TOO_MANY_HOPS = pb.NAMED_REPLY_TOO_MANY_HOPS
    AMBIGUOUS = pb.NAMED_REPLY_AMBIGUOUS
    BUSY = pb.NAMED_REPLY_BUSY
    REQUEST_TERMINATED = pb.NAMED_REPLY_REQUEST_TERMINATED
    NOT_ACCEPTABLE = pb.NAMED_REPLY_NOT_ACCEPTABLE
    BAD_EVENT = pb.NAMED_REPLY_BAD_EVENT
    REQUEST_PENDING = pb.NAMED_REPLY_REQUEST_PENDING
    INTERNAL_ERROR = pb.NAMED_REPLY_INTERNAL_ERROR
    SERVICE_UNAVAILABLE = pb.NAMED_REPLY_SERVICE_UNAVAILABLE
    BUSY_EVERYWHERE = pb.NAMED_REPLY_BUSY_EVERYWHERE
    DECLINE = pb.NAMED_REPLY_DECLINE


class ReplyOptions(TypedDict, total=False):
    """Everything a reply may carry besides its code or name."""

    #: Reason phrase; the standard one when absent.
    reason: str
    headers: HeadersInput
    body: Body
    #: Content-Type of ``body``; the server uses application/sdp when absent and it is SDP.
    content_type: str
    #: Contact URIs: the targets of a redirect, or a Contact for other replies.
    contacts: Sequence[str]
    #: Realm of authenticate / proxy_authenticate (default: the From domain).
    realm: str
    allow: str
    accept: str
    unsupported: str
    require: str
    warning: str
    #: Min-SE (422) or Min-Expires (423).
    min_value: int


@dataclass(frozen=True)
class Reply:
    """A SIP reply: ``code`` (any 100–699, no header generated for you) or ``named``."""

    code: int = 0
    named: NamedReply | None = None
    reason: str = ""
    headers: HeadersInput = ()
    body: Body = b""
    content_type: str = ""
    contacts: Sequence[str] = field(default_factory=tuple)
    realm: str = ""
    allow: str = ""
    accept: str = ""
    unsupported: str = ""
    require: str = ""
    warning: str = ""
    min_value: int = 0

    def with_options(self, **opts: Unpack[ReplyOptions]) -> Reply:
        """The same reply with some options changed."""
        return replace(self, **opts)


def to_bytes(body: Body | None) -> bytes:
    if body is None:
        return b""
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def to_proto_reply(r: Reply) -> pb.Reply:
    """The contract's Reply. Raises TypeError for a reply with neither or both of code and name."""
    if not isinstance(r, Reply):
        raise TypeError(f"not a Reply: {r!r}")
    if (r.code == 0) == (r.named is None):
        raise TypeError("a reply needs either a code or a name")
    if r.code != 0 and not 100 <= r.code <= 699:
        raise TypeError(f"invalid reply code {r.code}")
    return pb.Reply(
        code=r.code,
        named=r.named.value if r.named is not None else pb.NAMED_REPLY_UNSPECIFIED,
        reason=r.reason,
        headers=to_header_ops(r.headers),
        body=to_bytes(r.body),
        content_type=r.content_type,
        contacts=list(r.contacts),
        realm=r.realm,
        allow=r.allow,
        accept=r.accept,
        unsupported=r.unsupported,
        require=r.require,
        warning=r.warning,
        min_value=r.min_value,
    )


def status(code: int, **opts: Unpack[ReplyOptions]) -> Reply:
    """Any status code, e.g. ``status(480, reason="Not Here")``. No header is generated."""
    return Reply(code=code, **opts)


def named(name: NamedReply, **opts: Unpack[ReplyOptions]) -> Reply:
    return Reply(named=name, **opts)


def ringing(**opts: Unpack[ReplyOptions]) -> Reply:
    """180."""
    return named(NamedReply.RINGING, **opts)


def session_progress(**opts: Unpack[ReplyOptions]) -> Reply:
    """183."""
    return named(NamedReply.SESSION_PROGRESS, **opts)


def rel_ringing(body: Body = b"", /, **opts: Unpack[ReplyOptions]) -> Reply:
    """180 sent reliably (100rel), optionally with a body (SDP)."""
    r = named(NamedReply.REL_RINGING, **opts)
    return r.with_options(body=body) if body else r


def rel_session_progress(body: Body = b"", /, **opts: Unpack[ReplyOptions]) -> Reply:
    """183 sent reliably (100rel), optionally with a body (SDP)."""
    r = named(NamedReply.REL_SESSION_PROGRESS, **opts)
    return r.with_options(body=body) if body else r


def ok(**opts: Unpack[ReplyOptions]) -> Reply:
    """200."""
    return named(NamedReply.OK, **opts)


def answer(body: Body, /, **opts: Unpack[ReplyOptions]) -> Reply:
    """200 with a body (an SDP answer unless ``content_type`` says otherwise)."""
    r = named(NamedReply.ANSWER, **opts)
    return r.with_options(body=body) if body else r


def accepted(**opts: Unpack[ReplyOptions]) -> Reply:
    """202."""
    return named(NamedReply.ACCEPTED, **opts)


def redirect(contacts: Sequence[str], /, **opts: Unpack[ReplyOptions]) -> Reply:
    """300 with the contacts as Contact headers."""
    return named(NamedReply.REDIRECT, **opts).with_options(contacts=contacts)


def redirect_temporary(contacts: Sequence[str], /, **opts: Unpack[ReplyOptions]) -> Reply:
    """302."""
    return named(NamedReply.REDIRECT_TEMPORARY, **opts).with_options(contacts=contacts)


def invalid_request(reason: str = "", /, **opts: Unpack[ReplyOptions]) -> Reply:
    """400."""
    r = named(NamedReply.INVALID_REQUEST, **opts)
    return r.with_options(reason=reason) if reason else r


def authenticate(realm: str = "", /, **opts: Unpack[ReplyOptions]) -> Reply:
    """401 with WWW-Authenticate for ``realm`` (default: the From domain)."""
    r = named(NamedReply.AUTHENTICATE, **opts)
    return r.with_options(realm=realm) if realm else r


def forbidden(reason: str = "", /, **opts: Unpack[ReplyOptions]) -> Reply:
    """403."""
    r = named(NamedReply.FORBIDDEN, **opts)
    return r.with_options(reason=reason) if reason else r


def not_found(reason: str = "", /, **opts: Unpack[ReplyOptions]) -> Reply:
    """404."""
    r = named(NamedReply.NOT_FOUND, **opts)
    return r.with_options(reason=reason) if reason else r


def proxy_authenticate(realm: str = "", /, **opts: Unpack[ReplyOptions]) -> Reply:
    """407 with Proxy-Authenticate for ``realm``."""
    r = named(NamedReply.PROXY_AUTHENTICATE, **opts)
    return r.with_options(realm=realm) if realm else r


def temporarily_unavailable(**opts: Unpack[ReplyOptions]) -> Reply:
    """480."""
    return named(NamedReply.TEMPORARILY_UNAVAILABLE, **opts)


def busy(**opts: Unpack[ReplyOptions]) -> Reply:
    """486."""
    return named(NamedReply.BUSY, **opts)


def request_terminated(**opts: Unpack[ReplyOptions]) -> Reply:
    """487."""
    return named(NamedReply.REQUEST_TERMINATED, **opts)


def internal_error(reason: str = "", /, **opts: Unpack[ReplyOptions]) -> Reply:
    """500."""
    r = named(NamedReply.INTERNAL_ERROR, **opts)
    return r.with_options(reason=reason) if reason else r


def service_unavailable(**opts: Unpack[ReplyOptions]) -> Reply:
    """503."""
    return named(NamedReply.SERVICE_UNAVAILABLE, **opts)


def decline(**opts: Unpack[ReplyOptions]) -> Reply:
    """603."""
    return named(NamedReply.DECLINE, **opts)
