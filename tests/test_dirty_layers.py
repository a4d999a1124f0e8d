"""Issue 14: dirty real layers get in on purpose, and the validator/import defects seen with them.

Real layers are read from ../shared/data/real_cities (see each SOURCE.txt); these are one-level
cities, so the levels are loaded with ``save_levels`` (fixed-length, zero-padded codes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.datum import wgs84_to_gcj02
from grid.db.importer import import_units
from grid.db.models import ImportRun
from grid.db.store import save_levels, units_at
from grid.db.validation import validate_store
from grid.errors import CoordinateRangeError, ImportBlocked
from grid.levels import Level, Levels
from tests.world import D0, DISTRICT, STREETS, import_district, import_streets, street_rows, write_layer

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_cities"
BOSTON_WARDS = REAL / "boston" / "boston_wards_2012-2022_crs84.geojson"
BOSTON_PRECINCTS = REAL / "boston" / "boston_precincts_2012-2022_wgs84.geojson"
BOSTON_PRECINCTS_NOCRS = REAL / "boston" / "boston_precincts_2012-2022_EPSG2249_nocrs.geojson"
LA_NC = REAL / "los_angeles" / "la_neighborhood_councils_2019.geojson"


def _one_level(session: Session, name: str, digits: int) -> None:
    save_levels(session, Levels([Level(name, 0, digits, name, rf"\d{{{digits}}}", None)]))


def _padded(src: Path, field: str, digits: int, dst: Path) -> Path:
    """The real layer with a zero-padded copy of its code field (``code``), everything else as is."""
    gdf = gpd.read_file(src, engine="pyogrio")
    gdf["code"] = [str(int(float(v))).zfill(digits) for v in gdf[field]]
    gdf.to_file(dst, driver="GeoJSON", engine="pyogrio")
    return dst


def _imp(session: Session, path: Path, level: str, name_field: str, **kw: Any) -> Any:
    return import_units(
        session,
        path,
        level=level,
        code_field=kw.pop("code_field", "code"),
        name_field=name_field,
        datum=kw.pop("datum", "wgs84"),
        valid_from=D0,
        **kw,
    )


# ------------------------------------------------------------------ 7. dirty real layers, one pass


def test_boston_wards_invalid_rings_repaired_with_areas(session: Session, tmp_path: Path) -> None:
    _one_level(session, "ward", 2)
    path = _padded(BOSTON_WARDS, "WARD", 2, tmp_path / "wards.geojson")
    with pytest.raises(ImportBlocked) as e:
        _imp(session, path, "ward", "WARD")
    invalid = [f for f in e.value.details["findings"] if f["kind"] == "invalid_geometry"]
    assert len(invalid) == 3  # every invalid ring named, not one of them
    assert "--repair" in e.value.message and "--accept gap" in e.value.message
    # the wards also hold real gaps and overlaps of tens of m² (digitised by hand): one pass
    rep = _imp(session, path, "ward", "WARD", repair=True, accept_dirty=True)
    assert rep.applied and len(rep.repairs) == 3
    assert rep.accepted == ["gap", "overlap", "sliver"]
    for r in rep.repairs:
        assert r["area_before_m2"] > 0 and r["area_after_m2"] > 0
    dec = next(d for d in rep.decisions if d["decision"] == "repair")
    assert dec["count"] == 3 and "as drawn" in dec["message"]
    assert len(units_at(session, D0, "ward")) == 22


def test_boston_precincts_repair_and_accept_sliver_overlap(session: Session, tmp_path: Path) -> None:
    # WARD_PRECINCT holds "0502A" beside 4-digit codes: the code is OBJECTID, zero-padded
    _one_level(session, "precinct", 3)
    path = _padded(BOSTON_PRECINCTS, "OBJECTID", 3, tmp_path / "precincts.geojson")
    rep = _imp(session, path, "precinct", "WARD_PRECINCT", repair=True, accept_dirty=True)
    assert rep.applied and len(rep.repairs) == 2
    assert rep.accepted == ["gap", "overlap", "sliver"]
    run = session.get(ImportRun, rep.import_id)
    assert run is not None and run.accepted == ["gap", "overlap", "sliver"] and run.params["accept_dirty"]
    assert {d["decision"] for d in rep.decisions} >= {"repair", "accept overlap", "accept gap"}
    assert len(units_at(session, D0, "precinct")) == 255


def test_la_neighborhood_councils_that_do_not_tile_import_in_one_command(
    session: Session, tmp_path: Path
) -> None:
    # nc_id is "0" on two NCs created in 2019 (a real trap, a duplicate_code): the code is objectid
    _one_level(session, "nc", 3)
    path = _padded(LA_NC, "objectid", 3, tmp_path / "nc.geojson")
    with pytest.raises(ImportBlocked) as e:
        _imp(session, path, "nc", "name")
    blocking = {f["kind"] for f in e.value.details["blocking"]}
    assert "overlap" in blocking
    assert "--accept overlap" in e.value.message
    rep = _imp(session, path, "nc", "name", accept=["overlap", "gap", "sliver"])
    assert rep.applied and rep.counts["new"] == 99
    overlap = next(d for d in rep.decisions if d["decision"] == "accept overlap")
    # SOURCE.txt measures 25.6 km² of overlap between NCs (EPSG:3310); our figure is of that order
    assert 10e6 < overlap["area_m2"] < 40e6, overlap
    assert overlap["owned_by"] and "lowest code" in overlap["message"]
    assert abs(sum(overlap["owned_by"].values()) - overlap["area_m2"]) < 1.0
    gap = next(d for d in rep.decisions if d["decision"] == "accept gap")
    assert gap["area_m2"] > 0 and "nearest unit within" in gap["message"]
    # validate remembers what was accepted: listed, marked accepted, not failing
    v = validate_store(session, D0)
    assert v["accepted"] == {"nc": ["gap", "overlap", "sliver"]}
    assert v["errors"] > 0 and v["blocking"] == 0
    assert all(f["accepted"] for f in v["findings"] if f["severity"] == "error")
    assert any(r["kind"] == "overlap" and r["accepted"] for r in v["by_kind"])


# ------------------------------------------------------------------ 6. projected GeoJSON without crs


def test_projected_geojson_without_crs_says_what_to_pass(session: Session, tmp_path: Path) -> None:
    _one_level(session, "precinct", 3)
    with pytest.raises(CoordinateRangeError) as e:
        _imp(session, BOSTON_PRECINCTS_NOCRS, "precinct", "WARD_PRECINCT", code_field="WARD_PRECINCT")
    assert e.value.code == "projected_coordinates"
    assert "not degrees" in e.value.message and "--datum EPSG:" in e.value.message
    # US survey feet of Massachusetts Mainland, nowhere near degrees
    assert 700_000 < e.value.details["x"] < 850_000 and 2_850_000 < e.value.details["y"] < 3_050_000
    # the same file with a zero-padded code column, still without a "crs" member
    padded = tmp_path / "nocrs.geojson"
    doc = json.loads(BOSTON_PRECINCTS_NOCRS.read_text())
    assert "crs" not in doc
    for feat in doc["features"]:
        feat["properties"]["code"] = str(feat["properties"]["OBJECTID"]).zfill(3)
    padded.write_text(json.dumps(doc))
    rep = _imp(
        session,
        padded,
        "precinct",
        "WARD_PRECINCT",
        datum="EPSG:2249",
        repair=True,
        accept_dirty=True,
    )
    assert rep.applied and rep.counts["new"] == 255
    stored = units_at(session, D0, "precinct")
    b = stored.total_bounds
    assert -71.2 < b[0] < b[2] < -70.9 and 42.2 < b[1] < b[3] < 42.45


def test_projected_geojson_candidates_from_a_stored_layer(session: Session, tmp_path: Path) -> None:
    save_levels(
        session,
        Levels([Level("ward", 0, 2, "ward", r"\d{2}", None), Level("precinct", 1, 5, "p", r"\d{5}", "ward")]),
    )
    _imp(
        session,
        _padded(BOSTON_WARDS, "WARD", 2, tmp_path / "w.geojson"),
        "ward",
        "WARD",
        repair=True,
        accept_dirty=True,
    )
    with pytest.raises(CoordinateRangeError) as e:
        _imp(session, BOSTON_PRECINCTS_NOCRS, "precinct", "WARD_PRECINCT", code_field="WARD_PRECINCT")
    assert e.value.code == "projected_coordinates"
    assert "EPSG:2249" in e.value.details["candidates"]
    assert "re-run with --datum EPSG:" in e.value.message


# ------------------------------------------------------------------ 1. codes unique across levels


def test_code_of_another_level_is_a_clear_finding(session: Session, tmp_path: Path) -> None:
    import_district(session, tmp_path)
    # a street whose code is the district's own code: today a raw database_error
    rows = street_rows({"110105": STREETS["110105001"]})
    with pytest.raises(ImportBlocked) as e:
        import_streets(session, write_layer(tmp_path / "s.geojson", rows))
    taken = [f for f in e.value.details["blocking"] if f["kind"] == "code_in_other_level"]
    assert len(taken) == 1 and taken[0]["codes"] == ["110105"]
    assert "district" in taken[0]["message"] and "unique across all levels" in taken[0]["message"]


# ------------------------------------------------------------------ 2. rings of 3 points


def _ring3_layer(path: Path) -> Path:
    """Four streets, three of them with degenerate rings of 3 points (written as raw GeoJSON)."""
    feats = []
    for i, (code, g) in enumerate(sorted(STREETS.items())):
        coords = [list(map(list, g.exterior.coords))]
        if i < 3:
            x, y = g.representative_point().coords[0]
            coords.append([[x, y], [x + 0.001, y + 0.001], [x, y]])  # a hole of 3 points
        feats.append(
            {
                "type": "Feature",
                "properties": {"code": code, "name": code, "parent": "110105"},
                "geometry": {"type": "Polygon", "coordinates": coords},
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def test_rings_of_three_points_all_named_and_repaired(session: Session, tmp_path: Path) -> None:
    import_district(session, tmp_path)
    layer = _ring3_layer(tmp_path / "ring3.geojson")
    with pytest.raises(ImportBlocked) as e:
        import_streets(session, layer)
    named = sorted(f["codes"][0] for f in e.value.details["findings"] if f["kind"] == "invalid_geometry")
    assert named == sorted(STREETS)[:3]
    rep = import_streets(session, layer, repair=True)  # today: database_error, at least four points
    assert rep.applied and len(rep.repairs) == 3
    assert all("degenerate ring" in r["change"] for r in rep.repairs)
    stored = units_at(session, D0, "street").set_index("code")
    for code in sorted(STREETS)[:3]:
        assert stored.loc[code].geometry.is_valid
    src = session.execute(
        text("SELECT count(*) FROM unit WHERE level = 'street' AND ST_NRings(geom_source) = 1")
    ).scalar_one()
    assert src == 4  # the kept original lost its 3-point ring too


# ------------------------------------------------------------------ 3. errors first, count per kind


def test_text_output_puts_errors_first_and_counts_per_kind(capsys: pytest.CaptureFixture[str]) -> None:
    from api.cli import _print_findings

    findings = [
        {"kind": "sliver", "severity": "warning", "codes": [f"s{i}"], "message": "thin", "area_m2": 1.0}
        for i in range(50)
    ] + [
        {"kind": "invalid_geometry", "severity": "error", "codes": [f"g{i}"], "message": "bad"}
        for i in range(6)
    ]
    _print_findings(findings, limit=40)
    text_out = capsys.readouterr().out
    lines = text_out.splitlines()
    first_warning = next(i for i, ln in enumerate(lines) if "sliver" in ln)
    errors_at = [i for i, ln in enumerate(lines) if "invalid_geometry" in ln and " g" in ln]
    assert len(errors_at) == 6 and max(errors_at) < first_warning
    assert any("invalid_geometry" in ln and "6" in ln and "no (blocking)" in ln for ln in lines)
    assert any(ln.split()[:3] == ["sliver", "warning", "50"] for ln in lines)


# ------------------------------------------------------------------ 4. validate remembers --accept


def test_validate_after_accept_does_not_fail(session: Session, tmp_path: Path) -> None:
    import_district(session, tmp_path)
    gappy = write_layer(
        tmp_path / "gap.geojson", street_rows({**STREETS, "110105003": box(116.40, 39.85, 116.449, 39.90)})
    )
    import_streets(session, gappy, accept=["gap"])
    v = validate_store(session, D0)
    gaps = [f for f in v["findings"] if f["kind"] == "gap" and f["severity"] == "error"]
    assert gaps and all(f["accepted"] for f in gaps)
    assert v["accepted"] == {"street": ["gap"]} and v["blocking"] == 0


# ------------------------------------------------------------------ 5. overlaps with missing parents


def test_overlaps_found_when_parents_are_missing() -> None:
    from grid.validate import validate_units

    levels = Levels(
        [Level("district", 0, 3, "", r"\d{3}", None), Level("street", 1, 6, "", r"\d{6}", "district")]
    )
    # each street names its own (missing) district: before, no two were siblings, 0 overlaps
    units = gpd.GeoDataFrame(
        {
            "code": ["101001", "102001", "103001"],
            "level": "street",
            "parent_code": ["101", "102", "103"],
            "name": None,
        },
        geometry=[
            box(116.40, 39.90, 116.42, 39.92),
            box(116.41, 39.90, 116.43, 39.92),
            box(116.5, 39.9, 116.51, 39.91),
        ],
        crs=4326,
    )
    found = validate_units(units, levels=levels)
    overlaps = [f for f in found if f.kind == "overlap"]
    assert [f.codes for f in overlaps] == [("101001", "102001")]
    assert overlaps[0].area_m2 is not None and overlaps[0].area_m2 > 1e6
    # with both parents known and different, cousins are not compared
    parents = gpd.GeoDataFrame(
        {"code": ["101", "102"], "level": "district", "name": None},
        geometry=[box(116.3, 39.8, 116.415, 40.0), box(116.415, 39.8, 116.5, 40.0)],
        crs=4326,
    )
    found = validate_units(units.iloc[:2], levels=levels, parents=parents, check_coverage=False)
    assert not [f for f in found if f.kind == "overlap"]


# ------------------------------------------------------------------ 8. datum at import


def test_gcj02_street_layer_declared_wgs84_is_suspected(session: Session, tmp_path: Path) -> None:
    import_district(session, tmp_path)

    def to_gcj(g: Any) -> Any:
        def f(xy: np.ndarray) -> np.ndarray:
            x, y = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        return shapely.transform(g, f)

    shifted = {c: to_gcj(g) for c, g in STREETS.items()}
    layer = write_layer(tmp_path / "gcj.geojson", street_rows(shifted))
    rep = import_streets(session, layer, dry_run=True, accept=["outside_parent", "gap", "overlap"])
    suspect = [f for f in rep.findings if f["kind"] == "datum_suspect"]
    assert len(suspect) == 1 and suspect[0]["severity"] == "warning"
    assert "--datum gcj02" in suspect[0]["message"]
    # declared right, nothing is suspected
    rep = import_streets(session, layer, dry_run=True, datum="gcj02")
    assert not [f for f in rep.findings if f["kind"] == "datum_suspect"]
    assert rep.counts["errors"] == 0
    # the unshifted layer declared wgs84 is not suspected either
    rep = import_streets(session, write_layer(tmp_path / "ok.geojson", street_rows()), dry_run=True)
    assert not [f for f in rep.findings if f["kind"] == "datum_suspect"]
    assert DISTRICT.covers(shapely.union_all(list(STREETS.values())))
