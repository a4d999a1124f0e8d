"""``gridgov import petitions FILE``: a CSV of petitions (as a 12345 centre exports them), all or nothing.

Every row is checked first (text, type, channel, category, urgency, time, coordinates with datum,
characters that cannot be stored, lengths against the columns); one bad row blocks the whole file
and the report names each bad row by its line, so nothing is half-imported. The CSV is read with
the csv module: a quoted text may span lines, and a record with the wrong number of fields (a file
cut in the middle of its last row: ``truncated_row``) is a bad row, never a petition. The rows are then written in one transaction, committed, and located and dispatched
in batches (a crash there leaves ``received`` petitions that ``gridgov petitions process`` finishes).
A row whose ``external_id`` is already in the store is skipped as a replay, not duplicated.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from grid.db import petitions as svc
from grid.errors import GridGovError, ImportBlocked, InputError
from grid.lifecycle import INTAKE_COLUMNS, INTAKE_REQUIRED
from grid.tabular import OUTPUT_PREFIX, check_header, decode_csv_bytes, parse_csv_text

REQUIRED = list(INTAKE_REQUIRED)
OPTIONAL = [c for c in INTAKE_COLUMNS if c not in INTAKE_REQUIRED]
MAX_PROBLEMS = 200
MAX_SOURCE = 128  # the width of petition.source


def _row(rec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in REQUIRED + OPTIONAL:
        v = rec.get(k)
        out[k] = None if v is None or (isinstance(v, str) and not v.strip()) else v
    for k in ("lon", "lat"):
        if out[k] is not None:
            try:
                out[k] = float(out[k])
            except ValueError:
                out[k] = out[k]  # validate_intake names it
    return out


def read_records(path: str | Path) -> tuple[list[dict[str, Any]], list[int], list[dict[str, Any]]]:
    """The rows of a petitions CSV (read with the csv module: a quoted text may span lines), the
    physical line each starts on, and the records that are no petition: a wrong number of fields
    (a file cut in the middle of its last row) or unreadable quoting, each with its line.

    Encoding: UTF-8 or GB18030 (a Big5 or Shift-JIS file is refused); a NUL byte refuses the file.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"file not found: {p}", code="file_not_found")
    raw = p.read_bytes()
    t = parse_csv_text(decode_csv_bytes(raw, p.name), p.name)
    check_header([c for c in t.columns if not c.startswith(OUTPUT_PREFIX)], p.name)  # duplicates
    missing = [c for c in REQUIRED if c not in t.columns]
    if missing:
        raise InputError(
            f"{p.name}: missing column(s) {', '.join(missing)}; columns are: {', '.join(t.columns)}",
            code="malformed_csv",
        )
    width = len(t.columns)
    cut = not raw.endswith((b"\n", b"\r"))  # the last record has no line end: cut mid-row?
    rows, lines, bad = [], [], []
    for k, (fields, line, error) in enumerate(zip(t.rows, t.line.tolist(), t.error, strict=True)):
        if error is None:
            rows.append(_row(dict(zip(t.columns, fields, strict=True))))
            lines.append(int(line))
            continue
        if k == len(t.rows) - 1 and cut and len(fields) < width:
            bad.append(
                {
                    "line": int(line),
                    "code": "truncated_row",
                    "message": f"the last record has {len(fields)} of the header's {width} fields and "
                    "no line end: the file was cut in the middle of this row",
                }
            )
        else:
            bad.append({"line": int(line), "code": "wrong_field_count", "message": error})
    return rows, lines, bad


def import_petitions(
    session: Session,
    path: str | Path,
    *,
    actor: str = "import",
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Check every row, then write all (the caller commits). Returns counts; raises ImportBlocked."""
    rows, lines, bad_records = read_records(path)  # a cut or ragged record is a problem of its line
    problems: list[dict[str, Any]] = list(bad_records)
    seen: dict[str, int] = {}
    for r, line in zip(rows, lines, strict=True):
        try:
            svc.validate_intake(session, r)
        except GridGovError as exc:
            problems.append({"line": line, "code": exc.code, "message": exc.message})
        ext = r.get("external_id")
        if ext is not None:
            ext = str(ext)
            if ext in seen:
                problems.append(
                    {
                        "line": line,
                        "code": "duplicate_external_id",
                        "message": f"external_id {ext} repeats line {seen[ext]}",
                    }
                )
            seen[ext] = line
    name = Path(path).name
    if problems:
        problems.sort(key=lambda q: q["line"])
        raise ImportBlocked(
            f"{name}: {len(problems)} bad row(s); nothing was imported",
            code="invalid_rows",
            details={
                "source": name,
                "rows": len(rows) + len(bad_records),
                "problems": problems[:MAX_PROBLEMS],
            },
        )
    known = set()
    if seen:
        known = set(
            session.scalars(select(svc.Petition.external_id).where(svc.Petition.external_id.in_(list(seen))))
        )
    todo = [r for r in rows if r.get("external_id") is None or str(r["external_id"]) not in known]
    if dry_run:
        return {
            "source": name,
            "rows": len(rows),
            "would_import": len(todo),
            "replayed": len(rows) - len(todo),
            "dry_run": True,
        }
    ids = []
    source = f"import:{name}"[:MAX_SOURCE]  # a long file name must not overflow petition.source
    for j, r in enumerate(todo):
        r = dict(r)
        if r.get("external_id") is not None:
            r["external_id"] = str(r["external_id"])
        ids.append(svc.create(session, r, actor=actor, source=source).id)
        if progress and j % 500 == 0:
            progress(j, len(todo))
    return {
        "source": name,
        "rows": len(rows),
        "imported": len(ids),
        "replayed": len(rows) - len(todo),
        "ids": ids,
        "dry_run": False,
    }


def process_ids(
    session_factory: Callable[[], Any],
    ids: list[int],
    *,
    batch: int = 200,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Locate and dispatch petitions by id, committing each batch; returns the status counts."""
    counts: dict[str, int] = {}
    for k in range(0, len(ids), batch):
        with session_factory() as s:
            for pid in ids[k : k + batch]:
                p = s.get(svc.Petition, pid)
                if p is not None:
                    svc.process(s, p)
                    counts[p.status] = counts.get(p.status, 0) + 1
            s.commit()
        if progress:
            progress(min(k + batch, len(ids)), len(ids))
    return counts
