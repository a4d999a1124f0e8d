"""Geocoding free-text addresses: accuracy, review share and speed of ``grid.geocode``, beside jionlp.

Two query sets, reported separately:

* **(a) hand-written**: ``data/geocode_queries/shuangjing_handwritten.csv`` (see its README), each
  row labelled with its building, compound, road + door, landmark, crossing, community, or
  ``review`` / ``none``. A building row's expected cell is the building's cell binding in the
  dev database at ``data.sample.SAMPLE_VALID_FROM`` (``building_cell``);
* **(b) generated**: built deterministically (seeded RNG) from the benchmark gazetteer's buildings,
  with the same kinds of noise as (a): typos, homophones, Chinese numerals, full-width digits,
  栋/幢/座/# markers, missing levels, the address buried in a complaint; each labelled with its
  building (and that building's cell).

The gazetteer: the sample street as loaded into the database (``grid.db.geocoding.load_gazetteer``,
with each building's cell binding; the sample is loaded first if missing), **replicated** into a
Beijing-size one: copy ``k`` of the street gets a distinct two-character prefix on every road,
compound, landmark and community name, lies in a real Beijing street and district (from
``data/build/beijing_street.geojson``; codes and points moved accordingly), and copy 0 is the
sample itself, unchanged. Deterministic; ``places`` places in all.

Per set: building and cell accuracy **on answered queries** (answered = ``status == "matched"`` at
building, compound or road + door number; a coarser answer counts as sent to review), the share
sent to review (``needs_review``, ``no_match`` or a coarser answer) and addresses per second (one
process, best of one pass). Rows labelled ``review`` / ``none`` are scored apart: how many we
wrongly answered. Baseline in the same run: ``jionlp.parse_location`` on the same queries,
district (its ``county``) and street (its ``town``) accuracy beside ours (the district and street
of the place we answer).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import random
import re
import resource
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import shapely

from benchmarks._common import Row, check_size, print_table, timed
from grid.gazetteer import Gazetteer, Place
from grid.geocode import GeocodeResult, geocode_many

NAME: Final = "geocode"
DESCRIPTION: Final = (
    "free-text address -> building/cell on a >=1M-place Beijing-size gazetteer: accuracy on answered "
    "queries, share sent to review, addresses/s; district/street accuracy vs jionlp.parse_location"
)

SEED: Final = 20240617
SIZES: Final[dict[str, dict[str, int]]] = {
    "toy": {"handwritten": 40, "generated": 200, "places": 20_000},
    "full": {"handwritten": 10_000, "generated": 5_000, "places": 1_000_000},
}
QUERIES: Final = (
    Path(__file__).resolve().parent.parent / "data" / "geocode_queries" / "shuangjing_handwritten.csv"
)
DISTRICTS: Final = Path(__file__).resolve().parent.parent / "data" / "build" / "beijing_district.geojson"
SHUANGJING: Final = "110105016"

#: levels that count as an answer (at least road + door number)
ANSWERED: Final = frozenset({"building", "compound", "road_number"})
#: levels that are addresses (the targets of the review-share figure)
ADDRESS_LEVELS: Final = frozenset({"building", "compound", "road_number"})

# characters for the copies' name prefixes: none of them a numeral, a marker, a direction or an
# administrative suffix, so a prefix never changes how a name parses
_PREFIX_CHARS: Final = "安宝昌德丰海恒宏吉锦康兰茂明宁鹏庆瑞盛泰祥兴裕振智卓燕翠碧彩春秋雅静融达"
_HOMOPHONES: Final = {
    "九": "久",
    "柳": "六",
    "厂": "场",
    "井": "景",
    "园": "圆",
    "里": "理",
    "龙": "隆",
    "花": "华",
    "富": "福",
    "力": "立",
    "城": "成",
    "港": "岗",
    "国": "果",
    "际": "记",
    "嘉": "佳",
    "和": "合",
    "家": "佳",
    "乐": "勒",
    "平": "苹",
    "村": "存",
    "广": "光",
    "望": "旺",
    "杨": "阳",
    "垂": "锤",
    "磨": "摩",
    "劲": "进",
    "松": "淞",
    "金": "今",
    "百": "柏",
    "子": "紫",
    "木": "目",
    "黄": "皇",
    "双": "爽",
    "兴": "星",
    "茂": "贸",
    "安": "按",
    "宝": "保",
    "德": "得",
    "海": "还",
    "康": "抗",
    "明": "名",
    "瑞": "锐",
    "盛": "胜",
    "祥": "详",
    "庆": "青",
    "泰": "太",
    "恒": "衡",
    "宏": "红",
    "锦": "进",
    "兰": "蓝",
    "宁": "凝",
    "鹏": "朋",
    "裕": "玉",
    "振": "镇",
    "智": "志",
    "卓": "桌",
    "燕": "雁",
    "翠": "脆",
    "碧": "必",
    "彩": "菜",
    "春": "纯",
    "秋": "丘",
    "雅": "亚",
    "静": "敬",
    "融": "荣",
    "达": "答",
    "昌": "常",
    "丰": "风",
    "吉": "及",
}
_TYPO_CHARS: Final = "的是在有人这大为上来们生到地出就分对成会可发动同工能过说种面而方后定行学法所民得经"
_CN_DIGITS: Final = "零一二三四五六七八九"
_FULLWIDTH: Final = str.maketrans("0123456789", "０１２３４５６７８９")
_COMPLAINTS: Final = (
    "我是{a}的住户，楼下餐馆油烟太大，多次反映无人处理",
    "反映{a}门口垃圾堆放多日没人清理，味道很大",
    "{a}楼道灯坏了一个月了，请尽快维修",
    "您好，{a}有人在楼道里给电动车充电，存在安全隐患。",
    "投诉：{a}附近施工噪音扰民，晚上十一点还在施工",
    "{a}暖气不热，家里只有十六度，希望尽快解决",
)
_STREET_SUFFIXES: Final = ("街道办事处", "地区办事处", "办事处", "街道", "地区", "镇", "乡")


# --- the Beijing-size gazetteer ---------------------------------------------------------------------


def _ensure_sample() -> None:
    from data.sample import SAMPLE_VALID_FROM, load_sample
    from grid.db.engine import session_scope
    from grid.db.store import units_at

    with session_scope() as s:
        have = len(units_at(s, SAMPLE_VALID_FROM, "grid"))
    if have == 0:
        from data.sample import BUILD_DIR

        load_sample(BUILD_DIR)


def _sample_gazetteer() -> tuple[Gazetteer, dict[str, str]]:
    """The sample gazetteer from the database, and ``building_id -> cell_code`` at the sample date."""

    from data.sample import SAMPLE_VALID_FROM
    from grid.db.engine import session_scope
    from grid.db.geocoding import load_gazetteer
    from grid.db.store import cell_bindings

    _ensure_sample()
    with session_scope() as s:
        gaz = load_gazetteer(s, SAMPLE_VALID_FROM)
        cells = cell_bindings(s, SAMPLE_VALID_FROM)
    return gaz, cells


def _short(name: str) -> str:
    for suf in _STREET_SUFFIXES:
        if name.endswith(suf) and len(name) > len(suf) + 1:
            return name[: -len(suf)]
    return name


@dataclass(frozen=True)
class _Copy:
    k: int
    prefix: str
    district_code: str
    district_name: str
    street_code: str
    street_name: str
    community_suffix: dict[str, str]  # original community code -> the copy's community code
    dx: float
    dy: float


class _Template:
    """The sample's places, each text field split once into literal text and renameable names."""

    def __init__(self, places: Sequence[Place]) -> None:
        self.places = [p for p in places if p.kind not in ("street", "district")]
        names: set[str] = set()
        self.district_names = {p.name for p in places if p.kind == "district"}
        self.street_names: set[str] = set()
        for p in places:
            if p.kind in ("road", "compound", "landmark"):
                names.add(p.name)
            elif p.kind == "community":
                names |= {p.name, *p.aliases}
            elif p.kind == "street":
                self.street_names |= {p.name}
        names = {n for n in names if len(n) >= 2}
        self.renamed = names
        alts = sorted(names | self.district_names | self.street_names, key=len, reverse=True)
        self._re = re.compile("|".join(re.escape(a) for a in alts))
        self._cache: dict[str, list[tuple[bool, str]]] = {}
        self.communities = sorted(
            {p.community_code for p in places if p.kind == "community" and p.community_code}
        )
        pts = np.array([(p.lon, p.lat) for p in self.places if math.isfinite(p.lon)])
        self.centre = (float(pts[:, 0].mean()), float(pts[:, 1].mean()))

    def parts(self, s: str) -> list[tuple[bool, str]]:
        got = self._cache.get(s)
        if got is None:
            got, last = [], 0
            for m in self._re.finditer(s):
                if m.start() > last:
                    got.append((False, s[last : m.start()]))
                got.append((True, m.group(0)))
                last = m.end()
            if last < len(s):
                got.append((False, s[last:]))
            self._cache[s] = got
        return got

    def rename(self, s: str | None, c: _Copy) -> str | None:
        if s is None:
            return None
        out = []
        for is_name, t in self.parts(s):
            if not is_name:
                out.append(t)
            elif t in self.district_names:
                out.append(c.district_name)
            elif t in self.street_names:
                out.append(c.street_name)
            else:
                out.append(c.prefix + t)
        return "".join(out)


def _copies(template: _Template, n: int) -> list[_Copy]:
    """``n`` copies (copy 0 is the sample itself) spread over Beijing's real streets, deterministically."""
    import geopandas as gpd

    from data.sample import build_files

    streets = gpd.read_file(build_files()["street"])  # the cached sample layers (built if missing)
    districts = gpd.read_file(DISTRICTS)
    dname = dict(zip(districts["code"].astype(str), districts["name"].astype(str), strict=True))
    rows = [
        (str(r.code), str(r.name), str(r.parent_code), r.geometry.representative_point())
        for r in streets.itertuples()
        if str(r.code) != SHUANGJING and str(r.parent_code) in dname
    ]
    rows.sort()
    prefixes = [a + b for a in _PREFIX_CHARS for b in _PREFIX_CHARS if a != b]
    random.Random(SEED).shuffle(prefixes)
    if n - 1 > len(prefixes):
        raise ValueError(f"at most {len(prefixes) + 1} copies of the street, not {n}")
    comms = template.communities
    out = [_Copy(0, "", SHUANGJING[:6], "朝阳区", SHUANGJING, "双井街道", {c: c for c in comms}, 0.0, 0.0)]
    for k in range(1, n):
        code, name, parent, pt = rows[(k - 1) % len(rows)]
        j = (k - 1) // len(rows)  # how many copies this street holds already
        suffix = {c: f"{code}{100 + j * len(comms) + i:03d}" for i, c in enumerate(comms)}
        out.append(
            _Copy(
                k,
                prefixes[k - 1],
                parent,
                dname[parent],
                code,
                name,
                suffix,
                pt.x - template.centre[0] + 0.02 * j,
                pt.y - template.centre[1],
            )
        )
    return out


def _copy_places(template: _Template, c: _Copy) -> list[Place]:
    places: list[Place] = []
    geoms = [p.geometry for p in template.places]
    has = [g is not None for g in geoms]
    moved = shapely.transform(
        np.array([g for g in geoms if g is not None], dtype=object), lambda xy: xy + np.array([c.dx, c.dy])
    )
    it = iter(moved.tolist())
    r = template.rename
    for p, h in zip(template.places, has, strict=True):
        cc = c.community_suffix.get(p.community_code or "", None)
        cell = f"{cc}{p.cell_code[-3:]}" if cc and p.cell_code else None
        street_code = c.street_code if p.kind != "community" else None
        new_id = f"{p.id}@{c.k}"
        places.append(
            replace(
                p,
                id=cc if p.kind == "community" and cc else new_id,
                name=r(p.name, c) or p.name,
                aliases=tuple(r(a, c) or a for a in p.aliases),
                lon=p.lon + c.dx,
                lat=p.lat + c.dy,
                building_id=f"{p.building_id}@{c.k}" if p.building_id else None,
                compound=r(p.compound, c),
                road=r(p.road, c),
                community_code=cc,
                street_code=street_code if cc is None else None,
                district_code=None,
                cell_code=cell,
                geometry=next(it) if h else None,
            )
        )
    return places


def build_gazetteer(sample: Gazetteer, n_places: int) -> tuple[Gazetteer, dict[str, Any]]:
    """The sample replicated to at least ``n_places`` places (see the module docstring)."""
    template = _Template(sample.places)
    per_copy = len(template.places)
    n_copies = max(1, math.ceil((n_places - len(sample.places)) / per_copy) + 1)
    copies = _copies(template, n_copies)
    rss0 = _rss()
    t0 = time.perf_counter()
    places: list[Place] = list(sample.places)
    seen_streets = {SHUANGJING}
    seen_districts = {SHUANGJING[:6]}
    for c in copies[1:]:
        places += _copy_places(template, c)
        if c.street_code not in seen_streets:
            seen_streets.add(c.street_code)
            places.append(
                Place(
                    c.street_code,
                    "street",
                    c.street_name,
                    (_short(c.street_name),),
                    street_code=c.street_code,
                )
            )
        if c.district_code not in seen_districts:
            seen_districts.add(c.district_code)
            places.append(Place(c.district_code, "district", c.district_name, district_code=c.district_code))
    t1 = time.perf_counter()
    gaz = Gazetteer(places)
    t2 = time.perf_counter()
    kinds = Counter(p.kind for p in places)
    info = {
        "places": len(places),
        "addresses": kinds["building"] + kinds["door"] + kinds["compound"],
        "kinds": dict(kinds),
        "copies": n_copies,
        "streets": len(seen_streets),
        "places_s": t1 - t0,
        "index_s": t2 - t1,
        "build_s": t2 - t0,
        "rss_bytes": max(0, _rss() - rss0),
    }
    return gaz, info


def _rss() -> int:
    """Resident memory of this process (bytes), from /proc when there is one."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


# --- the queries ---------------------------------------------------------------------------------


@dataclass
class Query:
    id: str
    text: str
    kind: str
    level: str  # expected level (building ... review, none)
    building_id: str | None = None
    cell_code: str | None = None
    compound: str | None = None
    road: str | None = None
    door_number: str | None = None
    landmark: str | None = None
    community_code: str | None = None
    district: str | None = None  # expected for the jionlp comparison (None: not scored)
    street: str | None = None


def handwritten(limit: int, cells: dict[str, str]) -> list[Query]:
    """Set (a): the hand-written rows (the first ``limit``), building rows with their cell binding."""
    out: list[Query] = []
    with QUERIES.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            b = row["building_id"] or None
            lv = row["expected_level"]
            in_sj = lv != "none"
            out.append(
                Query(
                    row["id"],
                    row["query"],
                    row["kind"],
                    lv,
                    building_id=b,
                    cell_code=cells.get(b) if b else None,
                    compound=row["compound"] or None,
                    road=row["road"] or None,
                    door_number=row["door_number"] or None,
                    landmark=row["landmark"] or None,
                    community_code=row["community_code"] or None,
                    district="朝阳区" if in_sj else None,
                    street="双井街道" if in_sj else None,
                )
            )
            if len(out) >= limit:
                break
    return out


def chinese_number(n: int) -> str:
    """12 -> 十二, 21 -> 二十一, 105 -> 一百零五 (positional, below 10,000)."""
    if n < 10:
        return _CN_DIGITS[n]
    if n < 20:
        return "十" + (_CN_DIGITS[n % 10] if n % 10 else "")
    units = [(1000, "千"), (100, "百"), (10, "十")]
    out, zero = "", False
    for u, name in units:
        d = n // u % 10
        if d:
            if zero:
                out += "零"
            out += _CN_DIGITS[d] + name
            zero = False
        elif out:
            zero = True
    if n % 10:
        out += ("零" if zero else "") + _CN_DIGITS[n % 10]
    return out


def _digits_cn(s: str) -> str:
    return "".join(_CN_DIGITS[int(ch)] if ch.isdigit() else ch for ch in s)


def _typo(rng: random.Random, name: str, start: int = 0) -> str:
    """One wrong (or, in long names, missing) character, never the first (nor in the copy's prefix)."""
    if len(name) - start < 3:
        return name
    lo = start + 1
    i = rng.randrange(lo, len(name) - 1) if len(name) - start > 3 else rng.randrange(lo, len(name))
    if len(name) >= 5 and rng.random() < 0.3:
        return name[:i] + name[i + 1 :]
    ch = rng.choice([c for c in _TYPO_CHARS if c != name[i]])
    return name[:i] + ch + name[i + 1 :]


def _homophone(rng: random.Random, name: str, start: int = 0) -> str | None:
    spots = [i for i, ch in enumerate(name) if ch in _HOMOPHONES and start <= i < len(name) - 1]
    if not spots or len(name) - start < 3:
        return None
    i = rng.choice(spots)
    return name[:i] + _HOMOPHONES[name[i]] + name[i + 1 :]


GEN_KINDS: Final = (
    "full",
    "missing_levels",
    "typo",
    "homophone",
    "chinese_numerals",
    "fullwidth",
    "building_markers",
    "buried",
)


def _names(gaz: Gazetteer) -> tuple[dict[str, str], dict[str, str]]:
    """district and street code -> name."""
    d = {p.district_code or p.id: p.name for p in gaz.places if p.kind == "district"}
    s = {p.street_code or p.id: p.name for p in gaz.places if p.kind == "street"}
    return d, s


def generated(gaz: Gazetteer, n: int, seed: int = SEED) -> list[Query]:
    """Set (b): ``n`` noisy queries for buildings drawn from ``gaz`` with a seeded RNG."""
    rng = random.Random(seed)
    dnames, snames = _names(gaz)
    blds = [i for i, p in enumerate(gaz.places) if p.kind == "building" and p.road and p.door_number]
    out: list[Query] = []
    for q in range(n):
        p = gaz.places[blds[rng.randrange(len(blds))]]
        kind = GEN_KINDS[q % len(GEN_KINDS)]
        district = dnames.get(p.district_code or "", "")
        street = snames.get(p.street_code or "", "")
        road, door, comp, bno = p.road or "", p.door_number or "", p.compound, p.building_no
        tail = (
            f"{rng.randint(1, 6)}单元{rng.randint(1, 20)}{rng.randint(1, 4):02d}"
            if rng.random() < 0.4
            else ""
        )
        head = ["北京市", district, street]
        pl = 2 if "@" in p.id else 0  # noise goes into the sample's name, not the copy's prefix
        if kind == "typo":
            if comp and rng.random() < 0.6:
                comp = _typo(rng, comp, pl)
            else:
                road = _typo(rng, road, pl)
        elif kind == "homophone":
            if comp and (h := _homophone(rng, comp, pl)) is not None:
                comp = h
            elif (h := _homophone(rng, road, pl)) is not None:
                road = h
            elif comp:
                comp = _typo(rng, comp, pl)
            else:
                road = _typo(rng, road, pl)
        bno_txt = f"{bno}号楼" if bno else ""
        door_txt = door
        if kind == "chinese_numerals":
            if bno and bno.isdigit():
                bno_txt = f"{chinese_number(int(bno))}号楼"
            if door.isdigit() and rng.random() < 0.5:
                door_txt = _digits_cn(door) if rng.random() < 0.5 else chinese_number(int(door))
            if tail:
                tail = _digits_cn(tail)
        elif kind == "building_markers" and bno:
            bno_txt = rng.choice([f"{bno}栋", f"{bno}幢", f"{bno}座", f"{bno}#", f"{bno}#楼"])
        if comp:
            body = (
                f"{road}{door_txt}号院{comp}{bno_txt}"
                if rng.random() < 0.7
                else f"{comp}{bno_txt}"
                if kind in ("missing_levels", "buried") and rng.random() < 0.6
                else f"{road}{door_txt}号院{bno_txt}"
                if kind == "missing_levels"
                else f"{comp}{bno_txt}"
            )
        else:
            body = f"{road}{door_txt}号"
        if kind in ("missing_levels", "buried"):
            head = [h for h in head if rng.random() < 0.3]
        text = "".join(head) + body + tail
        if kind == "fullwidth":
            text = text.translate(_FULLWIDTH)
        if kind == "buried":
            text = rng.choice(_COMPLAINTS).format(a=text)
        out.append(
            Query(
                f"GEN-{q + 1:05d}",
                text,
                kind,
                "building",
                building_id=p.building_id,
                cell_code=p.cell_code,
                compound=p.compound,
                road=p.road,
                door_number=p.door_number,
                community_code=p.community_code,
                district=district or None,
                street=street or None,
            )
        )
    return out


# --- scoring -------------------------------------------------------------------------------------


def _place_of(gaz: Gazetteer, r: GeocodeResult) -> Place | None:
    if r.place_id is None:
        return None
    i = gaz.by_id.get(r.place_id)
    return None if i is None else gaz.places[i]


def _level_correct(gaz: Gazetteer, q: Query, r: GeocodeResult) -> bool:
    """Did we name the expected place (at its level, or a finer place inside it)?"""
    if r.status != "matched":
        return False
    p = _place_of(gaz, r)
    if q.level == "building":
        return r.building_id == q.building_id
    if p is None:
        return False
    if q.level == "compound":
        return (p.name if p.kind == "compound" else p.compound) == q.compound
    if q.level == "road_number":
        door = str(r.parsed.get("door_number") or p.door_number or "")
        return p.road == q.road and door == q.door_number
    if q.level in ("landmark", "crossing"):
        return p.kind == q.level and (q.landmark == p.name or q.landmark in p.aliases)
    if q.level == "community":
        return p.kind == "community" and p.community_code == q.community_code
    if q.level == "street":
        return p.kind == "street" or (p.street_code == SHUANGJING and p.kind != "community")
    return False


def _district_street(
    gaz: Gazetteer,
    r: GeocodeResult,
    dnames: dict[str, str],
    snames: dict[str, str],
    road_street: dict[str, str],
) -> tuple[str | None, str | None]:
    """The district and street (names) of the place we answer; of all candidates when they agree."""
    places: list[Place] = []
    p = _place_of(gaz, r)
    if p is not None:
        places = [p]
    else:
        for c in r.candidates:
            cp = gaz.places[gaz.by_id[c["place_id"]]] if c.get("place_id") in gaz.by_id else None
            if cp is not None:
                places.append(cp)
    streets, districts = set(), set()
    for pl in places:
        sc = pl.street_code or (pl.cell_code or "")[:9] or None
        if sc is None and pl.road:
            sc = road_street.get(pl.road)
        streets.add(sc)
        districts.add(pl.district_code or (sc[:6] if sc else None))
    s = snames.get(streets.pop() or "") if len(streets) == 1 else None
    d = dnames.get(districts.pop() or "") if len(districts) == 1 else None
    return d, s


def _road_streets(gaz: Gazetteer) -> dict[str, str]:
    """road name -> street code, when the buildings and compounds on the road all lie in one street."""
    seen: dict[str, set[str]] = defaultdict(set)
    for p in gaz.places:
        if p.kind in ("building", "compound") and p.road and p.street_code:
            seen[p.road].add(p.street_code)
    return {r: next(iter(s)) for r, s in seen.items() if len(s) == 1}


def _same_unit(expected: str | None, got: str | None) -> bool:
    return bool(expected and got) and _short(str(expected)) == _short(str(got))


def score(gaz: Gazetteer, queries: Sequence[Query], results: Sequence[GeocodeResult]) -> dict[str, Any]:
    """Accuracy on answered queries, review share, outcomes per expected level and per kind."""
    placed = [(q, r) for q, r in zip(queries, results, strict=True) if q.level not in ("review", "none")]
    answered = [(q, r) for q, r in placed if r.status == "matched" and r.level in ANSWERED]
    addr = [(q, r) for q, r in placed if q.level in ADDRESS_LEVELS]
    addr_answered = [(q, r) for q, r in addr if r.status == "matched" and r.level in ANSWERED]
    bld_answered = [(q, r) for q, r in answered if q.level == "building" and q.building_id]
    cell_answered = [(q, r) for q, r in bld_answered if q.cell_code]
    other_answered = [(q, r) for q, r in answered if q.level != "building"]
    out: dict[str, Any] = {
        "queries": len(queries),
        "placed": len(placed),
        "answered": len(answered),
        "address_rows": len(addr),
        "address_answered": len(addr_answered),
        "building_answered": len(bld_answered),
        "building_correct": sum(r.building_id == q.building_id for q, r in bld_answered),
        "cell_answered": len(cell_answered),
        "cell_correct": sum(r.cell_code == q.cell_code for q, r in cell_answered),
        "other_answered": len(other_answered),
        "other_correct": sum(_level_correct(gaz, q, r) for q, r in other_answered),
        "status": dict(Counter(r.status for r in results)),
    }
    out["building_accuracy"] = _share(out["building_correct"], out["building_answered"])
    out["cell_accuracy"] = _share(out["cell_correct"], out["cell_answered"])
    out["other_accuracy"] = _share(out["other_correct"], out["other_answered"])
    out["review_share"] = _share(len(addr) - len(addr_answered), len(addr))
    out["review_share_all"] = _share(len(placed) - len(answered), len(placed))
    levels: dict[str, dict[str, int]] = {}
    for q, r in zip(queries, results, strict=True):
        d = levels.setdefault(q.level, Counter())
        d["n"] += 1
        d[r.status] += 1
        if r.status == "matched" and r.level in ANSWERED:
            d["answered"] += 1
        if _level_correct(gaz, q, r):
            d["correct"] += 1
    out["by_level"] = {k: dict(v) for k, v in levels.items()}
    unplaced = [(q, r) for q, r in zip(queries, results, strict=True) if q.level in ("review", "none")]
    out["should_review"] = len(unplaced)
    out["wrongly_answered"] = sum(r.status == "matched" and r.level in ANSWERED for _, r in unplaced)
    out["wrongly_matched_any_level"] = sum(r.status == "matched" for _, r in unplaced)
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    for q, r in placed:
        k = kinds[q.kind]
        k["n"] += 1
        ok = r.status == "matched" and r.level in ANSWERED
        k["answered"] += ok
        if ok and q.cell_code:
            k["cell_answered"] += 1
            k["cell_correct"] += r.cell_code == q.cell_code
        if q.level in ADDRESS_LEVELS and not ok:
            k["to_review"] += 1
    out["by_kind"] = {k: dict(v) for k, v in sorted(kinds.items())}
    failures = [
        {
            "id": q.id,
            "query": q.text,
            "kind": q.kind,
            "expected": q.building_id or q.level,
            "status": r.status,
            "level": r.level,
            "got": r.building_id or r.name,
        }
        for q, r in placed
        if q.level in ADDRESS_LEVELS and not _level_correct(gaz, q, r)
    ]
    out["failures"] = failures[:40]
    return out


def _share(a: int, b: int) -> float | None:
    return a / b if b else None


def admin_accuracy(
    queries: Sequence[Query], predicted: Sequence[tuple[str | None, str | None]]
) -> dict[str, Any]:
    """District and street accuracy over the queries with an expected district/street."""
    rows = [(q, p) for q, p in zip(queries, predicted, strict=True) if q.district or q.street]
    d = [(q.district, p[0]) for q, p in rows if q.district]
    s = [(q.street, p[1]) for q, p in rows if q.street]
    return {
        "rows": len(rows),
        "district": _share(sum(_same_unit(e, g) for e, g in d), len(d)),
        "street": _share(sum(_same_unit(e, g) for e, g in s), len(s)),
    }


def _jionlp() -> tuple[Callable[[str], tuple[str | None, str | None]] | None, str]:
    """jionlp's parse_location as a (district, street) predictor; None and why when unusable."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import jionlp  # prints a banner on import
    except Exception as exc:  # not installed, or broken
        return None, f"{type(exc).__name__}: {exc}"

    def predict(text: str) -> tuple[str | None, str | None]:
        try:
            r = jionlp.parse_location(text, town_village=True)
        except Exception:
            return None, None
        return r.get("county"), r.get("town")

    return predict, f"jionlp {getattr(jionlp, '__version__', '?')}"


# --- the run -------------------------------------------------------------------------------------


def _evaluate(
    gaz: Gazetteer,
    queries: list[Query],
    jio: Callable[[str], tuple[str | None, str | None]] | None,
    names: tuple[dict[str, str], dict[str, str], dict[str, str]],
) -> dict[str, Any]:
    texts = [q.text for q in queries]
    results, seconds = timed(lambda: geocode_many(gaz, texts), 1)
    out = score(gaz, queries, results)
    out["seconds"] = seconds
    out["per_s"] = len(texts) / seconds if seconds > 0 else math.inf
    ours_admin = [_district_street(gaz, r, *names) for r in results]
    out["admin"] = admin_accuracy(queries, ours_admin)
    if jio is None:
        out["jionlp"] = {"unavailable": True}
    else:
        preds, js = timed(lambda: [jio(t) for t in texts], 1)
        out["jionlp"] = {
            **admin_accuracy(queries, preds),
            "seconds": js,
            "per_s": len(texts) / js if js else math.inf,
        }
    return out


def run(size: str) -> dict[str, Any]:
    """Build the gazetteer and both query sets at ``size``; geocode; print the table; return figures."""
    params = dict(SIZES[check_size(size)])
    sample, cells = _sample_gazetteer()
    gaz, ginfo = build_gazetteer(sample, params["places"])
    dnames, snames = _names(gaz)
    names = (dnames, snames, _road_streets(gaz))
    jio, jio_name = _jionlp()
    set_a = handwritten(params["handwritten"], cells)
    set_b = generated(gaz, params["generated"])
    result: dict[str, Any] = {
        "benchmark": NAME,
        "size": size,
        "params": {**params, "seed": SEED},
        "gazetteer": ginfo,
        "baseline": jio_name if jio is not None else None,
    }
    if jio is None:
        result["jionlp_unavailable"] = jio_name
    result["handwritten"] = _evaluate(gaz, set_a, jio, names)
    result["generated"] = _evaluate(gaz, set_b, jio, names)
    # set (a) on the sample gazetteer alone: what the scale costs (accuracy only)
    sj = score(sample, set_a, geocode_many(sample, [q.text for q in set_a]))
    result["handwritten_sample_only"] = {
        k: sj[k] for k in ("cell_accuracy", "building_accuracy", "review_share")
    }

    rows: list[Row] = []
    base = jio_name if jio is not None else "jionlp (unavailable)"
    for key, label in (("handwritten", "(a) hand-written"), ("generated", "(b) generated")):
        r = result[key]
        j = r["jionlp"]
        n_ans = f"{r['cell_answered']} answered"
        rows += [
            Row(
                f"{label} cell accuracy on answered", "", r["cell_accuracy"], "target", 0.95, "higher", n_ans
            ),
            Row(
                f"{label} building accuracy on answered",
                "",
                r["building_accuracy"],
                "target",
                0.95,
                "higher",
                n_ans,
            ),
            Row(
                f"{label} sent to review",
                "",
                r["review_share"],
                "target",
                0.10,
                "lower",
                f"{r['address_rows']} address rows",
            ),
            Row(f"{label} district accuracy", "", r["admin"]["district"], base, j.get("district"), "higher"),
            Row(f"{label} street accuracy", "", r["admin"]["street"], base, j.get("street"), "higher"),
            Row(f"{label} speed", "addr/s", r["per_s"], base, j.get("per_s"), "higher"),
        ]
        if key == "handwritten":
            rows.append(
                Row(
                    f"{label} review/none rows answered",
                    "rows",
                    r["wrongly_answered"],
                    "rows labelled review/none",
                    r["should_review"],
                    "lower",
                )
            )
    result["rows"] = [row.to_dict() for row in rows]
    a, b = result["handwritten"], result["generated"]
    print_table(
        f"geocode ({size}): ours = grid.geocode on a {ginfo['places']:,}-place gazetteer",
        rows,
        [
            f"gazetteer: {ginfo['places']:,} places ({ginfo['kinds'].get('building', 0):,} buildings, "
            f"{ginfo['kinds'].get('compound', 0):,} compounds, {ginfo['kinds'].get('road', 0):,} road segments) "
            f"= the 双井 sample x {ginfo['copies']:,} copies in {ginfo['streets']} real streets; built in "
            f"{ginfo['build_s']:.1f} s (places {ginfo['places_s']:.1f} s, indexes {ginfo['index_s']:.1f} s), "
            f"+{ginfo['rss_bytes'] / 2**20:,.0f} MiB resident",
            f"(a) {a['queries']} hand-written rows ({a['placed']} with a place, {a['should_review']} review/none); "
            f"answered {a['answered']}, non-building answered {a['other_answered']} with "
            f"{a['other_correct']} right; review share over all placed rows "
            f"{_pct(a['review_share_all'])}; on the sample gazetteer alone: cell "
            f"{_pct(sj['cell_accuracy'])}, review {_pct(sj['review_share'])}",
            f"(b) {b['queries']} generated queries (seed {SEED}, kinds {', '.join(GEN_KINDS)}); answered "
            f"{b['answered']}",
            "answered = matched at building, compound or road + door number; coarser answers, needs_review "
            "and no_match count as sent to review; targets: cell >= 95%, review <= 10%, >= 10,000 addr/s",
            "district/street: of the place we answer (or of all candidates when they agree) vs jionlp's "
            "county/town; (a) expects 朝阳区/双井街道 on every row not labelled none",
        ],
    )
    return result


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"
