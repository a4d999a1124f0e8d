"""An in-memory gazetteer of standard addresses: the places a geocoder matches text against.

A :class:`Place` is one named thing with a point: a building, a compound (小区/院), a road segment
(with its door-number ranges), a door (门牌), a landmark (桥, 地铁站出口, 市场 ...), a road crossing,
or an administrative unit (community, street, district). :class:`Gazetteer` indexes them for
:mod:`grid.geocode`:

* normalised name (and every alias) -> places, per kind; names go through
  :func:`grid.address.normalise`, so full-width digits, Chinese numerals before a marker and
  号楼/栋/幢/座/# all meet in one key;
* ``(road, door number)`` -> the door, stand-alone building or compound (``广渠路8号院``) there;
* ``(compound, building number)`` -> building, compound -> its buildings, road -> compounds on it,
  community/street -> compounds in it (the candidate sets fuzzy lookups are restricted to);
* crossings by the unordered pair of their roads (``A与B交叉口`` = ``B和A路口``);
* a KD-tree on buildings and doors for :func:`grid.geocode.reverse`.

Pure: no database. Community/street/district codes follow the NBS division codes (12/9/6
digits), so a place's street and district code default to prefixes of its community code.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein
from scipy.spatial import cKDTree

from grid.address import DEFAULT_ALIASES, normalise
from grid.errors import InputError

__all__ = ["KINDS", "Gazetteer", "Place", "crossing_key", "name_key"]

KINDS: Final = (
    "building",
    "compound",
    "road",
    "door",
    "landmark",
    "crossing",
    "community",
    "street",
    "district",
)

#: metres per degree of latitude (mean, WGS84); a degree of longitude is this times cos(lat)
_M_PER_DEG: Final = 111_195.0

_LEVEL_BY_LENGTH: Final = {6: "district", 9: "street", 12: "community", 15: "grid"}  # NBS / DB11 codes
_CROSS_SPLIT: Final = re.compile(r"与|和|、|/|×|x(?=[\u4e00-\u9fff])")
_CROSS_SUFFIX: Final = re.compile(r"(十字路口|交叉路口|交叉口|交口|路口)?(\(\d+\))?$")
_SUBWAY_EXIT: Final = re.compile(r"^(.+?)(?:地铁站|站)([A-Z0-9]{1,3}口|[东西南北]口)$")


@dataclass
class Place:
    """One named place of the gazetteer (all points in WGS84).

    ``door_ranges`` (roads only): ``{"left": (from, to), "right": (from, to)}`` door numbers along
    ``geometry`` (a LineString in lon/lat, numbered from its first point to its last; odd numbers
    left, even right in the usual Beijing scheme), used to interpolate a door with no door place.
    """

    id: str
    kind: str
    name: str
    aliases: tuple[str, ...] = ()
    lon: float = math.nan
    lat: float = math.nan
    building_id: str | None = None
    compound: str | None = None
    road: str | None = None
    door_number: str | None = None
    building_no: str | None = None
    community_code: str | None = None
    street_code: str | None = None
    district_code: str | None = None
    cell_code: str | None = None
    geometry: Any = None
    door_ranges: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"unknown place kind {self.kind!r}", code="bad_place", details={"id": self.id})
        if not self.name or not isinstance(self.name, str):
            raise InputError("a place needs a name", code="bad_place", details={"id": self.id})
        cc = self.community_code
        if cc and len(cc) == 12 and cc.isdigit():
            self.street_code = self.street_code or cc[:9]
        sc = self.street_code
        if sc and len(sc) == 9 and sc.isdigit():
            self.district_code = self.district_code or sc[:6]

    @property
    def address(self) -> str:
        """The standard address of a building/door/compound (road + door + compound + building)."""
        if self.kind == "building":
            if self.compound:
                head = f"{self.road}{self.door_number}号院" if self.road and self.door_number else ""
                return (
                    f"{head}{self.compound}{self.building_no}号楼"
                    if self.building_no
                    else head + self.compound
                )
            if self.road and self.door_number:
                return f"{self.road}{self.door_number}号"
        if self.kind == "door" and self.road and self.door_number:
            return f"{self.road}{self.door_number}号"
        if self.kind == "compound" and self.road and self.door_number:
            return f"{self.road}{self.door_number}号院{self.name}"
        return self.name


def name_key(name: str) -> str:
    """The lookup key of a name: :func:`grid.address.normalise` (full-width, numerals, 栋/幢/座/# ...)."""
    return normalise(name)


def crossing_key(text: str) -> str | None:
    """``'A|B'`` (sorted) for a crossing written as ``A与B交叉口`` / ``B和A路口`` / ``A/B``; else None.

    >>> crossing_key("广渠路与东三环中路交叉口") == crossing_key("东三环中路和广渠路路口")
    True
    """
    t = _CROSS_SUFFIX.sub("", normalise(text))
    parts = [p for p in _CROSS_SPLIT.split(t) if p]
    if len(parts) != 2:
        return None
    return "|".join(sorted(parts))


def _variants(kind: str, name: str) -> set[str]:
    """Extra keys a place is found under: 小区 optional for compounds, 站/地铁站 for subway exits."""
    k = name_key(name)
    out = {k}
    if kind == "compound":
        if k.endswith("小区") and len(k) > 4:
            out.add(k[:-2])
        elif not k.endswith(("院", "小区")):
            out.add(k + "小区")
    elif kind == "landmark":
        m = _SUBWAY_EXIT.match(k)
        if m:
            out |= {f"{m.group(1)}站{m.group(2)}", f"{m.group(1)}地铁站{m.group(2)}"}
    elif kind == "community" and k.endswith("社区"):
        out.add(k[:-2] + "居委会")
    return out


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _str(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float):  # a number read from a file ('12.0' is door 12)
        if math.isnan(v):
            return None
        if v.is_integer():
            return str(int(v))
    s = str(v).strip()
    return s or None


class Gazetteer:
    """The indexes a geocoder needs, built once from places (see the module docstring)."""

    def __init__(self, places: Iterable[Place], *, aliases: Mapping[str, str] | None = None) -> None:
        self.places: list[Place] = list(places)
        self.aliases: dict[str, str] = dict(aliases or {})
        #: the alias table handed to the address parser: the defaults plus ours
        self.parse_aliases: dict[str, str] = {**DEFAULT_ALIASES, **self.aliases}
        self.by_id: dict[str, int] = {}
        self.by_name: dict[str, dict[str, list[int]]] = {k: defaultdict(list) for k in KINDS}
        self.doors: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.compound_buildings: dict[tuple[int, str], list[int]] = defaultdict(list)
        self.buildings_of: dict[int, list[int]] = defaultdict(list)
        self.compounds_on_road: dict[str, list[int]] = defaultdict(list)
        self.compounds_in: dict[str, list[int]] = defaultdict(list)  # community or street code -> compounds
        self.roads_in: dict[str, set[str]] = defaultdict(set)  # community/street code -> road keys
        self.segments: dict[str, list[int]] = defaultdict(list)  # road key -> road segments
        self.crossings: dict[str, list[int]] = defaultdict(list)
        self.addresses: dict[str, list[int]] = defaultdict(list)  # full standard address -> building/door
        self.building_by_id: dict[str, int] = {}

        # gazetteer-level aliases: former name -> current name, for every kind
        variant_only: dict[tuple[str, str], set[int]] = defaultdict(set)
        alias_of: dict[str, list[str]] = defaultdict(list)
        for old, new in self.aliases.items():
            alias_of[name_key(new)].append(old)

        for i, p in enumerate(self.places):
            if p.id in self.by_id:
                raise InputError(f"duplicate place id {p.id!r}", code="bad_place", details={"id": p.id})
            self.by_id[p.id] = i
            keys: set[str] = set()
            written = (p.name, *p.aliases, *alias_of.get(name_key(p.name), ()))
            for n in written:
                keys |= _variants(p.kind, n)
            index = self.by_name[p.kind]
            for k in keys:
                index[k].append(i)
            if len(keys) > len(written):
                primary = {name_key(n) for n in written}
                for k in keys - primary:
                    variant_only[(p.kind, k)].add(i)
            if p.kind == "crossing":
                for n in (p.name, *p.aliases):
                    ck = crossing_key(n)
                    if ck and i not in self.crossings[ck]:
                        self.crossings[ck].append(i)
            elif p.kind == "road":
                rk = name_key(p.name)
                self.segments[rk].append(i)
                for code in (p.community_code, p.street_code):
                    if code:
                        self.roads_in[code].add(rk)
            elif p.kind == "compound":
                if p.road:
                    self.compounds_on_road[name_key(p.road)].append(i)
                for code in (p.community_code, p.street_code):
                    if code:
                        self.compounds_in[code].append(i)
            if p.kind in ("building", "door", "compound") and p.road and p.door_number:
                self.doors[(name_key(p.road), name_key(p.door_number))].append(i)
            if p.kind in ("building", "door"):
                if p.building_id:
                    self.building_by_id[p.building_id] = i
                for a in (p.address, *(a for a in p.aliases if len(a) > 6)):
                    self.addresses[name_key(a)].append(i)

        # a written name wins over a variant ('双花园' is 双花园, not 双花园小区 without its 小区)
        for (kind, k), idxs in variant_only.items():
            prim = [i for i in self.by_name[kind][k] if i not in idxs]
            if prim:
                self.by_name[kind][k] = prim
        del variant_only

        # buildings -> their compound (by name, and by road + door when the name is shared)
        for i, p in enumerate(self.places):
            if p.kind != "building" or not p.compound:
                continue
            cands = self.by_name["compound"].get(name_key(p.compound), [])
            if len(cands) > 1 and p.road and p.door_number:
                at_door = set(self.doors.get((name_key(p.road), name_key(p.door_number)), []))
                cands = [c for c in cands if c in at_door] or cands
            if len(cands) > 1 and p.community_code:
                cands = [c for c in cands if self.places[c].community_code == p.community_code] or cands
            if not cands:
                continue
            c = cands[0]
            self.buildings_of[c].append(i)
            if p.building_no:
                self.compound_buildings[(c, name_key(p.building_no))].append(i)

        # fuzzy lookups: the distinct keys per kind
        self.keys: dict[str, list[str]] = {k: list(v) for k, v in self.by_name.items()}
        # n-gram indexes for global fuzzy lookups (see _prefilter): bigrams and single characters
        self.grams: dict[str, dict[str, list[int]]] = {}
        self.chars: dict[str, dict[str, list[int]]] = {}
        for k, kind_keys in self.keys.items():
            g: dict[str, list[int]] = defaultdict(list)
            c1: dict[str, list[int]] = defaultdict(list)
            for j, key in enumerate(kind_keys):
                for b in {key[i : i + 2] for i in range(len(key) - 1)}:
                    g[b].append(j)
                for ch in set(key):
                    c1[ch].append(j)
            self.grams[k], self.chars[k] = dict(g), dict(c1)
        # a scanner for names the parser missed (a compound named like '南磨国际'): key lengths per kind
        self.key_lengths: dict[str, list[int]] = {
            k: sorted({len(x) for x in v}, reverse=True) for k, v in self.by_name.items()
        }

        # reverse geocoding: buildings and doors in a local metric frame
        pts = [
            i for i, p in enumerate(self.places) if p.kind in ("building", "door") and math.isfinite(p.lon)
        ]
        self._rev_ids = np.array(pts, dtype=np.int64)
        lat0 = float(np.mean([self.places[i].lat for i in pts])) if pts else 0.0
        self._kx = _M_PER_DEG * math.cos(math.radians(lat0))
        xy = np.array([[self.places[i].lon * self._kx, self.places[i].lat * _M_PER_DEG] for i in pts])
        self._tree = cKDTree(xy) if pts else None

    # --- lookups -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.places)

    def get(self, place_id: str) -> Place:
        try:
            return self.places[self.by_id[place_id]]
        except KeyError:
            raise InputError(f"no place {place_id!r}", code="unknown_place") from None

    def lookup(self, kind: str, name: str) -> list[int]:
        """Places of ``kind`` whose name or alias has the key of ``name`` (indexes into ``places``)."""
        return list(self.by_name[kind].get(name_key(name), ()))

    def fuzzy(
        self, kind: str, name: str, *, within: Iterable[int] | None = None, limit: int = 5
    ) -> list[tuple[int, float]]:
        """Places of ``kind`` with a name close to ``name``: ``(index, score 0..1)``, best first.

        A hit needs ``fuzz.ratio`` >= 60 and at most one edit per four characters (at least one),
        so a single wrong character in a 3-character name still counts, two in a 4-character one
        do not. ``within`` restricts the search to those places (the compounds of the road or
        community matched already), which is what keeps it fast.
        """
        key = name_key(name)
        if not key:
            return []
        max_edits = max(1, len(key) // 4)
        if within is None:
            choices: Any = self._prefilter(kind, key, max_edits)
        else:
            index = self.by_name[kind]
            allowed = set(within)
            names: set[str] = set()
            for i in allowed:
                p = self.places[i]
                for n in (p.name, *p.aliases):
                    names |= _variants(kind, n)
            choices = [n for n in names if any(j in allowed for j in index.get(n, ()))]
        found = process.extract(key, choices, scorer=fuzz.ratio, limit=limit * 3, score_cutoff=60)
        best: dict[int, float] = {}
        allowed_set = None if within is None else set(within)
        for cand, score, _ in found:
            if Levenshtein.distance(key, cand) > max_edits:
                continue
            for i in self.by_name[kind].get(cand, ()):
                if allowed_set is not None and i not in allowed_set:
                    continue
                if score / 100 > best.get(i, 0.0):
                    best[i] = score / 100
        return sorted(best.items(), key=lambda kv: -kv[1])[:limit]

    def _prefilter(self, kind: str, key: str, max_edits: int) -> list[str]:
        """The keys of ``kind`` that can be within ``max_edits`` edits of ``key``.

        One edit changes at most two of a key's bigrams and one of its characters, so a key within
        ``e`` edits of a query with ``m`` distinct bigrams shares at least ``need`` of them; by the
        pigeonhole principle it then shares one of the query's ``m - need + 1`` *rarest* bigrams,
        so only those postings are read (single characters when the bigram bound is 0). The
        candidates are then scored exactly by the caller.
        """
        keys = self.keys.get(kind, [])
        n = len(key)
        bigrams = {key[i : i + 2] for i in range(n - 1)}
        need = (n - 1 - 2 * max_edits) - ((n - 1) - len(bigrams))
        if need >= 1:
            index, grams = self.grams.get(kind, {}), bigrams
        else:
            chars = set(key)
            need = (n - max_edits) - (n - len(chars))
            index, grams = self.chars.get(kind, {}), chars
            if need < 1:
                return [k for k in keys if abs(len(k) - n) <= max_edits]
        rarest = sorted(grams, key=lambda x: len(index.get(x, ())))[: len(grams) - need + 1]
        cand: set[int] = set()
        for x in rarest:
            cand.update(index.get(x, ()))
        return [keys[j] for j in cand if abs(len(keys[j]) - n) <= max_edits]

    def scan(self, kind: str, text: str) -> list[int]:
        """Places of ``kind`` whose key occurs in the normalised ``text`` (the longest, first)."""
        t = name_key(text)
        index = self.by_name[kind]
        lengths = self.key_lengths[kind]
        for start in range(len(t)):
            for n in lengths:
                if n < 2 or start + n > len(t):
                    continue
                hit = index.get(t[start : start + n])
                if hit:
                    return list(hit)
        return []

    def find_prefix(self, kind: str, text: str) -> tuple[list[int], int]:
        """Places of ``kind`` whose key starts ``text`` (the longest) and the key's length."""
        t = name_key(text)
        index = self.by_name[kind]
        for n in self.key_lengths[kind]:
            if 2 <= n <= len(t) and (hit := index.get(t[:n])):
                return list(hit), n
        return [], 0

    def nearest(self, lon: float, lat: float, k: int = 1) -> list[tuple[int, float]]:
        """The ``k`` buildings/doors nearest to a point: ``(index, distance in metres)``."""
        if self._tree is None:
            return []
        k = min(k, len(self._rev_ids))
        d, j = self._tree.query([lon * self._kx, lat * _M_PER_DEG], k=k)
        ds, js = np.atleast_1d(d), np.atleast_1d(j)
        return [(int(self._rev_ids[jj]), float(dd)) for dd, jj in zip(ds, js, strict=True)]

    # --- construction from layers --------------------------------------------------------------

    @classmethod
    def from_frames(
        cls,
        buildings: Any,
        compounds: Any = None,
        roads: Any = None,
        landmarks: Any = None,
        crossings: Any = None,
        units: Any = None,
        *,
        aliases: Mapping[str, str] | None = None,
    ) -> Gazetteer:
        """A gazetteer from the layers of :class:`data.synthetic_buildings.SyntheticStreet`.

        ``buildings``: building_id, road, door_number, compound, building_no, community_code, point
        geometry (optional: address, cell_code, aliases as ';'-separated text). ``compounds``:
        compound_id, name, road, door_number, community_code, polygon (gate_lon/gate_lat optional).
        ``roads``: segment_id (or road_id), name, from_left, to_left, from_right, to_right, line.
        ``landmarks`` / ``crossings``: name, community_code, point. ``units``: code, name, level
        (district|street|community|grid; from the code's length when missing), polygon; units give the community/street/district places,
        and grid cells give a cell code (point in polygon) to every place without one.
        All layers in EPSG:4326.
        """
        places: list[Place] = []

        def col(row: Any, name: str) -> Any:
            return row.get(name) if hasattr(row, "get") else getattr(row, name, None)

        def aliases_of(row: Any) -> tuple[str, ...]:
            a = _str(col(row, "aliases"))
            return tuple(x for x in (a or "").split(";") if x)

        for row in _rows(buildings):
            g = row["geometry"]
            pt = g if g.geom_type == "Point" else g.representative_point()
            comp, road, door, bno = (
                _str(col(row, c)) for c in ("compound", "road", "door_number", "building_no")
            )
            if comp:
                name = f"{comp}{bno}号楼" if bno else comp
            else:
                name = f"{road}{door}号" if road and door else str(row["building_id"])
            extra = aliases_of(row)
            addr = _str(col(row, "address"))
            places.append(
                Place(
                    id=str(row["building_id"]),
                    kind="building",
                    name=name,
                    aliases=(*extra, addr) if addr else extra,
                    lon=pt.x,
                    lat=pt.y,
                    building_id=str(row["building_id"]),
                    compound=comp,
                    road=road,
                    door_number=door,
                    building_no=bno,
                    community_code=_str(col(row, "community_code")),
                    cell_code=_str(col(row, "cell_code")),
                )
            )
        for n, row in enumerate(_rows(compounds)):
            g = row["geometry"]
            c = g.representative_point()
            places.append(
                Place(
                    id=str(_str(col(row, "compound_id")) or f"C{n}"),
                    kind="compound",
                    name=str(row["name"]),
                    aliases=aliases_of(row),
                    lon=c.x,
                    lat=c.y,
                    road=_str(col(row, "road")),
                    door_number=_str(col(row, "door_number")),
                    community_code=_str(col(row, "community_code")),
                    geometry=g,
                )
            )
        for n, row in enumerate(_rows(roads)):
            g = row["geometry"]
            mid = g.interpolate(0.5, normalized=True)
            ranges: dict[str, Any] = {}
            for side in ("left", "right"):
                lo, hi = _int(col(row, f"from_{side}")), _int(col(row, f"to_{side}"))
                if lo is not None and hi is not None:
                    ranges[side] = (lo, hi)
            places.append(
                Place(
                    id=str(_str(col(row, "segment_id")) or _str(col(row, "road_id")) or f"R{n}"),
                    kind="road",
                    name=str(row["name"]),
                    aliases=aliases_of(row),
                    lon=mid.x,
                    lat=mid.y,
                    road=str(row["name"]),
                    community_code=_str(col(row, "community_code")),
                    geometry=g,
                    door_ranges=ranges or None,
                )
            )
        for kind, frame in (("landmark", landmarks), ("crossing", crossings)):
            for n, row in enumerate(_rows(frame)):
                pt = row["geometry"]
                pt = pt if pt.geom_type == "Point" else pt.representative_point()
                places.append(
                    Place(
                        id=str(_str(col(row, "id")) or f"{kind[0].upper()}{n:05d}"),
                        kind=kind,
                        name=str(row["name"]),
                        aliases=aliases_of(row),
                        lon=pt.x,
                        lat=pt.y,
                        community_code=_str(col(row, "community_code")),
                        cell_code=_str(col(row, "cell_code")),
                    )
                )
        cells: list[tuple[Any, str]] = []
        comm_polys: list[tuple[Any, str]] = []
        for row in _rows(units):
            code = str(row["code"])
            level = str(col(row, "level") or _LEVEL_BY_LENGTH.get(len(code), ""))
            g = row["geometry"]
            if level == "grid":
                cells.append((g, code))
                continue
            if level not in ("community", "street", "district"):
                continue
            if level == "community":
                comm_polys.append((g, code))
            pt = g.representative_point()
            places.append(
                Place(
                    id=code,
                    kind=level,
                    name=str(row["name"]),
                    aliases=aliases_of(row),
                    lon=pt.x,
                    lat=pt.y,
                    community_code=code if level == "community" else None,
                    street_code=code if level == "street" else None,
                    district_code=code if level == "district" else None,
                    geometry=g,
                )
            )
        _fill_by_polygon(places, comm_polys, "community_code", ("road", "landmark", "crossing"))
        _fill_by_polygon(places, cells, "cell_code", KINDS[:6])
        return cls(places, aliases=aliases)

    @classmethod
    def from_street(cls, street: Any, communities: Any = None, **kw: Any) -> Gazetteer:
        """From a :class:`data.synthetic_buildings.SyntheticStreet` (and its communities: code, name)."""
        units = None
        if communities is not None:
            import pandas as pd

            units = communities.assign(level="community")[["code", "name", "level", "geometry"]]
            codes = [str(c) for c in units["code"]]
            if codes and all(len(c) == 12 for c in codes):
                area = units.geometry.union_all()
                extra = [
                    {"code": codes[0][:9], "name": street.street_name, "level": "street", "geometry": area},
                    {
                        "code": codes[0][:6],
                        "name": street.district_name,
                        "level": "district",
                        "geometry": area,
                    },
                ]
                units = pd.concat([units, type(units)(extra, geometry="geometry", crs=units.crs)])
        return cls.from_frames(
            street.buildings, street.compounds, street.roads, street.landmarks, street.crossings, units, **kw
        )


def _rows(frame: Any) -> Iterable[Any]:
    if frame is None:
        return []
    return (r for _, r in frame.iterrows())


def _fill_by_polygon(
    places: list[Place], polys: list[tuple[Any, str]], attr: str, kinds: Iterable[str]
) -> None:
    """Give ``attr`` (a code) to places of ``kinds`` without one, from the polygon their point lies in."""
    if not polys:
        return
    import shapely
    from shapely import STRtree

    tree = STRtree([g for g, _ in polys])
    want = [p for p in places if p.kind in set(kinds) and getattr(p, attr) is None and math.isfinite(p.lon)]
    if not want:
        return
    pts = shapely.points([p.lon for p in want], [p.lat for p in want])
    src, dst = tree.query(pts, predicate="within")
    seen: set[int] = set()
    for s, d in zip(src.tolist(), dst.tolist(), strict=True):
        if s in seen:
            continue
        seen.add(s)
        setattr(want[s], attr, polys[d][1])
        want[s].__post_init__()  # street/district codes from a new community code
