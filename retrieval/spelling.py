"""Query spelling correction against the catalog's own words.

Shoppers misspell ("condiut", "aluminuim", "btuair") far more than listings do, and a misspelt word
is lost to both retrievers: BM25 finds no such term and the encoder splits it into unrelated word
pieces. The vocabulary is what the catalog's listings say, so a correction can only lead towards
words that some product uses, never towards a dictionary word the shop does not sell.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterable

from retrieval.text import is_english_word, singular

_WORD = re.compile(r"[a-z]+")
# A whole word of letters: a letter run touching digits or hyphens is part of a model code ("SWDVK-846808").
_QUERY_WORD = re.compile(r"(?<![\w-])[A-Za-z]+(?![\w-])")
_SHORTEST_CORRECTED = 4  # shorter words have too many neighbours one edit away ("tap", "top", "tip")
_SHORTEST_TWO_EDITS = 6
_SPLIT_PART_COUNT = 2  # both halves of a glued word ("windowair") are used at least this often in the catalog


def _deletes(word: str, edits: int) -> set[str]:
    found, frontier = {word}, {word}
    for _ in range(edits):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


def _edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: a swap of two neighbouring letters ("hsoe", "dirll") is one edit."""
    rows = [list(range(len(b) + 1))]
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            cost = min(rows[-1][j] + 1, current[j - 1] + 1, rows[-1][j - 1] + (char_a != char_b))
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                cost = min(cost, rows[-2][j - 2] + 1)
            current.append(cost)
        rows = [rows[-1], current]
    return rows[-1][-1]


class CatalogSpeller:
    """Corrects words the catalog never uses to the closest, most used catalog word.

    Symmetric-delete lookup (SymSpell): every catalog word is indexed under each string it becomes
    after one or two deleted letters, so a query word's candidates are the words sharing such a string.
    Candidates one edit away (from the word or its singular) win over a split into two catalog words,
    which wins over two edits; among equals the most frequent word wins. Numbers, model codes, words
    of under four letters and words that ``is_known`` accepts (everyday English by default: a real word
    is not a typo, even when the catalog never uses it) are kept.
    """

    def __init__(self, word_counts: Counter[str], *, is_known: Callable[[str], bool] = is_english_word) -> None:
        self._counts = word_counts
        self._is_known = is_known
        # Every word under each of its deletions: "hoe" leads to "hose" as well as to the commoner "home".
        self._by_deletion: dict[str, list[str]] = {}
        for word in word_counts:
            if len(word) < _SHORTEST_CORRECTED - 1 or not word.isalpha():
                continue
            for deleted in _deletes(word, 2 if len(word) >= _SHORTEST_TWO_EDITS - 1 else 1):
                self._by_deletion.setdefault(deleted, []).append(word)
        self._correct_word = functools.lru_cache(maxsize=65_536)(self._correction)

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, is_known: Callable[[str], bool] = is_english_word) -> CatalogSpeller:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(_WORD.findall(text.casefold()))
        return cls(counts, is_known=is_known)

    def knows(self, word: str) -> bool:
        """Whether ``word`` (lower case) is one the catalog uses, in the singular or as written."""
        return word in self._counts or singular(word) in self._counts

    def correct(self, text: str) -> str:
        """``text`` with each misspelt word replaced by its lower-case correction; everything else kept."""
        if not self._counts:
            return text

        def replace(match: re.Match[str]) -> str:
            word = match.group()
            corrected: str = self._correct_word(word.casefold())
            return word if corrected == word.casefold() else corrected

        return _QUERY_WORD.sub(replace, text)

    def _correction(self, word: str) -> str:
        if len(word) < _SHORTEST_CORRECTED or self.knows(word) or self._is_known(word):
            return word
        nearest = self._nearest(word, 1) or self._nearest(singular(word), 1)  # "skilets" → "skillet"
        if nearest is not None:
            return nearest
        splits = [
            (min(self._counts[word[:i]], self._counts[word[i:]]), f"{word[:i]} {word[i:]}")
            for i in range(2, len(word) - 1)
            if min(self._counts.get(word[:i], 0), self._counts.get(word[i:], 0)) >= _SPLIT_PART_COUNT
        ]
        if splits:
            return max(splits)[1]
        return (self._nearest(word, 2) if len(word) >= _SHORTEST_TWO_EDITS else None) or word

    def _nearest(self, word: str, edits: int) -> str | None:
        distances = {
            candidate: distance
            for deleted in _deletes(word, edits)
            for candidate in self._by_deletion.get(deleted, ())
            if (distance := _edit_distance(candidate, word)) <= edits
        }
        return min(distances, key=lambda c: (distances[c], -self._counts[c], c), default=None)
