"""The runtime: the graph proposes, the LLM selects, every step is recorded.

`Generation` runs one answer in numbered phases, top to bottom:
  1. prepare  — retrieve passages, weigh them as evidence (`trust.py`), seed the accumulator, build the LLM
                prompt, prefill (`prompting.py`)
  2. propose  — graph parts over every node (`Accumulator.propose`)
  3. score    — first-subword log-prob of every candidate + β·g, with the step's blocks (`scoring.py`)
  4. choose   — greedy, or seeded sampling; the top candidates with their edges (`provenance.py`)
  5. feed     — the winner goes to the LLM, spelling (and a number's first digit) checked; after a copy, the
                next passage words are fed in the same forward (`spelling.py`); a word fed ahead that the
                runtime picks anyway is free
  6. record   — the step is yielded (and kept for the trace)
  7. observe  — the written word updates blocks and activation
The text is exactly that of word-by-word decoding; speculative feeding only saves forwards.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from graph_store import END_ID, SENTENCE_END, Snapshot, join
from selector import AdapterRef, Backend, SelectorConfig, Session, load_backend

from . import provenance, scoring, spelling, trust
from .config import RuntimeConfig
from .lexicon import Lexicon
from .prompting import prepare
from .records import Answer, Candidate, Prompt, Step
from .state import Ahead, AnswerState, Committed, Scored
from .workspace import Workspace

__all__ = ["Answer", "Candidate", "Generation", "Prompt", "Runtime", "Step", "open_runtime"]


class Runtime:
    """One snapshot + one selector; `answer` and `stream` are safe to call one at a time."""

    def __init__(
        self, snapshot: Snapshot, backend: Backend, config: RuntimeConfig | None = None, base: Lexicon | None = None
    ) -> None:
        """`base`: the lexicon of the same published version, reused when only a delta changed."""
        self.snap, self.backend, self.config = snapshot, backend, config or RuntimeConfig()
        self.lexicon = Lexicon.of(snapshot, backend.tokenizer, base)
        self.eos = np.array(sorted(backend.eos_ids))

    def answer(self, prompt: Prompt, config: RuntimeConfig | None = None) -> Answer:
        gen = self.stream(prompt, config)
        for _ in gen:
            pass
        return gen.answer

    def stream(self, prompt: Prompt, config: RuntimeConfig | None = None) -> Generation:
        return Generation(self, prompt, config or self.config)

    # -- the phases, each one call (evals and tests drive them one by one too) ----------------------
    def prepare(self, prompt: Prompt, cfg: RuntimeConfig) -> tuple[AnswerState, list[int], list]:
        return prepare(self.snap, self.lexicon, self.backend, prompt, cfg)

    def score(
        self,
        state: AnswerState,
        logprobs: np.ndarray,
        cfg: RuntimeConfig,
        excluded: Sequence[str] = (),
        safe_only: bool = False,
        only: np.ndarray | None = None,
    ) -> Scored:
        return scoring.score(state, logprobs, cfg, self.eos, excluded, safe_only, only)

    def choose(
        self,
        state: AnswerState,
        logprobs: np.ndarray,
        cfg: RuntimeConfig,
        index: int,
        excluded: Sequence[str] = (),
        safe_only: bool = False,
        only: np.ndarray | None = None,
    ) -> Step:
        """Score every candidate from one next-token distribution and pick one (not an `excluded` word;
        among `only`, when given)."""
        sc = self.score(state, logprobs, cfg, excluded, safe_only, only)
        chosen = scoring.pick(sc.score, cfg, index)
        top = scoring.top_k(sc.score, cfg.trace_k)
        if chosen not in top:
            top = np.append(top[: cfg.trace_k - 1], chosen)
        cands = [provenance.candidate(self.snap, int(c), state, sc) for c in top]
        copy_source = sc.prop.source(chosen)
        text = scoring.written_text(state, chosen, sc)
        return Step(
            index=index,
            context_tail=join(state.surfaces[-8:]),
            chosen=int(np.flatnonzero(top == chosen)[0]),
            n_candidates=int(sc.mask.sum()),
            candidates=cands,
            text=text,
            # a primed chat answer's first word is fed after the primer's space but starts the answer text
            delta=(" " if sc.space[chosen] and text and (state.words or not cfg.chat) else "") + text,
            space=bool(sc.space[chosen]),
            cap=sc.cap,
            copy_source=copy_source,
            trust=sc.trust,
        )

    def commit(
        self, state: AnswerState, session: Session, step: Step, logprobs: np.ndarray, cfg: RuntimeConfig
    ) -> Committed:
        """Feed a step's winner to the LLM (and, after a copy, the passage words that may follow it, in the
        same forward pass). A multi-subword winner that the LLM refuses once spelled out is replaced by the
        next choice, with the KV cache cropped back."""
        backend, base = self.backend, len(session.ids)
        rejected: list[str] = []  # every refused word, for the trace
        refused: list[str] = []  # refused spellings: their unproposed first-subword mates go too
        cut: list[int] = []  # words refused as the start of a longer word (their mates stay)
        others: np.ndarray | None = None  # every word but those cut
        forwards = 0
        while step.winner.node != END_ID:
            fed = spelling.word_ids(state, step.winner.node, step.text, step.space)
            spec = spelling.speculate(state, step, cfg) if cfg.speculative and cfg.temperature <= 0 else []
            ends = np.cumsum([len(fed)] + [len(word_ids) for *_, word_ids in spec])
            keep = sorted({*range(len(fed)), *(ends - 1).tolist()})  # inside the word, and word ends
            got = backend.feed(session, fed + [i for *_, word_ids in spec for i in word_ids], keep)
            rows = dict(zip(keep, got, strict=True))
            forwards += 1
            prefix = spelling.preferred_number(state, step, fed, rows) if len(rejected) < 3 else None
            if prefix is not None:  # a number the LLM would not write: re-chosen among those it would
                numbers = spelling.numbers_starting(state, prefix, [*rejected, step.text])
                if (numbers & state.allowed).any():
                    backend.crop(session, base, logprobs)
                    rejected.append(step.text)
                    step = self.choose(state, logprobs, cfg, step.index, refused, only=numbers)
                    continue
            if len(rejected) < 3 and (fragments := spelling.cut_short(state, step, fed, rows, cfg)):
                backend.crop(session, base, logprobs)  # the start of a longer word: re-chosen without it
                rejected.append(step.text)
                cut.extend(fragments)
                others = np.ones(len(state.lex), bool)
                others[cut] = False
                step = self.choose(state, logprobs, cfg, step.index, refused, len(rejected) >= 3, others)
                continue
            if spelling.rejects(step, fed, rows, cfg):
                backend.crop(session, base, logprobs)
                rejected.append(step.text)
                refused.append(step.text)
                # after a few refusals, only words that need no spelling check: one subword, or copied
                step = self.choose(state, logprobs, cfg, step.index, refused, len(rejected) >= 3, others)
                continue
            step.rejected = rejected
            ahead = [
                Ahead(word, text, rows[int(end) - 1], base + int(end))
                for (word, text, _), end in zip(spec, ends[1:], strict=True)
            ]
            return Committed(step, rows[len(fed) - 1], base + len(fed), ahead, forwards)
        step.rejected = rejected
        return Committed(step, logprobs, base, [], forwards)

    def observe(
        self, state: AnswerState, node: int, text: str, cfg: RuntimeConfig, copy_source: tuple | None = None
    ) -> None:
        if copy_source is not None:
            state.copied.add(tuple(copy_source[:2]))
        key = scoring.ngram_key(state, cfg)
        if key is not None and state.lex.kinds[node] != "punct":
            state.seen.setdefault(key, set()).add(node)
        state.words.append(node)
        state.surfaces.append(text)
        state.acc.observe(node, copy_source, text)


class Generation:
    """One answer in progress: iterate for its steps; `answer` is set when the iteration ends."""

    def __init__(self, runtime: Runtime, prompt: Prompt, config: RuntimeConfig) -> None:
        self.rt, self.prompt, self.cfg = runtime, prompt, config
        self.id = uuid.uuid4().hex  # the trace id, known before the first step (streaming responses carry it)
        self.answer: Answer | None = None
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Stop before the next word (any thread): a streaming client went away. The answer so far is
        committed as usual, with finish_reason "cancelled", so its trace is kept and the model is free."""
        self._cancelled.set()

    def __iter__(self) -> Iterator[Step]:
        rt, cfg, backend = self.rt, self.cfg, self.rt.backend
        t0 = time.perf_counter()
        # 1. prepare: retrieval, accumulator, LLM prompt, prefill
        state, ids, hits = rt.prepare(self.prompt, cfg)
        session = backend.start(ids)
        t_prefill = time.perf_counter() - t0
        steps: list[Step] = []
        text, finish, forwards = "", "length", 1
        lp = session.logprobs
        ahead: list[Ahead] = []  # fed after a copy, not yet accepted
        verified = len(session.ids)  # tokens of the prompt and of accepted words; beyond it: unverified
        while len(steps) < cfg.max_words:
            if self._cancelled.is_set():
                finish = "cancelled"
                break
            before = verified
            # 2-4. propose, score, choose
            step = rt.choose(state, lp, cfg, len(steps))
            node = step.winner.node
            # 5. feed: a word fed ahead that the runtime picks anyway is already in the cache
            if ahead and (ahead[0].node, ahead[0].text) == (node, step.text):
                step.speculative = True
                word = ahead.pop(0)
                lp_next, verified = word.logprobs, word.length
            else:
                if ahead:  # the runtime disagrees with the passage: drop the unverified tail
                    backend.crop(session, verified, lp)
                done = rt.commit(state, session, step, lp, cfg)
                step, lp_next, verified, ahead = done.step, done.logprobs, done.verified, done.ahead
                forwards += done.forwards
                node = step.winner.node
            if cfg.max_tokens is not None and verified - len(ids) > cfg.max_tokens:  # the word would not fit
                verified = before
                backend.crop(session, verified, lp)
                ahead = []
                break
            # 6. record
            steps.append(step)
            yield step
            if node == END_ID:
                finish = "stop"
                break
            text += step.delta
            if (hit := next((s for s in cfg.stop if s in text), None)) is not None:
                text, finish = text[: text.index(hit)], "stop"
                lp = lp_next  # the log-probs at `verified`, where a tail fed ahead is cropped back to
                break
            # 7. observe
            rt.observe(state, node, step.text, cfg, step.copy_source)
            lp = lp_next
            if instructed_end(state):  # as long as the prompt asked for, and not longer
                finish = "stop"
                break
        if ahead:
            backend.crop(session, verified, lp)
        usage = {"prompt_tokens": len(ids), "completion_tokens": len(session.ids) - len(ids)}
        elapsed = time.perf_counter() - t0
        ref = getattr(backend, "adapter", None) if backend.adapter_label is not None else None  # None: off
        self.answer = Answer(
            id=self.id,
            prompt=self.prompt,
            text=text,
            finish_reason=finish,
            steps=steps,
            passages=[
                {
                    "id": h.id,
                    "title": h.title,
                    "score": h.score,
                    "dense": h.dense,
                    "lexical": h.lexical,
                    "coverage": h.coverage,
                    "names": h.names,
                    "dense_searched": h.dense_searched,
                    "used": any(u.id == h.id for u in state.evidence.hits),
                    "fact": trust.is_fact(h),
                    "stated": h.stated,  # a fact on the question: it outranked older evidence
                    "subject": h.subject,  # its document's title is all the question asks
                    "text": h.text,
                }
                for h in hits
            ],
            config=cfg.model_dump(),
            snapshot_version=rt.snap.version,
            model_id=backend.model_id,
            model_checksum=backend.checksum,
            adapter=backend.adapter_label,
            usage=usage,
            timings={
                "seconds": elapsed,
                "prefill_seconds": t_prefill,
                "forwards": forwards,
                "words_per_s": len(steps) / elapsed if elapsed else 0.0,
            },
            adapter_name=ref.name if ref else None,
            adapter_verified=ref.verified if ref else None,
            adapter_checksum=ref.checksum if ref else None,
            trust=state.evidence.trust,
            llm_weight=state.evidence.llm_weight,
            language=state.evidence.language,
            asked=state.limits.kind,
            drafted=state.drafted,
        )


def instructed_end(state: AnswerState) -> bool:
    """The answer has as many words, or sentences, as its prompt asked for (`instructions.limits`)."""
    lim, kinds = state.limits, state.lex.kinds
    if lim.words is not None and sum(1 for w in state.words if kinds[w] != "punct") >= lim.words:
        return True
    ends = sum(1 for s in state.surfaces if s in SENTENCE_END)
    return lim.sentences is not None and ends >= lim.sentences


def open_runtime(
    ws: Workspace,
    model: str | Path | None = None,
    version: int | None = None,
    config: RuntimeConfig | None = None,
    adapter: AdapterRef | None = None,
    selector: SelectorConfig | None = None,
) -> Runtime:
    """The current (or a given) snapshot of a workspace with a selector model on the engine `selector`
    names (and the adapter the caller resolved from the registry, if any): ready to answer."""
    ws.recover()
    snap = Snapshot.open(ws.snapshots, version=version)
    return Runtime(snap, load_backend(model, adapter, selector), config)
