"""The server's own settings: one model, read from `OVERLAY_*` environment variables and from
`overlay serve`'s options, which derive from it."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServerConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OVERLAY_", extra="ignore")

    queue: int = Field(
        64,
        ge=1,
        le=4096,
        description="completions the server holds at once (one answering, the rest waiting for the model); "
        "one more is refused with 503 and Retry-After",
    )
