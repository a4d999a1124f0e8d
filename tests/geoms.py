"""Canonical test geometries, reused across parametrised tests.

Two kinds of helpers:

* ``local(geom)`` turns a shape drawn in metres on a local plane (x east, y north, origin at
  116.46E 39.89N, Chaoyang, Beijing) into longitude/latitude with the local Jacobian of
  EPSG:4548 (CGCS2000 / 3-degree Gauss-Kruger CM 117E): measured in EPSG:4548 a shape keeps
  its drawn area to about 1e-5, so tests can assert "a gap of 500 m²".
* ``CANONICAL``: awkward geometries real files contain (None, empty, multi-part, holes,
  collections, 3D, bow-ties, spikes, projected coordinates), as ``(id, geometry)`` pairs in
  longitude/latitude near the origin.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

import numpy as np
import pyproj
import shapely
import shapely.affinity
from shapely import box
from shapely.geometry import (
    GeometryCollection,
    LineString,
    MultiLineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
)
from shapely.geometry.base import BaseGeometry

ORIGIN_LONLAT = (116.46, 39.89)
METRIC_EPSG = 4548  # CGCS2000 / 3-degree Gauss-Kruger CM 117E


@lru_cache(maxsize=1)
def _jacobian() -> np.ndarray:
    """Metres per degree (2 x 2) of EPSG:4548 at the origin, by central differences."""
    tr = pyproj.Transformer.from_crs(4326, METRIC_EPSG, always_xy=True)
    lon, lat = ORIGIN_LONLAT
    h = 1e-4
    xe, ye = tr.transform(lon + h, lat)
    xw, yw = tr.transform(lon - h, lat)
    xn, yn = tr.transform(lon, lat + h)
    xs, ys = tr.transform(lon, lat - h)
    return np.array([[xe - xw, xn - xs], [ye - yw, yn - ys]]) / (2 * h)


def local(geom: Any) -> Any:
    """Local metres (origin ORIGIN_LONLAT) -> longitude/latitude.

    An affine map (the projection's Jacobian at the origin), so straight edges stay straight
    and a vertex on a neighbour's edge stays exactly on it, as in data digitised in lon/lat;
    areas measured in EPSG:4548 agree with the drawing to about 1e-5 within a few kilometres.
    """
    if geom is None:
        return None
    inv = np.linalg.inv(_jacobian())
    lon0, lat0 = ORIGIN_LONLAT
    return shapely.affinity.affine_transform(geom, [inv[0, 0], inv[0, 1], inv[1, 0], inv[1, 1], lon0, lat0])


def to_local(geom: Any) -> Any:
    """Longitude/latitude -> local metres, measured in EPSG:4548 (for areas and distances)."""
    tr = pyproj.Transformer.from_crs(4326, METRIC_EPSG, always_xy=True)
    x0, y0 = tr.transform(*ORIGIN_LONLAT)

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([np.asarray(x) - x0, np.asarray(y) - y0])

    return shapely.transform(geom, fn)


def local_box(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return local(box(x0, y0, x1, y1))  # type: ignore[no-any-return]


def _l(geom: BaseGeometry) -> BaseGeometry:
    return local(geom)  # type: ignore[no-any-return]


def _nan_polygon() -> Polygon:
    with warnings.catch_warnings():  # shapely warns when it builds a ring holding NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return Polygon([(116.46, 39.89), (float("nan"), 39.9), (116.47, 39.9)])


BOWTIE_M = Polygon([(0, 0), (100, 100), (100, 0), (0, 100), (0, 0)])

CANONICAL: list[tuple[str, BaseGeometry | None]] = [
    ("none", None),
    ("empty_polygon", Polygon()),
    ("empty_multipolygon", MultiPolygon()),
    ("empty_collection", GeometryCollection()),
    ("point", _l(Point(10, 10))),
    ("multipoint", _l(MultiPoint([(10, 10), (20, 20)]))),
    ("linestring", _l(LineString([(0, 0), (100, 100)]))),
    ("multilinestring", _l(MultiLineString([[(0, 0), (10, 10)], [(20, 20), (30, 30)]]))),
    ("polygon", _l(box(0, 0, 100, 100))),
    ("polygon_with_hole", _l(Polygon(box(0, 0, 100, 100).exterior, [box(40, 40, 60, 60).exterior]))),
    ("multipolygon", _l(MultiPolygon([box(0, 0, 50, 100), box(60, 0, 100, 100)]))),
    ("multipolygon_touching", _l(MultiPolygon([box(0, 0, 50, 100), box(50, 0, 100, 100)]))),
    ("multipolygon_overlapping", _l(MultiPolygon([box(0, 0, 60, 100), box(40, 0, 100, 100)]))),
    (
        "collection_polygon_line",
        _l(GeometryCollection([box(0, 0, 100, 100), LineString([(0, 0), (200, 200)])])),
    ),
    ("collection_lines_only", _l(GeometryCollection([LineString([(0, 0), (200, 200)]), Point(5, 5)]))),
    (
        "nested_collection",
        _l(
            GeometryCollection(
                [GeometryCollection([box(0, 0, 50, 100)]), MultiPolygon([box(50, 0, 100, 100)])]
            )
        ),
    ),
    ("polygon_3d", _l(Polygon([(0, 0, 5), (100, 0, 5), (100, 100, 7), (0, 100, 7)]))),
    ("bowtie", _l(BOWTIE_M)),
    ("spike", _l(Polygon([(0, 0), (100, 0), (100, 50), (150, 50), (100, 50), (100, 100), (0, 100)]))),
    (
        "collapsed_line_polygon",
        Polygon([(116.46, 39.89), (116.465, 39.89), (116.47, 39.89), (116.46, 39.89)]),
    ),
    ("hole_outside_shell", _l(Polygon(box(0, 0, 100, 100).exterior, [box(200, 200, 210, 210).exterior]))),
    ("tiny_triangle", _l(Polygon([(0, 0), (1, 0), (0, 1)]))),
    ("projected_coordinates", box(500_000, 4_400_000, 500_100, 4_400_100)),
    ("nan_coordinates", _nan_polygon()),
]
