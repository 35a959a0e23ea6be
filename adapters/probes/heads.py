"""Head classes from the standard detectors, run on repeated random tokens.

A sequence of `length` random ordinary tokens is written twice. Per head, averaged over `samples` seeded
sequences:
- previous-token score: attention from each position to the one before it (whole sequence);
- induction score: attention from a token in the second copy to the token *after* its first occurrence
  (the head that completes "A B … A → B");
- duplicate-token score: attention from a token in the second copy to its first occurrence;
- sink score: attention to the first position.
A head belongs to a class when its score reaches the class threshold below. On random tokens a head
spreading attention evenly over a prefix of n tokens scores about ln(n)/n, so these thresholds sit far
above chance. The thresholds are recorded in every report.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from selector import ProbeModel

THRESHOLDS = {"previous_token": 0.4, "induction": 0.4, "duplicate_token": 0.4, "sink": 0.6}
DETECTOR_LENGTH = 40
DETECTOR_SAMPLES = 4


def random_tokens(probe: ProbeModel, length: int, seed: int) -> list[int]:
    """Ordinary tokens (no special ids) drawn uniformly with a fixed seed."""
    special = set(probe.tokenizer.all_special_ids)
    rng = np.random.default_rng(seed)
    out: list[int] = []
    vocab = len(probe.tokenizer)
    while len(out) < length:
        token = int(rng.integers(0, vocab))
        if token not in special and token not in out:
            out.append(token)
    return out


def head_scores(
    probe: ProbeModel, length: int = DETECTOR_LENGTH, samples: int = DETECTOR_SAMPLES
) -> dict[str, np.ndarray]:
    """Detector scores, each (layers, heads)."""
    scores = {kind: np.zeros((probe.n_layers, probe.n_heads)) for kind in THRESHOLDS}
    prefix = probe.encode("")[0]  # the model's own start tokens, if it uses any
    for seed in range(samples):
        body = random_tokens(probe, length, seed)
        ids = prefix + body + body
        first = len(prefix)  # where the first copy starts
        second = np.arange(first + length, len(ids))  # positions in the second copy
        rows = np.arange(1, len(ids))

        def collect(layer: int, weights: Any, rows: np.ndarray = rows, second: np.ndarray = second) -> None:
            w = weights.numpy()  # (H, T, T)
            scores["previous_token"][layer] += w[:, rows, rows - 1].mean(-1) / samples
            scores["induction"][layer] += w[:, second, second - length + 1].mean(-1) / samples
            scores["duplicate_token"][layer] += w[:, second, second - length].mean(-1) / samples
            scores["sink"][layer] += w[:, rows, 0].mean(-1) / samples

        probe.forward(ids, on_attention=collect)
    return scores


def classify(scores: dict[str, np.ndarray]) -> dict[str, list[dict[str, Any]]]:
    """Heads at or over each threshold, strongest first."""
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, threshold in THRESHOLDS.items():
        layer, head = np.nonzero(scores[kind] >= threshold)
        found = [
            {"layer": int(i), "head": int(j), "score": round(float(scores[kind][i, j]), 4)}
            for i, j in zip(layer, head, strict=True)
        ]
        out[kind] = sorted(found, key=lambda h: -h["score"])
    return out


def head_classes(probe: ProbeModel, length: int = DETECTOR_LENGTH, samples: int = DETECTOR_SAMPLES) -> dict[str, Any]:
    """The JSON report: scores per class as (layers × heads), the thresholds, and the classified heads."""
    scores = head_scores(probe, length, samples)
    classes = classify(scores)
    return {
        "version": 1,
        "kind": "heads",
        "model": {"id": probe.model_id, "checksum": probe.loaded.checksum, "adapter": probe.adapter},
        "layers": probe.n_layers,
        "heads": probe.n_heads,
        "detector": {"sequence": "random tokens written twice", "length": length, "samples": samples},
        "thresholds": dict(THRESHOLDS),
        "scores": {kind: np.round(v, 4).tolist() for kind, v in scores.items()},
        "classes": classes,
        "counts": {kind: len(v) for kind, v in classes.items()},
    }


def head_set(report: dict[str, Any]) -> set[tuple[str, int, int]]:
    """(class, layer, head) triples, for overlap between two models (Jaccard)."""
    return {(kind, h["layer"], h["head"]) for kind, heads in report["classes"].items() for h in heads}


def jaccard(a: set, b: set) -> float:
    return 1.0 if not a and not b else len(a & b) / len(a | b)
