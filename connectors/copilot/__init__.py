"""The agent copilot: what a person answering a customer should say, show and know."""

from connectors.copilot.copilot import Copilot, CopilotSuggestion, FaqSnippet

__all__ = ["Copilot", "CopilotSuggestion", "FaqSnippet"]
