"""The one text toolkit: how shopassist splits words, folds plurals and knows everyday English.

Every layer that compares a customer's words with a catalog's uses these, so "TVs" in a category name,
"tvs" in a message and "tv" in a title meet as the same word.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    """Lower-case word tokens: letters and digits, with an inner apostrophe kept ("don't")."""
    return _WORD.findall(text.casefold())


def singular(word: str) -> str:
    """Plural endings only: enough to match "doors" with "door" without a stemmer's surprises on part names.

    Three-letter words keep their ``s`` ("gps", "bus"); :class:`retrieval.lexicon.CatalogLexicon` folds short
    plurals such as "tvs" where the catalog itself uses the singular.
    """
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@functools.cache
def english_word_counts() -> dict[str, int]:
    """Word frequencies of everyday English (symspellpy's 82,765-word dictionary, read on first use).

    A word in it is a real word, not a typo: the speller leaves "looking" alone even in a catalog that
    only says "cooking".
    """
    path = resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
    counts: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            word, _, count = line.partition(" ")
            if count.strip().isdigit():
                counts[word] = int(count)
    return counts


_FUNCTION_WORDS = 100


@functools.cache
def function_words() -> frozenset[str]:
    """The hundred most frequent English words ("with", "for", "up"): grammar, never a name or a spec."""
    counts = english_word_counts()
    return frozenset(sorted(counts, key=counts.__getitem__, reverse=True)[:_FUNCTION_WORDS])


def is_english_word(word: str) -> bool:
    return word.casefold() in english_word_counts()
