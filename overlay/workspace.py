"""Where runtime state lives: one workspace folder (`OVERLAY_HOME`, default `./.overlay`)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from graph_store import WorkspaceBusyError, recover_live

LOCK_NAME = "serve.lock"


class Workspace(BaseSettings):
    """Paths of the workspace; every one derives from `home`, so one variable moves them all."""

    model_config = SettingsConfigDict(env_prefix="OVERLAY_")

    home: Path = Field(Path(".overlay"), description="workspace folder (env OVERLAY_HOME)")
    embedding_model: str | None = Field(
        None,
        description="sentence-transformers model folder (safetensors) for passage vectors, e.g. a multilingual "
        "one for notes not in English (env OVERLAY_EMBEDDING_MODEL; default: the bundled all-MiniLM-L6-v2); "
        "a change takes a full `overlay graph publish`",
    )

    @property
    def graph_db(self) -> Path:
        return self.home / "graph.duckdb"

    @property
    def snapshots(self) -> Path:
        return self.home / "snapshots"

    @property
    def traces_db(self) -> Path:
        return self.home / "traces.duckdb"

    @property
    def jobs(self) -> Path:
        """Job records (`ID.json`), their locks, uploads and checkpoints."""
        return self.home / "jobs"

    @property
    def facts(self) -> Path:
        """Texts made live as facts (`POST /v1/graph/facts`), kept as files so a re-ingest finds them."""
        return self.home / "facts"

    @property
    def tracks(self) -> Path:
        """Mined tracks (JSON); curated ones ship with the `adapters` package."""
        return self.home / "tracks"

    @property
    def adapters(self) -> Path:
        """The adapter registry: one folder per adapter, plus `active.json`."""
        return self.home / "adapters"

    @property
    def probes(self) -> Path:
        """Default folder of probe reports."""
        return self.home / "probes"

    def recover(self) -> bool:
        """Finish a live edit that a crash left half done (`graph_store.recover_live`), as a workspace is
        opened to answer; if another process holds the graph, the next open does it."""
        try:
            return recover_live(self.graph_db, self.snapshots, self.embedding_model)
        except WorkspaceBusyError:
            return False

    @property
    def models(self) -> Path:
        """Converted selector models (the selector package reads `OVERLAY_MODEL_CACHE`, else this folder)."""
        return self.home / "models"


@contextlib.contextmanager
def serving(ws: Workspace, url: str) -> Iterator[None]:
    """Held by `overlay serve` for its whole life: while it runs, the server owns the workspace's writes."""
    ws.home.mkdir(parents=True, exist_ok=True)
    with open(ws.home / LOCK_NAME, "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceBusyError(f"{ws.home} is already served by another `overlay serve`") from None
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"pid": os.getpid(), "url": url}))
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_not_served(ws: Workspace) -> None:
    """CLI writes while a server owns the workspace stop here with a message that says what to do instead."""
    path = ws.home / LOCK_NAME
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            info = json.loads(f.read() or "{}")
            raise WorkspaceBusyError(
                f"workspace {ws.home} is busy: `overlay serve` (pid {info.get('pid', '?')}) owns it; send the "
                f"change to {info.get('url', 'the server')} over HTTP (/v1/jobs, /v1/graph/edges, "
                "/v1/traces/ID/feedback) or stop the server first"
            ) from None
        fcntl.flock(f, fcntl.LOCK_UN)
