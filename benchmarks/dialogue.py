"""Dialogue quality: intent classification, FAQ answering and slot extraction, with baselines in the same run.

- Intents on the project's held-out split (``benchmarks/data/intents_heldout.yaml``, never trained on) and,
  when ``../shared/data/intents`` is present, on the held-out sides of the public sets mapped to our intents
  (``benchmarks/intent_sets.py`` documents the mapping and the split): CLINC150 test (order_status, small
  talk → smalltalk, ``oos`` and the 122 non-shop intents → out_of_scope; CC BY 3.0, Larson et al. 2019) and
  Bitext's hash-held-out 20 % (tracking → order_status, a person or a complaint → handoff, policy and
  account questions → faq; CDLA-Sharing-1.0). Methods, all with out-of-scope below ``intent_threshold``
  where they give a confidence: the shipped head (context-aware, trained on the written, situated, public
  and store-generated utterances; public utterances open a session, the project's refinements, comparisons
  and product questions are said with results on screen, and once more opening a session), the previous head
  (text only, trained on ``intents.yaml`` alone, trained in the same run), a 1-nearest-neighbour baseline
  over the previous training embeddings and a keyword-rule baseline.
- FAQ top-1 accuracy on paraphrased demo-FAQ questions (``benchmarks/data/faq_paraphrases.yaml``): what the
  assistant uses (best question similarity + ``faq_answer_weight`` × answer similarity, the weight chosen on
  ``faq_paraphrases_dev.yaml``) against the nearest single vector and BM25 over the same entries;
  "answered" = right entry and calibrated score ≥ threshold.
- Slot exact-match on ``benchmarks/data/slots.yaml`` against the demo catalog's vocabulary.

    python benchmarks/dialogue.py [--shared PATH] [--json]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant import INTENTS, Assistant, IntentClassifier, parse_request  # noqa: E402
from assistant.intent_heads import intent_training_examples  # noqa: E402
from assistant.intents import (  # noqa: E402
    IntentContext,
    default_training_data_path,
    examples_without_context,
    load_utterances,
)
from benchmarks import intent_sets  # noqa: E402
from benchmarks._common import SHARED_DATA, emit_json, machine, markdown_table  # noqa: E402
from retrieval import Settings, Store, ensure_demo_data  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
# A method reads the messages and the session each was said in (the text-only methods ignore the session).
Predictor = Callable[[Sequence[str], Sequence[IntentContext]], list[str]]
# Refinements, comparisons and product questions are said with results on screen; the held-out set is
# evaluated in that session too ("as said"), and once more with every message opening a session.
_WITH_RESULTS = IntentContext(cards=5, last_intent="product_search")

# The keyword baseline: first matching rule wins, in this order.
_KEYWORD_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("handoff", re.compile(r"\b(human|person|agent|representative|someone|staff|support team|manager)\b")),
    ("order_status", re.compile(r"\b(my order|my package|my parcel|my delivery|track|tracking|shipped yet)\b")),
    ("compare", re.compile(r"\b(compare|vs|versus|difference|better|side by side)\b")),
    ("product_question", re.compile(r"\b(does (it|the|that)|is (it|the|that)|how much (ram|storage)|specs)\b")),
    ("refine", re.compile(r"\b(cheaper|only|not|instead|budget|more expensive|sort|forget)\b")),
    ("faq", re.compile(r"\b(return|refund|shipping|delivery|warranty|pay|payment|policy|gift card|discount|hours)\b")),
    ("smalltalk", re.compile(r"^(hi|hello|hey|thanks|thank you|bye|goodbye|ok|cool)\b")),
    ("product_search", re.compile(r"\b(tv|laptop|headphones?|earbuds|camera|tablet|watch|speaker|monitor|show me|"
                                  r"looking for|need a|want a)\b")),
]  # fmt: skip


def keyword_baseline(texts: Sequence[str], contexts: Sequence[IntentContext] = ()) -> list[str]:
    return [next((intent for intent, rule in _KEYWORD_RULES if rule.search(t.lower())), "out_of_scope") for t in texts]


def scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    labels = sorted(set(gold))
    f1s = []
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, predicted, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    oos = [p for g, p in zip(gold, predicted, strict=True) if g == "out_of_scope"]
    return {
        "n": len(gold),
        "accuracy": float(np.mean([g == p for g, p in zip(gold, predicted, strict=True)])),
        "macro_f1": float(np.mean(f1s)),
        "oos_false_accept": float(np.mean([p != "out_of_scope" for p in oos])) if oos else float("nan"),
    }


def held_out() -> tuple[list[str], list[str]]:
    data = yaml.safe_load((DATA / "intents_heldout.yaml").read_text(encoding="utf-8"))
    return [t for texts in data.values() for t in texts], [i for i, texts in data.items() for _ in texts]


TestSet = tuple[list[str], list[str], list[IntentContext]]


def public_test_set(rows: list[tuple[str, str]] | None) -> TestSet | None:
    """Public utterances open a session: none of them refers to anything shown."""
    if rows is None:
        return None
    return [text for text, _ in rows], [intent for _, intent in rows], [IntentContext()] * len(rows)


def held_out_set(*, as_said: bool) -> TestSet:
    texts, gold = held_out()
    shown = ("refine", "compare", "product_question")
    return texts, gold, [_WITH_RESULTS if as_said and g in shown else IntentContext() for g in gold]


def intent_predictors(store: Store) -> dict[str, Predictor]:
    shipped_head = IntentClassifier.train(intent_training_examples(store), store.embedder)
    utterances = load_utterances(default_training_data_path())
    previous_head = IntentClassifier.train(examples_without_context(utterances), store.embedder)
    train_texts = [t for intent in utterances for t in utterances[intent]]
    train_labels = [intent for intent in utterances for _ in utterances[intent]]
    train_vectors = store.embedder.embed(train_texts)
    threshold = store.settings.intent_threshold
    embedded: dict[tuple[str, ...], np.ndarray] = {}

    def embed(texts: Sequence[str]) -> np.ndarray:
        """Each test set is embedded once for all methods (the CPU is the benchmark's bottleneck)."""
        key = tuple(texts)
        if key not in embedded:
            embedded[key] = store.embedder.embed(list(texts))
        return embedded[key]

    def head(classifier: IntentClassifier) -> Predictor:
        return lambda texts, contexts: classifier.classify(embed(texts), threshold, contexts)

    def nearest(texts: Sequence[str], contexts: Sequence[IntentContext]) -> list[str]:
        similarities = embed(texts) @ train_vectors.T
        return [train_labels[i] for i in similarities.argmax(axis=1)]

    return {"context-aware head, broad training (shipped)": head(shipped_head),
            "text-only head on intents.yaml (previous)": head(previous_head),
            "1-NN over MiniLM (baseline)": nearest, "keyword rules (baseline)": keyword_baseline}  # fmt: skip


def faq_results(store: Store, file_name: str) -> dict[str, dict[str, float]]:
    paraphrases = yaml.safe_load((DATA / file_name).read_text(encoding="utf-8"))
    pairs = [(question, faq_id) for faq_id, questions in paraphrases.items() for question in questions]
    dense_top, answered, question_only_top, lexical_top = [], [], [], []
    for question, faq_id in pairs:
        hit = store.faq.search(question, 1)[0]
        dense_top.append(hit.entry.id == faq_id)
        answered.append(hit.entry.id == faq_id and hit.score >= store.settings.faq_threshold)
        question_only_top.append(store.faq.dense(question, 1)[0][0] == faq_id)
        lexical = store.faq.lexical(question, 1)
        lexical_top.append(bool(lexical) and lexical[0][0] == faq_id)
    return {
        "questions + answer-weighted (shipped)": {"n": len(pairs), "top1": float(np.mean(dense_top)),
                                                  "answered_correctly": float(np.mean(answered))},
        "nearest question or answer vector (baseline)": {"n": len(pairs), "top1": float(np.mean(question_only_top))},
        "BM25 over the same entries (baseline)": {"n": len(pairs), "top1": float(np.mean(lexical_top))},
    }  # fmt: skip


def slot_results(store: Store) -> dict[str, Any]:
    cases = yaml.safe_load((DATA / "slots.yaml").read_text(encoding="utf-8"))
    assistant = Assistant(store)
    exact, misses = 0, []
    for case in cases:
        text = assistant.corrected(case["text"])
        request = parse_request(text, assistant.lexicon(), case.get("shown", []), currency=assistant.currency)
        slots: dict[str, Any] = dict(request.constraints.as_slots())
        if request.reference:
            slots["reference"] = request.reference
        expected = {
            k: (float(v) if isinstance(v, int) and not isinstance(v, bool) else v) for k, v in case["slots"].items()
        }
        if slots == expected:
            exact += 1
        else:
            misses.append({"text": case["text"], "expected": expected, "actual": slots})
    return {"n": len(cases), "exact_match": exact / len(cases), "misses": misses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=SHARED_DATA, help="the shared data folder (../shared/data)")
    parser.add_argument("--json", action="store_true", help="print machine-readable figures only")
    args = parser.parse_args()

    store = Store.ephemeral(settings=Settings())
    ensure_demo_data(store)
    predictors = intent_predictors(store)
    sets: dict[str, TestSet | None] = {
        "project held-out (written, 9 intents), as said": held_out_set(as_said=True),
        "project held-out, every message opening a session": held_out_set(as_said=False),
        "CLINC150 test, mapped": public_test_set(intent_sets.clinc(args.shared, "test")),
        "Bitext held-out 20 %, mapped": public_test_set(intent_sets.bitext(args.shared, "test")),
    }
    intents: dict[str, Any] = {}
    for set_name, data in sets.items():
        if data is None:
            intents[set_name] = "absent: put the shared data at ../shared/data or pass --shared"
            continue
        texts, gold, contexts = data
        intents[set_name] = {name: scores(gold, predict(texts, contexts)) for name, predict in predictors.items()}
    results = {
        "machine": machine(),
        "intents": intents,
        "faq": faq_results(store, "faq_paraphrases.yaml"),
        "faq_dev": faq_results(store, "faq_paraphrases_dev.yaml"),
        "slots": slot_results(store),
        "labels": list(INTENTS),
    }
    if args.json:
        emit_json(results)
        return
    rows = []
    for set_name, by_method in intents.items():
        if isinstance(by_method, str):
            rows.append([set_name, by_method, "", "", "", ""])
            continue
        for method, s in by_method.items():
            fa = "—" if s["oos_false_accept"] != s["oos_false_accept"] else f"{s['oos_false_accept']:.3f}"
            rows.append([set_name, method, s["n"], f"{s['accuracy']:.3f}", f"{s['macro_f1']:.3f}", fa])
    print("## Intent classification\n")
    print(markdown_table(["set", "method", "n", "accuracy", "macro-F1", "OOS false-accept"], rows))
    print("\n## FAQ answering on paraphrased demo questions\n")
    faq_rows = [
        [
            split,
            method,
            r["n"],
            f"{r['top1']:.3f}",
            f"{r['answered_correctly']:.3f}" if "answered_correctly" in r else "—",
        ]
        for split, key in (("test", "faq"), ("dev (used to tune the answer weight)", "faq_dev"))
        for method, r in results[key].items()
    ]
    print(markdown_table(["split", "method", "n", "top-1", "answered (≥ threshold) and right"], faq_rows))
    slots = results["slots"]
    print(f"\n## Slot extraction\n\nexact match {slots['exact_match']:.3f} on {slots['n']} labelled messages")
    for miss in slots["misses"]:
        print(f"- {miss['text']!r}: expected {miss['expected']}, got {miss['actual']}")


if __name__ == "__main__":
    main()
