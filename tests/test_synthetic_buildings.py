"""The synthetic street generator: determinism, containment, no overlaps, plausible mix, addresses."""

from __future__ import annotations

import math
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Polygon, box

from data.synthetic_buildings import KINDS, SyntheticStreet, demo_street, generate_street, to_files
from grid.errors import GeometryError, InputError

METRIC = 32650  # UTM 50N: Beijing

# a 2.2 km x 1.6 km rectangle east of the 3rd ring, cut into 4 communities by two jittered lines
X0, Y0, DX, DY = 116.4610, 39.8830, 0.0258, 0.0144


def rectangle() -> tuple[Polygon, gpd.GeoDataFrame]:
    street = box(X0, Y0, X0 + DX, Y0 + DY)
    xm, ym = X0 + DX * 0.47, Y0 + DY * 0.55
    cells = [
        box(X0, ym, xm, Y0 + DY),
        box(xm, ym, X0 + DX, Y0 + DY),
        box(X0, Y0, xm, ym),
        box(xm, Y0, X0 + DX, ym),
    ]
    return street, gpd.GeoDataFrame(
        {
            "code": [f"110105016{n:03d}" for n in (59, 60, 61, 62)],
            "name": ["甲社区", "乙社区", "丙社区", "丁社区"],
        },
        geometry=cells,
        crs=4326,
    )


def u_shape() -> tuple[Polygon, gpd.GeoDataFrame]:
    """A concave (U-shaped) street in 5 communities."""
    x0, y0, dx, dy = 116.40, 39.90, 0.0235, 0.0145
    street = Polygon(
        [
            (x0, y0),
            (x0 + dx, y0),
            (x0 + dx, y0 + dy),
            (x0 + dx * 0.68, y0 + dy),
            (x0 + dx * 0.68, y0 + dy * 0.35),
            (x0 + dx * 0.32, y0 + dy * 0.35),
            (x0 + dx * 0.32, y0 + dy),
            (x0, y0 + dy),
        ]
    )
    cells = []
    for i in range(3):
        for j in range(2):
            c = box(
                x0 + dx * i / 3 - 0.01 * (i == 0),
                y0 + dy * j / 2 - 0.01 * (j == 0),
                x0 + dx * (i + 1) / 3 + 0.01 * (i == 2),
                y0 + dy * (j + 1) / 2 + 0.01 * (j == 1),
            ).intersection(street)
            if c.area > 0:
                cells.append(c)
    return street, gpd.GeoDataFrame(
        {
            "code": [f"110101001{k:03d}" for k in range(1, len(cells) + 1)],
            "name": [f"C{k}" for k in range(len(cells))],
        },
        geometry=cells,
        crs=4326,
    )


@pytest.fixture(scope="module")
def rect() -> tuple[Polygon, gpd.GeoDataFrame, SyntheticStreet]:
    street, comms = rectangle()
    return street, comms, generate_street(street, comms, seed=16)


@pytest.fixture(scope="module")
def concave() -> tuple[Polygon, gpd.GeoDataFrame, SyntheticStreet]:
    street, comms = u_shape()
    return (
        street,
        comms,
        generate_street(
            street, comms, seed=5, street_name="测试街道", district_name="东城区", id_prefix="CS"
        ),
    )


@pytest.fixture(scope="module")
def demo() -> tuple[Polygon, gpd.GeoDataFrame, SyntheticStreet]:
    street, comms = demo_street()
    return street, comms, generate_street(street, comms)


CASES = ["rect", "concave", "demo"]
LAYERS = ["roads", "compounds", "buildings", "landmarks", "crossings", "sites"]


def test_same_seed_same_output_and_other_seed_differs(rect):
    street, comms, first = rect
    again = generate_street(street, comms, seed=16)
    for layer in LAYERS:
        assert_geodataframe_equal(getattr(first, layer), getattr(again, layer), check_less_precise=False)
    assert first.buildings["footprint"].geom_equals_exact(again.buildings["footprint"], tolerance=0).all()
    other = generate_street(street, comms, seed=17)
    assert not (
        len(other.buildings) == len(first.buildings)
        and other.buildings["address"].tolist() == first.buildings["address"].tolist()
    )


@pytest.mark.parametrize("case", CASES)
def test_points_inside_street_and_exactly_one_community(case, request):
    street, comms, s = request.getfixturevalue(case)
    b = s.buildings
    assert len(b) > 100
    assert b.crs.to_epsg() == 4326
    assert shapely.contains(street, b.geometry.values).all()
    tree = shapely.STRtree(comms.geometry.values)
    pairs = tree.query(b.geometry.values, predicate="within")
    counts = np.bincount(pairs[0], minlength=len(b))
    assert (counts == 1).all(), f"{int((counts != 1).sum())} building points not in exactly one community"
    found = comms["code"].to_numpy()[pairs[1][np.argsort(pairs[0])]]
    assert (found == b["community_code"].to_numpy()).all()
    # the point lies on its own footprint, and footprints lie inside the street
    assert shapely.contains(b["footprint"].values, b.geometry.values).all()
    assert shapely.contains(street, b["footprint"].values).all()
    assert s.summary["dropped"] == 0


@pytest.mark.parametrize("case", CASES)
def test_footprints_are_rectangles_and_never_overlap(case, request):
    _street, _comms, s = request.getfixturevalue(case)
    fp = gpd.GeoSeries(s.buildings["footprint"].values, crs=4326).to_crs(METRIC)
    geoms = fp.values
    # rectangles: 4 corners, area equals its minimum rotated rectangle
    assert (shapely.get_num_coordinates(geoms) == 5).all()
    mrr = shapely.minimum_rotated_rectangle(geoms)
    assert np.allclose(shapely.area(geoms), shapely.area(mrr), rtol=1e-4)
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    distinct = left < right
    assert distinct.sum() == 0, f"{int(distinct.sum())} pairs of footprints touch or overlap"
    # compounds do not overlap each other either
    comp = s.compounds.to_crs(METRIC).geometry.values
    a, b = shapely.STRtree(comp).query(comp, predicate="intersects")
    keep = a < b
    assert (shapely.area(shapely.intersection(comp[a[keep]], comp[b[keep]])) < 0.01).all()


@pytest.mark.parametrize("case", CASES)
def test_household_ranges_and_kinds(case, request):
    _street, _comms, s = request.getfixturevalue(case)
    b = s.buildings
    assert set(b["kind"]) == set(KINDS)
    for kind, spec in KINDS.items():
        mine = b[b["kind"] == kind]
        assert mine["households"].between(*spec.households).all(), kind
        assert mine["floors"].between(*spec.floors).all(), kind
    assert b.loc[b["kind"] == "walkup", "floors"].isin([5, 6]).all()
    share = b["kind"].value_counts(normalize=True)
    # intended mix by count: about half walk-ups, then mid-rise, then towers
    assert 0.35 <= share["walkup"] <= 0.70, share.to_dict()
    assert 0.12 <= share["midrise"] <= 0.40, share.to_dict()
    assert 0.08 <= share["tower"] <= 0.35, share.to_dict()
    # households by compound add up, estates are 1,500-4,000, ordinary compounds smaller
    c = s.compounds
    per = b[~b["standalone"]].groupby("compound")["households"].sum()
    assert (c.set_index("name")["households"] == per.reindex(c["name"]).to_numpy()).all()
    assert c.loc[c["estate"], "households"].between(1_500, 4_000).all()
    assert (c.loc[~c["estate"], "households"] < 1_500).all()
    assert c["estate"].sum() >= 1
    assert (c["buildings"] >= 1).all()
    # some stand-alone buildings on roads, a minority
    assert 0 < b["standalone"].sum() < 0.15 * len(b)
    # the total follows the density target (capacity may leave it a little short)
    assert (
        0.8 * s.summary["target_households"] <= b["households"].sum() <= 1.1 * s.summary["target_households"]
    )


def test_demo_street_is_shaped_like_shuangjing(demo):
    _street, comms, s = demo
    b = s.buildings
    hh = int(b["households"].sum())
    assert 40_000 <= hh <= 60_000
    assert 300 <= len(b) <= 900
    assert 1 <= int(s.compounds["estate"].sum()) <= 5
    assert set(b["community_code"]) == set(comms["code"])  # every community has housing
    assert b["community_code"].str.startswith("110105016").all()
    # a compound straddling two communities binds its buildings separately
    straddling = s.compounds[s.compounds["straddles"]]
    assert not straddling.empty
    name = straddling["name"].iloc[0]
    assert b.loc[b["compound"] == name, "community_code"].nunique() >= 2
    real = {"富力城", "九龙山家园", "垂杨柳东里"}
    assert real & set(s.compounds["name"])
    assert {"东三环中路", "广渠路", "东四环中路"} <= set(s.roads["name"])


@pytest.mark.parametrize("case", CASES)
def test_ids_and_addresses_unique_and_standard(case, request):
    _street, _comms, s = request.getfixturevalue(case)
    b = s.buildings
    prefix = "CS" if case == "concave" else "SJ"
    head = "北京市东城区测试街道" if case == "concave" else "北京市朝阳区双井街道"
    assert b["building_id"].is_unique and b["address"].is_unique
    assert b["building_id"].str.fullmatch(rf"{prefix}-\d{{6}}").all()
    assert b["address"].str.startswith(head).all()
    for _, r in b.iterrows():
        if r["standalone"]:
            assert pd.isna(r["compound"]) and pd.isna(r["building_no"])
            assert r["address"] == f"{head}{r['road']}{r['door_number']}号"
        else:
            assert (
                r["address"]
                == f"{head}{r['road']}{r['door_number']}号院{r['compound']}{r['building_no']}号楼"
            )
    # a compound is one gate: one road + door number, and its buildings are numbered 1..N
    c = s.compounds
    assert c["name"].is_unique
    assert not c.duplicated(["road", "door_number"]).any()
    for name, grp in b[~b["standalone"]].groupby("compound"):
        assert sorted(int(n) for n in grp["building_no"]) == list(range(1, len(grp) + 1)), name
    # door numbers never repeat on a road (compound gates and stand-alone buildings together)
    doors = pd.concat([c[["road", "door_number"]], b.loc[b["standalone"], ["road", "door_number"]]])
    assert not doors.duplicated().any()


@pytest.mark.parametrize("case", CASES)
def test_roads_named_with_door_ranges(case, request):
    _street, _comms, s = request.getfixturevalue(case)
    r = s.roads
    assert r["name"].str.len().gt(0).all()
    assert set(r["kind"]) <= {"arterial", "major", "minor"} and "arterial" in set(r["kind"])
    assert r["segment_id"].is_unique
    assert (r["from_left"] % 2 == 1).all() and (r["to_left"] % 2 == 1).all()
    assert (r["from_right"] % 2 == 0).all() and (r["to_right"] % 2 == 0).all()
    assert (r["to_left"] >= r["from_left"]).all() and (r["to_right"] >= r["from_right"]).all()
    # a road name belongs to one road (one kind, one direction)
    assert (r.groupby("name")[["kind", "orientation"]].nunique() == 1).all().all()
    # every door number handed out lies in a range of its parity on a segment of its road
    ranges = {n: g for n, g in r.groupby("name")}
    addressed = pd.concat(
        [
            s.compounds[["road", "door_number"]],
            s.buildings.loc[s.buildings["standalone"], ["road", "door_number"]],
        ]
    )
    for road, door in addressed.itertuples(index=False):
        n = int(door)
        g = ranges[road]
        if n % 2:
            assert ((g["from_left"] <= n) & (n <= g["to_left"])).any(), (road, n)
        else:
            assert ((g["from_right"] <= n) & (n <= g["to_right"])).any(), (road, n)


def test_door_numbers_grow_along_the_road(demo):
    """Numbers follow the position along the road: west -> east on EW roads, north -> south on NS roads."""
    _street, _comms, s = demo
    r = s.roads
    gates = s.compounds.copy()
    orient = r.drop_duplicates("name").set_index("name")["orientation"]
    checked = 0
    for road, g in gates.groupby("road"):
        if len(g) < 4:
            continue
        key = g["gate_lon"] if orient[road] == "EW" else -g["gate_lat"]
        nums = g["door_number"].astype(int)
        rho = pd.Series(key.to_numpy()).corr(pd.Series(nums.to_numpy()), method="spearman")
        assert rho > 0.8, (road, rho)
        checked += 1
    assert checked >= 2


@pytest.mark.parametrize("case", CASES)
def test_crossings_lie_on_both_roads(case, request):
    _street, _comms, s = request.getfixturevalue(case)
    x = s.crossings.to_crs(METRIC)
    roads = s.roads.to_crs(METRIC).dissolve("name")
    assert len(x) >= 4
    for _, c in x.iterrows():
        assert roads.loc[c["road_a"], "geometry"].distance(c.geometry) < 0.01
        assert roads.loc[c["road_b"], "geometry"].distance(c.geometry) < 0.01
        assert c["road_a"] != c["road_b"]
        assert re.fullmatch(rf"{re.escape(c['road_a'])}与{re.escape(c['road_b'])}交叉口(（\d+）)?", c["name"])
    assert x["name"].is_unique


def test_landmarks(rect):
    street, _comms, s = rect
    lm = s.landmarks.set_index("name")
    x = s.crossings.set_index("name")
    # 广渠路 is the middle east-west arterial, 东三环中路 the west-most north-south one
    assert "广渠路与东三环中路交叉口" in x.index
    bridge = lm.loc["双井桥"]
    assert bridge["kind"] == "bridge"
    assert bridge.geometry.equals_exact(x.loc["广渠路与东三环中路交叉口"].geometry, 1e-9)
    exits = lm[lm["kind"] == "subway_exit"]
    assert sorted(exits.index) == ["双井站A口", "双井站B口", "双井站C口", "双井站D口"]
    metric = gpd.GeoSeries([bridge.geometry, *exits.geometry], crs=4326).to_crs(METRIC)
    assert all(30 < metric.iloc[0].distance(p) < 80 for p in metric.iloc[1:])
    assert {"market", "park", "school", "hospital"} <= set(lm["kind"])
    assert shapely.contains(street, s.landmarks.geometry.values).all()
    # no dwelling on a park, school, hospital or market site
    sites = s.sites[s.sites["kind"].isin(["park", "school", "hospital", "market"])]
    assert (
        not shapely.STRtree(s.buildings["footprint"].values)
        .query(sites.geometry.values, predicate="intersects")
        .size
    )


def test_rotated_grid_rotates_roads_and_footprints(rect):
    street, comms, _s = rect
    s = generate_street(street, comms, seed=16, grid_angle_deg=30.0)
    roads = s.roads.to_crs(METRIC)

    def angle(a: tuple[float, float], b: tuple[float, float]) -> float:
        return math.degrees(math.atan2(b[1] - a[1], b[0] - a[0])) % 90.0

    ew = roads[roads["orientation"] == "EW"].geometry.iloc[0]
    assert abs(angle(ew.coords[0], ew.coords[-1]) - 30.0) < 0.5
    fp = gpd.GeoSeries(s.buildings["footprint"].values, crs=4326).to_crs(METRIC)
    for g in fp.iloc[:20]:
        c = list(g.exterior.coords)
        assert (
            abs(angle(c[0], c[1]) - 30.0) < 0.5
            or abs(angle(c[0], c[1]) - 30.0 - 90) < 0.5
            or abs(angle(c[0], c[1]) + 60.0) < 0.5
        )


def test_bad_inputs():
    street, comms = rectangle()
    with pytest.raises(GeometryError):
        generate_street(box(116.4, 39.9, 116.401, 39.901), comms)
    with pytest.raises(InputError):
        generate_street(street, comms.drop(columns=["code"]))
    with pytest.raises(GeometryError):
        generate_street(box(400000, 4400000, 402000, 4402000), comms)


def test_to_files_round_trip(rect, tmp_path):
    _street, _comms, s = rect
    paths = to_files(s, tmp_path)
    assert set(paths) >= {
        "buildings",
        "building_footprints",
        "roads",
        "compounds",
        "landmarks",
        "crossings",
        "buildings_csv",
    }
    csv = pd.read_csv(paths["buildings_csv"], dtype=str, keep_default_na=False)
    assert list(csv.columns[:5]) == ["building_id", "address", "lon", "lat", "households"]
    assert len(csv) == len(s.buildings)
    assert csv["building_id"].tolist() == s.buildings["building_id"].tolist()
    assert np.allclose(csv["lon"].astype(float), s.buildings.geometry.x, atol=1e-6)
    assert (csv["households"].astype(int).to_numpy() == s.buildings["households"].to_numpy()).all()
    fp = shapely.from_wkt(csv["footprint_wkt"].to_numpy())
    assert shapely.equals_exact(fp, s.buildings["footprint"].values, tolerance=1e-9).all()
    pts = gpd.read_file(paths["buildings"])
    assert len(pts) == len(s.buildings) and (pts.geom_type == "Point").all()
    assert pts["address"].tolist() == s.buildings["address"].tolist()
    foot = gpd.read_file(paths["building_footprints"])
    assert (foot.geom_type == "Polygon").all()
    roads = gpd.read_file(paths["roads"])
    assert roads["name"].tolist() == s.roads["name"].tolist()
    x = gpd.read_file(paths["crossings"])
    assert len(x) == len(s.crossings)
