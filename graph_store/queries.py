"""Read-side queries on the graph database, for curation (`overlay graph stats|show|neighbors`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from .curation import resolve
from .db import RELATIONS
from .errors import GraphStoreError
from .text import fold

PROVENANCE_SHOWN = 3


@dataclass
class NeighborRow:
    key: str
    surface: str
    kind: str
    rel: str
    weight: float
    count: int
    curated: bool
    n_passages: int
    via: str | None = None  # next2: the word before, which with the asked word keys the edge
    provenance: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stats(con: duckdb.DuckDBPyConnection, db_path: Path | None = None) -> dict[str, Any]:
    def one(sql: str) -> int:
        return con.execute(sql).fetchone()[0]

    return {
        "sources": one("SELECT count(*) FROM sources"),
        "documents": one("SELECT count(DISTINCT doc_hash) FROM passages"),
        "passages": one("SELECT count(*) FROM passages"),
        "tokens": one("SELECT count(*) FROM tokens"),
        "nodes": dict(con.execute("SELECT kind, count(*) FROM nodes GROUP BY kind ORDER BY kind").fetchall()),
        "edges": {rel: 0 for rel in RELATIONS}
        | dict(con.execute("SELECT rel, count(*) FROM edges GROUP BY rel").fetchall()),
        "curated_edges": one("SELECT count(*) FROM edges WHERE curated"),
        "edits": one("SELECT count(*) FROM edits WHERE NOT undone"),
        "db_bytes": db_path.stat().st_size if db_path and db_path.exists() else None,
    }


def _provenance(con: duckdb.DuckDBPyConnection, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = con.execute(
        "SELECT id, title, left(text, 160) FROM passages WHERE id IN (SELECT unnest(?::INTEGER[])) ORDER BY id",
        [ids[:PROVENANCE_SHOWN]],
    ).fetchall()
    return [{"passage_id": i, "title": t, "snippet": s} for i, t, s in rows]


def neighbors(con: duckdb.DuckDBPyConnection, word: str, rel: str | None = None, top: int = 10) -> list[NeighborRow]:
    """Strongest out-neighbours of a word, per relation, each with a sample of the passages behind it."""
    if rel is not None and rel not in RELATIONS:
        raise GraphStoreError(f"unknown relation {rel!r}; expected one of {', '.join(RELATIONS)}")
    node = resolve(con, word)  # raises NotFoundError for an unknown word
    # A word and the concept (note title) of the same name are one name to a user: ask both.
    nodes = [i for (i,) in con.execute("SELECT id FROM nodes WHERE key = ?", [fold(word.strip())]).fetchall()]
    nodes = nodes or [node]  # a merged-away name: its alias
    out: list[NeighborRow] = []
    for r in [rel] if rel else list(RELATIONS):
        rows = con.execute(
            """SELECT n.key, n.surface, n.kind, e.weight, e.count, e.curated, e.n_passages, e.passages, c.surface
            FROM edges e JOIN nodes n ON n.id = e.dst LEFT JOIN nodes c ON c.id = e.ctx
            WHERE e.rel = ? AND e.src IN (SELECT unnest(?::INTEGER[]))
            ORDER BY e.weight DESC, e.count DESC, n.key LIMIT ?""",
            [r, nodes, top],
        ).fetchall()
        for key, surface, kind, w, cnt, cur, npass, ps, via in rows:
            out.append(NeighborRow(key, surface, kind, r, w, cnt, cur, npass, via, _provenance(con, list(ps))))
    return out


def show(con: duckdb.DuckDBPyConnection, word: str) -> dict[str, Any]:
    node = resolve(con, word)
    nid, key, surface, kind, count = con.execute(
        "SELECT id, key, surface, kind, count FROM nodes WHERE id = ?", [node]
    ).fetchone()
    degrees = dict(con.execute("SELECT rel, count(*) FROM edges WHERE src = ? GROUP BY rel", [node]).fetchall())
    forms = con.execute(
        "SELECT surface, count FROM surfaces WHERE node_id = ? ORDER BY count DESC, surface LIMIT 5", [node]
    ).fetchall()
    aliases = [k for (k,) in con.execute("SELECT key FROM aliases WHERE node_id = ?", [node]).fetchall()]
    return {
        "id": nid,
        "key": key,
        "surface": surface,
        "kind": kind,
        "count": count,
        "out_degree": {rel: degrees.get(rel, 0) for rel in RELATIONS},
        "surfaces": [{"surface": s, "count": c} for s, c in forms],
        "aliases": aliases,
        "top": {rel: [n.to_dict() for n in neighbors(con, word, rel, 5)] for rel in RELATIONS if degrees.get(rel)},
    }
