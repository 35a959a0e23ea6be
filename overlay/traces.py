"""The trace store (`OVERLAY_HOME/traces.duckdb`): every answer and every step, queryable afterwards.

One row per answer (prompt, text, config, model and checksum, adapter label, name, verified flag and
checksum, snapshot version, timings, trust) and one per step (context tail, chosen index, candidate count,
the word as written with its spacing and capitalisation, the passage it was copied from, the words refused
before it, its trust, the top `trace_k` candidates with their score parts, edges and passages). An answer is
written in one transaction before it is returned to anyone.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from common import migrate

from .errors import RuntimeInputError, TraceNotFound, TracesBusy
from .records import Answer

MIGRATIONS = [
    """
    CREATE TABLE answers (
        id VARCHAR PRIMARY KEY, created_at TIMESTAMP DEFAULT current_timestamp, prompt JSON NOT NULL,
        text VARCHAR NOT NULL, finish_reason VARCHAR NOT NULL, config JSON NOT NULL, model_id VARCHAR NOT NULL,
        model_checksum VARCHAR NOT NULL, adapter VARCHAR, snapshot_version INTEGER NOT NULL, passages JSON,
        usage JSON, timings JSON);
    CREATE TABLE steps (
        answer_id VARCHAR NOT NULL, step INTEGER NOT NULL, context_tail VARCHAR, chosen INTEGER NOT NULL,
        n_candidates INTEGER NOT NULL, text VARCHAR NOT NULL, delta VARCHAR NOT NULL, speculative BOOLEAN,
        candidates JSON NOT NULL);
    """,
    # 2: the adapter by registry name, verified flag and checksum of its files (not only its display label);
    # per step how the word was written (spacing, capitalisation), the passage it was copied from and the
    # words refused before it. Traces written before this have NULL here and replay as before.
    """
    ALTER TABLE answers ADD COLUMN adapter_name VARCHAR;
    ALTER TABLE answers ADD COLUMN adapter_verified BOOLEAN;
    ALTER TABLE answers ADD COLUMN adapter_checksum VARCHAR;
    ALTER TABLE steps ADD COLUMN space BOOLEAN;
    ALTER TABLE steps ADD COLUMN cap BOOLEAN;
    ALTER TABLE steps ADD COLUMN copy_source JSON;
    ALTER TABLE steps ADD COLUMN rejected JSON;
    """,
    # 3: how far the retrieved passages were trusted as evidence, per answer and per step (NULL before).
    """
    ALTER TABLE answers ADD COLUMN trust DOUBLE;
    ALTER TABLE steps ADD COLUMN trust DOUBLE;
    """,
    # 4: the question's language and how much the LLM's log-probs counted in it (NULL before: 1).
    """
    ALTER TABLE answers ADD COLUMN llm_weight DOUBLE;
    ALTER TABLE answers ADD COLUMN language VARCHAR;
    """,
    # 5: what the prompt asked of the answer's form (a list, a translation, …) and the words the LLM drafted
    # for a translation that the graph lacks (allowed as session words); NULL before.
    """
    ALTER TABLE answers ADD COLUMN asked VARCHAR;
    ALTER TABLE answers ADD COLUMN drafted JSON;
    """,
]
ANSWER_COLUMNS = (
    "id, prompt, text, finish_reason, config, model_id, model_checksum, adapter, snapshot_version, passages, usage, "
    "timings, adapter_name, adapter_verified, adapter_checksum, trust, llm_weight, language, asked, drafted"
)
STEP_COLUMNS = (
    "answer_id, step, context_tail, chosen, n_candidates, text, delta, speculative, candidates, space, cap, "
    "copy_source, rejected, trust"
)
STEP_JSON = ("candidates", "copy_source", "rejected")


def _locked(fn):
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return fn(self, *args, **kwargs)

    return wrapper


class TraceStore:
    """One DuckDB connection, shared by threads (a server's requests) through a lock."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self.con = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise TracesBusy(
                    f"{self.path} is in use by another process (is `overlay serve` running on this workspace?)"
                ) from None
            raise
        migrate(self.con, MIGRATIONS)

    def close(self) -> None:
        self.con.close()

    @_locked
    def save(self, answer: Answer) -> str:
        a = answer
        steps = [
            (
                a.id,
                s.index,
                s.context_tail,
                s.chosen,
                s.n_candidates,
                s.text,
                s.delta,
                s.speculative,
                json.dumps([asdict(c) for c in s.candidates]),
                s.space,
                s.cap,
                None if s.copy_source is None else json.dumps([int(v) for v in s.copy_source]),
                json.dumps(list(s.rejected)),
                s.trust,
            )
            for s in a.steps
        ]
        self.con.execute("BEGIN")
        try:
            self.con.execute(
                f"INSERT INTO answers ({ANSWER_COLUMNS}) VALUES ({', '.join('?' * 20)})",
                [
                    a.id,
                    json.dumps(a.prompt),
                    a.text,
                    a.finish_reason,
                    json.dumps(a.config),
                    a.model_id,
                    a.model_checksum,
                    a.adapter,
                    a.snapshot_version,
                    json.dumps(a.passages),
                    json.dumps(a.usage),
                    json.dumps(a.timings),
                    a.adapter_name,
                    a.adapter_verified,
                    a.adapter_checksum,
                    a.trust,
                    a.llm_weight,
                    a.language,
                    a.asked,
                    json.dumps(a.drafted) if a.drafted is not None else None,
                ],
            )
            if steps:  # one columnar insert: DuckDB's executemany costs ~1 ms a row
                frame = {f"c{i}": np.array(col, dtype=object) for i, col in enumerate(zip(*steps, strict=True))}
                self.con.register("steps_frame", frame)
                self.con.execute(f"INSERT INTO steps ({STEP_COLUMNS}) SELECT * FROM steps_frame")
                self.con.unregister("steps_frame")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")
        return a.id

    @_locked
    def get(self, answer_id: str) -> dict[str, Any]:
        """The whole trace as plain JSON-able data (the schema of `overlay traces show --json`)."""
        cur = self.con.execute("SELECT * FROM answers WHERE id = ?", [answer_id])
        row = cur.fetchone()
        if row is None:
            raise TraceNotFound(f"no trace {answer_id!r}")
        names = [d[0] for d in cur.description]
        trace = dict(zip(names, row, strict=True))
        for key in ("prompt", "config", "passages", "usage", "timings", "drafted"):
            trace[key] = json.loads(trace[key]) if trace[key] is not None else None
        trace["created_at"] = str(trace["created_at"])
        cur = self.con.execute("SELECT * EXCLUDE (answer_id) FROM steps WHERE answer_id = ? ORDER BY step", [answer_id])
        names = [d[0] for d in cur.description]
        trace["steps"] = []
        for r in cur.fetchall():
            step = dict(zip(names, r, strict=True))
            for key in STEP_JSON:  # NULL in traces written before migration 2 (copy_source: also without a copy)
                step[key] = json.loads(step[key]) if step[key] is not None else None
            trace["steps"].append(step)
        return trace

    @_locked
    def answer_texts(self, limit: int = 100_000) -> list[tuple[str, Any, str]]:
        """(id, prompt, text) of the newest answers: the chosen word sequences that track mining reads."""
        rows = self.con.execute(
            "SELECT id, prompt, text FROM answers ORDER BY created_at DESC, id LIMIT ?", [limit]
        ).fetchall()
        return [(i, json.loads(p), t) for i, p, t in rows]

    @_locked
    def list(self, limit: int = 20, since: str | None = None) -> list[dict[str, Any]]:
        where, params = self._since(since)
        rows = self.con.execute(
            "SELECT id, created_at::VARCHAR, left(prompt::VARCHAR, 80), left(text, 80), snapshot_version, adapter "
            f"FROM answers {where} ORDER BY created_at DESC, id DESC LIMIT ?",
            [*params, limit],
        ).fetchall()
        keys = ("id", "created_at", "prompt", "text", "snapshot_version", "adapter")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    @_locked
    def ids(self, since: str | None = None) -> list[tuple[str, int]]:
        """(id, saved at in Unix nanoseconds) of the answers `since` on, oldest first: what an export walks."""
        where, params = self._since(since)
        return self.con.execute(
            f"SELECT id, epoch_ns(created_at::TIMESTAMPTZ) FROM answers {where} ORDER BY created_at, id", params
        ).fetchall()

    def _since(self, since: str | None) -> tuple[str, list[Any]]:
        """`since` as a WHERE clause: a trace id (the answers saved after it, so the last id of one export
        starts the next) or an ISO date or time (from then on; local time unless it names its zone)."""
        if since is None:
            return "", []
        row = self.con.execute("SELECT created_at FROM answers WHERE id = ?", [since]).fetchone()
        if row is not None:
            return "WHERE created_at > ? OR (created_at = ? AND id > ?)", [row[0], row[0], since]
        try:
            moment = datetime.fromisoformat(since)
        except ValueError:
            raise RuntimeInputError(
                f"since: {since!r} is neither a trace id in this store nor an ISO date or time "
                "(2025-01-31, 2025-01-31T12:00, 2025-01-31T12:00+02:00)",
                param="since",
            ) from None
        return "WHERE created_at::TIMESTAMPTZ >= ?", [moment if moment.tzinfo else moment.astimezone()]
