"""Traces replay exactly: what was written (a copy keeps its passage's casing), every choice, the adapter;
a tampered trace names its step; traces from before migration 2 still load and replay."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from common import BadInput, migrate
from graph_store import END_ID, Snapshot, ingest_paths, publish
from overlay import Runtime, RuntimeConfig, TraceStore, replay
from overlay.replay import check_adapter, first_difference, trace_adapter
from overlay.traces import MIGRATIONS
from selector import AdapterRef

CFG = RuntimeConfig(max_words=12)
# "system" is written lower case inside sentences more often than "System": its display form is "system",
# while the passage that answers the question writes "Solar System"
SOLAR = (
    "The Sun is the star at the centre of the Solar System. The Solar System has eight planets that orbit the Sun.\n"
    "A system is a group of parts that work together. The nervous system controls the body. "
    "A river system drains a basin. Every system has a boundary.\n"
)


@pytest.fixture(scope="module")
def solar_runtime(backend, tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    home = tmp_path_factory.mktemp("solar_ws")
    (home / "solar.txt").write_text(SOLAR, encoding="utf-8")
    ingest_paths(home / "graph.duckdb", [home / "solar.txt"], progress=False)
    publish(home / "graph.duckdb", home / "snapshots", progress=False)
    return Runtime(Snapshot.open(home / "snapshots"), backend)


@pytest.fixture(scope="module")
def volcano(runtime: Runtime):
    """One answer on the small test graph, made once for the tests that only read or tamper with its trace."""
    return runtime.answer("What is a volcano?", CFG)


def saved(answer, path: Path) -> tuple[TraceStore, dict]:
    store = TraceStore(path)
    store.save(answer)
    return store, store.get(answer.id)


def test_a_saved_answer_replays_identically(runtime: Runtime, volcano, tmp_path: Path) -> None:
    store, trace = saved(volcano, tmp_path / "traces.duckdb")
    assert trace["adapter"] is None and trace["adapter_name"] is None and trace["adapter_checksum"] is None
    for step, traced in zip(volcano.steps, trace["steps"], strict=True):
        assert traced["text"] == step.text and traced["space"] == step.space and traced["cap"] == step.cap
        assert traced["rejected"] == step.rejected
        assert traced["copy_source"] == (None if step.copy_source is None else list(step.copy_source))
    json.dumps(trace)
    result = replay(runtime, trace)
    assert result.identical and result.first_difference is None and result.text == volcano.text
    store.close()


def test_a_copied_word_keeps_its_passage_casing_through_trace_and_replay(
    solar_runtime: Runtime, tmp_path: Path
) -> None:
    answer = solar_runtime.answer("What is the Solar System?", RuntimeConfig(max_words=8))
    shown, written = solar_runtime.lexicon.surfaces, solar_runtime.lexicon.written
    cased = [s for s in answer.steps if s.copy_source is not None and s.text != written(s.winner.node, s.cap)]
    assert cased, answer.text  # "System" copied from the passage, though the node's display form is "system"
    assert (cased[0].text, shown[cased[0].winner.node]) == ("System", "system") and "Solar System" in answer.text
    assert cased[0].winner.text == "System"  # the candidate too is shown as it is written (and was scored)
    store, trace = saved(answer, tmp_path / "traces.duckdb")
    traced = trace["steps"][cased[0].index]
    assert traced["text"] == "System" and traced["candidates"][traced["chosen"]]["text"] == "System"
    assert traced["copy_source"] == list(cased[0].copy_source)
    assert replay(solar_runtime, trace).identical
    store.close()


def test_a_tampered_trace_names_its_first_differing_step(runtime: Runtime, volcano, tmp_path: Path) -> None:
    store, _ = saved(volcano, tmp_path / "traces.duckdb")
    words = [s.index for s in volcano.steps if s.winner.node != END_ID]
    at = words[len(words) // 2]
    store.con.execute("UPDATE steps SET text = 'Tampered' WHERE answer_id = ? AND step = ?", [volcano.id, at])
    result = replay(runtime, store.get(volcano.id))
    assert not result.identical
    assert result.first_difference | {"context": None} == {
        "step": at,
        "field": "text",
        "original": "Tampered",
        "replayed": volcano.steps[at].text,
        "context": None,
    }
    # the spacing of an earlier step, then only the answer's text (compared without answering again)
    trace = store.get(volcano.id)
    trace["steps"][0]["space"] = not trace["steps"][0]["space"]
    assert first_difference(trace, volcano.steps, volcano.text, volcano.finish_reason)["step"] == 0
    trace = store.get(volcano.id)
    trace["steps"][at]["text"] = volcano.steps[at].text
    trace["text"] += " extra"
    diff = first_difference(trace, volcano.steps, volcano.text, volcano.finish_reason)
    assert diff["field"] == "answer text" and diff["replayed"] == volcano.text
    store.close()


def test_an_old_schema_trace_loads_migrates_and_replays(runtime: Runtime, volcano, tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    assert migrate(con, MIGRATIONS[:1]) == [1]
    a = volcano
    con.execute(
        "INSERT INTO answers (id, prompt, text, finish_reason, config, model_id, model_checksum, adapter, "
        "snapshot_version, passages, usage, timings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [a.id, json.dumps(a.prompt), a.text, a.finish_reason, json.dumps(a.config), a.model_id, a.model_checksum]
        + [None, a.snapshot_version, json.dumps(a.passages), json.dumps(a.usage), json.dumps(a.timings)],
    )
    for s in a.steps:
        candidates = json.dumps([c.__dict__ for c in s.candidates])
        con.execute(
            "INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [a.id, s.index, s.context_tail, s.chosen, s.n_candidates, s.text, s.delta, s.speculative, candidates],
        )
    con.close()
    store = TraceStore(path)
    versions = store.con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
    assert versions == [(v,) for v in range(1, len(MIGRATIONS) + 1)]
    trace = store.get(a.id)
    assert trace["text"] == a.text and trace["adapter_name"] is None and trace["adapter_verified"] is None
    assert all(s[k] is None for s in trace["steps"] for k in ("space", "cap", "copy_source", "rejected"))
    assert replay(runtime, trace).identical  # compares what an old trace has: written words, choices, text
    trace["steps"][1]["text"] += "x"
    assert first_difference(trace, a.steps, a.text, a.finish_reason)["step"] == 1
    store.save(replace(a, id="new"))  # new rows next to old ones
    assert len(store.list()) == 2 and store.get("new")["steps"][0]["space"] is not None
    store.close()


def _with_adapter(ref: AdapterRef | None) -> SimpleNamespace:
    label = None if ref is None else ref.label
    return SimpleNamespace(backend=SimpleNamespace(adapter=ref, adapter_label=label))


def test_replay_resolves_the_adapter_by_name_and_refuses_a_replaced_one(tmp_path: Path) -> None:
    ref = AdapterRef("tiny", tmp_path, verified=False, checksum="a" * 64)
    trace = {"id": "t1", "adapter": ref.label, "adapter_name": "tiny", "adapter_checksum": "a" * 64}
    assert trace_adapter(trace) == "tiny"
    assert trace_adapter({"adapter": "tiny (unverified, forced)"}) == "tiny"  # an old trace: its label only
    assert trace_adapter({"adapter": None, "adapter_name": None}) == "none"
    check_adapter(_with_adapter(ref), trace)
    with pytest.raises(BadInput, match=r"adapter 'tiny' has changed since trace t1"):
        check_adapter(_with_adapter(AdapterRef("tiny", tmp_path, checksum="b" * 64)), trace)
    with pytest.raises(BadInput, match=r"adapter 'tiny'; the loaded one is 'none'"):
        check_adapter(_with_adapter(None), trace)
    check_adapter(_with_adapter(None), {"id": "t2", "adapter": None})


def test_cli_replay_names_the_differing_step(cli, home: Path, small_home: Path, model_cache: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "snapshots").symlink_to(small_home / "snapshots")
    answer = json.loads(cli("ask", "What is the sea?", "--max-words", "6", "--json").stdout)
    con = duckdb.connect(str(home / "traces.duckdb"))
    con.execute("UPDATE steps SET text = 'Tampered' WHERE answer_id = ? AND step = 1", [answer["id"]])
    con.close()
    out = cli("replay", answer["id"], expect=1).stdout
    assert out.startswith("differs at step 1 (text): traced 'Tampered', replayed"), out
