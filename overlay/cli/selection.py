"""Which selector a command answers with: the model folder and the adapter (the active one by default).

The adapter registry belongs to `adapters`, which sits above this package: the CLI's root hands in the
resolver (`use_adapter_resolver`), so this package never imports upward. Without one, only `none` works.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from common import BadInput
from selector import AdapterRef, SelectorConfig

from ..config import RuntimeConfig, build_config
from ..runtime import Runtime, open_runtime
from ..traces import TraceStore
from ..workspace import Workspace

AdapterOption = Annotated[
    str | None,
    typer.Option("--adapter", help="A registry adapter for this run, or 'none' (default: the active adapter)."),
]
# (workspace home, adapter name or None for the active one, force) → a checked reference, or None
AdapterResolver = Callable[[Path, str | None, bool], AdapterRef | None]


def _no_registry(home: Path, name: str | None, force: bool) -> AdapterRef | None:
    if name is None or name.lower() == "none":
        return None
    raise BadInput(f"adapter {name!r}: this command line has no adapter registry")


_resolver: list[AdapterResolver] = [_no_registry]


def use_adapter_resolver(resolver: AdapterResolver) -> None:
    """Called once by the CLI's root with the adapter registry's resolver."""
    _resolver[0] = resolver


def adapter_ref(ws: Workspace, adapter: str | None, force: bool = False) -> AdapterRef | None:
    """None → the active adapter (re-verified), 'none' → no adapter, NAME → that adapter (verified unless
    `force`)."""
    return _resolver[0](ws.home, adapter, force)


def runtime_for(
    ws: Workspace,
    model: Path | None = None,
    adapter: str | None = None,
    version: int | None = None,
    config: RuntimeConfig | None = None,
    force: bool = False,
    selector: dict[str, Any] | None = None,
) -> Runtime:
    """A runtime over the workspace, its model on the engine the `selector` options (or OVERLAY_*) name."""
    engine = build_config(SelectorConfig, selector or {})
    ref = adapter_ref(ws, adapter, force) if engine.takes_adapters or adapter is not None else None
    return open_runtime(ws, model=model, version=version, config=config, adapter=ref, selector=engine)


def store() -> TraceStore:
    return TraceStore(Workspace().traces_db)
