"""Monthly scores from the store: the month's petitions in one query, rated by :mod:`grid.scores`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.scores import ScoreWeights, compute_scores, month_bounds

COLUMNS = (
    "id, received_at, due_at, answered_at, status, (duplicate_of IS NOT NULL OR status = 'merged') AS merged, "
    "callback_resolved, callback_satisfaction, cell_code, community_code, street_code, district_code, "
    "lead_department AS department_code"
)


def month_frame(session: Session, month: str, *, table: str = "petition") -> pd.DataFrame:
    """The petitions received in ``month`` (local time), with the columns the scores need.

    ``table``: another table with the same columns (the benchmarks' Beijing-size year)."""
    if not table.isidentifier():
        raise ValueError(f"not a table name: {table!r}")
    start, end = month_bounds(month)
    df = pd.read_sql_query(
        text(f"SELECT {COLUMNS} FROM {table} WHERE received_at >= :a AND received_at < :b"),
        session.connection(),
        params={"a": start, "b": end},
    )
    for c in ("received_at", "due_at", "answered_at"):
        df[c] = pd.to_datetime(df[c], utc=True).dt.tz_convert(start.tzinfo)
    return df


def month_scores(
    session: Session,
    *,
    level: str,
    month: str,
    as_of: dt.datetime | None = None,
    weights: ScoreWeights | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(scores, meta) for one month at one level; ``as_of`` defaults to now."""
    from grid.db.petitions import now, parse_time

    t = parse_time(as_of, "as_of") if as_of is not None else now()
    df = month_frame(session, month)
    out = compute_scores(df, level=level, month=month, as_of=t, weights=weights or ScoreWeights())
    meta = {
        "month": month,
        "level": level,
        "as_of": t.isoformat(),
        "petitions": len(df),
        "definitions": "docs/PETITIONS.md#scores",
    }
    return out, meta
