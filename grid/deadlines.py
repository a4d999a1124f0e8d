"""Time limits of petitions by urgency, and their deadlines.

Urgencies, from the shortest limit to the longest: ``urgent`` < ``utilities`` < ``general`` <
``complex`` (:data:`URGENCIES`). Default limits, from the draft Beijing standard DB11/T 2021-2022
(configurable, e.g. ``GRIDGOV_TIME_LIMITS``):

========== ======== ===========================================================================
urgency    limit    meaning
========== ======== ===========================================================================
urgent     ``2h``   2 hours, wall-clock: danger to life or property does not wait for Monday
utilities  ``24h``  24 hours, wall-clock: water, power, gas, heating
general    ``7wd``  7 working days
complex    ``15wd`` 15 working days
========== ======== ===========================================================================

A limit is written ``<n><unit>`` with ``n`` >= 1 and the unit ``h`` (hours: deadline = receipt
+ n × 1 hour of elapsed time), ``d`` (calendar days: receipt + n × 24 hours) or ``wd`` (working
days: the end of the n-th working day after the day of receipt, which is not counted — see
:mod:`grid.workcal`).

A petition is **answered on time** when it is answered at or before its deadline
(``answered_at <= due_at``); it is **overdue** when answered after its deadline, or still
unanswered strictly after it (:func:`is_overdue`).

>>> import datetime as dt
>>> from grid.workcal import WorkCalendar
>>> cal = WorkCalendar.china()
>>> at = dt.datetime(2023, 9, 28, 17, 30, tzinfo=cal.tz)
>>> # 7 working days: 10-07 (Sat), 10-08 (Sun, both make-up days), 10-09 .. 10-13
>>> deadline_for(at, "general", TimeLimits(), cal).due_at.isoformat()
'2023-10-14T00:00:00+08:00'
>>> deadline_for(at, "urgent", TimeLimits(), cal).due_at.isoformat()
'2023-09-28T19:30:00+08:00'
>>> effective_urgency("general", "urgent"), effective_urgency("urgent", "general")
('urgent', 'urgent')
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from grid.errors import ConfigError, InputError
from grid.workcal import WorkCalendar

__all__ = [
    "URGENCIES",
    "Deadline",
    "TimeLimit",
    "TimeLimits",
    "deadline_for",
    "effective_urgency",
    "is_overdue",
]

URGENCIES: tuple[str, ...] = ("urgent", "utilities", "general", "complex")  # shortest limit first
DEFAULT_URGENCY = "general"

Unit = Literal["hours", "days", "working_days"]
_SUFFIX: dict[str, Unit] = {"h": "hours", "d": "days", "wd": "working_days"}
_SUFFIX_OF: dict[Unit, str] = {v: k for k, v in _SUFFIX.items()}
_LIMIT_RE = re.compile(r"(\d+)(wd|h|d)")


@dataclass(frozen=True)
class TimeLimit:
    """``amount`` (>= 1) of ``unit``: ``hours`` or ``days`` (elapsed time) or ``working_days``."""

    amount: int
    unit: Unit

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 1:
            raise ConfigError(f"a time limit needs an integer amount >= 1, got {self.amount!r}")
        if self.unit not in _SUFFIX_OF:
            raise ConfigError(f"unknown time-limit unit {self.unit!r}; expected one of {sorted(_SUFFIX_OF)}")

    @classmethod
    def parse(cls, text: str) -> TimeLimit:
        """``"2h"`` → 2 hours, ``"3d"`` → 3 calendar days, ``"7wd"`` → 7 working days.

        Surrounding spaces are ignored; anything else malformed is a ConfigError."""
        m = _LIMIT_RE.fullmatch(text.strip()) if isinstance(text, str) else None
        if m is None:
            raise ConfigError(
                f"malformed time limit {text!r}: expected <n>h (hours), <n>d (calendar days) "
                "or <n>wd (working days), e.g. '2h', '3d', '7wd'",
                code="bad_time_limit",
            )
        return cls(int(m.group(1)), _SUFFIX[m.group(2)])

    def __str__(self) -> str:
        return f"{self.amount}{_SUFFIX_OF[self.unit]}"


@dataclass(frozen=True)
class TimeLimits(Mapping[str, TimeLimit]):
    """The time limit of each urgency in :data:`URGENCIES`; a read-only mapping."""

    urgent: TimeLimit = field(default_factory=lambda: TimeLimit(2, "hours"))
    utilities: TimeLimit = field(default_factory=lambda: TimeLimit(24, "hours"))
    general: TimeLimit = field(default_factory=lambda: TimeLimit(7, "working_days"))
    complex: TimeLimit = field(default_factory=lambda: TimeLimit(15, "working_days"))

    @classmethod
    def from_mapping(cls, limits: Mapping[str, str | TimeLimit]) -> TimeLimits:
        """From ``{"urgent": "2h", "utilities": "24h", "general": "7wd", "complex": "15wd"}``.

        Urgencies left out keep their defaults; an unknown urgency or a malformed limit is a
        ConfigError."""
        unknown = sorted(set(limits) - set(URGENCIES))
        if unknown:
            raise ConfigError(
                f"unknown urgency {unknown[0]!r} in time limits; expected {list(URGENCIES)}",
                code="bad_time_limit",
            )
        parsed = {k: v if isinstance(v, TimeLimit) else TimeLimit.parse(v) for k, v in limits.items()}
        return cls(**parsed)

    @classmethod
    def parse(cls, text: str) -> TimeLimits:
        """From the settings string ``"urgent=2h,utilities=24h,general=7wd,complex=15wd"``."""
        pairs: dict[str, str] = {}
        for item in (p.strip() for p in text.split(",")):
            if not item:
                continue
            key, sep, value = item.partition("=")
            if not sep or key.strip() in pairs:
                raise ConfigError(
                    f"malformed time limits {text!r}: expected urgency=limit pairs separated by commas, "
                    "each urgency once",
                    code="bad_time_limit",
                )
            pairs[key.strip()] = value
        return cls.from_mapping(pairs)

    def __getitem__(self, urgency: str) -> TimeLimit:
        if urgency not in URGENCIES:
            raise KeyError(urgency)
        limit: TimeLimit = getattr(self, urgency)
        return limit

    def __iter__(self) -> Iterator[str]:
        return iter(URGENCIES)

    def __len__(self) -> int:
        return len(URGENCIES)


@dataclass(frozen=True)
class Deadline:
    """When a petition is due and under which limit.

    ``calendar_covered`` is False when a working-day limit was computed for days the holiday table
    does not cover (weekends only): the deadline stands but should be reviewed. Elapsed-time
    limits (hours, days) need no table and are always covered."""

    due_at: dt.datetime
    urgency: str
    limit: str  # e.g. "7wd"
    calendar_covered: bool


def _require_aware(value: dt.datetime, what: str) -> None:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise InputError(
            f"{what} must be timezone-aware, got naive {value.isoformat()}", code="naive_datetime"
        )


def _check_urgency(urgency: str | None, what: str) -> None:
    if urgency is not None and urgency not in URGENCIES:
        raise InputError(
            f"unknown {what} {urgency!r}; expected one of {list(URGENCIES)}", code="unknown_urgency"
        )


def deadline_for(received_at: dt.datetime, urgency: str, limits: TimeLimits, cal: WorkCalendar) -> Deadline:
    """The deadline of a petition received at ``received_at`` (aware) with ``urgency``.

    Hours and calendar days are elapsed time from the instant of receipt (the result is in the
    calendar's time zone); working days follow :meth:`WorkCalendar.add_working_days`. Unknown
    urgency: InputError ``unknown_urgency``; naive datetime: InputError ``naive_datetime``."""
    _require_aware(received_at, "received_at")
    if urgency not in URGENCIES:
        raise InputError(
            f"unknown urgency {urgency!r}; expected one of {list(URGENCIES)}", code="unknown_urgency"
        )
    limit = limits[urgency]
    if limit.unit == "working_days":
        due = cal.add_working_days(received_at, limit.amount)
        first = cal.local_date(received_at)
        last = due.date() - dt.timedelta(days=1)  # the last working day counted
        covered = all(cal.covers(dt.date(y, 1, 1)) for y in range(first.year, last.year + 1))
        return Deadline(due, urgency, str(limit), covered)
    hours = limit.amount if limit.unit == "hours" else 24 * limit.amount
    due = (received_at.astimezone(dt.UTC) + dt.timedelta(hours=hours)).astimezone(cal.tz)
    return Deadline(due, urgency, str(limit), True)


def effective_urgency(requested: str | None, category_urgency: str | None) -> str:
    """The urgency a petition is handled under, from intake's choice and the category's default.

    The rule: the **more urgent** of the two, i.e. the one with the shorter limit in the order of
    :data:`URGENCIES` (urgent < utilities < general < complex), with one exception:

    1. both None → ``"general"``; only one given → that one;
    2. ``requested == "complex"`` and the category's urgency is ``"general"`` → ``"complex"``: the
       intake clerk may declare a general case complex (15 working days instead of 7);
    3. otherwise the shorter of the two.

    So a category such as 燃气泄漏 (gas leak, category urgency ``urgent``) is never slowed down
    by a clerk choosing ``general`` (or ``complex``), while a clerk can raise a general category
    to ``urgent`` or ``utilities``. Unknown values: InputError ``unknown_urgency``.

    >>> effective_urgency("general", "urgent"), effective_urgency("complex", "general")
    ('urgent', 'complex')
    >>> effective_urgency("complex", "utilities"), effective_urgency(None, None)
    ('utilities', 'general')
    """
    _check_urgency(requested, "requested urgency")
    _check_urgency(category_urgency, "category urgency")
    if requested is None:
        return category_urgency if category_urgency is not None else DEFAULT_URGENCY
    if category_urgency is None:
        return requested
    if requested == "complex" and category_urgency == "general":
        return "complex"
    return min(requested, category_urgency, key=URGENCIES.index)


def is_overdue(due_at: dt.datetime, answered_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a petition is overdue as seen at ``now``.

    Answered by ``now`` (``answered_at <= now``): overdue when ``answered_at > due_at``.
    Unanswered by ``now`` (``answered_at`` None or later than ``now``): overdue when
    ``now > due_at``. An answer exactly at ``due_at`` is on time. All datetimes must be aware.

    >>> import datetime as dt
    >>> due = dt.datetime(2023, 10, 17, tzinfo=dt.UTC)
    >>> is_overdue(due, None, due), is_overdue(due, None, due + dt.timedelta(seconds=1))
    (False, True)
    """
    _require_aware(due_at, "due_at")
    _require_aware(now, "now")
    if answered_at is not None:
        _require_aware(answered_at, "answered_at")
        if answered_at <= now:
            return answered_at > due_at
    return now > due_at
