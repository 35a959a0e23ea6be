"""Attach a LoRA adapter (peft) to a loaded selector model, from safetensors only.

peft's own loader falls back to pickle checkpoints when no safetensors file is found; this path reads
`adapter_config.json` and `adapter_model.safetensors` itself and refuses anything else, so a user's
adapter folder can never execute code on load.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from selector.assets import LoadedModel
from selector.errors import ModelLoadError

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """peft calls a transformers 5 method that warns it is deprecated on every wrap; the warning is not ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


@dataclass(frozen=True)
class AdapterRef:
    """An adapter the caller has already checked (registry name, verified files): what a backend attaches."""

    name: str
    folder: Path
    verified: bool = True
    base_checksum: str | None = None  # the weights it was trained on; attaching to others is refused
    checksum: str | None = None  # of its own files (the registry's manifest): traces keep it, replay checks it

    @property
    def label(self) -> str:
        """How traces name it: an unverified adapter says so in every answer made with it."""
        return self.name if self.verified else f"{self.name} (unverified, forced)"


def attach_adapter(loaded: LoadedModel, folder: Path, name: str = "default") -> LoadedModel:
    """Wrap `loaded.model` (in place) with the adapter in `folder`; the base stays reachable through
    peft's `disable_adapter()`. Returns the wrapped model with the same tokenizer and base checksum."""
    from peft import PeftConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file

    folder = Path(folder)
    weights, config_file = folder / ADAPTER_WEIGHTS, folder / ADAPTER_CONFIG
    if not weights.is_file() or not config_file.is_file():
        raise ModelLoadError(f"{folder} is not an adapter folder: it needs {ADAPTER_CONFIG} and {ADAPTER_WEIGHTS}")
    try:
        config = PeftConfig.from_pretrained(str(folder), local_files_only=True)
        config.inference_mode = True
        with quiet_peft():
            model = get_peft_model(loaded.model, config, adapter_name=name)
        result = set_peft_model_state_dict(model, load_file(str(weights)), adapter_name=name)
    except Exception as exc:  # any loader failure is one typed error with its cause
        raise ModelLoadError(f"Could not attach the adapter in {folder}: {exc}") from exc
    if unexpected := getattr(result, "unexpected_keys", None):
        raise ModelLoadError(f"{folder}: weights do not fit the base model (e.g. {unexpected[0]})")
    model.eval()
    return replace(loaded, model=model)
