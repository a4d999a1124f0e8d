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


def test_independent_layers_over_http(committed_db: str, tmp_path: Path) -> None:
    """Two one-level layers (wards first, police second): the answer carries the other layer,
    ``level=police`` answers police, a hole of the police layer is outside with its distance."""
    from shapely.geometry import box

    from grid.db.importer import import_units
    from grid.db.store import load_levels, save_levels
    from grid.levels import Level, Levels
    from tests.conftest import truncate
    from tests.world import write_layer

    with session_scope(committed_db) as s:
        saved = load_levels(s)
        save_levels(
            s,
            Levels(
                [
                    Level(name="ward", rank=0, code_length=3, pattern=r"W\d\d"),
                    Level(name="police", rank=1, code_length=3, pattern=r"P\d\d"),
                ]
            ),
        )
    try:
        with session_scope(committed_db) as s:
            wards = [
                {"code": "W01", "name": "Ward 1", "geometry": box(-71.10, 42.30, -71.05, 42.35)},
                {"code": "W02", "name": "Ward 2", "geometry": box(-71.05, 42.30, -71.00, 42.35)},
            ]
            police = [  # overlapping precincts, and none over the east half of ward 2
                {"code": "P01", "name": "A-1", "geometry": box(-71.10, 42.30, -71.06, 42.35)},
                {"code": "P02", "name": "B-2", "geometry": box(-71.07, 42.30, -71.03, 42.35)},
            ]
            for lv, rows in (("ward", wards), ("police", police)):
                import_units(
                    s,
                    write_layer(tmp_path / f"{lv}.geojson", rows),
                    level=lv,
                    code_field="code",
                    name_field="name",
                    datum="wgs84",
                    valid_from=D0,
                    accept=["overlap", "gap"],
                )
        c = TestClient(create_app(database_url=committed_db))
        q = {"lon": -71.065, "lat": 42.32, "at": "2023-06-01"}
        a = c.get("/v1/jurisdiction", params=q).json()
        assert a["owner"]["code"] == "W01" and a["layer"] == "ward" and a["status"] == "interior"
        p = a["layers"]["police"]
        assert (p["status"], p["owner"]["code"], p["candidates"], p["rule"]) == (
            "overlap",
            "P01",
            ["P01", "P02"],
            "lowest_code",
        )
        b = c.get("/v1/jurisdiction", params={**q, "level": "police"}).json()
        assert (
            b["layer"] == "police"
            and b["status"] == "overlap"
            and b["layers"]["ward"]["owner"]["code"] == "W01"
        )
        east = c.get("/v1/jurisdiction", params={"lon": -71.01, "lat": 42.32, "at": "2023-06-01"}).json()
        hole = east["layers"]["police"]
        assert east["owner"]["code"] == "W02" and hole["status"] == "outside" and hole["nearest"] == "P02"
        assert 1500 < hole["boundary_distance_m"] < 1800  # 0.02 degrees of longitude at 42.3 N
        r = c.get("/v1/jurisdiction", params={**q, "level": "sanitation"})
        assert r.status_code == 404 and r.json()["code"] == "no_units" and "police" in r.json()["error"]
        doc = c.get("/openapi.json").json()["components"]["schemas"]
        assert "layers" in doc["JurisdictionOut"]["properties"] and "LayerAnswerOut" in doc
    finally:
        from sqlalchemy import create_engine

        eng = create_engine(committed_db)
        truncate(eng)
        eng.dispose()
        with session_scope(committed_db) as s:
            save_levels(s, saved)
