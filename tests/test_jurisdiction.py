"""Point and shape ownership against the real PostGIS: edges, vertices, gaps, dates, rulings."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
import shapely
from geoalchemy2.shape import from_shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, box
from sqlalchemy.orm import Session

from grid.db.importer import import_units
from grid.db.jurisdiction import locate, locate_shape
from grid.db.models import BuildingCell
from grid.db.rulings import add_ruling
from grid.db.store import assign_staff
from grid.errors import CoordinateRangeError, DatumError, NotFound
from grid.ownership import OutsideError
from tests.world import D0, D1, import_world, write_layer

COMM = "110105001001"
# four cells in the NW street's single community: 2x2 around the vertex (116.425, 39.925)
X0, X1, X2 = 116.40, 116.425, 116.45
Y0, Y1, Y2 = 39.90, 39.925, 39.95
CELLS = {
    COMM + "001": box(X0, Y1, X1, Y2),  # NW
    COMM + "002": box(X1, Y1, X2, Y2),  # NE
    COMM + "003": box(X0, Y0, X1, Y1),  # SW
    COMM + "004": box(X1, Y0, X2, Y1),  # SE
}


def _world(session: Session, tmp_path: Path, cells: dict | None = None, accept: tuple[str, ...] = ()) -> None:
    import_world(session, tmp_path)
    rows = [{"code": c, "name": f"网格{c[-3:]}", "geometry": g} for c, g in (cells or CELLS).items()]
    import_units(
        session,
        write_layer(tmp_path / "g.geojson", rows),
        level="grid",
        code_field="code",
        name_field="name",
        datum="wgs84",
        valid_from=D0,
        accept=accept,
    )


def test_interior_point_full_chain_officer_and_department(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    assign_staff(session, COMM + "001", "王网格", role="grid_officer", phone="13800000001", valid_from=D0)
    from data.routing import load_catalogue
    from grid.db.catalogue import read_categories

    load_catalogue(session, D0)
    illegal = next(c["code"] for c in read_categories() if c["name"] == "违法建设")
    a = locate(session, 116.41, 39.94, at=D0, category=illegal)
    assert a["status"] == "interior" and a["rule"] == "single_cover" and a["level"] == "grid"
    assert [c["code"] for c in a["chain"]] == [COMM + "001", COMM, "110105001", "110105"]
    assert [c["level"] for c in a["chain"]] == ["grid", "community", "street", "district"]
    assert a["officer"]["name"] == "王网格"
    assert a["routing"]["lead"].startswith("110105001-") and not a["routing"]["fallback"]
    assert a["near_boundary"] is False and a["boundary_distance_m"] > 500


@pytest.mark.parametrize(
    ("lon", "lat", "n"),
    [(X1, 39.94, 2), (116.41, Y1, 2), (X1, Y1, 4), (X0, 39.94, 1), (X2, 39.94, 2)],
)
def test_points_on_edges_and_vertices_get_one_owner(
    session: Session, tmp_path: Path, lon: float, lat: float, n: int
) -> None:
    _world(session, tmp_path)
    a = locate(session, lon, lat, at=D0)
    assert len(a["candidates"]) == n
    if n == 1:
        assert a["status"] == "interior" and a["near_boundary"] and a["boundary_distance_m"] == 0
    else:
        assert a["status"] == "on_boundary"
        assert min(a["candidates"]) in [c["code"] for c in a["chain"]] and a["rule"] == "lowest_code"
        assert a["tie_level"] == ("street" if lon == X2 else "grid")


def test_vertex_where_three_cells_meet(session: Session, tmp_path: Path) -> None:
    cells = {
        COMM + "001": box(X0, Y1, X2, Y2),
        COMM + "003": box(X0, Y0, X1, Y1),
        COMM + "004": box(X1, Y0, X2, Y1),
    }
    _world(session, tmp_path, cells)
    a = locate(session, X1, Y1, at=D0)
    assert a["status"] == "on_boundary" and a["candidates"] == sorted(cells)


def test_building_binding_decides_on_an_edge(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    session.add(BuildingCell(building_id="B1", cell_code=COMM + "002", valid_from=D0))
    session.flush()
    a = locate(session, X1, 39.94, at=D0, building="B1")
    assert a["owner"]["code"] == COMM + "002" and a["rule"] == "building"
    with pytest.raises(NotFound, match="no cell binding"):
        locate(session, X1, 39.94, at=D0, building="NOPE")


def test_ruling_overrides_the_default_rule_and_is_versioned(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    edge = LineString([(X1, Y1), (X1, Y2)])
    r = add_ruling(
        session, edge, owner_code=COMM + "002", reason="联合执法 2023", author="规划科", valid_from=D0
    )
    a = locate(session, X1, 39.94, at=D0)
    assert a["owner"]["code"] == COMM + "002" and a["rule"] == "ruling" and a["ruling_id"] == r["id"]
    r2 = add_ruling(
        session,
        edge,
        owner_code=COMM + "001",
        reason="重新裁定",
        author="规划科",
        valid_from=D1,
        supersedes=r["id"],
    )
    assert locate(session, X1, 39.94, at=D0)["ruling_id"] == r["id"]
    b = locate(session, X1, 39.94, at=D1)
    assert b["owner"]["code"] == COMM + "001" and b["ruling_id"] == r2["id"]
    with pytest.raises(NotFound):
        add_ruling(session, edge, owner_code="110105999999001", reason="x", author="y", valid_from=D0)


def test_near_boundary_flag_and_distance(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    # ~5 m west of the N-S edge at X1 (1 deg lon ~ 85.4 km at 39.94N)
    a = locate(session, X1 - 5 / 85_400, 39.94, at=D0)
    assert a["status"] == "interior" and a["near_boundary"] and 4 < a["boundary_distance_m"] < 6


def test_gap_and_outside(session: Session, tmp_path: Path) -> None:
    cells = {**CELLS, COMM + "004": box(X1 + 0.0003, Y0, X2, Y1)}  # a ~25 m wide gap strip
    _world(session, tmp_path, cells, accept=("gap",))
    a = locate(session, X1 + 0.0001, 39.91, at=D0)  # ~8.5 m from 003, ~17 m from 004
    assert a["status"] == "gap" and a["owner"]["code"] == COMM + "003" and 7 < a["gap_distance_m"] < 10
    with pytest.raises(OutsideError):
        locate(session, 117.5, 40.5, at=D0)


def test_lookups_follow_the_boundary_version_and_officer_of_the_date(
    session: Session, tmp_path: Path
) -> None:
    _world(session, tmp_path)
    assign_staff(session, COMM + "002", "甲", valid_from=D0)
    assign_staff(session, COMM + "002", "乙", valid_from=dt.date(2023, 7, 1))
    moved = {**CELLS, COMM + "001": box(X0, Y1, 116.43, Y2), COMM + "002": box(116.43, Y1, X2, Y2)}
    rows = [{"code": c, "name": f"网格{c[-3:]}", "geometry": g} for c, g in moved.items()]
    import_units(
        session,
        write_layer(tmp_path / "g2.geojson", rows),
        level="grid",
        code_field="code",
        name_field="name",
        datum="wgs84",
        valid_from=D1,
    )
    p = (116.427, 39.94)
    assert locate(session, *p, at=D0)["owner"]["code"] == COMM + "002"
    assert locate(session, *p, at=D1)["owner"]["code"] == COMM + "001"
    assert locate(session, 116.44, 39.94, at=dt.date(2023, 3, 1))["officer"]["name"] == "甲"
    assert locate(session, 116.44, 39.94, at=dt.date(2023, 8, 1))["officer"]["name"] == "乙"


def test_datums_and_bad_coordinates(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    from grid.datum import wgs84_to_gcj02

    glon, glat = wgs84_to_gcj02(116.41, 39.94)
    a = locate(session, float(glon), float(glat), datum="gcj02", at=D0)
    assert a["owner"]["code"] == COMM + "001" and abs(a["point"]["lon"] - 116.41) < 1e-9
    with pytest.raises(CoordinateRangeError):
        locate(session, 200.0, 39.9, at=D0)
    with pytest.raises(DatumError):
        locate(session, 116.4, 39.9, datum="mars", at=D0)


def test_shape_across_two_districts_names_lead_and_co_handlers(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    # a second district east of 110105
    p = write_layer(
        tmp_path / "d2.geojson",
        [{"code": "110106", "name": "丰台区", "geometry": box(116.50, 39.85, 116.60, 39.95)}],
    )
    import_units(
        session, p, level="district", code_field="code", name_field="name", datum="wgs84", valid_from=D0
    )
    structure = box(116.497, 39.90, 116.501, 39.901)  # 3/4 in 110105, 1/4 in 110106
    s = locate_shape(session, structure, at=D0, level="district")
    assert s["lead"] == "110105" and s["co_handlers"] == ["110106"] and s["cross_district"]
    assert abs(s["shares"][0]["share"] - 0.75) < 0.01 and s["measure"] == "area_m2"
    road = LineString([(116.44, 39.92), (116.46, 39.92)])  # half in street 001, half in 002
    r = locate_shape(session, road, at=D0, level="street")
    assert {x["code"] for x in r["shares"]} == {"110105001", "110105002"} and r["measure"] == "length_m"
    assert abs(r["shares"][0]["share"] - 0.5) < 0.01
    ruling = add_ruling(
        session,
        structure,
        owner_code="110106",
        reason="跨区联合执法，丰台牵头",
        author="市级协调",
        valid_from=D0,
    )
    s2 = locate_shape(session, structure, at=D0, level="district")
    assert s2["lead"] == "110106" and s2["lead_rule"] == "ruling" and s2["ruling_id"] == ruling["id"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=10_000))
def test_every_point_of_the_community_has_exactly_one_owner(
    session: Session, tmp_path: Path, seed: int
) -> None:
    """Points anywhere in the community (many exactly on edges/vertices) get one owner among the
    covering cells, the same whatever order the cells were loaded in."""
    from grid.db.jurisdiction import decide_point, get_index

    if not session.info.get("world"):
        _world(session, tmp_path)
        session.info["world"] = True
    rnd = random.Random(seed)
    # inside the community (its outer edge is a street boundary, decided a level up), often exactly on
    # the cells' shared edges and their common vertex
    xs, ys = [X1, 116.41, 116.44], [Y1, 39.91, 39.94]
    lon = rnd.choice(xs) if rnd.random() < 0.5 else rnd.uniform(X0 + 1e-6, X2 - 1e-6)
    lat = rnd.choice(ys) if rnd.random() < 0.5 else rnd.uniform(Y0 + 1e-6, Y2 - 1e-6)
    idx = get_index(session, D0)
    d, lv = decide_point(idx, lon, lat)
    covering = sorted(c for c, g in CELLS.items() if g.covers(Point(lon, lat)))
    assert lv == "grid" and d.candidates == covering and d.owner == covering[0]
    # the same cells loaded in another order give the same answer
    from grid.spatial_index import CellIndex

    codes = list(CELLS)
    rnd.shuffle(codes)
    shuffled = CellIndex(codes, [CELLS[c] for c in codes])
    first, count = shuffled.covering([lon], [lat])
    assert str(shuffled.codes[first[0]]) == d.owner and count[0] == len(covering)
    _ = shapely
    _ = from_shape
