"""Point -> covering cells: ``grid.spatial_index.CellIndex`` against geopandas.sjoin and PostGIS.

Cells: at full size, the partition benchmark's Beijing-size city when
``data/build/bench_city/full/`` holds it (its ``manifest.json`` names the cells file; at least
10,000 cells); otherwise a city generated here, deterministically: a Voronoi tessellation of
60,000 clustered seeds over an ellipse of urban Beijing's size (about 1,400 km2), merged in
pairs and triples into about 33,000 non-convex cells, with some cells carrying an island cell
in a hole (donut + island), some two-part MultiPolygon cells (a cell and a nearby cell it does
not touch) and some cells left out (gaps). Toy size: the same recipe on 1,200 seeds over
30 km2 (about 660 cells).

Points (seeded): mostly clustered round "hot spots" inside the city, plus uniform points in
its bounding box, points interpolated onto cell edges, points exactly on cell vertices and
points outside the city.

Figures, same points and cells for all methods:

* **ours**: ``CellIndex.covering`` (label raster + exact test near boundaries); build time,
  ``memory_bytes`` and the peak RSS of the process are printed as well;
* **sjoin**: ``geopandas.sjoin(points, cells, predicate="within")`` with ``cells.sindex``
  built before timing (so only the join is timed); and the same with ``"covered_by"``,
  which has our semantics on edges;
* **PostGIS**: when the test database answers, TEMP tables of the cells and of a subsample of
  the points (GiST indexes, ANALYZE) and ``ST_Covers`` in a LATERAL join with the cells as
  the outer side; otherwise the reason it was skipped is printed.

Exactness: ``first`` and ``count`` of ours are compared with a brute-force reference on all
points: ``shapely.covers(cell, point)`` for every (point, cell) pair of an STRtree
bounding-box query, unprepared geometries.
"""

from __future__ import annotations

import json
import math
import resource
import time
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from benchmarks._common import Row, check_size, print_table, timed
from grid.config import get_settings
from grid.spatial_index import CellIndex

NAME: Final = "assign"
DESCRIPTION: Final = (
    "point -> covering cells on a Beijing-size city (~30,000 non-convex cells): points/s and "
    "exactness of grid.spatial_index.CellIndex vs geopandas.sjoin (prebuilt sindex) and PostGIS"
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SEED: Final = 20240611
CENTRE: Final = (116.40, 39.91)  # Tiananmen, roughly the centre of urban Beijing
SIZES: Final[dict[str, dict[str, Any]]] = {
    "toy": {"seeds": 1_200, "area_km2": 30.0, "points": 20_000, "pg_points": 5_000, "repeat": 2},
    "full": {"seeds": 60_000, "area_km2": 1_400.0, "points": 1_000_000, "pg_points": 100_000, "repeat": 3},
}
CITY_DIR: Final = Path(__file__).resolve().parents[1] / "data" / "build" / "bench_city"
MIN_KEPT_CELLS: Final = 10_000  # a kept city smaller than this is not Beijing-size

_WGS_A: Final = 6378137.0
_WGS_E2: Final = 6.69437999014e-3


# --- the city ---------------------------------------------------------------------------------


def _metres_per_degree(lat: float) -> tuple[float, float]:
    phi = math.radians(lat)
    w = 1.0 - _WGS_E2 * math.sin(phi) ** 2
    north = math.radians(1.0) * _WGS_A * (1.0 - _WGS_E2) / w**1.5
    east = math.radians(1.0) * _WGS_A / math.sqrt(w) * math.cos(phi)
    return east, north


def _to_lonlat(geoms: Any) -> Any:
    """Local metres (origin CENTRE) -> lon/lat by an affine map: shared vertices stay shared."""
    east, north = _metres_per_degree(CENTRE[1])
    return shapely.transform(geoms, lambda xy: xy / np.array([east, north]) + np.array(CENTRE))


def generate_city(n_seeds: int, area_km2: float, seed: int = SEED) -> tuple[list[str], list[BaseGeometry]]:
    """A deterministic city of non-convex cells (see the module docstring); lon/lat."""
    rng = np.random.default_rng(seed)
    a = math.sqrt(area_km2 * 1e6 / math.pi * 1.1)  # ellipse semi-axes (m), a/b = 1.1
    b = a / 1.1
    t = np.linspace(0, 2 * np.pi, 257)[:-1]
    outline = shapely.Polygon(np.round(np.column_stack([a * np.cos(t), b * np.sin(t)]), 2))
    # seeds denser in the centre: a mixture of uniform and Gaussian clusters, rounded to 1 cm
    n_uniform = n_seeds // 2
    xy = [rng.uniform([-a, -b], [a, b], (n_uniform * 2, 2))]
    centres = rng.uniform([-a * 0.7, -b * 0.7], [a * 0.7, b * 0.7], (40, 2))
    pick = rng.integers(0, len(centres), n_seeds * 2)
    xy.append(centres[pick] + rng.normal(0, a / 12, (n_seeds * 2, 2)))
    pts = np.round(np.concatenate(xy), 2)
    inside = shapely.contains_xy(outline, pts[:, 0], pts[:, 1])
    pts = np.unique(pts[inside], axis=0)
    pts = pts[rng.permutation(len(pts))[:n_seeds]]
    vor = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=outline.buffer(a * 0.05))
    )
    # voronoi_polygons does not keep the seed order: match cells to seeds
    tree = shapely.STRtree(vor)
    seed_idx, cell_idx = tree.query(shapely.points(pts), predicate="intersects")
    owner = np.full(len(vor), -1)
    owner[cell_idx] = seed_idx
    vor = vor[np.argsort(owner)]
    cells = shapely.intersection(vor, outline)
    cells = np.array([_largest_polygon(g) for g in cells], dtype=object)

    # neighbours: pairs of cells sharing an edge (Delaunay edges of the seeds)
    edges = shapely.get_coordinates(shapely.delaunay_triangles(shapely.multipoints(pts), only_edges=True))
    key = {(float(x), float(y)): i for i, (x, y) in enumerate(pts.tolist())}
    ends = np.array([key[(float(x), float(y))] for x, y in edges.tolist()]).reshape(-1, 2)
    nbrs: list[list[int]] = [[] for _ in range(len(pts))]
    for i, j in ends.tolist():
        nbrs[i].append(j)
        nbrs[j].append(i)

    # merge into groups of 1-3 neighbours: non-convex cells
    group = np.full(len(pts), -1)
    groups: list[list[int]] = []
    for i in rng.permutation(len(pts)).tolist():
        if group[i] >= 0:
            continue
        members = [i]
        want = int(rng.choice([1, 2, 2, 3]))
        for j in rng.permutation(nbrs[i]).tolist():
            if len(members) >= want:
                break
            if group[j] < 0 and not cells[j].is_empty:
                members.append(j)
        for m in members:
            group[m] = len(groups)
        groups.append(members)
    merged = [shapely.union_all(cells[m]) if len(m) > 1 else cells[m[0]] for m in groups]
    merged = [g for g in merged if not g.is_empty]

    # islands: a donut and the island in its hole (vertices of the hole = island's vertices)
    out: list[BaseGeometry] = []
    islands: list[BaseGeometry] = []
    n_islands = max(3, len(merged) // 100)
    for k, g in enumerate(merged):
        if k < n_islands and g.geom_type == "Polygon":
            p = shapely.get_coordinates(g.point_on_surface())[0]
            r = 0.3 * g.exterior.distance(shapely.Point(p))
            island = shapely.Polygon(np.round(p + r * _hexagon(), 2))
            if r > 1.0 and g.contains_properly(island):
                out.append(shapely.Polygon(g.exterior, [island.exterior]))
                islands.append(island)
                continue
        out.append(g)
    out += islands
    # gaps: leave some cells out; exclaves: a cell and a nearby cell it does not touch become
    # one two-part MultiPolygon
    cells_arr = np.array(out, dtype=object)
    order = rng.permutation(len(cells_arr))
    n_drop = max(1, len(cells_arr) // 100)
    removed = np.zeros(len(cells_arr), dtype=bool)
    removed[order[:n_drop]] = True
    used = removed.copy()
    tree = shapely.STRtree(cells_arr)
    reach = 1.5 * math.sqrt(area_km2 * 1e6 / len(cells_arr))
    n_multi = max(1, len(cells_arr) // 150)
    for i in order[n_drop:].tolist():
        if n_multi == 0:
            break
        gi = cells_arr[i]
        if used[i] or gi.geom_type != "Polygon":
            continue
        near = sorted(tree.query(gi, predicate="dwithin", distance=reach).tolist())
        mates = [
            j
            for j in near
            if not used[j] and cells_arr[j].geom_type == "Polygon" and not gi.intersects(cells_arr[j])
        ]
        if mates:
            j = mates[0]
            cells_arr[i] = shapely.MultiPolygon([gi, cells_arr[j]])
            used[i] = used[j] = removed[j] = True
            n_multi -= 1
    final = list(cells_arr[~removed])
    lonlat = _to_lonlat(np.array(final, dtype=object))
    codes = [f"110000{k:06d}" for k in range(len(lonlat))]
    return codes, list(lonlat)


def _largest_polygon(g: BaseGeometry) -> BaseGeometry:
    if g.geom_type == "Polygon":
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon"]
    return max(parts, key=lambda p: p.area) if parts else shapely.Polygon()


def _hexagon() -> FloatArray:
    t = np.linspace(0, 2 * np.pi, 7)[:-1] + 0.3
    return np.column_stack([np.cos(t), np.sin(t)])


def load_city(size: str) -> tuple[list[str], list[BaseGeometry], str]:
    """The partition benchmark's cells when kept at full size, else ``generate_city``.

    ``benchmarks/bench_partition.py`` keeps them in ``data/build/bench_city/full/``
    (``manifest.json`` -> ``files.cells.path``, GeoJSON in EPSG:4326 with a ``code`` column).
    The toy run always generates its own small city, so it never depends on another benchmark.
    """
    params = SIZES[size]
    manifest = CITY_DIR / "full" / "manifest.json"
    if size == "full" and manifest.is_file():
        try:
            meta = json.loads(manifest.read_text())
            name = meta["files"]["cells"]["path"]
            frame = gpd.read_file(manifest.parent / name)
            if len(frame) >= MIN_KEPT_CELLS:
                frame = frame.to_crs(4326) if frame.crs is not None else frame
                return (
                    [str(c) for c in frame["code"]],
                    list(frame.geometry.values),
                    f"the partition benchmark's city (data/build/bench_city/full/{name})",
                )
            print(f"  ({manifest.parent / name} has only {len(frame):,} cells: generating a city instead)")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"  (could not read the cells named in {manifest}: {exc!r}; generating a city instead)")
    codes, geoms = generate_city(params["seeds"], params["area_km2"])
    return codes, geoms, f"a generated Voronoi city ({params['seeds']:,} seeds merged, seed {SEED})"


# --- the points -------------------------------------------------------------------------------


def make_points(
    geoms: list[BaseGeometry], n: int, seed: int = SEED
) -> tuple[FloatArray, FloatArray, dict[str, int]]:
    """``n`` points: clustered, uniform, on edges, on vertices, outside (shuffled, seeded)."""
    rng = np.random.default_rng(seed + 1)
    arr = np.array(geoms, dtype=object)
    x0, y0, x1, y1 = shapely.total_bounds(arr)
    coords = shapely.get_coordinates(shapely.boundary(arr))
    kinds = {
        "clustered": int(n * 0.80),
        "uniform_bbox": int(n * 0.08),
        "on_edge": int(n * 0.05),
        "on_vertex": int(n * 0.02),
    }
    kinds["outside"] = n - sum(kinds.values())
    parts: list[FloatArray] = []
    # clustered round hot spots placed at random cell vertices
    hot = coords[rng.integers(0, len(coords), max(10, n // 500))]
    which = rng.integers(0, len(hot), kinds["clustered"])
    spread = rng.uniform(0.0005, 0.01, len(hot))[which, None]
    parts.append(hot[which] + rng.normal(0, 1, (kinds["clustered"], 2)) * spread)
    parts.append(rng.uniform([x0, y0], [x1, y1], (kinds["uniform_bbox"], 2)))
    # on edges: interpolated between consecutive vertices (on the edge up to rounding)
    i = rng.integers(0, len(coords) - 1, kinds["on_edge"])
    t = rng.uniform(0, 1, (kinds["on_edge"], 1))
    parts.append(coords[i] + t * (coords[i + 1] - coords[i]))
    parts.append(coords[rng.integers(0, len(coords), kinds["on_vertex"])])
    # outside: a ring round the city's bounding box
    ang = rng.uniform(0, 2 * np.pi, kinds["outside"])
    rad = rng.uniform(1.02, 1.3, kinds["outside"])
    cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    parts.append(np.column_stack([cx + hx * rad * np.cos(ang), cy + hy * rad * np.sin(ang)]))
    xy = np.concatenate(parts)[rng.permutation(n)]
    return np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1]), kinds


# --- methods ----------------------------------------------------------------------------------


def reference(
    geoms: list[BaseGeometry], codes: list[str], x: FloatArray, y: FloatArray
) -> tuple[IntArray, IntArray]:
    """Brute force: ``shapely.covers`` on every bbox candidate; cells indexed in code order."""
    order = np.argsort(np.array(codes, dtype=np.str_), kind="stable")
    cells = shapely.from_wkb(shapely.to_wkb(np.array(geoms, dtype=object)[order]))  # fresh, unprepared
    pts = shapely.points(x, y)
    pi, ci = shapely.STRtree(cells).query(pts)
    hit = shapely.covers(cells[ci], pts[pi])
    pi, ci = pi[hit], ci[hit]
    count = np.bincount(pi, minlength=len(x))
    first = np.full(len(x), np.iinfo(np.int64).max)
    np.minimum.at(first, pi, ci)
    first[count == 0] = -1
    return first, count


def sjoin_rate(cells: gpd.GeoDataFrame, x: FloatArray, y: FloatArray, predicate: str, repeat: int) -> float:
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=4326)
    _ = cells.sindex  # built before timing
    _, seconds = timed(lambda: gpd.sjoin(points, cells, predicate=predicate), repeat)
    return len(x) / seconds


def postgis_rate(
    codes: list[str], geoms: list[BaseGeometry], x: FloatArray, y: FloatArray, ref_count: IntArray
) -> dict[str, Any]:
    """Time the LATERAL ``ST_Covers`` join on TEMP tables; ``{"skipped": why}`` without a database."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a project dependency
        return {"skipped": f"psycopg not importable: {exc}"}
    url = get_settings().test_database_url.replace("postgresql+psycopg://", "postgresql://")
    try:
        conn = psycopg.connect(url, connect_timeout=3)
    except Exception as exc:
        return {"skipped": f"no database at the test URL ({type(exc).__name__}: {exc})".strip()}
    try:
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE bench_cells (code text, geom geometry(Geometry, 4326))")
            cur.execute("CREATE TEMP TABLE bench_pts (id int, geom geometry(Point, 4326))")
            wkb = shapely.to_wkb(np.array(geoms, dtype=object), hex=True)
            with cur.copy("COPY bench_cells (code, geom) FROM STDIN") as cp:
                for c, g in zip(codes, wkb.tolist(), strict=True):
                    cp.write_row((c, f"SRID=4326;{g}"))
            pw = shapely.to_wkb(shapely.points(x, y), hex=True)
            with cur.copy("COPY bench_pts (id, geom) FROM STDIN") as cp:
                for i, g in enumerate(pw.tolist()):
                    cp.write_row((i, f"SRID=4326;{g}"))
            cur.execute("CREATE INDEX ON bench_cells USING gist (geom)")
            cur.execute("CREATE INDEX ON bench_pts USING gist (geom)")
            cur.execute("ANALYZE bench_cells")
            cur.execute("ANALYZE bench_pts")
            sql = (
                "SELECT p.id, min(c.code), count(*) FROM bench_cells c "
                "JOIN LATERAL (SELECT q.id FROM bench_pts q WHERE ST_Covers(c.geom, q.geom)) p ON true "
                "GROUP BY p.id"
            )
            t0 = time.perf_counter()
            cur.execute(sql)
            rows = cur.fetchall()
            seconds = time.perf_counter() - t0
            conn.rollback()
    except Exception as exc:
        return {"skipped": f"PostGIS join failed: {type(exc).__name__}: {exc}"}
    finally:
        conn.close()
    count = np.zeros(len(x), dtype=np.int64)
    for i, _, k in rows:
        count[i] = k
    return {
        "points": len(x),
        "seconds": seconds,
        "points_per_s": len(x) / seconds,
        "count_mismatches": int(np.count_nonzero(count != ref_count)),
    }


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def run(size: str) -> dict[str, Any]:
    """Build the index, time ours, sjoin and PostGIS on the same points; print; return figures."""
    params = dict(SIZES[check_size(size)])
    repeat = int(params["repeat"])
    codes, geoms, source = load_city(size)
    x, y, kinds = make_points(geoms, int(params["points"]))

    rss_before = _peak_rss_mb()
    index, build_s = timed(lambda: CellIndex(codes, geoms), 1)
    _, cold_s = timed(lambda: index.covering(x, y), 1)  # GEOS builds its prepared indexes lazily
    (first, count), ours_s = timed(lambda: index.covering(x, y), repeat)
    rss_ours = _peak_rss_mb()
    ours_rate = len(x) / ours_s
    ref_first, ref_count = reference(geoms, codes, x, y)
    first_bad = int(np.count_nonzero(first != ref_first))
    count_bad = int(np.count_nonzero(count != ref_count))

    order = np.argsort(np.array(codes, dtype=np.str_), kind="stable")
    cells = gpd.GeoDataFrame(
        {"code": np.array(codes)[order]}, geometry=np.array(geoms, dtype=object)[order], crs=4326
    )
    within_rate = sjoin_rate(cells, x, y, "within", repeat)
    covered_rate = sjoin_rate(cells, x, y, "covered_by", repeat)
    n_pg = min(int(params["pg_points"]), len(x))
    pg = postgis_rate(list(cells["code"]), list(cells.geometry.values), x[:n_pg], y[:n_pg], ref_count[:n_pg])

    ours = {
        "points": len(x),
        "seconds": ours_s,
        "points_per_s": ours_rate,
        "first_call_points_per_s": len(x) / cold_s,
        "build_seconds": build_s,
        "memory_bytes": index.memory_bytes,
        "pixel_m": index.pixel_m,
        "exact_test_share": index.exact_test_share(x, y),
        "first_mismatches": first_bad,
        "count_mismatches": count_bad,
        "exact": first_bad == 0 and count_bad == 0,
        "info": {k: v for k, v in index.info.items() if isinstance(v, int | float | str | list)},
    }
    result: dict[str, Any] = {
        "benchmark": NAME,
        "size": size,
        "params": {**params, "seed": SEED, "cells": len(codes), "source": source, "point_kinds": kinds},
        "ours": ours,
        "sjoin_within": {"points_per_s": within_rate},
        "sjoin_covered_by": {"points_per_s": covered_rate},
        "postgis": pg,
        "counts": {str(k): int(v) for k, v in zip(*np.unique(ref_count, return_counts=True), strict=True)},
        "peak_rss_mb": {"before_index": rss_before, "after_ours": rss_ours, "end": _peak_rss_mb()},
    }
    rows = [
        Row("speed", "pts/s", ours_rate, 'sjoin "within", prebuilt sindex', within_rate, "higher"),
        Row("speed", "pts/s", ours_rate, 'sjoin "covered_by", prebuilt sindex', covered_rate, "higher"),
    ]
    if "points_per_s" in pg:
        rows.append(
            Row(
                "speed",
                "pts/s",
                ours_rate,
                "PostGIS ST_Covers, LATERAL",
                pg["points_per_s"],
                "higher",
                f"{n_pg:,} pts",
            )
        )
    rows.append(
        Row(
            "first/count mismatches",
            "",
            float(first_bad + count_bad),
            "brute-force shapely.covers",
            0.0,
            "lower",
        )
    )
    result["rows"] = [r.to_dict() for r in rows]
    notes = [
        f"cells: {len(codes):,} from {source}; points: {len(x):,} ({', '.join(f'{k} {v:,}' for k, v in kinds.items())})",
        f"covering counts of the points: {result['counts']}",
        f"ours: {ours_rate:,.0f} pts/s best of {repeat} ({len(x) / cold_s:,.0f} pts/s on the first call, "
        "which builds GEOS's lazy point-in-polygon indexes of the cells it tests)",
        f"ours: build {build_s:.2f} s, pixel {index.pixel_m:.3g} m, {index.info['tiles_stored']:,} tiles stored, "
        f"memory_bytes {index.memory_bytes / 2**20:.1f} MiB, {ours['exact_test_share']:.1%} of points take the "
        f"exact test",
        f"peak RSS of the process: {rss_before:.0f} MiB before the index, {rss_ours:.0f} MiB after building "
        f"and querying it, {result['peak_rss_mb']['end']:.0f} MiB at the end (reference, sjoin, PostGIS)",
        f"exactness vs brute force: first differs on {first_bad:,} points, count on {count_bad:,}",
        'sjoin "within" misses points on cell edges (count 0 there); "covered_by" has our semantics',
    ]
    if "skipped" in pg:
        notes.append(f"PostGIS skipped: {pg['skipped']}")
    else:
        notes.append(
            f"PostGIS: {pg['count_mismatches']:,} count mismatches vs brute force on {n_pg:,} points"
        )
    print_table(f"assign ({size}): which cells cover each point, ours = CellIndex.covering", rows, notes)
    return result
