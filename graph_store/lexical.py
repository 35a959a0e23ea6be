"""The lexical passage index: BM25 over the graph's own word keys, beside the dense one.

A dense model (all-MiniLM) does not know a made-up name, so it cannot find a passage by it; BM25 weighs
exactly those rare words most. Terms are the house splitter's folded keys (any script, CJK one character
a term), function words of the passage's language left out, stemmed (Snowball) where the language has a
stemmer, so "карту" finds "карта"; a question is stemmed in its own language, told among the languages
the index holds (`language.py`). `bm25s` builds the index at publish and stores it in the snapshot as
plain arrays (no pickle), memory-mapped when read. A live delta's few passages are scored with the
published index's statistics (document frequencies, passage count, mean length), so their scores are on
the same scale as the published ones and the two lists merge by score.
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np

from .language import detect, function_words, stems
from .stopwords import REQUEST_WORDS
from .text import split

FOLDER = "lexical"  # inside a snapshot version
STATS = "stats.json"
K1, B = 1.5, 0.75  # bm25s' defaults (method "lucene"), restated here for scoring a delta's passages


def terms(text: str, lang: str | None = None) -> list[str]:
    """What BM25 counts: folded word and number keys less the function words of `lang`, stemmed in `lang`;
    a possessive counts as its owner ("Austen's" is "austen")."""
    return _kept(text, lang, function_words(lang))


def question_terms(text: str, lang: str | None = None) -> list[str]:
    """A question's terms: `terms` less the words that phrase the request ("tell", "briefly", "describe":
    `REQUEST_WORDS`), so "Tell me about Balloon." asks about what "What is Balloon?" asks about."""
    return _kept(text, lang, function_words(lang) | REQUEST_WORDS)


def _kept(text: str, lang: str | None, drop: frozenset[str]) -> list[str]:
    keys = (owner(t.key) for t in split(text) if t.kind != "punct")
    return stems([k for k in keys if k not in drop], lang)


@functools.lru_cache(maxsize=512)
def _query_language(text: str, langs: tuple[str, ...], main: str) -> str | None:
    return detect(text, langs, fallback=main) if langs else None


def passage_text(title: str | None, text: str) -> str:
    """What a passage is indexed by: its title (the topic the text often only implies), then its text."""
    return f"{title} {text}" if title else text


def owner(key: str) -> str:
    """A folded word without its possessive ending: "austen's" is Austen."""
    return key[:-2] if len(key) > 3 and key[-2:] in ("'s", "’s") else key


def build(texts: list[str], langs: list[str | None], folder: Path) -> None:
    """Index the published passages (row i = the i-th passage of the snapshot, in language langs[i])."""
    import bm25s

    docs = [terms(t, lang) for t, lang in zip(texts, langs, strict=True)]
    folder.mkdir(parents=True, exist_ok=True)
    languages = dict(Counter(lang for lang in langs if lang).most_common())  # passages per language
    if not docs:
        (folder / STATS).write_text(json.dumps({"n": 0, "avgdl": 0.0, "languages": {}}), encoding="utf-8")
        return
    index = bm25s.BM25(k1=K1, b=B)
    index.index(docs, show_progress=False)
    index.save(str(folder), allow_pickle=False, show_progress=False)
    stats = {"n": len(docs), "avgdl": float(np.mean([len(d) for d in docs]) or 1.0), "languages": languages}
    (folder / STATS).write_text(json.dumps(stats), encoding="utf-8")


class LexicalIndex:
    """BM25 lookups over one snapshot's passages (rows), plus a live delta's passages by id."""

    def __init__(self, folder: Path) -> None:
        stats = json.loads((folder / STATS).read_text(encoding="utf-8"))
        self.n, self.avgdl = int(stats["n"]), float(stats["avgdl"])
        # passages per language (none: built before languages were recorded; then nothing is stemmed)
        self._counts: Counter = Counter(stats.get("languages") or {})
        self._index = None
        if self.n:
            import bm25s

            self._index = bm25s.BM25.load(str(folder), mmap=True, allow_pickle=False)
            indptr = np.asarray(self._index.scores["indptr"])
            self._df = np.diff(indptr)
            self._vocab: dict[str, int] = self._index.vocab_dict
        self._delta: list[tuple[int, Counter, int]] = []  # (passage id, term counts, length)

    def add_delta(self, passages: list[tuple[int, str, str | None]]) -> None:
        """A live delta's (passage id, text, language); its languages join the ones questions are told among
        (over an index built before languages, nothing is stemmed, the delta's passages neither)."""
        stemmed = bool(self._counts)
        self._delta = [
            (pid, Counter(ts), len(ts))
            for pid, text, lang in passages
            for ts in [terms(text, lang if stemmed else None)]
        ]
        if stemmed:
            self._counts.update(lang for _, _, lang in passages if lang)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self._counts))

    def language(self, text: str) -> str | None:
        """A question's language, told among the index's; where the detector is unsure (a few words, a
        name), the language most passages are in (None: the index records no languages)."""
        main = self._counts.most_common(1)[0][0] if self._counts else ""
        return _query_language(text, self.languages, main)

    def query_terms(self, text: str) -> list[str]:
        """A question's terms, in its language as told among the index's."""
        return question_terms(text, self.language(text))

    def idf(self, term: str) -> float:
        """Lucene's idf with the published statistics; a term the snapshot never saw is as rare as can be."""
        df = int(self._df[self._vocab[term]]) if self._index is not None and term in self._vocab else 0
        n = self.n + len(self._delta)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def rare(self, term: str, at_most: int = 3, share: float = 0.01) -> bool:
        """Seen in at most `at_most` passages, and in at most `share` of them: a name, not a topic word (in a
        small vault of a few dozen passages, every other word is in only a few)."""
        df = int(self._df[self._vocab[term]]) if self._index is not None and term in self._vocab else 0
        df += sum(1 for _, counts, _ in self._delta if term in counts)
        return df <= max(1.0, min(at_most, share * (self.n + len(self._delta))))

    def search(self, text: str, k: int) -> tuple[list[tuple[float, int]], list[tuple[float, int]]]:
        """(score, row) of the best published passages and (score, passage id) of the best delta ones,
        each best first, only those sharing a term with `text`."""
        query = self.query_terms(text)
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
