"""The Beijing sample city (data/sample_city.py): complete, nested, tiling, deterministic.

No database. One full build (~7 s) is shared by the module; determinism is checked on a
two-district subset (朝阳区 and 东城区).
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from data import sample_city as sc

# CGCS2000 / 3-degree Gauss-Kruger CM 117E (EPSG:4547 is CM 114E, not Beijing's zone)
METRIC = 4548
MAX_M2 = 1.0
SUBSET = ("110105", "110101")
SHUANGJING = "110105016"


def _csv(name: str) -> list[dict[str, str]]:
    with (sc.DATA_DIR / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


EXPECTED = {
    "district": {r["code"]: None for r in _csv("beijing_areas.csv")},
    "street": {r["code"]: r["areaCode"] for r in _csv("beijing_streets.csv")},
    "community": {r["code"]: r["streetCode"] for r in _csv("beijing_villages.csv")},
}
PARENT_LEVEL = {"street": "district", "community": "street"}


@pytest.fixture(scope="module")
def city() -> dict[str, gpd.GeoDataFrame]:
    return sc.build_hierarchy()


@pytest.fixture(scope="module")
def metric(city: dict[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    return {lv: df.to_crs(METRIC) for lv, df in city.items()}


def _digest(layers: dict[str, gpd.GeoDataFrame]) -> str:
    h = hashlib.sha256()
    for lv in sc.LEVELS:
        h.update(sc.to_geojson(layers[lv], lv).encode("utf-8"))
    return h.hexdigest()


def test_expected_counts() -> None:
    assert (len(EXPECTED["district"]), len(EXPECTED["street"]), len(EXPECTED["community"])) == (16, 349, 7535)


@pytest.mark.parametrize("level", sc.LEVELS)
def test_every_code_once_with_its_parent(city: dict[str, gpd.GeoDataFrame], level: str) -> None:
    df = city[level]
    assert list(df.columns) == sc.COLUMNS
    assert df.crs.to_epsg() == 4326
    assert df["code"].is_unique
    assert list(df["code"]) == sorted(EXPECTED[level])
    got = {
        c: (None if p is None or p != p else p) for c, p in zip(df["code"], df["parent_code"], strict=True)
    }
    assert got == EXPECTED[level]
    assert all(isinstance(c, str) for c in df["code"]) and all(isinstance(n, str) and n for n in df["name"])
    assert (df["level"] == level).all()


@pytest.mark.parametrize("level", sc.LEVELS)
def test_geometries_valid_nonempty_multipolygons(city: dict[str, gpd.GeoDataFrame], level: str) -> None:
    g = city[level].geometry.values
    assert shapely.is_valid(g).all()
    assert not shapely.is_empty(g).any()
    assert (shapely.get_type_id(g) == 6).all()  # MultiPolygon
    assert (shapely.area(g) > 0).all()
    minx, miny, maxx, maxy = city[level].total_bounds
    assert 115.3 < minx < maxx < 117.6 and 39.4 < miny < maxy < 41.1


def test_sources_and_approximate_flags(city: dict[str, gpd.GeoDataFrame]) -> None:
    d = city["district"]
    assert not d["approximate"].any()
    assert (d["source"] == sc.SOURCE_DISTRICT).all()
    for lv in ("street", "community"):
        assert city[lv]["approximate"].all()
        assert city[lv]["source"].str.startswith(sc.SOURCE_DERIVED).all()


@pytest.mark.parametrize("level", ["street", "community"])
def test_children_tile_their_parent(metric: dict[str, gpd.GeoDataFrame], level: str) -> None:
    children = metric[level]
    parents = metric[PARENT_LEVEL[level]].set_index("code").geometry
    worst_gap, worst_overlap = 0.0, 0.0
    for parent_code, group in children.groupby("parent_code"):
        g = group.geometry.values
        union = shapely.union_all(g)
        gap = shapely.symmetric_difference(union, parents[parent_code]).area
        left, right = shapely.STRtree(g).query(g, predicate="intersects")
        keep = left < right
        overlap = float(shapely.area(shapely.intersection(g[left[keep]], g[right[keep]])).sum())
        worst_gap, worst_overlap = max(worst_gap, gap), max(worst_overlap, overlap)
    assert worst_gap < MAX_M2, f"union of children differs from parent by {worst_gap} m2"
    assert worst_overlap < MAX_M2, f"siblings overlap by {worst_overlap} m2"


@pytest.mark.parametrize("level", sc.LEVELS)
def test_each_level_is_a_valid_coverage_in_a_metric_crs(
    metric: dict[str, gpd.GeoDataFrame], level: str
) -> None:
    # shared borders carry the same vertices on both sides, so they stay shared after projection
    assert shapely.coverage_is_valid(metric[level].geometry.values)


def test_levels_cover_the_same_city(metric: dict[str, gpd.GeoDataFrame]) -> None:
    areas = [shapely.union_all(metric[lv].geometry.values).area for lv in sc.LEVELS]
    assert 16.3e9 < areas[0] < 16.5e9  # Beijing: ~16,410 km2
    assert max(areas) - min(areas) < MAX_M2


def test_shuangjing(city: dict[str, gpd.GeoDataFrame], metric: dict[str, gpd.GeoDataFrame]) -> None:
    from grid.datum import gcj02_to_wgs84

    streets = city["street"].set_index("code")
    assert streets.loc[SHUANGJING, "name"] == "双井街道"
    assert streets.loc[SHUANGJING, "parent_code"] == "110105"
    shape = streets.loc[SHUANGJING, "geometry"]
    lon, lat = gcj02_to_wgs84(116.46662, 39.896994)  # the 2016 AMap centre
    assert shape.contains(shapely.Point(float(lon), float(lat)))
    minx, miny, maxx, maxy = shape.bounds
    assert 116.43 < minx < maxx < 116.50
    assert 39.87 < miny < maxy < 39.92
    area_km2 = metric["street"].set_index("code").geometry[SHUANGJING].area / 1e6
    assert 2.0 < area_km2 < 8.0  # the real street is ~5 km2

    comms = metric["community"][metric["community"]["parent_code"] == SHUANGJING]
    expected = sorted(c for c, p in EXPECTED["community"].items() if p == SHUANGJING)
    assert len(expected) == 18 and sorted(comms["code"]) == expected
    parent = metric["street"].set_index("code").geometry[SHUANGJING]
    outside = shapely.area(shapely.difference(comms.geometry.values, parent))
    assert (outside < 0.01).all()
    assert (comms.geometry.area > 10_000).all()


def test_airport_street_fills_chaoyangs_exclave(city: dict[str, gpd.GeoDataFrame]) -> None:
    chaoyang = city["district"].set_index("code").geometry["110105"]
    exclave = min(chaoyang.geoms, key=lambda p: p.area)
    owners = city["street"][city["street"].intersects(exclave.representative_point())]
    assert list(owners["name"]) == ["首都机场街道"]


def test_every_derived_unit_says_how_it_was_seeded(city: dict[str, gpd.GeoDataFrame]) -> None:
    for lv in ("street", "community"):
        notes = city[lv]["source"].str.slice(len(sc.SOURCE_DERIVED) + 2)
        placed = notes == sc.PLACED_NOTE
        assert (placed | notes.str.startswith("seed")).all()
        assert 0 < placed.sum() < len(notes)
    assert (city["street"]["source"].str.endswith(sc.PLACED_NOTE)).sum() < 20


def test_deterministic_subset_and_seed_matters(tmp_path: Path) -> None:
    a = sc.build_hierarchy(districts=SUBSET)
    b = sc.build_hierarchy(districts=list(reversed(SUBSET)))
    assert _digest(a) == _digest(b)
    assert sorted(a["district"]["code"]) == sorted(SUBSET)
    assert all(c.startswith(SUBSET) for c in a["community"]["code"])

    other = sc.build_hierarchy(seed=7, districts=SUBSET)
    assert list(other["community"]["code"]) == list(a["community"]["code"])
    assert _digest(other) != _digest(a)  # placed seeds depend on the seed

    paths1 = sc.write_layers(tmp_path / "one", districts=SUBSET)
    paths2 = sc.write_layers(tmp_path / "two", districts=SUBSET)
    for lv in sc.LEVELS:
        assert paths1[lv].read_bytes() == paths2[lv].read_bytes()
        back = gpd.read_file(paths1[lv])
        assert list(back.columns) == [*sc.GEOJSON_FIELDS, "geometry"]
        assert list(back["code"]) == list(a[lv]["code"])
        assert np.allclose(back.to_crs(METRIC).area, a[lv].to_crs(METRIC).area, rtol=0, atol=1e-3)


def test_subset_matches_full_build(metric: dict[str, gpd.GeoDataFrame]) -> None:
    sub = sc.build_hierarchy(districts=["110101"])
    for lv in sc.LEVELS:
        full = metric[lv][metric[lv]["code"].str.startswith("110101")].reset_index(drop=True)
        assert list(sub[lv]["code"]) == list(full["code"])
        # the same shapes: only vertices inserted on the border with districts not built (and
        # their rounding to COORD_GRID_DEG, ~0.1 mm) differ, a band well under 1 mm wide
        part = sub[lv].to_crs(METRIC).geometry.values
        sym = shapely.area(shapely.symmetric_difference(part, full.geometry.values))
        assert (sym <= 5e-4 * shapely.length(part)).all()


def test_project_validator_finds_nothing(city: dict[str, gpd.GeoDataFrame]) -> None:
    from grid.levels import default_levels
    from grid.validate import validate_units

    units = gpd.GeoDataFrame(
        pd.concat([city[lv][["code", "name", "level", "parent_code", "geometry"]] for lv in sc.LEVELS]),
        geometry="geometry",
        crs=4326,
    )
    findings = validate_units(units, levels=default_levels())
    assert findings == []
