"""The `overlay` command's root: it sits above every package and mounts each package's command groups.

The command line is an interface like HTTP: the runtime's groups come from `overlay.cli`, the adapters'
from `adapters.cli`; this module adds what needs the HTTP package (`serve`, `explain --html`), the
settings listing (`config`), and hands the runtime's commands the adapter registry's resolver.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel

from adapters import DistillConfig, resolve_adapter
from adapters.cli import adapters_app, jobs_app, probe_app, tracks_app
from graph_store import Snapshot, SnapshotError
from overlay import RuntimeConfig, Workspace, build_config, explain_steps, serving
from overlay.cli import (
    Json,
    Model,
    ask,
    bench_app,
    chat,
    config_options,
    emit_json,
    err,
    eval_app,
    feedback,
    graph_app,
    handle_errors,
    out,
    replay,
    selector_options,
    store,
    traces_app,
    use_adapter_resolver,
)
from selector import SelectorConfig

from .config import ServerConfig
from .page import trace_page
from .service import Service

app = typer.Typer(help="Overlay: traceable text generation over an editable semantic graph.", no_args_is_help=True)
use_adapter_resolver(resolve_adapter)

# every setting, by section: `overlay config` lists them, the commands take them as options
SETTINGS: dict[str, type[BaseModel]] = {
    "runtime": RuntimeConfig,
    "selector": SelectorConfig,
    "distill": DistillConfig,
    "workspace": Workspace,
    "server": ServerConfig,
}


@handle_errors
@selector_options()
@config_options(ServerConfig, panel="Server settings (also OVERLAY_QUEUE)", into="server")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    model: Model = None,
    selector: dict | None = None,
    server: dict | None = None,
) -> None:
    """Serve the current snapshot over HTTP until interrupted (writes need OVERLAY_API_KEY)."""
    import uvicorn

    from .app import create_app

    ws = Workspace()
    key = os.environ.get("OVERLAY_API_KEY") or None
    engine = build_config(SelectorConfig, selector or {})
    limits = build_config(ServerConfig, server or {})
    service = Service.open(ws, model=model, api_key=key, selector=engine, server=limits)
    err.print(
        f"serving {service.model_id} on snapshot v{service.runtime.snap.version} at http://{host}:{port}  "
        f"(writes {'enabled' if key else 'disabled: set OVERLAY_API_KEY'})"
    )
    with serving(ws, f"http://{host}:{port}"):
        uvicorn.run(create_app(service), host=host, port=port, log_level="warning")


@handle_errors
def explain(
    trace_id: str,
    first: int = 0,
    last: int | None = None,
    top: Annotated[int, typer.Option(min=1)] = 5,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the interactive explanation page (offline HTML) here.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Why each word won: candidates, score parts, LLM log-probs, edges and passages."""
    trace = store().get(trace_id)
    if html is not None:
        try:
            snap = Snapshot.open(Workspace().snapshots, version=trace["snapshot_version"], verify=False)
        except SnapshotError:  # the page still shows the answer and its candidates without the snapshot
            snap = None
        html.write_text(trace_page(trace, snap), encoding="utf-8")
        err.print(f"wrote {html}")
        return None
    if as_json:
        return emit_json(trace["steps"][first:last])
    out.print(explain_steps(trace, first, last, top))


def settings_table() -> dict[str, list[dict]]:
    """Every setting of every section with its type, default and help (what `overlay config` prints)."""
    table: dict[str, list[dict]] = {}
    for section, model in SETTINGS.items():
        rows = []
        for name, field in model.model_fields.items():
            default = field.get_default(call_default_factory=True)
            rows.append(
                {
                    "name": name,
                    "type": getattr(field.annotation, "__name__", None)
                    if isinstance(field.annotation, type)
                    else str(field.annotation).replace("typing.", ""),
                    "default": str(default) if isinstance(default, Path) else default,
                    "help": field.description or "",
                }
            )
        table[section] = rows
    return table


@handle_errors
def config(as_json: Json = False) -> None:
    """Every setting with its default and help: runtime settings are options of ask/chat/eval/bench and
    fields of the API; distillation settings are options of `adapters distill`; workspace ones are OVERLAY_*."""
    table = settings_table()
    if as_json:
        return emit_json(table)
    for section, rows in table.items():
        out.print(f"[bold]{section}[/]")
        for r in rows:
            out.print(f"  {r['name']:<20} {r['default']!s:<16} {r['help']}")


app.add_typer(graph_app, name="graph")
app.add_typer(traces_app, name="traces")
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")
app.add_typer(probe_app, name="probe")
app.add_typer(tracks_app, name="tracks")
app.add_typer(adapters_app, name="adapters")
app.add_typer(jobs_app, name="jobs")
for command in (ask, chat, explain, replay, feedback, serve, config):
    app.command()(command)
