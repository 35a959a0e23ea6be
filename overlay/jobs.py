"""Job records: one JSON file per job under `OVERLAY_HOME/jobs/`, rewritten atomically at every change.

A job runs in some process (the server's worker thread, or the CLI in the foreground) that writes its pid
into the record. A record that says `running` while its pid is gone was killed: it reads as
`interrupted`, and a resumable kind (distillation, which checkpoints) can be picked up again with
`overlay jobs resume ID`; other kinds are marked failed when a server starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import pid_alive, write_json

from .errors import JobNotFound, OverlayError

RESUMABLE = ("distill",)
Handler = Callable[["Job", Callable[[float, str], None]], dict]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")  # also the order of jobs


@dataclass
class Job:
    id: str
    kind: str
    status: str = "queued"  # queued → running → done | failed | interrupted
    progress: float = 0.0
    message: str = "queued"
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    params: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None
    pid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class JobStore:
    """The records only: safe to read from any process while another one runs the job."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, job_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{32}", job_id):
            raise JobNotFound(f"no job {job_id!r}")
        return self.folder / f"{job_id}.json"

    def save(self, job: Job) -> None:
        job.updated_at = _now()
        write_json(self._path(job.id), job.to_dict(), indent=1, sort_keys=False)

    def _read(self, path: Path) -> Job:
        job = Job(**json.loads(path.read_text(encoding="utf-8")))
        if job.status in ("queued", "running") and job.pid and job.pid != os.getpid() and not pid_alive(job.pid):
            job.status, job.message = "interrupted", "interrupted: its process is gone"
        return job

    def get(self, job_id: str) -> Job:
        path = self._path(job_id)
        if not path.exists():
            raise JobNotFound(f"no job {job_id!r}")
        return self._read(path)

    def list(self, limit: int = 50) -> list[Job]:
        jobs = [self._read(p) for p in self.folder.glob("*.json")]
        return sorted(jobs, key=lambda j: j.created_at, reverse=True)[:limit]

    def new_id(self) -> str:
        return uuid.uuid4().hex

    def create(self, kind: str, params: dict[str, Any] | None = None, job_id: str | None = None) -> Job:
        """A queued record owned by this process (if it dies before running the job, the job reads
        `interrupted`)."""
        job = Job(job_id or self.new_id(), kind, params=params or {}, pid=os.getpid())
        self.save(job)
        return job

    def upload_dir(self, job_id: str) -> Path:
        return self.folder / job_id

    def work_dir(self, job_id: str) -> Path:
        """Where a job keeps its checkpoints (removed when it is done)."""
        return self.folder / job_id / "work"

    @contextlib.contextmanager
    def claim(self, job_id: str) -> Iterator[None]:
        """Only one process runs a job: an exclusive lock on `ID.lock`, which the kernel drops if it dies."""
        with open(self.folder / f"{self._path(job_id).stem}.lock", "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OverlayError(f"job {job_id} is running in another process") from None
            yield

    def run(self, job: Job, handler: Handler) -> Job:
        """Run `job` here and now, recording progress, the result or the error, and this process's pid."""
        with self.claim(job.id):
            return self._run_claimed(job, handler)

    def _run_claimed(self, job: Job, handler: Handler) -> Job:
        job.status, job.message, job.pid, job.error = "running", "started", os.getpid(), None
        self.save(job)

        def progress(fraction: float, message: str) -> None:
            job.progress, job.message = max(0.0, min(1.0, fraction)), message
            self.save(job)

        try:
            job.result = handler(job, progress)
            job.status, job.progress, job.message = "done", 1.0, "done"
        except OverlayError as exc:
            job.status, job.error, job.message = "failed", str(exc), "failed"
        except KeyboardInterrupt:
            job.status, job.message = ("interrupted" if job.kind in RESUMABLE else "failed"), "interrupted"
            job.error = "interrupted by the user"
            self.save(job)
            raise
        except Exception as exc:  # a bug: recorded on the job, the caller goes on
            job.status, job.message = "failed", "failed"
            job.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        self.save(job)
        return job
