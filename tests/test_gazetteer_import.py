"""``import addresses``: the gazetteer is versioned, and bad rows block the whole file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.db.gazetteer_import import import_addresses
from grid.errors import ImportBlocked, InputError
from tests.world import D0, D1


def _csv(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "g.csv"
    p.write_text(
        "place_id,kind,name,aliases,road,door_number,compound,building_no,lon,lat\n" + body, encoding="utf-8"
    )
    return p


def _count(session: Session, d: object = D0) -> int:
    return int(
        session.execute(
            text(
                "SELECT count(*) FROM gazetteer_place WHERE valid_from <= :d AND "
                "(valid_to IS NULL OR :d < valid_to)"
            ),
            {"d": d},
        ).scalar_one()
    )


def test_import_versions_and_aliases(session: Session, tmp_path: Path) -> None:
    body = (
        "B1,building,广渠路8号院富力城1号楼,,广渠路,8,富力城,1,116.46,39.89\n"
        "C1,compound,富力城,富力城小区|广渠路8号院,广渠路,8,,,116.461,39.891\n"
        "L1,landmark,双井桥,,,,,,116.462,39.892\n"
    )
    r = import_addresses(session, _csv(tmp_path, body), datum="wgs84", valid_from=D0)
    assert r["applied"] and r["counts"]["new"] == 3
    aliases = session.execute(text("SELECT aliases FROM gazetteer_place WHERE place_id = 'C1'")).scalar_one()
    assert aliases == ["富力城小区", "广渠路8号院"]
    again = import_addresses(session, _csv(tmp_path, body), datum="wgs84", valid_from=D1)
    assert again["counts"]["unchanged"] == 3 and again["counts"]["new"] == 0
    renamed = body.replace("双井桥,", "双井立交桥,")
    r2 = import_addresses(session, _csv(tmp_path, renamed), datum="wgs84", valid_from=D1)
    assert r2["counts"]["changed"] == 1
    names = dict(
        session.execute(text("SELECT valid_from, name FROM gazetteer_place WHERE place_id = 'L1'")).all()
    )
    assert names == {D0: "双井桥", D1: "双井立交桥"}
    assert _count(session, D0) == _count(session, D1) == 3


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("X1,spaceship,某地,,,,,,116.46,39.89\n", "unknown_kind"),
        ("X1,landmark,,,,,,,116.46,39.89\n", "missing_name"),
        ("X1,landmark,甲,,,,,,116.46,39.89\nX1,landmark,乙,,,,,,116.47,39.89\n", "duplicate_id"),
    ],
)
def test_bad_rows_block_everything(session: Session, tmp_path: Path, body: str, kind: str) -> None:
    good = "OK1,landmark,好地方,,,,,,116.45,39.88\n"
    with pytest.raises(ImportBlocked) as e:
        import_addresses(session, _csv(tmp_path, good + body), datum="wgs84", valid_from=D0)
    assert kind in {q["kind"] for q in e.value.details["problems"]}
    assert _count(session) == 0


def test_geojson_roads_with_door_ranges_and_gcj02(session: Session, tmp_path: Path) -> None:
    from grid.datum import wgs84_to_gcj02

    (x0, x1), (y0, y1) = wgs84_to_gcj02([116.45, 116.46], [39.89, 39.89])
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "place_id": "R1",
                    "kind": "road",
                    "name": "广渠路",
                    "from_left": 1,
                    "to_left": 99,
                    "from_right": 2,
                    "to_right": 100,
                },
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[float(x0), float(y0)], [float(x1), float(y1)]],
                },
            }
        ],
    }
    p = tmp_path / "r.geojson"
    p.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    import_addresses(session, p, datum="gcj02", valid_from=D0)
    row = session.execute(text("SELECT door_ranges, ST_X(ST_StartPoint(geom)) FROM gazetteer_place")).one()
    assert row[0] == {"from_left": 1, "to_left": 99, "from_right": 2, "to_right": 100}
    assert abs(row[1] - 116.45) < 1e-9
    with pytest.raises(InputError):
        import_addresses(session, p, datum="wgs84", kind="nope")


def test_same_day_correction_replaces_the_version(session: Session, tmp_path: Path) -> None:
    import_addresses(
        session, _csv(tmp_path, "L1,landmark,双井桥,,,,,,116.462,39.892\n"), datum="wgs84", valid_from=D0
    )
    r = import_addresses(
        session,
        _csv(tmp_path, "L1,landmark,双井桥,双井立交,,,,,116.462,39.892\n"),
        datum="wgs84",
        valid_from=D0,
    )
    assert r["counts"]["changed"] == 1
    rows = session.execute(text("SELECT aliases, valid_to FROM gazetteer_place WHERE place_id = 'L1'")).all()
    assert [tuple(x) for x in rows] == [(["双井立交"], None)]
