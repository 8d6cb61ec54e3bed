"""A product search turn: the ledger settled against retrieval's evidence, then the cards.

Brand and category filters hold only where retrieval agrees; listings must say what the customer said (each word
weighted by how telling it is in this catalog); when constraints leave nothing, the least certain is dropped and
the reply says which; a product type the catalog has nothing like is "not carried".
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sqlite3
from collections import defaultdict
from collections.abc import Sequence

from assistant._dialogue import MODEL_NUMBER, VAGUE, Dialogue, product_card, request_words
from assistant.answers import money, reason_for
from assistant.ledger import Constraints, mentions, refined
from assistant.slots import alternatives, without_specs
from assistant.turn import Intent, ProductCard, Turn
from recommender import RankedProduct, RankingContext
from retrieval import Product, ProductHit, SearchFilters, words
from retrieval.money import priced_amounts
from retrieval.text import function_words

logger = logging.getLogger(__name__)
_RETRIEVAL_CANDIDATES = 20
# What retrieval finds for the message's words alone, before any filter: the evidence for brand and category.
_EVIDENCE_HITS = 20
_POST_FILTER_POOL = 5
_NOT_RANKED = 10**6
_LEADING = 5  # retrieval's first hits: what the message most plainly asks for
_SAME_WEIGHT = 1e-9  # word weights are sums of logarithms: equal up to rounding


def search(dialogue: Dialogue, intent: Intent) -> Turn:
    """Answer a product search or a refinement of the last one."""
    return ProductSearch(dialogue).reply(intent)


class ProductSearch:
    """One search turn of a dialogue."""

    def __init__(self, dialogue: Dialogue) -> None:
        self.dialogue = dialogue
        self.assistant = dialogue.assistant
        self.store = dialogue.store
        self.state = dialogue.state
        self.request = dialogue.request
        self.shown = dialogue.shown
        self.text = dialogue.text
        self.pinned: str | None = None  # the product the message names by title or model number

    def reply(self, intent: Intent) -> Turn:
        previous = self.state.ledger
        if intent == "refine":
            request = self.request
            ledger = refined(previous, request.constraints, request.cleared, request.relative, self.shown)
            # "only the crunchy ones", "natural gas ones": what the catalog's words add to the request is wanted too.
            said = dict.fromkeys([*self.request.constraints.keywords, *self.dialogue.catalog_words(self.request.query)])
            query = " ".join([self.state.query, *[word for word in said if word not in self.state.query]])
            if self.dialogue.refine_only and not query.strip() and not ledger.filters_products():
                return self.clarify()
        else:
            ledger = self.request.constraints
            query = self.request.query or self.text
            if request_words(query) == set() and not ledger.filters_products() and not self.request.reference:
                return self.clarify()
        query = query.strip() or self.text
        head = _head_noun(query) if intent == "product_search" else None
        if (
            head is not None
            and not self.resembles(head)
            and not self.store.products.speller().knows(head)
            and not self.dialogue.typed_a_title
        ):
            # A product's title with a typo ("Sny 85" Class … LED LCD TV") names that product, not a "sny".
            return self.not_carried(head)
        ledger = self.settle(query, ledger, previous if intent == "refine" else Constraints())
        ranked = self.find(query, ledger)
        if (
            head is not None
            and not (ledger.category or ledger.brand or self.pinned)
            and not _similar(ranked, self.store.settings.search_min_similarity)
            and not self.resembles(head)
        ):
            return self.not_carried(head)
        relaxed: list[str] = []
        if not ranked:
            relaxed, ranked = self.relax(query, ledger)
        cards = [self.card(item, ledger, position) for position, item in enumerate(ranked, start=1)]
        described = ledger.describe()
        lines = []
        if ledger != previous and described and not relaxed:
            lines.append(f"Looking for: {' · '.join(described)}")
        if relaxed:
            lines.append(_relaxed_explanation(ledger, relaxed))
        elif not cards:
            lines.append(f"I couldn't find anything for {' · '.join(described) or repr(self.text.strip())}.")
        lines += [f"{c.position}. {c.title} — {money(c.price, c.currency)} ({c.reason})" for c in cards]
        self.state.ledger, self.state.query = ledger, query
        self.state.shown = [card.id for card in cards]
        self.state.focus = None
        if not cards:
            return self.dialogue.miss(
                intent,
                "\n".join(lines) + "\nTry fewer constraints, or ask for a person.",
                slots=ledger.as_slots(),
                constraints=described,
            )
        return self.dialogue.turn(
            intent,
            "\n".join(lines),
            products=cards,
            slots=ledger.as_slots(),
            constraints=described,
            relaxed=relaxed,
            ranker_version=self.assistant.ranker.version,
        )

    def clarify(self) -> Turn:
        self.state.ledger, self.state.query, self.state.shown = Constraints(), "", []
        categories = list(self.assistant.lexicon().categories)[:4]
        return self.dialogue.turn(
            "product_search",
            "Happy to help! Who is it for, and what kind of thing do you have in mind? A budget helps too"
            + (f" — for example: {', '.join(categories)}." if categories else "."),
            clarify=True,
            suggestions=categories,
        )

    def settle(self, query: str, ledger: Constraints, previous: Constraints) -> Constraints:
        """Which named brands and category filter, decided with what retrieval finds for the words alone.

        A brand named with words other brands use too ("My Arcade", "Apple" among apple juices) filters only when
        the rest of the message finds that brand anyway ("ring doorbell", not "a soundbar for my TV"); a category
        named in this message filters only when retrieval's top dense or lexical hits include it
        (otherwise its words still rank matching products up through retrieval). A message that is a product's
        title or model number pins that product first and names no category, nor a brand but its own.
        """
        products = self.store.products
        evidence = products.search(query, None, _EVIDENCE_HITS)
        # The listing whose title the message is, word for word ("Butter Cookies", not "Cookies - Butter"), first.
        typed = words(self.dialogue.corrected)
        pinned = next((hit.product for hit in evidence if words(hit.product.title) == typed), None)
        pinned = pinned or next((hit.product for hit in evidence if self.names_product(hit)), None)
        self.pinned = pinned.id if pinned is not None else None
        lexicon = self.assistant.lexicon()
        doubtful = [brand for brand in ledger.brand if brand not in previous.brand and lexicon.ambiguous_brand(brand)]
        if doubtful:
            # Would the rest of the message find this brand anyway? ("ring doorbell": yes; "for my TV": no.)
            rest = query
            for brand in doubtful:
                rest = re.sub(rf"(?i)\b{re.escape(brand)}\b", " ", rest)
            seen = {hit.product.brand for hit in products.search(rest, None, _EVIDENCE_HITS)} if rest.strip() else None
            if seen is not None:
                seen |= {hit.product.brand for hit in evidence[:_LEADING]}  # "apple tv 4k" finds the Apple TV first
            kept = [brand for brand in ledger.brand if brand not in doubtful or seen is None or brand in seen]
            ledger = dataclasses.replace(ledger, brand=kept)
        named = self.request.named_categories
        if pinned is not None:
            # Its title says what it is and who makes it: "Toothpaste - Active Salt, Neem" is not by Neem, and the
            # "no" of "No Gas Body Deodorant" is part of a name, not an exclusion.
            # So are its figures ("Dyna-Glo 50,000 - 80K LP Heater"), unless the message writes a currency.
            title = pinned.title
            priced = bool(priced_amounts(self.text, self.assistant.currency))
            return dataclasses.replace(
                ledger,
                category=[],
                brand=[brand for brand in ledger.brand if brand == pinned.brand],
                exclude_keywords=[word for word in ledger.exclude_keywords if not mentions(title, word)],
                price_min=ledger.price_min if priced else None,
                price_max=ledger.price_max if priced else None,
            )
        if not named:
            return ledger
        wanted = self.wanted(query)
        categories = []
        if ledger.brand:
            branded = products.search(query, SearchFilters(brands=tuple(ledger.brand)), _EVIDENCE_HITS)
            categories = self.supported_categories(named, branded, wanted)
        # A shelf the brand does not stock ("Dell headphones") is still the one meant: the brand is what gives.
        categories = categories or self.supported_categories(named, evidence, wanted)
        return dataclasses.replace(ledger, category=categories)

    def supported_categories(
        self, named: list[dict[str, float]], evidence: Sequence[ProductHit], wanted: _Wanted
    ) -> list[str]:
        """Per alternative, the named category that ``evidence`` shows: the shelves of the listings that say all
        the customer said ("sunflower oil" is on the edible-oils shelf, not the oils-and-vinegar one), failing
        those, of retrieval's first hits; the most specifically named, then the best supported."""
        leading = [hit for hit in evidence if wanted.all_said_by(self.dialogue.listing_words(hit.product))] or [
            hit for hit in evidence if min(hit.dense_rank or _NOT_RANKED, hit.lexical_rank or _NOT_RANKED) <= _LEADING
        ]
        shown = {hit.product.category for hit in leading}
        support: dict[str, float] = defaultdict(float)
        for rank, hit in enumerate(evidence, start=1):
            support[hit.product.category] += 1 / rank
        categories: list[str] = []
        for alternative in named:
            supported = shown & set(alternative)
            best = max(supported, key=lambda c: (alternative[c], support[c]), default=None)
            if best is not None and best not in categories:
                categories.append(best)
        return categories

    def names_product(self, hit: ProductHit) -> bool:
        """Whether the message is this product's title (give or take a few words) or its model number."""
        if MODEL_NUMBER.search(self.text) and hit.lexical_rank == 1:
            return True
        return self.dialogue.is_title(hit.product.title)

    def find(self, query: str, ledger: Constraints) -> list[RankedProduct]:
        query = self.store.products.correct_spelling(query)  # the ranker reads what retrieval read
        wanted = self.wanted(query)
        ranked = self.candidates(query, ledger, wanted)
        if ledger.category and len(ranked) < self.store.settings.cards_per_reply:
            # A listing that says all the customer said is wanted on any shelf ("ragi flour" on the organic one).
            shown = {item.hit.product.id for item in ranked}
            wider = self.candidates(query, dataclasses.replace(ledger, category=[]), wanted)
            ranked += [
                item
                for item in wider
                if item.hit.product.id not in shown
                and wanted.all_said_by(self.dialogue.listing_words(item.hit.product))
            ]
        # Keyword matches first; stable, so the ranker's order holds within each group. Then the requested order.
        ranked.sort(key=lambda item: -len(ledger.keywords_met(item.hit.product)))
        if ledger.sort == "price_asc":
            ranked.sort(key=lambda item: _price_order(item.hit.product.price, 1.0))
        elif ledger.sort == "price_desc":
            ranked.sort(key=lambda item: _price_order(item.hit.product.price, -1.0))
        elif ledger.sort == "rating_desc":
            ranked.sort(key=lambda item: -(item.hit.product.rating or 0.0))
        # The product the message names leads; otherwise an out-of-stock product never does.
        lead = next((item for item in ranked if item.hit.product.id == self.pinned), None)
        lead = lead or next((item for item in ranked if item.hit.product.in_stock), None)
        if lead is not None:
            ranked.remove(lead)
            ranked.insert(0, lead)
        return ranked[: self.store.settings.cards_per_reply]

    def candidates(self, query: str, ledger: Constraints, wanted: _Wanted) -> list[RankedProduct]:
        """The ranked listings that meet ``ledger`` and say as much of what is ``wanted`` as any of them does.

        What the customer said is what they want: where some listing says all of it ("sunflower oil", "face
        wash"), listings that say less ("safflower oil", "body wash") are left out; where none does, those
        saying the most telling part of it are kept. A named product is always kept.
        """
        # Specs and exclusions are checked on the listings, after retrieval: give them more to choose from.
        pool = _RETRIEVAL_CANDIDATES * (_POST_FILTER_POOL if ledger.specs() or ledger.exclude_keywords else 1)
        hits = self.store.products.search(query, ledger.to_filters(), pool)
        hits = [hit for hit in hits if ledger.admits(hit.product)]
        context = RankingContext(ledger=ledger.as_slots(), clicked=self.clicked_products())
        ranked = _distinct(self.assistant.ranker.rank(query, hits, context))
        said = {item.hit.product.id: wanted.said_by(self.dialogue.listing_words(item.hit.product)) for item in ranked}
        best = [max(column) for column in zip(*said.values(), strict=True)]
        return [
            item for item in ranked if item.hit.product.id == self.pinned or _says_most(said[item.hit.product.id], best)
        ]

    def wanted(self, query: str) -> _Wanted:
        """The words of ``query`` that name what is wanted, once per alternative ("headphones or a speaker");
        brands and specs are checked on their own, not as words a listing's name must say."""
        lexicon = self.assistant.lexicon()
        query = without_specs(query, lexicon.spec_prefixes)
        for mention in reversed(lexicon.brand_mentions(query)):
            if not mention.via_line:
                query = query[: mention.start] + " " + query[mention.end :]
        named = [said for said in map(self.dialogue.content_words, alternatives(query)) if said]
        return _Wanted([{word: lexicon.rarity(word) for word in alternative} for alternative in named])

    def clicked_products(self) -> list[Product]:
        events = self.assistant.events
        if events is None:
            return []
        try:
            ids = events.clicked_products(self.dialogue.session_id)
        except sqlite3.Error:
            logger.warning(
                "could not read session %s's clicks; ranking without them", self.dialogue.session_id, exc_info=True
            )
            return []
        found = self.store.products.get(ids)
        return [found[i] for i in ids if i in found]

    def not_carried(self, product_type: str) -> Turn:
        self.state.ledger, self.state.query, self.state.shown = Constraints(), "", []
        categories = list(self.assistant.lexicon().categories)[:5]
        offer = f" We mostly carry {', '.join(categories)}. Want to look at one of those?" if categories else ""
        return self.dialogue.miss(
            "product_search",
            f"Sorry, we don't carry {product_type} — I couldn't find anything like “{self.text.strip()[:80]}” "
            f"in our catalog.{offer}",
        )

    def resembles(self, product_type: str) -> bool:
        """Whether some product is like ``product_type`` on its own ("television" → a TV; "tyres" in a grocery:
        nothing). Asked when no listing uses the word, or when nothing found resembles the whole request
        ("a saddle for my horse" finds guitars, whose listings mention a saddle)."""
        if MODEL_NUMBER.search(self.text) and self.store.products.lexical(self.text, 1):
            return True
        nearest = self.store.products.dense(product_type, 1)
        return bool(nearest) and nearest[0][1] >= self.store.settings.search_min_similarity

    def relax(self, query: str, ledger: Constraints) -> tuple[list[str], list[RankedProduct]]:
        """Drop one constraint at a time, most dispensable first; the first that finds something wins. A budget
        range that neither bound alone lets anything through (a catalog without prices) goes as a whole."""
        # Dropping a price bound, the nearest alternatives are the ones closest to it.
        options: list[tuple[list[str], dict[str, object]]] = [
            (["exclude_keywords"], {"exclude_keywords": []}),
            (["rating_min"], {"rating_min": None}),
            (["price_max"], {"price_max": None, "sort": "price_asc"}),
            (["price_min"], {"price_min": None, "sort": "price_desc"}),
            (["price_min", "price_max"], {"price_min": None, "price_max": None}),
            (["keywords"], {"keywords": [k for k in ledger.keywords if k not in ledger.specs()]}),
            (["brand"], {"brand": []}),
            (["exclude_brand"], {"exclude_brand": []}),
            (["category"], {"category": []}),
        ]
        for names, changes in options:
            if any(getattr(ledger, name) in (None, []) for name in names) or (
                names == ["keywords"] and not ledger.specs()
            ):
                continue
            ranked = self.find(query, dataclasses.replace(ledger, **changes))  # type: ignore[arg-type]
            if ranked:
                return names, ranked
        return [], []

    def card(self, item: RankedProduct, ledger: Constraints, position: int) -> ProductCard:
        product = item.hit.product
        return product_card(
            product, position, reason_for(product, ledger, lexical_match=item.hit.lexical_rank is not None)
        )


def _similar(ranked: Sequence[RankedProduct], threshold: float) -> bool:
    """Whether any result is at least ``threshold`` similar to the request (rather than the least unrelated)."""
    return any((item.hit.dense_similarity or -1.0) >= threshold for item in ranked)


def _head_noun(text: str) -> str | None:
    """The word naming what is asked for: the last word of the first phrase that is more than a request
    ("do you have | car tyres", "show me | laptops | under …"); phrases end at grammar words."""
    phrase: list[str] = []
    for word in [*words(text), "."]:
        if word in function_words() or word in VAGUE or not word.isalpha():
            if phrase:
                return phrase[-1]
            continue
        phrase.append(word)
    return None


@dataclasses.dataclass(frozen=True)
class _Wanted:
    """What a request names, one set of words per alternative, each word weighted by how telling it is."""

    alternatives: list[dict[str, float]]

    def said_by(self, listing_words: set[str]) -> list[float]:
        """How much of each alternative a listing with these words says."""
        return [sum(weight for word, weight in words.items() if word in listing_words) for words in self.alternatives]

    def all_said_by(self, listing_words: set[str]) -> bool:
        return any(
            said > 0 and said >= sum(words.values()) - _SAME_WEIGHT
            for said, words in zip(self.said_by(listing_words), self.alternatives, strict=True)
        )


def _says_most(shares: Sequence[float], best: Sequence[float]) -> bool:
    """Whether a listing says as much of some alternative as any listing does (``best``, per alternative)."""
    if not any(best):
        return True
    return any(share > 0 and share >= top - _SAME_WEIGHT for share, top in zip(shares, best, strict=True))


def _price_order(price: float | None, direction: float) -> tuple[bool, float]:
    """Sort key: listed prices ascending (``direction`` 1) or descending (-1), products without one last."""
    return price is None, direction * (price or 0.0)


def _relaxed_explanation(ledger: Constraints, relaxed: list[str]) -> str:
    return (
        f"Nothing matches all of {' · '.join(ledger.describe())} — “{' · '.join(map(ledger.phrase, relaxed))}” "
        "rules everything out. The closest alternatives without it:"
    )


def _distinct(ranked: list[RankedProduct]) -> list[RankedProduct]:
    """Drop listings that would look identical to one above them (same title and price).

    Catalogs list one product under several categories; two identical cards read as a bug.
    """
    seen: set[tuple[str, float | None]] = set()
    distinct = []
    for item in ranked:
        key = (item.hit.product.title.casefold(), item.hit.product.price)
        if key not in seen:
            seen.add(key)
            distinct.append(item)
    return distinct
