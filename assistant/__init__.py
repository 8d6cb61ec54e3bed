"""The conversation layer: understands a customer message and answers from catalog and FAQ."""

from assistant.assistant import MAX_MESSAGE_CHARS, Assistant
from assistant.errors import AssistantError, InvalidMessageError
from assistant.slots import Constraints, ParsedRequest, Vocabulary, parse_request
from assistant.turn import INTENTS, Intent, ProductCard, Turn

__all__ = [
    "INTENTS",
    "MAX_MESSAGE_CHARS",
    "Assistant",
    "AssistantError",
    "Constraints",
    "Intent",
    "InvalidMessageError",
    "ParsedRequest",
    "ProductCard",
    "Turn",
    "Vocabulary",
    "parse_request",
]
