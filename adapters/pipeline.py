"""One distillation job end to end: tracks → training set → LoRA → imprint report → registry.

The job's work folder keeps the training checkpoints, so running the same job again (after a crash or
kill -9) resumes where the last checkpoint left off and ends with the same adapter. Verification loads
the trained adapter into a fresh copy of the base model, the way the runtime will load it. The adapter
is installed only after its report exists, with `verified` set from the report's verdict.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from adapters import registry
from adapters.dataset import build, wiki_slices
from adapters.distill import DistillConfig, distill
from adapters.errors import AdapterError
from adapters.probes import response_map, write_report
from adapters.probes.report import imprint_plots
from adapters.tracks import get_tracks
from adapters.verify import imprint_report
from selector import ProbeModel, attach_adapter, load_model

JobProgress = Callable[[float, str], None]
TRAIN_SHARE = 0.8  # of the job's progress bar


class DistillSpec(BaseModel):
    """What to distil: the tracks, the adapter's name, the hyper-parameters (the job's parameters)."""

    name: str = Field(description="registry name of the new adapter")
    tracks: list[str] = Field(min_length=1, description="track ids (see `overlay tracks list`)")
    config: DistillConfig = Field(default_factory=DistillConfig)
    model: str | None = Field(None, description="base model folder (default: the bundled SmolLM2)")
    replace: bool = Field(False, description="replace an existing adapter of the same name")


def check(home: Path, spec: DistillSpec) -> None:
    """Fail fast, before any training, on a bad name, an existing adapter or an unknown track."""
    registry.validate_name(spec.name)
    if registry.folder(home, spec.name).exists() and not spec.replace:
        raise AdapterError(f"adapter {spec.name!r} already exists; remove it first or set `replace`")
    get_tracks(spec.tracks, home)


def distill_adapter(home: Path, spec: DistillSpec, work: Path, progress: JobProgress | None = None) -> dict[str, Any]:
    check(home, spec)
    say = progress or (lambda fraction, message: None)
    tracks = get_tracks(spec.tracks, home)
    data = build(tracks)
    regularise, perplexity = wiki_slices(n_perplexity=spec.config.perplexity_passages)
    loaded = load_model(spec.model)
    say(0.01, f"training on {len(data.train)} pairs")
    stats = distill(
        loaded,
        data,
        regularise,
        spec.config,
        work,
        progress=lambda step, total, loss: say(TRAIN_SHARE * step / total, f"step {step}/{total}, loss {loss:.4f}"),
    )
    say(TRAIN_SHARE, "verifying the imprint")
    fresh = load_model(spec.model)  # verify exactly what the runtime will load: base + saved adapter
    probe = ProbeModel(attach_adapter(fresh, work / "adapter", spec.name), spec.name)
    report = imprint_report(probe, data, perplexity)
    say(0.97, "installing")
    staged = registry.root(home) / f".staged-{spec.name}"
    shutil.rmtree(staged, ignore_errors=True)
    staged.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(work / "adapter", staged)
    imprint_plots(report, staged / "report")
    example = data.heldout[0]  # one held-out variant through the whole response map, against the base
    write_report(response_map(probe, example.context + example.continuation, other=probe), staged / "report" / "map")
    manifest = registry.Manifest(
        name=spec.name,
        base_model={"id": loaded.model_id, "checksum": loaded.checksum},
        tracks=[t.id for t in tracks],
        hyperparameters={
            **spec.config.model_dump(),
            "lora_alpha": spec.config.lora_alpha(),
            "target_modules": "all-linear",
        },
        data={**data.sizes(), "regularise_passages": len(regularise), "perplexity_passages": len(perplexity)},
        report=report,
        verified=report["verified"],
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    folder = registry.install(home, spec.name, staged, manifest, replace=spec.replace)
    shutil.rmtree(work, ignore_errors=True)
    return {
        "name": spec.name,
        "folder": str(folder),
        "verified": report["verified"],
        "failed": report["failed"],
        "checks": report["checks"],
        "training": stats,
    }
