"""Reading point tables row by row without losing a row (pure).

A CSV from the field has multi-line quoted fields (a 311 description of 30 lines), broken quoting,
missing or non-numeric coordinates. :func:`read_points_csv` parses the whole text with Python's
``csv`` module, so a quoted field spanning any number of lines is one record, and keeps every
record, numbered by the physical line it starts on; a record it cannot read is kept with an error
instead of being dropped.

Rules (documented in ``gridgov assign --help``):

- encoding: UTF-8 (with or without BOM), else GB18030; a NUL byte refuses the file, and so does
  a file that reads as Big5 or Shift-JIS rather than GB18030 (``unsupported_encoding``).
- the header: duplicate names are refused (``duplicate_columns``); empty names are kept; a name
  starting with :data:`OUTPUT_PREFIX` is refused (``reserved_columns``): those are our output columns,
  drop them before assigning again.
- a record with the wrong number of fields is kept and marked (``N fields where the header has M``);
  its fields are neither dropped nor shifted (the extra ones are named in the error).
- **broken quoting**: a quoting error inside a record that spans one physical line marks that row.
  A record that spans several lines and then fails (a quote never closed before the end of the
  file, a field past the size limit, a stray character after a closing quote) is refused with
  ``malformed_csv`` naming the line where the quote opened: its lines may be other records that it
  swallowed, and we never guess where records end.
- blank lines are not records (they are counted).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from grid.encodings import decode_text
from grid.errors import InputError

OUTPUT_PREFIX = "gg_"
MAX_FIELD_CHARS = 1_000_000  # a field larger than this is a quote that swallowed the file


@dataclass
class CsvText:
    """A CSV parsed record by record: every record, its first physical line, a per-record error."""

    columns: list[str]
    rows: list[list[str]]  # the fields as read (an unreadable record: as a lenient reader reads it)
    line: np.ndarray  # physical line each record starts on (1-based, header = line 1)
    error: list[str | None]
    blank_lines: int = 0

    @property
    def records(self) -> int:
        return len(self.rows)

    def fixed_rows(self) -> list[list[str]]:
        """Rows of exactly ``len(columns)`` fields (see :func:`fit_rows`)."""
        return fit_rows(self.rows, len(self.columns))


def fit_rows(rows: list[list[str]], width: int) -> list[list[str]]:
    """Rows of exactly ``width`` fields: short rows padded with ``""``, long ones cut (the cut
    fields are named in the row's error)."""
    return [r + [""] * (width - len(r)) if len(r) < width else r[:width] for r in rows]


@dataclass
class PointTable:
    columns: list[str]
    rows: list[list[str]]  # every record, as read (an unreadable one: as a lenient reader reads it)
    line: np.ndarray  # physical line each record starts on (1-based, header = line 1)
    lon: np.ndarray
    lat: np.ndarray
    error: list[str | None] = field(default_factory=list)
    blank_lines: int = 0

    def fixed_rows(self) -> list[list[str]]:
        """Rows of exactly ``len(columns)`` fields (see :func:`fit_rows`)."""
        return fit_rows(self.rows, len(self.columns))

    def frame(self) -> pd.DataFrame:
        """All fields as strings, exactly as read (no NaN, no number parsing)."""
        return pd.DataFrame(self.fixed_rows(), columns=pd.Index(self.columns, dtype=object), dtype=object)


def decode_csv_bytes(raw: bytes, name: str, encoding: str | None = None) -> str:
    """UTF-8 (BOM dropped) else GB18030; a NUL byte or undecodable bytes refuse the file, and so
    does a file that reads as Big5 or Shift-JIS (``unsupported_encoding``, see :mod:`grid.encodings`)."""
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise InputError(
            f"{name}: NUL byte on line {line}: not a UTF-8 or GB18030 text file (UTF-16? binary?)",
            code="malformed_csv",
            details={"line": line},
        )
    if encoding is None:
        return decode_text(raw, name)  # UTF-8, else GB18030 unless it reads as Big5/Shift-JIS
    try:
        return raw.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise InputError(f"{name}: not {encoding} text ({exc})", code="malformed_csv") from None


def check_header(columns: list[str], name: str) -> None:
    """Refuse duplicate names (empty names may repeat: they are kept as they are) and our own prefix."""
    seen: dict[str, int] = {}
    for c in columns:
        if c != "":
            seen[c] = seen.get(c, 0) + 1
    dup = [c for c, k in seen.items() if k > 1]
    if dup:
        raise InputError(
            f"{name}: duplicate column name(s) {', '.join(map(repr, dup))}: rename them in the file "
            "(columns are never renamed for you)",
            code="duplicate_columns",
            details={"columns": dup},
        )
    ours = [c for c in columns if c.startswith(OUTPUT_PREFIX)]
    if ours:
        raise InputError(
            f"{name}: column(s) {', '.join(map(repr, ours))} start with {OUTPUT_PREFIX!r}, the prefix of "
            f"gridgov's output columns; drop them (or rename them) before assigning again",
            code="reserved_columns",
            details={"columns": ours},
        )


def parse_csv_text(text: str, name: str) -> CsvText:
    """Every record of a CSV text (see the module rules); the header is not checked here."""
    src = io.StringIO(text, newline="")
    old_limit = csv.field_size_limit()
    csv.field_size_limit(MAX_FIELD_CHARS)
    physical = [0]  # physical lines handed to the parser so far

    physical_lines: list[str] | None = None

    def lines() -> Iterator[str]:
        for ln in iter(src.readline, ""):
            physical[0] += 1
            yield ln

    reader = csv.reader(lines(), strict=True)
    columns: list[str] | None = None
    rows: list[list[str]] = []
    starts: list[int] = []
    errors: list[str | None] = []
    blank = 0
    try:
        while True:
            start = physical[0] + 1
            try:
                rec = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                end = physical[0]
                if columns is None:
                    raise InputError(
                        f"{name}: header line {start}: {exc}", code="malformed_csv", details={"line": start}
                    ) from None
                if end > start:
                    raise InputError(
                        f"{name}: malformed CSV: the record starting on line {start} runs over "
                        f"{end - start + 1} lines and then fails ({exc}): a quote opened on line "
                        f"{start} is probably never closed (or closed in the wrong place); fix the "
                        "quoting there. Records are never guessed.",
                        code="malformed_csv",
                        details={"line": start, "lines": end - start + 1},
                    ) from None
                if physical_lines is None:
                    physical_lines = io.StringIO(text, newline="").readlines()
                raw = "".join(physical_lines[start - 1 : end]).rstrip("\r\n")
                # the fields as a lenient reader sees them (columns stay aligned); the row is an
                # error and its raw text is in the error
                rows.append(next(csv.reader([raw], strict=False), [raw]))
                starts.append(start)
                errors.append(f"unreadable record ({exc}): {raw!r}")
                continue
            if not rec:
                blank += 1
                continue
            if columns is None:
                columns = rec
                continue
            rows.append(rec)
            starts.append(start)
            errors.append(None)
    finally:
        csv.field_size_limit(old_limit)
    if columns is None:
        raise InputError(f"{name} is empty", code="malformed_csv")
    width = len(columns)
    for i, r in enumerate(rows):
        if errors[i] is None and len(r) != width:
            extra = f"; extra field(s): {r[width:]!r}" if len(r) > width else ""
            errors[i] = f"{len(r)} fields where the header has {width}{extra}"
    return CsvText(columns, rows, np.asarray(starts, dtype=np.int64), errors, blank)


def read_csv_text(path: str | Path, *, encoding: str | None = None) -> CsvText:
    """Read and parse a CSV file, header checked (:func:`check_header`)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"file not found: {p}", code="file_not_found")
    t = parse_csv_text(decode_csv_bytes(p.read_bytes(), p.name, encoding), p.name)
    check_header(t.columns, p.name)
    return t


def read_points_csv(
    path: str | Path,
    lon_col: str,
    lat_col: str,
    *,
    encoding: str | None = None,
    optional_coordinates: bool = False,
) -> PointTable:
    """Read a CSV of points; every record is kept, bad ones with a precise error and their line.

    With ``optional_coordinates`` a row with both coordinates blank is not an error (it may be
    placed another way, e.g. by its address); a missing coordinate column is still refused.
    """
    p = Path(path)
    t = read_csv_text(p, encoding=encoding)
    columns = t.columns
    for c in (lon_col, lat_col):
        if c not in columns:
            raise InputError(
                f"{p.name}: no column {c!r}; columns are: {', '.join(columns)}", code="missing_field"
            )
    ix, iy = columns.index(lon_col), columns.index(lat_col)
    errors = list(t.error)
    lon = np.full(len(t.rows), np.nan)
    lat = np.full(len(t.rows), np.nan)
    for i, f in enumerate(t.rows):
        if errors[i] is not None:
            continue
        sx, sy = f[ix].strip(), f[iy].strip()
        if sx == "" and sy == "" and optional_coordinates:
            continue
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
            lon[i] = lat[i] = np.nan
    return PointTable(
        columns=columns, rows=t.rows, line=t.line, lon=lon, lat=lat, error=errors, blank_lines=t.blank_lines
    )


def write_csv(path: str | Path, columns: list[str], rows: list[list[str]]) -> None:
    """Write with the csv module (minimal quoting, ``\\r\\n`` records): reading it back with
    :func:`parse_csv_text` gives the same fields."""
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_MINIMAL)
        w.writerow(columns)
        w.writerows(rows)


# --- placeholder points ----------------------------------------------------------------------

PLACEHOLDER_MIN_ROWS = 50
PLACEHOLDER_MIN_SHARE = 0.01
PLACEHOLDER_RATIO = 10.0
PLACEHOLDER_DECIMALS = 6  # points equal after rounding to 1e-6 degree (~0.1 m) are one point


@dataclass(frozen=True)
class Placeholder:
    lon: float
    lat: float
    rows: int


def placeholder_points(
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    min_rows: int = PLACEHOLDER_MIN_ROWS,
    min_share: float = PLACEHOLDER_MIN_SHARE,
    ratio: float = PLACEHOLDER_RATIO,
) -> tuple[list[Placeholder], np.ndarray]:
    """Fallback points a geocoder writes when it cannot place a record (Boston's City Hall,
    Baltimore's (39.0, -77.0)), and the mask of the rows on them.

    Rule: over the rows with finite coordinates (rounded to 1e-6 degree), a point is a placeholder
    when it carries at least ``max(min_rows, min_share x located rows)`` rows AND at least ``ratio``
    times as many as the busiest ordinary point (the busiest point below that threshold; 1 if
    none). A real busy address (a housing block, a station) is a few times busier than the next
    busiest, never an order of magnitude above every other point of a city-wide file while holding
    1% of it; a fallback point is (Boston 2015: 722 rows vs 12; Baltimore: 885 vs 42).
    """
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    mask = np.zeros(len(x), dtype=bool)
    n = int(ok.sum())
    if n == 0:
        return [], mask
    keys = np.round(x[ok], PLACEHOLDER_DECIMALS) + 1j * np.round(y[ok], PLACEHOLDER_DECIMALS)
    uniq, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
    threshold = max(float(min_rows), min_share * n)
    big = counts >= threshold
    if not big.any():
        return [], mask
    busiest_ordinary = int(counts[~big].max()) if (~big).any() else 1
    flagged = big & (counts >= ratio * max(busiest_ordinary, 1))
    found = [
        Placeholder(float(uniq[k].real), float(uniq[k].imag), int(counts[k])) for k in np.flatnonzero(flagged)
    ]
    found.sort(key=lambda p: -p.rows)
    mask[np.flatnonzero(ok)] = flagged[inv]
    return found, mask
