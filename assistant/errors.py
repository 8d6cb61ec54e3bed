"""Exception hierarchy of the assistant package: catch ``AssistantError`` for all of them."""


class AssistantError(Exception):
    """Root of every error raised by :mod:`assistant`."""


class InvalidMessageError(AssistantError):
    """A customer message the assistant cannot take (empty, or longer than allowed)."""


class GroundingError(AssistantError):
    """A template reply mentioned something the catalog does not back (a bug, never shown to a customer)."""


class IntentModelError(AssistantError):
    """Training data or a saved intent model is unusable; the message names the file."""


class ScriptError(AssistantError):
    """A conversation script that cannot be run as written (bad YAML, unknown key, unknown intent)."""
