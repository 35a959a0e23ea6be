"""Everything before an answer's first step: the question, retrieval, the session words, the LLM prompt.

In the hybrid prompt the top retrieved passages go before the user's question (the RAG baseline builds
its prompt with the same `passage_context`); the same passages seed the accumulator's activation and copy.
Only passages that are evidence for the question are used (`trust.weigh`): an everyday prompt gets the
LLM's plain prompt and a graph that only bounds the words.
"""

from __future__ import annotations

from typing import Any

from graph_store import STOPWORDS, Snapshot, fold, search, split

from . import instructions, trust
from .accumulator import Accumulator
from .config import RuntimeConfig
from .errors import RuntimeInputError
from .lexicon import Lexicon
from .records import Prompt
from .state import AnswerState


def passage_context(hits: list) -> str:
    """Retrieved passages as they are put in an LLM prompt (the hybrid runtime and the RAG baseline alike)."""
    return "\n".join(f"{h.title}: {h.text}" if h.title else h.text for h in hits)


def question_of(prompt: Prompt) -> str:
    """The text to answer: the prompt itself, or the last user message of a conversation."""
    question = (
        prompt
        if isinstance(prompt, str)
        else next((m.get("content", "") for m in reversed(prompt) if m.get("role") == "user"), "")
    )
    if not isinstance(question, str) or not question.strip():
        raise RuntimeInputError("empty prompt: give a question or text to continue")
    return question


def with_passages(prompt: Prompt, question: str, context: str) -> list[dict[str, str]]:
    """The conversation with the passages put before the last user message's text."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
    messages[-1 if messages[-1]["role"] == "user" else len(messages) - 1]["content"] = f"{context}\n\n{question}"
    return messages


DRAFTED = ("translate", "list")  # what the LLM drafts first: words the graph may lack, items it would name


def draft_words(backend: Any, prompt: Prompt, cfg: RuntimeConfig) -> list[str]:
    """A translation needs words the graph may lack ("hola"), a list the items the LLM would name: the
    LLM drafts `draft_tokens` greedily on the plain prompt, and the draft's content words (traced as
    `drafted`) are activated like the prompt's, those the graph lacks as session words. The LLM then
    still chooses word by word among candidates; the draft only widens and leans them."""
    if cfg.draft_tokens <= 0:
        return []
    ids = backend.prompt_ids(prompt, True)
    text = backend.tokenizer.decode(backend.generate(ids, cfg.draft_tokens), skip_special_tokens=True)
    seen: dict[str, str] = {}
    for t in split(text):
        if t.kind == "word" and t.key not in STOPWORDS:
            seen.setdefault(t.key, t.surface)
    return list(seen.values())


def prepare(
    snap: Snapshot, lexicon: Lexicon, backend: Any, prompt: Prompt, cfg: RuntimeConfig
) -> tuple[AnswerState, list[int], list]:
    """Retrieve, weigh the evidence, seed the accumulator and build the LLM prompt: (state, prompt ids,
    every passage retrieved; `state.evidence` says which are used and how far they are trusted)."""
    question = question_of(prompt)
    tokens = split(question)
    words = [t for t in tokens if t.kind == "word"]
    if words and all(snap.word_id(t.surface) is None for t in words):
        raise RuntimeInputError(
            "none of the prompt's words are in the graph (a language or script it has never seen?): "
            "ingest text in that language first"
        )
    asked = instructions.limits(question) if cfg.chat else instructions.Limits()
    drafted = draft_words(backend, prompt, cfg) if asked.kind in DRAFTED else None
    # the prompt's words and symbols the graph lacks ("Zyx", the "+" of "2+2") may be written back
    unknown = {t.key: (t.surface, t.kind) for t in tokens if snap.word_id(t.surface) is None}
    for surface in drafted or ():
        if snap.word_id(surface) is None:
            unknown.setdefault(fold(surface), (surface, "word"))
    lex = lexicon.with_words(list(unknown.values()))
    hits = search(snap, question, cfg.retrieval_k, cfg.lexical_weight) if cfg.retrieval_k else []
    language = snap.language_of(question)
    evidence = trust.weigh(hits, cfg, trust.foreign(language, cfg))
    if asked.kind == "list":  # a list is composed from what the LLM knows of the items, not copied
        evidence.trust *= cfg.list_trust
    evidence.language = language
    evidence.llm_weight = trust.llm_weight(evidence.language, cfg) if evidence.trust > 0 else 1.0
    used = evidence.hits
    llm_prompt: Prompt = prompt
    if cfg.chat and cfg.passages_in_prompt and used and asked.kind != "list":  # a list is the LLM's to compose
        llm_prompt = with_passages(prompt, question, passage_context(used[: cfg.passages_in_prompt]))
    ids = backend.prompt_ids(llm_prompt if cfg.chat else question, cfg.chat)
    acc = Accumulator(snap, lex, cfg)
    acc.seed(question, used, drafted)
    state = AnswerState(lex, acc, lex.valid & (lex.kinds != "concept"), evidence=evidence, drafted=drafted)
    state.limits = asked if cfg.brevity else instructions.Limits(kind=asked.kind)
    if state.limits.primed:  # the answer continues the LLM's "The answer is" (not written)
        ids = ids + lex.spell(instructions.PRIMER, False)
        state.prev_surface = instructions.PRIMER_LAST
    if not cfg.chat:
        state.prev_surface = tokens[-1].surface if tokens else None
    return state, ids, hits
