import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.cli import app
from tests.conftest import FIXTURE_MAPPING, FIXTURES

runner = CliRunner()
MAP_ARGS = [arg for field, column in FIXTURE_MAPPING.items() for arg in ("--map", f"{field}={column}")]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOPASSIST_DATA_DIR", str(tmp_path / "var"))
    return tmp_path / "var"


@pytest.fixture
def cli_store(data_dir: Path) -> Path:
    result = runner.invoke(app, ["ingest", "products", str(FIXTURES / "products.csv"), *MAP_ARGS])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["ingest", "faq", str(FIXTURES / "faq.yaml")])
    assert result.exit_code == 0, result.output
    return data_dir


def _json_lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_ingest_reports_and_is_idempotent(cli_store: Path) -> None:
    result = runner.invoke(app, ["ingest", "products", str(FIXTURES / "products.csv"), *MAP_ARGS])
    assert result.exit_code == 0
    assert "0 added, 0 updated, 12 unchanged" in result.output
    assert "0 texts embedded" in result.output


def test_ingest_skips_bad_rows_and_strict_fails(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("title,price\nGood,1\nBad,oops\n")
    result = runner.invoke(app, ["ingest", "products", str(path)])
    assert result.exit_code == 0
    assert "1 added" in result.output and "1 skipped" in result.output
    assert "bad.csv:3: price" in result.output
    strict = runner.invoke(app, ["ingest", "products", str(path), "--strict"])
    assert strict.exit_code != 0
    assert "bad.csv:3: price" in str(strict.exception)


def test_search_json_applies_words_as_filters(cli_store: Path) -> None:
    result = runner.invoke(app, ["search", "4k tv under 500", "--json"])
    assert result.exit_code == 0, result.output
    (payload,) = _json_lines(result.stdout)
    products = payload["products"]
    assert isinstance(products, list) and products
    assert all(p["category"] == "TVs" and p["price"] <= 500 and "score" in p for p in products)


def test_search_and_faq_batch_print_one_object_per_query(cli_store: Path, tmp_path: Path) -> None:
    batch = tmp_path / "queries.txt"
    batch.write_text("OLED65C3PUA\nnoise cancelling headphones\n\n")
    result = runner.invoke(app, ["search", "--batch", str(batch), "--json", "--k", "2"])
    assert result.exit_code == 0, result.output
    first, second = _json_lines(result.stdout)
    assert first["products"][0]["id"] == "tv-2"  # type: ignore[index]
    assert len(second["products"]) == 2  # type: ignore[arg-type]

    batch.write_text("how much is shipping\nwhat is the meaning of life\n")
    result = runner.invoke(app, ["faq", "--batch", str(batch), "--json"])
    answered, declined = _json_lines(result.stdout)
    assert answered["answered"] is True and answered["id"] == "shipping"
    assert declined["answered"] is False and declined["answer"] is None


def test_faq_json(cli_store: Path) -> None:
    result = runner.invoke(app, ["faq", "which payment methods do you take", "--json"])
    (payload,) = _json_lines(result.stdout)
    assert payload["answered"] is True and payload["id"] == "payment"
    assert isinstance(payload["score"], float) and payload["score"] >= 0.5


def test_ask_json_is_a_serialised_turn(cli_store: Path) -> None:
    result = runner.invoke(app, ["ask", "wireless headphones under $300", "--session", "abc", "--json"])
    assert result.exit_code == 0, result.output
    (turn,) = _json_lines(result.stdout)
    assert turn["session_id"] == "abc" and turn["intent"] == "product_search"
    assert all(card["price"] <= 300 for card in turn["products"])  # type: ignore[index, union-attr]


def test_batch_needs_json(cli_store: Path, tmp_path: Path) -> None:
    batch = tmp_path / "q.txt"
    batch.write_text("tv\n")
    result = runner.invoke(app, ["search", "--batch", str(batch)])
    assert result.exit_code != 0
    assert "--json" in result.output


def test_chat_answers_until_an_empty_line(cli_store: Path) -> None:
    result = runner.invoke(app, ["chat"], input="how much is shipping\n\n")
    assert result.exit_code == 0, result.output
    assert "Shipping is free" in result.output


def test_console_script_prints_a_clear_error_and_exits_1(data_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "bad.csv"
    path.write_text("title,price\nGood,1\nBad,oops\n")
    script = Path(sys.executable).with_name("shopassist")
    completed = subprocess.run(
        [str(script), "ingest", "products", str(path), "--strict"], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 1
    assert "error:" in completed.stderr and "bad.csv:3: price: cannot parse 'oops' as a price" in completed.stderr
    assert completed.stdout == ""


def test_an_unusable_data_dir_is_one_line_naming_it_not_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("a file where the data dir should be")
    script = Path(sys.executable).with_name("shopassist")
    completed = subprocess.run(
        [str(script), "--data-dir", str(not_a_folder), "ingest", "demo"], capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 1
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot use the data dir") and str(not_a_folder) in lines[0]
    assert "Traceback" not in completed.stderr


def test_each_invocation_opens_the_store_of_its_own_data_dir(tmp_path: Path) -> None:
    for name in ("first", "second"):
        args = ["--data-dir", str(tmp_path / name), "ingest", "products", str(FIXTURES / "products.csv"), *MAP_ARGS]
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "12 added" in result.output, (name, result.output)


def test_train_intents_saves_the_head_for_the_store_model(data_dir: Path) -> None:
    result = runner.invoke(app, ["train", "intents", "--json"])
    assert result.exit_code == 0, result.output
    (summary,) = _json_lines(result.stdout)  # stderr may carry the model's loading progress
    # A new store on the CPU embeds with the int8 export, and the head is trained on its vectors.
    assert summary["model"] == "all-MiniLM-L6-v2 (int8)" and summary["custom"] is False
    assert sum(summary["utterances"].values()) >= 400  # type: ignore[union-attr]
    # The shipped head is named by its training hash: it depends on the store's catalog and FAQ.
    assert len(list((data_dir / "models" / "intents").glob("all-MiniLM-L6-v2_int8-*.json"))) == 1


def test_ranker_train_gate_list_and_eval_commands(cli_store: Path) -> None:
    judgements = str(FIXTURES / "judgements.csv")
    train = ["train", "ranker", "--judgements", judgements, "--dev", judgements, "--finetune", "head", "--json"]
    result = runner.invoke(app, [*train, "--synthetic"])
    assert result.exit_code == 0, result.output
    (first,) = _json_lines(result.stdout)
    assert first["version"] == "v0001" and first["activated"] and first["synthetic"]
    again = runner.invoke(app, train)
    (second,) = _json_lines(again.stdout)
    assert second["version"] == "v0002"
    assert second["activated"] == (second["metrics"]["auc"] >= first["metrics"]["auc"])  # type: ignore[index]

    listed = runner.invoke(app, ["models", "list", "--json"])
    (models,) = _json_lines(listed.stdout)
    assert [v["version"] for v in models["versions"]] == ["v0001", "v0002"]  # type: ignore[union-attr]
    assert models["versions"][0]["synthetic"] is True  # type: ignore[index]

    assert runner.invoke(app, ["ask", "a 4k tv"]).exit_code == 0  # the interaction log the report plots
    pages = cli_store / "report"
    evaluated = runner.invoke(
        app, ["eval", "ranking", "--judgements", judgements, "--model", "v0001", "--json", "--report", str(pages)]
    )
    assert evaluated.exit_code == 0, evaluated.output
    (report,) = _json_lines(evaluated.stdout)
    assert set(report["methods"]) == {"random", "bm25", "dense", "fusion", "ctr"}  # type: ignore[arg-type]
    assert set(report["ctr_vs_best_baseline"]) == {"ndcg@5", "ndcg@10", "mrr", "auc"}  # type: ignore[arg-type]
    assert report["queries"] == 9 and report["model"] == "v0001"
    page = (pages / "index.html").read_text()
    titles = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    assert titles == [
        "ROC curves",
        "NDCG@10 by query length",
        "Score distributions",
        "CTR by position (interaction log)",
        "CTR by ranker version (interaction log)",
    ]
    assert f"{report['methods']['ctr']['auc']:.3f}" in page  # type: ignore[index]

    catalog = cli_store / "catalog.csv"
    with (FIXTURES / "products.csv").open() as source, catalog.open("w") as target:
        rows = [{"product_uid": r["SKU"], "title": r["Name"]} for r in csv.DictReader(source)]
        writer = csv.DictWriter(target, ["product_uid", "title"])
        writer.writeheader()
        writer.writerows(rows)
    full = runner.invoke(
        app, ["eval", "ranking", "--judgements", judgements, "--products", str(catalog), "--full-catalog", "--json"]
    )
    assert full.exit_code == 0, full.output
    (recall,) = _json_lines(full.stdout)
    assert recall["mode"] == "full-catalog" and recall["products"] == len(rows)
    methods = recall["methods"]
    assert set(methods) == {"random", "bm25", "dense", "fusion", "ctr"}  # type: ignore[arg-type]
    # The whole catalog is smaller than 100: every method finds every relevant product in its top 100.
    assert all(m["recall@100"] == 1.0 for m in methods.values())  # type: ignore[attr-defined]
    assert methods["dense"]["recall@10"] > methods["random"]["recall@10"]  # type: ignore[index]
    refused = runner.invoke(app, ["eval", "ranking", "--judgements", judgements, "--full-catalog"])
    assert refused.exit_code != 0 and "--full-catalog needs --products" in refused.output


def test_training_without_a_source_is_refused(cli_store: Path) -> None:
    result = runner.invoke(app, ["train", "ranker"])
    assert result.exit_code != 0
    assert "use one of --judgements, --from-events, --simulate" in result.output
    unknown_metric = runner.invoke(app, ["train", "ranker", "--simulate", "10", "--select-on", "mrr"])
    assert unknown_metric.exit_code != 0 and "--select-on 'mrr': expected one of auc, ndcg@10" in unknown_metric.output


def test_a_ranker_bootstrapped_from_simulated_sessions_is_labelled_synthetic(cli_store: Path) -> None:
    result = runner.invoke(app, ["train", "ranker", "--simulate", "60", "--finetune", "head", "--json"])
    assert result.exit_code == 0, result.output
    (summary,) = _json_lines(result.stdout)
    assert summary["synthetic"] is True and summary["activated"]
    listed = runner.invoke(app, ["models", "list"])
    assert "60 simulated sessions (synthetic)" in listed.stdout


def test_serve_prints_the_urls_and_where_the_agent_token_is(cli_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from connectors import cli
    from connectors.web import BackgroundServer

    served: dict[str, object] = {}
    monkeypatch.setattr(cli.uvicorn, "run", lambda web, **options: served.update(app=web, **options))
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret")
    half_configured = runner.invoke(app, ["serve"])
    assert "needs SLACK_BOT_TOKEN" in str(half_configured.exception)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    result = runner.invoke(app, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert served["host"] == "127.0.0.1" and served["port"] == 8123
    assert "http://127.0.0.1:8123/agent\n" in result.output and "/slack/events" in result.output
    token_file = Path(re.search(r"agent token .*: in (\S+)", result.output).group(1))  # type: ignore[union-attr]
    token = token_file.read_text().strip()
    assert token not in result.output and token_file.stat().st_mode & 0o777 == 0o600
    with BackgroundServer(served["app"]) as server, httpx.Client(base_url=server.url) as http:  # type: ignore[arg-type]
        assert http.get("/api/agent/queue", headers={"Authorization": f"Bearer {token}"}).json()["total"] == 0
        assert http.get("/api/agent/queue").status_code == 401
        assert http.post("/slack/events", content="{}", headers={"Content-Type": "application/json"}).status_code == 401


def test_serve_with_two_worker_processes_answers_customers(cli_store: Path) -> None:
    """Two worker processes on one data dir: both read the embedded catalog; conversations are shared files."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = Path(sys.executable).with_name("shopassist")
    env = {**os.environ, "SHOPASSIST_AGENT_TOKEN": "workers-token", "SHOPASSIST_RATE_LIMITING": "false"}
    server = subprocess.Popen(
        [str(script), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60.0) as http:
            for _ in range(600):  # the workers load the models: wait until one says it is ready
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                try:
                    if http.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout
            assert len(children.split()) >= 2, "uvicorn runs the workers as child processes"
            for _ in range(6):
                session = http.post("/api/sessions").json()["session_id"]
                turn = http.post(f"/api/sessions/{session}/messages", json={"text": "headphones under $300"}).json()
                assert turn["intent"] == "product_search" and turn["products"], turn
                assert len(http.get(f"/api/sessions/{session}/messages").json()["messages"]) == 2
            queue = http.get("/api/agent/queue", headers={"Authorization": "Bearer workers-token"})
            assert queue.status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=120)


INR_ARGS = ["--map", "id=sku", "--map", "title=name", "--map", "category=dept", "--map", "brand=maker"]
INR_ARGS += ["--map", "price=mrp", "--map", "rating=stars"]


def test_ingest_with_a_currency_and_constants(data_dir: Path) -> None:
    catalog = str(FIXTURES / "grocery_inr.csv")
    missing = runner.invoke(app, ["ingest", "products", catalog, *INR_ARGS, "--map", "currency=INR"])
    assert missing.exit_code != 0
    assert "currency=INR names a column" in str(missing.exception) and "sku, name, dept" in str(missing.exception)
    unknown = runner.invoke(app, ["ingest", "products", catalog, *INR_ARGS, "--currency", "XYZ"])
    assert "unknown currency 'XYZ'" in str(unknown.exception)
    twice = runner.invoke(app, ["ingest", "products", catalog, *INR_ARGS, "--currency", "INR", "--set", "currency=INR"])
    assert twice.exit_code != 0 and "give the currency once" in twice.output

    loaded = runner.invoke(
        app, ["ingest", "products", catalog, *INR_ARGS, "--currency", "INR", "--set", "in_stock=yes"]
    )
    assert loaded.exit_code == 0, loaded.output
    assert "10 added" in loaded.output
    result = runner.invoke(app, ["search", "basmati rice under 200 rupees", "--json"])
    (payload,) = _json_lines(result.stdout)
    products = payload["products"]
    assert isinstance(products, list) and products
    assert all(p["currency"] == "INR" and p["price"] <= 200 for p in products)
