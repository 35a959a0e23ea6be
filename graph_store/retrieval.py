"""Retrieval policy: which passages a question gets, from the snapshot's dense and lexical lookups.

Both indexes rank a pool of candidates; reciprocal-rank fusion (RRF, k = 60) merges them, the lexical side
weighted by `lexical_weight` (0: dense only), and a passage holding a rare word of the question (one that at
most 3 passages hold: a name) gains a first-rank share per such word, so a made-up name finds its passage even
when the dense model ranks it nowhere; a document the question names by its whole title ("What is Time?":
Time, not Time zone) gains up to `TITLE_SHARE` for its opening, as much as the title is what the question
asks; the few candidates holding the longest run of the question's words in its order gain one share (word
order, which both indexes lose); a question in a language the embedding model was not trained for is searched
by its words only. The best document's opening passage comes first when a later passage of it matched best
and the question names the document or that passage is near its start (an article's lead defines its
subject; deep in a long note it does not), and a document's passages keep their own order. Each hit keeps its
dense and lexical scores, for the trace and `overlay graph search`, and how much of the question it holds
(`coverage`, `names`: see `Asked`), from which the runtime judges whether the passages are evidence for this
question at all.
"""

from __future__ import annotations

from collections.abc import Collection

import regex

from .errors import NotFoundError
from .lexical import owner, passage_text, question_terms, terms
from .snapshot import Passage, PassageHit, Snapshot
from .snapshot_format import FACT_PREFIX
from .stopwords import STOPWORDS
from .text import SENTENCE_END, Token, split

RRF_K = 60
POOL = 20  # candidates each index proposes (at least), before fusion
LEAD_REACH = 3  # a best passage this close to its document's start brings the opening along
TITLE_SHARE = 2.0  # first-rank shares of a document's opening when its title is all the question asks
PHRASE_MIN = 3  # words in a run of the question's own words, holding 2 of its terms, that tells passages apart
PHRASE_FEW = 3  # a run more candidates than this hold tells none apart
FACT_REACH = 0.6  # share of the question a user's fact holds to be on it (`Asked.stated`)
MAX_TITLE = 80  # characters: the longest span of a question looked up as a title
TITLE_WHOLE = 0.9  # share of the question a lower-case title must hold to be what it asks ("what is a river?")


def fuse(
    dense: list[tuple[float, int]], lexical: list[tuple[float, int]], weight: float, rare: dict[int, float]
) -> list[tuple[float, int]]:
    """(fused score, passage id), best first: RRF over both rankings plus first-rank shares for the rare
    words of the question that a passage holds and the title it names (`rare`: passage id → shares)."""
    fused: dict[int, float] = {}
    for rank, (_, pid) in enumerate(dense):
        fused[pid] = fused.get(pid, 0.0) + 1.0 / (RRF_K + rank + 1)
    if weight > 0:
        for rank, (_, pid) in enumerate(lexical):
            fused[pid] = fused.get(pid, 0.0) + weight / (RRF_K + rank + 1)
        for pid, n in rare.items():
            fused[pid] = fused.get(pid, 0.0) + weight * n / (RRF_K + 1)
    return sorted(((s, pid) for pid, s in fused.items()), key=lambda x: (-x[0], x[1]))


def search(snap: Snapshot, text: str, k: int = 5, lexical_weight: float = 0.0) -> list[PassageHit]:
    """The k best passages for `text` (dense and lexical, fused), grouped by document, best document first.

    When the best passage is not its document's first, that opening passage comes too (k + 1 in all); so
    does a fact a user stated that ranks within the 2k best and is on the question (`Asked.stated`)
    (it outranks older passages on its subject, which the question may match better: "Which city is the
    capital of Italy?" ranks Milan and both Italy passages above "The capital of Italy is Warsaw.").
    """
    if k <= 0:
        return []
    pool = max(POOL, 4 * k)
    lexical = snap.lexical_nearest(text, pool) if lexical_weight > 0 else []
    # a question in a language the embedding model does not know is found by its words alone
    dense_searched = snap.dense_covers(text) or not lexical
    dense = snap.nearest(text, pool) if dense_searched else []
    rare: dict[int, float] = dict(_rare_matches(snap, text, [pid for _, pid in lexical]))
    asked = Asked.of(snap, text)
    subjects = set()  # documents whose title is all the question asks: what it is about
    for pid, share in _titles_named(snap, text, asked):  # a document the question names: its opening is the subject
        rare[pid] = rare.get(pid, 0) + TITLE_SHARE * share
        if share >= TITLE_WHOLE:
            subjects.add(document_of(snap.passage(pid)))
    for pid in _phrased(snap, text, asked, {pid for _, pid in dense} | {pid for _, pid in lexical}):
        rare[pid] = rare.get(pid, 0) + 1
    cosine, bm25 = {pid: s for s, pid in dense}, {pid: s for s, pid in lexical}
    found: list[tuple[Passage, float]] = []
    extra = 0
    fused = fuse(dense, lexical, lexical_weight, rare)
    for score, pid in fused[:k]:
        p = snap.passage(pid)
        if not found and (first := lead(snap, p)).id != p.id and asked.defined_by(first, p):
            found.append((first, score))
            extra = 1  # given on top of the k best
        if all(q.id != p.id for q, _ in found):
            found.append((p, score))
    found = found[: k + extra]
    for score, pid in fused[k : 2 * k]:
        p = snap.passage(pid)
        if asked.stated(p) and all(q.id != p.id for q, _ in found):
            found.append((p, score))
    hits = [
        PassageHit(
            p.id,
            score,
            p.title,
            p.text,
            cosine.get(p.id),
            bm25.get(p.id),
            *asked.held(p),
            p.doc_id,
            dense_searched,
            p.lang,
            asked.stated(p),
            document_of(p) in subjects,
        )
        for p, score in found
    ]
    deep = {p.id for p, _ in found if p.id - lead(snap, p).id >= LEAD_REACH}
    return in_document_order(hits, [document_of(p) for p, _ in found], deep)


def document_of(p: Passage | PassageHit) -> str:
    """The document a passage (or hit) belongs to: its id, else its title, else the passage itself."""
    return p.doc_id or p.title or f"#{p.id}"


_CASED = regex.compile(r"\p{Lu}")
# words that make what follows the assistant's own ("your name"): a topic of the chat, not of the graph
_ADDRESSEE = {"en": frozenset({"your"})}
_CASELESS = regex.compile(r"^[\p{L}\p{M}]+$")


class Asked:
    """What a question asks about, to tell how much of it a passage holds: its terms weighted by idf
    (numbers count, but a question of numbers alone, "2+2", asks about no topic), and its names
    (capitalised inside a sentence, or in a script without case, and rare in the graph)."""

    def __init__(
        self, weights: dict[str, float], names: set[str], lang: str | None = None, tokens: list[Token] | None = None
    ) -> None:
        self.weights, self.names, self.lang = weights, names, lang
        self.total = sum(weights.values())
        tokens = tokens or []
        self.words = {owner(t.key) for t in tokens if t.kind != "punct"}  # every word of the question, folded
        self.cased = {owner(t.key) for i, t in enumerate(tokens) if t.kind == "word" and _capitalised_inside(tokens, i)}

    @classmethod
    def of(cls, snap: Snapshot, text: str) -> Asked:
        index = snap.lexical_index()
        lang = index.language(text) if index is not None else None
        tokens = split(text)
        keys = set(question_terms(text, lang)) - _owned(tokens, lang)
        if not set(question_terms(" ".join(t.surface for t in tokens if t.kind == "word"), lang)):
            keys = set()  # only numbers: "2+2" asks about no topic
        weights = {k: index.idf(k) if index is not None else 1.0 for k in keys}
        names = set()
        for i, tok in enumerate(tokens):
            caseless = tok.surface.lower() == tok.surface.upper() and bool(_CASELESS.match(tok.surface))
            if tok.kind == "word" and (_capitalised_inside(tokens, i) or caseless):
                names.update(k for k in question_terms(tok.surface, lang) if index is None or index.rare(k))
        return cls(weights, names & keys, lang, tokens)

    def defined_by(self, first: Passage, best: Passage) -> bool:
        """Whether a document's opening passage belongs before its best one: when the question names the
        document (its title), or the best passage is near the start (an article's lead defines its
        subject); deep in a long note, the opening is about something else."""
        title = set(terms(first.title, first.lang)) if first.title else set()
        return (bool(title) and title <= set(self.weights)) or best.id - first.id < LEAD_REACH

    def echoes(self, word: str, lang: str | None) -> bool:
        """Whether a word says one of the question's terms, in any form ("Sponges" for "What is Sponge?")."""
        return any(k in self.weights for k in terms(word, lang))

    def share(self, text: str, lang: str | None) -> float:
        """The idf-weighted share of the question's terms that `text` (in `lang`) holds."""
        return self._coverage(set(terms(text, lang)))

    def _coverage(self, have: set[str]) -> float:
        return sum(w for k, w in self.weights.items() if k in have) / self.total if self.total else 0.0

    def stated(self, p: Passage) -> bool:
        """Whether p is a fact a user stated (`add_text_live`) on what is asked: it holds every name the
        question asks about, at least `FACT_REACH` of its terms ("Kazan Bormardru is a Peruvian bookbinder."
        holds 52% of "What is Khanate of Kazan?"), and the words it capitalises as whole names. Such a fact
        comes even from below the k best, and the runtime copies it harder: the user's word outranks what
        the model believes."""
        if not (p.doc_id or "").startswith(FACT_PREFIX) or not self._whole_names(split(p.text)):
            return False
        coverage, names = self.held(p)
        return coverage >= FACT_REACH and (not self.names or names == 1.0)

    def _whole_names(self, tokens: list[Token]) -> bool:
        """Whether a passage holds each capitalised word of the question it holds at all as a whole name:
        somewhere not inside a longer name the question does not say ("Kazan Bormardru is a bookbinder"
        is not about "What is Kazan?"; "The capital of New Zealand" is about New Zealand)."""
        runs: list[list[str]] = []  # runs of capitalised words, leading function words ("The") left out
        open_run = False
        for t in tokens:
            if t.kind != "word" or not _CASED.match(t.surface):
                open_run = False
            elif open_run:
                runs[-1].append(owner(t.key))
            elif t.key not in STOPWORDS:
                runs.append([owner(t.key)])
                open_run = True
        held = {k for run in runs for k in run} & self.cased
        return all(any(k in run and set(run) <= self.words for run in runs) for k in held)

    def held(self, p: Passage) -> tuple[float, float]:
        """(coverage, names) of one passage, title included."""
        have = _passage_terms(p)
        coverage = self._coverage(have)
        names = len(self.names & have) / len(self.names) if self.names else 0.0
        return coverage, names


def _capitalised_inside(tokens: list[Token], i: int) -> bool:
    """Token i starts with a capital inside a sentence: a name or a title, not a sentence's first word."""
    return i > 0 and tokens[i - 1].surface not in SENTENCE_END and bool(_CASED.match(tokens[i].surface))


def _owned(tokens: list[Token], lang: str | None) -> set[str]:
    """Terms the question says are the assistant's ("What is your name?", "your favourite colour"): they
    ask about the one answering, which no passage is about, unless the question also asks them plainly. A
    name stays asked ("your favourite Beatles album"), and a capital "Your" inside a sentence starts a
    title ("Who directed Your Name?")."""
    owners = _ADDRESSEE.get(lang or "en", frozenset())
    owned, plain, inside = [], [], False
    for i, tok in enumerate(tokens):
        named = _capitalised_inside(tokens, i)
        if tok.key in owners and not named:
            inside = True
        elif tok.kind == "punct" or not terms(tok.surface, lang):
            inside = False
        else:
            (owned if inside and not named else plain).append(tok.surface)
    return set(terms(" ".join(owned), lang)) - set(terms(" ".join(plain), lang))


_SPAN_START = regex.compile(r"(?<![\p{L}\p{M}\p{N}])[\p{L}\p{N}]")
_SPAN_END = regex.compile(r"[\p{L}\p{M}\p{N}](?![\p{L}\p{M}\p{N}])|\)")


def _titles_named(snap: Snapshot, text: str, asked: Asked) -> list[tuple[int, float]]:
    """(first passage, share of the question) of each document the question names by its whole title: as
    a name (capitalised inside a sentence, or in a script without case: "What is Time?", "the capital of
    France") or as all it asks ("what is a river?"), never by a common word in passing ("In one word, …"
    is not about Word). Where titles overlap the longest counts ("Western Front (World War I)", not
    "World War I")."""
    starts = [m.start() for m in _SPAN_START.finditer(text)]
    ends = [m.end() for m in _SPAN_END.finditer(text)]
    found: list[tuple[int, int, int, float]] = []  # (start, end, passage id, share)
    for a in starts:
        inside = bool(text[:a].strip()) and text[:a].rstrip()[-1] not in SENTENCE_END
        cased = text[a].lower() != text[a].upper()
        for b in ends:
            if b <= a or b - a > MAX_TITLE or (pid := snap.titled(text[a:b])) is None:
                continue
            share = asked.share(text[a:b], asked.lang)
            named = inside and (text[a].isupper() or not cased)
            if share > 0 and (named or share >= TITLE_WHOLE):
                found.append((a, b, pid, share))
    return [
        (pid, share)
        for a, b, pid, share in found
        if not any(c <= a and b <= d and (c, d) != (a, b) for c, d, _, _ in found)
    ]


def _phrased(snap: Snapshot, text: str, asked: Asked, pids: set[int]) -> list[int]:
    """The few candidates holding the longest run of the question's own words, function words and order
    included ("the first president of the United States" where the others say "the 28th president of the
    United States"): the order of words that the bag of words of either index loses. A run must hold two
    of the question's terms; one that many candidates hold tells none apart."""
    asked_keys = [t.key for t in split(text) if t.kind != "punct"]
    if len(asked_keys) < PHRASE_MIN:
        return []
    runs = {pid: _longest_run(asked_keys, [t.key for t in split(snap.passage(pid).text)]) for pid in pids}
    best = max(runs.values(), default=(0, 0))
    if best[0] < PHRASE_MIN:
        return []
    a, n = best[1], best[0]
    if len(set(terms(" ".join(asked_keys[a : a + n]), asked.lang)) & set(asked.weights)) < 2:
        return []
    holders = [pid for pid, run in runs.items() if run[0] == n]
    return sorted(holders) if len(holders) <= PHRASE_FEW else []


def _longest_run(asked: list[str], have: list[str]) -> tuple[int, int]:
    """(length, start in `asked`) of the longest run of `asked` that `have` holds in order, word for word."""
    at: dict[str, list[int]] = {}
    for j, h in enumerate(have):
        at.setdefault(h, []).append(j)
    best, prev = (0, 0), {}
    for i, a in enumerate(asked):
        cur = {j: prev.get(j - 1, 0) + 1 for j in at.get(a, ())}  # run ending at asked[i], have[j]
        for n in cur.values():
            if n > best[0]:
                best = (n, i - n + 1)
        prev = cur
    return best


def _rare_matches(snap: Snapshot, text: str, pids: list[int]) -> dict[int, int]:
    """Passage id → how many of the question's rare words (names) it holds, among the lexical candidates."""
    index = snap.lexical_index()
    if index is None or not pids:
        return {}
    rare = {t for t in index.query_terms(text) if index.rare(t)}
    if not rare:
        return {}
    out = {}
    for pid in pids:
        n = len(rare & _passage_terms(snap.passage(pid)))
        if n:
            out[pid] = n
    return out


def _passage_terms(p: Passage) -> set[str]:
    """A passage's lexical terms, title included, as its language stems them (as the index holds them)."""
    return set(terms(passage_text(p.title, p.text), p.lang))


def lead(snap: Snapshot, p: Passage) -> Passage:
    """The first passage of p's document (passages of a document have consecutive ids)."""
    while p.doc_id is not None:
        try:
            prev = snap.passage(p.id - 1)
        except NotFoundError:
            break
        if prev.doc_id != p.doc_id or snap.replaced(prev.id):
            break
        p = prev
    return p


def in_document_order(hits: list[PassageHit], docs: list[str], deep: Collection[int] = ()) -> list[PassageHit]:
    """Documents by their best hit; a document's opening passages in its own order, then its `deep` ones
    (far from its start) by rank.

    A question about a thing is best met by the opening of its article, which defines it; a later passage
    of the same article may match the words better ("Munich is located on the Isar…") yet says less. Deep
    in a long note, though, passages are about different things, and the best match says most.
    """
    best: dict[str, int] = {}
    for rank, doc in enumerate(docs):
        best.setdefault(doc, rank)
    order = sorted(
        range(len(hits)), key=lambda i: (best[docs[i]], hits[i].id in deep, i if hits[i].id in deep else hits[i].id)
    )
    return [hits[i] for i in order]
