"""The semantic graph: word splitting, ingest, curation, export, snapshots, their lookups and retrieval.

Writers work on the DuckDB graph (`graph.duckdb`); the runtime reads only published snapshots.
"""

from .counting import PROVENANCE_SAMPLE
from .curation import Edit, apply_edit, apply_edits, edit_log, replay, resolve, undo
from .db import END_ID, END_KEY, KEYED, RELATIONS, ROW_RELATIONS, connect, transaction
from .delta import FACT_PREFIX, DeltaInfo, add_text_live, ingest_live, publish_delta, quick_ingest, recover_live
from .embeddings import ensure_embeddings
from .errors import GraphStoreError, IngestError, NotFoundError, SnapshotError, WorkspaceBusyError
from .export import export_graph, import_edges, to_networkx
from .forget import ForgetSummary, forget, forget_live
from .ingest import IngestSummary, chunk_passages, ingest_paths
from .publisher import current_version, list_snapshots, publish, rollback
from .queries import DIRECTIONS, NeighborRow, default_direction, neighbors, show, stats
from .readers import READERS, SUFFIXES, Document, parse_note, read_wiki
from .retrieval import Asked, document_of, in_document_order, search
from .snapshot import Neighbor, Node, Passage, PassageHit, Snapshot
from .snapshot_format import Manifest, version_name
from .stopwords import STOPWORDS
from .text import (
    APOSTROPHES,
    CLITICS,
    SENTENCE_END,
    Token,
    fold,
    is_cjk,
    join,
    join_original,
    needs_space,
    sentences,
    split,
)

__all__ = [
    "APOSTROPHES",
    "CLITICS",
    "Asked",
    "DIRECTIONS",
    "END_ID",
    "END_KEY",
    "FACT_PREFIX",
    "KEYED",
    "PROVENANCE_SAMPLE",
    "READERS",
    "RELATIONS",
    "ROW_RELATIONS",
    "SUFFIXES",
    "SENTENCE_END",
    "STOPWORDS",
    "DeltaInfo",
    "Document",
    "Edit",
    "ForgetSummary",
    "GraphStoreError",
    "IngestError",
    "IngestSummary",
    "Manifest",
    "Neighbor",
    "NeighborRow",
    "Node",
    "NotFoundError",
    "Passage",
    "PassageHit",
    "Snapshot",
    "SnapshotError",
    "Token",
    "WorkspaceBusyError",
    "add_text_live",
    "apply_edit",
    "apply_edits",
    "chunk_passages",
    "connect",
    "current_version",
    "default_direction",
    "document_of",
    "edit_log",
    "ensure_embeddings",
    "export_graph",
    "fold",
    "forget",
    "forget_live",
    "import_edges",
    "in_document_order",
    "ingest_live",
    "ingest_paths",
    "is_cjk",
    "join",
    "join_original",
    "list_snapshots",
    "needs_space",
    "neighbors",
    "parse_note",
    "publish",
    "publish_delta",
    "quick_ingest",
    "recover_live",
    "read_wiki",
    "replay",
    "resolve",
    "rollback",
    "search",
    "sentences",
    "show",
    "split",
    "stats",
    "to_networkx",
    "transaction",
    "undo",
    "version_name",
]
