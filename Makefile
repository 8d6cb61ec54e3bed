# Two commands: `make run` and `make test`. Both set up .venv on a fresh machine first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test setup system-packages lint typecheck bench screenshots clean

setup: $(STAMP)

# Only the tests need these (make run does not): the browser tests drive Debian's chromium through Playwright (never a browser Playwright downloads);
# the emoji font makes the widget's 👍/👎 render in screenshots.
system-packages:
	@command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi "color emoji" || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji; }

# torch goes in first, pinned, so the project's range never pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The demo store with the chat widget, the agent console and the API; `shopassist chat` is the terminal chat.
run: setup
	$(BIN)/shopassist serve

test: setup system-packages
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/ingest_search.py
	$(BIN)/python benchmarks/dialogue.py
	$(BIN)/python benchmarks/channels.py
	$(BIN)/python benchmarks/title_retrieval.py

# Refresh the README's pictures of the widget and the agent console.
screenshots: setup system-packages
	SHOPASSIST_SCREENSHOTS=docs $(BIN)/python -m pytest tests/test_browser.py -q

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
