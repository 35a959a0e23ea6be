"""File helpers every package needs the same way: a file's sha256 and an atomic write (temp file, fsync,
rename), so a crash leaves the old file or the new one, never half of one."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def sha256_file(path: Path | str) -> str:
    """Hashed in chunks, so large weights never sit in memory twice."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_atomic(path: Path | str, text: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path | str, data: Any, **dumps: Any) -> None:
    """`data` as JSON, atomically (`dumps` are json.dumps options; default: indented, sorted keys)."""
    options = {"indent": 2, "sort_keys": True, "ensure_ascii": False} | dumps
    write_atomic(path, json.dumps(data, **options))
