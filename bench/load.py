"""Load: many clients against a real `overlay serve`, every request answered and every trace kept.

Run `.venv/bin/python bench/load.py [--clients 32] [--seconds 300] [--home WORKSPACE] [--backend hf]`.
It copies the workspace (so the live fact and the publish land in the copy), starts `overlay serve` on
127.0.0.1 with an API key, and runs the clients for the given time, each picking at random: a plain
completion, a streamed one, a streamed one it abandons after the first words, feedback on an answer it got,
or a graph read. A third of the way in one client adds a live fact; half way in another starts a publish
job and waits for it. Then it stops the server and checks, from its own records and the trace store:
no 5xx, every completion id has its trace (`GET /v1/traces/{id}`), as many answers in the store as
completions sent, and the answers begun after the publish ended carry its snapshot version.
JSON results go to `--out` (bench/results/load.json).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import duckdb
import httpx

ROOT = Path(__file__).resolve().parent
KEY = "load-test-key"
QUESTIONS = [
    "Who was Basava?",
    "What is a volcano?",
    "Hello! How are you?",
    "What is photosynthesis?",
    "Where is Mount Kilimanjaro?",
    "Write a haiku about the sea.",
    "What is the capital of Kenya?",
    "Who painted the Mona Lisa?",
]
FACT = "Quentaro Velmish is a glassblower who lives in the town of Ossendrel."
MIX = [("plain", 35), ("stream", 25), ("abandon", 10), ("feedback", 10), ("read", 20)]


class Record:
    """What the clients saw: per route latencies and statuses, and every completion id."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.status: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.completions: dict[str, float] = {}  # id -> time the request was sent (seconds into the run)
        self.bad_envelopes: list[str] = []

    def add(self, route: str, status: int, seconds: float) -> None:
        with self.lock:
            self.latency[route].append(seconds)
            self.status[route][status] += 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, port: int, backend: str, queue: int) -> subprocess.Popen:
    env = os.environ | {"OVERLAY_HOME": str(home), "OVERLAY_API_KEY": KEY}
    cmd = [str(Path(sys.executable).parent / "overlay"), "serve", "--port", str(port), "--backend", backend]
    proc = subprocess.Popen([*cmd, "--queue", str(queue)], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
        if proc.poll() is not None:
            sys.exit(f"the server exited: {proc.stderr.read()[-2000:]}")
    proc.kill()
    sys.exit("the server did not start in 300 s")


def check_error(rec: Record, route: str, r: httpx.Response) -> None:
    if r.status_code >= 400:
        try:
            ok = set(r.json()["error"]) == {"message", "type", "param", "code"}
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            with rec.lock:
                rec.bad_envelopes.append(f"{route} {r.status_code} {r.text[:200]}")


def client(i: int, url: str, t0: float, end: float, rec: Record, model: str, seed: int) -> None:
    rng = random.Random(seed * 1000 + i)
    mine: list[str] = []
    kinds, weights = zip(*MIX, strict=True)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=600) as h:
        while time.monotonic() < end:
            kind = rng.choices(kinds, weights)[0]
            body = {
                "model": model,
                "messages": [{"role": "user", "content": rng.choice(QUESTIONS)}],
                "max_tokens": 24,
            }
            sent = time.monotonic()
            if kind == "plain":
                r = h.post("/v1/chat/completions", json=body)
                rec.add("completion", r.status_code, time.monotonic() - sent)
                check_error(rec, "completion", r)
                if r.status_code == 200:
                    with rec.lock:
                        rec.completions[r.json()["id"]] = sent - t0
                    mine.append(r.json()["id"])
            elif kind in ("stream", "abandon"):
                with h.stream("POST", "/v1/chat/completions", json=body | {"stream": True}) as r:
                    if r.status_code == 200:
                        with rec.lock:
                            rec.completions[r.headers["x-request-id"]] = sent - t0
                        for n, line in enumerate(r.iter_lines()):
                            if kind == "abandon" and n >= 4:
                                break  # the client goes away mid-stream; the answer and its trace still finish
                            if line.startswith("data: {") and '"error"' in line:
                                rec.bad_envelopes.append(f"stream error event {line[:200]}")
                    else:
                        r.read()
                        check_error(rec, kind, r)
                route = "stream" if kind == "stream" else "stream_abandoned"
                rec.add(route, r.status_code, time.monotonic() - sent)
            elif kind == "feedback" and mine:
                r = h.post(f"/v1/traces/{rng.choice(mine)}/feedback", json={"rating": rng.choice([1, -1])})
                rec.add("feedback", r.status_code, time.monotonic() - sent)
                check_error(rec, "feedback", r)
            else:
                path = rng.choice(
                    ["/v1/graph/stats", "/v1/graph/nodes/volcano", "/v1/graph/nodes/sea/neighbors?rel=next&top=5"]
                )
                r = h.get(path)
                rec.add("graph_read", r.status_code, time.monotonic() - sent)
                check_error(rec, "graph_read", r)


def writer(url: str, t0: float, seconds: float, rec: Record, events: dict) -> None:
    """The live fact a third of the way in, the publish job half way in (waited for to its end)."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=600) as h:
        time.sleep(seconds / 3)
        sent = time.monotonic()
        r = h.post("/v1/graph/facts", json={"text": FACT, "title": "load fact"})
        rec.add("fact", r.status_code, time.monotonic() - sent)
        check_error(rec, "fact", r)
        time.sleep(max(0.0, t0 + seconds / 2 - time.monotonic()))
        sent = time.monotonic()
        job = h.post("/v1/jobs", json={"kind": "publish"})
        rec.add("publish_submit", job.status_code, time.monotonic() - sent)
        job_id = job.json()["id"]
        while (state := h.get(f"/v1/jobs/{job_id}").json())["status"] not in ("done", "failed", "interrupted"):
            time.sleep(1)
        events["publish"] = {"status": state["status"], "result": state.get("result"), "done": time.monotonic() - t0}


def quantiles(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    pick = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]  # noqa: E731
    return {"n": len(xs), "p50": round(pick(0.5), 3), "p95": round(pick(0.95), 3), "p99": round(pick(0.99), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--home", type=Path, default=Path(os.environ.get("OVERLAY_HOME", ".overlay")))
    ap.add_argument("--backend", default="hf")
    ap.add_argument("--queue", type=int, default=64, help="the server's --queue (completions held at once)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "load.json")
    args = ap.parse_args()
    if not (args.home / "snapshots" / "current").exists():
        sys.exit(f"{args.home} has no published snapshot: run `overlay graph ingest --wiki && overlay graph publish`")
    with tempfile.TemporaryDirectory(prefix="overlay-load-") as tmp:
        home = Path(tmp) / "ws"
        shutil.copytree(args.home, home, symlinks=True, ignore=shutil.ignore_patterns("traces.duckdb*", "jobs"))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(home, port, args.backend, args.queue)
        try:
            health = httpx.get(url + "/health").json()
            rec, events = Record(), {}
            t0 = time.monotonic()
            end = t0 + args.seconds
            threads = [
                threading.Thread(target=client, args=(i, url, t0, end, rec, health["model"], args.seed))
                for i in range(args.clients)
            ]
            threads.append(threading.Thread(target=writer, args=(url, t0, args.seconds, rec, events)))
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - t0
            print(f"clients done after {elapsed:.0f} s; waiting for held answers", file=sys.stderr)
            while httpx.get(url + "/health").json()["queue"]["held"]:
                time.sleep(0.5)  # abandoned streams finish in the server
            missing, versions = [], {}
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as h:
                for cid in rec.completions:
                    r = h.get(f"/v1/traces/{cid}")
                    if r.status_code != 200:
                        missing.append(cid)
                    else:
                        versions[cid] = r.json()["snapshot_version"]
        finally:
            proc.terminate()
            proc.wait(60)
        con = duckdb.connect(str(home / "traces.duckdb"), read_only=True)
        stored = con.execute("SELECT count(*) FROM answers").fetchone()[0]
        con.close()
    published = (events.get("publish") or {}).get("result") or {}
    done_at = (events.get("publish") or {}).get("done", float("inf"))
    after = [cid for cid, sent in rec.completions.items() if sent > done_at and cid in versions]
    stale = [cid for cid in after if versions[cid] != published.get("version")]
    total = sum(len(v) for v in rec.latency.values())
    errors_5xx = {route: sum(n for s, n in st.items() if s >= 500) for route, st in rec.status.items()}
    result = {
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "backend": args.backend,
        "queue": args.queue,
        "requests": total,
        "requests_per_s": round(total / elapsed, 2),
        "latency_s": {route: quantiles(xs) for route, xs in sorted(rec.latency.items())},
        "status": {route: dict(st) for route, st in sorted(rec.status.items())},
        "server_errors_5xx": sum(errors_5xx.values()),
        "bad_error_envelopes": rec.bad_envelopes[:20],
        "completions": len(rec.completions),
        "traces_missing": len(missing),
        "traces_stored": stored,
        "traces_equal_completions": stored == len(rec.completions),
        "publish": events.get("publish"),
        "answers_after_publish": len(after),
        "answers_after_publish_on_old_version": len(stale),
        "snapshot_version_before": health["snapshot_version"],
        "median_completion_s": round(statistics.median(rec.latency["completion"]), 3)
        if rec.latency["completion"]
        else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    ok = not result["server_errors_5xx"] and not missing and result["traces_equal_completions"] and not stale
    sys.exit(0 if ok and not rec.bad_envelopes else 1)


if __name__ == "__main__":
    main()
