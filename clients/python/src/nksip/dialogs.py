"""Dialog state as the server keeps it (NkSIP's nksip_dialog metadata), for
``SipApp.dialog()`` and ``SipApp.dialogs()``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nksip.v1 import service_pb2 as pb


@dataclass(frozen=True)
class DialogInfo:
    handle: str
    call_id: str
    local_tag: str
    remote_tag: str
    #: ``uac``: the server sent the request that created it; ``uas``: it answered one.
    role: str
    #: Milliseconds since the epoch.
    created: int
    updated: int
    #: Highest CSeq sent / last received; None when none yet.
    local_seq: int | None
    remote_seq: int | None
    local_uri: str
    remote_uri: str
    local_target: str
    remote_target: str
    route_set: list[str] = field(default_factory=list)
    early: bool = False
    secure: bool = False
    #: init, proceeding_uac, ..., confirmed, bye; None without an INVITE usage.
    invite_status: str | None = None
    invite_answered: int | None = None
    invite_local_sdp: bytes | None = None
    invite_remote_sdp: bytes | None = None
    subscriptions: list[str] = field(default_factory=list)

    @staticmethod
    def of(d: pb.DialogInfo) -> DialogInfo:
        return DialogInfo(
            handle=d.handle,
            call_id=d.call_id,
            local_tag=d.local_tag,
            remote_tag=d.remote_tag,
            role="uac" if d.role == "uac" else "uas",
            created=d.created,
            updated=d.updated,
            local_seq=d.local_seq or None,
            remote_seq=d.remote_seq or None,
            local_uri=d.local_uri,
            remote_uri=d.remote_uri,
            local_target=d.local_target,
            remote_target=d.remote_target,
            route_set=list(d.route_set),
            early=d.early,
            secure=d.secure,
            invite_status=d.invite_status or None,
            invite_answered=d.invite_answered or None,
            invite_local_sdp=d.invite_local_sdp or None,
            invite_remote_sdp=d.invite_remote_sdp or None,
            subscriptions=list(d.subscriptions),
        )

    def to_json(self) -> dict[str, Any]:
        """The fields as JSON values, camelCase as the TypeScript SDK prints them (bodies as
        text, absent values left out)."""
        out: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            if v is None:
                continue
            key = "".join(w if i == 0 else w.capitalize() for i, w in enumerate(k.split("_")))
            out[key] = v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v
        return out
