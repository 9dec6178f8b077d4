"""hello: a ten-line SipApp. Without a listen URI it serves the server's own listeners while
it is connected: OPTIONS gets 200 with x-app, an INVITE with x-busy gets 486, others 200.

    clients/python/.venv/bin/python examples/python/hello.py   (NKSIP_SERVER: host:port)
"""

import asyncio
import os

from nksip import Reply, Route, RouteDecision, SipApp, SipRequest, busy, ok


class Hello(SipApp):
    def route(self, req: SipRequest) -> RouteDecision:
        return Route.proxy("sip:pbx@127.0.0.1:5080") if req.ruri.user == "pbx" else Route.process()

    def options(self, req: SipRequest) -> Reply:
        return ok(headers={"x-app": "hello"})

    def invite(self, req: SipRequest) -> Reply:
        return busy() if req.has_header("x-busy") else ok()


async def main() -> None:
    async with Hello("hello", server=os.environ.get("NKSIP_SERVER", "127.0.0.1:50051")) as app:
        print("joined:", app.started_info, flush=True)
        await app.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
