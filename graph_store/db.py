"""The graph database: one DuckDB file, schema applied by numbered, append-only migrations."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb

from common import migrate

from .errors import GraphStoreError, WorkspaceBusyError

END_KEY = "</s>"
END_ID = 0
RELATIONS = ("next", "next2", "assoc", "link", "verdict")  # every edge relation, the one list
KEYED = ("next2", "verdict")  # relations keyed by the two previous words (ctx, src)
ROW_RELATIONS = tuple(r for r in RELATIONS if r not in KEYED)  # one row per source node: browsable, editable

# Each entry is applied once, in order, and never edited after release: add a new one instead.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE sources (
        id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, kind VARCHAR NOT NULL, location VARCHAR,
        added_at TIMESTAMP DEFAULT current_timestamp);
    CREATE TABLE passages (
        id INTEGER PRIMARY KEY, source_id INTEGER NOT NULL, doc_id VARCHAR, title VARCHAR, url VARCHAR,
        ord INTEGER NOT NULL, text VARCHAR NOT NULL, hash VARCHAR NOT NULL, doc_hash VARCHAR NOT NULL,
        n_tokens INTEGER NOT NULL);
    CREATE TABLE nodes (
        id INTEGER PRIMARY KEY, key VARCHAR NOT NULL, surface VARCHAR NOT NULL, kind VARCHAR NOT NULL,
        count BIGINT DEFAULT 0);
    CREATE TABLE surfaces (node_id INTEGER NOT NULL, surface VARCHAR NOT NULL, count BIGINT NOT NULL);
    CREATE TABLE aliases (key VARCHAR NOT NULL, kind VARCHAR NOT NULL, node_id INTEGER NOT NULL);
    CREATE TABLE tokens (passage_id INTEGER NOT NULL, pos INTEGER NOT NULL, node_id INTEGER NOT NULL,
        sent INTEGER NOT NULL);
    CREATE TABLE links (passage_id INTEGER NOT NULL, src INTEGER NOT NULL, dst INTEGER NOT NULL);
    CREATE TABLE edges (
        rel VARCHAR NOT NULL, src INTEGER NOT NULL, dst INTEGER NOT NULL, ctx INTEGER NOT NULL,
        weight DOUBLE NOT NULL, count BIGINT NOT NULL, n_passages BIGINT NOT NULL,
        passages INTEGER[] NOT NULL, curated BOOLEAN NOT NULL DEFAULT false);
    CREATE TABLE edits (
        id INTEGER PRIMARY KEY, ts TIMESTAMP DEFAULT current_timestamp, op VARCHAR NOT NULL,
        args JSON NOT NULL, note VARCHAR, undone BOOLEAN NOT NULL DEFAULT false);
    CREATE TABLE embeddings (hash VARCHAR PRIMARY KEY, model VARCHAR NOT NULL, vec FLOAT[] NOT NULL);
    INSERT INTO nodes VALUES (0, '</s>', '</s>', 'end', 0);
    """,
    # written forms seen inside a sentence: a word's display form should not be its sentence-initial capital
    "ALTER TABLE surfaces ADD COLUMN inside BIGINT DEFAULT 0; UPDATE surfaces SET inside = count;",
    # state flags, e.g. counts_stale: passages were added without the recount (a delta edit)
    "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);",
    # a document's language (given or detected at ingest) and its stable identity (a new version under the
    # same key replaces it); aliases a note's front matter gave carry that note's key (a merge's: NULL).
    # Documents ingested before get the key their reader gives now (`readers.Document.key`), the bundled
    # wiki its language; others' languages are detected at the next ingest (`ingest._detect_missing`).
    """
    ALTER TABLE passages ADD COLUMN lang VARCHAR;
    ALTER TABLE passages ADD COLUMN doc_key VARCHAR;
    ALTER TABLE aliases ADD COLUMN doc_key VARCHAR;
    UPDATE passages SET doc_key = CASE
        WHEN s.kind = 'wiki' THEN 'wiki:' || passages.doc_id
        WHEN s.kind = 'txt' THEN 'file:' || s.location
        WHEN s.kind = 'markdown' AND regexp_matches(lower(s.location), '[.](md|markdown)$') THEN 'file:' || s.location
        WHEN s.kind = 'markdown' THEN 'note:' || regexp_extract(s.location, '[^/]+$') || '/' || passages.doc_id
        WHEN s.kind = 'jsonl' AND NOT regexp_matches(passages.doc_id, ':[0-9]+$')
            THEN 'id:' || s.location || ':' || passages.doc_id
        END,
        lang = CASE WHEN s.kind = 'wiki' THEN 'en' END
    FROM sources s WHERE s.id = passages.source_id;
    """,
]


def connect(path: Path | str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and migrate) the graph database; a lock held by another process becomes WorkspaceBusyError."""
    path = Path(path)
    if read_only and not path.exists():
        raise GraphStoreError(f"{path}: no graph yet; run `overlay graph ingest` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WorkspaceBusyError(
                f"{path} is in use by another process (is `overlay serve` running? "
                "stop it, or send the change to the server over HTTP)"
            ) from exc
        raise GraphStoreError(f"{path}: cannot open graph database: {exc}") from exc
    if not read_only:
        migrate(con, MIGRATIONS)
    return con


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: any exception rolls the whole block back."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def set_stale(con: duckdb.DuckDBPyConnection, stale: bool) -> None:
    """Edges no longer match the tokens (a quick ingest); the next full publish recounts."""
    con.execute("INSERT OR REPLACE INTO meta VALUES ('counts_stale', ?)", ["1" if stale else "0"])


def is_stale(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute("SELECT value FROM meta WHERE key = 'counts_stale'").fetchone()
    return bool(row and row[0] == "1")
