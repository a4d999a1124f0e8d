"""Tests for grid.validate: every defect of a hand-built layer, clean tilings, awkward geometries.

Layers are drawn in metres on a local plane near 116.46E 39.89N (``geoms.local``) and
converted to longitude/latitude by an affine map, so the expected areas hold to about 1e-5.
"""

from __future__ import annotations

import itertools
import json
import math

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely import LineString, MultiPoint, Polygon, box
from shapely.ops import split

from grid.errors import InputError
from grid.levels import Level, Levels, default_levels
from grid.validate import (
    KINDS,
    Finding,
    _default_metric_epsg,
    blocking,
    errors,
    repair,
    summarize,
    validate_units,
)

try:
    from tests.geoms import BOWTIE_M, CANONICAL, local, local_box, to_local
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from geoms import BOWTIE_M, CANONICAL, local, local_box, to_local  # type: ignore[no-redef]

LEVELS = default_levels()
S16, S17 = "110105016", "110105017"


def c(n: int, street: str = S16) -> str:
    return f"{street}{n:03d}"


def row(
    code: str | None, parent: str | None, geom_m: object, *, level: str = "community", name: str | None = None
):
    return {
        "code": code,
        "name": name or f"unit {code}",
        "level": level,
        "parent_code": parent,
        "geometry": local(geom_m),
    }


def layer(rows: list[dict]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


def streets(**boxes: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    return layer(
        [
            {
                "code": code,
                "name": f"street {code}",
                "level": "street",
                "parent_code": "110105",
                "geometry": local_box(*b),
            }
            for code, b in boxes.items()
        ]
    )


def kinds(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.kind, f.severity) for f in findings]


def only(findings: list[Finding], kind: str, severity: str | None = None) -> list[Finding]:
    return [f for f in findings if f.kind == kind and (severity is None or f.severity == severity)]


def near(lonlat: tuple[float, float] | None, x: float, y: float, tol_m: float = 1.0) -> bool:
    assert lonlat is not None
    p = to_local(shapely.Point(lonlat))
    return math.hypot(p.x - x, p.y - y) <= tol_m


# ---------------------------------------------------------------------------------------------
# CRS choice


@pytest.mark.parametrize("cm", range(75, 136, 3))
def test_default_metric_epsg_is_the_cgcs2000_gk_zone_of_the_central_meridian(cm: int) -> None:
    for lon in (cm - 1.49, cm, cm + 1.49):
        epsg = _default_metric_epsg(lon, 35.0)
        assert pyproj.CRS.from_epsg(epsg).name == f"CGCS2000 / 3-degree Gauss-Kruger CM {cm}E"


def test_default_metric_epsg_for_beijing_and_outside_china() -> None:
    assert _default_metric_epsg(116.4, 39.9) == 4548
    assert pyproj.CRS.from_epsg(_default_metric_epsg(10.0, 50.0)).name == "WGS 84 / UTM zone 32N"
    assert pyproj.CRS.from_epsg(_default_metric_epsg(151.2, -33.9)).name == "WGS 84 / UTM zone 56S"


# ---------------------------------------------------------------------------------------------
# a clean layer


def _split_all(poly: Polygon, lines: list[LineString]) -> list[Polygon]:
    pieces = [poly]
    for line in lines:
        pieces = [p for piece in pieces for p in split(piece, line).geoms]
    return pieces


def clean_lonlat_layer() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, list[Polygon]]:
    parent = box(116.46, 39.89, 116.47, 39.896)
    zigzag = LineString([(116.459, 39.893), (116.462, 39.8945), (116.465, 39.8915), (116.471, 39.8932)])
    bend = LineString([(116.4655, 39.8895), (116.4662, 39.8932), (116.4649, 39.8965)])
    pieces = _split_all(parent, [zigzag, bend])
    units = gpd.GeoDataFrame(
        [
            {"code": c(i + 1), "name": f"c{i + 1}", "level": "community", "parent_code": S16, "geometry": p}
            for i, p in enumerate(pieces)
        ],
        crs=4326,
    )
    parents = gpd.GeoDataFrame(
        [{"code": S16, "name": "劲松街道", "level": "street", "geometry": parent}], crs=4326
    )
    return units, parents, pieces


def test_children_tiling_their_parent_exactly_give_no_findings() -> None:
    # The bend crosses the parent's 850 m top edge: projected to metres first, that vertex
    # would fall ~1 cm off the parent's edge and leave a false 5 m² gap.
    units, parents, pieces = clean_lonlat_layer()
    assert len(pieces) >= 4  # the polylines really split the rectangle
    assert validate_units(units, levels=LEVELS, parents=parents) == []


def test_clean_layer_in_another_crs_is_converted_first() -> None:
    units, parents, _ = clean_lonlat_layer()
    assert validate_units(units.to_crs(4548), levels=LEVELS, parents=parents.to_crs(32650)) == []


def test_missing_parent_code_is_read_from_the_code() -> None:
    units, parents, _ = clean_lonlat_layer()
    units["parent_code"] = None
    assert validate_units(units, levels=LEVELS, parents=parents) == []
    units.loc[0, "code"] = "110105017001"  # now names a street that does not exist
    found = validate_units(units, levels=LEVELS, parents=parents)
    assert [(f.kind, f.codes) for f in found if f.kind == "orphan_child"] == [
        ("orphan_child", ("110105017001", "110105017"))
    ]


def test_removing_a_child_leaves_a_gap_of_its_area() -> None:
    units, parents, _ = clean_lonlat_layer()
    removed = units.iloc[1]
    found = validate_units(units.drop(index=1), levels=LEVELS, parents=parents)
    assert kinds(found) == [("gap", "error")]
    expected = to_local(removed.geometry).area
    assert found[0].area_m2 == pytest.approx(expected, rel=1e-3)
    assert found[0].codes[0] == S16


# ---------------------------------------------------------------------------------------------
# a layer with one of each defect

# Street 110105016 is box(0, 0, 1000, 600) m; street 110105017 is box(1000, 0, 2000, 600) m.
RING_BOWTIE = Polygon([(0, 0), (150, 150), (300, 300), (300, 0), (150, 150), (0, 300), (0, 0)])


def defect_layer() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    rows = [
        # bottom-left 300 x 300 m: an invalid bow-tie (left and right triangles) ...
        row(c(1), S16, RING_BOWTIE),
        # ... and the bottom and top triangles, with a bad code and a code not nested
        row("1101050160O2", S16, Polygon([(0, 0), (300, 0), (150, 150)])),
        row("110105061003", S16, Polygon([(0, 300), (150, 150), (300, 300)])),
        # 004 pokes 5 x 100 m into 005: overlap 500 m²
        row(c(4), S16, Polygon([(300, 0), (605, 0), (605, 100), (600, 100), (600, 300), (300, 300)])),
        # 005 pokes 2 x 5 m into 008: overlap 10 m² (warning)
        row(
            c(5),
            S16,
            Polygon(
                [(600, 0), (1000, 0), (1000, 300), (902, 300), (902, 305), (900, 305), (900, 300), (600, 300)]
            ),
        ),
        # 006 leaves a 10 x 50 m notch uncovered: gap 500 m²
        row(c(6), S16, box(0, 300, 400, 600).difference(box(390, 300, 400, 350))),
        row(c(7), S16, box(400, 300, 700, 598.5)),
        # 009: 300 x 1.5 m strip: a sliver (450 m², Polsby-Popper 0.0156)
        row(c(9), S16, box(400, 598.5, 700, 600)),
        # 008 sticks 50 x 10 m out of its street to the north: 500 m² outside
        row(c(8), S16, box(700, 300, 1000, 600).union(box(800, 600, 850, 610))),
        # street 017: 001 twice (a repeated row), and 002 naming street 018 (ids off by one)
        row(c(1, S17), S17, box(1000, 0, 1500, 600)),
        row(c(1, S17), S17, box(1000, 0, 1500, 600)),
        row(c(2, S17), "110105018", box(1500, 0, 2000, 600)),
        # an orphan far away
        row("110105099001", "110105099", box(3000, 0, 3100, 100)),
    ]
    return layer(rows), streets(**{S16: (0, 0, 1000, 600), S17: (1000, 0, 2000, 600)})


EXPECTED_DEFECTS = [
    ("bad_code", "error", ("1101050160O2",), None),
    ("code_not_nested", "error", ("110105017002", "110105018"), None),
    ("code_not_nested", "error", ("110105061003", S16), None),
    ("duplicate_code", "error", ("110105017001",), None),
    ("gap", "error", (S16, c(4), c(6), c(7)), 500.0),
    ("invalid_geometry", "error", (c(1),), None),
    ("orphan_child", "error", ("110105017002", "110105018"), None),
    ("orphan_child", "error", ("110105099001", "110105099"), None),
    ("outside_parent", "error", (c(8), S16), 500.0),
    ("overlap", "error", (c(4), c(5)), 500.0),
    ("overlap", "warning", (c(5), c(8)), 10.0),
    ("sliver", "warning", (c(9),), 450.0),
]


def test_defect_layer_reports_each_defect_once_with_its_area() -> None:
    units, parents = defect_layer()
    found = validate_units(units, levels=LEVELS, parents=parents)
    assert [(f.kind, f.severity, f.codes) for f in found] == [(k, s, cs) for k, s, cs, _ in EXPECTED_DEFECTS]
    for f, (_, _, _, area) in zip(found, EXPECTED_DEFECTS, strict=True):
        if area is not None:
            assert f.area_m2 == pytest.approx(area, rel=0.01), f
        assert f.location is not None, f
        assert all(code in f.message for code in f.codes), f.message


def test_defect_details_locations_and_hints() -> None:
    units, parents = defect_layer()
    found = validate_units(units, levels=LEVELS, parents=parents)

    (invalid,) = only(found, "invalid_geometry")
    assert "Ring Self-intersection" in invalid.message
    assert near(invalid.location, 150, 150)

    (gap,) = only(found, "gap")
    assert near(gap.location, 395, 325, tol_m=30)
    assert "500.0 m²" in gap.message

    (outside,) = only(found, "outside_parent")
    assert near(outside.location, 825, 605, tol_m=30)

    shifted = next(f for f in only(found, "orphan_child") if f.codes[0] == "110105017002")
    assert shifted.hint is not None
    assert "shifted by +1: 110105018 -> 110105017 contains it" in shifted.hint
    far = next(f for f in only(found, "orphan_child") if f.codes[0] == "110105099001")
    assert far.hint is None

    (dup,) = only(found, "duplicate_code")
    assert "2 rows" in dup.message and "identical" in dup.message

    (big,) = only(found, "overlap", "error")
    assert near(big.location, 602.5, 50, tol_m=5)
    assert "500.0 m²" in big.message


def test_tolerance_decides_error_or_warning() -> None:
    units, parents = defect_layer()
    found = validate_units(units, levels=LEVELS, parents=parents, tolerance_m2=600)
    assert {(f.kind, f.severity) for f in found if f.kind in ("gap", "overlap", "outside_parent")} == {
        ("gap", "warning"),
        ("overlap", "warning"),
        ("outside_parent", "warning"),
    }
    strict = validate_units(units, levels=LEVELS, parents=parents, tolerance_m2=5)
    assert ("overlap", "error") in kinds(only(strict, "overlap"))
    assert len(only(strict, "overlap", "error")) == 2


def test_check_coverage_false_reports_no_gaps() -> None:
    units, parents = defect_layer()
    found = validate_units(units, levels=LEVELS, parents=parents, check_coverage=False)
    assert only(found, "gap") == []
    assert len(found) == len(EXPECTED_DEFECTS) - 1


def test_output_is_deterministic_whatever_the_row_order() -> None:
    units, parents = defect_layer()
    first = validate_units(units, levels=LEVELS, parents=parents)
    shuffled = units.sample(frac=1.0, random_state=7)
    again = validate_units(shuffled, levels=LEVELS, parents=parents)
    assert [f.to_dict() for f in first] == [f.to_dict() for f in again]


def test_parents_given_in_the_layer_itself() -> None:
    units, parents = defect_layer()
    both = gpd.GeoDataFrame(gpd.pd.concat([parents, units], ignore_index=True), geometry="geometry", crs=4326)
    district = layer([row("110105", None, box(0, 0, 2000, 600), level="district")])
    found = validate_units(both, levels=LEVELS, parents=district)
    got = [(f.kind, f.severity, f.codes) for f in found]
    assert sorted(got) == sorted((k, s, cs) for k, s, cs, _ in EXPECTED_DEFECTS)  # the streets are clean
    # without their district the streets are orphans
    alone = validate_units(both, levels=LEVELS)
    assert [f.codes for f in alone if f.level == "street"] == [(S16, "110105"), (S17, "110105")]


# ---------------------------------------------------------------------------------------------
# parent references


def test_parent_mismatch_names_where_the_child_lies() -> None:
    parents = streets(**{S16: (0, 0, 500, 500), "110105019": (500, 0, 1000, 500)})
    units = layer(
        [
            row(c(1), S16, box(0, 0, 500, 500)),
            row("110105016002", S16, box(500, 0, 1000, 500)),  # lies in 019: not off by one
        ]
    )
    found = validate_units(units, levels=LEVELS, parents=parents)
    assert kinds(found) == [("parent_mismatch", "warning")]
    (f,) = found
    assert f.codes == ("110105016002", S16, "110105019")
    assert f.hint == "set its parent_code to 110105019"
    assert f.area_m2 == pytest.approx(250_000, rel=1e-3)


def test_systematically_shifted_parent_ids_give_one_summary_warning() -> None:
    codes = [f"1101050{n:02d}" for n in range(11, 15)]  # streets 011..014 side by side
    parents = streets(**{code: (i * 400, 0, i * 400 + 400, 400) for i, code in enumerate(codes)})
    rows = []
    for i, code in enumerate(codes):
        named = f"1101050{11 + i + 1:02d}"  # every child names the next street
        rows.append(row(f"{code}001", named, box(i * 400, 0, i * 400 + 400, 200)))
        rows.append(row(f"{code}002", named, box(i * 400, 200, i * 400 + 400, 400)))
    found = validate_units(layer(rows), levels=LEVELS, parents=parents)
    (summary,) = only(found, "parent_ids_shifted")
    assert summary.severity == "warning"
    assert "8 of the 8" in summary.message and "+1" in summary.message
    assert len(only(found, "parent_mismatch")) == 6
    assert all(f.hint and "shifted by +1" in f.hint for f in only(found, "parent_mismatch"))
    assert summary.hint is not None and summary.hint.startswith("subtract 1 from every parent_code")
    assert len(only(found, "orphan_child")) == 2  # the children of 014 name 015
    assert only(found, "gap") == [] and only(found, "outside_parent") == []


def test_one_off_by_one_orphan_is_not_a_systematic_shift() -> None:
    units, parents = defect_layer()
    found = validate_units(units, levels=LEVELS, parents=parents)
    assert only(found, "parent_ids_shifted") == []


def test_outside_parent_within_tolerance_is_a_warning() -> None:
    parents = streets(**{S16: (0, 0, 100, 100)})
    units = layer([row(c(1), S16, box(0, 0, 100, 100).union(box(40, 100, 45, 102)))])
    found = validate_units(units, levels=LEVELS, parents=parents)
    assert [(f.kind, f.severity, f.codes) for f in found] == [("outside_parent", "warning", (c(1), S16))]
    assert found[0].area_m2 == pytest.approx(10.0, rel=0.01)


def test_orphan_without_parent_level_units_and_parent_without_geometry() -> None:
    units = layer([row(c(1), S16, box(0, 0, 100, 100))])
    assert kinds(validate_units(units, levels=LEVELS)) == [("orphan_child", "error")]
    parents = streets(**{S16: (0, 0, 100, 100)})
    parents.loc[0, "geometry"] = None
    assert validate_units(units, levels=LEVELS, parents=parents) == []  # stored parent: nothing to check


# ---------------------------------------------------------------------------------------------
# top level, codes, levels


def test_holes_in_the_union_of_top_level_units() -> None:
    rows = [
        row("110101", None, box(0, 0, 1000, 1000).difference(box(100, 100, 120, 125)), level="district"),
        row("110102", None, box(1000, 0, 2000, 1000).difference(box(1500, 500, 1502, 502)), level="district"),
        # a hole with an island: only the ring around the island is a gap
        row(
            "110105",
            None,
            box(2000, 0, 3000, 1000).difference(box(2100, 100, 2200, 200)),
            level="district",
        ),
        row("110106", None, box(2110, 110, 2190, 190), level="district"),
    ]
    found = validate_units(layer(rows), levels=LEVELS)
    assert [(f.kind, f.severity, f.codes, round(f.area_m2 or 0)) for f in found] == [
        ("gap", "error", ("110101",), 500),
        ("gap", "warning", ("110102",), 4),
        ("gap", "error", ("110105", "110106"), 10_000 - 6_400),
    ]


def test_bad_codes_levels_and_missing_codes() -> None:
    parents = streets(**{S16: (0, 0, 300, 100)})
    units = layer(
        [
            row("11010501600", S16, box(0, 0, 100, 100)),  # 11 digits
            row(None, S16, box(100, 0, 200, 100)),  # no code at all
            row(c(3), S16, box(200, 0, 300, 100), level="village"),  # unknown level
        ]
    )
    found = validate_units(units, levels=LEVELS, parents=parents)
    got = {(f.kind, f.codes) for f in found}
    assert ("bad_code", ("11010501600",)) in got
    assert ("bad_code", ("<row 1>",)) in got
    assert ("unknown_level", (c(3),)) in got
    assert "village" in only(found, "unknown_level")[0].message


def test_custom_levels_are_data() -> None:
    levels = Levels(
        [
            Level("zone", 0, 2, pattern=r"[A-Z]{2}"),
            Level("block", 1, 4, pattern=r"[A-Z]{2}\d{2}", parent="zone"),
        ]
    )
    units = layer(
        [
            row("AB", None, box(0, 0, 200, 100), level="zone"),
            row("AB01", "AB", box(0, 0, 100, 100), level="block"),
            row("AB02", "AB", box(100, 0, 200, 100), level="block"),
        ]
    )
    assert validate_units(units, levels=levels) == []
    units.loc[2, "code"] = "AB2"
    assert [(f.kind, f.codes) for f in validate_units(units, levels=levels)] == [("bad_code", ("AB2",))]


# ---------------------------------------------------------------------------------------------
# awkward geometries never crash

EXPECTED_GEOMETRY_KINDS: dict[str, set[tuple[str, str]]] = {
    "none": {("missing_geometry", "error")},
    "empty_polygon": {("empty_geometry", "error")},
    "empty_multipolygon": {("empty_geometry", "error")},
    "empty_collection": {("empty_geometry", "error")},
    "point": {("wrong_geometry_type", "error")},
    "multipoint": {("wrong_geometry_type", "error")},
    "linestring": {("wrong_geometry_type", "error")},
    "multilinestring": {("wrong_geometry_type", "error")},
    "polygon": set(),
    "polygon_with_hole": set(),
    "multipolygon": set(),
    "multipolygon_touching": {("invalid_geometry", "error")},
    "multipolygon_overlapping": {("invalid_geometry", "error")},
    "collection_polygon_line": {("wrong_geometry_type", "warning")},
    "collection_lines_only": {("wrong_geometry_type", "error")},
    "nested_collection": {("wrong_geometry_type", "warning"), ("invalid_geometry", "error")},
    "polygon_3d": set(),
    "bowtie": {("invalid_geometry", "error")},
    "spike": {("invalid_geometry", "error")},
    "collapsed_line_polygon": {("invalid_geometry", "error")},
    "hole_outside_shell": {("invalid_geometry", "error")},
    "tiny_triangle": {("sliver", "warning")},
    "projected_coordinates": {("bad_coordinates", "error")},
    "nan_coordinates": {("bad_coordinates", "error")},
}
GEOMETRY_KINDS = {
    "missing_geometry",
    "empty_geometry",
    "wrong_geometry_type",
    "invalid_geometry",
    "bad_coordinates",
    "sliver",
}


def test_catalogue_and_expectations_agree() -> None:
    assert [name for name, _ in CANONICAL] == list(EXPECTED_GEOMETRY_KINDS)


@pytest.mark.parametrize(("name", "geom"), CANONICAL, ids=[n for n, _ in CANONICAL])
def test_awkward_geometries_never_crash(name: str, geom: object) -> None:
    parents = streets(**{S16: (-500, -500, 500, 500)})
    units = gpd.GeoDataFrame(
        [
            {"code": c(1), "name": "odd", "level": "community", "parent_code": S16, "geometry": geom},
            {
                "code": c(2),
                "name": "neighbour",
                "level": "community",
                "parent_code": S16,
                "geometry": local_box(-500, -500, 500, 0),
            },
        ],
        crs=4326,
    )
    found = validate_units(units, levels=LEVELS, parents=parents)
    mine = {(f.kind, f.severity) for f in found if f.codes == (c(1),) and f.kind in GEOMETRY_KINDS}
    assert mine == EXPECTED_GEOMETRY_KINDS[name]
    assert all(f.kind in KINDS and f.severity in (KINDS[f.kind], "warning") for f in found)
    json.dumps([f.to_dict() for f in found])  # JSON-ready, no NaN surprises in types


@pytest.mark.parametrize(("name", "geom"), CANONICAL, ids=[n for n, _ in CANONICAL])
def test_awkward_parent_geometries_never_crash(name: str, geom: object) -> None:
    parents = gpd.GeoDataFrame([{"code": S16, "name": "odd", "level": "street", "geometry": geom}], crs=4326)
    units = layer([row(c(1), S16, box(0, 0, 100, 100))])
    found = validate_units(units, levels=LEVELS, parents=parents)
    assert {code for f in found for code in f.codes} <= {c(1), S16}
    if EXPECTED_GEOMETRY_KINDS[name] & {("missing_geometry", "error"), ("empty_geometry", "error")}:
        assert found == []  # a stored parent without geometry: nothing to check against


@pytest.mark.parametrize(("name", "geom"), CANONICAL, ids=[n for n, _ in CANONICAL])
def test_repair_never_crashes_and_returns_a_valid_multipolygon(name: str, geom: object) -> None:
    out, what = repair(geom)  # type: ignore[arg-type]
    assert isinstance(what, str) and what
    if out is not None:
        assert out.geom_type == "MultiPolygon" and out.is_valid and not out.is_empty
        assert not shapely.has_z(out)
    else:
        assert EXPECTED_GEOMETRY_KINDS[name] & {
            ("missing_geometry", "error"),
            ("empty_geometry", "error"),
            ("wrong_geometry_type", "error"),
            ("bad_coordinates", "error"),
            ("invalid_geometry", "error"),
        }


def test_repair_bowtie_keeps_both_lobes_and_reports_areas() -> None:
    out, what = repair(local(BOWTIE_M), metric_epsg=4548)
    assert out is not None and len(out.geoms) == 2
    assert to_local(out).area == pytest.approx(5000, rel=1e-3)
    assert "Self-intersection" in what and "5,000.0 m²" in what


def test_repair_valid_polygon_is_unchanged() -> None:
    poly = local_box(0, 0, 100, 100)
    out, what = repair(poly)
    assert out is not None and shapely.equals(out, poly)
    assert what.startswith("valid; unchanged")
    area = float(what.rsplit("-> ", 1)[1].removesuffix(" m²").replace(",", ""))
    assert area == pytest.approx(10_000, rel=1e-3)


# ---------------------------------------------------------------------------------------------
# helpers on findings


def test_errors_blocking_summarize_to_dict() -> None:
    units, parents = defect_layer()
    found = validate_units(units, levels=LEVELS, parents=parents)
    errs = errors(found)
    assert len(errs) == 10 and all(f.severity == "error" for f in errs)
    left = blocking(found, accepted=["gap", "overlap"])
    assert {f.kind for f in left} == {f.kind for f in errs} - {"gap", "overlap"}
    assert blocking(found, accepted=KINDS) == []
    with pytest.raises(InputError) as exc:
        blocking(found, accepted=["gaps"])
    assert exc.value.code == "unknown_finding_kind"
    s = summarize(found)
    assert s["total"] == 12 and s["error"] == 10 and s["warning"] == 2
    assert s["by_kind"]["overlap"] == {"error": 1, "warning": 1}
    assert list(s["by_kind"]) == sorted(s["by_kind"])
    d = found[0].to_dict()
    assert json.loads(json.dumps(d)) == d and isinstance(d["codes"], list)


def test_kinds_severities_are_known() -> None:
    assert set(KINDS.values()) <= {"error", "warning"}
    assert KINDS["parent_mismatch"] == "warning" and KINDS["sliver"] == "warning"
    assert KINDS["overlap"] == "error" and KINDS["gap"] == "error"


def test_bad_arguments_raise_input_error() -> None:
    units, _ = defect_layer()
    with pytest.raises(InputError):
        validate_units(units, levels=LEVELS, metric_epsg=4326)  # not projected
    with pytest.raises(InputError):
        validate_units(units.drop(columns="code"), levels=LEVELS)
    with pytest.raises(InputError):
        validate_units(units, levels=LEVELS, tolerance_m2=-1)
    with pytest.raises(InputError):
        validate_units(gpd.GeoDataFrame({"code": ["110105"]}), levels=LEVELS)
    with pytest.raises(InputError):
        validate_units(units.drop(columns="geometry").assign(x=1), levels=LEVELS)  # type: ignore[arg-type]


def test_empty_layer() -> None:
    empty = gpd.GeoDataFrame({"code": [], "level": [], "parent_code": []}, geometry=[], crs=4326)
    assert validate_units(empty, levels=LEVELS) == []


# ---------------------------------------------------------------------------------------------
# property: random rectangle partitions


@st.composite
def partitions(draw: st.DrawFn) -> tuple[float, float, list[tuple[float, float, float, float]]]:
    width = draw(st.integers(10, 80)) * 20
    height = draw(st.integers(10, 80)) * 20
    n = draw(st.integers(1, 6))
    xs = sorted(draw(st.lists(st.integers(1, width // 20 - 1), min_size=n - 1, max_size=n - 1, unique=True)))
    xcuts = [0, *(x * 20 for x in xs), width]
    cells = []
    for x0, x1 in itertools.pairwise(xcuts):
        m = draw(st.integers(1, 4))
        ys = sorted(
            draw(st.lists(st.integers(1, height // 20 - 1), min_size=m - 1, max_size=m - 1, unique=True))
        )
        ycuts = [0, *(y * 20 for y in ys), height]
        cells.extend((x0, y0, x1, y1) for y0, y1 in itertools.pairwise(ycuts))
    return width, height, cells


def partition_layer(cells: list[tuple[float, float, float, float]]) -> gpd.GeoDataFrame:
    return layer([row(c(i + 1), S16, box(*cell)) for i, cell in enumerate(cells)])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(partitions(), st.data())
def test_random_rectangle_partitions_have_no_errors_and_a_shrunk_child_leaves_its_gap(
    part: tuple[float, float, list[tuple[float, float, float, float]]], data: st.DataObject
) -> None:
    width, height, cells = part
    parents = streets(**{S16: (0, 0, width, height)})
    assert errors(validate_units(partition_layer(cells), levels=LEVELS, parents=parents)) == []

    k = data.draw(st.integers(0, len(cells) - 1), label="child")
    margin = data.draw(st.floats(0.5, 5.0), label="margin")
    x0, y0, x1, y1 = cells[k]
    shrunk = [*cells]
    shrunk[k] = (x0 + margin, y0 + margin, x1 - margin, y1 - margin)
    found = validate_units(partition_layer(shrunk), levels=LEVELS, parents=parents)
    expected = (x1 - x0) * (y1 - y0) - (x1 - x0 - 2 * margin) * (y1 - y0 - 2 * margin)
    assert [(f.kind, f.severity) for f in errors(found)] == [("gap", "error")]
    (gap,) = only(found, "gap")
    assert gap.area_m2 == pytest.approx(expected, rel=0.01)
    assert c(k + 1) in gap.codes


# ---------------------------------------------------------------------------------------------
# size: 3,000 Voronoi cells


def voronoi_layer(n: int, seed: int = 12345) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, Levels]:
    rng = np.random.default_rng(seed)
    square = box(116.40, 39.85, 116.50, 39.95)
    pts = MultiPoint(np.column_stack([rng.uniform(116.40, 116.50, n), rng.uniform(39.85, 39.95, n)]))
    cells = [
        cell.intersection(square)
        for cell in shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=square))
    ]
    levels = Levels(
        [Level("zone", 0, 2, pattern=r"\d{2}"), Level("cell", 1, 6, pattern=r"\d{6}", parent="zone")]
    )
    units = gpd.GeoDataFrame(
        {"code": [f"01{i:04d}" for i in range(len(cells))], "level": "cell", "parent_code": "01"},
        geometry=cells,
        crs=4326,
    )
    parents = gpd.GeoDataFrame({"code": ["01"], "level": ["zone"]}, geometry=[square], crs=4326)
    return units, parents, levels


def test_three_thousand_voronoi_cells_validate_without_errors() -> None:
    units, parents, levels = voronoi_layer(3000)
    assert len(units) == 3000
    found = validate_units(units, levels=levels, parents=parents)
    assert errors(found) == []
    assert only(found, "overlap") == [] and only(found, "gap") == []

    gone = units.iloc[1234]
    found = validate_units(units.drop(index=1234), levels=levels, parents=parents)
    assert kinds(errors(found)) == [("gap", "error")]
    assert errors(found)[0].area_m2 == pytest.approx(to_local(gone.geometry).area, rel=1e-3)


def test_missing_names_and_pandas_na_do_not_leak_into_messages() -> None:
    units, parents, _ = clean_lonlat_layer()
    units["name"] = gpd.pd.array([gpd.pd.NA] * len(units), dtype="string")
    units.loc[0, "geometry"] = None
    (f,) = validate_units(units, levels=LEVELS, parents=parents, check_coverage=False)
    assert f.kind == "missing_geometry" and "<NA>" not in f.message and "nan" not in f.message


def test_noise_floor_for_overlaps() -> None:
    parents = streets(**{S16: (0, 0, 200, 100)})
    rows = [row(c(1), S16, box(0, 0, 100.05, 100)), row(c(2), S16, box(100, 0, 200, 100))]
    rows[0]["geometry"] = local(box(0, 0, 100, 100).union(box(100, 50, 100.05, 50.1)))  # 0.005 m²
    assert validate_units(layer(rows), levels=LEVELS, parents=parents) == []
    rows[0]["geometry"] = local(box(0, 0, 100, 100).union(box(100, 50, 100.05, 50.6)))  # 0.03 m²
    (f,) = validate_units(layer(rows), levels=LEVELS, parents=parents)
    assert (f.kind, f.severity, f.codes) == ("overlap", "warning", (c(1), c(2)))
    assert f.area_m2 == pytest.approx(0.03, rel=0.02)


def test_two_shifted_references_are_not_yet_systematic() -> None:
    parents = streets(**{"110105011": (0, 0, 400, 400), "110105012": (400, 0, 800, 400)})
    units = layer(
        [
            row("110105011001", "110105012", box(0, 0, 400, 200)),  # named +1
            row("110105011002", "110105012", box(0, 200, 400, 400)),  # named +1
            row("110105012001", "110105012", box(400, 0, 800, 400)),
        ]
    )
    found = validate_units(units, levels=LEVELS, parents=parents)
    assert only(found, "parent_ids_shifted") == []
    assert [f.codes[0] for f in only(found, "parent_mismatch")] == ["110105011001", "110105011002"]
