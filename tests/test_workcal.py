"""Working-day calendar: holidays, make-up working days, deadlines (scalar and vectorised)."""

from __future__ import annotations

import datetime as dt
import doctest
import json
import random
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import grid.workcal as workcal_mod
from grid.errors import ConfigError, InputError
from grid.workcal import WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar.china()


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=TZ)


def midnight(y: int, m: int, d: int) -> dt.datetime:
    return dt.datetime(y, m, d, tzinfo=TZ)


def test_library_tables_national_day_2023() -> None:
    # the facts the tests below rely on, read from chinesecalendar's own tables
    golden_week = [dt.date(2023, 9, 29) + dt.timedelta(days=i) for i in range(8)]  # 09-29 .. 10-06
    assert all(d in chinese_calendar.holidays for d in golden_week)
    assert dt.date(2023, 10, 7) in chinese_calendar.workdays  # Saturday
    assert dt.date(2023, 10, 8) in chinese_calendar.workdays  # Sunday
    assert dt.date(2023, 10, 7).weekday() == 5 and dt.date(2023, 10, 8).weekday() == 6
    assert CAL.known_years == frozenset(range(2004, 2027))


def test_is_working_day() -> None:
    assert CAL.is_working_day(dt.date(2023, 9, 28))  # Thursday
    assert not CAL.is_working_day(dt.date(2023, 9, 29))  # Friday, Mid-autumn festival
    assert not CAL.is_working_day(dt.date(2023, 10, 2))  # Monday, National Day
    assert CAL.is_working_day(dt.date(2023, 10, 7))  # make-up Saturday
    assert not CAL.is_working_day(dt.date(2023, 10, 14))  # ordinary Saturday
    # aware datetimes count by their date in Asia/Shanghai: 2023-10-06 20:00 UTC is Saturday 10-07 04:00
    assert CAL.is_working_day(dt.datetime(2023, 10, 6, 20, tzinfo=dt.UTC))
    with pytest.raises(InputError) as e:
        CAL.is_working_day(dt.datetime(2023, 10, 6, 20))
    assert e.value.code == "naive_datetime"


def test_across_a_weekend() -> None:
    # Thursday 2023-11-16: working days Fri 17, Mon 20, Tue 21 -> due at the end of Tuesday
    assert CAL.add_working_days(at(2023, 11, 16), 3) == midnight(2023, 11, 22)
    # Friday: the next working day is Monday
    assert CAL.add_working_days(at(2023, 11, 17), 1) == midnight(2023, 11, 21)


def test_across_national_day_2023() -> None:
    # received Thursday 2023-09-28; 09-29 .. 10-06 off; 10-07 (Sat) and 10-08 (Sun) worked:
    # working days 10-07, 10-08, 10-09, 10-10, 10-11, 10-12, 10-13 -> 7wd due 2023-10-14 00:00
    assert CAL.add_working_days(at(2023, 9, 28), 7) == midnight(2023, 10, 14)
    # weekends only it would be Fri 29, Mon 2 .. Fri 6, Mon 9 -> 2023-10-10 00:00
    assert WorkCalendar.weekends_only().add_working_days(at(2023, 9, 28), 7) == midnight(2023, 10, 10)


def test_make_up_saturday_counts() -> None:
    # received Friday 2023-10-06 (a holiday): the first working day is the make-up Saturday 10-07
    assert CAL.add_working_days(at(2023, 10, 6), 1) == midnight(2023, 10, 8)
    # received ON the make-up Saturday: that day is not counted; the next is Sunday 10-08 (make-up)
    assert CAL.add_working_days(at(2023, 10, 7), 1) == midnight(2023, 10, 9)


def test_received_on_a_holiday() -> None:
    # received on National Day 2023-10-01: 10-07, 10-08 then Monday 10-09
    assert CAL.add_working_days(at(2023, 10, 1), 3) == midnight(2023, 10, 10)
    # Spring Festival 2024: 02-10 .. 02-17 off, 02-04 (Sun) and 02-18 (Sun) worked
    assert CAL.add_working_days(at(2024, 2, 12), 1) == midnight(2024, 2, 19)


def test_received_late_in_the_evening() -> None:
    # 23:59 on Monday is still Monday: the day of receipt is never counted, whatever the hour
    early = CAL.add_working_days(at(2023, 11, 13, 0, 1), 2)
    late = CAL.add_working_days(at(2023, 11, 13, 23, 59), 2)
    assert early == late == midnight(2023, 11, 16)
    # 23:30 UTC on Monday is already Tuesday 07:30 in Beijing: counted from Tuesday
    utc = dt.datetime(2023, 11, 13, 23, 30, tzinfo=dt.UTC)
    assert CAL.add_working_days(utc, 2) == midnight(2023, 11, 17)
    assert CAL.add_working_days(utc, 2).utcoffset() == dt.timedelta(hours=8)


def test_year_outside_the_table() -> None:
    assert not CAL.covers(dt.date(2031, 10, 1)) and CAL.covers(dt.date(2026, 10, 1))
    # 2031-10-01 is a Wednesday: outside the table, Monday-Friday alone applies
    assert CAL.is_working_day(dt.date(2031, 10, 1))
    assert not CAL.is_working_day(dt.date(2031, 10, 4))  # Saturday
    assert CAL.add_working_days(at(2031, 10, 3), 1) == midnight(2031, 10, 7)  # Fri -> Mon
    assert CAL.add_working_days(at(2031, 10, 3), 1) == WorkCalendar.weekends_only().add_working_days(
        at(2031, 10, 3), 1
    )
    assert not WorkCalendar.weekends_only().covers(dt.date(2023, 1, 1))


def test_override_file(tmp_path: Path) -> None:
    path = tmp_path / "holidays.json"
    path.write_text(
        json.dumps(
            {
                # a made-up 2031 schedule, and a correction of 2026 (a working Saturday off)
                "holidays": ["2031-10-01", "2031-10-02", "2031-10-03", "2026-10-10"],
                "workdays": ["2031-09-27"],
                "years": [2031],
            }
        ),
        encoding="utf-8",
    )
    cal = WorkCalendar.china(path)
    assert cal.covers(dt.date(2031, 10, 1)) and not cal.covers(dt.date(2032, 1, 1))
    assert not cal.is_working_day(dt.date(2031, 10, 1))
    assert cal.is_working_day(dt.date(2031, 9, 27))  # Saturday
    assert dt.date(2026, 10, 10) in chinese_calendar.workdays and not cal.is_working_day(
        dt.date(2026, 10, 10)
    )
    # received Tuesday 2031-09-30: 10-01 .. 10-03 off, then the weekend -> Monday 10-06
    assert cal.add_working_days(at(2031, 9, 30), 1) == midnight(2031, 10, 7)
    # the library's table is kept for the other years
    assert cal.add_working_days(at(2023, 9, 28), 7) == midnight(2023, 10, 14)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        json.dumps({"holiday": ["2031-10-01"]}),  # typo in a key
        json.dumps({"holidays": ["2031-13-01"], "years": [2031]}),
        json.dumps({"holidays": "2031-10-01", "years": [2031]}),
        json.dumps({"holidays": ["2031-10-01"]}),  # year not declared
        json.dumps({"holidays": ["2031-10-01"], "workdays": ["2031-10-01"], "years": [2031]}),
        json.dumps({"years": ["2031"]}),
    ],
)
def test_bad_override_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "holidays.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError):
        WorkCalendar.china(path)


def test_missing_override_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        WorkCalendar.china(tmp_path / "nope.json")


def test_constructor_validation() -> None:
    with pytest.raises(ConfigError):
        WorkCalendar({dt.date(2030, 1, 1)}, set(), {2031})
    with pytest.raises(ConfigError):
        WorkCalendar({dt.date(2030, 1, 1)}, {dt.date(2030, 1, 1)}, range(2030, 2031))
    with pytest.raises(ConfigError):
        WorkCalendar(tz="Mars/Olympus")


def test_naive_datetime_and_bad_n_refused() -> None:
    with pytest.raises(InputError) as e:
        CAL.add_working_days(dt.datetime(2023, 10, 1, 9), 1)
    assert e.value.code == "naive_datetime"
    for n in (0, -1, True):
        with pytest.raises(InputError) as e:
            CAL.add_working_days(at(2023, 10, 1), n)
        assert e.value.code == "invalid_n"
    with pytest.raises(InputError):
        CAL.add_working_days_array(np.array(["2023-10-01"], dtype="datetime64[D]"), np.array([0]))


def _scalar(cal: WorkCalendar, d: np.datetime64, n: int) -> np.datetime64:
    day = dt.date.fromisoformat(str(d))
    due = cal.add_working_days(dt.datetime.combine(day, dt.time(12), tzinfo=TZ), n)
    return np.datetime64(due.date().isoformat(), "D")


def test_vectorised_matches_scalar_random() -> None:
    rng = random.Random(20231001)
    start = dt.date(2023, 1, 1).toordinal()
    stop = dt.date(2026, 12, 31).toordinal()
    days = [dt.date.fromordinal(rng.randint(start, stop)) for _ in range(3000)]
    # every holiday and make-up day of the period, the day before each, and the year-end
    for d in sorted(set(chinese_calendar.holidays) | set(chinese_calendar.workdays)):
        if 2023 <= d.year <= 2026:
            days += [d, d - dt.timedelta(days=1)]
    days.append(dt.date(2026, 12, 31))  # the deadline falls outside the table (2027)
    n = np.array([rng.choice([1, 2, 3, 5, 7, 15, 30]) for _ in days])
    arr = np.array([d.isoformat() for d in days], dtype="datetime64[D]")
    got = CAL.add_working_days_array(arr, n)
    want = np.array([_scalar(CAL, d, int(k)) for d, k in zip(arr, n, strict=True)])
    assert got.dtype == np.dtype("datetime64[D]")
    assert (got == want).all()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.dates(min_value=dt.date(2003, 6, 1), max_value=dt.date(2028, 12, 31)), min_size=1, max_size=20
    ),
    st.integers(min_value=1, max_value=40),
)
def test_vectorised_matches_scalar_property(days: list[dt.date], n: int) -> None:
    arr = np.array([d.isoformat() for d in days], dtype="datetime64[D]")
    got = CAL.add_working_days_array(arr, n)  # a scalar n broadcasts
    assert [str(g) for g in got] == [str(_scalar(CAL, d, n)) for d in arr]


def test_vectorised_nat_and_shapes() -> None:
    arr = np.array(["2023-09-28", "NaT"], dtype="datetime64[D]")
    got = CAL.add_working_days_array(arr, np.array([7, 3]))
    assert str(got[0]) == "2023-10-14" and np.isnat(got[1])
    assert CAL.add_working_days_array(np.array([], dtype="datetime64[D]"), 1).shape == (0,)


def test_doctests() -> None:
    assert doctest.testmod(workcal_mod).failed == 0
