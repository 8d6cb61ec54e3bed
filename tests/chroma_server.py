"""A real Chroma server for tests: ``chroma run`` on a free loopback port, started and stopped at will."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


class ChromaServer:
    """A real ``chroma run`` on a free loopback port, persisting under ``path``; it can stop and start again on
    the same port and path, as a restarted server would."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with socket.socket() as probe:  # a free port; the server binds it a moment later
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, deadline_s: float = 120.0) -> None:
        """Start it and wait until its heartbeat answers; fail with its log if it exits or never answers."""
        # The `chroma` CLI ships with chromadb, next to this interpreter (.venv/bin/chroma).
        executable = Path(sys.executable).with_name("chroma")
        log = self.path / "server.log"
        command = [str(executable), "run", "--path", str(self.path / "data")]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        with log.open("ab") as output:  # a file, not a pipe: a chatty server never blocks on a full pipe
            self.process = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},  # chromadb's switch for usage reports
            )
        give_up_at = time.monotonic() + deadline_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"chroma run exited with {self.process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > give_up_at:
                self.stop()
                raise RuntimeError(f"chroma run did not answer within {deadline_s:.0f} s:\n{log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @contextlib.contextmanager
    def frozen(self, at_most_s: float = 60.0) -> Iterator[None]:
        """The server process suspended for the block (SIGSTOP): connections open, nothing answers.

        It resumes after ``at_most_s`` even inside the block, so that a client which would wait forever
        gets its answer late (and its test fails) instead of hanging the test run.
        """
        if self.process is None:
            raise RuntimeError("the Chroma server is not running")
        pid = self.process.pid
        os.kill(pid, signal.SIGSTOP)
        resume = threading.Timer(at_most_s, os.kill, (pid, signal.SIGCONT))
        resume.start()
        try:
            yield
        finally:
            resume.cancel()
            os.kill(pid, signal.SIGCONT)
