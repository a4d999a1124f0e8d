"""Geocoding over HTTP on the real test database: our own gazetteer, one cell however it is written."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from grid.db.buildings import import_buildings
from grid.db.engine import session_scope
from grid.db.gazetteer_import import import_addresses
from tests.test_jurisdiction import COMM, _world
from tests.world import D0

# two buildings of 富力城 (广渠路8号院) on either side of the cell edge at lon 116.425
B = [("B1", "1", 116.4200, 39.9400), ("B2", "2", 116.4300, 39.9400)]


def _client(url: str, tmp_path: Path) -> TestClient:
    places = [
        "place_id,kind,name,aliases,building_id,compound,road,door_number,building_no,community_code,lon,lat"
    ]
    for bid, no, x, y in B:
        places.append(
            f"{bid},building,北京市朝阳区广渠路8号院富力城{no}号楼,,{bid},富力城,广渠路,8,{no},{COMM},{x},{y}"
        )
    places.append(f"C1,compound,富力城,广渠路8号院|富力城小区,,,广渠路,8,,{COMM},116.425,39.94")
    places.append("L1,landmark,双井桥,,,,,,,,116.41,39.91")
    (tmp_path / "g.csv").write_text("\n".join(places) + "\n", encoding="utf-8")
    blds = ["building_id,address,lon,lat,households"] + [
        f"{b},广渠路8号院富力城{n}号楼,{x},{y},200" for b, n, x, y in B
    ]
    (tmp_path / "b.csv").write_text("\n".join(blds) + "\n", encoding="utf-8")
    with session_scope(url) as s:
        _world(s, tmp_path)
        import_buildings(s, tmp_path / "b.csv", datum="wgs84", valid_from=D0)
        import_addresses(s, tmp_path / "g.csv", datum="wgs84", valid_from=D0)
    return TestClient(create_app(database_url=url))


def test_geocode_reverse_and_jurisdiction_by_address(committed_db: str, tmp_path: Path) -> None:
    c = _client(committed_db, tmp_path)
    r = c.get("/v1/geocode", params={"q": "北京市朝阳区广渠路8号院富力城2号楼", "at": "2023-06-01"})
    assert r.status_code == 200, r.text
    g = r.json()
    assert g["status"] == "matched" and g["level"] == "building" and g["building_id"] == "B2"
    assert g["cell_code"] == COMM + "002"
    # the same building written three ways lands in the same cell
    cells = set()
    for q in ("富力城2号楼", "广渠路8号院2栋", "我住广渠路８号院富力城二号楼，楼下烧烤油烟太大"):
        j = c.get("/v1/jurisdiction", params={"address": q, "at": "2023-06-01"})
        assert j.status_code == 200, (q, j.text)
        cells.add(j.json()["owner"]["code"])
    assert cells == {COMM + "002"}
    rev = c.get("/v1/reverse", params={"lon": 116.4201, "lat": 39.9401, "at": "2023-06-01"}).json()
    assert rev.get("building_id") == "B1" or rev.get("place", {}).get("building_id") == "B1", rev
    b = c.post("/v1/geocode/batch", json={"queries": ["富力城1号楼", ""], "at": "2023-06-01"}).json()
    assert b["results"][0]["building_id"] == "B1" and b["results"][1]["code"] == "empty_address"


def test_geocode_errors_and_review(committed_db: str, tmp_path: Path) -> None:
    c = _client(committed_db, tmp_path)
    r = c.get("/v1/geocode", params={"q": "   "})
    assert r.status_code == 400 and r.json()["code"] == "empty_address"
    r = c.get("/v1/geocode", params={"q": "双" * 501})
    assert (r.status_code, r.json()["code"]) in ((400, "address_too_long"), (422, "invalid_request"))
    g = c.get("/v1/geocode", params={"q": "asdfgh qwerty", "at": "2023-06-01"}).json()
    assert g["status"] in ("no_match", "needs_review") and g.get("building_id") is None
    j = c.get("/v1/jurisdiction", params={"address": "火星基地", "at": "2023-06-01"})
    assert j.status_code == 422 and j.json()["code"] in ("address_needs_review", "address_not_found")
    j = c.get("/v1/jurisdiction", params={"address": "富力城1号楼", "lon": 116.4, "lat": 39.9})
    assert j.status_code == 400


def test_geocode_batch_limit(committed_db: str, tmp_path: Path) -> None:
    c = _client(committed_db, tmp_path)
    r = c.post("/v1/geocode/batch", json={"queries": ["富力城1号楼"] * 1001})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    r = c.get("/v1/reverse", params={"lon": 300, "lat": 39.9})
    assert r.status_code == 400 and r.json()["code"] == "coordinates_out_of_range"
