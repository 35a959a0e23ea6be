"""Track adherence: how often the selector picks a track's next word when the graph proposes it.

For each held-out pair, the candidates are the graph's top `next` successors of the context's last word
plus the track's next word (the first word of the continuation); the selector picks the candidate whose
first subword has the highest log-prob after the context, as it does in the runtime when graph scores tie.
Measured with the adapter switched off (before) and on (after), on the same backend.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from adapters.dataset import Example
from selector import Backend

WORD = re.compile(r"\w+(?:['’-]\w+)*|[^\w\s]")
PROPOSALS = 16


def _choices(backend: Backend, snap: Any, examples: list[Example]) -> tuple[list[bool], list[bool]]:
    picked, proposed = [], []
    tok = backend.tokenizer
    for example in examples:
        words = WORD.findall(example.context)
        target = WORD.findall(example.continuation)[0]
        graph = [n.surface for n in snap.next(words[-1], k=PROPOSALS)] if words else []
        proposed.append(target.lower() in {g.lower() for g in graph})
        cased = [g[:1].upper() + g[1:] if target[:1].isupper() else g for g in graph]  # a sentence start
        candidates = [g for g in cased if g.lower() != target.lower()] + [target]
        ids = list(tok(example.context)["input_ids"])
        logprobs = backend.start(ids).logprobs
        firsts = [tok.encode(" " + c, add_special_tokens=False)[0] for c in candidates]
        picked.append(int(np.argmax([logprobs[f] for f in firsts])) == len(candidates) - 1)
    return picked, proposed


def adherence(backend: Backend, snap: Any, examples: list[Example]) -> dict[str, Any]:
    """Rates before (adapter off) and after (on), over all pairs and over those the graph proposes."""
    after, proposed = _choices(backend, snap, examples)
    with backend.base_only():
        before, _ = _choices(backend, snap, examples)

    def rate(values: list[bool], where: list[bool]) -> float | None:
        chosen = [v for v, w in zip(values, where, strict=True) if w]
        return round(float(np.mean(chosen)), 4) if chosen else None

    everywhere = [True] * len(examples)
    return {
        "pairs": len(examples),
        "proposed_by_graph": int(sum(proposed)),
        "before": {"all": rate(before, everywhere), "when_proposed": rate(before, proposed)},
        "after": {"all": rate(after, everywhere), "when_proposed": rate(after, proposed)},
        "adapter": backend.adapter_label,
    }
