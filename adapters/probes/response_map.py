"""The response map: how every layer of a model reacts to every token of a text.

Per position and hidden index (0 = embeddings, i + 1 = layer i's output): the residual norm, its drift
(cosine distance from the previous index, and from a second model or the base model when one is given),
the logit lens (top-5 and the rank of the actual next token), the output surprisal, and per head the
attention entropy and the shares given to the first token (sink), the previous token and earlier copies
of the same token. Texts longer than the model's window run in overlapping windows; each position is
taken from the window where it has the most left context, and "first token" means the window's first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adapters.errors import ProbeError
from selector import ProbeModel

ATTENTION_KINDS = ("entropy", "sink", "prev", "same")
DEFAULT_MAX_TOKENS = 4096
DEFAULT_WINDOW = 512
Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class WindowResult:
    """Arrays for one window; axis order is (index or layer, [head,] position)."""

    norm: np.ndarray  # (L+1, T)
    drift: np.ndarray  # (L, T)
    cross: np.ndarray | None  # (L+1, T)
    rank: np.ndarray  # (L+1, T) rank of the global next token, 1 = top; 0 where there is none
    top5: np.ndarray  # (L+1, T, 5) token ids
    top5_p: np.ndarray  # (L+1, T, 5)
    surprisal: np.ndarray  # (T,) nats; nan where there is no next token
    attention: dict[str, np.ndarray] = field(default_factory=dict)  # kind -> (L, H, T)


def _attention_collector(ids: list[int], n_layers: int, n_heads: int) -> tuple[dict[str, np.ndarray], Callable]:
    import torch

    T = len(ids)
    out = {kind: np.zeros((n_layers, n_heads, T), dtype=np.float32) for kind in ATTENTION_KINDS}
    tokens = torch.tensor(ids)
    same = (tokens[None, :] == tokens[:, None]) & torch.ones(T, T, dtype=torch.bool).tril(-1)
    idx = torch.arange(1, T)

    def collect(layer: int, weights: Any) -> None:  # (H, T, T)
        out["entropy"][layer] = (-(weights * weights.clamp_min(1e-12).log()).sum(-1)).numpy()
        out["sink"][layer] = weights[:, :, 0].numpy()
        prev = torch.zeros(weights.shape[0], T)
        prev[:, 1:] = weights[:, idx, idx - 1]
        out["prev"][layer] = prev.numpy()
        out["same"][layer] = (weights * same).sum(-1).numpy()

    return out, collect


def _cosine_distance(a: Any, b: Any) -> np.ndarray:
    import torch

    return (1 - torch.nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-12)).clamp_min(0).numpy()


def run_window(
    probe: ProbeModel, ids: list[int], next_ids: list[int | None], other: ProbeModel | None, attention: bool = True
) -> WindowResult:
    """All measures for one window. `next_ids[t]` is the token after position t in the whole text."""
    import torch

    collected, collect = _attention_collector(ids, probe.n_layers, probe.n_heads) if attention else ({}, None)
    fwd = probe.forward(ids, on_attention=collect)
    hidden = fwd.hidden
    cross = None
    if other is not None:
        with other.adapter_disabled():
            base = other.forward(ids).hidden
        cross = _cosine_distance(hidden, base)
    T = len(ids)
    has_next = torch.tensor([n is not None for n in next_ids])
    target = torch.tensor([n if n is not None else 0 for n in next_ids])
    rank = np.zeros((probe.n_layers + 1, T), dtype=np.int64)
    top5 = np.zeros((probe.n_layers + 1, T, 5), dtype=np.int64)
    top5_p = np.zeros((probe.n_layers + 1, T, 5), dtype=np.float32)
    for h in range(probe.n_layers + 1):
        logits = probe.lens(hidden[h])  # (T, vocab)
        probs = torch.softmax(logits, dim=-1)
        p, i = probs.topk(5, dim=-1)
        top5[h], top5_p[h] = i.numpy(), p.numpy()
        gold = logits.gather(1, target[:, None])
        rank[h] = torch.where(has_next, (logits > gold).sum(-1) + 1, 0).numpy()
    logp = torch.log_softmax(fwd.logits, dim=-1).gather(1, target[:, None])[:, 0]
    surprisal = torch.where(has_next, -logp, float("nan")).numpy()
    return WindowResult(
        norm=hidden.norm(dim=-1).numpy(),
        drift=_cosine_distance(hidden[1:], hidden[:-1]),
        cross=cross,
        rank=rank,
        top5=top5,
        top5_p=top5_p,
        surprisal=surprisal,
        attention=collected,
    )


def windows(total: int, size: int) -> list[tuple[int, int, int]]:
    """(start, end, keep_from): windows of `size` overlapping by a quarter; positions from keep_from on are
    taken from this window (earlier ones have more left context in the previous window)."""
    if total <= size:
        return [(0, total, 0)]
    overlap = size // 4
    stride = size - overlap
    out, start = [], 0
    while True:
        end = min(start + size, total)
        out.append((start, end, 0 if start == 0 else start + overlap))
        if end == total:
            return out
        start += stride


def first_stable(rank: np.ndarray, k: int) -> list[int | None]:
    """Per position, the first index from which the next token stays within the top k (None if it never
    ends there); rank has shape (L+1, T) with 0 meaning 'no next token'."""
    inside = (rank >= 1) & (rank <= k)
    out: list[int | None] = []
    for t in range(rank.shape[1]):
        column = inside[:, t]
        if rank[0, t] == 0 or not column[-1]:
            out.append(None)
            continue
        outside = np.flatnonzero(~column)
        out.append(int(outside[-1]) + 1 if outside.size else 0)
    return out


def _round(a: np.ndarray, digits: int = 4) -> list:
    return np.where(np.isfinite(a), np.round(a.astype(np.float64), digits), np.nan).tolist()


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return None if isinstance(value, float) and value != value else value


def encode_checked(probe: ProbeModel, text: str, max_tokens: int) -> tuple[list[int], list[tuple[int, int]]]:
    if not text.strip():
        raise ProbeError("the text is empty")
    ids, spans = probe.encode(text)
    if len(ids) > max_tokens:
        raise ProbeError(
            f"the text is {len(ids)} tokens, over the limit of {max_tokens}; pass a larger --max-tokens or a "
            "shorter text (texts are never cut silently)"
        )
    if len(ids) < 2:
        raise ProbeError("the text needs at least two tokens (a position and the token after it)")
    return ids, spans


def measure(
    probe: ProbeModel,
    ids: list[int],
    other: ProbeModel | None = None,
    attention: bool = True,
    window: int = DEFAULT_WINDOW,
    progress: Progress | None = None,
) -> WindowResult:
    """Run every window and stitch the kept positions into one WindowResult over the whole text."""
    size = max(8, min(window, probe.max_context))
    plan = windows(len(ids), size)
    T = len(ids)
    next_ids: list[int | None] = [*ids[1:], None]
    merged: WindowResult | None = None
    for done, (start, end, keep) in enumerate(plan):
        part = run_window(probe, ids[start:end], next_ids[start:end], other, attention)
        if merged is None:
            merged = _empty_like(part, T)
        src = slice(keep - start, end - start)
        dst = slice(keep, end)
        for name in ("norm", "drift", "rank", "top5", "top5_p", "cross"):
            if (value := getattr(part, name)) is not None:
                getattr(merged, name)[:, dst] = value[:, src]
        merged.surprisal[dst] = part.surprisal[src]
        for kind, value in part.attention.items():
            merged.attention[kind][:, :, dst] = value[:, :, src]
        if progress:
            progress(done + 1, len(plan))
    assert merged is not None
    return merged


def _empty_like(part: WindowResult, T: int) -> WindowResult:
    def grow(a: np.ndarray | None, axis: int) -> np.ndarray | None:
        if a is None:
            return None
        shape = list(a.shape)
        shape[axis] = T
        return np.zeros(shape, dtype=a.dtype)

    return WindowResult(
        norm=grow(part.norm, 1),
        drift=grow(part.drift, 1),
        cross=grow(part.cross, 1),
        rank=grow(part.rank, 1),
        top5=grow(part.top5, 1),
        top5_p=grow(part.top5_p, 1),
        surprisal=np.full(T, np.nan, dtype=np.float32),
        attention={kind: grow(v, 2) for kind, v in part.attention.items()},
    )


def model_info(probe: ProbeModel) -> dict[str, Any]:
    return {
        "id": probe.model_id,
        "checksum": probe.loaded.checksum,
        "adapter": probe.adapter,
        "layers": probe.n_layers,
        "heads": probe.n_heads,
    }


def response_map(
    probe: ProbeModel,
    text: str,
    other: ProbeModel | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    window: int = DEFAULT_WINDOW,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The JSON report (stable keys; arrays index hidden states 0..L or layers 0..L-1, then heads, then
    positions). `other` (a second model with the same tokenizer, or this model with its adapter) adds
    `cross_drift`."""
    ids, spans = encode_checked(probe, text, max_tokens)
    if other is not None and other is not probe:
        if other.encode(text)[0] != ids:
            raise ProbeError("the two models tokenize the text differently; use `overlay probe compare` instead")
        if (other.n_layers, other.hidden_size) != (probe.n_layers, probe.hidden_size):
            raise ProbeError(
                f"drift between models needs the same shape ({probe.n_layers} layers × {probe.hidden_size} vs "
                f"{other.n_layers} × {other.hidden_size}); use `overlay probe compare` for models of different sizes"
            )
    result = measure(probe, ids, other, attention=True, window=window, progress=progress)
    vocab = _decoder(probe)
    means = {kind: _round(np.nanmean(v, axis=2)) for kind, v in result.attention.items()}
    return _nan_to_none(
        {
            "version": 1,
            "kind": "map",
            "text": text,
            "models": [model_info(probe)] + ([model_info(other)] if other is not None and other is not probe else []),
            "compared_with": None if other is None else ("base" if other is probe else other.model_id),
            "window": min(window, probe.max_context),
            "windows": [list(w) for w in windows(len(ids), max(8, min(window, probe.max_context)))],
            "tokens": [
                {"index": t, "id": i, "text": vocab(i), "start": s, "end": e}
                for t, (i, (s, e)) in enumerate(zip(ids, spans, strict=True))
            ],
            "hidden_norm": _round(result.norm),
            "drift": _round(result.drift),
            "cross_drift": None if result.cross is None else _round(result.cross, 6),
            "logit_lens": {
                "rank": result.rank.tolist(),
                "top5": [
                    [
                        [[vocab(int(i)), round(float(p), 4)] for i, p in zip(ids5, ps, strict=True)]
                        for ids5, ps in zip(row, prow, strict=True)
                    ]
                    for row, prow in zip(result.top5, result.top5_p, strict=True)
                ],
                "first_top1": first_stable(result.rank, 1),
                "first_top10": first_stable(result.rank, 10),
            },
            "surprisal": _round(result.surprisal),
            "surprisal_units": "nats",
            "attention": {
                **{kind: _round(v) for kind, v in result.attention.items()},
                "head_means": means,
            },
        }
    )


def _decoder(probe: ProbeModel) -> Callable[[int], str]:
    cache: dict[int, str] = {}

    def decode(token: int) -> str:
        if token not in cache:
            cache[token] = probe.tokenizer.decode([token])
        return cache[token]

    return decode
