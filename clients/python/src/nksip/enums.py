"""Protobuf enum values as the names the SDK's own enums use."""

from __future__ import annotations

from typing import Protocol


class _EnumType(Protocol):
    def Name(self, number: int) -> str: ...  # noqa: N802 (protobuf's spelling)


def enum_name(enum_type: _EnumType, value: int, prefix: str) -> str:
    """The value's name without ``prefix`` (``ERROR_CODE_PENDING_PRACK`` → ``PENDING_PRACK``);
    "" for a value newer than the generated code, which a newer server may send."""
    try:
        return enum_type.Name(value).removeprefix(prefix)
    except ValueError:
        return ""
