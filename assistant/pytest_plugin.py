"""pytest plugin: every ``*.yaml`` under a ``conversations`` directory is a conversation test.

Enable with ``pytest_plugins = ["assistant.pytest_plugin"]`` in the root ``conftest.py``. Scripts run
against the demo store (embedded once per test session, in memory) unless a test session sets
``SHOPASSIST_CONVERSATIONS_DATA_DIR`` to a data directory holding the store's own catalog.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.scripts import load_script, run_against
from retrieval import Store, ensure_demo_data


@functools.cache
def conversation_store() -> Store:
    data_dir = os.environ.get("SHOPASSIST_CONVERSATIONS_DATA_DIR")
    if data_dir:
        return Store.persistent(Path(data_dir))
    store = Store.ephemeral()
    ensure_demo_data(store)
    return store


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and "conversations" in file_path.parts:
        return ConversationFile.from_parent(parent, path=file_path)
    return None


class ConversationFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        yield ConversationItem.from_parent(self, name=load_script(self.path).name)


class ConversationFailed(Exception):
    pass


class ConversationItem(pytest.Item):
    def runtest(self) -> None:
        (result,) = run_against(conversation_store(), [load_script(self.path)])
        if not result.passed:
            raise ConversationFailed("\n".join(result.failure_messages()))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: object = None) -> str:
        if isinstance(excinfo.value, ConversationFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"conversation: {self.name}"
