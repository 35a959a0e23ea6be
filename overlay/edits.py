"""Knowledge edits, measured: a fact goes live as a delta, and answers use it at once.

For each line, in a scratch copy of the workspace (its graph file copied, its published version shared
read-only): ask the controls, ingest the fact and make it live (`add_text_live`: quick ingest + delta, then a
runtime over the layered snapshot that reuses the published lexicon), ask the question and its paraphrase,
ask the controls again. `edit_seconds` runs from submitting the fact to a runtime that can use it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from graph_store import Snapshot, add_text_live

from .config import RuntimeConfig
from .evaluate import Progress, contains, plain_answer, rag_prompt
from .runtime import Runtime
from .workspace import Workspace


def scratch_workspace(ws: Workspace, into: Path) -> Workspace:
    """A workspace whose graph is a copy and whose current version is the original's, shared read-only."""
    snap = Snapshot.open(ws.snapshots, verify=False, with_delta=False)
    (into / "snapshots").mkdir(parents=True)
    shutil.copy2(ws.graph_db, into / "graph.duckdb")
    os.symlink(snap.path.resolve(), into / "snapshots" / snap.path.name)
    os.symlink(snap.path.name, into / "snapshots" / "current")
    return Workspace(home=into, embedding_model=ws.embedding_model)


def make_live(ws: Workspace, fact: str, rt: Runtime) -> tuple[Runtime, float]:
    """Ingest one fact and serve it at once; returns the runtime that can use it and the seconds it took."""
    t = time.perf_counter()
    add_text_live(ws.graph_db, ws.snapshots, fact, ws.home, embedding_model=ws.embedding_model)
    live = Runtime(Snapshot.open(ws.snapshots, verify=False), rt.backend, rt.config, base=rt.lexicon.published())
    return live, time.perf_counter() - t


def edits(
    rt: Runtime,
    ws: Workspace,
    rows: list[dict[str, Any]],
    config: RuntimeConfig | None = None,
    progress: Progress | None = None,
    details: bool = False,
) -> dict[str, Any]:
    cfg = config or rt.config
    hits = {"overlay_q": 0, "overlay_p": 0, "rag_q": 0, "rag_p": 0, "llm_q": 0}
    kept = checked = 0
    seconds: list[float] = []
    out_details = []
    for done, row in enumerate(rows):
        before = [contains(rt.answer(c["question"], cfg).text, c["answers"]) for c in row["controls"]]
        with tempfile.TemporaryDirectory(prefix="overlay-edit-") as tmp:
            scratch = scratch_workspace(ws, Path(tmp))
            live, took = make_live(scratch, row["fact"], rt)
            seconds.append(took)
            q, p, answers = row["question"], row["paraphrase"], row["answers"]
            texts = {
                "overlay_q": live.answer(q, cfg).text,
                "overlay_p": live.answer(p, cfg).text,
                "rag_q": plain_answer(live, rag_prompt(live, q, cfg), cfg.max_words)[0],
                "rag_p": plain_answer(live, rag_prompt(live, p, cfg), cfg.max_words)[0],
                "llm_q": plain_answer(rt, q, cfg.max_words)[0],
            }
            for key, text in texts.items():
                hits[key] += contains(text, answers)
            after = [contains(live.answer(c["question"], cfg).text, c["answers"]) for c in row["controls"]]
        for b, a in zip(before, after, strict=True):
            if b:
                checked += 1
                kept += a
        if details:
            out_details.append({"fact": row["fact"], "edit_seconds": took, **texts, "controls": [before, after]})
        if progress:
            progress(done + 1, len(rows))
    n = len(rows)
    result = {
        "n": n,
        "overlay": {
            "efficacy": hits["overlay_q"] / n,
            "paraphrase": hits["overlay_p"] / n,
            "specificity": kept / checked if checked else 1.0,
        },
        "rag": {"efficacy": hits["rag_q"] / n, "paraphrase": hits["rag_p"] / n},
        "llm_only": {"efficacy": hits["llm_q"] / n},
        "edit_seconds": {"p50": float(np.percentile(seconds, 50)), "p95": float(np.percentile(seconds, 95))},
        "controls_checked": checked,
        "config": cfg.model_dump(),
    }
    if details:
        result["details"] = out_details
    return result
