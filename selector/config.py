"""Which engine runs the selector, and how: one settings model, read from `OVERLAY_*` environment variables
and from each interface's options (`--backend`, `--selector-url`, …), which derive from it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

BackendName = Literal["hf", "llamacpp", "remote", "toy"]


class SelectorConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OVERLAY_", extra="ignore")

    backend: BackendName = Field(
        "hf",
        description="selector engine: hf (torch; probes, adapters), llamacpp (a GGUF in-process), "
        "remote (an OpenAI-compatible completions server), toy (tests)",
    )
    selector_url: str | None = Field(
        None, description="base URL of the remote selector's OpenAI-compatible API, e.g. http://127.0.0.1:8080/v1"
    )
    threads: int | None = Field(None, ge=1, le=256, description="llama.cpp threads (unset: every core)")
    context_length: int = Field(4096, ge=256, le=131072, description="llama.cpp context size, in tokens")
    top_logprobs: int = Field(
        20, ge=1, le=100, description="next-token log-probs a remote selector returns per position (its top N)"
    )
    remote_timeout: float = Field(60.0, gt=0, le=3600, description="seconds to wait for one remote request")

    @property
    def takes_adapters(self) -> bool:
        """LoRA adapters attach only in torch: on another engine the active adapter is not applied
        (an adapter named for a run is refused by the backend, by name)."""
        return self.backend == "hf"
