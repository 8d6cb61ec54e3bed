"""Scripted conversation tests: YAML files a store writes to check what its assistant says.

```yaml
name: budget tv then cheaper
turns:
  - user: I'm looking for a 4k TV under $600
    expect:
      intent: product_search
      slots: {category: TVs, price_max: 600}
      products: {min: 3}
      every_product: {category: TVs, price: {lte: 600}}
```

Every turn of a conversation runs and is reported, even after an earlier one failed.
"""

from __future__ import annotations

import operator as op
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from assistant.errors import AssistantError, ScriptError
from assistant.turn import INTENTS, Turn
from retrieval import Product

EXPECT_KEYS = {"intent", "slots", "products", "every_product", "top_product", "faq", "reply", "handoff", "clarify"}
OPERATORS = {"eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "not_contains", "matches"}
_SUB_KEYS = {
    "products": {"min", "max"},
    "faq": {"answered", "id"},
    "reply": {"contains", "contains_any", "not_contains", "matches"},
}

_ORDERING: dict[str, Callable[[Any, Any], Any]] = {"lt": op.lt, "lte": op.le, "gt": op.gt, "gte": op.ge}
Reply = Callable[[str, str], Turn]
ProductLookup = Callable[[Sequence[str]], Mapping[str, Product]]


@dataclass(frozen=True)
class ScriptTurn:
    user: str
    expect: dict[str, Any]


@dataclass(frozen=True)
class Script:
    path: Path
    name: str
    turns: tuple[ScriptTurn, ...]
    # Why the assistant does not behave as expected yet: the test suite expects the script to fail (and fails
    # when it starts passing, so the note is removed), and a report shows it apart from regressions.
    known_failure: str | None = None


@dataclass
class Failure:
    key: str
    expected: Any
    actual: Any


@dataclass
class TurnResult:
    index: int
    user: str
    actual: dict[str, Any]
    failures: list[Failure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class ScriptResult:
    script: Script
    turns: list[TurnResult]

    @property
    def passed(self) -> bool:
        return all(turn.passed for turn in self.turns)

    def failure_messages(self) -> list[str]:
        return [
            f"{self.script.path}: turn {turn.index} ({turn.user!r}): {failure.key}: "
            f"expected {failure.expected!r}, got {failure.actual!r}"
            for turn in self.turns
            for failure in turn.failures
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "file": str(self.script.path),
            "name": self.script.name,
            "passed": self.passed,
            "turns": [
                {
                    "index": turn.index,
                    "user": turn.user,
                    "passed": turn.passed,
                    "actual": turn.actual,
                    "failures": [vars(failure) for failure in turn.failures],
                }
                for turn in self.turns
            ],
        }


def _validate_expect(path: Path, index: int, expect: Any) -> dict[str, Any]:
    where = f"{path}: turn {index}"
    if not isinstance(expect, dict):
        raise ScriptError(f"{where}: 'expect' must be a mapping")
    unknown = set(expect) - EXPECT_KEYS
    if unknown:
        raise ScriptError(f"{where}: unknown expect key(s) {sorted(unknown)}; known: {sorted(EXPECT_KEYS)}")
    for key, allowed in _SUB_KEYS.items():
        value = expect.get(key)
        if value is not None and (not isinstance(value, dict) or set(value) - allowed):
            raise ScriptError(f"{where}: {key} takes a mapping with keys {sorted(allowed)}")
    if "intent" in expect and expect["intent"] not in INTENTS:
        raise ScriptError(f"{where}: unknown intent {expect['intent']!r}; known: {', '.join(INTENTS)}")
    for key in ("every_product", "top_product"):
        for field_name, condition in (expect.get(key) or {}).items():
            if isinstance(condition, dict) and set(condition) - OPERATORS:
                bad = sorted(set(condition) - OPERATORS)
                raise ScriptError(f"{where}: {key}.{field_name}: unknown operator(s) {bad}; known: {sorted(OPERATORS)}")
    return expect


def load_script(path: Path) -> Script:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ScriptError(f"{path}: cannot read conversation script: {error}") from error
    if not isinstance(document, dict) or set(document) - {"name", "turns", "description", "known_failure"}:
        raise ScriptError(f"{path}: expected a mapping with 'name' and 'turns'")
    raw_turns = document.get("turns")
    if not isinstance(raw_turns, list) or not raw_turns:
        raise ScriptError(f"{path}: 'turns' must be a non-empty list")
    turns = []
    for index, raw in enumerate(raw_turns, start=1):
        if not isinstance(raw, dict) or not isinstance(raw.get("user"), str) or set(raw) - {"user", "expect"}:
            raise ScriptError(f"{path}: turn {index} must have 'user' (text) and optional 'expect'")
        turns.append(ScriptTurn(raw["user"], _validate_expect(path, index, raw.get("expect") or {})))
    known_failure = document.get("known_failure")
    if known_failure is not None and not (isinstance(known_failure, str) and known_failure.strip()):
        raise ScriptError(f"{path}: 'known_failure' must say why, as text")
    return Script(path, str(document.get("name") or path.stem), tuple(turns), known_failure)


def find_scripts(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            found.append(path)
    return found


def _norm(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _compare(operator: str, actual: Any, expected: Any) -> bool:
    try:
        if operator == "eq":
            return bool(_norm(actual) == _norm(expected))
        if operator == "ne":
            return bool(_norm(actual) != _norm(expected))
        if operator in ("lt", "lte", "gt", "gte"):
            if actual is None:
                return False
            return bool(_ORDERING[operator](actual, expected))
        if operator == "in":
            return _norm(actual) in [_norm(item) for item in expected]
        if operator == "not_in":
            return _norm(actual) not in [_norm(item) for item in expected]
        if operator == "contains":
            return str(expected).casefold() in str(actual).casefold()
        if operator == "not_contains":
            return str(expected).casefold() not in str(actual).casefold()
        return re.search(str(expected), str(actual), re.IGNORECASE) is not None  # matches
    except TypeError:
        return False


def _field(product: Product, name: str) -> Any:
    if name.startswith("attributes."):
        return product.attributes.get(name.removeprefix("attributes."))
    return getattr(product, name, None)


def _check_products(
    key: str, conditions: Mapping[str, Any], products: Sequence[Product], failures: list[Failure]
) -> None:
    for product in products:
        for name, condition in conditions.items():
            checks = condition.items() if isinstance(condition, dict) else [("eq", condition)]
            actual = _field(product, name)
            for operator, expected in checks:
                if not _compare(operator, actual, expected):
                    failures.append(Failure(f"{key}.{name}.{operator}", expected, f"{actual!r} ({product.id})"))


def _slots_match(expected: Any, actual: Any) -> bool:
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(_slots_match(e, a) for e, a in zip(expected, actual, strict=True))
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return abs(float(expected) - float(actual)) < 1e-6
    return bool(_norm(expected) == _norm(actual))


def check_turn(expect: Mapping[str, Any], turn: Turn, products: Sequence[Product]) -> list[Failure]:
    """Every expectation that the turn does not meet, as (key, expected, actual)."""
    failures: list[Failure] = []
    if "intent" in expect and turn.intent != expect["intent"]:
        failures.append(Failure("intent", expect["intent"], turn.intent))
    for name, expected in (expect.get("slots") or {}).items():
        actual = turn.slots.get(name)
        if not _slots_match(expected, actual):
            failures.append(Failure(f"slots.{name}", expected, actual))
    bounds = expect.get("products") or {}
    if "min" in bounds and len(products) < bounds["min"]:
        failures.append(Failure("products.min", bounds["min"], len(products)))
    if "max" in bounds and len(products) > bounds["max"]:
        failures.append(Failure("products.max", bounds["max"], len(products)))
    _check_products("every_product", expect.get("every_product") or {}, products, failures)
    if "top_product" in expect:
        if products:
            _check_products("top_product", expect["top_product"], products[:1], failures)
        else:
            failures.append(Failure("top_product", expect["top_product"], "no products"))
    faq = expect.get("faq") or {}
    if "answered" in faq and bool(turn.faq_sources) != faq["answered"]:
        failures.append(Failure("faq.answered", faq["answered"], bool(turn.faq_sources)))
    if "id" in faq and faq["id"] not in turn.faq_sources:
        failures.append(Failure("faq.id", faq["id"], turn.faq_sources))
    reply = expect.get("reply") or {}
    text = turn.text.casefold()
    for needle in _as_list(reply.get("contains")):
        if str(needle).casefold() not in text:
            failures.append(Failure("reply.contains", needle, turn.text))
    if "contains_any" in reply and not any(str(n).casefold() in text for n in _as_list(reply["contains_any"])):
        failures.append(Failure("reply.contains_any", reply["contains_any"], turn.text))
    for needle in _as_list(reply.get("not_contains")):
        if str(needle).casefold() in text:
            failures.append(Failure("reply.not_contains", needle, turn.text))
    if "matches" in reply and not re.search(str(reply["matches"]), turn.text, re.IGNORECASE):
        failures.append(Failure("reply.matches", reply["matches"], turn.text))
    for flag in ("handoff", "clarify"):
        if flag in expect and getattr(turn, flag) != expect[flag]:
            failures.append(Failure(flag, expect[flag], getattr(turn, flag)))
    return failures


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def run_script(script: Script, reply: Reply, lookup: ProductLookup, session_id: str | None = None) -> ScriptResult:
    """Play the script against ``reply(session_id, text)``; one fresh session per script."""
    session = session_id or f"script:{script.path.stem}"
    results = []
    for index, step in enumerate(script.turns, start=1):
        try:
            turn = reply(session, step.user)
        except AssistantError as error:
            results.append(
                TurnResult(index, step.user, {"error": str(error)}, [Failure("reply", "a turn", str(error))])
            )
            continue
        found = lookup([card.id for card in turn.products])
        products = [found[card.id] for card in turn.products if card.id in found]
        actual = {
            "intent": turn.intent,
            "slots": turn.slots,
            "products": [card.id for card in turn.products],
            "faq_sources": turn.faq_sources,
            "handoff": turn.handoff,
            "clarify": turn.clarify,
            "reply": turn.text,
        }
        results.append(TurnResult(index, step.user, actual, check_turn(step.expect, turn, products)))
    return ScriptResult(script, results)
