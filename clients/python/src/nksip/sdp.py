"""SDP helpers (NkSIP's nksip_sdp new/increment/update): build a simple offer or an answer,
increment the o= version, set the media direction. They work on SDP text and keep every line
they do not change, in its order."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

_DIRECTIONS = {"a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"}
_STATIC_RTPMAP = {
    "0": "PCMU/8000",
    "3": "GSM/8000",
    "4": "G723/8000",
    "8": "PCMA/8000",
    "9": "G722/8000",
    "18": "G729/8000",
}


@dataclass(frozen=True)
class Media:
    port: int
    #: RTP payload formats; rtpmap lines are added for the static ones known here.
    formats: Sequence[int | str] = (0,)
    media: str = "audio"
    direction: str = "sendrecv"


def _lines(sdp: str) -> list[str]:
    out = re.split(r"\r?\n", sdp)
    while out and out[-1] == "":
        out.pop()
    return out


def _join(ls: Sequence[str]) -> str:
    return "\r\n".join(ls) + "\r\n"


def _ip(host: str) -> str:
    return "IP6" if ":" in host else "IP4"


def _head(user: str, sid: str, host: str) -> list[str]:
    return ["v=0", f"o={user} {sid} {sid} IN {_ip(host)} {host}", "s=-", f"c=IN {_ip(host)} {host}", "t=0 0"]


def new_sdp(
    host: str = "127.0.0.1",
    user: str = "-",
    session_id: int | None = None,
    media: Sequence[Media] = (Media(40000, (0, 8)),),
) -> str:
    """A new SDP offer (NkSIP nksip_sdp:new/2)."""
    out = _head(user, str(session_id if session_id is not None else int(time.time())), host)
    for m in media:
        formats = [str(f) for f in m.formats]
        out.append(f"m={m.media} {m.port} RTP/AVP {' '.join(formats)}")
        out.extend(f"a=rtpmap:{f} {_STATIC_RTPMAP[f]}" for f in formats if f in _STATIC_RTPMAP)
        out.append(f"a={m.direction}")
    return _join(out)


def _answer_direction(offered: str) -> str:
    return {"sendonly": "recvonly", "recvonly": "sendonly"}.get(offered, offered)


def answer_sdp(
    offer: str,
    host: str = "127.0.0.1",
    port: int = 40000,
    formats: Sequence[int | str] | None = None,
    user: str = "-",
) -> str:
    """An answer to ``offer`` (RFC 3264 §6): the same m= sections in order, each keeping the
    offered formats we accept (all when ``formats`` is None) on our port; a section with none
    left is refused with port 0. The direction answers the offered one."""
    accept = [str(f) for f in formats] if formats is not None else None
    out = _head(user, str(int(time.time())), host)
    ls = _lines(offer)
    first_m = next((i for i, x in enumerate(ls) if x.startswith("m=")), len(ls))
    session_dir = next((x for x in ls[:first_m] if x in _DIRECTIONS), None)
    for i, line in enumerate(ls):
        if not line.startswith("m="):
            continue
        fields = line[2:].split()
        media = fields[0] if fields else "audio"
        proto = fields[2] if len(fields) > 2 else "RTP/AVP"
        offered = fields[3:]
        block = []
        for b in ls[i + 1 :]:
            if b.startswith("m="):
                break
            block.append(b)
        kept = [f for f in offered if accept is None or f in accept]
        if not kept:
            out.append(f"m={media} 0 {proto} {offered[0] if offered else '0'}")
            continue
        out.append(f"m={media} {port} {proto} {' '.join(kept)}")
        port += 2
        for b in block:
            fm = re.match(r"^a=(?:rtpmap|fmtp):(\S+)", b)
            if fm and fm.group(1) in kept:
                out.append(b)
        d = next((b for b in block if b in _DIRECTIONS), session_dir or "a=sendrecv")[2:]
        out.append(f"a={_answer_direction(d)}")
    return _join(out)


def increment_sdp(sdp: str) -> str:
    """The same SDP with its o= version one higher (NkSIP nksip_sdp:increment/1)."""
    out = []
    for line in _lines(sdp):
        if line.startswith("o="):
            f = line[2:].split()
            if len(f) < 6 or not f[2].isdigit():
                raise ValueError(f"bad SDP origin line {line}")
            f[2] = str(int(f[2]) + 1)
            line = "o=" + " ".join(f)
        out.append(line)
    return _join(out)


def set_sdp_direction(sdp: str, direction: str) -> str:
    """The same SDP with ``direction`` on every m= section and none at session level."""
    out: list[str] = []
    in_media = False
    for line in _lines(sdp):
        if line in _DIRECTIONS:
            continue
        if line.startswith("m="):
            if in_media:
                out.append(f"a={direction}")
            in_media = True
        out.append(line)
    out.append(f"a={direction}")
    return _join(out)


def sdp_version(sdp: str | bytes) -> str:
    """The o= session version, '' when there is none."""
    text = sdp.decode("latin-1") if isinstance(sdp, bytes) else sdp
    m = re.search(r"^o=\S+ \S+ (\d+)", text, re.MULTILINE)
    return m.group(1) if m else ""
