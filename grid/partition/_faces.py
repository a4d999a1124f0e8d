"""Faces of :mod:`grid.partition`: the planar subdivision's segments, adjacency, inner points."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from grid.partition._types import FloatArray, IntArray

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


def face_adjacency(faces: npt.NDArray[np.object_]) -> tuple[IntArray, IntArray, FloatArray]:
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


def inner_points(polys: npt.NDArray[np.object_]) -> tuple[FloatArray, FloatArray]:
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


def barrier_regions(community: BaseGeometry, lines: list[BaseGeometry]) -> list[BaseGeometry]:
    """The parts of ``community`` separated by the barrier ``lines`` (one part when none)."""
    if not lines:
        return [community]
    noded = shapely.union_all(np.array([community.boundary, *lines], dtype=object))
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))), dtype=object)
    if len(faces) <= 1:
        return [community]
    keep = shapely.contains_xy(community, *inner_points(faces))
    kept = [f for f, k in zip(faces.tolist(), keep.tolist(), strict=True) if k]
    return kept if len(kept) > 1 else [community]
