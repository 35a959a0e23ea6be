"""The runtime: the graph proposes, the LLM selects, every step is recorded.

The loop, top to bottom: `propose` (graph parts over every node) → score (first-subword log-prob of every
candidate from one next-token distribution + β·g) → `choose` (greedy, or seeded sampling) → record the
step → feed the chosen word to the LLM → `observe`. After a copied word, the next passage words are fed in
the same forward pass and accepted one by one while the runtime's own choice agrees with them, so the text
is exactly that of word-by-word decoding, only faster; each accepted word is still its own step.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graph_store import END_ID, SENTENCE_END, Snapshot, is_cjk, join, needs_space, search, split
from selector import AdapterRef, Backend, Session, load_backend

from .accumulator import PARTS, Accumulator, Proposal
from .config import RuntimeConfig
from .errors import RuntimeInputError
from .lexicon import Lexicon, cased
from .workspace import Workspace

Prompt = str | list[dict[str, str]]


@dataclass
class Candidate:
    node: int
    text: str
    llm: float  # log P of its first subword (tie-adjusted)
    parts: dict[str, float]  # graph parts, unweighted
    graph: float  # g(c), weighted sum of parts
    score: float  # llm + β·g
    edges: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Step:
    index: int
    context_tail: str
    chosen: int  # index into `candidates`
    n_candidates: int
    candidates: list[Candidate]
    text: str  # the chosen word as written (surface)
    delta: str  # what this step appends to the answer text (with its leading space)
    space: bool = False  # fed with a leading space
    cap: bool = False  # fed capitalised (sentence start)
    copy_source: tuple[int, int, int] | None = None  # (passage, position, match) when the winner continues a passage
    speculative: bool = False  # verified from a speculative forward pass
    rejected: list[str] = field(default_factory=list)  # words chosen first but refused by the LLM when spelled out

    @property
    def winner(self) -> Candidate:
        return self.candidates[self.chosen]


@dataclass
class Answer:
    id: str
    prompt: Prompt
    text: str
    finish_reason: str
    steps: list[Step]
    passages: list[dict[str, Any]]
    config: dict[str, Any]
    snapshot_version: int
    model_id: str
    model_checksum: str
    adapter: str | None
    usage: dict[str, int]
    timings: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Scored:
    """One step's arrays over all nodes (index = node id)."""

    prop: Proposal
    llm: np.ndarray
    g: np.ndarray
    mask: np.ndarray
    score: np.ndarray  # llm + β·g where allowed, -inf elsewhere
    space: np.ndarray
    cap: bool


@dataclass
class Committed:
    """A step whose word has been fed to the LLM, and what follows it speculatively."""

    step: Step
    logprobs: np.ndarray  # next-token distribution after the word
    verified: int  # session length up to and including the word
    queue: list[tuple[int, str, np.ndarray, int]]  # fed, unverified passage words: (node, text, logprobs, length after)
    forwards: int


@dataclass
class _State:
    lex: Lexicon  # the snapshot's words + this prompt's session words
    acc: Accumulator
    allowed: np.ndarray
    words: list[int] = field(default_factory=list)
    surfaces: list[str] = field(default_factory=list)
    prev_surface: str | None = None  # plain mode: the prompt's last token
    seen: dict[tuple[int, ...], set[int]] = field(default_factory=dict)
    copied: set[tuple[int, int]] = field(default_factory=set)  # (passage, position) already copied


def passage_context(hits: list) -> str:
    """Retrieved passages as they are put in an LLM prompt (the hybrid runtime and the RAG baseline alike)."""
    return "\n".join(f"{h.title}: {h.text}" if h.title else h.text for h in hits)


class Runtime:
    """One snapshot + one selector; `answer` and `stream` are safe to call one at a time."""

    def __init__(
        self,
        snapshot: Snapshot,
        backend: Backend,
        config: RuntimeConfig | None = None,
        adapter: str | None = None,
        base: Lexicon | None = None,
    ) -> None:
        """`base`: the lexicon of the same published version, reused when only a delta changed."""
        self.snap, self.backend, self.config, self.adapter = (
            snapshot,
            backend,
            config or RuntimeConfig(),
            adapter,
        )
        self.lexicon = Lexicon.of(snapshot, backend.tokenizer, base)
        self.eos = np.array(sorted(backend.eos_ids))

    # -- one answer ---------------------------------------------------------------------------------
    def answer(self, prompt: Prompt, config: RuntimeConfig | None = None) -> Answer:
        gen = self.stream(prompt, config)
        for _ in gen:
            pass
        return gen.answer

    def stream(self, prompt: Prompt, config: RuntimeConfig | None = None) -> Generation:
        return Generation(self, prompt, config or self.config)

    def prepare(self, prompt: Prompt, cfg: RuntimeConfig) -> tuple[_State, list[int], list]:
        """Retrieve, seed the accumulator and build the LLM prompt: everything before the first step."""
        question = (
            prompt
            if isinstance(prompt, str)
            else next((m.get("content", "") for m in reversed(prompt) if m.get("role") == "user"), "")
        )
        if not isinstance(question, str) or not question.strip():
            raise RuntimeInputError("empty prompt: give a question or text to continue")
        tokens = split(question)
        words = [t for t in tokens if t.kind == "word"]
        if words and all(self.snap.word_id(t.surface) is None for t in words):
            raise RuntimeInputError(
                "none of the prompt's words are in the graph (a language or script it has never seen?): "
                "ingest text in that language first"
            )
        unknown = {
            t.key: (t.surface, t.kind) for t in tokens if t.kind != "punct" and self.snap.word_id(t.surface) is None
        }
        lex = self.lexicon.with_words(list(unknown.values()))
        hits = search(self.snap, question, cfg.retrieval_k) if cfg.retrieval_k else []
        llm_prompt: Prompt = prompt
        if cfg.chat and cfg.passages_in_prompt and hits:
            context = passage_context(hits[: cfg.passages_in_prompt])
            messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
            messages[-1 if messages[-1]["role"] == "user" else len(messages) - 1]["content"] = (
                f"{context}\n\n{question}"
            )
            llm_prompt = messages
        ids = self.backend.prompt_ids(llm_prompt if cfg.chat else question, cfg.chat)
        acc = Accumulator(self.snap, lex, cfg)
        acc.seed(question, hits)
        state = _State(lex, acc, lex.valid & (lex.kinds != "concept"))
        if not cfg.chat:
            state.prev_surface = tokens[-1].surface if tokens else None
        return state, ids, hits

    def score(
        self,
        state: _State,
        logprobs: np.ndarray,
        cfg: RuntimeConfig,
        excluded: list[str] = (),
        safe_only: bool = False,
    ) -> Scored:
        """Every candidate's LLM part (first subword), graph part and total, with the step's mask.

        `excluded` words were chosen and then refused by the LLM when spelled out: the LLM's mass on their
        first subword meant another word, so their unproposed group-mates are out too (a refused
        " isomorphism" says nothing good of " islets").
        """
        lex = state.lex
        prop = state.acc.propose()
        g = prop.total(cfg)
        prev = state.surfaces[-1] if state.surfaces else state.prev_surface
        cap = prev is None or prev in SENTENCE_END
        space = self._space(lex, prev)
        first = np.where(space, lex.first[cap, True], lex.first[cap, False])
        tie = np.where(space, lex.tie_rank[cap, True], lex.tie_rank[cap, False])
        exact = np.where(space, lex.exact[cap, True], lex.exact[cap, False])
        # A word that shares its first subword with others borrows their probability. The graph's own
        # proposals only have to beat the word that *is* that subword; the rest queue by frequency and pay
        # for being unverified, so a blocked " is" does not turn into " islets".
        proposed = g > 0
        tie = np.where(proposed, np.minimum(tie, 1), tie)
        llm = logprobs[first] - cfg.tie_penalty * np.log1p(tie) - np.where(exact | proposed, 0.0, cfg.inexact_penalty)
        llm[END_ID] = logprobs[self.eos].max()
        mask = self._mask(state, cfg, prop)
        for word in excluded:
            node = lex.word_id(word)
            if node is not None:
                mask[node] = False
                mask[(first == first[node]) & ~exact & ~proposed] = False
        if safe_only:
            mask &= exact | (prop.parts["copy"] > 0)
            mask[END_ID] = bool(state.words)
        return Scored(prop, llm, g, mask, np.where(mask, llm + cfg.beta * g, -np.inf), space, cap)

    def choose(
        self,
        state: _State,
        logprobs: np.ndarray,
        cfg: RuntimeConfig,
        index: int,
        excluded: list[str] = (),
        safe_only: bool = False,
    ) -> Step:
        """Score every candidate from one next-token distribution and pick one (not an `excluded` word)."""
        sc = self.score(state, logprobs, cfg, excluded, safe_only)
        chosen = self._pick(sc.score, cfg, index)
        top = _top(sc.score, cfg.trace_k)
        if chosen not in top:
            top = np.append(top[: cfg.trace_k - 1], chosen)
        rows: dict[str, dict[int, Any]] = {}  # this step's next/next2 rows, read once for all candidates
        cands = [self._candidate(int(c), state, sc, rows) for c in top]
        copy_source = sc.prop.copy_from.get(chosen) if sc.prop.parts["copy"][chosen] > 0 else None
        text = self.written_form(state, chosen, sc.cap)
        if copy_source is not None:  # a copied word is written as its passage writes it
            text = cased(state.acc.copied_surface(copy_source), sc.cap)
        return Step(
            index=index,
            context_tail=join(state.surfaces[-8:]),
            chosen=int(np.flatnonzero(top == chosen)[0]),
            n_candidates=int(sc.mask.sum()),
            candidates=cands,
            text=text,
            delta=(" " if sc.space[chosen] and text else "") + text,
            space=bool(sc.space[chosen]),
            cap=sc.cap,
            copy_source=copy_source,
        )

    @staticmethod
    def written_form(state: _State, node: int, cap: bool) -> str:
        return "" if node == END_ID else state.lex.written(node, cap)

    @staticmethod
    def _space(lex: Lexicon, prev: str | None) -> np.ndarray:
        if prev is None or not needs_space(prev, "a"):
            return np.zeros(len(lex), bool)
        space = ~lex.no_space
        if is_cjk(prev[-1:]):
            space = space & ~lex.cjk
        return space

    def _mask(self, state: _State, cfg: RuntimeConfig, prop: Proposal) -> np.ndarray:
        mask = state.allowed.copy()
        if not state.words:
            mask[state.lex.kinds == "punct"] = False
            mask[END_ID] = False
        else:
            mask[state.words[-1]] = False
            key = self._ngram_key(state, cfg)
            if key is not None:
                banned = state.seen.get(key, ())
                # a passage may repeat its own phrases ("the Greek War … the Greek War of Independence"):
                # continuing it is no loop as long as each passage position is copied once
                fresh = {n for n, (pid, pos, _) in prop.copy_from.items() if (pid, pos) not in state.copied}
                mask[[n for n in banned if n not in fresh]] = False
        return mask

    @staticmethod
    def _ngram_key(state: _State, cfg: RuntimeConfig) -> tuple[int, ...] | None:
        """The last n-1 words (punctuation skipped, as a reader would: "the sea, and the sea and" repeats),
        whose earlier successors are blocked; a passage's own repeats pass as fresh copies (see `_mask`)."""
        n = cfg.block_ngram
        if not n:
            return None
        words = [w for w in state.words[-4 * n :] if state.lex.kinds[w] != "punct"][-(n - 1) :]
        return tuple(words) if len(words) == n - 1 else None

    @staticmethod
    def _pick(score: np.ndarray, cfg: RuntimeConfig, index: int) -> int:
        if cfg.temperature <= 0:
            return int(np.argmax(score))
        top = _top(score, 64)
        z = (score[top] - score[top[0]]) / cfg.temperature
        p = np.exp(z) / np.exp(z).sum()
        return int(top[np.random.default_rng([cfg.seed, index]).choice(len(top), p=p)])

    def _candidate(self, node: int, state: _State, sc: Scored, rows: dict[str, dict[int, Any]]) -> Candidate:
        parts = {name: float(sc.prop.parts[name][node]) for name in PARTS}
        return Candidate(
            node,
            self.written_form(state, node, sc.cap) or "</s>",
            float(sc.llm[node]),
            parts,
            float(sc.g[node]),
            float(sc.score[node]),
            self._edges(node, state, sc.prop, parts, rows),
        )

    def _edges(
        self, node: int, state: _State, prop: Proposal, parts: dict[str, float], rows: dict[str, dict[int, Any]]
    ) -> list[dict[str, Any]]:
        """The edges and passages behind a candidate's graph parts (for the trace and explanations)."""
        edges: list[dict[str, Any]] = []
        if parts["copy"] and node in prop.copy_from:
            pid, pos, length = prop.copy_from[node]
            edges.append({"rel": "copy", "passage": pid, "position": pos, "match": length})
        if parts["activation"]:
            edges.extend({"rel": "activation", "from": why} for why in state.acc.sources.get(node, []))
        words = state.words
        if parts["next"] and words:
            if "next" not in rows:
                rows["next"] = {n.id: n for n in self.snap.next(words[-1], 64)}
            edges.extend(self._edge("next", rows["next"].get(node), words[-1:]))
        if parts["next2"] and len(words) >= 2:
            if "next2" not in rows:
                rows["next2"] = {n.id: n for n in self.snap.next2(words[-2], words[-1], 64)}
            edges.extend(self._edge("next2", rows["next2"].get(node), words[-2:]))
        if parts["verdict"]:
            ctx = ["</s>", "</s>", *(state.lex.surfaces[w] for w in words)][-2:]
            edges.append({"rel": "verdict", "src": ctx, "dst": state.lex.surfaces[node], "weight": parts["verdict"]})
        return edges

    def _edge(self, rel: str, n: Any, src: list[int]) -> list[dict[str, Any]]:
        if n is None:
            return []
        return [
            {
                "rel": rel,
                "src": [self.lexicon.surfaces[s] for s in src],
                "dst": n.surface,
                "weight": n.weight,
                "count": n.count,
                "passages": list(n.passages),
            }
        ]

    @staticmethod
    def rejects(step: Step, fed: list[int], rows: dict[int, np.ndarray], cfg: RuntimeConfig) -> bool:
        """A multi-subword winner that the graph did not copy must be a likely spelling to the LLM too.

        Its first subword was scored for free; feeding it gives the rest of its log-prob at no extra cost.
        """
        if len(fed) < 2 or step.copy_source is not None or cfg.verify_below <= 0:
            return False
        rest = sum(float(rows[j - 1][fed[j]]) for j in range(1, len(fed)))
        return rest < -cfg.verify_below

    def speculate(self, state: _State, step: Step, cfg: RuntimeConfig) -> list[tuple[int, str, list[int]]]:
        """After a copied word: the next passage words, each with the subword ids it would be fed as."""
        if step.copy_source is None:
            return []
        out, prev, lex = [], step.text, state.lex
        for node, surface in state.acc.continuation(step.copy_source, cfg.speculative):
            if node == END_ID or not state.allowed[node]:
                break
            text = cased(surface, prev in SENTENCE_END)
            out.append((node, text, self._ids(state, node, text, bool(self._space(lex, prev)[node]))))
            prev = text
        return out

    @staticmethod
    def _ids(state: _State, node: int, text: str, space: bool) -> list[int]:
        """Subword ids of a word as written (its node's cached spelling when it is written that way)."""
        lex = state.lex
        for cap in (False, True):
            if text == lex.written(node, cap):
                return lex.ids(node, cap, space)
        return lex.spell(text, space)

    def commit(
        self, state: _State, session: Session, step: Step, logprobs: np.ndarray, cfg: RuntimeConfig
    ) -> Committed:
        """Feed a step's winner to the LLM (and, after a copy, the passage words that may follow it, in the
        same forward pass). A multi-subword winner that the LLM refuses once spelled out is replaced by the
        next choice; its first subword was scored for free, and feeding it gives the rest at no extra cost."""
        backend, base = self.backend, len(session.ids)
        rejected: list[str] = []
        forwards = 0
        while step.winner.node != END_ID:
            fed = self._ids(state, step.winner.node, step.text, step.space)
            spec = self.speculate(state, step, cfg) if cfg.speculative and cfg.temperature <= 0 else []
            ends = np.cumsum([len(fed)] + [len(word_ids) for *_, word_ids in spec])
            keep = sorted({*range(len(fed)), *(ends - 1).tolist()})  # inside the word, and word ends
            got = backend.feed(session, fed + [i for *_, word_ids in spec for i in word_ids], keep)
            rows = dict(zip(keep, got, strict=True))
            forwards += 1
            if self.rejects(step, fed, rows, cfg):
                backend.crop(session, base, logprobs)
                rejected.append(step.text)
                # after a few refusals, only words that need no spelling check: one subword, or copied
                step = self.choose(state, logprobs, cfg, step.index, rejected, safe_only=len(rejected) >= 3)
                continue
            step.rejected = rejected
            queue = [
                (word, text, rows[int(end) - 1], base + int(end))
                for (word, text, _), end in zip(spec, ends[1:], strict=True)
            ]
            return Committed(step, rows[len(fed) - 1], base + len(fed), queue, forwards)
        step.rejected = rejected
        return Committed(step, logprobs, base, [], forwards)

    def observe(
        self, state: _State, node: int, text: str, cfg: RuntimeConfig, copy_source: tuple | None = None
    ) -> None:
        if copy_source is not None:
            state.copied.add(tuple(copy_source[:2]))
        key = self._ngram_key(state, cfg)
        if key is not None and state.lex.kinds[node] != "punct":
            state.seen.setdefault(key, set()).add(node)
        state.words.append(node)
        state.surfaces.append(text)
        state.acc.observe(node)


def _top(score: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best finite scores, best first, ties by index (argpartition: no full sort)."""
    k = min(k, len(score))
    part = np.argpartition(-score, k - 1)[:k]
    part = part[np.lexsort((part, -score[part]))]
    return part[np.isfinite(score[part])]


class Generation:
    """One answer in progress: iterate for its steps; `answer` is set when the iteration ends."""

    def __init__(self, runtime: Runtime, prompt: Prompt, config: RuntimeConfig) -> None:
        self.rt, self.prompt, self.cfg = runtime, prompt, config
        self.id = uuid.uuid4().hex  # the trace id, known before the first step (streaming responses carry it)
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[Step]:
        rt, cfg, backend = self.rt, self.cfg, self.rt.backend
        t0 = time.perf_counter()
        state, ids, hits = rt.prepare(self.prompt, cfg)
        session = backend.start(ids)
        t_prefill = time.perf_counter() - t0
        steps: list[Step] = []
        text, finish, forwards = "", "length", 1
        lp = session.logprobs
        queue: list[tuple[int, str, np.ndarray, int]] = []  # fed, unverified: (node, text, logprobs, length after)
        verified = len(session.ids)  # tokens of the prompt and of accepted words; beyond it: unverified
        while len(steps) < cfg.max_words:
            before = verified
            step = rt.choose(state, lp, cfg, len(steps))
            node = step.winner.node
            if queue and queue[0][:2] == (node, step.text):  # the passage word the runtime picks anyway: fed
                step.speculative = True
                *_, lp_next, verified = queue.pop(0)
            else:
                if queue:  # the runtime disagrees with the passage: drop the unverified tail
                    backend.crop(session, verified, lp)
                done = rt.commit(state, session, step, lp, cfg)
                step, lp_next, verified, queue = done.step, done.logprobs, done.verified, done.queue
                forwards += done.forwards
                node = step.winner.node
            if cfg.max_tokens is not None and verified - len(ids) > cfg.max_tokens:  # the word would not fit
                verified = before
                backend.crop(session, verified, lp)
                queue = []
                break
            steps.append(step)
            yield step
            if node == END_ID:
                finish = "stop"
                break
            text += step.delta
            if (hit := next((s for s in cfg.stop if s in text), None)) is not None:
                text, finish = text[: text.index(hit)], "stop"
                break
            rt.observe(state, node, step.text, cfg, step.copy_source)
            lp = lp_next
        if queue:
            backend.crop(session, verified, lp)
        usage = {"prompt_tokens": len(ids), "completion_tokens": len(session.ids) - len(ids)}
        elapsed = time.perf_counter() - t0
        self.answer = Answer(
            id=self.id,
            prompt=self.prompt,
            text=text,
            finish_reason=finish,
            steps=steps,
            passages=[{"id": h.id, "title": h.title, "score": float(h.score), "text": h.text} for h in hits],
            config=cfg.model_dump(),
            snapshot_version=rt.snap.version,
            model_id=backend.model_id,
            model_checksum=backend.checksum,
            adapter=rt.adapter or backend.adapter_label,
            usage=usage,
            timings={
                "seconds": elapsed,
                "prefill_seconds": t_prefill,
                "forwards": forwards,
                "words_per_s": len(steps) / elapsed if elapsed else 0.0,
            },
        )


def open_runtime(
    ws: Workspace,
    model: str | Path | None = None,
    version: int | None = None,
    config: RuntimeConfig | None = None,
    adapter: AdapterRef | None = None,
) -> Runtime:
    """The current (or a given) snapshot of a workspace with a selector model (and the adapter the caller
    resolved from the registry, if any): ready to answer."""
    snap = Snapshot.open(ws.snapshots, version=version)
    return Runtime(snap, load_backend(model, adapter=adapter), config)
