"""Monthly scores from the store: the month's petitions in one query, rated by :mod:`grid.scores`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.db.petitions import Scope
from grid.errors import InputError
from grid.scores import COUNT_COLUMNS, ScoreWeights, month_bounds, rate_counts

COLUMNS = (
    "id, received_at, due_at, answered_at, status, (duplicate_of IS NOT NULL OR status = 'merged') AS merged, "
    "callback_resolved, callback_satisfaction, cell_code, community_code, street_code, district_code, "
    "lead_department AS department_code"
)


def month_frame(session: Session, month: str, *, scope: Scope, table: str = "petition") -> pd.DataFrame:
    """The petitions received in ``month`` (local time) inside ``scope``, with the columns the
    scores need.

    ``table``: another table with the same columns (the benchmarks' Beijing-size year)."""
    if not table.isidentifier():
        raise ValueError(f"not a table name: {table!r}")
    start, end = month_bounds(month)
    params: dict[str, Any] = {"a": start, "b": end}
    scoped = ""
    if scope is not None:
        scoped, params["scope"] = " AND owner_chain && CAST(:scope AS varchar(32)[])", list(scope)
    df = pd.read_sql_query(
        text(f"SELECT {COLUMNS} FROM {table} WHERE received_at >= :a AND received_at < :b{scoped}"),
        session.connection(),
        params=params,
    )
    for c in ("received_at", "due_at", "answered_at"):
        df[c] = pd.to_datetime(df[c], utc=True).dt.tz_convert(start.tzinfo)
    return df


LEVEL_COLUMN = {
    "cell": "cell_code",
    "community": "community_code",
    "street": "street_code",
    "district": "district_code",
    "department": "lead_department",
}


def month_counts(
    session: Session,
    *,
    level: str,
    month: str,
    as_of: dt.datetime,
    scope: Scope,
    table: str = "petition",
) -> pd.DataFrame:
    """The per-unit counts of :func:`grid.scores.compute_scores`, counted by PostgreSQL in one
    ``GROUP BY`` over the month (the same definitions, tested to agree): only the counts leave the
    database, not the month's petitions. ``scope`` (unit codes) counts only the petitions owned
    inside it (a scoped reader's scores)."""
    if level not in LEVEL_COLUMN:
        raise InputError(
            f"unknown level {level!r}; expected one of {list(LEVEL_COLUMN)}", code="unknown_level"
        )
    if not table.isidentifier():
        raise ValueError(f"not a table name: {table!r}")
    start, end = month_bounds(month)
    col = LEVEL_COLUMN[level]
    answered = "(answered_at IS NOT NULL AND answered_at <= :t)"
    overdue = f"(NOT {answered} AND due_at < :t)"
    sql = f"""
        SELECT {col} AS code, count(*) AS petitions,
          count(*) FILTER (WHERE {answered} OR {overdue}) AS due,
          count(*) FILTER (WHERE {answered} AND answered_at <= due_at) AS on_time,
          count(*) FILTER (WHERE {overdue}) AS overdue_open,
          count(callback_resolved) AS callbacks,
          count(*) FILTER (WHERE callback_resolved) AS resolved_yes,
          count(callback_satisfaction) AS rated,
          count(*) FILTER (WHERE callback_satisfaction = 'satisfied') AS satisfied,
          count(*) FILTER (WHERE callback_satisfaction = 'basically_satisfied') AS basically_satisfied,
          count(*) FILTER (WHERE callback_satisfaction = 'unsatisfied') AS unsatisfied
        FROM {table}
        WHERE received_at >= :a AND received_at < :b AND duplicate_of IS NULL AND status <> 'merged'
          AND {col} IS NOT NULL {"AND owner_chain && CAST(:scope AS varchar(32)[])" if scope is not None else ""}
        GROUP BY {col} ORDER BY {col}"""
    params: dict[str, Any] = {"a": start, "b": end, "t": as_of}
    if scope is not None:
        params["scope"] = list(scope)
    rows = session.execute(text(sql), params).mappings().all()
    cols = ["code", *COUNT_COLUMNS]
    return pd.DataFrame([dict(r) for r in rows], columns=cols)


def month_scores(
    session: Session,
    *,
    level: str,
    month: str,
    as_of: dt.datetime | None = None,
    scope: Scope,
    weights: ScoreWeights | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(scores, meta) for one month at one level; ``as_of`` defaults to now."""
    from grid.db.petitions import now, parse_time

    t = parse_time(as_of, "as_of") if as_of is not None else now()
    counts = month_counts(session, level=level, month=month, as_of=t, scope=scope)
    out = rate_counts(counts, weights or ScoreWeights())
    meta = {
        "month": month,
        "level": level,
        "as_of": t.isoformat(),
        "petitions": int(counts["petitions"].sum()),
        "definitions": "docs/PETITIONS.md#scores",
        "scope": list(scope) if scope is not None else None,
    }
    return out, meta
