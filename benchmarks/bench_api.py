"""Single jurisdiction lookups over HTTP: latency and throughput next to a trivial endpoint.

A uvicorn server (one worker) serves the app on a free loopback port against the configured
database with the Beijing sample city loaded (loaded first if missing). A load generator with
``concurrency`` keep-alive connections (threads, ``http.client``) sends requests for a fixed
duration to (a) ``/ping``, a trivial endpoint of the same app, and (b) ``/v1/jurisdiction`` for
random points inside 双井街道 (the full answer: chain, officer, status, rule). The figures are
requests/s and p50/p99 latency; the ratio lookup/trivial is the figure (the machine is shared,
absolute numbers are noisy). The load generator runs on the same 2 cores as the server, which
caps both endpoints alike. Loops are bounded in time and count and stop by themselves.
"""

from __future__ import annotations

import http.client
import threading
import time
from typing import Any, Final

import numpy as np

from benchmarks._common import Row, check_size, print_table
from benchmarks._server import ensure_sample, serve_api

NAME: Final = "api"
DESCRIPTION: Final = (
    "GET /v1/jurisdiction on random 双井 points: requests/s and p50/p99 latency next to the trivial "
    "/ping endpoint of the same app, over loopback"
)
SIZES: Final[dict[str, dict[str, Any]]] = {
    "toy": {"seconds": 1.5, "concurrency": 4},
    "full": {"seconds": 10.0, "concurrency": 8},
}
MAX_REQUESTS: Final = 2_000_000


def _load(port: int, paths: list[str], seconds: float, concurrency: int) -> dict[str, float]:
    lat: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        i = k
        while time.perf_counter() < stop and len(lat[k]) < MAX_REQUESTS // concurrency:
            t0 = time.perf_counter()
            conn.request("GET", paths[i % len(paths)])
            r = conn.getresponse()
            r.read()
            lat[k].append(time.perf_counter() - t0)
            if r.status != 200:
                errors[k] += 1
            i += concurrency
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    all_lat = np.concatenate([np.asarray(x) for x in lat]) * 1000
    return {
        "rps": len(all_lat) / wall,
        "p50_ms": float(np.percentile(all_lat, 50)),
        "p99_ms": float(np.percentile(all_lat, 99)),
        "requests": float(len(all_lat)),
        "errors": float(sum(errors)),
    }


def run(size: str) -> dict[str, Any]:
    cfg = SIZES[check_size(size)]
    ensure_sample()
    with serve_api() as port:
        rng = np.random.default_rng(12345)
        lon = rng.uniform(116.450, 116.480, 500)
        lat = rng.uniform(39.889, 39.903, 500)
        paths = [f"/v1/jurisdiction?lon={x:.6f}&lat={y:.6f}" for x, y in zip(lon, lat, strict=True)]
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.request("GET", paths[0])  # builds the index (first request after start)
        first = c.getresponse()
        first.read()
        trivial = _load(port, ["/ping"], cfg["seconds"], cfg["concurrency"])
        lookup = _load(port, paths, cfg["seconds"], cfg["concurrency"])
    rows = [
        Row("throughput", "req/s", lookup["rps"], "trivial /ping", trivial["rps"], "higher"),
        Row("latency p50", "ms", lookup["p50_ms"], "trivial /ping", trivial["p50_ms"], "lower"),
        Row("latency p99", "ms", lookup["p99_ms"], "trivial /ping", trivial["p99_ms"], "lower"),
    ]
    print_table(
        f"api: GET /v1/jurisdiction vs /ping, {cfg['concurrency']} connections, {cfg['seconds']} s each",
        rows,
        [
            f"lookup requests {lookup['requests']:.0f} ({lookup['errors']:.0f} non-200), "
            f"trivial {trivial['requests']:.0f}",
            "targets: throughput >= 0.5 x trivial, p99 < 10 ms",
        ],
    )
    return {
        "benchmark": NAME,
        "size": size,
        "lookup": lookup,
        "trivial": trivial,
        "throughput_ratio": lookup["rps"] / trivial["rps"] if trivial["rps"] else None,
        "rows": [r.to_dict() for r in rows],
        "first_status": first.status,
    }
