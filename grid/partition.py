"""Balanced grid cells of about 300 households from a community's buildings.

:func:`partition_community` cuts one community (社区) into grid cells (网格) that

* tile the community exactly (no gaps, no overlaps: ``grid.validate.validate_units`` finds
  nothing), never split a building, and are contiguous and compact;
* hold a number of households as close to ``target`` as the buildings allow, inside
  ``[min, max]`` whenever the search finds a partition within bounds; a single building above
  ``max`` becomes its own cell and is reported;
* do not cross barrier lines (major roads, rivers, railways) unless they must.

:func:`quality_report` summarises the results of many communities (cells, households min /
median / max, share of cells within +-10% and +-20% of the target, Polsby-Popper compactness
in a metric CRS, contiguity, barrier crossings, forced exceptions); :func:`format_quality`
prints it for people.

How it works
------------
1. **Plane.** Work happens in a local plane that is an *affine* image of longitude/latitude
   (x = (lon - lon0) * metres per degree of longitude at lat0, y = (lat - lat0) * metres per
   degree of latitude; WGS84 radii of curvature at the community's centre). Distances are
   metric to about 1e-4 over a community, and because the map is affine, straight lon/lat
   edges stay straight: a node put on a community edge in the plane lies on the same edge in
   lon/lat, so the cells tile the stored EPSG:4326 polygon exactly, with no projection
   slivers (a Gauss-Kruger projection bends a 500 m lon/lat edge by millimetres). The
   community's own vertices are mapped back to their original coordinates bit for bit.
   Compactness is *measured* in the metric CRS (CGCS2000 Gauss-Kruger zone by default).
2. **Groups.** Buildings at one location (within 1 mm), with overlapping footprints, or with a
   point inside another's footprint are kept together (one *atom*): no line separates them.
3. **Faces.** The community boundary, the barrier lines, the footprints' outlines and the
   Voronoi edges of the building points (one diagram per barrier region, so no building's land
   reaches across a barrier) are noded together once and polygonized: the faces are an exact
   planar subdivision of the community, and neighbouring faces share their edges vertex for
   vertex. A face inside a footprint belongs to that building; any other face to the nearest
   building point of its barrier region.
4. **Atoms.** Each group's faces connected to its point form its atom. The rest (a piece of a
   Voronoi cell cut off by a footprint or a concave boundary, a barrier region without
   buildings) joins the adjacent atom with the longest shared edge, preferring one of the same
   barrier region; a part touching nothing (an exclave without buildings) goes to the nearest
   atom, and that cell is reported as not contiguous (a speck below 1 cm² touching nothing is
   floating point noise and dropped). Atoms are adjacent when they share an edge of positive
   length, found by matching the faces' identical edge segments.
5. **Partition.** Buildings above ``max`` become their own cells. Each connected part of the
   rest is split at barriers into blocks (a block too small for a cell within bounds joins its
   best neighbour: a barrier is crossed only where it must be), and each block is cut into
   ``k`` connected cells, ``k`` minimising ``(H - k*target)**2 / k`` among the counts that can
   keep every cell within bounds (the next counts are tried while cells are out of bounds, or
   once while one is more than 20% off). The search: balanced region growing from spread-out
   seeds (farthest-point, then household-weighted k-means++ restarts), then local search that
   moves single boundary atoms and swaps pairs while both cells stay connected, accepting a
   change when it lowers, lexicographically, (households outside ``[min, max]``, cost); cost =
   sum over cells of the balance cost (:data:`BALANCE_COST`: gentle within +-10% of the
   target, steep beyond +-10% and +-20%) + ``compactness_weight * (P / (2 * sqrt(pi * A)) - 1)``
   (zero for a disc; 1/sqrt(Polsby-Popper) - 1) + ``barrier_penalty * (barrier regions - 1)``.
   The perimeter P and area A of a cell come from its atoms' perimeters, areas and shared edge
   lengths, so a move is evaluated from the moved atom's neighbours only.
6. **Cells.** A cell is the coverage union of its faces, mapped back to lon/lat (MultiPolygon).
   A community whose households make one cell (and that no barrier crosses) is returned whole.

Cell order (the order of ``PartitionResult.cells``, in which the storage layer numbers cells
001, 002, ...): north to south by row band, then west to east. Each cell's reference point is
``shapely.point_on_surface`` of its lon/lat geometry. Row bands are ``h`` metres high, ``h``
the side of a square of the mean cell area; a cell's band is ``floor((N - lat) * m / h)``, N
the community's northern bound and m the metres per degree of latitude there. Cells are sorted
by (band, longitude, -latitude).

Errors (:class:`grid.errors.InputError` with these codes): ``no_buildings``,
``building_outside_community``, ``bad_households`` (missing, negative or fractional),
``duplicate_building`` (the same id twice), ``missing_field``, ``bad_building_geometry``,
``bad_params``; :class:`grid.errors.GeometryError` for a community that is not a valid polygon.

>>> from shapely.geometry import box
>>> import geopandas as gpd
>>> x0, y0 = 116.46, 39.89
>>> community = box(x0, y0, x0 + 0.006, y0 + 0.002)  # about 510 m x 220 m
>>> buildings = gpd.GeoDataFrame(
...     {"building_id": [f"B{i}" for i in range(6)], "households": [100] * 6},
...     geometry=gpd.points_from_xy([x0 + 0.0005 + 0.001 * i for i in range(6)], [y0 + 0.001] * 6),
...     crs=4326,
... )
>>> result = partition_community("110105016061", community, buildings)
>>> [(c.households, c.buildings) for c in result.cells]
[(300, ['B0', 'B1', 'B2']), (300, ['B3', 'B4', 'B5'])]
"""

from __future__ import annotations

import functools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from grid.datum import metric_crs_for, to_metric
from grid.errors import GeometryError, InputError

__all__ = [
    "Cell",
    "PartitionParams",
    "PartitionResult",
    "community_quality",
    "format_quality",
    "partition_community",
    "quality_report",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Building points closer than this (metres) count as one location.
SAME_POINT_M = 1e-3
#: Messages list at most this many building ids (``details`` carries all of them).
MAX_IDS = 10
#: Shared edges shorter than this (metres) do not make two atoms adjacent.
MIN_SHARED_M = 1e-6
#: A face smaller than this (m²) touching no other face is floating point noise and dropped
#: (grid.validate ignores gaps below 0.01 m²).
NOISE_AREA_M2 = 1e-4

#: A cell's state after a move: households, violation, area, perimeter, barrier regions,
#: atoms of the moved atom's region, cost.
_CellState = tuple[int, int, float, float, int, int, float]
_TWO_SQRT_PI = 2.0 * math.sqrt(math.pi)
#: Balance cost of a cell ``a*d² + b*max(0, d-0.1)² + c*max(0, d-0.2)²`` with d its relative
#: deviation from the target: gentle inside +-10%, steep beyond +-10% and +-20%, so that
#: compactness decides among cells that are all near the target.
BALANCE_COST = (0.25, 4.0, 16.0)
#: The search of a block stops after this many restarts in a row that found nothing better.
STALE_RESTARTS = 1

_WGS84_A = 6378137.0
_WGS84_E2 = 6.69437999014e-3


# --------------------------------------------------------------------------------------------
# public types


@dataclass(frozen=True)
class PartitionParams:
    """What a good cell is and how hard to search.

    Attributes
    ----------
    target : int
        Households a cell should hold (DB11/T 2157: about 300).
    min, max : int
        Bounds a cell should stay within; ``0 < min <= target <= max``.
    barrier_penalty : float
        Cost of a cell spanning one more barrier region, in units of a squared relative
        deviation from the target (0.5 = the cost of a cell 71% off target). Bounds always come
        first: a barrier is crossed when that is what keeps cells within ``[min, max]``.
    compactness_weight : float
        Weight of ``1/sqrt(Polsby-Popper) - 1`` per cell against the balance cost (0.0025 for a
        cell 10% off target, 0.34 for one 30% off). Higher: rounder cells, fewer of them near
        the target. On 1,000 communities of the benchmark city: 0.1 gives 91.1% of cells within
        +-20% and a mean Polsby-Popper of 0.613, 0.15 gives 90.8% and 0.622, 0.2 gives 90.3%
        and 0.629.
    restarts : int
        Region-growing restarts per block (the search stops early once every cell is within
        +-10% of the target, or after a restart that found nothing better).
    seed : int
        Seed of the restarts' random choices; the same inputs and seed give the same cells.
    """

    target: int = 300
    min: int = 200
    max: int = 400
    barrier_penalty: float = 0.5
    compactness_weight: float = 0.15
    restarts: int = 6
    seed: int = 0

    def __post_init__(self) -> None:
        ints = {"target": self.target, "min": self.min, "max": self.max, "restarts": self.restarts}
        for name, value in ints.items():
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise InputError(f"{name} must be an integer, not {value!r}", code="bad_params")
        if not 0 < self.min <= self.target <= self.max:
            raise InputError(
                f"need 0 < min <= target <= max, got min={self.min}, target={self.target}, max={self.max}",
                code="bad_params",
            )
        if self.restarts < 1:
            raise InputError(f"restarts must be >= 1, not {self.restarts}", code="bad_params")
        for name, fvalue in (
            ("barrier_penalty", self.barrier_penalty),
            ("compactness_weight", self.compactness_weight),
        ):
            if not (isinstance(fvalue, int | float) and math.isfinite(fvalue) and fvalue >= 0):
                raise InputError(f"{name} must be a number >= 0, not {fvalue!r}", code="bad_params")


@dataclass
class Cell:
    """One grid cell.

    Attributes
    ----------
    buildings : list of str
        Ids of the buildings in the cell, in input order.
    households : int
        Their households.
    geometry : MultiPolygon
        EPSG:4326 longitude/latitude.
    forced : str or None
        Why the cell breaks a rule, when it must: ``"single building above max (480 > 400)"``,
        ``"no partition within bounds: community total 150 < min 200"``, ``"crosses a barrier
        line ..."``, ``"not contiguous ..."``; several reasons are joined with ``"; "``.
    """

    buildings: list[str]
    households: int
    geometry: MultiPolygon
    forced: str | None = None


@dataclass
class PartitionResult:
    """The cells of one community, in numbering order (see the module docstring).

    ``quality`` is this community's quality record (as in :func:`quality_report`'s
    ``communities`` entries, plus ``cells_detail``: one dict per cell); ``warnings`` are things
    about the input worth a look (clipped footprints, buildings kept together...).
    """

    community_code: str
    cells: list[Cell]
    quality: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_frame(self) -> gpd.GeoDataFrame:
        """The cells as a GeoDataFrame (EPSG:4326): sequence (1-based), community_code,
        households, buildings (count), building_ids (comma-separated), forced, geometry."""
        return gpd.GeoDataFrame(
            {
                "sequence": list(range(1, len(self.cells) + 1)),
                "community_code": [self.community_code] * len(self.cells),
                "households": [c.households for c in self.cells],
                "buildings": [len(c.buildings) for c in self.cells],
                "building_ids": [",".join(c.buildings) for c in self.cells],
                "forced": [c.forced for c in self.cells],
            },
            geometry=[c.geometry for c in self.cells],
            crs=4326,
        )

    def building_cells(self) -> dict[str, int]:
        """building id -> index of its cell in ``cells`` (0-based)."""
        return {b: i for i, c in enumerate(self.cells) for b in c.buildings}


# --------------------------------------------------------------------------------------------
# small helpers


def _ids_text(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:MAX_IDS])
    return shown + (f" and {len(ids) - MAX_IDS} more" if len(ids) > MAX_IDS else "")


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            if ri < rj:
                self.parent[rj] = ri
            else:
                self.parent[ri] = rj


def _polygon_parts(geom: BaseGeometry | None) -> list[Polygon]:
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _polygon_parts(g)]
    return []


def _as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    if isinstance(geom, MultiPolygon):
        return geom
    return MultiPolygon(_polygon_parts(geom))


class _Plane:
    """Longitude/latitude <-> a local affine plane in metres (see the module docstring)."""

    def __init__(self, lon0: float, lat0: float) -> None:
        phi = math.radians(lat0)
        w = 1.0 - _WGS84_E2 * math.sin(phi) ** 2
        self.ky = _WGS84_A * (1.0 - _WGS84_E2) / w**1.5 * math.pi / 180.0  # m per degree of latitude
        self.kx = _WGS84_A / math.sqrt(w) * math.cos(phi) * math.pi / 180.0  # ... of longitude
        self.lon0, self.lat0 = lon0, lat0
        self._keys = np.zeros(0, dtype=np.complex128)
        self._exact = np.zeros((0, 2))

    def fwd(self, xy: FloatArray) -> FloatArray:
        out = np.empty_like(xy)
        out[:, 0] = (xy[:, 0] - self.lon0) * self.kx
        out[:, 1] = (xy[:, 1] - self.lat0) * self.ky
        return out

    def inv(self, xy: FloatArray) -> FloatArray:
        out = np.empty_like(xy)
        out[:, 0] = xy[:, 0] / self.kx + self.lon0
        out[:, 1] = xy[:, 1] / self.ky + self.lat0
        if len(self._keys) and len(xy):
            z = xy[:, 0] + 1j * xy[:, 1]
            pos = np.minimum(np.searchsorted(self._keys, z), len(self._keys) - 1)
            hit = self._keys[pos] == z
            out[hit] = self._exact[pos[hit]]
        return out

    def remember(self, geom_lonlat: BaseGeometry) -> None:
        """Map the plane images of ``geom_lonlat``'s vertices back to them exactly."""
        ll = shapely.get_coordinates(geom_lonlat)
        xy = self.fwd(ll)
        z = xy[:, 0] + 1j * xy[:, 1]
        order = np.argsort(z, kind="stable")
        self._keys = z[order]
        self._exact = ll[order]

    def to_plane(self, geoms: Any) -> Any:
        return shapely.transform(geoms, self.fwd)

    def to_lonlat(self, geoms: Any) -> Any:
        return shapely.transform(geoms, self.inv)


# --------------------------------------------------------------------------------------------
# input


@dataclass
class _Input:
    ids: list[str]
    households: IntArray
    lonlat: FloatArray  # (n, 2) building points
    footprints: npt.NDArray[np.object_]  # lon/lat Polygons or None, clipped to the community later


def _households(values: pd.Series, ids: list[str], code: str) -> IntArray:
    if pd.api.types.is_integer_dtype(values.dtype) and not pd.api.types.is_extension_array_dtype(
        values.dtype
    ):
        ints = values.to_numpy(dtype=np.int64)
        if (ints >= 0).all():
            return ints
    numeric = pd.to_numeric(values, errors="coerce")
    raw = numeric.to_numpy(dtype=float, na_value=np.nan)
    bad_missing = ~np.isfinite(raw)
    with np.errstate(invalid="ignore"):
        bad_negative = np.isfinite(raw) & (raw < 0)
        bad_fraction = np.isfinite(raw) & (raw != np.round(raw))
    problems = []
    for what, mask in (
        ("missing or not a number", bad_missing),
        ("negative", bad_negative),
        ("not a whole number", bad_fraction),
    ):
        if mask.any():
            bad_ids = [ids[i] for i in np.flatnonzero(mask)]
            problems.append((what, bad_ids))
    if problems:
        text = "; ".join(f"{what} for {len(b)} building(s): {_ids_text(b)}" for what, b in problems)
        raise InputError(
            f"community {code}: households {text}. Every building needs a whole number of households >= 0.",
            code="bad_households",
            details={"community_code": code, **{what: b for what, b in problems}},
        )
    return raw.astype(np.int64)


_WGS84_CRS = pyproj.CRS.from_epsg(4326)
_CRS_SEEN: list[tuple[Any, bool]] = []  # (crs, is it EPSG:4326): equality of pyproj CRS is slow


def _is_wgs84(crs: Any) -> bool:
    if crs is None:
        return True
    for seen, answer in _CRS_SEEN:
        if seen is crs:
            return answer
    answer = bool(crs == _WGS84_CRS)
    _CRS_SEEN.insert(0, (crs, answer))
    del _CRS_SEEN[8:]
    return answer


def _check_input(
    code: str, community: BaseGeometry, buildings: gpd.GeoDataFrame
) -> tuple[BaseGeometry, _Input]:
    if not isinstance(community, BaseGeometry) or community.geom_type not in ("Polygon", "MultiPolygon"):
        kind = type(community).__name__ if not isinstance(community, BaseGeometry) else community.geom_type
        raise GeometryError(f"community {code}: the community must be a Polygon or MultiPolygon, not {kind}")
    if not community.is_valid:
        raise GeometryError(
            f"community {code}: the community polygon is not valid ({shapely.is_valid_reason(community)}); "
            "repair it first (grid.validate.repair)"
        )
    if community.is_empty or community.area <= 0:
        raise GeometryError(f"community {code}: the community polygon is empty")
    if shapely.has_z(community):
        community = shapely.force_2d(community)
    if not isinstance(buildings, gpd.GeoDataFrame):
        raise InputError(
            f"community {code}: buildings must be a GeoDataFrame, not {type(buildings).__name__}",
            code="invalid_input",
        )
    missing = [c for c in ("building_id", "households") if c not in buildings.columns]
    if missing:
        raise InputError(
            f"community {code}: buildings have no {' or '.join(repr(m) for m in missing)} column; "
            f"columns are: {', '.join(map(str, buildings.columns))}",
            code="missing_field",
        )
    if len(buildings) == 0:
        raise InputError(
            f"community {code} has no buildings: there is nothing to balance. Give it its buildings, "
            "or make the whole community one cell.",
            code="no_buildings",
            details={"community_code": code},
        )
    frame = buildings if _is_wgs84(buildings.crs) else buildings.to_crs(4326)
    ids = [str(v) for v in frame["building_id"].tolist()]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = sorted({i for i in ids if i in seen or seen.add(i)})  # type: ignore[func-returns-value]
        raise InputError(
            f"community {code}: building id(s) appear more than once: {_ids_text(dup)}",
            code="duplicate_building",
            details={"community_code": code, "building_ids": dup},
        )
    households = _households(frame["households"], ids, code)

    geoms = np.asarray(frame.geometry.array, dtype=object)
    missing_geom = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing_geom.any():
        bad = [ids[i] for i in np.flatnonzero(missing_geom)]
        raise InputError(
            f"community {code}: {len(bad)} building(s) have no location: {_ids_text(bad)}",
            code="bad_building_geometry",
            details={"community_code": code, "building_ids": bad},
        )
    types = shapely.get_type_id(geoms)
    footprints = np.full(len(ids), None, dtype=object)
    if "footprint" in frame.columns:
        col = frame["footprint"]
        if isinstance(col, gpd.GeoSeries) and not _is_wgs84(col.crs):
            col = col.to_crs(4326)
        values = np.asarray(col.array if isinstance(col, gpd.GeoSeries) else col.to_numpy(), dtype=object)
        is_geom = shapely.is_geometry(values)
        if is_geom.any():
            given = values[is_geom]
            usable = np.isin(shapely.get_type_id(given), (3, 6)) & ~shapely.is_empty(given)
            footprints[np.flatnonzero(is_geom)[usable]] = given[usable]
    polygonal = np.isin(types, (3, 6))  # a footprint given as the geometry itself
    if polygonal.any():
        own = polygonal & shapely.is_missing(footprints)
        footprints[own] = geoms[own]
    points = geoms.copy()
    if polygonal.any():
        points[polygonal] = shapely.point_on_surface(geoms[polygonal])
    not_point = shapely.get_type_id(points) != 0
    if not_point.any():
        bad = [ids[i] for i in np.flatnonzero(not_point)]
        raise InputError(
            f"community {code}: building location(s) must be points (or footprint polygons): {_ids_text(bad)}",
            code="bad_building_geometry",
            details={"community_code": code, "building_ids": bad},
        )
    lonlat = shapely.get_coordinates(points)
    if not np.isfinite(lonlat).all():
        bad = [ids[i] for i in np.flatnonzero(~np.isfinite(lonlat).all(axis=1))]
        raise InputError(
            f"community {code}: building point(s) with non-finite coordinates: {_ids_text(bad)}",
            code="bad_building_geometry",
            details={"community_code": code, "building_ids": bad},
        )
    shapely.prepare(community)
    inside = shapely.contains_xy(community, lonlat[:, 0], lonlat[:, 1])
    if not inside.all():
        out = np.flatnonzero(~inside)
        near = shapely.dwithin(community, points[out], 1e-9)  # on the boundary, up to rounding
        far_idx = out[~near]
        if len(far_idx):
            bad = [ids[i] for i in far_idx]
            raise InputError(
                f"{len(bad)} building(s) lie outside community {code}: {_ids_text(bad)}. "
                "Bind each building to the community that contains its point.",
                code="building_outside_community",
                details={"community_code": code, "building_ids": bad},
            )
    return community, _Input(ids, households, lonlat, footprints)


def _check_barriers(barriers: Any) -> list[BaseGeometry]:
    if barriers is None:
        return []
    values = barriers
    if isinstance(barriers, gpd.GeoDataFrame):
        values = barriers.geometry
    if isinstance(values, gpd.GeoSeries):
        if values.crs is not None and not values.crs.equals(pyproj.CRS.from_epsg(4326)):
            values = values.to_crs(4326)
        items = list(values.array)
    elif isinstance(values, BaseGeometry):
        items = [values]
    else:
        items = list(values)
    out: list[BaseGeometry] = []
    for k, g in enumerate(items):
        if g is None or (isinstance(g, BaseGeometry) and g.is_empty):
            continue
        if not isinstance(g, BaseGeometry):
            raise InputError(f"barrier #{k} is not a geometry: {type(g).__name__}", code="invalid_input")
        if g.geom_type in ("LineString", "MultiLineString", "LinearRing"):
            out.append(g)
        elif g.geom_type in ("Polygon", "MultiPolygon"):
            out.append(g.boundary)  # a river as a polygon: both banks are barriers
        elif g.geom_type == "GeometryCollection":
            out.extend(_check_barriers(list(g.geoms)))
        else:
            raise InputError(f"barrier #{k} is a {g.geom_type}; barriers are lines", code="invalid_input")
    return out


# --------------------------------------------------------------------------------------------
# faces


def _segments(faces: npt.NDArray[np.object_]) -> tuple[IntArray, FloatArray, FloatArray]:
    """Every boundary segment of every face: (face index, canonical (x1, y1, x2, y2), length)."""
    rings, ring_face = shapely.get_rings(faces, return_index=True)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    same = ring_of[1:] == ring_of[:-1]
    a = xy[:-1][same]
    b = xy[1:][same]
    face = ring_face[ring_of[:-1][same]]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    lo = np.where(swap[:, None], b, a)
    hi = np.where(swap[:, None], a, b)
    seg = np.column_stack([lo, hi])
    length = np.hypot(hi[:, 0] - lo[:, 0], hi[:, 1] - lo[:, 1])
    return face.astype(np.int64), seg, length


def _face_adjacency(faces: npt.NDArray[np.object_]) -> tuple[IntArray, IntArray, FloatArray]:
    """Pairs of faces (i < j) sharing boundary segments, with the shared length.

    Faces of one polygonized arrangement share edges vertex for vertex, so a shared edge is
    the same segment (same coordinates) in both faces.
    """
    face, seg, length = _segments(faces)
    if len(face) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    order = np.lexsort((seg[:, 3], seg[:, 2], seg[:, 1], seg[:, 0]))
    s = seg[order]
    f = face[order]
    ln = length[order]
    dup = np.all(s[1:] == s[:-1], axis=1) & (f[1:] != f[:-1])
    i = f[:-1][dup]
    j = f[1:][dup]
    lens = ln[:-1][dup]
    a = np.minimum(i, j)
    b = np.maximum(i, j)
    n = len(faces)
    key = a * n + b
    uniq, inv = np.unique(key, return_inverse=True)
    total = np.asarray(np.bincount(inv, weights=lens), dtype=np.float64)
    return (uniq // n).astype(np.int64), (uniq % n).astype(np.int64), total


def _inner_points(polys: npt.NDArray[np.object_]) -> tuple[FloatArray, FloatArray]:
    """A point strictly inside each polygon.

    ``shapely.point_on_surface`` first; GEOS's scan-line method can return a vertex for some
    valid polygons (two near-horizontal edges at the scan line), so a point that is not
    strictly inside is replaced by the centroid when that is inside, else by the centroid of
    the largest triangle of a constrained Delaunay triangulation of the polygon.
    """
    rep = shapely.point_on_surface(polys)
    x, y = shapely.get_x(rep), shapely.get_y(rep)
    bad = np.flatnonzero(~shapely.contains_xy(polys, x, y))
    if len(bad):
        cen = shapely.centroid(polys[bad])
        bx, by = shapely.get_x(cen), shapely.get_y(cen)
        inside = shapely.contains_xy(polys[bad], bx, by)
        x[bad[inside]], y[bad[inside]] = bx[inside], by[inside]
        for i in bad[~inside].tolist():
            tris = shapely.get_parts(shapely.constrained_delaunay_triangles(polys[i]))
            if len(tris):
                c = shapely.centroid(tris[int(np.argmax(shapely.area(tris)))])
                x[i], y[i] = c.x, c.y
    return x, y


def _regions(community: BaseGeometry, lines: list[BaseGeometry]) -> list[BaseGeometry]:
    """The parts of ``community`` separated by the barrier ``lines`` (one part when none)."""
    if not lines:
        return [community]
    noded = shapely.union_all(np.array([community.boundary, *lines], dtype=object))
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))), dtype=object)
    if len(faces) <= 1:
        return [community]
    keep = shapely.contains_xy(community, *_inner_points(faces))
    kept = [f for f, k in zip(faces.tolist(), keep.tolist(), strict=True) if k]
    return kept if len(kept) > 1 else [community]


# --------------------------------------------------------------------------------------------
# preparation: building groups and barrier regions


@dataclass
class _Prep:
    """What both paths share, in the plane. A *group* (atom) is a set of buildings that no line
    can separate: at one location, with overlapping footprints, or one's point inside
    another's footprint."""

    community: BaseGeometry
    sites: FloatArray  # (n, 2) each building's location (its footprint's when its point is off it)
    group: IntArray  # building -> group
    members: list[list[int]]  # group -> buildings
    fp_building: IntArray  # building of each footprint
    fp_geoms: npt.NDArray[np.object_]  # footprints clipped to the community
    lines: list[BaseGeometry]  # barrier lines near the community
    regions: list[BaseGeometry]  # the community cut by the barrier lines
    site_region: IntArray  # region of each building's site
    w: list[int]  # group households
    px: list[float]  # group location (mean of its buildings' sites)
    py: list[float]
    region: list[int]  # group region (of its first building)


def _prepare(
    community: BaseGeometry,
    pts: FloatArray,
    households: IntArray,
    footprints: npt.NDArray[np.object_],
    lines: list[BaseGeometry],
    ids: list[str],
    warnings: list[str],
) -> _Prep:
    n = len(pts)
    uf = _UnionFind(n)
    # buildings at one location
    keys = np.round(pts / SAME_POINT_M).astype(np.int64)
    first: dict[tuple[int, int], int] = {}
    for i, (kx, ky) in enumerate(keys.tolist()):
        j = first.setdefault((kx, ky), i)
        if j != i:
            uf.union(i, j)
    # footprints, clipped to the community; overlapping ones and points inside another's
    # footprint are kept together
    has_fp = ~shapely.is_missing(footprints)
    sites = pts.copy()
    fp_geoms = np.empty(0, dtype=object)
    fp_idx: list[int] = []
    shapely.prepare(community)
    if has_fp.any():
        idx = np.flatnonzero(has_fp)
        raw = footprints[idx]
        invalid = ~shapely.is_valid(raw)
        if invalid.any():
            raw[invalid] = [_as_multipolygon(g) for g in shapely.make_valid(raw[invalid])]
        inside = shapely.covers(community, raw)
        if not inside.all():
            out_idx = np.flatnonzero(~inside)
            clipped = shapely.intersection(raw[out_idx], community)
            lost = shapely.area(raw[out_idx]) - shapely.area(clipped)
            raw[out_idx] = [_as_multipolygon(g) for g in clipped]
            real = [int(idx[k]) for k, a in zip(out_idx.tolist(), lost.tolist(), strict=True) if a > 0.01]
            if real:
                warnings.append(
                    f"the footprints of {len(real)} building(s) reach outside the community and were "
                    f"clipped to it: {_ids_text([ids[i] for i in real])}"
                )
        ok = shapely.area(raw) > 0
        fp_idx = idx[ok].tolist()
        fp_geoms = raw[ok]
    if fp_idx:
        tree = shapely.STRtree(fp_geoms)
        a, b = tree.query(fp_geoms, predicate="intersects")
        keep = a < b
        a, b = a[keep], b[keep]
        if len(a):
            overlap = shapely.relate_pattern(fp_geoms[a], fp_geoms[b], "2********")
            pairs = []
            for x, y in zip(a[overlap].tolist(), b[overlap].tolist(), strict=True):
                uf.union(fp_idx[x], fp_idx[y])
                pairs.append(f"{ids[fp_idx[x]]}/{ids[fp_idx[y]]}")
            if pairs:
                warnings.append(
                    f"{len(pairs)} pair(s) of overlapping footprints, each kept in one cell: {_ids_text(pairs)}"
                )
        own_pts = shapely.points(pts[fp_idx])
        off = ~shapely.covers(fp_geoms, own_pts)
        if off.any():
            moved = [fp_idx[k] for k in np.flatnonzero(off)]
            sites[moved] = shapely.get_coordinates(shapely.point_on_surface(fp_geoms[off]))
            warnings.append(
                f"the points of {len(moved)} building(s) lie outside their footprints; the footprints "
                f"are used: {_ids_text([ids[i] for i in moved])}"
            )
        p_idx, f_k = tree.query(shapely.points(sites), predicate="within")
        for p, k in zip(p_idx.tolist(), f_k.tolist(), strict=True):
            if fp_idx[k] != p:
                uf.union(p, fp_idx[k])
    roots = [uf.find(i) for i in range(n)]
    group_of_root: dict[int, int] = {}
    group = np.array([group_of_root.setdefault(r, len(group_of_root)) for r in roots], dtype=np.int64)
    members: list[list[int]] = [[] for _ in range(len(group_of_root))]
    for i, g in enumerate(group.tolist()):
        members[g].append(i)
    same_place = [m for m in members if len(m) > 1 and len({tuple(k) for k in keys[m].tolist()}) == 1]
    if same_place:
        warnings.append(
            f"{len(same_place)} location(s) hold several buildings, each kept in one cell: "
            + _ids_text(["+".join(ids[i] for i in m) for m in same_place])
        )
    # barrier regions; a building's region is the one holding its site
    clip = community.envelope.buffer(10.0, join_style="mitre").bounds
    region_lines = [ln for ln in (shapely.clip_by_rect(ln, *clip) for ln in lines) if not ln.is_empty]
    regions = _regions(community, region_lines)
    site_region = np.zeros(n, dtype=np.int64)
    if len(regions) > 1:
        rtree = shapely.STRtree(np.array(regions, dtype=object))
        pi, ri = rtree.query(shapely.points(sites), predicate="intersects")
        site_region[:] = -1
        for p, r in zip(pi.tolist()[::-1], ri.tolist()[::-1], strict=True):  # lowest region wins
            site_region[p] = r
        site_region[site_region < 0] = 0
    w = np.bincount(group, weights=households, minlength=len(members))
    sizes = np.bincount(group, minlength=len(members))
    return _Prep(
        community=community,
        sites=sites,
        group=group,
        members=members,
        fp_building=np.asarray(fp_idx, dtype=np.int64),
        fp_geoms=np.asarray(fp_geoms, dtype=object),
        lines=region_lines,
        regions=regions,
        site_region=site_region,
        w=[int(v) for v in w.tolist()],
        px=(np.bincount(group, weights=sites[:, 0]) / sizes).tolist(),
        py=(np.bincount(group, weights=sites[:, 1]) / sizes).tolist(),
        region=[int(site_region[m[0]]) for m in members],
    )


# --------------------------------------------------------------------------------------------
# the graph of building groups


@dataclass
class _Graph:
    """Atoms (building groups with their land) as a graph: the partition works on this."""

    w: list[int]  # households
    area: list[float]  # m²
    cx: list[float]  # centroid of the land
    cy: list[float]
    perim: list[float]  # m
    region: list[int]  # barrier region of the atom's buildings
    nbr: list[dict[int, float]]  # atom -> {adjacent atom: shared edge length, m}
    members: list[list[int]]  # atom -> buildings
    detached: dict[int, float] = field(default_factory=dict)  # atom -> m² of exclave attached to it


@dataclass
class _Atoms:
    """The exact planar subdivision (full path): faces and the atom (group) of each."""

    faces: npt.NDArray[np.object_]
    face_atom: IntArray
    graph: _Graph


def _subdivide(prep: _Prep) -> _Atoms:
    """Faces from the community boundary, barrier lines, footprint outlines and the Voronoi
    edges of the building sites (one diagram per barrier region); each face belongs to the
    footprint it lies in, else to the nearest site of its region; atoms are the groups' faces
    connected to their sites, the rest attached to neighbours (module docstring)."""
    community = prep.community
    sites, group = prep.sites, prep.group
    n_groups = len(prep.members)
    regions = prep.regions
    n_regions = len(regions)
    linework: list[BaseGeometry] = [community.boundary, *prep.lines]
    region_sites: list[tuple[FloatArray, IntArray]] = []
    for r in range(n_regions):
        in_r = np.flatnonzero(prep.site_region == r)
        if len(in_r) == 0:
            region_sites.append((np.zeros((0, 2)), np.zeros(0, np.int64)))
            continue
        rk = np.round(sites[in_r] / SAME_POINT_M).astype(np.int64)
        _, first_idx = np.unique(rk, axis=0, return_index=True)
        chosen = in_r[np.sort(first_idx)]
        region_sites.append((sites[chosen], group[chosen]))
        if len(chosen) >= 2:
            linework.append(
                shapely.voronoi_polygons(
                    shapely.multipoints(sites[chosen]), extend_to=regions[r], only_edges=True
                )
            )
    if len(prep.fp_geoms):
        linework.extend(shapely.boundary(prep.fp_geoms).tolist())
    faces, rx, ry = _faces(linework, community)
    face_area = shapely.area(faces)
    n_faces = len(faces)
    label = np.full(n_faces, -1, dtype=np.int64)
    face_region = _region_of(prep, rx, ry)
    for r in range(n_regions):
        sxy, sgroup = region_sites[r]
        in_r = np.flatnonzero(face_region == r)
        if len(sxy) == 0 or len(in_r) == 0:
            continue
        if len(sxy) == 1:
            label[in_r] = sgroup[0]
            continue
        stree = shapely.STRtree(shapely.points(sxy))
        q, nearest = stree.query_nearest(shapely.points(rx[in_r], ry[in_r]), all_matches=False)
        label[in_r[q]] = sgroup[nearest]
    if len(prep.fp_geoms):
        fi, fk = shapely.STRtree(prep.fp_geoms).query(shapely.points(rx, ry), predicate="within")
        label[fi] = group[prep.fp_building[fk]]
    all_fa, all_fb, all_flen = _face_adjacency(faces)
    touch = all_flen > MIN_SHARED_M
    fa, fb, flen = all_fa[touch], all_fb[touch], all_flen[touch]
    # components of same-label faces; a group's atom is the one holding its site
    fuf = _UnionFind(n_faces)
    same = (label[fa] == label[fb]) & (label[fa] >= 0)
    for x, y in zip(fa[same].tolist(), fb[same].tolist(), strict=True):
        fuf.union(x, y)
    comp = np.array([fuf.find(f) for f in range(n_faces)], dtype=np.int64)
    anchor = np.full(n_groups, -1, dtype=np.int64)
    hit_p, hit_f = shapely.STRtree(faces).query(shapely.points(sites), predicate="intersects")
    for p, f in zip(hit_p.tolist(), hit_f.tolist(), strict=True):
        g = int(group[p])
        if label[f] == g and anchor[g] < 0:
            anchor[g] = comp[f]
    for g in np.flatnonzero(anchor < 0).tolist():  # degenerate: the group's largest component
        own = np.flatnonzero(label == g)
        if len(own) == 0:
            raise RuntimeError(f"internal error: building group {g} has no face")
        comp_area: dict[int, float] = defaultdict(float)
        for f in own.tolist():
            comp_area[int(comp[f])] += float(face_area[f])
        anchor[g] = max(comp_area, key=lambda c: comp_area[c])
    comp_atom = {int(c): g for g, c in enumerate(anchor.tolist())}
    face_atom = np.array([comp_atom.get(int(c), -1) for c in comp.tolist()], dtype=np.int64)
    # (loose pieces may join through edges of any length: a sliver face of a few square
    # micrometres is attached where it touches)
    detached = _attach_loose(faces, face_atom, face_area, face_region, all_fa, all_fb, all_flen, prep.region)
    if (face_atom < 0).any():  # specks of floating point noise touching nothing: dropped
        keep = face_atom >= 0
        faces, face_atom, face_area = faces[keep], face_atom[keep], face_area[keep]
        fa, fb, flen = _face_adjacency(faces)
        touch = flen > MIN_SHARED_M
        fa, fb, flen = fa[touch], fb[touch], flen[touch]
    # the graph: atoms sharing an edge of positive length
    aa, ab = face_atom[fa], face_atom[fb]
    cross = aa != ab
    nbr: list[dict[int, float]] = [{} for _ in range(n_groups)]
    for x, y, ln in zip(aa[cross].tolist(), ab[cross].tolist(), flen[cross].tolist(), strict=True):
        nbr[x][y] = nbr[x].get(y, 0.0) + ln
        nbr[y][x] = nbr[y].get(x, 0.0) + ln
    cent = shapely.centroid(faces)
    fcx, fcy = shapely.get_x(cent), shapely.get_y(cent)
    area = np.bincount(face_atom, weights=face_area, minlength=n_groups)
    safe = np.maximum(area, 1e-12)
    cx = np.bincount(face_atom, weights=face_area * fcx, minlength=n_groups) / safe
    cy = np.bincount(face_atom, weights=face_area * fcy, minlength=n_groups) / safe
    perim = np.asarray(np.bincount(face_atom, weights=shapely.length(faces), minlength=n_groups), dtype=float)
    perim -= 2.0 * np.bincount(aa[~cross], weights=flen[~cross], minlength=n_groups)
    graph = _Graph(
        w=list(prep.w),
        area=area.tolist(),
        cx=cx.tolist(),
        cy=cy.tolist(),
        perim=perim.tolist(),
        region=list(prep.region),
        nbr=nbr,
        members=prep.members,
        detached=detached,
    )
    return _Atoms(faces, face_atom, graph)


def _faces(
    linework: list[BaseGeometry], community: BaseGeometry
) -> tuple[npt.NDArray[np.object_], FloatArray, FloatArray]:
    """Node the linework once and polygonize it: the faces inside the community, with a point
    strictly inside each.

    Raises
    ------
    RuntimeError
        When the faces do not cover the community (never seen: polygonizing noded linework
        leaves no gap).
    """
    noded = shapely.union_all(np.array(linework, dtype=object))
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))), dtype=object)
    rx, ry = _inner_points(faces)
    inside = shapely.contains_xy(community, rx, ry)
    faces, rx, ry = faces[inside], rx[inside], ry[inside]
    covered = float(np.sum(shapely.area(faces)))
    if not math.isclose(covered, community.area, rel_tol=1e-9, abs_tol=1e-6):
        raise RuntimeError(
            f"internal error: the faces cover {covered:.6f} m² of a {community.area:.6f} m² community"
        )
    return faces, rx, ry


def _region_of(prep: _Prep, x: FloatArray, y: FloatArray) -> IntArray:
    region = np.zeros(len(x), dtype=np.int64)
    if len(prep.regions) > 1:
        for r, reg in enumerate(prep.regions):
            shapely.prepare(reg)
            region[shapely.contains_xy(reg, x, y)] = r
    return region


def _attach_loose(
    faces: npt.NDArray[np.object_],
    owner: IntArray,
    face_area: FloatArray,
    face_region: IntArray,
    fa: IntArray,
    fb: IntArray,
    flen: FloatArray,
    owner_region: Sequence[int],
) -> dict[int, float]:
    """Give faces without an owner (-1) to the neighbour they share the longest edge with
    (in place), a connected piece at a time, preferring an owner of the piece's barrier region;
    a piece that touches nothing (an exclave without buildings) goes to the nearest owner.
    Returns owner -> area of such exclaves."""
    detached: dict[int, float] = {}
    loose = owner < 0
    if not loose.any():
        return detached
    luf = _UnionFind(len(faces))
    both = loose[fa] & loose[fb]
    for x, y in zip(fa[both].tolist(), fb[both].tolist(), strict=True):
        luf.union(x, y)
    pieces: dict[int, list[int]] = defaultdict(list)
    for f in np.flatnonzero(loose).tolist():
        pieces[luf.find(f)].append(f)
    touching: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for x, y, ln in zip(fa.tolist(), fb.tolist(), flen.tolist(), strict=True):
        touching[x].append((y, ln))
        touching[y].append((x, ln))
    todo = list(pieces.values())
    while todo:
        rest = []
        for piece in todo:
            shared: dict[int, float] = defaultdict(float)
            for f in piece:
                for other, ln in touching[f]:
                    t = int(owner[other])
                    if t >= 0:
                        shared[t] += ln
            if not shared:
                rest.append(piece)
                continue
            reg = int(face_region[max(piece, key=lambda f: face_area[f])])
            owner[piece] = max(shared, key=lambda t: (owner_region[t] == reg, shared[t], -t))
        if len(rest) == len(todo):
            break
        todo = rest
    for piece in todo:
        if float(np.sum(face_area[piece])) < NOISE_AREA_M2:
            continue  # floating point noise: the caller drops it
        geom = shapely.union_all(faces[piece])
        owned = np.flatnonzero(owner >= 0)
        best = int(owner[owned[int(np.argmin(shapely.distance(faces[owned], geom)))]])
        owner[piece] = best
        detached[best] = detached.get(best, 0.0) + float(np.sum(face_area[piece]))
    return detached


# --------------------------------------------------------------------------------------------
# the partition of the graph


class _Search:
    """Partition one set of atoms into ``k`` connected, balanced, compact cells.

    Cell state (households ``h``, area ``A``, perimeter ``P``, barrier regions) is kept up to
    date move by move, with each cell's violation ``v`` and cost ``f``, so evaluating a move
    only looks at the moved atom's neighbours.
    """

    def __init__(self, graph: _Graph, nodes: list[int], params: PartitionParams) -> None:
        local = {a: i for i, a in enumerate(nodes)}
        self.n = len(nodes)
        self.w = [graph.w[a] for a in nodes]
        self.area = [graph.area[a] for a in nodes]
        self.cx = [graph.cx[a] for a in nodes]
        self.cy = [graph.cy[a] for a in nodes]
        self.perim = [graph.perim[a] for a in nodes]
        self.region = [graph.region[a] for a in nodes]
        self.nbr = [{local[b]: ln for b, ln in graph.nbr[a].items() if b in local} for a in nodes]
        self.t = float(params.target)
        self.lo, self.hi = params.min, params.max
        self.lc = params.compactness_weight
        self.lb = params.barrier_penalty

    # --- cost of one cell
    def viol(self, h: int) -> int:
        return max(0, self.lo - h, h - self.hi)

    def cost(self, h: int, area: float, perim: float, nreg: int) -> float:
        d = abs(h - self.t) / self.t
        e1 = d - 0.1 if d > 0.1 else 0.0
        e2 = d - 0.2 if d > 0.2 else 0.0
        a, b, c = BALANCE_COST
        bal = a * d * d + b * e1 * e1 + c * e2 * e2
        comp = perim / (_TWO_SQRT_PI * math.sqrt(area)) - 1.0 if area > 0 else 0.0
        return bal + self.lc * comp + self.lb * (nreg - 1)

    # --- state
    def _init_state(self, assign: list[int], k: int) -> None:
        self.assign = assign
        self.k = k
        self.members: list[set[int]] = [set() for _ in range(k)]
        self.h = [0] * k
        self.A = [0.0] * k
        self.P = [0.0] * k
        self.regcnt: list[dict[int, int]] = [{} for _ in range(k)]
        for i, c in enumerate(assign):
            self.members[c].add(i)
            self.h[c] += self.w[i]
            self.A[c] += self.area[i]
            rc = self.regcnt[c]
            rc[self.region[i]] = rc.get(self.region[i], 0) + 1
        for c in range(k):
            p = 0.0
            for i in self.members[c]:
                p += self.perim[i]
                for j, ln in self.nbr[i].items():
                    if assign[j] == c:
                        p -= ln  # each internal edge is seen from both sides
            self.P[c] = p
        self.nreg = [sum(1 for v in self.regcnt[c].values() if v > 0) for c in range(k)]
        self.v = [self.viol(self.h[c]) for c in range(k)]
        self.f = [self.cost(self.h[c], self.A[c], self.P[c], self.nreg[c]) for c in range(k)]

    def score(self) -> tuple[int, float]:
        return sum(self.v), sum(self.f)

    def within(self, share: float) -> bool:
        return sum(self.v) == 0 and all(abs(h - self.t) <= share * self.t for h in self.h)

    # --- starts
    def seeds(self, k: int, rng: np.random.Generator, restart: int) -> list[int]:
        """k spread-out seed atoms: farthest-point (restart 0), else weighted k-means++."""
        x, y = self.cx, self.cy
        wts = [w + 1.0 for w in self.w]
        n = self.n
        if restart == 0:  # deterministic: start at the atom farthest from the weighted centre
            tw = sum(wts)
            mx = sum(a * b for a, b in zip(wts, x, strict=True)) / tw
            my = sum(a * b for a, b in zip(wts, y, strict=True)) / tw
            first = max(range(n), key=lambda i: ((x[i] - mx) ** 2 + (y[i] - my) ** 2, -i))
        else:
            first = int(rng.choice(n, p=np.asarray(wts) / sum(wts)))
        chosen = [first]
        d2 = [(x[i] - x[first]) ** 2 + (y[i] - y[first]) ** 2 for i in range(n)]
        while len(chosen) < k:
            score = [d * w for d, w in zip(d2, wts, strict=True)]
            for c in chosen:
                score[c] = -1.0
            if restart == 0:
                nxt = max(range(n), key=lambda i: (score[i], -i))
            else:
                p = np.maximum(np.asarray(score), 0.0)
                total = float(p.sum())
                nxt = int(rng.choice(n, p=p / total)) if total > 0 else max(range(n), key=lambda i: score[i])
            chosen.append(nxt)
            d2 = [min(d, (x[i] - x[nxt]) ** 2 + (y[i] - y[nxt]) ** 2) for i, d in enumerate(d2)]
        return chosen

    def grow(self, seeds: list[int]) -> list[int]:
        """Balanced region growing: the lightest cell takes its nearest free neighbour (same
        barrier region first) until every atom is taken."""
        k = len(seeds)
        assign = [-1] * self.n
        h = [0.0] * k
        sx = [0.0] * k
        sy = [0.0] * k
        sa = [0.0] * k
        reg = [self.region[s] for s in seeds]
        frontier: list[set[int]] = [set() for _ in range(k)]
        for c, s in enumerate(seeds):
            assign[s] = c
        for c, s in enumerate(seeds):
            h[c] += self.w[s]
            sa[c] += self.area[s]
            sx[c] += self.area[s] * self.cx[s]
            sy[c] += self.area[s] * self.cy[s]
            frontier[c].update(j for j in self.nbr[s] if assign[j] < 0)
        left = self.n - k
        while left > 0:
            open_cells = [c for c in range(k) if frontier[c]]
            if not open_cells:  # cannot happen in a connected part
                raise RuntimeError("internal error: region growing is stuck")
            c = min(open_cells, key=lambda c: (h[c], c))
            mx, my = sx[c] / sa[c], sy[c] / sa[c]
            best = min(
                frontier[c],
                key=lambda j: (self.region[j] != reg[c], (self.cx[j] - mx) ** 2 + (self.cy[j] - my) ** 2, j),
            )
            assign[best] = c
            left -= 1
            h[c] += self.w[best]
            sa[c] += self.area[best]
            sx[c] += self.area[best] * self.cx[best]
            sy[c] += self.area[best] * self.cy[best]
            for fr in frontier:
                fr.discard(best)
            frontier[c].update(j for j in self.nbr[best] if assign[j] < 0)
        return assign

    # --- moves
    def connected_without(self, c: int, out: int, add: int = -1) -> bool:
        """Is cell ``c`` minus atom ``out`` (plus atom ``add``) connected and non-empty?"""
        mem = self.members[c]
        size = len(mem) - 1 + (1 if add >= 0 else 0)
        if size <= 0:
            return False
        start = add if add >= 0 else next(i for i in mem if i != out)
        seen = {start}
        stack = [start]
        assign = self.assign
        nbr = self.nbr
        while stack:
            i = stack.pop()
            for j in nbr[i]:
                if j not in seen and j != out and (assign[j] == c or j == add):
                    seen.add(j)
                    stack.append(j)
        return len(seen) == size

    def _shared(self, i: int) -> dict[int, float]:
        """Length of atom ``i``'s border with each cell (its own included)."""
        out: dict[int, float] = {}
        assign = self.assign
        for j, ln in self.nbr[i].items():
            c = assign[j]
            out[c] = out.get(c, 0.0) + ln
        return out

    def _after(self, c: int, i: int, sign: int, shared: float) -> _CellState:
        """Cell ``c`` with atom ``i`` added (sign 1) or removed (-1); ``shared`` is the length
        of i's border with c."""
        r = self.region[i]
        cnt = self.regcnt[c].get(r, 0)
        h = self.h[c] + sign * self.w[i]
        a = self.A[c] + sign * self.area[i]
        p = self.P[c] + sign * (self.perim[i] - 2.0 * shared)
        nreg = self.nreg[c]
        if sign > 0 and cnt == 0:
            nreg += 1
        elif sign < 0 and cnt == 1:
            nreg -= 1
        v = max(0, self.lo - h, h - self.hi)
        # self.cost inlined (this is the innermost loop)
        d = abs(h - self.t) / self.t
        e1 = d - 0.1 if d > 0.1 else 0.0
        e2 = d - 0.2 if d > 0.2 else 0.0
        ba, bb, bc = BALANCE_COST
        f = ba * d * d + bb * e1 * e1 + bc * e2 * e2 + self.lb * (nreg - 1)
        if a > 0:
            f += self.lc * (p / (_TWO_SQRT_PI * math.sqrt(a)) - 1.0)
        return h, v, a, p, nreg, cnt + sign, f

    def _set(self, c: int, i: int, st: _CellState) -> None:
        h, v, a, p, nreg, cnt, f = st
        self.h[c], self.v[c], self.A[c], self.P[c], self.nreg[c], self.f[c] = h, v, a, p, nreg, f
        self.regcnt[c][self.region[i]] = cnt

    def move(self, i: int, b: int) -> None:
        a = self.assign[i]
        shared = self._shared(i)
        self._set(a, i, self._after(a, i, -1, shared.get(a, 0.0)))
        self._set(b, i, self._after(b, i, 1, shared.get(b, 0.0)))
        self.members[a].discard(i)
        self.members[b].add(i)
        self.assign[i] = b

    def improve_moves(self) -> bool:
        """One pass of single-atom moves to an adjacent cell; True when something improved."""
        improved = False
        assign, members, v, f = self.assign, self.members, self.v, self.f
        nbr = self.nbr
        for i in range(self.n):
            a = assign[i]
            if len(members[a]) == 1:
                continue
            for j in nbr[i]:
                if assign[j] != a:
                    break
            else:
                continue  # inside its cell
            shared = self._shared(i)
            sa = self._after(a, i, -1, shared.get(a, 0.0))
            va, fa = v[a], f[a]
            best: tuple[int, float, int, _CellState] | None = None
            for b, ln in shared.items():
                if b == a:
                    continue
                sb = self._after(b, i, 1, ln)
                dv = sa[1] + sb[1] - va - v[b]
                if dv > 0:
                    continue
                df = sa[6] + sb[6] - fa - f[b]
                if (dv < 0 or df < -1e-12) and (best is None or (dv, df) < (best[0], best[1])):
                    best = (dv, df, b, sb)
            if best is not None and self.connected_without(a, i):
                b = best[2]
                self._set(a, i, sa)
                self._set(b, i, best[3])
                members[a].discard(i)
                members[b].add(i)
                assign[i] = b
                improved = True
        return improved

    def improve_swaps(self) -> bool:
        """Swap one pair of boundary atoms between adjacent cells when that improves the
        balance and the score; True when a swap was made."""
        boundary: dict[tuple[int, int], list[int]] = defaultdict(list)  # (from, to) -> atoms
        assign = self.assign
        for i in range(self.n):
            a = assign[i]
            for c in {assign[j] for j in self.nbr[i]}:
                if c != a:
                    boundary[(a, c)].append(i)
        w, h, t, lo, hi = self.w, self.h, self.t, self.lo, self.hi
        for (a, b), from_a in sorted(boundary.items()):
            if a > b:
                continue
            from_b = boundary.get((b, a), [])
            for i in from_a:
                for j in from_b:
                    d = w[j] - w[i]
                    if d == 0:
                        continue
                    ha, hb = h[a] + d, h[b] - d
                    dv = max(0, lo - ha, ha - hi) + max(0, lo - hb, hb - hi) - self.v[a] - self.v[b]
                    if dv > 0:
                        continue
                    bal = ((ha - t) ** 2 + (hb - t) ** 2 - (h[a] - t) ** 2 - (h[b] - t) ** 2) / (t * t)
                    if dv == 0 and bal >= -1e-12:
                        continue
                    if self._try_swap(i, j):
                        return True
        return False

    def _try_swap(self, i: int, j: int) -> bool:
        a, b = self.assign[i], self.assign[j]
        if not (self.connected_without(a, i, add=j) and self.connected_without(b, j, add=i)):
            return False
        before = self.score()
        self.move(i, b)
        self.move(j, a)
        if self.score() < before:
            return True
        self.move(j, b)  # undo
        self.move(i, a)
        return False

    def local_search(self, max_passes: int = 60) -> None:
        for _ in range(max_passes):
            if self.improve_moves():
                continue
            if not self.improve_swaps():
                break

    def run(self, k: int, restarts: int, rng: np.random.Generator) -> tuple[list[int], tuple[int, float]]:
        """Best of up to ``restarts`` grow-and-improve runs (restart 0 deterministic); stops
        when every cell is within +-10% of the target, or after a restart that found
        nothing better. Best = fewest households outside bounds, then lowest cost."""
        best: tuple[list[int], tuple[int, float]] | None = None
        stale = 0
        for r in range(restarts):
            self._init_state(self.grow(self.seeds(k, rng, r)), k)
            self.local_search()
            sc = self.score()
            if best is None or sc < best[1]:
                best = (list(self.assign), sc)
                stale = 0
            else:
                stale += 1
            # stale restarts end the search only once the best is within bounds: a near miss
            # (one cell a household over max) is worth the remaining restarts
            if self.within(0.1) or (stale >= STALE_RESTARTS and best[1][0] == 0):
                break
        assert best is not None
        return best


def _choose_k(total: int, n: int, params: PartitionParams) -> list[int]:
    """Cell counts to try for ``total`` households in ``n`` groups, best first."""
    t, lo, hi = params.target, params.min, params.max
    k_lo = max(1, math.ceil(total / hi))
    k_hi = min(n, total // lo)
    ks = list(range(k_lo, k_hi + 1)) if k_lo <= k_hi else [max(1, min(n, round(total / t)))]
    return sorted(ks, key=lambda k: ((total - k * t) ** 2 / k, k))


def _components(nodes: Iterable[int], nbr: Sequence[dict[int, float]]) -> list[list[int]]:
    pending = set(nodes)
    out = []
    for start in sorted(pending):
        if start not in pending:
            continue
        comp = [start]
        pending.discard(start)
        stack = [start]
        while stack:
            i = stack.pop()
            for j in nbr[i]:
                if j in pending:
                    pending.discard(j)
                    comp.append(j)
                    stack.append(j)
        out.append(sorted(comp))
    return out


def _feasible(total: int, params: PartitionParams) -> bool:
    """Can ``total`` households be cut into cells that are all within bounds (ignoring how)?"""
    return total >= params.min and math.ceil(total / params.max) <= total // params.min


def _blocks(part: list[int], graph: _Graph, params: PartitionParams) -> list[list[int]]:
    """Split a connected part at barriers into blocks partitioned on their own.

    A block is a connected set of groups of one barrier region. A block without households
    joins the neighbouring block it shares the longest edge with; a block whose households
    cannot make cells within bounds (fewer than ``min``, say) joins the neighbouring block
    that makes the best merged total, so a barrier is crossed only where it must be.
    """
    region = graph.region
    if len({region[a] for a in part}) == 1:
        return [part]
    inside = set(part)
    same_nbr = [
        {b: ln for b, ln in graph.nbr[a].items() if region[b] == region[a]} if a in inside else {}
        for a in range(len(graph.w))
    ]
    blocks = dict(enumerate(_components(part, same_nbr)))
    block_of = {a: i for i, comp in blocks.items() for a in comp}
    total = {i: sum(graph.w[a] for a in comp) for i, comp in blocks.items()}

    def shared(i: int) -> dict[int, float]:
        out: dict[int, float] = defaultdict(float)
        for a in blocks[i]:
            for b, ln in graph.nbr[a].items():
                j = block_of.get(b, i)
                if j != i:
                    out[j] += ln
        return out

    def merge(i: int, j: int) -> None:  # j into i
        for a in blocks[j]:
            block_of[a] = i
        blocks[i].extend(blocks.pop(j))
        total[i] += total.pop(j)

    def fit(h: int) -> float:
        return min(((h - k * params.target) ** 2 / k for k in _choose_k(h, 10**9, params)), default=math.inf)

    for i in sorted(i for i in blocks if total[i] == 0):
        if i in blocks and len(blocks) > 1:
            nb = shared(i)
            if nb:
                merge(max(nb, key=lambda j: (nb[j], -j)), i)
    while len(blocks) > 1:
        bad = sorted((total[i], i) for i in blocks if not _feasible(total[i], params) and shared(i))
        if not bad:
            break
        i = bad[0][1]
        nb = shared(i)
        j = min(
            nb,
            key=lambda j: (not _feasible(total[i] + total[j], params), fit(total[i] + total[j]), -nb[j], j),
        )
        merge(j, i)
    return [sorted(comp) for _, comp in sorted(blocks.items())]


@dataclass
class _Solved:
    """The best partition found for one block of atoms."""

    atoms: list[int]
    cells: list[list[int]]
    viol: int  # households outside [min, max], summed over the cells
    cost: float
    k: int
    total: int


def _all_within(
    part: list[int], assign: list[int], k: int, graph: _Graph, params: PartitionParams, share: float
) -> bool:
    held = [0] * k
    for i, c in enumerate(assign):
        held[c] += graph.w[part[i]]
    return all(abs(h - params.target) <= share * params.target for h in held)


def _solve(part: list[int], graph: _Graph, params: PartitionParams, rng: np.random.Generator) -> _Solved:
    """Partition a connected block: the best cell count first; the next ones while cells are
    out of bounds (or, once, while a cell is more than 20% off target)."""
    total = sum(graph.w[a] for a in part)
    search = _Search(graph, part, params)
    ks = _choose_k(total, len(part), params)
    best: tuple[list[int], tuple[int, float], int] | None = None
    for n_try, k in enumerate(ks[:4]):
        if k == 1:
            assign = [0] * len(part)
            search._init_state(assign, 1)
            found = (assign, search.score())
        else:
            found = search.run(k, params.restarts if n_try == 0 else max(2, params.restarts // 2), rng)
        if best is None or found[1] < best[1]:
            best = (found[0], found[1], k)
        # within bounds: done, unless the best count left a cell off by more than 20%; then
        # the next count gets one try
        if best[1][0] == 0 and (n_try > 0 or _all_within(part, best[0], best[2], graph, params, 0.2)):
            break
    assert best is not None
    assign, (viol, cost), k = best
    cells: list[list[int]] = [[] for _ in range(k)]
    for i, c in enumerate(assign):
        cells[c].append(part[i])
    return _Solved(list(part), cells, viol, cost, k, total)


@dataclass
class _Plan:
    """Cells as lists of atoms, with what is forced about each."""

    cells: list[list[int]]
    forced: dict[int, list[str]]


def _plan(graph: _Graph, params: PartitionParams, rng: np.random.Generator) -> _Plan:
    """Group the atoms into cells: buildings above max alone, then each connected part cut at
    barriers into blocks (:func:`_blocks`), each block partitioned on its own; a block that
    cannot be cut within bounds joins a neighbouring block when that helps."""
    m = len(graph.w)
    hi = params.max
    big = [a for a in range(m) if graph.w[a] > hi]
    rest = [a for a in range(m) if graph.w[a] <= hi]
    empty: list[list[int]] = []
    solved: list[_Solved] = []
    for comp in _components(rest, graph.nbr):
        if sum(graph.w[a] for a in comp) == 0 and (big or len(comp) < len(rest)):
            empty.append(comp)
            continue
        blocks = [_solve(b, graph, params, rng) for b in _blocks(comp, graph, params)]
        while len(blocks) > 1:
            block_of = {a: i for i, b in enumerate(blocks) for a in b.atoms}
            merged: tuple[int, int, _Solved] | None = None
            for i in sorted(range(len(blocks)), key=lambda i: (-blocks[i].viol, i)):
                if blocks[i].viol == 0:
                    break
                nbrs = sorted(
                    {block_of[b] for a in blocks[i].atoms for b in graph.nbr[a] if b in block_of} - {i}
                )
                for j in nbrs:
                    both = _solve(blocks[i].atoms + blocks[j].atoms, graph, params, rng)
                    gain = blocks[i].viol + blocks[j].viol - both.viol
                    if gain > 0 and (
                        merged is None or (both.viol, both.cost) < (merged[2].viol, merged[2].cost)
                    ):
                        merged = (i, j, both)
                if merged is not None:
                    break
            if merged is None:
                break
            i, j, both = merged
            blocks = [b for n, b in enumerate(blocks) if n not in (i, j)] + [both]
        solved.extend(blocks)
    return _assemble(graph, params, big, solved, empty)


def _assemble(
    graph: _Graph, params: PartitionParams, big: list[int], solved: list[_Solved], empty: list[list[int]]
) -> _Plan:
    """The plan from solved blocks: cells and their forced reasons."""
    lo, hi = params.min, params.max
    cells: list[list[int]] = []
    forced: dict[int, list[str]] = defaultdict(list)
    for a in big:
        forced[len(cells)].append(
            f"single building above max ({graph.w[a]} > {hi})"
            if len(graph.members[a]) == 1
            else f"{len(graph.members[a])} buildings that cannot be separated hold {graph.w[a]} > max {hi}"
        )
        cells.append([a])
    whole = not big and len(solved) == 1 and not empty
    for sol in solved:
        for g in sol.cells:
            idx = len(cells)
            cells.append(list(g))
            h = sum(graph.w[a] for a in g)
            if lo <= h <= hi:
                continue
            if len(sol.cells) == 1 and sol.total < lo:
                what = "community" if whole else "part of the community cut off from the rest"
                forced[idx].append(f"no partition within bounds: {what} total {sol.total} < min {lo}")
            elif len(sol.cells) == 1 and not _feasible(sol.total, params):
                forced[idx].append(
                    f"no partition within bounds: {sol.total} households cannot be split into cells of {lo}-{hi}"
                )
            else:
                forced[idx].append(
                    f"no partition within bounds found: {h} households"
                    + (f" (one of {sol.k} cells of {sol.total} households)" if sol.k > 1 else "")
                )
    # parts without households join the neighbour they share the longest edge with
    cell_of = {a: c for c, g in enumerate(cells) for a in g}
    for part in empty:
        shared: dict[int, float] = defaultdict(float)
        for a in part:
            for b, ln in graph.nbr[a].items():
                if b in cell_of:
                    shared[cell_of[b]] += ln
        if shared:
            target = max(shared, key=lambda c: (shared[c], -c))
            cells[target].extend(part)
        else:
            target = len(cells)
            cells.append(list(part))
        for a in part:
            cell_of[a] = target
    # barriers crossed
    for c, g in enumerate(cells):
        sides: dict[int, int] = defaultdict(int)
        for a in g:
            if graph.w[a] > 0:
                sides[graph.region[a]] += graph.w[a]
        if len(sides) > 1:
            forced[c].append(
                "crosses a barrier line: households on each side "
                + " + ".join(str(h) for h in sorted(sides.values(), reverse=True))
            )
    return _Plan(cells, forced)


def _order(geoms: list[MultiPolygon], community: BaseGeometry, plane: _Plane) -> list[int]:
    """Numbering order: north to south by row band, then west to east (module docstring)."""
    if len(geoms) <= 1:
        return list(range(len(geoms)))
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = geoms
    rep = shapely.point_on_surface(arr)
    lon, lat = shapely.get_x(rep), shapely.get_y(rep)
    area_m2 = float(shapely.area(plane.to_plane(community)))
    band_m = math.sqrt(area_m2 / len(geoms))
    north = community.bounds[3]
    band = np.floor((north - lat) * plane.ky / band_m).astype(np.int64)
    return sorted(range(len(geoms)), key=lambda i: (int(band[i]), float(lon[i]), -float(lat[i])))


# --------------------------------------------------------------------------------------------
# quality


def _within(hh: Sequence[int], target: float, share: float) -> float:
    if not hh:
        return 0.0
    return sum(1 for h in hh if abs(h - target) <= share * target + 1e-9) / len(hh)


def _summary(cells: list[dict[str, Any]], target: float) -> dict[str, Any]:
    hh = [int(c["households"]) for c in cells]
    pp = [float(c["pp"]) for c in cells if c.get("pp") is not None]
    return {
        "cells": len(cells),
        "households": int(sum(hh)),
        "buildings": int(sum(int(c["buildings"]) for c in cells)),
        "households_min": min(hh) if hh else None,
        "households_median": float(statistics.median(hh)) if hh else None,
        "households_max": max(hh) if hh else None,
        "within_10": _within(hh, target, 0.10),
        "within_20": _within(hh, target, 0.20),
        "pp_mean": float(np.mean(pp)) if pp else None,
        "pp_min": float(np.min(pp)) if pp else None,
        "contiguous": sum(1 for c in cells if c["parts"] == 1),
        "all_contiguous": all(c["parts"] == 1 for c in cells),
        "barrier_crossings": sum(1 for c in cells if c.get("crosses_barrier")),
        "forced": sum(1 for c in cells if c.get("forced")),
    }


@functools.lru_cache(maxsize=16)
def _metric_transformer(epsg: int) -> pyproj.Transformer:
    to_metric(np.array([Point(117.0, 40.0)], dtype=object), epsg)  # the same checks of the CRS
    return pyproj.Transformer.from_crs(4326, epsg, always_xy=True)


def _to_metric(geoms: npt.NDArray[np.object_], epsg: int) -> npt.NDArray[np.object_]:
    """``grid.datum.to_metric`` for valid lon/lat input, with the transformer cached (to_metric
    looks the CRS up on every call, a tenth of a millisecond)."""
    tr = _metric_transformer(int(epsg))

    def fn(xy: FloatArray) -> FloatArray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])

    return np.asarray(shapely.transform(geoms, fn), dtype=object)


def community_quality(
    community_code: str,
    cells: Sequence[Cell],
    *,
    target: int,
    metric_epsg: int | None = None,
) -> dict[str, Any]:
    """The quality record of one community's cells (any cells: ours, stored or a baseline's).

    Parameters
    ----------
    community_code : str
    cells : sequence of Cell
        EPSG:4326 geometries.
    target : int
        Households per cell that the shares within +-10% / +-20% are measured against.
    metric_epsg : int, optional
        CRS in which areas and perimeters are measured; default the CGCS2000 Gauss-Kruger zone
        of the cells.

    Returns
    -------
    dict
        The figures of a :func:`quality_report` ``by_community`` entry, ``metric_epsg``, and
        ``cells_detail``: per cell ``households``, ``buildings``, ``area_m2``, ``pp``
        (Polsby-Popper ``4*pi*A/P**2``), ``parts`` (polygons; 1 = contiguous),
        ``crosses_barrier`` (its forced reason says so) and ``forced``.
    """
    geoms = np.empty(len(cells), dtype=object)
    geoms[:] = [c.geometry for c in cells]
    if metric_epsg is None:
        if len(cells):
            b = shapely.total_bounds(geoms)
            metric_epsg = metric_crs_for((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0)
        else:
            metric_epsg = metric_crs_for(117.0, 40.0)
    metric = _to_metric(geoms, metric_epsg) if len(cells) else geoms
    area = shapely.area(metric)
    length = shapely.length(metric)
    pp = np.where(length > 0, 4.0 * math.pi * area / np.maximum(length, 1e-12) ** 2, 0.0)
    parts = shapely.get_num_geometries(geoms)
    details = [
        {
            "households": int(c.households),
            "buildings": len(c.buildings),
            "area_m2": round(float(a), 1),
            "pp": round(float(p), 4),
            "parts": int(n),
            "crosses_barrier": bool(c.forced and "crosses a barrier" in c.forced),
            "forced": c.forced,
        }
        for c, a, p, n in zip(cells, area.tolist(), pp.tolist(), parts.tolist(), strict=True)
    ]
    return {
        "community_code": str(community_code),
        **_summary(details, target),
        "metric_epsg": int(metric_epsg),
        "cells_detail": details,
    }


def quality_report(results: Sequence[PartitionResult], target: int) -> dict[str, Any]:
    """Quality of the partitions of many communities, per community and overall.

    Parameters
    ----------
    results : sequence of PartitionResult
        From :func:`partition_community`.
    target : int
        Households per cell that the shares within +-10% / +-20% are measured against.

    Returns
    -------
    dict
        ``{"target", "communities", "overall", "by_community", "forced"}``: ``overall`` and
        each ``by_community`` entry (with ``community_code``) hold ``cells``, ``households``,
        ``buildings``, ``households_min/median/max``, ``within_10``, ``within_20`` (shares of
        cells within +-10% / +-20% of ``target``), ``pp_mean``, ``pp_min`` (Polsby-Popper
        ``4*pi*A/P**2`` in the metric CRS), ``contiguous`` (cells in one piece),
        ``all_contiguous``, ``barrier_crossings`` and ``forced`` (counts); ``forced`` lists
        every forced exception as ``{"community_code", "cell", "households", "reason"}``
        (``cell`` is 1-based, in numbering order).
    """
    all_cells: list[dict[str, Any]] = []
    by_community = []
    forced = []
    for r in results:
        cells = r.quality.get("cells_detail", [])
        all_cells.extend(cells)
        by_community.append({"community_code": r.community_code, **_summary(cells, target)})
        for n, c in enumerate(cells, start=1):
            if c.get("forced"):
                forced.append(
                    {
                        "community_code": r.community_code,
                        "cell": n,
                        "households": c["households"],
                        "reason": c["forced"],
                    }
                )
    return {
        "target": target,
        "communities": len(results),
        "overall": _summary(all_cells, target),
        "by_community": by_community,
        "forced": forced,
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def format_quality(report: dict[str, Any], max_rows: int = 30) -> str:
    """The quality report as text for people: overall figures, a table per community (the
    ``max_rows`` worst by share within +-20% when there are more) and the forced exceptions."""
    o = report["overall"]
    t = report["target"]
    lines = [
        f"grid partition quality (target {t} households per cell)",
        f"  communities {report['communities']:,}  cells {o['cells']:,}  households {o['households']:,}"
        f"  buildings {o['buildings']:,}",
        f"  households per cell: min {o['households_min']}  median {_num(o['households_median'], '{:.0f}')}"
        f"  max {o['households_max']}",
        f"  within +-10%: {_pct(o['within_10'])}   within +-20%: {_pct(o['within_20'])}",
        f"  Polsby-Popper: mean {_num(o['pp_mean'])}  min {_num(o['pp_min'])}",
        f"  contiguous cells: {o['contiguous']:,} of {o['cells']:,}"
        f"   barrier crossings: {o['barrier_crossings']:,}   forced exceptions: {o['forced']:,}",
    ]
    rows = report["by_community"]
    if rows:
        shown = rows
        title = "by community"
        if len(rows) > max_rows:
            shown = sorted(rows, key=lambda r: (r["within_20"], r["community_code"]))[:max_rows]
            title = f"the {max_rows} communities with the fewest cells within +-20%"
        lines.append(f"  {title}:")
        lines.append(
            f"    {'community':<14}{'cells':>6}{'households':>11}{'min':>6}{'median':>8}{'max':>6}"
            f"{'±10%':>8}{'±20%':>8}{'PP mean':>9}{'PP min':>8}{'contig':>8}{'forced':>7}"
        )
        for r in shown:
            lines.append(
                f"    {r['community_code']:<14}{r['cells']:>6}{r['households']:>11,}{r['households_min']!s:>6}"
                f"{_num(r['households_median'], '{:.0f}'):>8}{r['households_max']!s:>6}"
                f"{_pct(r['within_10']):>8}{_pct(r['within_20']):>8}{_num(r['pp_mean']):>9}"
                f"{_num(r['pp_min']):>8}{r['contiguous']:>5}/{r['cells']:<2}{r['forced']:>7}"
            )
    forced = report.get("forced", [])
    if forced:
        lines.append(f"  forced exceptions ({len(forced)}):")
        for f in forced[:max_rows]:
            lines.append(
                f"    {f['community_code']} cell {f['cell']:03d} ({f['households']} households): {f['reason']}"
            )
        if len(forced) > max_rows:
            lines.append(f"    ... and {len(forced) - max_rows} more")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# the entry point


def partition_community(
    community_code: str,
    community_geom: BaseGeometry,
    buildings: gpd.GeoDataFrame,
    *,
    params: PartitionParams | None = None,
    barriers: Any = None,
    metric_epsg: int | None = None,
) -> PartitionResult:
    """Cut one community into balanced, compact, contiguous grid cells.

    Parameters
    ----------
    community_code : str
        The community's 12-digit code (used in messages and the result).
    community_geom : Polygon or MultiPolygon
        The community, EPSG:4326 longitude/latitude, valid.
    buildings : GeoDataFrame
        Columns ``building_id`` (unique), ``households`` (whole numbers >= 0) and a Point
        geometry inside the community (a Polygon geometry is taken as the footprint, its
        representative point as the location); optional ``footprint`` column of Polygons, which
        are kept whole inside one cell (clipped to the community when they reach outside it).
        Another CRS than EPSG:4326 is converted.
    params : PartitionParams, optional
        Target, bounds and search settings (default ``PartitionParams()``: 300 in [200, 400]).
    barriers : GeoSeries or sequence of lines, optional
        Major roads, rivers, railways (EPSG:4326; polygons count by their outline). Cells do not
        cross them unless keeping cells within bounds requires it. Pass the lines near the
        community (an STRtree query of the city's lines), not the whole city's.
    metric_epsg : int, optional
        Metric CRS in which compactness is measured; default the CGCS2000 3-degree Gauss-Kruger
        zone of the community (EPSG:4548 in Beijing).

    Returns
    -------
    PartitionResult
        Cells in numbering order (north to south by row band, then west to east), the
        community's quality record and warnings about the input.

    Raises
    ------
    InputError
        ``no_buildings``, ``building_outside_community`` (naming the buildings),
        ``bad_households`` (missing, negative or fractional; naming the buildings),
        ``duplicate_building``, ``missing_field``, ``bad_building_geometry``.
    GeometryError
        The community is not a valid, non-empty Polygon or MultiPolygon.
    """
    params = params or PartitionParams()
    code = str(community_code)
    community, inp = _check_input(code, community_geom, buildings)
    lines_ll = _check_barriers(barriers)
    if metric_epsg is None:
        c = community.centroid
        metric_epsg = metric_crs_for(c.x, c.y)
    warnings: list[str] = []
    total = int(inp.households.sum())
    n = len(inp.ids)
    if not lines_ll and total <= params.max and _choose_k(total, n, params)[0] == 1:
        # one cell: the community itself (no building can be above max)
        cells = [Cell(list(inp.ids), total, _as_multipolygon(community), None)]
        if total < params.min:
            cells[0].forced = f"no partition within bounds: community total {total} < min {params.min}"
    else:
        cells = _partition(code, community, inp, lines_ll, params, warnings)
    quality = community_quality(code, cells, target=params.target, metric_epsg=metric_epsg)
    if n != sum(len(cl.buildings) for cl in cells):
        raise RuntimeError("internal error: a building was lost or duplicated")
    return PartitionResult(code, cells, quality, warnings)


def _partition(
    code: str,
    community: BaseGeometry,
    inp: _Input,
    lines_ll: list[BaseGeometry],
    params: PartitionParams,
    warnings: list[str],
) -> list[Cell]:
    minx, miny, maxx, maxy = community.bounds
    plane = _Plane((minx + maxx) / 2.0, (miny + maxy) / 2.0)
    plane.remember(community)
    comm_p = plane.to_plane(community)
    lines_p = []
    if lines_ll:
        arr = np.empty(len(lines_ll), dtype=object)
        arr[:] = lines_ll
        hits = shapely.STRtree(arr).query(community, predicate="intersects")
        lines_p = [plane.to_plane(lines_ll[i]) for i in sorted(hits.tolist())]
    prep = _prepare(
        comm_p,
        plane.fwd(inp.lonlat),
        inp.households,
        plane.to_plane(inp.footprints),
        lines_p,
        inp.ids,
        warnings,
    )
    atoms = _subdivide(prep)
    plan = _plan(atoms.graph, params, np.random.default_rng(params.seed))
    cell_of_atom = np.full(len(prep.w), -1, dtype=np.int64)
    for c, g in enumerate(plan.cells):
        cell_of_atom[g] = c
    faces, face_cell = atoms.faces, cell_of_atom[atoms.face_atom]
    detached: dict[int, float] = {}
    for a, area in atoms.graph.detached.items():
        detached[int(cell_of_atom[a])] = detached.get(int(cell_of_atom[a]), 0.0) + area
    k = len(plan.cells)
    geoms_p = []
    for ci in range(k):
        fs = faces[face_cell == ci]
        geoms_p.append(shapely.coverage_union_all(fs) if len(fs) > 1 else fs[0])
    geoms_ll = [_as_multipolygon(g) for g in plane.to_lonlat(np.array(geoms_p, dtype=object))]
    cells = []
    for ci in _order(geoms_ll, community, plane):
        bidx = sorted(b for a in plan.cells[ci] for b in prep.members[a])
        reasons = list(plan.forced.get(ci, []))
        if detached.get(ci, 0.0) > 0:
            reasons.append(
                f"not contiguous: holds {detached[ci]:,.0f} m² of the community without buildings "
                "that touches no other part"
            )
        cells.append(
            Cell(
                [inp.ids[b] for b in bidx],
                int(inp.households[bidx].sum()),
                geoms_ll[ci],
                "; ".join(reasons) if reasons else None,
            )
        )
    return cells
