"""Bitext and CLINC150 mapped to shopassist's intents, split deterministically into training and held-out parts.

The mapping is explicit and documented here; anything not listed is left out (its meaning in a shop is
ambiguous: CLINC's ``yes``/``no``/``repeat``, shopping lists and bank-worded billing; Bitext's
``place_order`` and ``review``).

- **Bitext** (CDLA-Sharing-1.0): both files are pooled under one set of intent names (the 8,175 file's
  ``check_invoice`` is the 21,534 file's ``check_invoices``) and de-duplicated by normalised text. The split
  is a hash of that text, so an utterance the two files share (183 of them) is on the same side in both:
  never trained on and tested on. Held out: the hash's 20 %.
- **CLINC150** (CC BY 3.0, Larson et al. 2019): its own train and test files; test utterances that also occur
  in train are removed from training.

``python benchmarks/intent_sets.py`` writes the training parts (sampled, with attribution headers) to
``assistant/data/intents_bitext.yaml`` and ``assistant/data/intents_clinc150.yaml``, which ship with the
product so that it trains without the shared data folder.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import SHARED_DATA  # noqa: E402

ASSISTANT_DATA = Path(__file__).resolve().parent.parent / "assistant" / "data"
PROJECT_HELD_OUT = Path(__file__).resolve().parent / "data" / "intents_heldout.yaml"
BITEXT_TO_INTENT = {
    "track_order": "order_status",
    "contact_human_agent": "handoff",
    "complaint": "handoff",  # an upset customer is offered a person
    # Policy and account questions a store answers from its FAQ.
    "contact_customer_service": "faq",
    "check_refund_policy": "faq",
    "get_refund": "faq",
    "track_refund": "faq",
    "delivery_options": "faq",
    "delivery_period": "faq",
    "check_payment_methods": "faq",
    "payment_issue": "faq",
    "check_cancellation_fee": "faq",
    "cancel_order": "faq",
    "change_order": "faq",
    "check_invoices": "faq",
    "get_invoice": "faq",
    "change_shipping_address": "faq",
    "set_up_shipping_address": "faq",
    "create_account": "faq",
    "delete_account": "faq",
    "edit_account": "faq",
    "recover_password": "faq",
    "registration_problems": "faq",
    "switch_account": "faq",
    "newsletter_subscription": "faq",
}
_BITEXT_RENAMED = {"check_invoice": "check_invoices"}
CLINC_SMALLTALK = frozenset(
    {"greeting", "goodbye", "thank_you", "are_you_a_bot", "what_is_your_name", "what_can_i_ask_you",
     "who_made_you", "who_do_you_work_for"}
)  # fmt: skip
# Training sample sizes: enough variety per source intent, while embedding the whole set stays a few seconds.
_BITEXT_PER_INTENT = 50
_CLINC_PER_SMALLTALK_INTENT = 40
_CLINC_PER_OTHER_INTENT = 6
_HELD_OUT_BUCKETS = 5  # one bucket in five is held out


def _normalised(text: str) -> str:
    return " ".join(text.casefold().split())


def _bucket(text: str) -> int:
    return int(hashlib.sha1(_normalised(text).encode()).hexdigest(), 16) % _HELD_OUT_BUCKETS


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


def bitext(
    shared: Path, split: str, files: Iterable[str] = ("utterances.csv", "utterances_8175.csv")
) -> list[tuple[str, str]] | None:
    """(utterance, our intent) of the mapped Bitext rows on one side of the split (``train`` or ``test``)."""
    folder = shared / "intents" / "bitext"
    if not (folder / "utterances_8175.csv").exists():
        return None
    seen: set[str] = set()
    rows = []
    for name in files:
        for row in _read(folder / name):
            source = _BITEXT_RENAMED.get(row["intent"], row["intent"])
            key = _normalised(row["utterance"])
            if source not in BITEXT_TO_INTENT or key in seen or (_bucket(key) == 0) != (split == "test"):
                continue
            seen.add(key)
            rows.append((row["utterance"], BITEXT_TO_INTENT[source], source))
    return [(text, intent) for text, intent, _ in rows] if split == "test" else _sampled(rows, _BITEXT_PER_INTENT)


def clinc_label(intent: str, relevance: str) -> str | None:
    """Our intent for a CLINC150 intent, or None when it has no clear one in a shop."""
    if intent == "order_status":
        return "order_status"
    if intent in CLINC_SMALLTALK:
        return "smalltalk"
    if intent == "oos" or relevance == "none":
        return "out_of_scope"
    return None


def clinc(shared: Path, split: str) -> list[tuple[str, str]] | None:
    """(utterance, our intent) of the mapped CLINC150 rows of ``train`` (sampled) or ``test`` (all)."""
    folder = shared / "intents" / "clinc150"
    if not (folder / "test.csv").exists():
        return None
    relevance = {row["intent"]: row["shop_relevance"] for row in _read(folder / "intents.csv")}
    if split == "test":
        return [
            (row["utterance"], label)
            for row in _read(folder / "test.csv")
            if (label := clinc_label(row["intent"], relevance.get(row["intent"], ""))) is not None
        ]
    tested = {_normalised(row["utterance"]) for row in _read(folder / "test.csv")}
    rows = []
    for row in _read(folder / "train.csv"):
        label = clinc_label(row["intent"], relevance.get(row["intent"], ""))
        if label is not None and _normalised(row["utterance"]) not in tested:
            rows.append((row["utterance"], label, row["intent"]))
    per_intent = {"order_status": 100, "oos": 100, **dict.fromkeys(CLINC_SMALLTALK, _CLINC_PER_SMALLTALK_INTENT)}
    return _sampled(rows, _CLINC_PER_OTHER_INTENT, per_intent)


def _sampled(
    rows: list[tuple[str, str, str]], default: int, per_source: dict[str, int] | None = None
) -> list[tuple[str, str]]:
    """Up to ``default`` (or ``per_source[source]``) rows of each source intent, chosen by text hash (stable)."""
    by_source: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for text, intent, source in rows:
        by_source[source].append((text, intent))
    chosen = []
    for source, items in sorted(by_source.items()):
        items.sort(key=lambda item: hashlib.sha1(item[0].encode()).hexdigest())
        chosen += items[: (per_source or {}).get(source, default)]
    return chosen


def _header(source: str, licence: str, changes: str) -> str:
    return (
        f"# Intent training utterances derived from {source}.\n"
        f"# Licence: {licence}; the licence text is in assistant/data/licences/ (see assistant/data/README.md).\n"
        f"# Changed (notice of modification): {changes}\n"
        "# Generated by benchmarks/intent_sets.py from the training side of its split; never edit by hand.\n"
    )


def write_training_files(shared: Path, out: Path = ASSISTANT_DATA) -> dict[str, int]:
    """Write the shipped training parts; returns utterances per file."""
    bitext_rows, clinc_rows = bitext(shared, "train"), clinc(shared, "train")
    if bitext_rows is None or clinc_rows is None:
        raise SystemExit(f"{shared}/intents: Bitext or CLINC150 is missing")
    files = {
        "intents_bitext.yaml": (
            bitext_rows,
            _header(
                "the Bitext Sample Customer Service Training Dataset for English (c) Bitext Innovations 2022 and "
                "the Bitext Sample Pre-built Customer Support Dataset for English (c) Bitext Innovations 2020",
                "Community Data License Agreement - Sharing - Version 1.0 (CDLA-Sharing-1.0)",
                "a sample of the rows, relabelled from Bitext's intents to shopassist's (mapping in "
                "benchmarks/intent_sets.py), grouped by intent; utterances unchanged.",
            ),
        ),
        "intents_clinc150.yaml": (
            clinc_rows,
            _header(
                "CLINC150 (Larson et al. 2019, An Evaluation Dataset for Intent Classification and Out-of-Scope "
                "Prediction, EMNLP-IJCNLP 2019, https://www.aclweb.org/anthology/D19-1131)",
                "Creative Commons Attribution 3.0 Unported (CC BY 3.0)",
                "a sample of the training rows, relabelled to shopassist's intents (mapping in "
                "benchmarks/intent_sets.py), grouped by intent; utterances unchanged.",
            ),
        ),
    }
    # The project's own held-out set stays held out too ("thanks a lot" is also a CLINC utterance).
    held_out = yaml.safe_load(PROJECT_HELD_OUT.read_text(encoding="utf-8"))
    project_test = {_normalised(text) for texts in held_out.values() for text in texts}
    counts = {}
    for name, (rows, header) in files.items():
        grouped: dict[str, list[str]] = defaultdict(list)
        for text, intent in rows:
            if _normalised(text) not in project_test:
                grouped[intent].append(text)
        body = yaml.safe_dump(dict(sorted(grouped.items())), allow_unicode=True, sort_keys=False, width=200)
        (out / name).write_text(header + body, encoding="utf-8")
        counts[name] = sum(len(texts) for texts in grouped.values())
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=SHARED_DATA, help="the shared data folder (../shared/data)")
    args = parser.parse_args()
    for name, count in write_training_files(args.shared).items():
        print(f"{name}: {count} utterances")


if __name__ == "__main__":
    main()
