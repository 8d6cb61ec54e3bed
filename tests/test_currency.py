"""A store that sells in rupees: every price the customer writes and reads is in the store's currency."""

from __future__ import annotations

import pytest

from assistant import Assistant, Constraints, Turn, parse_request
from assistant.grounding import grounding_problems
from connectors.slack.blocks import turn_message
from retrieval import CatalogLexicon, Store

HUGE = "9" * 309


def _chips(turn: Turn) -> dict[str, str]:
    return {chip.slot: chip.label for chip in turn.ledger}


def test_the_store_currency_is_the_catalogs(rupee_store: Store, store: Store) -> None:
    assert rupee_store.products.currency() == "INR"
    assert store.products.currency() == "USD", "an empty catalog"
    assert Assistant(rupee_store).currency == "INR"


def test_rupee_budgets_show_in_rupees_on_chips_cards_and_slack(rupee_store: Store) -> None:
    assistant = Assistant(rupee_store)
    turn = assistant.reply("s", "basmati rice under 200 rupees")
    assert turn.slots["price_max"] == 200
    assert _chips(turn)["price_max"] == "under ₹200"
    assert turn.products and all(card.currency == "INR" and (card.price or 0) <= 200 for card in turn.products)
    assert "$" not in turn.text and "₹145.00" in turn.text
    slack_text = str(turn_message("s", turn)["blocks"])
    assert "₹145.00" in slack_text and "INR 145" not in slack_text

    cheaper = assistant.reply("s", "cheaper")
    cap = cheaper.slots["price_max"]
    assert cap == 144.99
    assert _chips(cheaper)["price_max"] == "under ₹144.99", "the chip shows the cap exactly as applied"


def test_a_budget_in_another_currency_is_not_read_as_rupees(rupee_store: Store) -> None:
    for text in ("rice under €5", "rice for 12 dollars", "tea under $3", "USD 4 tea"):
        turn = Assistant(rupee_store).reply("s", text)
        assert "price_max" not in turn.slots and "price_min" not in turn.slots, text


@pytest.mark.parametrize("text", [f"rice under ₹{HUGE}", f"tea under {HUGE}", "rice under 1e400", f"rice {HUGE}k"])
def test_absurd_amounts_never_reach_a_filter_or_raise(rupee_store: Store, text: str) -> None:
    assistant = Assistant(rupee_store)
    for turn in (assistant.reply("s", text), assistant.preview("copilot", text)):
        assert "price_max" not in turn.slots


def test_template_replies_of_a_rupee_store_pass_the_grounding_check(rupee_store: Store) -> None:
    assistant = Assistant(rupee_store)
    turns = [
        assistant.reply("g", "tea between Rs 100 and Rs. 300"),
        assistant.reply("g", "compare the first two"),
        assistant.reply("g", "how much is the first one?"),
    ]
    assert turns[0].constraints[-1] == "₹100–₹300"
    assert "| Price | ₹" in turns[1].text
    for turn in turns:
        catalog = rupee_store.products.get([card.id for card in turn.products])
        assert grounding_problems(turn, catalog) == []
    # An invented amount in any currency format is caught.
    invented = turns[0].model_copy(update={"text": turns[0].text + "\nToday only: Rs 42!"})
    catalog = rupee_store.products.get([card.id for card in invented.products])
    assert grounding_problems(invented, catalog) == [
        "the amount ₹42.00 is not a price or limit from the catalog, FAQ or customer"
    ]


def test_dollar_signs_in_a_dollar_store_mean_the_store_currency() -> None:
    def parsed(text: str) -> Constraints:
        return parse_request(text, CatalogLexicon.from_listings([]), currency="CAD").constraints

    assert parsed("a kettle under $40").price_max == 40
    assert parsed("a kettle under 40 dollars").describe() == ["under 40 CAD"]
    assert parsed("a kettle under €40").price_max is None
