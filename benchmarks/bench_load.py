"""A bounded loopback load test: a mix of lookups, geocoding and intake; throughput, latency, memory.

A uvicorn server (one worker, ``GRIDGOV_ENVIRONMENT=development``) serves the app on a free loopback
port against the configured database with the Beijing sample city (loaded first if missing). An
operator API key is made for the run; every request carries it (``X-API-Key``) and the server is
started with ``GRIDGOV_RATE_LIMIT_EXEMPT_KEYS`` naming it, so per-client rate limits do not
throttle the load generator. ``concurrency`` client threads, each with one keep-alive
``http.client`` connection, send a seeded random mix:

* 60% ``GET /v1/jurisdiction?lon=&lat=&datum=wgs84`` at random points inside the grid cells in force;
* 30% ``GET /v1/geocode?q=`` of the sample buildings' addresses (the ``building`` table);
* 10% ``POST /v1/petitions``: a category of the catalogue, half with a building's address and half
  with a point in a cell, and a unique ``external_id`` (prefixed with the key's name).

First ``warmup`` requests of the same mix (the first lookup builds the index, the first geocode
loads the gazetteer), then the server's resident memory (``VmRSS`` of ``/proc/PID/status``), then
the measured phase, then the resident memory again. The target is an end RSS within 10% of the RSS
after warm-up (no growth under steady load). The baseline is the trivial ``GET /ping`` of the same
app, sent by the same clients in the same run: the measured phase is ``rounds`` rounds of a slice
of ``/ping`` then a slice of the mix (``ping_seconds`` and ``seconds`` in all; at most
``max_requests`` each), so that both see the same background load of a shared machine.
Throughput and latencies are read as ratios to ``/ping`` (the load generator runs on the same
cores as the server). Errors are any non-2xx answer and any exception, by status. The run's
petitions and its key are deleted afterwards.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import math
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from benchmarks._common import Row, check_size, print_table
from benchmarks._server import ensure_sample, start_api, stop_api

NAME: Final = "load"
DESCRIPTION: Final = (
    "a 60/30/10 mix of GET /v1/jurisdiction, GET /v1/geocode and POST /v1/petitions from N keep-alive "
    "clients: requests/s, p50/p99 per kind, errors, server RSS after warm-up vs end, next to /ping"
)
SIZES: Final[dict[str, dict[str, Any]]] = {
    "toy": {
        "seconds": 10.0,
        "ping_seconds": 2.0,
        "rounds": 2,
        "concurrency": 4,
        "warmup": 60,
        "max_requests": 3_000,
    },
    "full": {
        "seconds": 180.0,
        "ping_seconds": 20.0,
        "rounds": 6,
        "concurrency": 8,
        "warmup": 600,
        "max_requests": 500_000,
    },
}
MIX: Final[dict[str, float]] = {"jurisdiction": 0.6, "geocode": 0.3, "intake": 0.1}
EXPECTED: Final[dict[str, int]] = {"jurisdiction": 200, "geocode": 200, "intake": 201, "ping": 200}
RSS_TARGET: Final = 0.10  # end RSS within 10% of the RSS after warm-up
TIMEOUT_S: Final = 30.0  # per request; a hung request is an error, never a hung benchmark
POINTS: Final = 2_000

# one request: (kind, method, path, body or None)
Request = tuple[str, str, str, bytes | None]


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` and its descendants (``VmRSS`` of ``/proc/PID/status``)."""
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total = int(line.split()[1]) * 1024
            break
    for task in Path(f"/proc/{pid}/task").iterdir():
        # a thread or a child that ended meanwhile (or a kernel without the file) adds nothing
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                with contextlib.suppress(OSError):
                    total += rss_bytes(int(child))
    return total


def _points_in_cells(cells: Any, n: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """``n`` random WGS84 points, each inside a grid cell (cells drawn uniformly)."""
    import shapely

    geoms = list(cells.geometry)
    out: list[tuple[float, float]] = []
    while len(out) < n:
        g = geoms[int(rng.integers(len(geoms)))]
        x0, y0, x1, y1 = g.bounds
        for _ in range(100):
            x, y = float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))
            if shapely.contains_xy(g, x, y):
                out.append((x, y))
                break
    return out


def _inputs(seed: int) -> dict[str, Any]:
    """Points in the cells in force, the sample buildings' addresses, and intake categories."""
    from sqlalchemy import text

    from grid.db.catalogue import categories
    from grid.db.engine import session_scope
    from grid.db.store import units_at

    today = dt.date.today()
    with session_scope() as s:
        cells = units_at(s, today, "grid")
        addresses = list(
            s.execute(
                text(
                    "SELECT DISTINCT address FROM building WHERE valid_from <= :d "
                    "AND (valid_to IS NULL OR valid_to > :d) ORDER BY address"
                ),
                {"d": today},
            ).scalars()
        )
        cats = [(c.code, c.name) for c in categories(s) if c.parent_code is not None and c.needs_place]
    if len(cells) == 0 or not addresses or not cats:
        raise RuntimeError(
            f"the sample city is incomplete: {len(cells)} grid cells, {len(addresses)} building addresses, "
            f"{len(cats)} place categories in force today"
        )
    rng = np.random.default_rng(seed)
    return {
        "points": _points_in_cells(cells, POINTS, rng),
        "addresses": addresses,
        "categories": sorted(cats),
        "cells": len(cells),
    }


def _request_maker(inputs: dict[str, Any], prefix: str) -> Callable[[np.random.Generator, str], Request]:
    """A function (rng, request id) -> one request of the mix."""
    kinds = list(MIX)
    weights = np.asarray([MIX[k] for k in kinds])
    cum = np.cumsum(weights / weights.sum())
    points, addresses, cats = inputs["points"], inputs["addresses"], inputs["categories"]

    def make(rng: np.random.Generator, rid: str) -> Request:
        kind = kinds[min(int(np.searchsorted(cum, rng.random(), side="right")), len(kinds) - 1)]
        if kind == "jurisdiction":
            x, y = points[int(rng.integers(len(points)))]
            return kind, "GET", f"/v1/jurisdiction?lon={x:.6f}&lat={y:.6f}&datum=wgs84", None
        if kind == "geocode":
            q = addresses[int(rng.integers(len(addresses)))]
            return kind, "GET", "/v1/geocode?q=" + urllib.parse.quote(q), None
        code, name = cats[int(rng.integers(len(cats)))]
        body: dict[str, Any] = {"category": code, "external_id": f"{prefix}-{rid}", "channel": "app"}
        if rng.random() < 0.5:
            addr = addresses[int(rng.integers(len(addresses)))]
            body.update(address=addr, text=f"{addr}{name}问题，请尽快处理")
        else:
            x, y = points[int(rng.integers(len(points)))]
            body.update(lon=round(x, 6), lat=round(y, 6), datum="wgs84", text=f"这里{name}问题，请尽快处理")
        return kind, "POST", "/v1/petitions", json.dumps(body, ensure_ascii=False).encode("utf-8")

    return make


@dataclass
class Raw:
    """What one phase of the load generator saw: latencies (s) and statuses per kind, intake outcomes."""

    wall_s: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, Counter[str]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)  # intake: the petition's status

    def add(self, other: Raw) -> None:
        self.wall_s += other.wall_s
        for kind, lats in other.latencies.items():
            self.latencies.setdefault(kind, []).extend(lats)
        for kind, c in other.statuses.items():
            self.statuses.setdefault(kind, Counter()).update(c)
        self.outcomes.update(other.outcomes)


def _drive(
    port: int,
    key: str,
    make: Callable[[np.random.Generator, str], Request],
    concurrency: int,
    *,
    seconds: float,
    max_requests: int,
    seed: int,
    tag: str,
) -> Raw:
    """``concurrency`` keep-alive clients send ``make``'s requests until ``seconds`` or ``max_requests``."""
    per_thread = max(1, max_requests // concurrency)
    raws = [Raw() for _ in range(concurrency)]
    stop = time.perf_counter() + seconds
    headers = {"X-API-Key": key, "Content-Type": "application/json"}

    def worker(k: int) -> None:
        rng = np.random.default_rng([seed, k])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
        mine = raws[k]
        n = 0
        try:
            while n < per_thread and time.perf_counter() < stop:
                kind, method, path, body = make(rng, f"{tag}-{k}-{n}")
                n += 1
                t0 = time.perf_counter()
                try:
                    conn.request(method, path, body=body, headers=headers)
                    r = conn.getresponse()
                    data = r.read()
                    status = str(r.status)
                except (OSError, http.client.HTTPException) as exc:
                    status = f"exception:{type(exc).__name__}"
                    data = b""
                    conn.close()  # http.client reconnects on the next request
                mine.latencies.setdefault(kind, []).append(time.perf_counter() - t0)
                mine.statuses.setdefault(kind, Counter())[status] += 1
                if kind == "intake" and status in ("200", "201"):
                    try:
                        mine.outcomes[str(json.loads(data).get("status"))] += 1
                    except ValueError:
                        mine.outcomes["unreadable"] += 1
        finally:
            conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = Raw(wall_s=time.perf_counter() - t0)
    for r in raws:
        out.add(r)
    return out


def _ok(status: str) -> bool:
    return status.isdigit() and 200 <= int(status) < 300


def _summary(raw: Raw) -> dict[str, Any]:
    """Requests, requests/s, p50/p99 and statuses per kind and overall; errors (non-2xx, exceptions)."""
    wall = raw.wall_s
    kinds: dict[str, Any] = {}
    errors: Counter[str] = Counter()
    for kind in sorted(raw.latencies):
        ms = np.asarray(raw.latencies[kind], dtype=float) * 1000
        by_status = raw.statuses[kind]
        errors.update({s: c for s, c in by_status.items() if not _ok(s)})
        kinds[kind] = {
            "requests": len(ms),
            "rps": len(ms) / wall if wall > 0 else 0.0,
            "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)),
            "status": dict(sorted(by_status.items())),
            "errors": sum(c for s, c in by_status.items() if not _ok(s)),
        }
    total = sum(v["requests"] for v in kinds.values())
    return {
        "wall_s": wall,
        "requests": total,
        "rps": total / wall if wall > 0 else 0.0,
        "errors": sum(errors.values()),
        "errors_by_status": dict(sorted(errors.items())),
        "kinds": kinds,
        "intake_outcomes": dict(sorted(raw.outcomes.items())),
    }


def _cleanup(name: str, prefix: str) -> int:
    """Delete the run's petitions (events and contacts cascade) and its key; the petitions deleted."""
    from sqlalchemy import text

    from grid.db.engine import session_scope

    with session_scope() as s:
        ids = s.execute(
            text("DELETE FROM petition WHERE source = :n OR external_id LIKE :p RETURNING id"),
            {"n": name, "p": prefix.replace("_", r"\_") + "-%"},
        ).all()
        s.execute(text("DELETE FROM api_key WHERE name = :n"), {"n": name})
    return len(ids)


def _ping(rng: np.random.Generator, rid: str) -> Request:
    return "ping", "GET", "/ping", None


def _phases(
    port: int, pid: int, key: str, make: Callable[[np.random.Generator, str], Request], cfg: dict[str, Any]
) -> dict[str, Any]:
    """Warm-up, RSS, ``rounds`` x (a slice of ``/ping``, a slice of the mix), RSS."""
    conc, rounds = cfg["concurrency"], cfg["rounds"]
    t0 = time.perf_counter()
    warm = _drive(port, key, make, conc, seconds=600.0, max_requests=cfg["warmup"], seed=1, tag="w")
    warm_s = time.perf_counter() - t0
    rss_warm = rss_bytes(pid)
    mix, trivial = Raw(), Raw()
    for i in range(rounds):
        trivial.add(
            _drive(
                port,
                key,
                _ping,
                conc,
                seconds=cfg["ping_seconds"] / rounds,
                max_requests=cfg["max_requests"] // rounds,
                seed=200 + i,
                tag=f"p{i}",
            )
        )
        mix.add(
            _drive(
                port,
                key,
                make,
                conc,
                seconds=cfg["seconds"] / rounds,
                max_requests=cfg["max_requests"] // rounds,
                seed=100 + i,
                tag=f"m{i}",
            )
        )
    rss_end = rss_bytes(pid)
    return {
        "warmup": {**_summary(warm), "seconds": warm_s},
        "mix": _summary(mix),
        "trivial": _summary(trivial),
        "rss_warm": rss_warm,
        "rss_end": rss_end,
    }


def run(size: str) -> dict[str, Any]:
    cfg = SIZES[check_size(size)]
    from grid.db.engine import session_scope
    from grid.db.users import create_key

    ensure_sample()
    inputs = _inputs(seed=20240601)
    name = f"bench-load-{time.time_ns()}"
    prefix = name  # external_id prefix of every petition of the run
    make = _request_maker(inputs, prefix)
    with session_scope() as s:
        key, _ = create_key(s, name, roles=["operator"])
    from grid.config import Settings

    defaults = Settings.model_fields
    env = {  # the shipped rate limits, with the run's key exempt as a trusted system's would be
        "GRIDGOV_ENVIRONMENT": "development",
        "GRIDGOV_RATE_LIMIT_EXEMPT_KEYS": name,
        "GRIDGOV_RATE_LIMIT_PUBLIC": str(defaults["rate_limit_public"].default),
        "GRIDGOV_RATE_LIMIT_KEY": str(defaults["rate_limit_key"].default),
    }
    try:
        # the server's stderr goes to a file: a pipe nobody reads would block the server once full
        with tempfile.TemporaryFile() as log:
            try:
                server, port = start_api(env, stderr=log)
            except RuntimeError as exc:
                log.seek(0)
                tail = log.read().decode("utf-8", "replace")[-3000:]
                raise RuntimeError(f"{exc}; its stderr:\n{tail}") from exc
            try:
                ph = _phases(port, server.pid, key, make, cfg)
                server_alive = server.poll() is None
            finally:
                stop_api(server)
                log.seek(0)
                server_log = log.read().decode("utf-8", "replace").splitlines()
    finally:
        deleted = _cleanup(name, prefix)
    warm, mix, trivial, rss_warm, rss_end = (
        ph[k] for k in ("warmup", "mix", "trivial", "rss_warm", "rss_end")
    )
    conc = cfg["concurrency"]
    mb_warm, mb_end = rss_warm / 2**20, rss_end / 2**20
    rss_ratio = rss_end / rss_warm if rss_warm else math.inf
    rss_met = abs(rss_ratio - 1.0) <= RSS_TARGET
    p = trivial["kinds"]["ping"]
    # every kind shares one request stream, so its requests/s is its share of the mix's: the mix's
    # throughput is the throughput figure; the kinds differ in latency
    rows = [Row("throughput, mix", "req/s", mix["rps"], "trivial /ping", trivial["rps"], "higher")]
    for kind in MIX:
        if (k := mix["kinds"].get(kind)) is not None:
            rows += [
                Row(f"latency p50, {kind}", "ms", k["p50_ms"], "trivial /ping", p["p50_ms"], "lower"),
                Row(f"latency p99, {kind}", "ms", k["p99_ms"], "trivial /ping", p["p99_ms"], "lower"),
            ]
    rows.append(Row("server RSS at end", "MB", mb_end, "RSS after warm-up", mb_warm, "lower"))
    errors = f"errors {mix['errors']}" + (f" {mix['errors_by_status']}" if mix["errors"] else "")
    print_table(
        f"load: {conc} keep-alive clients, {cfg['warmup']} warm-up requests, then {mix['wall_s']:.1f} s of "
        f"the {'/'.join(f'{v:.0%}' for v in MIX.values())} mix ({' / '.join(MIX)}) and "
        f"{trivial['wall_s']:.1f} s of /ping, in {cfg['rounds']} alternating rounds",
        rows,
        [
            f"mix: {mix['requests']:,} requests, {mix['rps']:.1f} req/s; {errors}",
            *(
                f"{k}: {v['requests']:,} requests, {v['rps']:.1f} req/s, HTTP {v['status']}"
                for k, v in mix["kinds"].items()
            ),
            f"intake outcomes {mix['intake_outcomes']}; {deleted:,} petitions of the run deleted afterwards",
            f"warm-up: {warm['requests']} requests in {warm['seconds']:.1f} s, errors {warm['errors']}; "
            f"/ping: {trivial['requests']:,} requests, errors {trivial['errors']}",
            f"RSS after warm-up {mb_warm:.1f} MB, at end {mb_end:.1f} MB, ratio {rss_ratio:.3f}; "
            f"target: within {RSS_TARGET:.0%} -> {'met' if rss_met else 'NOT met'}",
            *(
                [f"server stderr: {len(server_log)} lines, last: {server_log[-1][:200]}"]
                if server_log
                else []
            ),
        ],
    )
    return {
        "benchmark": NAME,
        "size": size,
        "params": {**cfg, "mix": MIX, "cells": inputs["cells"], "addresses": len(inputs["addresses"])},
        "warmup": warm,
        "mix": mix,
        "trivial": trivial,
        "throughput_ratio": mix["rps"] / trivial["rps"] if trivial["rps"] else None,
        "rss": {
            "after_warmup_mb": mb_warm,
            "end_mb": mb_end,
            "ratio": rss_ratio,
            "target": RSS_TARGET,
            "met": rss_met,
        },
        "expected_status": EXPECTED,
        "petitions_deleted": deleted,
        "server_alive": server_alive,
        "server_log_lines": len(server_log),
        "server_log_tail": server_log[-20:],
        "rows": [r.to_dict() for r in rows],
    }
