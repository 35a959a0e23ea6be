"""CLI options derived from the config models: every setting is defined once, in its pydantic model.

`config_options(Model)` adds one `--field-name` option per field of `Model` to a command (help from the
field's description, the default shown from the model, bounds enforced by the model itself when the
config is built with `model_validate`), and hands the command a `settings` dict of the options given.
A new config field is a new option in every command that takes the model, with no CLI change.
"""

from __future__ import annotations

import functools
import inspect
import json
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from pydantic import BaseModel

from selector import SelectorConfig

from ..config import RuntimeConfig

F = TypeVar("F", bound=Callable[..., Any])

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Half = Annotated[
    Literal["all", "first", "second"],
    typer.Option("--half", help="Only the first or second half of the file (tune on one half, report the other)."),
]
Model = Annotated[
    Path | None,
    typer.Option(
        help="The selector model: an HF folder (backend hf), a .gguf file (backend llamacpp), or the served "
        "model's tokenizer as either (backend remote); default: the bundled SmolLM2."
    ),
]


def _option_type(annotation: Any) -> Any:
    """The type typer parses for a field: its non-None member (every derived option defaults to None)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    return annotation


def config_options(
    model: type[BaseModel], exclude: Iterable[str] = (), panel: str | None = None, into: str = "settings"
) -> Callable[[F], F]:
    """Add an option per field of `model` (but `exclude`) to a command; it receives them as a dict in its
    parameter `into` (`settings` unless named)."""
    skip = set(exclude)
    fields = {name: f for name, f in model.model_fields.items() if name not in skip}
    panel = panel or f"{model.__name__} settings (see `overlay config`)"

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn)
        hints = {k: v for k, v in typing.get_type_hints(fn, include_extras=True).items() if k != into}
        params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in sig.parameters.values()]
        params = [p for p in params if p.name != into]
        taken = {p.name for p in params}
        for name, field in fields.items():
            if name in taken:
                continue
            base = _option_type(field.annotation)
            default = field.get_default(call_default_factory=True)
            shown = json.dumps(default) if isinstance(default, list) else default
            help_text = f"{field.description} (default: {shown})"
            flag = "--" + name.replace("_", "-")
            decls = [f"{flag}/--no-{flag[2:]}"] if base is bool else [flag]
            opt = typer.Option(*decls, help=help_text, show_default=False, rich_help_panel=panel)
            annotation = Annotated[base | None, opt]
            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
            hints[name] = annotation

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            settings = {name: kwargs.pop(name) for name in list(kwargs) if name in fields and name not in taken}
            settings = {k: v for k, v in settings.items() if v is not None and v not in ([], ())}
            return fn(*args, **{into: settings}, **kwargs)

        wrapper.__signature__ = sig.replace(parameters=sorted(params, key=lambda p: p.kind))  # type: ignore[attr-defined]
        wrapper.__annotations__ = hints
        return wrapper  # type: ignore[return-value]

    return decorate


def runtime_options(exclude: Iterable[str] = ()) -> Callable[[F], F]:
    """The runtime's settings (RuntimeConfig) as options of an answering command."""
    return config_options(RuntimeConfig, exclude, panel="Runtime settings (see `overlay config`)")


def selector_options() -> Callable[[F], F]:
    """The selector's engine settings (SelectorConfig: --backend, --selector-url, …) as options of a command
    that loads a model; it receives them as `selector`."""
    return config_options(SelectorConfig, panel="Selector settings (also OVERLAY_BACKEND, …)", into="selector")
