"""Reading boundary and point layers (GeoJSON, GeoPackage, Shapefile, CSV) with precise errors.

All vector formats go through pyogrio (GDAL); CSV with coordinate columns goes through pandas.
Nothing here writes anywhere.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from grid.errors import InputError

VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb"}


def read_layer(path: str | Path, layer: str | None = None, encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector layer, keeping its declared CRS (``None`` when the file declares none).

    A Shapefile without a ``.cpg`` says nothing of its attribute encoding; Chinese ones are often
    GBK. Unless ``encoding`` is given, such a file is read as UTF-8 and, if that fails, as GB18030.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"file not found: {p}", code="file_not_found")
    if p.suffix.lower() == ".csv":
        raise InputError(
            f"{p.name}: a CSV has no polygons; give GeoJSON, GeoPackage or Shapefile",
            code="unsupported_format",
        )
    tries: list[str | None] = [encoding]
    if encoding is None and p.suffix.lower() == ".shp" and not p.with_suffix(".cpg").exists():
        tries = ["utf-8", "gb18030"]
    gdf = None
    for i, enc in enumerate(tries):
        try:
            kw = {"encoding": enc} if enc else {}
            gdf = gpd.read_file(p, layer=layer, engine="pyogrio", **kw)
            break
        except UnicodeDecodeError as exc:
            if i == len(tries) - 1:
                raise InputError(
                    f"cannot decode the attributes of {p.name} ({exc}); give --encoding",
                    code="unreadable_file",
                ) from exc
        except Exception as exc:  # GDAL raises many types; report which file and why
            raise InputError(
                f"cannot read {p.name} as a vector layer: {exc}", code="unreadable_file"
            ) from exc
    assert gdf is not None
    if "geometry" not in gdf or gdf.geometry is None:
        raise InputError(f"{p.name} has no geometry column", code="unreadable_file")
    if p.suffix.lower() in {".geojson", ".json"} and gdf.crs is not None and gdf.crs.is_geographic:
        gdf = _undeclared_geojson_crs(p, gdf)
    return gdf


def _undeclared_geojson_crs(p: Path, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """GDAL gives every GeoJSON EPSG:4326 (the spec's default); a file with no ``crs`` member
    whose coordinates are not degrees (e.g. US State Plane feet) declares no CRS at all: say so
    (``crs=None``) so that ``--datum EPSG:n`` applies instead of contradicting a guess."""
    import numpy as np
    import shapely

    xy = shapely.get_coordinates(np.asarray(gdf.geometry.values, dtype=object))
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) == 0 or not ((np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90)).mean() > 0.5:
        return gdf
    if geojson_declares_crs(p) is False:
        gdf = gdf.set_crs(None, allow_override=True)
        gdf.attrs["crs_undeclared"] = True
    return gdf


def geojson_declares_crs(p: Path) -> bool | None:
    """Whether a GeoJSON file has a ``crs`` member (GDAL reports EPSG:4326 either way); None when
    the file cannot be read as JSON."""
    import json

    try:
        with p.open("rb") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return None
    return isinstance(doc, dict) and doc.get("crs") is not None


def require_fields(df: pd.DataFrame, fields: dict[str, str | None], source: str) -> None:
    """Raise when an option names a field the file does not have, listing the fields it has."""
    have = [c for c in df.columns if c != "geometry"]
    for option, field in fields.items():
        if field is not None and field not in df.columns:
            raise InputError(
                f"{source}: no field {field!r} (given as {option}); fields are: {', '.join(map(str, have))}",
                code="missing_field",
            )


def code_str(value: Any) -> str | None:
    """Normalise a code read from a file: ints and integral floats lose no digits; blanks become None.

    >>> code_str(110105016.0), code_str(" 110105 "), code_str(None), code_str(float("nan"))
    ('110105016', '110105', None, None)
    """
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
        return str(value)
    text = str(value).strip()
    if text == "" or text.lower() in {"nan", "none", "null"}:
        return None
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text


def read_csv(path: str | Path, *, required: list[str], dtype: Any = str) -> pd.DataFrame:
    """Read a UTF-8 (or UTF-8 with BOM / GB18030) CSV, checking the header before anything is used."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"file not found: {p}", code="file_not_found")
    with p.open(
        "rb"
    ) as fh:  # NUL is no text in UTF-8/GB18030 (UTF-16 is full of them); PostgreSQL refuses it
        nul = next((n for n, line in enumerate(fh, start=1) if b"\x00" in line), None)
    if nul is not None:
        raise InputError(
            f"{p.name}: NUL byte on line {nul}: not a UTF-8 or GB18030 text file (UTF-16? binary?)",
            code="malformed_csv",
            details={"line": nul},
        )
    last: Exception | None = None
    for enc in ("utf-8-sig", "gb18030"):
        try:
            # index_col=False: a first row with more fields than the header must not become the
            # index (which shifts every value one column to the right); pandas only warns then
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                df = pd.read_csv(p, dtype=dtype, keep_default_na=False, encoding=enc, index_col=False)
            break
        except UnicodeDecodeError as exc:
            last = exc
        except pd.errors.ParserWarning as exc:
            raise InputError(
                f"{p.name}: malformed CSV: a row has more fields than the header", code="malformed_csv"
            ) from exc
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"{p.name}: malformed CSV: {exc}", code="malformed_csv") from exc
    else:
        raise InputError(f"{p.name}: not UTF-8 or GB18030 text ({last})", code="malformed_csv")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(
            f"{p.name}: missing column(s) {', '.join(missing)}; columns are: {', '.join(df.columns)}",
            code="malformed_csv",
        )
    return df


def read_point_rows(path: str | Path, *, required: list[str]) -> tuple[pd.DataFrame, Any, Any]:
    """Rows with a geometry each: a CSV with numeric ``lon``/``lat`` columns, or any vector layer.

    Returns the attributes, an array of geometries (points for a CSV) and the layer's CRS (``None``
    for a CSV: its datum is given by the caller). Every row must have coordinates; the rows that
    do not are named in the error.
    """
    import shapely

    p = Path(path)
    if p.suffix.lower() == ".csv":
        df = read_csv(p, required=[*required, "lon", "lat"])
        lon = pd.to_numeric(df["lon"], errors="coerce")
        lat = pd.to_numeric(df["lat"], errors="coerce")
        bad = df.index[lon.isna() | lat.isna()].tolist()
        if bad:
            raise InputError(
                f"{p.name}: row(s) {', '.join(str(i + 2) for i in bad[:10])} have no numeric lon/lat",
                code="malformed_csv",
            )
        return df, shapely.points(lon.to_numpy(), lat.to_numpy()), None
    gdf = read_layer(p)
    missing = [c for c in required if c not in gdf.columns]
    if missing:
        raise InputError(f"{p.name}: missing field(s) {', '.join(missing)}", code="missing_field")
    import numpy as np

    return pd.DataFrame(gdf.drop(columns="geometry")), np.asarray(gdf.geometry.values, dtype=object), gdf.crs
