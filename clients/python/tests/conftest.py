from __future__ import annotations

from collections.abc import Iterator

import pytest

from nksip.testing import ServerProcess, find_cli, start_server


def _cli_or_skip() -> None:
    try:
        find_cli()
    except FileNotFoundError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """A real nksip-server (the built CLI) on 127.0.0.1, port 0, short T1."""
    _cli_or_skip()
    with start_server({"t1": 100, "t4": 200}) as s:
        yield s
