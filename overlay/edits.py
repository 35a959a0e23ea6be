"""Knowledge edits, measured: a fact goes live as a delta, and answers use it at once.

For each line, in a scratch copy of the workspace (its graph file copied, its published version shared
read-only): ask the controls, ingest the fact and make it live (`add_text_live`: quick ingest + delta, then a
runtime over the layered snapshot that reuses the published lexicon), ask the question and its paraphrase,
ask the controls again. `edit_seconds` runs from submitting the fact to a runtime that can use it.

`sequential` asks the harder question that editing methods degrade on: many edits in one workspace. Every
fact of the file goes live one after another (optionally padded with invented facts, seeded), each live at
once; then every question, paraphrase and control is asked, and again after the next full publish has
folded the delta into a version.

A fact may contradict what the graph and the model believe ("The capital of France is Lima."); a line
that names the belief it replaces (`old`) is also scored for `override`: the new answer is in the reply's
first sentence and the old one is not, for every system (the LLM alone keeps its belief; RAG with the
fact in its prompt is the in-context baseline). Every score is read from generated text.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from graph_store import Snapshot, add_text_live, publish

from .config import RuntimeConfig
from .evaluate import Progress, contains, first_sentence, plain_answer, rag_prompt
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
    snap = Snapshot.open(ws.snapshots, verify=False)
    live = Runtime(snap, rt.backend, rt.config, base=rt.lexicon if rt.snap.version == snap.version else None)
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
    overridden = dict.fromkeys(hits, 0)
    contradicting = sum(1 for row in rows if row.get("old"))
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
                overridden[key] += bool(row.get("old")) and overrides(text, answers, row["old"])
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
    if contradicting:
        rate = {key: n / contradicting for key, n in overridden.items()}
        result["overlay"] |= {"override": rate["overlay_q"], "override_paraphrase": rate["overlay_p"]}
        result["rag"] |= {"override": rate["rag_q"], "override_paraphrase": rate["rag_p"]}
        result["llm_only"]["override"] = rate["llm_q"]
        result["contradicting"] = contradicting
    if details:
        result["details"] = out_details
    return result


def overrides(text: str, answers: list[str], old: str) -> bool:
    """A reply that states the edited fact over the belief it replaces: the new answer in its first
    sentence, the old one not there."""
    head = first_sentence(text)
    return contains(head, answers) and not contains(head, [old])


_SYLLABLES = ("ka", "lor", "vem", "thi", "dru", "sen", "mar", "quel", "zan", "bor", "ell", "nim", "gal", "tor", "vas")
_NATIONS = ("Chilean", "Estonian", "Kenyan", "Norwegian", "Peruvian", "Malaysian", "Icelandic", "Ghanaian")
_TRADES = ("potter", "cartographer", "glassblower", "luthier", "beekeeper", "bookbinder", "surveyor", "weaver")


def invented_facts(n: int, seed: int = 0) -> list[str]:
    """`n` facts about people nobody has heard of (seeded, each name unique): padding for sequential edits."""
    rng = random.Random(seed)
    names: set[str] = set()
    out = []
    while len(out) < n:
        first, last, town = ("".join(rng.choices(_SYLLABLES, k=k)).capitalize() for k in (2, 3, 3))
        if f"{first} {last}" in names:
            continue
        names.add(f"{first} {last}")
        out.append(f"{first} {last} is a {rng.choice(_NATIONS)} {rng.choice(_TRADES)} from {town}.")
    return out


def _percentiles(seconds: list[float]) -> dict[str, float]:
    return {"p50": float(np.percentile(seconds, 50)), "p95": float(np.percentile(seconds, 95))}


def _ask_all(
    rt: Runtime, rows: list[dict[str, Any]], before: list[list[bool]], cfg: RuntimeConfig, details: list | None = None
) -> dict:
    """Efficacy, paraphrase and specificity of one runtime over every line (controls right before stay right);
    each line's answers appended to `details` when given."""
    q = p = kept = checked = 0
    for row, was in zip(rows, before, strict=True):
        asked, para = rt.answer(row["question"], cfg).text, rt.answer(row["paraphrase"], cfg).text
        q += contains(asked, row["answers"])
        p += contains(para, row["answers"])
        controls = []
        for c, ok in zip(row["controls"], was, strict=True):
            if ok:  # a control the overlay got wrong before the edits tells nothing about them
                checked += 1
                answer = rt.answer(c["question"], cfg).text
                kept += (held := contains(answer, c["answers"]))
                controls.append({"question": c["question"], "answer": answer, "kept": held})
        if details is not None:
            details.append({"fact": row["fact"], "question": asked, "paraphrase": para, "controls": controls})
    n = len(rows)
    return {"efficacy": q / n, "paraphrase": p / n, "specificity": kept / checked if checked else 1.0}


def sequential(
    rt: Runtime,
    ws: Workspace,
    rows: list[dict[str, Any]],
    scale: int = 0,
    seed: int = 0,
    config: RuntimeConfig | None = None,
    progress: Progress | None = None,
    details: bool = False,
) -> dict[str, Any]:
    """Every fact of `rows` plus `scale` invented ones live in one scratch workspace, in a seeded order, one
    after another; then the questions, paraphrases and controls, and the same after a full publish (with
    `details`, each line's answers live and after the publish)."""
    cfg = config or rt.config
    facts = [row["fact"] for row in rows] + invented_facts(scale, seed)
    random.Random(seed).shuffle(facts)
    total = len(rows) + len(facts) + 2 * len(rows)  # controls before, edits, asking live and after publish
    done = 0

    def tick(k: int = 1) -> None:
        nonlocal done
        done += k
        if progress:
            progress(done, total)

    before = []
    for row in rows:
        before.append([contains(rt.answer(c["question"], cfg).text, c["answers"]) for c in row["controls"]])
        tick()
    seconds: list[float] = []
    with tempfile.TemporaryDirectory(prefix="overlay-edits-") as tmp:
        scratch = scratch_workspace(ws, Path(tmp))
        live = rt
        for fact in facts:
            live, took = make_live(scratch, fact, live)  # the last runtime: only the new fact's words are new
            seconds.append(took)
            tick()
        live_answers: list | None = [] if details else None
        after_answers: list | None = [] if details else None
        live_scores = _ask_all(live, rows, before, cfg, live_answers)
        tick(len(rows))
        t = time.perf_counter()
        publish(scratch.graph_db, scratch.snapshots, progress=False, embedding_model=ws.embedding_model)
        published = Runtime(Snapshot.open(scratch.snapshots), rt.backend, rt.config)
        publish_seconds = time.perf_counter() - t
        after = _ask_all(published, rows, before, cfg, after_answers)
        tick(len(rows))
    edge = max(1, len(seconds) // 10)  # the first and the last tenth of the edits
    return {
        "n": len(rows),
        "scale": scale,
        "live_facts": len(facts),
        "overlay": live_scores,
        "after_publish": {"overlay": after, "publish_seconds": publish_seconds},
        "edit_seconds": _percentiles(seconds),
        "edit_seconds_start": _percentiles(seconds[:edge]),
        "edit_seconds_end": _percentiles(seconds[-edge:]),
        "controls_checked": sum(sum(b) for b in before),
        "seed": seed,
        "config": cfg.model_dump(),
    } | ({"details": {"live": live_answers, "after_publish": after_answers}} if details else {})
