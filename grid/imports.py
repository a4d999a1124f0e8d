"""Preparing a boundary layer for import (pure: no database).

Reads fields, normalises codes, derives parents, converts the datum to WGS84 while keeping
the original coordinates, and, when asked, repairs invalid geometries and says what changed.
Validation of the prepared layer is :func:`grid.validate.validate_units`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon

from grid.datum import Datum, parse_datum, to_wgs84
from grid.errors import InputError
from grid.io import code_str, require_fields
from grid.levels import Levels
from grid.validate import repair as repair_geometry

MAX_HOUSEHOLDS = 2**31 - 1  # the store's households column is a 32-bit integer


@dataclass
class PreparedLayer:
    level: str
    datum: Datum
    units: gpd.GeoDataFrame  # code, name, level, parent_code, households, row, geometry (4326), geom_source
    repairs: list[dict[str, Any]] = field(default_factory=list)
    source_crs: str | None = None


def _as_multipolygon(g: Any) -> Any:
    if isinstance(g, Polygon):
        return MultiPolygon([g])
    return g


def prepare_units(
    gdf: gpd.GeoDataFrame,
    *,
    level: str,
    levels: Levels,
    code_field: str,
    name_field: str,
    datum: str,
    parent_field: str | None = None,
    parent_code: str | None = None,
    households_field: str | None = None,
    source_field: str | None = None,
    repair: bool = False,
    source: str = "",
) -> PreparedLayer:
    """Turn a layer as read from a file into the columns the store and the validator use."""
    lv = levels.by_name(level)
    if parent_field and parent_code:
        raise InputError("give --parent-field or --parent-code, not both", code="invalid_option")
    require_fields(
        gdf,
        {
            "--code-field": code_field,
            "--name-field": name_field,
            "--parent-field": parent_field,
            "--households-field": households_field,
            "--source-field": source_field,
        },
        source or "layer",
    )
    dat = parse_datum(datum)
    parent_level = levels.parent_of(level)
    if parent_code and parent_level is None:
        raise InputError(f"level {level} has no parent level; drop --parent-code", code="invalid_option")

    codes = [code_str(v) for v in gdf[code_field]]
    names = [("" if v is None else str(v)).strip() for v in gdf[name_field]]
    if parent_field:
        parents = [code_str(v) for v in gdf[parent_field]]
    elif parent_code:
        parents = [parent_code] * len(gdf)
    elif parent_level is not None:
        # default: the parent is the prefix of the code (codes nest), checked by the validator
        parents = [c[: parent_level.code_length] if c else None for c in codes]
    else:
        parents = [None] * len(gdf)
    households: list[int | None] = [None] * len(gdf)
    if households_field:
        for i, v in enumerate(gdf[households_field]):
            try:
                if v is None or (isinstance(v, float) and np.isnan(v)):
                    continue
                if isinstance(v, float) and not v.is_integer():  # also ±inf
                    raise ValueError(v)
                n = int(v)
                if not 0 <= n <= MAX_HOUSEHOLDS:
                    raise ValueError(v)
                households[i] = n
            except (TypeError, ValueError) as exc:
                raise InputError(
                    f"row {i + 1}: households {v!r} is not a whole number from 0 to {MAX_HOUSEHOLDS}",
                    code="invalid_value",
                ) from exc

    sources = (
        [None if v is None else str(v) for v in gdf[source_field]] if source_field else [None] * len(gdf)
    )
    # boundaries are 2D: a Z (or M) coordinate from a survey file is dropped, not stored
    src_geoms = np.asarray(shapely.force_2d(np.asarray(gdf.geometry.values, dtype=object)), dtype=object)
    crs = gdf.crs
    geoms = to_wgs84(src_geoms, dat, source_crs=crs)
    geoms = np.asarray(geoms, dtype=object)

    repairs: list[dict[str, Any]] = []
    if repair:
        for i, g in enumerate(geoms):
            if g is not None and not shapely.is_empty(g) and not shapely.is_valid(g):
                fixed, what = repair_geometry(g)
                repairs.append({"code": codes[i], "row": i + 1, "change": what})
                geoms[i] = fixed
    geoms = np.array([_as_multipolygon(g) for g in geoms], dtype=object)

    def text_column(values: list[Any]) -> pd.Series:  # None stays None (never NaN, which is truthy)
        return pd.Series(values, dtype=object)

    out = gpd.GeoDataFrame(
        {
            "code": text_column(codes),
            "name": text_column(names),
            "level": lv.name,
            "parent_code": text_column(parents),
            "households": households,
            "source": text_column(sources),
            "row": np.arange(1, len(gdf) + 1),
            "geom_source": src_geoms,
        },
        geometry=gpd.GeoSeries(geoms, crs=4326),
    )
    return PreparedLayer(
        level=lv.name,
        datum=dat,
        units=out,
        repairs=repairs,
        source_crs=crs.to_string() if crs is not None else None,
    )
