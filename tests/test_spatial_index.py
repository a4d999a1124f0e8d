"""``grid.spatial_index.CellIndex``: exact covering sets, checked against ``shapely.covers``.

Hand-made worlds drawn on a unit grid (one unit = 0.01 degree near Beijing, about 850 m x
1.1 km) so that points on shared edges and vertices are bit-for-bit on them; a property test
on random (merged, so non-convex) Voronoi tilings compares every answer with brute force.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely import MultiPolygon, Polygon, box

from grid.datum import to_metric
from grid.errors import CoordinateRangeError, GeometryError, InputError
from grid.spatial_index import TILE, CellIndex

LON0, LAT0, UNIT = 116.40, 39.90, 0.01


def xy(x: float, y: float) -> tuple[float, float]:
    """Unit-grid point -> (lon, lat), computed the same way for vertices and test points."""
    return LON0 + x * UNIT, LAT0 + y * UNIT


def poly(*rings: list[tuple[float, float]]) -> Polygon:
    shell, *holes = ([xy(*p) for p in ring] for ring in rings)
    return Polygon(shell, holes)


def ubox(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


def brute(
    geoms: list[Any], codes: list[str], lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(first, count) by ``shapely.covers`` of every cell, cells in code order."""
    order = sorted(range(len(codes)), key=lambda i: codes[i])
    cells = [shapely.from_wkb(shapely.to_wkb(geoms[i])) for i in order]  # fresh, unprepared
    pts = shapely.points(lon, lat)
    cov = np.array([shapely.covers(g, pts) for g in cells]).reshape(len(cells), -1)
    count = cov.sum(axis=0)
    first = np.where(count > 0, cov.argmax(axis=0), -1)
    return first, count


def check_exact(index: CellIndex, geoms: list[Any], codes: list[str], lon: Any, lat: Any) -> None:
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    first, count = index.covering(lon, lat)
    ref_first, ref_count = brute(geoms, codes, lon, lat)
    bad = np.flatnonzero((first != ref_first) | (count != ref_count))
    assert bad.size == 0, [(lon[i], lat[i], first[i], ref_first[i], count[i], ref_count[i]) for i in bad[:5]]
    sets = index.covering_sets(lon, lat)
    assert [len(s) for s in sets] == count.tolist()
    assert [s[0] if s else -1 for s in sets] == first.tolist()
    assert all(s == sorted(s) for s in sets)


def vertices_and_edges(
    geoms: list[Any], rng: np.random.Generator, per_edge: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Every vertex, plus points interpolated on edges (on them up to rounding)."""
    coords = shapely.get_coordinates(shapely.boundary(np.array(geoms, dtype=object)))
    a, b = coords[:-1], coords[1:]
    t = rng.uniform(0, 1, (len(a), per_edge, 1))
    on = (a[:, None, :] + t * (b - a)[:, None, :]).reshape(-1, 2)
    mid = (a + b) / 2
    pts = np.concatenate([coords, on, mid])
    return pts[:, 0], pts[:, 1]


def grid_points(geoms: list[Any], n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = shapely.total_bounds(np.array(geoms, dtype=object))
    gx, gy = np.meshgrid(np.linspace(x0 - 0.001, x1 + 0.001, n), np.linspace(y0 - 0.001, y1 + 0.001, n))
    return gx.ravel(), gy.ravel()


# --- a hand-made world: four squares, a tall cell, a gap -------------------------------------

#   y=2 +-----+-----+-----+     +--+
#       |  c  |  d  |     |     |  |
#   y=1 +-----+-----+  e  | gap |f |
#       |  a  |  b  |     |     |  |
#   y=0 +-----+-----+-----+     +--+
#       0     1     2     3    3.5  4
SQUARES = {
    "s-d": ubox(1, 1, 2, 2),
    "s-a": ubox(0, 0, 1, 1),
    "s-c": ubox(0, 1, 1, 2),
    "s-b": ubox(1, 0, 2, 1),
    "s-e": ubox(2, 0, 3, 2),
    "s-f": ubox(3.5, 0, 4, 2),
}


@pytest.fixture(scope="module")
def squares() -> CellIndex:
    return CellIndex(list(SQUARES), list(SQUARES.values()))


def code_sets(index: CellIndex, *points: tuple[float, float]) -> list[list[str]]:
    lon, lat = zip(*(xy(*p) for p in points), strict=True)
    return [[str(index.codes[i]) for i in s] for s in index.covering_sets(lon, lat)]


def test_codes_are_sorted_and_indices_follow_them(squares: CellIndex) -> None:
    assert squares.codes.tolist() == ["s-a", "s-b", "s-c", "s-d", "s-e", "s-f"]
    assert len(squares) == 6


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ((0.5, 0.5), ["s-a"]),  # interiors
        ((1.5, 1.5), ["s-d"]),
        ((2.5, 1.7), ["s-e"]),
        ((1.0, 0.5), ["s-a", "s-b"]),  # shared edges
        ((0.5, 1.0), ["s-a", "s-c"]),
        ((1.5, 1.0), ["s-b", "s-d"]),
        ((2.0, 0.25), ["s-b", "s-e"]),
        ((1.0, 1.0), ["s-a", "s-b", "s-c", "s-d"]),  # four cells meet
        ((2.0, 1.0), ["s-b", "s-d", "s-e"]),  # three meet: a vertex of b and d on e's edge
        ((0.0, 0.0), ["s-a"]),  # outer corner and outer edge
        ((0.0, 0.5), ["s-a"]),
        ((3.25, 1.0), []),  # in the gap between e and f
        ((3.5, 1.0), ["s-f"]),  # on f's edge facing the gap
        ((-1.0, 0.5), []),  # outside everything
        ((10.0, 10.0), []),
    ],
)
def test_squares(squares: CellIndex, point: tuple[float, float], expected: list[str]) -> None:
    assert code_sets(squares, point) == [expected]
    first, count = squares.covering(*xy(*point))
    assert count == len(expected)
    assert first == (squares.codes.tolist().index(expected[0]) if expected else -1)


def test_squares_against_brute_force(squares: CellIndex) -> None:
    geoms, codes = list(SQUARES.values()), list(SQUARES)
    rng = np.random.default_rng(0)
    lon, lat = vertices_and_edges(geoms, rng)
    check_exact(squares, geoms, codes, lon, lat)
    check_exact(squares, geoms, codes, *grid_points(geoms, 120))


def test_shapes_and_non_finite_points(squares: CellIndex) -> None:
    first, count = squares.covering(*xy(0.5, 0.5))
    assert first.shape == () and count.shape == () and count.dtype == np.int32
    lon = np.array([[xy(0.5, 0.5)[0], np.nan], [np.inf, -np.inf]])
    lat = np.array([[xy(0.5, 0.5)[1], LAT0], [LAT0, np.nan]])
    first, count = squares.covering(lon, lat)
    assert first.tolist() == [[0, -1], [-1, -1]] and count.tolist() == [[1, 0], [0, 0]]
    idx, dist = squares.nearest(lon, lat, 1e6)
    assert idx.tolist() == [[0, -1], [-1, -1]]
    assert dist[0, 0] == 0 and np.isnan(dist[0, 1]) and np.isnan(dist[1, 0])
    assert squares.covering([], [])[0].shape == (0,)
    assert squares.covering_sets([], []) == []
    # broadcasting: one latitude for many longitudes
    first, count = squares.covering([xy(0.5, 0)[0], xy(1.5, 0)[0]], xy(0, 0.5)[1])
    assert first.tolist() == [0, 1]


def test_nearest(squares: CellIndex) -> None:
    epsg = squares.info["metric_epsg"]
    points = [xy(0.5, 0.5), xy(3.25, 1.0), xy(-0.2, 0.5), xy(-3.0, 0.5), xy(3.45, 1.0)]
    lon, lat = (np.array(a) for a in zip(*points, strict=True))
    idx, dist = squares.nearest(lon, lat, max_distance_m=1000.0)
    codes = [str(squares.codes[i]) if i >= 0 else None for i in idx]
    assert codes == ["s-a", "s-e", "s-a", None, "s-f"]
    assert dist[0] == 0.0 and math.isinf(dist[3])
    metric = to_metric(np.array([SQUARES[c] for c in ("s-e", "s-a", "s-f")], dtype=object), epsg)
    pts = to_metric(shapely.points(lon[[1, 2, 4]], lat[[1, 2, 4]]), epsg)
    assert dist[[1, 2, 4]] == pytest.approx(shapely.distance(metric, pts), rel=1e-9)
    assert 150 < dist[2] < 200  # 0.2 units of 0.01 degree of longitude at 39.9 N: ~171 m
    # no limit, and zero radius
    idx, _ = squares.nearest(lon, lat, max_distance_m=math.inf)
    assert (idx >= 0).all()
    idx, _ = squares.nearest(lon, lat, max_distance_m=0.0)
    assert idx.tolist() == [0, -1, -1, -1, -1]
    with pytest.raises(InputError):
        squares.nearest(lon, lat, max_distance_m=-1.0)


def test_boundary_distance(squares: CellIndex) -> None:
    lon, lat = (np.array(a) for a in zip(xy(0.5, 0.5), xy(0.9, 0.5), xy(1.0, 0.5), xy(1.2, 0.5), strict=True))
    d = squares.boundary_distance(np.array([0, 0, 0, 0]), lon, lat)
    assert d[2] == pytest.approx(0.0, abs=1e-3)  # on the edge; edges are straight in the metric CRS
    assert d[3] == pytest.approx(2 * d[1], rel=1e-3)  # 0.1 unit inside, 0.2 unit outside
    assert 80 < d[1] < 90 and 420 < d[0] < 440  # 0.1 unit of longitude ~85 m; half a cell ~427 m
    assert np.isnan(squares.boundary_distance(-1, lon[0], lat[0]))
    with pytest.raises(InputError):
        squares.boundary_distance(6, lon[0], lat[0])


# --- non-convex cells, holes, islands, multipolygons, overlaps -------------------------------

#  a comb with three teeth interlocking with a second comb; a donut whose hole holds an island;
#  a cell of two parts (one touching the other at a single vertex, one far away)
COMB_A = poly(
    [(0, 0), (5, 0), (5, 1), (4, 1), (4, 3), (3, 3), (3, 1), (2, 1), (2, 3), (1, 3), (1, 1), (0, 1)]
)
COMB_B = poly(
    [(0, 1), (1, 1), (1, 3), (2, 3), (2, 1), (3, 1), (3, 3), (4, 3), (4, 1), (5, 1), (5, 4), (0, 4)]
)
DONUT = poly([(6, 0), (10, 0), (10, 4), (6, 4)], [(7, 1), (7, 3), (9, 3), (9, 2), (8, 2), (8, 1)])
ISLAND = poly([(7, 1), (8, 1), (8, 2), (9, 2), (9, 3), (7, 3)])
MULTI = MultiPolygon([ubox(11, 0, 12, 1), ubox(12, 1, 13, 2), ubox(40, 40, 41, 41)])
WORLD = {"comb-a": COMB_A, "comb-b": COMB_B, "donut": DONUT, "island": ISLAND, "multi": MULTI}


@pytest.fixture(scope="module")
def world() -> CellIndex:
    return CellIndex(list(WORLD), list(WORLD.values()))


def test_world_is_valid_and_touching() -> None:
    assert all(g.is_valid for g in WORLD.values())
    assert COMB_A.touches(COMB_B) and DONUT.touches(ISLAND)


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ((1.5, 2.0), ["comb-a"]),  # inside a tooth of a
        ((2.5, 2.0), ["comb-b"]),  # between the teeth: b
        ((2.0, 2.0), ["comb-a", "comb-b"]),  # on a tooth's side
        ((3.0, 3.0), ["comb-a", "comb-b"]),  # a tooth's corner
        ((6.5, 2.0), ["donut"]),
        ((7.5, 2.0), ["island"]),
        ((7.0, 2.0), ["donut", "island"]),  # hole boundary = island boundary
        ((9.0, 2.0), ["donut", "island"]),  # reflex corner of the hole
        ((8.5, 1.5), ["donut"]),  # the notch of the hole belongs to the donut
        ((12.0, 1.0), ["multi"]),  # the two parts touch here: counted once
        ((11.5, 0.5), ["multi"]),
        ((40.5, 40.5), ["multi"]),  # the far part, tiles away
        ((20.0, 20.0), []),  # between the parts
    ],
)
def test_world(world: CellIndex, point: tuple[float, float], expected: list[str]) -> None:
    assert code_sets(world, point) == [expected]


def test_world_against_brute_force(world: CellIndex) -> None:
    geoms, codes = list(WORLD.values()), list(WORLD)
    rng = np.random.default_rng(1)
    check_exact(world, geoms, codes, *vertices_and_edges(geoms, rng))
    near = [g for c, g in WORLD.items() if c != "multi"] + [MULTI.geoms[0], MULTI.geoms[1]]
    check_exact(world, geoms, codes, *grid_points(near, 150))
    assert world.info["tiles_stored"] < 40  # only tiles the boundaries reach are stored


def test_boundary_distance_matches_shapely_on_holes_and_parts(world: CellIndex) -> None:
    """Distances to every ring (holes and all parts included), as GEOS measures them."""
    rng = np.random.default_rng(6)
    lon, lat = grid_points(list(WORLD.values())[:4], 40)
    idx = rng.integers(-1, len(world), lon.size)
    got = world.boundary_distance(idx, lon, lat)
    epsg = world.info["metric_epsg"]
    metric = to_metric(np.array([WORLD[str(c)] for c in world.codes], dtype=object), epsg)
    pts = to_metric(shapely.points(lon, lat), epsg)
    ok = idx >= 0
    want = shapely.distance(shapely.boundary(metric[idx[ok]]), pts[ok])
    assert np.isnan(got[~ok]).all()
    np.testing.assert_allclose(got[ok], want, rtol=1e-9, atol=1e-6)


def test_overlapping_and_nested_cells() -> None:
    geoms = [ubox(0, 0, 2, 2), ubox(1, 1, 3, 3), ubox(0.5, 0.5, 1.5, 1.5), ubox(0, 0, 3, 3)]
    codes = ["o1", "o2", "o3", "o4"]
    index = CellIndex(codes, geoms, pixel_m=20.0)
    assert code_sets(index, (1.2, 1.2)) == [["o1", "o2", "o3", "o4"]]
    assert code_sets(index, (2.5, 2.5)) == [["o2", "o4"]]
    rng = np.random.default_rng(2)
    check_exact(index, geoms, codes, *vertices_and_edges(geoms, rng))
    check_exact(index, geoms, codes, *grid_points(geoms, 100))


def test_big_cell_uses_uniform_tiles() -> None:
    """A 30 km cell: the tiles inside it are not stored, yet points there are answered."""
    big = poly([(0, 0), (35, 0), (35, 27), (0, 27)], [(10, 10), (11, 10), (11, 11), (10, 11)])
    geoms, codes = [big, ubox(10, 10, 11, 11)], ["big", "plug"]
    index = CellIndex(codes, geoms)
    assert index.info["tiles_uniform"] > index.info["tiles_stored"] > 0
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(LON0 - 0.01, LON0 + 0.36, 20_000), rng.uniform(LAT0 - 0.01, LAT0 + 0.28, 20_000)
    check_exact(index, geoms, codes, lon, lat)
    check_exact(index, geoms, codes, *vertices_and_edges(geoms, rng, per_edge=20))


def test_cells_far_apart_are_tiled_sparsely() -> None:
    """Cells 100s of km apart: the tile directory spans them, the stored tiles do not."""
    geoms = [ubox(0, 0, 1, 1), ubox(1, 0, 2, 1), ubox(3000, 1000, 3001, 1001), ubox(-1500, 2500, -1499, 2501)]
    codes = ["far-1", "far-2", "far-3", "far-4"]
    index = CellIndex(codes, geoms)
    assert index.info["tiles_stored"] <= 12
    assert index.memory_bytes < 64 * 2**20
    rng = np.random.default_rng(4)
    check_exact(index, geoms, codes, *vertices_and_edges(geoms, rng))
    for g in geoms:
        check_exact(index, geoms, codes, *grid_points([g], 40))


def test_max_pixels_coarsens_the_raster_and_stays_exact() -> None:
    geoms, codes = list(WORLD.values()), list(WORLD)
    fine = CellIndex(codes, geoms)
    coarse = CellIndex(codes, geoms, max_pixels=4 * TILE * TILE)
    assert coarse.pixel_m > fine.pixel_m == 5.0
    assert (
        coarse.info["stored_pixels"] + coarse.info["tile_grid"][0] * coarse.info["tile_grid"][1]
        <= 4 * TILE**2
    )
    rng = np.random.default_rng(5)
    check_exact(coarse, geoms, codes, *vertices_and_edges(geoms, rng))
    check_exact(coarse, geoms, codes, *grid_points(geoms[:4], 120))


def test_input_order_does_not_matter() -> None:
    codes, geoms = list(WORLD), list(WORLD.values())
    a = CellIndex(codes, geoms)
    b = CellIndex(codes[::-1], geoms[::-1])
    assert a.codes.tolist() == b.codes.tolist()
    lon, lat = grid_points(geoms[:4], 80)
    for x, y in zip(a.covering(lon, lat), b.covering(lon, lat), strict=True):
        np.testing.assert_array_equal(x, y)


def test_callers_geometries_are_left_alone() -> None:
    geoms = [ubox(0, 0, 1, 1)]
    CellIndex(["a"], geoms)
    assert not shapely.is_prepared(geoms[0])


def test_empty_index_and_empty_cells() -> None:
    none = CellIndex([], [])
    first, count = none.covering([LON0], [LAT0])
    assert first.tolist() == [-1] and count.tolist() == [0]
    assert none.nearest([LON0], [LAT0], 100.0)[0].tolist() == [-1]
    index = CellIndex(["e", "a"], [Polygon(), ubox(0, 0, 1, 1)])
    assert code_sets(index, (0.5, 0.5), (1.0, 1.0)) == [["a"], ["a"]]


@pytest.mark.parametrize(
    ("codes", "geoms", "error", "match"),
    [
        (["a", "a"], [ubox(0, 0, 1, 1), ubox(1, 0, 2, 1)], InputError, "unique"),
        (["a"], [ubox(0, 0, 1, 1), ubox(1, 0, 2, 1)], InputError, "1 codes but 2"),
        ([""], [ubox(0, 0, 1, 1)], InputError, "non-empty"),
        (["a"], [None], GeometryError, "missing"),
        (["a"], [shapely.Point(LON0, LAT0)], GeometryError, "Point"),
        (["a"], ["POLYGON"], GeometryError, "str"),
        (["a"], [box(400000, 4400000, 400100, 4400100)], CoordinateRangeError, "out of range"),
    ],
)
def test_bad_input(codes: list[str], geoms: list[Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        CellIndex(codes, geoms)


@pytest.mark.parametrize("pixel_m", [0.0, -5.0, math.nan, math.inf])
def test_bad_pixel(pixel_m: float) -> None:
    with pytest.raises(InputError, match="pixel_m"):
        CellIndex(["a"], [ubox(0, 0, 1, 1)], pixel_m=pixel_m)


# --- property: random non-convex tilings against brute force ---------------------------------


def voronoi_tiling(seed: int, n: int, merges: int) -> tuple[list[str], list[Any]]:
    """Voronoi cells of ``n`` random seeds in a 1 km square (metres), some neighbours merged,
    mapped to lon/lat by an affine map (so shared vertices stay shared)."""
    rng = np.random.default_rng(seed)
    frame = box(0, 0, 1000, 1000)
    pts = rng.uniform(0, 1000, (n, 2))
    cells = list(
        shapely.intersection(
            shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame)), frame
        )
    )
    for _ in range(merges):
        i = int(rng.integers(len(cells)))
        nbrs = [
            j for j, g in enumerate(cells) if j != i and shapely.length(shapely.intersection(g, cells[i])) > 0
        ]
        if nbrs and len(cells) > 2:
            j = nbrs[int(rng.integers(len(nbrs)))]
            merged = shapely.union_all([cells[i], cells[j]])
            cells = [g for k, g in enumerate(cells) if k not in (i, j)] + [merged]
    lonlat = shapely.transform(
        np.array(cells, dtype=object), lambda c: c * np.array([1.17e-5, 0.9e-5]) + np.array([LON0, LAT0])
    )
    codes = [f"c{int(k):03d}" for k in rng.permutation(len(cells))]
    return codes, list(lonlat)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 30),
    merges=st.integers(0, 6),
    pixel_m=st.sampled_from([0.7, 3.0, 5.0, 25.0, 400.0]),
)
def test_random_tilings_match_brute_force(seed: int, n: int, merges: int, pixel_m: float) -> None:
    codes, geoms = voronoi_tiling(seed, n, merges)
    index = CellIndex(codes, geoms, pixel_m=pixel_m)
    rng = np.random.default_rng(seed ^ 0x5EED)
    x0, y0, x1, y1 = shapely.total_bounds(np.array(geoms, dtype=object))
    ux = rng.uniform(x0 - 1e-4, x1 + 1e-4, 300)
    uy = rng.uniform(y0 - 1e-4, y1 + 1e-4, 300)
    ex, ey = vertices_and_edges(geoms, rng)
    # points a hair off the vertices, and on the raster's own pixel lines
    hair = np.array([-1e-12, 0.0, 1e-12])
    vx, vy = ex[:50] + rng.choice(hair, ex[:50].size), ey[:50] + rng.choice(hair, ey[:50].size)
    k = rng.integers(0, 50, 50)
    px = LON0 + k * (x1 - x0) / 50.0
    lon = np.concatenate([ux, ex, vx, px])
    lat = np.concatenate([uy, ey, vy, rng.uniform(y0, y1, 50)])
    check_exact(index, geoms, codes, lon, lat)
    # the same cells in another order give the very same answers
    perm = rng.permutation(len(codes))
    shuffled = CellIndex([codes[i] for i in perm], [geoms[i] for i in perm], pixel_m=pixel_m)
    assert shuffled.codes.tolist() == index.codes.tolist()
    for a, b in zip(index.covering(lon, lat), shuffled.covering(lon, lat), strict=True):
        np.testing.assert_array_equal(a, b)
