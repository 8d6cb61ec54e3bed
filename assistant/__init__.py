"""The conversation layer: understands a customer message and answers from catalog and FAQ."""

from assistant.assistant import MAX_MESSAGE_CHARS, Assistant
from assistant.errors import AssistantError, InvalidMessageError
from assistant.history import ConversationStore, SQLiteChatMessageHistory
from assistant.slots import Constraints, ParsedRequest, Vocabulary, parse_request
from assistant.turn import INTENTS, Intent, ProductCard, Turn

__all__ = [
    "INTENTS",
    "MAX_MESSAGE_CHARS",
    "Assistant",
    "AssistantError",
    "Constraints",
    "ConversationStore",
    "Intent",
    "InvalidMessageError",
    "ParsedRequest",
    "ProductCard",
    "SQLiteChatMessageHistory",
    "Turn",
    "Vocabulary",
    "parse_request",
]
