"""The one migration runner: a database's schema is a list of numbered, append-only SQL migrations, each
applied once, in its own transaction, at open (the graph database and the trace store alike)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def migrate(con: Any, migrations: Sequence[str]) -> list[int]:
    """Apply the migrations `con` (a DuckDB connection) has not had yet; returns the versions applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "applied_at TIMESTAMP DEFAULT current_timestamp)"
    )
    done = {v for (v,) in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, sql in enumerate(migrations, start=1):
        if version in done:
            continue
        con.execute("BEGIN")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations (version) VALUES (?)", [version])
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        applied.append(version)
    return applied
