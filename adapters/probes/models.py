"""Open the models a probe looks at: a model folder, optionally with a registry adapter, or a randomly
initialised twin of a model (the baseline the head detectors are checked against)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from adapters import registry
from adapters.errors import AdapterError
from selector import LoadedModel, ProbeModel, attach_adapter, load_model


def with_adapter(loaded: LoadedModel, home: Path, name: str) -> LoadedModel:
    """Attach registry adapter `name` after checking its files and that it was trained on this base."""
    path, manifest = registry.open_adapter(home, name)
    if manifest.base_model.get("checksum") != loaded.checksum:
        raise AdapterError(
            f"adapter {name!r} was trained on {manifest.base_model.get('id')} "
            f"({manifest.base_model.get('checksum', '')[:12]}), not on {loaded.model_id} ({loaded.checksum[:12]})"
        )
    return attach_adapter(loaded, path, name)


def open_probe(model: Path | None = None, adapter: str | None = None, home: Path | None = None) -> ProbeModel:
    loaded = load_model(model)
    if adapter is not None:
        loaded = with_adapter(loaded, Path(home or ".overlay"), adapter)
    return ProbeModel(loaded, adapter)


def random_twin(probe: ProbeModel, seed: int = 0) -> ProbeModel:
    """Same architecture and tokenizer, freshly initialised weights (seeded)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    inner = probe.model.get_base_model() if hasattr(probe.model, "get_base_model") else probe.model
    model = AutoModelForCausalLM.from_config(inner.config).eval()
    return ProbeModel(
        replace(probe.loaded, model=model, model_id=f"{probe.loaded.model_id}-random-init", checksum=f"random-{seed}")
    )
