"""Area labels as cities write them: one comparable key per label (pure, no database).

Real 311 files spell the same area several ways within one column: Boston's ward is "Ward 3",
"03" or "3", its precinct "306.0", its police district "E-13" or "E13"; Baltimore names its
neighbourhoods and police districts by name, in any case and spacing. Before a label can be
compared with the unit an assignment chose, both go through the same function here.

* :func:`code_key` - a code-like label ("Ward 3", "03", "3.0", "E-13", "district 8") -> "3",
  "3", "3", "E13", "8"; empty or impossible values (blank, "nan", "0", "0.0", "none") -> None.
* :func:`name_key` - a name ("Belair-Edison", " belair  edison ") -> "BELAIR EDISON":
  case-, space- and punctuation-insensitive; blank -> None.
* :func:`label_key` - either, by ``kind``.

>>> [code_key(v) for v in ("Ward 3", "03", "3", "3.0", " ward 03 ")]
['3', '3', '3', '3', '3']
>>> code_key("E-13"), code_key("e13"), code_key("0A1"), code_key("A01")
('E13', 'E13', 'A1', 'A1')
>>> code_key("306.0"), code_key("0306"), code_key("District 8"), code_key("CD 15")
('306', '306', '8', '15')
>>> [code_key(v) for v in ("", "  ", "0.0", "0", "nan", "NULL", None, "3.5")]
[None, None, None, None, None, None, None, None]
>>> name_key("Belair-Edison") == name_key(" belair  EDISON ")
True
>>> name_key("St. Paul"), name_key(""), name_key(None)
('ST PAUL', None, None)
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Literal

LabelKind = Literal["code", "name"]

# words a city may put before the number of an area ("Ward 3", "District 8", "CD 15", "Precinct 6")
PREFIX_WORDS = (
    "WARD",
    "PRECINCT",
    "COUNCIL DISTRICT",
    "COUNCIL",
    "DISTRICT",
    "DIST",
    "CD",
    "NC",
    "AREA",
    "NO",
)
MISSING = frozenset({"", "NAN", "NONE", "NULL", "NA", "N/A", "-", "--", "?", "UNKNOWN", "<NA>", "NAT"})

_PREFIX = re.compile(r"^(?:" + "|".join(re.escape(w) for w in PREFIX_WORDS) + r")\.?\s*(?=\d)")
_FLOAT_INT = re.compile(r"^(\d+)\.0*$")
_SEPARATORS = re.compile(r"[\s\-_./#]+")
_DIGITS = re.compile(r"\d+")


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer():
            return str(int(value))
    text = unicodedata.normalize("NFKC", str(value)).strip().upper()
    return None if text in MISSING else text


def code_key(value: object, *, zero_is_missing: bool = True) -> str | None:
    """One key for a code-like area label, or ``None`` when it is empty or impossible.

    Upper case; a leading word such as "Ward" / "District" / "CD" dropped; a float that is an
    integer ("306.0") read as that integer; separators (space, "-", "_", ".", "/") removed;
    leading zeros of every number dropped ("03" -> "3", "A01" -> "A1"). A code of zero ("0",
    "0.0") is missing unless ``zero_is_missing`` is false; a float with a fraction ("3.5") is
    not a code and is missing too.
    """
    text = _text(value)
    if text is None:
        return None
    text = _PREFIX.sub("", text)
    m = _FLOAT_INT.match(text)
    if m:
        text = m.group(1)
    elif re.fullmatch(r"\d*\.\d+", text):
        return None  # "3.5": a measurement, not a code
    text = _SEPARATORS.sub("", text)
    if not text or not text.isalnum():
        return None
    text = _DIGITS.sub(lambda d: str(int(d.group(0))), text)
    text = text.lstrip("0") if not text.isdigit() else text
    if text == "0" and zero_is_missing:
        return None
    return text or None


def name_key(value: object) -> str | None:
    """One key for an area name: upper case, accents and punctuation kept out, spaces collapsed."""
    text = _text(value)
    if text is None:
        return None
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = re.sub(r"[^\w]+", " ", text).strip()
    text = re.sub(r"\s+", " ", text)
    return text or None


def label_key(value: object, kind: LabelKind) -> str | None:
    """:func:`code_key` or :func:`name_key` of ``value``, by ``kind``."""
    if kind == "code":
        return code_key(value)
    if kind == "name":
        return name_key(value)
    raise ValueError(f"kind must be 'code' or 'name', not {kind!r}")
