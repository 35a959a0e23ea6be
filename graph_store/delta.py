"""Small edits live in seconds: a delta layered over the current snapshot, folded in at the next publish.

A full publish recounts every edge and re-embeds what changed: fine for a corpus, too slow for one fact.
`quick_ingest` writes the new passages (one transaction, like any ingest) but leaves the recount to the
next full publish; `publish_delta` then writes what the runtime needs to use them at once (the passages
added since the current snapshot, their vectors and their new words) into a `delta-*` folder and swaps the
`delta` link atomically. `Snapshot.open` layers a delta whose base is the version it opens; a full publish
removes the link, because the new version holds it all.

A live edit is the graph's transaction and then the delta's swap: a crash between them leaves the graph
holding what the served delta does not yet. So a live edit first writes its intent (`.live-pending`, its
pid) and removes it once the delta is swapped; `recover_live`, run where a workspace is opened to answer,
finds an intent whose process is gone and rebuilds the delta from the graph (always right: the delta is a
function of the graph and the current snapshot), so the edit is whole, or, if the crash came before the
transaction committed, the delta is as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common import pid_alive, write_atomic

from . import db
from .embeddings import embed_texts, model_id, passage_embed_text
from .errors import IngestError
from .ingest import IngestSummary, ingest_paths
from .snapshot import Snapshot
from .snapshot_format import DELTA_LINK, FACT_PREFIX, Manifest, check_model, current_folder, load_delta

PENDING = ".live-pending"  # in snapshots/: a live edit under way (its pid)


@dataclass(frozen=True)
class DeltaInfo:
    base_version: int
    passages: int
    words: int
    seconds: float
    removed: int = 0  # published passages it hides: older versions of documents it replaces


def quick_ingest(db_path: Path | str, paths: list[Path]) -> IngestSummary:
    """Ingest without the full recount (marked stale; the next full publish recounts)."""
    return ingest_paths(db_path, paths, progress=False, recount=False)


def ingest_live(
    db_path: Path | str, snapshots_dir: Path | str, paths: list[Path], embedding_model: str | None = None
) -> tuple[IngestSummary, DeltaInfo]:
    """Small files, live at once: `quick_ingest` then `publish_delta` (refused before anything is written
    if the current snapshot's vectors are another model's)."""
    check_model(Manifest.load(current_folder(Path(snapshots_dir))), model_id(embedding_model), "a delta")
    with live_edit(snapshots_dir) as transaction:
        summary = transaction(quick_ingest, db_path, paths)
        return summary, publish_delta(db_path, snapshots_dir, embedding_model)


@contextlib.contextmanager
def live_edit(snapshots_dir: Path | str) -> Iterator[Callable]:
    """Around a live edit: its intent, kept if it does not finish. It yields a runner for the edit's graph
    transaction, which is all or nothing: if that fails, there is nothing to finish and the intent goes."""
    marker = Path(snapshots_dir) / PENDING
    write_atomic(marker, str(os.getpid()))

    def transaction(fn: Callable, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BaseException:
            marker.unlink(missing_ok=True)
            raise

    yield transaction
    marker.unlink(missing_ok=True)


def recover_live(db_path: Path | str, snapshots_dir: Path | str, embedding_model: str | None = None) -> bool:
    """Finish a live edit that a crash (or an error) left unfinished: rebuild the delta from the graph.
    True if it did; nothing happens while the edit's process still runs."""
    marker = Path(snapshots_dir) / PENDING
    try:
        pid = int(marker.read_text() or 0)
    except FileNotFoundError:
        return False
    except ValueError:
        pid = 0
    if pid != os.getpid() and pid_alive(pid):
        return False
    publish_delta(db_path, snapshots_dir, embedding_model)
    marker.unlink(missing_ok=True)
    return True


def add_text_live(
    db_path: Path | str,
    snapshots_dir: Path | str,
    text: str,
    folder: Path,
    title: str | None = None,
    embedding_model: str | None = None,
) -> tuple[IngestSummary, DeltaInfo]:
    """One short text (a fact) as its own document, live at once; the file it is ingested from stays in
    `folder`. Its id comes from its content, so whatever else is live it is grouped with nothing else."""
    if not any(ch.isalnum() for ch in text):  # " " or "…" would go live as a fact holding nothing
        raise IngestError("fact", "no words in it: a fact is a sentence to go live")
    doc_id = FACT_PREFIX + hashlib.sha256(f"{title}\n{text}".encode()).hexdigest()[:12]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{doc_id.replace(':', '-')}.jsonl"
    path.write_text(json.dumps({"id": doc_id, "title": title, "text": text}) + "\n", encoding="utf-8")
    return ingest_live(db_path, snapshots_dir, [path], embedding_model)


def publish_delta(db_path: Path | str, snapshots_dir: Path | str, embedding_model: str | None = None) -> DeltaInfo:
    """Make the passages added since the current snapshot live, layered over it, and hide the published
    passages the graph no longer has (replaced by a newer version of their document); returns what it holds.

    Its vectors are `embedding_model`'s (default: the bundled one), which must be the base snapshot's."""
    t0 = time.perf_counter()
    snapshots_dir = Path(snapshots_dir)
    base = Snapshot.open(snapshots_dir, verify=False, with_delta=False)
    model = base.manifest.embedding_model
    check_model(base.manifest, model_id(embedding_model), "a delta")
    first_pid = int(base.max_passage_id()) + 1
    con = db.connect(db_path, read_only=False)
    try:
        rows = con.execute(
            "SELECT id, title, doc_id, url, text, lang FROM passages WHERE id >= ? ORDER BY id", [first_pid]
        ).fetchall()
        vocab = con.execute(
            "SELECT id, key, surface, kind, count FROM nodes WHERE id >= ? ORDER BY id", [base.base_size]
        ).fetchall()
        con.register("_published", {"id": np.asarray(base.passage_ids(), dtype=np.int64)})
        try:
            removed = [
                i
                for (i,) in con.execute(
                    "SELECT id FROM _published WHERE id NOT IN (SELECT id FROM passages) ORDER BY id"
                ).fetchall()
            ]
        finally:
            con.unregister("_published")
    finally:
        con.close()
    passages = [{"id": i, "title": t, "doc_id": d, "url": u, "text": x, "lang": g} for i, t, d, u, x, g in rows]
    vectors = _vectors(passages, load_delta(snapshots_dir, base.version), model)
    tmp = snapshots_dir / f".tmp-delta-{secrets.token_hex(6)}"
    tmp.mkdir()
    try:
        doc = {
            "base_version": base.version,
            "embedding_model": model,
            "removed": removed,
            "passages": passages,
            "vocab": [[i, k, s, kind, int(c or 0)] for i, k, s, kind, c in vocab],
        }
        (tmp / "delta.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        np.save(tmp / "vectors.npy", vectors.astype(np.float32))
        final = snapshots_dir / f"delta-v{base.version:04d}-{secrets.token_hex(4)}"
        os.rename(tmp, final)
        link = snapshots_dir / f".{DELTA_LINK}-{secrets.token_hex(4)}"
        os.symlink(final.name, link)
        os.replace(link, snapshots_dir / DELTA_LINK)  # atomic: readers see the old delta or the new one
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in snapshots_dir.glob("delta-v*"):  # earlier deltas: superseded (this one holds them too)
        if old.name != final.name:
            shutil.rmtree(old, ignore_errors=True)
    return DeltaInfo(base.version, len(passages), len(vocab), round(time.perf_counter() - t0, 3), len(removed))


def _vectors(passages: list[dict], previous: tuple[dict, np.ndarray] | None, model: str) -> np.ndarray:
    """The delta's passage vectors: the previous delta's where it held the same passage (same id, title and
    text, same model), so the thousandth live fact embeds one passage, not a thousand."""
    held: dict[tuple, np.ndarray] = {}
    if previous is not None and previous[0].get("embedding_model") == model:
        doc, old = previous
        held = {(p["id"], p["title"], p["text"]): v for p, v in zip(doc["passages"], old, strict=True)}
    keys = [(p["id"], p["title"], p["text"]) for p in passages]
    missing = [i for i, key in enumerate(keys) if key not in held]
    fresh = embed_texts([passage_embed_text(keys[i][1], keys[i][2]) for i in missing], False, model=model)
    out = np.zeros((len(passages), fresh.shape[1]), np.float32)
    for i, key in enumerate(keys):
        if key in held:
            out[i] = held[key]
    out[missing] = fresh
    return out
