"""Masking of phone numbers and names."""

from __future__ import annotations

import doctest

import pytest

import grid.privacy as privacy_mod
from grid.privacy import mask_name, mask_phone


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        # mobile numbers: first 3 and last 4
        ("13800131234", "138****1234"),
        ("138 0013 1234", "138****1234"),
        ("138-0013-1234", "138****1234"),
        ("+8613800131234", "138****1234"),
        ("+86 138 0013 1234", "138****1234"),
        ("008613800131234", "138****1234"),
        ("8613800131234", "138****1234"),
        (" 19912345678 ", "199****5678"),
        # landlines: area code and last 2
        ("010-65001234", "010-******34"),
        ("01065001234", "010-******34"),
        ("(010) 6500 1234", "010-******34"),
        ("+86 10 6500 1234", "010-******34"),
        ("021-1234567", "021-*****67"),
        ("0571-87654321", "0571-******21"),
        ("057187654321", "0571-******21"),
        # anything else of 4+ characters: first + *** + last
        ("12345", "1***5"),
        ("65001234", "6***4"),  # a landline without its area code
        ("12800131234", "1***4"),  # 11 digits, not a mobile prefix
        ("010-65001234-8021", "0***1"),  # an extension
        ("unknown", "u***n"),
        ("abcd", "a***d"),
        # short strings
        ("110", "***"),
        ("1", "***"),
        # nothing to mask
        ("", ""),
        ("   ", ""),
        (None, None),
    ],
)
def test_mask_phone(raw: str | None, masked: str | None) -> None:
    assert mask_phone(raw) == masked


def test_mask_phone_never_shows_the_middle() -> None:
    for raw in ("13800131234", "010-65001234", "0571-87654321"):
        out = mask_phone(raw)
        assert out is not None and "0013" not in out and "6500" not in out and "8765" not in out


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("张三", "张*"),
        ("张三丰", "张**"),
        ("欧阳娜娜", "欧***"),
        (" 李四 ", "李*"),
        ("王", "王"),
        ("John Smith", "J*********"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_name(raw: str | None, masked: str | None) -> None:
    assert mask_name(raw) == masked


def test_doctests() -> None:
    assert doctest.testmod(privacy_mod).failed == 0
