"""Replay: re-run a traced answer on its snapshot version and config, and compare step by step.

Per step it compares what the trace says was written and chosen: the written word (`Step.text`, as written:
a copied word keeps its passage's casing, which may differ from its candidate's display form), the chosen
candidate's node and display text, the spacing and capitalisation, the copy source and the refused words;
then the number of steps, the finish reason and the whole text. The first field that differs is reported.
Traces written before the trace store kept spacing, copies and refusals (NULL there) compare the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common import BadInput

from .config import RuntimeConfig
from .errors import OverlayError
from .records import Step
from .runtime import Runtime


@dataclass
class ReplayResult:
    identical: bool
    text: str
    original_text: str
    first_difference: dict[str, Any] | None = None  # step, field, original (traced), replayed


def trace_adapter(trace: dict[str, Any]) -> str:
    """The registry name of a trace's adapter ('none' when it had none). Traces from before the store kept
    the name have only the display label, "NAME" or "NAME (unverified, forced)"."""
    if trace.get("adapter_name"):
        return trace["adapter_name"]
    return (trace.get("adapter") or "none").split(" (")[0]


def check_adapter(runtime: Runtime, trace: dict[str, Any]) -> None:
    """The loaded adapter must be the traced one: same name, and the same files where the trace has their
    checksum (a replaced adapter of the same name would otherwise replay silently with other weights)."""
    backend = runtime.backend
    ref = getattr(backend, "adapter", None) if backend.adapter_label is not None else None
    traced = trace_adapter(trace)
    loaded = ref.name if ref is not None else "none"
    if traced != loaded:
        raise BadInput(
            f"trace {trace['id']} was made with adapter {traced!r}; the loaded one is {loaded!r}", param="adapter"
        )
    want = trace.get("adapter_checksum")
    if ref is not None and want and ref.checksum != want:
        have = f"{ref.checksum[:12]}…" if ref.checksum else "unknown"
        raise BadInput(
            f"adapter {traced!r} has changed since trace {trace['id']} was made (traced checksum {want[:12]}…, "
            f"installed {have}): the installed adapter is not the one the answer was made with",
            param="adapter",
        )


def _step_fields(step: Step) -> dict[str, Any]:
    """A replayed step as the trace stores it."""
    winner = step.winner
    return {
        "text": step.text,
        "node": winner.node,
        "candidate": winner.text,
        "space": step.space,
        "cap": step.cap,
        "copy_source": None if step.copy_source is None else [int(v) for v in step.copy_source],
        "rejected": list(step.rejected),
        "trust": None if step.trust is None else round(step.trust, 9),
    }


def _traced_fields(step: dict[str, Any]) -> dict[str, Any]:
    """A traced step's fields; those an old trace lacks (NULL) are left out and not compared."""
    winner = step["candidates"][step["chosen"]]
    out = {"text": step["text"], "node": winner["node"], "candidate": winner["text"]}
    if step.get("space") is not None:  # written since migration 2: every field below is set
        out |= {k: step[k] for k in ("space", "cap", "copy_source", "rejected")}
    if step.get("trust") is not None:  # written since migration 3
        out["trust"] = round(step["trust"], 9)
    return out


def _shown(value: Any) -> Any:
    return "</s>" if value == "" else value


def first_difference(trace: dict[str, Any], steps: list[Step], text: str, finish: str) -> dict[str, Any] | None:
    """The first step and field where a replay differs from its trace (None: identical)."""
    for old, new in zip(trace["steps"], steps, strict=False):
        traced, replayed = _traced_fields(old), _step_fields(new)
        for key, value in traced.items():
            if value != replayed[key]:
                return {
                    "step": old["step"],
                    "field": key,
                    "original": _shown(value) if key == "text" else value,
                    "replayed": _shown(replayed[key]) if key == "text" else replayed[key],
                    "context": old.get("context_tail"),
                }
    n_old, n_new = len(trace["steps"]), len(steps)
    at = min(n_old, n_new)
    if n_old != n_new:
        return {
            "step": at,
            "field": "steps",
            "original": f"{n_old} steps: {trace['text']!r}",
            "replayed": f"{n_new} steps: {text!r}",
        }
    if text != trace["text"]:
        return {"step": at, "field": "answer text", "original": trace["text"], "replayed": text}
    if finish != trace["finish_reason"]:
        return {"step": at, "field": "finish_reason", "original": trace["finish_reason"], "replayed": finish}
    return None


def replay(runtime: Runtime, trace: dict[str, Any]) -> ReplayResult:
    """Same snapshot, same model weights, same adapter, same config → the same text and the same choices,
    or the first step that differs."""
    if runtime.backend.checksum != trace["model_checksum"]:
        raise OverlayError(
            f"trace {trace['id']} was made with model {trace['model_id']} ({trace['model_checksum'][:12]}…); "
            f"the loaded model is {runtime.backend.model_id} ({runtime.backend.checksum[:12]}…): "
            "load the model it was made with (setting `model`)"
        )
    if runtime.snap.version != trace["snapshot_version"]:
        raise OverlayError(f"replay needs snapshot v{trace['snapshot_version']}, got v{runtime.snap.version}")
    check_adapter(runtime, trace)
    answer = runtime.answer(trace["prompt"], RuntimeConfig(**trace["config"]))
    diff = first_difference(trace, answer.steps, answer.text, answer.finish_reason)
    return ReplayResult(diff is None, answer.text, trace["text"], diff)
