"""Preparing a boundary layer for import (pure: no database).

Reads fields, normalises codes, derives parents, converts the datum to WGS84 while keeping
the original coordinates, and, when asked, repairs invalid geometries and says what changed.
Validation of the prepared layer is :func:`grid.validate.validate_units`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon

from grid.datum import Datum, parse_datum, to_wgs84
from grid.errors import CoordinateRangeError, InputError
from grid.io import code_str, require_fields
from grid.levels import Levels
from grid.validate import Finding, drop_degenerate_rings, repair_measured

MAX_HOUSEHOLDS = 2**31 - 1  # the store's households column is a 32-bit integer


@dataclass(frozen=True)
class ImportSpec:
    """The options of one boundary import (``gridgov import units``), carried as one value from the
    CLI through :func:`grid.db.importer.import_units_spec` to :func:`prepare_units`.

    Reading the layer: ``level`` (the level imported), ``code_field`` / ``name_field`` (fields
    of the file), ``datum`` (wgs84, cgcs2000, gcj02, bd09 or EPSG:n), the parent from
    ``parent_field`` or one ``parent_code`` for all (not both), ``households_field``,
    ``source_field``, ``encoding`` (of a shapefile's .dbf), ``repair`` (make invalid geometries
    valid and report), ``code_prefix`` (put before every code), ``select_by_code`` (a file of
    several levels: keep the features whose code has no other level's format).
    Storing it: ``valid_from`` (default today), ``dry_run``, ``accept`` (finding kinds accepted;
    ``accept_dirty`` adds gap, overlap and sliver), ``retire_missing``, ``source`` (the label
    stored with the units), ``tolerance_m2`` (default: the settings').
    """

    level: str
    code_field: str
    name_field: str
    datum: str
    parent_field: str | None = None
    parent_code: str | None = None
    households_field: str | None = None
    source_field: str | None = None
    encoding: str | None = None
    repair: bool = False
    code_prefix: str = ""
    select_by_code: bool = False
    valid_from: dt.date | None = None
    dry_run: bool = False
    accept: tuple[str, ...] = ()
    accept_dirty: bool = False
    retire_missing: bool = False
    source: str | None = None
    tolerance_m2: float | None = None


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
    spec: ImportSpec,
    *,
    levels: Levels,
    source: str = "",
    reference: gpd.GeoDataFrame | None = None,
) -> PreparedLayer:
    """Turn a layer as read from a file into the columns the store and the validator use.

    ``reference`` (stored units in EPSG:4326, optional) only helps the error for a layer whose
    coordinates are projected but declared as degrees: the projected CRSs that put the layer
    on the reference are named (see :func:`projected_coordinates_error`). ``spec`` says which
    fields hold what (its store options are not used here); ``source`` names the layer in errors.
    """
    level, code_field, name_field = spec.level, spec.code_field, spec.name_field
    parent_field, parent_code, code_prefix = spec.parent_field, spec.parent_code, spec.code_prefix
    households_field, source_field = spec.households_field, spec.source_field
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
    dat = parse_datum(spec.datum)
    parent_level = levels.parent_of(level)
    if parent_code and parent_level is None:
        raise InputError(f"level {level} has no parent level; drop --parent-code", code="invalid_option")

    codes = [code_str(v) for v in gdf[code_field]]
    if code_prefix:  # e.g. NC before a neighborhood council id that would collide with a ward's
        codes = [None if c is None else code_prefix + c for c in codes]
    names = [("" if v is None else str(v)).strip() for v in gdf[name_field]]
    parents = _parents(gdf, spec, levels, codes)
    households = _households(gdf, households_field) if households_field else [None] * len(gdf)
    sources = (
        [None if v is None else str(v) for v in gdf[source_field]] if source_field else [None] * len(gdf)
    )
    # boundaries are 2D: a Z (or M) coordinate from a survey file is dropped, not stored
    src_geoms = np.asarray(shapely.force_2d(np.asarray(gdf.geometry.values, dtype=object)), dtype=object)
    crs = gdf.crs
    if dat.name != "epsg" and (crs is None or crs.is_geographic):
        problem = projected_coordinates_error(src_geoms, reference, source or "layer", str(dat))
        if problem is not None:
            raise problem
    geoms = to_wgs84(src_geoms, dat, source_crs=crs)
    geoms = np.asarray(geoms, dtype=object)

    repairs: list[dict[str, Any]] = []
    if spec.repair:
        for i, g in enumerate(geoms):
            if g is not None and not shapely.is_empty(g) and not shapely.is_valid(g):
                fixed, what, before, after = repair_measured(g)
                repairs.append(
                    {
                        "code": codes[i],
                        "row": i + 1,
                        "change": what,
                        "area_before_m2": None if before is None else round(before, 1),
                        "area_after_m2": None if after is None else round(after, 1),
                    }
                )
                geoms[i] = fixed
                # the original is kept too, and PostGIS refuses rings of fewer than 4 points
                src_geoms[i], _ = drop_degenerate_rings(src_geoms[i])
    geoms = np.array([_as_multipolygon(g) for g in geoms], dtype=object)
    if parent_level is not None and lv.nesting == "containment" and not parent_field and not parent_code:
        parents = containment_parents(geoms, reference, parent_level.name)

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


def _parents(
    gdf: gpd.GeoDataFrame, spec: ImportSpec, levels: Levels, codes: list[str | None]
) -> list[str | None]:
    """The parent code of each feature: its parent field, the one parent code, its code's prefix, or
    None for now (containment: found once the geometries are in WGS84; no parent level)."""
    level, parent_field, parent_code = spec.level, spec.parent_field, spec.parent_code
    lv = levels.by_name(level)
    parent_level = levels.parent_of(level)
    parents: list[str | None]
    if parent_field:
        parents = [code_str(v) for v in gdf[parent_field]]
    elif parent_code:
        parents = [parent_code] * len(gdf)
    elif parent_level is not None and lv.nesting == "field":
        raise InputError(
            f"level {level} takes its parent {parent_level.name} from a field of the layer "
            f"(nesting 'field'): give --parent-field FIELD (or --parent-code CODE for one parent)",
            code="missing_option",
        )
    elif parent_level is not None and lv.nesting == "containment":
        parents = [None] * len(gdf)  # found by containment once the geometries are in WGS84, below
    elif parent_level is not None:
        # default: the parent is the prefix of the code (codes nest), checked by the validator
        parents = [levels.prefix_parent(level, c) if c else None for c in codes]
    else:
        parents = [None] * len(gdf)
    return parents


def _households(gdf: gpd.GeoDataFrame, households_field: str) -> list[int | None]:
    """The households field: whole numbers from 0 to :data:`MAX_HOUSEHOLDS`, or None when empty."""
    households: list[int | None] = [None] * len(gdf)
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
    return households


def containment_parents(
    geoms: np.ndarray, reference: gpd.GeoDataFrame | None, parent_level: str
) -> list[str | None]:
    """The code of the ``parent_level`` unit holding most of each geometry (EPSG:4326), or None.

    Used for levels whose parent is found by containment (``nesting="containment"``): a unit
    whose representative point lies in no parent is left without one and the validator says so.
    """
    out: list[str | None] = [None] * len(geoms)
    if reference is None or reference.empty:
        return out
    ref = reference
    if "level" in ref.columns:
        ref = ref[ref["level"] == parent_level]
    if ref.empty:
        return out
    ref_geoms = np.asarray(ref.geometry.values, dtype=object)
    ref_codes = [str(c) for c in ref["code"].tolist()]
    tree = shapely.STRtree(ref_geoms)
    for i, g in enumerate(geoms):
        if g is None or shapely.is_empty(g):
            continue
        cands = tree.query(g, predicate="intersects")
        if len(cands) == 0:
            continue
        if len(cands) == 1:
            if shapely.contains(ref_geoms[cands[0]], shapely.point_on_surface(g)):
                out[i] = ref_codes[cands[0]]
            continue
        shares = [shapely.area(shapely.intersection(ref_geoms[k], g)) for k in cands]
        out[i] = ref_codes[cands[int(np.argmax(shares))]]
    return out


#: Projected CRSs tried, at most, when naming candidates for a layer in projected coordinates.
MAX_CRS_TRIED = 120
#: Candidates named, at most.
MAX_CANDIDATES = 5


def _not_degrees(xy: np.ndarray) -> bool:
    ok = np.isfinite(xy).all(axis=1)
    xy = xy[ok]
    if len(xy) == 0:
        return False
    out = (np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90)
    return bool(out.mean() > 0.5)


def candidate_crs(x: float, y: float, reference: gpd.GeoDataFrame | None) -> list[tuple[int, str]]:
    """EPSG projected CRSs that put the point ``(x, y)`` inside the bounds of ``reference``
    (stored units, EPSG:4326), from the CRSs whose area of use covers the reference's centre.

    Without a reference nothing can be told from the numbers alone (every Transverse Mercator
    zone maps them somewhere plausible), so the list is empty.
    """
    if reference is None or reference.empty:
        return []
    import pyproj
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_crs_info
    from pyproj.enums import PJType

    b = reference.total_bounds
    if not np.isfinite(b).all():
        return []
    lon, lat = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    pad_x, pad_y = max((b[2] - b[0]) * 0.1, 0.01), max((b[3] - b[1]) * 0.1, 0.01)
    infos = query_crs_info(
        auth_name="EPSG",
        pj_types=[PJType.PROJECTED_CRS],
        area_of_interest=AreaOfInterest(lon, lat, lon, lat),
        contains=False,
    )
    out: list[tuple[int, str]] = []
    for info in [i for i in infos if not i.deprecated][:MAX_CRS_TRIED]:
        try:
            tr = pyproj.Transformer.from_crs(f"EPSG:{info.code}", 4326, always_xy=True)
            lo, la = tr.transform(x, y)
        except (pyproj.exceptions.ProjError, pyproj.exceptions.CRSError):
            continue
        if b[0] - pad_x <= lo <= b[2] + pad_x and b[1] - pad_y <= la <= b[3] + pad_y:
            out.append((int(info.code), info.name))
        if len(out) >= MAX_CANDIDATES:
            break
    return out


def projected_coordinates_error(
    geoms: np.ndarray, reference: gpd.GeoDataFrame | None, source: str, declared: str
) -> CoordinateRangeError | None:
    """The error (code ``projected_coordinates``) for a layer whose coordinates are not degrees though read as degrees (a GeoJSON
    with no ``crs`` member holding projected coordinates, or a wrong ``--datum``), naming what
    to pass; None when the coordinates are degrees."""
    xy = shapely.get_coordinates(np.asarray(geoms, dtype=object))
    if not _not_degrees(xy):
        return None
    x, y = float(np.median(xy[:, 0])), float(np.median(xy[:, 1]))
    cands = candidate_crs(x, y, reference)
    msg = (
        f"{source}: looks like projected coordinates (x≈{x:.0f}, y≈{y:.0f}), not degrees, but the "
        f"file declares no projected CRS and --datum is {declared}"
    )
    if cands:
        first = cands[0][0]
        listed = "; ".join(f"EPSG:{c} ({n})" for c, n in cands)
        msg += (
            f"; re-run with --datum EPSG:{first} (the layer's projected CRS). Candidates that put it on "
            f"the stored layers: {listed}"
        )
    else:
        msg += (
            "; re-run with --datum EPSG:NNNN, the layer's projected CRS (see its metadata or source: "
            "e.g. a US State Plane zone in feet, a UTM zone, or in China a CGCS2000 Gauss-Kruger zone "
            "EPSG:4534-4554)"
        )
    return CoordinateRangeError(
        msg,
        code="projected_coordinates",
        details={"x": round(x, 1), "y": round(y, 1), "candidates": [f"EPSG:{c}" for c, _ in cands]},
    )


#: ``datum_suspect``: an alternative datum must leave at most this share of the declared
#: reading's area outside the parents ...
SUSPECT_RATIO = 0.5
#: ... and at least this many points (share of the layer's area) less.
SUSPECT_MIN_GAIN = 0.05


def _share_outside(geoms: np.ndarray, parent_union: Any) -> float:
    mine = shapely.union_all(shapely.make_valid(geoms))
    total = float(shapely.area(mine))
    if total <= 0:
        return 0.0
    inside = float(shapely.area(shapely.intersection(mine, parent_union)))
    return max(0.0, 1.0 - inside / total)


def datum_suspect(prepared: PreparedLayer, parents: gpd.GeoDataFrame | None) -> Finding | None:
    """A ``datum_suspect`` warning when the layer, declared WGS84/CGCS2000, sits off its stored
    parent layer the way GCJ-02 (300-700 m) or BD-09 (~1 km NE) coordinates do, and reading it
    as that datum puts it clearly better inside its parents; else None.

    The rule: the share of the layer's area outside the union of its parents, as declared and
    read as gcj02 / bd09; an alternative leaving at most half as much outside, and at least 5
    points less, is named with the command to re-run.
    """
    from grid.datum import bd09_to_wgs84, gcj02_to_wgs84, in_china

    if parents is None or parents.empty or prepared.datum.name not in ("wgs84", "cgcs2000"):
        return None
    if prepared.source_crs is not None:
        import pyproj

        if not pyproj.CRS.from_user_input(prepared.source_crs).is_geographic:
            return None
    arr = np.asarray(prepared.units.geometry.values, dtype=object)
    arr = arr[~(shapely.is_missing(arr) | shapely.is_empty(arr))]
    if len(arr) == 0:
        return None
    c = shapely.centroid(shapely.union_all(shapely.make_valid(arr)))
    if not bool(np.all(in_china(c.x, c.y))):
        return None
    pgeoms = np.asarray(parents.geometry.values, dtype=object)
    pgeoms = pgeoms[~(shapely.is_missing(pgeoms) | shapely.is_empty(pgeoms))]
    if len(pgeoms) == 0:
        return None
    punion = shapely.union_all(shapely.make_valid(pgeoms))
    declared = _share_outside(arr, punion)
    if declared < SUSPECT_MIN_GAIN:
        return None

    def as_(fn: Any) -> np.ndarray:
        def f(xy: np.ndarray) -> np.ndarray:
            x, y = fn(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        return np.asarray(shapely.transform(arr, f), dtype=object)

    best: tuple[float, str, float] | None = None
    for name, fn in (("gcj02", gcj02_to_wgs84), ("bd09", bd09_to_wgs84)):
        moved = as_(fn)
        share = _share_outside(moved, punion)
        if share <= SUSPECT_RATIO * declared and declared - share >= SUSPECT_MIN_GAIN:
            x0, y0 = c.x, c.y
            x1, y1 = fn(np.array([x0]), np.array([y0]))
            dist = float(
                np.hypot(
                    (float(x1[0]) - x0) * 111_320 * np.cos(np.radians(y0)), (float(y1[0]) - y0) * 110_540
                )
            )
            if best is None or share < best[0]:
                best = (share, name, dist)
    if best is None:
        return None
    share, name, dist = best
    return Finding(
        kind="datum_suspect",
        severity="warning",
        codes=(),
        message=(
            f"the {prepared.level} layer lies {declared:.0%} outside its parent layer as {prepared.datum}, "
            f"but {share:.0%} read as {name} (a shift of about {dist:,.0f} m): it looks like {name} "
            f"coordinates declared as {prepared.datum}. Re-run the import with --datum {name}."
        ),
        level=prepared.level,
        location=(round(float(c.x), 7), round(float(c.y), 7)),
        hint=f"--datum {name}",
    )
