"""Read-only views of the contract's Request and Response: the parsed essentials plus
``header(name)`` / ``headers(name)`` over the ordered header list, and the body."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nksip.v1 import sip_pb2 as pb

if TYPE_CHECKING:
    from nksip.reply import Reply


def _find_param(params: Sequence[pb.Param], name: str) -> str | None:
    n = name.lower()
    for p in params:
        if p.name.lower() == n:
            return p.value
    return None


@dataclass(frozen=True)
class SipUri:
    """A SIP, SIPS or TEL URI (proto Uri)."""

    raw: str
    scheme: str
    user: str
    host: str
    #: 0 when absent.
    port: int
    params: Sequence[pb.Param]
    headers: Sequence[pb.Param]

    @staticmethod
    def of(u: pb.Uri) -> SipUri:
        return SipUri(u.raw, u.scheme, u.user, u.host, u.port, list(u.params), list(u.headers))

    def param(self, name: str) -> str | None:
        """A URI parameter ('' for a flag such as ``lr``), None when absent."""
        return _find_param(self.params, name)


@dataclass(frozen=True)
class Address:
    """A From, To, Contact or Route value (proto NameAddr)."""

    raw: str
    display_name: str
    uri: SipUri
    params: Sequence[pb.Param]

    @staticmethod
    def of(na: pb.NameAddr) -> Address:
        return Address(na.raw, na.display_name, SipUri.of(na.uri), list(na.params))

    @property
    def tag(self) -> str:
        """The ``tag`` parameter, '' when absent."""
        return _find_param(self.params, "tag") or ""

    def param(self, name: str) -> str | None:
        return _find_param(self.params, name)


# RFC 3261 §7.3.3 compact forms: the server expands them in messages; this lets
# header("v") find Via too.
_COMPACT = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
}


def _canonical(name: str) -> str:
    n = name.lower()
    return _COMPACT.get(n, n)


class SipMessage:
    """What requests and responses share."""

    def __init__(self, m: pb.Request | pb.Response) -> None:
        self.from_ = Address.of(m.__getattribute__("from"))
        self.to = Address.of(m.to)
        self.call_id: str = m.call_id
        self.cseq: int = m.cseq
        self.cseq_method: str = m.cseq_method
        self.vias: Sequence[pb.Via] = list(m.vias)
        self.contacts: Sequence[Address] = [Address.of(c) for c in m.contacts]
        #: Every header line in order: (lowercase full name, value).
        self.all_headers: Sequence[tuple[str, str]] = [(h.name, h.value) for h in m.headers]
        #: The body's exact octets.
        self.body: bytes = m.body
        self.content_type: str = m.content_type
        self.transport: pb.TransportInfo = m.transport

    def header(self, name: str) -> str | None:
        """The first value of a header (any case, compact forms allowed), None when absent."""
        n = _canonical(name)
        for h, v in self.all_headers:
            if h == n:
                return v
        return None

    def headers(self, name: str) -> list[str]:
        """Every line of a header, in order (a comma-separated line stays one entry)."""
        n = _canonical(name)
        return [v for h, v in self.all_headers if h == n]

    def has_header(self, name: str) -> bool:
        return self.header(name) is not None

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8", errors="replace")


class SipRequest(SipMessage):
    """A request as a callback sees it."""

    def __init__(
        self,
        req: pb.Request,
        handle: str = "",
        dialog_handle: str = "",
        late_reply: Callable[[str, Reply], None] | None = None,
        deadline_ms: int = 0,
    ) -> None:
        super().__init__(req)
        self.raw = req
        self.method: str = req.method
        self.ruri = SipUri.of(req.ruri)
        self.routes: Sequence[Address] = [Address.of(r) for r in req.routes]
        #: -1 when the header is absent.
        self.max_forwards: int = req.max_forwards
        self.contact_star: bool = req.contact_star
        #: Handle of the request, for a late reply after ``noreply``; '' when there is none.
        self.handle = handle
        #: The dialog the request belongs to, '' when none.
        self.dialog_handle = dialog_handle
        #: Time the server gives the app to answer the callback, ms.
        self.deadline_ms = deadline_ms
        self._late_reply = late_reply

    def reply(self, reply: Reply) -> None:
        """Answers this request later (after the callback returned ``NOREPLY``): provisional
        replies first if you want, then one final reply. Raises when the request has no
        handle or the app is not connected."""
        if self._late_reply is None or self.handle == "":
            raise RuntimeError("this request has no handle to reply to")
        self._late_reply(self.handle, reply)


@dataclass(frozen=True)
class UacMeta:
    """Handles a UAC response carries (proto UacEvent)."""

    request_handle: str = ""
    dialog_handle: str = ""
    subscription_handle: str = ""
    #: The RSeq of a reliable provisional response (100rel), else 0.
    rseq: int = 0


class SipResponse(SipMessage):
    """A response: to a request the app sent, or a proxy branch's final response."""

    def __init__(self, res: pb.Response, meta: UacMeta | None = None) -> None:
        super().__init__(res)
        m = meta or UacMeta()
        self.raw = res
        self.code: int = res.code
        self.reason: str = res.reason
        #: Handle of the request sent, for a CANCEL.
        self.request_handle = m.request_handle
        #: Dialog created or used (INVITE 101–299, SUBSCRIBE/REFER 2xx), '' when none.
        self.dialog_handle = m.dialog_handle
        self.subscription_handle = m.subscription_handle
        self.rseq = m.rseq

    @property
    def ok(self) -> bool:
        """200–299."""
        return 200 <= self.code < 300

    def __repr__(self) -> str:
        return f"<SipResponse {self.code} {self.reason} {self.cseq_method}>"
