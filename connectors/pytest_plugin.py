"""pytest plugin: every ``*.yaml`` under a ``conversations`` directory is a conversation test, per channel.

Enable with ``pytest_plugins = ["connectors.pytest_plugin"]`` in the root ``conftest.py``. Each script
runs through the core assistant, the web API and the Slack app (``--conversation-channels=core,web``
to choose).

A script runs against the store of the nearest ``store.yaml`` in its directory or above it (up to the
``conversations`` directory; see :class:`connectors.conversations.ConversationStoreConfig`): products
files there are relative to the parent of pytest's rootdir, so ``shared/data/…`` is read in place from
beside the repository. That ``store.yaml`` and the FAQ it names are not scripts. Scripts without one run
against the demo store, or against ``SHOPASSIST_CONVERSATIONS_DATA_DIR``'s store when that is set. Each
store is built once per test session, in memory, and shared by its scripts and channels; a store that
cannot be built (its data is missing) fails each of its scripts with a message naming what is missing.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from assistant.scripts import Reply, load_script, run_script
from connectors.conversations import (
    CHANNELS,
    STORE_CONFIG_NAME,
    Channel,
    ConversationStoreConfig,
    StoreConfigError,
    channel_reply,
    scripted_service,
)
from connectors.service import ShopService
from retrieval import Embedder, Settings, Store, embedder_from_settings, ensure_demo_data

_servers = ExitStack()
# Built stores, and the error of each store that could not be built (so a missing catalog is not re-read per script).
_configured_stores: dict[Path, Store | StoreConfigError] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--conversation-channels",
        default=",".join(CHANNELS),
        help=f"Comma-separated channels to run conversation scripts through ({', '.join(CHANNELS)}).",
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    _servers.close()


@functools.cache
def _embedder() -> Embedder:
    """One model for every in-memory conversation store (the backend a new store would get)."""
    return embedder_from_settings(Settings())


@functools.cache
def conversation_store() -> Store:
    """The store of scripts without a ``store.yaml``: the demo, embedded once per test session."""
    data_dir = os.environ.get("SHOPASSIST_CONVERSATIONS_DATA_DIR")
    if data_dir:
        return Store.persistent(Path(data_dir))
    store = Store.ephemeral(embedder=_embedder())
    ensure_demo_data(store)
    return store


def configured_store(store_yaml: Path, data_root: Path) -> Store:
    """The store ``store_yaml`` describes, built on first use; raises :class:`StoreConfigError` if it cannot be."""
    if store_yaml not in _configured_stores:
        try:
            _configured_stores[store_yaml] = ConversationStoreConfig.load(store_yaml, data_root).build(_embedder())
        except StoreConfigError as error:
            _configured_stores[store_yaml] = error
    built = _configured_stores[store_yaml]
    if isinstance(built, StoreConfigError):
        raise built
    return built


def _store(store_yaml: Path | None, data_root: Path) -> Store:
    return conversation_store() if store_yaml is None else configured_store(store_yaml, data_root)


@functools.cache
def _service(store_yaml: Path | None, data_root: Path) -> ShopService:
    return scripted_service(_store(store_yaml, data_root))


@functools.cache
def _reply(channel: Channel, store_yaml: Path | None, data_root: Path) -> Reply:
    return _servers.enter_context(channel_reply(_service(store_yaml, data_root), channel))


def store_config_for(script: Path) -> Path | None:
    """The nearest ``store.yaml`` from the script's directory up to its ``conversations`` directory."""
    top = len(script.parts) - 1 - script.parts[::-1].index("conversations")
    for depth in range(len(script.parts) - 1, top, -1):
        candidate = Path(*script.parts[:depth]) / STORE_CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def is_store_file(path: Path, data_root: Path) -> bool:
    """A store's own config or FAQ, which lie among its scripts but are not scripts."""
    if path.name == STORE_CONFIG_NAME:
        return True
    store_yaml = store_config_for(path)
    if store_yaml is None:
        return False
    try:
        return ConversationStoreConfig.load(store_yaml, data_root).faq.resolve() == path.resolve()
    except StoreConfigError:
        return False  # the scripts of that store report the broken config


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml") or "conversations" not in file_path.parts:
        return None
    if is_store_file(file_path, parent.config.rootpath.parent):
        return None
    return ConversationFile.from_parent(parent, path=file_path)


class ConversationFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        script = load_script(self.path)
        name = script.name
        channels = [c.strip() for c in str(self.config.getoption("conversation_channels")).split(",") if c.strip()]
        store_yaml = store_config_for(self.path)
        for channel in channels:
            if channel not in CHANNELS:
                raise pytest.UsageError(f"unknown conversation channel {channel!r}; expected {', '.join(CHANNELS)}")
            item = ConversationItem.from_parent(
                self, name=f"{name} [{channel}]", channel=channel, store_yaml=store_yaml
            )
            if script.known_failure:
                item.add_marker(pytest.mark.xfail(reason=script.known_failure, raises=ConversationFailed, strict=True))
            yield item


class ConversationFailed(Exception):
    """A turn did not meet its expectations."""


class StoreUnavailable(Exception):
    """The script's store could not be built (e.g. its catalog file is missing): never an expected failure."""


class ConversationItem(pytest.Item):
    def __init__(self, *, channel: Channel, store_yaml: Path | None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.channel = channel
        self.store_yaml = store_yaml

    def runtest(self) -> None:
        data_root = self.config.rootpath.parent
        try:
            store = _store(self.store_yaml, data_root)
        except StoreConfigError as error:
            raise StoreUnavailable(f"[{self.channel}] {error}") from error
        reply = _reply(self.channel, self.store_yaml, data_root)
        result = run_script(load_script(self.path), reply, store.products.get)
        if not result.passed:
            raise ConversationFailed(f"[{self.channel}]\n" + "\n".join(result.failure_messages()))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: object = None) -> str:
        if isinstance(excinfo.value, ConversationFailed | StoreUnavailable):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"conversation: {self.name}"
