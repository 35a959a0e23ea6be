"""Which selector a command answers with: the model folder and the adapter (active one by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..config import RuntimeConfig
from ..runtime import Runtime, open_runtime
from ..workspace import Workspace

AdapterOption = Annotated[
    str | None,
    typer.Option("--adapter", help="A registry adapter for this run, or 'none' (default: the active adapter)."),
]


def adapter_ref(ws: Workspace, adapter: str | None, force: bool = False):
    """None → the active adapter (re-verified), 'none' → no adapter, NAME → that adapter (verified unless
    `force`). The CLI is the shell over every package, so it reads the adapter registry."""
    from adapters import registry

    if adapter is None:
        return registry.active_reference(ws.home)
    if adapter.lower() == "none":
        return None
    return registry.reference(ws.home, adapter, force=force)


def runtime_for(
    ws: Workspace,
    model: Path | None = None,
    adapter: str | None = None,
    version: int | None = None,
    config: RuntimeConfig | None = None,
    force: bool = False,
) -> Runtime:
    return open_runtime(ws, model=model, version=version, config=config, adapter=adapter_ref(ws, adapter, force))
