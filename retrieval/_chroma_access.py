"""One Chroma client per store, opened on first use by whichever thread comes first, and one writer per data dir.

Embedded Chroma keeps its index in each process's memory: a second process writing the same folder (a CLI
ingest under a running server) leaves the server failing every search until it restarts. So every process
that opens a data dir's embedded Chroma holds a shared lock on it, and a write needs the lock alone. The
locks are the operating system's (``flock``): a process that dies, ``kill -9`` included, holds none.
A Chroma server (``SHOPASSIST_CHROMA_URL``) serves many processes itself and needs no lock; its client gets a
time limit on every request and names the server when it cannot reach it (:func:`bounded_server_client`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from retrieval.errors import DataDirBusyError, RetrievalError

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

LOCK_FILE_NAME = "writer.lock"
# A search answers in milliseconds; one ingest write carries up to 2,000 vectors to a possibly busy server.
SERVER_REQUEST_TIMEOUT_S = 60.0


class DataDirLock:
    """Many reading processes or one writing process of a data dir's vectors.

    One per folder and process (:meth:`of`): the stores of one process share Chroma's in-process client, so
    they count as one reader, and their writes take turns.
    """

    _folders: ClassVar[dict[Path, DataDirLock]] = {}
    _folders_guard = threading.Lock()

    @classmethod
    def of(cls, folder: Path) -> DataDirLock:
        with cls._folders_guard:
            return cls._folders.setdefault(folder.resolve(), cls(folder))

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._descriptor: int | None = None
        self._readers = 0  # stores of this process that opened the folder's vectors
        self._turn = threading.RLock()  # this process's writers, one at a time

    def acquire(self) -> None:
        """One more reader; the first takes the shared lock, refused while another process writes."""
        with self._turn:
            if self._descriptor is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                descriptor = os.open(self.folder / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(descriptor)
                    raise DataDirBusyError(
                        f"{self.folder} is being written by another process (an ingest or a reindex); "
                        "try again when it has finished"
                    ) from None
                self._descriptor = descriptor
            self._readers += 1

    def release(self) -> None:
        """One reader fewer; the last one lets go of the lock."""
        with self._turn:
            self._readers = max(self._readers - 1, 0)
            if self._readers == 0 and self._descriptor is not None:
                os.close(self._descriptor)  # closing the descriptor releases the lock
                self._descriptor = None

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Alone on the folder for the block (the caller holds a reader's share); refused while another process
        has it open."""
        with self._turn:
            descriptor = self._descriptor
            if descriptor is None:
                raise DataDirBusyError(f"{self.folder}: a write needs the folder opened for reading first")
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # A refused conversion may have dropped the shared lock (flock converts by unlocking first).
                fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
                raise DataDirBusyError(
                    f"{self.folder} is in use by another process (a running `shopassist serve`?): embedded "
                    "Chroma takes one writer at a time. Stop that process and try again, or run a Chroma server "
                    "(SHOPASSIST_CHROMA_URL) that every process shares: a running server then picks up a new "
                    "catalog by itself"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_SH)


class ChromaAccess:
    """The store's Chroma client, opened once however many threads ask first (a cold server's first requests
    arrive together), and the right to write through it."""

    def __init__(self, open_client: Callable[[], ClientAPI], lock: DataDirLock | None = None) -> None:
        self._open_client = open_client
        self._lock = lock
        self._client: ClientAPI | None = None
        self._opening = threading.Lock()

    def __call__(self) -> ClientAPI:
        client = self._client
        if client is not None:
            return client
        with self._opening:
            if self._client is None:
                if self._lock is not None:
                    self._lock.acquire()
                try:
                    self._client = self._open_client()
                except BaseException:
                    if self._lock is not None:
                        self._lock.release()
                    raise
            return self._client

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Around every write: alone on the data dir's embedded Chroma (no-op for a server or in memory)."""
        if self._lock is None:
            yield
            return
        self()  # readers hold the shared lock first; the write converts it
        with self._lock.exclusive():
            yield

    def close(self) -> None:
        with self._opening:
            if self._lock is not None and self._client is not None:
                self._lock.release()
            self._client = None


def bounded_server_client(client: ClientAPI, url: str, timeout_s: float) -> ClientAPI:
    """``client`` (a Chroma ``HttpClient``) with every request limited to ``timeout_s`` and failing as a
    :class:`RetrievalError` that names the server.

    Chroma's HTTP client waits forever (``timeout=None``) and lets ``httpx`` errors through, so a stopped server
    surfaced as a bare ``ConnectError`` and a frozen one hung every request thread. Chroma offers no setting for
    either; every request of its HTTP client goes through its ``httpx.Client``'s ``request``, which is wrapped here.
    The connection pool reconnects by itself, so the same client serves again once the server is back.
    """
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if not isinstance(session, httpx.Client):
        raise RetrievalError(
            "this chromadb version's HttpClient keeps no httpx session where shopassist expects it "
            "(client._server._session); install the chromadb version pyproject.toml names"
        )
    session.timeout = httpx.Timeout(timeout_s)
    send = session.request

    def request(*args: Any, **kwargs: Any) -> httpx.Response:
        try:
            return send(*args, **kwargs)
        except httpx.TransportError as error:
            raise RetrievalError(
                f"the Chroma server at {url} is unreachable ({type(error).__name__}: {error}); "
                "searches and ingests resume once it answers again"
            ) from error

    session.request = request  # type: ignore[method-assign]
    return client
