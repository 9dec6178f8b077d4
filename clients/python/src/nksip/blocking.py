"""A small blocking facade for scripts: the SipApp runs on an event loop in a background
thread; the calls here block until the server answers.

    with BlockingApp(MyApp("script", server="127.0.0.1:50051")) as app:
        res = app.request("OPTIONS", "sip:127.0.0.1:5070")
        print(res.code)

Callbacks still run on the background loop (define them as usual, sync or async): they must
not block for long, and they share no lock with the script's thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack

from nksip.app import SipApp
from nksip.dialogs import DialogInfo
from nksip.message import SipResponse
from nksip.reply import Reply
from nksip.uac import UacOptions

T = TypeVar("T")


class BlockingApp:
    def __init__(self, app: SipApp, timeout: float = 60.0) -> None:
        self.app = app
        #: The longest any call here waits, seconds.
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"nksip-{app.name}", daemon=True)
        self._thread.start()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout)

    def start(self) -> Self:
        """Joins the server (see ``SipApp.start``)."""
        self._run(self.app.start())
        return self

    def request(
        self,
        method: str,
        uri: str = "",
        *,
        dialog: str = "",
        subscription: str = "",
        **opts: Unpack[UacOptions],
    ) -> SipResponse:
        """Sends a request and returns its final response; raises UacError."""

        async def go() -> SipResponse:
            return await self.app.uac.request(method, uri, dialog=dialog, subscription=subscription, **opts)

        return self._run(go())

    def reply(self, request_handle: str, reply: Reply) -> None:
        """A late reply (after a callback returned NOREPLY)."""

        async def go() -> None:
            self.app.reply(request_handle, reply)

        self._run(go())

    def dialog(self, handle: str) -> DialogInfo | None:
        return self._run(self.app.dialog(handle))

    def stop(self) -> None:
        """Stops the app and the background loop."""
        if not self._loop.is_running():
            return
        try:
            self._run(self.app.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(self.timeout)
            self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
