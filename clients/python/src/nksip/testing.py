"""Test helpers: start the real nksip-server (its built CLI) on 127.0.0.1 with port 0 and read
its ports from the start-up line, as the project's own cross-process tests do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self


@dataclass
class ServerProcess:
    """A running nksip-server child process."""

    proc: subprocess.Popen[bytes]
    #: gRPC address, ``host:port``.
    grpc: str
    #: ``udp:127.0.0.1:40000``-style listener names.
    listeners: list[str]
    logs: list[dict[str, Any]] = field(default_factory=list)

    def port(self, transport: str = "udp", host: str = "127.0.0.1") -> int:
        for name in self.listeners:
            if name.startswith(f"{transport}:{host}:"):
                return int(name.rsplit(":", 1)[1])
        raise LookupError(f"no {transport} listener on {host}: {self.listeners}")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def find_cli(start: Path | None = None) -> Path:
    """dist/server/src/cli.js of the repository this package lives in (or NKSIP_CLI)."""
    env = os.environ.get("NKSIP_CLI")
    if env:
        return Path(env)
    here = (start or Path(__file__)).resolve()
    for d in here.parents:
        cli = d / "dist" / "server" / "src" / "cli.js"
        if cli.exists():
            return cli
    raise FileNotFoundError("dist/server/src/cli.js not found: run `make build` (or set NKSIP_CLI)")


def start_server(
    config: dict[str, Any] | None = None,
    grpc: str = "127.0.0.1:0",
    node: str = "node",
    cli: Path | None = None,
    timeout: float = 10.0,
) -> ServerProcess:
    """Starts the CLI with a config (written to a temp file) and waits for its start-up line."""
    path = cli or find_cli()
    d = tempfile.mkdtemp(prefix="nksip-py-")
    conf = {"listen": ["sip:127.0.0.1:0"], "grpc": grpc, "logLevel": "info", **(config or {})}
    file = Path(d) / "config.json"
    file.write_text(json.dumps(conf))
    proc = subprocess.Popen(
        [node, str(path), "--config", str(file)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    logs: list[dict[str, Any]] = []
    started: dict[str, Any] = {}
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if isinstance(obj, dict):
                logs.append(obj)
                if obj.get("msg") == "nksip-server started":
                    started.update(obj)
                    ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    if not ready.wait(max(0.0, deadline - time.monotonic())) or not started:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"nksip-server did not start in {timeout} s (exit {proc.returncode})")
    return ServerProcess(proc, str(started["grpc"]), list(started.get("listeners", [])), logs)
