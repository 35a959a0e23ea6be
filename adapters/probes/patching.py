"""Activation patching (causal tracing): which hidden states carry what makes the clean answer win.

Run the clean and the corrupted text (same number of tokens). For each hidden index h and position p,
run the corrupted text again with hidden[h, p] overwritten by the clean run's, and record how much of the
target's clean log-prob comes back: restored = (lp_patched - lp_corrupt) / (lp_clean - lp_corrupt), so
0 is no effect and 1 is the full clean value. One batched forward per hidden index.
"""

from __future__ import annotations

from typing import Any

from adapters.errors import ProbeError
from adapters.probes.response_map import Progress
from selector import ProbeModel

MAX_PATCH_TOKENS = 256


def target_token(probe: ProbeModel, text: str, word: str) -> int:
    """The first token of `word` as it would follow `text` (with a leading space unless text ends in one)."""
    if not word.strip():
        raise ProbeError("--target must be a word")
    joined = word.strip() if text.endswith((" ", "\n")) else " " + word.strip()
    ids = probe.tokenizer.encode(joined, add_special_tokens=False)
    if not ids:
        raise ProbeError(f"--target {word!r} has no tokens")
    return ids[0]


def patch(probe: ProbeModel, clean: str, corrupt: str, target: str, progress: Progress | None = None) -> dict[str, Any]:
    """The JSON report: `restored` and `logprob` as (hidden index 0..L) × position."""
    import torch

    clean_ids, corrupt_ids = probe.encode(clean)[0], probe.encode(corrupt)[0]
    if len(clean_ids) > MAX_PATCH_TOKENS:
        raise ProbeError(
            f"the clean text is {len(clean_ids)} tokens; patching runs one pass per (layer, position), so it takes "
            f"at most {MAX_PATCH_TOKENS}: keep the sentence that matters"
        )
    if len(clean_ids) != len(corrupt_ids):
        raise ProbeError(
            f"the clean and corrupt texts must have the same number of tokens ({len(clean_ids)} vs "
            f"{len(corrupt_ids)}); change the corrupt text by whole words of equal token length"
        )
    if clean_ids == corrupt_ids:
        raise ProbeError("the clean and corrupt texts are the same tokens; change a word in --corrupt")
    token = target_token(probe, clean, target)
    clean_run, corrupt_run = probe.forward(clean_ids), probe.forward(corrupt_ids)
    lp_clean = float(torch.log_softmax(clean_run.logits[-1], -1)[token])
    lp_corrupt = float(torch.log_softmax(corrupt_run.logits[-1], -1)[token])
    gap = lp_clean - lp_corrupt
    T, rows = len(clean_ids), probe.n_layers + 1
    logprob = [[0.0] * T for _ in range(rows)]
    for h in range(rows):
        lp = probe.patched_logprobs(corrupt_ids, [[(h, p)] for p in range(T)], clean_run.hidden)[:, token]
        logprob[h] = [float(v) for v in lp]
        if progress:
            progress(h + 1, rows)
    differing = [p for p in range(T) if clean_ids[p] != corrupt_ids[p]]
    everywhere = [(h, p) for h in range(rows) for p in differing]
    lp_all = float(probe.patched_logprobs(corrupt_ids, [everywhere], clean_run.hidden)[0, token])

    def restored(lp: float) -> float | None:
        return None if abs(gap) < 1e-6 else round((lp - lp_corrupt) / gap, 4)

    return {
        "version": 1,
        "kind": "patch",
        "model": {"id": probe.model_id, "checksum": probe.loaded.checksum, "adapter": probe.adapter},
        "clean": clean,
        "corrupt": corrupt,
        "target": target,
        "target_token": {"id": token, "text": probe.tokenizer.decode([token])},
        "tokens": {"clean": probe.token_text(clean_ids), "corrupt": probe.token_text(corrupt_ids)},
        "differing_positions": differing,
        "logprob_clean": round(lp_clean, 4),
        "logprob_corrupt": round(lp_corrupt, 4),
        "logprob": [[round(v, 4) for v in row] for row in logprob],
        "restored": [[restored(v) for v in row] for row in logprob],
        "all_layers_at_differing": {"logprob": round(lp_all, 4), "restored": restored(lp_all)},
        "note": None if abs(gap) >= 1e-6 else "clean and corrupt give the target the same log-prob; nothing to restore",
    }
