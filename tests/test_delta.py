"""Small edits go live in seconds as a delta over the current snapshot, and fold into the next publish."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from graph_store import (
    IngestError,
    Snapshot,
    add_text_live,
    connect,
    ingest_live,
    ingest_paths,
    publish,
    publish_delta,
    quick_ingest,
    search,
)
from graph_store.db import is_stale
from overlay import Runtime, RuntimeConfig
from overlay.lexicon import Lexicon
from tests.helpers import DATA, cli_json

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


def test_a_live_edit_cut_off_after_its_transaction_is_finished_at_the_next_open(ws: Path, tmp_path: Path) -> None:
    """kill -9 between the graph's commit and the delta's swap: the intent left behind makes the next open
    rebuild the delta, so the fact is live (never half there); a running edit's intent is left alone."""
    import os
    import subprocess

    from graph_store.delta import PENDING
    from overlay import Workspace

    fact = tmp_path / "fact.txt"
    fact.write_text(FACT + "\n")
    workspace = Workspace(home=ws)
    gone = subprocess.Popen(["true"])
    gone.wait()
    (ws / "snapshots" / PENDING).write_text(str(gone.pid))  # the intent of a process that died
    quick_ingest(ws / "graph.duckdb", [fact])  # its transaction committed, its delta never swapped
    assert Snapshot.open(ws / "snapshots").word_id("Zorblax") is None
    (ws / "snapshots" / PENDING).write_text(str(os.getppid()))  # still running: not ours to finish
    assert not workspace.recover() and Snapshot.open(ws / "snapshots").word_id("Zorblax") is None
    (ws / "snapshots" / PENDING).write_text(str(gone.pid))
    assert workspace.recover() and not (ws / "snapshots" / PENDING).exists()
    assert Snapshot.open(ws / "snapshots").word_id("Zorblax") is not None
    assert not workspace.recover()  # nothing left to finish
    with pytest.raises(IngestError):
        ingest_live(ws / "graph.duckdb", ws / "snapshots", [tmp_path / "missing.txt"])
    assert not (ws / "snapshots" / PENDING).exists()  # a refused edit changed nothing, so leaves no intent


def test_each_live_fact_embeds_only_its_own_passages(ws: Path, tmp_path: Path, monkeypatch) -> None:
    """Sequential edits: the delta keeps the vectors it already had, so edit time does not grow with it."""
    import graph_store.delta as delta

    embedded: list[str] = []
    real = delta.embed_texts
    monkeypatch.setattr(delta, "embed_texts", lambda texts, *a, **k: embedded.extend(texts) or real(texts, *a, **k))
    for i, text in enumerate((FACT, "Quibbleton is a blue lake on Venus.")):
        (tmp_path / f"f{i}.txt").write_text(text + "\n")
        quick_ingest(ws / "graph.duckdb", [tmp_path / f"f{i}.txt"])
        publish_delta(ws / "graph.duckdb", ws / "snapshots")
        if i == 0:
            first = Snapshot.open(ws / "snapshots").nearest(FACT, 1)
    assert len(embedded) == 2 and "Quibbleton" in embedded[1]  # one passage each time
    again = Snapshot.open(ws / "snapshots").nearest(FACT, 1)
    assert again[0][1] == first[0][1] and again[0][0] == pytest.approx(first[0][0], abs=1e-6)


def test_runtime_over_a_delta_reuses_the_published_lexicon(ws: Path, backend, tmp_path: Path, monkeypatch) -> None:
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
    # the next live fact: only its own new words are tokenized, the earlier delta's are kept
    second = tmp_path / "second.txt"
    second.write_text("Quillotar Vembrisk tends the lighthouse of Ostravel.\n")
    quick_ingest(ws / "graph.duckdb", [second])
    publish_delta(ws / "graph.duckdb", ws / "snapshots")
    snap2 = Snapshot.open(ws / "snapshots")
    built: list[int] = []
    build = Lexicon._build.__func__
    monkeypatch.setattr(Lexicon, "_build", classmethod(lambda cls, s, *a: built.append(len(s)) or build(cls, s, *a)))
    again = Runtime(snap2, backend, base=fast.lexicon)
    assert built and max(built) < len(snap2.vocab) - snap2.base_size  # not every delta word again
    monkeypatch.undo()
    full = Runtime(snap2, backend)
    assert again.lexicon.surfaces == full.lexicon.surfaces and list(again.lexicon.kinds) == list(full.lexicon.kinds)
    for key in full.lexicon.first:
        assert np.array_equal(again.lexicon.first[key], full.lexicon.first[key])


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
    assert "override" not in result["overlay"]  # no line names an old answer

    rows[0]["old"] = "potter"  # a fact that replaces a belief: scored for override as well
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = cli_json(cli, "eval", "edits", file)
    assert result["contradicting"] == 1 and 0.0 <= result["overlay"]["override"] <= result["overlay"]["efficacy"]
    assert {"override", "override_paraphrase"} <= set(result["rag"]) and "override" in result["llm_only"]

    seq = cli_json(cli, "eval", "edits", file, "--sequential", "--scale", "3", "--details")
    assert seq["live_facts"] == 4 and seq["overlay"]["efficacy"] == 1.0  # found among invented look-alikes
    (live,) = seq["details"]["live"]
    assert "Varradosh" in live["fact"] and live["question"] and live["paraphrase"]
    assert all({"question", "answer", "kept"} <= set(c) for c in live["controls"])  # each control's answer
    assert len(seq["details"]["after_publish"]) == 1
    assert set(seq["after_publish"]["overlay"]) == {"efficacy", "paraphrase", "specificity"}
    assert seq["after_publish"]["overlay"]["efficacy"] == 1.0 and seq["edit_seconds_end"]["p50"] > 0
    assert Snapshot.open(home / "snapshots").word_id("Varradosh") is None
    cli("eval", "edits", file, "--scale", "3", expect=2)  # padding without --sequential: bad usage


def test_overrides_and_invented_facts() -> None:
    from overlay.edits import invented_facts, overrides

    assert overrides("The capital of France is Lima. Paris was it before.", ["Lima"], "Paris")
    assert not overrides("The capital of France is Paris, not Lima.", ["Lima"], "Paris")
    assert not overrides("France is in Europe. Its capital is Lima.", ["Lima"], "Paris")  # not first
    facts = invented_facts(50, seed=1)
    assert facts == invented_facts(50, seed=1) != invented_facts(50, seed=2)
    assert len({f.split(" is a ")[0] for f in facts}) == 50


def test_forget_live_stops_the_answer_using_a_fact(cli, home: Path, small_home: Path, tmp_path: Path) -> None:
    shutil.copytree(small_home, home, symlinks=True)
    before = cli_json(cli, "graph", "stats")
    fact = tmp_path / "zorblax.txt"
    fact.write_text(FACT + "\n")
    cli_json(cli, "graph", "ingest", fact, "--live")
    assert "Zorblax" in search(Snapshot.open(home / "snapshots"), "What is Zorblax?", k=1)[0].text
    cli("graph", "forget", "no-such-document", "--live", expect=2)  # nothing removed
    assert cli_json(cli, "graph", "stats")["passages"] == before["passages"] + 1
    gone = cli_json(cli, "graph", "forget", "zorblax.txt", "--live")
    assert gone["documents"] == 1 and gone["passages"] == 1 and gone["delta"]["passages"] == 0
    snap = Snapshot.open(home / "snapshots")
    assert all("Zorblax" not in h.text for h in search(snap, "What is Zorblax?", k=3))
    answer = cli_json(cli, "ask", "What is Zorblax?", "--max-words", "12")
    assert all("Zorblax" not in p["text"] for p in answer["passages"]) and "red volcano" not in answer["text"]
    # a published document: hidden live at once, and gone from the next version
    title = snap.passage(search(snap, "volcano", k=1)[0].id).title
    hidden = cli_json(cli, "graph", "forget", title, "--live")
    assert hidden["delta"]["removed"] == hidden["passages"] >= 1
    assert all(h.title != title for h in search(Snapshot.open(home / "snapshots"), "volcano", k=5))
    cli("graph", "publish")
    assert all(h.title != title for h in search(Snapshot.open(home / "snapshots"), "volcano", k=5))
    assert cli_json(cli, "graph", "stats")["passages"] == before["passages"] - hidden["passages"]


def test_a_stated_fact_overrides_what_the_model_believes(backend, tmp_path: Path) -> None:
    """Counterfactual: "Tokyo is the capital of Japan" in the graph and in SmolLM2; the user says Havana."""
    home = tmp_path / "ws"
    ingest_paths(home / "graph.duckdb", [DATA / "mixed.txt"], progress=False)
    publish(home / "graph.duckdb", home / "snapshots", progress=False)
    before = Runtime(Snapshot.open(home / "snapshots"), backend, RuntimeConfig(max_words=12))
    assert "Tokyo" in before.answer("What is the capital of Japan?").text
    add_text_live(home / "graph.duckdb", home / "snapshots", "The capital of Japan is Havana.", tmp_path / "facts")
    live = Runtime(Snapshot.open(home / "snapshots"), backend, RuntimeConfig(max_words=12))
    answer = live.answer("What is the capital of Japan?")
    head = answer.text.split(".")[0]
    assert "Havana" in head and "Tokyo" not in head, answer.text
    assert answer.passages[0]["fact"] and answer.passages[0]["used"]  # the trace says whose word it was
    assert answer.passages[0]["stated"]  # on the question: it outranks
    step = next(s for s in answer.steps if s.text == "Havana")
    assert step.trust == 1.0 and step.copy_source is not None  # not gated by the LLM's belief
    rho = RuntimeConfig().rho[0] * RuntimeConfig().fact_copy  # the user's word copies at fact_copy × ρ
    assert step.winner.parts["copy"] == pytest.approx(rho * step.copy_source[2])
    con = connect(home / "graph.duckdb")
    assert con.execute("SELECT lang FROM passages WHERE doc_id LIKE 'fact:%'").fetchone()[0] == "en"
    con.close()


def test_a_fact_without_words_is_refused_and_nothing_goes_live(ws: Path, tmp_path: Path) -> None:
    before = Snapshot.open(ws / "snapshots")
    for text in ("", "   ", " … "):
        with pytest.raises(IngestError, match="no words"):
            add_text_live(ws / "graph.duckdb", ws / "snapshots", text, tmp_path / "facts")
    assert not (tmp_path / "facts").exists()
    after = Snapshot.open(ws / "snapshots")
    assert after.version == before.version and after.delta_passages == 0
