"""The ``shopassist`` command line."""

from __future__ import annotations

import csv
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
import uvicorn
from rich.markup import escape
from rich.table import Table
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

from assistant import (
    Assistant,
    AssistantError,
    parse_request,
    train_intent_classifier,
)
from assistant.intents import default_training_data_path, load_utterances
from assistant.scripts import find_scripts, load_script
from connectors._console import (
    configure_logging,
    err_console,
    out_console,
    print_outcome,
    print_turn,
    product_table,
    progress_bar,
)
from connectors._junit import write_junit
from connectors.conversations import Channel, run_conversations
from connectors.errors import ConnectorError
from connectors.service import ShopService
from connectors.slack import create_slack_app
from connectors.web import create_app, stored_agent_token
from recommender import EventStore, ModelRegistry, RecommenderError
from recommender.ctr_model import FINETUNE_MODES
from recommender.training import SELECTION_METRICS
from retrieval import (
    CatalogSpeller,
    RetrievalError,
    SearchFilters,
    Settings,
    Store,
    ensure_demo_data,
    ingest_faq,
    ingest_products,
    parse_constants,
    parse_mapping,
)

app = typer.Typer(help="shopassist: a conversational shopping assistant.", no_args_is_help=True)
ingest_app = typer.Typer(help="Load products or FAQ entries into the store.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
events_app = typer.Typer(help="The interaction log: impressions and customer actions.", no_args_is_help=True)
app.add_typer(events_app, name="events")
train_app = typer.Typer(help="Train the models the assistant learns from data.", no_args_is_help=True)
app.add_typer(train_app, name="train")
models_app = typer.Typer(help="Versions of the CTR ranker: list, activate, roll back.", no_args_is_help=True)
app.add_typer(models_app, name="models")
eval_app = typer.Typer(help="Offline evaluation.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

Mode = Literal["upsert", "snapshot"]
JsonOption = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
BatchOption = Annotated[
    Path | None, typer.Option("--batch", help="File with one query per line; prints one JSON object per line.")
]


class _State:
    settings: Settings = Settings.model_construct()
    store: Store | None = None


state = _State()


@app.callback()
def main_options(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Overrides SHOPASSIST_DATA_DIR (default ./var).")
    ] = None,
) -> None:
    configure_logging()
    settings = Settings()
    state.settings = settings.model_copy(update={"data_dir": data_dir}) if data_dir else settings
    state.store = None  # one store per invocation: a long-lived caller (tests, embedding apps) may switch dirs


def _service() -> ShopService:
    return ShopService.from_settings(state.settings, _store_with_data())


def _store() -> Store:
    if state.store is None:
        state.store = Store.from_settings(state.settings)
    return state.store


def _store_with_data() -> Store:
    """The configured store; an empty one is first filled with the demo catalog and FAQ."""
    return _with_demo_data(_store())


def _with_demo_data(store: Store) -> Store:
    if store.products.count() == 0 or store.faq.count() == 0:
        err_console.print("[bold]The store is empty:[/bold] loading the demo catalog and FAQ (offline, once).")
        with progress_bar("embedding demo data") as progress:
            outcomes = ensure_demo_data(store, progress)
        for outcome in outcomes:
            print_outcome("demo", outcome)
    return store


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _queries(query: str | None, batch: Path | None, as_json: bool) -> list[str]:
    if batch is not None:
        if not as_json:
            raise typer.BadParameter("--batch prints JSON lines; add --json")
        return [line.strip() for line in batch.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not query:
        raise typer.BadParameter("give a query or --batch FILE")
    return [query]


@ingest_app.command("products")
def ingest_products_command(
    file: Annotated[Path, typer.Argument(help="CSV, JSONL or Parquet file.")],
    mapping: Annotated[
        list[str] | None, typer.Option("--map", help="field=Column, e.g. --map title=Title (repeatable).")
    ] = None,
    file_format: Annotated[
        str | None, typer.Option("--format", help="csv|jsonl|parquet (default: from suffix).")
    ] = None,
    constants: Annotated[
        list[str] | None,
        typer.Option("--set", help="field=value for every product, e.g. --set category=Garden (repeatable)."),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option("--currency", help="ISO code of prices that carry none, e.g. INR (= --set currency=…)."),
    ] = None,
    mode: Annotated[Mode, typer.Option(help="snapshot deletes products absent from the file.")] = "upsert",
    strict: Annotated[bool, typer.Option(help="Fail the whole load on any bad row.")] = False,
) -> None:
    """Load a product catalog; unchanged products are not re-embedded."""
    fixed = parse_constants(constants or [])
    if currency is not None:
        if "currency" in fixed:
            raise typer.BadParameter("give the currency once: --currency or --set currency=…")
        fixed["currency"] = currency
    store = _store()
    with progress_bar("embedding products") as progress:
        outcome = ingest_products(
            store,
            file,
            parse_mapping(mapping or []),
            file_format=file_format,
            mode=mode,
            strict=strict,
            progress=progress,
            constants=fixed,
        )
    print_outcome(str(file), outcome)


@ingest_app.command("faq")
def ingest_faq_command(
    file: Annotated[Path, typer.Argument(help="YAML, JSON or JSONL file of FAQ entries.")],
    mode: Annotated[Mode, typer.Option(help="snapshot (default) deletes entries absent from the file.")] = "snapshot",
    strict: Annotated[bool, typer.Option(help="Fail the whole load on any bad entry.")] = False,
) -> None:
    """Load FAQ entries (id, question, answer, tags, alternatives)."""
    outcome = ingest_faq(_store(), file, mode=mode, strict=strict)
    print_outcome(str(file), outcome)


@ingest_app.command("demo")
def ingest_demo_command() -> None:
    """Load the bundled demo catalog and FAQ into an empty store."""
    _store_with_data()


@app.command()
def reindex() -> None:
    """Re-embed every stored product and FAQ entry with the configured embedding model."""
    store = _store()
    for index in (store.products, store.faq):
        with progress_bar(f"re-embedding {index.kind}") as progress:
            embedded = index.reindex(progress)
        err_console.print(f"{index.kind}: {embedded} texts embedded with {store.embedder.name}")


@app.command()
def search(
    query: Annotated[
        str | None, typer.Argument(help="What to look for; price and category words become filters.")
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="How many products.")] = 10,
    category: Annotated[str | None, typer.Option(help="Exact catalog category.")] = None,
    brand: Annotated[str | None, typer.Option(help="Exact brand.")] = None,
    price_min: Annotated[float | None, typer.Option(help="Lowest price.")] = None,
    price_max: Annotated[float | None, typer.Option(help="Highest price.")] = None,
    rating_min: Annotated[float | None, typer.Option(help="Lowest rating.")] = None,
    as_json: JsonOption = False,
    batch: BatchOption = None,
) -> None:
    """Search products (dense + lexical, fused)."""
    store = _store_with_data()
    assistant = Assistant(store)
    for text in _queries(query, batch, as_json):
        request = parse_request(assistant.corrected(text), assistant.lexicon(), currency=assistant.currency)
        parsed = request.constraints.to_filters()
        explicit = {
            "price_min": price_min,
            "price_max": price_max,
            "rating_min": rating_min,
            "categories": (category,) if category else None,
            "brands": (brand,) if brand else None,
        }
        overrides = {name: value for name, value in explicit.items() if value is not None}
        filters = SearchFilters(**{**parsed.model_dump(), **overrides})
        hits = store.products.search(request.query or text, filters, k)
        if as_json:
            _emit({"products": [{**hit.product.model_dump(mode="json"), "score": hit.score} for hit in hits]})
        else:
            if not filters.is_empty():
                err_console.print(f"[dim]filters: {filters.model_dump(exclude_defaults=True)}[/dim]")
            out_console.print(product_table(hits))


@app.command()
def faq(
    question: Annotated[str | None, typer.Argument(help="A customer question.")] = None,
    as_json: JsonOption = False,
    batch: BatchOption = None,
) -> None:
    """Answer from the FAQ, or decline below the calibrated threshold."""
    store = _store_with_data()
    for text in _queries(question, batch, as_json):
        hits = store.faq.search(text, k=1)
        best = hits[0] if hits else None
        answered = best is not None and best.score >= store.settings.faq_threshold
        if as_json:
            _emit(
                {
                    "answered": answered,
                    "id": best.entry.id if best else None,
                    "answer": best.entry.answer if best and answered else None,
                    "score": best.score if best else 0.0,
                }
            )
        elif best is not None and answered:
            out_console.print(f"{best.entry.answer}\n[dim]source: {best.entry.id} · score {best.score:.2f}[/dim]")
        else:
            closest = f" (closest: {best.entry.id}, score {best.score:.2f})" if best else ""
            out_console.print(f"No FAQ answer is confident enough{closest}.")


@app.command()
def ask(
    text: Annotated[str, typer.Argument(help="One customer message.")],
    session: Annotated[str | None, typer.Option("--session", help="Conversation id.")] = None,
    as_json: JsonOption = False,
) -> None:
    """One assistant turn."""
    turn = _service().assistant.reply(session or uuid.uuid4().hex, text, channel="cli")
    if as_json:
        _emit(turn.model_dump(mode="json"))
    else:
        print_turn(turn)


@app.command()
def chat(session: Annotated[str | None, typer.Option("--session", help="Conversation id.")] = None) -> None:
    """Chat with the assistant in the terminal (empty line or Ctrl-D to leave)."""
    assistant = _service().assistant
    session_id = session or uuid.uuid4().hex
    out_console.print(
        "[bold]shopassist[/bold] demo store. Try “4k tv under 500”, “noise cancelling headphones” "
        "or “what is your return policy?”. Empty line or Ctrl-D quits."
    )
    while True:
        try:
            text = out_console.input("[bold cyan]you>[/bold cyan] ")
        except (EOFError, KeyboardInterrupt):
            break
        if not text.strip() or text.strip().lower() in {"quit", "exit"}:
            break
        try:
            print_turn(assistant.reply(session_id, text, channel="cli"))
        except AssistantError as error:
            err_console.print(f"[red]{error}[/red]")


@train_app.command("intents")
def train_intents(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="YAML {intent: [utterance, ...]}; default: the utterances shipped with shopassist."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Train the intent classifier (a softmax head over the store's sentence embeddings; seconds on a CPU)."""
    store = _store()
    classifier = train_intent_classifier(store, data)
    counts = {intent: len(texts) for intent, texts in load_utterances(data or default_training_data_path()).items()}
    summary = {
        "path": str(store.settings.models_path / "intents"),
        "model": classifier.model_name,
        "labels": classifier.labels,
        "training_hash": classifier.training_hash,
        "custom": classifier.custom,
        "utterances": counts,
    }
    if as_json:
        _emit(summary)
    else:
        out_console.print(
            f"trained the intent classifier on {classifier.model_name} embeddings "
            f"({'your utterances' if classifier.custom else 'the shipped utterances'}): "
            f"{sum(counts.values())} utterances, {len(classifier.labels)} intents, saved under {summary['path']}"
        )


JudgementsOption = Annotated[
    Path | None,
    typer.Option("--judgements", help="CSV with query, product_uid, relevance (+ product_title, description)."),
]
ThresholdOption = Annotated[float, typer.Option("--threshold", help="Relevance at or above which a pair is positive.")]


@train_app.command("ranker")
def train_ranker_command(
    judgements: JudgementsOption = None,
    from_events: Annotated[bool, typer.Option("--from-events", help="Train on this store's interaction log.")] = False,
    simulate: Annotated[
        int | None,
        typer.Option("--simulate", help="Train on N simulated sessions over the catalog (SYNTHETIC clicks)."),
    ] = None,
    dev: Annotated[
        Path | None,
        typer.Option("--dev", help="Judgements to evaluate and stop early on (default: 10 % of the queries held out)."),
    ] = None,
    finetune: Annotated[
        str, typer.Option("--finetune", help="head | last-1 | last-2 | last-3 | lora | full (what is trained)")
    ] = "last-2",
    epochs: Annotated[int, typer.Option("--epochs", min=1)] = 1,
    select_on: Annotated[
        str, typer.Option("--select-on", help="auc | ndcg@10: the dev metric that picks the checkpoint")
    ] = "auc",
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N training pairs.")] = None,
    threshold: ThresholdOption = 2.5,
    synthetic: Annotated[
        bool, typer.Option("--synthetic", help="Mark the data as simulated (shown everywhere).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Fine-tune the CTR ranker; the new version goes live only if it beats the active one on the dev set."""
    from recommender.ctr_model import CtrModelConfig
    from recommender.registry import gate
    from recommender.simulation import simulate_sessions
    from recommender.training import (
        RankerTrainingArguments,
        arguments_dict,
        evaluate_model,
        examples_from_events,
        fingerprint,
        judged_catalog_speller,
        load_judgements,
        query_split,
        time_split,
        train_ranker,
        with_corrected_queries,
    )

    if [judgements is not None, from_events, simulate is not None].count(True) != 1:
        raise typer.BadParameter("use one of --judgements, --from-events, --simulate")
    if finetune not in FINETUNE_MODES:
        raise typer.BadParameter(f"--finetune {finetune!r}: expected one of {', '.join(FINETUNE_MODES)}")
    if select_on not in SELECTION_METRICS:
        raise typer.BadParameter(f"--select-on {select_on!r}: expected one of {', '.join(SELECTION_METRICS)}")
    store: Store | None = None  # the catalog whose words corrected queries lead to; judged products' otherwise
    if from_events or simulate is not None:
        store = _store_with_data() if simulate is not None else _store()
        events = EventStore.persistent(state.settings.data_dir)
        if simulate is not None:
            events = EventStore.ephemeral()  # simulated clicks never mix with real ones
            simulate_sessions(
                store.products.all(), lambda q: store.products.search(q, None, 20), events, sessions=simulate
            )
            synthetic = True
        examples = examples_from_events(events.rows(), store.products.get)
        train, dev_examples = time_split(examples)
        source = f"{simulate} simulated sessions" if simulate is not None else "events"
    else:
        assert judgements is not None
        train = load_judgements(judgements, threshold=threshold, limit=limit)
        if dev is None:
            train, dev_examples = query_split(train)
        else:
            dev_examples = load_judgements(dev, threshold=threshold)
        source = str(judgements)
    if state.settings.spelling_correction:  # trained on queries as the assistant will serve them
        speller = store.products.speller() if store is not None else judged_catalog_speller(train, dev_examples)
        train, dev_examples = with_corrected_queries(train, speller), with_corrected_queries(dev_examples, speller)
    if not train:
        raise typer.BadParameter("no training examples")
    args = RankerTrainingArguments(epochs=epochs, device=device, selection_metric=select_on)  # type: ignore[arg-type]
    with progress_bar(f"training ranker ({finetune})") as progress:
        result = train_ranker(
            train,
            dev_examples,
            CtrModelConfig(finetune=finetune),  # type: ignore[arg-type]
            args,
            threshold=threshold,
            on_step=lambda step, total, loss, auc: progress(1, total),
        )
    registry = ModelRegistry.persistent(state.settings.models_path)
    active = registry.active()
    active_metrics = None
    if active is not None and dev_examples:
        # The gate compares both versions on this run's dev set, not on numbers from another one.
        model, tokenizer, _ = registry.load(active.name, result.device)
        active_metrics = evaluate_model(model, tokenizer, dev_examples, result.device, threshold)
    version = registry.save(
        result.model,
        {
            "source": source,
            "synthetic": synthetic,
            "metrics": result.metrics,
            "training": arguments_dict(args),
            "train_fingerprint": fingerprint(train),
            "dev_fingerprint": fingerprint(dev_examples) if dev_examples else None,
            "pairs": len(train),
            "seconds": result.seconds,
            "device": result.device,
        },
    )
    promote, reason = gate(result.metrics, active_metrics) if dev_examples or active is None else (False, "no dev set")
    if promote:
        registry.activate(version.name)
    summary = {"version": version.name, "activated": promote, "reason": reason, "metrics": result.metrics,
               "synthetic": synthetic, "seconds": result.seconds, "device": result.device}  # fmt: skip
    if as_json:
        _emit(summary)
    else:
        out_console.print(
            f"saved ranker {version.name}{' (synthetic data)' if synthetic else ''}: "
            f"{'activated' if promote else 'not activated'} — {reason}"
        )


@models_app.command("list")
def models_list(as_json: JsonOption = False) -> None:
    """Ranker versions, with their dev metrics and data source."""
    registry = ModelRegistry.persistent(state.settings.models_path)
    active = registry.active_name()
    versions = registry.versions()
    if as_json:
        _emit(
            {
                "active": active,
                "versions": [
                    {"version": v.name, "active": v.name == active, "synthetic": v.synthetic,
                     "source": v.manifest.get("source"), "metrics": v.metrics}
                    for v in versions
                ],
            }
        )  # fmt: skip
        return
    table = Table("version", "active", "data", "dev AUC", "dev NDCG@10")
    for v in versions:
        table.add_row(
            v.name,
            "✓" if v.name == active else "",
            f"{v.manifest.get('source')}{' (synthetic)' if v.synthetic else ''}",
            f"{v.metrics.get('auc', float('nan')):.3f}",
            f"{v.metrics.get('ndcg@10', float('nan')):.3f}",
        )
    out_console.print(table if versions else "no ranker trained yet: the baseline ranks")


@models_app.command("activate")
def models_activate(version: Annotated[str, typer.Argument(help="e.g. v0002")]) -> None:
    """Serve this version from the next turn on."""
    ModelRegistry.persistent(state.settings.models_path).activate(version)
    out_console.print(f"active ranker: {version}")


@models_app.command("rollback")
def models_rollback() -> None:
    """Serve the version that was active before the current one."""
    out_console.print(f"active ranker: {ModelRegistry.persistent(state.settings.models_path).rollback()}")


@eval_app.command("ranking")
def eval_ranking(
    judgements: Annotated[Path, typer.Option("--judgements", help="CSV with query, product_uid, relevance.")],
    products: Annotated[
        Path | None, typer.Option("--products", help="CSV with product_uid, title: the BM25 corpus (default: judged)")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Ranker version (default: the active one).")] = None,
    threshold: ThresholdOption = 2.5,
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Also write DIR/index.html: ROC curves, NDCG by query length, score "
            "distributions, and CTR by position and ranker version from the interaction log.",
        ),
    ] = None,
    full_catalog: Annotated[
        bool,
        typer.Option(
            "--full-catalog",
            help="Retrieve from every product in --products instead of re-ranking the judged ones; "
            "reports Recall@10/100 of the relevant products.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Re-rank each query's judged products: random, BM25, dense, fusion and the CTR ranker, one run."""
    from recommender.offline import (
        Scorer,
        baseline_scorers,
        comparison_report,
        full_catalog_recall,
        load_catalog,
        scored_groups,
    )
    from recommender.training import load_judgements, score_examples, with_corrected_queries

    examples = load_judgements(judgements, threshold=threshold)
    if products is not None:
        with products.open(encoding="utf-8") as file:
            corpus = [row.get("title", "") for row in csv.DictReader(file)]
    else:
        corpus = list({e.product.id: e.product.title for e in examples}.values())
    registry = ModelRegistry.persistent(state.settings.models_path)
    name = model or registry.active_name()
    ctr_scorer: Scorer | None = None
    if name is not None:
        ctr, tokenizer, _ = registry.load(name)
        speller = CatalogSpeller.from_texts(corpus if state.settings.spelling_correction else [])
        # The ranker reads queries as the assistant serves them, corrected; the baselines read them as typed.
        ctr_scorer = lambda ex: score_examples(ctr, tokenizer, with_corrected_queries(ex, speller), "cpu")  # noqa: E731
    if full_catalog:
        if products is None:
            raise typer.BadParameter("--full-catalog needs --products FILE (product_uid, title[, description])")
        catalog = load_catalog(products)
        recall = full_catalog_recall(
            examples, catalog, _store().embedder, threshold=threshold, ctr=ctr_scorer, model=name
        )
        if as_json:
            _emit(recall)
            return
        table = Table("method", "Recall@10", "Recall@100")
        for method, m in recall["methods"].items():
            table.add_row(method, f"{m['recall@10']:.3f}", f"{m['recall@100']:.3f}")
        out_console.print(table)
        out_console.print(f"{recall['queries']} queries with a relevant product; {recall['products']} products")
        return
    scorers = baseline_scorers(_store().embedder, corpus)
    if ctr_scorer is not None:
        scorers["ctr"] = ctr_scorer
    groups, per_method = scored_groups(examples, scorers, threshold=threshold)
    report = comparison_report(groups, per_method, model=name)
    if report_dir is not None:
        from recommender.report import write_report

        events = EventStore.persistent(state.settings.data_dir)
        page = write_report(
            report_dir,
            report,
            groups,
            per_method,
            source=str(judgements),
            ctr_by_position=events.ctr_by("position"),
            ctr_by_version=events.ctr_by("ranker_version"),
        )
        err_console.print(f"report: {page}")
    if as_json:
        _emit(report)
        return
    table = Table("method", "NDCG@5", "NDCG@10", "MRR", "AUC")
    for method, m in report["methods"].items():
        table.add_row(method, *(f"{m[k]:.3f}" for k in ("ndcg@5", "ndcg@10", "mrr", "auc")))
    out_console.print(table)
    for metric, d in report.get("ctr_vs_best_baseline", {}).items():
        low, high = d["ci95"]
        out_console.print(
            f"ctr − {report['best_baseline']} {metric}: {d['diff']:+.4f} (95% CI {low:+.4f} … {high:+.4f})"
        )


@events_app.command("export")
def events_export(
    file: Annotated[Path, typer.Argument(help="Output file; .parquet or .csv.")],
) -> None:
    """Write one row per impression (turn context, product, position, 0/1 per action)."""
    rows = EventStore.persistent(state.settings.data_dir).rows()
    if file.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), file)
    elif file.suffix.lower() == ".csv":
        with file.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["impression_id"])
            writer.writeheader()
            writer.writerows(rows)
    else:
        raise typer.BadParameter(f"{file}: use a .parquet or .csv file name")
    err_console.print(f"{len(rows)} impressions written to {file}")


@events_app.command("stats")
def events_stats(as_json: JsonOption = False) -> None:
    """CTR by position and by channel, top queries and queries that found nothing."""
    events = EventStore.persistent(state.settings.data_dir)
    stats = {
        "by_position": [{"position": p, "impressions": n, "clicks": c} for p, n, c in events.ctr_by("position")],
        "by_channel": [{"channel": ch, "impressions": n, "clicks": c} for ch, n, c in events.ctr_by("channel")],
        "top_queries": [{"query": q, "count": n} for q, n in events.top_queries()],
        "zero_result_queries": [{"query": q, "count": n} for q, n in events.top_queries(zero_results=True)],
    }
    if as_json:
        _emit(stats)
        return
    for title, key, columns in [
        ("CTR by position", "by_position", ("position", "impressions", "clicks")),
        ("CTR by channel", "by_channel", ("channel", "impressions", "clicks")),
    ]:
        table = Table(*columns, "CTR", title=title)
        for row in stats[key]:
            ctr = row["clicks"] / row["impressions"] if row["impressions"] else 0.0
            table.add_row(*(str(row[column]) for column in columns), f"{ctr:.1%}")
        out_console.print(table)
    for title, key in [("Top queries", "top_queries"), ("Queries with no results", "zero_result_queries")]:
        table = Table("query", "count", title=title)
        for row in stats[key]:
            table.add_row(str(row["query"]), str(row["count"]))
        out_console.print(table)


@app.command("test-conversations")
def test_conversations(
    paths: Annotated[list[Path], typer.Argument(help="Script files or directories (searched recursively).")],
    catalog: Annotated[str, typer.Option(help="'demo' or the data dir of the store to test.")] = "demo",
    junit: Annotated[Path | None, typer.Option("--junit", help="Also write a JUnit XML report here.")] = None,
    channel: Annotated[
        Channel,
        typer.Option(help="core: the assistant itself; web: its JSON API; slack: the Slack app (signed requests)."),
    ] = "core",
    as_json: JsonOption = False,
) -> None:
    """Run conversation scripts through a channel; exits non-zero if any conversation fails."""
    files = find_scripts(paths)
    if not files:
        raise typer.BadParameter(f"no .yaml scripts under {', '.join(map(str, paths))}")
    scripts = [load_script(path) for path in files]  # every script is checked before any runs
    if catalog == "demo":
        store = _with_demo_data(Store.persistent(state.settings.data_dir / "demo", settings=state.settings))
    else:
        store = Store.persistent(Path(catalog), settings=state.settings)
    results = run_conversations(store, scripts, channel, state.settings)
    failed = sum(not result.passed for result in results)
    if junit is not None:
        write_junit(results, junit)
    if as_json:
        _emit({"passed": len(results) - failed, "failed": failed, "results": [r.to_json() for r in results]})
    else:
        table = Table("file", "conversation", "turns passed", "result")
        for result in results:
            passed_turns = sum(turn.passed for turn in result.turns)
            verdict = "[green]pass[/green]" if result.passed else "[red]FAIL[/red]"
            table.add_row(str(result.script.path), result.script.name, f"{passed_turns}/{len(result.turns)}", verdict)
        out_console.print(table)
        for result in results:
            for message in result.failure_messages():
                out_console.print(f"[red]✗[/red] {escape(message)}", soft_wrap=True, highlight=False)
        out_console.print(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Overrides SHOPASSIST_HOST (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides SHOPASSIST_PORT (default 8000).")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes answering requests (more use more cores; each loads the models).")
    ] = 1,
) -> None:
    """Serve the demo store page with the chat widget, the agent console, the API and (if configured) Slack."""
    settings = state.settings
    host, port = host or settings.host, port if port is not None else settings.port
    token_file: Path | None = None
    if settings.agent_token:
        token = settings.agent_token.get_secret_value()
    else:
        token_file = stored_agent_token(settings.data_dir)
        token = token_file.read_text(encoding="utf-8").strip()
    if workers == 1:
        service = _service()
        slack = create_slack_app(service, settings) if settings.slack_signing_secret else None
        web = create_app(service, token, settings, slack=slack)
    else:
        slack = _prepare_for_workers(token)
    base = f"http://{host}:{port}"
    out_console.print(
        f"\n[bold green]shopassist is serving[/bold green]\n"
        f"  store page with the chat widget  {base}/\n"
        f"  agent console                    {base}/agent\n"
        f"  API schema (OpenAPI)             {base}/openapi.json\n"
        + (f"  Slack events (HTTP mode)         {base}/slack/events\n" if slack else "")
        + (f"  agent token (SHOPASSIST_AGENT_TOKEN is not set): in {token_file}\n" if token_file else "")
        + "Ctrl-C stops it.",
        soft_wrap=True,
        highlight=False,
    )
    if workers == 1:
        uvicorn.run(web, host=host, port=port, log_level="warning")
    else:
        uvicorn.run(
            "connectors.web.workers:app_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="warning",
        )


def _prepare_for_workers(token: str) -> App | None:
    """What the workers must not each do at once: load the demo data into an empty store, train the intent
    head, check the Slack settings; then this process lets go of the store and hands its settings to the
    workers. Returns the checked Slack app (the workers build their own)."""
    service = _service()
    service.assistant.intents()
    slack = create_slack_app(service, state.settings) if state.settings.slack_signing_secret else None
    service.assistant.store.close()
    state.store = None
    os.environ["SHOPASSIST_DATA_DIR"] = str(state.settings.data_dir)
    os.environ["SHOPASSIST_AGENT_TOKEN"] = token
    return slack


@app.command("slack")
def slack_socket_mode() -> None:
    """Run the Slack app in Socket Mode (needs SLACK_APP_TOKEN and SLACK_BOT_TOKEN; no public URL needed)."""
    settings = state.settings
    if not (settings.slack_app_token and settings.slack_bot_token):
        raise typer.BadParameter("Socket Mode needs SLACK_APP_TOKEN (xapp-…) and SLACK_BOT_TOKEN (xoxb-…)")
    slack = create_slack_app(_service(), settings)
    out_console.print("[bold green]Slack app connected in Socket Mode.[/bold green] Ctrl-C stops it.")
    SocketModeHandler(slack, settings.slack_app_token.get_secret_value()).start()  # type: ignore[no-untyped-call]


@app.command()
def info() -> None:
    """What the store holds and how it is configured."""
    store = _store()
    out_console.print(
        f"data dir: {state.settings.data_dir}\nchroma: {state.settings.chroma_url or state.settings.chroma_path}\n"
        f"embedding model: {store.embedder.name}\nproducts: {store.products.count()}\nfaq entries: {store.faq.count()}"
    )


def main() -> None:
    try:
        app()
    except (RetrievalError, RecommenderError, AssistantError, ConnectorError) as error:
        err_console.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True, highlight=False)
        raise SystemExit(1) from error
    except OSError as error:  # a data dir that is read-only, full, or not a folder: one line naming the path
        where = f": {error.filename}" if error.filename else ""
        message = f"cannot use the data dir{where}: {error.strerror or error}"
        err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
        raise SystemExit(1) from error
