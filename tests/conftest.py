"""Shared fixtures: a fresh workspace per test, the CLI runner, and a graph fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from api.cli import app

DATA = Path(__file__).parent / "data"
TABLES = ("sources", "passages", "nodes", "surfaces", "aliases", "tokens", "links", "edges", "edits")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws = tmp_path / "ws"
    monkeypatch.setenv("OVERLAY_HOME", str(ws))
    return ws


@pytest.fixture
def cli(home: Path):
    """Run `overlay …` in-process; returns the Result. `expect` is the exit code the test requires."""
    runner = CliRunner()

    def run(*args: str, expect: int | None = 0):
        result = runner.invoke(app, [str(a) for a in args])
        if expect is not None:
            assert result.exit_code == expect, (result.output, result.exception)
        return result

    return run


def cli_json(cli, *args: str):
    return json.loads(cli(*args, "--json").stdout)


def fingerprint(db: Path) -> dict[str, list]:
    """Every row of every graph table, sorted: equal fingerprints mean an identical graph."""
    if not db.exists():
        return {}
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
    finally:
        con.close()


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def model_cache() -> Path:
    """The converted selector model, shared by every test (content-verified, so sharing is safe)."""
    import os

    from selector import ensure_default_model

    cache = Path(os.environ.get("OVERLAY_MODEL_CACHE") or REPO / ".overlay" / "models")
    os.environ["OVERLAY_MODEL_CACHE"] = str(cache)
    ensure_default_model(progress=False)
    return cache


@pytest.fixture(scope="session")
def backend(model_cache: Path):
    from selector import load_backend

    return load_backend()


@pytest.fixture(scope="session")
def small_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A published workspace built from the small test corpora."""
    from graph_store import ingest_paths, publish

    home = tmp_path_factory.mktemp("small_ws")
    ingest_paths(home / "graph.duckdb", [DATA / "sample.txt", DATA / "docs.jsonl"], progress=False)
    publish(home / "graph.duckdb", home / "snapshots", progress=False)
    return home


@pytest.fixture(scope="session")
def runtime(backend, small_home: Path):
    from graph_store import Snapshot
    from overlay import Runtime

    return Runtime(Snapshot.open(small_home / "snapshots"), backend)


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
