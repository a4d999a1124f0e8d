"""Petition intake end to end over HTTP next to a plain insert; a month's scores on a city-size year.

1. **Intake.** A uvicorn server (one worker) against the configured database with the sample city.
   ``n`` petitions of the sample generator (colloquial addresses, coordinates in WGS84 or GCJ-02,
   consultations without place) are POSTed to ``/v1/petitions`` by ``concurrency`` keep-alive
   connections: each is committed, geocoded, located, checked for "me too" duplicates, routed and
   dispatched before its 201. The baseline is a plain ``INSERT`` of the same rows (text,
   category, address, coordinates, time, contact) into a table shaped like ``petition``, one
   transaction, ``executemany``, measured in the same run. The figure is petitions/s, ours over the
   baseline's. The benchmark's petitions are deleted afterwards.
2. **Scores.** A year of petitions for a Beijing-size city (``n_year``: 20 million at full size,
   ``data/sample_petitions.generate_city``, cached as Parquet outside the repo and loaded once
   into an UNLOGGED table) and the time to compute one month's three rates per street (reading the
   month from PostgreSQL and rating it), next to a plain ``GROUP BY`` count of the same month.
"""

from __future__ import annotations

import datetime as dt
import http.client
import io
import json
import threading
import time
from typing import Any, Final

import numpy as np

from benchmarks._common import Row, check_size, print_table
from benchmarks._server import ensure_sample, serve_api

NAME: Final = "petitions"
DESCRIPTION: Final = (
    "POST /v1/petitions end to end (commit, geocode, locate, dedupe, route) vs a plain INSERT of the "
    "same rows; a month's three-rate scores on a Beijing-size year"
)
SIZES: Final[dict[str, dict[str, Any]]] = {
    "toy": {"n": 60, "concurrency": 4, "n_year": 60_000, "cells": 2_000},
    "full": {"n": 2_000, "concurrency": 8, "n_year": 20_000_000, "cells": 30_000},
}
YEAR_TABLE: Final = "bench_petition_year"
MONTH: Final = "2023-06"


def _bodies(n: int) -> list[dict[str, Any]]:
    from data.sample_petitions import demo_buildings, generate_year
    from grid.db.catalogue import read_categories

    df, _ = generate_year(demo_buildings(), read_categories(), year=2025, seed=7, rate=0.05)
    df = df.sample(n=min(n, len(df)), random_state=3).reset_index(drop=True)
    now = dt.datetime.now(dt.UTC)
    out = []
    for i, r in enumerate(df.itertuples(index=False)):
        b: dict[str, Any] = {"text": r.text, "category": r.category, "type": r.type, "channel": r.channel}
        if isinstance(r.address, str) and r.address:
            b["address"] = r.address
        if isinstance(r.lon, float) and not np.isnan(r.lon):
            b.update(lon=float(r.lon), lat=float(r.lat), datum=r.datum)
        b["received_at"] = (now - dt.timedelta(seconds=n - i)).isoformat()
        b["contact_phone"] = r.contact_phone
        out.append(b)
    return out


def _post_all(port: int, key: str, bodies: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    lat: list[list[float]] = [[] for _ in range(concurrency)]
    status: dict[str, int] = {}
    codes: dict[int, int] = {}
    lock = threading.Lock()

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in range(k, len(bodies), concurrency):
            t0 = time.perf_counter()
            conn.request(
                "POST",
                "/v1/petitions",
                body=json.dumps(bodies[i]).encode(),
                headers={"X-API-Key": key, "Content-Type": "application/json"},
            )
            r = conn.getresponse()
            data = r.read()
            lat[k].append(time.perf_counter() - t0)
            with lock:
                codes[r.status] = codes.get(r.status, 0) + 1
                if r.status == 201:
                    s = json.loads(data)["status"]
                    status[s] = status.get(s, 0) + 1
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = np.concatenate([np.asarray(x) for x in lat]) * 1000
    return {
        "per_s": len(bodies) / wall,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "http": {str(k): v for k, v in sorted(codes.items())},
        "status": status,
    }


def _plain_insert(bodies: list[dict[str, Any]]) -> float:
    """Rows/s of a plain INSERT of the same rows into a table shaped like ``petition``."""
    import psycopg

    from grid.config import get_settings

    url = get_settings().database_url.replace("postgresql+psycopg://", "postgresql://")
    rows = [
        (
            b["text"],
            b["category"],
            b.get("address"),
            b.get("lon"),
            b.get("lat"),
            b.get("datum"),
            b["received_at"],
            b.get("contact_phone"),
            f"tok{i}",
        )
        for i, b in enumerate(bodies)
    ]
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TEMP TABLE plain_petition (LIKE petition INCLUDING DEFAULTS)")
        conn.execute("ALTER TABLE plain_petition ADD COLUMN phone text")
        conn.execute("CREATE TEMP SEQUENCE plain_seq")
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO plain_petition (id, text, category_code, address, input_lon, input_lat, input_datum, "
                "received_at, phone, token, source, channel, type, urgency, status, location_status, "
                "owner_chain, co_departments, calendar_covered, return_count) VALUES (nextval('plain_seq'), "
                "%s, %s, %s, %s, %s, %s, %s, %s, %s, 'bench', 'hotline', 'complaint', 'general', 'received', "
                "'pending', '{}', '[]', true, 0)",
                rows,
            )
        conn.commit()
        return len(rows) / (time.perf_counter() - t0)


def _intake(cfg: dict[str, Any]) -> dict[str, Any]:
    from sqlalchemy import text

    from grid.db.engine import session_scope
    from grid.db.users import create_key

    ensure_sample()
    bodies = _bodies(cfg["n"])
    name = f"bench-{time.time_ns()}"
    with session_scope() as s:
        key, _ = create_key(s, name)
    try:
        with serve_api() as port:
            warm = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            warm.request("GET", "/v1/jurisdiction?lon=116.465&lat=39.895")  # build the index
            warm.getresponse().read()
            ours = _post_all(port, key, bodies, cfg["concurrency"])
        plain = _plain_insert(bodies)
    finally:
        with session_scope() as s:
            s.execute(text("DELETE FROM petition WHERE source = :n"), {"n": name})
            s.execute(text("DELETE FROM api_key WHERE name = :n"), {"n": name})
    return {"ours": ours, "plain_per_s": plain, "n": len(bodies)}


def _ensure_year(n: int, n_cells: int) -> dict[str, Any]:
    """The city-size year in table ``bench_petition_year`` (generated and loaded once; cached)."""
    import psycopg
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from data.sample_petitions import default_cache_dir, generate_city, synthetic_cells
    from grid.config import get_settings

    stamp = f"year n={n} cells={n_cells} v2"
    url = get_settings().database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", (YEAR_TABLE,)).fetchone()
        # an UNLOGGED table keeps its comment but loses its rows when PostgreSQL recovers from a crash
        if row is not None and row[0] == stamp:
            got = conn.execute(f"SELECT EXISTS (SELECT 1 FROM {YEAR_TABLE})").fetchone()
            if got is not None and got[0]:
                return {"loaded_s": 0.0, "generated_s": 0.0, "cached": True}
    path = default_cache_dir() / f"petitions_city_{n}_{n_cells}.parquet"
    t0 = time.perf_counter()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        generate_city(n, cells=synthetic_cells(n_cells, seed=1), out=path)
    generated = time.perf_counter() - t0
    cols = [
        "id",
        "received_at",
        "due_at",
        "answered_at",
        "status",
        "merged",
        "callback_resolved",
        "callback_satisfaction",
        "cell_code",
        "community_code",
        "street_code",
        "district_code",
        "department_code",
    ]
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {YEAR_TABLE}")
        conn.execute(
            f"CREATE UNLOGGED TABLE {YEAR_TABLE} (id bigint, received_at timestamptz, due_at timestamptz, "
            "answered_at timestamptz, status text, merged boolean, callback_resolved boolean, "
            "callback_satisfaction text, cell_code text, community_code text, street_code text, "
            "district_code text, lead_department text, duplicate_of bigint)"
        )
        pf = pq.ParquetFile(path)
        with conn.cursor() as cur:
            for batch in pf.iter_batches(batch_size=500_000, columns=cols):
                # a merged duplicate points at another petition (here: the one before it)
                merged = batch.column("merged")
                dup = pc.if_else(merged, pc.subtract(batch.column("id"), 1), pa.scalar(None, pa.int64()))
                table = pa.Table.from_batches([batch]).append_column("duplicate_of", dup)
                buf = io.BytesIO()
                pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False))
                buf.seek(0)
                with cur.copy(
                    f"COPY {YEAR_TABLE} (id, received_at, due_at, answered_at, status, merged, callback_resolved, "
                    "callback_satisfaction, cell_code, community_code, street_code, district_code, lead_department, "
                    "duplicate_of) "
                    "FROM STDIN WITH (FORMAT csv)"
                ) as cp:
                    while chunk := buf.read(1 << 20):
                        cp.write(chunk)
        conn.execute(f"CREATE INDEX ON {YEAR_TABLE} (received_at)")
        conn.execute(f"ANALYZE {YEAR_TABLE}")
        conn.execute(f"COMMENT ON TABLE {YEAR_TABLE} IS '{stamp}'")
        conn.commit()
    return {"loaded_s": time.perf_counter() - t0, "generated_s": generated, "cached": False}


def _scores(cfg: dict[str, Any]) -> dict[str, Any]:
    from sqlalchemy import text

    from grid.db.engine import session_scope
    from grid.db.petitions import CITY
    from grid.db.scores import month_counts
    from grid.scores import ScoreWeights, month_bounds, rate_counts

    prep = _ensure_year(cfg["n_year"], cfg["cells"])
    as_of = month_bounds("2023-08")[0]
    with session_scope() as s:
        t0 = time.perf_counter()
        counts = month_counts(s, level="street", month=MONTH, as_of=as_of, table=YEAR_TABLE, scope=CITY)
        read_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = rate_counts(counts, ScoreWeights())
        rate_s = time.perf_counter() - t0
        a, b = month_bounds(MONTH)
        t0 = time.perf_counter()
        plain = s.execute(
            text(
                f"SELECT street_code, count(*) FROM {YEAR_TABLE} WHERE received_at >= :a AND received_at < :b "
                "AND street_code IS NOT NULL AND NOT merged GROUP BY street_code"
            ),
            {"a": a, "b": b},
        ).all()
        group_s = time.perf_counter() - t0
        total = int(s.execute(text(f"SELECT count(*) FROM {YEAR_TABLE}")).scalar() or 0)
    return {
        **prep,
        "year_rows": total,
        "month_rows": int(counts["petitions"].sum()),
        "streets": len(out),
        "read_s": read_s,
        "rate_s": rate_s,
        "scores_s": read_s + rate_s,
        "group_by_s": group_s,
        "group_by_streets": len(plain),
        "petitions_match": int(out["petitions"].sum()) == int(sum(c for _, c in plain)),
    }


def run(size: str) -> dict[str, Any]:
    cfg = SIZES[check_size(size)]
    intake = _intake(cfg)
    sc = _scores(cfg)
    rows = [
        Row(
            "intake", "petitions/s", intake["ours"]["per_s"], "plain INSERT", intake["plain_per_s"], "higher"
        ),
        Row("month scores (street)", "s", sc["scores_s"], "plain GROUP BY count", sc["group_by_s"], "lower"),
    ]
    print_table(
        f"petitions: {intake['n']} POSTs over {cfg['concurrency']} connections; "
        f"scores of {MONTH} in a year of {sc['year_rows']:,}",
        rows,
        [
            f"intake p50 {intake['ours']['p50_ms']:.1f} ms, p99 {intake['ours']['p99_ms']:.1f} ms; "
            f"HTTP {intake['ours']['http']}; statuses {intake['ours']['status']}",
            f"scores: count in SQL {sc['read_s']:.2f} s + rate {sc['rate_s']:.3f} s for {sc['month_rows']:,} petitions, "
            f"{sc['streets']} streets; year generated in {sc['generated_s']:.0f} s, loaded in "
            f"{sc['loaded_s']:.0f} s{' (cached)' if sc['cached'] else ''}",
        ],
    )
    return {
        "benchmark": NAME,
        "size": size,
        "params": cfg,
        "intake": intake,
        "scores": sc,
        "rows": [r.to_dict() for r in rows],
    }
