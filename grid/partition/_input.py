"""Input checks of :mod:`grid.partition`: buildings, households, barriers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from grid.errors import GeometryError, InputError
from grid.partition._helpers import ids_text
from grid.partition._types import FloatArray, IntArray

# --------------------------------------------------------------------------------------------
# input


@dataclass
class Input:
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
        text = "; ".join(f"{what} for {len(b)} building(s): {ids_text(b)}" for what, b in problems)
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


def check_input(
    code: str, community: BaseGeometry, buildings: gpd.GeoDataFrame
) -> tuple[BaseGeometry, Input]:
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
            f"community {code}: building id(s) appear more than once: {ids_text(dup)}",
            code="duplicate_building",
            details={"community_code": code, "building_ids": dup},
        )
    households = _households(frame["households"], ids, code)

    geoms = np.asarray(frame.geometry.array, dtype=object)
    missing_geom = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing_geom.any():
        bad = [ids[i] for i in np.flatnonzero(missing_geom)]
        raise InputError(
            f"community {code}: {len(bad)} building(s) have no location: {ids_text(bad)}",
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
            f"community {code}: building location(s) must be points (or footprint polygons): {ids_text(bad)}",
            code="bad_building_geometry",
            details={"community_code": code, "building_ids": bad},
        )
    lonlat = shapely.get_coordinates(points)
    if not np.isfinite(lonlat).all():
        bad = [ids[i] for i in np.flatnonzero(~np.isfinite(lonlat).all(axis=1))]
        raise InputError(
            f"community {code}: building point(s) with non-finite coordinates: {ids_text(bad)}",
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
                f"{len(bad)} building(s) lie outside community {code}: {ids_text(bad)}. "
                "Bind each building to the community that contains its point.",
                code="building_outside_community",
                details={"community_code": code, "building_ids": bad},
            )
    return community, Input(ids, households, lonlat, footprints)


def check_barriers(barriers: Any) -> list[BaseGeometry]:
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
            out.extend(check_barriers(list(g.geoms)))
        else:
            raise InputError(f"barrier #{k} is a {g.geom_type}; barriers are lines", code="invalid_input")
    return out
