"""pytest plugin: every ``*.yaml`` under a ``conversations`` directory is a conversation test, per channel.

Enable with ``pytest_plugins = ["connectors.pytest_plugin"]`` in the root ``conftest.py``. Each script
runs through the core assistant, the web API and the Slack app (``--conversation-channels=core,web``
to choose). Scripts run against the demo store (embedded once per test session, in memory) unless
``SHOPASSIST_CONVERSATIONS_DATA_DIR`` names a data directory holding the store's own catalog.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from assistant.scripts import Reply, load_script, run_script
from connectors.conversations import CHANNELS, Channel, channel_reply, scripted_service
from connectors.service import ShopService
from retrieval import Store, ensure_demo_data

_servers = ExitStack()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--conversation-channels",
        default=",".join(CHANNELS),
        help=f"Comma-separated channels to run conversation scripts through ({', '.join(CHANNELS)}).",
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    _servers.close()


@functools.cache
def conversation_store() -> Store:
    data_dir = os.environ.get("SHOPASSIST_CONVERSATIONS_DATA_DIR")
    if data_dir:
        return Store.persistent(Path(data_dir))
    store = Store.ephemeral()
    ensure_demo_data(store)
    return store


@functools.cache
def _service() -> ShopService:
    return scripted_service(conversation_store())


@functools.cache
def _reply(channel: Channel) -> Reply:
    return _servers.enter_context(channel_reply(_service(), channel))


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and "conversations" in file_path.parts:
        return ConversationFile.from_parent(parent, path=file_path)
    return None


class ConversationFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        name = load_script(self.path).name
        channels = [c.strip() for c in str(self.config.getoption("conversation_channels")).split(",") if c.strip()]
        for channel in channels:
            if channel not in CHANNELS:
                raise pytest.UsageError(f"unknown conversation channel {channel!r}; expected {', '.join(CHANNELS)}")
            yield ConversationItem.from_parent(self, name=f"{name} [{channel}]", channel=channel)


class ConversationFailed(Exception):
    pass


class ConversationItem(pytest.Item):
    def __init__(self, *, channel: Channel, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.channel = channel

    def runtest(self) -> None:
        store = conversation_store()
        result = run_script(load_script(self.path), _reply(self.channel), store.products.get)
        if not result.passed:
            raise ConversationFailed(f"[{self.channel}]\n" + "\n".join(result.failure_messages()))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: object = None) -> str:
        if isinstance(excinfo.value, ConversationFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"conversation: {self.name}"
