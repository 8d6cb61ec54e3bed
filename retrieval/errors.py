"""Exception hierarchy of the retrieval package: catch ``RetrievalError`` for all of them."""

from __future__ import annotations

from dataclasses import dataclass


class RetrievalError(Exception):
    """Root of every error raised by :mod:`retrieval`."""


@dataclass(frozen=True)
class RowError:
    """One rejected input row: where it is and what is wrong with it."""

    source: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.field}: {self.message}"


class LoadError(RetrievalError):
    """A catalog or FAQ file cannot be read, or (in strict mode) has bad rows."""

    def __init__(self, message: str, row_errors: list[RowError] | None = None) -> None:
        self.row_errors = row_errors or []
        details = "".join(f"\n  {error}" for error in self.row_errors[:20])
        more = len(self.row_errors) - 20
        if more > 0:
            details += f"\n  … and {more} more"
        super().__init__(message + details)


class IndexMismatchError(RetrievalError):
    """The stored vectors were made by another embedding model than the configured one."""


class EmbeddingError(RetrievalError):
    """The embedding model cannot be loaded or used."""


class DataDirBusyError(RetrievalError):
    """Another process holds the data dir's embedded vectors: a write while it reads, or a read while it writes."""
