"""NkSIP's automatic registrations and pings (nksip_uac_auto_register), kept by the server for
this instance: ``await app.auto.start_register("main", "sip:registrar.example.com")``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nksip.headers import HeadersInput, to_header_ops
from nksip.v1 import service_pb2 as pb
from nksip.v1 import uac_pb2 as upb


@dataclass(frozen=True)
class AutoStatus:
    """One automatic registration or ping and its state."""

    #: ``register`` or ``ping``.
    kind: str
    name: str
    #: The last attempt got a 2xx.
    ok: bool
    #: Status of the last final response; 0 when none came.
    code: int
    #: Seconds until the next attempt (0 once stopped).
    next_in: int

    @staticmethod
    def of(s: pb.AutoStatus) -> AutoStatus:
        kind = "ping" if s.kind == pb.AutoCommand.KIND_PING else "register"
        return AutoStatus(kind, s.name, s.ok, s.code, s.next_in)


class AutoError(Exception):
    """A start/stop/status the server refused, or could not complete."""


class AppAuto:
    def __init__(
        self, send: Callable[[pb.ConnectRequest], bool], changed: Callable[[AutoStatus], None]
    ) -> None:
        self._send = send
        self._changed = changed
        self._next_id = 1
        self._pending: dict[int, asyncio.Future[pb.AutoResult]] = {}

    async def start_register(
        self,
        name: str,
        registrar: str,
        interval: int = 0,
        sip_from: str = "",
        route: Sequence[str] = (),
        headers: HeadersInput | None = None,
        local_host: str = "",
    ) -> AutoStatus:
        """Registers ``sip_from`` (default: the app's) at ``registrar`` with Expires ``interval``
        (0: 300) and keeps it registered; returns the first attempt's result."""
        return await self._start(
            pb.AutoCommand.KIND_REGISTER, name, registrar, interval, sip_from, route, headers, local_host
        )

    async def stop_register(self, name: str) -> AutoStatus:
        """Unregisters (Expires 0) and stops refreshing."""
        return await self._stop(pb.AutoCommand.KIND_REGISTER, name)

    async def registers(self) -> list[AutoStatus]:
        return await self._status(pb.AutoCommand.KIND_REGISTER)

    async def start_ping(
        self,
        name: str,
        uri: str,
        interval: int = 0,
        sip_from: str = "",
        route: Sequence[str] = (),
        headers: HeadersInput | None = None,
        local_host: str = "",
    ) -> AutoStatus:
        """Sends OPTIONS to ``uri`` every ``interval`` seconds (0: 300); the first result."""
        return await self._start(
            pb.AutoCommand.KIND_PING, name, uri, interval, sip_from, route, headers, local_host
        )

    async def stop_ping(self, name: str) -> AutoStatus:
        return await self._stop(pb.AutoCommand.KIND_PING, name)

    async def pings(self) -> list[AutoStatus]:
        return await self._status(pb.AutoCommand.KIND_PING)

    def result(self, r: pb.AutoResult) -> None:
        """An AutoResult from the server (id 0: a change nobody asked about)."""
        if r.id == 0:
            for s in r.entries:
                self._changed(AutoStatus.of(s))
            return
        f = self._pending.pop(r.id, None)
        if f is None or f.done():
            return
        if r.error:
            f.set_exception(AutoError(r.error))
        else:
            f.set_result(r)

    def fail_all(self, why: str) -> None:
        pending = list(self._pending.values())
        self._pending.clear()
        for f in pending:
            if not f.done():
                f.set_exception(AutoError(f"auto register/ping command not completed: {why}"))

    async def _start(
        self,
        kind: pb.AutoCommand.Kind,
        name: str,
        uri: str,
        interval: int,
        sip_from: str,
        route: Sequence[str],
        headers: HeadersInput | None,
        local_host: str,
    ) -> AutoStatus:
        opts = upb.UacOptions(route=list(route), headers=to_header_ops(headers), local_host=local_host)
        opts.__setattr__("from", sip_from)
        cmd = pb.AutoCommand(
            kind=kind, op=pb.AutoCommand.OP_START, name=name, uri=uri, interval=interval, options=opts
        )
        r = await self._ask(cmd)
        return AutoStatus.of(r.entries[0])

    async def _stop(self, kind: pb.AutoCommand.Kind, name: str) -> AutoStatus:
        r = await self._ask(pb.AutoCommand(kind=kind, op=pb.AutoCommand.OP_STOP, name=name))
        return AutoStatus.of(r.entries[0])

    async def _status(self, kind: pb.AutoCommand.Kind) -> list[AutoStatus]:
        r = await self._ask(pb.AutoCommand(kind=kind, op=pb.AutoCommand.OP_STATUS))
        return [AutoStatus.of(s) for s in r.entries]

    async def _ask(self, cmd: pb.AutoCommand) -> pb.AutoResult:
        cmd.id = self._next_id
        self._next_id += 1
        f: asyncio.Future[pb.AutoResult] = asyncio.get_running_loop().create_future()
        self._pending[cmd.id] = f
        if not self._send(pb.ConnectRequest(auto=cmd)):
            self._pending.pop(cmd.id, None)
            raise AutoError("SipApp is not connected: auto register/ping command not sent")
        return await f
