import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.privacy import RedactingFilter, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me at jane.doe+shop@example.co.uk", "mail me at [EMAIL]"),
        ("card 4111 1111 1111 1111 exp 12/27", "card [CARD] exp 12/27"),
        ("my card is 4111-1111-1111-1112", "my card is [NUMBER]"),
        ("call +1 (415) 555-0142 or 415-555-0199", "call [PHONE] or [PHONE]"),
        ("ship to 221B Baker Street, London", "ship to [ADDRESS], London"),
        ("deliver to 123 main st. apt 4 please", "deliver to [ADDRESS] please"),
    ],
)
def test_personal_data_is_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "samsung 55 inch tv under $1,299.99 4 stars and up",
        "i7-13700HX 2560 x 1600 SWDVK-846808MQBWF UN55CU7000",
        "order 12345678 status",
        "2 pack 3 way switch",
        "10 ft extension cord way too short",
    ],
)
def test_shopping_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_redaction_never_raises_and_never_grows_unboundedly(text: str) -> None:
    assert len(redact(text)) <= len(text) + 10 * (text.count("@") + sum(c.isdigit() for c in text) + 1)


def test_logging_filter_redacts_formatted_messages(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("shopassist.test")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="shopassist.test"):
        logger.info("customer %s wrote from %s", "jane@example.com", "+44 20 7946 0958")
    assert caplog.records[-1].getMessage() == "customer [EMAIL] wrote from [PHONE]"
