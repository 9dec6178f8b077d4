"""The write side of the app's stream: what is queued while a write goes out leaves batched."""

from __future__ import annotations

import asyncio

from nksip.app import _drain
from nksip.v1 import service_pb2 as pb


def test_queued_messages_leave_as_one_request_batch_and_start_alone() -> None:
    async def run() -> list[pb.ConnectRequest]:
        queue: asyncio.Queue[pb.ConnectRequest | None] = asyncio.Queue()
        queue.put_nowait(pb.ConnectRequest(start=pb.Start(app="a")))
        for i in (1, 2, 3):
            queue.put_nowait(pb.ConnectRequest(answer=pb.CallbackAnswer(id=i)))
        queue.put_nowait(None)
        return [m async for m in _drain(queue)]

    out = asyncio.run(run())
    assert [m.WhichOneof("msg") for m in out] == ["start", "batch"]
    assert [m.answer.id for m in out[1].batch.messages] == [1, 2, 3]


def test_a_single_message_is_not_wrapped() -> None:
    async def run() -> list[pb.ConnectRequest]:
        queue: asyncio.Queue[pb.ConnectRequest | None] = asyncio.Queue()
        queue.put_nowait(pb.ConnectRequest(stop=pb.Stop()))
        queue.put_nowait(None)
        return [m async for m in _drain(queue)]

    assert [m.WhichOneof("msg") for m in asyncio.run(run())] == ["stop"]
