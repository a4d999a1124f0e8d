"""Layers of polygons that tile each other, and counts that are too small to show.

Pure (numpy, shapely): no database, no HTML. ``grid/db/mapdata.py`` uses both for a map page's
boundaries and counts; ``maps/aggregate.py`` re-exports them next to the heat bins and classes.

* :func:`simplify_coverage` simplifies a layer of polygons that tile each other with
  ``shapely.coverage_simplify`` (topology-preserving: a shared edge is simplified once, so
  neighbours still meet) and quantises coordinates to a grid, which keeps shared vertices shared.
* :func:`suppress_small` hides counts of fewer than ``k`` petitions (privacy: a cell with one or two
  petitions could point at a household).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

__all__ = ["M_PER_DEG_LAT", "quantise", "simplify_coverage", "suppress_small"]

M_PER_DEG_LAT = 111_320.0


def quantise(geoms: Any, decimals: int = 5) -> Any:
    """Round every coordinate to ``decimals`` (5: about 1 m). Equal vertices stay equal."""
    return shapely.transform(np.asarray(geoms, dtype=object), lambda c: np.round(c, decimals))


def simplify_coverage(geoms: Sequence[Any], tolerance_m: float = 5.0, decimals: int = 5) -> list[Any]:
    """Simplify polygons that tile each other without opening gaps or overlaps between them."""
    arr = np.asarray(list(geoms), dtype=object)
    if arr.size == 0:
        return []
    lat0 = float(np.nanmean([g.centroid.y for g in arr[: min(len(arr), 200)]]))
    tol = tolerance_m / (M_PER_DEG_LAT * max(math.cos(math.radians(lat0)), 0.01))
    arr = np.array([_polygonal(g) for g in arr], dtype=object)
    if not shapely.coverage_is_valid(arr):
        # real layers (and the partition's cells) overlap or leave slivers by a few centimetres:
        # snap them into an exact coverage first, or the simplification opens gaps and overlaps
        try:
            cleaned = shapely.coverage_clean(arr)
            lost = shapely.is_empty(cleaned)  # a polygon wholly under its neighbours: keep it as it was
            arr = np.where(lost, arr, cleaned)
        except shapely.errors.GEOSException:
            pass
    try:
        simple = shapely.coverage_simplify(arr, tol)
    except shapely.errors.GEOSException:  # not a coverage even so: simplify each alone
        simple = shapely.simplify(arr, tol, preserve_topology=True)
    out = quantise(simple, decimals)
    return [_polygonal(g) for g in out]


def _polygonal(g: Any) -> Any:
    """``g`` valid and polygonal: a (Multi)Polygon, never a GeometryCollection (Leaflet cannot
    style one) nor stray lines and points left by repair or rounding."""
    if g is None or g.is_empty:
        return g
    if not shapely.is_valid(g):
        g = shapely.make_valid(g)
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return shapely.Polygon()
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def suppress_small(count: int | None, k: int = 3) -> int | None:
    """The count when at least ``k``, else None (not shown)."""
    if count is None or count < k:
        return None
    return int(count)
