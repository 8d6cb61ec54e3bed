"""The conversation layer: understands a customer message and answers from catalog and FAQ."""

from assistant.assistant import MAX_MESSAGE_CHARS, Assistant
from assistant.errors import AssistantError, GroundingError, IntentModelError, InvalidMessageError, ScriptError
from assistant.history import ConversationStore, DialogueState, SQLiteChatMessageHistory
from assistant.intent_heads import load_intent_classifier, train_intent_classifier
from assistant.intents import IntentClassifier, IntentPrediction, IntentTrainingArguments
from assistant.ledger import Constraints
from assistant.phrasing import ReplyPhraser, phraser_from_settings
from assistant.slots import ParsedRequest, SlotSpeller, parse_request
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
    "ScriptError",
    "SQLiteChatMessageHistory",
    "SlotSpeller",
    "Turn",
    "load_intent_classifier",
    "parse_request",
    "phraser_from_settings",
    "train_intent_classifier",
]
