"""Feeding a chosen word to the LLM: the subword ids it is spelled with, the check that a multi-subword
winner is a likely spelling to the LLM too, and the passage words fed ahead after a copy.

A word is scored by its first subword for free; feeding it gives the log-prob of the rest at no extra
cost, so the check costs no forward when it passes. After a copied word, the next passage words go into
the same forward pass and are accepted later only while the runtime's own choice agrees with them.

Numbers in tokenizers that spell digits one by one (" 9" is " " + "9") all share a bare-space first
subword, so their first-subword score cannot tell 9 from 2; feeding the winner shows which digits the LLM
would write, and a number it would not write is re-chosen among those that start as the LLM's would.
"""

from __future__ import annotations

import functools

import numpy as np

from graph_store import END_ID, SENTENCE_END

from .config import RuntimeConfig
from .lexicon import cased, quote_state
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


def cut_short(
    state: AnswerState, step: Step, fed: list[int], rows: dict[int, np.ndarray], cfg: RuntimeConfig
) -> list[int]:
    """The words to refuse when the winner is one the LLM would go on spelling inside the same word ("Ma" +
    "ize", "H" + "ola"): it only matched the first subword of a longer candidate that shares it, which is
    re-chosen instead. What counts is how likely the word goes on at all, summed over the subwords that go
    on ("H" + "2" 0.33 and "H" + "HO" 0.32: water's "H2O"), not its one likeliest way on. A lone letter
    (`Lexicon.letter`: of a cased script, not a word such as "a", "I", "в"; a CJK character is a word) is
    the start of a word, perhaps one the graph lacks: every lone letter is refused at once, or the answer
    spells that word letter by letter ('named "H. A. S. S…'). Copies keep their passage's spelling;
    numbers have their own check. Empty: the winner stays."""
    lex, node = state.lex, step.winner.node
    if cfg.cut_above <= 0 or step.copy_source is not None or node == END_ID or lex.kinds[node] != "word":
        return []
    row, goes_on = rows[len(fed) - 1], _continues(lex.tables[0].tokenizer)
    n = min(len(row), len(goes_on))  # a model's vocabulary may be padded past its tokenizer's
    if float(np.exp(row[:n][goes_on[:n]]).sum()) < cfg.cut_above:
        return []
    if lex.letter[node]:
        return np.flatnonzero(lex.letter & state.allowed).tolist()
    prev = state.surfaces[-1] if state.surfaces else state.prev_surface
    first = lex.written_as(step.cap, prev, quote_state(state.surfaces)).first
    mates = (first == first[node]) & state.allowed
    mates[node] = False
    return [node] if mates.any() else []


@functools.lru_cache(maxsize=8)
def _continues(tokenizer) -> np.ndarray:
    """Per token id: whether it goes on inside a word (starts with a letter or digit, no leading space:
    "Ma" + "ize", "H" + "2O")."""
    n = len(tokenizer)
    out = np.zeros(n, bool)
    for i in range(n):
        piece = tokenizer.decode([i])
        out[i] = bool(piece) and piece[0].isalnum()
    return out


def preferred_number(state: AnswerState, step: Step, fed: list[int], rows: dict[int, np.ndarray]) -> str | None:
    """How the number the LLM would write starts, when the winner is not it: the digits it agrees with and
    the one it prefers next (None: it agrees, or the number is not spelled digit by digit, or it was copied
    from fully trusted evidence: partial evidence does not overrule the LLM's digits, "6 + 2" copied from
    "3 + 2"). "1" where the LLM would go on to "10" gives "10"."""
    lex, text = state.lex, step.text
    if lex.kinds[step.winner.node] != "number" or len(fed) < 2:
        return None
    if step.copy_source is not None and state.evidence.trust >= 1.0:
        return None
    tokenizer = lex.tables[0].tokenizer
    digits = _digit_ids(tokenizer)
    if not digits or tokenizer.decode([fed[0]]).strip() or fed[1] not in digits.values():
        return None
    by_id = {i: d for d, i in digits.items()}
    spelled = text.isdigit() and len(fed) == len(text) + 1  # one token per digit: every digit is checked
    for j in range(1, len(text) + 1 if spelled else 2):
        best = max(sorted(digits), key=lambda d: float(rows[j - 1][digits[d]]))
        if fed[j] != digits[best]:
            return text[: j - 1] + best
    if spelled and (more := int(np.argmax(rows[len(fed) - 1]))) in by_id:
        return text + by_id[more]  # the LLM would write more digits
    return None


@functools.lru_cache(maxsize=8)
def _digit_ids(tokenizer) -> dict[str, int]:
    """Digit → its token id, where each digit is one token of its own."""
    out = {}
    for d in "0123456789":
        ids = tokenizer.encode(d, add_special_tokens=False)
        if len(ids) == 1:
            out[d] = ids[0]
    return out if len(out) == 10 else {}


def numbers_starting(state: AnswerState, prefix: str, refused: list[str]) -> np.ndarray:
    """Candidates for a re-chosen number: the numbers written with `prefix` first, but those refused."""
    lex = state.lex
    return (lex.kinds == "number") & np.array([s.startswith(prefix) and s not in refused for s in lex.surfaces])


def speculate(state: AnswerState, step: Step, cfg: RuntimeConfig) -> list[tuple[int, str, list[int]]]:
    """After a copied word: the next passage words, each with the subword ids it would be fed as."""
    if step.copy_source is None:
        return []
    out, prev, lex = [], step.text, state.lex
    written = [*state.surfaces, step.text]  # spaced as word-by-word choice would space them (quotes too)
    for node, surface in state.acc.continuation(step.copy_source, cfg.speculative):
        if node == END_ID or not state.allowed[node]:
            break
        text = cased(surface, prev in SENTENCE_END)
        space = bool(space_mask(lex, prev, quote_state(written))[node])
        out.append((node, text, word_ids(state, node, text, space)))
        prev = text
        written.append(text)
    return out
