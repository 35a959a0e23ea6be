"""The lexical passage index: BM25 over the graph's own word keys, beside the dense one.

A dense model (all-MiniLM) does not know a made-up name, so it cannot find a passage by it; BM25 weighs
exactly those rare words most. Terms are the house splitter's folded keys (any script, CJK one character
a term), function words left out. `bm25s` builds the index at publish and stores it in the snapshot as
plain arrays (no pickle), memory-mapped when read. A live delta's few passages are scored with the
published index's statistics (document frequencies, passage count, mean length), so their scores are on
the same scale as the published ones and the two lists merge by score.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np

from .stopwords import STOPWORDS
from .text import split

FOLDER = "lexical"  # inside a snapshot version
STATS = "stats.json"
K1, B = 1.5, 0.75  # bm25s' defaults (method "lucene"), restated here for scoring a delta's passages


def terms(text: str) -> list[str]:
    """What BM25 counts: folded word and number keys, no function words; a possessive counts as its owner
    ("Austen's" is "austen")."""
    keys = (_owner(t.key) for t in split(text) if t.kind != "punct")
    return [k for k in keys if k not in STOPWORDS]


def _owner(key: str) -> str:
    return key[:-2] if len(key) > 3 and key[-2:] in ("'s", "’s") else key


def build(texts: list[str], folder: Path) -> None:
    """Index the published passages (row i = the i-th passage of the snapshot) into `folder`."""
    import bm25s

    docs = [terms(t) for t in texts]
    folder.mkdir(parents=True, exist_ok=True)
    if not docs:
        (folder / STATS).write_text(json.dumps({"n": 0, "avgdl": 0.0}), encoding="utf-8")
        return
    index = bm25s.BM25(k1=K1, b=B)
    index.index(docs, show_progress=False)
    index.save(str(folder), allow_pickle=False, show_progress=False)
    stats = {"n": len(docs), "avgdl": float(np.mean([len(d) for d in docs]) or 1.0)}
    (folder / STATS).write_text(json.dumps(stats), encoding="utf-8")


class LexicalIndex:
    """BM25 lookups over one snapshot's passages (rows), plus a live delta's passages by id."""

    def __init__(self, folder: Path) -> None:
        stats = json.loads((folder / STATS).read_text(encoding="utf-8"))
        self.n, self.avgdl = int(stats["n"]), float(stats["avgdl"])
        self._index = None
        if self.n:
            import bm25s

            self._index = bm25s.BM25.load(str(folder), mmap=True, allow_pickle=False)
            indptr = np.asarray(self._index.scores["indptr"])
            self._df = np.diff(indptr)
            self._vocab: dict[str, int] = self._index.vocab_dict
        self._delta: list[tuple[int, Counter, int]] = []  # (passage id, term counts, length)

    def add_delta(self, passages: list[tuple[int, str]]) -> None:
        self._delta = [(pid, Counter(ts), len(ts)) for pid, text in passages for ts in [terms(text)]]

    def idf(self, term: str) -> float:
        """Lucene's idf with the published statistics; a term the snapshot never saw is as rare as can be."""
        df = int(self._df[self._vocab[term]]) if self._index is not None and term in self._vocab else 0
        n = self.n + len(self._delta)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def rare(self, term: str, at_most: int = 3) -> bool:
        """Seen in at most `at_most` passages: a name, not a topic word."""
        df = int(self._df[self._vocab[term]]) if self._index is not None and term in self._vocab else 0
        return df + sum(1 for _, counts, _ in self._delta if term in counts) <= at_most

    def search(self, text: str, k: int) -> tuple[list[tuple[float, int]], list[tuple[float, int]]]:
        """(score, row) of the best published passages and (score, passage id) of the best delta ones,
        each best first, only those sharing a term with `text`."""
        query = terms(text)
        rows: list[tuple[float, int]] = []
        known = [t for t in query if self._index is not None and t in self._vocab]
        if known and k > 0:
            docs, scores = self._index.retrieve([known], k=min(k, self.n), show_progress=False)
            rows = [(float(s), int(d)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
        delta = sorted(((s, pid) for pid, s in self._delta_scores(query) if s > 0), reverse=True)[:k]
        return rows, delta

    def _delta_scores(self, query: list[str]) -> list[tuple[int, float]]:
        avgdl = self.avgdl or 1.0
        out = []
        for pid, counts, length in self._delta:
            score = 0.0
            for term in set(query):
                tf = counts.get(term, 0)
                if tf:
                    score += self.idf(term) * tf / (tf + K1 * (1 - B + B * length / avgdl))  # as bm25s
            out.append((pid, score))
        return out


def lexical_folder(version_folder: Path) -> Path:
    return Path(version_folder) / FOLDER
