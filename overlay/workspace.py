"""Where runtime state lives: one workspace folder (`OVERLAY_HOME`, default `./.overlay`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Workspace(BaseSettings):
    """Paths of the workspace; every one derives from `home`, so one variable moves them all."""

    model_config = SettingsConfigDict(env_prefix="OVERLAY_")

    home: Path = Field(Path(".overlay"), description="workspace folder (env OVERLAY_HOME)")

    @property
    def graph_db(self) -> Path:
        return self.home / "graph.duckdb"

    @property
    def snapshots(self) -> Path:
        return self.home / "snapshots"

    @property
    def traces_db(self) -> Path:
        return self.home / "traces.duckdb"
