import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant import Assistant
from assistant.scripts import ScriptError, load_script, run_script
from connectors.cli import app
from retrieval import Store
from tests.test_cli import FIXTURES, MAP_ARGS

PASSING = """
name: fixture tv
turns:
  - user: 4k tv under $400
    expect:
      intent: product_search
      slots: {category: TVs, price_max: 400}
      every_product: {category: tvs, price: {lte: 400}, in_stock: true}
"""
FAILING = """
name: wrong on purpose
turns:
  - user: 4k tv under $400
    expect: {slots: {price_max: 999}, products: {min: 9}, top_product: {brand: {eq: Sony}}}
  - user: what is your return policy?
    expect: {intent: faq, faq: {answered: true, id: returns}, reply: {contains: "30 days"}}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ("{intent: faq, colour: red}", r"turn 1: unknown expect key\(s\) \['colour'\]"),
        ("{intent: shopping}", "unknown intent 'shopping'"),
        ("{every_product: {price: {below: 5}}}", r"every_product.price: unknown operator\(s\) \['below'\]"),
        ("{products: {least: 1}}", "products takes a mapping with keys"),
    ],
)
def test_script_mistakes_are_errors_naming_file_turn_and_key(tmp_path: Path, expect: str, message: str) -> None:
    path = _write(tmp_path, "bad.yaml", f"name: bad\nturns:\n  - user: hi\n    expect: {expect}\n")
    with pytest.raises(ScriptError, match=message) as raised:
        load_script(path)
    assert "bad.yaml" in str(raised.value)


def test_every_turn_runs_and_failures_name_key_expected_and_actual(loaded_store: Store, tmp_path: Path) -> None:
    assistant = Assistant(loaded_store)
    result = run_script(load_script(_write(tmp_path, "f.yaml", FAILING)), assistant.reply, loaded_store.products.get)
    assert not result.passed
    first, second = result.turns
    assert {failure.key for failure in first.failures} == {"slots.price_max", "products.min", "top_product.brand.eq"}
    assert second.passed and second.actual["faq_sources"] == ["returns"]
    messages = result.failure_messages()
    assert any("f.yaml: turn 1" in m and "slots.price_max: expected 999, got 400.0" in m for m in messages)

    passing = run_script(load_script(_write(tmp_path, "p.yaml", PASSING)), assistant.reply, loaded_store.products.get)
    assert passing.passed, passing.failure_messages()


def test_cli_runs_a_directory_against_a_data_dir_with_json_and_junit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "var"
    monkeypatch.setenv("SHOPASSIST_DATA_DIR", str(data_dir))
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", "products", str(FIXTURES / "products.csv"), *MAP_ARGS]).exit_code == 0
    assert runner.invoke(app, ["ingest", "faq", str(FIXTURES / "faq.yaml")]).exit_code == 0
    scripts = tmp_path / "scripts"
    (scripts / "nested").mkdir(parents=True)
    _write(scripts, "pass.yaml", PASSING)
    _write(scripts / "nested", "fail.yaml", FAILING)
    junit = tmp_path / "report.xml"

    result = runner.invoke(
        app, ["test-conversations", str(scripts), "--catalog", str(data_dir), "--json", "--junit", str(junit)]
    )
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert (payload["passed"], payload["failed"]) == (1, 1)
    failed = next(r for r in payload["results"] if not r["passed"])
    assert failed["name"] == "wrong on purpose" and len(failed["turns"]) == 2
    assert failed["turns"][0]["failures"][0].keys() == {"key", "expected", "actual"}
    assert failed["turns"][0]["actual"]["intent"] == "product_search"
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")

    only_passing = runner.invoke(app, ["test-conversations", str(scripts / "pass.yaml"), "--catalog", str(data_dir)])
    assert only_passing.exit_code == 0 and "1 passed, 0 failed" in only_passing.output

    for channel in ("web", "slack"):
        through = runner.invoke(
            app, ["test-conversations", str(scripts), "--catalog", str(data_dir), "--channel", channel, "--json"]
        )
        payload = json.loads(through.stdout)
        assert through.exit_code == 1 and (payload["passed"], payload["failed"]) == (1, 1), channel
        failed = next(r for r in payload["results"] if not r["passed"])
        assert failed["turns"][0]["actual"]["slots"]["price_max"] == 400, channel
