"""Graph words ↔ LLM subwords: the only place where the two vocabularies meet.

One next-token distribution scores every graph word at once through the log-prob of its first subword
(with or without a leading space, as the spacing rules ask). Words that share a first subword cannot be
told apart there; `tie_rank` orders each such group (the word that *is* the subword first, then by corpus
frequency) so that the runtime can break ties, and the graph's own evidence can still lift a rarer word.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class WordTable:
    def __init__(self, tokenizer: Any, words: list[str], freq: np.ndarray) -> None:
        self.tokenizer = tokenizer
        self.words = words
        self._full: dict[tuple[int, bool], list[int]] = {}
        self.first = {}
        self.exact = {}
        self.tie_rank = {}
        for space in (True, False):
            enc = tokenizer([(" " + w if space else w) for w in words], add_special_tokens=False)["input_ids"]
            first = np.array([e[0] if e else 0 for e in enc], dtype=np.int64)
            exact = np.array([len(e) == 1 for e in enc])
            self.first[space], self.exact[space] = first, exact
            self.tie_rank[space] = _tie_rank(first, exact, freq)

    def ids(self, index: int, space: bool) -> list[int]:
        """All subword ids of one word as it would be fed after the context."""
        key = (index, space)
        if key not in self._full:
            text = (" " if space else "") + self.words[index]
            self._full[key] = list(self.tokenizer.encode(text, add_special_tokens=False))
        return self._full[key]


def _tie_rank(first: np.ndarray, exact: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """Rank of each word within its first-subword group: exact single-subword word 0, then by frequency."""
    order = np.lexsort((-freq, ~exact, first))  # group by first id; exact first; then frequent first
    rank = np.empty(len(first), dtype=np.int64)
    sorted_first = first[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_first)) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    rank[order] = np.arange(len(order)) - group_start
    return rank
