"""Recount every edge from the stored tokens, in SQL.

Counting is a group-by over (word, next word) pairs: DuckDB does it for millions of words on one machine,
and the same SQL runs over Parquet shards for more. Counts are derived data: they are rebuilt from the
tokens after every ingest, then the edit log is replayed on top, so curation is never silently undone.

Provenance: every edge keeps its total passage count (`n_passages`) plus a bounded sample, the
`PROVENANCE_SAMPLE` smallest passage ids (deterministic), in `passages`.
"""

from __future__ import annotations

import duckdb
import numpy as np

from .language import function_words

PROVENANCE_SAMPLE = 8
ASSOC_WINDOW = 5  # co-occurrence: content words at most this many tokens apart, same sentence


def _sequence(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """CREATE OR REPLACE TEMP TABLE seq AS
        SELECT passage_id AS p, pos, node_id AS n, sent,
               lag(node_id) OVER w AS prev, lead(node_id) OVER w AS nxt
        FROM tokens WINDOW w AS (PARTITION BY passage_id ORDER BY pos)"""
    )


def _count_ngrams(con: duckdb.DuckDBPyConnection) -> None:
    """`next` (P(dst | src)) and `next2` (P(dst | ctx, src)) as conditional frequencies."""
    for rel, ctx, where in (
        ("next", "-1", "nxt IS NOT NULL"),
        ("next2", "prev", "prev IS NOT NULL AND nxt IS NOT NULL"),
    ):
        con.execute(
            f"""INSERT INTO edges
            WITH per AS (SELECT {ctx} AS ctx, n AS src, nxt AS dst, p, count(*) AS c
                         FROM seq WHERE {where} GROUP BY ALL),
                 agg AS (SELECT ctx, src, dst, sum(c) AS cnt, count(*) AS np, min(p, {PROVENANCE_SAMPLE}) AS ps
                         FROM per GROUP BY ALL)
            SELECT '{rel}', src, dst, ctx, cnt / sum(cnt) OVER (PARTITION BY ctx, src), cnt, np, ps, false
            FROM agg"""
        )


def _count_assoc(con: duckdb.DuckDBPyConnection) -> None:
    """Positive PMI of content words in one sentence window, discounted by c/(c+1) against rare pairs.

    Content words are the words less the function words of their passage's language (`language.py`)."""
    langs = [lang for (lang,) in con.execute("SELECT DISTINCT coalesce(lang, '') FROM passages").fetchall()]
    pairs_fw = [(lang, w) for lang in langs for w in sorted(function_words(lang or None))]
    columns = {name: np.array([p[i] for p in pairs_fw], dtype=object) for i, name in enumerate(("lang", "key"))}
    con.register("_function_words", columns)
    try:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE content AS
            SELECT s.p, s.pos, s.n, s.sent FROM seq s JOIN nodes nd ON nd.id = s.n JOIN passages ps ON ps.id = s.p
            ANTI JOIN _function_words fw ON fw.lang = coalesce(ps.lang, '') AND fw.key = nd.key
            WHERE nd.kind = 'word'"""
        )
    finally:
        con.unregister("_function_words")
    leads = ",\n".join(
        f"lead(n, {k}) OVER w AS n{k}, lead(pos, {k}) OVER w AS pos{k}, lead(sent, {k}) OVER w AS sent{k}"
        for k in range(1, ASSOC_WINDOW + 1)
    )
    pairs = "\nUNION ALL\n".join(
        f"SELECT p, least(n, n{k}) AS a, greatest(n, n{k}) AS b FROM ahead "
        f"WHERE n{k} IS NOT NULL AND n{k} <> n AND sent{k} = sent AND pos{k} - pos <= {ASSOC_WINDOW}"
        for k in range(1, ASSOC_WINDOW + 1)
    )
    con.execute(
        f"""INSERT INTO edges
        WITH ahead AS (SELECT *, {leads} FROM content WINDOW w AS (PARTITION BY p ORDER BY pos)),
             occ AS ({pairs}),
             per AS (SELECT a, b, p, count(*) AS c FROM occ GROUP BY ALL),
             agg AS (SELECT a, b, sum(c) AS cnt, count(*) AS np, min(p, {PROVENANCE_SAMPLE}) AS ps
                     FROM per GROUP BY ALL),
             freq AS (SELECT n, count(*) AS f FROM content GROUP BY n),
             total AS (SELECT count(*)::DOUBLE AS t FROM content),
             scored AS (SELECT a, b, cnt, np, ps,
                         greatest(ln(cnt * t / (fa.f * fb.f)), 0) * cnt / (cnt + 1) AS w
                        FROM agg, total JOIN freq fa ON fa.n = a JOIN freq fb ON fb.n = b)
        SELECT 'assoc', a, b, -1, w, cnt, np, ps, false FROM scored
        UNION ALL SELECT 'assoc', b, a, -1, w, cnt, np, ps, false FROM scored"""
    )


def _count_links(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""INSERT INTO edges
        WITH per AS (SELECT src, dst, passage_id AS p, count(*) AS c FROM links GROUP BY ALL)
        SELECT 'link', src, dst, -1, 1.0, sum(c), count(*), min(p, {PROVENANCE_SAMPLE}), false
        FROM per GROUP BY src, dst"""
    )


def _count_nodes(con: duckdb.DuckDBPyConnection) -> None:
    """Node counts and display surfaces: the most frequent written form inside sentences ("it", not the
    sentence-initial "It"), then overall."""
    con.execute(
        """CREATE OR REPLACE TABLE surfaces AS
        SELECT node_id, surface, sum(count)::BIGINT AS count, sum(inside)::BIGINT AS inside
        FROM surfaces GROUP BY ALL"""
    )
    con.execute(
        """UPDATE nodes SET count = coalesce(c.cnt, 0)
        FROM (SELECT nd.id, t.cnt FROM nodes nd LEFT JOIN
              (SELECT node_id, count(*) AS cnt FROM tokens GROUP BY node_id) t ON t.node_id = nd.id) c
        WHERE nodes.id = c.id AND nodes.kind <> 'concept'"""
    )
    con.execute(
        """UPDATE nodes SET count = c.cnt
        FROM (SELECT id, count(*) AS cnt FROM (SELECT src AS id FROM links UNION ALL SELECT dst FROM links)
              GROUP BY id) c WHERE nodes.id = c.id AND nodes.kind = 'concept'"""
    )
    con.execute(
        """UPDATE nodes SET surface = s.surface
        FROM (SELECT node_id, arg_max(surface, (inside, count) ORDER BY surface DESC) AS surface
              FROM surfaces GROUP BY node_id) s
        WHERE nodes.id = s.node_id AND nodes.kind <> 'concept'"""
    )


def recount(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild all counted edges from tokens and links (call inside the caller's transaction)."""
    con.execute("DELETE FROM edges")
    _sequence(con)
    _count_ngrams(con)
    _count_assoc(con)
    _count_links(con)
    _count_nodes(con)
    con.execute("DROP TABLE IF EXISTS seq")
    con.execute("DROP TABLE IF EXISTS content")
