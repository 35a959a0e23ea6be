"""Typed errors of the runtime; their kinds (exit code, HTTP status) come from the one table in `errors`."""

from __future__ import annotations

from common import BadInput, Busy, NotFound, OverlayError


class RuntimeInputError(BadInput):
    """A prompt or request the runtime cannot answer as given (empty, too long, …)."""


class TraceNotFound(NotFound):
    """No trace with that id in the trace store."""


class TracesBusy(Busy):
    """Another process holds the trace store open."""


class JobNotFound(NotFound):
    """No job with that id."""


__all__ = ["JobNotFound", "OverlayError", "RuntimeInputError", "TraceNotFound", "TracesBusy"]
