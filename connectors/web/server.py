"""uvicorn in a background thread on a loopback port: for conversation runs through the web API, tests, benchmarks;
and the agent token ``shopassist serve`` makes when none is configured."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from connectors.errors import ConnectorError


class BackgroundServer:
    """``with BackgroundServer(app) as server: httpx.get(server.url + "/healthz")``; port 0 picks a free one."""

    def __init__(
        self,
        app: FastAPI,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        start_timeout: float = 60.0,
        stop_timeout: float = 300.0,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> BackgroundServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConnectorError(f"the web server did not start on {self.url}")
            time.sleep(0.01)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            # Shutdown waits for the app's warm-up thread, which may be inside ONNX Runtime or PyTorch: a process
            # that exits before it finishes is aborted ("terminate called without an active exception").
            self._thread.join(timeout=self.stop_timeout)
            if self._thread.is_alive():
                raise ConnectorError(f"the web server on {self.url} did not stop within {self.stop_timeout:.0f} s")


AGENT_TOKEN_FILE = "agent-token"


def stored_agent_token(data_dir: Path) -> Path:
    """The file holding the agent token made for a server without SHOPASSIST_AGENT_TOKEN (made once, owner-only).

    The token lives in a file rather than in printed output, so it never lands in a terminal log or a journal.
    """
    path = data_dir / AGENT_TOKEN_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(secrets.token_urlsafe(24) + "\n")
    return path
