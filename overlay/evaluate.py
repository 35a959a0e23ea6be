"""Measured against the LLM alone: next-word prediction, knowledge recall, speed (keys as in DESIGN.md).

The overlay is evaluated exactly as it runs: the same candidates, masks and blocks as in generation
(punctuation and the end node included), no eval-only narrowing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from graph_store import END_ID, document_of, join_original, search, split

from .accumulator import asked_words
from .config import RuntimeConfig
from .errors import OverlayError
from .prompting import passage_context, with_passages
from .runtime import Runtime

RECALL_K = (8, 16, 32)
Progress = Callable[[int, int], None]


class EvalInputError(OverlayError):
    pass


def read_jsonl(path: Path, required: tuple[str, ...]) -> list[dict[str, Any]]:
    if not path.is_file():
        raise EvalInputError(f"{path}: no such file")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalInputError(f"{path}:{n}: malformed JSON ({exc.msg})") from None
        missing = [k for k in required if k not in row]
        if missing:
            raise EvalInputError(f"{path}:{n}: missing {', '.join(missing)}")
        rows.append(row)
    if not rows:
        raise EvalInputError(f"{path}: no rows")
    return rows


def half(rows: list[Any], which: str) -> list[Any]:
    """All rows, or the first or second half of a dev file (tune on one, report the other)."""
    mid = (len(rows) + 1) // 2
    return {"all": rows, "first": rows[:mid], "second": rows[mid:]}[which]


def _first_word(text: str) -> str:
    tokens = split(text)
    return tokens[0].surface if tokens else ""


def _in_graph(rt: Runtime, text: str) -> bool:
    """True when the document (its opening) is already a passage of the graph: no measuring on training text."""
    head = " ".join(text.split()[:30])
    return any(head[:120] in " ".join(h.text.split()) for h in search(rt.snap, head, 3))


def positions(docs: list[dict[str, Any]], n: int) -> list[tuple[int, int]]:
    """(document, token index) of word positions after the first 8 words, spread evenly over documents."""
    per_doc = []
    for d, doc in enumerate(docs):
        toks = split(doc["text"])
        word_idx = [i for i, t in enumerate(toks) if t.kind != "punct"]
        per_doc.append([(d, i) for i in word_idx[8:]])
    quota = -(-n // max(1, len(docs)))
    chosen = []
    for cands in per_doc:
        if cands:
            take = np.linspace(0, len(cands) - 1, min(quota, len(cands))).round().astype(int)
            chosen.extend(cands[i] for i in sorted(set(take)))
    if len(chosen) > n:
        chosen = [chosen[i] for i in np.linspace(0, len(chosen) - 1, n).round().astype(int)]
    return chosen


def next_word(
    rt: Runtime,
    docs: list[dict[str, Any]],
    max_positions: int = 400,
    config: RuntimeConfig | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    cfg = (config or rt.config).model_copy(update={"chat": False, "max_words": 1})
    for doc in docs:
        if _in_graph(rt, doc["text"]):
            raise EvalInputError(
                f"document {doc.get('id') or doc.get('title')!r} is already in the graph: "
                "ingest with --exclude-titles to hold it out"
            )
    pos = positions(docs, max_positions)
    hits = {"overlay": 0, "llm_only": 0, "graph_only": 0}
    recall = dict.fromkeys([*map(str, RECALL_K), "all"], 0)
    start = time.perf_counter()
    overlay_seconds = 0.0
    for done, (d, i) in enumerate(pos):
        toks = split(docs[d]["text"])
        context, gold = join_original(toks[:i]), toks[i].key
        t = time.perf_counter()
        state, ids, _ = rt.prepare(context, cfg)
        session = rt.backend.start(ids)
        lp = session.logprobs
        # the runtime's own decision: choose, then spell the winner out (a refused word is replaced)
        step = rt.commit(state, session, rt.choose(state, lp, cfg, 0), lp, cfg).step
        rt.backend.crop(session, len(ids), lp)
        overlay_seconds += time.perf_counter() - t
        hits["overlay"] += step.text.casefold() == gold
        sc = rt.score(state, lp, cfg)
        graph = np.where(sc.mask, sc.g, -np.inf)
        order = np.argsort(-graph, kind="stable")
        hits["graph_only"] += state.lex.surfaces[order[0]].casefold() == gold
        gold_id = state.lex.word_id(gold)
        if gold_id is not None and sc.mask[gold_id]:
            recall["all"] += 1
            rank = int(np.flatnonzero(order == gold_id)[0])
            for k in RECALL_K:
                recall[str(k)] += rank < k
        hits["llm_only"] += _first_word(_greedy_text(rt, session, 6)).casefold() == gold
        if progress:
            progress(done + 1, len(pos))
    n = len(pos)
    return {
        "positions": n,
        "overlay": {"top1": hits["overlay"] / n, "ms_per_pos": 1000 * overlay_seconds / n},
        "llm_only": {"top1": hits["llm_only"] / n},
        "graph_only": {"top1": hits["graph_only"] / n},
        "candidate_recall": {k: v / n for k, v in recall.items()},
        "seconds": time.perf_counter() - start,
        "config": cfg.model_dump(),
    }


def _greedy_text(rt: Runtime, session: Any, max_tokens: int) -> str:
    """Plain greedy decoding continuing a started session (shares the overlay's prefill)."""
    out: list[int] = []
    lp = session.logprobs
    for _ in range(max_tokens):
        tok = int(np.argmax(lp))
        if tok in rt.backend.eos_ids:
            break
        out.append(tok)
        text = rt.backend.tokenizer.decode(out)
        if len(split(text)) > 1:
            break
        lp = rt.backend.feed(session, [tok])[-1]
    return rt.backend.tokenizer.decode(out)


def contains(text: str, answers: list[str]) -> bool:
    return any(re.search(rf"(?<!\w){re.escape(a)}(?!\w)", text, re.IGNORECASE) for a in answers)


FIRST_SENTENCE_WORDS = 30
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def first_sentence(text: str) -> str:
    """What a reader takes from an answer: up to the first `.`, `!` or `?` that ends a sentence (not the
    dot of "2.5"), at most 30 words."""
    m = _SENTENCE_END.search(text)
    head = text[: m.end()] if m else text
    return _truncate_words(head, FIRST_SENTENCE_WORDS)


def within_words(text: str, n: int) -> str:
    """The first n words of a reply (punctuation does not count as a word)."""
    tokens, words = split(text), 0
    for i, t in enumerate(tokens):
        words += t.kind != "punct"
        if words > n:
            return join_original(tokens[:i])
    return text.strip()


def stitched(answer: Any, snap: Any, asked: frozenset[int] = frozenset()) -> bool:
    """A sentence whose copied words come from passages of two different documents: one entity's facts
    continued from another's passage, as if they were the same subject (read from the copy sources). An
    echo of the question's own words (`asked`, node ids) is no passage's fact: "Coyote" copied from the
    mythology article, then "is a species of canine" from the animal's, is one subject."""
    docs: set[str] = set()
    for step in answer.steps:
        if step.copy_source is not None and step.winner.node not in asked:
            p = snap.passage(step.copy_source[0])
            docs.add(document_of(p))
            if len(docs) > 1:
                return True
        if step.text in (".", "!", "?") or step.winner.node == END_ID:
            docs = set()
    return False


def loops(text: str, n: int = 4) -> bool:
    """An answer loops when some n-gram of words occurs twice."""
    words = [t.key for t in split(text) if t.kind != "punct"]
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(grams) != len(set(grams))


def _truncate_words(text: str, n: int) -> str:
    tokens = split(text)
    return join_original(tokens[:n]) if len(tokens) > n else text.strip()


def plain_answer(rt: Runtime, prompt: str | list[dict[str, str]], max_words: int) -> tuple[str, float]:
    ids = rt.backend.prompt_ids(prompt, chat=True)
    t = time.perf_counter()
    out = rt.backend.generate(ids, max_new_tokens=int(max_words * 2))
    seconds = time.perf_counter() - t
    return _truncate_words(rt.backend.tokenizer.decode(out, skip_special_tokens=True), max_words), seconds


def rag_prompt(rt: Runtime, question: str, cfg: RuntimeConfig) -> list[dict[str, str]]:
    hits = search(rt.snap, question, cfg.retrieval_k, cfg.lexical_weight)
    return with_passages(question, question, passage_context(hits))


def recall(
    rt: Runtime,
    rows: list[dict[str, Any]],
    config: RuntimeConfig | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    cfg = config or rt.config
    correct = dict.fromkeys(SYSTEMS, 0)
    first = dict.fromkeys(SYSTEMS, 0)
    looping = dict.fromkeys(SYSTEMS, 0)
    n_stitched = 0
    details = []
    for done, row in enumerate(rows):
        q, answers = row["question"], row["answers"]
        texts, was_stitched = three_answers(rt, q, cfg)
        n_stitched += was_stitched
        for name, text in texts.items():
            correct[name] += contains(text, answers)
            first[name] += contains(first_sentence(text), answers)
            looping[name] += loops(text)
        details.append(
            {"question": q, "answers": answers, "stitched": was_stitched}
            | {
                name: {
                    "text": t,
                    "correct": contains(t, answers),
                    "first_sentence": contains(first_sentence(t), answers),
                }
                for name, t in texts.items()
            }
        )
        if progress:
            progress(done + 1, len(rows))
    n = len(rows)
    out: dict[str, Any] = {"n": n}
    for name in SYSTEMS:
        out[name] = {"accuracy": correct[name] / n, "first_sentence": first[name] / n, "loops": looping[name]}
    out["overlay"]["stitched"] = n_stitched
    return out | {"details": details, "config": cfg.model_dump()}


SYSTEMS = ("overlay", "llm_only", "rag")


def three_answers(rt: Runtime, prompt: str, cfg: RuntimeConfig) -> tuple[dict[str, str], bool]:
    """The same prompt through the overlay, the LLM alone and RAG (same model, same passages), and whether
    the overlay's answer stitched passages of two documents into one sentence."""
    answer = rt.answer(prompt, cfg)
    texts = {
        "overlay": answer.text,
        "llm_only": plain_answer(rt, prompt, cfg.max_words)[0],
        "rag": plain_answer(rt, rag_prompt(rt, prompt, cfg), cfg.max_words)[0],
    }
    return texts, stitched(answer, rt.snap, frozenset(asked_words(rt.snap.word_id, prompt)))


def prompts(
    rt: Runtime,
    rows: list[dict[str, Any]],
    config: RuntimeConfig | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Everyday prompts by kind: a reply passes when one of `any` occurs, as a whole word or phrase and
    case-insensitively, within its first `within` words."""
    cfg = config or rt.config
    kinds: dict[str, int] = {}
    passed = {name: {} for name in SYSTEMS}
    n_stitched = 0
    details = []
    for done, row in enumerate(rows):
        kind = row["kind"]
        kinds[kind] = kinds.get(kind, 0) + 1
        texts, was_stitched = three_answers(rt, row["prompt"], cfg)
        n_stitched += was_stitched
        ok = {name: contains(within_words(t, int(row["within"])), row["any"]) for name, t in texts.items()}
        for name in SYSTEMS:
            passed[name][kind] = passed[name].get(kind, 0) + ok[name]
        details.append(
            {"prompt": row["prompt"], "kind": kind, "stitched": was_stitched}
            | {name: {"text": texts[name], "passed": ok[name]} for name in SYSTEMS}
        )
        if progress:
            progress(done + 1, len(rows))
    n = len(rows)
    out: dict[str, Any] = {"n": n, "kinds": kinds}
    for name in SYSTEMS:
        out[name] = {"all": sum(passed[name].values()) / n} | {k: passed[name][k] / c for k, c in kinds.items()}
    out["overlay"]["stitched"] = n_stitched
    return out | {"details": details, "config": cfg.model_dump()}
