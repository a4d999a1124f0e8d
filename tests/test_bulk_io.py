"""Bulk paths (``gridgov assign`` / ``gridgov geocode``) never lose, reorder or collide with input columns."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.cli import app
from grid.datum import looks_projected, projected_hint, suggest_datum, wgs84_to_bd09, wgs84_to_gcj02
from grid.db.assign import assign_file
from grid.errors import InputError
from grid.tabular import OUTPUT_PREFIX, placeholder_points, read_points_csv
from tests.fuzzing import fuzz
from tests.test_jurisdiction import COMM, X0, X2, _world
from tests.world import D0

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_cities"
STATUSES = {"interior", "on_boundary", "gap", "outside", "error", "unplaced"}
runner = CliRunner()


def _csv(columns: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(columns)
    w.writerows(rows)
    return buf.getvalue()


def _read(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


# --- any header, any field: round trip ---------------------------------------------------------

name_text = st.one_of(
    st.sampled_from(
        ["status", "line", "error", "gg", "", "owner_code", "名称", "a,b", 'q"uote', "new\nline"]
    ),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00\ufeff"), max_size=8),
)
field_text = st.one_of(
    st.sampled_from(["", " ", "NaN", "1.0", "007", "1e5", "null", '"', "a\r\nb", "中文,逗号"]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10),
)
coord = st.one_of(
    st.floats(X0, X2).map(lambda v: f"{v:.6f}"),
    st.sampled_from(["", "abc", "116.4100", " 116.41 ", "200"]),
)


def test_any_header_and_fields_round_trip_through_assign(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)

    @settings(parent=fuzz(30), suppress_health_check=list(HealthCheck))
    @given(
        st.lists(name_text, max_size=5).filter(
            lambda ns: (
                len({n for n in ns if n}) == len([n for n in ns if n])
                and not any(n.startswith(OUTPUT_PREFIX) or n in ("lon", "lat") for n in ns)
            )
        ),
        st.integers(0, 5),
        st.lists(st.tuples(coord, coord, st.lists(field_text, min_size=5, max_size=5)), max_size=6),
    )
    def check(names: list[str], at: int, data: list[tuple[str, str, list[str]]]) -> None:
        at = min(at, len(names))
        columns = [*names[:at], "lon", "lat", *names[at:]]
        rows = []
        for x, y, extra in data:
            rows.append([*extra[:at], x, y, *extra[at : len(names)]])
        src = tmp_path / "in.csv"
        src.write_text(_csv(columns, rows), encoding="utf-8")
        dst = tmp_path / "out.csv"
        r = assign_file(session, src, dst, datum="wgs84", at=D0)
        got = _read(dst)
        width = len(columns)
        assert got[0][:width] == columns
        assert all(c.startswith(OUTPUT_PREFIX) for c in got[0][width:])
        assert "gg_status" in got[0] and "gg_line" in got[0]
        assert [g[:width] for g in got[1:]] == rows  # every field identical, in order
        assert r["records_in"] == r["rows_out"] == len(rows)
        st_i = got[0].index("gg_status")
        assert {g[st_i] for g in got[1:]} <= STATUSES

    check()


def test_status_line_error_columns_assign_through_the_cli(committed_db: str, tmp_path: Path) -> None:
    """The issue-14 crash: a 311 file with its own `status`, `line`, `error` columns."""
    from grid.db.engine import session_scope

    with session_scope(committed_db) as s:
        _world(s, tmp_path)
    src = tmp_path / "311.csv"
    rows = [
        ["Closed", "7", "", "116.41", "39.94"],
        ["Open", "x", "none", "116.43", "39.91"],
        ["", "", "", "", ""],
    ]
    src.write_text(_csv(["status", "line", "error", "lon", "lat"], rows), encoding="utf-8")
    out = tmp_path / "o.csv"
    r = runner.invoke(app, ["assign", str(src), "--out", str(out), "--at", "2023-06-01"])
    assert r.exit_code == 2 and "datum_required" in r.output and "--datum" in r.output, r.output
    assert not out.exists()
    r = runner.invoke(app, ["assign", str(src), "--out", str(out), "--at", "2023-06-01", "--datum", "wgs84"])
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert "3 input records -> 3 rows" in r.output, r.output
    got = _read(out)
    assert got[0][:5] == ["status", "line", "error", "lon", "lat"]
    assert [g[:5] for g in got[1:]] == rows
    h = got[0]
    assert [g[h.index("gg_status")] for g in got[1:]] == ["interior", "interior", "unplaced"]
    assert got[1][h.index("gg_owner_code")] == COMM + "001"
    assert [g[h.index("gg_line")] for g in got[1:]] == ["2", "3", "4"]
    r = runner.invoke(
        app,
        ["assign", str(src), "--out", str(out), "--at", "2023-06-01", "--datum", "wgs84", "--format", "json"],
    )
    summary = json.loads(r.output)
    assert summary["records_in"] == summary["rows_out"] == 3 and summary["by_status"]["unplaced"] == 1


def test_duplicate_and_reserved_columns_are_refused(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    p = tmp_path / "d.csv"
    p.write_text("id,lon,lat,id\n1,116.41,39.94,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="'id'") as e:
        assign_file(session, p, tmp_path / "o.csv", datum="wgs84", at=D0)
    assert e.value.code == "duplicate_columns"
    p.write_text("id,lon,lat,gg_status\n1,116.41,39.94,interior\n", encoding="utf-8")
    with pytest.raises(InputError, match="gg_status") as e:
        assign_file(session, p, tmp_path / "o.csv", datum="wgs84", at=D0)
    assert e.value.code == "reserved_columns"
    # empty names are kept, even several of them (CSV output)
    p.write_text(",lon,lat,\na,116.41,39.94,b\n", encoding="utf-8")
    assign_file(session, p, tmp_path / "o.csv", datum="wgs84", at=D0)
    got = _read(tmp_path / "o.csv")
    assert got[0][:4] == ["", "lon", "lat", ""] and got[1][:4] == ["a", "116.41", "39.94", "b"]


def test_geojson_and_parquet_outputs_use_the_prefix(session: Session, tmp_path: Path) -> None:
    import geopandas as gpd

    _world(session, tmp_path)
    p = tmp_path / "p.csv"
    p.write_text("status,lon,lat\nx,116.41,39.94\ny,,\n", encoding="utf-8")
    for suffix in (".geojson", ".parquet"):
        dst = tmp_path / f"o{suffix}"
        assign_file(session, p, dst, datum="wgs84", at=D0)
        g = gpd.read_parquet(dst) if suffix == ".parquet" else gpd.read_file(dst)
        assert list(g.columns[:3]) == ["status", "lon", "lat"]
        assert g["status"].tolist() == ["x", "y"]
        assert g["gg_status"].tolist() == ["interior", "unplaced"]
        assert g["gg_owner_code"].iloc[0] == COMM + "001"


def test_geojson_input_needs_a_datum_unless_it_declares_one(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    feats = [
        {
            "type": "Feature",
            "properties": {"id": "a"},
            "geometry": {"type": "Point", "coordinates": [116.41, 39.94]},
        }
    ]
    p = tmp_path / "p.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    with pytest.raises(InputError, match="--datum") as e:
        assign_file(session, p, tmp_path / "o.csv", at=D0)
    assert e.value.code == "datum_required"
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    p.write_text(json.dumps({"type": "FeatureCollection", "crs": crs, "features": feats}), encoding="utf-8")
    r = assign_file(session, p, tmp_path / "o.csv", at=D0)
    assert r["datum"] == "wgs84" and r["datum_source"] == "file" and r["by_status"] == {"interior": 1}


# --- placeholder points ---------------------------------------------------------------------


def test_placeholders_of_real_boston_and_baltimore_files() -> None:
    t = read_points_csv(REAL / "boston" / "boston_311_2015_sample.csv", "LONGITUDE", "LATITUDE")
    found, mask = placeholder_points(t.lon, t.lat)
    assert [(p.lon, p.lat) for p in found] == [(-71.0587, 42.3594)]
    on_hall = (t.lon == -71.0587) & (t.lat == 42.3594)
    assert (mask == on_hall).all() and found[0].rows == int(on_hall.sum()) > 100
    t = read_points_csv(REAL / "baltimore" / "baltimore_311_sample_2014-2019.csv", "Longitude", "Latitude")
    assert len(t.rows) == 10_000
    found, mask = placeholder_points(t.lon, t.lat)
    assert [(p.lon, p.lat, p.rows) for p in found] == [(-77.0, 39.0, 885)]
    assert int(mask.sum()) == 885


def test_a_busy_real_address_is_not_a_placeholder() -> None:
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(116.3, 116.5, 100_000), rng.uniform(39.8, 40.0, 100_000)
    lon[:30], lat[:30] = 116.4, 39.9  # a busy building: 30 complaints at one door
    lon[30:330], lat[30:330] = 116.41, 39.91  # a very busy one: 300 (0.3% of the file)
    assert placeholder_points(lon, lat)[0] == []
    # a small file: 30 rows at one point out of 1,000 is below the 50-row floor
    assert placeholder_points(lon[300:1300], lat[300:1300])[0] == []
    assert int(((lon[300:1300] == 116.41) & (lat[300:1300] == 39.91)).sum()) == 30
    # the same file with a fallback point carrying 5%
    lon[1000:6000], lat[1000:6000] = 116.397, 39.909
    found, mask = placeholder_points(lon, lat)
    assert [(p.lon, p.lat, p.rows) for p in found] == [(116.397, 39.909, 5000)] and mask.sum() == 5000
    # two busy points of similar size are not an order of magnitude above the busiest other one
    lon2 = np.concatenate([lon[6000:], np.full(2000, 116.45), np.full(1500, 116.46)])
    lat2 = np.concatenate([lat[6000:], np.full(2000, 39.95), np.full(1500, 39.96)])
    assert placeholder_points(lon2, lat2, min_share=0.02)[0] == []


def test_assign_flags_placeholders_and_keep_turns_it_off(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    rng = np.random.default_rng(5)
    xs, ys = rng.uniform(116.401, 116.449, 400), rng.uniform(39.901, 39.949, 400)
    xs[::5], ys[::5] = 116.41, 39.94  # 80 of 400 rows on one point
    rows = [[str(i), f"{x:.6f}", f"{y:.6f}"] for i, (x, y) in enumerate(zip(xs, ys, strict=True))]
    p = tmp_path / "p.csv"
    p.write_text(_csv(["id", "lon", "lat"], rows), encoding="utf-8")
    r = assign_file(session, p, tmp_path / "o.csv", datum="wgs84", at=D0)
    assert r["placeholders"] == [{"lon": 116.41, "lat": 39.94, "rows": 80}]
    got = _read(tmp_path / "o.csv")
    h = got[0]
    flagged = [g for g in got[1:] if g[h.index("gg_flag")] == "placeholder_point"]
    assert len(flagged) == 80 == r["by_status"]["unplaced"]
    assert all(g[h.index("gg_status")] == "unplaced" and g[h.index("gg_owner_code")] == "" for g in flagged)
    assert all(int(g[0]) % 5 == 0 for g in flagged)
    r = assign_file(session, p, tmp_path / "o.csv", datum="wgs84", at=D0, keep_placeholders=True)
    assert r["placeholders"] == [] and "unplaced" not in r["by_status"]


# --- datum -------------------------------------------------------------------------------------


def test_suggest_datum_finds_gcj02_and_bd09_points_declared_wgs84() -> None:
    rng = np.random.default_rng(2)
    bx, by = rng.uniform(116.40, 116.50, 3000), rng.uniform(39.85, 39.95, 3000)  # buildings
    k = rng.choice(3000, 500, replace=False)
    tx, ty = bx[k] + rng.normal(0, 5e-5, 500), by[k] + rng.normal(0, 5e-5, 500)  # points at buildings
    assert suggest_datum(tx, ty, "wgs84", reference=(bx, by)) is None  # honest wgs84: no warning
    gx, gy = wgs84_to_gcj02(tx, ty)
    s = suggest_datum(gx, gy, "wgs84", reference=(bx, by))
    assert s is not None and s.likely == "gcj02" and s.signal == "buildings"
    assert s.scores["wgs84"] > 3 * s.scores["gcj02"]
    assert suggest_datum(gx, gy, "gcj02", reference=(bx, by)) is None
    dx, dy = wgs84_to_bd09(tx, ty)
    s = suggest_datum(dx, dy, "wgs84", reference=(bx, by))
    assert s is not None and s.likely == "bd09"
    s = suggest_datum(dx, dy, "gcj02", reference=(bx, by))
    assert s is not None and s.likely == "bd09"

    # without buildings: the share inside a layer
    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x >= 116.40) & (x <= 116.43) & (y >= 39.85) & (y <= 39.88)

    sx, sy = rng.uniform(116.40, 116.43, 400), rng.uniform(39.85, 39.88, 400)
    gx, gy = wgs84_to_gcj02(sx, sy)
    s = suggest_datum(gx, gy, "wgs84", inside=inside)
    assert s is not None and s.likely == "gcj02" and s.signal == "inside_layer"
    # outside China nothing is suggested
    assert suggest_datum(tx - 190, ty, "wgs84", reference=(bx - 190, by)) is None


def test_projected_metres_declared_as_degrees() -> None:
    x, y = np.array([440_000.0, 445_000.0, 116.4]), np.array([4_420_000.0, 4_425_000.0, 39.9])
    assert looks_projected(x, y) and not looks_projected(np.array([116.4]), np.array([39.9]))
    assert "EPSG:4548" in projected_hint(x, y)
    assert "file's projected CRS" in projected_hint(np.array([775_000.0]), np.array([2_950_000.0 * 10]))


def test_assign_warns_with_the_datum_and_never_converts(session: Session, tmp_path: Path) -> None:
    from tests.world import import_three_buildings

    _world(session, tmp_path)
    import_three_buildings(session, tmp_path)
    rng = np.random.default_rng(4)
    bx, by = np.array([116.41, 116.44, 116.41]), np.array([39.94, 39.94, 39.91])
    k = rng.integers(0, 3, 60)
    gx, gy = wgs84_to_gcj02(bx[k] + rng.normal(0, 3e-5, 60), by[k] + rng.normal(0, 3e-5, 60))
    p = tmp_path / "p.csv"
    p.write_text(
        _csv(
            ["id", "lon", "lat"],
            [[str(i), f"{a:.6f}", f"{b:.6f}"] for i, (a, b) in enumerate(zip(gx, gy, strict=True))],
        )
    )
    r = assign_file(session, p, tmp_path / "o.csv", datum="wgs84", at=D0, keep_placeholders=True)
    assert r["suggested_datum"] == "gcj02" and any("--datum gcj02" in w for w in r["warnings"])
    got = _read(tmp_path / "o.csv")
    assert [g[1:3] for g in got[1:]] == [[f"{a:.6f}", f"{b:.6f}"] for a, b in zip(gx, gy, strict=True)]
    r = assign_file(session, p, tmp_path / "o.csv", datum="gcj02", at=D0, keep_placeholders=True)
    assert r["suggested_datum"] is None and r["warnings"] == []
    # projected metres declared as degrees: one leading message
    p.write_text("id,lon,lat\n1,440000,4420000\n2,441000,4421000\n")
    r = assign_file(session, p, tmp_path / "o.csv", datum="wgs84", at=D0)
    assert len(r["warnings"]) == 1 and "projected" in r["warnings"][0] and r["by_status"] == {"error": 2}


# --- addresses ---------------------------------------------------------------------------------


def _gazetteer(session: Session, tmp_path: Path) -> None:
    from grid.db.buildings import import_buildings
    from grid.db.gazetteer_import import import_addresses

    b = [("B1", "1", 116.4200, 39.9400), ("B2", "2", 116.4300, 39.9400)]
    places = [
        "place_id,kind,name,aliases,building_id,compound,road,door_number,building_no,community_code,lon,lat"
    ]
    for bid, no, x, y in b:
        places.append(
            f"{bid},building,北京市朝阳区广渠路8号院富力城{no}号楼,,{bid},富力城,广渠路,8,{no},{COMM},{x},{y}"
        )
    places.append(f"C1,compound,富力城,广渠路8号院|富力城小区,,,广渠路,8,,{COMM},116.425,39.94")
    (tmp_path / "g.csv").write_text("\n".join(places) + "\n", encoding="utf-8")
    blds = ["building_id,address,lon,lat,households"] + [
        f"{i},广渠路8号院富力城{n}号楼,{x},{y},200" for i, n, x, y in b
    ]
    (tmp_path / "b.csv").write_text("\n".join(blds) + "\n", encoding="utf-8")
    import_buildings(session, tmp_path / "b.csv", datum="wgs84", valid_from=D0)
    import_addresses(session, tmp_path / "g.csv", datum="wgs84", valid_from=D0)


def test_address_column_places_rows_without_coordinates(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    _gazetteer(session, tmp_path)
    rows = [
        ["a", "116.41", "39.94", "富力城2号楼"],  # both: coordinates win
        ["b", "", "", "北京市朝阳区广渠路8号院富力城2号楼"],
        ["c", "", "", "火星基地"],
        ["d", "", "", ""],
        ["e", "abc", "39.9", "富力城1号楼"],  # unreadable coordinates are an error, not an address guess
    ]
    p = tmp_path / "p.csv"
    p.write_text(_csv(["id", "lon", "lat", "addr"], rows), encoding="utf-8")
    r = assign_file(session, p, tmp_path / "o.csv", datum="wgs84", at=D0, address_col="addr")
    got = _read(tmp_path / "o.csv")
    h = got[0]
    by = {g[0]: dict(zip(h, g, strict=True)) for g in got[1:]}
    assert [g[:4] for g in got[1:]] == rows
    assert by["a"]["gg_placed_by"] == "coordinates" and by["a"]["gg_owner_code"] == COMM + "001"
    assert by["b"]["gg_placed_by"] == "address" and by["b"]["gg_owner_code"] == COMM + "002"
    assert by["b"]["gg_status"] == "interior"
    assert by["c"]["gg_status"] == "unplaced" and by["c"]["gg_placed_by"] == "none"
    assert by["c"]["gg_error"].startswith("address ")
    assert by["d"]["gg_status"] == "unplaced" and by["d"]["gg_error"] == "no coordinates and no address"
    assert by["e"]["gg_status"] == "error" and "not a number" in by["e"]["gg_error"]
    assert r["placed_by"] == {"coordinates": 1, "address": 1, "none": 3}
    with pytest.raises(InputError) as e:
        assign_file(session, p, tmp_path / "o.csv", datum="wgs84", at=D0, address_col="nope")
    assert e.value.code == "missing_field"


def test_geocode_cli_output_is_prefixed_and_keeps_input(committed_db: str, tmp_path: Path) -> None:
    from grid.db.engine import session_scope

    with session_scope(committed_db) as s:
        _world(s, tmp_path)
        _gazetteer(s, tmp_path)
    rows = [["1", "富力城1号楼", "matched?"], ["2", "", "x"], ["3", "火星基地", "007"]]
    p = tmp_path / "q.csv"
    p.write_text(_csv(["id", "address", "status"], rows), encoding="utf-8")
    out = tmp_path / "o.csv"
    r = runner.invoke(app, ["geocode", str(p), "--col", "address", "--out", str(out), "--at", "2023-06-01"])
    assert r.exit_code == 0, r.output
    got = _read(out)
    assert got[0][:3] == ["id", "address", "status"] and all(c.startswith("gg_") for c in got[0][3:])
    assert [g[:3] for g in got[1:]] == rows
    h = got[0]
    assert got[1][h.index("gg_status")] == "matched" and got[1][h.index("gg_building_id")] == "B1"
    assert got[2][h.index("gg_status")] == "error" and "empty_address" in got[2][h.index("gg_error")]
    assert got[3][h.index("gg_status")] in ("no_match", "needs_review")
    assert [g[h.index("gg_line")] for g in got[1:]] == ["2", "3", "4"]
