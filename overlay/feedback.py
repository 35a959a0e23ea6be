"""A user's verdict on a traced answer flows back into the graph as an edit (visible, undoable, replayed).

Every step of the answer (or the chosen ones) becomes a path (word before, word, chosen word); the
`verdict` edit adds the rating to each path's `verdict` edge, whose summed rating is a part of the graph
score from the next publish on: a thumbs-down makes the same word in the same place lose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graph_store import END_KEY, apply_edit, connect, fold

from .errors import OverlayError

# What one verdict adds to each rated path's `verdict` edge. A correction outweighs a confirmation: a
# "bad" says this word is wrong right here; a "good" only says the answer was fine as a whole.
WEIGHT = {1: 0.2, -1: -1.0}


def verdict_paths(trace: dict[str, Any], steps: list[int] | None = None) -> list[list[str]]:
    """(ctx, src, dst) keys for the chosen steps of a trace; the answer's start and end are `</s>`."""
    words = [fold(s["text"]) if s["text"] else END_KEY for s in trace["steps"]]
    chosen = range(len(words)) if steps is None else steps
    bad = [i for i in chosen if not 0 <= i < len(words)]
    if bad:
        raise OverlayError(f"step {bad[0]} is not in trace {trace['id']} (it has steps 0–{len(words) - 1})")
    padded = [END_KEY, END_KEY, *words]
    return [[padded[i], padded[i + 1], padded[i + 2]] for i in chosen]


def record_feedback(
    graph_db: Path, trace: dict[str, Any], rating: int, steps: list[int] | None = None, note: str | None = None
) -> dict[str, Any]:
    """Write the verdict into the graph's edit log; returns the edit id and the paths it rated."""
    if rating not in (1, -1):
        raise OverlayError("rating must be 1 (good) or -1 (bad)")
    paths = verdict_paths(trace, steps)
    args = {"rating": rating, "weight": WEIGHT[rating], "trace": trace["id"], "paths": paths}
    con = connect(graph_db)
    try:
        edit_id = apply_edit(con, "verdict", args, note or ("good answer" if rating > 0 else "bad answer"))
    finally:
        con.close()
    return {
        "edit_id": edit_id,
        "trace": trace["id"],
        "rating": rating,
        "paths": len(paths),
        "live": "at the next publish",
    }
