"""The small error hierarchy: configuration errors stop start-up, input errors become 4xx."""

from __future__ import annotations


class HeliographError(Exception):
    """Base of every error Heliograph raises on purpose."""


class ConfigError(HeliographError):
    """Bad or missing configuration; raised at start-up with what to set."""


class InputError(HeliographError):
    """A client sent something we refuse; ``code`` is stable and ``status`` is a 4xx."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class NotFound(InputError):
    """The object does not exist or is not the caller's; both look the same (CONVENTIONS 3)."""

    def __init__(self, message: str = "not found") -> None:
        super().__init__("not_found", message, status=404)
