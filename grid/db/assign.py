"""Bulk assignment (``gridgov assign``): the owner of millions of points, none dropped.

The fast path answers every point whose owner is unambiguous (one covering unit at every level,
no ruling nearby) from the in-memory :class:`grid.spatial_index.CellIndex` in vectorised
form; the rest (edges, vertices, gaps, rulings) go through the same per-point rule as the API
(:func:`grid.db.jurisdiction.decide_point`), so bulk and single answers always agree.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from grid.config import get_settings
from grid.datum import bd09_to_wgs84, gcj02_to_wgs84, in_china, parse_datum, to_wgs84
from grid.db.jurisdiction import JurisdictionIndex, decide_point, get_index
from grid.errors import GridGovError, InputError
from grid.tabular import read_points_csv

Progress = Callable[[int, int], None]
OUT_COLUMNS = [
    "owner_code",
    "owner_level",
    "status",
    "rule",
    "candidates",
    "near_boundary",
    "boundary_distance_m",
    "error",
]


def assign_arrays(
    idx: JurisdictionIndex,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    level: str | None = None,
    near_m: float | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Owners of WGS84 points (vectorised); one output row per input point, in order."""
    near_m = get_settings().near_boundary_m if near_m is None else near_m
    n = len(lon)
    levels = list(reversed(idx.levels))  # coarse first
    if level is not None:
        if level not in idx.cells:
            raise InputError(f"no {level} units in force", code="no_units")
        levels = levels[: levels.index(level) + 1]
    owner = np.full(n, -1, dtype=np.int64)
    owner_lv = np.full(n, -1, dtype=np.int64)
    simple = np.isfinite(lon) & np.isfinite(lat)
    firsts: list[np.ndarray] = []
    for li, lv in enumerate(levels):
        ci = idx.cells[lv]
        f, c = ci.covering(lon, lat)
        firsts.append(f)
        covered = c == 1
        simple &= c <= 1
        if li == 0:
            simple &= covered
        else:
            # uncovered below a unit with children at this level: a gap -> slow path
            prev_codes = idx.cells[levels[li - 1]].codes
            prev = firsts[li - 1]
            has_kids = np.zeros(n, dtype=bool)
            ok_prev = prev >= 0
            has_kids[ok_prev] = np.isin(prev_codes[prev[ok_prev]], list(idx.has_children))
            gap = (c == 0) & has_kids & (owner_lv == li - 1)
            simple &= ~gap
            # the covering unit must be a child of the unit chosen a level up
            chosen = covered & (owner_lv == li - 1)
            if chosen.any():
                parents = np.array(
                    [idx.units[str(code)][2] or "" for code in ci.codes[f[chosen]]], dtype=object
                )
                simple[np.flatnonzero(chosen)[parents != prev_codes[prev[chosen]]]] = False
            take = chosen
            owner[take], owner_lv[take] = f[take], li
            continue
        owner[covered], owner_lv[covered] = f[covered], li
    if idx.ruling_tree is not None and n:
        pts = shapely.points(np.where(np.isfinite(lon), lon, 0), np.where(np.isfinite(lat), lat, 0))
        hit = idx.ruling_tree.query(pts, predicate="dwithin", distance=0.5 / 111_000)
        simple[np.unique(hit[0])] = False
    out_code = np.empty(n, dtype=object)
    out_level = np.empty(n, dtype=object)
    status = np.full(n, "interior", dtype=object)
    rule = np.full(n, "single_cover", dtype=object)
    cands = np.empty(n, dtype=object)
    near = np.zeros(n, dtype=bool)
    dist = np.full(n, np.nan)
    error = np.full(n, None, dtype=object)
    for li, lv in enumerate(levels):
        sel = simple & (owner_lv == li)
        if not sel.any():
            continue
        ci = idx.cells[lv]
        codes = ci.codes[owner[sel]]
        out_code[sel], out_level[sel], cands[sel] = codes, lv, codes
        d = ci.boundary_distance(owner[sel], lon[sel], lat[sel])
        dist[sel] = np.round(d, 2)
        near[sel] = d <= near_m
    slow = np.flatnonzero(~simple)
    for k, i in enumerate(slow):
        if progress and k % 1000 == 0:
            progress(k, len(slow))
        if not (np.isfinite(lon[i]) and np.isfinite(lat[i])):
            status[i], error[i], rule[i] = "error", "no coordinates", None
            continue
        try:
            dcs, lv = decide_point(idx, float(lon[i]), float(lat[i]), level=level, near_m=near_m)
        except GridGovError as exc:
            status[i], rule[i], error[i] = (
                ("outside" if exc.code == "outside" else "error"),
                None,
                exc.message,
            )
            continue
        out_code[i], out_level[i], status[i], rule[i] = dcs.owner, lv, dcs.status, dcs.rule
        cands[i] = ";".join(dcs.candidates)
        near[i] = dcs.near_boundary
        dist[i] = dcs.boundary_distance_m if dcs.boundary_distance_m is not None else np.nan
    status[(status == "interior") & near] = "near_boundary"
    df = pd.DataFrame(
        {
            "owner_code": out_code,
            "owner_level": out_level,
            "status": status,
            "rule": rule,
            "candidates": cands,
            "near_boundary": near,
            "boundary_distance_m": dist,
            "error": error,
        }
    )
    for lv in idx.levels:
        df[f"{lv}_code"] = [_ancestor(idx, c, lv) for c in out_code]
    return df


def _ancestor(idx: JurisdictionIndex, code: Any, level: str) -> str | None:
    while isinstance(code, str) and code in idx.units:
        _n, lv, parent = idx.units[code]
        if lv == level:
            return code
        code = parent
    return None


def to_wgs84_arrays(
    lon: np.ndarray, lat: np.ndarray, datum: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convert coordinates row by row-safely: returns lon, lat (WGS84) and a per-row error (or None)."""
    d = parse_datum(datum)
    err = np.full(len(lon), None, dtype=object)
    ok = np.isfinite(lon) & np.isfinite(lat)
    x, y = lon.astype(float).copy(), lat.astype(float).copy()
    if d.name in ("wgs84", "cgcs2000", "gcj02", "bd09"):
        bad = ok & ((np.abs(x) > 180) | (np.abs(y) > 90))
        err[bad] = "coordinates out of range for longitude/latitude"
        if d.is_shifted:
            far = ok & ~bad & ~in_china(x, y)
            err[far] = f"outside China: {d.name} coordinates exist only in China"
            bad |= far
        good = ok & ~bad
        if d.name == "gcj02" and good.any():
            x[good], y[good] = gcj02_to_wgs84(x[good], y[good])
        elif d.name == "bd09" and good.any():
            x[good], y[good] = bd09_to_wgs84(x[good], y[good])
        x[~good], y[~good] = np.nan, np.nan
    else:
        good = ok
        if good.any():
            pts = to_wgs84(shapely.points(x[good], y[good]), d)
            x[good], y[good] = shapely.get_x(pts), shapely.get_y(pts)
    return x, y, err


def assign_file(
    session: Session,
    path: str | Path,
    out: str | Path,
    *,
    lon_col: str = "lon",
    lat_col: str = "lat",
    datum: str = "wgs84",
    at: dt.date | None = None,
    date_col: str | None = None,
    level: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Assign every row of a CSV / GeoJSON / GeoParquet file; write the rows with owner columns."""
    src, dst = Path(path), Path(out)
    suffix = src.suffix.lower()
    if suffix == ".csv":
        table = read_points_csv(src, lon_col, lat_col)
        frame = table.frame()
        lon, lat, row_err, lines = table.lon, table.lat, list(table.error), table.line
    elif suffix in (".geojson", ".json", ".gpkg", ".parquet", ".geoparquet"):
        gdf = (
            gpd.read_parquet(src)
            if suffix in (".parquet", ".geoparquet")
            else gpd.read_file(src, engine="pyogrio")
        )
        frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        geom = gdf.geometry.values
        is_pt = np.asarray(shapely.get_type_id(geom) == 0)
        lon = np.where(is_pt, shapely.get_x(geom), np.nan) if len(gdf) else np.zeros(0)
        lat = np.where(is_pt, shapely.get_y(geom), np.nan) if len(gdf) else np.zeros(0)
        if lon_col in frame and lat_col in frame:
            lon = pd.to_numeric(frame[lon_col], errors="coerce").to_numpy(float)
            lat = pd.to_numeric(frame[lat_col], errors="coerce").to_numpy(float)
        row_err = [
            None if np.isfinite(a) and np.isfinite(b) else "no point coordinates"
            for a, b in zip(lon, lat, strict=True)
        ]
        lines = np.arange(1, len(frame) + 1)
    else:
        raise InputError(
            f"{src.name}: give a .csv, .geojson, .gpkg or .parquet file", code="unsupported_format"
        )
    x, y, cerr = to_wgs84_arrays(np.asarray(lon, float), np.asarray(lat, float), datum)
    errs = [row_err[i] or cerr[i] for i in range(len(x))]
    x[[e is not None for e in errs]] = np.nan
    # dates: one index per boundary version
    if date_col is not None:
        if date_col not in frame:
            raise InputError(f"{src.name}: no column {date_col!r}", code="missing_field")
        dates = pd.to_datetime(frame[date_col], errors="coerce").dt.date
        for i, dd in enumerate(dates):
            if errs[i] is None and (dd is None or pd.isna(dd)):
                errs[i] = f"unreadable date {frame[date_col].iloc[i]!r}"
    else:
        dates = pd.Series([at or dt.date.today()] * len(frame))
    result = pd.DataFrame(index=range(len(frame)), columns=OUT_COLUMNS, dtype=object)
    valid = np.array([e is None for e in errs], dtype=bool)
    for dd in sorted({d for d, v in zip(dates, valid, strict=True) if v}):
        sel = np.flatnonzero(valid & (dates == dd).to_numpy())
        idx = get_index(session, dd)
        part = assign_arrays(idx, x[sel], y[sel], level=level, progress=progress)
        for col in part.columns:
            if col not in result:
                result[col] = None
            result.loc[sel, col] = part[col].to_numpy()
    for j in np.flatnonzero(~valid):
        result.loc[j, "status"], result.loc[j, "error"] = "error", errs[j]
    result["line"] = lines
    out_df = pd.concat([frame.reset_index(drop=True), result], axis=1)
    _write(out_df, dst, x, y)
    counts = Counter(out_df["status"])
    bad = [
        {"line": int(out_df["line"].iloc[i]), "error": out_df["error"].iloc[i]}
        for i in np.flatnonzero(out_df["status"].isin(["error", "outside"]).to_numpy())[:50]
    ]
    return {"rows": len(out_df), "by_status": dict(counts), "problems": bad, "out": str(dst)}


def _write(df: pd.DataFrame, dst: Path, x: np.ndarray, y: np.ndarray) -> None:
    suffix = dst.suffix.lower()
    dst.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        df.to_csv(dst, index=False, quoting=csv.QUOTE_MINIMAL)
        return
    g = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(x, y), crs=4326)
    if suffix in (".parquet", ".geoparquet"):
        g.to_parquet(dst)
    elif suffix in (".geojson", ".json"):
        dst.unlink(missing_ok=True)
        g.to_file(dst, driver="GeoJSON", engine="pyogrio")
    else:
        raise InputError(f"{dst.name}: write .csv, .geojson or .parquet", code="unsupported_format")
