"""HTTP API benchmark: latency and throughput at 1, 4 and 16 concurrent clients, and the HTTP layer's cost.

Run `.venv/bin/python bench/api.py [--home DIR] [--requests N] [--out bench/results/api.json]` on a
published workspace (default `OVERLAY_HOME`). One process: the same loaded model answers the same prompts
through `Runtime.answer` directly and through a live uvicorn server on 127.0.0.1, side by side, so the
overhead ratio is measured under the same machine load (the clients run in this process too, so they share
its GIL with the server: the overhead reported is an upper bound). Requests queue on the one model, so throughput
cannot grow with clients; what must hold is no 5xx and latency that grows only by the queue.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn

# Run as a script, this file's folder comes first on sys.path and its name would shadow the `api` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from api import Service, create_app  # noqa: E402
from overlay import RuntimeConfig, Workspace  # noqa: E402
from overlay.evaluate import read_jsonl  # noqa: E402
from overlay.speed import SPEED_PROMPTS  # noqa: E402

ROOT = Path(__file__).resolve().parent
MAX_TOKENS = 32


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def serve(service: Service) -> tuple[uvicorn.Server, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "api.json")
    args = ap.parse_args()
    ws = Workspace(home=args.home) if args.home else Workspace()
    service = Service.open(ws, config=RuntimeConfig())
    prompts = [row["question"] for row in read_jsonl(SPEED_PROMPTS, ("question",))][:8]
    cfg = RuntimeConfig(max_tokens=MAX_TOKENS)  # what the server runs for max_tokens=32

    # direct: the runtime and the trace commit, without HTTP or JSON; same prompts and budget
    direct = []
    for q in prompts * 2:
        t = time.perf_counter()
        service.traces.save(service.runtime.answer([{"role": "user", "content": q}], cfg))
        direct.append(time.perf_counter() - t)

    server, url = serve(service)
    results: dict = {"requests_per_level": args.requests, "max_tokens": MAX_TOKENS, "levels": {}}
    statuses: dict[int, int] = {}

    def one(i: int) -> float:
        body = {
            "model": service.model_id,
            "messages": [{"role": "user", "content": prompts[i % len(prompts)]}],
            "max_tokens": MAX_TOKENS,
        }
        t = time.perf_counter()
        with httpx.Client(timeout=600) as h:
            r = h.post(url + "/v1/chat/completions", json=body)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        return time.perf_counter() - t

    serial = [one(i) for i in range(len(prompts) * 2)]  # the same prompts as `direct`, one at a time
    for clients in (1, 4, 16):
        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            lat = list(pool.map(one, range(args.requests)))
        wall = time.perf_counter() - t0
        results["levels"][str(clients)] = {
            "p50_s": percentile(lat, 0.5),
            "p95_s": percentile(lat, 0.95),
            "requests_per_s": args.requests / wall,
        }
        print(f"{clients:>2} clients: {results['levels'][str(clients)]}", file=sys.stderr)
    server.should_exit = True
    service.close()
    results["http_overhead"] = {
        "direct_mean_s": statistics.mean(direct),
        "http_mean_s": statistics.mean(serial),
        "ratio": statistics.mean(serial) / statistics.mean(direct),
    }
    results["statuses"] = {str(k): v for k, v in sorted(statuses.items())}
    results["load_avg"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
