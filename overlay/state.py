"""The loop's working state for one answer: what has been written, what is blocked, what was fed ahead.

Internal to the runtime (never traced as such): `AnswerState` lives for one answer, `Scored` for one
step, `Committed` and `Ahead` carry what the LLM has been fed between steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .accumulator import Accumulator, Proposal
from .instructions import Limits
from .lexicon import Lexicon
from .records import Step
from .trust import Evidence


@dataclass
class AnswerState:
    lex: Lexicon  # the snapshot's words + this prompt's session words
    acc: Accumulator
    allowed: np.ndarray
    words: list[int] = field(default_factory=list)
    surfaces: list[str] = field(default_factory=list)
    prev_surface: str | None = None  # the word before the answer: plain mode's last prompt token, or a primer's
    seen: dict[tuple[int, ...], set[int]] = field(default_factory=dict)
    copied: set[tuple[int, int]] = field(default_factory=set)  # (passage, position) already copied
    evidence: Evidence = field(default_factory=lambda: Evidence(1.0, [], []))
    limits: Limits = field(default_factory=Limits)
    drafted: list[str] | None = None  # the LLM's draft words added as session words (a translation)


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
    trust: float = 1.0  # this step's trust in the graph's evidence (`trust.step_trust`)


@dataclass
class Ahead:
    """A passage word fed speculatively after a copy, not yet accepted by the runtime's own choice."""

    node: int
    text: str
    logprobs: np.ndarray  # next-token distribution after the word
    length: int  # session length up to and including the word


@dataclass
class Committed:
    """A step whose word has been fed to the LLM, and what follows it speculatively."""

    step: Step
    logprobs: np.ndarray  # next-token distribution after the word
    verified: int  # session length up to and including the word
    ahead: list[Ahead]  # fed, unverified passage words
    forwards: int
