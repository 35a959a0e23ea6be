"""The semantic graph: word splitting, ingest, curation, export, snapshots and their lookups.

Writers work on the DuckDB graph (`graph.duckdb`); the runtime reads only published snapshots.
"""

from .counting import PROVENANCE_SAMPLE
from .curation import Edit, apply_edit, apply_edits, edit_log, replay, resolve, undo
from .db import END_ID, END_KEY, KEYED, RELATIONS, connect, transaction
from .delta import DeltaInfo, add_text_live, ingest_live, publish_delta, quick_ingest
from .errors import GraphStoreError, IngestError, NotFoundError, SnapshotError, WorkspaceBusyError
from .export import export_graph, import_edges, to_networkx
from .ingest import IngestSummary, chunk_passages, ingest_paths
from .queries import NeighborRow, neighbors, show, stats
from .readers import READERS, Document, parse_note, read_wiki
from .text import SENTENCE_END, Token, fold, is_cjk, join, needs_space, split

__all__ = [
    "DeltaInfo",
    "add_text_live",
    "ingest_live",
    "publish_delta",
    "quick_ingest",
    "END_ID",
    "END_KEY",
    "SENTENCE_END",
    "PROVENANCE_SAMPLE",
    "READERS",
    "KEYED",
    "RELATIONS",
    "Document",
    "Edit",
    "GraphStoreError",
    "IngestError",
    "IngestSummary",
    "NeighborRow",
    "NotFoundError",
    "SnapshotError",
    "Token",
    "WorkspaceBusyError",
    "apply_edit",
    "apply_edits",
    "chunk_passages",
    "connect",
    "edit_log",
    "export_graph",
    "fold",
    "import_edges",
    "ingest_paths",
    "is_cjk",
    "join",
    "needs_space",
    "neighbors",
    "parse_note",
    "read_wiki",
    "replay",
    "resolve",
    "show",
    "split",
    "stats",
    "to_networkx",
    "transaction",
    "undo",
]
# Snapshot API (publish, lookups) is appended below.
from .embeddings import ensure_embeddings  # noqa: E402
from .publish import current_version, list_snapshots, publish, rollback  # noqa: E402
from .snapshot import Manifest, Neighbor, Node, Passage, PassageHit, Snapshot  # noqa: E402

__all__ += [
    "Manifest",
    "Neighbor",
    "Node",
    "Passage",
    "PassageHit",
    "Snapshot",
    "current_version",
    "ensure_embeddings",
    "list_snapshots",
    "publish",
    "rollback",
]
