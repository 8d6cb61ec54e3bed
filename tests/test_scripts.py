import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from assistant import Assistant
from assistant.scripts import ScriptError, load_script, run_script
from connectors.cli import app
from connectors.conversations import ConversationStoreConfig, StoreConfigError
from connectors.pytest_plugin import is_store_file, store_config_for
from retrieval import SentenceTransformerEmbedder, Store
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


# A small bakery catalog of our own, in a file without currencies: the store.yaml gives it one.
BAKERY_CSV = """code,name,cost
b-1,Sourdough loaf,4.20
b-2,Rye bread with caraway,3.80
b-3,Butter croissant,1.60
b-4,Almond croissant,2.10
b-5,Oat milk 1 litre,2.30
"""
BAKERY_SCRIPT = """
name: the bakery's own FAQ
turns:
  - user: what is your return policy?
    expect: {intent: faq, faq: {answered: true, id: returns}}
"""


def _store_yaml(folder: Path, **overrides: object) -> Path:
    """A store.yaml for the bakery catalog, which the test puts at ``<data root>/shared/bakery.csv``."""
    products = {"file": "shared/bakery.csv", "mapping": {"id": "code", "title": "name", "price": "cost"}}
    config: dict[str, object] = {"products": {**products, "first": 4, "currency": "EUR"}, "faq": "faq.yaml"}
    config.update(overrides)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "store.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _bakery(tmp_path: Path, **overrides: object) -> Path:
    """Data root ``tmp_path`` with the bakery catalog; returns the store.yaml of its conversation scripts."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "bakery.csv").write_text(BAKERY_CSV)
    store_yaml = _store_yaml(tmp_path / "repo" / "tests" / "conversations" / "bakery", **overrides)
    shutil.copy(FIXTURES / "faq.yaml", store_yaml.parent / "faq.yaml")
    return store_yaml


def test_a_store_yaml_builds_its_catalog_subset_in_its_currency_with_its_faq(
    tmp_path: Path, minilm: SentenceTransformerEmbedder
) -> None:
    store_yaml = _bakery(tmp_path)

    store = ConversationStoreConfig.load(store_yaml, data_root=tmp_path).build(minilm)

    first_four = ["b-1", "b-2", "b-3", "b-4"]  # the first rows of the file, in file order
    products = store.products.get(first_four)
    assert store.products.count() == 4 and set(products) == set(first_four)
    assert {product.currency for product in products.values()} == {"EUR"}
    assert [hit.product.id for hit in store.products.search("croissant", k=2)] == ["b-3", "b-4"]
    assert store.faq.count() == len(yaml.safe_load((FIXTURES / "faq.yaml").read_text())["entries"])
    script = load_script(_write(store_yaml.parent, "returns.yaml", BAKERY_SCRIPT))
    result = run_script(script, Assistant(store).reply, store.products.get)
    assert result.passed, result.failure_messages()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"colour": "red"}, "colour"),
        ({"products": {"file": "x.csv", "mapping": {"cost": "Cost"}}}, "unknown field 'cost'"),
        ({"products": {"file": "x.csv", "first": 0}}, "first"),
    ],
)
def test_store_yaml_mistakes_are_errors_naming_the_file(
    tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    store_yaml = _store_yaml(tmp_path / "conversations" / "shop", **overrides)
    with pytest.raises(StoreConfigError, match=message) as raised:
        ConversationStoreConfig.load(store_yaml, data_root=tmp_path)
    assert str(store_yaml) in str(raised.value)


def test_a_store_yaml_whose_currency_is_no_currency_cannot_build(tmp_path: Path) -> None:
    products = {"file": "shared/bakery.csv", "mapping": {"title": "name", "price": "cost"}, "currency": "doubloons"}
    store_yaml = _bakery(tmp_path, products=products)
    with pytest.raises(StoreConfigError, match="doubloons") as raised:
        ConversationStoreConfig.load(store_yaml, data_root=tmp_path).build()
    assert str(store_yaml) in str(raised.value)


def test_scripts_use_the_nearest_store_yaml_whose_own_files_are_not_scripts(tmp_path: Path) -> None:
    conversations = tmp_path / "tests" / "conversations"
    store_yaml = _store_yaml(conversations / "shop")
    (conversations / "shop" / "faq.yaml").write_text("entries: []\n")
    nested = conversations / "shop" / "returns" / "late.yaml"
    demo = conversations / "demo" / "greeting.yaml"

    assert store_config_for(nested) == store_config_for(conversations / "shop" / "a.yaml") == store_yaml
    assert store_config_for(demo) is None
    assert is_store_file(store_yaml, tmp_path) and is_store_file(conversations / "shop" / "faq.yaml", tmp_path)
    assert not is_store_file(nested, tmp_path) and not is_store_file(demo, tmp_path)


def test_scripts_of_a_store_whose_data_is_missing_fail_naming_the_missing_file(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    scripts = repo / "tests" / "conversations" / "bakery"
    _store_yaml(scripts)
    shutil.copy(FIXTURES / "faq.yaml", scripts / "faq.yaml")
    _write(scripts, "returns.yaml", BAKERY_SCRIPT)
    (repo / "pytest.ini").write_text("[pytest]\n")
    (repo / "conftest.py").write_text('pytest_plugins = ["connectors.pytest_plugin"]\n')

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--conversation-channels=core", "tests"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr  # failed, not skipped or errored
    assert "1 failed" in run.stdout and "skipped" not in run.stdout
    assert f"{tmp_path / 'shared' / 'bakery.csv'} is missing" in run.stdout


def test_a_known_failure_must_say_why(tmp_path: Path) -> None:
    known = _write(tmp_path, "known.yaml", 'name: k\nknown_failure: "not built yet"\nturns:\n  - user: hi\n')
    assert load_script(known).known_failure == "not built yet"
    silent = _write(tmp_path, "silent.yaml", "name: k\nknown_failure: ''\nturns:\n  - user: hi\n")
    with pytest.raises(ScriptError, match="known_failure"):
        load_script(silent)
