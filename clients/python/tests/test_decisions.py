"""Decisions, replies, headers and the callback dispatch, without a server."""

from __future__ import annotations

import asyncio

import pytest

from nksip import (
    NOREPLY,
    Authorize,
    Branch,
    NamedReply,
    Raw,
    Reconnect,
    Reply,
    Route,
    SipRequest,
    add_header,
    busy,
    ok,
    remove_header,
    status,
)
from nksip.callbacks import answer_on_failure, implemented_callbacks, run_callback
from nksip.decisions import normalize_uri_set
from nksip.headers import to_header_ops
from nksip.reply import invalid_request, rel_ringing, to_proto_reply
from nksip.sdp import answer_sdp, increment_sdp, new_sdp, sdp_version
from nksip.uac import UacCall, UacError, UacErrorKind, to_proto_uac_options
from nksip.v1 import decisions_pb2 as dpb
from nksip.v1 import service_pb2 as pb
from nksip.v1 import sip_pb2 as spb
from nksip.v1 import uac_pb2 as upb


def test_named_and_coded_replies() -> None:
    r = to_proto_reply(busy(headers={"x-a": ["1", "2"]}, reason="Later"))
    assert r.named == dpb.NAMED_REPLY_BUSY and r.code == 0 and r.reason == "Later"
    assert [(h.name, h.value) for h in r.headers] == [("x-a", "1"), ("x-a", "2")]
    assert to_proto_reply(status(480, body="hi")).body == b"hi"
    assert to_proto_reply(invalid_request(reason="Why")).reason == "Why"
    assert to_proto_reply(rel_ringing("v=0\r\n")).named == NamedReply.REL_RINGING.value


@pytest.mark.parametrize(
    "bad", [Reply(), Reply(code=486, named=NamedReply.BUSY), Reply(code=99), Reply(code=700)]
)
def test_invalid_replies_raise(bad: Reply) -> None:
    with pytest.raises(TypeError):
        to_proto_reply(bad)


def test_header_edits() -> None:
    ops = to_header_ops([add_header("x-a", "1"), remove_header("x-b")])
    assert [(o.kind, o.name, o.value) for o in ops] == [
        (dpb.HeaderOp.KIND_ADD, "x-a", "1"),
        (dpb.HeaderOp.KIND_REMOVE, "x-b", ""),
    ]


def test_uri_sets_normalise_as_nksip() -> None:
    assert normalize_uri_set("sip:a") == [["sip:a"]]
    assert normalize_uri_set(["sip:a", "sip:b"]) == [["sip:a", "sip:b"]]
    assert normalize_uri_set(["sip:a", ["sip:b", "sip:c"], "sip:d"]) == [
        ["sip:a"],
        ["sip:b", "sip:c"],
        ["sip:d"],
    ]
    assert normalize_uri_set([]) == []


def test_route_decisions_to_proto() -> None:
    p = Route.proxy("sip:a", record_route=True, headers=[add_header("x", "y")]).to_proto()
    assert p.WhichOneof("decision") == "proxy"
    assert p.proxy.options.record_route and list(p.proxy.uri_set[0].uris) == ["sip:a"]
    assert Route.reply_stateless(ok()).to_proto().WhichOneof("decision") == "reply_stateless"
    assert Route.process().to_proto().WhichOneof("decision") == "process"
    assert Route.strict_proxy().to_proto().WhichOneof("decision") == "strict_proxy"
    assert Branch.continue_().to_proto().WhichOneof("decision") == "continue"
    assert Branch.fork(["sip:x"]).to_proto().fork.uri_set[0].uris == ["sip:x"]


def test_uac_options_optional_fields_stay_absent() -> None:
    o = to_proto_uac_options({"from_": "<sip:a@b>", "sip_pass": "pw", "cseq": 7, "auto_2xx_ack": True}, False)
    assert getattr(o, "from") == "<sip:a@b>" and getattr(o, "pass")[0].password == "pw"
    assert o.HasField("cseq") and o.cseq == 7 and o.auto_2xx_ack
    assert not o.HasField("expires") and not o.HasField("auth_max_tries")


def test_backoff_grows_and_caps() -> None:
    r = Reconnect(initial_delay=0.1, max_delay=1.0, factor=2, jitter=0.5)
    assert r.delay(1, lambda: 0.0) == pytest.approx(0.1)
    assert r.delay(3, lambda: 0.0) == pytest.approx(0.4)
    assert r.delay(10, lambda: 0.0) == pytest.approx(1.0)
    assert r.delay(10, lambda: 1.0) == pytest.approx(0.5)


def test_sdp_helpers() -> None:
    offer = new_sdp(session_id=5)
    assert sdp_version(offer) == "5" and sdp_version(increment_sdp(offer)) == "6"
    ans = answer_sdp(offer.replace("a=sendrecv", "a=sendonly"), port=4000, formats=[8])
    assert "m=audio 4000 RTP/AVP 8" in ans and "a=recvonly" in ans and "PCMU" not in ans


def _callback(kind: int, method: str = "OPTIONS", **extra: object) -> pb.Callback:
    req = spb.Request(method=method, call_id="c1", headers=[spb.Header(name="x-k", value="v")])
    return pb.Callback(id=9, kind=kind, request=req, request_handle="R1", dialog_handle="D1", **extra)  # type: ignore[arg-type]


class Sample:
    def __init__(self) -> None:
        self.late: list[tuple[str, Reply]] = []

    def route(self, req: SipRequest) -> object:
        return Route.proxy(["sip:a"]) if req.header("x-k") == "v" else Route.process()

    async def options(self, req: SipRequest) -> object:
        await asyncio.sleep(0)
        req.reply(ok())
        return NOREPLY

    def invite(self, req: SipRequest) -> object:
        return Route.process()  # the wrong family: an invalid answer

    def message(self, req: SipRequest) -> object:
        raise RuntimeError("boom")

    def bye(self, req: SipRequest) -> object:
        return Raw(pb.CallbackAnswer(ack=dpb.Ack()))

    def authorize(self, auth: pb.AuthInfo, req: SipRequest) -> object:
        return Authorize.proxy_authenticate("r") if not auth.digests else Authorize.ok()

    def get_user_pass(self, user: str, realm: str, req: SipRequest) -> object:
        return True if user == "any" else f"{user}@{realm}"


async def test_run_callback_dispatches_by_kind() -> None:
    app = Sample()
    assert implemented_callbacks(app) == [
        "route",
        "invite",
        "bye",
        "options",
        "message",
        "authorize",
        "get_user_pass",
    ]

    def late(h: str, r: Reply) -> None:
        app.late.append((h, r))

    got = await run_callback(app, _callback(pb.CALLBACK_KIND_ROUTE), late)
    assert got is not None and got[0] == "route" and got[1].route.WhichOneof("decision") == "proxy"
    got = await run_callback(app, _callback(pb.CALLBACK_KIND_OPTIONS), late)
    assert got is not None and got[1].method.WhichOneof("decision") == "noreply"
    assert app.late == [("R1", ok())]
    got = await run_callback(app, _callback(pb.CALLBACK_KIND_BYE), late)
    assert got is not None and got[1].WhichOneof("answer") == "ack"
    auth = pb.AuthInfo()
    got = await run_callback(app, _callback(pb.CALLBACK_KIND_AUTHORIZE, auth=auth), late)
    assert got is not None and got[1].authorize.kind == dpb.AuthorizeDecision.KIND_PROXY_AUTHENTICATE
    assert got[1].authorize.realm == "r"
    up = pb.UserPassInfo(user="bob", realm="x")
    got = await run_callback(app, _callback(pb.CALLBACK_KIND_GET_USER_PASS, user_pass=up), late)
    assert got is not None and got[1].user_pass.password == "bob@x"
    # not implemented: no answer (the server applies its default)
    assert await run_callback(app, _callback(pb.CALLBACK_KIND_PRACK), late) is None


async def test_run_callback_raises_on_failure_and_invalid_answers() -> None:
    app = Sample()
    with pytest.raises(TypeError):
        await run_callback(app, _callback(pb.CALLBACK_KIND_INVITE, "INVITE"), lambda h, r: None)
    with pytest.raises(RuntimeError):
        await run_callback(app, _callback(pb.CALLBACK_KIND_MESSAGE, "MESSAGE"), lambda h, r: None)
    failure = answer_on_failure("message")
    assert failure.method.reply.code == 500
    assert answer_on_failure("authorize").authorize.kind == dpb.AuthorizeDecision.KIND_FORBIDDEN
    assert answer_on_failure("branch_final").branch.WhichOneof("decision") == "continue"


async def test_uac_call_provisionals_then_final() -> None:
    cmd = upb.UacCommand(id=3, method="INVITE")
    call = UacCall(cmd, None, lambda h, r: call)
    seen: list[int] = []

    async def watch() -> None:
        async for p in call:
            seen.append(p.code)

    w = asyncio.ensure_future(watch())
    call.event(upb.UacEvent(id=3, request_handle="H", provisional=spb.Response(code=180)))
    assert await call.handle() == "H"
    assert call.event(upb.UacEvent(id=3, error=upb.UacError(kind=upb.UAC_ERROR_KIND_UNKNOWN_DIALOG))) is True
    with pytest.raises(UacError) as e:
        await call
    assert e.value.kind is UacErrorKind.UNKNOWN_DIALOG and e.value.kind.camel == "unknownDialog"
    await asyncio.wait_for(w, 1)
    assert seen == [180]


def test_enum_values_newer_than_the_sdk_are_unspecified() -> None:
    from nksip import DialogStatus, DialogUpdateEvent, ServerError, ServerErrorCode, SessionUpdateEvent

    pending = ServerError.of(pb.Error(code=pb.ERROR_CODE_PENDING_PRACK, message="pending_prack", ref=7))
    assert pending.code is ServerErrorCode.PENDING_PRACK and pending.ref == 7
    assert ServerError.of(pb.Error(code=99)).code is ServerErrorCode.UNSPECIFIED
    assert UacErrorKind.of(99) is UacErrorKind.UNSPECIFIED
    assert DialogUpdateEvent.of(pb.DialogUpdate(status=99)).status is DialogStatus.UNSPECIFIED
    assert SessionUpdateEvent.of(pb.SessionUpdate(kind=99)).kind == "unspecified"
    assert SessionUpdateEvent.of(pb.SessionUpdate(kind=pb.SessionUpdate.KIND_START)).kind == "start"
