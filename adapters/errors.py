"""Errors a user can act on; their kinds (exit code, HTTP status) come from the one table in `errors`.

`AdapterError` is also a `ValueError`, so pydantic validators that raise it report a validation error.
"""

from __future__ import annotations

from common import BadInput


class AdapterError(BadInput, ValueError):
    """Bad input to an adapters command: a name, a file, a text, a track."""


class ProbeError(AdapterError):
    """A probe cannot run on this input (too long, mismatched texts, unknown target)."""
