"""Replay: re-run a traced answer on its snapshot version and config, and compare step by step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import RuntimeConfig
from .errors import OverlayError
from .runtime import Runtime


@dataclass
class ReplayResult:
    identical: bool
    text: str
    original_text: str
    first_difference: dict[str, Any] | None = None


def replay(runtime: Runtime, trace: dict[str, Any]) -> ReplayResult:
    """Same snapshot, same model weights, same config → the same text and the same choices, or a report."""
    if runtime.backend.checksum != trace["model_checksum"]:
        raise OverlayError(
            f"trace {trace['id']} was made with model {trace['model_id']} ({trace['model_checksum'][:12]}…); "
            f"the loaded model is {runtime.backend.model_id} ({runtime.backend.checksum[:12]}…): "
            "load the model it was made with (setting `model`)"
        )
    if runtime.snap.version != trace["snapshot_version"]:
        raise OverlayError(f"replay needs snapshot v{trace['snapshot_version']}, got v{runtime.snap.version}")
    answer = runtime.answer(trace["prompt"], RuntimeConfig(**trace["config"]))
    for old, new in zip(trace["steps"], answer.steps, strict=False):
        old_word = old["candidates"][old["chosen"]]["text"]
        if old_word != new.text and not (old_word == "</s>" and new.text == ""):
            return ReplayResult(
                False,
                answer.text,
                trace["text"],
                {"step": old["step"], "original": old_word, "replayed": new.text or "</s>"},
            )
    if len(trace["steps"]) != len(answer.steps) or answer.text != trace["text"]:
        return ReplayResult(
            False,
            answer.text,
            trace["text"],
            {
                "step": min(len(trace["steps"]), len(answer.steps)),
                "original": trace["text"],
                "replayed": answer.text,
            },
        )
    return ReplayResult(True, answer.text, trace["text"])
