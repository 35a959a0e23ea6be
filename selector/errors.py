"""Typed errors for the selector package, so callers can catch selector failures precisely."""

from __future__ import annotations


class SelectorError(Exception):
    """Base class for every error raised by the selector package."""


class AssetMissingError(SelectorError):
    """A required asset (e.g. the bundled SmolLM2 GGUF) is not installed."""


class ModelLoadError(SelectorError):
    """A model folder does not exist, is not a Hugging Face model folder, or fails verification."""
