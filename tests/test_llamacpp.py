"""The selector on llama.cpp (the bundled GGUF, in-process): the same interface and invariants as on torch,
its tokenizer from the GGUF itself, exact replay, and a clear refusal of what needs torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graph_store import Snapshot
from overlay import Runtime, RuntimeConfig, TraceStore, replay
from selector import AdapterRef, LlamaCppBackend, ModelLoadError, SelectorConfig, SelectorError, load_backend
from tests.test_runtime import assert_only_proposed

WORDS = ["river", " river", " Paris", " Élysée", " naïve", " 1789", " Jane Austen", "H2O", " 東京", " don't"]


@pytest.fixture(scope="module")
def cpp() -> LlamaCppBackend:
    return load_backend(config=SelectorConfig(backend="llamacpp", threads=2))


@pytest.fixture(scope="module")
def cpp_runtime(cpp, small_home: Path) -> Runtime:
    return Runtime(Snapshot.open(small_home / "snapshots"), cpp)


def test_gguf_tokenizer_matches_the_hf_tokenizer(cpp, backend) -> None:
    """Graph words map to the same subwords on both engines, and the chat template renders alike."""
    for text in WORDS:
        assert cpp.tokenizer.encode(text, add_special_tokens=False) == backend.tokenizer.encode(
            text, add_special_tokens=False
        ), text
    assert cpp.tokenizer(WORDS[:3])["input_ids"] == [cpp.tokenizer.encode(w, False) for w in WORDS[:3]]
    messages = [{"role": "user", "content": "Who wrote Pride and Prejudice?"}]
    assert cpp.prompt_ids(messages, chat=True) == backend.prompt_ids(messages, chat=True)
    assert cpp.tokenizer.decode(cpp.tokenizer.encode(" Élysée", False)) == " Élysée"
    assert cpp.eos_ids == backend.eos_ids


def test_amx_weight_buffers_are_skipped_where_they_crash(cpp) -> None:
    """On CPUs with AMX, llama.cpp's AMX weight buffers segfault the first multi-token decode (every prompt);
    there the loaded models keep plain buffers, and the checksum tells replays so."""
    import llama_cpp.llama_cpp as lib

    from selector.llamacpp import amx_guarded

    assert lib.llama_model_default_params().use_extra_bufts is not amx_guarded()
    assert len(cpp.start(cpp.prompt_ids("Name a river.", chat=True)).ids) > 1  # decoded, not crashed


def test_next_token_log_probs_agree_with_torch(cpp, backend) -> None:
    """The same weights (Q4_1, de-quantized for torch) on two engines: llama.cpp also quantizes the
    activations, so near-ties may swap ("The" -1.88 / "L" -1.96 in torch, -2.29 / -1.94 here), but the
    top tokens and their log-probs agree closely."""
    for prompt in ("Who wrote Pride and Prejudice?", "What is the capital of France?", "Name a river."):
        ids = backend.prompt_ids(prompt, chat=True)
        a, b = cpp.start(ids).logprobs, backend.start(ids).logprobs
        assert a.shape == b.shape and np.isclose(np.exp(a).sum(), 1.0, atol=1e-3)
        top_a, top_b = np.argsort(-a)[:10], np.argsort(-b)[:10]
        assert top_a[0] in top_b[:3] and top_b[0] in top_a[:3]
        assert len(set(top_a) & set(top_b)) >= 8
        assert np.abs(a[top_b] - b[top_b]).max() < 0.6


def test_feed_keep_and_crop_are_consistent(cpp) -> None:
    ids = cpp.prompt_ids("Name a river.", chat=True)
    more = cpp.tokenizer.encode(" The Nile is a long river in Africa", False)
    session = cpp.start(ids)
    full = cpp.feed(session, more)
    assert full.shape == (len(more), cpp.vocab) and session.ids == ids + more
    cpp.crop(session, len(ids) + 2, full[1])
    assert session.ids == ids + more[:2]
    again = cpp.feed(session, more[2:], keep=[1, len(more) - 3])  # rows re-fed after the crop
    np.testing.assert_allclose(again[0], full[3], atol=1e-4)
    np.testing.assert_allclose(again[-1], full[-1], atol=1e-4)
    # another session in between: the context is re-decoded for the one fed next
    other = cpp.start(cpp.prompt_ids("Hello!", chat=True))
    cpp.feed(other, more[:3])
    cpp.crop(session, len(ids) + 2, full[1])
    back = cpp.feed(session, more[2:4])
    np.testing.assert_allclose(back[-1], full[3], atol=1e-3)
    with pytest.raises(SelectorError, match="vocabulary"):
        cpp.feed(session, [cpp.vocab + 5])


def test_generate_is_greedy(cpp) -> None:
    ids = cpp.prompt_ids("What is the capital of France?", chat=True)
    out = cpp.generate(ids, 12)
    session, expected = cpp.start(ids), []
    for _ in range(len(out)):
        tok = int(np.argmax(session.logprobs))
        expected.append(tok)
        cpp.feed(session, [tok])
    assert out == expected and cpp.tokenizer.decode(out).strip()


def test_answers_keep_the_invariants_and_replay_exactly(cpp_runtime: Runtime, tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "traces.duckdb")
    for prompt in ("What is a volcano?", "Where does the river flow?"):
        answer = cpp_runtime.answer(prompt, RuntimeConfig(max_words=24))
        assert_only_proposed(cpp_runtime, answer)
        assert answer.text.strip()
        store.save(answer)
        trace = store.get(answer.id)
        assert trace["model_id"] == "SmolLM2-135M-Instruct.Q4_1@llama.cpp:2t"
        assert trace["model_checksum"] == cpp_runtime.backend.checksum
        assert replay(cpp_runtime, trace).identical
    fast = cpp_runtime.answer("What is a volcano?", RuntimeConfig(max_words=30))
    slow = cpp_runtime.answer("What is a volcano?", RuntimeConfig(max_words=30, speculative=0))
    assert any(s.speculative for s in fast.steps) and fast.timings["forwards"] < slow.timings["forwards"]
    assert fast.text == slow.text


def test_what_needs_torch_is_refused_by_name(tmp_path: Path) -> None:
    ref = AdapterRef("facts", tmp_path, True)
    with pytest.raises(SelectorError, match="hf backend"):
        load_backend(adapter=ref, config=SelectorConfig(backend="llamacpp"))
    folder = tmp_path / "hf_model"
    folder.mkdir()
    with pytest.raises(ModelLoadError, match=r"\.gguf file"):
        load_backend(folder, config=SelectorConfig(backend="llamacpp"))


def test_backend_from_the_environment_and_the_cli(monkeypatch: pytest.MonkeyPatch, cli) -> None:
    monkeypatch.setenv("OVERLAY_BACKEND", "llamacpp")
    assert SelectorConfig().backend == "llamacpp"
    assert SelectorConfig(backend="hf").backend == "hf"  # an option given outranks the environment
    monkeypatch.setenv("OVERLAY_BACKEND", "nope")
    result = cli("ask", "hi", expect=2)
    assert "backend" in result.output


def test_a_gguf_file_on_the_torch_backend_says_where_it_runs() -> None:
    from selector import find_gguf

    with pytest.raises(ModelLoadError, match="backend llamacpp"):
        load_backend(find_gguf())


def test_bench_speed_reports_every_engine_side_by_side(runtime: Runtime, cpp) -> None:
    from overlay.speed import TimedBackend, speed

    cfg = RuntimeConfig(max_words=8)
    overlays = {
        name: Runtime(runtime.snap, TimedBackend(b), cfg) for name, b in (("hf", runtime.backend), ("llamacpp", cpp))
    }
    result = speed(runtime, cpp, overlays, ["What is a volcano?"], cfg)
    for key in ("plain_generate", "prompt_lookup", "llamacpp_generate", "llamacpp_rag_generate"):
        assert result[key]["words_per_s"] > 0 and result[key]["tokens_per_s"] > 0
    for name in ("hf", "llamacpp"):
        run = result["overlay"][name]
        assert run["steps"] >= 1 and 0 < run["ms_per_step_llm"] < run["ms_per_step"]
        assert run["ms_per_step_graph"] > 0 and 0 < run["prepare_ms_per_answer"] < run["prefill_ms_per_answer"]
        once = run["prefill_ms_per_answer"] / run["steps"]  # one prompt: the answer's prefill, per step
        assert run["ms_per_step_llm"] + run["ms_per_step_graph"] + once == pytest.approx(run["ms_per_step"])
    for key in ("ratio_words", "ratio_vs_prompt_lookup", "ratio_vs_llamacpp"):
        assert result[key] > 0
    assert result["remote_vs_llamacpp_seconds"] is None and "llama.cpp" in result["engines"]["llamacpp"]
