"""Exception hierarchy of the assistant package: catch ``AssistantError`` for all of them."""


class AssistantError(Exception):
    """Root of every error raised by :mod:`assistant`."""


class InvalidMessageError(AssistantError):
    """A customer message the assistant cannot take (empty, or longer than allowed)."""
