"""The one rule for text, ids and dates that come from outside (pure).

Shared by the HTTP edge (``api/guard.py``: query, path, form, JSON and the headers the app reads),
Open311 (the same rule in its own error shape) and the CLI readers, so that nothing PostgreSQL
cannot store reaches it and every refusal has the same stable code:

- text must not hold NUL or other C0 control characters (tab, line feed and carriage return are
  allowed) nor lone UTF-16 surrogates: ``invalid_characters`` (422);
- ids are bounded to PostgreSQL's ``bigint`` (1 .. 2^63-1): ``value_out_of_range``;
- dates and datetimes lie in [1900-01-01, 2100-12-31]: ``date_out_of_range``.

>>> text_problem("双井街道")
>>> text_problem("a\\x00b")
'holds the control character U+0000 at position 1'
>>> date_problem(dt.date(1, 1, 1))
'0001-01-01 is outside the accepted dates 1900-01-01 .. 2100-12-31'
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from grid.errors import InputError

# C0 controls but tab (09), line feed (0A) and carriage return (0D); lone surrogates.
_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
DATE_MIN = dt.date(1900, 1, 1)
DATE_MAX = dt.date(2100, 12, 31)
ID_MAX = 2**63 - 1


class InvalidCharacters(InputError):
    """A text input holds a character that cannot be stored (NUL, other controls, surrogates)."""

    code = "invalid_characters"
    status = 422


class FieldTooLong(InputError):
    """A text longer than the column that would store it (the limits come from the models)."""

    code = "field_too_long"
    status = 422


def length_problem(value: str, limit: int) -> str | None:
    """Why ``value`` does not fit a column of ``limit`` characters, or ``None``."""
    if len(value) <= limit:
        return None
    return f"is {len(value)} characters long, more than the {limit} it can hold"


class OutOfRange(InputError):
    code = "value_out_of_range"
    status = 422


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be taken as text, or ``None``."""
    m = _BAD.search(value)
    if m is None:
        return None
    return f"holds the control character U+{ord(m.group(0)):04X} at position {m.start()}"


def check_text(value: str, field: str) -> str:
    """``value`` itself, or :class:`InvalidCharacters` naming the field."""
    problem = text_problem(value)
    if problem:
        raise InvalidCharacters(f"{field} {problem}; such characters cannot be stored")
    return value


def walk_problem(value: Any, where: str = "body") -> tuple[str, str] | None:
    """The first (location, problem) among the strings (keys too) of a parsed JSON value."""
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        loc, v = stack.pop()
        if isinstance(v, str):
            p = text_problem(v)
            if p:
                return loc, p
        elif isinstance(v, dict):
            for k, x in v.items():
                p = text_problem(str(k))
                if p:
                    return f"{loc} key", p
                stack.append((f"{loc}.{k}", x))
        elif isinstance(v, list):
            stack.extend((f"{loc}[{i}]", x) for i, x in enumerate(v))
    return None


def date_problem(value: dt.date | dt.datetime) -> str | None:
    d = value.date() if isinstance(value, dt.datetime) else value
    if DATE_MIN <= d <= DATE_MAX:
        return None
    return f"{d.isoformat()} is outside the accepted dates {DATE_MIN} .. {DATE_MAX}"


def check_date(value: Any) -> Any:
    """A pydantic ``AfterValidator``: dates and datetimes within the documented range."""
    if isinstance(value, dt.date):
        problem = date_problem(value)
        if problem:
            raise ValueError(problem)
    return value


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, quoted with a leading apostrophe
    (OWASP's CSV-injection rule); numbers and other values unchanged.

    >>> csv_safe("=1+1"), csv_safe("-1"), csv_safe(-1), csv_safe("双井")
    ("'=1+1", "'-1", -1, '双井')
    """
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def check_id(value: int, field: str = "id") -> int:
    if not 1 <= value <= ID_MAX:
        raise OutOfRange(f"{field} must be between 1 and {ID_MAX}, got {value}")
    return value
