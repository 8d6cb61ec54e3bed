"""Optional rephrasing of template replies by a LangChain chat model (any provider via ``init_chat_model``).

The model sees only the structured turn, never the catalog; its text must pass the grounding check
or the template reply is sent instead.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from langchain_core.messages import HumanMessage, SystemMessage

from assistant.turn import Turn

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

logger = logging.getLogger(__name__)

_RULES = (
    "You rewrite a shopping assistant's reply so it reads naturally. Use only the facts in the JSON: "
    "do not add products, prices, discounts, policies or promises. Keep every price exactly as given. "
    "Keep it short; product cards are shown separately, so mention at most the top products by name."
)


class ReplyPhraser:
    """Asks a chat model for a friendlier wording of a turn; returns None when it has nothing usable."""

    def __init__(self, model: BaseChatModel) -> None:
        self.model = model

    def phrase(self, turn: Turn, customer_message: str) -> str | None:
        facts = turn.model_dump(
            mode="json", include={"intent", "text", "products", "constraints", "faq_sources", "comparison"}
        )
        request = json.dumps({"customer": customer_message, "reply": facts}, ensure_ascii=False)
        try:
            answer = self.model.invoke([SystemMessage(_RULES), HumanMessage(request)])
        except Exception:  # any provider failure: the template reply is complete on its own
            logger.warning("the chat model failed; sending the template reply", exc_info=True)
            return None
        text = answer.content if isinstance(answer.content, str) else ""
        return text.strip() or None


def phraser_from_settings(chat_model: str | None) -> ReplyPhraser | None:
    if not chat_model:
        return None
    from langchain.chat_models import init_chat_model

    return ReplyPhraser(init_chat_model(chat_model))
