"""Independent named layers and layers that do not tile, with the real Los Angeles layers.

Los Angeles has (at least) two unrelated layers over the same ground: 15 council districts (2012)
and 99 neighborhood councils (2019). The districts leave holes where independent cities sit
(Beverly Hills, Culver City ...); the councils overlap each other by 25.6 km² and leave holes of
their own. Both are loaded as one-level independent layers of one store (`cd` first, so it is
the primary chain; `nc` is a second root), imported with the gaps and overlaps accepted, and
points are judged against each layer. Expected values are computed from the source polygons
with shapely in the test, never typed in.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box
from sqlalchemy.orm import Session

from grid.db.assign import assign_arrays, assign_file
from grid.db.importer import import_units
from grid.db.jurisdiction import answer, build_index, decide_point, get_index, locate
from grid.db.rulings import add_ruling
from grid.db.store import save_levels
from grid.errors import NotFound
from grid.levels import Level, Levels
from grid.ownership import OutsideError

LA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real_cities" / "los_angeles"
V2012 = dt.date(2012, 1, 1)
V2019 = dt.date(2019, 1, 1)
BEVERLY_HILLS = (-118.4004, 34.0736)  # the civic centre of an independent city inside LA
METRIC = 3310  # California Albers: distances of the checks


def _la_layers() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The two source layers with codes the store can hold: codes are unique across levels, so
    council district "5" becomes CD05 and neighborhood council objectid 5 becomes N005 (the
    councils' own nc_id is not unique: two councils carry 0)."""
    cd = gpd.read_file(LA / "la_council_districts_2012.geojson", engine="pyogrio")
    cd["code"] = "CD" + cd["name"].astype(str).str.zfill(2)
    nc = gpd.read_file(LA / "la_neighborhood_councils_2019.geojson", engine="pyogrio")
    nc["code"] = "N" + nc["objectid"].astype(int).astype(str).str.zfill(3)
    assert cd["code"].is_unique and nc["code"].is_unique
    return cd[["code", "name", "geometry"]], nc[["code", "name", "geometry"]]


def _levels(*names: str) -> Levels:
    pats = {"cd": r"CD\d{2}", "nc": r"N\d{3}"}
    return Levels([Level(name=n, rank=i, code_length=4, pattern=pats[n]) for i, n in enumerate(names)])


def _import(session: Session, path: Path, level: str, when: dt.date = V2012) -> Any:
    return import_units(
        session,
        path,
        level=level,
        code_field="code",
        name_field="name",
        datum="wgs84",
        valid_from=when,
        accept=["gap", "overlap"],
    )


@pytest.fixture()
def la(session: Session, tmp_path: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    cd, nc = _la_layers()
    save_levels(session, _levels("cd", "nc"))
    cd.to_file(tmp_path / "cd.geojson", driver="GeoJSON", engine="pyogrio")
    nc.to_file(tmp_path / "nc.geojson", driver="GeoJSON", engine="pyogrio")
    _import(session, tmp_path / "cd.geojson", "cd")
    _import(session, tmp_path / "nc.geojson", "nc")
    return cd, nc


def _metres(a: Any, b: Any) -> float:
    g = gpd.GeoSeries([a, b], crs=4326).to_crs(METRIC)
    return float(g.iloc[0].distance(g.iloc[1]))


def _largest_overlap(layer: gpd.GeoDataFrame) -> tuple[Any, list[str]]:
    tree = shapely.STRtree(layer.geometry.values)
    left, right = tree.query(layer.geometry.values, predicate="overlaps")
    best: tuple[float, Any, list[str]] | None = None
    for i, j in zip(left, right, strict=True):
        if i < j:
            inter = layer.geometry.iloc[i].intersection(layer.geometry.iloc[j])
            if best is None or inter.area > best[0]:
                best = (inter.area, inter, [layer["code"].iloc[i], layer["code"].iloc[j]])
    assert best is not None
    return best[1], best[2]


def test_the_index_knows_both_layers_and_level_targets_one(session: Session, la: Any) -> None:
    cd, nc = la
    idx = build_index(session, dt.date(2018, 6, 1))
    assert idx.levels == ["cd"]  # the primary chain, as every existing caller expects
    assert idx.layers == {"cd": ["cd"], "nc": ["nc"]}
    assert idx.lineage("nc") == ["nc"] and idx.layer_of("nc") == "nc"
    # a point inside one council and one district: each layer answers with its own unit
    p = nc.geometry.iloc[0].representative_point()
    want_cd = set(cd.loc[cd.covers(p), "code"])
    want_nc = set(nc.loc[nc.covers(p), "code"])
    d_cd, lv_cd = decide_point(idx, p.x, p.y)
    d_nc, lv_nc = decide_point(idx, p.x, p.y, level="nc")
    assert lv_cd == "cd" and d_cd.owner in want_cd
    assert lv_nc == "nc" and d_nc.owner in want_nc  # before the fix this silently answered a cd
    # bulk assignment targets the layer too, with that layer's code column only
    df = assign_arrays(idx, np.array([p.x]), np.array([p.y]), level="nc")
    assert df["owner_code"].iloc[0] == d_nc.owner and df["owner_level"].iloc[0] == "nc"
    assert "nc_code" in df and "cd_code" not in df
    df = assign_arrays(idx, np.array([p.x]), np.array([p.y]))
    assert df["owner_code"].iloc[0] == d_cd.owner and "cd_code" in df and "nc_code" not in df


def test_a_level_not_in_force_names_the_layers(session: Session, la: Any) -> None:
    idx = build_index(session, dt.date(2018, 6, 1))
    with pytest.raises(NotFound) as e:
        decide_point(idx, -118.3, 34.05, level="police")
    assert e.value.code == "no_units" and "cd: cd" in e.value.message and "nc: nc" in e.value.message
    with pytest.raises(NotFound) as e2:
        assign_arrays(idx, np.array([-118.3]), np.array([34.05]), level="police")
    assert e2.value.code == "no_units"
    # before the layers' date nothing is in force at all
    with pytest.raises(NotFound) as e3:
        decide_point(build_index(session, dt.date(2000, 1, 1)), -118.3, 34.05, level="nc")
    assert e3.value.code == "no_units"


def test_a_point_in_an_overlap_of_councils(session: Session, la: Any) -> None:
    _cd, nc = la
    inter, pair = _largest_overlap(nc)
    p = inter.representative_point()
    covering = sorted(nc.loc[nc.covers(p), "code"])
    assert set(pair) <= set(covering)
    idx = build_index(session, dt.date(2018, 6, 1))
    d, lv = decide_point(idx, p.x, p.y, level="nc")
    assert (lv, d.status, d.rule) == ("nc", "overlap", "lowest_code")
    assert d.candidates == covering and d.owner == covering[0] and d.tie_level == "nc"
    # the same rule in bulk (the slow path of assign): status overlap, every candidate listed
    df = assign_arrays(idx, np.array([p.x]), np.array([p.y]), level="nc")
    assert df["status"].iloc[0] == "overlap" and df["candidates"].iloc[0] == ";".join(covering)
    # a planner's ruling decides the overlap for the other council
    other = covering[-1]
    r = add_ruling(
        session,
        inter.buffer(0),
        owner_code=other,
        reason="shared stakeholders",
        author="EmpowerLA",
        level="nc",
        valid_from=V2012,
    )
    a = locate(session, p.x, p.y, at=dt.date(2018, 6, 1), level="nc")
    assert a["owner"]["code"] == other and a["rule"] == "ruling" and a["ruling_id"] == r["id"]
    assert a["status"] == "overlap"


def test_a_shared_vertex_is_on_boundary_not_an_overlap(session: Session, la: Any) -> None:
    cd, _nc = la
    tree = shapely.STRtree(cd.geometry.values)
    found = None
    for i, j in zip(*tree.query(cd.geometry.values, predicate="touches"), strict=True):
        if i >= j:
            continue
        shared = shapely.get_coordinates(
            shapely.intersection(cd.geometry.iloc[i].boundary, cd.geometry.iloc[j].boundary)
        )
        for x, y in shared:
            pt = Point(x, y)
            if (
                int(cd.covers(pt).sum()) == 2
                and int(shapely.dwithin(cd.geometry.values, pt, 1e-5).sum()) == 2
            ):
                found = (pt, sorted([cd["code"].iloc[i], cd["code"].iloc[j]]))
                break
        if found:
            break
    assert found is not None, "the district layer has shared vertices"
    pt, pair = found
    idx = build_index(session, dt.date(2018, 6, 1))
    d, _lv = decide_point(idx, pt.x, pt.y)
    assert (d.status, d.rule, d.candidates, d.owner) == ("on_boundary", "lowest_code", pair, pair[0])


def test_a_hole_of_the_layer_is_outside_with_the_distance(session: Session, la: Any) -> None:
    cd, nc = la
    bh = Point(*BEVERLY_HILLS)
    assert not cd.covers(bh).any() and not nc.covers(bh).any()  # verified: an enclave of both layers
    dists = {c: _metres(bh, g) for c, g in zip(cd["code"], cd.geometry, strict=True)}
    nearest = min(dists, key=lambda c: dists[c])
    want = dists[nearest]
    idx = build_index(session, dt.date(2018, 6, 1))
    with pytest.raises(OutsideError) as e:
        decide_point(idx, *BEVERLY_HILLS)
    assert e.value.details["nearest"] == nearest
    assert e.value.details["distance_m"] == pytest.approx(want, rel=0.01) and want > 500
    df = assign_arrays(idx, np.array([bh.x]), np.array([bh.y]))
    assert df["status"].iloc[0] == "outside" and pd.isna(df["owner_code"].iloc[0])
    assert df["boundary_distance_m"].iloc[0] == pytest.approx(want, rel=0.01)  # the distance is kept
    # the API answer: outside is a 404 on the primary layer; as an extra layer it is an entry
    with pytest.raises(OutsideError):
        answer(idx, *BEVERLY_HILLS)


def test_a_point_in_a_real_gap_gets_the_gap_rule_with_the_distance(session: Session, la: Any) -> None:
    cd, _nc = la
    union = shapely.union_all(cd.geometry.values)
    holes = [shapely.Polygon(r) for g in getattr(union, "geoms", [union]) for r in g.interiors]
    holes_m = gpd.GeoSeries(holes, crs=4326).to_crs(METRIC)
    # a digitising gap between two districts: 100 m² to 0.5 ha, and narrow enough for the 50 m rule
    pick = next(
        h
        for h, hm in zip(holes, holes_m, strict=True)
        if 100 < hm.area < 5000 and 1 < _metres(h.representative_point(), h.exterior) < 40
    )
    p = pick.representative_point()
    assert not cd.covers(p).any()
    dists = {c: _metres(p, g) for c, g in zip(cd["code"], cd.geometry, strict=True)}
    near_code = min(dists, key=lambda c: dists[c])
    idx = build_index(session, dt.date(2018, 6, 1))
    d, _lv = decide_point(idx, p.x, p.y)
    assert (d.status, d.rule, d.owner) == ("gap", "nearest", near_code)
    assert d.gap_distance_m == pytest.approx(dists[near_code], abs=0.5, rel=0.01)
    assert d.gap_distance_m is not None and 0 < d.gap_distance_m <= 50
    assert d.boundary_distance_m == d.gap_distance_m
    df = assign_arrays(idx, np.array([p.x]), np.array([p.y]))
    assert df["status"].iloc[0] == "gap" and df["owner_code"].iloc[0] == near_code
    assert df["boundary_distance_m"].iloc[0] == d.gap_distance_m  # the assign output carries the distance


def test_the_answer_carries_every_other_layer(session: Session, la: Any) -> None:
    _cd, nc = la
    inter, _pair = _largest_overlap(nc)
    p = inter.representative_point()
    a = locate(session, p.x, p.y, at=dt.date(2018, 6, 1))
    assert a["level"] == "cd" and a["layer"] == "cd" and set(a["layers"]) == {"nc"}
    n = a["layers"]["nc"]
    assert n["status"] == "overlap" and n["owner"]["code"] == min(nc.loc[nc.covers(p), "code"])
    assert n["chain"][0]["level"] == "nc" and n["rule"] == "lowest_code"
    b = locate(session, p.x, p.y, at=dt.date(2018, 6, 1), level="nc")
    assert b["layer"] == "nc" and b["owner"]["code"] == n["owner"]["code"] and set(b["layers"]) == {"cd"}
    assert b["layers"]["cd"]["owner"]["code"] == a["owner"]["code"]


def test_each_record_is_judged_by_the_version_of_its_date(session: Session, tmp_path: Path) -> None:
    """A council split in 2019: a 2018 request keeps the old council, a 2020 one the new half."""
    _cd, nc = _la_layers()
    save_levels(session, _levels("nc"))
    nc.to_file(tmp_path / "nc2012.geojson", driver="GeoJSON", engine="pyogrio")
    _import(session, tmp_path / "nc2012.geojson", "nc", V2012)
    # split the largest council by a north-south line through its centre
    big = nc.to_crs(METRIC).area.idxmax()
    old_code, geom = nc.loc[big, "code"], nc.loc[big, "geometry"]
    minx, miny, maxx, maxy = geom.bounds
    cx = geom.centroid.x
    west, east = (
        geom.intersection(box(minx - 1, miny - 1, cx, maxy + 1)),
        geom.intersection(box(cx, miny - 1, maxx + 1, maxy + 1)),
    )
    others = shapely.union_all(nc.drop(index=big).geometry.values)
    in_east = east.difference(others).buffer(-0.001).representative_point()
    in_west = west.difference(others).buffer(-0.001).representative_point()
    assert geom.covers(in_east) and geom.covers(in_west) and not others.covers(in_east)
    v2019 = nc.copy()
    v2019.loc[big, "geometry"] = west
    v2019 = pd.concat(
        [v2019, gpd.GeoDataFrame([{"code": "N900", "name": "NEW EAST NC", "geometry": east}], crs=4326)],
        ignore_index=True,
    )
    v2019.to_file(tmp_path / "nc2019.geojson", driver="GeoJSON", engine="pyogrio")
    rep = _import(session, tmp_path / "nc2019.geojson", "nc", V2019)
    assert rep.new == ["N900"] and rep.changed == [old_code]
    rows = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "lon": [in_east.x, in_east.x, in_west.x, in_west.x],
            "lat": [in_east.y, in_east.y, in_west.y, in_west.y],
            "created": ["2018-05-01", "2020-05-01", "2018-05-01", "2020-05-01"],
        }
    )
    rows.to_csv(tmp_path / "requests.csv", index=False)
    summary = assign_file(
        session,
        tmp_path / "requests.csv",
        tmp_path / "out.csv",
        datum="wgs84",
        date_col="created",
        level="nc",
    )
    assert summary["rows"] == 4
    out = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert list(out["id"]) == ["a", "b", "c", "d"]
    assert list(out["gg_owner_code"]) == [old_code, "N900", old_code, old_code]
    assert set(out["gg_status"]) == {"interior"}
    # and the index of each date says so too
    assert decide_point(get_index(session, dt.date(2018, 5, 1)), in_east.x, in_east.y)[0].owner == old_code
    assert decide_point(get_index(session, dt.date(2020, 5, 1)), in_east.x, in_east.y)[0].owner == "N900"
