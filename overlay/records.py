"""What an answer leaves behind: its steps, each with the candidates it weighed (the trace's records).

The runtime yields a `Step` per written word and ends with an `Answer`; the trace store writes exactly
these, and replay compares them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

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
    text: str  # the chosen word as written (a copy keeps its passage's casing; the candidate has the display form)
    delta: str  # what this step appends to the answer text (with its leading space)
    space: bool = False  # fed with a leading space
    cap: bool = False  # fed capitalised (sentence start)
    copy_source: tuple[int, int, int] | None = None  # (passage, position, match) when the winner continues a passage
    speculative: bool = False  # verified from a speculative forward pass
    rejected: list[str] = field(default_factory=list)  # words chosen first but refused by the LLM when spelled out
    trust: float | None = None  # the step's trust in the graph's evidence (None: traced before trust existed)

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
    adapter: str | None  # display label ("name", or "name (unverified, forced)")
    usage: dict[str, int]
    timings: dict[str, float]
    adapter_name: str | None = None  # registry name of the adapter that shaped the answer (None: none)
    adapter_verified: bool | None = None
    adapter_checksum: str | None = None  # of its files (the manifest's sha256s): a replaced adapter differs
    trust: float | None = None  # how far the retrieved passages were trusted as evidence (0: the LLM chose alone)
    llm_weight: float | None = None  # weight of the LLM's log-probs (below 1: a language it does not write well)
    language: str | None = None  # the question's language, told among the graph's
    asked: str | None = None  # what the prompt asked of the form: "short", "sentence", "list", "translate"
    drafted: list[str] | None = None  # content words of the LLM's draft for a translation (activated, allowed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
