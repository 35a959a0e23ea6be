"""Test helpers that are not fixtures: test data, graph builders, comparisons (fixtures live in conftest)."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
TABLES = ("sources", "passages", "nodes", "surfaces", "aliases", "tokens", "links", "edges", "edits")
SMALL_CORPUS = (DATA / "sample.txt", DATA / "docs.jsonl")


def cli_json(cli, *args: str):
    return json.loads(cli(*args, "--json").stdout)


def q(db: Path, sql: str, params: list | None = None) -> list:
    """The rows of one query on a graph database, opened read-only."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def fingerprint(db: Path) -> dict[str, list]:
    """Every row of every graph table, sorted: equal fingerprints mean an identical graph."""
    if not db.exists():
        return {}
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
    finally:
        con.close()


def save_tiny_llama(tokenizer_dir: Path, out: Path) -> Path:
    """A tiny randomly initialised Llama with a real tokenizer: any causal LM folder must load by path."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_graph(home: Path, files: Iterable[Path] = SMALL_CORPUS) -> Path:
    """Ingest `files` into home/graph.duckdb and publish; returns the snapshots folder."""
    from graph_store import ingest_paths, publish

    ingest_paths(home / "graph.duckdb", list(files), progress=False)
    publish(home / "graph.duckdb", home / "snapshots", progress=False)
    return home / "snapshots"


class _Vectors:
    """What `SentenceTransformer.encode(..., convert_to_tensor=True)` returns, as far as it is read."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def float(self) -> _Vectors:
        return self

    def numpy(self) -> np.ndarray:
        return self.array


class HashedEmbedder:
    """A bag-of-words stand-in for the sentence model: each word hashes to one signed dimension.

    Passages sharing words with a question score high, as lexical retrieval would; it loads in no time
    (importing sentence-transformers alone takes ~10 s on two cores), for tests where retrieval quality is
    not the point.
    """

    WORD = re.compile(r"\w+")

    def get_embedding_dimension(self) -> int:
        from graph_store.embeddings import DIM

        return DIM

    def encode(self, texts: Sequence[str], **_: Any) -> _Vectors:
        from graph_store.embeddings import DIM

        out = np.zeros((len(texts), DIM), np.float32)
        for row, text in enumerate(texts):
            for word in self.WORD.findall(text.casefold()):
                h = zlib.crc32(word.encode())
                out[row, h % DIM] += 1.0 if h & 1 << 31 else -1.0
        return _Vectors(out)


def use_hashed_embeddings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Swap the passage/query embedding model for `HashedEmbedder` while `monkeypatch` is active.

    Only for graphs built under the same patch: their cached vectors are the stand-in's, not MiniLM's.
    """
    import graph_store.embeddings

    embedder = HashedEmbedder()
    monkeypatch.setattr(graph_store.embeddings, "load_model", lambda model=None, bulk=False: embedder)
