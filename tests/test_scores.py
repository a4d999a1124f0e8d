"""The three rates per unit and department: a hand-computed month, edge cases, validation."""

from __future__ import annotations

import datetime as dt
import doctest
import io
import math
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

import grid.scores as scores_mod
from grid.errors import ConfigError, InputError
from grid.scores import OUTPUT_COLUMNS, ScoreWeights, compute_scores, month_bounds, to_csv

TZ = ZoneInfo("Asia/Shanghai")
AS_OF = dt.datetime(2023, 11, 10, 12, tzinfo=TZ)
S1, S2 = "110105001", "110105002"
DA, DB = "dep-a", "dep-b"


def t(m: int, d: int, hh: int = 0, mm: int = 0) -> dt.datetime:
    return dt.datetime(2023, m, d, hh, mm, tzinfo=TZ)


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    base = {
        "status": "open",
        "merged": False,
        "answered_at": None,
        "callback_resolved": None,
        "callback_satisfaction": None,
        "cell_code": None,
        "community_code": None,
        "street_code": None,
        "district_code": "110105",
        "department_code": None,
    }
    df = pd.DataFrame([{**base, **r} for r in rows])
    for col in ("received_at", "due_at", "answered_at"):
        df[col] = pd.to_datetime(df[col]).dt.tz_convert(TZ) if df[col].notna().any() else df[col]
    df["callback_resolved"] = df["callback_resolved"].astype(object)
    return df


# fmt: off
MONTH: list[dict[str, Any]] = [
    # S1 ---------------------------------------------------------------------------------------
    # p1: answered before its deadline; resident: resolved, satisfied
    dict(id=1, street_code=S1, department_code=DA, received_at=t(10, 9, 9), due_at=t(10, 18),
         answered_at=t(10, 12, 15), callback_resolved=True, callback_satisfaction="satisfied"),
    # p2: answered late; resident: not resolved, unsatisfied
    dict(id=2, street_code=S1, department_code=DA, received_at=t(10, 10, 9), due_at=t(10, 19),
         answered_at=t(10, 25, 8), callback_resolved=False, callback_satisfaction="unsatisfied"),
    # p3: open, due 10-25 < as_of: counts against the response rate
    dict(id=3, street_code=S1, department_code=DB, received_at=t(10, 16, 9), due_at=t(10, 25)),
    # p4: open, not yet due at as_of (a complex case): not judged
    dict(id=4, street_code=S1, department_code=DB, received_at=t(10, 31, 10), due_at=t(11, 22)),
    # p5: merged into another petition: excluded everywhere
    dict(id=5, street_code=S1, department_code=DA, received_at=t(10, 20, 9), due_at=t(10, 31),
         answered_at=t(10, 21), merged=True, callback_resolved=True, callback_satisfaction="satisfied"),
    # p6: received 2023-09-30 23:59 Beijing time: the previous month
    dict(id=6, street_code=S1, department_code=DA, received_at=t(9, 30, 23, 59), due_at=t(10, 14),
         answered_at=t(10, 9), callback_resolved=True, callback_satisfaction="satisfied"),
    # S2 ---------------------------------------------------------------------------------------
    # p7: on time; resolved, basically satisfied
    dict(id=7, street_code=S2, department_code=DB, received_at=t(10, 11, 9), due_at=t(10, 20),
         answered_at=t(10, 19, 17), callback_resolved=True, callback_satisfaction="basically_satisfied"),
    # p8: answered 11-12, after as_of: open at as_of and overdue (due 10-21); no callback yet
    dict(id=8, street_code=S2, department_code=DB, received_at=t(10, 12, 9), due_at=t(10, 21),
         answered_at=t(11, 12)),
    # p9: on time; resolved, satisfied
    dict(id=9, street_code=S2, department_code=DA, received_at=t(10, 13, 9), due_at=t(10, 24),
         answered_at=t(10, 20), callback_resolved=True, callback_satisfaction="satisfied"),
    # p10: received 10-31 23:59 (in the month), urgent, on time; only a satisfaction answer
    dict(id=10, street_code=S2, department_code=DA, received_at=t(10, 31, 23, 59), due_at=t(11, 1, 1, 59),
         answered_at=t(11, 1, 1), callback_satisfaction="satisfied"),
    # p11: received 2023-11-01 00:00: the next month
    dict(id=11, street_code=S2, department_code=DA, received_at=t(11, 1), due_at=t(11, 1, 2),
         answered_at=t(11, 1, 1), callback_resolved=True, callback_satisfaction="satisfied"),
    # no street: counts for its department only
    dict(id=12, street_code=None, department_code=DB, received_at=t(10, 15, 9), due_at=t(10, 24),
         answered_at=t(10, 16), callback_resolved=True, callback_satisfaction="satisfied"),
]
# fmt: on


def row(out: pd.DataFrame, code: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = out[out["code"] == code].to_dict("records")
    assert len(rows) == 1
    return rows[0]


def test_streets_by_hand() -> None:
    out = compute_scores(frame(MONTH), level="street", month="2023-10", as_of=AS_OF)
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert list(out["code"]) == [S2, S1]  # S2 ranks first
    s1 = row(out, S1)
    # S1: p1, p2, p3, p4 (p5 merged, p6 September)
    # due = p1, p2 (answered) + p3 (open, overdue) = 3; p4 not yet due; on time: p1 -> 1/3
    # callbacks: p1 yes, p2 no -> 1/2; rated: p1 satisfied, p2 unsatisfied -> (1 + 0) / 2
    # composite = 0.10 * 1/3 + 0.45 * 0.5 + 0.45 * 0.5 = 0.48333...
    assert {k: s1[k] for k in ("petitions", "due", "on_time", "overdue_open")} == {
        "petitions": 4,
        "due": 3,
        "on_time": 1,
        "overdue_open": 1,
    }
    assert s1["response_rate"] == 1 / 3
    assert (s1["callbacks"], s1["resolved_yes"], s1["resolution_rate"]) == (2, 1, 0.5)
    assert (s1["rated"], s1["satisfied"], s1["basically_satisfied"], s1["unsatisfied"]) == (2, 1, 0, 1)
    assert s1["satisfaction_rate"] == 0.5
    assert s1["composite"] == pytest.approx(0.1 / 3 + 0.45, rel=1e-12)
    assert s1["rank"] == 2
    s2 = row(out, S2)
    # S2: p7, p8, p9, p10 (p11 November)
    # due = p7, p9, p10 (answered) + p8 (answered only after as_of, overdue) = 4; on time 3 -> 0.75
    # callbacks: p7 yes, p9 yes -> 2/2 (p10 has a satisfaction answer only)
    # rated: p7 basically, p9 and p10 satisfied -> (2 x 1.0 + 0.8) / 3 = 0.9333...
    # composite = 0.075 + 0.45 + 0.45 * 2.8 / 3 = 0.945
    assert (s2["petitions"], s2["due"], s2["on_time"], s2["overdue_open"]) == (4, 4, 3, 1)
    assert s2["response_rate"] == 0.75
    assert (s2["callbacks"], s2["resolved_yes"], s2["resolution_rate"]) == (2, 2, 1.0)
    assert (s2["rated"], s2["satisfied"], s2["basically_satisfied"], s2["unsatisfied"]) == (3, 2, 1, 0)
    assert s2["satisfaction_rate"] == pytest.approx(2.8 / 3, rel=1e-12)
    assert s2["composite"] == pytest.approx(0.945, rel=1e-12)
    assert s2["rank"] == 1


def test_departments_by_hand() -> None:
    out = compute_scores(frame(MONTH), level="department", month="2023-10", as_of=AS_OF)
    assert list(out["code"]) == [DB, DA]
    a = row(out, DA)
    # dep-a: p1, p2, p9, p10 (p5 merged, p6 September, p11 November)
    # due 4, on time p1, p9, p10 -> 0.75; callbacks p1 yes, p2 no, p9 yes -> 2/3
    # rated p1 s, p2 u, p9 s, p10 s -> 3/4; composite = 0.075 + 0.45 * 2/3 + 0.45 * 0.75 = 0.7125
    assert (a["petitions"], a["due"], a["on_time"], a["overdue_open"]) == (4, 4, 3, 0)
    assert (a["response_rate"], a["resolution_rate"], a["satisfaction_rate"]) == (0.75, 2 / 3, 0.75)
    assert a["composite"] == pytest.approx(0.7125, rel=1e-12)
    assert a["rank"] == 2
    b = row(out, DB)
    # dep-b: p3, p4, p7, p8, p12 (p12 has no street but a department)
    # due = p7, p12 (answered) + p3, p8 (open, overdue) = 4; on time p7, p12 -> 0.5; p4 not judged
    # callbacks p7 yes, p12 yes -> 1.0; rated p7 basically, p12 satisfied -> 1.8 / 2 = 0.9
    # composite = 0.05 + 0.45 + 0.405 = 0.905
    assert (b["petitions"], b["due"], b["on_time"], b["overdue_open"]) == (5, 4, 2, 2)
    assert (b["response_rate"], b["resolution_rate"], b["satisfaction_rate"]) == (0.5, 1.0, 0.9)
    assert b["composite"] == pytest.approx(0.905, rel=1e-12)
    assert b["rank"] == 1


def test_ties_nan_and_reweighting() -> None:
    def p(i: int, community: str, answered: dt.datetime) -> dict[str, Any]:
        return dict(
            id=i, community_code=community, received_at=t(10, 9, 9), due_at=t(10, 18), answered_at=answered
        )

    rows: list[dict[str, Any]] = [
        p(1, "c3", t(10, 10)),  # on time, no callback: response 1.0 only -> composite 1.0
        p(2, "c1", t(10, 11)),
        p(3, "c2", t(10, 12)),
        p(4, "c1", t(10, 13)),  # c1: 2/2 on time, the same composite as c2 and c3
        p(5, "c4", t(10, 19)),  # late: composite 0.0
        dict(id=6, community_code="c0", received_at=t(10, 30, 9), due_at=t(11, 30)),  # nothing judged
        dict(id=7, community_code=None, received_at=t(10, 30, 9), due_at=t(11, 30)),  # no community
    ]
    out = compute_scores(frame(rows), level="community", month="2023-10", as_of=AS_OF)
    assert list(out["code"]) == ["c1", "c2", "c3", "c4", "c0"]
    assert list(out["rank"]) == [1, 1, 1, 2, 3]  # dense; ties ordered by code; NaN last
    assert list(out["composite"][:4]) == [1.0, 1.0, 1.0, 0.0]
    c0 = row(out, "c0")
    assert math.isnan(c0["composite"]) and math.isnan(c0["response_rate"])
    assert (c0["petitions"], c0["due"]) == (1, 0)
    # no callbacks at all: the resolution and satisfaction rates are NaN, not 0
    assert out["resolution_rate"].isna().all() and out["satisfaction_rate"].isna().all()
    assert out["callbacks"].eq(0).all() and out["rated"].eq(0).all()


def test_custom_weights() -> None:
    w = ScoreWeights(satisfied=1.0, basically_satisfied=0.5, response=0.0, resolution=0.0, satisfaction=1.0)
    out = compute_scores(frame(MONTH), level="street", month="2023-10", as_of=AS_OF, weights=w)
    s2 = row(out, S2)
    assert s2["satisfaction_rate"] == pytest.approx(2.5 / 3, rel=1e-12)
    assert s2["composite"] == s2["satisfaction_rate"]


def test_weights_validation() -> None:
    for kwargs in (
        {"basically_satisfied": -0.1},
        {"satisfied": 1.5},
        {"response": -1.0},
        {"resolution": float("nan")},
        {"response": 0.0, "resolution": 0.0, "satisfaction": 0.0},
    ):
        with pytest.raises(ConfigError):
            ScoreWeights(**kwargs)


def test_month_bounds() -> None:
    start, end = month_bounds("2023-10")
    assert start == dt.datetime(2023, 10, 1, tzinfo=TZ) and end == dt.datetime(2023, 11, 1, tzinfo=TZ)
    assert start.utcoffset() == dt.timedelta(hours=8)
    assert month_bounds("2023-12")[1] == dt.datetime(2024, 1, 1, tzinfo=TZ)
    for bad in ("2023-13", "2023-00", "abc", "2023-1", "2023/10", "", "2023-10-01", "0000-01"):
        with pytest.raises(InputError) as e:
            month_bounds(bad)
        assert e.value.code == "invalid_month"
    with pytest.raises(InputError) as e:
        compute_scores(frame(MONTH), level="street", month="2023-13", as_of=AS_OF)
    assert e.value.code == "invalid_month"


def test_input_validation() -> None:
    df = frame(MONTH)
    cases: list[tuple[dict[str, Any], pd.DataFrame, str]] = [
        ({"level": "province"}, df, "unknown_level"),
        ({"as_of": dt.datetime(2023, 11, 10)}, df, "naive_datetime"),
        ({}, df.drop(columns=["callback_resolved"]), "missing_columns"),
        ({}, df.assign(received_at=df["received_at"].dt.tz_localize(None)), "naive_datetime"),
        ({}, df.assign(callback_resolved=["yes"] * len(df)), "bad_callback"),
        ({}, df.assign(callback_satisfaction=["ok"] * len(df)), "bad_satisfaction"),
        ({}, df.assign(due_at=df["due_at"].where(df["id"] != 3)), "missing_due_at"),
    ]
    for kwargs, data, code in cases:
        args: dict[str, Any] = {"level": "street", "month": "2023-10", "as_of": AS_OF, **kwargs}
        with pytest.raises(InputError) as e:
            compute_scores(data, **args)
        assert e.value.code == code, (kwargs, code)


def test_empty_and_all_open() -> None:
    out = compute_scores(frame(MONTH), level="cell", month="2023-10", as_of=AS_OF)  # no cell codes
    assert list(out.columns) == list(OUTPUT_COLUMNS) and len(out) == 0
    # nothing answered yet: an all-None answered_at column is accepted
    df = frame(MONTH).assign(answered_at=None, callback_resolved=None, callback_satisfaction=None)
    out = compute_scores(df, level="street", month="2023-10", as_of=AS_OF)
    # every due_at but p4's is before as_of: S1 p1, p2, p3; S2 p7, p8, p9, p10 are open and overdue
    assert list(out["code"]) == [S1, S2] and list(out["rank"]) == [1, 1]  # both 0.0: ordered by code
    assert list(out["due"]) == [3, 4] and list(out["overdue_open"]) == [3, 4]
    assert list(out["on_time"]) == [0, 0] and list(out["response_rate"]) == [0.0, 0.0]


def test_other_time_zone_input() -> None:
    # the same instants in UTC give the same answer
    df = frame(MONTH)
    for col in ("received_at", "due_at", "answered_at"):
        df[col] = df[col].dt.tz_convert("UTC")
    utc = compute_scores(df, level="street", month="2023-10", as_of=AS_OF.astimezone(dt.UTC))
    local = compute_scores(frame(MONTH), level="street", month="2023-10", as_of=AS_OF)
    pd.testing.assert_frame_equal(utc, local)


def test_to_csv() -> None:
    out = compute_scores(frame(MONTH), level="street", month="2023-10", as_of=AS_OF)
    text = to_csv(out)
    assert text.splitlines()[0] == ",".join(OUTPUT_COLUMNS)
    back = pd.read_csv(io.StringIO(text), dtype={"code": str})
    assert list(back["code"]) == [S2, S1] and list(back["petitions"]) == [4, 4]
    assert to_csv(out, bom=True).startswith("\ufeffcode,")


def test_many_rows_vectorised() -> None:
    # 200k rows: a smoke test of shape and totals (the real month is ~1.8 million)
    rng = np.random.default_rng(7)
    n = 200_000
    received = pd.Timestamp("2023-10-01", tz=TZ) + pd.to_timedelta(rng.integers(0, 31 * 86400, n), unit="s")
    due = received + pd.Timedelta(days=9)
    answered = received + pd.to_timedelta(rng.integers(0, 20 * 86400, n), unit="s")
    answered = answered.where(rng.random(n) < 0.9)
    df = pd.DataFrame(
        {
            "id": np.arange(n),
            "received_at": received,
            "due_at": due,
            "answered_at": answered,
            "status": "closed",
            "merged": rng.random(n) < 0.05,
            "callback_resolved": pd.Series(
                rng.choice(np.array([True, False, None], dtype=object), n), dtype=object
            ),
            "callback_satisfaction": rng.choice(
                np.array(["satisfied", "basically_satisfied", "unsatisfied", None], dtype=object), n
            ),
            "street_code": rng.choice([f"1101050{i:02d}" for i in range(40)], n),
        }
    )
    for col in ("cell_code", "community_code", "district_code", "department_code"):
        df[col] = None
    out = compute_scores(df, level="street", month="2023-10", as_of=pd.Timestamp("2023-12-01", tz=TZ))
    assert len(out) == 40 and out["petitions"].sum() == (~df["merged"]).sum()
    assert out["rank"].min() == 1 and out["response_rate"].between(0, 1).all()


def test_doctests() -> None:
    assert doctest.testmod(scores_mod).failed == 0
