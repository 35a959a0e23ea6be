"""Graph store benchmark: wiki ingest + publish, one-document republish, snapshot lookups, synthetic scaling.

Run `.venv/bin/python bench/graph.py [--quick] [--out bench/results/graph.json]`. Lookups run in a child
process per snapshot (`--lookups`), so its RSS is what a serving process holding that snapshot would use.
Wall times come with this process's CPU seconds: on a shared machine the gap shows CPU contention.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import graph_store.publisher as pub
from graph_store import Snapshot, db, ensure_embeddings, ingest_paths, search
from graph_store.embeddings import MODEL_NAME, load_model

ROOT = Path(__file__).resolve().parent
# publish() internals timed by wrapping their module globals (no change to graph_store itself).
_TIMED = ("ensure_embeddings", "_compile", "passage_vectors", "graph_hash", "sha256_file", "_fsync")
ONE_DOC = (
    "Benchmark Lighthouse. The benchmark lighthouse stands on a granite cape and flashes twice every minute. "
    "Its keeper logs the weather at dawn, checks the lamp at noon and winds the clockwork before dusk. "
    "Ships that pass the cape at night count the flashes to tell this light from its neighbours."
)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.2f}] {msg}", file=sys.stderr, flush=True)


def rss_mib() -> dict[str, float]:
    """VmRSS = anon (private) + file (shared mmap pages), MiB. ru_maxrss survives exec (so a child reports at
    least its parent's RSS at spawn): VmHWM is the process's own peak."""
    st = dict(ln.split(":", 1) for ln in Path("/proc/self/status").read_text().splitlines() if ":" in ln)
    names = {"rss": "VmRSS", "anon": "RssAnon", "file": "RssFile", "hwm": "VmHWM"}
    out = {f"{k}_mib": int(st[v].split()[0]) for k, v in names.items()}
    out["maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {k: round(v / 1024, 1) for k, v in out.items()}


def timed(fn: Callable, *args, **kwargs) -> tuple[object, dict[str, float]]:
    """Call fn; return (result, {seconds, cpu_seconds})."""
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, {"seconds": round(time.perf_counter() - t, 3), "cpu_seconds": round(time.process_time() - c, 3)}


def timed_publish(db_path: Path, snaps: Path) -> dict:
    """publish() with its time split into embeddings, array compile, graph hash, checksums and fsync."""
    spent, returned = dict.fromkeys(_TIMED, 0.0), {}
    originals = {name: getattr(pub, name) for name in _TIMED}

    def wrap(name: str, fn: Callable) -> Callable:
        def inner(*args, **kwargs):
            t = time.perf_counter()
            try:
                returned[name] = fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t
            return returned[name]

        return inner

    for name, fn in originals.items():
        setattr(pub, name, wrap(name, fn))
    try:
        manifest, t = timed(pub.publish, db_path, snaps, progress=False)
    finally:
        for name, fn in originals.items():
            setattr(pub, name, fn)
    parts = {
        "embeddings": spent["ensure_embeddings"] + spent["passage_vectors"],  # cache lookup + any encoding
        "compile_arrays_faiss": spent["_compile"] - spent["passage_vectors"] - spent["graph_hash"],
        "graph_hash": spent["graph_hash"],
        "checksums": spent["sha256_file"],
        "fsync": spent["_fsync"],
    }
    parts["other"] = t["seconds"] - sum(parts.values())
    return t | {
        "phases": {k: round(v, 3) for k, v in parts.items()},
        "embedded": returned["ensure_embeddings"]["computed"],
        "snapshot_bytes": sum(f.stat().st_size for f in (snaps / manifest.name).iterdir()),
        "edges": manifest.counts["edges"],
    }


def lookup_child(snaps: Path, db_path: Path, reps: int, n_search: int) -> dict:
    """Open the snapshot and time each lookup kind over sampled real queries; runs in a fresh process."""
    con = db.connect(db_path, read_only=True)

    def sample(sql: str, n: int = reps) -> list:  # sample after filtering (USING SAMPLE runs before WHERE)
        return con.execute(f"SELECT * FROM ({sql}) USING SAMPLE reservoir({n} ROWS) REPEATABLE (7)").fetchall()

    # Sampling edges (not nodes) weights words by out-degree, roughly as running text does.
    word = "FROM edges e JOIN nodes n ON n.id = e.src WHERE e.rel = '{}' AND n.kind = 'word'"
    nexts = sample(f"SELECT n.key, e.src {word.format('next')}")
    assocs = [k for (k,) in sample(f"SELECT n.key {word.format('assoc')}")]
    pairs = sample(  # (ctx, src) of next2 edges: the word pairs whose next2 row exists
        "SELECT c.key AS prev, n.key FROM edges e JOIN nodes n ON n.id = e.src JOIN nodes c ON c.id = e.ctx "
        "WHERE e.rel = 'next2' AND n.kind = 'word' AND c.kind = 'word'"
    )
    texts = sample("SELECT title, text FROM passages", n_search) if n_search else []
    queries = [t if i % 2 and t else x.split(". ")[0][:200] for i, (t, x) in enumerate(texts)]  # title / 1st sentence
    con.close()
    out: dict = {"rss_before_open": rss_mib()}
    snap, out["open"] = timed(Snapshot.open, snaps)  # verify=True: sha256 of every file, as serving does
    out["rss_after_open"] = rss_mib()
    calls: dict[str, tuple[Callable, list]] = {
        "next": (lambda q: snap.next(q[0], k=10), nexts),
        "next2": (lambda q: snap.next2(q[0], q[1], k=10), pairs),
        "assoc": (lambda q: snap.assoc(q, k=10), assocs),
        "successor_arrays": (lambda q: snap.successor_arrays("next", q[1])[0], nexts),
        "search": (lambda q: search(snap, q, k=5), queries),
    }
    out["latency_us"] = {}
    for name, (fn, qs) in calls.items():
        if not qs:
            continue
        if name == "search":
            out["rss_after_graph_lookups"] = rss_mib()
        for q in qs[:10] if name == "search" else qs[:200]:  # warm-up (search: model and FAISS load)
            fn(q)
        ns, empty = np.empty(len(qs), dtype=np.int64), 0
        for i, q in enumerate(qs):
            t0 = time.perf_counter_ns()
            r = fn(q)
            ns[i] = time.perf_counter_ns() - t0
            empty += len(r) == 0
        p50, p99 = np.percentile(ns, [50, 99]) / 1e3
        out["latency_us"][name] = {"n": len(qs), "p50": round(p50, 1), "p99": round(p99, 1), "empty": empty}
    out["rss_after_lookups"] = rss_mib()
    return out


def lookups(snaps: Path, db_path: Path, reps: int, n_search: int = 0) -> dict:
    cmd = [sys.executable, __file__, "--lookups", str(snaps), "--db", str(db_path), "--reps", str(reps)]
    res = subprocess.run([*cmd, "--search", str(n_search)], check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def bench_wiki(work: Path, reps: int, n_search: int) -> dict:
    """First build of the bundled wiki, then one added document; graph time excludes embedding work."""
    db_path, snaps = work / "wiki.duckdb", work / "wiki-snapshots"
    s, ingest_t = timed(ingest_paths, db_path, wiki=True, progress=False)
    log(f"wiki ingest {s.seconds:.1f}s {s.phases} ({s.passages} passages, {s.words} words)")
    _, load_t = timed(
        load_model, MODEL_NAME, True
    )  # positional, as embed_texts calls it: functools.cache keys on call form
    con = db.connect(db_path)
    try:
        emb, emb_t = timed(ensure_embeddings, con, progress=False)
    finally:
        con.close()
    log(f"embeddings {emb}, {emb_t}, model load {load_t['seconds']}s")
    p = timed_publish(db_path, snaps)
    log(f"publish (warm embedding cache) {p['seconds']:.1f}s {p['phases']}")
    doc = work / "benchmark_lighthouse.txt"
    doc.write_text(ONE_DOC)
    s1, ingest1_t = timed(ingest_paths, db_path, [doc], progress=False)
    p1 = timed_publish(db_path, snaps)
    log(f"one doc: ingest {s1.seconds:.1f}s {s1.phases}, publish {p1['seconds']:.1f}s, embedded {p1['embedded']}")
    first = {"ingest": ingest_t, "model_load": load_t, "embeddings": emb_t, "publish": p}
    return {
        "ingest": ingest_t | {"phases": s.phases, "documents": s.documents, "passages": s.passages,
                              "words": s.words, "nodes": s.new_nodes, "edges": s.new_edges},
        "embeddings_first_build": emb_t | {"passages": emb["computed"], "model_load_seconds": load_t["seconds"],
                                           "passages_per_s": round(emb["computed"] / emb_t["seconds"], 1)},
        "publish_warm": p,
        "graph_seconds": round(s.seconds + p["seconds"] - p["phases"]["embeddings"], 3),
        "graph_target_seconds": 60,
        "first_build_total_seconds": round(sum(v["seconds"] for v in first.values()), 3),
        "add_one_doc": {"ingest": ingest1_t | {"phases": s1.phases}, "publish": p1, "target_seconds": 30,
                        "total_seconds": round(ingest1_t["seconds"] + p1["seconds"], 3)},
        "graph_db_bytes": db_path.stat().st_size,
        "lookups": lookups(snaps, db_path, reps, n_search),
    }  # fmt: skip


def build_synthetic(db_path: Path, n_edges: int) -> None:
    """Nodes = edges/20 (kind word); next/assoc/next2 thirds with log-uniform (Zipf s=1) sources; 8 passages."""
    n = max(n_edges // 20, 100)
    con = db.connect(db_path)
    try:
        con.execute("SELECT setseed(0.42)")
        con.execute(f"INSERT INTO nodes SELECT i, 'w' || i, 'w' || i, 'word', 1 + {n} // i FROM range(1, {n}) t(i)")
        con.execute("INSERT INTO sources (id, name, kind) VALUES (1, 'synthetic', 'txt')")
        con.execute(
            "INSERT INTO passages (id, source_id, doc_id, title, url, ord, text, hash, doc_hash, n_tokens) "
            "SELECT i, 1, 'd' || i, 'Synthetic ' || i, NULL, 0, "
            "'Synthetic passage ' || i || ' about word w' || i || '.', md5(i::VARCHAR), md5(i::VARCHAR), 7 "
            "FROM range(1, 9) t(i)"
        )
        zipf = f"least({n - 1}, floor(exp(random() * ln({n}))))::INT"
        third = n_edges // 3
        for rel, m, ctx in (("next", n_edges - 2 * third, "-1"), ("assoc", third, "-1"), ("next2", third, zipf)):
            con.execute(
                f"INSERT INTO edges SELECT '{rel}', {zipf}, (1 + hash(i, '{rel}') % {n - 1})::INT, {ctx}, "
                f"random(), 1 + hash(i) % 100, 1, [1 + i % 8, 1 + (i * 7) % 8]::INTEGER[], false FROM range({m}) t(i)"
            )
    finally:
        con.close()


def bench_synthetic(work: Path, n_edges: int, reps: int) -> dict:
    db_path, snaps = work / f"syn{n_edges}.duckdb", work / f"syn{n_edges}-snapshots"
    _, build_t = timed(build_synthetic, db_path, n_edges)
    p = timed_publish(db_path, snaps)
    log(f"synthetic {n_edges:.0e}: build {build_t['seconds']}s, publish {p['seconds']}s {p['phases']}")
    return {"edges": n_edges, "build": build_t, "publish": p, "graph_db_bytes": db_path.stat().st_size,
            "lookups": lookups(snaps, db_path, reps)}  # fmt: skip


def summary(res: dict) -> str:
    w, env = res["wiki"], res["env"]
    emb, one = w["embeddings_first_build"], w["add_one_doc"]
    lines = [
        f"wiki: ingest {w['ingest']['seconds']}s, publish (warm cache) {w['publish_warm']['seconds']}s, "
        f"graph part {w['graph_seconds']}s (target 60)",
        f"  first-build embeddings {emb['seconds']}s = {emb['passages_per_s']} passages/s",
        f"  +1 doc: ingest {one['ingest']['seconds']}s + publish {one['publish']['seconds']}s (target 30), "
        f"embedded {one['publish']['embedded']}",
    ]
    for name, r in [("wiki", w), *((f"{s['edges']:.0e}", s) for s in res["synthetic"])]:
        lat = "  ".join(f"{k} {v['p50']}/{v['p99']}" for k, v in r["lookups"]["latency_us"].items())
        size = r.get("publish", w["publish_warm"])["snapshot_bytes"] / 2**20
        rss = r["lookups"]["rss_after_lookups"]
        lines.append(f"{name:>6}: p50/p99 us {lat} | RSS {rss['anon_mib']}+{rss['file_mib']} MiB, {size:.1f} MiB")
    return "\n".join([*lines, f"loadavg start {env['loadavg_start']} end {env['loadavg_end']}"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip 10^7 edges, fewer repetitions")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "graph.json")
    ap.add_argument("--lookups", type=Path, help=argparse.SUPPRESS)  # child mode: snapshots folder
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--reps", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--search", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.lookups:
        print(json.dumps(lookup_child(args.lookups, args.db, args.reps, args.search)))
        return
    reps, n_search = (500, 30) if args.quick else (5000, 200)
    sizes = (10**5, 10**6) if args.quick else (10**5, 10**6, 10**7)
    load = lambda: [round(x, 2) for x in os.getloadavg()]  # noqa: E731
    env = {"cpus": os.cpu_count(), "loadavg_start": load(), "quick": args.quick, "python": sys.version.split()[0],
           "reps": reps, "search_queries": n_search}  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="overlay-bench-"))
    try:
        res = {"env": env, "wiki": bench_wiki(work, reps, n_search)}
        env |= {"loadavg_after_wiki": load(), "torch_threads": sys.modules["torch"].get_num_threads()}
        res["synthetic"] = [bench_synthetic(work, n, reps) for n in sizes]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    env |= {"loadavg_end": load(), "parent_rss": rss_mib()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    print(summary(res), file=sys.stderr)
    print(args.out)


if __name__ == "__main__":
    main()
