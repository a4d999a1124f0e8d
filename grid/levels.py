"""Administrative levels and their code formats.

Levels are data: a deployment for another city may define its own (names, order, code
length, the regular expression a code must match). The default is the Beijing/national one:
district 6 digits (GB/T 2260), street 9, community 12, grid 15 (DB11/T 2157-2023). A
child's code must start with its parent's code.

>>> lv = default_levels()
>>> lv.check_code("street", "110105016", parent_code="110105")
>>> lv.by_name("grid").code_length
15
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from grid.errors import CodeFormatError, InputError


@dataclass(frozen=True)
class Level:
    name: str
    rank: int  # 0 = top
    code_length: int
    label: str = ""
    pattern: str = r"\d+"
    parent: str | None = None

    def code_problem(self, code: str) -> str | None:
        """Why ``code`` is not a valid code of this level, or ``None``."""
        if not isinstance(code, str) or code == "":
            return "empty code"
        if len(code) != self.code_length:
            return f"{self.name} codes have {self.code_length} characters, {code!r} has {len(code)}"
        if not re.fullmatch(self.pattern, code):
            return f"{code!r} does not match the {self.name} code pattern {self.pattern}"
        return None


@dataclass
class Levels:
    levels: list[Level] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.levels = sorted(self.levels, key=lambda lv: lv.rank)
        names = [lv.name for lv in self.levels]
        if len(set(names)) != len(names):
            raise InputError(f"duplicate level names in {names}")
        for lv in self.levels:
            if lv.parent is not None and lv.parent not in names:
                raise InputError(f"level {lv.name!r} names unknown parent level {lv.parent!r}")

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
        if parent_code is not None and not code.startswith(parent_code):
            return f"code {code} is not nested in its parent's code {parent_code}"
        return None

    @classmethod
    def from_dicts(cls, rows: Iterable[dict[str, object]]) -> Levels:
        return cls([Level(**row) for row in rows])  # type: ignore[arg-type]


def default_levels() -> Levels:
    return Levels(
        [
            Level("district", 0, 6, "区", r"\d{6}", None),
            Level("street", 1, 9, "街道/乡镇", r"\d{9}", "district"),
            Level("community", 2, 12, "社区/村", r"\d{12}", "street"),
            Level("grid", 3, 15, "网格", r"\d{15}", "community"),
        ]
    )
