"""The grounding check reads amounts in every currency format the assistant or a rephrasing may write."""

import pytest

from assistant import Turn
from assistant.grounding import amounts_in, grounding_problems


@pytest.mark.parametrize(
    ("text", "amounts"),
    [
        ("only $12 today", [12.0]),
        ("only 12 dollars", [12.0]),
        ("only USD 12", [12.0]),
        ("only €12.50", [12.5]),
        ("only 12 euros", [12.0]),
        ("only £5", [5.0]),
        ("only ₹300", [300.0]),
        ("only ₹1,299.00", [1299.0]),
        ("only Rs 300", [300.0]),
        ("only Rs. 300", [300.0]),
        ("only 300 rupees", [300.0]),
        ("only INR 300", [300.0]),
        ("only 1,299.00 CAD", [1299.0]),
        ("a $2k budget", [2000.0]),
        ("“under ₹144.99”", [144.99]),
        ("a 65” TV, 55 inch, 500 ml, 4K, 12 items, top 5", []),
        ("$" + "9" * 400, []),
    ],
)
def test_amounts_in_every_currency_format(text: str, amounts: list[float]) -> None:
    assert amounts_in(text) == amounts


@pytest.mark.parametrize("claim", ["12 dollars", "USD 12", "€12", "₹12", "Rs 12", "12 rupees", "12.00 CAD"])
def test_an_invented_amount_is_caught_in_any_format(claim: str) -> None:
    turn = Turn(turn_id="t", session_id="s", intent="faq", text=f"Delivery costs {claim}.")
    assert len(grounding_problems(turn, {})) == 1
    assert grounding_problems(turn, {}, sources=[f"Our FAQ: delivery is {claim} flat."]) == []
