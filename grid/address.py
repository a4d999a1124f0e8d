"""Parse a Chinese (Beijing-style) address into its elements; pure, rule-based, no database.

The address model follows GB/T 35639-2017: 区 → 街道/乡/镇/地区 → 社区/村 → road (街路巷) →
door number (号 / 号院) → compound (小区/院) → building (号楼/栋/幢/座) → unit (单元/门) →
floor → room, plus the colloquial places residents actually write: a landmark (桥, 地铁站, 医院,
路口 ...) and a direction next to it (东南角, 北侧, 门口, 对面 ...).

How it works
------------
1. The text is *folded* one character for one character (full-width → half-width), so every
   span found indexes the caller's input unchanged.
2. From the first position where an element can start, elements are matched one after the
   other with anchored regular expressions (a *chain*); the chain ends at the first text that
   is no address element, or right after a direction word. Names are runs of Chinese
   characters that exclude function words (的, 在, 住, 反映 ...), so petition text before the
   address is skipped, and the petition text after it goes to ``rest``.
3. Each element is normalised: Chinese numerals → digits, 号楼/栋/幢/座/# → one building
   marker, former names → current names (``aliases``), direction synonyms → one word.

Work is bounded: at most ``max_len`` start positions, a fixed number of anchored patterns per
position, and every name is at most a few characters long.

>>> p = parse("朝阳区双井街道九龙社区广渠路8号院富力城十二号楼三单元二十一层2101室")
>>> (p.district, p.street, p.community, p.road, p.door_number)
('朝阳区', '双井街道', '九龙社区', '广渠路', '8')
>>> (p.compound, p.building, p.unit, p.floor, p.room)
('富力城', '12', '3', '21', '2101')
>>> p = parse("广渠门外大街8号院北侧路灯不亮")
>>> (p.road, p.compound, p.direction, p.rest)
('广渠门外大街', '8号院', '北侧', '路灯不亮')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from grid.errors import InputError

__all__ = [
    "DEFAULT_ALIASES",
    "LABELS",
    "MAX_LEN",
    "ParsedAddress",
    "cn_number",
    "fold",
    "normalise",
    "parse",
]

MAX_LEN: Final = 500

#: The elements of an address, in the order of the model (landmark and direction last).
LABELS: Final = (
    "district",
    "street",
    "community",
    "road",
    "door_number",
    "compound",
    "building",
    "unit",
    "floor",
    "room",
    "landmark",
    "direction",
)

#: Former names → current names (Beijing): merged districts, counties that became districts.
DEFAULT_ALIASES: Final[Mapping[str, str]] = {
    "崇文区": "东城区",  # merged into 东城区 in 2010
    "宣武区": "西城区",  # merged into 西城区 in 2010
    "密云县": "密云区",  # became a district in 2015
    "延庆县": "延庆区",  # became a district in 2015
}


@dataclass
class ParsedAddress:
    """The elements of one address, normalised; ``None`` where the text does not say.

    ``spans`` maps each label found to ``(start, end)`` in the *input* text (the raw element
    is ``text[start:end]``); ``rest`` is the input outside the address (petition text).
    ``elements`` lists every element matched in order, also a second one of the same label
    (only the first fills the field), as ``(label, normalised value, start, end)``.
    """

    district: str | None = None
    street: str | None = None
    community: str | None = None
    road: str | None = None
    door_number: str | None = None
    compound: str | None = None
    building: str | None = None
    unit: str | None = None
    floor: str | None = None
    room: str | None = None
    landmark: str | None = None
    direction: str | None = None
    rest: str = ""
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    elements: list[tuple[str, str, int, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: every label, ``rest`` and ``spans`` (as ``[start, end]`` lists).

        >>> parse("双井桥东南角").to_dict()["landmark"]
        '双井桥'
        """
        out: dict[str, Any] = {label: getattr(self, label) for label in LABELS}
        out["rest"] = self.rest
        out["spans"] = {k: [s, e] for k, (s, e) in self.spans.items()}
        return out

    @property
    def empty(self) -> bool:
        """True when no element was found."""
        return not self.spans


# --- normalisation -----------------------------------------------------------------------------

_FOLD: Final = {i: i - 0xFEE0 for i in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def fold(text: str) -> str:
    """Full-width ASCII → half-width, ideographic space → space; the length never changes.

    >>> fold("１２号楼Ａ座＃３")
    '12号楼A座#3'
    """
    return text.translate(_FOLD)


_CN_DIGITS: Final = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS: Final = {"十": 10, "百": 100, "千": 1000}
_CN_NUM: Final = "零〇一二两三四五六七八九十百千"


def cn_number(s: str) -> int | None:
    """The value of a Chinese (or Arabic) numeral; ``None`` when ``s`` is not one.

    Positional numerals (十二, 一百零五) and digit-by-digit ones (一二零一 → 1201) are read.

    >>> [cn_number(x) for x in ("十二", "二十一", "一百零五", "两", "〇", "十", "一二零一", "１２", "abc")]
    [12, 21, 105, 2, 0, 10, 1201, 12, None]
    """
    s = fold(s).strip()
    if not s:
        return None
    if s.isascii() and s.isdigit():
        return int(s)
    if any(c not in _CN_NUM for c in s):
        return None
    if not any(c in _CN_UNITS for c in s):  # digit by digit: 一二零一
        return int("".join(str(_CN_DIGITS[c]) for c in s))
    total, digit, last_unit = 0, None, 10_000
    for c in s:
        if c in _CN_DIGITS:
            if digit is not None and _CN_DIGITS[c] != 0:
                return None  # two digits in a row inside a positional numeral
            digit = _CN_DIGITS[c] or None
        else:
            unit = _CN_UNITS[c]
            if unit >= last_unit:
                return None
            total += (1 if digit is None else digit) * unit
            digit, last_unit = None, unit
    return total + (digit or 0)


_NUM_BEFORE_MARKER: Final = re.compile(rf"[{_CN_NUM}]+(?=号|单元|层|楼|室|栋|幢|座|户|弄|门(?!口|前|外|内))")
_BUILDING_MARKER: Final = re.compile(r"(?<=[0-9A-Za-z])(?:号楼|号栋|号幢|号座|栋|幢|座|#楼|#)")
_SPACE: Final = re.compile(r"\s+")


def _digits(m: re.Match[str]) -> str:
    n = cn_number(m.group(0))
    return m.group(0) if n is None else str(n)


def normalise(text: str) -> str:
    """Fold full-width characters, drop whitespace, read Chinese numerals before a marker
    (号, 号楼, 单元, 层, 楼, 室 ...) as digits and write every building marker as 号楼.

    >>> normalise("富力城 十二栋 三单元 二十一层 ２１０１室")
    '富力城12号楼3单元21层2101室'
    >>> normalise("3#楼"), normalise("B座"), normalise("5幢"), normalise("劲松八区")
    ('3号楼', 'B号楼', '5号楼', '劲松八区')
    """
    out = _SPACE.sub("", fold(text))
    out = _NUM_BEFORE_MARKER.sub(_digits, out)
    return _BUILDING_MARKER.sub("号楼", out)


# --- the element patterns ----------------------------------------------------------------------

# characters that never belong to a place name: function words of petition text, the markers of
# numbered elements (号, 栋, 层, 室 ...); digits and latin letters are numbers, not names
_NOT_NAME: Final = "的在我你他她住了是反映投诉举报称说请问要没很也就已着过被把从到位于接据因为与或及等线"
_NOT_NAME_MARKERS: Final = "号栋幢层室单"
_NC: Final = rf"(?:(?![{_NOT_NAME}{_NOT_NAME_MARKERS}])[\u3400-\u4dbf\u4e00-\u9fffA-Za-z])"
_N: Final = rf"(?:\d+|[{_CN_NUM}]{{1,6}})"
_SEP: Final = re.compile(r"[\s_,，、]*")
_SEP_INNER: Final = re.compile(r"[\s_]*")


def _name(lo: int, hi: int) -> str:
    return f"{_NC}{{{lo},{hi}}}?"


_ADMIN: Final = re.compile(
    rf"({_name(1, 8)})(?:(特别行政区|自治区|自治州|省|市)"
    r"|((?<![小社园校厂营片地一二三四五六七八九十])区|县|旗)(?!小区|社区|[0-9]|号|路|街|大街|道|店|委))"
)
_STREET: Final = re.compile(
    rf"{_name(1, 8)}(?:街道办事处|街道办|街道|地区办事处|地区|乡|镇)(?!政府|中心|卫生院)"
)
_COMMUNITY: Final = re.compile(
    rf"{_name(1, 10)}(?:社区居委会|社区居民委员会|社区|居委会|村民委员会|村委会|村(?![大东西南北中]?(?:街|路|道|小区)))"
)
_CROSSING: Final = re.compile(
    rf"{_name(1, 10)}(?:与|和|、|/){_name(1, 10)}(?:十字路口|交叉路口|交叉口|交口|路口)"
    rf"|{_name(1, 10)}(?:十字路口|交叉路口|交叉口|路口)"
    rf"|{_name(1, 8)}(?<!路)桥(?![东西南北]?路|[东西南北]?街|下|上)"
)
_ROAD_SEGMENT: Final = rf"(?:[东西南北中]段|{_N}段)?"
_ROAD: Final = re.compile(
    rf"{_name(1, 12)}(?:大街|大道|胡同|公路|街|路|道|巷|弄|条)(?!口|灯|面){_ROAD_SEGMENT}"
)
_ROAD_LI: Final = re.compile(rf"{_name(1, 6)}里(?=[0-9]|[{_CN_NUM}]+号|$|[\s,，])")
_DOOR_YARD: Final = re.compile(rf"({_N}(?:[-之]\d+)?)号院")
_DOOR: Final = re.compile(rf"({_N}(?:[-之]\d+)?)(?:号|弄)(?!楼|院|线)")
_TRIPLE: Final = re.compile(r"(\d+)-(\d+)-(\d+)(?![\d-])")
_BUILDING: Final = re.compile(rf"({_N}|[A-Za-z])(?:号楼|号栋|号幢|号座|栋|幢|座|#楼?)")
_BUILDING_LOU: Final = re.compile(rf"({_N}|[A-Za-z])楼(?!道|梯|下|上|顶|前|后)")
_UNIT: Final = re.compile(rf"({_N})(?:单元|门(?!口|前|外|内|面))")
_FLOOR: Final = re.compile(rf"(负|地下|B|-)?({_N})(?:层|楼(?!道|梯|下|上|顶|前|后))")
_ROOM: Final = re.compile(rf"({_N}|[A-Za-z]?\d+)(?:室|号|户)|(\d{{3,5}})(?!\d)")
_LANDMARK: Final = re.compile(
    rf"(?:地铁{_N}号线)?{_name(1, 10)}(?:地铁站|公交站|火车站|汽车站|菜市场|农贸市场|市场|公园|医院|卫生院|"
    r"小学|中学|大学|学院|学校|幼儿园|超市|商场|银行|酒店|宾馆|派出所|政府|站)"
    r"(?:[A-Za-z0-9]{1,3}口|[东西南北]口)?"
)
_COMPOUND: Final = re.compile(
    rf"{_name(1, 12)}(?:小区|家园|花园|花苑|公寓|大厦|大楼|新村|广场|中心|有限公司|公司|工厂|厂|苑|院|城|园|府|庭|湾|里)"
    r"(?![东西南北]?[路街])"
)
_DIRECTION: Final = re.compile(
    r"(东南角|西南角|东北角|西北角|东南侧|西南侧|东北侧|西北侧|东侧|西侧|南侧|北侧|东边|西边|南边|北边|"
    r"东面|西面|南面|北面|东门|西门|南门|北门|正门|门口|门前|对面|对过|附近|旁边|周边|边上|楼下|后面|背后|"
    r"里面|内|[东西南北]|旁)(?:约?[0-9]+米(?:处|左右)?)?"
)
_DIRECTION_ALIASES: Final = {
    "东边": "东侧",
    "西边": "西侧",
    "南边": "南侧",
    "北边": "北侧",
    "东面": "东侧",
    "西面": "西侧",
    "南面": "南侧",
    "北面": "北侧",
    "东": "东侧",
    "西": "西侧",
    "南": "南侧",
    "北": "北侧",
    "门前": "门口",
    "对过": "对面",
    "旁边": "附近",
    "周边": "附近",
    "边上": "附近",
    "旁": "附近",
    "里面": "内",
    "背后": "后面",
}
_BELOW_COMMUNITY: Final = frozenset(LABELS[3:])
_DROP_ADMIN: Final = ("省", "自治区", "特别行政区", "自治州")
_MUNICIPALITIES: Final = ("北京市", "天津市", "上海市", "重庆市", "北京", "天津", "上海", "重庆")


def _num(text: str) -> str:
    """Normalised number of a numbered element: digits, '-' between parts."""
    t = normalise(text).replace("之", "-")
    if t.isascii():
        return t.upper() if len(t) == 1 and t.isalpha() else t
    n = cn_number(t)
    return t if n is None else str(n)


def _clean_street(v: str) -> str:
    return re.sub(r"(办事处|办)$", "", v)


def _clean_community(v: str) -> str:
    v = re.sub(r"(居民委员会|居委会)$", "", v)
    v = re.sub(r"(村民委员会|村委会)$", "村", v)
    return v


@dataclass
class _Chain:
    text: str  # folded input
    start: int
    end: int
    elements: list[tuple[str, str, int, int]]


def _chain(t: str, pos: int) -> _Chain | None:
    """Match address elements one after the other from ``pos``; None when none matches there."""
    els: list[tuple[str, str, int, int]] = []
    have: set[str] = set()
    cur = pos
    begin: int | None = None  # where the first thing matched starts (also a dropped city)
    n = len(t)

    def add(label: str, value: str, s: int, e: int) -> None:
        els.append((label, value, s, e))
        have.add(label)

    while cur < n:
        if els:
            cur = _SEP_INNER.match(t, cur).end()  # type: ignore[union-attr]
        if cur >= n:
            break
        m: re.Match[str] | None
        matched = False
        # administrative units: province/city dropped, the district kept
        low = bool(have & _BELOW_COMMUNITY)
        m = None if low else _ADMIN.match(t, cur)
        if m and "street" not in have:
            unit = m.group(0)
            kind = m.group(2) or m.group(3)
            if not (kind in _DROP_ADMIN or unit in _MUNICIPALITIES):
                if kind == "市":
                    nxt = _SEP_INNER.match(t, m.end()).end()  # type: ignore[union-attr]
                    if _STREET.match(t, nxt) or _COMMUNITY.match(t, nxt):
                        add("district", unit, m.start(), m.end())  # county-level city
                else:
                    add("district", unit, m.start(), m.end())
            cur, matched = m.end(), True
        elif not low and (m := _STREET.match(t, cur)):
            add("street", _clean_street(normalise(m.group(0))), m.start(), m.end())
            cur, matched = m.end(), True
        elif not low and (m := _COMMUNITY.match(t, cur)):
            add("community", _clean_community(normalise(m.group(0))), m.start(), m.end())
            cur, matched = m.end(), True
        elif m := _CROSSING.match(t, cur):
            add("landmark", normalise(m.group(0)), m.start(), m.end())
            cur, matched = m.end(), True
        elif (m := _ROAD.match(t, cur)) or (m := _ROAD_LI.match(t, cur)):
            add("road", normalise(m.group(0)), m.start(), m.end())
            cur, matched = m.end(), True
        elif m := _TRIPLE.match(t, cur):
            for label, g in (("building", 1), ("unit", 2), ("room", 3)):
                add(label, _num(m.group(g)), m.start(g), m.end(g))
            cur, matched = m.end(), True
        elif m := _DOOR_YARD.match(t, cur):
            add("door_number", _num(m.group(1)), m.start(1), m.end(1))
            add("compound", normalise(m.group(0)), m.start(), m.end())
            cur, matched = m.end(), True
        elif (m := _DOOR.match(t, cur)) and not have & {"building", "unit", "floor", "compound"}:
            add("door_number", _num(m.group(1)), m.start(), m.end())
            cur, matched = m.end(), True
        elif m := _BUILDING.match(t, cur):
            add("building", _num(m.group(1)), m.start(), m.end())
            cur, matched = m.end(), True
        elif m := _UNIT.match(t, cur):
            add("unit", _num(m.group(1)), m.start(), m.end())
            cur, matched = m.end(), True
        elif (
            (m := _BUILDING_LOU.match(t, cur))
            and not have & {"building", "unit"}
            and _UNIT.match(
                t,
                _SEP_INNER.match(t, m.end()).end(),  # type: ignore[union-attr]
            )
        ):  # 'N楼' is a building only when a unit follows ('3楼2单元'); else a floor
            add("building", _num(m.group(1)), m.start(), m.end())
            cur, matched = m.end(), True
        elif (m := _FLOOR.match(t, cur)) and "floor" not in have:
            value = _num(m.group(2))
            add("floor", f"-{value}" if m.group(1) else value, m.start(), m.end())
            cur, matched = m.end(), True
        elif (m := _ROOM.match(t, cur)) and have & {"building", "unit", "floor", "door_number", "compound"}:
            add("room", _num(m.group(1) or m.group(2)), m.start(), m.end())
            cur, matched = m.end(), True
        elif m := _LANDMARK.match(t, cur):
            add("landmark", normalise(m.group(0)), m.start(), m.end())
            cur, matched = m.end(), True
        elif m := _COMPOUND.match(t, cur):
            add("compound", normalise(m.group(0)), m.start(), m.end())
            cur, matched = m.end(), True
        elif els and (m := _DIRECTION.match(t, cur)):
            word = m.group(1)
            add("direction", _DIRECTION_ALIASES.get(word, word), m.start(), m.end())
            cur = m.end()
            break  # a direction closes the address: what follows is the petition
        if not matched:
            break
        if begin is None and m is not None:
            begin = m.start()
    if not els:
        return None
    return _Chain(t, els[0][2] if begin is None else begin, els[-1][3], els)


def _alias(value: str, aliases: Mapping[str, str]) -> str:
    return aliases.get(value, value)


def parse(text: str, *, aliases: Mapping[str, str] | None = None, max_len: int = MAX_LEN) -> ParsedAddress:
    """Split an address (also one inside petition text) into its normalised elements.

    Parameters
    ----------
    text
        The address, or petition text that contains one.
    aliases
        Former name → current name for districts, streets (renamed townships) and communities;
        ``None`` uses :data:`DEFAULT_ALIASES`.
    max_len
        Longer input is refused (the work is linear in the length, but bounded all the same).

    Returns
    -------
    ParsedAddress
        Empty (no element, ``rest`` = the stripped text) when no address is found.

    Raises
    ------
    InputError
        ``empty_address`` for empty or blank text; ``address_too_long`` beyond ``max_len``.

    Examples
    --------
    >>> parse("劲松八区小区门口").to_dict() | {"spans": None, "rest": None}  # doctest: +NORMALIZE_WHITESPACE
    {'district': None, 'street': None, 'community': None, 'road': None, 'door_number': None,
     'compound': '劲松八区小区', 'building': None, 'unit': None, 'floor': None, 'room': None,
     'landmark': None, 'direction': '门口', 'rest': None, 'spans': None}
    >>> parse("将台乡驼房营村", aliases={"将台乡": "将台地区"}).street
    '将台地区'
    >>> parse("hello world").empty
    True
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError("the address is empty", code="empty_address")
    if len(text) > max_len:
        raise InputError(
            f"the address is {len(text)} characters long; at most {max_len} are accepted",
            code="address_too_long",
            details={"length": len(text), "max_len": max_len},
        )
    table = DEFAULT_ALIASES if aliases is None else aliases
    t = fold(text)
    best: _Chain | None = None
    for i in range(len(t)):
        if not _could_start(t, i):
            continue
        best = _chain(t, i)
        if best is not None:
            break
    out = ParsedAddress()
    if best is None:
        out.rest = text.strip()
        return out
    fix: dict[str, Callable[[str], str]] = {
        "district": lambda v: _alias(v, table),
        "street": lambda v: _alias(v, table),
        "community": lambda v: _alias(v, table),
    }
    for label, value, s, e in best.elements:
        value = fix.get(label, lambda v: v)(value)
        out.elements.append((label, value, s, e))
        if label not in out.spans or (label == "compound" and _YARD.fullmatch(out.compound or "")):
            # a named compound wins over 'N号院' (the door number keeps the N)
            setattr(out, label, value)
            out.spans[label] = (s, e)
    before, after = text[: best.start], text[best.end :]
    out.rest = " ".join(p for p in (_strip(before), _strip(after)) if p)
    return out


_YARD: Final = re.compile(r"[0-9-]+号院")
_START: Final = re.compile(rf"{_NC}|[0-9A-Za-z]")


def _could_start(t: str, i: int) -> bool:
    return _START.match(t, i) is not None


def _strip(s: str) -> str:
    return s.strip(" \t\r\n_,，、。；;:：!！?？")
