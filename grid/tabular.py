"""Reading point tables row by row without losing a row (pure).

A CSV from the field has broken quoting, multi-line quoted fields, missing or non-numeric
coordinates. :func:`read_points_csv` keeps every record, numbered by the physical line it
starts on; a record it cannot read is kept with an error instead of being dropped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from grid.errors import InputError

MAX_RECORD_LINES = 20  # a quoted field spanning more lines than this is taken as broken quoting


@dataclass
class PointTable:
    columns: list[str]
    rows: list[list[str]]  # every record, as read (error rows: the raw text in the first column)
    line: np.ndarray  # physical line each record starts on (1-based, header = line 1)
    lon: np.ndarray
    lat: np.ndarray
    error: list[str | None] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        width = len(self.columns)
        fixed = [r + [""] * (width - len(r)) if len(r) < width else r[:width] for r in self.rows]
        return pd.DataFrame(fixed, columns=self.columns)


def _records(text_lines: Iterator[str]) -> Iterator[tuple[int, str, str | None]]:
    """(start line, record text, error) for each logical record; quotes decide where records end."""
    buf: list[str] = []
    start = 0
    quotes = 0
    for n, line in enumerate(text_lines, start=1):
        if not buf:
            start = n
        buf.append(line)
        quotes += line.count('"')
        if quotes % 2 == 0:
            yield start, "".join(buf), None
            buf, quotes = [], 0
        elif len(buf) >= MAX_RECORD_LINES:
            # broken quoting: report the first line, resynchronise on the next one
            yield start, buf[0], f"unbalanced quote (no closing quote within {MAX_RECORD_LINES} lines)"
            rest = buf[1:]
            buf, quotes = [], 0
            for k, extra in enumerate(rest, start=start + 1):
                if extra.count('"') % 2 == 0:
                    yield k, extra, None
                else:
                    yield k, extra, "unbalanced quote"
    if buf:
        if quotes % 2:
            yield start, buf[0], "unbalanced quote at end of file"
            for k, extra in enumerate(buf[1:], start=start + 1):
                yield k, extra, "unbalanced quote" if extra.count('"') % 2 else None
        else:
            yield start, "".join(buf), None


def read_points_csv(
    path: str | Path, lon_col: str, lat_col: str, *, encoding: str | None = None
) -> PointTable:
    """Read a CSV of points; every record is kept, bad ones with a precise error and their line."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"file not found: {p}", code="file_not_found")
    raw = p.read_bytes()
    text = None
    for enc in [encoding] if encoding else ["utf-8-sig", "gb18030"]:
        try:
            text = raw.decode(enc)
            break
        except (UnicodeDecodeError, LookupError):
            continue
    if text is None:
        raise InputError(f"{p.name}: not UTF-8 or GB18030 text", code="malformed_csv")
    lines = io.StringIO(text, newline="")
    records = _records(iter(lines.readline, ""))
    try:
        _, header_text, herr = next(records)
    except StopIteration:
        raise InputError(f"{p.name} is empty", code="malformed_csv") from None
    if herr:
        raise InputError(f"{p.name}: header line: {herr}", code="malformed_csv")
    try:
        columns = next(csv.reader([header_text.rstrip("\r\n")]), [])
    except csv.Error as exc:  # a field beyond csv.field_size_limit(), a newline in an unquoted field
        raise InputError(f"{p.name}: header line: {exc}", code="malformed_csv") from None
    for c in (lon_col, lat_col):
        if c not in columns:
            raise InputError(
                f"{p.name}: no column {c!r}; columns are: {', '.join(columns)}", code="missing_field"
            )
    ix, iy = columns.index(lon_col), columns.index(lat_col)
    rows: list[list[str]] = []
    starts: list[int] = []
    errors: list[str | None] = []
    for start, rec, err in records:
        if rec.strip() == "" and err is None:
            continue  # blank line
        if err is None:
            try:
                fields = next(csv.reader([rec.rstrip("\r\n")], strict=True))
            except csv.Error as exc:
                fields, err = [rec.rstrip("\r\n")], f"unreadable record: {exc}"
            else:
                if len(fields) != len(columns):
                    err = f"{len(fields)} fields where the header has {len(columns)}"
        else:
            fields = [rec.rstrip("\r\n")]
        rows.append(fields)
        starts.append(start)
        errors.append(err)
    lon = np.full(len(rows), np.nan)
    lat = np.full(len(rows), np.nan)
    for i, f in enumerate(rows):
        if errors[i] is not None:
            continue
        sx, sy = f[ix].strip(), f[iy].strip()
        if sx == "" or sy == "":
            errors[i] = "missing coordinates"
            continue
        try:
            lon[i], lat[i] = float(sx), float(sy)
        except ValueError:
            errors[i] = f"not a number: {lon_col}={sx!r} {lat_col}={sy!r}"
            continue
        if not (np.isfinite(lon[i]) and np.isfinite(lat[i])):
            errors[i] = "coordinates are not finite"
    return PointTable(
        columns=columns, rows=rows, line=np.asarray(starts, dtype=np.int64), lon=lon, lat=lat, error=errors
    )
