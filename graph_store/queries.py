"""Read-side queries on the graph database, for curation (`overlay graph stats|show|neighbors`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from .curation import resolve
from .db import RELATIONS
from .errors import GraphStoreError
from .snapshot_format import DIRECTIONS
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
    direction: str = "out"  # "out": the asked word → this one; "in": this one → the asked word (a backlink)
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


def default_direction(rel: str | None) -> str:
    """Links are read both ways (a backlink is what a vault user looks for first); a sequence out."""
    return "both" if rel == "link" else "out"


def neighbors(
    con: duckdb.DuckDBPyConnection, word: str, rel: str | None = None, top: int = 10, direction: str | None = None
) -> list[NeighborRow]:
    """Strongest neighbours of a word, per relation, each with a sample of the passages behind it.

    `direction`: "out" (edges from the word), "in" (edges to it: for a note, the notes that link to it) or
    "both"; by default both for links and out for the others (`default_direction`)."""
    if rel is not None and rel not in RELATIONS:
        raise GraphStoreError(f"unknown relation {rel!r}; expected one of {', '.join(RELATIONS)}")
    if direction is not None and direction not in DIRECTIONS:
        raise GraphStoreError(f"unknown direction {direction!r}; expected one of {', '.join(DIRECTIONS)}")
    node = resolve(con, word)  # raises NotFoundError for an unknown word
    # A word, the concept (note title) of the same name and what an alias names are one name to a user.
    key = fold(word.strip())
    nodes = [i for (i,) in con.execute("SELECT id FROM nodes WHERE key = ?", [key]).fetchall()]
    nodes += [i for (i,) in con.execute("SELECT node_id FROM aliases WHERE key = ?", [key]).fetchall()]
    nodes = sorted(set(nodes)) or [node]
    out: list[NeighborRow] = []
    for r in [rel] if rel else list(RELATIONS):
        way = direction or default_direction(r)
        for d, near, far in (("out", "src", "dst"), ("in", "dst", "src")):
            if way not in (d, "both"):
                continue
            loops = "AND e.src <> e.dst" if d == "in" else ""  # a self-link is listed once, going out
            rows = con.execute(
                f"""SELECT n.key, n.surface, n.kind, e.weight, e.count, e.curated, e.n_passages, e.passages,
                       c.surface
                FROM edges e JOIN nodes n ON n.id = e.{far} LEFT JOIN nodes c ON c.id = e.ctx
                WHERE e.rel = ? AND e.{near} IN (SELECT unnest(?::INTEGER[])) {loops}
                ORDER BY e.weight DESC, e.count DESC, n.key LIMIT ?""",
                [r, nodes, top],
            ).fetchall()
            for k, surface, kind, w, cnt, cur, npass, ps, via in rows:
                prov = _provenance(con, list(ps))
                out.append(NeighborRow(k, surface, kind, r, w, cnt, cur, npass, via, d, prov))
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
