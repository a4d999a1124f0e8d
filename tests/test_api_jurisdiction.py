"""``/v1/jurisdiction`` and ``/v1/rulings`` over HTTP (real PostGIS, committed and cleaned)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from grid.db.engine import session_scope
from grid.db.store import assign_staff
from grid.db.users import create_key
from tests.test_jurisdiction import COMM, X1, _world
from tests.world import D0


def _client(url: str, tmp_path: Path) -> TestClient:
    with session_scope(url) as s:
        _world(s, tmp_path)
        assign_staff(s, COMM + "001", "王网格", valid_from=D0)
    return TestClient(create_app(database_url=url))


def test_point_shape_batch_and_rulings(committed_db: str, tmp_path: Path) -> None:
    c = _client(committed_db, tmp_path)
    r = c.get("/v1/jurisdiction", params={"lon": 116.41, "lat": 39.94, "at": "2023-06-01"})
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["owner"]["code"] == COMM + "001" and a["officer"]["name"] == "王网格"
    assert [x["level"] for x in a["chain"]] == ["grid", "community", "street", "district"]
    edge = c.get("/v1/jurisdiction", params={"lon": X1, "lat": 39.94, "at": "2023-06-01"}).json()
    assert edge["status"] == "on_boundary" and edge["rule"] == "lowest_code"

    ruling = {
        "geometry": {"type": "LineString", "coordinates": [[X1, 39.925], [X1, 39.95]]},
        "owner_code": COMM + "002",
        "reason": "联合执法",
        "author": "规划科",
        "valid_from": "2023-01-01",
    }
    assert c.post("/v1/rulings", json=ruling).status_code == 401  # a planner's act
    with session_scope(committed_db) as s:
        planner = {"X-API-Key": create_key(s, "planner", ["planner"])[0]}
    r = c.post("/v1/rulings", json=ruling, headers=planner)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    edge = c.get("/v1/jurisdiction", params={"lon": X1, "lat": 39.94, "at": "2023-06-01"}).json()
    assert edge["owner"]["code"] == COMM + "002" and edge["rule"] == "ruling" and edge["ruling_id"] == rid
    listed = c.get("/v1/rulings", params={"at": "2023-06-01"}).json()
    assert listed["type"] == "FeatureCollection" and listed["features"][0]["properties"]["id"] == rid

    shape = {
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[116.42, 39.93], [116.43, 39.93], [116.43, 39.935], [116.42, 39.935], [116.42, 39.93]]
            ],
        },
        "at": "2023-06-01",
    }
    s = c.post("/v1/jurisdiction/shape", json=shape).json()
    assert s["lead"] == COMM + "001" and s["co_handlers"] == [COMM + "002"] and s["measure"] == "area_m2"

    b = c.post(
        "/v1/jurisdiction/batch",
        json={
            "points": [{"id": "a", "lon": 116.41, "lat": 39.94}, {"id": "b", "lon": 300, "lat": 39.94}],
            "at": "2023-06-01",
        },
    ).json()
    assert b["results"][0]["owner"] == COMM + "001" and b["results"][1]["code"] == "coordinates_out_of_range"


def test_jurisdiction_errors_are_4xx_with_codes(committed_db: str, tmp_path: Path) -> None:
    c = _client(committed_db, tmp_path)
    cases = [
        ({"lon": 200, "lat": 39.9}, 400, "coordinates_out_of_range"),
        ({"lon": 116.4, "lat": 39.9, "datum": "mars"}, 400, "unknown_datum"),
        ({"lon": 116.4, "lat": 39.9, "at": "yesterday"}, 422, "invalid_request"),
        ({"lon": 117.5, "lat": 40.5, "at": "2023-06-01"}, 404, "outside"),
        ({"lon": 116.41, "lat": 39.94, "at": "2023-06-01", "category": "NOPE"}, 404, "unknown_category"),
    ]
    for params, status, code in cases:
        r = c.get("/v1/jurisdiction", params=params)
        assert (r.status_code, r.json()["code"]) == (status, code), (params, r.text)
    bad_shape = {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}}
    r = c.post("/v1/jurisdiction/shape", json=bad_shape)
    assert r.status_code == 400 and r.json()["code"] == "invalid_geometry"
    r = c.post("/v1/jurisdiction/shape", json={"geometry": {"type": "Nope"}})
    assert r.status_code == 400 and r.json()["code"] == "invalid_geometry"
    big = {"points": [{"lon": 116.4, "lat": 39.9}] * 10_001}
    r = c.post("/v1/jurisdiction/batch", json=big)
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
