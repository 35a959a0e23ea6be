"""The one progress bar: rich, on stderr (stdout stays data), gone when done, the same in every command."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def progress_bar(enabled: bool = True, remaining: bool = True) -> Progress:
    """A transient bar (description, bar, done/total, time remaining or elapsed); `enabled=False` shows
    nothing, so library code passes its `progress` flag straight through."""
    clock = TimeRemainingColumn() if remaining else TimeElapsedColumn()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        clock,
        console=Console(stderr=True, quiet=not enabled),
        disable=not enabled,
        transient=True,
    )
