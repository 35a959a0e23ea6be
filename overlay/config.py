"""Runtime configuration: one pydantic model with defaults and a one-line help per field.

The CLI options, the API schema and the trace all derive from this model. Defaults follow the recipe that
the prototypes measured (../shared/research/prototypes.md) and are re-tuned on the dev sets; see
docs/architecture.md ("Choosing") for how each value was chosen.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common import BadInput

M = TypeVar("M", bound=BaseModel)
MAX_WORDS = 2048  # the longest answer, in graph tokens (the model's context bounds it anyway)


def build_config(model: type[M], settings: dict[str, Any], base: BaseModel | None = None, prefix: str = "") -> M:
    """A validated config: `base` (or the defaults) updated with `settings`. A bad value is bad input that
    names the setting (`prefix` + its name), so every interface reports it the same way; never an
    unvalidated `model_copy(update=…)`."""
    data = (base.model_dump() if base is not None else {}) | settings
    try:
        return model(**data)  # (a settings model also reads its environment variables here)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = prefix + (".".join(str(p) for p in first.get("loc", ())) or model.__name__)
        raise BadInput(f"{name}: {first.get('msg', 'invalid value')}", param=name) from None


class RuntimeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_words: int = Field(48, ge=1, le=MAX_WORDS, description="stop after this many graph tokens")
    max_tokens: int | None = Field(
        None, ge=1, description="stop before the LLM tokens written would pass this many (OpenAI's max_tokens)"
    )
    chat: bool = Field(True, description="wrap the prompt in the model's chat template (False: plain continuation)")
    temperature: float = Field(0.0, ge=0.0, le=5.0, description="0 = greedy; >0 samples among candidates")
    seed: int = Field(0, description="sampling seed (a run is deterministic given seed and snapshot)")
    stop: list[str] = Field(default_factory=list, description="stop strings (not included in the answer)")
    trace_k: int = Field(12, ge=1, le=256, description="candidates kept per step in the trace")

    retrieval_k: int = Field(3, ge=0, le=20, description="passages retrieved for the prompt (graph prior)")
    lexical_weight: float = Field(
        1.0,
        ge=0.0,
        le=10.0,
        description="weight of the lexical (BM25) ranking fused with the dense one (0: dense only)",
    )
    trust_low: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="passage relevance (share of the question it holds) below which the graph has no say",
    )
    trust_low_foreign: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="trust_low for a question in a language the selector does not write (the LLM alone is noise there)",
    )
    trust_high: float = Field(0.8, ge=0.0, le=1.0, description="relevance at which the graph's evidence counts in full")
    evidence_dense: float = Field(
        0.3, ge=-1.0, le=1.0, description="cosine below which a passage is off topic unless it holds a name asked"
    )
    confidence_gate: float = Field(
        1.0, ge=0.0, description="per step, trust × (1 - p_top + p_graph)^this: a sure LLM overrules weak evidence"
    )
    function_match: float = Field(
        0.25, ge=0.0, le=1.0, description="copy weight of a match on a function word or a word of the question"
    )
    copy_opening: float = Field(
        1.0, ge=0.0, description="copy weight of a passage's first word at the start (only if the question names it)"
    )
    sentence_opening: float = Field(
        0.5,
        ge=0.0,
        le=1.01,
        description="share of the question a passage sentence must hold to open the answer at its start (> 1: never)",
    )
    brevity: bool = Field(
        True, description="stop where the prompt asks (one word, yes or no, in one sentence, keep it short)"
    )
    list_trust: float = Field(
        0.25, ge=0.0, le=1.0, description="trust × this when the prompt asks for a list (composed, not copied)"
    )
    draft_tokens: int = Field(
        40,
        ge=0,
        le=256,
        description="tokens the LLM drafts for a translation or a list: its words may be written (0: off)",
    )
    passages_in_prompt: int = Field(2, ge=0, le=5, description="top passages also put in the LLM prompt (hybrid)")
    beta: float = Field(2.0, ge=0.0, description="weight of the graph score g(c) against log P_llm(c | x)")
    llm_languages: list[str] = Field(
        ["en"], description="languages the selector model writes well (ISO 639-1; SmolLM2: English only)"
    )
    llm_foreign: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="weight of log P_llm in a question of another language: there the graph's copy carries it",
    )
    w_activation: float = Field(0.5, description="g part: activation of prompt/passage words")
    activation_written: float = Field(0.4, ge=0.0, le=1.0, description="activation kept by a word once written")
    spread: float = Field(0.3, ge=0.0, description="share of activation spread one hop over assoc/link edges")
    w_copy: float = Field(1.0, description="g part: continuing a retrieved passage (ρ_r × match length)")
    rho: list[float] = Field([1.0, 0.6, 0.4], description="copy weight of the 1st, 2nd, 3rd… passage")
    fact_copy: float = Field(
        2.0,
        ge=0.0,
        description="a fact a user stated on the question: its copy weight is its rank's ρ times this (the "
        "user's word outranks what the model believes: 'The capital of Japan is Havana.' against a sure 'Tokyo')",
    )
    w_next2: float = Field(0.0, description="g part: order-2 transition P(c | two previous words)")
    w_next: float = Field(0.0, description="g part: order-1 transition P(c | previous word)")
    w_draft: float = Field(
        1.0,
        ge=0.0,
        description="g part: a word of the LLM's own draft (a list's items, a translation's words) not yet written; "
        "the LLM's, so not scaled by trust",
    )
    w_verdict: float = Field(
        5.0, description="g part: users' summed verdicts (feedback) on c after the same two words (bad = -1)"
    )
    tie_penalty: float = Field(0.3, ge=0.0, description="LLM part: penalty per log-rank inside a first-subword group")
    inexact_penalty: float = Field(
        1.0, ge=0.0, description="LLM part: penalty for a multi-subword word the graph did not propose"
    )
    cut_above: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="refuse a winner after which the LLM goes on inside the same word with this probability "
        "(it was the start of a longer candidate: 'Ma' for 'Maize'); 0: off",
    )
    verify_below: float = Field(
        3.0, ge=0.0, description="refuse a multi-subword winner whose remaining subwords have log-prob below -this"
    )
    block_ngram: int = Field(3, ge=0, description="never repeat an n-gram of this order (0: off)")
    speculative: int = Field(8, ge=0, le=32, description="passage words verified in one forward after a copy")
