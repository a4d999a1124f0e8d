"""Working days in China: public holidays and make-up working days (调休).

A day is a **working day** when:

1. it is a make-up working day (调休上班: a Saturday or Sunday declared a working day) — working;
2. else it is a public holiday (法定节假日 and the days off joined to it) — not working;
3. else it is Monday to Friday — working; Saturday and Sunday are not.

The table of holidays and make-up working days comes from the State Council's yearly notice, as
packaged by ``chinesecalendar`` (years 2004–2026 in version 1.11.0), optionally merged with an
operator's JSON file (:meth:`WorkCalendar.china`). For a year the table does not cover, rule 3
alone applies and :meth:`WorkCalendar.covers` is False, so that a caller can record that a
deadline was computed without the holiday table: a petition always gets a deadline, never an error.

**Working-day deadlines** follow the legal rule 期间开始之日不计算在内 (the day of receipt is
not counted): a limit of *n* working days received at any time on day D ends at the **end**
(24:00, i.e. 00:00 of the next calendar day) of the *n*-th working day strictly after D. Whether
D itself is a working day, and the time of day of receipt, do not matter.

>>> import datetime as dt
>>> cal = WorkCalendar.china()
>>> tz = cal.tz
>>> # received Thursday 2023-09-28 (eve of the National Day holiday, 2023-09-29..10-06); 2023-10-07
>>> # (Saturday) and 2023-10-08 (Sunday) are make-up working days
>>> cal.add_working_days(dt.datetime(2023, 9, 28, 17, 30, tzinfo=tz), 2).isoformat()
'2023-10-09T00:00:00+08:00'
>>> cal.is_working_day(dt.date(2023, 10, 7)), cal.is_working_day(dt.date(2023, 10, 2))
(True, False)
>>> cal.covers(dt.date(2031, 1, 1)), cal.is_working_day(dt.date(2031, 1, 1))
(False, True)
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from grid.errors import ConfigError, InputError

__all__ = ["CHINA_TZ", "WorkCalendar"]

CHINA_TZ = "Asia/Shanghai"
_OVERRIDE_KEYS = frozenset({"holidays", "workdays", "years"})
_DAY = np.timedelta64(1, "D")


def _require_aware(value: dt.datetime, what: str) -> None:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise InputError(
            f"{what} must be timezone-aware (e.g. Asia/Shanghai), got naive {value.isoformat()}",
            code="naive_datetime",
        )


class WorkCalendar:
    """Working days from a table of ``holidays`` and make-up ``workdays`` for ``known_years``.

    ``workdays`` are dates that are working days whatever their weekday (normally weekend
    make-up days); ``holidays`` are dates that are not, whatever their weekday. A date in both is
    a :class:`~grid.errors.ConfigError`, and so is an entry whose year is not in ``known_years``
    (a table must not claim a day of a year it does not declare). ``tz`` is the local time zone
    in which a datetime's date is taken (Asia/Shanghai by default).
    """

    def __init__(
        self,
        holidays: Iterable[dt.date] = (),
        workdays: Iterable[dt.date] = (),
        known_years: Iterable[int] = (),
        *,
        tz: str = CHINA_TZ,
    ) -> None:
        self.holidays: frozenset[dt.date] = frozenset(holidays)
        self.workdays: frozenset[dt.date] = frozenset(workdays)
        self.known_years: frozenset[int] = frozenset(known_years)
        try:
            self.tz = ZoneInfo(tz)
        except Exception as exc:  # ZoneInfoNotFoundError, ValueError on malformed keys
            raise ConfigError(f"unknown time zone {tz!r}", code="unknown_timezone") from exc
        both = sorted(self.holidays & self.workdays)
        if both:
            raise ConfigError(
                f"{len(both)} date(s) are both a holiday and a working day, e.g. {both[0].isoformat()}",
                code="calendar_conflict",
            )
        stray = sorted(d for d in self.holidays | self.workdays if d.year not in self.known_years)
        if stray:
            raise ConfigError(
                f"{len(stray)} calendar date(s) fall in years the table does not declare, "
                f"e.g. {stray[0].isoformat()}; declared years: {sorted(self.known_years)}",
                code="calendar_year_undeclared",
            )

    def __repr__(self) -> str:
        years = sorted(self.known_years)
        span = f"{years[0]}..{years[-1]}" if years else "none"
        return (
            f"WorkCalendar(years={span}, holidays={len(self.holidays)}, "
            f"workdays={len(self.workdays)}, tz={self.tz.key!r})"
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def weekends_only(cls, tz: str = CHINA_TZ) -> WorkCalendar:
        """Monday to Friday, no holidays, no year covered (:meth:`covers` is always False)."""
        return cls(tz=tz)

    @classmethod
    def china(cls, extra: Path | str | None = None) -> WorkCalendar:
        """Mainland China's calendar from ``chinesecalendar``, merged with an optional JSON file.

        The file (``GRIDGOV_HOLIDAY_FILE``) lets operators add a year's schedule as soon as the
        State Council publishes it, before the library is updated::

            {"holidays": ["2027-01-01", ...], "workdays": ["2027-02-07", ...], "years": [2027]}

        Merge rule, date by date: a date the file lists under ``holidays`` is a holiday and one
        it lists under ``workdays`` is a working day, whatever the library says (so the file can
        also correct the library); every other date keeps the library's status. ``years`` adds
        years to those covered. Every listed date must fall in a covered year (the library's or
        the file's ``years``): a notice for 2027 may move a day of late December 2026, which the
        library covers. All keys are optional; unknown keys, malformed dates, a date listed twice
        with both statuses, or an unreadable file are a :class:`~grid.errors.ConfigError`.
        """
        import chinese_calendar

        lib_holidays: set[dt.date] = set(chinese_calendar.holidays)
        lib_workdays: set[dt.date] = set(chinese_calendar.workdays)
        years: set[int] = set(range(min(lib_holidays).year, max(lib_holidays).year + 1))
        if extra is not None:
            file_holidays, file_workdays, file_years = _read_override(Path(extra))
            lib_holidays = (lib_holidays - file_workdays) | file_holidays
            lib_workdays = (lib_workdays - file_holidays) | file_workdays
            years |= file_years
        return cls(lib_holidays, lib_workdays, years, tz=CHINA_TZ)

    # ------------------------------------------------------------------ days
    def covers(self, d: dt.date) -> bool:
        """Whether the holiday table covers ``d``'s year (False: Monday–Friday rule only)."""
        return d.year in self.known_years

    def is_working_day(self, d: dt.date) -> bool:
        """Make-up working day → True; holiday → False; else Monday to Friday (module rule).

        A datetime (which must be aware) counts by its date in the calendar's time zone.
        """
        if isinstance(d, dt.datetime):
            d = self.local_date(d)
        if d in self.workdays:
            return True
        if d in self.holidays:
            return False
        return d.weekday() < 5

    def local_date(self, when: dt.datetime) -> dt.date:
        """The calendar date of an aware datetime in the calendar's time zone."""
        _require_aware(when, "datetime")
        return when.astimezone(self.tz).date()

    def add_working_days(self, start: dt.datetime, n: int) -> dt.datetime:
        """The deadline of ``n`` working days from ``start`` (``n`` >= 1).

        ``start`` must be timezone-aware (InputError ``naive_datetime``); its date is taken in the
        calendar's time zone. The answer is 00:00 (calendar time zone) of the calendar day after
        the ``n``-th working day strictly after that date: the end of that working day.
        """
        _require_aware(start, "start")
        _check_n(n)
        d = start.astimezone(self.tz).date()
        counted = 0
        while counted < n:
            d += dt.timedelta(days=1)
            if self.is_working_day(d):
                counted += 1
        return dt.datetime.combine(d + dt.timedelta(days=1), dt.time(0), tzinfo=self.tz)

    def add_working_days_array(self, dates: npt.ArrayLike, n: npt.ArrayLike) -> npt.NDArray[np.datetime64]:
        """Vectorised :meth:`add_working_days` on local dates, for millions of rows.

        ``dates``: local calendar dates of receipt (``datetime64[D]``, or anything numpy turns
        into it); ``n``: working days, an integer array of the same shape or a scalar, each >= 1.
        Returns ``datetime64[D]``: the date whose 00:00 (local) is the deadline, i.e. the day
        after the ``n``-th working day strictly after the date. NaT in gives NaT out.

        Method: the sorted array of working days over the span needed, then ``np.searchsorted``
        finds the first working day after each date and the ``n``-th is ``n - 1`` places on.
        """
        days = np.asarray(dates, dtype="datetime64[D]")
        counts = np.broadcast_to(np.asarray(n), days.shape)
        if not np.issubdtype(counts.dtype, np.integer):
            raise InputError(f"working days must be integers, got dtype {counts.dtype}", code="invalid_n")
        out = np.full(days.shape, np.datetime64("NaT"), dtype="datetime64[D]")
        valid = ~np.isnat(days)
        if not valid.any():
            return out
        d, k = days[valid], counts[valid].astype(np.int64)
        if (k < 1).any():
            raise InputError("working days must be >= 1", code="invalid_n")
        lo = d.min() + _DAY
        # at least one working day in any 7 consecutive days (weekends) and runs of holidays are
        # short; grow the span if a table ever holds a longer run
        hi = d.max() + np.timedelta64(int(k.max()) * 2 + 31, "D")
        while True:
            work = self._working_days_between(lo, hi)
            idx = np.searchsorted(work, d, side="right") + k - 1
            if work.size and idx.max() < work.size:
                break
            hi = hi + (hi - lo) + np.timedelta64(31, "D")
        out[valid] = work[idx] + _DAY
        return out

    def _working_days_between(self, lo: np.datetime64, hi: np.datetime64) -> npt.NDArray[np.datetime64]:
        """Sorted working days in ``[lo, hi)``."""
        span = np.arange(lo, hi, dtype="datetime64[D]")
        weekday = (span.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
        working = weekday < 5
        if self.holidays:
            working &= ~np.isin(span, np.array(sorted(self.holidays), dtype="datetime64[D]"))
        if self.workdays:
            working |= np.isin(span, np.array(sorted(self.workdays), dtype="datetime64[D]"))
        return span[working]


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InputError(f"working days must be an integer >= 1, got {n!r}", code="invalid_n")


def _parse_dates(values: Any, key: str, path: Path) -> set[dt.date]:
    if not isinstance(values, list):
        raise ConfigError(f"{path}: {key!r} must be a list of YYYY-MM-DD dates", code="bad_holiday_file")
    out: set[dt.date] = set()
    for v in values:
        try:
            out.add(dt.date.fromisoformat(v))
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"{path}: {key!r} holds {v!r}, not a YYYY-MM-DD date", code="bad_holiday_file"
            ) from exc
    return out


def _read_override(path: Path) -> tuple[set[dt.date], set[dt.date], set[int]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read holiday file {path}: {exc}", code="bad_holiday_file") from exc
    except ValueError as exc:
        raise ConfigError(f"holiday file {path} is not valid JSON: {exc}", code="bad_holiday_file") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a JSON object", code="bad_holiday_file")
    unknown = sorted(set(raw) - _OVERRIDE_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {unknown}; expected {sorted(_OVERRIDE_KEYS)}", code="bad_holiday_file"
        )
    holidays = _parse_dates(raw.get("holidays", []), "holidays", path)
    workdays = _parse_dates(raw.get("workdays", []), "workdays", path)
    years_raw = raw.get("years", [])
    if not isinstance(years_raw, list) or not all(
        isinstance(y, int) and not isinstance(y, bool) and 1 <= y <= 9999 for y in years_raw
    ):
        raise ConfigError(f"{path}: 'years' must be a list of years like [2027]", code="bad_holiday_file")
    both = sorted(holidays & workdays)
    if both:
        raise ConfigError(
            f"{path}: {both[0].isoformat()} is listed both as a holiday and as a working day",
            code="calendar_conflict",
        )
    return holidays, workdays, set(years_raw)
