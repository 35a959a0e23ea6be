"""Shared CLI plumbing: JSON or rich output on stdout, messages and progress on stderr, errors → exit codes.

Exit codes come from the one error table (`errors.KINDS`): 0 ok, 1 failure, 2 bad usage or input,
130 interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import typer
from rich.console import Console

from common import EXIT_INTERRUPTED, OverlayError
from common import progress_bar as bar_of

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OverlayError as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


@contextlib.contextmanager
def progress_bar(label: str, remaining: bool = True) -> Iterator[Callable[[int, int], None]]:
    """The house bar (`common.progress_bar`); yields `update(done, total)`, the library's progress callback."""
    with bar_of(remaining=remaining) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
