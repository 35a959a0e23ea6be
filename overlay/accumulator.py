"""The global score accumulator: what the graph thinks may come next, as named parts over every node.

Seeded from the prompt's words and the passages retrieved for it, activation spreads one hop over `assoc`
and `link` edges; each written word is observed (its activation decays, so the answer moves on). At every
step `propose` returns dense arrays over all node ids, one per part (`PARTS`), plus where each part came
from, so the trace can name the edges and passages behind a candidate; a part of weight 0 (next, next2 by
default) is the shared empty array, not looked up.

Copying follows the LLM's own words into a passage, weighted by how much meaning the match carries: a match
on a function word or on a word the question itself holds ("… was the first president of the United
States" matched on "States") counts `function_match`, unless the copy is already under way. At the start
a passage's first word opens the answer only if the question names it (an article's opening is no answer
to "Who painted X?"), or the word asked that its opening is about, past an opening phrase ("In particle
physics, a lepton is": "Lepton is an elementary particle…"), and so may the start of its sentence that
holds most of the question (at least
`sentence_opening` of it: deep in a long note, the answer is where the question's words are);
within one sentence every copy comes from one document (once a word the question does not hold is copied),
so two people's facts are not stitched into one
sentence.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import groupby

import numpy as np

from graph_store import (
    END_ID,
    FACT_PREFIX,
    SENTENCE_END,
    STOPWORDS,
    Asked,
    Snapshot,
    document_of,
    fold,
    sentences,
    split,
)

from .config import RuntimeConfig
from .lexicon import Lexicon

PARTS = ("activation", "copy", "next2", "next", "verdict", "draft")
EVIDENCE = ("activation", "copy")  # the parts that come from retrieved passages and the prompt: scaled by trust
LEAD_MAX = 3  # leading function words an answer may drop from a passage's opening ("The", "A", "In the")
SUBJECT_REACH = 8  # tokens into a passage's first sentence where the word asked about may stand as its subject


@dataclass
class Passage:
    """A retrieved passage as node ids, with an index of where each word occurs (for copying)."""

    id: int
    rank: int
    rho: float  # copy weight of this passage's rank (× `fact_copy` for a user's fact on the question)
    title: str
    text: str
    nodes: list[int]
    surfaces: list[str]  # as written in the passage ("Solar System", where the node says "system")
    where: dict[int, list[int]] = field(default_factory=dict)
    doc: str = ""  # its document (copies within a sentence come from one)
    meaning: list[float] = field(default_factory=list)  # per position: 1, or function_match (function/echo)
    opening: tuple[int, float] | None = None  # (position, share of the question) of its best sentence's start
    fact: bool = False  # a fact the user stated: its copies are not gated by the LLM's confidence
    subject: tuple[int, int] | None = None  # (phrase start, position) of the word asked that its opening is about
    sentence: list[int] = field(default_factory=list)  # per position: its sentence's index
    named: bool = True  # holds as many of the question's names as any passage (else nothing is copied from it)


@dataclass
class Proposal:
    """Graph parts for every node at one step, and the provenance of the copy part."""

    parts: dict[str, np.ndarray]
    copy_from: dict[int, tuple[int, int, int]]  # node → (passage id, position in passage, match length)
    held: set[int] = field(default_factory=set)  # copies that go on in the sentence the question points to
    empty: frozenset[str] = frozenset()  # parts with nothing in them this step (skipped in the total)

    def source(self, node: int) -> tuple[int, int, int] | None:
        """Where a node's copy comes from, if this step copies it."""
        return self.copy_from.get(node) if self.parts["copy"][node] > 0 else None

    def total(self, config: RuntimeConfig, trust: float = 1.0) -> np.ndarray:
        """g(c): the weighted parts, the evidence parts scaled by this step's trust."""
        weights = {
            "activation": config.w_activation,
            "copy": config.w_copy,
            "next2": config.w_next2,
            "next": config.w_next,
            "verdict": config.w_verdict,
            "draft": config.w_draft,
        }
        total = np.zeros(len(self.parts["copy"]), np.float32)
        for name, arr in self.parts.items():
            w = weights[name] * (trust if name in EVIDENCE else 1.0)
            if w and name not in self.empty:  # a part of weight 0 (next/next2 by default, evidence at trust 0)
                total += w * arr  # or with nothing in it adds nothing
        return total


class Accumulator:
    def __init__(self, snap: Snapshot, lex: Lexicon, config: RuntimeConfig) -> None:
        self.snap, self.lex, self.config = snap, lex, config
        n = len(lex)
        self.activation = np.zeros(n, np.float32)
        self.drafted = np.zeros(n, np.float32)  # the LLM's own draft (a list's items): not evidence, not scaled
        self.drafted_any = False
        self._none = np.zeros(n, np.float32)  # a part with nothing in it (read-only, shared by every step)
        self._none.setflags(write=False)
        self.sources: dict[int, list[str]] = defaultdict(list)  # node → why it is active (trace)
        self.passages: list[Passage] = []
        self.written: list[int] = []
        self.asked: set[int] = set()  # the question's words (an echo of them carries little meaning)
        self.last_copy: tuple[int, int] | None = None  # (passage, position) of the word just copied
        self.sentence_doc: str | None = None  # the document this sentence copies from
        self.echo_only = True  # the answer so far holds only the question's words and function words

    def seed(self, prompt: str, hits: list, drafted: list[str] | None = None) -> None:
        """Take the question's words, and the passages' words that say them in another form, as echoes;
        activate the prompt's words (1.0), the words the LLM drafted for a translation or a list (1.0,
        and in the `draft` part, which trust does not scale: they are proposed and beat a graph word
        sharing their first subword, "Hola", not "H"; "Carrots", not "Bananas"), and each passage's words
        (ρ_r), then spread one hop."""
        cfg = self.config
        self.asked = asked_words(self.lex.word_id, prompt)
        for node in self.asked:
            self._activate(node, 1.0, "prompt")
        question = Asked.of(self.snap, prompt) if hits or drafted else None
        for surface in drafted or ():
            node = self.lex.word_id(surface)
            if node is not None:
                self._activate(node, 1.0, "draft")
                # what the LLM adds to the prompt's words: the items, the translation; not a question word in
                # another form ("color" drafted for "Give me two primary colors." is no item)
                if node not in self.asked and not question.echoes(surface, question.lang):
                    self.drafted[node] = 1.0
                    self.drafted_any = True
        asked = question if hits else None
        most_names = max((getattr(h, "names", 0.0) for h in hits), default=0.0)
        split_hits = []
        for hit in hits:
            tokens = split(hit.text)
            nodes = [END_ID if (x := self.snap.word_id(t.surface)) is None else x for t in tokens]
            split_hits.append((tokens, nodes))
            lang = getattr(hit, "lang", None) or asked.lang  # a passage of no known language: the question's
            for t, node in zip(tokens, nodes, strict=True):  # the question's words in another form echo it too:
                if t.kind == "word" and node != END_ID and node not in self.asked and asked.echoes(t.surface, lang):
                    self.asked.add(node)  # "Sponges are" restates "What is Sponge?" as "Sponge is" would
        for rank, (hit, (tokens, nodes)) in enumerate(zip(hits, split_hits, strict=True)):
            rho = cfg.rho[rank] if rank < len(cfg.rho) else cfg.rho[-1] * 0.5
            where: dict[int, list[int]] = defaultdict(list)
            for pos, node in enumerate(nodes):
                where[node].append(pos)
                if self.lex.kinds[node] != "punct" and node != END_ID:
                    self._activate(node, rho, f"passage {hit.id}")
            weak = cfg.function_match
            meaning = [
                weak if t.kind == "punct" or t.key in STOPWORDS or node in self.asked else 1.0
                for t, node in zip(tokens, nodes, strict=True)
            ]
            doc = document_of(hit)
            surfaces = [t.surface for t in tokens]
            sentence = sentences(tokens)
            opening = _best_sentence(tokens, sentence, asked, getattr(hit, "lang", None)) if asked else None
            self.passages.append(
                Passage(
                    hit.id,
                    rank,
                    rho * (cfg.fact_copy if getattr(hit, "stated", False) else 1.0),
                    hit.title,
                    hit.text,
                    nodes,
                    surfaces,
                    dict(where),
                    doc,
                    meaning,
                    opening,
                    doc.startswith(FACT_PREFIX),
                    _subject(tokens, sentence, nodes, self.asked),
                    sentence,
                    getattr(hit, "names", 0.0) >= most_names,
                )
            )
        if cfg.spread > 0:
            self._spread()

    def _activate(self, node: int, value: float, why: str) -> None:
        if value > self.activation[node]:
            self.activation[node] = value
        if len(self.sources[node]) < 3 and why not in self.sources[node]:
            self.sources[node].append(why)

    def _spread(self) -> None:
        seeds = np.flatnonzero(self.activation)
        spread = np.zeros_like(self.activation)
        for node in seeds:
            for rel in ("assoc", "link"):
                idx, w = self.snap.successor_arrays(rel, int(node))
                if len(idx):
                    idx, w = np.asarray(idx[:16]), np.asarray(w[:16], np.float32)
                    np.maximum.at(spread, idx, self.activation[node] * w / w.max())
        self.activation = np.maximum(self.activation, self.config.spread * spread)

    def observe(self, node: int, copy_source: tuple | None = None, surface: str = "") -> None:
        """A word was written: it stops pulling as hard (the answer should move on); a copy of a word the
        question does not hold binds the sentence to its document until the sentence ends ("Coyote" may
        have come from the mythology article, yet "Coyote is a" goes on in the animal's)."""
        self.written.append(node)
        self.activation[node] *= self.config.activation_written
        self.drafted[node] = 0.0  # a drafted item once written: the list moves on to the next
        self.last_copy = tuple(copy_source[:2]) if copy_source is not None else None
        said = node not in self.asked and self.lex.kinds[node] != "punct"
        if said and fold(self.lex.surfaces[node]) not in STOPWORDS:
            self.echo_only = False
        if copy_source is not None and node not in self.asked:  # an echo of the question binds to no document
            self.sentence_doc = self.passage(copy_source[0]).doc
        if surface in SENTENCE_END:
            self.sentence_doc = None

    def propose(self) -> Proposal:
        n = len(self.activation)
        copy = np.zeros(n, np.float32)
        copy_from: dict[int, tuple[int, int, int]] = {}
        tail = self.written[-3:]
        held: set[int] = set()  # nodes whose copy goes on in the sentence the question points to
        for p in self.passages:
            rho = p.rho
            if self.sentence_doc is not None and p.doc != self.sentence_doc:
                continue
            if not p.named:  # another Zornim's passage: "Zornim Lanmirarn is…" is no answer to "Who was Zornim
                continue  # Calvenquel?", at the start or further on
            if not tail:  # the first step: a passage opens the answer on a word the question names, or
                if p.nodes and p.nodes[0] in self.asked:  # where its sentence holding most of the question starts
                    self._copy(copy, copy_from, p, 0, rho * self.config.copy_opening, 0)
                elif p.subject is not None and p.subject[0] > 0:  # or on that word past an opening phrase
                    self._copy(copy, copy_from, p, p.subject[1], rho * self.config.copy_opening, 0)
                if p.opening is not None and p.opening[1] >= self.config.sentence_opening:
                    self._copy(copy, copy_from, p, p.opening[0], rho * self.config.copy_opening * p.opening[1], 0)
                continue
            for pos in p.where.get(tail[-1], ()):
                length = 1
                while length < len(tail) and pos - length >= 0 and p.nodes[pos - length] == tail[-1 - length]:
                    length += 1
                if pos + 1 < len(p.nodes):
                    anchored = self._anchored(p, pos) or self._restates(p, pos)
                    ongoing = anchored or self.last_copy == (p.id, pos)
                    weight = 1.0 if ongoing else max(p.meaning[pos - length + 1 : pos + 1])
                    if self._copy(copy, copy_from, p, pos + 1, rho * length * weight, length):
                        held.discard(p.nodes[pos + 1])
                        if anchored:
                            held.add(p.nodes[pos + 1])
        parts = {
            "activation": self.activation.copy(),
            "copy": copy,
            "next2": self._ngram(2) if self.config.w_next2 else self._none,  # weight 0 (the default): not
            "next": self._ngram(1) if self.config.w_next else self._none,  # looked up on every step
            "verdict": self._verdict() if self.config.w_verdict else self._none,
            "draft": self.drafted.copy() if self.drafted_any else self._none,
        }
        empty = frozenset(name for name, arr in parts.items() if arr is self._none)
        return Proposal(parts, copy_from, held, empty)

    def _anchored(self, p: Passage, pos: int) -> bool:
        """The whole answer so far, ending at `pos`, is the start of a sentence the question points to (the
        passage's opening on a word asked, with or without its leading function words or an opening phrase,
        or its sentence holding most of the question): "Time is" goes on as "Time is the continuous
        progression…", "Coyote is a" as "The coyote is a species of canine", and "Lepton is" as "In particle
        physics, a lepton is an elementary particle", though they matched only the question and function words."""
        start = pos + 1 - len(self.written)
        opens = p.subject is not None and p.subject[0] <= start <= p.subject[1]
        points = p.opening is not None and start == p.opening[0] and p.opening[1] >= self.config.sentence_opening
        return (opens or points) and p.nodes[start : pos + 1] == self.written

    def _restates(self, p: Passage, pos: int) -> bool:
        """The answer so far says only what the question said ("Lighting is") and `pos` is the first place
        of its last word in the passage's opening sentence on a word asked ("Lighting or illumination is
        the deliberate use of light…"): that sentence is what the answer goes on to say."""
        if not self.echo_only or p.subject is None or pos <= p.subject[1]:
            return False
        at = p.subject[1]
        return p.sentence[pos] == p.sentence[at] and p.nodes.index(p.nodes[pos], at) == pos

    @staticmethod
    def _copy(copy: np.ndarray, copy_from: dict, p: Passage, pos: int, value: float, length: int) -> bool:
        node = p.nodes[pos]
        if value > copy[node]:
            copy[node] = value
            copy_from[node] = (p.id, pos, length)
            return True
        return False

    def _ngram(self, order: int) -> np.ndarray:
        out = np.zeros(len(self.activation), np.float32)
        if len(self.written) >= order:
            if order == 1:
                idx, w = self.snap.successor_arrays("next", self.written[-1])
            else:
                idx, w = self.snap.successor_arrays("next2", self.written[-1], ctx=self.written[-2])
            out[np.asarray(idx)] = np.asarray(w, np.float32)
        return out

    def passage(self, pid: int) -> Passage:
        return next(p for p in self.passages if p.id == pid)

    def copied_surface(self, source: tuple[int, int, int]) -> str:
        """A copied word as its passage writes it."""
        pid, pos, _ = source
        return self.passage(pid).surfaces[pos]

    def _verdict(self) -> np.ndarray:
        """Users' summed ratings of this choice after the same two words (the start of an answer is `</s>`)."""
        ctx, src = ([END_ID, END_ID] + self.written)[-2:]
        idx, w = self.snap.successor_arrays("verdict", src, ctx=ctx)
        if not len(idx):  # no rating after these words (most steps): the shared empty part
            return self._none
        out = np.zeros(len(self.activation), np.float32)
        out[np.asarray(idx)] = np.asarray(w, np.float32)
        return out

    def continuation(self, source: tuple[int, int, int], max_words: int) -> list[tuple[int, str]]:
        """The passage words after a copied one, as (node, surface) (verified speculatively, in one forward)."""
        pid, pos, _ = source
        p = self.passage(pid)
        return list(zip(p.nodes[pos + 1 : pos + 1 + max_words], p.surfaces[pos + 1 : pos + 1 + max_words], strict=True))


def asked_words(word_id, text: str) -> set[int]:
    """The node ids of a prompt's words (punctuation aside): what an answer echoes rather than says."""
    return {node for tok in split(text) if tok.kind != "punct" and (node := word_id(tok.surface)) is not None}


def _subject(tokens: list, sentence: list[int], nodes: list[int], asked: set[int]) -> tuple[int, int] | None:
    """(start of its phrase, position) of the first word asked in a passage's first sentence, within
    `SUBJECT_REACH` tokens, where a clause starts: at the start with up to `LEAD_MAX` function words ("The
    coyote"), or after an opening phrase ("In particle physics, a lepton", "In Greek mythology, Medusa"),
    not inside another name ("The rhesus macaque" is not about the macaque). None: the opening is about
    something else (`sentence`: each token's sentence index)."""
    for i, (t, node) in enumerate(zip(tokens[:SUBJECT_REACH], nodes, strict=False)):
        if sentence[i] != sentence[0]:
            return None
        if t.kind != "punct" and t.key not in STOPWORDS and node in asked:  # a word or a number ("1973")
            start = i
            while start > 0 and i - start < LEAD_MAX and tokens[start - 1].kind != "punct":
                if tokens[start - 1].key not in STOPWORDS:
                    return None  # a word that is no function word before it: a longer name, a modifier
                start -= 1
            return (start, i) if start == 0 or tokens[start - 1].kind == "punct" else None
    return None


def _best_sentence(tokens: list, sentence: list[int], asked: Asked, lang: str | None) -> tuple[int, float] | None:
    """(start position, share of the question) of the passage sentence that holds the most of what is
    asked (None: no sentence holds any of it)."""
    best: tuple[int, float] | None = None
    for _, run in groupby(range(len(tokens)), key=sentence.__getitem__):
        span = list(run)
        if tokens[span[0]].kind == "punct":
            continue
        share = asked.share(" ".join(tokens[i].surface for i in span), lang)
        if share > 0 and (best is None or share > best[1]):
            best = (span[0], share)
    return best
