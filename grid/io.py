"""Reading boundary and point layers (GeoJSON, GeoPackage, Shapefile, CSV) with precise errors.

All vector formats go through pyogrio (GDAL); CSV with coordinate columns goes through pandas.
Nothing here writes anywhere.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from grid.encodings import check_gb18030_text, decode_text
from grid.errors import InputError
from grid.inputs import InvalidCharacters, text_problem, walk_problem

VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb"}


def read_layer(path: str | Path, layer: str | None = None, encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector layer, keeping its declared CRS (``None`` when the file declares none).

    A Shapefile without a ``.cpg`` says nothing of its attribute encoding; Chinese ones are often
    GBK. Unless ``encoding`` is given, such a file is read as UTF-8 and, if that fails, as GB18030;
    attributes that read as Big5 or Shift-JIS instead are refused (``unsupported_encoding``: give
    ``--encoding``).
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
    if len(tries) > 1 and enc == "gb18030":  # GB18030 reads almost anything: Big5? Shift-JIS?
        texts = [v for c in gdf.columns if c != "geometry" for v in gdf[c] if isinstance(v, str)]
        hint = f"put {p.stem}.cpg holding {{enc}} beside it (gridgov import units: --encoding {{enc}})"
        check_gb18030_text([*map(str, gdf.columns), *texts], p.name, option=hint)
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
    """Read a UTF-8 (or UTF-8 with BOM / GB18030) CSV, checking the header before anything is used.

    A file that reads as Big5 or Shift-JIS is refused (``unsupported_encoding``, see
    :mod:`grid.encodings`)."""
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
    # UTF-8, else GB18030; a Big5 or Shift-JIS file is refused, never read as mojibake
    text = decode_text(p.read_bytes(), p.name)
    try:
        # index_col=False: a first row with more fields than the header must not become the
        # index (which shifts every value one column to the right); pandas only warns then
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(io.StringIO(text), dtype=dtype, keep_default_na=False, index_col=False)
    except pd.errors.ParserWarning as exc:
        raise InputError(
            f"{p.name}: malformed CSV: a row has more fields than the header", code="malformed_csv"
        ) from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{p.name}: malformed CSV: {exc}", code="malformed_csv") from exc
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


# --- text that cannot be stored (NUL, other control characters) ------------------------------

_JSON_CONTROL = re.compile(rb"\\u00[01][0-9a-fA-F]")  # a JSON escape of a C0 control character


def _raw_text_problems(p: Path) -> dict[tuple[int, str], str]:
    """Problems GDAL hides: it cuts a string at a NUL (``"双井\\u0000街道"`` reads as ``"双井"``).
    GeoJSON: the properties of each feature as JSON parses them; GeoPackage: the text columns of
    its first layer as SQLite holds them. ``{(row, field): problem}``, rows 0-based."""
    import json
    import sqlite3

    found: dict[tuple[int, str], str] = {}
    suffix = p.suffix.lower()
    if suffix in {".geojson", ".json"}:
        raw = p.read_bytes()
        if not _JSON_CONTROL.search(raw):
            return found
        try:
            doc = json.loads(raw)
        except ValueError:
            return found
        feats = doc.get("features") if isinstance(doc, dict) else None
        for i, f in enumerate(feats if isinstance(feats, list) else []):
            props = f.get("properties") if isinstance(f, dict) else None
            for k, v in (props or {}).items() if isinstance(props, dict) else ():
                hit = walk_problem(v, str(k)) or (text_problem(str(k)) and (str(k), text_problem(str(k))))
                if hit:
                    found[(i, str(k))] = str(hit[1])
    elif suffix == ".gpkg":
        try:
            con = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        except sqlite3.Error:
            return found
        try:
            table = con.execute(
                "SELECT table_name FROM gpkg_contents WHERE data_type = 'features' ORDER BY rowid LIMIT 1"
            ).fetchone()
            if table is None:
                return found
            name = table[0].replace('"', '""')
            cols = [r[1] for r in con.execute(f'PRAGMA table_info("{name}")') if "TEXT" in str(r[2]).upper()]
            for c in cols:
                q = c.replace('"', '""')
                rows = con.execute(
                    f'SELECT n - 1 FROM (SELECT row_number() OVER (ORDER BY rowid) AS n, "{q}" AS v '
                    f"FROM \"{name}\") WHERE instr(CAST(v AS BLOB), x'00') > 0"
                ).fetchall()
                for (i,) in rows:
                    found[(int(i), c)] = "holds the control character U+0000"
        except sqlite3.Error:
            return found
        finally:
            con.close()
    return found


def text_problems(
    df: pd.DataFrame, path: str | Path | None = None, fields: Iterable[str | None] | None = None
) -> list[tuple[int, str, str]]:
    """Every text value of a table read from a file that cannot be stored (:mod:`grid.inputs`):
    ``(row, field, problem)``, rows 0-based in file order; only ``fields`` when given. With
    ``path`` (a GeoJSON or GeoPackage), the file itself is read too, for the NULs GDAL drops
    silently."""
    keep = None if fields is None else {str(f) for f in fields if f is not None}
    found = _raw_text_problems(Path(path)) if path is not None and Path(path).exists() else {}
    if keep is not None:
        found = {k: v for k, v in found.items() if k[1] in keep}
    for col in df.columns:
        if col == "geometry" or (keep is not None and str(col) not in keep):
            continue
        p = text_problem(str(col))
        if p:
            found.setdefault((0, str(col)), f"(the field name) {p}")
        if df[col].dtype != object:
            continue
        for i, v in enumerate(df[col].tolist()):
            if isinstance(v, str):
                p = text_problem(v)
                if p:
                    found.setdefault((i, str(col)), p)
    return sorted((i, f, why) for (i, f), why in found.items())


def check_layer_text(
    df: pd.DataFrame,
    path: str | Path,
    fields: Iterable[str | None] | None = None,
    *,
    what: str = "feature",
    limit: int = 20,
) -> None:
    """Refuse a layer holding text that cannot be stored (``invalid_characters``) in ``fields``
    (default: every field), naming each feature (1-based, in file order) and field."""
    bad = text_problems(df, path, fields)
    if not bad:
        return
    where = "; ".join(f"{what} {i + 1}, field {f!r}: {why}" for i, f, why in bad[:5])
    more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
    raise InvalidCharacters(
        f"{Path(path).name}: {len(bad)} value(s) hold characters that cannot be stored: {where}{more}; "
        "nothing was written",
        details={"problems": [{what: i + 1, "field": f, "problem": why} for i, f, why in bad[:limit]]},
    )
