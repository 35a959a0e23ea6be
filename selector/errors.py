"""Typed errors of the selector; their kinds (exit code, HTTP status) come from the one table in `errors`."""

from __future__ import annotations

from common import ContextLengthExceeded, OverlayError, Unavailable


class SelectorError(OverlayError):
    """Base class for every error raised by the selector package."""


class AssetMissingError(SelectorError, Unavailable):
    """A required asset (e.g. the bundled SmolLM2 GGUF) is not installed."""


class ModelLoadError(SelectorError, Unavailable):
    """A model folder does not exist, is not a Hugging Face model folder, or fails verification."""


class ContextLengthError(SelectorError, ContextLengthExceeded):
    """A prompt that does not fit the model's context window."""

    def __init__(self, message: str) -> None:
        super().__init__(message, param="messages")


class SelectorUnavailable(SelectorError, Unavailable):
    """A remote selector that cannot be reached, or answers with an error."""
