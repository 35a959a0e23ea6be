"""The suite's short version of `bench/crash.py`: kill -9 at a random moment of a live fact, a publish and
a feedback (seeded), and every workspace opens whole, in the state before or after, and runs again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_kill_9_anywhere_loses_nothing(tmp_path: Path, model_cache) -> None:
    out = tmp_path / "crash.json"
    proc = subprocess.run(
        [sys.executable, "bench/crash.py", "--runs", "1", "--ops", "fact,publish,feedback", "--seed", "1"]
        + ["--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.exists(), proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert proc.returncode == 0 and result["damaged_workspaces"] == 0, proc.stderr[-3000:]
    assert set(result["operations"]) == {"fact", "publish", "feedback"}
    for op in result["operations"].values():
        assert op["kills"] == 1  # a run that ended before its moment is run again
        assert op["state_before"] + op["state_after"] == op["runs_done"]
