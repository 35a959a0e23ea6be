"""Crashes: kill -9 at a random moment of each writing operation, and nothing is lost.

Run `.venv/bin/python bench/crash.py [--runs 20] [--ops ingest,publish,fact,feedback,distill] [--seed 0]`.
Each operation runs as the real CLI in a subprocess over a fresh copy of a small published workspace; it is
first run once to its end (its duration, and the state after it), then killed with SIGKILL at a moment
drawn uniformly over that duration (seeded) until `--runs` kills have landed: a run that ends before its
moment (runs vary in length) is checked like the others, the duration becomes the shortest seen, and the
next draw is another run (at most three times `--runs` runs). After each run the workspace must open and be whole:
- its state (graph counts and edit log, published versions, the current version, the live delta, the
  adapters) equals the state before the operation or the one after it, never something between;
- every snapshot verifies its checksums and `current` points at a whole version;
- the trace store opens;
- an interrupted distillation reads `interrupted` and resumes to its end (`overlay jobs resume`);
- the operation run again afterwards succeeds (nothing left behind breaks the next run).
The workspace is opened as every answering command opens it: a live edit the kill left half done (graph
committed, delta not yet swapped) is finished first (`Workspace.recover`); `recovered_at_open` counts them.
JSON results go to `--out` (bench/results/crash.json); the exit code is 1 if any workspace was damaged.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parent / "tests" / "data"
OVERLAY = [sys.executable, "-m", "api"]
DISTILL = ["--rank", "2", "--batch-size", "4", "--seed", "3", "--regularise-batch", "1", "--perplexity-passages", "4"]


def cli(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = os.environ | {"OVERLAY_HOME": str(home)}
    proc = subprocess.run([*OVERLAY, *args], env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"overlay {' '.join(args)}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return proc


def state(home: Path) -> dict:
    """What the operations change, read through the library; raises if any part does not open or verify."""
    from adapters import registry
    from graph_store import Snapshot, connect, current_version, list_snapshots, stats
    from overlay import TraceStore, Workspace

    ws = Workspace(home=home)
    con = connect(ws.graph_db, read_only=True)
    try:
        graph = {k: v for k, v in stats(con, ws.graph_db).items() if k != "db_bytes"}
    finally:
        con.close()
    versions = [m.version for m in list_snapshots(ws.snapshots)]
    for v in versions:
        Snapshot.open(ws.snapshots, version=v, verify=True, with_delta=False)
    snap = Snapshot.open(ws.snapshots)  # `current` and its live delta
    assert snap.manifest.version == current_version(ws.snapshots)
    TraceStore(ws.traces_db).close()
    return {
        "graph": graph,
        "versions": versions,
        "current": snap.manifest.version,
        "delta_passages": snap.delta_passages,
        "adapters": registry.names(home),
    }


def jobs(home: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((home / "jobs").glob("*.json"))]


def prepare(base: Path, work: Path) -> dict[str, tuple[Path, list[str]]]:
    """The published base workspace with one traced answer, and per operation (its workspace, its command)."""
    cli(base, "graph", "ingest", str(DATA / "sample.txt"), str(DATA / "people.jsonl"))
    cli(base, "graph", "publish")
    trace = json.loads(cli(base, "ask", "Who is Anna Berg?", "--max-words", "8", "--json").stdout)
    rng = random.Random(0)
    words = [f"w{i}" for i in range(2000)]
    big = work / "big.jsonl"
    with big.open("w") as f:
        for i in range(1500):
            f.write(json.dumps({"id": f"doc{i}", "text": " ".join(rng.choices(words, k=60)) + "."}) + "\n")
    fact = work / "fact.txt"
    fact.write_text("Quentaro Velmish is a glassblower who lives in the town of Ossendrel.\n", encoding="utf-8")
    pending = work / "pending"  # publish has new passages to embed and compile
    shutil.copytree(base, pending, symlinks=True)
    cli(pending, "graph", "ingest", str(DATA / "docs.jsonl"), str(DATA / "mixed.txt"))
    return {
        "ingest": (base, ["graph", "ingest", str(big)]),
        "publish": (pending, ["graph", "publish"]),
        "fact": (base, ["graph", "ingest", str(fact), "--live"]),
        "feedback": (base, ["feedback", trace["id"], "--bad", "--note", "crash bench"]),
        "distill": (
            base,
            ["adapters", "distill", "--track", "if-then-therefore", "--name", "crashed", "--max-steps", "6"]
            + ["--checkpoint-every", "2", *DISTILL],
        ),
    }


def run_killed(home: Path, args: list[str], after: float | None) -> tuple[float, int | None]:
    """Run the command; SIGKILL it `after` seconds in (if still running). (seconds, exit code or None)."""
    env = os.environ | {"OVERLAY_HOME": str(home)}
    t = time.perf_counter()
    proc = subprocess.Popen([*OVERLAY, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        code = proc.wait(timeout=after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return time.perf_counter() - t, None
    return time.perf_counter() - t, code


def recover(home: Path, op: str, args: list[str]) -> dict:
    """After a kill: an interrupted job resumes; then the operation runs again to its end."""
    out: dict = {}
    if op == "distill":
        unfinished = [j for j in jobs(home) if j["status"] != "done"]
        out["job_status"] = []
        for job in unfinished:  # its record says running; `jobs status` finds its process gone
            shown = json.loads(cli(home, "jobs", "status", job["id"], "--json", check=False).stdout)
            out["job_status"].append(shown["status"])
            assert shown["status"] == "interrupted", f"job {job['id']} reads {shown['status']}, not interrupted"
            cli(home, "jobs", "resume", job["id"], "--json")
        if unfinished:
            return out
        if "crashed" in state(home)["adapters"]:
            args = [*args, "--replace"]
    cli(home, *args)
    return out


def save(results: dict, damaged: int, out: Path) -> None:
    results["kills"] = sum(o["kills"] for o in results["operations"].values())
    results["damaged_workspaces"] = damaged
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20, help="kills per operation (runs that end first are repeated)")
    ap.add_argument("--ops", default="ingest,publish,fact,feedback,distill")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "crash.json")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    results: dict = {"kills_per_operation": args.runs, "seed": args.seed, "operations": {}}
    damaged = 0
    with tempfile.TemporaryDirectory(prefix="overlay-crash-") as tmp:
        work = Path(tmp)
        ops = prepare(work / "base", work)
        for op in args.ops.split(","):
            source, command = ops[op]
            scratch = work / f"{op}-calibrate"
            shutil.copytree(source, scratch, symlinks=True)
            before = state(scratch)
            duration, code = run_killed(scratch, command, None)
            assert code == 0, f"{op} fails when not killed"
            after = state(scratch)
            assert after != before, f"{op} changed nothing"
            rows: list[dict] = []
            while sum(r["killed"] for r in rows) < args.runs and len(rows) < 3 * args.runs:
                i = len(rows)
                home = work / f"{op}-{i}"
                shutil.copytree(source, home, symlinks=True)
                at = rng.uniform(0, duration)
                seconds, code = run_killed(home, command, at)
                row = {"kill_at_s": round(at, 3), "killed": code is None, "exit_code": code}
                if code is not None:  # ended first: the calibration ran slower (a busy machine); draw over this
                    duration = min(duration, seconds)
                try:
                    from overlay import Workspace

                    row["recovered"] = Workspace(home=home).recover()  # as every command that answers does first
                    now = state(home)
                    row["state"] = "before" if now == before else "after" if now == after else "between"
                    if row["state"] == "between":  # what differs, as (before, now, after)
                        row["differs"] = {k: (before[k], now[k], after[k]) for k in now if before[k] != now[k]}
                    row |= recover(home, op, command)
                    state(home)
                    row["next_run"] = "ok"
                except Exception as exc:  # a workspace that does not open, verify or run again: damaged
                    row["error"] = f"{type(exc).__name__}: {exc}"[:500]
                row["damaged"] = row.get("state") not in ("before", "after") or "error" in row
                damaged += row["damaged"]
                rows.append(row)
                shutil.rmtree(home, ignore_errors=True)
                kills = sum(r["killed"] for r in rows)
                print(f"{op} run {i + 1}, {kills}/{args.runs} kills: {json.dumps(row)}", file=sys.stderr)
            results["operations"][op] = {
                "duration_s": round(duration, 2),
                "runs_done": len(rows),
                "kills": sum(r["killed"] for r in rows),
                "state_before": sum(r.get("state") == "before" for r in rows),
                "state_after": sum(r.get("state") == "after" for r in rows),
                "recovered_at_open": sum(bool(r.get("recovered")) for r in rows),
                "damaged": sum(r["damaged"] for r in rows),
                "runs": rows,
            }
            save(results, damaged, args.out)  # after each operation: a bench stopped early keeps what it measured
    summary = {k: v for k, v in results.items() if k != "operations"}
    summary["per_operation"] = {
        op: {k: v for k, v in o.items() if k != "runs"} for op, o in results["operations"].items()
    }
    print(json.dumps(summary, indent=2))
    sys.exit(1 if damaged else 0)


if __name__ == "__main__":
    main()
