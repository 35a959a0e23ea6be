"""Background jobs for the server (ingest an uploaded file, publish, distil an adapter): one at a time,
in a worker thread, over the workspace's job records (`overlay.jobs`).

A server that starts finds jobs that were queued or running when the last one stopped: a resumable kind
(distillation) becomes `interrupted` and is resumed with `overlay jobs resume ID`; the others become
`failed` ("interrupted"). A job is never stuck `running`.
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import Any

from graph_store import SUFFIXES
from overlay import RESUMABLE, Handler, Job, JobNotFound, JobStore, OverlayError

UPLOAD_SUFFIXES = tuple(SUFFIXES)  # the graph readers' registry

__all__ = ["Job", "JobNotFound", "Jobs", "UPLOAD_SUFFIXES"]


class Jobs(JobStore):
    def __init__(self, folder: Path, handlers: dict[str, Handler]) -> None:
        super().__init__(folder)
        self.handlers = handlers
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._recover()
        self._worker = threading.Thread(target=self._run, name="jobs", daemon=True)
        self._worker.start()

    def _recover(self) -> None:
        for job in self.list(limit=10**6):
            if job.status in ("queued", "running") and job.pid not in (None, os.getpid()):
                continue  # still queued/running after `_read` checked its pid: a live CLI process owns it
            if job.status in ("queued", "running", "interrupted") and job.kind not in RESUMABLE:
                job.status, job.error = "failed", "interrupted: the server stopped before this job finished"
                job.message = "interrupted"
                self.save(job)
            elif job.status in ("queued", "running"):
                job.status, job.message = "interrupted", "interrupted: resume with `overlay jobs resume ID`"
                self.save(job)

    def submit(self, kind: str, params: dict[str, Any] | None = None, job_id: str | None = None) -> Job:
        if kind not in self.handlers:
            raise OverlayError(f"unknown job kind {kind!r} (expected one of {', '.join(self.handlers)})")
        job = self.create(kind, params, job_id)
        self._queue.put(job.id)
        return job

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=5)

    def _run(self) -> None:
        while (job_id := self._queue.get()) is not None:
            job = self.get(job_id)
            self.run(job, self.handlers[job.kind])
