"""Errors a user can act on; the CLI maps them to exit code 2 (bad input) and the API to 4xx."""

from __future__ import annotations


class AdapterError(ValueError):
    """Bad input to an adapters command: a name, a file, a text, a track."""


class ProbeError(AdapterError):
    """A probe cannot run on this input (too long, mismatched texts, unknown target)."""
