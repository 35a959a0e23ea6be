"""What the scorer reads per candidate node: the snapshot's words, plus the prompt's own words it lacks.

Every candidate is a node id; every per-node fact the runtime needs (written forms, kind, spacing, the
first subword under each spacing and capitalisation) is one dense array indexed by it, so a step scores all
candidates with a handful of vector operations. A prompt may name things the graph has never seen ("Who
is Zyx?"); those words become session nodes after the snapshot's ids, so an answer can repeat them. They
exist for that one answer only and are never written to the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from graph_store import APOSTROPHES, CLITICS, STOPWORDS, Snapshot, fold, is_cjk, needs_space
from selector import WordTable

Spelling = tuple[bool, bool]  # (capitalised, leading space)
SPELLINGS: tuple[Spelling, ...] = ((False, False), (False, True), (True, False), (True, True))
PER_NODE = ("surfaces", "capitalized", "kinds", "counts", "valid", "no_space", "cjk", "letter")  # index = node id
PER_SPELLING = ("first", "exact", "tie_rank", "log_tie")  # {(cap, space): array indexed by node id}


def cased(surface: str, cap: bool = True) -> str:
    """The form written at a sentence start (cap) or inside one."""
    return surface[:1].upper() + surface[1:] if cap else surface


QUOTES = frozenset("\"'")  # straight quotes standing alone: the first opens, the next closes


def _lone_letter(surface: str) -> bool:
    """One letter of a cased script that is no word of its own: "H", "s" (of "it’s"), not "a", "I", "в"."""
    key = fold(surface)
    return len(surface) == 1 and surface.lower() != surface.upper() and (key not in STOPWORDS or key in CLITICS)


def quote_state(surfaces: list[str]) -> str:
    """Where the answer stands among straight quotes: "opened" (its last word opened one), "open", or ""."""
    n = sum(1 for s in surfaces if s in QUOTES)
    if n % 2 == 0:
        return ""
    return "opened" if surfaces[-1] in QUOTES else "open"


WRITTEN = ("first", "exact", "log_tie")  # the per-spelling fields a step reads, merged by `written_as`


LOG_RANK_ONE = np.log1p(1)  # the tie penalty's log(1 + rank) at rank 1


@dataclass(frozen=True)
class Written:
    """Per node, under one spacing and capitalisation (read-only: shared by every step that writes so)."""

    space: np.ndarray  # bool: written with a leading space
    first: np.ndarray
    exact: np.ndarray
    log_tie: np.ndarray
    _penalties: dict = field(default_factory=dict, repr=False, compare=False)

    def penalties(self, tie: float, inexact: float) -> tuple[np.ndarray, np.ndarray]:
        """What the LLM part loses per node (a first subword shared with others, an unverified spelling):
        (unproposed, proposed by the graph), which only has to beat the word that *is* its first subword.
        Computed once per layout and setting; every step picks one of the two per node."""
        key = (tie, inexact)
        if key not in self._penalties:
            unproposed = tie * self.log_tie + np.where(self.exact, 0.0, inexact)
            proposed = tie * np.minimum(self.log_tie, LOG_RANK_ONE)
            for a in (unproposed, proposed):
                a.setflags(write=False)
            self._penalties[key] = (unproposed, proposed)
        return self._penalties[key]


@dataclass(frozen=True)
class Lexicon:
    surfaces: list[str]
    capitalized: list[str]
    kinds: np.ndarray  # object: word, punct, number, concept
    counts: np.ndarray  # int64
    valid: np.ndarray  # bool: a real node (ids can be sparse)
    no_space: np.ndarray  # bool: written without a space after an ordinary word
    cjk: np.ndarray  # bool
    letter: np.ndarray  # bool: a lone letter of a cased script that is no word of its own ("H", not "a", "I", "в")
    first: dict[Spelling, np.ndarray]  # first subword id
    exact: dict[Spelling, np.ndarray]  # the word is exactly one subword
    tie_rank: dict[Spelling, np.ndarray]  # rank inside its first-subword group (0: the subword itself)
    log_tie: dict[Spelling, np.ndarray]  # log(1 + tie_rank), float64: the scorer's tie penalty, computed once
    tables: tuple[WordTable, WordTable]  # (lower, capitalised): full subword ids, built lazily
    size: int  # nodes of the snapshot; ids from here on are session words
    keys: dict[str, int]  # session words: folded key → node id
    graph_word_id: Callable[[str], int | None]  # the snapshot's own lookup
    _written: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # `written_as` cache

    @classmethod
    def of(cls, snap: Snapshot, tokenizer, base: Lexicon | None = None) -> Lexicon:
        """The snapshot's words; a live delta's words are appended to the published ones (`base`, when
        given, is a lexicon of the same published version, with or without an earlier delta's words: only
        the words it does not hold yet are new work, so the thousandth live fact tokenizes its own words,
        not a thousand facts')."""
        extra = [(e[1], e[2]) if e else ("", "concept") for e in snap.vocab[snap.base_size :]]
        if base is not None and len(base) > base.size:
            held = list(zip(base.surfaces[base.size :], base.kinds[base.size :], strict=True))
            if extra[: len(held)] == held:  # the earlier delta's words are still the first of this one's
                return replace(base, graph_word_id=snap.word_id).with_words(extra[len(held) :])
            base = base.published()
        if base is None:
            n = snap.base_size
            surfaces, kinds = [""] * n, np.full(n, "", dtype=object)
            counts, valid = np.zeros(n, np.int64), np.zeros(n, bool)
            for i, entry in enumerate(snap.vocab[:n]):
                if entry is not None:
                    key, surface, kinds[i], counts[i] = entry
                    # a function word is written in lower case inside a sentence, whatever titles made most
                    # frequent ("You" of song titles in the wiki made " you" unwritable); "I" stays
                    surfaces[i] = surface.lower() if key in STOPWORDS and len(surface) > 1 else surface
                    valid[i] = True
            base = cls._build(surfaces, kinds, counts, valid, tokenizer, n, {}, snap.word_id)
        base = replace(base, graph_word_id=snap.word_id)
        return base.with_words(extra) if extra else base

    def published(self) -> Lexicon:
        """The part that belongs to the published version (without a delta's or a prompt's words)."""
        if len(self) == self.size:
            return self
        return replace(self, **self._per_node(lambda v, name, key: v[: self.size]), keys={})

    def _per_node(self, f) -> dict:
        """Every per-node field mapped by f(value, field name, spelling or None), as `replace` arguments."""
        out = {name: f(getattr(self, name), name, None) for name in PER_NODE}
        return out | {name: {k: f(v, name, k) for k, v in getattr(self, name).items()} for name in PER_SPELLING}

    def _field(self, name: str, key: Spelling | None):
        value = getattr(self, name)
        return value if key is None else value[key]

    @classmethod
    def _build(cls, surfaces, kinds, counts, valid, tokenizer, size, keys, word_id) -> Lexicon:
        capitalized = [cased(s) for s in surfaces]
        freq = counts.astype(np.float64)
        tables = (WordTable(tokenizer, surfaces, freq), WordTable(tokenizer, capitalized, freq))
        first, exact, tie = {}, {}, {}
        for cap, space in SPELLINGS:
            t = tables[cap]
            first[cap, space], exact[cap, space], tie[cap, space] = t.first[space], t.exact[space], t.tie_rank[space]
        log_tie = {k: np.log1p(v) for k, v in tie.items()}
        return cls(
            surfaces,
            capitalized,
            kinds,
            counts,
            valid,
            np.array([not needs_space("a", s) for s in surfaces], dtype=bool),
            np.array([is_cjk(s) for s in surfaces], dtype=bool),
            np.array([_lone_letter(s) for s in surfaces], dtype=bool),
            first,
            exact,
            tie,
            log_tie,
            tables,
            size,
            keys,
            word_id,
        )

    def __len__(self) -> int:
        return len(self.surfaces)

    def with_words(self, words: list[tuple[str, str]]) -> Lexicon:
        """This lexicon plus session nodes for (surface, kind) words; itself when there are none."""
        if not words:
            return self
        extra = Lexicon._build(
            [s for s, _ in words],
            np.array([k for _, k in words], dtype=object),
            np.ones(len(words), np.int64),
            np.ones(len(words), bool),
            self.tables[0].tokenizer,
            0,
            {},
            self.graph_word_id,
        )
        # a session word is proposed by the prompt, so it only has to beat the subword itself
        ones = np.ones(len(words), np.int64)
        log_one = np.log1p(ones)
        extra = replace(
            extra, tie_rank=dict.fromkeys(extra.tie_rank, ones), log_tie=dict.fromkeys(extra.tie_rank, log_one)
        )
        base = len(self)
        return replace(
            self,
            **self._per_node(lambda v, name, key: _cat(v, extra._field(name, key))),
            keys={**self.keys, **{fold(s): base + i for i, (s, _) in enumerate(words)}},
        )

    def word_id(self, surface: str) -> int | None:
        """The node of a word: the snapshot's, else a session word's."""
        node = self.graph_word_id(surface)
        return self.keys.get(fold(surface.strip())) if node is None else node

    def nodes_of(self, words: Iterable[str]) -> list[int]:
        """The nodes of those words this lexicon holds (graph or session words)."""
        return [n for w in sorted(words) if (n := self.word_id(w)) is not None]

    def written_as(self, cap: bool, prev: str | None, quote: str = "") -> Written:
        """Every node as it would be written after `prev` (None: at the start), capitalised or not: its
        spacing and, under it, its first subword, exactness and tie rank. `quote` (`quote_state`):
        "opened" right after an opening quote (no word is spaced: `"Hola"`), "open" inside quotes (a
        quote closes, unspaced). After an apostrophe a clitic joins, unspaced (I + ’ + m: "I’m"). There
        are only a few such layouts, so each is merged once per lexicon and every step after reads it."""
        if prev is None or quote == "opened" or not needs_space(prev, "a"):
            spacing = "none"
        else:
            spacing = "not-cjk" if is_cjk(prev[-1:]) else "spaced"
        closing = quote == "open" and spacing != "none"
        elided = prev in APOSTROPHES and spacing != "none"
        key = (cap, spacing, closing, elided)
        if key not in self._written:
            if spacing == "none":
                space = np.zeros(len(self), bool)
            else:
                space = ~self.no_space & ~self.cjk if spacing == "not-cjk" else ~self.no_space
            joined = (QUOTES if closing else set()) | (CLITICS if elided else set())  # a quote closes
            if joined:
                space = space.copy()
                space[self.nodes_of(joined)] = False
            merged = (np.where(space, self._field(f, (cap, True)), self._field(f, (cap, False))) for f in WRITTEN)
            arrays = [space, *merged]
            for a in arrays:
                a.setflags(write=False)
            self._written[key] = Written(*arrays)
        return self._written[key]

    def written(self, node: int, cap: bool) -> str:
        return self.capitalized[node] if cap else self.surfaces[node]

    def ids(self, node: int, cap: bool, space: bool) -> list[int]:
        """All subword ids of a node as it would be fed after the context."""
        if node < self.size:
            return self.tables[cap].ids(node, space)  # cached per published node
        return self.spell(self.written(node, cap), space)

    def spell(self, text: str, space: bool) -> list[int]:
        """Subword ids of any written text, fed after the context (with a leading space or not)."""
        return list(self.tables[0].tokenizer.encode((" " if space else "") + text, add_special_tokens=False))


def _cat(a, b):
    """Two per-node fields end to end (lists of surfaces, or arrays)."""
    return a + b if isinstance(a, list) else np.concatenate([a, b])
