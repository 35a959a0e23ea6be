"""Selector: the small LLM that chooses among graph proposals."""

from selector.assets import (
    DEFAULT_MODEL_NAME,
    LoadedModel,
    ensure_default_model,
    find_gguf,
    load_model,
    model_cache_dir,
    verify_model_dir,
)
from selector.errors import AssetMissingError, ModelLoadError, SelectorError

__all__ = [
    "DEFAULT_MODEL_NAME",
    "AssetMissingError",
    "LoadedModel",
    "ModelLoadError",
    "SelectorError",
    "ensure_default_model",
    "find_gguf",
    "load_model",
    "model_cache_dir",
    "verify_model_dir",
]
