"""The widths of the store's text columns, read from the models (never typed twice).

An importer checks every text it will write against these before anything is written, so that
an over-long value is a problem of its row and field (``field_too_long``) instead of a bare
``database_error`` from PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import String

from grid.inputs import FieldTooLong, length_problem


@cache
def string_limits(model: Any) -> dict[str, int]:
    """``{column: max characters}`` of the bounded ``String(n)`` columns of a model (``Text`` has none)."""
    return {
        c.name: int(c.type.length)
        for c in model.__table__.columns
        if isinstance(c.type, String) and c.type.length is not None
    }


def length_problems(
    frame: Any, model: Any, columns: Iterable[str], rows: Iterable[int] | None = None
) -> list[tuple[int, str, str]]:
    """``(row, column, problem)`` for each text of ``frame[column]`` longer than ``model``'s column;
    ``rows`` are the numbers to report (default 1, 2, ...)."""
    limits = string_limits(model)
    nums = list(rows) if rows is not None else list(range(1, len(frame) + 1))
    out = []
    for c in columns:
        if c not in limits or c not in frame.columns:
            continue
        for n, v in zip(nums, frame[c].tolist(), strict=True):
            if isinstance(v, str):
                p = length_problem(v, limits[c])
                if p:
                    out.append((int(n), c, p))
    return out


def check_lengths(
    frame: Any, model: Any, columns: Iterable[str], source: str, rows: Iterable[int] | None = None
) -> None:
    """Refuse (``field_too_long``) a table with a text longer than its column, naming row and field."""
    bad = length_problems(frame, model, columns, rows)
    if not bad:
        return
    where = "; ".join(f"row {n}, {c} {p}" for n, c, p in bad[:5])
    more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
    raise FieldTooLong(
        f"{source}: {len(bad)} value(s) too long for the store: {where}{more}; nothing was written",
        details={"problems": [{"row": n, "field": c, "problem": p} for n, c, p in bad[:50]]},
    )
