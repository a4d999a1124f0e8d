"""Time limits, deadlines, effective urgency and overdue."""

from __future__ import annotations

import datetime as dt
import doctest
from zoneinfo import ZoneInfo

import pytest

import grid.deadlines as deadlines_mod
from grid.config import Settings
from grid.deadlines import (
    URGENCIES,
    Deadline,
    TimeLimit,
    TimeLimits,
    deadline_for,
    effective_urgency,
    is_overdue,
)
from grid.errors import ConfigError, InputError
from grid.workcal import WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar.china()


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=TZ)


def test_defaults() -> None:
    limits = TimeLimits()
    assert {u: str(limits[u]) for u in URGENCIES} == {
        "urgent": "2h",
        "utilities": "24h",
        "general": "7wd",
        "complex": "15wd",
    }
    assert list(limits) == list(URGENCIES) and len(limits) == 4
    assert limits.general == TimeLimit(7, "working_days")


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("2h", TimeLimit(2, "hours")),
        ("24h", TimeLimit(24, "hours")),
        ("7wd", TimeLimit(7, "working_days")),
        (" 15wd ", TimeLimit(15, "working_days")),
        ("3d", TimeLimit(3, "days")),
    ],
)
def test_parse_limit(text: str, limit: TimeLimit) -> None:
    assert TimeLimit.parse(text) == limit
    assert str(limit) == text.strip()


@pytest.mark.parametrize("text", ["", "h", "2", "2hours", "0h", "-1d", "2.5h", "7 wd", "7WD", "7w", "wd7"])
def test_malformed_limit_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        TimeLimit.parse(text)


def test_from_mapping() -> None:
    limits = TimeLimits.from_mapping({"urgent": "1h", "utilities": "12h", "general": "5wd", "complex": "3d"})
    assert limits["urgent"] == TimeLimit(1, "hours")
    assert limits["complex"] == TimeLimit(3, "days")
    # left-out urgencies keep their defaults
    assert TimeLimits.from_mapping({"general": "10wd"})["complex"] == TimeLimit(15, "working_days")
    with pytest.raises(ConfigError, match="unknown urgency 'normal'"):
        TimeLimits.from_mapping({"normal": "7wd"})
    with pytest.raises(ConfigError, match="malformed"):
        TimeLimits.from_mapping({"general": "seven days"})


def test_parse_settings_string() -> None:
    assert TimeLimits.parse(Settings().time_limits) == TimeLimits()
    assert TimeLimits.parse("general=5wd")["general"] == TimeLimit(5, "working_days")
    for bad in ("general", "general=7wd,general=5wd", "general:7wd"):
        with pytest.raises(ConfigError):
            TimeLimits.parse(bad)


def test_hours_are_wall_clock() -> None:
    limits = TimeLimits()
    # Saturday 2023-09-30, a National Day holiday, 23:00: urgent and utilities limits run through it
    d = deadline_for(at(2023, 9, 30, 23), "urgent", limits, CAL)
    assert d == Deadline(at(2023, 10, 1, 1), "urgent", "2h", True)
    assert deadline_for(at(2023, 9, 30, 23), "utilities", limits, CAL).due_at == at(2023, 10, 1, 23)
    # calendar days: receipt + n x 24h
    three = TimeLimits.from_mapping({"complex": "3d"})
    assert deadline_for(at(2023, 9, 30, 23), "complex", three, CAL).due_at == at(2023, 10, 3, 23)
    # a UTC receipt gives the same instant, expressed in Beijing time
    utc = dt.datetime(2023, 9, 30, 15, tzinfo=dt.UTC)
    assert deadline_for(utc, "urgent", limits, CAL).due_at.isoformat() == "2023-10-01T01:00:00+08:00"


def test_working_days() -> None:
    limits = TimeLimits()
    d = deadline_for(at(2023, 9, 28, 17, 30), "general", limits, CAL)
    assert d == Deadline(at(2023, 10, 14), "general", "7wd", True)
    # 15 working days from 2023-09-28: 10-07 .. 10-13 (7), 10-16 .. 10-20 (12), 10-23 .. 10-25 (15)
    assert deadline_for(at(2023, 9, 28, 17, 30), "complex", limits, CAL).due_at == at(2023, 10, 26)
    # outside the holiday table: a deadline all the same, flagged
    late = deadline_for(at(2031, 10, 3, 9), "general", limits, CAL)
    assert late.due_at == at(2031, 10, 15) and not late.calendar_covered
    # starting in a covered year and ending in an uncovered one is not covered either
    assert not deadline_for(at(2026, 12, 28, 9), "general", limits, CAL).calendar_covered
    # hours need no table
    assert deadline_for(at(2031, 10, 3, 9), "urgent", limits, CAL).calendar_covered


def test_deadline_errors() -> None:
    with pytest.raises(InputError) as e:
        deadline_for(at(2023, 9, 28), "normal", TimeLimits(), CAL)
    assert e.value.code == "unknown_urgency"
    with pytest.raises(InputError) as e:
        deadline_for(dt.datetime(2023, 9, 28, 9), "urgent", TimeLimits(), CAL)
    assert e.value.code == "naive_datetime"


@pytest.mark.parametrize(
    ("requested", "category", "expected"),
    [
        (None, None, "general"),
        (None, "urgent", "urgent"),
        (None, "complex", "complex"),
        ("utilities", None, "utilities"),
        ("complex", None, "complex"),
        # a gas leak (category urgent) is never slowed down by intake
        ("general", "urgent", "urgent"),
        ("complex", "urgent", "urgent"),
        ("utilities", "urgent", "urgent"),
        # intake can raise a general category
        ("urgent", "general", "urgent"),
        ("utilities", "general", "utilities"),
        ("general", "general", "general"),
        # the exception: a general case declared complex
        ("complex", "general", "complex"),
        # but not a utilities one
        ("complex", "utilities", "utilities"),
        ("general", "utilities", "utilities"),
        # a complex category: intake may shorten it
        ("general", "complex", "general"),
        ("urgent", "complex", "urgent"),
        ("complex", "complex", "complex"),
    ],
)
def test_effective_urgency(requested: str | None, category: str | None, expected: str) -> None:
    assert effective_urgency(requested, category) == expected


def test_effective_urgency_unknown() -> None:
    for args in (("normal", "general"), ("general", "high")):
        with pytest.raises(InputError) as e:
            effective_urgency(*args)
        assert e.value.code == "unknown_urgency"


def test_is_overdue() -> None:
    due = at(2023, 10, 14)
    second = dt.timedelta(seconds=1)
    assert not is_overdue(due, due, due + dt.timedelta(days=9))  # answered exactly at the deadline
    assert is_overdue(due, due + second, due + dt.timedelta(days=9))  # answered one second late
    assert not is_overdue(due, None, due)  # open, the deadline not passed
    assert is_overdue(due, None, due + second)  # open and past the deadline
    assert not is_overdue(due, due - dt.timedelta(days=1), due + dt.timedelta(days=30))
    # judged at a moment before the (late) answer: open at that moment
    assert is_overdue(due, due + dt.timedelta(days=5), due + dt.timedelta(days=1))
    assert not is_overdue(due, due + dt.timedelta(days=5), due - dt.timedelta(days=1))
    with pytest.raises(InputError):
        is_overdue(dt.datetime(2023, 10, 14), None, due)


def test_doctests() -> None:
    assert doctest.testmod(deadlines_mod).failed == 0
