"""Typed errors of the runtime: the CLI maps them to exit 2, the API to 4xx."""

from __future__ import annotations


class OverlayError(Exception):
    """Base class of runtime errors a user can act on."""


class RuntimeInputError(OverlayError):
    """A prompt or request the runtime cannot answer as given (empty, too long, …)."""
