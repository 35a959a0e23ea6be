"""Probe benchmark: seconds and peak memory for a full response map of a 512-token text (plus the head
detectors and one activation-patching run) on this machine.

Run `.venv/bin/python bench/probes.py [--tokens 512] [--out bench/results/probes.json]`. Peak memory is
this process's max RSS (getrusage) after each stage, so each figure includes the model (~0.6 GB float32).
Run it alone: torch on 2 cores slows several-fold when another torch process shares them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

from adapters.probes import head_classes, open_probe, patch, response_map, write_report
from graph_store.readers import read_wiki

ROOT = Path(__file__).resolve().parent


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def text_of(probe, tokens: int) -> str:
    """Wikipedia summaries joined until they reach `tokens` tokens, then cut to exactly that many."""
    parts, ids = [], []
    for doc in read_wiki():
        parts.append(doc.text)
        ids, _ = probe.encode("\n\n".join(parts))
        if len(ids) >= tokens:
            break
    return probe.tokenizer.decode(ids[:tokens])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "probes.json")
    parser.add_argument("--report", type=Path, default=None, help="also write the map report to this folder")
    args = parser.parse_args()

    import torch

    start = time.perf_counter()
    probe = open_probe()
    result = {
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "model": probe.model_id,
        "load_seconds": round(time.perf_counter() - start, 2),
        "rss_after_load_mib": round(rss_mib()),
    }
    text = text_of(probe, args.tokens)
    n = len(probe.encode(text)[0])
    start = time.perf_counter()
    report = response_map(probe, text)
    result["map"] = {
        "tokens": n,
        "seconds": round(time.perf_counter() - start, 2),
        "peak_rss_mib": round(rss_mib()),
        "json_mib": round(len(json.dumps(report)) / 2**20, 2),
    }
    if args.report:
        start = time.perf_counter()
        write_report(report, args.report)
        result["map"]["report_seconds"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    head_classes(probe)
    result["heads"] = {"seconds": round(time.perf_counter() - start, 2), "peak_rss_mib": round(rss_mib())}
    start = time.perf_counter()
    patch(probe, "The capital city of France is the city of", "The capital city of Italy is the city of", "Paris")
    result["patch"] = {"tokens": 9, "seconds": round(time.perf_counter() - start, 2), "peak_rss_mib": round(rss_mib())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
