"""The house's foundation, below every other package: the one error table, file helpers and the migration
runner. It imports no other package of the project."""

from .errors import (
    EXIT_INTERRUPTED,
    KINDS,
    BadInput,
    Busy,
    ContextLengthExceeded,
    Kind,
    NotFound,
    OverlayError,
    Unavailable,
    error_of,
)
from .files import sha256_file, write_atomic, write_json
from .migrations import migrate
from .process import pid_alive
from .progress import progress_bar

__all__ = [
    "EXIT_INTERRUPTED",
    "KINDS",
    "BadInput",
    "Busy",
    "ContextLengthExceeded",
    "Kind",
    "NotFound",
    "OverlayError",
    "Unavailable",
    "error_of",
    "pid_alive",
    "migrate",
    "progress_bar",
    "sha256_file",
    "write_atomic",
    "write_json",
]
