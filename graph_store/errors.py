"""Typed errors of the graph store; their kinds (exit code, HTTP status) come from the one table in `errors`."""

from __future__ import annotations

from common import BadInput, Busy, NotFound, OverlayError, Unavailable


class GraphStoreError(OverlayError):
    """Base class: a problem the user can act on (bad input, missing graph, busy workspace)."""


class IngestError(GraphStoreError, BadInput):
    """Bad ingest input; names the file and, where known, the line."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.path, self.line = path, line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


class NotFoundError(GraphStoreError, NotFound):
    """A word, edge, snapshot version or passage that the graph does not have."""


class WorkspaceBusyError(GraphStoreError, Busy):
    """Another process (usually `overlay serve`) holds the graph database open for writing."""


class SnapshotError(GraphStoreError, Unavailable):
    """A missing, partial or corrupt snapshot: never served."""
