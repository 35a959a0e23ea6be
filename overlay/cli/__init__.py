"""The `overlay` command: a thin shell over the library (every command calls one public function)."""

from __future__ import annotations

import typer

from .adapters import adapters_app, jobs_app, tracks_app
from .answer import ask, chat, explain, feedback, replay, traces_app
from .evals import bench_app, eval_app
from .graph import graph_app
from .probe import probe_app
from .serve import serve

app = typer.Typer(help="Overlay: traceable text generation over an editable semantic graph.", no_args_is_help=True)
app.add_typer(graph_app, name="graph")
app.add_typer(traces_app, name="traces")
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")
app.add_typer(probe_app, name="probe")
app.add_typer(tracks_app, name="tracks")
app.add_typer(adapters_app, name="adapters")
app.add_typer(jobs_app, name="jobs")
for command in (ask, chat, explain, replay, feedback, serve):
    app.command()(command)
