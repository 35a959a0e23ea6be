"""Replay check: every dev recall question and every `overlay bench speed` prompt is answered with the
default runtime, its trace saved and read back, then replayed; the answer must come back identical.

Run on a workspace built with the dev titles held out (see README.md):
`OVERLAY_HOME=/work/devws .venv/bin/python bench/replay_check.py [--out bench/results/replay.json]`.
Replays run after all answers, on a fresh `Runtime` (new snapshot handle, new lexicon; same loaded model), so
state one answer leaves behind for the next would show up as a difference. Traces go to the workspace's trace
store (or `--traces PATH`), so `overlay replay ID` can re-check any of them from a new process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from graph_store import Snapshot
from overlay import Runtime, RuntimeConfig, TraceStore, Workspace, open_runtime, replay
from overlay.evaluate import read_jsonl
from overlay.speed import SPEED_PROMPTS

ROOT = Path(__file__).resolve().parent
RECALL = ROOT.parent.parent / "shared" / "eval" / "recall_dev.jsonl"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.2f}] {msg}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recall", type=Path, default=RECALL)
    ap.add_argument("--prompts", type=Path, default=SPEED_PROMPTS)
    ap.add_argument("--traces", type=Path, default=None, help="trace store (default: the workspace's)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "replay.json")
    args = ap.parse_args()

    ws = Workspace()
    prompts = [("recall_dev", r["question"]) for r in read_jsonl(args.recall, ("question",))]
    prompts += [("speed", r["question"]) for r in read_jsonl(args.prompts, ("question",))]
    config = RuntimeConfig()
    runtime = open_runtime(ws, config=config)
    store = TraceStore(args.traces or ws.traces_db)
    t0 = time.perf_counter()
    ids = []
    for i, (_, question) in enumerate(prompts):
        ids.append(store.save(runtime.answer(question, config)))
        if (i + 1) % 10 == 0:
            log(f"answered {i + 1}/{len(prompts)}")
    answer_s = time.perf_counter() - t0
    fresh = Runtime(Snapshot.open(ws.snapshots, version=runtime.snap.version), runtime.backend, config)
    t0 = time.perf_counter()
    rows = []
    for i, ((source, question), trace_id) in enumerate(zip(prompts, ids, strict=True)):
        trace = store.get(trace_id)
        result = replay(fresh, trace)
        cased = [
            s["step"]
            for s in trace["steps"]
            if s["copy_source"] is not None and s["text"] != s["candidates"][s["chosen"]]["text"]
        ]
        rows.append(
            {
                "source": source,
                "question": question,
                "trace": trace_id,
                "steps": len(trace["steps"]),
                "cased_copies": cased,  # copied steps written otherwise than their node's display form
                "identical": result.identical,
                "first_difference": result.first_difference,
            }
            | ({} if result.identical else {"text": trace["text"], "replayed": result.text})
        )
        if not result.identical:
            log(f"differs: {question!r} at {result.first_difference}")
        if (i + 1) % 10 == 0:
            log(f"replayed {i + 1}/{len(prompts)}")
    replay_s = time.perf_counter() - t0
    store.close()
    identical = sum(r["identical"] for r in rows)
    report = {
        "workspace": str(ws.home.resolve()),
        "snapshot_version": runtime.snap.version,
        "model_id": runtime.backend.model_id,
        "config": config.model_dump(),
        "total": len(rows),
        "identical": identical,
        "by_source": {
            s: {
                "total": sum(r["source"] == s for r in rows),
                "identical": sum(r["identical"] for r in rows if r["source"] == s),
            }
            for s in ("recall_dev", "speed")
        },
        "steps": sum(r["steps"] for r in rows),
        "cased_copies": sum(len(r["cased_copies"]) for r in rows),
        "seconds": {"answer": answer_s, "replay": replay_s},
        "differing": [r for r in rows if not r["identical"]],
        "answers": [{k: r[k] for k in ("source", "question", "trace", "steps", "identical")} for r in rows],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"{identical}/{len(rows)} identical → {args.out}")
    sys.exit(0 if identical == len(rows) else 1)


if __name__ == "__main__":
    main()
