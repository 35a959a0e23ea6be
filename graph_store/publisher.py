"""Write snapshot versions and switch between them: publish (compile + atomic swap), list, rollback.

Everything is written into `.tmp-<random>`, fsynced, renamed to `vNNNN`, and only then is `current` swapped;
a crash at any point leaves `current` on the version it had, and the next publish sweeps the leftovers.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import faiss
import numpy as np
from rich.console import Console

from common import sha256_file, write_json

from . import db, lexical
from .counting import recount
from .curation import replay
from .db import KEYED
from .embeddings import MODEL_NAME, ensure_embeddings, languages, model_id, passage_vectors
from .errors import GraphStoreError, NotFoundError
from .snapshot_format import (
    BOTH,
    CSR_RELS,
    FIELDS,
    IN,
    LINK_DIR,
    OUT,
    PROV,
    TITLES,
    VERSION_RE,
    Manifest,
    drop_delta,
    version_name,
)
from .text import fold

_PROV_SQL = ", ".join(f"coalesce(list_sort(passages)[{i + 1}], -1)::INT AS p{i}" for i in range(PROV))
_COLS = f"dst::INT AS indices, weight::FLOAT AS weight, count::BIGINT AS count, {_PROV_SQL}"
# The table holds a link in the direction it was written; a snapshot answers both (max weight wins), and
# `link.dir` says which way each row was written: OUT (src links to dst), IN (dst links to src), or both.
_LINK_SQL = f"""
    SELECT * EXCLUDE (d), bit_or(d) OVER (PARTITION BY src, dst) AS dir FROM (
        SELECT src, dst, weight, count, passages, CASE WHEN src = dst THEN {BOTH} ELSE {OUT} END AS d
        FROM edges WHERE rel = 'link'
        UNION ALL
        SELECT dst, src, weight, count, passages, {IN} FROM edges WHERE rel = 'link' AND src <> dst)
    QUALIFY row_number() OVER (PARTITION BY src, dst ORDER BY weight DESC, count DESC) = 1"""


def publish(
    db_path: Path | str, snapshots_dir: Path | str, progress: bool = True, embedding_model: str | None = None
) -> Manifest:
    """Compile the graph into the next version folder and make it current; returns its manifest.

    Its passage vectors are all `embedding_model`'s (default: the bundled MiniLM); switching models is a
    full publish, which embeds every passage with the new one (a delta never mixes them)."""
    db_path, snapshots_dir = Path(db_path), Path(snapshots_dir)
    model = model_id(embedding_model)
    if not db_path.exists():
        raise GraphStoreError(f"{db_path}: no graph yet; run `overlay graph ingest` first")
    snapshots_dir.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True, quiet=not progress)
    with _lock(snapshots_dir):
        for stale in snapshots_dir.glob(".tmp-*"):  # left by a crashed publish: never a version
            shutil.rmtree(stale, ignore_errors=True)
        for stale in snapshots_dir.glob(".current-*"):
            stale.unlink(missing_ok=True)
        con = db.connect(db_path)  # the one read-write open: the embedding cache is written here
        try:
            if db.is_stale(con):  # small edits went live as a delta without a recount: fold them in now
                with console.status("counting edges"), db.transaction(con):
                    recount(con)
                    replay(con)
                    db.set_stale(con, False)
            ensure_embeddings(con, progress=progress, model=model)
        finally:
            con.close()
        tmp = snapshots_dir / f".tmp-{secrets.token_hex(6)}"
        tmp.mkdir()
        try:
            with console.status("compiling snapshot"), _reader(db_path) as con:
                counts, content_hash = _compile(con, tmp, model)
            manifest = Manifest(
                version=max(published_versions(snapshots_dir), default=0) + 1,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                counts=counts,
                files={p.relative_to(tmp).as_posix(): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()},
                graph_hash=content_hash,
                embedding_model=model,
                embedding_languages=list(langs) if (langs := languages(model)) else None,
            )
            (tmp / "manifest.json").write_text(manifest.to_json())
            for p in sorted(tmp.rglob("*"), reverse=True):  # files, then their folders
                _fsync(p)
            _fsync(tmp)
            final = snapshots_dir / manifest.name
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _point_current(snapshots_dir, manifest.name)
        drop_delta(snapshots_dir)  # the new version holds what a delta over the old one did
    return Manifest.load(final)


@contextlib.contextmanager
def _reader(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Read-only where possible; a process already holding the file read-write must share that mode."""
    try:
        con = db.connect(db_path, read_only=True)
    except duckdb.ConnectionException:
        con = db.connect(db_path)
    try:
        yield con
    finally:
        con.close()


def _compile(con: duckdb.DuckDBPyConnection, out: Path, model: str = MODEL_NAME) -> tuple[dict, str]:
    """Write every array and index file into `out`; returns (counts, graph hash) for the manifest."""
    n_rows = con.execute(
        "SELECT greatest((SELECT max(id) FROM nodes), (SELECT max(greatest(src, dst)) FROM edges), 0) + 1"
    ).fetchone()[0]
    edges: dict[str, int] = {}
    for rel in CSR_RELS:
        source = _LINK_SQL if rel == "link" else f"SELECT * FROM edges WHERE rel = '{rel}'"
        extra = ", dir::INT8 AS dir" if rel == "link" else ""
        cols = _fetch(
            con, f"SELECT src::BIGINT AS row_key, {_COLS}{extra} FROM ({source}) ORDER BY src, weight DESC, dst"
        )
        if rel == "link":
            np.save(out / LINK_DIR, cols.pop("dir"))
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(cols.pop("row_key"), minlength=n_rows), out=indptr[1:])
        edges[rel] = _save_rel(out, rel, indptr, cols)
    for rel in KEYED:  # rows keyed by (ctx, src): a sorted key array + CSR over its rows
        cols = _fetch(
            con,
            f"SELECT ctx::BIGINT * 4294967296 + src AS row_key, {_COLS} FROM edges WHERE rel = '{rel}' "
            "ORDER BY row_key, weight DESC, dst",
        )
        keys, starts = np.unique(cols.pop("row_key"), return_index=True)
        np.save(out / f"{rel}.keys.npy", keys.astype(np.int64))
        edges[rel] = _save_rel(out, rel, np.append(starts, len(cols["indices"])).astype(np.int64), cols)

    vocab: list = [None] * n_rows
    for nid, key, surface, kind, count in con.execute("SELECT id, key, surface, kind, count FROM nodes").fetchall():
        vocab[nid] = [key, surface, kind, int(count or 0)]
    write_json(out / "vocab.json", vocab, indent=None, sort_keys=False, separators=(",", ":"))
    write_json(
        out / "aliases.json",
        con.execute("SELECT key, kind, node_id FROM aliases ORDER BY ALL").fetchall(),
        indent=None,
        sort_keys=False,
        separators=(",", ":"),
    )

    rows = con.execute("SELECT id, title, doc_id, url, text, lang FROM passages ORDER BY id").fetchall()
    offsets = [0]
    with open(out / "passages.bin", "wb") as f:
        for pid, title, doc_id, url, text, lang in rows:
            rec = {"id": pid, "title": title, "doc_id": doc_id, "url": url, "text": text, "lang": lang}
            offsets.append(offsets[-1] + f.write(json.dumps(rec, ensure_ascii=False).encode()))
    np.save(out / "passages.offsets.npy", np.array(offsets, dtype=np.int64))
    titles: dict[str, int] = {}  # a document's title → its first passage (what "What is <title>?" asks about)
    for pid, title, *_ in rows:
        if title:
            titles.setdefault(fold(title), pid)
    write_json(out / TITLES, sorted(titles.items()), indent=None, sort_keys=False, separators=(",", ":"))
    ids, vecs = passage_vectors(con, model)
    if ids.tolist() != [r[0] for r in rows]:
        raise GraphStoreError("passages changed while publishing: publish again")
    np.save(out / "passages.ids.npy", ids)
    lexical.build(
        [lexical.passage_text(title, text) for _, title, _, _, text, _ in rows],
        [lang for *_, lang in rows],
        out / lexical.FOLDER,
    )
    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(vecs)
    faiss.write_index(index, str(out / "passages.faiss"))
    counts = {"nodes": sum(v is not None for v in vocab), "passages": len(rows), "edges": edges}
    return counts, graph_hash(con)


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, np.ndarray]:
    data = con.execute(sql).fetchnumpy()
    prov = np.stack([np.asarray(data.pop(f"p{i}"), dtype=np.int32) for i in range(PROV)], axis=1)
    return {k: np.ascontiguousarray(v) for k, v in data.items()} | {"prov": prov.reshape(-1, PROV)}


def _save_rel(out: Path, rel: str, indptr: np.ndarray, cols: dict[str, np.ndarray]) -> int:
    np.save(out / f"{rel}.indptr.npy", indptr)
    for name in FIELDS:
        np.save(out / f"{rel}.{name}.npy", cols[name])
    return len(cols["indices"])


def graph_hash(con: duckdb.DuckDBPyConnection) -> str:
    """Order-independent content hash of nodes, aliases, edges and passages, summed in SQL (no transfer).

    DuckDB's 64-bit row hash (sum and xor) is ~80× faster than md5 over each row as text; like that one, it
    is stable for one DuckDB version, which is all a snapshot's provenance needs.
    """
    parts = [
        con.execute(f"SELECT count(*), sum(hash(t)::HUGEINT), bit_xor(hash(t)) FROM {table} t").fetchone()
        for table in ("nodes", "aliases", "edges", "passages")
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def published_versions(snapshots_dir: Path | str) -> list[int]:
    """Version numbers by folder name, ascending (unfinished publishes in .tmp-* are not versions)."""
    snapshots_dir = Path(snapshots_dir)
    if not snapshots_dir.is_dir():
        return []
    return sorted(int(p.name[1:]) for p in snapshots_dir.iterdir() if VERSION_RE.match(p.name) and p.is_dir())


def list_snapshots(snapshots_dir: Path | str) -> list[Manifest]:
    """Manifests of the published versions, oldest first."""
    return [Manifest.load(Path(snapshots_dir) / version_name(v)) for v in published_versions(snapshots_dir)]


def current_version(snapshots_dir: Path | str) -> int | None:
    try:
        m = VERSION_RE.match(os.readlink(Path(snapshots_dir) / "current"))
    except OSError:
        return None
    return int(m.group(1)) if m else None


def rollback(snapshots_dir: Path | str, version: int | str) -> Manifest:
    """Serve another published version again; nothing is deleted, readers already open are unaffected."""
    snapshots_dir = Path(snapshots_dir)
    folder = snapshots_dir / version_name(version)
    if not (folder / "manifest.json").is_file():
        raise NotFoundError(f"{folder}: no such snapshot version")
    with _lock(snapshots_dir):
        _point_current(snapshots_dir, folder.name)
    return Manifest.load(folder)


@contextlib.contextmanager
def _lock(snapshots_dir: Path) -> Iterator[None]:
    """One publisher or rollback at a time per snapshots folder, across processes."""
    with open(snapshots_dir / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _point_current(snapshots_dir: Path, name: str) -> None:
    """rename(2) over the old link is atomic: a reader finds the old version or the new one, never none."""
    link = snapshots_dir / f".current-{secrets.token_hex(6)}"
    os.symlink(name, link)
    os.replace(link, snapshots_dir / "current")
    _fsync(snapshots_dir)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
