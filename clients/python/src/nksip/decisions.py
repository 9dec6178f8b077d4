"""What callbacks answer: route decisions, ``noreply``, authorize and branch decisions.

Each callback family has its own type, so mypy flags a route decision returned from
``invite`` or a reply returned from ``authorize``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

from nksip.headers import HeadersInput, to_header_ops
from nksip.reply import Reply, to_proto_reply
from nksip.v1 import decisions_pb2 as pb
from nksip.v1 import service_pb2 as spb

#: Proxy targets, as NkSIP's UriSet: one URI; a flat list of URIs tried in parallel; or a list
#: whose elements are URIs or lists of URIs, each element a group tried after the previous
#: one (``["sip:a", ["sip:b", "sip:c"], "sip:d"]``). Empty: the Request-URI.
UriSet = str | Sequence[str | Sequence[str]]


class ProxyOptions(TypedDict, total=False):
    #: Insert Record-Route so in-dialog requests come through this server.
    record_route: bool
    #: Add Path to a REGISTER (RFC 3327).
    path: bool
    #: Launch the Contacts of a 3xx within the fork instead of relaying the 3xx.
    follow_redirects: bool
    #: Edits of the forwarded request's headers.
    headers: HeadersInput
    #: Route URIs inserted before the request's own Route headers.
    route: Sequence[str]
    #: Call ``branch_final`` with each branch's final response before the best one is chosen.
    branch_events: bool


def normalize_uri_set(uri_set: UriSet | None) -> list[list[str]]:
    """A UriSet as serial groups of parallel URIs, as NkSIP normalises it."""
    if uri_set is None:
        return []
    if isinstance(uri_set, str):
        return [[uri_set]]
    if all(isinstance(e, str) for e in uri_set):
        return [[str(e) for e in uri_set]] if len(uri_set) > 0 else []
    return [[e] if isinstance(e, str) else list(e) for e in uri_set]


def to_proto_proxy(uri_set: UriSet | None, o: ProxyOptions) -> pb.Proxy:
    return pb.Proxy(
        uri_set=[pb.UriGroup(uris=g) for g in normalize_uri_set(uri_set)],
        options=pb.ProxyOptions(
            record_route=o.get("record_route", False),
            path=o.get("path", False),
            follow_redirects=o.get("follow_redirects", False),
            headers=to_header_ops(o.get("headers")),
            route=list(o.get("route", ())),
            branch_events=o.get("branch_events", False),
        ),
    )


@dataclass(frozen=True)
class Raw:
    """An answer sent to the server as is, whatever the callback: for testing the server's
    handling of invalid answers (it answers the request 500 "Invalid Service Reply")."""

    answer: spb.CallbackAnswer


# ---- route ----


class RouteKind(enum.Enum):
    PROCESS = "process"
    PROCESS_STATELESS = "process_stateless"
    REPLY = "reply"
    REPLY_STATELESS = "reply_stateless"
    PROXY = "proxy"
    PROXY_STATELESS = "proxy_stateless"
    STRICT_PROXY = "strict_proxy"


@dataclass(frozen=True)
class RouteDecision:
    """The answer to ``route`` (NkSIP's sip_route); build it with ``Route``."""

    kind: RouteKind
    reply: Reply | None = None
    uri_set: UriSet | None = None
    options: ProxyOptions = field(default_factory=lambda: ProxyOptions())

    def to_proto(self) -> pb.RouteDecision:
        k = self.kind
        if k is RouteKind.PROCESS:
            return pb.RouteDecision(process=pb.Process())
        if k is RouteKind.PROCESS_STATELESS:
            return pb.RouteDecision(process_stateless=pb.Process())
        if k is RouteKind.REPLY or k is RouteKind.REPLY_STATELESS:
            if self.reply is None:
                raise TypeError(f"route {k.value} without a reply")
            r = to_proto_reply(self.reply)
            return pb.RouteDecision(reply=r) if k is RouteKind.REPLY else pb.RouteDecision(reply_stateless=r)
        p = to_proto_proxy(self.uri_set, self.options)
        if k is RouteKind.PROXY:
            return pb.RouteDecision(proxy=p)
        if k is RouteKind.PROXY_STATELESS:
            return pb.RouteDecision(proxy_stateless=p)
        return pb.RouteDecision(strict_proxy=p)


class Route:
    """Route decisions: ``Route.process()``, ``Route.proxy(uris, record_route=True)``..."""

    @staticmethod
    def process() -> RouteDecision:
        """Process the request here: its method callback comes next."""
        return RouteDecision(RouteKind.PROCESS)

    @staticmethod
    def process_stateless() -> RouteDecision:
        """Process without a transaction (not for INVITE: the server answers 500)."""
        return RouteDecision(RouteKind.PROCESS_STATELESS)

    @staticmethod
    def reply(reply: Reply) -> RouteDecision:
        """Answer now, statefully."""
        return RouteDecision(RouteKind.REPLY, reply=reply)

    @staticmethod
    def reply_stateless(reply: Reply) -> RouteDecision:
        """Answer now without a transaction."""
        return RouteDecision(RouteKind.REPLY_STATELESS, reply=reply)

    @staticmethod
    def proxy(uri_set: UriSet | None = None, **options: Unpack[ProxyOptions]) -> RouteDecision:
        """Proxy statefully to ``uri_set`` (absent or empty: the Request-URI)."""
        return RouteDecision(RouteKind.PROXY, uri_set=uri_set, options=options)

    @staticmethod
    def proxy_stateless(uri_set: UriSet | None = None, **options: Unpack[ProxyOptions]) -> RouteDecision:
        """Forward statelessly to the first URI only."""
        return RouteDecision(RouteKind.PROXY_STATELESS, uri_set=uri_set, options=options)

    @staticmethod
    def strict_proxy(uri_set: UriSet | None = None, **options: Unpack[ProxyOptions]) -> RouteDecision:
        """Test-only strict-router simulation (NkSIP's strict_proxy)."""
        return RouteDecision(RouteKind.STRICT_PROXY, uri_set=uri_set, options=options)


# ---- method callbacks ----


class NoReply(enum.Enum):
    """No answer now: answer later with ``request.reply(...)``."""

    NOREPLY = "noreply"


#: The value to return from a method callback that answers later.
NOREPLY = NoReply.NOREPLY


def noreply() -> NoReply:
    return NOREPLY


#: The answer to a method callback (invite, options, bye, ...).
MethodAnswer = Reply | NoReply


# ---- authorize ----


class AuthorizeKind(enum.Enum):
    OK = pb.AuthorizeDecision.KIND_OK
    #: 403.
    FORBIDDEN = pb.AuthorizeDecision.KIND_FORBIDDEN
    #: 401 challenge.
    AUTHENTICATE = pb.AuthorizeDecision.KIND_AUTHENTICATE
    #: 407 challenge.
    PROXY_AUTHENTICATE = pb.AuthorizeDecision.KIND_PROXY_AUTHENTICATE


@dataclass(frozen=True)
class AuthorizeDecision:
    """The answer to ``authorize`` (NkSIP's sip_authorize); build it with ``Authorize``."""

    kind: AuthorizeKind
    realm: str = ""


class Authorize:
    @staticmethod
    def ok() -> AuthorizeDecision:
        return AuthorizeDecision(AuthorizeKind.OK)

    @staticmethod
    def forbidden() -> AuthorizeDecision:
        return AuthorizeDecision(AuthorizeKind.FORBIDDEN)

    @staticmethod
    def authenticate(realm: str = "") -> AuthorizeDecision:
        """401 challenge for ``realm`` (default: the From domain)."""
        return AuthorizeDecision(AuthorizeKind.AUTHENTICATE, realm)

    @staticmethod
    def proxy_authenticate(realm: str = "") -> AuthorizeDecision:
        """407 challenge for ``realm``."""
        return AuthorizeDecision(AuthorizeKind.PROXY_AUTHENTICATE, realm)


#: The answer to ``get_user_pass``: the password (or ``HA1!`` + hex HA1), True to accept
#: without checking, False for an unknown user.
UserPassAnswer = str | bool


# ---- branch_final ----


class BranchKind(enum.Enum):
    CONTINUE = "continue"
    FORK = "fork"
    REPLY = "reply"


@dataclass(frozen=True)
class BranchDecision:
    """The answer to ``branch_final``; build it with ``Branch``."""

    kind: BranchKind
    uri_set: UriSet | None = None
    options: ProxyOptions = field(default_factory=lambda: ProxyOptions())
    reply: Reply | None = None

    def to_proto(self) -> spb.BranchDecision:
        if self.kind is BranchKind.CONTINUE:
            return branch_continue()
        if self.kind is BranchKind.FORK:
            return spb.BranchDecision(fork=to_proto_proxy(self.uri_set, self.options))
        if self.reply is None:
            raise TypeError("branch reply without a reply")
        return spb.BranchDecision(reply=to_proto_reply(self.reply))


def branch_continue() -> spb.BranchDecision:
    """BranchDecision ``continue`` (a Python keyword, so not a constructor argument)."""
    d = spb.BranchDecision()
    getattr(d, "continue").SetInParent()
    return d


class Branch:
    @staticmethod
    def continue_() -> BranchDecision:
        """Go on as NkSIP does (best-response selection)."""
        return BranchDecision(BranchKind.CONTINUE)

    @staticmethod
    def fork(uri_set: UriSet, **options: Unpack[ProxyOptions]) -> BranchDecision:
        """Launch these targets now, within this fork."""
        return BranchDecision(BranchKind.FORK, uri_set=uri_set, options=options)

    @staticmethod
    def reply(reply: Reply) -> BranchDecision:
        """Stop forking and send this reply upstream."""
        return BranchDecision(BranchKind.REPLY, reply=reply)
