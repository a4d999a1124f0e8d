"""Geocode Chinese addresses against a :class:`grid.gazetteer.Gazetteer`; and the reverse.

Matching
--------
The text is parsed by :func:`grid.address.parse` (with the gazetteer's aliases), then each element
is looked up **exact** (the written text is a place's name or alias), **normalised** (the keys meet
after :func:`grid.address.normalise`: full-width digits, 十二号楼, 栋/幢/座/#), or **fuzzy**
(``rapidfuzz`` ratio on the normalised names, at most one edit per four characters, searched only
among the places of the level matched above: the compounds of the road, community or street).
Compound names the parser missed are found by scanning the rest of the text for gazetteer names.

Fallback, finest first; the first level that resolves gives the result:

============  =====  ============================================================================
level         base   resolved by
============  =====  ============================================================================
building      0.95   compound + building number; road + door (+ building number); full address
compound      0.85   compound name; ``N号院`` = the compound at road + door N
road_number   0.80   road + door: a door place (x1.0) or interpolated on the road's range (x0.9)
crossing      0.70   ``A与B交叉口`` / ``B和A路口`` (roads in either order)
landmark      0.60   a named place (bridge, subway exit, market ...), moved 30 m by a direction
road          0.45   the road alone (middle of its segments)
community     0.40   社区/村
street        0.30   街道/乡/镇/地区
district      0.20   区/县
============  =====  ============================================================================

confidence = base x score (1.0 exact/normalised, the fuzzy ratio/100 otherwise)
x 0.9 when interpolated x 0.75 per conflict kept. Below ``review_below`` the status is
``needs_review`` with up to 5 candidates: never a silent guess.

Levels are checked against each other: a compound (or building) whose community, street,
district, road or door differs from what the text says is a *conflict*. Among several places of
the same name, the ones consistent with the text win; when none is, or when the one found is
fuzzy, the result is ``needs_review``; a single exact place is kept, the conflict reported and
the confidence lowered. Two places equally good (the same compound name in two communities and
nothing written to tell them apart) are ``needs_review`` with both as candidates, no point.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from grid.address import ParsedAddress, fold, normalise, parse
from grid.errors import InputError
from grid.gazetteer import Gazetteer, Place, crossing_key, name_key

__all__ = ["CONFIDENCE", "GeocodeResult", "geocode", "geocode_many", "reverse"]

#: base confidence per level (see the module docstring)
CONFIDENCE: Final = {
    "building": 0.95,
    "compound": 0.85,
    "road_number": 0.8,
    "crossing": 0.7,
    "landmark": 0.6,
    "road": 0.45,
    "community": 0.4,
    "street": 0.3,
    "district": 0.2,
}
INTERPOLATED: Final = 0.9
CONFLICT_KEPT: Final = 0.75
MAX_CANDIDATES: Final = 5
DIRECTION_M: Final = 30.0
_M_PER_DEG: Final = 111_195.0
_YARD: Final = re.compile(r"[0-9-]+号院")
_DIRECTIONS: Final = {
    "东侧": (1, 0),
    "西侧": (-1, 0),
    "南侧": (0, -1),
    "北侧": (0, 1),
    "东门": (1, 0),
    "西门": (-1, 0),
    "南门": (0, -1),
    "北门": (0, 1),
    "东南角": (1, -1),
    "西南角": (-1, -1),
    "东北角": (1, 1),
    "西北角": (-1, 1),
    "东南侧": (1, -1),
    "西南侧": (-1, -1),
    "东北侧": (1, 1),
    "西北侧": (-1, 1),
}


@dataclass
class GeocodeResult:
    """The outcome of one address; ``lon``/``lat`` in WGS84, ``None`` when no single place was found."""

    status: str  # matched | needs_review | no_match
    level: str | None = None
    confidence: float = 0.0
    lon: float | None = None
    lat: float | None = None
    place_id: str | None = None
    building_id: str | None = None
    cell_code: str | None = None
    community_code: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    parsed: dict[str, Any] = field(default_factory=dict)
    rule: str | None = None  # exact | normalised | fuzzy | interpolated | fallback
    name: str | None = None  # the standard name of the place matched
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Hit:
    """Equally good places found for one level, how, and what they contradict."""

    level: str
    places: list[int]
    score: float = 1.0
    rule: str = "normalised"
    conflicts: list[str] = field(default_factory=list)
    alternatives: list[tuple[int, float]] = field(default_factory=list)  # (place, score) for review
    point: tuple[float, float] | None = None  # a point other than the place's (interpolated, moved)
    contested: bool = False  # exact places that contradict the text + near names that do not


@dataclass
class _Ctx:
    gaz: Gazetteer
    text: str
    parsed: ParsedAddress
    district: list[int] = field(default_factory=list)
    street: list[int] = field(default_factory=list)
    community: list[int] = field(default_factory=list)
    road: str | None = None  # the key of the road matched
    road_score: float = 1.0
    road_rule: str = "normalised"
    notes: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    building: str | None = None  # the building number (the parser's, or read from the rest)
    extra_names: list[str] = field(default_factory=list)  # compound names the parser missed

    _codes: dict[str, set[str]] = field(default_factory=dict)

    def codes(self, kind: str) -> set[str]:
        """The codes of the places matched at an administrative level (``kind``_code)."""
        got = self._codes.get(kind)
        if got is None:
            places = self.gaz.places
            attr = f"{kind}_code"
            got = self._codes[kind] = {c for i in getattr(self, kind) if (c := getattr(places[i], attr))}
        return got


# --- public API ------------------------------------------------------------------------------------


def geocode(gaz: Gazetteer, text: str, *, review_below: float = 0.6) -> GeocodeResult:
    """Geocode one address (also inside petition text).

    Raises :class:`grid.errors.InputError` (``empty_address`` / ``address_too_long``) as
    :func:`grid.address.parse` does; text with no address in it is ``no_match``.
    """
    p = parse(text, aliases=gaz.parse_aliases)
    parsed = {k: v for k, v in p.to_dict().items() if k != "spans"}
    full = gaz.addresses.get(name_key(text.strip()))
    if full and len(full) == 1:  # the whole text is a standard address: the fast path
        i = full[0]
        place = gaz.places[i]
        rule = "exact" if text.strip() in (place.address, *place.aliases) else "normalised"
        fast = _Hit("building" if place.kind == "building" else "road_number", [i], rule=rule)
        return _result(gaz, fast, parsed, review_below, [], [])
    ctx = _Ctx(gaz, text, p)
    if p.empty:
        scanned = _scan_only(ctx)
        if scanned is None:
            return GeocodeResult(status="no_match", parsed=parsed, notes=["no address found in the text"])
        return _result(gaz, scanned, parsed, review_below, [], [])
    ctx.building = p.building
    _admin(ctx)
    _repair(ctx)
    _road(ctx)
    hit = (
        _building_or_compound(ctx)
        or _road_number(ctx)
        or _crossing(ctx)
        or _landmark(ctx)
        or _road_only(ctx)
        or _admin_hit(ctx)
    )
    if hit is None:
        return GeocodeResult(status="no_match", parsed=parsed, conflicts=ctx.conflicts, notes=ctx.notes)
    finest = _finest_written(p)
    if finest is not None and _order(hit.level) > _order(finest) and hit.rule != "fuzzy":
        hit.rule = "fallback"
    return _result(gaz, hit, parsed, review_below, ctx.conflicts, ctx.notes)


def geocode_many(gaz: Gazetteer, texts: Iterable[str], *, review_below: float = 0.6) -> list[GeocodeResult]:
    """:func:`geocode` for each text; an empty or too long text is ``no_match`` (with a note), not an error."""
    out = []
    for t in texts:
        try:
            out.append(geocode(gaz, t, review_below=review_below))
        except InputError as exc:
            out.append(GeocodeResult(status="no_match", notes=[f"{exc.code}: {exc.message}"]))
    return out


def reverse(gaz: Gazetteer, lon: float, lat: float, *, max_distance_m: float = 200) -> dict[str, Any]:
    """The nearest building (or door) to a WGS84 point: its standard address, distance and cell.

    ``{"status": "matched", "address", "name", "place_id", "building_id", "kind", "distance_m",
    "lon", "lat", "cell_code", "community_code"}``; ``status`` is ``no_match`` (and the nearest
    is still given, when there is one) beyond ``max_distance_m``.
    """
    if not (math.isfinite(lon) and math.isfinite(lat)) or not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InputError(
            f"not a WGS84 point: {lon}, {lat}",
            code="coordinates_out_of_range",
            details={"lon": lon, "lat": lat},
        )
    near = gaz.nearest(lon, lat)
    if not near:
        return {"status": "no_match", "distance_m": None}
    i, d = near[0]
    p = gaz.places[i]
    return {
        "status": "matched" if d <= max_distance_m else "no_match",
        "address": p.address,
        "name": p.name,
        "place_id": p.id,
        "building_id": p.building_id,
        "kind": p.kind,
        "distance_m": round(d, 1),
        "lon": p.lon,
        "lat": p.lat,
        "cell_code": p.cell_code,
        "community_code": p.community_code,
    }


# --- levels ----------------------------------------------------------------------------------------

_LEVEL_ORDER: Final = list(CONFIDENCE)


def _order(level: str) -> int:
    return _LEVEL_ORDER.index(level)


def _finest_written(p: ParsedAddress) -> str | None:
    if p.building:
        return "building"
    if p.compound:
        return "compound"
    if p.road and p.door_number:
        return "road_number"
    if p.landmark:
        return "landmark"
    for label in ("road", "community", "street", "district"):
        if getattr(p, label):
            return label
    return None


def _raw(ctx: _Ctx, label: str) -> str | None:
    span = ctx.parsed.spans.get(label)
    return ctx.text[span[0] : span[1]] if span else None


def _rule_for(ctx: _Ctx, label: str, places: list[int]) -> str:
    raw = _raw(ctx, label)
    for i in places:
        p = ctx.gaz.places[i]
        if raw is not None and raw in (p.name, *p.aliases):
            return "exact"
    return "normalised"


def _find(
    ctx: _Ctx, kind: str, value: str, within: list[int] | None
) -> tuple[list[int], float, str, list[tuple[int, float]]]:
    """Places of ``kind`` named ``value``: (best places, score, rule, alternatives)."""
    gaz = ctx.gaz
    found = gaz.lookup(kind, value)
    if within is not None and found:
        inside = [i for i in found if i in set(within)]
        found = inside or found
    if found:
        return found, 1.0, _rule_for(ctx, kind, found), [(i, 1.0) for i in found]
    fz = gaz.fuzzy(kind, value, within=within)
    if not fz:
        return [], 0.0, "fuzzy", []
    top = fz[0][1]
    return [i for i, s in fz if s >= top - 1e-9], top, "fuzzy", fz


def _admin(ctx: _Ctx) -> None:
    """District, street and community as written, each restricted to the one above when it helps."""
    gaz, p = ctx.gaz, ctx.parsed
    if p.district:
        ctx.district = _find(ctx, "district", p.district, None)[0]
    for kind, parent in (("street", "district"), ("community", "street")):
        value = getattr(p, kind)
        if not value:
            continue
        if kind == "community" and not gaz.lookup(kind, value) and gaz.lookup("compound", value):
            continue  # '朝阳新村' is a compound named like a village
        places, score, _, _ = _find(ctx, kind, value, None)
        parent_codes = ctx.codes(parent)
        if parent_codes and places:
            attr = f"{parent}_code"
            inside = [i for i in places if getattr(gaz.places[i], attr) in parent_codes]
            if not inside:
                names = ", ".join(gaz.places[i].name for i in places[:3])
                ctx.conflicts.append(
                    f"{kind} {names} does not lie in the {parent} written ({getattr(p, parent)})"
                )
            places = inside or places
        if score < 0.75:  # a community two characters off is not one to build on
            places = []
        setattr(ctx, kind, places)
        ctx._codes.pop(kind, None)


_BUILDING_AFTER: Final = re.compile(r"([0-9]+|[A-Z])号楼")
_TAIL: Final = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff]{2,12}?)([0-9]+|[A-Z])号楼")


def _repair(ctx: _Ctx) -> None:
    """Read what the parser missed: a road glued to a 村 name ('景悦路顺平新村' as one community),
    and 'name + N号楼' in the rest after an element ('盛东胡同志安国际1号楼': 志安国际 is no
    suffix the parser knows)."""
    gaz, p = ctx.gaz, ctx.parsed
    for label, v, s, _ in p.elements:
        if label not in ("compound", "road", "community") or _YARD.fullmatch(v):
            continue
        # the longest gazetteer compound starting there ('双花园国际' read as '双花园' + rest)
        found, n = gaz.find_prefix("compound", ctx.text[s : s + 16])
        if found and n > len(name_key(v)) and name_key(ctx.text[s : s + n]) == name_key(ctx.text[s:])[:n]:
            ctx.extra_names.insert(0, name_key(ctx.text[s:])[:n])
            if ctx.building is None:
                m = _BUILDING_AFTER.match(normalise(ctx.text[s + n :]))
                if m:
                    ctx.building = m.group(1)
            break
    if p.community and not ctx.community and not p.road:
        road, n = gaz.find_prefix("road", p.community)
        if road and n < len(p.community):
            ctx.road = name_key(p.community[:n])
            ctx.road_rule = "normalised"
            ctx.extra_names.append(p.community[n:])
    if ctx.building is None and p.elements:
        end = max(e for _, _, _, e in p.elements)
        m = _TAIL.match(normalise(ctx.text[end:]))
        if m:
            ctx.extra_names.append(m.group(1))
            ctx.building = m.group(2)


def _road(ctx: _Ctx) -> None:
    gaz, p = ctx.gaz, ctx.parsed
    if not p.road or ctx.road:
        return
    key = name_key(p.road)
    if key in gaz.segments:
        ctx.road = key
        ctx.road_rule = _rule_for(ctx, "road", gaz.segments[key])
        return
    if gaz.by_name["compound"].get(key):  # a compound the parser read as a road ('垂杨柳东里')
        return
    area = ctx.codes("community") or ctx.codes("street")
    within = None
    if area:
        keys = set().union(*(gaz.roads_in.get(c, set()) for c in area))
        within = [i for k in keys for i in gaz.segments[k]]
    fz = gaz.fuzzy("road", p.road, within=within)
    if fz and p.road.endswith("里"):  # '九龙东里' may be a compound ('…里') as well as a road
        as_compound = gaz.fuzzy("compound", p.road, limit=1)
        if as_compound and as_compound[0][1] >= fz[0][1]:
            return
    if fz:
        ctx.road = name_key(gaz.places[fz[0][0]].name)
        ctx.road_score, ctx.road_rule = fz[0][1], "fuzzy"


def _check(ctx: _Ctx, i: int) -> list[str]:
    """What the place ``i`` (a compound or building) contradicts in the text."""
    gaz, p = ctx.gaz, ctx.parsed
    pl = gaz.places[i]
    out = []
    for kind in ("community", "street", "district"):
        codes = ctx.codes(kind)
        mine = getattr(pl, f"{kind}_code")
        if codes and mine and mine not in codes:
            where = gaz.places[gaz.by_id[mine]].name if mine in gaz.by_id else mine
            out.append(f"{pl.name} lies in {kind} {where} ({mine}), not in {getattr(p, kind)} as written")
    if ctx.road and pl.road and name_key(pl.road) != ctx.road:
        out.append(f"{pl.name} is on {pl.road}, not on {p.road} as written")
    elif ctx.road and p.door_number and pl.door_number and name_key(pl.door_number) != p.door_number:
        out.append(f"{pl.name} is {pl.road}{pl.door_number}号, not {p.door_number}号 as written")
    return out


def _named_compounds(ctx: _Ctx) -> _Hit | None:
    """Compounds the text names (exact or normalised, else fuzzy among those of the road,
    community or street written, else fuzzy everywhere); None when no name is written."""
    gaz, p = ctx.gaz, ctx.parsed
    names = [v for label, v, _, _ in p.elements if label == "compound" and not _YARD.fullmatch(v)]
    names += [v for label, v, _, _ in p.elements if label == "road" and name_key(v) != ctx.road]
    fuzzy_names = [*names, *ctx.extra_names]
    if p.community and not ctx.community:  # '朝阳新村' parsed as a 村 may be a compound's name
        names.append(p.community)
    names = [*ctx.extra_names, *names]
    exact: list[int] = []
    rule = "normalised"
    for v in names:
        exact = gaz.lookup("compound", v)
        if exact:
            rule = _rule_for(ctx, "compound", exact)
            break
    if not exact:
        # names the parser did not read as a compound ('南磨国际'): scan the text outside the elements
        masked = list(fold(ctx.text))  # fold keeps the length: the element spans still apply
        for label, v, s, e in p.elements:
            unresolved = label in ("compound", "road") or (label == "community" and not ctx.community)
            if not unresolved or name_key(v) == ctx.road:
                masked[s:e] = "|" * (e - s)
        for piece in "".join(masked).split("|"):
            exact = gaz.scan("compound", piece) if len(piece) >= 2 else []
            if exact:
                break
    within: list[int] | None = None
    if ctx.road:
        within = gaz.compounds_on_road.get(ctx.road, [])
    for kind in ("community", "street"):
        if not within:
            codes = ctx.codes(kind)
            if codes:
                within = [i for c in codes for i in gaz.compounds_in.get(c, [])]
    if exact:
        hit = _Hit("compound", exact, 1.0, rule, alternatives=[(i, 1.0) for i in exact])
        if not within or any(not _check(ctx, i) for i in exact):
            return hit
        # every place of that name contradicts the text: is there a near name where the text says?
        fz = _fuzzy_first(gaz, fuzzy_names, within)
        fz = [(i, sc) for i, sc in fz if i not in exact and not _check(ctx, i)]
        if fz:
            hit.places = exact + [i for i, _ in fz]
            hit.alternatives += fz
            hit.contested = True
            hit.conflicts = sorted({c for i in exact for c in _check(ctx, i)})
        return hit
    if not fuzzy_names:
        fuzzy_names = _unparsed_before(ctx)
        if not fuzzy_names:
            return None
    fz = _fuzzy_first(gaz, fuzzy_names, within)
    if not fz and within:  # not among the compounds of the level written: look everywhere
        fz = _fuzzy_first(gaz, fuzzy_names, None)
    if not fz:
        ctx.notes.append(f"no compound named {fuzzy_names[0]}")
        return None
    top = fz[0][1]
    return _Hit("compound", [i for i, sc in fz if sc >= top - 1e-9], top, "fuzzy", alternatives=fz)


def _fuzzy_first(gaz: Gazetteer, names: list[str], within: list[int] | None) -> list[tuple[int, float]]:
    """The best fuzzy hits over ``names`` (the one with the highest top score)."""
    best: list[tuple[int, float]] = []
    for v in names:
        got = gaz.fuzzy("compound", v, within=within or None)
        if got and (not best or got[0][1] > best[0][1]):
            best = got
    return best


_NAME_CHAR: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fffA-Za-z]")


def _unparsed_before(ctx: _Ctx) -> list[str]:
    """The name-like text right before the building number ('东柏北理' in '东柏北理1号楼') that
    the parser left in ``rest``: its suffixes of 2-10 characters, longest first."""
    span = ctx.parsed.spans.get("building")
    if span is None:
        return []
    start = span[0]
    taken = [(s, e) for _, _, s, e in ctx.parsed.elements]
    i = start
    while i > 0 and start - i < 10 and _NAME_CHAR.match(ctx.text[i - 1]):
        if any(s <= i - 1 < e for s, e in taken):
            break
        i -= 1
    run = ctx.text[i:start]
    return [run[k:] for k in range(len(run) - 1)]


def _building_or_compound(ctx: _Ctx) -> _Hit | None:
    gaz, p = ctx.gaz, ctx.parsed
    named = _named_compounds(ctx)
    door_places: list[int] = []
    if ctx.road and p.door_number:
        door_places = gaz.doors.get((ctx.road, p.door_number), [])
    if named is None and door_places:
        # '8号院' or road + door: the compound or stand-alone building at that door
        comps = [i for i in door_places if gaz.places[i].kind == "compound"]
        rule, score = ctx.road_rule, ctx.road_score
        if comps:
            named = _Hit("compound", comps, score, rule, alternatives=[(i, score) for i in comps])
        elif ctx.building is None:
            blds = [i for i in door_places if gaz.places[i].kind == "building"]
            if blds:
                return _pick(
                    ctx, _Hit("building", blds, score, rule, alternatives=[(i, score) for i in blds])
                )
    if named is None:
        return None
    comp_hit = _pick(ctx, named)
    if ctx.building is None:
        return comp_hit
    bno = name_key(ctx.building)
    blds = [b for c in comp_hit.places for b in gaz.compound_buildings.get((c, bno), [])]
    if not blds:
        ctx.notes.append(f"no building {ctx.building}号楼 in {gaz.places[comp_hit.places[0]].name}")
        return comp_hit
    raw = _raw(ctx, "building")
    b_rule = comp_hit.rule
    if b_rule == "exact" and raw != f"{ctx.building}号楼":
        b_rule = "normalised"
    score_of = dict(comp_hit.alternatives)
    alts_b = [
        (b, score_of.get(c, comp_hit.score))
        for c in comp_hit.places
        for b in gaz.compound_buildings.get((c, bno), [])
    ]
    hit = _Hit("building", blds, comp_hit.score, b_rule, alternatives=alts_b, contested=comp_hit.contested)
    hit.conflicts = list(comp_hit.conflicts) if comp_hit.contested else []
    hit = _pick(ctx, hit)  # a building's own community decides (a compound may straddle two)
    if len(hit.places) == 1 and comp_hit.conflicts and not hit.conflicts:
        # the compound's main community differs but this building lies where the text says
        ctx.notes.append("the compound straddles communities; the building is in the one written")
    return hit


def _pick(ctx: _Ctx, hit: _Hit) -> _Hit:
    """Keep the places consistent with the text; record what the rest contradicts."""
    if hit.contested:  # an exact name elsewhere against a near name where the text says: a person decides
        return hit
    checked = [(i, _check(ctx, i)) for i in hit.places]
    ok = [i for i, c in checked if not c]
    if ok:
        hit.places = ok
        return hit
    hit.conflicts = sorted({c for _, cs in checked for c in cs})
    return hit


def _road_number(ctx: _Ctx) -> _Hit | None:
    gaz, p = ctx.gaz, ctx.parsed
    if not (ctx.road and p.door_number):
        return None
    doors = [i for i in gaz.doors.get((ctx.road, p.door_number), []) if gaz.places[i].kind == "door"]
    if doors:
        return _Hit(
            "road_number", doors, ctx.road_score, ctx.road_rule, alternatives=[(i, 1.0) for i in doors]
        )
    m = re.match(r"\d+", p.door_number)
    if not m:
        return None
    n = int(m.group(0))
    for i in gaz.segments[ctx.road]:
        seg = gaz.places[i]
        if not seg.door_ranges or seg.geometry is None:
            continue
        for side in ("left", "right"):
            rng = seg.door_ranges.get(side)
            if not rng or rng[0] is None or rng[1] is None:
                continue
            lo, hi = int(rng[0]), int(rng[1])
            if lo % 2 != n % 2 or not (min(lo, hi) <= n <= max(lo, hi)):
                continue
            frac = 0.5 if hi == lo else (n - lo) / (hi - lo)
            pt = seg.geometry.interpolate(frac, normalized=True)
            hit = _Hit("road_number", [i], ctx.road_score * INTERPOLATED, "interpolated", point=(pt.x, pt.y))
            hit.alternatives = [(i, hit.score)]
            return hit
    ctx.notes.append(f"door {p.door_number} is outside the numbered ranges of {p.road}")
    return None


def _crossing(ctx: _Ctx) -> _Hit | None:
    p = ctx.parsed
    if not p.landmark:
        return None
    ck = crossing_key(p.landmark)
    if ck is None:
        return None
    found = ctx.gaz.crossings.get(ck, [])
    if not found:
        return None
    return _Hit(
        "crossing",
        list(found),
        1.0,
        _rule_for(ctx, "landmark", found),
        alternatives=[(i, 1.0) for i in found],
    )


def _landmark(ctx: _Ctx) -> _Hit | None:
    p = ctx.parsed
    if not p.landmark or crossing_key(p.landmark):
        return None
    places, score, rule, alts = _find(ctx, "landmark", p.landmark, None)
    if not places:
        return None
    if rule != "fuzzy":
        rule = _rule_for(ctx, "landmark", places)
    hit = _Hit("landmark", places, score, rule, alternatives=alts)
    d = _DIRECTIONS.get(p.direction or "")
    if d and len(places) == 1:
        pl = ctx.gaz.places[places[0]]
        k = DIRECTION_M / math.hypot(*d)
        hit.point = (
            pl.lon + d[0] * k / (_M_PER_DEG * math.cos(math.radians(pl.lat))),
            pl.lat + d[1] * k / _M_PER_DEG,
        )
    return hit


def _road_only(ctx: _Ctx) -> _Hit | None:
    if not ctx.road:
        return None
    segs = ctx.gaz.segments[ctx.road]
    mid = segs[len(segs) // 2]
    return _Hit("road", [mid], ctx.road_score, ctx.road_rule, alternatives=[(mid, ctx.road_score)])


def _admin_hit(ctx: _Ctx) -> _Hit | None:
    for kind in ("community", "street", "district"):
        places = getattr(ctx, kind)
        if places:
            return _Hit(
                kind, places, 1.0, _rule_for(ctx, kind, places), alternatives=[(i, 1.0) for i in places]
            )
    return None


def _scan_only(ctx: _Ctx) -> _Hit | None:
    """No element parsed: a compound or landmark named anywhere in the text."""
    for kind in ("compound", "landmark"):
        found = ctx.gaz.scan(kind, ctx.text)
        if found:
            return _Hit(kind, found, 1.0, "normalised", alternatives=[(i, 1.0) for i in found])
    return None


# --- the result ------------------------------------------------------------------------------------


def _candidate(gaz: Gazetteer, i: int, level: str, conf: float) -> dict[str, Any]:
    p = gaz.places[i]
    return {
        "level": level,
        "place_id": p.id,
        "name": p.address if p.kind in ("building", "compound", "door") else p.name,
        "confidence": round(conf, 3),
        "lon": p.lon if math.isfinite(p.lon) else None,
        "lat": p.lat if math.isfinite(p.lat) else None,
        "building_id": p.building_id,
        "cell_code": p.cell_code,
        "community_code": p.community_code,
    }


def _result(
    gaz: Gazetteer,
    hit: _Hit,
    parsed: dict[str, Any],
    review_below: float,
    conflicts: list[str],
    notes: list[str],
) -> GeocodeResult:
    base = CONFIDENCE[hit.level]
    all_conflicts = list(dict.fromkeys([*conflicts, *hit.conflicts]))
    conf = base * hit.score * CONFLICT_KEPT ** len(all_conflicts)
    cands = [
        _candidate(gaz, i, hit.level, base * s * CONFLICT_KEPT ** len(all_conflicts))
        for i, s in hit.alternatives[:MAX_CANDIDATES]
    ]
    out = GeocodeResult(
        status="matched",
        level=hit.level,
        confidence=round(conf, 3),
        conflicts=all_conflicts,
        parsed=parsed,
        rule=hit.rule,
        notes=list(notes),
    )
    if len(hit.places) > 1:
        out.status = "needs_review"
        out.notes.append(f"{len(hit.places)} places are equally good at level {hit.level}")
        out.candidates = [_candidate(gaz, i, hit.level, conf) for i in hit.places[:MAX_CANDIDATES]]
        return out
    p: Place = gaz.places[hit.places[0]]
    lon, lat = hit.point or (p.lon, p.lat)
    if math.isfinite(lon) and math.isfinite(lat):  # a unit given without a point has none
        out.lon, out.lat = lon, lat
    out.place_id, out.building_id, out.cell_code, out.community_code = (
        p.id,
        p.building_id,
        p.cell_code,
        p.community_code,
    )
    out.name = p.address if p.kind in ("building", "compound", "door") else p.name
    # a contradiction is kept only when the place is the one exact (or normalised) match
    if (all_conflicts and hit.rule == "fuzzy") or conf < review_below:
        out.status = "needs_review"
        out.candidates = cands or [_candidate(gaz, hit.places[0], hit.level, conf)]
    return out
