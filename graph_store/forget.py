"""Forgetting: documents leave the graph, their passages, tokens, links and front-matter aliases with them.

A document is named by its id (a live fact's `fact:…`, a JSONL line's `id`, a note's path inside its vault,
a wiki article's title) or by its title. The removal is one transaction, like an ingest: a name that
matches nothing is refused before anything is deleted. The edges the document contributed go at the next
recount: at once when `recount` (a full forget, served after the next publish), or at the next full
publish when the forget goes live as a delta (`forget_live`), which hides the published passages at once;
a fact that was only ever live (in the delta) is gone with it. Curated edits stay in the edit log.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from common import BadInput

from .counting import recount as recount_edges
from .curation import replay
from .db import connect, set_stale, transaction
from .delta import DeltaInfo, live_edit, publish_delta
from .errors import NotFoundError
from .ingest import _insert, _remove


@dataclass(frozen=True)
class ForgetSummary:
    documents: int
    passages: int
    seconds: float


def forget(db_path: Path | str, names: list[str], recount: bool = True) -> ForgetSummary:
    """Remove the documents `names` name (ids or titles), all or nothing."""
    t0 = time.perf_counter()
    con = connect(db_path)
    try:
        with transaction(con):
            keys: set[str] = set()
            for name in names:
                found = con.execute(
                    "SELECT DISTINCT doc_key FROM passages WHERE doc_key = ? OR doc_id = ? OR title = ?",
                    [name, name, name],
                ).fetchall()
                if not found:
                    raise NotFoundError(f"no document {name!r} in the graph (give its id or its title)")
                if any(key is None for (key,) in found):
                    raise BadInput(
                        f'{name!r} names a JSONL line without an "id", which has no identity to forget it by'
                    )
                keys.update(key for (key,) in found)
            passages = con.execute(
                "SELECT count(*) FROM passages WHERE doc_key IN (SELECT unnest(?::VARCHAR[]))", [sorted(keys)]
            ).fetchone()[0]
            surfaces: defaultdict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
            _remove(con, sorted(keys), surfaces)
            _insert(
                con,
                "surfaces",
                ("node_id", "surface", "count", "inside"),
                [(n, s, c, inside) for (n, s), (c, inside) in surfaces.items()],
            )
            if recount:
                recount_edges(con)
                replay(con)
                set_stale(con, False)
            else:
                set_stale(con, True)
    finally:
        con.close()
    return ForgetSummary(len(keys), int(passages), round(time.perf_counter() - t0, 3))


def forget_live(
    db_path: Path | str, snapshots_dir: Path | str, names: list[str], embedding_model: str | None = None
) -> tuple[ForgetSummary, DeltaInfo]:
    """Forget at once: the removal, then a delta that hides what the current snapshot still holds."""
    with live_edit(snapshots_dir) as transaction:
        summary = transaction(forget, db_path, names, recount=False)
        return summary, publish_delta(db_path, snapshots_dir, embedding_model)
