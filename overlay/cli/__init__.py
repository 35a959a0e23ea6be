"""The `overlay` command: a thin shell over the library (every command calls one public function)."""

from __future__ import annotations

import typer

from .graph import graph_app

app = typer.Typer(help="Overlay: traceable text generation over an editable semantic graph.", no_args_is_help=True)
app.add_typer(graph_app, name="graph")
