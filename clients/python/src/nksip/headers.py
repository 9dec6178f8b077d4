"""Header edits for replies, proxied requests and UAC requests (proto HeaderOp)."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nksip.v1 import decisions_pb2 as pb


class HeaderOpKind(enum.Enum):
    """What an edit does to the header it names."""

    #: Append a line after any existing ones.
    ADD = pb.HeaderOp.KIND_ADD
    #: Remove every line of the header, then add this value (an empty value only removes).
    REPLACE = pb.HeaderOp.KIND_REPLACE
    #: Remove every line of the header.
    REMOVE = pb.HeaderOp.KIND_REMOVE
    #: Put a line before any existing ones.
    INSERT = pb.HeaderOp.KIND_INSERT


@dataclass(frozen=True)
class HeaderEdit:
    """One edit of a message's headers."""

    op: HeaderOpKind
    name: str
    value: str = ""


def add_header(name: str, value: str) -> HeaderEdit:
    return HeaderEdit(HeaderOpKind.ADD, name, value)


def replace_header(name: str, value: str) -> HeaderEdit:
    return HeaderEdit(HeaderOpKind.REPLACE, name, value)


def insert_header(name: str, value: str) -> HeaderEdit:
    return HeaderEdit(HeaderOpKind.INSERT, name, value)


def remove_header(name: str) -> HeaderEdit:
    return HeaderEdit(HeaderOpKind.REMOVE, name)


#: Headers to set: a list of edits, or a mapping ``{name: value | [values]}`` whose entries
#: are all added.
HeadersInput = Sequence[HeaderEdit] | Mapping[str, str | Sequence[str]]


def to_header_ops(headers: HeadersInput | None) -> list[pb.HeaderOp]:
    """Header input as the contract's header operations."""
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        ops: list[pb.HeaderOp] = []
        for name, v in headers.items():
            for value in [v] if isinstance(v, str) else v:
                ops.append(pb.HeaderOp(kind=pb.HeaderOp.KIND_ADD, name=name, value=value))
        return ops
    out: list[pb.HeaderOp] = []
    for e in headers:
        if not isinstance(e, HeaderEdit):
            raise TypeError(f"not a HeaderEdit: {e!r}")
        value = "" if e.op is HeaderOpKind.REMOVE else e.value
        out.append(pb.HeaderOp(kind=e.op.value, name=e.name, value=value))
    return out
