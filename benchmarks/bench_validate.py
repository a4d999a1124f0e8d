"""Validating a community layer: ``grid.validate.validate_units`` vs a naive pairwise check.

The layer: a rectangle near Beijing cut into streets (square parents, 5 x 5 communities each;
toy 12 streets = 300 communities, full 300 streets = 7,500 communities, the size of
Beijing's community layer). Each street is tiled by the Voronoi cells of a jittered 5 x 5
grid of seeds clipped to the street (mean community 0.1 km²), built directly in WGS84
longitude/latitude like real boundary files (edges straight in lon/lat, shared vertices).
Community codes are 12 digits under 9-digit street codes (110108001...), so the layer uses
several streets: a street code has room for 999 communities only.

Planted defects, each in its own street, between two neighbouring communities A and B:

* **overlap**: A also takes the part of B inside a 40 m square on their shared edge;
* **gap**: that square is cut out of both A and B.

Accuracy: the planted defects ours reports (count found / planted) and anything else it
reports (false findings; the clean layer has none). The baselines are the naive check a script
would do: project to metres, then for every one of the n(n-1)/2 pairs ``intersects`` and,
where true, ``intersection().area > tolerance``; once as a plain Python double loop, once
vectorised per row (one row against all later ones, prepared geometries). They only look for
overlaps, not gaps; ours runs all the checks of ``validate_units`` (codes, parents, overlaps,
coverage gaps, slivers). Every time is measured on the whole layer, in the same run: with
shapely 2 a pair costs well under a microsecond, so even the 28 million pairs of the full
layer take seconds and nothing needs extrapolating.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache, partial
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from shapely.geometry import MultiPoint, Polygon, box
from shapely.geometry.base import BaseGeometry

from benchmarks._common import Row, check_size, print_table, timed
from grid.levels import default_levels

NAME: Final = "validate"
DESCRIPTION: Final = (
    "validate a Voronoi community layer (toy 300, full 7,500 cells) with planted overlaps and "
    "gaps: grid.validate.validate_units vs a naive O(n²) pairwise intersects/intersection check"
)

SEED: Final = 7500
METRIC_EPSG: Final = 4548  # CGCS2000 / 3-degree Gauss-Kruger CM 117E
ORIGIN_LONLAT: Final = (116.25, 39.85)  # south-west corner of the layer
DISTRICT: Final = "110108"
PER_STREET: Final = 5  # communities per street: PER_STREET x PER_STREET
CELL_M: Final = math.sqrt(100_000.0)  # mean community: 0.1 km²
JITTER: Final = 0.35  # seeds move up to this share of CELL_M from the grid point
SQUARE_M: Final = 40.0  # side of a planted defect
MIN_EDGE_M: Final = 80.0  # shared edges at least this long host a planted defect
TOLERANCE_M2: Final = 25.0
N_OVERLAPS: Final = 3
N_GAPS: Final = 3
SIZES: Final[dict[str, dict[str, int]]] = {
    # streets_x * streets_y * PER_STREET² cells; times are the best of `repeat` runs
    "toy": {"streets_x": 4, "streets_y": 3, "repeat": 1},
    "full": {"streets_x": 20, "streets_y": 15, "repeat": 3},
}

FloatArray = npt.NDArray[np.float64]


@lru_cache(maxsize=4)
def _transformer(src: int, dst: int) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


def _reproject(geoms: Any, src: int, dst: int) -> Any:
    tr = _transformer(src, dst)

    def fn(xy: FloatArray) -> FloatArray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])

    return shapely.transform(geoms, fn)


# --- the layer ---------------------------------------------------------------------------------


def metres_per_degree(lat: float) -> tuple[float, float]:
    """(metres per degree of longitude, of latitude) at ``lat`` on the WGS84 ellipsoid."""
    a, e2 = 6378137.0, 6.69437999014e-3
    phi = math.radians(lat)
    w = 1.0 - e2 * math.sin(phi) ** 2
    return (
        math.radians(1.0) * a / math.sqrt(w) * math.cos(phi),
        math.radians(1.0) * a * (1.0 - e2) / w**1.5,
    )


KX, KY = metres_per_degree(ORIGIN_LONLAT[1])


def _length_m(geom: BaseGeometry) -> float:
    """Length in metres of a short lon/lat line (local scale)."""
    return float(shapely.length(shapely.transform(geom, lambda xy: xy * np.array([KX, KY]))))


def _street_cells(rect: Polygon, rng: np.random.Generator) -> list[Polygon]:
    """Voronoi cells of a jittered PER_STREET x PER_STREET grid of seeds, clipped to ``rect``.

    Built in longitude/latitude, like real boundary files: edges are straight in lon/lat and
    neighbours share their vertices.
    """
    x0, y0, x1, y1 = rect.bounds
    sx, sy = (x1 - x0) / PER_STREET, (y1 - y0) / PER_STREET
    gx, gy = np.meshgrid(np.arange(PER_STREET) + 0.5, np.arange(PER_STREET) + 0.5)
    jitter = rng.uniform(-JITTER, JITTER, size=(2, PER_STREET * PER_STREET))
    xs = x0 + (gx.ravel() + jitter[0]) * sx
    ys = y0 + (gy.ravel() + jitter[1]) * sy
    diagram = shapely.voronoi_polygons(MultiPoint(np.column_stack([xs, ys])), extend_to=rect)
    cells = [shapely.intersection(c, rect) for c in shapely.get_parts(diagram)]
    cells = [c for c in cells if isinstance(c, Polygon) and c.area > 0]
    # codes in reading order: rows from the north, west to east inside a row
    return sorted(cells, key=lambda c: (-((c.centroid.y - y0) // sy), c.centroid.x))


def _defect_site(cells: list[Polygon], rng: np.random.Generator) -> tuple[int, int, Polygon] | None:
    """Two neighbours (i, j) and a SQUARE_M square centred on their shared edge, inside both."""
    pairs: list[tuple[int, int, BaseGeometry]] = []
    for i in range(len(cells)):
        for j in range(i + 1, len(cells)):
            edge = cells[i].intersection(cells[j])
            if edge.geom_type == "LineString" and _length_m(edge) >= MIN_EDGE_M:
                pairs.append((i, j, edge))
    hx, hy = SQUARE_M / 2 / KX, SQUARE_M / 2 / KY
    for k in rng.permutation(len(pairs)).tolist():
        i, j, edge = pairs[k]
        mid = edge.interpolate(0.5, normalized=True)
        square = box(mid.x - hx, mid.y - hy, mid.x + hx, mid.y + hy)
        piece = square.intersection(cells[j])
        if square.within(cells[i].union(cells[j])) and piece.area * KX * KY >= 8 * TOLERANCE_M2:
            return i, j, square
    return None


def make_layer(size: str, seed: int = SEED) -> dict[str, Any]:
    """The layer at ``size`` (lon/lat, EPSG:4326) with its planted defects.

    Returns
    -------
    dict
        ``units`` and ``parents`` (GeoDataFrames), ``overlaps`` (list of code pairs), ``gaps``
        (list of (street code, lon/lat square)), ``n_streets``.
    """
    p = SIZES[check_size(size)]
    nx, ny = p["streets_x"], p["streets_y"]
    rng = np.random.default_rng(seed)
    lon0, lat0 = ORIGIN_LONLAT
    dlon, dlat = PER_STREET * CELL_M / KX, PER_STREET * CELL_M / KY
    n_streets = nx * ny
    planted_in = rng.choice(n_streets, size=N_OVERLAPS + N_GAPS, replace=False).tolist()
    kind_of = {s: ("overlap" if k < N_OVERLAPS else "gap") for k, s in enumerate(planted_in)}

    rows: list[dict[str, Any]] = []
    parents: list[dict[str, Any]] = []
    overlaps: list[tuple[str, str]] = []
    gaps: list[tuple[str, Polygon]] = []
    for s in range(n_streets):
        col, row = s % nx, s // nx
        rect = box(lon0 + col * dlon, lat0 + row * dlat, lon0 + (col + 1) * dlon, lat0 + (row + 1) * dlat)
        street = f"{DISTRICT}{s + 1:03d}"
        parents.append({"code": street, "name": f"街道{s + 1}", "level": "street", "geometry": rect})
        polys = _street_cells(rect, rng)
        cells: list[BaseGeometry] = list(polys)
        codes = [f"{street}{k + 1:03d}" for k in range(len(cells))]
        if s in kind_of:
            site = _defect_site(polys, rng)
            if site is None:
                raise RuntimeError(f"no site for a planted {kind_of[s]} in street {street}")
            i, j, square = site
            if kind_of[s] == "overlap":
                cells[i] = cells[i].union(square.intersection(cells[j]))
                overlaps.append((codes[i], codes[j]))
            else:
                cells[i] = cells[i].difference(square)
                cells[j] = cells[j].difference(square)
                gaps.append((street, square))
        for code, cell in zip(codes, cells, strict=True):
            rows.append(
                {
                    "code": code,
                    "name": f"社区{code[-3:]}",
                    "level": "community",
                    "parent_code": street,
                    "geometry": cell,
                }
            )
    return {
        "units": gpd.GeoDataFrame(rows, geometry="geometry", crs=4326),
        "parents": gpd.GeoDataFrame(parents, geometry="geometry", crs=4326),
        "overlaps": overlaps,
        "gaps": gaps,
        "n_streets": n_streets,
    }


# --- ours and the baseline ------------------------------------------------------------------


def ours(units: gpd.GeoDataFrame, parents: gpd.GeoDataFrame) -> list[Any]:
    from grid.validate import validate_units

    return validate_units(units, levels=default_levels(), parents=parents, tolerance_m2=TOLERANCE_M2)


def _metric(units: gpd.GeoDataFrame) -> tuple[np.ndarray, list[str]]:
    geoms = np.asarray(_reproject(units.geometry.values, 4326, METRIC_EPSG), dtype=object)
    return geoms, [str(c) for c in units["code"].tolist()]


def naive_loop(units: gpd.GeoDataFrame) -> set[tuple[str, str]]:
    """Every pair in a Python loop: ``a.intersects(b)``, then ``a.intersection(b).area`` (m²)."""
    geoms, codes = _metric(units)
    found: set[tuple[str, str]] = set()
    n = len(geoms)
    for i in range(n):
        a = geoms[i]
        for j in range(i + 1, n):
            b = geoms[j]
            if a.intersects(b) and a.intersection(b).area > TOLERANCE_M2:
                found.add((min(codes[i], codes[j]), max(codes[i], codes[j])))
    return found


def naive_vectorised(units: gpd.GeoDataFrame) -> set[tuple[str, str]]:
    """Every pair, one numpy call per row against the rest (prepared geometries)."""
    geoms, codes = _metric(units)
    shapely.prepare(geoms)
    found: set[tuple[str, str]] = set()
    for i in range(len(geoms) - 1):
        rest = geoms[i + 1 :]
        hits = np.flatnonzero(shapely.intersects(geoms[i], rest))
        if not hits.size:
            continue
        areas = shapely.area(shapely.intersection(geoms[i], rest[hits]))
        for h in hits[areas > TOLERANCE_M2].tolist():
            found.add((min(codes[i], codes[i + 1 + h]), max(codes[i], codes[i + 1 + h])))
    return found


def score(findings: list[Any], layer: dict[str, Any]) -> dict[str, Any]:
    """Planted defects found by ``findings`` and the findings that match no planted defect."""
    planted_overlaps = {tuple(sorted(p)) for p in layer["overlaps"]}
    squares = [(street, sq.buffer(1.0 / KY)) for street, sq in layer["gaps"]]
    found_overlaps: set[tuple[str, ...]] = set()
    found_gaps: set[int] = set()
    other: Counter[str] = Counter()
    for f in findings:
        if f.kind == "overlap" and f.severity == "error" and tuple(sorted(f.codes)) in planted_overlaps:
            found_overlaps.add(tuple(sorted(f.codes)))
            continue
        if f.kind == "gap" and f.severity == "error" and f.location is not None:
            pt = shapely.Point(*f.location)
            hit = [k for k, (street, sq) in enumerate(squares) if street in f.codes and sq.contains(pt)]
            if hit:
                found_gaps.add(hit[0])
                continue
        other[f"{f.kind}/{f.severity}"] += 1
    return {
        "overlaps_planted": len(planted_overlaps),
        "overlaps_found": len(found_overlaps),
        "gaps_planted": len(squares),
        "gaps_found": len(found_gaps),
        "false_findings": sum(other.values()),
        "false_by_kind": dict(sorted(other.items())),
    }


BASELINES: Final = {
    "vectorised": ("all pairs, numpy per row", naive_vectorised),
    "loop": ("all pairs, Python loop", naive_loop),
}


def run(size: str) -> dict[str, Any]:
    """Build the layer, validate it with ours and the baselines, print the table, return figures."""
    params = dict(SIZES[check_size(size)])
    layer = make_layer(size)
    units, parents = layer["units"], layer["parents"]
    n = len(units)
    # warm up (imports, cached pyproj transformers) on the first street, untimed
    first = units["parent_code"] == parents["code"].iloc[0]
    ours(units[first], parents.iloc[:1])
    _metric(units[first])
    repeat = params["repeat"]
    findings, t_ours = timed(lambda: ours(units, parents), repeat)
    acc = score(findings, layer)
    planted = acc["overlaps_planted"] + acc["gaps_planted"]
    found = acc["overlaps_found"] + acc["gaps_found"]
    planted_pairs = {(min(a, b), max(a, b)) for a, b in layer["overlaps"]}
    result: dict[str, Any] = {
        "benchmark": NAME,
        "size": size,
        "params": {
            **params,
            "cells": n,
            "pairs": n * (n - 1) // 2,
            "streets": layer["n_streets"],
            "seed": SEED,
        },
        "ours": {**acc, "found": found, "planted": planted, "seconds": t_ours, "findings": len(findings)},
    }
    rows: list[Row] = []
    for key, (label, fn) in BASELINES.items():
        pairs, seconds = timed(partial(fn, units), repeat)
        hits = len(pairs & planted_pairs)
        result[f"baseline_{key}"] = {
            "found": hits,
            "false_findings": len(pairs) - hits,
            "seconds": seconds,
            "ours_speedup": seconds / t_ours if t_ours > 0 else None,
        }
        if key == "vectorised":  # both baselines find the same pairs; show the accuracy once
            rows += [
                Row("planted defects found", "", found, label, hits, "higher", f"of {planted}"),
                Row(
                    "planted overlaps found",
                    "",
                    acc["overlaps_found"],
                    label,
                    hits,
                    "higher",
                    f"of {acc['overlaps_planted']}",
                ),
                Row(
                    "planted gaps found",
                    "",
                    acc["gaps_found"],
                    label,
                    0,
                    "higher",
                    f"of {acc['gaps_planted']}",
                ),
                Row("false findings", "", acc["false_findings"], label, len(pairs) - hits, "lower"),
            ]
        rows.append(Row(f"time, {n:,} cells", "s", t_ours, label, seconds, "lower"))
    notes = [
        f"{n:,} communities in {layer['n_streets']} streets (Voronoi cells in lon/lat, seed {SEED}); "
        f"planted {acc['overlaps_planted']} overlaps and {acc['gaps_planted']} gaps of a {SQUARE_M:g} m "
        f"square, tolerance {TOLERANCE_M2:g} m²",
        "ours = grid.validate.validate_units with all its checks (codes, parents, overlaps, gaps, "
        f"slivers); baselines test all {n * (n - 1) // 2:,} pairs with intersects + intersection area "
        f"(overlaps only: they find no gaps); all times measured on the whole layer, best of {repeat}",
    ]
    if acc["false_by_kind"]:
        notes.append(f"ours' findings that match no planted defect: {acc['false_by_kind']}")
    result["rows"] = [r.to_dict() for r in rows]
    print_table(f"validate ({size}): community layer with planted overlaps and gaps", rows, notes)
    return result
