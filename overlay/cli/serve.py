"""`overlay serve`: the HTTP API (OpenAI-compatible chat, traces and their pages, the graph)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ..workspace import Workspace, serving
from .output import err, handle_errors


@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    model: Annotated[Path | None, typer.Option(help="A local Hugging Face model folder (default: bundled).")] = None,
) -> None:
    """Serve the current snapshot over HTTP until interrupted (writes need OVERLAY_API_KEY)."""
    import uvicorn

    from api import Service, create_app  # the CLI is the shell over every package

    ws = Workspace()
    key = os.environ.get("OVERLAY_API_KEY") or None
    service = Service.open(ws, model=model, api_key=key)
    err.print(
        f"serving {service.model_id} on snapshot v{service.runtime.snap.version} at http://{host}:{port}  "
        f"(writes {'enabled' if key else 'disabled: set OVERLAY_API_KEY'})"
    )
    with serving(ws, f"http://{host}:{port}"):
        uvicorn.run(create_app(service), host=host, port=port, log_level="warning")
