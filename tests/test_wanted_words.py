"""The product a customer names is the product shown: listings that say less of it are not filler.

On the small rupee grocery (tests/fixtures/grocery_inr.csv): black tea is not green tea, sona masoori is not
basmati, and a refinement's own words ("only the brown one") become part of what the cards must say.
"""

from __future__ import annotations

from assistant import Assistant, Turn
from retrieval import Store


def _titles(turn: Turn) -> list[str]:
    return [card.title.casefold() for card in turn.products]


def test_every_card_says_what_the_customer_named_when_some_listing_does(rupee_store: Store) -> None:
    assistant = Assistant(rupee_store)
    green = _titles(assistant.reply("green", "green tea"))
    assert green and all("green tea" in title for title in green), green
    basmati = _titles(assistant.reply("basmati", "basmati rice"))
    assert len(basmati) == 3 and all("basmati" in title for title in basmati), basmati


def test_without_a_listing_that_says_everything_the_most_telling_words_decide(rupee_store: Store) -> None:
    """No listing says "jasmine"; the rice listings say the rest, so rice comes back rather than nothing."""
    turn = Assistant(rupee_store).reply("s", "jasmine rice")
    titles = _titles(turn)
    assert titles and all("rice" in title for title in titles), titles


def test_each_alternative_is_held_on_its_own(rupee_store: Store) -> None:
    titles = _titles(Assistant(rupee_store).reply("s", "ghee or groundnut oil"))
    assert any("ghee" in title for title in titles) and any("groundnut oil" in title for title in titles), titles
    assert all("ghee" in title or "oil" in title for title in titles), titles


def test_a_brand_is_a_filter_not_a_word_the_cards_must_say(rupee_store: Store) -> None:
    titles = _titles(Assistant(rupee_store).reply("s", "Golden Field or Royal Grain rice"))
    assert len(titles) == 3 and all("basmati rice" in title for title in titles), titles


def test_a_refinements_own_words_are_wanted_too(rupee_store: Store) -> None:
    assistant = Assistant(rupee_store)
    assert len(assistant.reply("s", "basmati rice").products) == 3
    titles = _titles(assistant.reply("s", "only the brown ones"))
    assert titles == ["brown basmati rice 1 kg"], titles
