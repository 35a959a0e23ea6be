"""Loop invariants of the runtime, for every backend in BACKEND_CASES (a new backend: one more line).

What holds whatever the model knows: each written word is its step's chosen candidate, the same inputs
give the same answer, n-grams are not repeated (except by a passage's own repeat), copying passage words
speculatively gives exactly the word-by-word answer, and stop strings, max_tokens and max_words hold. The
toy case runs in milliseconds (selector/toy.py, a bag-of-words stand-in for the sentence model); the hf
case is the real SmolLM2 of conftest's session `backend`.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from graph_store import END_ID, Snapshot
from overlay import Answer, Runtime, RuntimeConfig, Step
from selector import BACKENDS, Backend, SelectorConfig, SelectorError, ToyBackend, load_backend
from tests.helpers import build_graph, use_hashed_embeddings


@dataclass(frozen=True)
class Case:
    make: Callable[[pytest.FixtureRequest], Backend]
    hashed_retrieval: bool  # its own graph, embedded by the stand-in (no sentence model); else conftest's
    atol: float  # log-probs from one batched forward vs token by token (0: bit-identical; llama.cpp
    # picks its kernels by batch size and differs by up to ~0.1: 0.15)
    same_trace: bool = True  # speculative and word-by-word traces alike to atol (llama.cpp: choices only,
    # as the order of near-tied candidates below the winner may swap)


BACKEND_CASES = [
    pytest.param(Case(lambda request: ToyBackend(), hashed_retrieval=True, atol=0.0), id="toy"),
    pytest.param(
        Case(lambda request: request.getfixturevalue("backend"), hashed_retrieval=False, atol=1e-3),
        id="hf",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        Case(
            lambda request: load_backend(config=SelectorConfig(backend="llamacpp")),
            hashed_retrieval=False,
            atol=0.15,
            same_trace=False,
        ),
        id="llamacpp",
    ),
]

# (prompt, config): questions that copy passages, a plain continuation, sampling, a prompt-only name, and a
# graph-driven run without passages that would loop if n-grams were not blocked
RUNS = [
    ("What is a volcano?", {}),
    ("Where do ships sail?", {"temperature": 0.8, "seed": 3}),
    ("The river is long and the sea is deep. Ships sail on", {"chat": False}),
    ("Who is Zorblax of the glacier?", {}),
    # graph-driven: no passages, transitions weigh, and the prompt's words are trusted in full (trust_high 0)
    ("What is the sea?", {"retrieval_k": 0, "w_next": 2.0, "trust_high": 0.0, "trust_low": 0.0}),
]
WORDS = 24  # max_words of every run unless a test says otherwise


@pytest.fixture(scope="module", params=BACKEND_CASES)
def case(request: pytest.FixtureRequest) -> Case:
    return request.param


@pytest.fixture(scope="module")
def loop_backend(case: Case, request: pytest.FixtureRequest) -> Backend:
    return case.make(request)


@pytest.fixture(scope="module")
def rt(case: Case, loop_backend: Backend, request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Runtime]:
    if not case.hashed_retrieval:
        yield Runtime(Snapshot.open(request.getfixturevalue("small_home") / "snapshots"), loop_backend)
        return
    with pytest.MonkeyPatch.context() as mp:
        use_hashed_embeddings(mp)
        snapshots = build_graph(tmp_path_factory.mktemp("loop_ws"))
        yield Runtime(Snapshot.open(snapshots), loop_backend)


@pytest.fixture(scope="module")
def run(rt: Runtime) -> Callable[..., Answer]:
    """rt.answer(prompt, RuntimeConfig(max_words=WORDS, **config)), computed once per backend and config."""
    memo: dict[tuple[str, str], Answer] = {}

    def get(prompt: str, **config: Any) -> Answer:
        cfg = RuntimeConfig(**{"max_words": WORDS, **config})
        key = (prompt, json.dumps(cfg.model_dump(), sort_keys=True))
        if key not in memo:
            memo[key] = rt.answer(prompt, cfg)
        return memo[key]

    return get


def fed(rt: Runtime, step: Step) -> int:
    """LLM tokens a step's word was fed as: its delta, spelled by the tokenizer (END feeds nothing)."""
    return 0 if step.winner.node == END_ID else len(rt.backend.tokenizer.encode(step.delta, add_special_tokens=False))


def records(answer: Answer, drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [{k: v for k, v in asdict(s).items() if k not in drop} for s in answer.steps]


def assert_close(a: Any, b: Any, atol: float, where: str = "") -> None:
    """Equal structures; floats within atol (0: exactly equal)."""
    if isinstance(a, float) and isinstance(b, float):
        assert a == b or (math.isfinite(a) and abs(a - b) <= atol), f"{where}: {a} != {b}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_close(a[k], b[k], atol, f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), f"{where}: {len(a)} != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, atol, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_prefix(short: Answer, full: Answer) -> None:
    """`short` is `full` stopped early: the same steps, as far as it goes."""
    assert records(short) == records(full)[: len(short.steps)]


# -- every written word is its step's chosen candidate ------------------------------------------------
@pytest.mark.parametrize(("prompt", "config"), RUNS, ids=[f"run{i}" for i in range(len(RUNS))])
def test_every_word_is_its_steps_chosen_candidate(rt: Runtime, run, prompt: str, config: dict) -> None:
    answer = run(prompt, **config)
    assert answer.steps and answer.finish_reason in ("length", "stop")
    assert answer.text == "".join(s.delta for s in answer.steps if s.winner.node != END_ID)
    assert answer.usage["completion_tokens"] == sum(fed(rt, s) for s in answer.steps)
    for i, step in enumerate(answer.steps):
        winner = step.winner
        assert step.index == i and 0 <= step.chosen < len(step.candidates) <= step.n_candidates
        assert math.isfinite(winner.score)
        if not config.get("temperature"):  # greedy: the best score of the step wins
            assert winner.score == max(c.score for c in step.candidates)
        if winner.node == END_ID:
            assert i == len(answer.steps) - 1 and answer.finish_reason == "stop" and step.delta == ""
            continue
        assert step.text.casefold() == winner.text.casefold() and step.delta.strip() == step.text
        if winner.node < rt.lexicon.size:  # a graph node (else a word of the prompt itself)
            assert rt.lexicon.valid[winner.node] and rt.lexicon.kinds[winner.node] != "concept"
        assert winner.text not in step.rejected


# -- the same inputs give the same answer ------------------------------------------------------------
@pytest.mark.parametrize(("prompt", "config"), RUNS[:2], ids=["greedy", "sampled"])
def test_same_inputs_same_answer(rt: Runtime, run, prompt: str, config: dict) -> None:
    first = run(prompt, **config)
    again = Runtime(rt.snap, rt.backend, rt.config).answer(prompt, RuntimeConfig(max_words=WORDS, **config))
    assert (again.text, again.finish_reason, again.usage) == (first.text, first.finish_reason, first.usage)
    assert records(again) == records(first)


def test_another_seed_is_another_sample(run) -> None:
    prompt, config = RUNS[1]
    samples = {run(prompt, **config | {"seed": seed}).text for seed in range(4)}
    assert len(samples) > 1


# -- no repeated n-gram, except a passage's own repeat -----------------------------------------------
def blocked_repeats(rt: Runtime, answer: Answer, n: int) -> list[int]:
    """Steps that repeat an n-gram of words (punctuation skipped, as `block_ngram` reads them) other than
    by copying a passage position not copied before; also steps that repeat the previous word."""
    kinds = rt.lexicon.kinds

    def punct(node: int) -> bool:
        return node < len(kinds) and kinds[node] == "punct"  # a prompt's own words are never punctuation

    words: list[int] = []
    seen: dict[tuple[int, ...], set[int]] = {}
    copied: set[tuple[int, int]] = set()
    bad = []
    for step in answer.steps:
        node = step.winner.node
        if node == END_ID:
            break
        context = [w for w in words[-4 * n :] if not punct(w)][-(n - 1) :]
        key = tuple(context) if len(context) == n - 1 else None
        fresh_copy = step.copy_source is not None and tuple(step.copy_source[:2]) not in copied
        if (words and node == words[-1]) or (key is not None and node in seen.get(key, ()) and not fresh_copy):
            bad.append(step.index)
        if step.copy_source is not None:
            copied.add(tuple(step.copy_source[:2]))
        if key is not None and not punct(node):
            seen.setdefault(key, set()).add(node)
        words.append(node)
    return bad


def test_ngrams_are_not_repeated_unless_a_passage_repeats_itself(rt: Runtime, run) -> None:
    for prompt, config in RUNS:
        for n in (2, 3):  # 3: the default
            answer = run(prompt, **config | {"block_ngram": n})
            assert blocked_repeats(rt, answer, n) == [], (n, answer.text)
    # the check has teeth: without the block, the graph-driven run repeats itself
    prompt, config = RUNS[-1]
    assert blocked_repeats(rt, run(prompt, **config | {"block_ngram": 0}), 3)


# -- speculative copying is exactly word-by-word decoding --------------------------------------------
def near_tie_swapped(a: Answer, b: Answer, atol: float) -> bool:
    """Whether two answers first part at a step where each one's winner is within `atol` of the other's
    (an engine whose log-probs differ by that much between a batched forward and token by token may take
    either); False where they never part."""
    if atol < 0.1:
        return False  # bit-identical engines (toy, torch) never part
    for x, y in zip(a.steps, b.steps, strict=False):
        if x.winner.node != y.winner.node:
            score_x, score_y = ({c.node: c.score for c in s.candidates} for s in (x, y))
            return (
                score_x.get(y.winner.node, -math.inf) >= x.winner.score - atol
                and score_y.get(x.winner.node, -math.inf) >= y.winner.score - atol
            )
        assert (x.chosen, x.text) == (y.chosen, y.text)  # the same word up to the parting
    return False


def test_speculative_copy_gives_exactly_the_word_by_word_answer(case: Case, run) -> None:
    speculated = 0
    for prompt, config in RUNS:
        if config.get("temperature"):
            continue  # sampling never speculates
        fast, slow = run(prompt, **config), run(prompt, **config | {"speculative": 0})
        if not near_tie_swapped(fast, slow, case.atol):  # llama.cpp: a near tie may go either way
            assert (fast.text, fast.finish_reason, fast.usage) == (slow.text, slow.finish_reason, slow.usage)
            assert [(s.chosen, s.winner.node, s.text) for s in fast.steps] == [
                (s.chosen, s.winner.node, s.text) for s in slow.steps
            ]
        if case.same_trace:
            assert_close(records(fast, drop=("speculative",)), records(slow, drop=("speculative",)), case.atol)
        assert not any(s.speculative for s in slow.steps)
        if any(s.speculative for s in fast.steps):
            speculated += 1
            assert fast.timings["forwards"] < slow.timings["forwards"]
    assert speculated >= 2


# -- stop strings, max_tokens, max_words -------------------------------------------------------------
def test_stop_strings_cut_the_text_before_them(rt: Runtime, run) -> None:
    prompt, config = RUNS[0]
    full = run(prompt, **config)
    words = [s for s in full.steps if s.winner.node != END_ID]
    middle = words[len(words) // 2]
    at = full.text.index(middle.delta) + len(middle.delta)
    for stop in (middle.text, full.text[at - 2 : at + 2], words[-1].delta):  # a word, across two, the last
        answer = run(prompt, **config | {"stop": [stop]})
        cut = full.text.index(stop)
        assert answer.finish_reason == "stop" and answer.text == full.text[:cut] and stop not in answer.text
        assert_prefix(answer, full)
        written = "".join(s.delta for s in answer.steps)
        assert stop in written and stop not in written[: -len(answer.steps[-1].delta)]  # the last step made it
    unmet = run(prompt, **config | {"stop": ["\u2603"]})
    assert (unmet.text, unmet.finish_reason) == (full.text, full.finish_reason)


def test_toy_sees_a_stop_string_leave_a_consistent_session(tmp_path: Path) -> None:
    """The session after an answer holds the log-probs of its own length (the strict toy checks each crop)."""
    with pytest.MonkeyPatch.context() as mp:
        use_hashed_embeddings(mp)
        runtime = Runtime(Snapshot.open(build_graph(tmp_path)), ToyBackend())
        full = runtime.answer(RUNS[0][0], RuntimeConfig(max_words=WORDS))
        copied = next(s for s in full.steps if s.copy_source is not None and s.speculative)  # fed ahead
        runtime.answer(RUNS[0][0], RuntimeConfig(max_words=WORDS, stop=[copied.text]))


def test_max_tokens_is_never_exceeded(rt: Runtime, run) -> None:
    for prompt, config in (RUNS[0], RUNS[3]):
        full = run(prompt, **config)
        for limit in (1, 2, 5, 13):
            answer = run(prompt, **config | {"max_tokens": limit})
            tokens = answer.usage["completion_tokens"]
            assert tokens <= limit and tokens == sum(fed(rt, s) for s in answer.steps)
            assert_prefix(answer, full)
            assert full.text.startswith(answer.text)
            if len(answer.steps) < len(full.steps):  # stopped because the next word would not fit
                assert answer.finish_reason == "length"
                assert tokens + fed(rt, full.steps[len(answer.steps)]) > limit


def test_max_words_is_never_exceeded(run) -> None:
    for prompt, config in (RUNS[0], RUNS[2]):
        full = run(prompt, **config)
        for limit in (1, 5, 11):
            answer = run(prompt, **config | {"max_words": limit})
            assert len(answer.steps) <= limit
            assert_prefix(answer, full)
            if len(answer.steps) == limit and answer.steps[-1].winner.node != END_ID:
                assert answer.finish_reason == "length"


# -- the backend contract the loop relies on ---------------------------------------------------------
def test_feed_keep_and_crop_agree_with_a_fresh_start(case: Case, loop_backend: Backend) -> None:
    be = loop_backend
    ids = be.prompt_ids("What is a volcano?", chat=True)
    more = be.tokenizer.encode(" Lava and volcanic ash escape", add_special_tokens=False)
    session = be.start(ids)
    rows = be.feed(session, more)
    assert rows.shape == (len(more), len(session.logprobs)) and session.ids == ids + more
    assert np.allclose(np.exp(rows).sum(axis=1), 1.0, atol=1e-3)
    assert np.allclose(be.start(ids + more).logprobs, rows[-1], atol=case.atol, rtol=0)
    kept = be.start(ids)
    some = be.feed(kept, more, keep=[0, len(more) - 1])
    assert np.allclose(some, rows[[0, -1]], atol=case.atol, rtol=0)
    be.crop(kept, len(ids) + 1, some[0])  # drop a rejected tail, then go on from there
    assert kept.ids == ids + more[:1] and np.array_equal(kept.logprobs, some[0])
    assert np.allclose(be.feed(kept, more[1:]), rows[1:], atol=case.atol, rtol=0)


def test_generate_is_greedy_decoding(loop_backend: Backend) -> None:
    be = loop_backend
    ids = be.prompt_ids("Where do ships sail?", chat=True)
    out = be.generate(ids, 6)
    session, greedy = be.start(ids), []
    for _ in range(6):
        greedy.append(int(np.argmax(session.logprobs)))
        if greedy[-1] in be.eos_ids:
            break
        be.feed(session, greedy[-1:])
    assert out == greedy


def test_no_deprecation_warning_reaches_a_user(rt: Runtime, capfd: pytest.CaptureFixture[str]) -> None:
    """transformers 5 renamed the model's `past_key_values` argument to `cache`; the old name warns."""
    be = rt.backend
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids = be.prompt_ids("What is a glacier?", chat=True)
        session = be.start(ids)
        rows = be.feed(session, [int(np.argmax(session.logprobs)), *ids[-2:]], keep=[0, 2])
        be.crop(session, len(ids) + 1, rows[0])
        be.feed(session, ids[-1:])
        be.generate(ids, 4)
        rt.answer("What is a glacier?", RuntimeConfig(max_words=8))
    deprecated = [w for w in caught if issubclass(w.category, FutureWarning | DeprecationWarning)]
    assert not deprecated, [f"{w.filename}:{w.lineno}: {w.message}" for w in deprecated]
    assert "deprecat" not in capfd.readouterr().err.lower()


# -- the toy backend itself --------------------------------------------------------------------------
def test_toy_backend_is_registered_and_needs_no_files() -> None:
    assert BACKENDS["toy"] is ToyBackend
    toy = load_backend(config=SelectorConfig(backend="toy"))
    assert isinstance(toy, ToyBackend) and toy.checksum == ToyBackend().checksum
    with pytest.raises(SelectorError, match="no model folder"):
        load_backend("some/folder", config=SelectorConfig(backend="toy"))
    with pytest.raises(ValidationError, match="hf.*llamacpp.*remote.*toy"):
        SelectorConfig(backend="nope")


def test_toy_tokenizer_round_trips_and_shares_first_subwords() -> None:
    tok = ToyBackend().tokenizer
    for text in ("The river flows to the sea.", " rivers", "Zorblax ეს რა არის? 火山", "<|im_start|>user\nhi"):
        assert tok.decode(tok.encode(text)) == text
    assert len(tok.encode(" river")) == 1 and tok.encode(" rivers")[0] == tok.encode(" river")[0]
    assert tok([" sea", "volcano"], add_special_tokens=False)["input_ids"] == [
        tok.encode(" sea"),
        tok.encode("volcano"),
    ]
    assert tok.decode(tok.encode("<|im_end|>hi"), skip_special_tokens=True) == "hi"
    assert tok.convert_tokens_to_ids("<|im_end|>") in ToyBackend().eos_ids


def test_toy_model_is_a_fixed_function_of_the_context() -> None:
    a, b, other = ToyBackend(), ToyBackend(), ToyBackend(seed=1)
    ids = a.prompt_ids("What is a volcano?", chat=True)
    assert np.array_equal(a.start(ids).logprobs, b.start(ids).logprobs)
    assert not np.array_equal(a.start(ids).logprobs, a.start(ids[:-1] + ids[-1:] * 2).logprobs)
    assert not np.array_equal(a.start(ids).logprobs, other.start(ids).logprobs) and a.checksum != other.checksum
    session = a.start(ids)
    rows = a.feed(session, ids[-3:])
    with pytest.raises(SelectorError, match="another position"):  # strict: the loop must hand the right row
        a.crop(session, len(ids) + 1, rows[-1])
    with pytest.raises(SelectorError, match="must ascend"):
        a.feed(a.start(ids), ids[-3:], keep=[0, 1])


def test_toy_cases_need_no_model(tmp_path: Path) -> None:
    """The toy loop runs without the selector model or the sentence model being loaded."""
    import sys

    if "torch" in sys.modules:
        pytest.skip("another test of this session already imported torch")
    with pytest.MonkeyPatch.context() as mp:
        use_hashed_embeddings(mp)
        runtime = Runtime(Snapshot.open(build_graph(tmp_path)), ToyBackend())
        assert runtime.answer("What is a volcano?", RuntimeConfig(max_words=6)).text
    assert "sentence_transformers" not in sys.modules and "torch" not in sys.modules
