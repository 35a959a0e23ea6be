"""Typed errors of the graph store: the CLI maps them to exit 2, the API to 4xx."""

from __future__ import annotations


class GraphStoreError(Exception):
    """Base class: a problem the user can act on (bad input, missing graph, busy workspace)."""


class IngestError(GraphStoreError):
    """Bad ingest input; names the file and, where known, the line."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.path, self.line = path, line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


class NotFoundError(GraphStoreError):
    """A word, edge, snapshot version or passage that the graph does not have."""


class WorkspaceBusyError(GraphStoreError):
    """Another process (usually `overlay serve`) holds the graph database open for writing."""


class SnapshotError(GraphStoreError):
    """A missing, partial or corrupt snapshot: never served."""
