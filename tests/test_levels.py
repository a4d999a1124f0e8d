from __future__ import annotations

import pytest

from grid.errors import CodeFormatError, InputError
from grid.levels import Level, Levels, default_levels


def test_default_levels_nest_and_validate_codes() -> None:
    lv = default_levels()
    assert lv.names == ["district", "street", "community", "grid"]
    lv.check_code("grid", "110105016059001", parent_code="110105016059")
    with pytest.raises(CodeFormatError, match="15 characters"):
        lv.check_code("grid", "11010501605901")
    with pytest.raises(CodeFormatError, match="not nested"):
        lv.check_code("community", "110105017059", parent_code="110105016")
    with pytest.raises(CodeFormatError, match="pattern"):
        lv.check_code("street", "11010501A")
    assert lv.level_of_code("110105016") is not None
    assert lv.level_of_code("110105016").name == "street"  # type: ignore[union-attr]
    assert lv.parent_of("street").name == "district"  # type: ignore[union-attr]
    assert lv.child_of("community").name == "grid"  # type: ignore[union-attr]


def test_levels_are_data_for_other_cities() -> None:
    # e.g. a city with a 2-level hierarchy and letter-prefixed codes
    lv = Levels.from_dicts(
        [
            {"name": "ward", "rank": 0, "code_length": 4, "pattern": r"W\d{3}"},
            {"name": "block", "rank": 1, "code_length": 7, "pattern": r"W\d{6}", "parent": "ward"},
        ]
    )
    lv.check_code("block", "W001002", parent_code="W001")
    with pytest.raises(CodeFormatError):
        lv.check_code("block", "X001002")
    with pytest.raises(InputError, match="unknown level"):
        lv.by_name("district")


def test_bad_level_definitions_are_refused() -> None:
    with pytest.raises(InputError, match="unknown parent"):
        Levels([Level("a", 0, 2, parent="nope")])
    with pytest.raises(InputError, match="duplicate"):
        Levels([Level("a", 0, 2), Level("a", 1, 4)])
