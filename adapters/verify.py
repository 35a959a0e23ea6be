"""The imprint report: did distillation press the tracks into the selector, and did it do harm?

From outside the model: efficacy (training pairs) and generalisation (held-out variants) as the mean
log-prob gain of the continuation and the rate at which greedy decoding writes the whole continuation
(every token top-1 under teacher forcing); specificity as KL(base ‖ adapted) of the next-token
distribution over every position of the control texts, plus whether the control prompts the base model
answers right stay right; collateral damage as the perplexity ratio on held-out wiki passages.
From inside (the probes): hidden-state drift against the base at track positions vs control positions
per layer, the logit-lens index at which the track's next token becomes top-1 for good, and the overlap
of head classes with the base model. The verdict needs every threshold below.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters.dataset import Example, TrackData
from adapters.distill import encode_pair, pad_batch
from adapters.probes import head_classes, head_set, jaccard, measure
from selector import ProbeModel

THRESHOLDS: dict[str, tuple[str, float]] = {
    "efficacy_top1": (">=", 0.95),
    "heldout_top1": (">=", 0.8),
    "control_kl": ("<=", 0.02),
    "perplexity_ratio": ("<=", 1.02),
    "head_jaccard": (">=", 0.9),
}
PROBE_EXAMPLES = 16  # held-out pairs whose insides are probed
BATCH = 16


def _pad_id(tokenizer: Any) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def continuation_scores(probe: ProbeModel, examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    """Per example: summed log-prob of the continuation, and whether every continuation token is top-1."""
    import torch

    rows = [encode_pair(probe.tokenizer, e) for e in examples]
    lps, greedy = [], []
    for i in range(0, len(rows), BATCH):
        batch = pad_batch(rows[i : i + BATCH], _pad_id(probe.tokenizer))
        with torch.inference_mode():
            logp = torch.log_softmax(probe.model(input_ids=batch.ids, attention_mask=batch.mask).logits.float(), -1)
        labels = batch.labels[:, 1:]
        logp = logp[:, :-1]
        mask = labels != -100
        gold = logp.gather(2, labels.clamp_min(0)[..., None])[..., 0]
        top = logp.argmax(-1) == labels
        lps += ((gold * mask).sum(-1)).tolist()
        greedy += ((top | ~mask).all(-1)).tolist()
    return np.array(lps), np.array(greedy, dtype=bool)


def _side(probe: ProbeModel, examples: list[Example]) -> dict[str, Any]:
    adapted_lp, adapted_top = continuation_scores(probe, examples)
    with probe.adapter_disabled():
        base_lp, base_top = continuation_scores(probe, examples)
    by_variant = {}
    for variant in sorted({e.variant for e in examples}):
        idx = [i for i, e in enumerate(examples) if e.variant == variant]
        by_variant[variant] = {
            "n": len(idx),
            "top1": round(float(adapted_top[idx].mean()), 4),
            "base_top1": round(float(base_top[idx].mean()), 4),
        }
    return {
        "n": len(examples),
        "logprob_gain": round(float((adapted_lp - base_lp).mean()), 4),
        "logprob": round(float(adapted_lp.mean()), 4),
        "base_logprob": round(float(base_lp.mean()), 4),
        "top1": round(float(adapted_top.mean()), 4),
        "base_top1": round(float(base_top.mean()), 4),
        "by_variant": by_variant,
    }


def _logprobs(probe: ProbeModel, texts: list[str], max_tokens: int) -> list[Any]:
    import torch

    out = []
    for text in texts:
        ids = list(probe.tokenizer(text)["input_ids"])[:max_tokens]
        with torch.inference_mode():
            out.append(torch.log_softmax(probe.model(input_ids=torch.tensor([ids])).logits[0].float(), -1))
    return out


def specificity(probe: ProbeModel, data: TrackData) -> dict[str, Any]:
    import torch

    adapted = _logprobs(probe, data.control_texts, 128)
    with probe.adapter_disabled():
        base = _logprobs(probe, data.control_texts, 128)
    kl = torch.cat([(b.exp() * (b - a)).sum(-1) for a, b in zip(adapted, base, strict=True)])
    kept, base_right = 0, 0
    answers = []
    for prompt, answer in data.control_prompts:
        token = probe.tokenizer.encode(answer, add_special_tokens=False)[0]
        (after,) = [int(lp[-1].argmax()) for lp in _logprobs(probe, [prompt], 512)]
        with probe.adapter_disabled():
            (before,) = [int(lp[-1].argmax()) for lp in _logprobs(probe, [prompt], 512)]
        if before == token:
            base_right += 1
            kept += after == token
        answers.append(
            {"prompt": prompt, "answer": answer, "base_right": before == token, "adapted_right": after == token}
        )
    return {
        "control_kl": round(float(kl.mean()), 5),
        "control_kl_max": round(float(kl.max()), 5),
        "control_tokens": int(kl.numel()),
        "prompts_base_right": base_right,
        "prompts_kept": kept,
        "kept_rate": round(kept / base_right, 4) if base_right else None,
        "prompts": answers,
    }


def perplexity_ratio(probe: ProbeModel, passages: list[str], max_tokens: int = 128) -> dict[str, Any]:
    def nll(lps: list[Any]) -> float:
        total, count = 0.0, 0
        for lp, text in zip(lps, passages, strict=True):
            ids = list(probe.tokenizer(text)["input_ids"])[:max_tokens]
            gold = lp[:-1].gather(1, __import__("torch").tensor(ids[1:])[:, None])
            total -= float(gold.sum())
            count += len(ids) - 1
        return total / count

    adapted = nll(_logprobs(probe, passages, max_tokens))
    with probe.adapter_disabled():
        base = nll(_logprobs(probe, passages, max_tokens))
    return {
        "passages": len(passages),
        "perplexity": round(float(np.exp(adapted)), 4),
        "base_perplexity": round(float(np.exp(base)), 4),
        "perplexity_ratio": round(float(np.exp(adapted - base)), 5),
    }


def internal(probe: ProbeModel, data: TrackData) -> dict[str, Any]:
    """Drift at track vs control positions per hidden index, lens emergence of track tokens, head overlap."""
    track_drift, control_drift, depth_adapted, depth_base = [], [], [], []
    for example in data.heldout[:PROBE_EXAMPLES]:
        ids, start = encode_pair(probe.tokenizer, example)
        result = measure(probe, ids, other=probe, attention=False)
        positions = list(range(start - 1, len(ids) - 1))  # where each continuation token is predicted
        track_drift.append(result.cross[:, positions])
        with probe.adapter_disabled():
            base = measure(probe, ids, attention=False)
        for p in positions:
            a, b = _stable_top1(result.rank[:, p]), _stable_top1(base.rank[:, p])
            if a is not None and b is not None:
                depth_adapted.append(a)
                depth_base.append(b)
    for text in data.control_texts:
        ids = list(probe.tokenizer(text)["input_ids"])[:128]
        control_drift.append(measure(probe, ids, other=probe, attention=False).cross)
    track = np.concatenate(track_drift, axis=1).mean(1)
    control = np.concatenate(control_drift, axis=1).mean(1)
    adapted_heads = head_classes(probe)
    with probe.adapter_disabled():
        base_heads = head_classes(probe)
    return {
        "drift_track": np.round(track, 6).tolist(),
        "drift_control": np.round(control, 6).tolist(),
        "drift_selectivity": round(float(track[1:].mean() / max(control[1:].mean(), 1e-12)), 3),
        "lens_first_top1": {
            "positions": len(depth_adapted),
            "adapted": round(float(np.mean(depth_adapted)), 3) if depth_adapted else None,
            "base": round(float(np.mean(depth_base)), 3) if depth_base else None,
            "layers": probe.n_layers,
        },
        "head_counts": {"adapted": adapted_heads["counts"], "base": base_heads["counts"]},
        "head_jaccard": round(jaccard(head_set(adapted_heads), head_set(base_heads)), 4),
    }


def _stable_top1(ranks: np.ndarray) -> int | None:
    if ranks[-1] != 1:
        return None
    outside = np.flatnonzero(ranks != 1)
    return int(outside[-1]) + 1 if outside.size else 0


def verdict(values: dict[str, float | None]) -> dict[str, Any]:
    checks = {}
    for key, (op, limit) in THRESHOLDS.items():
        value = values.get(key)
        ok = value is not None and (value >= limit if op == ">=" else value <= limit)
        checks[key] = {"value": value, "threshold": f"{op} {limit}", "passed": bool(ok)}
    return {
        "verified": all(c["passed"] for c in checks.values()),
        "checks": checks,
        "failed": [k for k, c in checks.items() if not c["passed"]],
    }


def imprint_report(probe: ProbeModel, data: TrackData, perplexity_passages: list[str]) -> dict[str, Any]:
    """The whole report; `probe` is the adapted model (its base is reached with the adapter disabled)."""
    efficacy = _side(probe, data.train)
    generalisation = _side(probe, data.heldout)
    spec = specificity(probe, data)
    collateral = perplexity_ratio(probe, perplexity_passages)
    inside = internal(probe, data)
    result = verdict(
        {
            "efficacy_top1": efficacy["top1"],
            "heldout_top1": generalisation["top1"],
            "control_kl": spec["control_kl"],
            "perplexity_ratio": collateral["perplexity_ratio"],
            "head_jaccard": inside["head_jaccard"],
        }
    )
    return {
        "version": 1,
        "efficacy": efficacy,
        "generalisation": generalisation,
        "specificity": spec,
        "collateral": collateral,
        "internal": inside,
        **result,
    }
