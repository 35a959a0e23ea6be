"""Small edits go live in seconds as a delta over the current snapshot, and fold into the next publish."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from graph_store import Snapshot, connect, publish, publish_delta, quick_ingest, search
from graph_store.db import is_stale
from overlay import Runtime, RuntimeConfig
from tests.helpers import cli_json

FACT = "Zorblax is a red volcano on Mars. Zorblax erupted in the year of the comet."


@pytest.fixture
def ws(small_home: Path, tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    shutil.copytree(small_home, home, symlinks=True)
    return home


def test_delta_layers_words_and_passages_then_folds_into_publish(ws: Path, tmp_path: Path) -> None:
    fact = tmp_path / "fact.txt"
    fact.write_text(FACT + "\n")
    base = Snapshot.open(ws / "snapshots")
    quick_ingest(ws / "graph.duckdb", [fact])
    con = connect(ws / "graph.duckdb")
    assert is_stale(con)  # edges wait for the next full publish
    con.close()
    info = publish_delta(ws / "graph.duckdb", ws / "snapshots")
    assert info.base_version == base.version and info.passages == 1 and info.words >= 2
    snap = Snapshot.open(ws / "snapshots")
    assert snap.version == base.version and snap.word_id("Zorblax") is not None and base.word_id("Zorblax") is None
    hit = search(snap, "Which volcano is on Mars?", k=2)[0]
    assert "Zorblax" in hit.text and snap.passage(hit.id).text == hit.text
    assert Snapshot.open(ws / "snapshots", with_delta=False).word_id("Zorblax") is None

    publish(ws / "graph.duckdb", ws / "snapshots", progress=False)
    full = Snapshot.open(ws / "snapshots")
    assert full.version == base.version + 1 and full.delta_passages == 0 and not (ws / "snapshots" / "delta").exists()
    assert [n.surface for n in full.next("Zorblax")][:1] == ["is"]  # recounted at the full publish
    con = connect(ws / "graph.duckdb")
    assert not is_stale(con)
    con.close()


def test_runtime_over_a_delta_reuses_the_published_lexicon(ws: Path, backend, tmp_path: Path) -> None:
    rt = Runtime(Snapshot.open(ws / "snapshots"), backend)
    fact = tmp_path / "fact.txt"
    fact.write_text(FACT + "\n")
    quick_ingest(ws / "graph.duckdb", [fact])
    publish_delta(ws / "graph.duckdb", ws / "snapshots")
    snap = Snapshot.open(ws / "snapshots")
    fast = Runtime(snap, backend, base=rt.lexicon.published())
    slow = Runtime(snap, backend)
    for key in fast.lexicon.first:
        assert np.array_equal(fast.lexicon.first[key], slow.lexicon.first[key])
    assert fast.lexicon.surfaces == slow.lexicon.surfaces
    answer = fast.answer("What is Zorblax?", RuntimeConfig(max_words=12))
    assert "Mars" in answer.text and answer.text == slow.answer("What is Zorblax?", RuntimeConfig(max_words=12)).text


def test_cli_live_ingest_and_eval_edits(cli, home: Path, small_home: Path, tmp_path: Path, model_cache) -> None:
    shutil.copytree(small_home, home, symlinks=True)
    fact = tmp_path / "fact.txt"
    fact.write_text(FACT + "\n")
    live = cli_json(cli, "graph", "ingest", fact, "--live")
    assert live["delta"]["passages"] == 1
    assert "Mars" in cli_json(cli, "ask", "What is Zorblax?", "--max-words", "12")["text"]
    cli("graph", "ingest", "--wiki", "--live", expect=2)
    rows = [
        {
            "fact": "Quentil Varradosh is a Danish glassblower from Oskarvik.",
            "question": "Who is Quentil Varradosh?",
            "paraphrase": "What is Quentil Varradosh's job?",
            "answers": ["glassblower", "Danish"],
            "controls": [{"question": "What is a volcano?", "answers": ["rupture"]}],
        }
    ]
    file = tmp_path / "edits.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = cli_json(cli, "eval", "edits", file)
    assert result["n"] == 1 and set(result["overlay"]) == {"efficacy", "paraphrase", "specificity"}
    assert result["overlay"]["efficacy"] == 1.0 and result["edit_seconds"]["p50"] > 0
    assert set(result["rag"]) == {"efficacy", "paraphrase"} and "efficacy" in result["llm_only"]
    assert Snapshot.open(home / "snapshots").word_id("Varradosh") is None  # the eval used a scratch copy
