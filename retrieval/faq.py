"""FAQ answering calibrated on the store's own FAQ: dense ranking, a dense + lexical decision fitted per FAQ.

Entries are ranked by their best cosine similarity to a question's phrasings plus ``faq_answer_weight`` ×
the similarity to their answer. Whether the best entry answers at all is a logistic model over two
numbers: that dense score, and the share of the question's words (weighted by how rare they are in this
FAQ) that the entry uses anywhere, answer included ("apple pay" is only in the payment-methods answer; a
question about "bananas" uses a word no entry has).

The model is fitted on the loaded FAQ, on first use after each ingest. Every question and alternative
is held out in turn: against what remains of its own entry (for an entry without alternatives, the
answer) it is a positive example; with its own entry removed, it stands for a question on a topic the FAQ
lacks, and the nearer half of the other entries (by ranking score) are negative examples. Positives and
negatives get equal total weight, so 0.5 is where a wrong answer and a missed one are equally likely. A
weak prior, fitted the same way on public data (``benchmarks/faq.py --fit-prior``), gives an FAQ of one or
two entries a model at all; from a few dozen texts on, the store's own FAQ decides.

When the best two entries are nearly tied, :meth:`FaqIndex.choices` offers both ("did you mean A or B?")
rather than risk the wrong one. How near is near is learnt from the same held-out questions: how often a
question's own entry beats the best other one, as a function of the gap between them.

Chosen on the dev split (``benchmarks/faq.py --split dev``; figures in docs/understanding.md): the nearer
half of the other entries as negatives (only the nearest declined half of the Bitext dev paraphrases; every
other entry answered more of them but also more questions about topics the FAQ lacks). The lead over the
second entry as a third feature of the decision answered more paraphrases but also 8-10 % of 200 CLINC150
train + validation out-of-scope questions on the demo FAQ (2.5 % without it), so it only decides when to
offer two entries. Tried on dev and left out because the Bitext and demo dev top-1 moved by less than the
noise (±0.01): BM25 alone or fused by reciprocal rank, word coverage in the ranking,
answer sentences scored separately, embeddings centred on the FAQ's mean or with its main directions
removed, content words embedded on their own, and scores corrected for entries that resemble every other
entry (hubness).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from retrieval._document_index import DocumentIndex, vector_id
from retrieval.errors import EmbeddingError, IndexMismatchError
from retrieval.models import FaqEntry, FaqHit
from retrieval.text import singular
from retrieval.text import words as word_tokens

FloatArray = npt.NDArray[np.float64]

_LETTERS = re.compile(r"(?<![\w-])[A-Za-z]+(?![\w-])")  # the words the speller may correct
# Weight of the prior against the store's examples (whose weights sum to their number): a handful of examples.
_PRIOR_STRENGTH = 4.0
# Logistic coefficients (bias, dense score, word coverage) fitted by ``benchmarks/faq.py --fit-prior``
# on the Bitext dev sample against CLINC150 validation out-of-scope questions: public data, neither the demo
# FAQ nor any benchmark test question. Only an FAQ too small to calibrate itself leans on them.
PRIOR_WEIGHTS: tuple[float, ...] = (-8.3, 13.0, 1.3)
_NEWTON_STEPS = 30
# Below this probability that the best entry rather than the second is the one meant, both are offered: asking
# costs the customer a click, a wrong answer costs more. Chosen on the dev split (benchmarks/faq.py).
CLARIFY_BELOW = 0.6


@functools.cache
def encoder_words(model: str) -> frozenset[str]:
    """Whole words of the embedding model's tokenizer vocabulary (WordPiece, SentencePiece or BPE)."""
    from transformers import AutoTokenizer

    from retrieval.embeddings import resolve_model_path

    try:
        vocabulary = AutoTokenizer.from_pretrained(resolve_model_path(model)).get_vocab()
    except (OSError, ValueError) as error:
        raise EmbeddingError(f"cannot read the tokenizer of embedding model {model!r}: {error}") from error
    words = (token.removeprefix("▁").removeprefix("Ġ").casefold() for token in vocabulary)
    return frozenset(word for word in words if word.isalpha())


def words(sentence: str) -> list[str]:
    """The words the coverage compares: case-folded, plural endings dropped."""
    return [singular(word) for word in word_tokens(sentence)]


@dataclass(frozen=True)
class Evidence:
    """(question, entry) pairs as :meth:`FaqModel.decision_features`, whether the entry answers the question,
    and per held-out question its own entry's lead over the best other entry (negative: another ranks first)."""

    features: FloatArray
    answers: npt.NDArray[np.bool_]
    own_leads: FloatArray


def fit_logistic(
    features: FloatArray, labels: npt.NDArray[np.bool_], prior: Sequence[float], prior_strength: float
) -> FloatArray:
    """Class-balanced logistic regression (Newton's method) with a Gaussian prior centred on ``prior``.

    Positives and negatives each carry half the total weight, so the 0.5 probability sits where a
    wrong answer and a missed answer are equally likely, whatever the FAQ's size.
    """
    design = np.hstack([np.ones((len(features), 1)), features])
    weights = np.zeros(len(features))
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives:
        weights[labels] = len(features) / (2 * positives)
    if negatives:
        weights[~labels] = len(features) / (2 * negatives)
    centre = np.asarray(prior, dtype=np.float64)
    coefficients = centre.copy()
    target = labels.astype(np.float64)
    for _ in range(_NEWTON_STEPS):
        probability = 1.0 / (1.0 + np.exp(-(design @ coefficients)))
        gradient = design.T @ (weights * (probability - target)) + prior_strength * (coefficients - centre)
        curvature = (design.T * (weights * probability * (1 - probability))) @ design
        curvature += prior_strength * np.eye(len(centre))
        step = np.linalg.solve(curvature, gradient)
        coefficients -= step
        if float(np.abs(step).max()) < 1e-6:
            break
    return coefficients


def leads(scores: FloatArray) -> FloatArray:
    """Each score minus the best other score: positive only for a first place without a tie."""
    if len(scores) < 2:
        return np.zeros(len(scores))
    first, second = np.sort(scores)[::-1][:2]
    return np.asarray(scores - np.where(scores == first, second, first), dtype=np.float64)


def fit_lead_slope(own_leads: FloatArray) -> float:
    """β of P(the first-ranked of two entries is the one meant) = σ(β × gap between their scores), by Newton's
    method from held-out questions' leads (a negative lead: another entry outranked the question's own).

    Infinite when the own entry always leads (ties never seen), 0 when it never does."""
    gaps, own_first = np.abs(own_leads), own_leads > 0
    if own_first.all():
        return math.inf
    if not own_first.any():
        return 0.0
    slope = 1.0
    for _ in range(_NEWTON_STEPS):
        probability = 1.0 / (1.0 + np.exp(-slope * gaps))
        gradient = float(np.sum((probability - own_first) * gaps))
        curvature = float(np.sum(probability * (1 - probability) * gaps**2))
        step = gradient / curvature if curvature > 0 else 0.0
        slope = max(slope - step, 0.0)
        if abs(step) < 1e-6:
            break
    return slope


class FaqModel:
    """The FAQ's vectors, word statistics and fitted decision, as they stand after one ingest."""

    prior: tuple[float, ...] = PRIOR_WEIGHTS

    def __init__(
        self,
        entries: list[FaqEntry],
        question_vectors: list[FloatArray],
        answer_vectors: FloatArray,
        answer_weight: float,
    ) -> None:
        self.entries = entries
        self._question_vectors = question_vectors  # per entry: (question + alternatives) × dimension
        self._answer_vectors = answer_vectors  # entries × dimension
        self._answer_weight = answer_weight
        self._stacked_questions = np.vstack(question_vectors) if entries else np.zeros((0, 1))
        self._question_owner = np.repeat(np.arange(len(entries)), [len(v) for v in question_vectors])
        entry_words = [frozenset(words(entry.lexical_text())) for entry in entries]
        postings: dict[str, list[int]] = {}
        for index, these_words in enumerate(entry_words):
            for word in these_words:
                postings.setdefault(word, []).append(index)
        self._postings = {word: np.asarray(indices) for word, indices in postings.items()}
        count = max(len(entries), 1)
        self._idf = {word: math.log(1 + count / len(indices)) for word, indices in postings.items()}
        self._unseen_idf = math.log(1 + 2 * count)  # as if in half an entry: rarer than any word the FAQ uses
        self.coefficients = np.asarray(self.prior, dtype=np.float64)
        self.lead_slope = math.inf  # until calibrated: never offer two entries

    def coverage(self, query_words: Sequence[str], entry_words: frozenset[str]) -> float:
        """Share of the question's distinct words, weighted by rarity in this FAQ, that ``entry_words`` has."""
        unique = list(dict.fromkeys(query_words))
        weights = [self._idf.get(word, self._unseen_idf) for word in unique]
        covered = sum(weight for word, weight in zip(unique, weights, strict=True) if word in entry_words)
        return covered / sum(weights) if weights else 0.0

    def coverages(self, query_words: Sequence[str]) -> FloatArray:
        """:meth:`coverage` of every entry at once, through the entries listing each word."""
        covered = np.zeros(len(self.entries))
        total = 0.0
        for word in dict.fromkeys(query_words):
            weight = self._idf.get(word, self._unseen_idf)
            total += weight
            if word in self._postings:
                covered[self._postings[word]] += weight
        return covered / total if total else covered

    def features(self, query_vector: FloatArray, query_words: Sequence[str]) -> FloatArray:
        """(best question cosine, answer cosine, word coverage) of the query against every entry."""
        best_question = np.full(len(self.entries), -1.0)
        np.maximum.at(best_question, self._question_owner, self._stacked_questions @ query_vector)
        answer = self._answer_vectors @ query_vector
        return np.column_stack([best_question, answer, self.coverages(query_words)])

    def ranking_scores(self, features: FloatArray) -> FloatArray:
        """Dense score: on dev paraphrases the words' coverage and BM25 only made the ranking worse."""
        return np.asarray(features[:, 0] + self._answer_weight * features[:, 1], dtype=np.float64)

    def decision_features(self, features: FloatArray) -> FloatArray:
        """Per entry, what the decision weighs: its dense score and its word coverage."""
        return np.column_stack([self.ranking_scores(features), features[:, 2]])

    def probabilities(self, features: FloatArray) -> FloatArray:
        """Probability that each entry answers the question."""
        logits = self.coefficients[0] + self.decision_features(features) @ self.coefficients[1:]
        return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float64)

    def first_is_meant(self, lead: float) -> float:
        """Probability that the first of two entries, ``lead`` ahead of the second, is the one meant."""
        return 1.0 if math.isinf(self.lead_slope) else float(1.0 / (1.0 + math.exp(-self.lead_slope * lead)))

    def held_out_evidence(self) -> Evidence:
        """Each question and alternative, held out: against what is left of its own entry (positive; for an
        entry without alternatives the answer stands in for the question), and, with its own entry removed,
        against the nearer half of the other entries (negative: a question on a topic the FAQ lacks)."""
        rows: list[FloatArray] = []
        answers: list[bool] = []
        own_leads: list[float] = []
        for owner, (entry, vectors) in enumerate(zip(self.entries, self._question_vectors, strict=True)):
            texts = [entry.question, *entry.alternatives]
            for held_out, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
                text_words = words(text)
                features = self.features(vector, text_words)
                others = [i for i in range(len(texts)) if i != held_out]
                answer_similarity = float(self._answer_vectors[owner] @ vector)
                question_similarity = float((vectors[others] @ vector).max()) if others else answer_similarity
                remaining = " ".join([*(texts[i] for i in others), " ".join(entry.tags), entry.answer])
                own_coverage = self.coverage(text_words, frozenset(words(remaining)))
                features[owner] = [question_similarity, answer_similarity, own_coverage]
                rows.append(self.decision_features(features)[owner : owner + 1])
                answers.append(True)
                own_leads.append(float(leads(self.ranking_scores(features))[owner]))
                missing_topic = self.decision_features(np.delete(features, owner, axis=0))
                nearer_half = np.argsort(-missing_topic[:, 0])[: len(self.entries) // 2]
                rows.append(missing_topic[nearer_half])
                answers.extend([False] * len(nearer_half))
        return Evidence(
            np.vstack(rows) if rows else np.zeros((0, len(self.prior) - 1)),
            np.asarray(answers, dtype=bool),
            np.asarray(own_leads, dtype=np.float64),
        )

    def refit_as(self, model_class: type[FaqModel]) -> FaqModel:
        """This FAQ's vectors under another decision, calibrated (``benchmarks/faq.py`` measures earlier ones)."""
        model = model_class(self.entries, self._question_vectors, self._answer_vectors, self._answer_weight)
        model.calibrate()
        return model

    def calibrate(self) -> None:
        """Fit the decision and how near a tie is on the held-out evidence."""
        evidence = self.held_out_evidence()
        self.coefficients = fit_logistic(evidence.features, evidence.answers, self.prior, _PRIOR_STRENGTH)
        self.lead_slope = fit_lead_slope(evidence.own_leads) if len(self.entries) > 1 else math.inf


class FaqIndex(DocumentIndex[FaqEntry]):
    """FAQ entries; :meth:`search` ranks them and :meth:`answer` decides whether the best one answers."""

    kind = "faq"

    _model: FaqModel | None = None  # built and calibrated on first use after each ingest

    def _parse(self, body: str) -> FaqEntry:
        return FaqEntry.model_validate_json(body)

    def _forget_derived(self) -> None:
        super()._forget_derived()
        self._model = None

    def model(self) -> FaqModel:
        """The FAQ as loaded now, with its decision fitted: (bias, dense score, coverage) ``coefficients``.

        Refitted on first use after each ingest or re-index, also one made by another process."""
        self._refresh_derived()
        if self._model is None:
            self._model = self._load_model()
            self._model.calibrate()
        return self._model

    def _load_model(self) -> FaqModel:
        """The stored vectors of every current entry (FAQs are small: a few thousand vectors at most)."""
        self.check_model()
        entries = self.all()
        hashes = self.hashes()
        ids = [
            vector_id(entry.id, hashes[entry.id], position)
            for entry in entries
            for position in range(len(entry.embedding_texts()))
        ]
        found: dict[str, FloatArray] = {}
        for start in range(0, len(ids), 2000):
            batch = self._collection().get(ids=ids[start : start + 2000], include=["embeddings"])
            embeddings = batch["embeddings"] if batch["embeddings"] is not None else []
            found.update(
                {
                    vid: np.asarray(vector, dtype=np.float64)
                    for vid, vector in zip(batch["ids"], embeddings, strict=True)
                }
            )
        question_vectors: list[FloatArray] = []
        answer_vectors: list[FloatArray] = []
        for entry in entries:
            texts = entry.embedding_texts()
            keys = [vector_id(entry.id, hashes[entry.id], position) for position in range(len(texts))]
            if any(key not in found for key in keys):
                raise IndexMismatchError(
                    f"FAQ entry {entry.id!r} has no stored vectors in the vector store; run `shopassist reindex`"
                )
            vectors = [found[key] for key in keys]
            question_vectors.append(np.vstack(vectors[: entry.answer_position()]))
            answer_vectors.append(vectors[entry.answer_position()])
        answers = np.vstack(answer_vectors) if answer_vectors else np.zeros((0, 1))
        return FaqModel(entries, question_vectors, answers, self._settings.faq_answer_weight)

    def correct_spelling(self, query: str) -> str:
        """``query`` with misspelt words corrected towards the FAQ's own words (unless turned off).

        An FAQ uses a few hundred words, so nearly every word a customer writes is missing from it and
        many sit one edit from one of its words ("please" → "place", "them" → "the"). A word the
        encoder's vocabulary holds whole is a real word, not a typo, and is left as written.
        """
        if not self._settings.spelling_correction:
            return query
        speller, known = self.speller(), encoder_words(self._settings.embedding_model)

        def correct(match: re.Match[str]) -> str:
            word = match.group()
            return word if word.casefold() in known else speller.correct(word)

        return _LETTERS.sub(correct, query)

    def _ranked(self, query: str) -> tuple[list[FaqHit], FloatArray]:
        """Every entry, best first, with the probability that it answers; and their ranking scores."""
        model = self.model()
        if not query.strip() or not model.entries:
            return [], np.zeros(0)
        corrected = self.correct_spelling(query)
        features = model.features(np.asarray(self._encode_query(corrected), dtype=np.float64), words(corrected))
        probabilities = model.probabilities(features)
        scores = model.ranking_scores(features)
        ranked = np.argsort(-scores, kind="stable")
        hits = [
            FaqHit(entry=model.entries[i], score=float(probabilities[i]), similarity=float(features[i, 0]))
            for i in ranked
        ]
        return hits, scores[ranked]

    def search(self, query: str, k: int = 3) -> list[FaqHit]:
        """The ``k`` best entries by dense score (spelling corrected), each with the probability that it answers."""
        return self._ranked(query)[0][:k]

    def answer(self, query: str) -> FaqHit | None:
        """The best entry if the probability that it answers reaches ``faq_threshold``, else None (decline)."""
        hits = self.search(query, k=1)
        if hits and hits[0].score >= self._settings.faq_threshold:
            return hits[0]
        return None

    def choices(self, query: str, clarify_below: float = CLARIFY_BELOW) -> list[FaqHit]:
        """What to reply: no entry (decline), one (answer it) or two ("did you mean A or B?").

        Two when both would be answered on their own and the probability that the first is the one meant,
        given how far it leads the second (as learnt from the FAQ's held-out questions), is below
        ``clarify_below``. A question is never offered entries that :meth:`answer` would decline.
        """
        hits, scores = self._ranked(query)
        threshold = self._settings.faq_threshold
        if not hits or hits[0].score < threshold:
            return []
        tied = len(hits) > 1 and self.model().first_is_meant(float(scores[0] - scores[1])) < clarify_below
        return hits[:2] if tied and hits[1].score >= threshold else hits[:1]
