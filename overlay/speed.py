"""`overlay bench speed`: the runtime against the engines users run, side by side, in one process.

For each prompt, in turn (so the machine's noise falls on every system alike): plain greedy `generate` in
torch (`plain_generate`), the same with prompt-lookup decoding on the RAG prompt (`prompt_lookup`: what a
RAG user turns on for speed, greedy so exact), plain greedy decoding in llama.cpp on the same GGUF and chat
prompt (`llamacpp_generate`) and on the RAG prompt (`llamacpp_rag_generate`: the prompt's passages cost a
prefill that the bare chat prompt does not), then the overlay on each backend asked for. Same prompts, same
word budget.

Each overlay backend runs behind `TimedBackend`, which times its forward passes. An answer's time splits
into what it costs once (`prefill_ms_per_answer`: retrieval, weighing and seeding, `prepare_ms_per_answer`,
plus the prompt's prefill) and what it costs per step: `ms_per_step_llm` (the loop's forward passes) and
`ms_per_step_graph` (propose, score, choose, trace records): what bounds the loop on a fast engine.
`ms_per_step` is the whole answer's time per step, prefill included.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from graph_store import END_ID, split

from .config import RuntimeConfig
from .evaluate import rag_prompt
from .runtime import Runtime
from .traces import TraceStore

Progress = Callable[[int, int], None]
SPEED_PROMPTS = Path(__file__).resolve().parent / "data" / "speed_prompts.jsonl"  # the first 20 dev questions
LOOKUP_TOKENS = 10  # prompt_lookup_num_tokens, as the issue and HF's docs use it


class TimedBackend:
    """A backend whose forward passes (start, feed, crop) are timed; everything else passes through."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seconds, self.start_seconds = inner, 0.0, 0.0  # all forwards; the prompts' prefill

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _timed(self, fn: Callable, *args: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds += time.perf_counter() - t

    def start(self, ids: list[int]) -> Any:
        before = self.seconds
        try:
            return self._timed(self.inner.start, ids)
        finally:
            self.start_seconds += self.seconds - before

    def feed(self, session: Any, ids: list[int], keep: list[int] | None = None) -> np.ndarray:
        return self._timed(self.inner.feed, session, ids, keep)

    def crop(self, session: Any, length: int, logprobs: np.ndarray) -> None:
        return self._timed(self.inner.crop, session, length, logprobs)


def _words(tokenizer: Any, out: list[int]) -> int:
    return len(split(tokenizer.decode(out, skip_special_tokens=True)))


def speed(
    hf: Runtime,
    llamacpp: Any,
    overlays: dict[str, Runtime],
    prompts: list[str],
    config: RuntimeConfig | None = None,
    progress: Progress | None = None,
    traces: TraceStore | None = None,
) -> dict[str, Any]:
    """Baselines on `hf`'s backend (torch) and on the `llamacpp` backend, then the overlay on each runtime
    of `overlays` (backend name → runtime, each over a `TimedBackend`). With a trace store, each hf answer
    is also saved, and the cost of tracing is reported against answering."""
    cfg = config or hf.config
    budget = int(cfg.max_words * 1.5)
    base = {
        k: {"seconds": 0.0, "tokens": 0, "words": 0}
        for k in ("plain_generate", "prompt_lookup", "llamacpp_generate", "llamacpp_rag_generate")
    }
    sums = ("seconds", "words", "steps", "llm_seconds", "start_seconds", "prefill", "requests")
    runs = {k: dict.fromkeys(sums, 0.0) for k in overlays}
    trace_s = 0.0
    for done, q in enumerate(prompts):
        rag = rag_prompt(hf, q, cfg)  # one retrieval, for both engines' RAG prompt
        for name, engine, messages, extra in (
            ("plain_generate", hf.backend, q, {}),
            ("prompt_lookup", hf.backend, rag, {"lookup": LOOKUP_TOKENS}),
            ("llamacpp_generate", llamacpp, q, {}),
            ("llamacpp_rag_generate", llamacpp, rag, {}),
        ):
            ids = engine.prompt_ids(messages, chat=True)
            t = time.perf_counter()
            out = engine.generate(ids, budget, **extra)
            base[name]["seconds"] += time.perf_counter() - t
            base[name]["tokens"] += len(out)
            base[name]["words"] += _words(engine.tokenizer, out)
        for name, rt in overlays.items():
            timed = rt.backend
            llm_before, start_before = timed.seconds, timed.start_seconds
            requests_before = getattr(timed, "requests", 0)
            t = time.perf_counter()
            answer = rt.answer(q, cfg)
            runs[name]["seconds"] += time.perf_counter() - t
            runs[name]["llm_seconds"] += timed.seconds - llm_before
            runs[name]["start_seconds"] += timed.start_seconds - start_before
            runs[name]["requests"] += getattr(timed, "requests", 0) - requests_before
            runs[name]["steps"] += len(answer.steps)
            runs[name]["prefill"] += answer.timings["prefill_seconds"]
            runs[name]["words"] += sum(1 for s in answer.steps if s.winner.node != END_ID)
            if traces is not None and name == "hf":
                t = time.perf_counter()
                traces.save(answer)
                trace_s += time.perf_counter() - t
        if progress:
            progress(done + 1, len(prompts))
    result: dict[str, Any] = {"prompts": len(prompts)}
    for name, b in base.items():
        result[name] = {"tokens_per_s": b["tokens"] / b["seconds"], "words_per_s": b["words"] / b["seconds"]}
    result["overlay"] = {}
    for name, r in runs.items():
        steps = max(int(r["steps"]), 1)
        loop_llm = r["llm_seconds"] - r["start_seconds"]  # forwards after the prompt's prefill
        result["overlay"][name] = {
            "words_per_s": r["words"] / r["seconds"],
            "ms_per_step": 1000 * r["seconds"] / steps,
            "ms_per_step_llm": 1000 * loop_llm / steps,
            "ms_per_step_graph": 1000 * (r["seconds"] - r["prefill"] - loop_llm) / steps,
            "prefill_ms_per_answer": 1000 * r["prefill"] / len(prompts),
            "prepare_ms_per_answer": 1000 * (r["prefill"] - r["start_seconds"]) / len(prompts),
            "steps": int(r["steps"]),
        } | ({"requests_per_step": r["requests"] / steps} if r["requests"] else {})
    over = result["overlay"]

    def ratio(system: str, baseline: str) -> float | None:
        return over[system]["words_per_s"] / result[baseline]["words_per_s"] if system in over else None

    result |= {
        "ratio_words": ratio("hf", "plain_generate"),
        "ratio_vs_prompt_lookup": ratio("hf", "prompt_lookup"),
        "ratio_vs_llamacpp": ratio("llamacpp", "llamacpp_generate"),
        "remote_vs_llamacpp_seconds": (
            runs["remote"]["seconds"] / runs["llamacpp"]["seconds"] if {"remote", "llamacpp"} <= set(runs) else None
        ),
        "trace_cost": trace_s / runs["hf"]["seconds"] if traces is not None and "hf" in runs else None,
        "engines": {name: rt.backend.model_id for name, rt in overlays.items()},
        "config": cfg.model_dump(),
    }
    return result
