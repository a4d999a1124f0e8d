"""The three rates (三率) of petition handling, per unit and per department, per month.

Pure pandas on a table of petitions (no database), vectorised for ~2 million rows a month.

Definitions (the product's definitions; every count is a number of petitions):

- **Population**: petitions whose ``received_at`` falls in the calendar month (Asia/Shanghai,
  from 00:00 of the 1st inclusive to 00:00 of the next month's 1st exclusive) and that are not
  merged (``merged`` True: a duplicate merged into another petition; excluded everywhere). A
  petition counts for the unit named in its ``<level>_code`` column (``department_code``: the
  lead department); a petition without a unit at that level counts for no row. There is one
  row per unit with at least one petition in the population.
- **Response rate (响应率)** = ``on_time / due``, where ``due`` = petitions answered by
  ``as_of`` (``answered_at <= as_of``) plus petitions still unanswered at ``as_of`` whose
  ``due_at < as_of`` (open and already overdue: they count against the on-time share,
  ``overdue_open``); ``on_time`` = petitions answered by ``as_of`` with ``answered_at <= due_at``.
  Petitions unanswered and not yet due at ``as_of`` are not counted (not yet judged).
  ``answered_at`` is when the handling unit answered/resolved the petition (the ``resolved``
  lifecycle event); an answer after ``as_of`` is treated as no answer yet.
- **Resolution rate (解决率)** = ``resolved_yes / callbacks``, where ``callbacks`` = petitions
  whose callback has an answer on resolution (``callback_resolved`` True or False, not None) and
  ``resolved_yes`` = those where the resident said it was resolved (True).
- **Satisfaction rate (满意率)** = ``(satisfied × w_s + basically_satisfied × w_b +
  unsatisfied × 0) / rated``, where ``rated`` = petitions whose callback has a satisfaction
  answer (``callback_satisfaction`` not None). Defaults ``w_s = 1.0``, ``w_b = 0.8``:
  configurable (:class:`ScoreWeights`); the weight of 基本满意 is not fixed by any standard we
  hold.
- **Composite** = the weighted mean of the three rates, default weights response 0.10,
  resolution 0.45, satisfaction 0.45 (as reported for Beijing's monthly 接诉即办 ranking;
  configurable, not authoritative). A rate whose denominator is 0 is NaN and left out, the
  others re-weighted (``sum(w_i × r_i) / sum(w_i)`` over the available rates); the composite is
  NaN when no rate with a positive weight is available.
- **Rank**: 1 = best, dense ranking by composite descending (composites equal when rounded to
  10 decimals share a rank; the next composite down gets the next integer); units with a NaN
  composite share the last rank (one more than the last rank of a number). Rows are ordered by
  rank, then by code ascending, so the output is deterministic.

Rates are floats in [0, 1], or NaN when their denominator is 0.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from grid.errors import ConfigError, InputError

__all__ = [
    "LEVELS",
    "OUTPUT_COLUMNS",
    "REQUIRED_COLUMNS",
    "ScoreWeights",
    "compute_scores",
    "month_bounds",
    "rate_counts",
    "to_csv",
]

TZ = ZoneInfo("Asia/Shanghai")
LEVELS: tuple[str, ...] = ("cell", "community", "street", "district", "department")
SATISFACTION_VALUES = ("satisfied", "basically_satisfied", "unsatisfied")
REQUIRED_COLUMNS: tuple[str, ...] = (
    "id",
    "received_at",
    "due_at",
    "answered_at",
    "status",
    "merged",
    "callback_resolved",
    "callback_satisfaction",
)
OUTPUT_COLUMNS: tuple[str, ...] = (
    "code",
    "petitions",
    "due",
    "on_time",
    "overdue_open",
    "response_rate",
    "callbacks",
    "resolved_yes",
    "resolution_rate",
    "rated",
    "satisfied",
    "basically_satisfied",
    "unsatisfied",
    "satisfaction_rate",
    "composite",
    "rank",
)
_MONTH_RE = re.compile(r"(\d{4})-(\d{2})")
_RANK_DECIMALS = 10


@dataclass(frozen=True)
class ScoreWeights:
    """Weights of the satisfaction answers and of the rates in the composite.

    ``satisfied`` (w_s) and ``basically_satisfied`` (w_b) are in [0, 1] so that the satisfaction
    rate stays in [0, 1]; the composite weights are non-negative with a positive sum. Anything
    else is a ConfigError."""

    satisfied: float = 1.0
    basically_satisfied: float = 0.8
    response: float = 0.10
    resolution: float = 0.45
    satisfaction: float = 0.45

    def __post_init__(self) -> None:
        for name in ("satisfied", "basically_satisfied", "response", "resolution", "satisfaction"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise ConfigError(
                    f"score weight {name} must be a finite number >= 0, got {v!r}", code="bad_weights"
                )
        for name in ("satisfied", "basically_satisfied"):
            if getattr(self, name) > 1:
                raise ConfigError(
                    f"satisfaction weight {name} must be in [0, 1], got {getattr(self, name)!r}",
                    code="bad_weights",
                )
        if self.response + self.resolution + self.satisfaction <= 0:
            raise ConfigError("the composite weights must not all be 0", code="bad_weights")


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    """``"2023-10"`` → (2023-10-01 00:00, 2023-11-01 00:00) in Asia/Shanghai: start inclusive, end
    exclusive. A malformed month is an InputError ``invalid_month``.

    >>> [d.isoformat() for d in month_bounds("2023-12")]
    ['2023-12-01T00:00:00+08:00', '2024-01-01T00:00:00+08:00']
    """
    m = _MONTH_RE.fullmatch(month) if isinstance(month, str) else None
    if m is None or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1:
        raise InputError(f"invalid month {month!r}: expected YYYY-MM, e.g. 2023-10", code="invalid_month")
    year, mon = int(m.group(1)), int(m.group(2))
    start = dt.datetime(year, mon, 1, tzinfo=TZ)
    if year == 9999 and mon == 12:
        raise InputError(f"invalid month {month!r}: out of range", code="invalid_month")
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=TZ)
    return start, end


def _aware_column(df: pd.DataFrame, name: str) -> pd.Series:
    col = df[name]
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col
    if col.isna().all():  # e.g. nothing answered yet: an all-None object column
        return pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
    raise InputError(
        f"column {name!r} must be a timezone-aware datetime column, got dtype {col.dtype}",
        code="naive_datetime",
    )


def _rate(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num / den.where(den > 0)).astype("float64")


def compute_scores(
    df: pd.DataFrame,
    *,
    level: str,
    month: str,
    as_of: dt.datetime,
    weights: ScoreWeights = ScoreWeights(),
) -> pd.DataFrame:
    """One row per unit at ``level`` with the counts and rates of the module docstring.

    ``level`` is one of :data:`LEVELS` (column ``<level>_code``); ``month`` is ``YYYY-MM``;
    ``as_of`` (aware) is the moment the rates are judged at. Columns: :data:`OUTPUT_COLUMNS`.
    Errors (InputError): ``unknown_level``, ``invalid_month``, ``naive_datetime``,
    ``missing_columns``, ``missing_due_at`` (a petition of the population without a deadline),
    ``bad_callback`` (a ``callback_resolved`` that is not True/False/None), ``bad_satisfaction``.
    """
    if level not in LEVELS:
        raise InputError(f"unknown level {level!r}; expected one of {list(LEVELS)}", code="unknown_level")
    start, end = month_bounds(month)
    if as_of.tzinfo is None or as_of.tzinfo.utcoffset(as_of) is None:
        raise InputError(f"as_of must be timezone-aware, got {as_of.isoformat()}", code="naive_datetime")
    code_col = f"{level}_code"
    missing = [c for c in (*REQUIRED_COLUMNS, code_col) if c not in df.columns]
    if missing:
        raise InputError(f"petition table lacks column(s) {missing}", code="missing_columns")

    received = _aware_column(df, "received_at")
    keep = received.ge(start) & received.lt(end) & ~df["merged"].eq(True) & df[code_col].notna()
    pop = df.loc[keep]
    due_at = _aware_column(pop, "due_at")
    answered_at = _aware_column(pop, "answered_at")
    if due_at.isna().any():
        bad = pop.loc[due_at.isna(), "id"].head(5).tolist()
        raise InputError(
            f"{int(due_at.isna().sum())} petition(s) have no due_at, e.g. {bad}", code="missing_due_at"
        )

    cb = pop["callback_resolved"]
    has_cb = cb.notna()
    if (has_cb & ~cb.isin([True, False])).any():
        bad = cb[has_cb & ~cb.isin([True, False])].head(3).tolist()
        raise InputError(
            f"callback_resolved must be True, False or None, got e.g. {bad}", code="bad_callback"
        )
    sat = pop["callback_satisfaction"]
    has_sat = sat.notna()
    if (has_sat & ~sat.isin(SATISFACTION_VALUES)).any():
        bad = sat[has_sat & ~sat.isin(SATISFACTION_VALUES)].head(3).tolist()
        raise InputError(
            f"callback_satisfaction must be one of {list(SATISFACTION_VALUES)} or None, got e.g. {bad}",
            code="bad_satisfaction",
        )

    as_of_ts = pd.Timestamp(as_of)
    answered = answered_at.notna() & answered_at.le(as_of_ts)
    overdue_open = ~answered & due_at.lt(as_of_ts)
    flags = pd.DataFrame(
        {
            "code": pop[code_col],
            "petitions": 1,
            "due": answered | overdue_open,
            "on_time": answered & answered_at.le(due_at),
            "overdue_open": overdue_open,
            "callbacks": has_cb,
            "resolved_yes": cb.eq(True),
            "rated": has_sat,
            "satisfied": sat.eq("satisfied"),
            "basically_satisfied": sat.eq("basically_satisfied"),
            "unsatisfied": sat.eq("unsatisfied"),
        },
        index=pop.index,
    )
    counts = flags.groupby("code", sort=True).sum().astype("int64")
    return rate_counts(counts.reset_index(), weights)


COUNT_COLUMNS: tuple[str, ...] = (
    "petitions",
    "due",
    "on_time",
    "overdue_open",
    "callbacks",
    "resolved_yes",
    "rated",
    "satisfied",
    "basically_satisfied",
    "unsatisfied",
)


def rate_counts(counts: pd.DataFrame, weights: ScoreWeights = ScoreWeights()) -> pd.DataFrame:
    """Rates, composite and rank from per-unit counts (``code`` and :data:`COUNT_COLUMNS`, as
    :func:`compute_scores` counts them, or as the store counts them in SQL)."""
    missing = [c for c in ("code", *COUNT_COLUMNS) if c not in counts.columns]
    if missing:
        raise InputError(f"count table lacks column(s) {missing}", code="missing_columns")
    out = counts.copy()
    for c in COUNT_COLUMNS:
        out[c] = out[c].astype("int64")
    out["response_rate"] = _rate(out["on_time"], out["due"])
    out["resolution_rate"] = _rate(out["resolved_yes"], out["callbacks"])
    out["satisfaction_rate"] = _rate(
        out["satisfied"] * weights.satisfied + out["basically_satisfied"] * weights.basically_satisfied,
        out["rated"],
    )
    rates = out[["response_rate", "resolution_rate", "satisfaction_rate"]].to_numpy(dtype="float64")
    w = np.array([weights.response, weights.resolution, weights.satisfaction], dtype="float64")
    avail = ~np.isnan(rates)
    wsum = (avail * w).sum(axis=1)
    num = (np.where(avail, rates, 0.0) * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["composite"] = np.where(wsum > 0, num / np.where(wsum > 0, wsum, 1.0), np.nan)
    key = out["composite"].round(_RANK_DECIMALS)
    rank = key.rank(method="dense", ascending=False)
    last = rank.max() if rank.notna().any() else 0.0
    out["rank"] = rank.fillna(last + 1).astype("int64")
    out = out.sort_values(["rank", "code"], kind="stable").reset_index(drop=True)
    return out[list(OUTPUT_COLUMNS)]


def to_csv(df: pd.DataFrame, *, bom: bool = False) -> str:
    """The table as UTF-8 CSV text with a header row and no index; NaN rates are empty fields.

    ``bom=True`` prefixes a byte-order mark, which spreadsheet programs need to read Chinese
    text in a CSV as UTF-8."""
    from grid.inputs import csv_safe

    df = df.copy()
    for col in df.columns:  # text cells a spreadsheet would run as formulas
        if not pd.api.types.is_numeric_dtype(df[col]):
            df[col] = df[col].map(csv_safe)
    text: str = df.to_csv(index=False, lineterminator="\n")
    return ("\ufeff" + text) if bom else text
