"""The runtime on a real model and a real (small) snapshot: invariants, determinism, traces, replay, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_store import END_ID, Snapshot, apply_edit, connect, ingest_paths, publish
from overlay import Runtime, RuntimeConfig, RuntimeInputError, TraceStore, replay, scoring, spelling
from tests.helpers import DATA, save_tiny_llama

WORDS = [
    "river",
    "sea",
    "volcano",
    "glacier",
    "ship",
    "lava",
    "ice",
    "boat",
    "is",
    "the",
    "a",
]


def assert_only_proposed(runtime: Runtime, answer) -> None:
    """Every written word is one of its step's proposed (allowed, finite-score) graph candidates."""
    assert answer.text == "".join(s.delta for s in answer.steps if s.winner.node != END_ID)
    for step in answer.steps:
        winner = step.winner
        assert winner in step.candidates and winner.score > float("-inf")
        if winner.node < runtime.lexicon.size:  # a graph node (else a word of the prompt itself)
            assert runtime.lexicon.valid[winner.node] and runtime.lexicon.kinds[winner.node] != "concept"
        if winner.node != END_ID:
            assert step.text.casefold() == winner.text.casefold()
        assert step.n_candidates >= len(step.candidates)


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=5),
    temperature=st.sampled_from([0.0, 0.8]),
    seed=st.integers(0, 3),
)
def test_output_is_always_a_proposed_candidate(runtime: Runtime, words, temperature, seed) -> None:
    cfg = RuntimeConfig(max_words=12, temperature=temperature, seed=seed)
    assert_only_proposed(runtime, runtime.answer(" ".join(words) + "?", cfg))


def test_plain_continuation_mode(runtime: Runtime) -> None:
    answer = runtime.answer("The river flows to the", RuntimeConfig(chat=False, max_words=6))
    assert_only_proposed(runtime, answer)
    assert answer.steps[0].text == "sea"  # the passage says so, and the LLM agrees
    assert answer.text.startswith(" sea")


def test_deterministic_given_seed(runtime: Runtime) -> None:
    for cfg in (RuntimeConfig(max_words=15), RuntimeConfig(max_words=15, temperature=1.0, seed=7)):
        a, b = runtime.answer("What is a glacier?", cfg), runtime.answer("What is a glacier?", cfg)
        assert a.text == b.text
        assert [[c.node for c in s.candidates] for s in a.steps] == [[c.node for c in s.candidates] for s in b.steps]


def test_speculative_copy_is_exact_and_saves_forwards(runtime: Runtime) -> None:
    fast = runtime.answer("What is a volcano?", RuntimeConfig(max_words=30))
    slow = runtime.answer("What is a volcano?", RuntimeConfig(max_words=30, speculative=0))
    assert fast.text == slow.text
    assert [s.chosen for s in fast.steps] == [s.chosen for s in slow.steps]
    assert any(s.speculative for s in fast.steps)
    assert fast.timings["forwards"] < slow.timings["forwards"]


def test_stop_strings_and_length(runtime: Runtime) -> None:
    answer = runtime.answer("What is a volcano?", RuntimeConfig(max_words=40, stop=["crust"]))
    assert answer.finish_reason == "stop" and "crust" not in answer.text and answer.text
    answer = runtime.answer("What is a volcano?", RuntimeConfig(max_words=3))
    assert answer.finish_reason == "length" and len(answer.steps) == 3


def test_no_loops(runtime: Runtime) -> None:
    from overlay.evaluate import loops

    for q in ("What is a volcano?", "Where do ships sail?", "What is the sea?"):
        assert not loops(runtime.answer(q, RuntimeConfig(max_words=48)).text)


def test_trace_round_trip_and_replay(runtime: Runtime, tmp_path: Path) -> None:
    answer = runtime.answer("What is a volcano?", RuntimeConfig(max_words=20))
    store = TraceStore(tmp_path / "traces.duckdb")
    store.save(answer)
    trace = store.get(answer.id)
    assert trace["text"] == answer.text and len(trace["steps"]) == len(answer.steps)
    step = trace["steps"][1]
    winner = step["candidates"][step["chosen"]]
    assert set(winner["parts"]) == {"activation", "copy", "next2", "next", "verdict", "draft"} and "llm" in winner
    assert trace["model_checksum"] == runtime.backend.checksum and trace["snapshot_version"] == runtime.snap.version
    json.dumps(trace)  # the JSON schema of `overlay traces show --json`
    assert replay(runtime, trace).identical
    trace["config"]["beta"] = 0.0  # another config gives another answer: replay must notice and say where
    trace["steps"][0]["candidates"][trace["steps"][0]["chosen"]]["text"] = "Tampered"
    result = replay(runtime, trace)
    assert not result.identical and result.first_difference["step"] == 0
    assert [t["id"] for t in store.list()] == [answer.id]


def test_bad_prompts(runtime: Runtime) -> None:
    with pytest.raises(RuntimeInputError, match="empty prompt"):
        runtime.answer("   ")
    with pytest.raises(RuntimeInputError, match="never seen"):
        runtime.answer("ეს რა არის?")  # Georgian: no word of it is in the graph


def test_graph_without_edges_still_answers(backend, tmp_path: Path) -> None:
    db = tmp_path / "graph.duckdb"
    ingest_paths(db, [DATA / "sample.txt"], progress=False)
    con = connect(db)
    apply_edit(con, "prune", {"min_count": 10**6})
    con.close()
    publish(db, tmp_path / "snapshots", progress=False)
    runtime = Runtime(Snapshot.open(tmp_path / "snapshots"), backend)
    assert runtime.snap.manifest.counts["edges"]["next"] == 0
    answer = runtime.answer("What is the river?", RuntimeConfig(max_words=8))
    assert answer.steps and answer.text
    assert_only_proposed(runtime, answer)


def test_any_model_folder_by_path(small_home: Path, model_cache: Path, tmp_path: Path) -> None:
    """A tiny randomly initialised Llama (saved with the SmolLM2 tokenizer) drives the runtime too."""
    from selector import load_backend

    save_tiny_llama(model_cache / "smollm2-135m-instruct", tmp_path / "tiny")
    runtime = Runtime(Snapshot.open(small_home / "snapshots"), load_backend(tmp_path / "tiny"))
    answer = runtime.answer("What is a volcano?", RuntimeConfig(max_words=10))
    assert answer.model_id == "tiny" and len(answer.steps) >= 1
    assert_only_proposed(runtime, answer)


def test_prompt_words_the_graph_lacks_are_candidates(runtime: Runtime) -> None:
    """A name only the prompt knows can still be written, proposed by the prompt (not by the graph)."""
    cfg = RuntimeConfig(chat=False, max_words=1)
    state, _, _ = runtime.prepare("Zorblax the glacier moves. The glacier called", cfg)
    node = state.lex.word_id("Zorblax")
    assert node is not None and node >= runtime.lexicon.size and runtime.snap.word_id("Zorblax") is None
    assert state.allowed[node] and state.acc.activation[node] > 0
    answer = runtime.answer("Zorblax the glacier moves. The glacier called", cfg)
    assert "Zorblax" in [c.text for c in answer.steps[0].candidates]


def test_refused_spelling_falls_back_to_safe_words(runtime: Runtime) -> None:
    """After refusals, only words that need no spelling check remain: the loop always ends."""
    cfg = RuntimeConfig(chat=False, max_words=1, verify_below=0.0001)
    state, ids, _ = runtime.prepare("The river flows to the", cfg)
    session = runtime.backend.start(ids)
    lp = session.logprobs
    step = runtime.choose(state, lp, cfg, 0, excluded=["sea", "river"], safe_only=True)
    winner = step.winner
    assert winner.text not in ("sea", "river")
    fed = spelling.word_ids(state, winner.node, step.text, step.space)
    assert len(fed) == 1 or step.copy_source is not None


def test_a_series_never_repeats_an_item(runtime: Runtime) -> None:
    """ "Sports: football, basketball, baseball, basketball, … rugby, rugby, rugby" was a list answer: a word
    that completes an item the series already listed is blocked ("…, black olives, …, black olives"), and
    so, after a separator, is the word just before it; prose keeps its repeats (a longer item's first word,
    a function word, the next sentence or quote)."""
    cfg = RuntimeConfig(chat=False, retrieval_k=0)
    words = ("river", "sea", "volcano", "glacier", "lava", "the")

    def blocked(*written: str) -> set[str]:
        state, _, _ = runtime.prepare('Rivers and seas: "lava".', cfg)  # its ':' and '"' are session words
        for w in written:
            runtime.observe(state, state.lex.word_id(w), w, cfg)
        allowed = scoring.mask(state, cfg, state.acc.propose())
        return {w for w in words if not allowed[state.lex.word_id(w)]}

    assert blocked("river", ",", "sea", ",") == {"river", "sea"}
    assert blocked("river", ",", "sea", ",", "and") == {"river", "sea"}
    assert blocked("lava", ",", "the", "river", "glacier", ",") == {"lava", "glacier"}  # not "the", "river"
    assert blocked("river", ".", "sea", ",") == {"sea"}  # a new sentence, a new series
    assert blocked("river", ":") == set()  # "Whales: whales are…": a heading is no item
    assert blocked("lava", "river", ",", '"', "sea", '"', "lava") == {"lava"}  # a quote ends the series
    assert blocked("river", "sea", "volcano") == {"volcano"}  # no separator: only the previous word
    assert blocked("lava", "river", ",", "sea", ",", "lava") == {"lava", "river"}  # "lava river" again
    assert blocked("lava", "river", ",", "sea", ",", "the", "lava") == {"lava"}  # "the lava river" is new


def test_ngrams_never_repeat_but_a_passage_may_repeat_its_own(runtime: Runtime) -> None:
    cfg = RuntimeConfig(chat=False, block_ngram=3, retrieval_k=0)
    state, _, _ = runtime.prepare("The river is long.", cfg)
    for w in ["The", "sea", "is", "deep", ".", "The", "sea"]:
        runtime.observe(state, runtime.snap.word_id(w), w, cfg)
    assert not scoring.mask(state, cfg, state.acc.propose())[runtime.snap.word_id("is")]  # "The sea is" again
    cfg = RuntimeConfig(chat=False, block_ngram=3)  # with passages: "the sea is" continues one at a fresh place
    state, _, _ = runtime.prepare("The river is long and the sea is deep. Ships sail on", cfg)
    for w in ["the", "sea", "is", "deep", ".", "the", "sea"]:
        runtime.observe(state, runtime.snap.word_id(w), w, cfg)
    prop = state.acc.propose()
    is_id = runtime.snap.word_id("is")
    assert prop.parts["copy"][is_id] > 0 and scoring.mask(state, cfg, prop)[is_id]
