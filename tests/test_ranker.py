"""The CTR ranker on tiny data with the real MiniLM: training, registry, gate, fallback, serving."""

import logging
import random
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from assistant import Assistant
from recommender import BaselineRanker, CtrRanker, EventStore, ModelRegistry, RankerArtifactError
from recommender.ctr_model import CtrModelConfig
from recommender.evaluation import JudgedGroup, bootstrap_difference, ndcg, summarize
from recommender.features import FEATURE_NAMES, CandidateSignals, RankingContext, features
from recommender.registry import ModelVersion, gate
from recommender.training import (
    RankerTrainingArguments,
    RankingExample,
    TrainingResult,
    examples_from_events,
    query_split,
    score_examples,
    train_ranker,
)
from retrieval import Product, Store

CATEGORIES = {
    "tv": "TVs",
    "television for the living room": "TVs",
    "laptop": "Laptops",
    "notebook computer for school": "Laptops",
    "headphones": "Headphones",
    "wireless earbuds": "Headphones",
}


def synthetic_pairs(loaded_store: Store) -> list[RankingExample]:
    """Simulated judgements (labelled synthetic): a product is relevant to a query about its own category."""
    products: Sequence[Product] = loaded_store.products.all()
    return [
        RankingExample(
            group=query,
            query=query,
            product=product,
            click=float(product.category == category),
            cart=0.0,
            relevance=3.0 if product.category == category else 1.0,
        )
        for query, category in CATEGORIES.items()
        for product in products
    ]


def activate_synthetic(registry: ModelRegistry, result: TrainingResult) -> ModelVersion:
    """Save the trained model as a synthetic version and make it the active one."""
    version = registry.save(result.model, {"synthetic": True, "metrics": result.metrics})
    registry.activate(version.name)
    return version


@pytest.fixture(scope="module")
def trained(loaded_store_module: Store) -> tuple[TrainingResult, list[RankingExample]]:
    examples = synthetic_pairs(loaded_store_module)
    losses: list[float] = []
    result = train_ranker(
        examples * 6,
        examples,
        CtrModelConfig(finetune="head"),
        RankerTrainingArguments(batch_size=24, epochs=1, eval_every=10, head_learning_rate=3e-3, device="cpu"),
        on_step=lambda step, total, loss, auc: losses.append(loss),
    )
    result.history.append({"first_loss": losses[0], "last_loss": losses[-1]})
    return result, examples


def test_training_reduces_loss_and_beats_random(trained: tuple[TrainingResult, list[RankingExample]]) -> None:
    result, examples = trained
    assert result.history[-1]["last_loss"] < result.history[-1]["first_loss"]
    assert result.metrics["auc"] > 0.8
    scores = score_examples(result.model, result.tokenizer, examples, "cpu")
    tv_scores = {e.product.id: s for e, s in zip(examples, scores, strict=True) if e.query == "tv"}
    assert max(tv_scores, key=lambda product_id: tv_scores[product_id]).startswith("tv-")


@pytest.mark.parametrize("metric", ["auc", "ndcg@10"])
def test_the_checkpoint_kept_is_the_best_on_the_selection_metric(loaded_store_module: Store, metric: str) -> None:
    examples = synthetic_pairs(loaded_store_module)
    # Dev labels unrelated to training's, so the dev metrics wander from step to step instead of rising together.
    rng = random.Random(7)
    unrelated = [replace(e, relevance=rng.choice([1.0, 3.0])) for e in examples]
    result = train_ranker(
        examples * 3,
        unrelated,
        CtrModelConfig(finetune="head"),
        RankerTrainingArguments(
            batch_size=24, eval_every=1, patience=100, head_learning_rate=3e-3, device="cpu", selection_metric=metric
        ),
    )
    watched = [entry[metric] for entry in result.history]
    assert len(set(watched)) > 1
    assert result.metrics[metric] == pytest.approx(max(watched))


def test_registry_gate_activation_rollback_and_fallback(
    trained: tuple[TrainingResult, list[RankingExample]], loaded_store_module: Store, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    result, _ = trained
    registry = ModelRegistry(tmp_path / "ranker")
    first = registry.save(result.model, {"source": "synthetic pairs", "synthetic": True, "metrics": result.metrics})
    assert gate(result.metrics, None) == (True, "no active version")
    registry.activate(first.name)
    worse = {**result.metrics, "auc": result.metrics["auc"] - 0.1}
    promote, reason = gate(worse, result.metrics)
    assert not promote and "kept the active version" in reason
    second = registry.save(result.model, {"source": "again", "synthetic": True, "metrics": result.metrics})
    registry.activate(second.name)
    assert registry.rollback() == first.name and registry.active_name() == first.name

    ranker = CtrRanker(registry, events=EventStore.ephemeral(), device="cpu")
    hits = loaded_store_module.products.search("tv", None, 8)
    assert ranker.version == first.name
    assert ranker.rank("tv", hits)[0].hit.product.category == "TVs"

    (first.path / "model.safetensors").write_bytes(b"not a model")
    broken = CtrRanker(registry, device="cpu")
    with caplog.at_level(logging.WARNING):
        ranked = broken.rank("tv", hits)
    assert broken.version == BaselineRanker().version
    assert [r.hit.product.id for r in ranked] == [r.hit.product.id for r in BaselineRanker().rank("tv", hits)]
    assert "model.safetensors" in caplog.text and first.name in caplog.text
    with pytest.raises(RankerArtifactError, match="model.safetensors"):
        registry.load(first.name)


def test_the_assistant_logs_the_serving_ranker_version(
    trained: tuple[TrainingResult, list[RankingExample]], loaded_store_module: Store, tmp_path: Path
) -> None:
    result, _ = trained
    registry = ModelRegistry(tmp_path / "ranker")
    activate_synthetic(registry, result)
    events = EventStore.ephemeral()
    turn = Assistant(loaded_store_module, CtrRanker(registry, events=events, device="cpu"), events=events).reply(
        "s", "a tv"
    )
    assert turn.ranker_version == "v0001"
    assert {row["ranker_version"] for row in events.rows()} == {"v0001"}


def test_metrics_on_hand_computed_cases() -> None:
    assert ndcg([3.0, 1.0], [1.0, 3.0], 10) == 1.0
    assert ndcg([1.0, 3.0], [1.0, 3.0], 10) == pytest.approx(0.6309, abs=1e-4)
    groups = [JudgedGroup("q", ("a", "b"), (3.0, 1.0), 2.5), JudgedGroup("r", ("c", "d"), (1.0, 3.0), 2.5)]
    good, bad = [[0.9, 0.1], [0.2, 0.8]], [[0.1, 0.9], [0.8, 0.2]]
    assert summarize(groups, good) == {"ndcg@5": 1.0, "ndcg@10": 1.0, "mrr": 1.0, "auc": 1.0}
    diff, (low, high) = bootstrap_difference(groups, good, bad, "mrr", samples=200)
    assert diff == 0.5 and low == high == 0.5


def test_any_ranker_reranks_langchain_documents(loaded_store_module: Store) -> None:
    from langchain_core.documents import Document

    from recommender.langchain import RankerCompressor
    from retrieval.langchain import ProductRetriever

    documents = ProductRetriever(index=loaded_store_module.products, k=6).invoke("headphones")
    stray = Document(page_content="not a product")
    reranked = RankerCompressor(ranker=BaselineRanker()).compress_documents([*documents, stray], "headphones")
    expected = [
        r.hit.product.id
        for r in BaselineRanker().rank("headphones", loaded_store_module.products.search("headphones", None, 6))
    ]
    assert [d.id for d in reranked[:-1]] == expected
    assert reranked[-1] is stray and "rank_score" in reranked[0].metadata


def test_cpu_serving_encodes_queries_in_onnx_with_the_same_scores(
    trained: tuple[TrainingResult, list[RankingExample]], loaded_store_module: Store, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    result, _ = trained
    registry = ModelRegistry(tmp_path / "ranker")
    version = activate_synthetic(registry, result)
    hits = loaded_store_module.products.search("a laptop for school", None, 8)

    onnx = CtrRanker(registry, device="cpu").rank("a laptop for school", hits)
    assert (version.path / "query_encoder.onnx").is_file()
    (version.path / "query_encoder.onnx").write_bytes(b"damaged")
    with caplog.at_level(logging.WARNING):
        torch_only = CtrRanker(registry, device="cpu").rank("a laptop for school", hits)
    assert "encodes queries with PyTorch" in caplog.text and "query_encoder.onnx" in caplog.text
    assert [r.hit.product.id for r in onnx] == [r.hit.product.id for r in torch_only]
    assert [r.score for r in onnx] == pytest.approx([r.score for r in torch_only], abs=1e-3)


def test_lora_trains_only_adapters_and_serves_merged(loaded_store_module: Store, tmp_path: Path) -> None:
    examples = synthetic_pairs(loaded_store_module)
    result = train_ranker(
        examples * 2,
        examples,
        CtrModelConfig(finetune="lora"),
        RankerTrainingArguments(batch_size=24, epochs=1, eval_every=10, device="cpu", max_steps=12),
    )
    trainable = [name for name, p in result.model.encoder.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    lora_b = [p for name, p in result.model.encoder.named_parameters() if "lora_B" in name]
    assert any(float(p.detach().abs().sum()) > 0 for p in lora_b)  # the adapters learned something (they start at 0)
    before = score_examples(result.model, result.tokenizer, examples, "cpu")

    registry = ModelRegistry(tmp_path / "ranker")
    version = registry.save(result.model, {"synthetic": True, "metrics": result.metrics})
    served, tokenizer, _ = registry.load(version.name)
    assert not any("lora_" in name for name, _ in served.encoder.named_parameters())  # adapters folded in
    assert score_examples(served, tokenizer, examples, "cpu") == pytest.approx(before, abs=1e-3)


def test_prepare_encodes_the_catalog_once_for_the_active_version(
    trained: tuple[TrainingResult, list[RankingExample]], loaded_store_module: Store, tmp_path: Path
) -> None:
    result, _ = trained
    registry = ModelRegistry(tmp_path / "ranker")
    ranker = CtrRanker(registry, device="cpu")
    catalog = loaded_store_module.products.all()
    ranker.prepare(catalog)  # no active version: nothing to do, nothing fails
    activate_synthetic(registry, result)
    ranker.prepare(catalog)
    encoded = dict(ranker._product_vectors)
    assert {product_id for product_id, _ in encoded} == {product.id for product in catalog}
    ranker.rank("tv", loaded_store_module.products.search("tv", None, 8))
    assert ranker._product_vectors.keys() == encoded.keys()  # served from the cache, nothing re-encoded


def test_lexical_features_forgive_plurals_and_misspellings() -> None:
    product = Product(id="p1", title="Whirlpool Stainless Steel Dishwasher", price=499.0)

    def named(query: str) -> dict[str, float]:
        return dict(zip(FEATURE_NAMES, features(query, product, CandidateSignals(), RankingContext()), strict=True))

    exact, plural, misspelt, unrelated = (
        named(q) for q in ("whirlpool dishwasher", "whirlpool dishwashers", "whirpool dishwasher", "garden hose")
    )
    assert exact["lexical_coverage"] == plural["lexical_coverage"] == 1.0
    assert misspelt["lexical_coverage"] == 0.5 and 0.5 < misspelt["fuzzy_coverage"] < 1.0
    assert misspelt["head_word_match"] == 1.0 and misspelt["first_word_match"] > unrelated["first_word_match"]
    assert exact["bigram_coverage"] == 0.0 and named("stainless steel")["bigram_coverage"] == 1.0
    assert unrelated["weakest_word_match"] < 0.5 and unrelated["trigram_containment"] < misspelt["trigram_containment"]


def test_features_the_training_data_never_varied_are_held_at_their_training_value(
    trained: tuple[TrainingResult, list[RankingExample]], loaded_store_module: Store, tmp_path: Path
) -> None:
    result, _ = trained
    varied = dict(zip(FEATURE_NAMES, result.model.feature_varied.tolist(), strict=True))
    assert varied["fuzzy_coverage"] and not varied["has_budget"] and not varied["clicked_similarity"]
    registry = ModelRegistry(tmp_path / "ranker")
    activate_synthetic(registry, result)
    ranker = CtrRanker(registry, device="cpu")
    hits = loaded_store_module.products.search("tv", None, 8)
    # The synthetic pairs never had a budget: one in the ledger must not move scores the model cannot interpret.
    with_budget = ranker.rank("tv", hits, RankingContext(ledger={"price_max": 50.0}))
    assert [r.score for r in with_budget] == pytest.approx([r.score for r in ranker.rank("tv", hits)], abs=1e-5)


def test_session_clicks_reach_training_examples_and_the_ranker(
    trained: tuple[TrainingResult, list[RankingExample]], loaded_store_module: Store, tmp_path: Path
) -> None:
    events = EventStore.ephemeral()
    assistant = Assistant(loaded_store_module, events=events)
    first = assistant.reply("shopper", "a laptop")
    events.log_action(first.products[1].impression_id or "", "click")
    assistant.reply("shopper", "headphones")
    assistant.reply("someone else", "headphones")
    assert events.clicked_products("shopper") == [first.products[1].id]
    assert events.clicked_products("someone else") == []

    examples = examples_from_events(events.rows(), loaded_store_module.products.get)
    clicked_by_turn = {e.group: [p.id for p in e.context.clicked] for e in examples}
    assert list(clicked_by_turn.values()) == [[], [first.products[1].id], []]

    result, _ = trained
    result.model.feature_varied[FEATURE_NAMES.index("clicked_similarity")] = True  # as if trained on sessions
    try:
        registry = ModelRegistry(tmp_path / "ranker")
        activate_synthetic(registry, result)
        ranker = CtrRanker(registry, device="cpu")
        hits = loaded_store_module.products.search("laptop", None, 8)
        clicked = list(loaded_store_module.products.get([first.products[1].id]).values())
        with_clicks = ranker.rank("laptop", hits, RankingContext(clicked=clicked))
        without = ranker.rank("laptop", hits)
    finally:
        result.model.feature_varied[FEATURE_NAMES.index("clicked_similarity")] = False
    assert [r.score for r in with_clicks] != pytest.approx([r.score for r in without], abs=1e-4)


def test_texts_encoded_in_length_chunks_match_one_padded_batch(
    trained: tuple[TrainingResult, list[RankingExample]],
) -> None:
    import torch

    result, _ = trained
    model, tokenizer = result.model.eval(), result.tokenizer
    texts = ["tv", "a very long title of a laptop with sixteen gigabytes of memory and a backlit keyboard", "earbuds"]
    padded = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        whole = model.encode(padded["input_ids"], padded["attention_mask"])
        chunked = model.encode_texts(tokenizer, texts, max_tokens=64, chunk_size=2)
        assert model.encode_texts(tokenizer, [], max_tokens=64, chunk_size=2).shape == (0, model.dimension)
    assert torch.allclose(chunked, whole, atol=1e-5)


def test_query_split_holds_out_whole_queries_stably() -> None:
    product = Product(id="p", title="a lamp", price=1.0)
    examples = [
        RankingExample(group=f"q{i // 3}", query=f"query {i // 3}", product=product, click=0.0, cart=0.0, relevance=1.0)
        for i in range(3_000)
    ]
    train, dev = query_split(examples, dev_fraction=0.1)
    train_groups, dev_groups = {e.group for e in train}, {e.group for e in dev}
    assert not train_groups & dev_groups and len(train) + len(dev) == len(examples)
    assert 60 <= len(dev_groups) <= 140  # about a tenth of the 1,000 queries
    assert {e.group for e in query_split(examples[::-1], dev_fraction=0.1)[1]} == dev_groups  # not order-dependent
