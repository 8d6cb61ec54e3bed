"""Catalogs (or parts of one) that list no prices: "price not listed", never $0.00 and never a crash."""

from pathlib import Path

import pytest

from assistant import Assistant
from assistant.answers import comparison_rows, comparison_text, money
from recommender.features import FEATURE_NAMES, CandidateSignals, RankingContext, features
from retrieval import Product, SearchFilters, Store, ingest_products

FIXTURES = Path(__file__).parent / "fixtures"
UNPRICED = {"lamp-4", "lamp-5"}


@pytest.fixture
def lamp_store(store: Store) -> Store:
    ingest_products(store, FIXTURES / "lamps_priced.csv")
    ingest_products(store, FIXTURES / "lamps_unpriced.csv")
    return store


def test_price_filters_leave_out_products_without_a_price(lamp_store: Store) -> None:
    everything = {hit.product.id for hit in lamp_store.products.search("lamp", None, 10)}
    assert everything >= UNPRICED
    for filters in (SearchFilters(price_max=100), SearchFilters(price_min=50), SearchFilters(price_min=0)):
        found = {hit.product.id for hit in lamp_store.products.search("lamp", filters, 10)}
        assert found and not found & UNPRICED
        assert not {hit.product.id for hit in lamp_store.products.search("", filters, 10)} & UNPRICED


def test_price_sorts_put_unpriced_products_last_and_cards_say_price_not_listed(lamp_store: Store) -> None:
    assistant = Assistant(lamp_store)
    for text, ordered in (("lamps, cheapest first", sorted), ("most expensive lamps", lambda p: sorted(p)[::-1])):
        turn = assistant.reply(text, text)
        prices = [card.price for card in turn.products]
        listed = [price for price in prices if price is not None]
        assert len(listed) == 3 and None in prices
        assert prices[:3] == ordered(listed), "listed prices first, in the order asked"
        assert set(prices[3:]) == {None}
        unpriced = next(card for card in turn.products if card.price is None)
        assert f"{unpriced.title} — price not listed" in turn.text
        assert "$0.00" not in turn.text


def test_comparison_and_answers_cope_without_a_price(lamp_store: Store) -> None:
    products = list(lamp_store.products.get(["lamp-1", "lamp-4"]).values())
    rows = comparison_rows(products)
    assert rows[0].label == "Price" and sorted(rows[0].values) == ["$45.00", "price not listed"]
    assert "Lowest price: #1 at $45.00." in comparison_text(products, [1, 2], rows)
    unpriced = [product for product in products if product.price is None]
    assert "Lowest price" not in comparison_text(unpriced, [1], comparison_rows(unpriced))

    assistant = Assistant(lamp_store)
    assistant.reply("s", "clamp lamp")
    answer = assistant.reply("s", "how much is the first one?")
    assert "doesn't show a price" in answer.text and "$" not in answer.text


def test_ranking_features_treat_a_missing_price_as_no_budget() -> None:
    context = RankingContext(ledger={"price_max": 100.0})
    unpriced = features("lamp", Product(id="x", title="Lamp"), CandidateSignals(), context)
    priced = features("lamp", Product(id="y", title="Lamp", price=50.0), CandidateSignals(), context)
    budget, has_budget = FEATURE_NAMES.index("price_to_budget"), FEATURE_NAMES.index("has_budget")
    assert (unpriced[budget], unpriced[has_budget]) == (0.0, 0.0)
    assert (priced[budget], priced[has_budget]) == (0.5, 1.0)
    assert money(None) == "price not listed"


def test_a_budget_no_listing_can_meet_is_set_aside_whole_and_said(store: Store) -> None:
    """Only unpriced listings: a price range rules everything out whichever bound is dropped, so the range goes
    as a whole; the reply quotes the customer's range ("80K" read as $80,000) and passes the grounding check."""
    ingest_products(store, FIXTURES / "lamps_unpriced.csv")
    turn = Assistant(store).reply("s", "a lamp between 50,000 - 80K")
    assert turn.relaxed == ["price_min", "price_max"]
    assert turn.products and all(card.price is None for card in turn.products)
    assert "“over $50,000 · under $80,000” rules everything out" in turn.text
    assert turn.slots == {"category": "Lamps", "price_min": 50000, "price_max": 80000}
