"""Grid partition of a synthetic Beijing-size city: ``grid.partition`` vs k-means + Voronoi.

The city (deterministic, ``SEED``): a rectangle east of central Beijing tiled by Voronoi
communities of a jittered square grid of seeds (500 m apart: about 0.25 km² each; toy 6 x 5,
full 100 x 70 = 7,000 communities), built in a local equirectangular plane and mapped to
longitude/latitude by an affine map, so edges are straight and shared vertices identical in
both. Codes nest like Beijing's: 16 districts (real district codes), streets of 5 x 5
communities, 12-digit community codes. Barriers: a grid of straight arterial roads about every
2.5 km (slightly tilted) and a meandering river. Each community gets a household total drawn
from a log-normal (mean about 975; 250-4,500; compounds overshoot a little, so ~1,150 households per community), split over 1-4 compounds; a compound has a style
of ``data.synthetic_buildings.STYLES`` and fills the free building slots nearest its centre
(a 50 m x 45 m lattice, none within a road's or the river's corridor, each wholly inside its
community; a building longer than a slot takes two) with buildings drawn by the sample street's
own generator (``data.synthetic_buildings._sample_spec``: walk-ups 36-72 households, mid-rise
80-200, towers 120-480 as floors x units x homes per floor, with their footprint sizes), so the
household mix is the sample street's. About 8 million households at full size.

Methods, on the same input, in the same run, each in its own forked process (so each one's
peak memory is its own):

* **ours**: :func:`grid.partition.partition_community` per community, with the barrier lines
  that cross it;
* **baseline**: k-means (k-means++ seeding, Lloyd iterations, weighted by households) on the
  building points with ``k = round(households / target)``, cells = Voronoi polygons of the k
  centres clipped to the community; a building belongs to the cell holding its point.

Figures (the same :func:`grid.partition.community_quality` measures both): share of cells
within +-10% / +-20% of the target and within ``[min, max]``, Polsby-Popper mean and minimum in
EPSG:4548, contiguous cells, buildings split between cells (footprints crossing a cell border),
barrier crossings, wall time and peak memory (peak RSS of the forked process; the increment
over the parent is the method's own working memory).

The city and our cells are kept in ``data/build/bench_city/<size>/`` (GeoJSON + manifest.json,
see :func:`write_city`); the ownership, maps and insights benchmarks reuse them through
:func:`load_city`.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing as mp
import os
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from shapely.geometry import LineString, MultiPolygon, Polygon

from benchmarks._common import Row, check_size, console, print_table
from data.synthetic_buildings import STYLE_WEIGHTS, STYLES, _sample_spec
from grid.partition import (
    Cell,
    PartitionParams,
    PartitionResult,
    community_quality,
    format_quality,
    partition_community,
    quality_report,
)

NAME: Final = "partition"
DESCRIPTION: Final = (
    "partition a synthetic Beijing-size city (toy 30, full 7,000 communities, ~8M households) into "
    "~300-household grid cells: grid.partition vs k-means on building points + Voronoi cells"
)

SEED: Final = 300
METRIC_EPSG: Final = 4548  # CGCS2000 / 3-degree Gauss-Kruger CM 117E
ORIGIN_LONLAT: Final = (116.18, 39.78)  # south-west corner of the city
SPACING_M: Final = 500.0  # community seeds: a jittered square grid
JITTER: Final = 0.3  # share of SPACING_M; <= 0.3 keeps every nearest seed in the 3 x 3 block
STREET_BLOCK: Final = 5  # a street is 5 x 5 communities
ROAD_SPACING_M: Final = 2_500.0
ROAD_CORRIDOR_M: Final = 30.0  # no building slot within this of a road ...
RIVER_CORRIDOR_M: Final = 45.0  # ... or of the river
SLOT_M: Final = (50.0, 45.0)  # building slot lattice (east-west, north-south)
HOUSEHOLDS_MEAN: Final = 995.0
HOUSEHOLDS_SIGMA: Final = 0.55
HOUSEHOLDS_RANGE: Final = (250, 4_500)
KMEANS_ITER: Final = 25
DISTRICTS: Final = [
    "110101",
    "110102",
    "110105",
    "110106",
    "110107",
    "110108",
    "110109",
    "110111",
    "110112",
    "110113",
    "110114",
    "110115",
    "110116",
    "110117",
    "110118",
    "110119",
]
SIZES: Final[dict[str, dict[str, int]]] = {
    "toy": {"nx": 6, "ny": 5},
    "full": {"nx": 100, "ny": 70},
}
OUT_DIR: Path = Path(__file__).resolve().parent.parent / "data" / "build" / "bench_city"

FloatArray = npt.NDArray[np.float64]

_A = 6378137.0
_E2 = 6.69437999014e-3


# --- the city ---------------------------------------------------------------------------------


@dataclass
class City:
    """The synthetic city: layers in EPSG:4326 and the barrier lines."""

    communities: gpd.GeoDataFrame  # code, name, street_code, district_code, geometry
    buildings: (
        gpd.GeoDataFrame
    )  # building_id, community_code, compound_id, kind, households, footprint, geometry
    barriers: gpd.GeoDataFrame  # name, kind, geometry
    size: str

    def streets(self) -> gpd.GeoDataFrame:
        return _dissolve(self.communities, "street_code", "district_code")

    def districts(self) -> gpd.GeoDataFrame:
        return _dissolve(self.communities, "district_code", None)


def _dissolve(frame: gpd.GeoDataFrame, by: str, parent: str | None) -> gpd.GeoDataFrame:
    rows = []
    for code, grp in frame.groupby(by, sort=True):
        geom = shapely.coverage_union_all(np.asarray(grp.geometry.array, dtype=object))
        row: dict[str, Any] = {"code": str(code)}
        if parent is not None:
            row["parent_code"] = str(grp[parent].iloc[0])
        row["geometry"] = geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])
        rows.append(row)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


class _Plane:
    """The city's equirectangular plane (metres) <-> lon/lat: an affine map."""

    def __init__(self, lon0: float, lat0: float) -> None:
        phi = math.radians(lat0)
        w = 1.0 - _E2 * math.sin(phi) ** 2
        self.ky = _A * (1.0 - _E2) / w**1.5 * math.pi / 180.0
        self.kx = _A / math.sqrt(w) * math.cos(phi) * math.pi / 180.0
        self.lon0, self.lat0 = lon0, lat0

    def to_lonlat(self, xy: FloatArray) -> FloatArray:
        return np.column_stack([xy[:, 0] / self.kx + self.lon0, xy[:, 1] / self.ky + self.lat0])

    def geoms(self, geoms: Any) -> Any:
        return shapely.transform(geoms, self.to_lonlat)


def _community_seeds(nx: int, ny: int, rng: np.random.Generator) -> FloatArray:
    gx, gy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="xy")
    base = np.column_stack([gx.ravel() + 0.5, gy.ravel() + 0.5]) * SPACING_M
    return base + rng.uniform(-JITTER, JITTER, size=base.shape) * SPACING_M


def _barrier_lines(
    width: float, height: float, rng: np.random.Generator
) -> list[tuple[str, str, LineString]]:
    out: list[tuple[str, str, LineString]] = []
    n_v = max(1, round(width / ROAD_SPACING_M) - 1)
    for i in range(n_v):
        x = width * (i + 1) / (n_v + 1) + float(rng.uniform(-200, 200))
        tilt = float(rng.uniform(-0.04, 0.04)) * height
        out.append(
            (f"南北干道{i + 1}", "arterial", LineString([(x - tilt / 2, -50), (x + tilt / 2, height + 50)]))
        )
    n_h = max(1, round(height / ROAD_SPACING_M) - 1)
    for j in range(n_h):
        y = height * (j + 1) / (n_h + 1) + float(rng.uniform(-200, 200))
        tilt = float(rng.uniform(-0.04, 0.04)) * width
        out.append(
            (f"东西干道{j + 1}", "arterial", LineString([(-50, y - tilt / 2), (width + 50, y + tilt / 2)]))
        )
    # a river from the north-west to the south-east, meandering
    t = np.linspace(0.0, 1.0, 60)
    xs = -50 + t * (width + 100)
    ys = height * (0.8 - 0.6 * t) + 0.06 * height * np.sin(t * 9.0) + rng.uniform(-30, 30, size=t.size)
    out.append(("通惠河", "river", LineString(np.column_stack([xs, ys]))))
    return out


def _nearest_two(
    xy: FloatArray, seeds: FloatArray, nx: int, ny: int
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Index of the nearest seed and the margin to the next one ((d2² - d1²) / 2|s1-s2| >= 0)."""
    ix = np.clip((xy[:, 0] // SPACING_M).astype(np.int64), 0, nx - 1)
    iy = np.clip((xy[:, 1] // SPACING_M).astype(np.int64), 0, ny - 1)
    cand = []
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            cx, cy = ix + dx, iy + dy
            ok = (cx >= 0) & (cx < nx) & (cy >= 0) & (cy < ny)
            cand.append(np.where(ok, cy * nx + cx, -1))
    c = np.stack(cand, axis=1)
    sx = np.where(c >= 0, seeds[np.maximum(c, 0), 0], np.inf)
    sy = np.where(c >= 0, seeds[np.maximum(c, 0), 1], np.inf)
    d2 = (sx - xy[:, [0]]) ** 2 + (sy - xy[:, [1]]) ** 2
    order = np.argsort(d2, axis=1)
    rows = np.arange(len(xy))
    first, second = order[:, 0], order[:, 1]
    s1 = c[rows, first]
    sep = np.hypot(sx[rows, first] - sx[rows, second], sy[rows, first] - sy[rows, second])
    margin = (d2[rows, second] - d2[rows, first]) / (2.0 * np.maximum(sep, 1e-9))
    return s1, margin


def _line_distance(xy: FloatArray, line: LineString) -> FloatArray:
    if len(line.coords) == 2:  # a straight road: exact, vectorised
        (x0, y0), (x1, y1) = line.coords
        ux, uy = x1 - x0, y1 - y0
        n = math.hypot(ux, uy)
        return np.asarray(np.abs((xy[:, 0] - x0) * uy - (xy[:, 1] - y0) * ux) / n)
    return np.asarray(shapely.distance(shapely.points(xy), line))


def generate_city(size: str, seed: int = SEED) -> City:
    """The synthetic city at ``size`` (see the module docstring); same size and seed -> same city."""
    p = SIZES[check_size(size)]
    nx, ny = p["nx"], p["ny"]
    rng = np.random.default_rng(seed)
    width, height = nx * SPACING_M, ny * SPACING_M
    plane = _Plane(*ORIGIN_LONLAT)
    seeds = _community_seeds(nx, ny, rng)

    # communities: Voronoi cells of the seeds, clipped to the rectangle, in the plane
    frame = shapely.box(0.0, 0.0, width, height)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame, ordered=True)
    )
    cells = shapely.intersection(cells, frame)
    gx, gy = np.arange(nx * ny) % nx, np.arange(nx * ny) // nx
    sx, sy = gx // STREET_BLOCK, (ny - 1 - gy) // STREET_BLOCK  # streets numbered from the north-west
    n_sx, n_sy = math.ceil(nx / STREET_BLOCK), math.ceil(ny / STREET_BLOCK)
    district_idx = (sy * 4 // max(n_sy, 1)) * 4 + (sx * 4 // max(n_sx, 1))
    street_key = sy * n_sx + sx
    codes = []
    street_no: dict[int, int] = {}
    per_district: dict[int, int] = {}
    comm_no: dict[int, int] = {}
    for k in np.lexsort((gx, -gy, street_key)).tolist():  # north-west first within each street
        d = int(district_idx[k])
        st = int(street_key[k])
        if st not in street_no:
            per_district[d] = per_district.get(d, 0) + 1
            street_no[st] = per_district[d]
        comm_no[st] = comm_no.get(st, 0) + 1
        street_code = f"{DISTRICTS[d]}{street_no[st]:03d}"
        codes.append((k, f"{street_code}{comm_no[st]:03d}", street_code, DISTRICTS[d]))
    codes.sort()
    comm_code = [c[1] for c in codes]
    communities = gpd.GeoDataFrame(
        {
            "code": comm_code,
            "name": [f"合成社区{c[-6:]}" for c in comm_code],
            "street_code": [c[2] for c in codes],
            "district_code": [c[3] for c in codes],
        },
        geometry=list(plane.geoms(cells)),
        crs=4326,
    )

    # barriers
    lines = _barrier_lines(width, height, rng)
    barriers = gpd.GeoDataFrame(
        {"name": [n for n, _, _ in lines], "kind": [k for _, k, _ in lines]},
        geometry=list(plane.geoms(np.array([g for _, _, g in lines], dtype=object))),
        crs=4326,
    )

    # building slots: a lattice of rectangles, each wholly inside one community and off the
    # corridors; a building longer than a slot takes two side by side
    sw, sh = SLOT_M
    ncol, nrow = int(width // sw), int(height // sh)
    qq, rr = np.meshgrid(np.arange(ncol), np.arange(nrow), indexing="xy")
    centre = np.column_stack([(qq.ravel() + 0.5) * sw, (rr.ravel() + 0.5) * sh])
    owner, margin = _nearest_two(centre, seeds, nx, ny)
    half_diag = math.hypot(sw / 2, sh / 2) + 1.0
    ok = margin > half_diag
    for _, kind, line in lines:
        corridor = RIVER_CORRIDOR_M if kind == "river" else ROAD_CORRIDOR_M
        ok[ok] &= _line_distance(centre[ok], line) > corridor + half_diag
    slot_owner = np.where(ok, owner, -1).reshape(nrow, ncol)

    # households: log-normal totals per community, filled compound by compound with the
    # buildings of the sample street's generator
    mu = math.log(HOUSEHOLDS_MEAN) - HOUSEHOLDS_SIGMA**2 / 2
    totals = np.clip(rng.lognormal(mu, HOUSEHOLDS_SIGMA, size=nx * ny), *HOUSEHOLDS_RANGE).astype(int)
    valid = np.flatnonzero(ok)
    order = valid[np.argsort(owner[valid], kind="stable")]
    starts = np.searchsorted(owner[order], np.arange(nx * ny + 1))
    style_names = list(STYLE_WEIGHTS)
    style_p = np.array([STYLE_WEIGHTS[s] for s in style_names])
    style_p /= style_p.sum()
    taken = np.zeros((nrow, ncol), dtype=bool)
    rects: list[tuple[float, float, float, float]] = []
    rows_comm: list[int] = []
    rows_comp: list[int] = []
    rows_kind: list[str] = []
    rows_hh: list[int] = []
    rows_floors: list[int] = []
    n_compounds = 0
    for c in range(nx * ny):
        own = order[starts[c] : starts[c + 1]]
        if len(own) == 0:
            continue
        n_comp = int(rng.integers(1, 5))
        for share in rng.dirichlet(np.ones(n_comp) * 2.0):
            goal = int(totals[c] * share)
            left = [k for k in own.tolist() if not taken[k // ncol, k % ncol]]
            if not left or goal <= 0:
                break
            style = style_names[int(rng.choice(len(style_names), p=style_p))]
            kinds, kp = zip(*STYLES[style][0].items(), strict=True)
            kp_arr = np.array(kp) / sum(kp)
            mid = centre[left[int(rng.integers(len(left)))]]
            near = np.asarray(left)[np.argsort(np.hypot(*(centre[left] - mid).T), kind="stable")]
            n_compounds += 1
            got = 0
            for k in near.tolist():
                if got >= goal:
                    break
                r, q = divmod(k, ncol)
                if taken[r, q]:
                    continue
                spec = _sample_spec(kinds[int(rng.choice(len(kinds), p=kp_arr))], rng)
                x0, x1 = q * sw, (q + 1) * sw
                if spec.length > sw - 6.0:  # needs the slot to the east or to the west as well
                    for q2 in (q + 1, q - 1):
                        if 0 <= q2 < ncol and slot_owner[r, q2] == c and not taken[r, q2]:
                            taken[r, q2] = True
                            x0, x1 = min(x0, q2 * sw), max(x1, (q2 + 1) * sw)
                            break
                    else:
                        continue
                taken[r, q] = True
                cx, cy = (x0 + x1) / 2, (r + 0.5) * sh
                rects.append(
                    (cx - spec.length / 2, cy - spec.depth / 2, cx + spec.length / 2, cy + spec.depth / 2)
                )
                rows_comm.append(c)
                rows_comp.append(n_compounds)
                rows_kind.append(spec.kind)
                rows_hh.append(spec.households)
                rows_floors.append(spec.floors)
                got += spec.households
    box = np.array(rects, dtype=float).reshape(-1, 4)
    xy = np.column_stack([(box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2])
    footprints = shapely.box(box[:, 0], box[:, 1], box[:, 2], box[:, 3])
    comm_idx = np.array(rows_comm, dtype=np.int64)
    buildings = gpd.GeoDataFrame(
        {
            "building_id": [f"B{n:07d}" for n in range(1, len(xy) + 1)],
            "community_code": np.asarray(comm_code, dtype=object)[comm_idx] if len(xy) else [],
            "compound_id": [f"C{n:06d}" for n in rows_comp],
            "kind": np.array(rows_kind, dtype=object),
            "floors": np.array(rows_floors, dtype=np.int64),
            "households": np.array(rows_hh, dtype=np.int64),
            "footprint": gpd.GeoSeries(plane.geoms(footprints), crs=4326),
        },
        geometry=gpd.GeoSeries(shapely.points(plane.to_lonlat(xy)), crs=4326),
        crs=4326,
    )
    buildings = buildings.sort_values(["community_code", "building_id"], kind="stable").reset_index(drop=True)
    return City(communities, buildings, barriers, size)


# --- the methods -------------------------------------------------------------------------------


def _per_community(city: City) -> Iterator[tuple[str, Polygon, gpd.GeoDataFrame, Any]]:
    b = city.buildings
    codes = b["community_code"].to_numpy()
    bounds = np.searchsorted(codes, city.communities["code"].to_numpy(), side="left")
    ends = np.searchsorted(codes, city.communities["code"].to_numpy(), side="right")
    tree = shapely.STRtree(np.asarray(city.barriers.geometry.array, dtype=object))
    barrier_geoms = city.barriers.geometry
    for code, geom, lo, hi in zip(
        city.communities["code"].tolist(),
        city.communities.geometry.tolist(),
        bounds.tolist(),
        ends.tolist(),
        strict=True,
    ):
        hits = np.sort(tree.query(geom, predicate="intersects"))
        yield code, geom, b.iloc[lo:hi], (barrier_geoms.iloc[hits] if len(hits) else None)


def _progress(label: str, total: int) -> Progress:
    prog = Progress(
        TextColumn(f"[bold]{label}[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(),
        transient=True,
        disable=total < 200,
    )
    return prog


def run_ours(city: City, params: PartitionParams) -> list[PartitionResult]:
    """``grid.partition.partition_community`` on every community (with its barriers)."""
    out = []
    n = len(city.communities)
    with _progress("ours: grid.partition", n) as prog:
        task = prog.add_task("", total=n)
        for code, geom, b, barriers in _per_community(city):
            if len(b) == 0:  # no buildings: the whole community is one empty cell
                r = PartitionResult(code, [Cell([], 0, _multi(geom), "no buildings")], {}, ["no buildings"])
                r.quality = community_quality(code, r.cells, target=params.target, metric_epsg=METRIC_EPSG)
                out.append(r)
            else:
                out.append(
                    partition_community(
                        code, geom, b, params=params, barriers=barriers, metric_epsg=METRIC_EPSG
                    )
                )
            prog.advance(task)
    return out


def _kmeans(xy: FloatArray, w: FloatArray, k: int, rng: np.random.Generator) -> FloatArray:
    """Weighted k-means (k-means++ seeding, Lloyd iterations); returns the k centres."""
    n = len(xy)
    if k >= n:
        return xy.copy()
    ww = w + 1e-9
    centres = [xy[int(rng.choice(n, p=ww / ww.sum()))]]
    d2 = np.sum((xy - centres[0]) ** 2, axis=1)
    for _ in range(1, k):
        p = d2 * ww
        nxt = int(rng.choice(n, p=p / p.sum())) if p.sum() > 0 else int(rng.integers(n))
        centres.append(xy[nxt])
        d2 = np.minimum(d2, np.sum((xy - xy[nxt]) ** 2, axis=1))
    c = np.array(centres)
    for _ in range(KMEANS_ITER):
        lab = np.argmin(((xy[:, None, :] - c[None, :, :]) ** 2).sum(axis=2), axis=1)
        new = c.copy()
        for j in range(k):
            m = lab == j
            if m.any():
                new[j] = np.average(xy[m], axis=0, weights=ww[m])
        if np.allclose(new, c):
            break
        c = new
    return c


def baseline_community(
    code: str, geom: Polygon, b: gpd.GeoDataFrame, params: PartitionParams, rng: np.random.Generator
) -> PartitionResult:
    """k-means + Voronoi cells for one community; a building belongs to the cell of its point."""
    lon, lat = shapely.get_x(b.geometry.values), shapely.get_y(b.geometry.values)
    minx, miny, maxx, maxy = geom.bounds
    plane = _Plane((minx + maxx) / 2, (miny + maxy) / 2)
    xy = np.column_stack([(lon - plane.lon0) * plane.kx, (lat - plane.lat0) * plane.ky])
    hh = b["households"].to_numpy(dtype=float)
    k = max(1, min(len(xy), round(hh.sum() / params.target)))
    ids = b["building_id"].tolist()
    if k == 1:
        return PartitionResult(code, [Cell(ids, int(hh.sum()), _multi(geom))])
    centres = _kmeans(xy, hh, k, rng)
    vor = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(plane.to_lonlat(centres)), extend_to=geom, ordered=True)
    )
    pieces = shapely.intersection(vor, geom)
    lab = np.argmin(((xy[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2), axis=1)
    cells = []
    for j, g in enumerate(pieces):
        m = np.flatnonzero(lab == j)
        cells.append(Cell([ids[i] for i in m], int(hh[m].sum()), _multi(g)))
    return PartitionResult(code, cells)


def _multi(g: Any) -> MultiPolygon:
    if isinstance(g, MultiPolygon):
        return g
    return MultiPolygon([p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and p.area > 0])


def run_baseline(city: City, params: PartitionParams) -> list[PartitionResult]:
    """The baseline on every community, with its quality record (as ``partition_community``
    returns one: measured inside the timed loop for both)."""
    out = []
    rng = np.random.default_rng(SEED)
    n = len(city.communities)
    with _progress("baseline: k-means + Voronoi", n) as prog:
        task = prog.add_task("", total=n)
        for code, geom, b, _ in _per_community(city):
            if len(b) == 0:
                r = PartitionResult(code, [Cell([], 0, _multi(geom), "no buildings")])
            else:
                r = baseline_community(code, geom, b, params, rng)
            r.quality = community_quality(code, r.cells, target=params.target, metric_epsg=METRIC_EPSG)
            out.append(r)
            prog.advance(task)
    return out


def split_buildings(results: list[PartitionResult], city: City) -> int:
    """Buildings whose footprint's interior lies in more than one cell."""
    fps = dict(zip(city.buildings["building_id"], city.buildings["footprint"], strict=True))
    split = 0
    for r in results:
        if len(r.cells) < 2:
            continue
        geoms = np.array([c.geometry for c in r.cells], dtype=object)
        mine = np.array([fps[b] for c in r.cells for b in c.buildings], dtype=object)
        if not len(mine):
            continue
        fi, ci = shapely.STRtree(geoms).query(mine, predicate="intersects")
        inner = shapely.relate_pattern(mine[fi], geoms[ci], "2********")
        split += int(np.count_nonzero(np.bincount(fi[inner], minlength=len(mine)) > 1))
    return split


def whole_buildings(
    results: list[PartitionResult], city: City, params: PartitionParams
) -> list[PartitionResult]:
    """The baseline made to keep buildings whole: each footprint is cut out of the cells it
    reaches into and given to the cell of its point (what ours guarantees by construction)."""
    fps = dict(zip(city.buildings["building_id"], city.buildings["footprint"], strict=True))
    out = []
    for r in results:
        if len(r.cells) < 2:
            out.append(r)
            continue
        own = [shapely.union_all([fps[b] for b in c.buildings]) if c.buildings else None for c in r.cells]
        every = shapely.union_all([g for g in own if g is not None])
        cells = []
        for c, g in zip(r.cells, own, strict=True):
            geom = shapely.difference(c.geometry, every)
            if g is not None:
                geom = shapely.union(
                    geom, shapely.intersection(g, shapely.union_all([x.geometry for x in r.cells]))
                )
            cells.append(Cell(c.buildings, c.households, _multi(geom), c.forced))
        fixed = PartitionResult(r.community_code, cells)
        fixed.quality = community_quality(
            r.community_code, cells, target=params.target, metric_epsg=METRIC_EPSG
        )
        out.append(fixed)
    return out


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _current_rss_mib() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return _rss_mib()


_JOB: dict[str, Any] = {}


def _child(name: str) -> tuple[Any, float, float, float]:
    fn: Callable[[], Any] = _JOB[name]
    start = _current_rss_mib()
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    return result, seconds, max(_rss_mib(), start), start


def measured(name: str, fn: Callable[[], Any]) -> tuple[Any, float, float, float]:
    """Run ``fn`` in a forked process: (result, wall seconds, peak RSS MiB of that process, its
    RSS MiB when it started, i.e. the inputs it inherited).

    Falls back to the current process (peak RSS then includes what ran before) where fork is
    not available.
    """
    _JOB[name] = fn
    try:
        ctx = mp.get_context("fork")
    except ValueError:
        return _child(name)
    with ctx.Pool(1) as pool:
        result: tuple[Any, float, float, float] = pool.apply(_child, (name,))
    return result


# --- figures and files ------------------------------------------------------------------------


def _within_bounds(results: list[PartitionResult], params: PartitionParams) -> float:
    hh = [c.households for r in results for c in r.cells]
    return sum(1 for h in hh if params.min <= h <= params.max) / max(1, len(hh))


def cells_frame(results: list[PartitionResult]) -> gpd.GeoDataFrame:
    """All cells, with 15-digit codes (community code + sequence in numbering order)."""
    frames = [r.to_frame() for r in results if r.cells]
    cells = pd.concat(frames, ignore_index=True)
    cells.insert(
        0, "code", [f"{c}{s:03d}" for c, s in zip(cells["community_code"], cells["sequence"], strict=True)]
    )
    return gpd.GeoDataFrame(cells, geometry="geometry", crs=4326)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_city(
    city: City, results: list[PartitionResult], out_dir: Path, extra: dict[str, Any]
) -> dict[str, Path]:
    """Write the city, our cells and ``manifest.json`` (GeoJSON, EPSG:4326) to ``out_dir``.

    Files: ``districts``, ``streets``, ``communities`` (code, name, parent_code, level),
    ``buildings`` (points: building_id, community_code, compound_id, kind, households, cell_code,
    footprint_wkt), ``cells`` (code, community_code, sequence, households, buildings,
    building_ids, forced), ``barriers`` (name, kind).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    cells = cells_frame(results)
    cell_of = {}
    for r in results:
        for b_id, idx in r.building_cells().items():
            cell_of[b_id] = f"{r.community_code}{idx + 1:03d}"
    b = city.buildings
    buildings = gpd.GeoDataFrame(
        {
            "building_id": b["building_id"],
            "community_code": b["community_code"],
            "compound_id": b["compound_id"],
            "kind": b["kind"],
            "households": b["households"],
            "cell_code": [cell_of.get(i) for i in b["building_id"]],
            "footprint_wkt": shapely.to_wkt(
                np.asarray(b["footprint"].values, dtype=object), rounding_precision=-1
            ),
        },
        geometry=b.geometry,
        crs=4326,
    )
    comm = city.communities.rename(columns={"street_code": "parent_code"}).drop(columns=["district_code"])
    comm["level"] = "community"
    streets = city.streets()
    streets["level"] = "street"
    districts = city.districts()
    districts["level"] = "district"
    layers = {
        "districts": districts,
        "streets": streets,
        "communities": comm,
        "buildings": buildings,
        "cells": cells,
        "barriers": city.barriers,
    }
    paths: dict[str, Path] = {}
    files: dict[str, Any] = {}
    for name, gdf in layers.items():
        path = out_dir / f"{name}.geojson"
        if path.exists():
            path.unlink()
        gdf.to_file(path, driver="GeoJSON")
        paths[name] = path
        files[name] = {"path": path.name, "rows": len(gdf), "sha256": _sha256(path)}
    manifest = {
        "benchmark": NAME,
        "size": city.size,
        "seed": SEED,
        "crs": "EPSG:4326",
        "metric_epsg": METRIC_EPSG,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "generator": "benchmarks/bench_partition.py generate_city; cells by grid.partition.partition_community",
        "counts": {
            "districts": len(districts),
            "streets": len(streets),
            "communities": len(comm),
            "buildings": len(buildings),
            "households": int(buildings["households"].sum()),
            "cells": len(cells),
            "barriers": len(city.barriers),
        },
        "files": files,
        **extra,
    }
    paths["manifest"] = out_dir / "manifest.json"
    paths["manifest"].write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return paths


def load_city(size: str = "full", out_dir: Path | None = None) -> dict[str, gpd.GeoDataFrame]:
    """The kept city and cells: ``{"districts", "streets", "communities", "buildings", "cells",
    "barriers"}`` -> GeoDataFrame (EPSG:4326), and ``"manifest"`` -> dict under ``.attrs``.

    Raises FileNotFoundError when ``python -m benchmarks --only partition --size SIZE`` has not
    been run yet.
    """
    base = (out_dir or OUT_DIR) / check_size(size)
    manifest_path = base / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(
            f"{manifest_path} is missing: run `python -m benchmarks --only partition --size {size}` first"
        )
    manifest = json.loads(manifest_path.read_text())
    out: dict[str, gpd.GeoDataFrame] = {}
    for name, meta in manifest["files"].items():
        gdf = gpd.read_file(base / meta["path"])
        for col in ("code", "parent_code", "community_code", "cell_code", "building_id"):
            if col in gdf.columns:
                gdf[col] = gdf[col].astype("string").astype(object)
        gdf.attrs["manifest"] = manifest
        out[name] = gdf
    return out


# --- the benchmark ----------------------------------------------------------------------------


def run(size: str) -> dict[str, Any]:
    """Generate the city, partition it both ways, print the table and quality; keep the files."""
    check_size(size)
    params = PartitionParams()
    out = console()
    t0 = time.perf_counter()
    city = generate_city(size)
    gen_s = time.perf_counter() - t0
    n_comm, n_b = len(city.communities), len(city.buildings)
    households = int(city.buildings["households"].sum())
    crossed = sum(1 for *_, bar in _per_community(city) if bar is not None)
    out.print(
        f"city: {n_comm:,} communities ({crossed:,} crossed by a barrier), {n_b:,} buildings, "
        f"{households:,} households, {len(city.barriers)} barrier lines (generated in {gen_s:.1f} s)"
    )
    ours, ours_s, ours_rss, ours_start = measured("ours", lambda: run_ours(city, params))
    base, base_s, base_rss, base_start = measured("baseline", lambda: run_baseline(city, params))
    q_ours = quality_report(ours, params.target)
    q_base = quality_report(base, params.target)
    safe = whole_buildings(base, city, params)
    q_safe = quality_report(safe, params.target)
    o, b, w = q_ours["overall"], q_base["overall"], q_safe["overall"]
    figures: dict[str, Any] = {}
    for key, results, q, secs, rss, start in (
        ("ours", ours, o, ours_s, ours_rss, ours_start),
        ("baseline", base, b, base_s, base_rss, base_start),
        ("baseline_whole_buildings", safe, w, None, None, None),
    ):
        figures[key] = {
            **q,
            "within_bounds": _within_bounds(results, params),
            "split_buildings": split_buildings(results, city),
            "seconds": secs,
            "peak_rss_mib": rss,
            "rss_above_start_mib": None if rss is None or start is None else rss - start,
        }
    fo, fb, fw = figures["ours"], figures["baseline"], figures["baseline_whole_buildings"]
    km, kw = "k-means+Voronoi", "k-means+Voronoi, whole buildings"
    rows = [
        Row("cells within ±10% of target", "%", 100 * o["within_10"], km, 100 * b["within_10"], "higher"),
        Row("cells within ±20% of target", "%", 100 * o["within_20"], km, 100 * b["within_20"], "higher"),
        Row(
            f"cells within [{params.min}, {params.max}]",
            "%",
            100 * fo["within_bounds"],
            km,
            100 * fb["within_bounds"],
            "higher",
        ),
        Row("buildings split between cells", "", fo["split_buildings"], km, fb["split_buildings"], "lower"),
        Row(
            "contiguous cells",
            "%",
            100 * o["contiguous"] / o["cells"],
            km,
            100 * b["contiguous"] / b["cells"],
            "higher",
        ),
        Row("Polsby-Popper mean", "", o["pp_mean"], km, b["pp_mean"], "higher", "baseline splits buildings"),
        Row("Polsby-Popper min", "", o["pp_min"], km, b["pp_min"], "higher"),
        Row("Polsby-Popper mean", "", o["pp_mean"], kw, w["pp_mean"], "higher"),
        Row("Polsby-Popper min", "", o["pp_min"], kw, w["pp_min"], "higher"),
        Row(
            "contiguous cells",
            "%",
            100 * o["contiguous"] / o["cells"],
            kw,
            100 * w["contiguous"] / w["cells"],
            "higher",
        ),
        Row("wall time", "s", ours_s, km, base_s, "lower"),
        Row("peak RSS of the forked run", "MiB", ours_rss, km, base_rss, "lower"),
        Row(
            "peak RSS above the inherited city",
            "MiB",
            fo["rss_above_start_mib"],
            km,
            fb["rss_above_start_mib"],
            "lower",
        ),
    ]
    print_table(
        f"partition ({size}): {n_comm:,} communities, {households:,} households; ours = grid.partition",
        rows,
        [
            f"target {params.target} households per cell, bounds [{params.min}, {params.max}]; "
            f"Polsby-Popper 4πA/P² measured in EPSG:{METRIC_EPSG}",
            "baseline: household-weighted k-means (k = round(households/target)) on the building points, "
            "Voronoi cells of the centres clipped to the community; it ignores barriers and cuts through "
            "buildings. 'whole buildings': the same cells with every footprint given to the cell of its point "
            "(not timed)",
            f"cells: ours {o['cells']:,}, baseline {b['cells']:,}; ours/baseline wall time "
            f"{ours_s / base_s:.2f} (target: within 3); each run in its own forked process, "
            f"quality records included",
            f"RSS of each forked run at its start (the city it inherits): ours {ours_start:,.0f} MiB, "
            f"baseline {base_start:,.0f} MiB",
        ],
    )
    out.print(format_quality(q_ours, max_rows=10))
    out.print()
    t1 = time.perf_counter()
    paths = write_city(
        city,
        ours,
        OUT_DIR / size,
        {
            "params": {"target": params.target, "min": params.min, "max": params.max, "seed": params.seed},
            "quality_overall": o,
        },
    )
    out.print(f"city and cells kept in {paths['manifest'].parent} ({time.perf_counter() - t1:.1f} s)")
    return {
        "benchmark": NAME,
        "size": size,
        "params": {
            "communities": n_comm,
            "communities_crossed_by_barriers": crossed,
            "buildings": n_b,
            "households": households,
            "barriers": len(city.barriers),
            "seed": SEED,
            "target": params.target,
            "min": params.min,
            "max": params.max,
        },
        "generate_seconds": gen_s,
        "time_ratio": ours_s / base_s if base_s > 0 else None,
        "forced": q_ours["forced"][:50],
        "out_dir": str(paths["manifest"].parent),
        "ours": {k: v for k, v in fo.items() if k not in ("by_community", "forced")},
        "baseline": {k: v for k, v in fb.items() if k not in ("by_community", "forced")},
        "baseline_whole_buildings": {k: v for k, v in fw.items() if k not in ("by_community", "forced")},
        "rows": [r.to_dict() for r in rows],
    }
