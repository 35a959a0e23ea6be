"""The networkx bridge: export (GraphML/GEXF, whole or around a word) and import of curated edges.

Node ids in exported files are readable: a word's key, or `[[title]]` for a concept node. Edges form a
MultiDiGraph keyed by relation (and, for `next2`, by the word before), so every relation survives.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import networkx as nx

from .curation import apply_edits, resolve
from .db import KEYED, RELATIONS
from .errors import GraphStoreError, IngestError

FORMATS = {"graphml": nx.write_graphml, "gexf": nx.write_gexf}


def _node_name(key: str, kind: str) -> str:
    return f"[[{key}]]" if kind == "concept" else key


def _around(con: duckdb.DuckDBPyConnection, word: str, depth: int, min_weight: float) -> set[int]:
    """Nodes within `depth` hops of a word, over edges of any relation in either direction."""
    seen = frontier = {resolve(con, word)}
    for _ in range(depth):
        rows = con.execute(
            """SELECT dst FROM edges WHERE src IN (SELECT unnest(?::INTEGER[])) AND weight >= ?
            UNION SELECT src FROM edges WHERE dst IN (SELECT unnest(?::INTEGER[])) AND weight >= ?""",
            [list(frontier), min_weight, list(frontier), min_weight],
        ).fetchall()
        frontier = {r for (r,) in rows} - seen
        seen = seen | frontier
    return seen


def to_networkx(
    con: duckdb.DuckDBPyConnection, around: str | None = None, depth: int = 1, min_weight: float = 0.0
) -> nx.MultiDiGraph:
    keep = _around(con, around, depth, min_weight) if around else None
    node_filter = "AND e.src IN (SELECT unnest($keep)) AND e.dst IN (SELECT unnest($keep))" if keep else ""
    params: dict = {"w": min_weight} | ({"keep": sorted(keep)} if keep else {})
    rows = con.execute(
        f"""SELECT e.rel, s.key, s.kind, d.key, d.kind, coalesce(c.key, ''), e.weight, e.count, e.curated
        FROM edges e JOIN nodes s ON s.id = e.src JOIN nodes d ON d.id = e.dst LEFT JOIN nodes c ON c.id = e.ctx
        WHERE e.weight >= $w {node_filter}""",
        params,
    ).fetchall()
    graph = nx.MultiDiGraph()
    ids = sorted(keep) if keep else None
    node_sql = "SELECT key, surface, kind, count FROM nodes" + (
        " WHERE id IN (SELECT unnest(?::INTEGER[]))" if ids else ""
    )
    for key, surface, kind, count in con.execute(node_sql, [ids] if ids else []).fetchall():
        graph.add_node(_node_name(key, kind), key=key, label=surface, kind=kind, count=int(count))
    for rel, skey, skind, dkey, dkind, ctx, weight, count, curated in rows:
        graph.add_edge(
            _node_name(skey, skind),
            _node_name(dkey, dkind),
            key=f"{rel}:{ctx}" if ctx else rel,
            rel=rel,
            ctx=ctx,
            weight=float(weight),
            count=int(count),
            curated=bool(curated),
        )
    return graph


def export_graph(
    con: duckdb.DuckDBPyConnection,
    out: Path,
    fmt: str = "graphml",
    around: str | None = None,
    depth: int = 1,
    min_weight: float = 0.0,
) -> dict[str, int]:
    if fmt not in FORMATS:
        raise GraphStoreError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    graph = to_networkx(con, around, depth, min_weight)
    out.parent.mkdir(parents=True, exist_ok=True)
    FORMATS[fmt](graph, out)
    return {"nodes": graph.number_of_nodes(), "edges": graph.number_of_edges()}


def import_edges(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Add (or reweight) every edge of a GraphML file as curated edits, in one transaction."""
    if not path.is_file():
        raise IngestError(str(path), "no such file")
    try:
        graph = nx.read_graphml(path, force_multigraph=True)
    except Exception as exc:  # networkx raises several parser errors; all mean bad input here
        raise IngestError(str(path), f"not a readable GraphML file ({exc})") from None
    edits = []
    for u, v, data in graph.edges(data=True):
        rel = data.get("rel", "link")
        if rel not in RELATIONS:
            raise IngestError(str(path), f"edge {u!r} → {v!r} has unknown rel {rel!r}")
        a = graph.nodes[u].get("label", u)
        if rel in KEYED:
            a = f"{data.get('ctx', '')} {a}".strip()
        args = {"a": a, "b": graph.nodes[v].get("label", v), "rel": rel}
        if "weight" in data:
            args["weight"] = float(data["weight"])
        edits.append(("edge_add", args))
    return len(apply_edits(con, edits, note=f"import-edges {path.name}"))
