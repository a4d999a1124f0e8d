"""Bulk assignment (``gridgov assign``): the owner of millions of points, none dropped.

The fast path answers every point whose owner is unambiguous (one covering unit at every level,
no ruling nearby) from the in-memory :class:`grid.spatial_index.CellIndex` in vectorised
form; the rest (edges, vertices, gaps, rulings) go through the same per-point rule as the API
(:func:`grid.db.jurisdiction.decide_point`), so bulk and single answers always agree.
"""

from __future__ import annotations

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
from grid.datum import (
    SHIFT_MIN_POINTS,
    DatumSuggestion,
    bd09_to_wgs84,
    gcj02_to_wgs84,
    in_china,
    looks_projected,
    parse_datum,
    projected_hint,
    suggest_datum,
    to_wgs84,
)
from grid.db.jurisdiction import JurisdictionIndex, decide_point, get_index
from grid.errors import GridGovError, InputError
from grid.io import geojson_declares_crs
from grid.tabular import (
    OUTPUT_PREFIX,
    PLACEHOLDER_MIN_ROWS,
    PLACEHOLDER_MIN_SHARE,
    PLACEHOLDER_RATIO,
    Placeholder,
    check_header,
    placeholder_points,
    read_points_csv,
    write_csv,
)

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
    if level is not None:
        levels = idx.lineage(level)  # coarse first, that level's layer only (raises no_units)
        out_levels = idx.layers[idx.layer_of(level)]  # finest first: the code columns
    else:
        levels, out_levels = list(reversed(idx.levels)), idx.levels
        if not levels:
            idx.lineage(idx.primary or "")  # raises no_units naming the layers in force
            raise InputError("no units are in force", code="no_units")
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
            if (
                exc.code == "outside"
                and isinstance(exc.details, dict)
                and exc.details.get("distance_m") is not None
            ):
                dist[i] = exc.details["distance_m"]  # how far the nearest unit is (a hole of the layer)
            continue
        out_code[i], out_level[i], status[i], rule[i] = dcs.owner, lv, dcs.status, dcs.rule
        cands[i] = ";".join(dcs.candidates)
        near[i] = dcs.near_boundary
        dist[i] = dcs.boundary_distance_m if dcs.boundary_distance_m is not None else np.nan
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
    for lv in out_levels:
        df[f"{lv}_code"] = [idx.ancestor(c, lv) for c in out_code]
    return df


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


def _file_datum(src: Path, crs: Any) -> str | None:
    """The datum a point file declares: a GeoJSON ``crs`` member, a GeoParquet / GeoPackage CRS."""
    if crs is None:
        return None
    if src.suffix.lower() in (".geojson", ".json") and not geojson_declares_crs(src):
        return None  # GDAL reports EPSG:4326 for every GeoJSON; only a written `crs` member counts
    import pyproj

    c = pyproj.CRS.from_user_input(crs)
    code = c.to_epsg(min_confidence=70)
    if code is None:
        raise InputError(
            f"{src.name}: its CRS {c.name!r} has no EPSG code; give --datum EPSG:n", code="datum_required"
        )
    return "wgs84" if code == 4326 else f"EPSG:{code}"


DATUM_HELP = (
    "give --datum: wgs84 (GPS, OpenStreetMap, most open data outside China), gcj02 (Amap/Gaode, "
    "Tencent), bd09 (Baidu), cgcs2000, or EPSG:n for projected coordinates (e.g. EPSG:4548, EPSG:2249)"
)


def _read_points(
    src: Path, lon_col: str, lat_col: str, *, optional_coordinates: bool
) -> tuple[
    pd.DataFrame, list[list[str]] | None, np.ndarray, np.ndarray, list[str | None], np.ndarray, Any, int
]:
    """(frame, raw rows for CSV, lon, lat, per-row error, line, file CRS, records in the input)."""
    suffix = src.suffix.lower()
    if suffix == ".csv":
        table = read_points_csv(src, lon_col, lat_col, optional_coordinates=optional_coordinates)
        rows = table.fixed_rows()
        frame = table.frame()
        return frame, rows, table.lon, table.lat, list(table.error), table.line, None, len(table.rows)
    if suffix not in (".geojson", ".json", ".gpkg", ".parquet", ".geoparquet"):
        raise InputError(
            f"{src.name}: give a .csv, .geojson, .gpkg or .parquet file", code="unsupported_format"
        )
    if not src.exists():
        raise InputError(f"file not found: {src}", code="file_not_found")
    try:
        gdf = (
            gpd.read_parquet(src)
            if suffix in (".parquet", ".geoparquet")
            else gpd.read_file(src, engine="pyogrio")
        )
    except Exception as exc:  # GDAL / arrow raise many types: say which file and why
        raise InputError(f"cannot read {src.name}: {exc}", code="unreadable_file") from exc
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    check_header([str(c) for c in frame.columns], src.name)
    geom = gdf.geometry.values
    n = len(gdf)
    is_pt = np.asarray(shapely.get_type_id(geom) == 0) if n else np.zeros(0, dtype=bool)
    lon = np.where(is_pt, shapely.get_x(geom), np.nan) if n else np.zeros(0)
    lat = np.where(is_pt, shapely.get_y(geom), np.nan) if n else np.zeros(0)
    if lon_col in frame and lat_col in frame:
        lon = pd.to_numeric(frame[lon_col], errors="coerce").to_numpy(float)
        lat = pd.to_numeric(frame[lat_col], errors="coerce").to_numpy(float)
    row_err: list[str | None] = [
        None if np.isfinite(a) and np.isfinite(b) else "no point coordinates"
        for a, b in zip(lon, lat, strict=True)
    ]
    if optional_coordinates:
        row_err = [None] * n
    lines = np.arange(1, n + 1)  # the feature's position (1-based)
    return frame, None, np.asarray(lon, float), np.asarray(lat, float), row_err, lines, gdf.crs, n


def _geocode_rows(
    session: Session, addresses: list[str], dates: list[dt.date]
) -> list[tuple[float, float] | str]:
    """Our own geocoder on each (address, date): a WGS84 point, or the reason it gave none."""
    from grid.db.geocoding import geocode_text

    cache: dict[tuple[str, dt.date], tuple[float, float] | str] = {}
    out: list[tuple[float, float] | str] = []
    for q, d in zip(addresses, dates, strict=True):
        key = (q, d)
        if key not in cache:
            try:
                g = geocode_text(session, q, at=d)
            except GridGovError as exc:
                cache[key] = f"address: {exc.code}: {exc.message}"
            else:
                status = g.get("status")
                if status == "matched" and g.get("lon") is not None and g.get("lat") is not None:
                    cache[key] = (float(g["lon"]), float(g["lat"]))
                elif status == "needs_review":
                    names = [str(c.get("name") or c.get("address") or "") for c in g.get("candidates") or []]
                    cache[key] = (
                        f"address needs_review ({len(names)} candidates: {'; '.join(n for n in names if n)}); "
                        "a person decides: add coordinates or a fuller address"
                    )
                elif status == "matched":
                    cache[key] = f"address matched level {g.get('level')} without a point"
                else:
                    notes = "; ".join(g.get("notes") or []) or "no place found"
                    cache[key] = f"address no_match: {notes}"
        out.append(cache[key])
    return out


def _store_reference(session: Session, date: dt.date) -> tuple[np.ndarray, np.ndarray] | None:
    """WGS84 points of the buildings in force (else the gazetteer's places) for the datum check."""
    from grid.db.store import buildings_at

    b = buildings_at(session, date)
    if len(b):
        g = b.geometry.values
        pts = shapely.point_on_surface(g)
        return np.asarray(shapely.get_x(pts)), np.asarray(shapely.get_y(pts))
    try:
        from grid.db.geocoding import load_gazetteer

        places = load_gazetteer(session, date).places
    except GridGovError:
        return None
    xy = np.array(
        [(p.lon, p.lat) for p in places if p.lon is not None and p.lat is not None], dtype=float
    ).reshape(-1, 2)
    xy = xy[np.isfinite(xy).all(axis=1)]
    return (xy[:, 0], xy[:, 1]) if len(xy) else None


def _datum_check(
    session: Session, lon: np.ndarray, lat: np.ndarray, datum: str, date: dt.date
) -> DatumSuggestion | None:
    d = parse_datum(datum)
    if d.name not in ("wgs84", "cgcs2000", "gcj02", "bd09"):
        return None
    ok = np.isfinite(lon) & np.isfinite(lat)
    if int(ok.sum()) < SHIFT_MIN_POINTS or not in_china(lon[ok], lat[ok]).any():
        return None
    idx = get_index(session, date)
    if not idx.levels:
        return None
    top = idx.cells[idx.levels[-1]]  # the coarsest level

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.asarray(top.covering(x, y)[1] > 0)

    return suggest_datum(lon[ok], lat[ok], d.name, reference=_store_reference(session, date), inside=inside)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, float | np.floating):
        return "" if not np.isfinite(v) else repr(float(v))
    return str(v)


def assign_file(
    session: Session,
    path: str | Path,
    out: str | Path,
    *,
    lon_col: str = "lon",
    lat_col: str = "lat",
    datum: str | None = None,
    at: dt.date | None = None,
    date_col: str | None = None,
    level: str | None = None,
    address_col: str | None = None,
    keep_placeholders: bool = False,
    placeholder_min_rows: int = PLACEHOLDER_MIN_ROWS,
    placeholder_min_share: float = PLACEHOLDER_MIN_SHARE,
    placeholder_ratio: float = PLACEHOLDER_RATIO,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Assign every row of a CSV / GeoJSON / GeoPackage / GeoParquet file; write the rows with
    the ``gg_`` columns added (see ``gridgov assign --help``). Input columns are kept as read, in
    order; no row is dropped or reordered."""
    src, dst = Path(path), Path(out)
    frame, raw_rows, lon, lat, row_err, lines, file_crs, records_in = _read_points(
        src, lon_col, lat_col, optional_coordinates=address_col is not None
    )
    if address_col is not None and address_col not in frame.columns:
        raise InputError(
            f"{src.name}: no column {address_col!r} (given as --address-col); columns are: "
            f"{', '.join(map(str, frame.columns))}",
            code="missing_field",
        )
    warnings: list[str] = []
    declared = _file_datum(src, file_crs)
    if datum is None:
        if declared is None:
            raise InputError(
                f"{src.name} does not say its datum ({'a CSV never does' if raw_rows is not None else 'no CRS'}); "
                + DATUM_HELP,
                code="datum_required",
            )
        datum, datum_source = declared, "file"
    else:
        parse_datum(datum)
        datum_source = "option"
    n = len(frame)
    if parse_datum(datum).name != "epsg" and looks_projected(lon, lat):
        warnings.append(projected_hint(lon, lat))
    x, y, cerr = to_wgs84_arrays(np.asarray(lon, float), np.asarray(lat, float), datum)
    errs: list[str | None] = [row_err[i] or cerr[i] for i in range(n)]
    placed_by = np.full(n, "none", dtype=object)
    has_xy = np.isfinite(np.asarray(lon, float)) & np.isfinite(np.asarray(lat, float))
    unplaced = np.zeros(n, dtype=bool)
    flag = np.full(n, None, dtype=object)
    # dates: one index per boundary version
    if date_col is not None:
        if date_col not in frame:
            raise InputError(f"{src.name}: no column {date_col!r}", code="missing_field")
        dates = pd.to_datetime(frame[date_col], errors="coerce", format="mixed").dt.date
        for i, dd in enumerate(dates):
            if errs[i] is None and (dd is None or pd.isna(dd)):
                errs[i] = f"unreadable date {frame[date_col].iloc[i]!r}"
    else:
        dates = pd.Series([at or dt.date.today()] * n, dtype=object)
    for i in range(n):
        if errs[i] is None and has_xy[i] and np.isfinite(x[i]):
            placed_by[i] = "coordinates"
    # placeholder points (on the coordinates as given, before any datum conversion)
    placeholders: list[Placeholder] = []
    if not keep_placeholders:
        located = np.array([placed_by[i] == "coordinates" for i in range(n)], dtype=bool)
        lx = np.where(located, np.asarray(lon, float), np.nan)
        ly = np.where(located, np.asarray(lat, float), np.nan)
        placeholders, on_ph = placeholder_points(
            lx, ly, min_rows=placeholder_min_rows, min_share=placeholder_min_share, ratio=placeholder_ratio
        )
        for k in np.flatnonzero(on_ph).tolist():
            unplaced[k], flag[k], placed_by[k] = True, "placeholder_point", "none"
            errs[k] = (
                f"placeholder point ({lon[k]:.6g}, {lat[k]:.6g}): many records share it; "
                "not assigned (--keep-placeholders assigns it)"
            )
    # addresses: rows with no coordinates at all (coordinates win when both are given)
    if address_col is not None:
        addr = frame[address_col].map(
            lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
        )
        todo = [
            i
            for i in range(n)
            if errs[i] is None and not has_xy[i] and addr.iloc[i].strip() != "" and placed_by[i] == "none"
        ]
        got = _geocode_rows(session, [addr.iloc[i] for i in todo], [dates.iloc[i] for i in todo])
        for i, g in zip(todo, got, strict=True):
            if isinstance(g, tuple):
                x[i], y[i], placed_by[i] = g[0], g[1], "address"
            else:
                unplaced[i], errs[i] = True, g
        for i in range(n):
            if errs[i] is None and not has_xy[i] and placed_by[i] == "none":
                unplaced[i], errs[i] = True, "no coordinates and no address"
    else:
        for i in range(n):
            if errs[i] == "missing coordinates":
                unplaced[i] = True
    valid = np.array([errs[i] is None and placed_by[i] != "none" for i in range(n)], dtype=bool)
    x = x.copy()
    x[~valid] = np.nan
    result: dict[str, np.ndarray] = {}
    date_arr = dates.to_numpy()
    # one pass per boundary version (not per date: a year of daily records is one or two versions)
    groups: dict[int, tuple[JurisdictionIndex, list[Any]]] = {}
    for dd in sorted({d for d, v in zip(date_arr, valid, strict=True) if v}):
        idx = get_index(session, dd)
        groups.setdefault(id(idx), (idx, []))[1].append(dd)
    for idx, days in groups.values():
        dayset = set(days)
        sel = np.flatnonzero(valid & np.fromiter((d in dayset for d in date_arr), bool, n))
        part = assign_arrays(idx, x[sel], y[sel], level=level, progress=progress)
        for col in part.columns:
            if col not in result:
                result[col] = np.full(n, None, dtype=object)
            result[col][sel] = part[col].to_numpy(dtype=object)
    for col in OUT_COLUMNS:
        result.setdefault(col, np.full(n, None, dtype=object))
    status = result["status"]
    for j in np.flatnonzero(~valid):
        status[j] = "unplaced" if unplaced[j] else "error"
        result["error"][j] = errs[j]
    # the datum check on what was placed by coordinates
    suggestion = None
    if valid.any():
        by_coords = valid & (placed_by == "coordinates")
        check_date = date_arr[np.flatnonzero(by_coords)[0]] if by_coords.any() else None
        if check_date is not None:
            suggestion = _datum_check(
                session,
                np.asarray(lon, float)[by_coords],
                np.asarray(lat, float)[by_coords],
                datum,
                check_date,
            )
    if suggestion is not None:
        warnings.append(
            f"{suggestion.message}: the file is probably {suggestion.likely}, not {suggestion.declared}; "
            f"re-run with --datum {suggestion.likely} (nothing was converted for you)"
        )
    gg: dict[str, np.ndarray] = {}
    for col in ("status", "owner_code", "owner_level", "rule", "candidates", "near_boundary"):
        gg[OUTPUT_PREFIX + col] = result[col]
    for col, vals in result.items():
        if col not in ("status", "owner_code", "owner_level", "rule", "candidates", "near_boundary", "error"):
            gg[OUTPUT_PREFIX + col] = vals
    gg[OUTPUT_PREFIX + "placed_by"] = placed_by
    gg[OUTPUT_PREFIX + "flag"] = flag
    gg[OUTPUT_PREFIX + "error"] = result["error"]
    gg[OUTPUT_PREFIX + "line"] = np.asarray(lines, dtype=object)
    clash = [c for c in gg if c in frame.columns]
    if clash:  # check_header refuses gg_ inputs; this can only be a programming error
        raise InputError(f"output columns collide with input columns: {clash}", code="reserved_columns")
    _write(frame, raw_rows, gg, dst, x, y)
    counts = Counter(str(s) for s in status)
    bad = [
        {"line": int(lines[i]), "status": str(status[i]), "error": result["error"][i]}
        for i in np.flatnonzero(np.isin(status.astype(str), ["error", "outside", "unplaced"]))[:50]
    ]
    return {
        "records_in": records_in,
        "rows": n,
        "rows_out": n,
        "by_status": dict(counts),
        "placed_by": dict(Counter(str(p) for p in placed_by)),
        "placeholders": [{"lon": p.lon, "lat": p.lat, "rows": p.rows} for p in placeholders],
        "datum": datum,
        "datum_source": datum_source,
        "suggested_datum": suggestion.likely if suggestion else None,
        "warnings": warnings,
        "problems": bad,
        "out": str(dst),
    }


def _write(
    frame: pd.DataFrame,
    raw_rows: list[list[str]] | None,
    gg: dict[str, np.ndarray],
    dst: Path,
    x: np.ndarray,
    y: np.ndarray,
) -> None:
    suffix = dst.suffix.lower()
    if suffix not in (".csv", ".parquet", ".geoparquet", ".geojson", ".json"):
        raise InputError(f"{dst.name}: write .csv, .geojson or .parquet", code="unsupported_format")
    dst.parent.mkdir(parents=True, exist_ok=True)
    names = list(gg)
    if suffix == ".csv":
        cols = [[_cell(v) for v in gg[c]] for c in names]
        base = (
            raw_rows
            if raw_rows is not None
            else [[_cell(v) for v in r] for r in frame.itertuples(index=False)]
        )
        rows = [list(base[i]) + [c[i] for c in cols] for i in range(len(frame))]
        write_csv(dst, [str(c) for c in frame.columns] + names, rows)
        return
    empty = [c for c in frame.columns if str(c) == ""]
    if len(empty) > 1:
        raise InputError(
            f"{dst.name}: the input has {len(empty)} columns without a name; GeoJSON/Parquet need unique "
            "names: write a .csv, or name them",
            code="duplicate_columns",
        )
    out_df = frame.reset_index(drop=True).copy()
    for c in names:
        vals = gg[c]
        if c == OUTPUT_PREFIX + "near_boundary":
            out_df[c] = pd.array([None if v is None else bool(v) for v in vals], dtype="boolean")
        elif c.endswith("_distance_m"):
            out_df[c] = pd.to_numeric(pd.Series(vals, dtype=object), errors="coerce")
        elif c == OUTPUT_PREFIX + "line":
            out_df[c] = np.asarray(vals, dtype=np.int64)
        else:
            out_df[c] = pd.Series([None if v is None else str(v) for v in vals], dtype=object)
    g = gpd.GeoDataFrame(out_df, geometry=gpd.points_from_xy(x, y), crs=4326)
    if suffix in (".parquet", ".geoparquet"):
        g.to_parquet(dst)
    else:
        dst.unlink(missing_ok=True)
        g.to_file(dst, driver="GeoJSON", engine="pyogrio")
