"""The app's registrar (NkSIP's nksip_registrar find / qfind / delete / clear), asked over the
app's stream: ``await app.registrar.qfind("sip:alice@example.com")`` gives a URI set ready for
``Route.proxy``. The app must have enabled the ``registrar`` plugin."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nksip.v1 import service_pb2 as pb


class RegistrarError(Exception):
    """A registrar command the server refused (no registrar plugin, invalid AOR) or could not send."""


class AppRegistrar:
    def __init__(self, send: Callable[[pb.ConnectRequest], bool]) -> None:
        self._send = send
        self._next_id = 1
        self._pending: dict[int, asyncio.Future[pb.RegistrarResult]] = {}

    async def find(self, aor: str) -> list[str]:
        """The AOR's contact URIs, highest q first, then newest first."""
        return list((await self._ask(pb.RegistrarCommand.OP_FIND, aor)).uris)

    async def qfind(self, aor: str) -> list[list[str]]:
        """The AOR's contacts grouped by q, highest first: serial groups of parallel targets."""
        r = await self._ask(pb.RegistrarCommand.OP_QFIND, aor)
        return [list(g.uris) for g in r.uri_set]

    async def delete(self, aor: str, contact: str = "") -> bool:
        """Removes the AOR's bindings, or only ``contact``'s; False when there was none."""
        return (await self._ask(pb.RegistrarCommand.OP_DELETE, aor, contact)).deleted

    async def clear(self) -> None:
        """Removes every binding of every AOR of this app."""
        await self._ask(pb.RegistrarCommand.OP_CLEAR, "")

    def result(self, r: pb.RegistrarResult) -> bool:
        """A RegistrarResult from the server; False when nothing here waits for it."""
        f = self._pending.pop(r.id, None)
        if f is None:
            return False
        if not f.done():
            if r.error:
                f.set_exception(RegistrarError(r.error))
            else:
                f.set_result(r)
        return True

    def fail_all(self, why: str) -> None:
        pending = list(self._pending.values())
        self._pending.clear()
        for f in pending:
            if not f.done():
                f.set_exception(RegistrarError(f"registrar command not completed: {why}"))

    async def _ask(self, op: pb.RegistrarCommand.Op, aor: str, contact: str = "") -> pb.RegistrarResult:
        id_ = self._next_id
        self._next_id += 1
        f: asyncio.Future[pb.RegistrarResult] = asyncio.get_running_loop().create_future()
        self._pending[id_] = f
        cmd = pb.RegistrarCommand(id=id_, op=op, aor=aor, contact=contact)
        if not self._send(pb.ConnectRequest(registrar=cmd)):
            self._pending.pop(id_, None)
            raise RegistrarError("SipApp is not connected: registrar command not sent")
        return await f
