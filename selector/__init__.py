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
from selector.backend import BACKENDS, Backend, HFBackend, Session, load_backend
from selector.config import BackendName, SelectorConfig
from selector.errors import AssetMissingError, ModelLoadError, SelectorError, SelectorUnavailable
from selector.llamacpp import GGUFTokenizer, LlamaCppBackend
from selector.lora import AdapterRef, attach_adapter, quiet_peft
from selector.probing import Forward, ProbeModel
from selector.remote import RemoteBackend
from selector.toy import ToyBackend, ToyTokenizer
from selector.wordmap import WordTable

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendName",
    "GGUFTokenizer",
    "LlamaCppBackend",
    "RemoteBackend",
    "SelectorConfig",
    "SelectorUnavailable",
    "HFBackend",
    "Session",
    "ToyBackend",
    "ToyTokenizer",
    "WordTable",
    "Forward",
    "ProbeModel",
    "attach_adapter",
    "AdapterRef",
    "quiet_peft",
    "load_backend",
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
