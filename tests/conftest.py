"""Shared fixtures: a fresh workspace per test, the CLI runner, the model and a small published graph.

Helpers that are not fixtures (test data, `cli_json`, `fingerprint`, `save_tiny_llama`) live in helpers.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.helpers import DATA


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
