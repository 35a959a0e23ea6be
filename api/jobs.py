"""Background jobs (ingest an uploaded file, publish): one at a time, each a JSON file under `jobs/`.

A job's file is rewritten atomically at every change of state, so a crash never leaves half a record, and
a server that starts finds jobs that were queued or running when the last one stopped and marks them
`failed` ("interrupted"): a job is never stuck `running`.
"""

from __future__ import annotations

import json
import os
import queue
import re
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graph_store import GraphStoreError
from overlay import OverlayError

KINDS = ("ingest", "publish")
UPLOAD_SUFFIXES = (".txt", ".jsonl", ".md", ".markdown")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")  # also the order of jobs


@dataclass
class Job:
    id: str
    kind: str
    status: str = "queued"  # queued → running → done | failed
    progress: float = 0.0
    message: str = "queued"
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    params: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class JobNotFound(OverlayError):
    pass


class Jobs:
    def __init__(self, folder: Path, handlers: dict[str, Callable[[Job, Callable[[float, str], None]], dict]]) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.handlers = handlers
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._recover()
        self._worker = threading.Thread(target=self._run, name="jobs", daemon=True)
        self._worker.start()

    # ---------------------------------------------------------------- records
    def _path(self, job_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{32}", job_id):
            raise JobNotFound(f"no job {job_id!r}")
        return self.folder / f"{job_id}.json"

    def _save(self, job: Job) -> None:
        job.updated_at = _now()
        path = self._path(job.id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(job.to_dict(), indent=1), encoding="utf-8")
        os.replace(tmp, path)

    def get(self, job_id: str) -> Job:
        path = self._path(job_id)
        if not path.exists():
            raise JobNotFound(f"no job {job_id!r}")
        return Job(**json.loads(path.read_text(encoding="utf-8")))

    def list(self, limit: int = 50) -> list[Job]:
        jobs = [Job(**json.loads(p.read_text(encoding="utf-8"))) for p in self.folder.glob("*.json")]
        return sorted(jobs, key=lambda j: j.created_at, reverse=True)[:limit]

    def upload_dir(self, job_id: str) -> Path:
        return self.folder / job_id

    def _recover(self) -> None:
        for job in self.list(limit=10**6):
            if job.status in ("queued", "running"):
                job.status, job.error = "failed", "interrupted: the server stopped before this job finished"
                job.message = "interrupted"
                self._save(job)

    # ---------------------------------------------------------------- running
    def new_id(self) -> str:
        return uuid.uuid4().hex

    def submit(self, kind: str, params: dict[str, Any] | None = None, job_id: str | None = None) -> Job:
        if kind not in self.handlers:
            raise OverlayError(f"unknown job kind {kind!r} (expected one of {', '.join(self.handlers)})")
        job = Job(job_id or self.new_id(), kind, params=params or {})
        self._save(job)
        self._queue.put(job.id)
        return job

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=5)

    def _run(self) -> None:
        while (job_id := self._queue.get()) is not None:
            job = self.get(job_id)
            job.status, job.message = "running", "started"
            self._save(job)

            def progress(fraction: float, message: str, job: Job = job) -> None:
                job.progress, job.message = max(0.0, min(1.0, fraction)), message
                self._save(job)

            try:
                job.result = self.handlers[job.kind](job, progress)
                job.status, job.progress, job.message = "done", 1.0, "done"
            except (GraphStoreError, OverlayError) as exc:
                job.status, job.error, job.message = "failed", str(exc), "failed"
            except Exception as exc:  # a bug: recorded on the job, the worker goes on
                job.status, job.message = "failed", "failed"
                job.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
            self._save(job)
