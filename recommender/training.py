"""Training data (judgement files and the event log) and the training loop of the CTR ranker."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from recommender.ctr_model import CtrModel, CtrModelConfig, clicked_similarity
from recommender.errors import RecommenderError
from recommender.evaluation import JudgedGroup, summarize
from recommender.features import SESSION_CLICKS, CandidateSignals, RankingContext, features, product_text
from retrieval import CatalogSpeller, Product
from retrieval.embeddings import pick_device, resolve_model_path


class TrainingDataError(RecommenderError):
    """A judgement file or event export cannot be used for training; the message names file and line."""


@dataclass(frozen=True)
class RankingExample:
    """One (query, product) pair with its labels; ``group`` ties the pairs of one query (or turn) together."""

    group: str
    query: str
    product: Product
    click: float
    cart: float
    relevance: float
    position: int = 0  # 1-based place shown, 0 = unknown (judgements); used only to debias training
    signals: CandidateSignals = field(default_factory=CandidateSignals)
    context: RankingContext = field(default_factory=RankingContext)
    time: float = 0.0


SelectionMetric = Literal["auc", "ndcg@10"]
SELECTION_METRICS: tuple[str, ...] = get_args(SelectionMetric)


@dataclass
class RankerTrainingArguments:
    epochs: int = 1
    batch_size: int = 64
    encoder_learning_rate: float = 3e-5
    lora_learning_rate: float = 5e-4  # adapters start at zero and are few: they need a larger step
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    click_weight: float = 1.0  # α in α·BCE(click) + β·BCE(cart)
    cart_weight: float = 0.5  # β
    # γ: ListNet term over each query's products in the batch, targets softmax(temperature · (relevance − 1)).
    # NDCG is a within-query, graded measure; the pointwise heads alone see neither the grouping nor the grades.
    listwise_weight: float = 1.0
    listwise_temperature: float = 2.0
    eval_every: int = 200  # steps between dev evaluations (early stopping)
    patience: int = 3  # dev evaluations without improvement before stopping
    # The dev metric that picks the checkpoint: pooled AUC rewards scores comparable across queries, NDCG@10
    # only the order within each query (on Home Depot it peaks earlier in training than AUC does).
    selection_metric: SelectionMetric = "auc"
    max_steps: int | None = None
    seed: int = 0
    device: str = "auto"


@dataclass
class TrainingResult:
    model: CtrModel
    tokenizer: Any
    metrics: dict[str, float]
    history: list[dict[str, float]]
    device: str
    seconds: float
    pairs_per_second: float


def load_judgements(
    path: Path, *, threshold: float = 2.5, cart_threshold: float = 3.0, limit: int | None = None
) -> list[RankingExample]:
    """Rows ``query, product_uid, relevance`` (+ ``product_title``, ``description``): the Home Depot format.

    click = relevance ≥ threshold; add-to-cart = relevance ≥ cart_threshold (a graded proxy, not real carts).
    """
    examples = []
    try:
        with path.open(encoding="utf-8", newline="") as file:
            reader = csv.DictReader(file)
            missing = {"query", "product_uid", "relevance"} - set(reader.fieldnames or [])
            if missing:
                raise TrainingDataError(f"{path}: missing columns {', '.join(sorted(missing))}")
            for line, row in enumerate(reader, start=2):
                try:
                    relevance = float(row["relevance"])
                    product = Product(
                        id=str(row["product_uid"]),
                        title=row.get("product_title") or str(row["product_uid"]),
                        description=row.get("description") or "",
                        price=0.0,
                    )
                except (ValueError, TypeError) as error:
                    raise TrainingDataError(f"{path}:{line}: {error}") from error
                examples.append(
                    RankingExample(
                        group=row.get("query_id") or row["query"],
                        query=row["query"],
                        product=product,
                        click=float(relevance >= threshold),
                        cart=float(relevance >= cart_threshold),
                        relevance=relevance,
                    )
                )
                if limit is not None and len(examples) >= limit:
                    break
    except OSError as error:
        raise TrainingDataError(f"{path}: {error}") from error
    if not examples:
        raise TrainingDataError(f"{path}: no judgements")
    return examples


def examples_from_events(
    rows: Sequence[dict[str, Any]], catalog: Callable[[Sequence[str]], dict[str, Product]]
) -> list[RankingExample]:
    """One example per logged impression (time order); click = clicked or carted, cart = carted.

    Impressions of products no longer in the catalog are skipped. Relevance mirrors the labels
    (1, 2 = clicked, 3 = carted) so the same metrics apply as for judgements. Each turn's context holds
    the products its session clicked in earlier turns, as the assistant passes them when serving.
    """
    products = catalog(list({str(row["product_id"]) for row in rows}))
    examples = []
    clicked_before: dict[str, list[Product]] = defaultdict(list)  # session → clicked products, most recent first
    for _, turn_rows in itertools.groupby(rows, key=lambda row: row["turn_id"]):
        turn = [(row, products[str(row["product_id"])]) for row in turn_rows if str(row["product_id"]) in products]
        if not turn:
            continue
        first = turn[0][0]
        ledger = json.loads(first["ledger"]) if isinstance(first.get("ledger"), str) else {}
        session = str(first.get("session", ""))
        context = RankingContext(ledger=ledger, clicked=tuple(clicked_before[session]))
        for row, product in turn:
            carted = float(bool(row.get("add_to_cart")))
            clicked = max(float(bool(row.get("click"))), carted)
            examples.append(
                RankingExample(
                    group=str(row["turn_id"]),
                    query=str(row["query"]),
                    product=product,
                    click=clicked,
                    cart=carted,
                    relevance=1.0 + clicked + carted,
                    position=int(row["position"]),
                    context=context,
                    time=float(row["created_at"]),
                )
            )
        # Distinct products, most recent first, at most SESSION_CLICKS: what EventStore.clicked_products serves.
        newly = {product.id: product for row, product in turn if row.get("click") or row.get("add_to_cart")}
        earlier = [product for product in clicked_before[session] if product.id not in newly]
        clicked_before[session] = [*newly.values(), *earlier][:SESSION_CLICKS]
    return examples


def with_corrected_queries(examples: Sequence[RankingExample], speller: CatalogSpeller) -> list[RankingExample]:
    """The examples with each query as product search reads it: the ranker is served corrected queries."""
    return [replace(example, query=speller.correct(example.query)) for example in examples]


def judged_catalog_speller(*example_sets: Sequence[RankingExample]) -> CatalogSpeller:
    """Spelling correction towards the words of the judged products, when no catalog is at hand."""
    return CatalogSpeller.from_texts(product_text(e.product) for examples in example_sets for e in examples)


def time_split(
    examples: Sequence[RankingExample], dev_fraction: float = 0.2
) -> tuple[list[RankingExample], list[RankingExample]]:
    """Earlier turns train, later turns evaluate: a model is judged on the future, as it will be served."""
    starts: dict[str, float] = {}
    for example in examples:
        starts[example.group] = min(example.time, starts.get(example.group, example.time))
    ordered = sorted(starts, key=lambda group: starts[group])
    cut = set(ordered[int(len(ordered) * (1 - dev_fraction)) :])
    return [e for e in examples if e.group not in cut], [e for e in examples if e.group in cut]


def query_split(
    examples: Sequence[RankingExample], dev_fraction: float = 0.1
) -> tuple[list[RankingExample], list[RankingExample]]:
    """Whole queries held out by a stable hash of their group: judgements have no time order to split on.

    A query's products never straddle the split, so the dev figures measure queries the model has not seen.
    """
    cut = int(dev_fraction * 10_000)

    def held_out(group: str) -> bool:
        return int.from_bytes(hashlib.sha1(group.encode()).digest()[:4], "big") % 10_000 < cut

    return [e for e in examples if not held_out(e.group)], [e for e in examples if held_out(e.group)]


def groups_of(examples: Sequence[RankingExample], threshold: float) -> list[tuple[JudgedGroup, list[int]]]:
    """Judged groups and, for each, the indexes of its examples."""
    indexes: dict[str, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        indexes[example.group].append(i)
    return [
        (
            JudgedGroup(
                examples[rows[0]].query,
                tuple(examples[i].product.id for i in rows),
                tuple(examples[i].relevance for i in rows),
                threshold,
            ),
            rows,
        )
        for rows in indexes.values()
    ]


def fingerprint(examples: Sequence[RankingExample]) -> str:
    digest = hashlib.sha1()
    for example in examples:
        digest.update(f"{example.group}\x1f{example.product.id}\x1f{example.relevance}\x1f{example.click}\n".encode())
    return digest.hexdigest()[:16]


def load_encoder(config: CtrModelConfig) -> tuple[Any, Any, int]:
    from transformers import AutoModel, AutoTokenizer

    path = resolve_model_path(config.encoder)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        encoder = AutoModel.from_pretrained(path)
    except OSError as error:
        raise RecommenderError(f"cannot load the ranker's encoder {config.encoder!r} from {path}: {error}") from error
    return encoder, tokenizer, int(encoder.config.hidden_size)


# Texts per encoder pass in training: a batch's 64 titles in four chunks of similar length.
TRAINING_CHUNK = 16


def _batch(examples: Sequence[RankingExample], feature_rows: npt.NDArray[np.float32], device: str) -> dict[str, Any]:
    """Texts to encode and tensors on ``device`` for one training step."""
    import torch

    queries = list(dict.fromkeys(e.query for e in examples))
    # Pairs of one query share its encoding: batches hold whole query groups, so this saves most query passes.
    slot = {query: i for i, query in enumerate(queries)}
    clicked, owned = _session_clicks(examples)
    return {
        "queries": queries,
        "query_index": torch.tensor([slot[e.query] for e in examples], device=device),
        # The sessions' clicked products go through the same tower pass, after the candidates.
        "products": [product_text(e.product) for e in examples] + clicked,
        "owned": torch.from_numpy(owned).to(device),
        "features": torch.from_numpy(feature_rows).to(device),
        "click": torch.tensor([e.click for e in examples], device=device),
        "relevance": torch.tensor([e.relevance for e in examples], device=device),
        "cart": torch.tensor([e.cart for e in examples], device=device),
        "position": torch.tensor([e.position for e in examples], device=device),
    }


def _clicked_texts(examples: Sequence[RankingExample]) -> list[str]:
    """The distinct texts of the products the examples' sessions clicked."""
    return list(dict.fromkeys(product_text(product) for e in examples for product in e.context.clicked))


def _session_clicks(examples: Sequence[RankingExample]) -> tuple[list[str], npt.NDArray[np.bool_]]:
    """:func:`_clicked_texts`, and rows × texts: whose click it was."""
    texts = _clicked_texts(examples)
    column = {text: j for j, text in enumerate(texts)}
    owned = np.zeros((len(examples), len(texts)), dtype=bool)
    for i, example in enumerate(examples):
        owned[i, [column[product_text(product)] for product in example.context.clicked]] = True
    return texts, owned


def _clicked_similarity(product: Any, clicked: Any, owned: Any) -> Any:
    return clicked_similarity(product, clicked, owned) if len(clicked) else None


def _chunks(items: Sequence[RankingExample], size: int) -> Iterator[Sequence[RankingExample]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def score_examples(
    model: CtrModel, tokenizer: Any, examples: Sequence[RankingExample], device: str, batch_size: int = 256
) -> list[float]:
    """Click logits (no position term), in order; each distinct query and product is encoded once."""
    import torch

    model.eval()
    with torch.inference_mode(), _autocast(device):

        def encode(texts: list[str], max_tokens: int) -> dict[str, torch.Tensor]:
            vectors = model.encode_texts(tokenizer, texts, max_tokens, chunk_size=batch_size)
            return dict(zip(texts, vectors.float(), strict=True))

        queries = encode(list(dict.fromkeys(e.query for e in examples)), model.config.max_query_tokens)
        texts = [product_text(e.product) for e in examples] + _clicked_texts(examples)
        products = encode(list(dict.fromkeys(texts)), model.config.max_product_tokens)
        scores: list[float] = []
        for chunk in _chunks(examples, batch_size):
            query = torch.stack([queries[e.query] for e in chunk])
            product = torch.stack([products[product_text(e.product)] for e in chunk])
            clicked_texts, owned = _session_clicks(chunk)
            clicked = torch.stack([products[text] for text in clicked_texts]) if clicked_texts else product[:0]
            feature_rows = np.stack([features(e.query, e.product, e.signals, e.context) for e in chunk])
            click, _ = model.score(
                query,
                product,
                torch.from_numpy(feature_rows).to(device),
                _clicked_similarity(product, clicked, torch.from_numpy(owned).to(device)),
            )
            scores.extend(click.float().cpu().tolist())
    return scores


def evaluate_model(
    model: CtrModel, tokenizer: Any, examples: Sequence[RankingExample], device: str, threshold: float
) -> dict[str, float]:
    scores = score_examples(model, tokenizer, examples, device)
    grouped = groups_of(examples, threshold)
    return summarize([group for group, _ in grouped], [[scores[i] for i in rows] for _, rows in grouped])


def _autocast(device: str) -> Any:
    import contextlib

    import torch

    if device == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def _listwise_loss(scores: Any, relevance: Any, groups: Any, temperature: float) -> Any:
    """Mean over queries with two or more products of cross-entropy(softmax(target), softmax(scores))."""
    import torch

    losses = []
    for group in torch.unique(groups):
        rows = groups == group
        if int(rows.sum()) < 2:
            continue
        target = torch.softmax(temperature * (relevance[rows] - 1.0), dim=0)
        losses.append(-(target * torch.log_softmax(scores[rows], dim=0)).sum())
    return torch.stack(losses).mean() if losses else scores.sum() * 0.0


def train_ranker(
    train: Sequence[RankingExample],
    dev: Sequence[RankingExample],
    config: CtrModelConfig,
    args: RankerTrainingArguments,
    *,
    threshold: float = 2.5,
    on_step: Callable[[int, int, float, float | None], None] | None = None,
) -> TrainingResult:
    """AdamW with linear warmup/decay, early stopping on a dev metric, mixed precision on CUDA, fixed seeds."""
    import torch

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    encoder, tokenizer, dimension = load_encoder(config)
    model = CtrModel(encoder, dimension, config)
    train_features = np.stack([features(e.query, e.product, e.signals, e.context) for e in train])
    model.fit_feature_mask(torch.from_numpy(train_features), sessions_clicked=any(e.context.clicked for e in train))
    model = model.to(device)
    encoder_params = [p for p in model.encoder.parameters() if p.requires_grad]
    head_params = [p for name, p in model.named_parameters() if not name.startswith("encoder.")]
    groups = [{"params": head_params, "lr": args.head_learning_rate}]
    if encoder_params:
        rate = args.lora_learning_rate if config.finetune == "lora" else args.encoder_learning_rate
        groups.append({"params": encoder_params, "lr": rate})
    optimizer = torch.optim.AdamW(groups, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    total = min(args.max_steps or steps_per_epoch * args.epochs, steps_per_epoch * args.epochs)
    warmup = max(1, int(total * args.warmup_ratio))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
    )
    scaler = torch.amp.GradScaler("cuda", enabled=device == "cuda")
    bce = torch.nn.BCEWithLogitsLoss()
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, example in enumerate(train):
        by_group[example.group].append(i)
    group_lists = list(by_group.values())
    best_score, best_state, stale, step = -1.0, None, 0, 0
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    for _epoch in range(args.epochs):
        random.shuffle(group_lists)
        order = [i for rows in group_lists for i in rows]
        for start in range(0, len(order), args.batch_size):
            if step >= total or stale >= args.patience:
                break
            model.train()
            rows = order[start : start + args.batch_size]
            batch = _batch([train[i] for i in rows], train_features[rows], device)
            with _autocast(device):
                query = model.encode_texts(tokenizer, batch["queries"], config.max_query_tokens, TRAINING_CHUNK)
                query = query[batch["query_index"]]
                towers = model.encode_texts(tokenizer, batch["products"], config.max_product_tokens, TRAINING_CHUNK)
                product, clicked = towers[: len(batch["click"])], towers[len(batch["click"]) :]
                click, cart = model.score(
                    query, product, batch["features"], _clicked_similarity(product, clicked, batch["owned"])
                )
                click = model.biased_click_logit(click, batch["position"])
                loss = (
                    args.click_weight * bce(click.float(), batch["click"])
                    + args.cart_weight * bce(cart.float(), batch["cart"])
                    + args.listwise_weight
                    * _listwise_loss(click.float(), batch["relevance"], batch["query_index"], args.listwise_temperature)
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            dev_auc: float | None = None
            if dev and (step % args.eval_every == 0 or step == total):
                metrics = evaluate_model(model, tokenizer, dev, device, threshold)
                dev_auc = metrics["auc"]
                history.append({"step": step, "loss": float(loss.detach()), **metrics})
                if metrics[args.selection_metric] > best_score:
                    best_score, stale = metrics[args.selection_metric], 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    stale += 1
            if on_step is not None:
                on_step(step, total, float(loss.detach()), dev_auc)
    seconds = time.perf_counter() - started
    if best_state is not None:
        model.load_state_dict(best_state)
    metrics = evaluate_model(model, tokenizer, dev, device, threshold) if dev else {}
    return TrainingResult(model, tokenizer, metrics, history, device, seconds, step * args.batch_size / seconds)


def arguments_dict(args: RankerTrainingArguments) -> dict[str, Any]:
    return asdict(args)
