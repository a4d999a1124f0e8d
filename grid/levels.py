"""Administrative levels and their code formats.

Levels are data: a deployment for another city may define its own (names, order, code
length or length range, the regular expression a code must match, how a unit finds its
parent). The default is the Beijing/national one: district 6 digits (GB/T 2260), street 9,
community 12, grid 15 (DB11/T 2157-2023), where a child's code starts with its parent's code
(``nesting="prefix"``).

Codes need not be digits (``P-075``, ``A1``, ``E13``) nor have one length: a level gives
``code_length`` (fixed), ``min_length``/``max_length`` (a range) or a ``pattern`` alone. How a
unit of a level with a parent finds that parent (``nesting``):

- ``prefix``: the child's code starts with its parent's code (the parent level must have a
  fixed ``code_length``);
- ``field``: the parent's code comes from a field of the layer (``--parent-field``); codes
  are not nested;
- ``containment``: the parent is the unit of the parent level that contains the child, found
  at import.

A level with ``parent=None`` that is not the first level is the root of an independent layer
(police districts beside wards).

>>> lv = default_levels()
>>> lv.check_code("street", "110105016", parent_code="110105")
>>> lv.by_name("grid").code_length
15
>>> ward = Level("ward", 0, None, pattern=r"\\d{1,2}")
>>> ward.code_problem("7") is None, ward.code_problem("133") is not None
(True, True)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from grid.errors import CodeFormatError, InputError

NESTING_RULES = ("prefix", "field", "containment")
LEVEL_FIELDS = (
    "name",
    "rank",
    "code_length",
    "label",
    "pattern",
    "parent",
    "min_length",
    "max_length",
    "nesting",
)
MAX_NAME = 32  # unit_level.name
MAX_LABEL = 64  # unit_level.label
MAX_PATTERN = 200  # unit_level.pattern
MAX_CODE_LENGTH = 32  # unit.code
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@dataclass(frozen=True)
class Level:
    name: str
    rank: int  # 0 = top
    code_length: int | None = None  # fixed length; None: see min_length/max_length or the pattern
    label: str = ""
    pattern: str = r"\d+"
    parent: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    nesting: str = "prefix"  # prefix | field | containment (how a unit finds its parent)

    @property
    def length_range(self) -> tuple[int | None, int | None]:
        """(min, max) length of a code, either end ``None`` when free."""
        if self.code_length is not None:
            return self.code_length, self.code_length
        return self.min_length, self.max_length

    def describe_format(self) -> str:
        lo, hi = self.length_range
        if lo is not None and lo == hi:
            size = f"{lo} chars"
        elif lo is None and hi is None:
            size = "any length"
        else:
            size = f"{lo or 1}-{hi if hi is not None else '…'} chars"
        return f"{size} /{self.pattern}/"

    def to_dict(self) -> dict[str, Any]:
        """The level as ``levels load`` takes it (unset lengths left out)."""
        d: dict[str, Any] = {"name": self.name, "rank": self.rank}
        for fld in ("code_length", "min_length", "max_length"):
            if getattr(self, fld) is not None:
                d[fld] = getattr(self, fld)
        d.update(
            {"label": self.label, "pattern": self.pattern, "parent": self.parent, "nesting": self.nesting}
        )
        return d

    def code_problem(self, code: str) -> str | None:
        """Why ``code`` is not a valid code of this level, or ``None``."""
        if not isinstance(code, str) or code == "":
            return "empty code"
        lo, hi = self.length_range
        n = len(code)
        if lo is not None and lo == hi and n != lo:
            return f"{self.name} codes have {lo} characters, {code!r} has {n}"
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            return f"{self.name} codes have {lo or 1} to {hi if hi is not None else 'any'} characters, {code!r} has {n}"
        if not _compiled(self.pattern).fullmatch(code):
            return f"{code!r} does not match the {self.name} code pattern {self.pattern}"
        return None


def _level_error(where: str, fld: str, why: str) -> InputError:
    return InputError(f"{where}: field {fld!r} {why}", code="invalid_levels")


def _check_level(lv: Level) -> None:
    """Refuse a level whose fields cannot work (before anything is stored or imported)."""
    where = f"level {lv.name!r}" if isinstance(lv.name, str) else "level"
    if not isinstance(lv.name, str) or not _NAME_RE.fullmatch(lv.name) or len(lv.name) > MAX_NAME:
        raise _level_error(
            where, "name", f"must be a name of letters, digits, '_' or '-' (at most {MAX_NAME} characters)"
        )
    if not isinstance(lv.rank, int) or isinstance(lv.rank, bool) or lv.rank < 0:
        raise _level_error(where, "rank", f"must be a whole number >= 0, not {lv.rank!r}")
    for fld in ("code_length", "min_length", "max_length"):
        v = getattr(lv, fld)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_CODE_LENGTH):
            raise _level_error(where, fld, f"must be a whole number from 1 to {MAX_CODE_LENGTH}, not {v!r}")
    if lv.code_length is not None and (lv.min_length is not None or lv.max_length is not None):
        raise _level_error(
            where, "code_length", "is a fixed length: give it or min_length/max_length, not both"
        )
    if lv.min_length is not None and lv.max_length is not None and lv.min_length > lv.max_length:
        raise _level_error(where, "min_length", f"{lv.min_length} is more than max_length {lv.max_length}")
    if not isinstance(lv.label, str) or len(lv.label) > MAX_LABEL:
        raise _level_error(where, "label", f"must be a text of at most {MAX_LABEL} characters")
    if not isinstance(lv.pattern, str) or lv.pattern == "" or len(lv.pattern) > MAX_PATTERN:
        raise _level_error(where, "pattern", f"must be a regular expression of 1 to {MAX_PATTERN} characters")
    try:
        _compiled(lv.pattern)
    except re.error as exc:
        raise _level_error(
            where, "pattern", f"is not a valid regular expression ({lv.pattern!r}: {exc})"
        ) from exc
    if lv.parent is not None and not isinstance(lv.parent, str):
        raise _level_error(where, "parent", f"must be a level name or null, not {lv.parent!r}")
    if lv.nesting not in NESTING_RULES:
        raise _level_error(where, "nesting", f"must be one of {', '.join(NESTING_RULES)}, not {lv.nesting!r}")


@dataclass
class Levels:
    levels: list[Level] = field(default_factory=list)

    def __post_init__(self) -> None:
        for lv in self.levels:
            _check_level(lv)
        self.levels = sorted(self.levels, key=lambda lv: lv.rank)
        names = [lv.name for lv in self.levels]
        if len(set(names)) != len(names):
            raise InputError(f"duplicate level names in {names}", code="invalid_levels")
        ranks = [lv.rank for lv in self.levels]
        if len(set(ranks)) != len(ranks):
            raise InputError(f"two levels have the same rank: {ranks}", code="invalid_levels")
        by = {lv.name: lv for lv in self.levels}
        for lv in self.levels:
            if lv.parent is None:
                continue
            if lv.parent not in by:
                raise InputError(
                    f"level {lv.name!r}: field 'parent' names unknown parent level {lv.parent!r}",
                    code="invalid_levels",
                )
            plv = by[lv.parent]
            if plv.rank >= lv.rank:
                raise _level_error(
                    f"level {lv.name!r}",
                    "parent",
                    f"{plv.name!r} must have a smaller rank ({plv.rank} >= {lv.rank})",
                )
            if lv.nesting == "prefix" and plv.code_length is None:
                raise _level_error(
                    f"level {lv.name!r}",
                    "nesting",
                    f"is 'prefix' but its parent {plv.name!r} has no fixed code_length; "
                    "use nesting 'field' or 'containment', or give the parent a code_length",
                )

    def __iter__(self) -> Iterator[Level]:
        return iter(self.levels)

    @property
    def names(self) -> list[str]:
        return [lv.name for lv in self.levels]

    def by_name(self, name: str) -> Level:
        for lv in self.levels:
            if lv.name == name:
                return lv
        raise InputError(
            f"unknown level {name!r}; known levels: {', '.join(self.names)}", code="unknown_level"
        )

    def parent_of(self, name: str) -> Level | None:
        p = self.by_name(name).parent
        return self.by_name(p) if p else None

    def child_of(self, name: str) -> Level | None:
        for lv in self.levels:
            if lv.parent == name:
                return lv
        return None

    def level_of_code(self, code: str) -> Level | None:
        for lv in self.levels:
            if lv.code_problem(code) is None:
                return lv
        return None

    def prefix_parent(self, level: str, code: str | None) -> str | None:
        """The parent code a code names by its prefix, when ``level`` nests by prefix."""
        lv = self.by_name(level)
        plv = self.parent_of(level)
        if code is None or plv is None or lv.nesting != "prefix" or plv.code_length is None:
            return None
        return code[: plv.code_length] if len(code) > plv.code_length else None

    def check_code(self, level: str, code: str, parent_code: str | None = None) -> None:
        """Raise :class:`CodeFormatError` when ``code`` is not a valid, nested code of ``level``."""
        problem = self.code_nesting_problem(level, code, parent_code)
        if problem:
            raise CodeFormatError(problem)

    def code_nesting_problem(self, level: str, code: str, parent_code: str | None) -> str | None:
        lv = self.by_name(level)
        problem = lv.code_problem(code)
        if problem:
            return problem
        if lv.nesting == "prefix" and parent_code is not None and not code.startswith(parent_code):
            return f"code {code} is not nested in its parent's code {parent_code}"
        return None

    def to_dicts(self) -> list[dict[str, Any]]:
        """The levels as ``levels load`` takes them (fields at their defaults left out)."""
        return [lv.to_dict() for lv in self.levels]

    @classmethod
    def from_dicts(cls, rows: Iterable[dict[str, object]]) -> Levels:
        """Levels from a JSON list; any bad field is refused with ``invalid_levels``."""
        if not isinstance(rows, list):
            raise InputError("levels must be a JSON list of level objects", code="invalid_levels")
        out: list[Level] = []
        for i, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                raise InputError(f"level #{i} is not an object: {row!r}", code="invalid_levels")
            where = f"level {row.get('name')!r}" if "name" in row else f"level #{i}"
            unknown = sorted(set(row) - set(LEVEL_FIELDS))
            if unknown:
                raise InputError(
                    f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; known: {', '.join(LEVEL_FIELDS)}",
                    code="invalid_levels",
                )
            for req in ("name", "rank"):
                if req not in row:
                    raise _level_error(where, req, "is missing")
            if (
                all(row.get(f) is None for f in ("code_length", "min_length", "max_length"))
                and "pattern" not in row
            ):
                raise _level_error(
                    where, "pattern", "is missing: give code_length, min_length/max_length or a pattern"
                )
            if "label" in row and row["label"] is None:
                row = {**row, "label": ""}
            out.append(Level(**row))
        return cls(out)


def default_levels() -> Levels:
    return Levels(
        [
            Level("district", 0, 6, "区", r"\d{6}", None),
            Level("street", 1, 9, "街道/乡镇", r"\d{9}", "district"),
            Level("community", 2, 12, "社区/村", r"\d{12}", "street"),
            Level("grid", 3, 15, "网格", r"\d{15}", "community"),
        ]
    )
