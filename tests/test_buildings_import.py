"""``import buildings``: all rows checked first, nothing half-written, versions and bindings kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.db.buildings import import_buildings
from grid.db.store import buildings_at
from grid.errors import CoordinateRangeError, ImportBlocked, InputError
from tests.world import D0, D1, import_world

HEADER = "building_id,address,lon,lat,households,compound,road,door_number,building_no,floors\n"


def _world(session: Session, tmp_path: Path) -> None:
    import_world(session, tmp_path)


def _csv(tmp_path: Path, body: str, name: str = "b.csv") -> Path:
    p = tmp_path / name
    p.write_text(HEADER + body, encoding="utf-8")
    return p


def _count(session: Session) -> int:
    return int(session.execute(text("SELECT count(*) FROM building")).scalar_one())


def test_buildings_import_places_them_in_communities(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    p = _csv(
        tmp_path,
        "B1,广渠路8号院1号楼,116.42,39.92,120,8号院,广渠路,8,1,18\n"
        "B2,广渠路10号,116.47,39.87,60,,广渠路,10,,6\n",
    )
    rep = import_buildings(session, p, datum="wgs84", valid_from=D0)
    assert rep.applied and rep.counts["new"] == 2
    b = buildings_at(session, D0).set_index("building_id")
    assert b.loc["B1", "community_code"] == "110105001001" and b.loc["B2", "community_code"] == "110105004001"
    assert b.loc["B1", "households"] == 120 and b.loc["B1", "compound"] == "8号院"
    # re-import with a changed household count: a new version, the old one kept by date
    p2 = _csv(
        tmp_path,
        "B1,广渠路8号院1号楼,116.42,39.92,130,8号院,广渠路,8,1,18\n"
        "B2,广渠路10号,116.47,39.87,60,,广渠路,10,,6\n",
        "b2.csv",
    )
    rep2 = import_buildings(session, p2, datum="wgs84", valid_from=D1)
    assert rep2.counts == {**rep2.counts, "new": 0, "changed": 1, "unchanged": 1}
    assert buildings_at(session, D0).set_index("building_id").loc["B1", "households"] == 120
    assert buildings_at(session, D1).set_index("building_id").loc["B1", "households"] == 130


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("B1,地址,116.42,39.92,120,,,,,\nB1,地址2,116.43,39.92,10,,,,,\n", "duplicate_id"),
        ("B1,地址,116.42,39.92,-5,,,,,\n", "bad_households"),
        ("B1,地址,116.42,39.92,,,,,,\n", "bad_households"),
        ("B1,地址,116.42,39.92,12.5,,,,,\n", "bad_households"),
        ("B1,,116.42,39.92,12,,,,,\n", "missing_address"),
    ],
)
def test_bad_rows_block_the_whole_file(session: Session, tmp_path: Path, body: str, kind: str) -> None:
    _world(session, tmp_path)
    good = "B0,好地址,116.41,39.91,50,,,,,\n"
    with pytest.raises(ImportBlocked) as e:
        import_buildings(session, _csv(tmp_path, good + body), datum="wgs84", valid_from=D0)
    assert kind in {q["kind"] for q in e.value.details["problems"]}
    assert _count(session) == 0  # the good row was not written either


def test_malformed_and_out_of_range_files_are_refused(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,addr\n1,x\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing column") as e:
        import_buildings(session, bad, datum="wgs84")
    assert e.value.code == "malformed_csv"
    with pytest.raises(InputError, match="no numeric lon/lat"):
        import_buildings(session, _csv(tmp_path, "B1,地址,east,39.9,10,,,,,\n"), datum="wgs84")
    with pytest.raises(CoordinateRangeError):
        import_buildings(session, _csv(tmp_path, "B1,地址,451234.0,4412345.0,10,,,,,\n"), datum="wgs84")
    assert _count(session) == 0


def test_community_mismatch_is_reported_not_guessed(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    p = tmp_path / "m.csv"
    p.write_text(
        "building_id,address,lon,lat,households,community_code\nB1,地址,116.42,39.92,10,110105004001\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportBlocked) as e:
        import_buildings(session, p, datum="wgs84", valid_from=D0)
    q = e.value.details["problems"][0]
    assert q["kind"] == "community_mismatch" and "110105001001" in q["message"]


def test_building_and_binding_changes_bump_the_store_generation(session: Session, tmp_path: Path) -> None:
    """The geocoder caches each building's cell per store generation: a buildings import alone
    (new rows and bindings) must bump it, or addresses keep their old cell."""
    from grid.db.jurisdiction import store_generation

    _world(session, tmp_path)
    before = store_generation(session)
    import_buildings(
        session,
        _csv(tmp_path, "B9,一街道幸福路9号院1号楼,116.41,39.94,80,幸福里,幸福路,9,1,6\n"),
        datum="wgs84",
        valid_from=D0,
    )
    after_import = store_generation(session)
    assert after_import > before
    session.execute(text("UPDATE building_cell SET valid_to = valid_from + 1 WHERE building_id = 'B9'"))
    assert store_generation(session) > after_import
