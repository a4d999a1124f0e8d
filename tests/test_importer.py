"""``import units`` against the real PostGIS: defects found, nothing half-written, history kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import Point, box
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from grid.datum import wgs84_to_gcj02
from grid.db.models import Building, BuildingCell, ImportRun
from grid.db.store import unit_history, units_at
from grid.errors import CoordinateRangeError, DatumError, ImportBlocked, InputError
from tests.world import (
    D0,
    D1,
    DISTRICT,
    SPIKED_001,
    STREETS,
    import_district,
    import_streets,
    street_rows,
    write_layer,
)


def _snapshot(session: Session) -> tuple[int, int, int]:
    return (
        session.execute(text("SELECT count(*) FROM unit")).scalar_one(),
        session.execute(text("SELECT count(*) FROM import_run")).scalar_one(),
        session.execute(text("SELECT count(*) FROM unit WHERE valid_to IS NOT NULL")).scalar_one(),
    )


def _kinds(details: dict) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    for f in details["findings"]:
        out.setdefault(f["kind"], set()).add((f["severity"], ",".join(f["codes"])))
    return out


def test_clean_layer_imports_and_is_queryable_by_date(session: Session, tmp_path: Path) -> None:
    rep = import_district(session, tmp_path)
    assert rep.applied and rep.counts["new"] == 1 and rep.counts["errors"] == 0
    rep = import_streets(session, write_layer(tmp_path / "s.geojson", street_rows()))
    assert rep.applied and rep.new == sorted(STREETS) and rep.counts["errors"] == 0, rep.findings
    df = units_at(session, D0, "street")
    assert list(df["code"]) == sorted(STREETS)
    assert set(df["parent_code"]) == {"110105"}
    assert units_at(session, D0.replace(year=2022), "street").empty
    # importing the same layer again changes nothing
    again = import_streets(session, write_layer(tmp_path / "s2.geojson", street_rows()))
    assert again.counts["unchanged"] == 4 and again.counts["new"] == again.counts["changed"] == 0


def test_defective_layer_names_every_defect_and_writes_nothing(session: Session, tmp_path: Path) -> None:
    import_district(session, tmp_path)
    before = _snapshot(session)
    bad = {
        "110105001": shapely.Polygon(
            [(116.40, 39.90), (116.45, 39.95), (116.45, 39.90), (116.40, 39.95)]
        ),  # bow-tie
        "110105002": box(116.45, 39.899, 116.50, 39.95),  # overlaps 004 by ~0.001 deg
        "110105003": box(116.40, 39.85, 116.449, 39.90),  # leaves a gap towards 004
        "110105004": STREETS["110105004"],
    }
    rows = street_rows(bad)
    rows.append(
        {
            "code": "110105004",
            "name": "四街道副本",
            "parent": "110105",
            "geometry": box(116.46, 39.86, 116.47, 39.87),
        }
    )
    rows.append(
        {
            "code": "110106001",
            "name": "孤儿街道",
            "parent": "110106",
            "geometry": box(116.6, 39.8, 116.61, 39.81),
        }
    )
    with pytest.raises(ImportBlocked) as e:
        import_streets(session, write_layer(tmp_path / "bad.geojson", rows))
    assert e.value.code == "import_blocked" and "nothing was written" in e.value.message
    kinds = _kinds(e.value.details)
    assert ("error", "110105001") in kinds["invalid_geometry"]
    assert any(
        sev == "error" and "110105002" in codes and "110105004" in codes for sev, codes in kinds["overlap"]
    )
    assert any(sev == "error" for sev, _ in kinds["gap"])
    assert ("error", "110105004") in kinds["duplicate_code"]
    assert any(sev == "error" and codes.startswith("110106001") for sev, codes in kinds["orphan_child"])
    blocking = {f["kind"] for f in e.value.details["blocking"]}
    assert {"invalid_geometry", "overlap", "gap", "duplicate_code", "orphan_child"} <= blocking
    # every finding carries its area and location where it is a place
    overlap = next(
        f
        for f in e.value.details["findings"]
        if f["kind"] == "overlap" and f["severity"] == "error" and "110105002" in f["codes"]
    )
    assert 0.9 * 0.05 * 85_300 * 111 < overlap["area_m2"] < 1.1 * 0.05 * 85_500 * 111.2
    assert overlap["location"] is not None
    assert _snapshot(session) == before
    assert units_at(session, D0, "street").empty


def test_repair_fixes_invalid_rings_and_records_what_changed(session: Session, tmp_path: Path) -> None:
    import_district(session, tmp_path)
    layer = write_layer(tmp_path / "spiked.geojson", street_rows({**STREETS, "110105001": SPIKED_001}))
    with pytest.raises(ImportBlocked) as e:
        import_streets(session, layer)
    assert {f["kind"] for f in e.value.details["blocking"]} == {"invalid_geometry"}
    rep = import_streets(session, layer, repair=True)
    assert rep.applied and [r["code"] for r in rep.repairs] == ["110105001"]
    stored = units_at(session, D0, "street").set_index("code").loc["110105001"].geometry
    assert stored.is_valid and abs(stored.area - STREETS["110105001"].area) < 1e-12
    run = session.get(ImportRun, rep.import_id)
    assert run is not None and run.params["repair"] is True and run.repairs[0]["code"] == "110105001"


def test_accept_lets_a_known_defect_through_and_records_it(session: Session, tmp_path: Path) -> None:
    import_district(session, tmp_path)
    gappy = write_layer(
        tmp_path / "gap.geojson", street_rows({**STREETS, "110105003": box(116.40, 39.85, 116.449, 39.90)})
    )
    with pytest.raises(ImportBlocked):
        import_streets(session, gappy)
    with pytest.raises(InputError, match="unknown finding kind"):
        import_streets(session, gappy, accept=["gapz"])
    rep = import_streets(session, gappy, accept=["gap"])
    assert rep.applied and rep.accepted == ["gap"]
    run = session.get(ImportRun, rep.import_id)
    assert run is not None and run.accepted == ["gap"]
    assert any(f["kind"] == "gap" and f["severity"] == "error" for f in run.findings)


def test_reimport_closes_old_version_and_keeps_it_queryable(session: Session, tmp_path: Path) -> None:
    import_district(session, tmp_path)
    import_streets(session, write_layer(tmp_path / "v1.geojson", street_rows()))
    moved = {
        **STREETS,
        "110105001": box(116.40, 39.90, 116.46, 39.95),
        "110105002": box(116.46, 39.90, 116.50, 39.95),
    }
    # a building east of the old edge: in 002 before, in 001 after
    session.add(
        Building(
            building_id="B1",
            address="测试路1号",
            geom=from_shape(Point(116.455, 39.92), srid=4326),
            households=100,
            valid_from=D0,
        )
    )
    session.flush()
    dry = import_streets(
        session, write_layer(tmp_path / "v2.geojson", street_rows(moved)), when=D1, dry_run=True
    )
    assert dry.changed == ["110105001", "110105002"] and dry.counts["unchanged"] == 2 and not dry.applied
    assert dry.building_moves == [{"building_id": "B1", "from": "110105002", "to": "110105001"}]
    assert len(unit_history(session, "110105001")) == 1  # dry run wrote nothing
    rep = import_streets(session, write_layer(tmp_path / "v2.geojson", street_rows(moved)), when=D1)
    assert rep.applied
    hist = unit_history(session, "110105001")
    assert list(hist["valid_to"]) == [D1, None]
    old = units_at(session, D0, "street").set_index("code").loc["110105001"].geometry
    new = units_at(session, D1, "street").set_index("code").loc["110105001"].geometry
    assert old.equals(STREETS["110105001"]) and new.equals(moved["110105001"])
    assert len(unit_history(session, "110105003")) == 1  # unchanged units get no new version


def test_changed_boundary_on_the_same_date_is_refused(session: Session, tmp_path: Path) -> None:
    import_district(session, tmp_path)
    import_streets(session, write_layer(tmp_path / "v1.geojson", street_rows()))
    moved = {
        **STREETS,
        "110105001": box(116.40, 39.90, 116.46, 39.95),
        "110105002": box(116.46, 39.90, 116.50, 39.95),
    }
    with pytest.raises(Exception, match="history is never overwritten"):
        import_streets(session, write_layer(tmp_path / "v2.geojson", street_rows(moved)))


def test_grid_level_reimport_moves_building_bindings(session: Session, tmp_path: Path) -> None:
    """At the binding level, bindings move with validity dates: the old cell stays the answer for old dates."""
    import_district(session, tmp_path)
    import_streets(session, write_layer(tmp_path / "s.geojson", street_rows()))
    comm = write_layer(
        tmp_path / "c.geojson", [{"code": "110105001001", "name": "社区", "geometry": STREETS["110105001"]}]
    )
    from grid.db.importer import import_units

    for lv, path in (("community", comm),):
        import_units(
            session, path, level=lv, code_field="code", name_field="name", datum="wgs84", valid_from=D0
        )
    half_w, half_e = box(116.40, 39.90, 116.425, 39.95), box(116.425, 39.90, 116.45, 39.95)
    cells = write_layer(
        tmp_path / "g.geojson",
        [
            {"code": "110105001001001", "name": "一格", "geometry": half_w},
            {"code": "110105001001002", "name": "二格", "geometry": half_e},
        ],
    )
    session.add(
        Building(
            building_id="B9",
            address="测试路9号",
            geom=from_shape(Point(116.428, 39.92), srid=4326),
            households=300,
            valid_from=D0,
        )
    )
    session.flush()
    r = import_units(
        session, cells, level="grid", code_field="code", name_field="name", datum="wgs84", valid_from=D0
    )
    assert r.building_moves == [{"building_id": "B9", "from": None, "to": "110105001001002"}]
    moved = write_layer(
        tmp_path / "g2.geojson",
        [
            {"code": "110105001001001", "name": "一格", "geometry": box(116.40, 39.90, 116.43, 39.95)},
            {"code": "110105001001002", "name": "二格", "geometry": box(116.43, 39.90, 116.45, 39.95)},
        ],
    )
    import_units(
        session, moved, level="grid", code_field="code", name_field="name", datum="wgs84", valid_from=D1
    )
    rows = session.execute(
        select(BuildingCell.cell_code, BuildingCell.valid_from, BuildingCell.valid_to)
        .where(BuildingCell.building_id == "B9")
        .order_by(BuildingCell.valid_from)
    ).all()
    assert [tuple(r) for r in rows] == [("110105001001002", D0, D1), ("110105001001001", D1, None)]


def test_gcj02_layer_is_converted_and_original_kept(session: Session, tmp_path: Path) -> None:
    lon, lat = np.asarray(DISTRICT.exterior.coords).T
    glon, glat = wgs84_to_gcj02(lon, lat)
    shifted = shapely.Polygon(np.column_stack([glon, glat]))
    p = write_layer(tmp_path / "gcj.geojson", [{"code": "110105", "name": "朝阳区", "geometry": shifted}])
    from grid.db.importer import import_units

    import_units(
        session, p, level="district", code_field="code", name_field="name", datum="gcj02", valid_from=D0
    )
    row = session.execute(
        text(
            "SELECT ST_AsBinary(geom), ST_AsBinary(geom_source), ST_SRID(geom_source), source_datum FROM unit"
        )
    ).one()
    stored, source = shapely.from_wkb(bytes(row[0])), shapely.from_wkb(bytes(row[1]))
    assert shapely.hausdorff_distance(stored, DISTRICT) < 1e-9  # ~0.1 mm
    assert shapely.hausdorff_distance(source, shifted) < 1e-12
    assert shapely.hausdorff_distance(stored, shifted) > 0.004  # the shift is hundreds of metres
    assert row[2] == 0 and row[3] == "gcj02"


def test_projected_layer_is_reprojected(session: Session, tmp_path: Path) -> None:
    import geopandas as gpd

    projected = gpd.GeoSeries([DISTRICT], crs=4326).to_crs(4548).iloc[0]
    p = write_layer(
        tmp_path / "proj.gpkg", [{"code": "110105", "name": "朝阳区", "geometry": projected}], crs=4548
    )
    from grid.db.importer import import_units

    import_units(
        session, p, level="district", code_field="code", name_field="name", datum="cgcs2000", valid_from=D0
    )
    stored = units_at(session, D0, "district").geometry.iloc[0]
    assert shapely.hausdorff_distance(stored, DISTRICT) < 1e-7
    assert session.execute(text("SELECT ST_SRID(geom_source) FROM unit")).scalar() == 4548


def test_bad_inputs_get_precise_errors(session: Session, tmp_path: Path) -> None:
    from grid.db.importer import import_units

    p = write_layer(tmp_path / "d.geojson", [{"code": "110105", "name": "朝阳区", "geometry": DISTRICT}])
    with pytest.raises(DatumError) as e:
        import_units(session, p, level="district", code_field="code", name_field="name", datum="beijing54")
    assert e.value.code == "unknown_datum"
    with pytest.raises(InputError, match="no field 'CODE'") as e2:
        import_units(session, p, level="district", code_field="CODE", name_field="name", datum="wgs84")
    assert e2.value.code == "missing_field"
    with pytest.raises(InputError, match="unknown level"):
        import_units(session, p, level="county", code_field="code", name_field="name", datum="wgs84")
    metres = write_layer(
        tmp_path / "m.geojson",
        [{"code": "110105", "name": "x", "geometry": box(450000, 4400000, 460000, 4410000)}],
        crs=None,
    )
    with pytest.raises(CoordinateRangeError) as e3:
        import_units(session, metres, level="district", code_field="code", name_field="name", datum="wgs84")
    assert "EPSG" in e3.value.message
    assert session.execute(select(ImportRun)).first() is None


def test_z_coordinates_and_non_polygons_are_handled(session: Session, tmp_path: Path) -> None:
    from grid.db.importer import import_units

    ring = [(x, y, 12.5) for x, y in DISTRICT.exterior.coords]
    p = tmp_path / "z.geojson"
    import json

    p.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"code": "110105", "name": "朝阳区"},
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    rep = import_units(
        session, p, level="district", code_field="code", name_field="name", datum="wgs84", valid_from=D0
    )
    assert rep.applied
    assert session.execute(text("SELECT ST_NDims(geom), ST_NDims(geom_source) FROM unit")).one() == (2, 2)
    # a point where a boundary is expected: named, blocked, nothing written
    pts = write_layer(
        tmp_path / "p.geojson",
        [{"code": "110105001", "name": "点", "parent": "110105", "geometry": Point(116.41, 39.91)}],
    )
    with pytest.raises(ImportBlocked) as e:
        import_streets(session, pts)
    assert {f["kind"] for f in e.value.details["blocking"]} == {"wrong_geometry_type"}
    assert units_at(session, D0, "street").empty
