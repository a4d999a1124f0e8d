"""Which cells cover a point: an exact point-in-cell index for millions of points.

``CellIndex`` answers, for each of many (lon, lat) points, the set of cells whose *closed*
polygon covers it, with the semantics of ``shapely.covers(cell, point)`` on the original
EPSG:4326 geometry: a point on an edge shared by two cells is covered by both; on a vertex
where three or four cells meet, by all of them. It returns the covering sets only; the
ownership rules (which of several covering cells owns the point) live in the layer above.

How it works
------------
* **A label raster in degrees.** The raster is laid directly on longitude/latitude with a
  pixel of about ``pixel_m`` metres (its size in degrees is taken at the centre latitude of
  the cells), so points and cells stay in the coordinates in which exactness is judged and a
  query projects nothing. A pixel holds

  - a cell index when the pixel square lies entirely inside that one cell and touches no
    cell boundary (every point in it is covered by exactly that cell);
  - ``OUT`` when it lies entirely outside every cell;
  - ``BOUNDARY`` otherwise: some cell boundary touches it, or cells overlap there.

* **Boundary pixels are found conservatively.** Every segment of every ring is walked with
  a vectorised supercover traversal (along its longer axis) over pixel squares grown by a
  tiny margin (at least ``1e-6`` of a pixel and 10,000 times the rounding of the affine
  lon/lat -> pixel map), so a pixel is pure only
  when its grown square provably misses every boundary. Such a square is connected and
  touches no boundary, so it is inside or outside each cell as a whole, and its centre
  decides. Centres are classified with an even-odd scanline fill per cell (crossings of the
  pixel-centre rows, a difference array and a cumulative sum): fast, and wrong only within
  rounding distance of an edge, where the pixel is a boundary pixel anyway.
* **Tiles.** The raster is cut into ``TILE`` x ``TILE`` pixel tiles. A small directory over
  the tile grid holds, per tile, either a slot in the tile store or one label for the whole
  tile (tiles no boundary reaches: far outside, inside holes, inside large cells), so a
  city-wide extent only stores the tiles the boundaries pass through. When the stored pixels
  would exceed ``max_pixels``, the pixel is made coarser (``CellIndex.pixel_m`` says what
  was used).
* **Queries.** Pixel and tile indices are computed with numpy; pure pixels are answered by
  a gather. Points in boundary pixels get the exact test: the candidates are the cell parts
  listed for the point's ``BLOCK`` x ``BLOCK`` pixel block (parts whose envelope reaches
  the block), kept when their envelope holds the point, then ``shapely.intersects_xy`` on
  the whole prepared cell (for a point and a polygonal cell this *is* ``covers``), pairs
  sorted by cell, which keeps GEOS's prepared indexes in cache. Points in the rare uniform
  tiles where cells overlap use a ``shapely.STRtree`` of the part envelopes instead.
* ``nearest`` and ``boundary_distance`` measure in metres in a metric CRS
  (``grid.datum.metric_crs_for``: the CGCS2000 3-degree Gauss-Kruger zone in China).

The index is immutable after construction, holds no global state and gives the same answers
whatever the order of the input rows: cells are kept sorted by code, and index ``i`` always
means ``codes[i]``. Exactness is that of ``shapely.covers`` for valid cells; the raster
treats a cell's rings by the even-odd rule, as GEOS's point-in-polygon does.

On about 33,000 non-convex cells over 1,400 km2 (``python -m benchmarks --only assign``):
build under 2 s, about 140 MiB, some 8 million points/s, about 11 times
``geopandas.sjoin(..., predicate="within")`` with a prebuilt spatial index.

Examples
--------
>>> from shapely import box
>>> index = CellIndex(["b", "a"], [box(116.40, 39.90, 116.41, 39.91), box(116.39, 39.90, 116.40, 39.91)])
>>> index.codes.tolist()
['a', 'b']
>>> first, count = index.covering([116.395, 116.40, 116.42], [39.905, 39.905, 39.905])
>>> first.tolist(), count.tolist()
([0, 0, -1], [1, 2, 0])
>>> index.covering_sets([116.40], [39.905])
[[0, 1]]
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, Final, TypeAlias, cast

import numpy as np
import numpy.typing as npt
import pyproj
import shapely

from grid.datum import check_lonlat_range, metric_crs_for, to_metric
from grid.errors import GeometryError, InputError

__all__ = ["TILE", "CellIndex"]

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
GeometryArray: TypeAlias = npt.NDArray[np.object_]

#: Pixels per tile side (a power of two). 256 pixels of 5 m make tiles of 1.28 km.
TILE: Final = 256
_SHIFT: Final = TILE.bit_length() - 1
_MASK: Final = TILE - 1

#: Pixels per side of a candidate block (a power of two dividing TILE): points that need the
#: exact test take their candidate cells from their block's list.
BLOCK: Final = 16
_BSHIFT: Final = BLOCK.bit_length() - 1
_BPT: Final = TILE // BLOCK  # blocks per tile side

#: Points are looked up in chunks of this many, to bound the temporary arrays.
_CHUNK: Final = 1 << 22

#: Smallest margin (in pixels) by which pixel squares are grown when boundaries are traced.
_MIN_MARGIN_PX: Final = 1e-6

# WGS84 ellipsoid: metres per degree at a latitude
_WGS_A: Final = 6378137.0
_WGS_E2: Final = 6.69437999014e-3

_POLYGON: Final = 3
_MULTIPOLYGON: Final = 6


def _metres_per_degree(lat: float) -> tuple[float, float]:
    """(east, north) metres per degree of longitude and latitude on WGS84 at ``lat``."""
    phi = math.radians(lat)
    w = 1.0 - _WGS_E2 * math.sin(phi) ** 2
    north = math.radians(1.0) * _WGS_A * (1.0 - _WGS_E2) / w**1.5
    east = math.radians(1.0) * _WGS_A / math.sqrt(w) * math.cos(phi)
    return east, north


def _as_points(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray, tuple[int, ...]]:
    """Broadcast ``lon``/``lat`` to two flat float64 arrays; also return the broadcast shape."""
    try:
        x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise InputError(f"coordinates must be numbers or numeric arrays of one shape: {exc}") from exc
    return np.ascontiguousarray(x).ravel(), np.ascontiguousarray(y).ravel(), x.shape


def _expand(counts: IntArray) -> tuple[IntArray, IntArray]:
    """For ``counts[i]`` items per row i: (row of each item, rank of the item within its row)."""
    total = int(counts.sum())
    rows = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    rank = np.arange(total, dtype=np.int64) - starts[rows]
    return rows, rank


def _walk(
    a0: FloatArray,
    b0: FloatArray,
    a1: FloatArray,
    b1: FloatArray,
    margin: float,
    a_range: tuple[int, int],
    b_range: tuple[int, int],
) -> tuple[IntArray, IntArray, IntArray]:
    """Supercover along axis ``a`` of segments with ``|a1 - a0| >= |b1 - b0|``.

    Returns ``(segment, ka, kb)`` for every unit square ``[ka, ka + 1] x [kb, kb + 1]``
    grown by ``margin`` on each side that the segment meets, with ``ka`` and ``kb`` limited
    to the inclusive ranges given. Walking along the longer axis keeps the rounding of the
    clipped cross-axis range below that of the coordinates themselves (slope <= 1).
    """
    lo_a = np.minimum(a0, a1)
    hi_a = np.maximum(a0, a1)
    k0 = np.maximum(np.floor(lo_a - margin), a_range[0]).astype(np.int64)
    k1 = np.minimum(np.floor(hi_a + margin), a_range[1]).astype(np.int64)
    seg, rank = _expand(np.maximum(k1 - k0 + 1, 0))
    ka = k0[seg] + rank
    sa0, sb0 = a0[seg], b0[seg]
    da = a1[seg] - sa0
    db = b1[seg] - sb0
    flat = da == 0.0  # a point (zero-length segment): the whole of it is in the strip
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (ka - margin - sa0) / da
        t2 = (ka + 1.0 + margin - sa0) / da
    t_lo = np.where(flat, 0.0, np.clip(np.minimum(t1, t2), 0.0, 1.0))
    t_hi = np.where(flat, 1.0, np.clip(np.maximum(t1, t2), 0.0, 1.0))
    b_at_lo = sb0 + t_lo * db
    b_at_hi = sb0 + t_hi * db
    j0 = np.maximum(np.floor(np.minimum(b_at_lo, b_at_hi) - margin), b_range[0]).astype(np.int64)
    j1 = np.minimum(np.floor(np.maximum(b_at_lo, b_at_hi) + margin), b_range[1]).astype(np.int64)
    pair, rank2 = _expand(np.maximum(j1 - j0 + 1, 0))
    return seg[pair], ka[pair], j0[pair] + rank2


def _supercover(
    u0: FloatArray,
    v0: FloatArray,
    u1: FloatArray,
    v1: FloatArray,
    margin: float,
    rows: tuple[int, int],
    cols: tuple[int, int],
) -> tuple[IntArray, IntArray, IntArray]:
    """Pixels ``(row, col)`` whose square grown by ``margin`` meets a segment ``(u0, v0)-(u1, v1)``.

    Pixel ``(r, c)`` is the square ``[c, c + 1] x [r, r + 1]`` in pixel coordinates
    (``u`` = column axis, ``v`` = row axis). Only rows and columns in the inclusive ranges
    given are returned. Returns ``(segment index, row, col)``; a pixel met by several
    segments appears once per segment.
    """
    steep = np.abs(v1 - v0) > np.abs(u1 - u0)
    i_flat = np.flatnonzero(~steep)
    i_steep = np.flatnonzero(steep)
    s1, c1, r1 = _walk(u0[i_flat], v0[i_flat], u1[i_flat], v1[i_flat], margin, cols, rows)
    s2, r2, c2 = _walk(v0[i_steep], u0[i_steep], v1[i_steep], u1[i_steep], margin, rows, cols)
    return (
        np.concatenate([i_flat[s1], i_steep[s2]]),
        np.concatenate([r1, r2]),
        np.concatenate([c1, c2]),
    )


def _crossings(
    u0: FloatArray, v0: FloatArray, u1: FloatArray, v1: FloatArray, rows: tuple[int, int]
) -> tuple[IntArray, IntArray, FloatArray]:
    """Where segments cross the centre lines ``v = r + 0.5`` of the rows in ``rows`` (inclusive).

    Half-open rule: a segment crosses row ``r`` when ``min(v0, v1) <= r + 0.5 < max(v0, v1)``,
    so every closed ring crosses every row an even number of times. Returns
    ``(segment index, row, u of the crossing)``.
    """
    lo = np.minimum(v0, v1)
    hi = np.maximum(v0, v1)
    r0 = np.maximum(np.ceil(lo - 0.5), rows[0]).astype(np.int64)
    r1 = np.minimum(np.ceil(hi - 0.5) - 1.0, rows[1]).astype(np.int64)
    seg, rank = _expand(np.maximum(r1 - r0 + 1, 0))
    row = r0[seg] + rank
    su0, sv0 = u0[seg], v0[seg]
    u = su0 + (row + 0.5 - sv0) * ((u1[seg] - su0) / (v1[seg] - sv0))
    return seg, row, u


def _ring_segments(geoms: GeometryArray, n: int) -> tuple[tuple[FloatArray, ...], IntArray]:
    """Ring segments of polygonal ``geoms``, grouped by geometry, and each geometry's offsets.

    Segments are ``(ax, ay, dx, dy, 1 / (dx**2 + dy**2))`` (0 for zero-length segments);
    the offsets have ``n + 1`` entries.
    """
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    same = ring_of[1:] == ring_of[:-1]
    owner = part_of[ring_part[ring_of[:-1][same]]]
    a, b = xy[:-1][same], xy[1:][same]
    d = b - a
    length2 = (d * d).sum(axis=1)
    inv_length2 = np.divide(1.0, length2, out=np.zeros_like(length2), where=length2 > 0.0)
    segments = tuple(np.ascontiguousarray(c) for c in (a[:, 0], a[:, 1], d[:, 0], d[:, 1], inv_length2))
    offsets = np.searchsorted(owner, np.arange(n + 1)).astype(np.int64)
    return segments, offsets


class CellIndex:
    """Exact "which cells cover this point" for millions of points.

    Parameters
    ----------
    codes : sequence of str
        One unique code per cell.
    geoms : sequence of shapely Polygon or MultiPolygon
        The cells, longitude/latitude (EPSG:4326), same length as ``codes``. Empty polygons
        are allowed and cover nothing. Cells may overlap (each covering cell is reported).
    pixel_m : float, default 5.0
        Raster pixel size in metres (the pixel is this size at the centre latitude of the
        cells). Smaller pixels mean fewer points need the exact test but more memory.
    metric_epsg : int, optional
        Projected CRS for ``nearest`` and ``boundary_distance``; default
        ``grid.datum.metric_crs_for`` at the centre of the cells.
    max_pixels : int, default 200_000_000
        Upper bound on the stored raster pixels (and tile-directory entries); when the
        boundaries would need more at ``pixel_m``, a coarser pixel is used.

    Attributes
    ----------
    codes : numpy.ndarray of str
        Code of each cell index, sorted: index ``i`` is ``codes[i]`` and lower index means
        lower code, whatever the input order.
    pixel_m : float
        The pixel size actually used (metres at the centre latitude).
    memory_bytes : int
        Size of the index: raster tiles and tile directory (``info["raster_bytes"]``),
        candidate blocks, part envelopes and metric ring segments
        (``info["candidate_bytes"]``), codes, plus an estimate of the GEOS side: the
        geometries' coordinates (lon/lat and metric) and the STRtrees
        (``info["geometry_bytes_estimate"]``).
    info : dict
        Build figures: ``build_seconds``, ``pixel_m``, ``tiles_stored``, ``tiles_uniform``,
        ``tile_grid``, ``stored_pixels``, ``boundary_pixels``, the byte counts above and
        ``metric_epsg``.

    Notes
    -----
    Queries only read the index. GEOS builds the point-in-polygon index of a prepared cell
    lazily, on the first exact test against it, so the first bulk query is somewhat slower
    than the next ones.

    Raises
    ------
    InputError
        Lengths differ, a code is not a non-empty string, codes repeat, ``pixel_m`` or
        ``max_pixels`` not positive.
    GeometryError
        A geometry is missing or not a Polygon/MultiPolygon.
    CoordinateRangeError
        Coordinates are not plausible longitude/latitude degrees.
    """

    codes: npt.NDArray[np.str_]
    pixel_m: float
    memory_bytes: int
    info: dict[str, Any]

    def __init__(
        self,
        codes: Sequence[str],
        geoms: Sequence[Any],
        *,
        pixel_m: float = 5.0,
        metric_epsg: int | None = None,
        max_pixels: int = 200_000_000,
    ) -> None:
        t_start = time.perf_counter()
        code_list = list(codes)
        geom_arr = np.empty(len(code_list), dtype=object)
        geom_list = list(getattr(geoms, "values", geoms))
        if len(geom_list) != len(code_list):
            raise InputError(f"got {len(code_list)} codes but {len(geom_list)} geometries")
        geom_arr[:] = geom_list
        if not all(isinstance(c, str) and c for c in code_list):
            bad = next(i for i, c in enumerate(code_list) if not (isinstance(c, str) and c))
            raise InputError(f"cell codes must be non-empty strings; #{bad} is {code_list[bad]!r}")
        if not (isinstance(pixel_m, int | float) and math.isfinite(pixel_m) and pixel_m > 0):
            raise InputError(f"pixel_m must be a positive number of metres, not {pixel_m!r}")
        if not (isinstance(max_pixels, int) and max_pixels > 0):
            raise InputError(f"max_pixels must be a positive integer, not {max_pixels!r}")
        code_arr = np.array(code_list, dtype=np.str_) if code_list else np.array([], dtype="<U1")
        order = np.argsort(code_arr, kind="stable")
        self.codes = code_arr[order]
        if len(self.codes) > 1:
            dup = np.flatnonzero(self.codes[1:] == self.codes[:-1])
            if dup.size:
                raise InputError(
                    f"cell codes must be unique; {self.codes[dup[0]]!r} appears more than once",
                    details={"duplicates": sorted({str(c) for c in self.codes[dup]})[:20]},
                )
        geom_arr = geom_arr[order]
        is_geom = shapely.is_geometry(geom_arr)
        types = np.full(len(geom_arr), -1, dtype=np.int64)
        types[is_geom] = shapely.get_type_id(geom_arr[is_geom])
        bad_type = ~np.isin(types, (_POLYGON, _MULTIPOLYGON))
        if bad_type.any():
            i = int(np.argmax(bad_type))
            g = geom_arr[i]
            kind = "missing" if g is None else g.geom_type if is_geom[i] else type(g).__name__
            raise GeometryError(
                f"cell {self.codes[i]!r}: geometry must be a Polygon or MultiPolygon, not {kind}",
                details={"code": str(self.codes[i])},
            )
        n = len(geom_arr)
        self._n = n
        self._out = n  # label: outside every cell
        self._bnd = n + 1  # label: the exact test decides
        # Own copies (same coordinates, bit for bit) so preparing them leaves the caller's alone.
        self._geoms: GeometryArray = cast(GeometryArray, shapely.transform(geom_arr, lambda c: c))
        shapely.prepare(self._geoms)
        parts, part_cell = shapely.get_parts(self._geoms, return_index=True)
        self._part_cell: IntArray = part_cell.astype(np.int64)
        self._part_bounds: FloatArray = shapely.bounds(parts)
        self._part_box = tuple(np.ascontiguousarray(self._part_bounds[:, k]) for k in range(4))
        self._multipart = bool(len(parts) > n)
        # candidates by part envelope: a far-flung part does not make its cell a candidate everywhere
        self._tree = shapely.STRtree(shapely.box(*self._part_bounds.T))

        xy, feature = shapely.get_coordinates(self._geoms, return_index=True)
        check_lonlat_range(xy[:, 0], xy[:, 1], datum_name="wgs84", feature_index=feature)
        bounds = shapely.bounds(self._geoms)
        nonempty = ~shapely.is_empty(self._geoms)
        if nonempty.any():
            b = bounds[nonempty]
            extent = (
                float(b[:, 0].min()),
                float(b[:, 1].min()),
                float(b[:, 2].max()),
                float(b[:, 3].max()),
            )
        else:
            extent = (116.4, 39.9, 116.4, 39.9)
        lon_c, lat_c = (extent[0] + extent[2]) / 2.0, (extent[1] + extent[3]) / 2.0
        self._metric_epsg = int(metric_epsg) if metric_epsg is not None else metric_crs_for(lon_c, lat_c)
        self._metric: GeometryArray = to_metric(self._geoms, self._metric_epsg)
        self._metric_tree = shapely.STRtree(self._metric)
        self._seg, self._seg_off = _ring_segments(self._metric, n)
        self._to_metric = pyproj.Transformer.from_crs(4326, self._metric_epsg, always_xy=True)

        self._build_raster(extent, lat_c, float(pixel_m), max_pixels)
        self._build_blocks()
        candidate_bytes = sum(
            a.nbytes
            for a in (
                self._blk_off,
                self._blk_part,
                self._part_bounds,
                self._part_cell,
                self._seg_off,
                *self._seg,
            )
        )
        coords = int(shapely.get_num_coordinates(self._geoms).sum())
        # lon/lat and metric coordinates, plus STRtree nodes and envelopes (an estimate)
        geometry_bytes = 2 * 16 * coords + 3 * 64 * len(self._part_cell) + 64 * n
        self.memory_bytes = int(
            self.info["raster_bytes"] + candidate_bytes + self.codes.nbytes + geometry_bytes
        )
        self.info["candidate_bytes"] = int(candidate_bytes)
        self.info["geometry_bytes_estimate"] = geometry_bytes
        self.info["metric_epsg"] = self._metric_epsg
        self.info["build_seconds"] = time.perf_counter() - t_start

    # --- construction ---------------------------------------------------------------------

    def _segments(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, IntArray]:
        """All ring segments in pixel coordinates: ``u0, v0, u1, v1, cell``."""
        parts, part_cell = shapely.get_parts(self._geoms, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        xy, ring_of = shapely.get_coordinates(rings, return_index=True)
        u, v = self._to_pixel(xy[:, 0], xy[:, 1])
        same = ring_of[1:] == ring_of[:-1]
        cell = part_cell[ring_part[ring_of[:-1][same]]].astype(np.int64)
        return u[:-1][same], v[:-1][same], u[1:][same], v[1:][same], cell

    def _to_pixel(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        return (x - self._x0) * self._inv_dx, (y - self._y0) * self._inv_dy

    def _set_grid(self, extent: tuple[float, float, float, float], lat_c: float, pixel_m: float) -> None:
        east, north = _metres_per_degree(lat_c)
        self.pixel_m = pixel_m
        self._dx = pixel_m / east
        self._dy = pixel_m / north
        self._inv_dx = 1.0 / self._dx
        self._inv_dy = 1.0 / self._dy
        # a border of one tile plus two pixels round the cells: no boundary reaches the border
        # tiles, so a query clamps any point (even NaN) into the grid and lands on OUT
        self._x0 = extent[0] - (TILE + 2.0) * self._dx
        self._y0 = extent[1] - (TILE + 2.0) * self._dy
        width = math.ceil((extent[2] - self._x0) * self._inv_dx) + 3
        height = math.ceil((extent[3] - self._y0) * self._inv_dy) + 3
        self._ntx = -(-width // TILE) + 1
        self._nty = -(-height // TILE) + 1
        # the margin must exceed the rounding of the lon/lat -> pixel map (and of clipping
        # segments in pixel coordinates) by far
        eps = float(np.finfo(np.float64).eps)
        scale = max(abs(extent[0]), abs(extent[2]), abs(extent[1]), abs(extent[3]), 1.0)
        span_px = max(self._ntx, self._nty) * TILE
        rounding_px = 8.0 * eps * (scale * max(self._inv_dx, self._inv_dy) + span_px)
        self._margin = max(_MIN_MARGIN_PX, 1e4 * rounding_px)
        if self._margin > 0.01:
            raise InputError(f"pixel_m={pixel_m} is too small for coordinates of this magnitude")

    def _build_raster(
        self, extent: tuple[float, float, float, float], lat_c: float, pixel_m: float, max_pixels: int
    ) -> None:
        # 1. Pixel size: coarsen until the tiles the boundaries reach fit in max_pixels.
        while True:
            self._set_grid(extent, lat_c, pixel_m)
            u0, v0, u1, v1, cell = self._segments()
            tm = (self._margin + 0.01) / TILE  # tile-level margin: includes every pixel-level hit
            _, tr, tc = _supercover(
                u0 / TILE, v0 / TILE, u1 / TILE, v1 / TILE, tm, (0, self._nty - 1), (0, self._ntx - 1)
            )
            hit = np.zeros(self._nty * self._ntx, dtype=bool)
            hit[tr * self._ntx + tc] = True
            est = np.flatnonzero(hit)
            need = len(est) * TILE * TILE + self._nty * self._ntx
            if need <= max_pixels:
                break
            pixel_m *= max(1.1, math.sqrt(need / max_pixels))

        n = self._n
        dtype = np.uint16 if n + 2 <= np.iinfo(np.uint16).max else np.uint32
        unset = np.iinfo(np.int32).min
        directory = np.full((self._nty, self._ntx), unset, dtype=np.int32)
        store = np.empty((max(len(est), 1), TILE, TILE), dtype=dtype)
        used = 0

        # 2. Segments by band (tile row), with a row of slack each side.
        b0 = np.clip(np.floor((np.minimum(v0, v1) - 1.0) / TILE), 0, self._nty - 1).astype(np.int64)
        b1 = np.clip(np.floor((np.maximum(v0, v1) + 1.0) / TILE), 0, self._nty - 1).astype(np.int64)
        seg_of, rank = _expand(b1 - b0 + 1)
        band_of = b0[seg_of] + rank
        by_band = np.argsort(band_of, kind="stable")
        seg_sorted = seg_of[by_band]
        band_start = np.searchsorted(band_of[by_band], np.arange(self._nty + 1))
        est_start = np.searchsorted(est, np.arange(self._nty + 1) * self._ntx)

        for band in range(self._nty):
            segs = seg_sorted[band_start[band] : band_start[band + 1]]
            if segs.size == 0:
                continue
            row_lo = band * TILE
            rows = (row_lo, row_lo + TILE - 1)
            su0, sv0, su1, sv1, scell = u0[segs], v0[segs], u1[segs], v1[segs], cell[segs]
            # boundary pixels of this band
            _, br, bc = _supercover(su0, sv0, su1, sv1, self._margin, rows, (0, self._ntx * TILE - 1))
            br -= row_lo
            in_band = np.zeros(self._ntx, dtype=bool)
            in_band[est[est_start[band] : est_start[band + 1]] - band * self._ntx] = True
            in_band[bc >> _SHIFT] = True
            tiles = np.flatnonzero(in_band)
            if tiles.size == 0:
                continue
            width = tiles.size * TILE
            tile_pos = np.cumsum(in_band) - 1  # tile column -> position among this band's tiles
            bcc = tile_pos[bc >> _SHIFT] * TILE + (bc & _MASK)

            # even-odd fill of the pixel centres, per cell, as spans [start, end) per row
            cs, cr, cu = _crossings(su0, sv0, su1, sv1, rows)
            ccell = scell[cs]
            cr -= row_lo
            col = np.clip(np.ceil(cu - 0.5), -1, self._ntx * TILE).astype(np.int64)
            # columns of tiles not kept here move to the start of the next kept tile (monotonic,
            # so sorting by the moved column pairs the crossings as the true ones would)
            tcol = np.clip(col >> _SHIFT, 0, self._ntx - 1)
            kept = in_band[tcol] & (col >= 0) & (col < self._ntx * TILE)
            nxt = np.searchsorted(tiles, tcol + (col >= 0))
            ccol = np.where(kept, tile_pos[tcol] * TILE + (col & _MASK), nxt * TILE)
            span = width + 1
            if (self._n + 1) * TILE * span < 2**62:  # one packed integer key: a plain sort
                group, ccol = np.divmod(np.sort((ccell * TILE + cr) * span + ccol), span)
                ccell, cr = np.divmod(group, TILE)
            else:
                order = np.lexsort((ccol, cr, ccell))
                ccell, cr, ccol = ccell[order], cr[order], ccol[order]
            if cr.size % 2 or np.any((cr[0::2] != cr[1::2]) | (ccell[0::2] != ccell[1::2])):
                raise GeometryError("a cell ring crosses a scanline an odd number of times")
            key = cr * span + ccol
            is_start = np.zeros(cr.size, dtype=bool)
            is_start[0::2] = True
            # labels by a cumulative sum modulo 2**bits: OUT + (cell - OUT) inside one span
            modulus = int(np.iinfo(dtype).max) + 1
            weight = np.where(is_start, (ccell - self._out) % modulus, (self._out - ccell) % modulus)
            diff = np.zeros((TILE, span), dtype=dtype)
            diff[:, 0] = self._out
            np.add.at(diff.reshape(-1), key, weight.astype(dtype))
            lab = np.cumsum(diff, axis=1, dtype=dtype)[:, :width]
            # overlapping cells (a running count above 1; ends sort before starts at a column)
            events = np.sort(key * 2 + is_start)
            if np.cumsum((events & 1) * 2 - 1).max(initial=0) > 1:
                cdiff = np.zeros((TILE, span), dtype=np.int32)
                np.add.at(cdiff.reshape(-1), key, np.where(is_start, 1, -1).astype(np.int32))
                lab[np.cumsum(cdiff, axis=1)[:, :width] > 1] = self._bnd
            lab[br, bcc] = self._bnd

            # split into tiles: those a boundary reaches are stored, the others are uniform
            mixed_mask = np.zeros(tiles.size, dtype=bool)
            mixed_mask[bcc >> _SHIFT] = True
            uniform = np.flatnonzero(~mixed_mask)
            directory[band, tiles[uniform]] = -lab[0, uniform * TILE].astype(np.int32) - 1
            mixed = np.flatnonzero(mixed_mask)
            if mixed.size:
                if used + mixed.size > len(store):  # never expected: the estimate includes every tile
                    grow = np.empty((used + mixed.size, TILE, TILE), dtype=dtype)
                    grow[:used] = store[:used]
                    store = grow
                by_tile = lab.reshape(TILE, tiles.size, TILE).transpose(1, 0, 2)
                if mixed.size == tiles.size:
                    store[used : used + mixed.size] = by_tile
                else:
                    np.take(by_tile, mixed, axis=0, out=store[used : used + mixed.size])
                directory[band, tiles[mixed]] = np.arange(used, used + mixed.size, dtype=np.int32)
                used += mixed.size

        if used < 0.9 * len(store):
            store = store[: max(used, 1)].copy()  # slot 0 always exists: queries gather from it
        # 3. Tiles no boundary reaches: one label each, from the tile centre.
        self._label_untouched_tiles(directory, unset)
        self._dir = directory
        self._dir_flat = directory.reshape(-1)
        self._store = store
        self._store_flat = store.reshape(-1)
        raster_bytes = int(store.nbytes + directory.nbytes)
        self.info = {
            "pixel_m": self.pixel_m,
            "tile": TILE,
            "tiles_stored": int(used),
            "tiles_uniform": int(np.count_nonzero(directory < 0)),
            "tile_grid": [int(self._nty), int(self._ntx)],
            "stored_pixels": int(used) * TILE * TILE,
            "boundary_pixels": int(np.count_nonzero(store[:used] == self._bnd)),
            "raster_bytes": raster_bytes,
        }

    def _label_untouched_tiles(self, directory: npt.NDArray[np.int32], unset: int) -> None:
        """Label the tiles not processed band by band: inside cell bboxes by their centre, else OUT."""
        nonempty = np.flatnonzero(~shapely.is_empty(self._geoms))
        covered = np.zeros((self._nty + 1, self._ntx + 1), dtype=np.int64)
        if nonempty.size:
            b = shapely.bounds(self._geoms[nonempty])
            ua, va = self._to_pixel(b[:, 0], b[:, 1])
            ub, vb = self._to_pixel(b[:, 2], b[:, 3])
            tx0 = np.clip(np.floor(ua / TILE), 0, self._ntx - 1).astype(np.int64)
            tx1 = np.clip(np.floor(ub / TILE), 0, self._ntx - 1).astype(np.int64) + 1
            ty0 = np.clip(np.floor(va / TILE), 0, self._nty - 1).astype(np.int64)
            ty1 = np.clip(np.floor(vb / TILE), 0, self._nty - 1).astype(np.int64) + 1
            np.add.at(covered, (ty0, tx0), 1)
            np.add.at(covered, (ty0, tx1), -1)
            np.add.at(covered, (ty1, tx0), -1)
            np.add.at(covered, (ty1, tx1), 1)
            covered = covered.cumsum(axis=0).cumsum(axis=1)
        todo = (directory == unset) & (covered[: self._nty, : self._ntx] > 0)
        ty, tx = np.nonzero(todo)
        if ty.size:
            # a centre is half a tile from every boundary: plain point-in-polygon is exact there
            cx = self._x0 + (tx * TILE + TILE / 2).astype(np.float64) * self._dx
            cy = self._y0 + (ty * TILE + TILE / 2).astype(np.float64) * self._dy
            first, count = self._exact(cx, cy)
            value = np.where(count == 0, self._out, np.where(count == 1, first, self._bnd))
            directory[ty, tx] = -(value.astype(np.int32)) - 1
        directory[directory == unset] = -self._out - 1

    def _build_blocks(self) -> None:
        """Per block of the stored tiles: the cell parts whose envelope may reach it (CSR)."""
        pb = self._part_bounds
        ok = np.flatnonzero(np.isfinite(pb).all(axis=1))
        ua, va = self._to_pixel(pb[ok, 0], pb[ok, 1])
        ub, vb = self._to_pixel(pb[ok, 2], pb[ok, 3])
        eps = 0.01  # pixels; far above the rounding of the lon/lat -> pixel map
        last_c, last_r = self._ntx * TILE - 1, self._nty * TILE - 1
        c0 = np.clip(np.floor(ua - eps), 0, last_c).astype(np.int64)
        c1 = np.clip(np.floor(ub + eps), 0, last_c).astype(np.int64)
        r0 = np.clip(np.floor(va - eps), 0, last_r).astype(np.int64)
        r1 = np.clip(np.floor(vb + eps), 0, last_r).astype(np.int64)
        # (part, tile) pairs over each envelope, kept where the tile is stored
        tx0, tx1, ty0, ty1 = c0 >> _SHIFT, c1 >> _SHIFT, r0 >> _SHIFT, r1 >> _SHIFT
        nx = tx1 - tx0 + 1
        part, rank = _expand(nx * (ty1 - ty0 + 1))
        tx = tx0[part] + rank % nx[part]
        ty = ty0[part] + rank // nx[part]
        slot = self._dir[ty, tx].astype(np.int64)
        keep = slot >= 0
        part, tx, ty, slot = part[keep], tx[keep], ty[keep], slot[keep]
        # blocks of that tile inside the envelope
        bc0 = np.maximum(c0[part], tx << _SHIFT) >> _BSHIFT
        bc1 = np.minimum(c1[part], (tx << _SHIFT) + _MASK) >> _BSHIFT
        br0 = np.maximum(r0[part], ty << _SHIFT) >> _BSHIFT
        br1 = np.minimum(r1[part], (ty << _SHIFT) + _MASK) >> _BSHIFT
        bnx = bc1 - bc0 + 1
        pair, rank = _expand(bnx * (br1 - br0 + 1))
        bx = bc0[pair] + rank % bnx[pair]
        by = br0[pair] + rank // bnx[pair]
        block = slot[pair] * (_BPT * _BPT) + (by % _BPT) * _BPT + (bx % _BPT)
        entry = ok[part[pair]]
        order = np.lexsort((entry, block))
        n_blocks = len(self._store) * _BPT * _BPT
        self._blk_part: IntArray = entry[order].astype(np.int32)
        counts = np.bincount(block, minlength=n_blocks)
        self._blk_off: IntArray = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    # --- queries ----------------------------------------------------------------------------

    def _labels(self, x: FloatArray, y: FloatArray) -> tuple[IntArray, IntArray, IntArray]:
        """Raster label of each point; the points needing the exact test and their blocks.

        Returns ``(label, need, block)``: the label is a cell index, ``n`` (outside every
        cell) or ``n + 1`` (exact test); ``need`` are the positions with ``n + 1`` and
        ``block`` their candidate block (-1 outside the stored tiles).
        """
        u = (x - self._x0) * self._inv_dx
        v = (y - self._y0) * self._inv_dy
        # clamp into the grid; fmin/fmax send NaN to the far border tile, which is OUT
        c = np.fmax(np.fmin(u, self._ntx * TILE - 1.0, out=u), 0.0, out=u).astype(np.int64)
        r = np.fmax(np.fmin(v, self._nty * TILE - 1.0, out=v), 0.0, out=v).astype(np.int64)
        d = self._dir_flat[(r >> _SHIFT) * self._ntx + (c >> _SHIFT)].astype(np.int64)
        stored = d >= 0
        r &= _MASK
        c &= _MASK
        pixel = self._store_flat[(np.maximum(d, 0) << (2 * _SHIFT)) + (r << _SHIFT) + c]
        label = np.where(stored, pixel, -1 - d)
        need = np.flatnonzero(label == self._bnd)
        dn = d[need]
        block = np.where(dn >= 0, dn * (_BPT * _BPT) + (r[need] >> _BSHIFT) * _BPT + (c[need] >> _BSHIFT), -1)
        return label, need, block

    def _exact_pairs(
        self, x: FloatArray, y: FloatArray, block: IntArray | None = None
    ) -> tuple[IntArray, IntArray]:
        """All (point, cell) pairs where the closed cell covers the point, sorted by cell then point.

        Candidates are the cell parts listed for the point's block (``block >= 0``) or found
        by the STRtree of part envelopes; those whose envelope holds the point are tested
        with ``shapely.intersects_xy`` on the whole prepared cell (``covers`` for a point).
        """
        if x.size == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        if block is None:
            block = np.full(x.size, -1, dtype=np.int64)
        listed = np.flatnonzero(block >= 0)
        pi = part = np.zeros(0, dtype=np.int64)
        if listed.size:
            lo = self._blk_off[block[listed]]
            p, rank = _expand(self._blk_off[block[listed] + 1] - lo)
            part = self._blk_part[lo[p] + rank].astype(np.int64)
            pi = listed[p]
        rest = np.flatnonzero(block < 0)
        if rest.size:
            qi, qpart = self._tree.query(shapely.points(x[rest], y[rest]))
            pi = np.concatenate([pi, rest[qi]])
            part = np.concatenate([part, qpart.astype(np.int64)])
        xs, ys = x[pi], y[pi]
        bx0, by0, bx1, by1 = self._part_box
        inside = (bx0[part] <= xs) & (xs <= bx1[part]) & (by0[part] <= ys) & (ys <= by1[part])
        pi, ci = pi[inside], self._part_cell[part[inside]]
        # sort by cell: testing one cell's points together is several times faster (locality
        # of the prepared geometries); equal keys are one cell met through two of its parts
        key = np.sort(ci * x.size + pi)
        if self._multipart and key.size:
            key = key[np.r_[True, key[1:] != key[:-1]]]
        ci, pi = np.divmod(key, x.size)
        hit = shapely.intersects_xy(self._geoms[ci], x[pi], y[pi])
        return pi[hit], ci[hit]

    def _exact(
        self, x: FloatArray, y: FloatArray, block: IntArray | None = None
    ) -> tuple[IntArray, IntArray]:
        """(first, count) by testing the candidate cells of each point exactly."""
        pi, ci = self._exact_pairs(x, y, block)
        count = np.bincount(pi, minlength=x.size).astype(np.int64)
        first = np.full(x.size, self._n, dtype=np.int64)
        np.minimum.at(first, pi, ci)
        first[count == 0] = -1
        return first, count

    def covering(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[IntArray, npt.NDArray[np.int32]]:
        """For each point, the covering cell with the lowest code and the number of covering cells.

        Parameters
        ----------
        lon, lat : array_like
            Longitudes and latitudes in degrees (EPSG:4326), broadcastable to one shape.

        Returns
        -------
        first : numpy.ndarray of int64
            Index (into ``codes``) of the covering cell with the lowest code, -1 when none.
        count : numpy.ndarray of int32
            Number of cells whose closed polygon covers the point (``shapely.covers``): 2 on
            an edge shared by two cells, 3 or 4 on a vertex where as many meet. 0 for
            non-finite coordinates.

        Both have the broadcast shape of ``lon`` and ``lat``.
        """
        x, y, shape = _as_points(lon, lat)
        first = np.empty(x.size, dtype=np.int64)
        count = np.empty(x.size, dtype=np.int32)
        for a in range(0, x.size, _CHUNK):
            xs, ys = x[a : a + _CHUNK], y[a : a + _CHUNK]
            val, need, block = self._labels(xs, ys)
            pure = val < self._n
            f = np.where(pure, val, -1)
            k = pure.astype(np.int32)
            if need.size:
                ef, ek = self._exact(xs[need], ys[need], block)
                f[need] = ef
                k[need] = ek
            first[a : a + xs.size] = f
            count[a : a + xs.size] = k
        return first.reshape(shape), count.reshape(shape)

    def covering_sets(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> list[list[int]]:
        """All covering cell indices of each point, ascending (so by code).

        Parameters
        ----------
        lon, lat : array_like
            Degrees (EPSG:4326), broadcastable; the points are taken in flattened (C) order.

        Returns
        -------
        list of list of int
            One list per point; empty when no cell covers it.
        """
        x, y, _ = _as_points(lon, lat)
        val, need, block = self._labels(x, y)
        out: list[list[int]] = [[int(v)] if v < self._n else [] for v in val.tolist()]
        if need.size:
            pi, ci = self._exact_pairs(x[need], y[need], block)
            for p, c in zip(need[pi].tolist(), ci.tolist(), strict=True):
                out[p].append(c)
        return out

    def exact_test_share(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> float:
        """Share of the points that fall in boundary pixels and so take the exact test.

        A diagnostic for choosing ``pixel_m``: query time grows with it.
        """
        x, y, _ = _as_points(lon, lat)
        return float(self._labels(x, y)[1].size / x.size) if x.size else 0.0

    def _project(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        mx, my = self._to_metric.transform(x, y)
        return np.asarray(mx, dtype=np.float64), np.asarray(my, dtype=np.float64)

    def nearest(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike, max_distance_m: float
    ) -> tuple[IntArray, FloatArray]:
        """Nearest cell of each point within ``max_distance_m`` metres.

        A covered point gets its covering cell with the lowest code and distance 0. An
        uncovered one gets the cell nearest to it in the metric CRS (ties: lowest code) and
        the distance in metres, or -1 and ``inf`` when none is within ``max_distance_m``.
        Distances are measured between the projected point and the projected cell (vertices
        projected, edges straight in the metric CRS).

        Parameters
        ----------
        lon, lat : array_like
            Degrees (EPSG:4326), broadcastable.
        max_distance_m : float
            Search radius in metres (>= 0; ``inf`` for no limit).

        Returns
        -------
        index : numpy.ndarray of int64
            -1 when no cell is within the radius (or the coordinates are not finite).
        distance_m : numpy.ndarray of float64
            0 for covered points, ``inf`` for -1 (NaN for non-finite coordinates).
        """
        if not (isinstance(max_distance_m, int | float) and max_distance_m >= 0):
            raise InputError(f"max_distance_m must be a number >= 0, not {max_distance_m!r}")
        x, y, shape = _as_points(lon, lat)
        first, count = self.covering(x, y)
        idx = first.copy()
        dist = np.where(count > 0, 0.0, np.inf)
        finite = np.isfinite(x) & np.isfinite(y)
        dist[~finite] = np.nan
        todo = np.flatnonzero((count == 0) & finite)
        if todo.size and max_distance_m > 0 and self._n:
            mx, my = self._project(x[todo], y[todo])
            pts = shapely.points(mx, my)
            limit = None if math.isinf(max_distance_m) else float(max_distance_m)
            pairs, d = self._metric_tree.query_nearest(
                pts, max_distance=limit, return_distance=True, all_matches=True
            )
            pi, ci = pairs[0].astype(np.int64), pairs[1].astype(np.int64)
            order = np.lexsort((ci, d, pi))
            pi, ci, d = pi[order], ci[order], d[order]
            starts = np.flatnonzero(np.r_[True, pi[1:] != pi[:-1]]) if pi.size else pi
            idx[todo[pi[starts]]] = ci[starts]
            dist[todo[pi[starts]]] = d[starts]
        return idx.reshape(shape), dist.reshape(shape)

    def boundary_distance(self, idx: npt.ArrayLike, lon: npt.ArrayLike, lat: npt.ArrayLike) -> FloatArray:
        """Distance in metres from each point to the boundary of cell ``idx`` (NaN for -1).

        Measured in the metric CRS, inside or outside the cell alike; use it to flag points
        near a boundary.

        Parameters
        ----------
        idx : array_like of int
            Cell index per point (as returned by ``covering``/``nearest``); -1 gives NaN.
        lon, lat : array_like
            Degrees (EPSG:4326); broadcastable with ``idx``.

        Returns
        -------
        numpy.ndarray of float64
        """
        x, y, shape = _as_points(lon, lat)
        try:
            cells = np.broadcast_to(np.asarray(idx, dtype=np.int64), shape).ravel()
        except (TypeError, ValueError) as exc:
            raise InputError(f"idx must be integers broadcastable with the points: {exc}") from exc
        if np.any((cells < -1) | (cells >= self._n)):
            raise InputError(f"cell indices must be -1 or in [0, {self._n})")
        out = np.full(x.size, np.nan)
        todo = np.flatnonzero((cells >= 0) & np.isfinite(x) & np.isfinite(y))
        if todo.size:
            mx, my = self._project(x[todo], y[todo])
            out[todo] = self._distance_to_rings(cells[todo], mx, my)
        return out.reshape(shape)

    def _distance_to_rings(self, cells: IntArray, px: FloatArray, py: FloatArray) -> FloatArray:
        """Distance from each metric point to the nearest ring segment of its cell.

        Vectorised over the points, one pass per segment rank: the points are ordered by the
        number of segments of their cell (then by cell), so pass ``k`` works on a prefix.
        """
        start = self._seg_off[cells]
        count = self._seg_off[cells + 1] - start
        order = np.lexsort((start, -count))  # then by cell: the gathers below walk memory in order
        start, count, px, py = start[order], count[order], px[order], py[order]
        ax, ay, dx, dy, inv_length2 = self._seg
        best = np.full(px.size, np.inf)
        desc = -count  # ascending
        for k in range(int(count[0]) if count.size else 0):
            m = int(np.searchsorted(desc, -k, side="left"))  # points whose cell has > k segments
            s = start[:m] + k
            sdx, sdy = dx[s], dy[s]
            qx = px[:m] - ax[s]
            qy = py[:m] - ay[s]
            t = qx * sdx
            t += qy * sdy
            t *= inv_length2[s]
            np.clip(t, 0.0, 1.0, out=t)
            qx -= t * sdx
            qy -= t * sdy
            qx *= qx
            qy *= qy
            qx += qy
            np.minimum(best[:m], qx, out=best[:m])
        out = np.empty(px.size)
        out[order] = np.sqrt(best)
        out[np.isinf(out)] = np.nan  # an empty cell has no boundary
        return out

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return (
            f"CellIndex({self._n} cells, pixel {self.pixel_m:.3g} m, "
            f"{self.info['tiles_stored']} tiles stored, {self.memory_bytes / 2**20:.1f} MiB)"
        )
