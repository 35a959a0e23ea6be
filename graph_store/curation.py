"""Curation: user edits to the graph, kept in an edit log and replayed after every recount.

Each operation is one function used twice: once when the user makes the edit (strict: bad input is an
error) and again, in log order, after an ingest has rebuilt the counted edges (lenient: an edit whose edge
no longer exists is skipped). So a user's edit is never silently undone by new data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from .counting import recount
from .db import END_KEY, KEYED, RELATIONS, transaction
from .errors import GraphStoreError, NotFoundError
from .text import fold, split

DEFAULT_WEIGHT = 1.0


@dataclass
class Edit:
    id: int
    ts: str
    op: str
    args: dict[str, Any]
    note: str | None
    undone: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ts": self.ts,
            "op": self.op,
            "args": self.args,
            "note": self.note,
            "undone": self.undone,
        }


def resolve(con: duckdb.DuckDBPyConnection, word: str, create: bool = False) -> int:
    """Node id of a word (by case-folded key); a multi-word name is a concept node (note title)."""
    key = fold(word.strip())
    row = (
        con.execute("SELECT id FROM nodes WHERE key = ? ORDER BY kind = 'concept', id LIMIT 1", [key]).fetchone()
        or con.execute("SELECT node_id FROM aliases WHERE key = ? LIMIT 1", [key]).fetchone()
    )
    if row:
        return row[0]
    if not create:
        raise NotFoundError(f"no node {word!r} in the graph")
    toks = split(word)
    kind = toks[0].kind if len(toks) == 1 else "concept"
    new_id = con.execute("SELECT max(id) + 1 FROM nodes").fetchone()[0]
    con.execute("INSERT INTO nodes (id, key, surface, kind) VALUES (?, ?, ?, ?)", [new_id, key, word.strip(), kind])
    return new_id


def _edge_key(con: duckdb.DuckDBPyConnection, a: str, b: str, rel: str, create: bool) -> tuple[int, int, int]:
    """(src, dst, ctx); for `next2`, A is the two previous words, e.g. "of the"."""
    if rel not in RELATIONS:
        raise GraphStoreError(f"unknown relation {rel!r}; expected one of {', '.join(RELATIONS)}")
    if rel in KEYED:
        words = [t.surface for t in split(a)]
        if len(words) != 2:
            raise GraphStoreError(f"a {rel} edge starts from two words (got {a!r}), e.g. 'of the'")
        return resolve(con, words[1], create), resolve(con, b, create), resolve(con, words[0], create)
    return resolve(con, a, create), resolve(con, b, create), -1


def _where(rel: str) -> str:
    return f"rel = '{rel}' AND src = ? AND dst = ? AND ctx = ?"


def _exists(con: duckdb.DuckDBPyConnection, rel: str, key: tuple[int, int, int]) -> bool:
    return con.execute(f"SELECT count(*) FROM edges WHERE {_where(rel)}", list(key)).fetchone()[0] > 0


def _edge_add(con: duckdb.DuckDBPyConnection, args: dict, strict: bool) -> None:
    key = _edge_key(con, args["a"], args["b"], args["rel"], create=True)
    weight = args.get("weight")
    if _exists(con, args["rel"], key):
        sets = "curated = true" + (", weight = ?" if weight is not None else "")
        con.execute(
            f"UPDATE edges SET {sets} WHERE {_where(args['rel'])}",
            ([weight] if weight is not None else []) + list(key),
        )
    else:
        con.execute(
            "INSERT INTO edges VALUES (?, ?, ?, ?, ?, 0, 0, []::INTEGER[], true)",
            [args["rel"], key[0], key[1], key[2], DEFAULT_WEIGHT if weight is None else weight],
        )


def _existing_edge(con: duckdb.DuckDBPyConnection, args: dict, strict: bool) -> tuple[int, int, int] | None:
    """The key of the edge an edit names; at replay (lenient) a vanished edge is skipped, not an error."""
    try:
        key = _edge_key(con, args["a"], args["b"], args["rel"], create=False)
    except NotFoundError:
        if strict:
            raise
        return None
    if strict and not _exists(con, args["rel"], key):
        raise NotFoundError(f"no {args['rel']} edge {args['a']!r} → {args['b']!r}")
    return key


def _edge_remove(con: duckdb.DuckDBPyConnection, args: dict, strict: bool) -> None:
    if (key := _existing_edge(con, args, strict)) is not None:
        con.execute(f"DELETE FROM edges WHERE {_where(args['rel'])}", list(key))


def _edge_reweight(con: duckdb.DuckDBPyConnection, args: dict, strict: bool) -> None:
    if (key := _existing_edge(con, args, strict)) is not None:
        con.execute(f"UPDATE edges SET weight = ?, curated = true WHERE {_where(args['rel'])}", [args["weight"], *key])


def _merge(con: duckdb.DuckDBPyConnection, args: dict, strict: bool) -> None:
    """Fold node B into A: its tokens, links and surfaces become A's, and B's key becomes an alias of A."""
    try:
        keep, gone = resolve(con, args["a"]), resolve(con, args["b"])
    except NotFoundError:
        if strict:
            raise
        return  # already merged: later ingests map B's key to A through the alias
    if keep == gone:
        if strict:
            raise GraphStoreError(f"{args['a']!r} and {args['b']!r} are the same node")
        return
    key, kind = con.execute("SELECT key, kind FROM nodes WHERE id = ?", [gone]).fetchone()
    for table, cols in (
        ("tokens", ("node_id",)),
        ("surfaces", ("node_id",)),
        ("links", ("src", "dst")),
        ("aliases", ("node_id",)),
    ):
        for col in cols:
            con.execute(f"UPDATE {table} SET {col} = ? WHERE {col} = ?", [keep, gone])
    con.execute("INSERT INTO aliases (key, kind, node_id) VALUES (?, ?, ?)", [key, kind, keep])
    con.execute("DELETE FROM nodes WHERE id = ?", [gone])
    recount(con)


def _prune(con: duckdb.DuckDBPyConnection, args: dict, strict: bool) -> None:
    rels = [args["rel"]] if args.get("rel") else list(RELATIONS)
    con.execute(
        "DELETE FROM edges WHERE count < ? AND NOT curated AND rel IN (SELECT unnest(?::VARCHAR[]))",
        [args["min_count"], rels],
    )


def _verdict(con: duckdb.DuckDBPyConnection, args: dict, strict: bool) -> None:
    """A user's verdict on an answer: each (word before, word, chosen word) path it took gains `weight`.

    Paths are stored as `verdict` edges keyed like `next2`; their summed rating is a part of the graph
    score, so a thumbs-down makes the same choice in the same place lose. Words the graph does not have
    (the prompt's own words) are skipped.
    """
    rating = float(args.get("weight", args["rating"]))
    for ctx, src, dst in args["paths"]:
        ids = [_node_or_end(con, w) for w in (src, dst, ctx)]
        if None in ids:
            continue
        key = tuple(ids)
        if _exists(con, "verdict", key):
            con.execute(f"UPDATE edges SET weight = weight + ? WHERE {_where('verdict')}", [rating, *key])
        else:
            con.execute("INSERT INTO edges VALUES ('verdict', ?, ?, ?, ?, 0, 0, []::INTEGER[], true)", [*key, rating])


def _node_or_end(con: duckdb.DuckDBPyConnection, word: str) -> int | None:
    if word == END_KEY:
        return 0
    try:
        return resolve(con, word)
    except NotFoundError:
        return None


OPS: dict[str, Callable[[duckdb.DuckDBPyConnection, dict, bool], None]] = {
    "verdict": _verdict,
    "edge_add": _edge_add,
    "edge_remove": _edge_remove,
    "edge_reweight": _edge_reweight,
    "merge": _merge,
    "prune": _prune,
}


def apply_edit(con: duckdb.DuckDBPyConnection, op: str, args: dict, note: str | None = None) -> int:
    """Validate and apply one edit and append it to the log, in one transaction; returns the edit id."""
    if op not in OPS:
        raise GraphStoreError(f"unknown edit {op!r}")
    with transaction(con):
        OPS[op](con, args, True)
        edit_id = (con.execute("SELECT max(id) FROM edits").fetchone()[0] or 0) + 1
        con.execute(
            "INSERT INTO edits (id, op, args, note) VALUES (?, ?, ?, ?)",
            [edit_id, op, json.dumps(args), note],
        )
    return edit_id


def apply_edits(con: duckdb.DuckDBPyConnection, edits: list[tuple[str, dict]], note: str | None = None) -> list[int]:
    """Several edits as one transaction (an import): all are applied, or none."""
    with transaction(con):
        first = (con.execute("SELECT max(id) FROM edits").fetchone()[0] or 0) + 1
        for i, (op, args) in enumerate(edits):
            OPS[op](con, args, True)
            con.execute(
                "INSERT INTO edits (id, op, args, note) VALUES (?, ?, ?, ?)",
                [first + i, op, json.dumps(args), note],
            )
    return list(range(first, first + len(edits)))


def replay(con: duckdb.DuckDBPyConnection) -> int:
    """Re-apply the whole log after a recount (inside the caller's transaction); returns edits applied."""
    rows = con.execute("SELECT op, args FROM edits WHERE NOT undone ORDER BY id").fetchall()
    for op, args in rows:
        OPS[op](con, json.loads(args), False)
    return len(rows)


def undo(con: duckdb.DuckDBPyConnection, edit_id: int) -> None:
    """Mark an edit undone and rebuild, so the graph is as if it had never been made.

    A merge cannot be undone this way (its tokens were rewritten); that is refused.
    """
    row = con.execute("SELECT op, undone FROM edits WHERE id = ?", [edit_id]).fetchone()
    if row is None:
        raise NotFoundError(f"no edit {edit_id}")
    if row[0] == "merge":
        raise GraphStoreError("a merge cannot be undone; re-ingest the source into a fresh graph instead")
    if row[1]:
        return
    with transaction(con):
        con.execute("UPDATE edits SET undone = true WHERE id = ?", [edit_id])
        recount(con)
        replay(con)


def edit_log(con: duckdb.DuckDBPyConnection, limit: int = 100) -> list[Edit]:
    rows = con.execute(
        "SELECT id, ts::VARCHAR, op, args, note, undone FROM edits ORDER BY id DESC LIMIT ?", [limit]
    ).fetchall()
    return [Edit(i, ts, op, json.loads(a), note, u) for i, ts, op, a, note, u in rows]
