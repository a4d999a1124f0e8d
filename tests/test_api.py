"""The HTTP API on the real test database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from grid.db.engine import session_scope
from grid.db.store import assign_staff
from tests.world import D0, import_district, import_streets, street_rows, write_layer


def _client(url: str) -> TestClient:
    return TestClient(create_app(database_url=url))


def test_health_reports_database_and_boundary_version(committed_db: str, tmp_path: Path) -> None:
    with session_scope(committed_db) as s:
        import_district(s, tmp_path)
        import_streets(s, write_layer(tmp_path / "s.geojson", street_rows()))
    r = _client(committed_db).get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["postgis"].startswith("3")
    assert body["boundary_version"]["units"] == {"district": 1, "street": 4}
    assert body["boundary_version"]["version"] == D0.isoformat()


def test_health_says_when_the_database_is_down() -> None:
    c = _client("postgresql+psycopg://gridgov:wrong@127.0.0.1:1/none")
    r = c.get("/health")
    assert r.status_code == 503 and r.json()["status"] == "degraded"
    assert r.json()["database"] == "unavailable" and "127.0.0.1" not in r.text and "gridgov" not in r.text


@pytest.mark.parametrize(
    "path",
    [
        "/v1/jurisdiction?lon=116.41&lat=39.94",
        "/v1/geocode?q=%E5%8F%8C%E4%BA%95",
        "/maps/",
        "/maps/unit/110105016",
        "/v1/units",
        "/open311/v2/services.json",
    ],
)
def test_database_gone_is_503_not_500(path: str, handler_tracebacks: list[Any]) -> None:
    c = TestClient(
        create_app(database_url="postgresql+psycopg://gridgov:wrong@127.0.0.1:1/none"),
        raise_server_exceptions=False,
    )
    r = c.get(path)
    assert r.status_code == 503, (path, r.status_code, r.text[:300])
    assert not handler_tracebacks


def test_units_at_a_date_with_staff_and_geojson(committed_db: str, tmp_path: Path) -> None:
    with session_scope(committed_db) as s:
        import_district(s, tmp_path)
        import_streets(s, write_layer(tmp_path / "s.geojson", street_rows()))
        assign_staff(s, "110105001", "王建国", role="secretary", valid_from=D0)
    c = _client(committed_db)
    r = c.get("/v1/units", params={"level": "street", "parent": "110105", "date": "2023-06-01"})
    assert r.status_code == 200 and [u["code"] for u in r.json()] == sorted(x["code"] for x in street_rows())
    u = c.get("/v1/units/110105001", params={"date": "2023-06-01"}).json()
    assert u["name"] == "一街道" and u["staff"][0]["name"] == "王建国" and u["parent_code"] == "110105"
    assert u["chain"] == [{"code": "110105", "name": "朝阳区", "level": "district"}] and u["children"] == []
    assert u["geometry"] is None
    g = c.get("/v1/units/110105", params={"date": "2023-06-01", "geometry": "true"}).json()
    assert g["geometry"]["type"] == "MultiPolygon" and len(g["children"]) == 4
    inbox = c.get(
        "/v1/units", params={"level": "street", "bbox": "116.41,39.91,116.42,39.92", "date": "2023-06-01"}
    )
    assert [u["code"] for u in inbox.json()] == ["110105001"]
    gj = c.get("/v1/units/110105/geojson", params={"date": "2023-06-01"}).json()
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == 5
    # before the version existed: a precise 404
    r = c.get("/v1/units/110105001", params={"date": (D0 - dt.timedelta(days=1)).isoformat()})
    assert r.status_code == 404 and r.json()["code"] == "unit_not_in_force"


def test_errors_have_a_stable_code(committed_db: str) -> None:
    c = _client(committed_db)
    assert c.get("/v1/units/999999").json()["code"] == "unit_not_found"
    r = c.get("/v1/units/a-b")
    assert r.status_code == 400 and r.json()["code"] == "bad_code"
    r = c.get("/v1/units", params={"bbox": "1,2,3"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_bbox"
    r = c.get("/v1/units", params={"level": "county"})
    assert r.status_code == 400 and r.json()["code"] == "unknown_level"
    r = c.get("/v1/units", params={"date": "not-a-date"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    r = c.get("/nope")
    assert r.status_code == 404 and set(r.json()) >= {"error", "code"}
