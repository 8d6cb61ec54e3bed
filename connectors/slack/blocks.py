"""Block Kit for assistant turns: product cards with buttons, the ledger, quick replies.

Each message also carries the structured turn as Slack message metadata, so scripts and tools can
check what a Slack customer was shown without scraping the text.
"""

from __future__ import annotations

import json
from typing import Any

from assistant import ProductCard, Turn
from assistant.answers import money

TURN_EVENT_TYPE = "shopassist_turn"
CARD_ACTIONS = {
    "product_details": "Details",
    "more_like_this": "More like this",
    "thumbs_up": "👍",
    "thumbs_down": "👎",
}
QUICK_REPLY = "quick_reply"


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: a title like "AT&T <Pro>" must not read as a link or an entity."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def card_value(session_id: str, card: ProductCard) -> str:
    return json.dumps({"s": session_id, "i": card.impression_id, "p": card.id, "t": card.title})


def _card_blocks(session_id: str, card: ProductCard) -> list[dict[str, Any]]:
    rating = f"{card.rating:.1f}★" if card.rating is not None else "no rating"
    price = money(card.price, card.currency)
    value = card_value(session_id, card)
    return [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{card.position}. {escape(card.title)}*\n{price} · {rating}\n_{escape(card.reason)}_",
            },
        },
        {
            "type": "actions",
            "block_id": f"card-{card.position}",
            "elements": [
                {"type": "button", "action_id": action, "text": {"type": "plain_text", "text": label}, "value": value}
                for action, label in CARD_ACTIONS.items()
            ],
        },
    ]


def turn_message(session_id: str, turn: Turn) -> dict[str, Any]:
    """``chat.postMessage`` arguments (less channel and thread) for one turn."""
    blocks: list[dict[str, Any]] = []
    if turn.lead:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": escape(turn.lead)}})
    for card in turn.products:
        blocks += _card_blocks(session_id, card)
    if turn.ledger:
        labels = escape(" · ".join(chip.label for chip in turn.ledger))
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Looking for: {labels}"}]})
    if turn.suggestions:
        blocks.append(
            {
                "type": "actions",
                "block_id": "quick-replies",
                "elements": [
                    {
                        "type": "button",
                        "action_id": f"{QUICK_REPLY}_{index}",
                        "text": {"type": "plain_text", "text": text[:75]},
                        "value": json.dumps({"s": session_id, "t": text}),
                    }
                    for index, text in enumerate(turn.suggestions)
                ],
            }
        )
    return {
        "text": escape(turn.text),  # the notification and fallback text is mrkdwn too
        "blocks": blocks,
        "metadata": {"event_type": TURN_EVENT_TYPE, "event_payload": turn.model_dump(mode="json")},
    }


def home_view(categories: list[str]) -> dict[str, Any]:
    examples = ", ".join(f"“{category.lower()}”" for category in categories[:4])
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Shopping assistant"}},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Send me a direct message, mention me in a channel, or use `/shop <what you need>`.\n"
                    f"I find and compare products ({examples} …) and answer questions about shipping, "
                    "returns and payment. Ask for a person any time.",
                },
            },
        ],
    }
