"""`overlay graph …`: ingest, curate, export and publish the semantic graph."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

import duckdb
import typer
from rich.table import Table

import graph_store as gs

from ..config import RuntimeConfig
from ..workspace import Workspace, ensure_not_served
from .output import emit_json, handle_errors, out

graph_app = typer.Typer(help="Build, curate, export and publish the semantic graph.", no_args_is_help=True)
edge_app = typer.Typer(help="Add, remove or reweight one edge (recorded in the edit log).", no_args_is_help=True)
graph_app.add_typer(edge_app, name="edge")

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Rel = Annotated[str, typer.Option("--rel", help=f"Relation: {', '.join(gs.ROW_RELATIONS)}.")]


@contextlib.contextmanager
def _graph(read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    ws = Workspace()
    if not read_only:
        ensure_not_served(ws)
    con = gs.connect(ws.graph_db, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


@graph_app.command()
@handle_errors
def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help=f"{', '.join(gs.SUFFIXES)} files or folders of notes")
    ] = None,
    wiki: Annotated[bool, typer.Option("--wiki", help="Also ingest the bundled Wikipedia summaries.")] = False,
    exclude_titles: Annotated[Path | None, typer.Option(help="File of titles to skip (held-out eval).")] = None,
    source_name: Annotated[str | None, typer.Option(help="Name recorded for this source.")] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Make it live at once, as a delta over the current snapshot (small edits).")
    ] = False,
    as_json: Json = False,
) -> None:
    """Add documents to the graph, in one transaction; a new version of a known document (same file path,
    JSONL id or vault-relative note path) replaces the old, an unchanged one is skipped."""
    ws = Workspace()
    ensure_not_served(ws)
    if live:
        if wiki or not paths:
            raise gs.GraphStoreError("--live is for small edits: give the files (not --wiki)")
        summary, delta = gs.ingest_live(ws.graph_db, ws.snapshots, paths, ws.embedding_model)
        data = summary.to_dict() | {"delta": delta.__dict__}
        if as_json:
            return emit_json(data)
        replaced = f", {delta.removed} older passages hidden" if delta.removed else ""
        out.print(
            f"live over v{delta.base_version}: {delta.passages} passages and {delta.words} new words in the delta"
            f"{replaced} ({delta.seconds:.2f}s); edges are recounted at the next `overlay graph publish`"
        )
        return None
    summary = gs.ingest_paths(
        Workspace().graph_db,
        paths or [],
        wiki=wiki,
        exclude_titles=exclude_titles,
        source_name=source_name,
        progress=not as_json,
    )
    if as_json:
        emit_json(summary.to_dict())
    else:
        s = summary
        replaced = f", {s.replaced} of them new versions replacing the old" if s.replaced else ""
        out.print(
            f"ingested {s.documents} documents{replaced} ({s.skipped} already present), {s.passages} passages, "
            f"{s.words} words; +{s.new_nodes} nodes, {s.new_edges:+} edges in {s.seconds:.1f}s"
        )


@graph_app.command()
@handle_errors
def forget(
    documents: Annotated[list[str], typer.Argument(help="Documents by id (a live fact's fact:…) or title.")],
    live: Annotated[
        bool, typer.Option("--live", help="Stop using them at once, as a delta over the current snapshot.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Remove documents (their passages, tokens, links, aliases) in one transaction; all or nothing."""
    ws = Workspace()
    ensure_not_served(ws)
    if live:
        summary, delta = gs.forget_live(ws.graph_db, ws.snapshots, documents, ws.embedding_model)
        if as_json:
            return emit_json(summary.__dict__ | {"delta": delta.__dict__})
        out.print(
            f"forgot {summary.documents} documents ({summary.passages} passages), live over v{delta.base_version}: "
            f"{delta.removed} published passages hidden; edges are recounted at the next `overlay graph publish`"
        )
        return None
    summary = gs.forget(ws.graph_db, documents)
    if as_json:
        return emit_json(summary.__dict__)
    out.print(
        f"forgot {summary.documents} documents ({summary.passages} passages), edges recounted in "
        f"{summary.seconds:.1f}s; answers stop using them after the next `overlay graph publish` (or use --live)"
    )


@graph_app.command()
@handle_errors
def stats(as_json: Json = False) -> None:
    """Counts of sources, passages, nodes and edges."""
    with _graph(read_only=True) as con:
        data = gs.stats(con, Workspace().graph_db)
    if as_json:
        return emit_json(data)
    table = Table("what", "count", title="graph")
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, n in value.items():
                table.add_row(f"{key}.{sub}", f"{n:,}")
        elif value is not None:
            table.add_row(key, f"{value:,}")
    out.print(table)


def _neighbor_table(rows: list[gs.NeighborRow], title: str) -> Table:
    table = Table("rel", "word", "weight", "count", "passages", "from", title=title)
    for r in rows:
        prov = "; ".join(f"#{p['passage_id']} {p['title'] or ''}" for p in r.provenance)
        word = f"{r.via} {r.surface}" if r.via else r.surface
        table.add_row(
            r.rel + (" ←" if r.direction == "in" else " →"),
            word + (" *" if r.curated else ""),
            f"{r.weight:.3f}",
            str(r.count),
            str(r.n_passages),
            prov,
        )
    return table


@graph_app.command()
@handle_errors
def show(word: str, as_json: Json = False) -> None:
    """One node: counts, written forms, degree and strongest neighbours."""
    with _graph(read_only=True) as con:
        data = gs.show(con, word)
    if as_json:
        return emit_json(data)
    out.print(
        f"[bold]{data['surface']}[/] (key {data['key']!r}, {data['kind']}, id {data['id']}, count {data['count']})"
    )
    out.print("forms: " + ", ".join(f"{f['surface']}×{f['count']}" for f in data["surfaces"]))
    out.print("out-degree: " + ", ".join(f"{k} {v}" for k, v in data["out_degree"].items()))
    for rel, rows in data["top"].items():
        out.print(f"{rel}: " + ", ".join(f"{r['surface']} ({r['weight']:.2f})" for r in rows))


@graph_app.command()
@handle_errors
def neighbors(
    word: str,
    rel: Annotated[str | None, typer.Option(help=f"{', '.join(gs.RELATIONS)} (default: all).")] = None,
    top: Annotated[int, typer.Option(min=1, help="How many per relation (and direction).")] = 10,
    direction: Annotated[
        Literal[gs.DIRECTIONS] | None,  # type: ignore[valid-type]
        typer.Option(
            help="out (edges from WORD), in (edges to it: a note's backlinks) or both; "
            "default: both for link, out for the others."
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Strongest neighbours of a word (or note) with weight, count and the passages behind each edge; → goes
    out from WORD, ← comes in (for a note: the notes that link to it)."""
    with _graph(read_only=True) as con:
        rows = gs.neighbors(con, word, rel, top, direction)
    if as_json:
        return emit_json([r.to_dict() for r in rows])
    out.print(_neighbor_table(rows, f"neighbours of {word!r}"))


def _edit(op: str, args: dict, as_json: bool, message: str) -> None:
    with _graph() as con:
        edit_id = gs.apply_edit(con, op, args)
    if as_json:
        emit_json({"edit": edit_id, "op": op, "args": args})
    else:
        out.print(f"{message} (edit {edit_id})")


@edge_app.command("add")
@handle_errors
def edge_add(
    a: str,
    b: str,
    rel: Rel = "link",
    weight: Annotated[float | None, typer.Option(help="Edge weight (default: keep, or 1.0 if new).")] = None,
    as_json: Json = False,
) -> None:
    """Add an edge A → B (or mark an existing one curated, optionally with a new weight)."""
    _edit("edge_add", {"a": a, "b": b, "rel": rel, "weight": weight}, as_json, f"added {rel} {a!r} → {b!r}")


@edge_app.command("remove")
@handle_errors
def edge_remove(a: str, b: str, rel: Rel = "link", as_json: Json = False) -> None:
    """Remove an edge A → B; it stays removed after later ingests."""
    _edit("edge_remove", {"a": a, "b": b, "rel": rel}, as_json, f"removed {rel} {a!r} → {b!r}")


@edge_app.command("reweight")
@handle_errors
def edge_reweight(
    a: str,
    b: str,
    rel: Rel = "link",
    weight: Annotated[float, typer.Option(help="New weight.")] = 1.0,
    as_json: Json = False,
) -> None:
    """Set the weight of an existing edge A → B."""
    _edit(
        "edge_reweight",
        {"a": a, "b": b, "rel": rel, "weight": weight},
        as_json,
        f"reweighted {rel} {a!r} → {b!r}",
    )


@graph_app.command()
@handle_errors
def search(
    text: str,
    k: Annotated[int, typer.Option("--k", min=1, max=50, help="Passages to return.")] = 5,
    lexical_weight: Annotated[
        float, typer.Option(help=RuntimeConfig.model_fields["lexical_weight"].description)
    ] = RuntimeConfig().lexical_weight,
    as_json: Json = False,
) -> None:
    """Passages of the published snapshot for TEXT, as the runtime retrieves them (dense + lexical, fused)."""
    ws = Workspace()
    ws.recover()
    hits = gs.search(gs.Snapshot.open(ws.snapshots), text, k, lexical_weight)
    rows = [
        {
            "id": h.id,
            "score": round(h.score, 5),
            "dense": None if h.dense is None else round(h.dense, 4),
            "lexical": None if h.lexical is None else round(h.lexical, 4),
            "coverage": round(h.coverage, 4),
            "names": round(h.names, 4),
            "dense_searched": h.dense_searched,  # false: the embedding model does not know the question's language
            "subject": h.subject,  # its document's title is all the question asks: other documents are no evidence
            "stated": h.stated,  # a fact a user stated on the question
            "lang": h.lang,
            "doc_id": h.doc_id,
            "title": h.title,
            "text": h.text,
        }
        for h in hits
    ]
    if as_json:
        return emit_json(rows)
    table = Table("passage", "fused", "dense", "lexical", "coverage", "names", "title", "text")
    for r in rows:
        table.add_row(
            str(r["id"]),
            f"{r['score']:.4f}",
            *(f"{r[x]:.3f}" if r[x] is not None else "–" for x in ("dense", "lexical", "coverage", "names")),
            r["title"] or "",
            r["text"][:100],
        )
    out.print(table)


@graph_app.command()
@handle_errors
def merge(a: str, b: str, as_json: Json = False) -> None:
    """Fold node B into node A (B's occurrences count as A's, now and in later ingests)."""
    _edit("merge", {"a": a, "b": b}, as_json, f"merged {b!r} into {a!r}")


@graph_app.command()
@handle_errors
def prune(
    min_count: Annotated[int, typer.Option(min=1, help="Drop counted edges seen fewer times than this.")],
    rel: Annotated[str | None, typer.Option(help="Only this relation.")] = None,
    as_json: Json = False,
) -> None:
    """Drop rare counted edges (curated edges are kept)."""
    _edit("prune", {"min_count": min_count, "rel": rel}, as_json, f"pruned edges with count < {min_count}")


@graph_app.command("log")
@handle_errors
def log_(limit: Annotated[int, typer.Option(min=1)] = 50, as_json: Json = False) -> None:
    """The edit log, newest first."""
    with _graph(read_only=True) as con:
        edits = gs.edit_log(con, limit)
    if as_json:
        return emit_json([e.to_dict() for e in edits])
    table = Table("id", "time", "op", "args", "note", title="edit log")
    for e in edits:
        args = ", ".join(f"{k}={v}" for k, v in e.args.items() if v is not None)
        table.add_row(str(e.id), e.ts[:19], e.op + (" (undone)" if e.undone else ""), args, e.note or "")
    out.print(table)


@graph_app.command()
@handle_errors
def undo(edit_id: int, as_json: Json = False) -> None:
    """Undo one edit from the log (the graph is rebuilt as if it had never been made)."""
    with _graph() as con:
        gs.undo(con, edit_id)
    emit_json({"undone": edit_id}) if as_json else out.print(f"undid edit {edit_id}")


@graph_app.command()
@handle_errors
def export(
    out_path: Annotated[Path, typer.Argument(metavar="OUT", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="graphml or gexf.")] = "graphml",
    around: Annotated[str | None, typer.Option(help="Only the neighbourhood of this word.")] = None,
    depth: Annotated[int, typer.Option(min=0, help="Hops around --around.")] = 1,
    min_weight: Annotated[float, typer.Option(help="Skip weaker edges.")] = 0.0,
    as_json: Json = False,
) -> None:
    """Export the graph (or a neighbourhood) for Gephi, yEd or networkx."""
    with _graph(read_only=True) as con:
        counts = gs.export_graph(con, out_path, fmt, around, depth, min_weight)
    if as_json:
        return emit_json({"path": str(out_path), "format": fmt} | counts)
    out.print(f"wrote {counts['nodes']} nodes and {counts['edges']} edges to {out_path}")


@graph_app.command("import-edges")
@handle_errors
def import_edges(path: Path, as_json: Json = False) -> None:
    """Add every edge of a GraphML file as curated edits (all or nothing)."""
    with _graph() as con:
        n = gs.import_edges(con, path)
    emit_json({"imported": n}) if as_json else out.print(f"imported {n} edges from {path}")


@graph_app.command()
@handle_errors
def publish(as_json: Json = False) -> None:
    """Compile the graph into a new immutable snapshot and make it current (atomic swap)."""
    ws = Workspace()
    ensure_not_served(ws)
    manifest = gs.publish(ws.graph_db, ws.snapshots, progress=not as_json, embedding_model=ws.embedding_model)
    data = json.loads(manifest.to_json())
    if as_json:
        return emit_json(data)
    edges = ", ".join(f"{k} {v:,}" for k, v in data["counts"]["edges"].items())
    out.print(
        f"published v{data['version']}: {data['counts']['nodes']:,} nodes, {edges}; "
        f"{data['counts']['passages']:,} passages"
    )


@graph_app.command()
@handle_errors
def snapshots(as_json: Json = False) -> None:
    """Published versions; the current one is marked."""
    ws = Workspace()
    rows = gs.list_snapshots(ws.snapshots)
    if as_json:
        current = gs.current_version(ws.snapshots)
        return emit_json([json.loads(m.to_json()) | {"current": m.version == current} for m in rows])
    current = gs.current_version(ws.snapshots)
    table = Table("version", "created", "nodes", "passages", "graph hash", title="snapshots")
    for m in rows:
        d = json.loads(m.to_json())
        mark = " (current)" if m.version == current else ""
        table.add_row(
            f"v{m.version}{mark}",
            str(d["created_at"])[:19],
            f"{d['counts']['nodes']:,}",
            f"{d['counts']['passages']:,}",
            str(d["graph_hash"])[:12],
        )
    out.print(table)


@graph_app.command()
@handle_errors
def rollback(version: int, as_json: Json = False) -> None:
    """Make an earlier snapshot version current again."""
    ensure_not_served(Workspace())
    gs.rollback(Workspace().snapshots, version)
    emit_json({"current": version}) if as_json else out.print(f"current snapshot is now v{version}")
