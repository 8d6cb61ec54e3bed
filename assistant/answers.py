"""Answers built only from catalog fields: product questions, comparisons, card reasons."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.ledger import Constraints, mentions
from assistant.turn import ComparisonRow
from retrieval import Product
from retrieval.money import format_money

_STOPWORDS = frozenset(
    """
    a an the it its it's this that these those one ones is are was be do does did have has had got get come comes
    with without support supports include includes included what what's whats which how much many any there i you
    me my tell more about and or of on in for to by from can could would will work works please number first
    second third fourth fifth last specs spec details detail info information give show also does't dont don't
    have?
    """.split()  # noqa: SIM905 - a word list reads better as text
)
_SEGMENTS = re.compile(r"\s{2,}|[•|;\n]|(?<=[a-z0-9)])\.\s+")
_WORD = re.compile(r"[a-z0-9][a-z0-9+-]*", re.I)
# "How much is it", "how much for the first one", "what does it cost": a price. "How much storage does it
# have" asks for an amount of something else, named right after "how much".
_PRICE_QUESTION = re.compile(
    r"\b(price[sd]?|costs?|pricey|expensive)\b|\bhow much\b(?:\s+(?:is|are|was|were|for|would|will)\b|'s\b|\W*$)"
)


PRICE_NOT_LISTED = "price not listed"


def money(amount: float | None, currency: str = "USD") -> str:
    """₹1,299.00 / $ / € / £, else "1,299.00 XYZ"; a product without a price reads "price not listed"."""
    return PRICE_NOT_LISTED if amount is None else format_money(amount, currency)


def stars(product: Product) -> str:
    return f"{product.rating:g}★" if product.rating is not None else "no rating yet"


def reason_for(product: Product, constraints: Constraints, *, lexical_match: bool) -> str:
    """One line built only from the product's own fields and the constraints it satisfies."""
    parts: list[str] = []
    if product.category in constraints.category:
        parts.append(product.category)
    if product.brand in constraints.brand:
        parts.append(product.brand)
    parts += constraints.keywords_met(product)
    if product.price is not None and constraints.price_max is not None and product.price <= constraints.price_max:
        parts.append(constraints.phrase("price_max"))
    if product.price is not None and constraints.price_min is not None and product.price >= constraints.price_min:
        parts.append(constraints.phrase("price_min"))
    if parts:
        reason = "matches: " + ", ".join(parts)
    elif lexical_match:
        reason = "matches your words"
    else:
        reason = "similar to your request"
    return f"{reason} · {product.rating:g}★" if product.rating is not None else reason


def _snippet(product: Product, term: str) -> str | None:
    """The shortest listing segment (title, description part, attribute) that mentions ``term``."""
    segments = [product.title, *_SEGMENTS.split(product.description)]
    segments += [f"{name.replace('_', ' ')}: {value}" for name, value in product.attributes.items()]
    matching = [s.strip() for s in segments if s and s.strip() and mentions(s, term)]
    if not matching:
        return None
    best = min(matching, key=len)
    return best if len(best) <= 140 else best[:137] + "…"


def question_terms(question: str, product: Product) -> list[str]:
    """What the customer asks about, minus filler words and words that just name the product."""
    naming = {w.lower() for w in _WORD.findall(f"{product.brand} {product.category}")}
    words = [
        word.lower()
        for word in _WORD.findall(question)
        if word.lower() not in _STOPWORDS | naming and not word.isdigit()
    ]
    # Two words the listing writes together are one term ("noise cancelling", "night vision").
    listing = product.lexical_text()
    terms: list[str] = []
    position = 0
    while position < len(words):
        pair = " ".join(words[position : position + 2])
        if position + 1 < len(words) and mentions(listing, pair):
            terms.append(pair)
            position += 2
        else:
            terms.append(words[position])
            position += 1
    return list(dict.fromkeys(terms))


@dataclass(frozen=True)
class ListingAnswer:
    text: str
    silent: bool = False  # the listing does not say: the store's FAQ may


def answer_question(product: Product, question: str) -> ListingAnswer:
    """Yes, with the listing's own words, or an honest "the listing does not say"."""
    lowered = question.lower()
    name = product.title if len(product.title) <= 60 else product.title[:57] + "…"
    if _PRICE_QUESTION.search(lowered):
        if product.price is None:
            return ListingAnswer(
                f"The listing for {name} doesn't show a price. Ask for a person and our team can check it.",
                silent=True,
            )
        return ListingAnswer(f"{name} is {money(product.price, product.currency)}.")
    if re.search(r"\b(rating|rated|reviews?|stars?)\b", lowered):
        return ListingAnswer(f"{name} is rated {stars(product)}.")
    if re.search(r"\b(in stock|available|availability)\b", lowered):
        return ListingAnswer(
            f"{name} is {'in stock' if product.in_stock else 'out of stock'} according to the catalog."
        )
    if re.search(r"\bdiscount|\bsale\b|\bdeal\b", lowered) and "discount" in product.attributes:
        return ListingAnswer(f"The listing for {name} shows discount: {product.attributes['discount']}.")
    terms = question_terms(question, product)
    if not terms or re.search(r"\b(tell me more|more about|details|specs|describe)\b", lowered):
        summary = f"{name} — {money(product.price, product.currency)}, {stars(product)}."
        features = [s.strip() for s in _SEGMENTS.split(product.description) if s.strip()][:3]
        return ListingAnswer(summary + ("\nFrom the listing: " + "; ".join(features) if features else ""))
    found = [(term, snippet) for term in terms if (snippet := _snippet(product, term))]
    if found:
        quoted = "\n".join(f"• {snippet}" for _, snippet in found[:3])
        return ListingAnswer(f"The listing for {name} mentions {', '.join(term for term, _ in found[:3])}:\n{quoted}")
    return ListingAnswer(
        f"The listing for {name} doesn't mention {' or '.join(terms[:3])}, so I can't say for sure.", silent=True
    )


def comparison_rows(products: Sequence[Product]) -> list[ComparisonRow]:
    rows = [
        ComparisonRow(label="Price", values=[money(p.price, p.currency) for p in products]),
        ComparisonRow(label="Rating", values=[stars(p) for p in products]),
        ComparisonRow(label="Brand", values=[p.brand or "—" for p in products]),
        ComparisonRow(label="Category", values=[p.category or "—" for p in products]),
    ]
    shared = set.intersection(*(set(p.attributes) for p in products)) if products else set()
    for name in sorted(shared):
        rows.append(
            ComparisonRow(label=name.replace("_", " ").capitalize(), values=[str(p.attributes[name]) for p in products])
        )
    return rows


def comparison_text(products: Sequence[Product], positions: Sequence[int], rows: Sequence[ComparisonRow]) -> str:
    short = [
        f"{position}. {p.title[:40]}{'…' if len(p.title) > 40 else ''}"
        for p, position in zip(products, positions, strict=True)
    ]
    lines = ["| | " + " | ".join(short) + " |", "|---" * (len(products) + 1) + "|"]
    lines += [f"| {row.label} | " + " | ".join(row.values) + " |" for row in rows]
    verdict = []
    priced = [i for i in range(len(products)) if products[i].price is not None]
    if priced:
        cheapest = min(priced, key=lambda i: products[i].price or 0.0)
        price = money(products[cheapest].price, products[cheapest].currency)
        verdict.append(f"Lowest price: #{positions[cheapest]} at {price}.")
    rated = [i for i in range(len(products)) if products[i].rating is not None]
    if rated:
        best = max(rated, key=lambda i: products[i].rating or 0.0)
        verdict.append(f"Best rated: #{positions[best]} ({stars(products[best])}).")
    return "Here they are side by side:\n" + "\n".join(lines) + "\n" + " ".join(verdict)
