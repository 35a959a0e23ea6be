"""A bound on the completions the server holds: the model answers one at a time, so every request past it
waits; past `queue` waiting ones a client is better told to come back (503 with `Retry-After`, which the
`openai` client honours) than kept waiting minutes with its connection open.

The wait to suggest is the recent mean time a request spent in the server (waiting and answering): by then
the queue a refused client saw has turned over.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from .errors import APIError


class Overloaded(APIError):
    def __init__(self, held: int, retry_after: int) -> None:
        super().__init__(
            503,
            f"the server is answering {held} requests already (its queue limit); retry in {retry_after} s",
            code="overloaded",
        )
        self.headers = {"Retry-After": str(retry_after)}


class Admission:
    def __init__(self, limit: int, window: int = 20) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()
        self._seconds: deque[float] = deque(maxlen=window)  # the last answers' durations

    def enter(self) -> float:
        """Take a place or raise Overloaded; returns the start time to give back to `leave`."""
        with self._lock:
            if self.held >= self.limit:
                raise Overloaded(self.held, self.retry_after())
            self.held += 1
        return time.perf_counter()

    def leave(self, started: float) -> None:
        with self._lock:
            self.held -= 1
            self._seconds.append(time.perf_counter() - started)

    def retry_after(self) -> int:
        mean = sum(self._seconds) / len(self._seconds) if self._seconds else 1.0
        return max(1, math.ceil(mean))
