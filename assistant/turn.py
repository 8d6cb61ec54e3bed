"""What one assistant turn returns: reply text plus the structured parts channels render."""

from __future__ import annotations

import re
from typing import Literal, get_args

from pydantic import BaseModel, Field, computed_field

Intent = Literal[
    "product_search",
    "refine",
    "compare",
    "product_question",
    "faq",
    "order_status",
    "handoff",
    "smalltalk",
    "out_of_scope",
]
INTENTS: tuple[str, ...] = get_args(Intent)
SlotValue = str | float | list[str] | list[int]
_LISTED = re.compile(r"^\d+\. ")


class ProductCard(BaseModel):
    id: str
    title: str
    brand: str
    category: str
    price: float | None = Field(description="None: the listing shows no price.")
    currency: str
    rating: float | None
    reason: str = Field(description="One line grounded in the product's own fields.")
    position: int = Field(description="1-based place in the reply.")
    impression_id: str | None = Field(None, description="Record clicks and carts against this id.")


class ComparisonRow(BaseModel):
    label: str = Field(description="What is compared: Price, Rating, Brand, or an attribute name.")
    values: list[str] = Field(description="One value per compared product, in the order of the turn's products.")


class LedgerChip(BaseModel):
    """One constraint of the session's ledger, as a channel shows it (and lets the customer remove it)."""

    slot: str
    value: str | float
    label: str


class Turn(BaseModel):
    turn_id: str
    session_id: str
    intent: Intent
    text: str
    products: list[ProductCard] = Field(default_factory=list)
    faq_sources: list[str] = Field(default_factory=list, description="Ids of the FAQ entries the reply quotes.")
    slots: dict[str, SlotValue] = Field(default_factory=dict, description="Extracted slots, by slot name.")
    constraints: list[str] = Field(default_factory=list, description="What the assistant understood, in words.")
    handoff: bool = Field(False, description="The session is handed over to a person.")
    clarify: bool = Field(False, description="The assistant asked a question instead of listing products.")
    suggestions: list[str] = Field(default_factory=list, description="Quick replies a channel may offer.")
    comparison: list[ComparisonRow] = Field(default_factory=list, description="Side-by-side rows for compare.")
    relaxed: list[str] = Field(
        default_factory=list, description="Slots set aside to find alternatives when nothing matched them all."
    )
    ledger: list[LedgerChip] = Field(
        default_factory=list, description="The session's constraints after this turn, one removable chip each."
    )
    held: bool = Field(
        False, description="The session is with a person: the message waits for them and the bot did not reply."
    )
    ranker_version: str | None = None

    @computed_field(description="The reply without its numbered product lines, for channels that render the cards.")  # type: ignore[prop-decorator]
    @property
    def lead(self) -> str:
        if not self.products:
            return self.text
        return "\n".join(line for line in self.text.splitlines() if not _LISTED.match(line))
