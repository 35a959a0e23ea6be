"""Distil tracks into a LoRA adapter for the selector (peft), resumable from its last checkpoint.

The loss is cross-entropy on the track continuations (contexts are masked) plus `kl_weight` × KL(base ‖
adapted) on wiki passages, computed against the same weights with the adapter switched off. The KL term
is what keeps the adapter from touching text unrelated to the track. Everything is seeded and the data
order is a function of (seed, epoch), so a run killed and resumed from a checkpoint ends with the same
weights as one that was never stopped. Checkpoints hold the LoRA weights and the optimizer state as
safetensors, plus a small JSON; the newest complete one is named by `latest.json`, written last.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from adapters.dataset import Example, TrackData
from adapters.errors import AdapterError
from selector import LoadedModel, quiet_peft

Progress = Callable[[int, int, float], None]  # (step, total, loss)


class DistillConfig(BaseModel):
    """Hyper-parameters of one distillation (all recorded in the adapter's manifest)."""

    rank: int = Field(8, ge=1, le=256, description="LoRA rank")
    alpha: float | None = Field(None, gt=0, description="LoRA alpha (default: 2 × rank)")
    learning_rate: float = Field(1e-3, gt=0, le=1.0, description="peak AdamW learning rate (linear decay to 10%)")
    epochs: int = Field(4, ge=1, le=1000, description="passes over the training pairs")
    max_steps: int | None = Field(None, ge=1, description="stop after this many steps (overrides epochs)")
    batch_size: int = Field(8, ge=1, le=256, description="training pairs per step")
    kl_weight: float = Field(5.0, ge=0, description="weight of KL(base ‖ adapted) on wiki passages")
    regularise_batch: int = Field(4, ge=0, le=64, description="wiki passages per step for the KL term")
    regularise_tokens: int = Field(64, ge=8, le=512, description="tokens per wiki passage")
    seed: int = Field(0, ge=0, description="seeds LoRA init and data order")
    checkpoint_every: int = Field(10, ge=1, description="steps between checkpoints")
    perplexity_passages: int = Field(
        24, ge=1, le=256, description="wiki passages the verification measures collateral perplexity on"
    )

    def lora_alpha(self) -> float:
        return self.alpha if self.alpha is not None else 2.0 * self.rank


@dataclass
class Batch:
    ids: Any  # (B, T) long
    mask: Any  # (B, T) long
    labels: Any  # (B, T) long, -100 where no loss


def encode_pair(tokenizer: Any, example: Example) -> tuple[list[int], int]:
    """Ids of context + continuation, and where the continuation starts."""
    context = list(tokenizer(example.context)["input_ids"])
    continuation = tokenizer.encode(example.continuation, add_special_tokens=False)
    if not continuation:
        raise AdapterError(f"empty continuation in track {example.track!r}")
    return context + continuation, len(context)


def pad_batch(rows: list[tuple[list[int], int]], pad: int) -> Batch:
    import torch

    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for r, (row, start) in enumerate(rows):
        ids[r, : len(row)] = torch.tensor(row)
        mask[r, : len(row)] = 1
        labels[r, start : len(row)] = torch.tensor(row[start:])
    return Batch(ids, mask, labels)


def _plan(n: int, cfg: DistillConfig) -> tuple[int, int]:
    per_epoch = math.ceil(n / cfg.batch_size)
    total = cfg.max_steps or per_epoch * cfg.epochs
    return per_epoch, total


def _order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def lora_model(loaded: LoadedModel, cfg: DistillConfig) -> Any:
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(cfg.seed)
    config = LoraConfig(
        r=cfg.rank, lora_alpha=cfg.lora_alpha(), lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    with quiet_peft():
        return get_peft_model(loaded.model, config)


def _save_checkpoint(work: Path, step: int, model: Any, optimizer: Any, losses: list[float], fingerprint: str) -> None:
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder = work / f"checkpoint-{step:06d}"
    tmp = work / f".checkpoint-{step:06d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in get_peft_model_state_dict(model).items()}, str(tmp / "lora.safetensors"))
    state = optimizer.state_dict()
    tensors = {
        f"{i}.{name}": value.contiguous() for i, entry in state["state"].items() for name, value in entry.items()
    }
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    (tmp / "state.json").write_text(
        json.dumps({"step": step, "param_groups": state["param_groups"], "losses": losses, "fingerprint": fingerprint})
    )
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    latest = work / "latest.json"
    (work / "latest.json.tmp").write_text(json.dumps({"step": step, "folder": folder.name}))
    os.replace(work / "latest.json.tmp", latest)
    for old in work.glob("checkpoint-*"):
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(work: Path, model: Any, optimizer: Any, fingerprint: str) -> tuple[int, list[float]]:
    """Restore the newest complete checkpoint; (0, []) when there is none. A checkpoint made from other
    data, settings or base weights is refused: resuming it could not give the uninterrupted result."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    latest = work / "latest.json"
    if not latest.is_file():
        return 0, []
    pointer = json.loads(latest.read_text())
    folder = work / pointer["folder"]
    if Path(pointer["folder"]).name != pointer["folder"] or not folder.is_dir():
        raise AdapterError(f"checkpoint {folder} named by {latest} is missing")
    meta = json.loads((folder / "state.json").read_text())
    if meta.get("fingerprint") != fingerprint:
        raise AdapterError(
            f"the checkpoint in {work} was made from other tracks, settings or base weights than this job now "
            "has (a track file changed?); start a new distillation"
        )
    set_peft_model_state_dict(model, load_file(str(folder / "lora.safetensors")))
    flat = load_file(str(folder / "optimizer.safetensors"))
    state: dict[int, dict[str, Any]] = {}
    for key, value in flat.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return int(meta["step"]), list(meta["losses"])


def distill(
    loaded: LoadedModel,
    data: TrackData,
    regularise: list[str],
    cfg: DistillConfig,
    work: Path,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train (or resume training) in `work`; writes the adapter to `work/adapter/` and returns stats."""
    import torch

    tokenizer = loaded.tokenizer
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = [encode_pair(tokenizer, e) for e in data.train]
    reg_rows = [(list(tokenizer(t)["input_ids"])[: cfg.regularise_tokens], 0) for t in regularise]
    per_epoch, total = _plan(len(rows), cfg)
    model = lora_model(loaded, cfg)
    model.eval()  # dropout off: LoRA has none and the base's would make a resumed run differ
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    work.mkdir(parents=True, exist_ok=True)
    fingerprint = hashlib.sha256(
        json.dumps([rows, reg_rows, cfg.model_dump(), loaded.checksum], sort_keys=True).encode()
    ).hexdigest()
    step, losses = _load_checkpoint(work, model, optimizer, fingerprint)
    start = time.perf_counter()
    while step < total:
        epoch, offset = divmod(step, per_epoch)
        order = _order(len(rows), cfg.seed, epoch)
        batch = pad_batch([rows[i] for i in order[offset * cfg.batch_size : (offset + 1) * cfg.batch_size]], pad)
        for group in optimizer.param_groups:
            group["lr"] = cfg.learning_rate * (1.0 - 0.9 * step / max(1, total - 1))
        out = model(input_ids=batch.ids, attention_mask=batch.mask)
        logits = out.logits[:, :-1].float()
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), batch.labels[:, 1:].reshape(-1), ignore_index=-100
        )
        if cfg.kl_weight > 0 and cfg.regularise_batch and reg_rows:
            picks = [reg_rows[(step * cfg.regularise_batch + k) % len(reg_rows)] for k in range(cfg.regularise_batch)]
            reg = pad_batch(picks, pad)
            with torch.no_grad(), model.disable_adapter():
                base = torch.log_softmax(model(input_ids=reg.ids, attention_mask=reg.mask).logits.float(), -1)
            adapted = torch.log_softmax(model(input_ids=reg.ids, attention_mask=reg.mask).logits.float(), -1)
            kl = (base.exp() * (base - adapted)).sum(-1)
            loss = loss + cfg.kl_weight * (kl * reg.mask).sum() / reg.mask.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        losses.append(round(loss.item(), 5))
        if step % cfg.checkpoint_every == 0 or step == total:
            _save_checkpoint(work, step, model, optimizer, losses, fingerprint)
        if progress:
            progress(step, total, losses[-1])
    model.eval()
    staged = work / "adapter"
    shutil.rmtree(staged, ignore_errors=True)
    model.save_pretrained(str(staged))
    (staged / "README.md").unlink(missing_ok=True)
    return {
        "steps": total,
        "seconds": round(time.perf_counter() - start, 2),
        "final_loss": losses[-1] if losses else None,
        "losses": losses[:: max(1, len(losses) // 50)],
    }
