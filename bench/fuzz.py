"""Schema fuzzing with many more examples than the test suite: every operation, no 5xx.

Run `.venv/bin/python bench/fuzz.py [--examples 200] [--out bench/results/fuzz.json]`. It runs the suite's
Schemathesis test (a live server on 127.0.0.1 with the real model) with OVERLAY_FUZZ_EXAMPLES set, and
records per-operation outcomes from pytest's JUnit report.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=200, help="Hypothesis examples per operation")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "fuzz.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        t = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "tests/test_api_fuzz.py",
                f"--junitxml={report}",
                "--hypothesis-show-statistics",
            ],
            cwd=ROOT.parent,
            env=os.environ | {"OVERLAY_FUZZ_EXAMPLES": str(args.examples)},
            capture_output=True,
            text=True,
        )
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
        seconds = time.perf_counter() - t
        cases = ET.parse(report).getroot().iter("testcase")
        operations = {
            c.get("name"): ("failed" if c.find("failure") is not None or c.find("error") is not None else "passed")
            for c in cases
        }
    # Hypothesis' statistics: examples run per test (phases summed); a case of `test_no_server_errors` is
    # sent twice (with the key and without), a stateful example is a sequence of up to 4 calls
    per_test: dict[str, int] = {}
    name = ""
    for line in proc.stdout.splitlines():
        if "::" in line and line.rstrip().endswith(":"):
            name = line.strip().rstrip(":")
        elif m := re.search(r"(\d+) passing\b", line):
            per_test[name] = per_test.get(name, 0) + int(m.group(1))
    # the stateful test's examples (at most examples // 2), where the statistics do not name it: the most
    stateful = sum(n for k, n in per_test.items() if "linked" in k) or args.examples // 2
    examples = list(per_test.values())
    result = {
        "examples_per_operation": args.examples,
        "examples_run": sum(examples),
        # each operation case is sent twice (with the key, without); a stateful example makes 1-4 calls
        "requests_at_least": 2 * (sum(examples) - stateful) + stateful,
        "operations": operations,
        "failed": sorted(k for k, v in operations.items() if v != "passed"),
        "summary": (proc.stdout.strip().splitlines() or [""])[-1],  # e.g. "20 passed in 45.37s": one per operation
        "seconds": round(seconds, 1),
        "exit_code": proc.returncode,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
