"""Small helpers of :mod:`grid.partition`: id lists, union-find, polygon parts, the local plane."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from grid.partition._types import MAX_IDS, WGS84_A, WGS84_E2, FloatArray

# --------------------------------------------------------------------------------------------
# small helpers


def ids_text(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:MAX_IDS])
    return shown + (f" and {len(ids) - MAX_IDS} more" if len(ids) > MAX_IDS else "")


class UnionFind:
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


def as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    if isinstance(geom, MultiPolygon):
        return geom
    return MultiPolygon(_polygon_parts(geom))


class Plane:
    """Longitude/latitude <-> a local affine plane in metres (see the module docstring)."""

    def __init__(self, lon0: float, lat0: float) -> None:
        phi = math.radians(lat0)
        w = 1.0 - WGS84_E2 * math.sin(phi) ** 2
        self.ky = WGS84_A * (1.0 - WGS84_E2) / w**1.5 * math.pi / 180.0  # m per degree of latitude
        self.kx = WGS84_A / math.sqrt(w) * math.cos(phi) * math.pi / 180.0  # ... of longitude
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
