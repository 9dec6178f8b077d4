"""The SDK against a real nksip-server: callbacks, UAC calls with provisionals, late replies,
failures in callbacks, server errors (pending_prack), a clean stop, the blocking facade and a
reconnect."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from nksip import (
    NOREPLY,
    Reconnect,
    Route,
    RouteDecision,
    ServerError,
    ServerErrorCode,
    SipApp,
    SipRequest,
    StartedInfo,
    UacError,
    UacErrorKind,
    busy,
    ok,
    rel_ringing,
    rel_session_progress,
    ringing,
)
from nksip.blocking import BlockingApp
from nksip.reply import Reply
from nksip.testing import ServerProcess, start_server


class Callee(SipApp):
    """Answers on its own listener: OPTIONS 200 with x-seen, INVITE 180 then 486, MESSAGE raises."""

    def __init__(self, server: str, **kw: object) -> None:
        super().__init__("callee", server=server, listen="sip:127.0.0.1:0", **kw)  # type: ignore[arg-type]
        self.errors: list[tuple[str, BaseException]] = []

    def route(self, req: SipRequest) -> RouteDecision:
        if req.header("x-route") == "reply":
            return Route.reply(Reply(code=488, reason="From Route"))
        return Route.process()

    def options(self, req: SipRequest) -> Reply:
        return ok(headers={"x-seen": req.method + ":" + (req.header("x-k") or "")})

    async def invite(self, req: SipRequest) -> object:
        req.reply(ringing())
        asyncio.get_running_loop().call_later(0.05, req.reply, busy())
        return NOREPLY

    def message(self, req: SipRequest) -> Reply:
        raise RuntimeError("callback bug")

    def on_callback_error(self, name: str, error: BaseException) -> None:
        self.errors.append((name, error))


def udp_target(app: SipApp) -> str:
    info = app.started_info
    assert info is not None
    name = next(n for n in info.listeners if n.startswith("udp:"))
    return "sip:" + name.split(":", 1)[1]


@pytest.fixture
async def callee(server: ServerProcess) -> AsyncIterator[Callee]:
    app = await Callee(server.grpc).start()
    yield app
    await app.stop()


@pytest.fixture
async def caller(server: ServerProcess) -> AsyncIterator[SipApp]:
    app = await SipApp("caller", server=server.grpc, listen="sip:127.0.0.1:0").start()
    yield app
    await app.stop()


async def test_start_tells_listeners_and_callbacks(callee: Callee) -> None:
    info = callee.started_info
    assert info is not None and info.app == "callee" and info.instances == 1 and not info.reconnected
    assert any(n.startswith("udp:127.0.0.1:") for n in info.listeners)
    assert callee.callback_names == ["route", "invite", "options", "message"]


async def test_options_answered_by_the_other_app(callee: Callee, caller: SipApp) -> None:
    res = await caller.uac.options(udp_target(callee), headers={"x-k": "v1"})
    assert res.code == 200 and res.header("x-seen") == "OPTIONS:v1"
    routed = await caller.uac.options(udp_target(callee), headers={"x-route": "reply"})
    assert (routed.code, routed.reason) == (488, "From Route")


async def test_invite_provisionals_then_late_final(callee: Callee, caller: SipApp) -> None:
    seen: list[int] = []
    call = caller.uac.invite(udp_target(callee), on_provisional=lambda r: seen.append(r.code))
    iterated = [p.code async for p in call]
    res = await call
    assert res.code == 486
    assert 180 in seen and 180 in iterated
    assert call.request_handle != ""


async def test_a_callback_that_raises_gets_500_and_the_app_serves_on(callee: Callee, caller: SipApp) -> None:
    res = await caller.uac.message(udp_target(callee), body="hi", content_type="text/plain")
    assert (res.code, res.reason) == (500, "SipApp Callback Failed")
    assert [n for n, _ in callee.errors] == ["message"]
    assert (await caller.uac.options(udp_target(callee))).code == 200


class Reliable(SipApp):
    """Sends a reliable 180 and at once a reliable 183 (refused: pending_prack), then 486."""

    def __init__(self, server: str) -> None:
        super().__init__("reliable", server=server, listen="sip:127.0.0.1:0")
        self.server_errors: list[ServerError] = []
        self.told = asyncio.Event()

    async def invite(self, req: SipRequest) -> object:
        req.reply(rel_ringing())
        req.reply(rel_session_progress())
        await self.told.wait()
        return busy()

    def on_error(self, error: ServerError) -> None:
        self.server_errors.append(error)
        self.told.set()


async def test_pending_prack_is_reported_and_the_stream_serves_on(
    server: ServerProcess, caller: SipApp
) -> None:
    callee = await Reliable(server.grpc).start()
    try:
        # no PRACK from the caller: the 180 stays unacknowledged whatever the timing
        res = await caller.uac.invite(udp_target(callee), headers={"require": "100rel"}, manual_prack=True)
        assert res.code == 486, [(e.code, e.message) for e in callee.server_errors]
        assert [e.code for e in callee.server_errors] == [ServerErrorCode.PENDING_PRACK]
        assert "pending_prack" in callee.server_errors[0].message
        assert (await caller.uac.options(udp_target(callee))).code == 200
    finally:
        await callee.stop()


async def test_uac_errors_are_typed(caller: SipApp) -> None:
    with pytest.raises(UacError) as e:
        await caller.uac.bye("no-such-dialog")
    assert e.value.kind is UacErrorKind.UNKNOWN_DIALOG
    with pytest.raises(UacError) as e2:
        await caller.uac.options("not a uri")
    assert e2.value.kind is UacErrorKind.INVALID_URI


async def test_a_refused_start_raises_without_retrying(server: ServerProcess) -> None:
    app = SipApp("bad", server=server.grpc, listen="sip:256.1.1.1:0")
    with pytest.raises(ServerError) as e:
        await app.start()
    assert e.value.code in (ServerErrorCode.INVALID_CONFIG, ServerErrorCode.LISTEN_FAILED)
    assert not app.connected


async def test_stop_is_clean_and_requests_after_it_fail(server: ServerProcess) -> None:
    app = await SipApp("stopper", server=server.grpc, listen="sip:127.0.0.1:0").start()
    await app.stop()
    await asyncio.wait_for(app.wait_closed(), 1)
    assert not app.connected
    with pytest.raises(UacError) as e:
        await app.uac.options("sip:127.0.0.1:9")
    assert e.value.kind is UacErrorKind.NOT_CONNECTED
    await app.stop()  # twice is fine


def test_blocking_facade(server: ServerProcess) -> None:
    with BlockingApp(Callee(server.grpc)) as uas, BlockingApp(SipApp("script", server=server.grpc)) as script:
        res = script.request("OPTIONS", udp_target(uas.app), headers={"x-k": "sync"})
        assert res.code == 200 and res.header("x-seen") == "OPTIONS:sync"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Watcher(SipApp):
    def __init__(self, server: str) -> None:
        super().__init__("watcher", server=server, reconnect=Reconnect(initial_delay=0.05, max_delay=0.2))
        self.starts: list[StartedInfo] = []
        self.disconnects = 0
        self.rejoined = asyncio.Event()

    def on_started(self, info: StartedInfo) -> None:
        self.starts.append(info)
        if info.reconnected:
            self.rejoined.set()

    def on_disconnected(self, error: ServerError | None) -> None:
        self.disconnects += 1

    def options(self, req: SipRequest) -> Reply:
        return ok(headers={"x-by": "watcher"})


async def test_reconnects_when_the_server_restarts() -> None:
    grpc = f"127.0.0.1:{_free_port()}"
    first = start_server({"t1": 100}, grpc=grpc)
    app = Watcher(grpc)
    try:
        await app.start()
        first.stop()
        second = start_server({"t1": 100}, grpc=grpc)
        try:
            await asyncio.wait_for(app.rejoined.wait(), 15)
            assert app.disconnects == 1 and app.connected
            assert app.starts[-1].instance_id == app.starts[0].instance_id
            # it serves again: the server's own listener now reaches the app's callback
            probe = await SipApp("probe", server=grpc, listen="sip:127.0.0.1:0").start()
            try:
                res = await probe.uac.options(f"sip:127.0.0.1:{second.port('udp')}")
                assert res.code == 200 and res.header("x-by") == "watcher"
            finally:
                await probe.stop()
        finally:
            await app.stop()
            second.stop()
    finally:
        first.stop()


async def test_auto_register_and_ping(server: ServerProcess, callee: Callee) -> None:
    registrar = await SipApp(
        "registrar", server=server.grpc, listen="sip:127.0.0.1:0", plugins=["registrar"]
    ).start()
    ua = await SipApp(
        "ua", server=server.grpc, listen="sip:127.0.0.1:0", sip_from="sip:alice@127.0.0.1"
    ).start()
    try:
        reg = await ua.auto.start_register("main", udp_target(registrar), interval=60)
        assert (reg.kind, reg.name, reg.ok, reg.code) == ("register", "main", True, 200)
        contacts = await registrar.registrar.find("sip:alice@127.0.0.1")
        assert len(contacts) == 1
        assert [s.name for s in await ua.auto.registers()] == ["main"]
        ping = await ua.auto.start_ping("p", udp_target(callee), interval=60)
        assert (ping.kind, ping.ok, ping.code) == ("ping", True, 200)
        stopped = await ua.auto.stop_register("main")
        assert stopped.next_in == 0
        assert await registrar.registrar.find("sip:alice@127.0.0.1") == []
        await ua.auto.stop_ping("p")
        assert await ua.auto.pings() == []
    finally:
        await ua.stop()
        await registrar.stop()
