"""Which encoding a text file from outside is in, when it is not UTF-8 (pure).

Chinese files that are not UTF-8 are GBK/GB18030. But GB18030 decodes almost any byte string,
so a Big5 (Traditional Chinese, Taiwan/Hong Kong) or Shift-JIS (Japanese) file would be read as
mojibake without an error. The rule here, used by every reader (``grid/tabular.py``,
``grid/io.py``):

1. UTF-8 (BOM dropped) when the bytes are UTF-8;
2. else the bytes are decoded *strictly* as GB18030, Big5 (cp950) and Shift-JIS (cp932), and each
   reading is scored by the share of its non-ASCII characters that are common in that encoding's
   language (GB2312 hanzi and punctuation; Big5's 5,401 常用字 and punctuation; kana, JIS level-1
   kanji and punctuation). A Big5 file read as GB18030 is full of kana rows, private-use and GBK
   extension characters; a Shift-JIS one of GBK/3 characters;
3. the file is GB18030 unless another reading is clearly better (``ALT_MIN`` common, GB18030 below
   ``GB_MAX``, at least ``MIN_CHARS`` non-ASCII characters to judge); then it is refused
   (``unsupported_encoding``), naming the encoding it looks like. A file no candidate reads is
   refused too (``malformed_csv``, as before): never a silent guess.

>>> detect("臺北市中正區重慶南路一段122號".encode("big5")).name
'big5'
>>> detect("北京市朝阳区双井街道广渠路8号院".encode("gb18030")).name
'gb18030'
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from grid.errors import InputError

MIN_CHARS = 4  # fewer non-ASCII characters than this: too little to tell, GB18030 is taken
ALT_MIN = 0.9  # another reading is this common ...
GB_MAX = 0.8  # ... and the GB18030 reading less common than this: the file is not GB18030
SAMPLE = 1_000_000  # characters scored (a file is decoded whole, strictly, in every candidate)

LABELS = {
    "gb18030": "GB18030/GBK (Simplified Chinese)",
    "big5": "Big5 (Traditional Chinese)",
    "shift_jis": "Shift-JIS (Japanese)",
}
CODECS = {"gb18030": "gb18030", "big5": "cp950", "shift_jis": "cp932"}
#: GB2312 rows that real Chinese text uses besides hanzi: punctuation, full-width forms, Greek,
#: Cyrillic, pinyin letters, box drawing (rows A4/A5, kana, are what Big5 text turns into)
_GB_SYMBOL_ROWS = {0xA1, 0xA2, 0xA3, 0xA6, 0xA7, 0xA8, 0xA9}


@dataclass(frozen=True)
class Reading:
    name: str  # gb18030 | big5 | shift_jis
    text: str | None  # None: the bytes are not valid in this encoding
    common: float  # share of the non-ASCII characters that are common in this encoding's language
    chars: int  # non-ASCII characters


@dataclass(frozen=True)
class Detected:
    name: str  # utf-8 | gb18030 | big5 | shift_jis | unknown
    text: str | None  # the text when it is to be used (UTF-8, GB18030), else None
    readings: tuple[Reading, ...] = ()

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)


def _common_gb(b: bytes) -> bool:
    if len(b) != 2 or b[1] < 0xA1:
        return False
    return 0xB0 <= b[0] <= 0xF7 or b[0] in _GB_SYMBOL_ROWS


def _common_big5(b: bytes) -> bool:
    if len(b) != 2:
        return False
    code = b[0] << 8 | b[1]
    return 0xA140 <= code <= 0xA3BF or 0xA440 <= code <= 0xC67E


def _common_sjis(b: bytes) -> bool:
    if len(b) != 2:  # a single byte above ASCII is half-width katakana: rare in real text
        return False
    code = b[0] << 8 | b[1]
    return 0x8140 <= code <= 0x84BE or 0x889F <= code <= 0x9872


_COMMON = {"gb18030": _common_gb, "big5": _common_big5, "shift_jis": _common_sjis}


def _read(raw: bytes, name: str) -> Reading:
    codec = CODECS[name]
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError:
        return Reading(name, None, 0.0, 0)
    is_common = _COMMON[name]
    n = k = 0
    # each distinct character once, over the first SAMPLE characters (the whole file is decoded)
    for ch, times in Counter(text[:SAMPLE]).items():
        if ch < "\x80":
            continue
        n += times
        if is_common(ch.encode(codec)):
            k += times
    return Reading(name, text, k / n if n else 1.0, n)


def detect(raw: bytes) -> Detected:
    """The encoding of ``raw`` by the rule of this module (BOM-less UTF-8 included)."""
    try:
        return Detected("utf-8", raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        pass
    readings = tuple(_read(raw, n) for n in ("gb18030", "big5", "shift_jis"))
    gb, *alts = readings
    valid = [a for a in alts if a.text is not None]
    best = max(valid, key=lambda a: a.common, default=None)
    if gb.text is not None:
        if best is None or gb.chars < MIN_CHARS or best.common < ALT_MIN or gb.common >= GB_MAX:
            return Detected("gb18030", gb.text, readings)
        if best.common <= gb.common:
            return Detected("gb18030", gb.text, readings)
        return Detected(best.name, None, readings)
    if best is not None and best.chars >= MIN_CHARS and best.common >= ALT_MIN:
        return Detected(best.name, None, readings)
    return Detected("unknown", None, readings)


def decode_text(raw: bytes, name: str, *, option: str | None = None) -> str:
    """The text of a file from outside: UTF-8 or GB18030, else :class:`InputError`.

    ``unsupported_encoding`` names the encoding the bytes look like (and ``option``, e.g.
    ``"pass --encoding {enc}"``, when the caller's command can read it directly); ``malformed_csv``
    when no candidate reads them.
    """
    found = detect(raw)
    if found.text is not None:
        return found.text
    if found.name == "unknown":
        raise InputError(f"{name}: not UTF-8 or GB18030 text", code="malformed_csv")
    raise unsupported(name, found.name, option=option)


def unsupported(name: str, encoding: str, *, option: str | None = None) -> InputError:
    """``option``: how else the caller's command reads that encoding, ``{enc}`` standing for it."""
    how = "convert it to UTF-8" + (f", or {option.format(enc=encoding)}" if option else "")
    return InputError(
        f"{name}: not UTF-8, and it looks like {LABELS.get(encoding, encoding)}, not GB18030: "
        f"read as GB18030 it would be mojibake; {how}",
        code="unsupported_encoding",
        details={"encoding": encoding},
    )


def check_gb18030_text(values: list[str], name: str, *, option: str | None = None) -> None:
    """Strings already read as GB18030 (a Shapefile's attributes without a ``.cpg``): refused when
    their bytes read better as Big5 or Shift-JIS (the same rule as :func:`detect`)."""
    try:
        raw = "\n".join(values).encode("gb18030")
    except UnicodeEncodeError:  # not GB18030's own reading: nothing to judge
        return
    found = detect(raw)
    if found.name in ("big5", "shift_jis"):
        raise unsupported(name, found.name, option=option)
