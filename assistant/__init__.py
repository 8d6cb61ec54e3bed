"""The conversation layer: understands a customer message and answers from catalog and FAQ."""

from assistant.assistant import (
    MAX_MESSAGE_CHARS,
    Assistant,
    GroundingError,
    load_intent_classifier,
    train_intent_classifier,
)
from assistant.errors import AssistantError, InvalidMessageError
from assistant.history import ConversationStore, DialogueState, SQLiteChatMessageHistory
from assistant.intents import IntentClassifier, IntentModelError, IntentPrediction, IntentTrainingArguments
from assistant.phrasing import ReplyPhraser, phraser_from_settings
from assistant.slots import Constraints, ParsedRequest, SlotSpeller, parse_request
from assistant.turn import INTENTS, ComparisonRow, Intent, LedgerChip, ProductCard, Turn

__all__ = [
    "INTENTS",
    "MAX_MESSAGE_CHARS",
    "Assistant",
    "AssistantError",
    "ComparisonRow",
    "Constraints",
    "ConversationStore",
    "DialogueState",
    "GroundingError",
    "Intent",
    "IntentClassifier",
    "IntentModelError",
    "IntentPrediction",
    "IntentTrainingArguments",
    "LedgerChip",
    "InvalidMessageError",
    "ParsedRequest",
    "ProductCard",
    "ReplyPhraser",
    "SQLiteChatMessageHistory",
    "SlotSpeller",
    "Turn",
    "load_intent_classifier",
    "parse_request",
    "phraser_from_settings",
    "train_intent_classifier",
]
