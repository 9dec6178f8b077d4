"""Requests the app sends (proto UacCommand) and what comes back (UacEvent): a ``UacCall``
is awaited for the final response and iterated for the provisional ones."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from nksip.enums import enum_name
from nksip.headers import HeadersInput, to_header_ops
from nksip.message import SipResponse, UacMeta
from nksip.reply import Body, to_bytes
from nksip.v1 import uac_pb2 as pb


@dataclass(frozen=True)
class Credential:
    """Credentials for automatic digest answers to 401/407 (NkSIP's ``sip_pass``)."""

    password: str
    #: '' for any realm.
    realm: str = ""
    user: str = ""


#: Credentials: a bare string is the password for any realm.
Passwords = str | Sequence[Credential]


def to_proto_pass(p: Passwords | None) -> list[pb.Credential]:
    if p is None:
        return []
    if isinstance(p, str):
        return [pb.Credential(password=p)]
    return [pb.Credential(realm=c.realm, user=c.user, password=c.password) for c in p]


class UacOptions(TypedDict, total=False):
    """Options of a request the app sends (proto UacOptions); every one is optional."""

    headers: HeadersInput
    body: Body
    content_type: str
    #: Contact to send; ``make_contact``: the server builds one from the listener used.
    contact: str
    make_contact: bool
    #: From and To as name-addr text (default: the app's ``sip_from``, the target URI).
    from_: str
    to: str
    #: Route URIs (outbound proxy) in order; the app's ``route`` when absent.
    route: Sequence[str]
    call_id: str
    cseq: int
    #: Expires (REGISTER, SUBSCRIBE, PUBLISH); for INVITE, CANCEL after this many seconds.
    expires: int
    #: Digest credentials, tried before the app's own ``sip_pass``.
    sip_pass: Passwords
    #: How many challenges the server answers for this request (default 5; 0: none).
    auth_max_tries: int
    #: Event header (SUBSCRIBE, NOTIFY, PUBLISH).
    event: str
    #: Refer-To (REFER).
    refer_to: str
    unregister: bool
    unregister_all: bool
    to_as_from: bool
    #: INVITE: ACK a 2xx automatically.
    auto_2xx_ack: bool
    #: INVITE: no automatic CANCEL when ``expires`` passes.
    no_auto_expire: bool
    #: Reason header (BYE, CANCEL).
    reason: str
    subscription_state: str
    sip_if_match: str
    local_host: str
    #: Ask for provisional responses (always on for INVITE, and with ``on_provisional``).
    provisionals: bool
    #: Called with each provisional response.
    on_provisional: Callable[[SipResponse], None]
    #: INVITE (100rel): the body of the PRACKs the server sends for reliable provisionals.
    prack_body: Body
    #: INVITE: no automatic PRACK; send it with ``app.uac.prack(dialog)``.
    manual_prack: bool
    #: Session timers (RFC 4028): Session-Expires and Min-SE to send, seconds.
    session_expires: int
    min_se: int
    #: re-INVITE/UPDATE without ``body``: refresh the session with the dialog's last local
    #: SDP: ``active``, ``hold``, ``inactive``, ``recvonly`` or ``keep``.
    refresh: str


def to_proto_uac_options(o: UacOptions, provisionals: bool) -> pb.UacOptions:
    m = pb.UacOptions(
        headers=to_header_ops(o.get("headers")),
        body=to_bytes(o.get("body")),
        content_type=o.get("content_type", ""),
        contact=o.get("contact", ""),
        make_contact=o.get("make_contact", False),
        to=o.get("to", ""),
        route=list(o.get("route", ())),
        call_id=o.get("call_id", ""),
        provisionals=provisionals,
        event=o.get("event", ""),
        refer_to=o.get("refer_to", ""),
        unregister=o.get("unregister", False),
        unregister_all=o.get("unregister_all", False),
        to_as_from=o.get("to_as_from", False),
        auto_2xx_ack=o.get("auto_2xx_ack", False),
        no_auto_expire=o.get("no_auto_expire", False),
        reason=o.get("reason", ""),
        subscription_state=o.get("subscription_state", ""),
        sip_if_match=o.get("sip_if_match", ""),
        local_host=o.get("local_host", ""),
        prack_body=to_bytes(o.get("prack_body")),
        manual_prack=o.get("manual_prack", False),
        session_expires=o.get("session_expires", 0),
        min_se=o.get("min_se", 0),
        refresh=o.get("refresh", ""),
    )
    m.__setattr__("from", o.get("from_", ""))
    getattr(m, "pass").extend(to_proto_pass(o.get("sip_pass")))
    if "cseq" in o:
        m.cseq = o["cseq"]
    if "expires" in o:
        m.expires = o["expires"]
    if "auth_max_tries" in o:
        m.auth_max_tries = o["auth_max_tries"]
    return m


class UacErrorKind(enum.Enum):
    """Why a request could not be sent or completed (NkSIP's ``{error, Reason}``)."""

    UNSPECIFIED = "unspecified"
    INVALID_URI = "invalid_uri"
    INVALID_FROM = "invalid_from"
    INVALID_TO = "invalid_to"
    INVALID_ROUTE = "invalid_route"
    INVALID_CONTACT = "invalid_contact"
    INVALID_OPTION = "invalid_option"
    UNKNOWN_DIALOG = "unknown_dialog"
    UNKNOWN_REQUEST = "unknown_request"
    REQUEST_PENDING = "request_pending"
    SERVICE_UNAVAILABLE = "service_unavailable"
    TOO_MANY_CALLS = "too_many_calls"
    INVALID_EVENT = "invalid_event"
    INVALID_REFER_TO = "invalid_refer_to"
    NOT_IMPLEMENTED = "not_implemented"
    #: The stream to the server broke (or the app stopped) before the final response.
    DISCONNECTED = "disconnected"
    #: The app is not connected to the server.
    NOT_CONNECTED = "not_connected"

    @staticmethod
    def of(k: int) -> UacErrorKind:
        name = enum_name(pb.UacErrorKind, k, "UAC_ERROR_KIND_")
        try:
            return UacErrorKind[name]
        except KeyError:
            return UacErrorKind.UNSPECIFIED

    @property
    def camel(self) -> str:
        """The name as the TypeScript SDK spells it (``unknownDialog``)."""
        first, *rest = self.value.split("_")
        return first + "".join(w.capitalize() for w in rest)


class UacError(Exception):
    """A request failed before a final response."""

    def __init__(self, kind: UacErrorKind, message: str = "", call_id: str = "") -> None:
        super().__init__(message or kind.value)
        self.kind = kind
        self.message = message or kind.value
        #: The request's Call-ID, when the server told it.
        self.call_id = call_id


class UacCall:
    """A request in flight. ``await call`` for the final response (raises UacError);
    ``async for p in call`` for its provisional responses; ``await call.cancel()`` an INVITE."""

    def __init__(
        self,
        command: pb.UacCommand,
        on_provisional: Callable[[SipResponse], None] | None,
        canceller: Callable[[str, str], UacCall],
    ) -> None:
        self.command = command
        self._on_provisional = on_provisional
        self._canceller = canceller
        self._final: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        # a caller that never awaits a failed call must not get "exception never retrieved"
        self._final.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._handle = ""
        self._handle_known = asyncio.Event()
        self._provisionals: list[SipResponse] = []
        self._changed = asyncio.Event()

    @property
    def id(self) -> int:
        return self.command.id

    @property
    def method(self) -> str:
        return self.command.method

    @property
    def request_handle(self) -> str:
        """The request handle, once an event carried it ('' before)."""
        return self._handle

    @property
    def done(self) -> bool:
        return self._final.done()

    @property
    def provisionals(self) -> list[SipResponse]:
        """The provisional responses received so far."""
        return list(self._provisionals)

    async def handle(self) -> str:
        """The request handle, as soon as the server tells it ('' if the request failed first)."""
        await self._handle_known.wait()
        return self._handle

    async def final(self) -> SipResponse:
        return await self._final

    def __await__(self) -> Generator[Any, None, SipResponse]:
        return self._final.__await__()

    async def cancel(self, reason: str = "") -> SipResponse:
        """Sends CANCEL for this INVITE once its request handle is known; the CANCEL's response."""
        return await self._canceller(await self.handle(), reason)

    async def __aiter__(self) -> AsyncIterator[SipResponse]:
        i = 0
        while True:
            if i < len(self._provisionals):
                i += 1
                yield self._provisionals[i - 1]
                continue
            if self._final.done():
                return
            self._changed.clear()
            await self._changed.wait()

    def event(self, ev: pb.UacEvent) -> bool:
        """Feeds a UacEvent for this request; True once the request is complete."""
        if ev.request_handle and not self._handle:
            self._handle = ev.request_handle
            self._handle_known.set()
        meta = UacMeta(
            request_handle=ev.request_handle or self._handle,
            dialog_handle=ev.dialog_handle,
            subscription_handle=ev.subscription_handle,
            rseq=ev.rseq,
        )
        which = ev.WhichOneof("event")
        if which == "provisional":
            r = SipResponse(ev.provisional, meta)
            self._provisionals.append(r)
            self._changed.set()
            if self._on_provisional is not None:
                self._on_provisional(r)
            return False
        if which == "final":
            if not self._final.done():
                self._final.set_result(SipResponse(ev.final, meta))
            self._settle()
            return True
        if which == "error":
            self.fail(UacError(UacErrorKind.of(ev.error.kind), ev.error.message, ev.call_id))
            return True
        return False

    def fail(self, err: UacError) -> None:
        """Fails the call (stream broken, app stopped)."""
        if not self._final.done():
            self._final.set_exception(err)
        self._settle()

    def _settle(self) -> None:
        self._changed.set()
        self._handle_known.set()
