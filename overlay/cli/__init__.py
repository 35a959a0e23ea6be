"""The runtime's command groups (graph, answers, traces, evals, bench) and the CLI plumbing they share.

The console script's root is `api.cli`, which sits above every package and mounts these next to the
adapters' groups; this package never imports `adapters` or `api`: the root hands it the adapter resolver.
"""

from __future__ import annotations

from .answer import ask, chat, feedback, replay, traces_app
from .evals import bench_app, eval_app
from .graph import graph_app
from .options import Json, Model, config_options, runtime_options, selector_options
from .output import emit_json, err, handle_errors, out, progress_bar
from .selection import AdapterOption, AdapterResolver, runtime_for, store, use_adapter_resolver

__all__ = [
    "AdapterOption",
    "AdapterResolver",
    "Json",
    "Model",
    "ask",
    "bench_app",
    "chat",
    "config_options",
    "emit_json",
    "err",
    "eval_app",
    "feedback",
    "graph_app",
    "handle_errors",
    "out",
    "progress_bar",
    "replay",
    "runtime_for",
    "runtime_options",
    "selector_options",
    "store",
    "traces_app",
    "use_adapter_resolver",
]
