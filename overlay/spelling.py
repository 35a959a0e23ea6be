"""Feeding a chosen word to the LLM: the subword ids it is spelled with, the check that a multi-subword
winner is a likely spelling to the LLM too, and the passage words fed ahead after a copy.

A word is scored by its first subword for free; feeding it gives the log-prob of the rest at no extra
cost, so the check costs no forward when it passes. After a copied word, the next passage words go into
the same forward pass and are accepted later only while the runtime's own choice agrees with them.
"""

from __future__ import annotations

import numpy as np

from graph_store import END_ID, SENTENCE_END

from .config import RuntimeConfig
from .lexicon import cased
from .records import Step
from .scoring import space_mask
from .state import AnswerState


def word_ids(state: AnswerState, node: int, text: str, space: bool) -> list[int]:
    """Subword ids of a word as written (its node's cached spelling when it is written that way)."""
    lex = state.lex
    for cap in (False, True):
        if text == lex.written(node, cap):
            return lex.ids(node, cap, space)
    return lex.spell(text, space)


def rejects(step: Step, fed: list[int], rows: dict[int, np.ndarray], cfg: RuntimeConfig) -> bool:
    """A multi-subword winner that the graph did not copy must be a likely spelling to the LLM too."""
    if len(fed) < 2 or step.copy_source is not None or cfg.verify_below <= 0:
        return False
    rest = sum(float(rows[j - 1][fed[j]]) for j in range(1, len(fed)))
    return rest < -cfg.verify_below


def speculate(state: AnswerState, step: Step, cfg: RuntimeConfig) -> list[tuple[int, str, list[int]]]:
    """After a copied word: the next passage words, each with the subword ids it would be fed as."""
    if step.copy_source is None:
        return []
    out, prev, lex = [], step.text, state.lex
    for node, surface in state.acc.continuation(step.copy_source, cfg.speculative):
        if node == END_ID or not state.allowed[node]:
            break
        text = cased(surface, prev in SENTENCE_END)
        out.append((node, text, word_ids(state, node, text, bool(space_mask(lex, prev)[node]))))
        prev = text
    return out
