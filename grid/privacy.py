"""Masking of residents' personal data (phone numbers, names) for display and exports.

Pure functions; ``None`` stays ``None`` and the empty string stays empty (nothing to hide).

**Phones** (:func:`mask_phone`), after removing spaces, dashes and parentheses and an
international prefix ``+86`` / ``0086`` (or a bare ``86`` before an 11-digit mobile number):

1. a mainland mobile number (11 digits, ``1[3-9]…``): keep the first 3 and last 4 digits,
   ``138****1234``;
2. a landline with its area code (``0`` + area code + 7 or 8 digits; the area code is 3 digits
   for ``010`` and ``02x``, else 4; after ``+86`` the trunk ``0`` may be left out): keep the
   area code and the last 2 digits, star the rest, written ``AREA-******34`` whatever the
   input separator;
3. anything else of 4 or more characters (after trimming surrounding spaces): first character
   + ``***`` + last character (the length is not revealed);
4. anything shorter: ``***``.

**Names** (:func:`mask_name`): the first character, then one ``*`` per remaining character
(surrounding spaces trimmed).

>>> mask_phone("138 0013 1234"), mask_phone("+86-13800131234")
('138****1234', '138****1234')
>>> mask_phone("010-65001234"), mask_phone("(0571) 8765432"), mask_phone("02087654321")
('010-******34', '0571-*****32', '020-******21')
>>> mask_phone("+86 10 6500 1234"), mask_phone("12345"), mask_phone("110"), mask_phone(None)
('010-******34', '1***5', '***', None)
>>> mask_name("张三丰"), mask_name("欧阳娜娜"), mask_name(None)
('张**', '欧***', None)
"""

from __future__ import annotations

import re

__all__ = ["mask_name", "mask_phone"]

_SEPARATORS = re.compile(r"[\s\-()]+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{9,11}")


def _strip_country(compact: str) -> tuple[str, bool]:
    """The number without its country prefix, and whether it had one."""
    for prefix in ("+86", "0086"):
        if compact.startswith(prefix):
            return compact[len(prefix) :], True
    if len(compact) == 13 and compact.startswith("86") and _MOBILE.fullmatch(compact[2:]):
        return compact[2:], True
    return compact, False


def _landline(compact: str) -> tuple[str, str] | None:
    """(area code, subscriber number) of a landline written with its area code, else None."""
    if not _LANDLINE.fullmatch(compact):
        return None
    area_len = 3 if compact.startswith(("010", "02")) else 4
    area, number = compact[:area_len], compact[area_len:]
    if not 7 <= len(number) <= 8:
        return None
    return area, number


_DIGIT_RUNS = re.compile(r"\d[\d\- ]{5,}\d")


def mask_digit_runs(text: str | None) -> str | None:
    """Runs of 7 or more digits (with dashes or spaces) in free text, such as the phone or ID
    number a resident typed into a petition, as stars; house numbers stay.

    >>> mask_digit_runs("请回电13800138000，住6号楼")
    '请回电***********，住6号楼'
    """
    if text is None:
        return None
    return _DIGIT_RUNS.sub(lambda m: "*" * len(m.group(0)), text)


def mask_phone(s: str | None) -> str | None:
    """Mask a phone number by the rules of the module docstring."""
    if s is None:
        return None
    text = s.strip()
    if not text:
        return ""
    compact, international = _strip_country(_SEPARATORS.sub("", text))
    if _MOBILE.fullmatch(compact):
        return f"{compact[:3]}****{compact[-4:]}"
    if international and compact[:1] not in ("", "0"):
        compact = "0" + compact  # "+86 10 6500 1234": the trunk 0 is dropped after +86
    land = _landline(compact)
    if land is not None:
        area, number = land
        return f"{area}-{'*' * (len(number) - 2)}{number[-2:]}"
    if len(text) >= 4:
        return f"{text[0]}***{text[-1]}"
    return "***"


def mask_name(s: str | None) -> str | None:
    """Mask a name: first character + one ``*`` per remaining character (``张三`` → ``张*``).

    >>> mask_name(" 李四 "), mask_name("王")
    ('李*', '王')
    """
    if s is None:
        return None
    text = s.strip()
    if not text:
        return ""
    return text[0] + "*" * (len(text) - 1)


def mask_email(s: str | None) -> str | None:
    """``zhang.san@example.com`` → ``z***@example.com`` (the domain stays: it says which provider).

    >>> mask_email("zhang.san@example.com")
    'z***@example.com'
    >>> mask_email("not-an-email")
    'n***l'
    """
    if s is None:
        return None
    local, at, domain = s.strip().partition("@")
    if not at:
        return mask_phone(s)
    return (local[:1] or "") + "***@" + domain
