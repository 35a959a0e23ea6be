"""Score every candidate of a step: the LLM part (first-subword log-prob), the graph part, the blocks.

One next-token distribution scores every node at once: a word's LLM part is the log-prob of its first
subword (with or without a leading space, capitalised at a sentence start), and the total is
`llm + β·g` where the step's mask allows it (blocks: a repeated n-gram, the previous word again,
punctuation or the end first). The evidence parts of g are scaled by the step's trust (`trust.py`), and
log P_llm by the answer's LLM weight (below 1 in a language the selector does not write well, where the
first word is also one a passage opens with: the graph's copy carries such an answer).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graph_store import END_ID, SENTENCE_END, STOPWORDS, fold

from .accumulator import Proposal
from .config import RuntimeConfig
from .lexicon import QUOTES, Lexicon, cased, quote_state
from .state import AnswerState, Scored
from .trust import step_trust


def score(
    state: AnswerState,
    logprobs: np.ndarray,
    cfg: RuntimeConfig,
    eos: np.ndarray,
    excluded: Sequence[str] = (),
    safe_only: bool = False,
    only: np.ndarray | None = None,
) -> Scored:
    """Every candidate's LLM part (first subword), graph part and total, with the step's mask.

    `excluded` words were chosen and then refused by the LLM when spelled out: the LLM's mass on their
    first subword meant another word, so their unproposed group-mates are out too (a refused
    " isomorphism" says nothing good of " islets").
    """
    lex = state.lex
    prop = state.acc.propose()
    raw = prop.total(cfg)
    prev = state.surfaces[-1] if state.surfaces else state.prev_surface
    cap = prev is None or prev in SENTENCE_END
    quote = quote_state(state.surfaces)
    written = lex.written_as(cap, prev, quote)
    space, first, exact = written.space, written.first, written.exact
    # A word that shares its first subword with others borrows their probability. The graph's own
    # proposals only have to beat the word that *is* that subword (rank at most 1); the rest queue by
    # frequency and pay for being unverified, so a blocked " is" does not turn into " islets".
    proposed = raw > 0
    unproposed, backed = written.penalties(cfg.tie_penalty, cfg.inexact_penalty)
    llm = logprobs[first] - np.where(proposed, backed, unproposed)
    llm[END_ID] = logprobs[eos].max()
    copies = prop.parts["copy"] > 0
    upper = capitalised_copies(state, prop) if not cap else []
    if upper:  # a copy is written as its passage writes it ("the Organization of …"): so the LLM scores it
        capital = lex.written_as(True, prev, quote)
        backed_cap = capital.penalties(cfg.tie_penalty, cfg.inexact_penalty)[1]
        llm[upper] = logprobs[capital.first[upper]] - backed_cap[upper]
    p_graph = float(np.exp(llm[copies].max())) if copies.any() else 0.0
    w_llm = state.evidence.llm_weight
    # a user's fact, or the sentence the question points to as the answer restates it, is not gated
    held = bool(prop.held) or any(state.acc.passage(pid).fact for pid, _, _ in prop.copy_from.values())
    trust = step_trust(state.evidence.trust, float(np.exp(logprobs.max())), p_graph, cfg, w_llm, held)
    g = raw if trust == 1.0 else prop.total(cfg, trust)
    allowed = mask(state, cfg, prop)
    if w_llm < 1.0 and trust > 0 and not state.words and (allowed & copies).any():
        allowed &= copies  # in a language the selector barely knows, the answer opens where a passage does
    for word in excluded:
        node = lex.word_id(word)
        if node is not None:
            allowed[node] = False
            allowed[(first == first[node]) & ~exact & ~proposed] = False
    if safe_only:  # one subword (no spelling to check) but no lone letter, which only starts a word; or copied
        allowed &= (exact & ~lex.letter) | copies
        allowed[END_ID] = bool(state.words)
    if only is not None:
        allowed &= only
    total = (llm if w_llm == 1.0 else w_llm * llm) + cfg.beta * g
    return Scored(prop, llm, g, allowed, np.where(allowed, total, -np.inf), space, cap, trust)


def space_mask(lex: Lexicon, prev: str | None, quote: str = "") -> np.ndarray:
    """Which words would be written with a leading space after `prev` (and where quotes stand)."""
    return lex.written_as(False, prev, quote).space


def mask(state: AnswerState, cfg: RuntimeConfig, prop) -> np.ndarray:
    """The step's blocks: nothing but words (or an opening quote) first; never the previous word again,
    nor an item of a series again; no repeated n-gram."""
    allowed = state.allowed.copy()
    if not state.words:  # an answer may open with a quote ('"green"'), not with other punctuation
        quotes = state.lex.nodes_of(QUOTES)
        opening = allowed[quotes]
        allowed[state.lex.kinds == "punct"] = False
        allowed[quotes] = opening
        allowed[END_ID] = False
    else:
        allowed[state.words[-1]] = False
        allowed[repeated_items(state)] = False
        key = ngram_key(state, cfg)
        if key is not None:
            banned = state.seen.get(key, ())
            # a passage may repeat its own phrases ("the Greek War … the Greek War of Independence"):
            # continuing it is no loop as long as each passage position is copied once and no run of
            # n + 1 words comes twice ("The Solar System is … The Solar System is" reads as a loop)
            fresh = {n for n, (pid, pos, _) in prop.copy_from.items() if (pid, pos) not in state.copied}
            allowed[[n for n in banned if n not in fresh or _repeats(state, key, n)]] = False
    return allowed


SERIES = frozenset({",", ";"})  # what separates a series' items; other punctuation ends the series
JOINERS = frozenset({"and", "or"})


def repeated_items(state: AnswerState) -> list[int]:
    """Words that would write an item of the series being written again: one that completes an item
    already listed ("…, black olives, red grapes, black olives"; "basketball, …, basketball") or, just
    after a separator, the word before it ("rugby, rugby"). A series is split by commas and semicolons
    and ends at any other punctuation ("Whales: whales are…", a quote, a sentence's end). Only content
    words: "the king, the queen" and "New York, New Jersey" are prose."""
    lex = state.lex
    items: list[list[int]] = [[]]  # the last one is being written
    for node in state.words:
        if lex.kinds[node] != "punct":
            if items[-1] or fold(lex.surfaces[node]) not in JOINERS:  # "…, and X": the item is X
                items[-1].append(node)
        elif lex.surfaces[node] in SERIES:
            items.append([])
        else:
            items = [[]]
    *listed, now = items
    out = {item[len(now)] for item in listed if len(item) == len(now) + 1 and item[:-1] == now}
    if not now and listed and listed[-1]:
        out.add(listed[-1][-1])
    return [n for n in out if lex.kinds[n] == "word" and fold(lex.surfaces[n]) not in STOPWORDS]


def _repeats(state: AnswerState, key: tuple[int, ...], node: int) -> bool:
    """Whether the word before `key`, `key` and `node` were already written in this order."""
    words = [w for w in state.words if state.lex.kinds[w] != "punct"]
    run = tuple(words[-len(key) - 1 :]) + (node,)
    return len(run) == len(key) + 2 and any(
        tuple(words[i : i + len(run)]) == run for i in range(len(words) - len(run) + 1)
    )


def ngram_key(state: AnswerState, cfg: RuntimeConfig) -> tuple[int, ...] | None:
    """The last n-1 words (punctuation skipped, as a reader would: "the sea, and the sea and" repeats),
    whose earlier successors are blocked; a passage's own repeats pass as fresh copies (see `mask`)."""
    n = cfg.block_ngram
    if not n:
        return None
    words = [w for w in state.words[-4 * n :] if state.lex.kinds[w] != "punct"][-(n - 1) :]
    return tuple(words) if len(words) == n - 1 else None


def pick(scores: np.ndarray, cfg: RuntimeConfig, index: int) -> int:
    """Greedy, or seeded sampling among the 64 best (a run is deterministic given seed and step)."""
    if cfg.temperature <= 0:
        return int(np.argmax(scores))
    best = top_k(scores, 64)
    z = (scores[best] - scores[best[0]]) / cfg.temperature
    p = np.exp(z) / np.exp(z).sum()
    return int(best[np.random.default_rng([cfg.seed, index]).choice(len(best), p=p)])


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best finite scores, best first, ties by index (argpartition: no full sort)."""
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k]
    part = part[np.lexsort((part, -scores[part]))]
    return part[np.isfinite(scores[part])]


def written_form(state: AnswerState, node: int, cap: bool) -> str:
    return "" if node == END_ID else state.lex.written(node, cap)


def capitalised_copies(state: AnswerState, prop: Proposal) -> list[int]:
    """Copied words that their passage capitalises where the node is written in lower case (a name's word
    inside a sentence, "Organization" of a node most often written "organization")."""
    lex = state.lex
    return [
        n
        for n in prop.copy_from
        if (source := prop.source(n)) is not None
        and lex.surfaces[n] != lex.capitalized[n] == state.acc.copied_surface(source)
    ]


def written_text(state: AnswerState, node: int, sc: Scored) -> str:
    """A candidate as it would be written: a copied word as its passage writes it."""
    source = sc.prop.source(node) if node != END_ID else None
    if source is not None:
        return cased(state.acc.copied_surface(source), sc.cap)
    return written_form(state, node, sc.cap)
