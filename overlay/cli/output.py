"""Shared CLI plumbing: JSON or rich output on stdout, messages on stderr, errors → exit codes."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from adapters import AdapterError  # the CLI is the shell over every package
from graph_store import GraphStoreError
from selector import SelectorError

from ..errors import OverlayError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# Errors a user can act on: exit 2 (bad usage or input), message on stderr, no traceback.
USER_ERRORS: tuple[type[Exception], ...] = (AdapterError, GraphStoreError, SelectorError, OverlayError)

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
