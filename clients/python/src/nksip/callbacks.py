"""The callbacks an app implements, and how a Callback from the server becomes a call to one
of them and its return value the CallbackAnswer."""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nksip.decisions import (
    AuthorizeDecision,
    BranchDecision,
    NoReply,
    Raw,
    RouteDecision,
    branch_continue,
)
from nksip.enums import enum_name
from nksip.message import SipRequest, SipResponse
from nksip.reply import Reply, to_proto_reply
from nksip.v1 import decisions_pb2 as dpb
from nksip.v1 import service_pb2 as pb

#: Each callback's name (the method a SipApp subclass defines) and its kind on the wire.
CALLBACK_KINDS: dict[str, int] = {
    "route": pb.CALLBACK_KIND_ROUTE,
    "invite": pb.CALLBACK_KIND_INVITE,
    "reinvite": pb.CALLBACK_KIND_REINVITE,
    "ack": pb.CALLBACK_KIND_ACK,
    "bye": pb.CALLBACK_KIND_BYE,
    "cancel": pb.CALLBACK_KIND_CANCEL,
    "options": pb.CALLBACK_KIND_OPTIONS,
    "register": pb.CALLBACK_KIND_REGISTER,
    "info": pb.CALLBACK_KIND_INFO,
    "update": pb.CALLBACK_KIND_UPDATE,
    "subscribe": pb.CALLBACK_KIND_SUBSCRIBE,
    "resubscribe": pb.CALLBACK_KIND_RESUBSCRIBE,
    "notify": pb.CALLBACK_KIND_NOTIFY,
    "refer": pb.CALLBACK_KIND_REFER,
    "publish": pb.CALLBACK_KIND_PUBLISH,
    "message": pb.CALLBACK_KIND_MESSAGE,
    "prack": pb.CALLBACK_KIND_PRACK,
    "authorize": pb.CALLBACK_KIND_AUTHORIZE,
    "get_user_pass": pb.CALLBACK_KIND_GET_USER_PASS,
    "dialog_update": pb.CALLBACK_KIND_DIALOG_UPDATE,
    "session_update": pb.CALLBACK_KIND_SESSION_UPDATE,
    "branch_final": pb.CALLBACK_KIND_BRANCH_FINAL,
}

_NAME_OF_KIND = {kind: name for name, kind in CALLBACK_KINDS.items()}

METHOD_CALLBACKS = frozenset(
    [
        "invite",
        "reinvite",
        "bye",
        "options",
        "register",
        "info",
        "update",
        "subscribe",
        "resubscribe",
        "notify",
        "refer",
        "publish",
        "message",
        "prack",
    ]
)


def callback_name(kind: int) -> str | None:
    return _NAME_OF_KIND.get(kind)


def implemented_callbacks(app: object) -> list[str]:
    """The callbacks an object defines (own or inherited methods), in wire order."""
    return [n for n in CALLBACK_KINDS if callable(getattr(app, n, None))]


class DialogStatus(enum.Enum):
    UNSPECIFIED = "unspecified"
    START = "start"
    TARGET_UPDATE = "target_update"
    STOP = "stop"
    INVITE_STATUS = "invite_status"
    INVITE_REFRESH = "invite_refresh"
    INVITE_TIMEOUT = "invite_timeout"
    SUBSCRIPTION_STATUS = "subscription_status"


@dataclass(frozen=True)
class DialogUpdateEvent:
    """A dialog changed (NkSIP's sip_dialog_update)."""

    dialog_handle: str
    status: DialogStatus
    #: invite_status: init, proceeding_uac, ..., confirmed, bye, stop; subscription_status:
    #: init, pending, active, ...
    invite_status: str
    #: Why it stopped: a SIP code, caller_bye, callee_bye, cancelled, timeout, ...
    stop_reason: str
    #: invite_refresh: the SDP to refresh with.
    sdp: bytes
    subscription_handle: str
    retry_after: int

    @staticmethod
    def of(u: pb.DialogUpdate) -> DialogUpdateEvent:
        name = enum_name(pb.DialogUpdate.Status, u.status, "STATUS_")
        return DialogUpdateEvent(
            dialog_handle=u.dialog_handle,
            status=DialogStatus[name] if name in DialogStatus.__members__ else DialogStatus.UNSPECIFIED,
            invite_status=u.invite_status,
            stop_reason=u.stop_reason,
            sdp=u.sdp,
            subscription_handle=u.subscription_handle,
            retry_after=u.retry_after,
        )


@dataclass(frozen=True)
class SessionUpdateEvent:
    """A media session changed (NkSIP's sip_session_update)."""

    dialog_handle: str
    #: start, update or stop.
    kind: str
    local_sdp: bytes
    remote_sdp: bytes

    @staticmethod
    def of(u: pb.SessionUpdate) -> SessionUpdateEvent:
        kind = enum_name(pb.SessionUpdate.Kind, u.kind, "KIND_").lower() or "unspecified"
        return SessionUpdateEvent(u.dialog_handle, kind, u.local_sdp, u.remote_sdp)


@dataclass(frozen=True)
class BranchEvent:
    """A proxy branch's final response (``branch_events``)."""

    uri: str
    response: SipResponse
    #: Branches still pending.
    pending: int


#: What the app sends when a callback raises: an answer that keeps the SIP side moving.
def answer_on_failure(name: str) -> pb.CallbackAnswer:
    failure = to_proto_reply(Reply(code=500, reason="SipApp Callback Failed"))
    if name == "route":
        return pb.CallbackAnswer(route=dpb.RouteDecision(reply=failure))
    if name in METHOD_CALLBACKS:
        return pb.CallbackAnswer(method=dpb.MethodDecision(reply=failure))
    if name == "authorize":
        return pb.CallbackAnswer(authorize=dpb.AuthorizeDecision(kind=dpb.AuthorizeDecision.KIND_FORBIDDEN))
    if name == "get_user_pass":
        return pb.CallbackAnswer(user_pass=dpb.UserPassDecision(accept=False))
    if name == "branch_final":
        return pb.CallbackAnswer(branch=branch_continue())
    return pb.CallbackAnswer(ack=dpb.Ack())


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Calls a sync or async callback."""
    result = fn(*args)
    if inspect.isawaitable(result):
        return await result
    return result


def _method_answer(name: str, d: object) -> pb.CallbackAnswer:
    if isinstance(d, NoReply):
        return pb.CallbackAnswer(method=dpb.MethodDecision(noreply=dpb.NoReply()))
    if isinstance(d, Reply):
        return pb.CallbackAnswer(method=dpb.MethodDecision(reply=to_proto_reply(d)))
    raise TypeError(f"invalid {name} answer {d!r}: return a Reply or NOREPLY")


async def run_callback(
    app: object,
    msg: pb.Callback,
    late_reply: Callable[[str, Reply], None],
) -> tuple[str, pb.CallbackAnswer] | None:
    """Runs the callback ``msg`` names and returns the answer to send, or None when the app
    does not implement it. Raises what the callback raises, or TypeError for an invalid answer."""
    name = callback_name(msg.kind)
    if name is None:
        return None
    fn = getattr(app, name, None)
    if not callable(fn):
        return None
    req = (
        SipRequest(msg.request, msg.request_handle, msg.dialog_handle, late_reply, msg.deadline_ms)
        if msg.HasField("request")
        else None
    )

    def need() -> SipRequest:
        if req is None:
            raise TypeError(f"{name} callback without a request")
        return req

    extra = msg.WhichOneof("extra")
    d: Any
    if name == "route":
        d = await _call(fn, need())
        if isinstance(d, Raw):
            return name, d.answer
        if not isinstance(d, RouteDecision):
            raise TypeError(f"invalid route answer {d!r}: return a Route decision")
        return name, pb.CallbackAnswer(route=d.to_proto())
    if name == "ack":
        await _call(fn, need())
        return name, pb.CallbackAnswer(ack=dpb.Ack())
    if name == "cancel":
        cancel = SipRequest(msg.cancel) if extra == "cancel" else need()
        await _call(fn, need(), cancel)
        return name, pb.CallbackAnswer(ack=dpb.Ack())
    if name == "authorize":
        d = await _call(fn, msg.auth, need())
        if isinstance(d, Raw):
            return name, d.answer
        if not isinstance(d, AuthorizeDecision):
            raise TypeError(f"invalid authorize answer {d!r}: return an Authorize decision")
        return name, pb.CallbackAnswer(authorize=dpb.AuthorizeDecision(kind=d.kind.value, realm=d.realm))
    if name == "get_user_pass":
        d = await _call(fn, msg.user_pass.user, msg.user_pass.realm, need())
        if isinstance(d, Raw):
            return name, d.answer
        if isinstance(d, bool):
            return name, pb.CallbackAnswer(user_pass=dpb.UserPassDecision(accept=d))
        if isinstance(d, str):
            return name, pb.CallbackAnswer(user_pass=dpb.UserPassDecision(password=d))
        raise TypeError(f"invalid get_user_pass answer {d!r}: return a str or a bool")
    if name == "dialog_update":
        if extra != "dialog_update":
            raise TypeError("dialog_update callback without its update")
        await _call(fn, DialogUpdateEvent.of(msg.dialog_update))
        return name, pb.CallbackAnswer(ack=dpb.Ack())
    if name == "session_update":
        if extra != "session_update":
            raise TypeError("session_update callback without its update")
        await _call(fn, SessionUpdateEvent.of(msg.session_update))
        return name, pb.CallbackAnswer(ack=dpb.Ack())
    if name == "branch_final":
        if extra != "branch":
            raise TypeError("branch_final callback without its branch")
        b = msg.branch
        ev = BranchEvent(b.uri, SipResponse(b.response), b.pending)
        d = await _call(fn, ev, need())
        if isinstance(d, Raw):
            return name, d.answer
        if not isinstance(d, BranchDecision):
            raise TypeError(f"invalid branch_final answer {d!r}: return a Branch decision")
        return name, pb.CallbackAnswer(branch=d.to_proto())
    d = await _call(fn, need())
    if isinstance(d, Raw):
        return name, d.answer
    return name, _method_answer(name, d)
