"""Crash safety with real processes: SIGKILL the API server during intake and ``gridgov import
units`` during its write, then check that the database holds only whole things.

1. The server (uvicorn, one process) takes petitions from several threads; once some are
   acknowledged (201) it is killed while others are in flight. After a restart every acknowledged
   petition is there and whole (text, category, external id, ``receive`` event, contact), every
   in-flight one is absent or whole, and resending an in-flight request gives exactly one row.
2. ``gridgov import units`` is killed once its backend is seen writing (transaction open, rows
   inserted, no commit yet: ``pg_stat_activity``). The grid level is then all or nothing and no
   ``import_run`` row claims the import; running it again completes.

Each test prints its figures (also shown without ``-s``) and records them as a property.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shapely.geometry import box
from sqlalchemy import Engine, create_engine, text

from benchmarks._server import start_api, stop_api
from data.routing import load_catalogue
from grid.db.buildings import import_buildings
from grid.db.engine import session_scope
from grid.db.users import create_key
from grid.lifecycle import STATUSES
from tests.test_jurisdiction import X0, X2, Y0, Y2, _world
from tests.world import D0, STREETS, import_world, write_layer

KEY_NAME = "crash-test"
RUBBISH = "HL1006"  # 暴露垃圾: general, street-led, needs a place
T0 = "2023-06-05T09:00:00+08:00"
GRIDGOV = str(Path(sys.executable).with_name("gridgov"))
Report = Callable[[str], None]


@pytest.fixture()
def report(capsys: pytest.CaptureFixture[str], record_property: Callable[[str, object], None]) -> Report:
    """Print a line of figures past pytest's capture and record it with the test's properties."""

    def say(line: str) -> None:
        with capsys.disabled():
            print(f"\n[crash] {line}", flush=True)
        record_property("crash_figures", line)

    return say


@pytest.fixture()
def watch(committed_db: str) -> Iterator[Engine]:
    """An autocommit engine on the test database: each statement sees fresh activity and rows."""
    eng = create_engine(committed_db, isolation_level="AUTOCOMMIT")
    yield eng
    eng.dispose()


def wait_for(cond: Callable[[], Any], timeout: float, what: str, every: float = 0.01) -> Any:
    """Poll ``cond`` until it returns something truthy (returned); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


# ---- 1. the API server killed during intake ------------------------------------------------------


class Intake:
    """Threads posting petitions with unique external ids until told to stop.

    ``pending`` holds the requests sent and not yet answered; a request is registered under the
    lock only while ``stop`` is unset, so a snapshot taken under the lock after setting ``stop``
    is exactly the set of requests in flight."""

    def __init__(self, port: int, key: str, run: str) -> None:
        self.port, self.key, self.run = port, key, run
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.pending: dict[str, dict[str, Any]] = {}
        self.acked: dict[str, tuple[int, dict[str, Any]]] = {}
        self.lost: dict[str, dict[str, Any]] = {}  # no answer: the server died under them
        self.refused: list[tuple[str, int, str]] = []  # answered, but not 201
        self.threads: list[threading.Thread] = []

    def body(self, worker: int, i: int, rng: random.Random) -> dict[str, Any]:
        ext = f"{self.run}-{worker}-{i:04d}"
        return {
            "external_id": ext,
            "text": f"崩溃测试 {ext}: 楼下垃圾堆了三天没人清",
            "category": RUBBISH,
            "lon": rng.uniform(X0 + 0.001, X2 - 0.001),
            "lat": rng.uniform(Y0 + 0.001, Y2 - 0.001),
            "datum": "wgs84",
            "contact_phone": f"138{rng.randrange(10**8):08d}",
            "received_at": T0,
        }

    def post(self, body: dict[str, Any], port: int | None = None) -> tuple[int, dict[str, Any]]:
        c = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=60)
        try:
            c.request(
                "POST",
                "/v1/petitions",
                body=json.dumps(body),
                headers={"X-API-Key": self.key, "Content-Type": "application/json"},
            )
            r = c.getresponse()
            return r.status, json.loads(r.read() or b"{}")
        finally:
            c.close()

    def worker(self, n: int) -> None:
        rng = random.Random(n)
        for i in range(10_000):
            body = self.body(n, i, rng)
            ext = body["external_id"]
            with self.lock:
                if self.stop.is_set():
                    return
                self.pending[ext] = body
            try:
                status, out = self.post(body)
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.lost[ext] = self.pending.pop(ext)
                return
            with self.lock:
                self.pending.pop(ext)
                if status == 201:
                    self.acked[ext] = (int(out["id"]), body)
                else:
                    self.refused.append((ext, status, json.dumps(out, ensure_ascii=False)[:200]))

    def start(self, n: int) -> None:
        self.threads = [threading.Thread(target=self.worker, args=(k,), daemon=True) for k in range(n)]
        for t in self.threads:
            t.start()

    def halt(self) -> dict[str, dict[str, Any]]:
        """Stop new requests; return the requests in flight at this moment."""
        with self.lock:
            self.stop.set()
            return dict(self.pending)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self.threads), "intake threads did not finish"


def _stored(eng: Engine, ext_ids: list[str]) -> dict[str, dict[str, Any]]:
    """external_id -> the stored petition, its contact phone and its ``receive`` events."""
    q = text(
        "SELECT p.id, p.external_id, p.text, p.category_code, p.status, c.phone, "
        "(SELECT count(*) FROM petition_event e WHERE e.petition_id = p.id AND e.action = 'receive' "
        " AND e.to_status = 'received') AS received "
        "FROM petition p LEFT JOIN petition_contact c ON c.petition_id = p.id "
        "WHERE p.external_id = ANY(:x)"
    )
    with eng.connect() as c:
        return {r.external_id: dict(r._mapping) for r in c.execute(q, {"x": ext_ids})}


def _whole(row: dict[str, Any], body: dict[str, Any]) -> bool:
    return (
        row["text"] == body["text"]
        and row["category_code"] == body["category"]
        and row["phone"] == body["contact_phone"]
        and row["received"] == 1
        and row["status"] in STATUSES
    )


def test_server_killed_mid_intake_loses_no_acknowledged_petition(
    committed_db: str, tmp_path: Path, watch: Engine, report: Report
) -> None:
    with session_scope(committed_db) as s:
        _world(s, tmp_path)
        load_catalogue(s, D0)
        key, _ = create_key(s, KEY_NAME, roles=["operator"])
    env = {
        "GRIDGOV_DATABASE_URL": committed_db,
        "GRIDGOV_ENVIRONMENT": "development",
        "GRIDGOV_RATE_LIMIT_EXEMPT_KEYS": KEY_NAME,
    }
    servers: list[subprocess.Popen[bytes]] = []
    logs = [open(tmp_path / f"server{k}.log", "wb") for k in (1, 2)]  # noqa: SIM115 (closed below)
    intake: Intake | None = None
    try:
        server, port = start_api(env, stderr=logs[0])
        servers.append(server)
        intake = Intake(port, key, f"crash-{uuid.uuid4().hex[:8]}")
        intake.start(8)
        wait_for(lambda: len(intake.acked) >= 30 or intake.refused, 60, "30 acknowledged petitions")
        assert not intake.refused, f"intake refused before the kill: {intake.refused[:3]}"
        in_flight = intake.halt()
        os.kill(server.pid, signal.SIGKILL)
        assert server.wait(10) == -signal.SIGKILL
        intake.join(30)
        assert not intake.refused, f"intake refused: {intake.refused[:3]}"
        # answered between the snapshot and the kill: acknowledged, checked as such
        in_flight = {e: b for e, b in in_flight.items() if e not in intake.acked}
        assert in_flight, "no request was in flight when the server was killed"
        assert set(in_flight) <= set(intake.lost)
        assert set(intake.lost) == set(in_flight)  # every request was sent before the kill

        server, port = start_api(env, stderr=logs[1])  # same database, fresh process
        servers.append(server)

        # every acknowledged petition is there and whole
        acked = intake.acked
        found = _stored(watch, list(acked))
        missing = sorted(set(acked) - set(found))
        assert not missing, f"acknowledged petitions lost by the crash: {missing}"
        for ext, (pid, body) in acked.items():
            assert found[ext]["id"] == pid, ext
            assert _whole(found[ext], body), (ext, found[ext])
        # in-flight petitions are absent or whole
        flying = _stored(watch, list(in_flight))
        broken = {e: r for e, r in flying.items() if not _whole(r, in_flight[e])}
        assert not broken, f"half-written petitions: {broken}"
        with watch.connect() as c:
            orphans = c.execute(
                text(
                    "SELECT "
                    "(SELECT count(*) FROM petition p WHERE NOT EXISTS (SELECT 1 FROM petition_event e "
                    "  WHERE e.petition_id = p.id AND e.action = 'receive')), "
                    "(SELECT count(*) FROM petition p WHERE NOT EXISTS (SELECT 1 FROM petition_contact c "
                    "  WHERE c.petition_id = p.id)), "
                    "(SELECT count(*) FROM petition_contact c WHERE NOT EXISTS (SELECT 1 FROM petition p "
                    "  WHERE p.id = c.petition_id)), "
                    "(SELECT count(*) FROM petition_event e WHERE NOT EXISTS (SELECT 1 FROM petition p "
                    "  WHERE p.id = e.petition_id)), "
                    "(SELECT count(*) FROM petition)"
                )
            ).one()
        assert tuple(orphans[:4]) == (0, 0, 0, 0), (
            f"orphans (no event, no contact, contact, event): {orphans}"
        )
        assert orphans[4] == len(acked) + len(flying), "petitions nobody sent"
        left_received = sum(r["status"] == "received" for r in [*found.values(), *flying.values()])

        # resending an in-flight request after the restart: 200 (it was kept) or 201, one row
        for ext, body in in_flight.items():
            status, out = intake.post(body, port)
            if ext in flying:
                assert (status, out.get("id")) == (200, flying[ext]["id"]), (ext, status, out)
            else:
                assert status == 201, (ext, status, out)
        after = _stored(watch, list(in_flight))
        assert set(after) == set(in_flight)
        assert all(_whole(after[e], b) for e, b in in_flight.items())
        with watch.connect() as c:
            per_ext = c.execute(
                text(
                    "SELECT max(n) FROM (SELECT count(*) AS n FROM petition WHERE external_id = ANY(:x) "
                    "GROUP BY external_id) t"
                ),
                {"x": list(in_flight)},
            ).scalar()
        assert per_ext == 1

        # the restarted server serves what was acknowledged before the crash
        for ext, (pid, _) in acked.items():
            h = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            h.request("GET", f"/v1/petitions/{pid}", headers={"X-API-Key": key})
            r = h.getresponse()
            got = json.loads(r.read())
            h.close()
            assert r.status == 200 and got["external_id"] == ext, (ext, r.status, got)

        # petitions committed but not dispatched when the server died are picked up by the sweep
        with watch.connect() as c:
            stuck = c.scalar(text("SELECT count(*) FROM petition WHERE status = 'received'"))
        run = subprocess.run(
            [GRIDGOV, "petitions", "process"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0 and f"processed {stuck}" in run.stdout, run.stdout + run.stderr
        with watch.connect() as c:
            assert c.scalar(text("SELECT count(*) FROM petition WHERE status = 'received'")) == 0

        report(
            f"server SIGKILL mid-intake: acknowledged {len(acked)}, found {len(acked) - len(missing)}, "
            f"in-flight {len(in_flight)}, whole {len(flying)} (absent {len(in_flight) - len(flying)}), "
            f"left 'received' {left_received} ({stuck} after the retries; `gridgov petitions process` "
            f"dispatched them), retried ok ({len(in_flight)} resent: "
            f"{len(flying)}x200 + {len(in_flight) - len(flying)}x201, one row each)"
        )
    finally:
        if intake is not None:
            intake.stop.set()
        for srv in servers:
            if srv.poll() is None:
                stop_api(srv)
        for f in logs:
            f.close()


# ---- 2. `gridgov import units` killed during its write ----------------------------------------------

CELLS_PER_SIDE = 30  # 4 communities x 30 x 30 = 3600 grid cells, codes <community>001..900
BUILDINGS = 2000  # bound to cells by the grid import: one statement each, a longer write
WRITES = ("INSERT INTO unit ", "INSERT INTO building_cell", "UPDATE building_cell", "SELECT building_id FROM")


def _cells_file(tmp_path: Path) -> tuple[Path, set[str]]:
    """A tiling of each street's single community (same square) into grid cells."""
    rows = []
    for street, g in STREETS.items():
        x0, y0, x1, y1 = g.bounds
        xs, ys = np.linspace(x0, x1, CELLS_PER_SIDE + 1), np.linspace(y0, y1, CELLS_PER_SIDE + 1)
        k = 0
        for i in range(CELLS_PER_SIDE):
            for j in range(CELLS_PER_SIDE):
                k += 1
                cell = box(xs[i], ys[j], xs[i + 1], ys[j + 1])
                rows.append({"code": f"{street}001{k:03d}", "name": f"网格{k:03d}", "geometry": cell})
    return write_layer(tmp_path / "cells.geojson", rows), {str(r["code"]) for r in rows}


def _buildings_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    lines = ["building_id,address,lon,lat,households"]
    for k in range(BUILDINGS):
        lon, lat = rng.uniform(116.4005, 116.4995), rng.uniform(39.8505, 39.9495)
        lines.append(f"CB{k:05d},测试路{k}号楼,{lon:.6f},{lat:.6f},{int(rng.integers(20, 200))}")
    p = tmp_path / "buildings.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def _grid_state(eng: Engine, source: str) -> dict[str, Any]:
    with eng.connect() as c:
        codes = set(c.scalars(text("SELECT code FROM unit WHERE level = 'grid'")).all())
        runs = c.execute(
            text("SELECT id, summary FROM import_run WHERE level = 'grid' AND source = :s"), {"s": source}
        ).all()
        other = c.scalar(text("SELECT count(*) FROM unit WHERE level <> 'grid'"))
        bound = c.scalar(text("SELECT count(*) FROM building_cell"))
        by_run = {
            r.id: c.scalar(text("SELECT count(*) FROM unit WHERE import_id = :i"), {"i": r.id}) for r in runs
        }
    return {"codes": codes, "runs": runs, "other": other, "bound": bound, "by_run": by_run}


def test_import_killed_mid_write_leaves_all_or_nothing_and_reruns(
    committed_db: str, tmp_path: Path, watch: Engine, report: Report
) -> None:
    with session_scope(committed_db) as s:
        import_world(s, tmp_path)  # district, 4 streets, 1 community each
        import_buildings(s, _buildings_file(tmp_path), datum="wgs84", valid_from=D0)
    path, codes = _cells_file(tmp_path)
    app = f"gridgov-crash-{uuid.uuid4().hex[:12]}"
    env = {**os.environ, "GRIDGOV_DATABASE_URL": committed_db, "PGAPPNAME": app}
    cmd = [GRIDGOV, "import", "units", str(path), "--level", "grid", "--code-field", "code"]
    cmd += ["--name-field", "name", "--datum", "wgs84", "--valid-from", D0.isoformat(), "--format", "json"]
    procs: list[subprocess.Popen[bytes]] = []
    outs = [open(tmp_path / f"import{k}.out", "wb") for k in (1, 2)]  # noqa: SIM115 (closed below)
    activity = text(
        "SELECT pid, state, query, backend_xid IS NOT NULL AS wrote, xact_start, now() - xact_start AS age "
        "FROM pg_stat_activity WHERE application_name = :a"
    )

    def writing() -> Any:
        with watch.connect() as c:
            for r in c.execute(activity, {"a": app}):
                if r.wrote and r.query.startswith(WRITES):
                    return r
        return None

    with watch.connect() as c:
        last_run = c.scalar(text("SELECT max(id) FROM import_run"))
    try:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=outs[0], stderr=subprocess.STDOUT)
        procs.append(proc)
        seen = wait_for(lambda: proc.poll() is not None or writing(), 60, "the import's write phase")
        assert proc.poll() is None, f"the import ended before it was seen writing (rc {proc.returncode})"
        os.kill(proc.pid, signal.SIGKILL)
        killed_at = time.monotonic() - t0
        assert proc.wait(10) == -signal.SIGKILL

        # the server notices the dead client, rolls back and ends the backend (its locks go with it)
        def gone() -> bool:
            with watch.connect() as c:
                return not c.execute(activity, {"a": app}).all()

        wait_for(gone, 30, "the backend to end")

        st = _grid_state(watch, str(path))
        assert st["codes"] in (set(), codes), (
            f"partial import committed: {len(st['codes'])} of {len(codes)} grid cells"
        )
        assert not st["codes"], "the kill landed after the commit: not a mid-write kill"
        assert st["runs"] == [], f"an import_run row claims the killed import: {st['runs']}"
        assert st["bound"] == 0 and st["other"] == 9

        t1 = time.monotonic()
        again = subprocess.Popen(cmd, env=env, stdout=outs[1], stderr=subprocess.STDOUT)
        procs.append(again)
        rc = again.wait(90)
        rerun_s = time.monotonic() - t1
        out = (tmp_path / "import2.out").read_text(encoding="utf-8")
        assert rc == 0, out[-2000:]
        rep = json.loads(out)
        assert rep["applied"] and rep["counts"]["new"] == len(codes)
        st2 = _grid_state(watch, str(path))
        assert st2["codes"] == codes
        assert [r.id for r in st2["runs"]] == [rep["import_id"]]
        assert st2["by_run"] == {rep["import_id"]: len(codes)}
        assert st2["runs"][0].summary["new"] == len(codes)
        assert st2["bound"] == BUILDINGS and st2["other"] == 9
        # sequences are not transactional: the killed run had inserted its import_run row (rolled back)
        assert rep["import_id"] >= last_run + 2, (last_run, rep["import_id"])

        report(
            f"import SIGKILL mid-write: file {len(codes)} cells, killed at {killed_at:.1f}s while "
            f"'{seen.query[:30]}...' ({seen.state}, transaction open {seen.age.total_seconds():.2f}s, "
            f"rows written, no commit); after kill: {len(st['codes'])} cells, {len(st['runs'])} import_run, "
            f"{st['bound']} bindings; rerun rc 0 in {rerun_s:.1f}s: {len(st2['codes'])} cells, "
            f"import_run #{rep['import_id']} (#{last_run + 1} went to the killed run, rolled back) with {st2['by_run'][rep['import_id']]} units, "
            f"{st2['bound']} bindings"
        )
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in outs:
            f.close()
