"""Two models side by side on one text, aligned on words so different tokenizers compare.

Each model's token surprisals are summed per word (a token belongs to the word its first non-space
character falls in); the first word has no context in either model and is left out. Emergence depth is
the first hidden index from which the actual next token stays top-1 under the logit lens, as a fraction
of the model's depth, averaged over the positions where the model ends up right.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from adapters.probes.heads import head_classes
from adapters.probes.response_map import DEFAULT_MAX_TOKENS, Progress, encode_checked, first_stable, measure, model_info
from selector import ProbeModel

WORD = re.compile(r"\w+(?:['’-]\w+)*|[^\w\s]")


def words(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in WORD.finditer(text)]


def word_surprisal(text: str, spans: list[tuple[int, int]], surprisal: np.ndarray) -> list[float | None]:
    """Surprisal per word of `text`: the sum over the tokens that start inside it (None for the first word,
    or a word reached only by a token that has no left context)."""
    bounds = words(text)
    starts = np.array([s for s, _ in bounds])
    total = [0.0] * len(bounds)
    known = [True] * len(bounds)
    seen = [False] * len(bounds)
    for t, (s, e) in enumerate(spans):
        if e <= s:
            continue  # special tokens have empty spans
        while s < e and text[s].isspace():
            s += 1
        w = int(np.searchsorted(starts, s, side="right")) - 1
        if w < 0 or s >= bounds[w][1]:
            continue  # whitespace-only token
        seen[w] = True
        # a token's surprisal is how unexpected it was, so position t's comes from predicting it at t-1
        value = surprisal[t - 1] if t > 0 else np.nan
        if np.isnan(value):
            known[w] = False
        else:
            total[w] += float(value)
    out = [round(total[w], 4) if seen[w] and known[w] else None for w in range(len(bounds))]
    if out:
        out[0] = None
    return out


def _side(probe: ProbeModel, text: str, max_tokens: int, progress: Progress | None) -> dict[str, Any]:
    ids, spans = encode_checked(probe, text, max_tokens)
    result = measure(probe, ids, attention=False, progress=progress)
    depth = [d for d in first_stable(result.rank, 1) if d is not None]
    heads = head_classes(probe)
    return {
        "model": model_info(probe),
        "tokens": len(ids),
        "token_surprisal": [None if np.isnan(v) else round(float(v), 4) for v in result.surprisal],
        "word_surprisal": word_surprisal(text, spans, result.surprisal),
        "mean_surprisal_per_word": None,
        "emergence_depth_fraction": None if not depth else round(float(np.mean(depth)) / probe.n_layers, 4),
        "final_top1_rate": round(float(np.mean(result.rank[-1][result.rank[-1] > 0] == 1)), 4),
        "head_counts": heads["counts"],
        "head_thresholds": heads["thresholds"],
    }


def compare(
    a: ProbeModel,
    b: ProbeModel,
    text: str,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    top: int = 10,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The JSON report: both sides, and the words where their surprisal differs most."""
    sides = [_side(a, text, max_tokens, progress), _side(b, text, max_tokens, progress)]
    bounds = words(text)
    rows = []
    for w, (s, e) in enumerate(bounds):
        sa, sb = sides[0]["word_surprisal"][w], sides[1]["word_surprisal"][w]
        if sa is not None and sb is not None:
            rows.append({"word": text[s:e], "index": w, "a": sa, "b": sb, "difference": round(sb - sa, 4)})
    for side in sides:
        values = [v for v in side["word_surprisal"] if v is not None]
        side["mean_surprisal_per_word"] = round(float(np.mean(values)), 4) if values else None
    return {
        "version": 1,
        "kind": "compare",
        "text": text,
        "words": [text[s:e] for s, e in bounds],
        "a": sides[0],
        "b": sides[1],
        "disagreements": sorted(rows, key=lambda r: -abs(r["difference"]))[:top],
        "surprisal_units": "nats",
    }
