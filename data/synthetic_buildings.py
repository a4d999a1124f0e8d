"""A synthetic but street-shaped 街道: roads, compounds, buildings and landmarks.

``generate_street(street_geom, communities)`` fills any reasonable street polygon (EPSG:4326)
with a plausible Beijing residential fabric, deterministically from ``seed``:

* **roads**: a grid of arterial roads (主干道, e.g. 东三环中路, 广渠路) and major roads (次干道)
  crossing the whole street, and minor streets and lanes (支路: 街/胡同) inside the arterial cells.
  Each row is one *segment* between two crossings, carrying door-number ranges per side in the
  TIGER style: numbers grow along the road from where it enters the street, one number slot every
  ``DOOR_STEP_M`` metres per side; odd numbers on the left, even on the right. East-west roads run
  west -> east (left = north side), north-south roads run north -> south (left = east side).
* **compounds** (小区/院): the blocks between roads are cut into compounds; a few large cells
  become one large estate (1,500-4,000 households). A compound has a gate on a road and so a
  door number: 广渠路8号院.
* **buildings**: walk-ups (5-6 floors, 36-72 households), mid-rise (9-18 floors, 80-200) and
  towers (18-32 floors, 120-480), packed in south-facing rows inside the compounds, plus a few
  stand-alone buildings with street-style addresses (广渠路23号). Each has a stable id
  (``SJ-000123``), a standard address, a point (inside exactly one community: buildings, not
  compounds, are bound to communities) and a rectangular footprint aligned with the road grid; no
  two footprints overlap.
* **sites** (parks, schools, a hospital, a market, office blocks) hold no dwellings;
  **landmarks** are points: the bridge at the main arterial crossing (双井桥 at 广渠路 x
  东三环中路), the four subway exits around it (双井站A口...), market, park, school, hospital.
* **crossings**: every point where two named roads meet, named "广渠路与东三环中路交叉口"
  (east-west road first).

Density. The real 双井街道 (about 5 km2) has roughly 100,000 residents; at Beijing's average of
2.3-2.5 persons per household (2020 census) that is some 40,000-45,000 occupied homes, and more
dwellings than that (vacant, second homes, rented rooms counted once). The default target is
``HOUSEHOLDS_PER_KM2 = 10,000`` dwellings per square kilometre of street area: about 48,500 for the
4.85 km2 ``demo_street()``, which yields ~47,500 in ~470 buildings (3 estates, ~95 compounds).
Housing land beyond what the target needs becomes office and commercial blocks (a real street's
non-residential share), instead of thinning every compound. By building count the intended mix is
about half walk-ups, 28% mid-rise and 20% towers (towers hold the most households).

Columns (all layers EPSG:4326):

* roads: road_id, segment_id, name, kind (arterial|major|minor), orientation (EW|NS),
  from_left, to_left (odd), from_right, to_right (even), length_m; LineString per segment.
* compounds: compound_id, name, address (…路8号院), road, door_number, community_code (where most
  of its households live), community_codes (all, comma-separated), straddles, estate, style,
  buildings, households, gate_lon, gate_lat; Polygon.
* buildings: building_id, address, road, door_number (str), compound (None for stand-alone),
  building_no (str, None for stand-alone), households, floors, kind (walkup|midrise|tower),
  standalone, community_code, footprint (rectangle Polygon); Point geometry (footprint centre,
  moved inside the footprint when the centre is on a community border).
* landmarks: name, kind (bridge|subway_exit|park|school|hospital|market), note, community_code.
* crossings: name, road_a (EW), road_b (NS), kind_a, kind_b, community_code.
* sites: site_id, name, kind (park|school|hospital|market|office|commercial); Polygon.

Everything is generated in a local transverse Mercator frame centred on the street (metres) and
returned in EPSG:4326. Road names, compound names and layout are synthetic (a few real names of
the 双井 area are reused for flavour); they are *not* a survey of the real street.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points, unary_union

from grid.errors import GeometryError, InputError

__all__ = [
    "HOUSEHOLDS_PER_KM2",
    "KINDS",
    "SyntheticStreet",
    "demo_street",
    "generate_street",
    "to_files",
]

HOUSEHOLDS_PER_KM2 = 10_000
TMERC_TAIL = "+ellps=WGS84 +units=m +no_defs"
DOOR_STEP_M = 50.0  # one door-number slot per side every 50 m of road
ESTATE_RANGE = (1_500, 4_000)
COMPOUND_RANGE = (120, 1_400)  # ordinary compounds (targets; small ones may end lower)
SETBACK_M = 8.0  # buildings keep this far inside their block (pavement, walls, fire lanes)
WALL_M = 2.0  # compound polygon = piece shrunk by this (neighbouring compounds never touch)
HALF_WIDTH = {"arterial": 25.0, "major": 12.0, "minor": 6.0}
KIND_BONUS = {"arterial": 20.0, "major": 10.0, "minor": 0.0}  # gates prefer the bigger road


@dataclass(frozen=True)
class KindSpec:
    """A building kind: floors, households per building and how it is packed."""

    name: str
    label: str
    floors: tuple[int, int]
    households: tuple[int, int]
    row_gap: float  # north-south spacing between rows (sunlight spacing), metres
    col_gap: float  # spacing between buildings in a row, metres


KINDS: dict[str, KindSpec] = {
    "walkup": KindSpec("walkup", "多层板楼(无电梯)", (5, 6), (36, 72), 22.0, 10.0),
    "midrise": KindSpec("midrise", "小高层", (9, 18), (80, 200), 30.0, 14.0),
    "tower": KindSpec("tower", "高层/塔楼", (18, 32), (120, 480), 40.0, 22.0),
}

# Compound styles: probability of each row kind, and gross density (households per hectare of compound).
STYLES: dict[str, tuple[dict[str, float], float]] = {
    "walkup_1980s": ({"walkup": 0.9, "midrise": 0.1}, 125.0),
    "mixed_1990s": ({"walkup": 0.4, "midrise": 0.4, "tower": 0.2}, 160.0),
    "midrise_2010s": ({"midrise": 0.7, "tower": 0.3}, 180.0),
    "highrise_2000s": ({"midrise": 0.3, "tower": 0.7}, 220.0),
}
STYLE_WEIGHTS = {"walkup_1980s": 0.5, "mixed_1990s": 0.25, "midrise_2010s": 0.13, "highrise_2000s": 0.12}
ESTATE_STYLE_WEIGHTS = {"highrise_2000s": 0.55, "mixed_1990s": 0.45}

# ---- names -------------------------------------------------------------------------------------
V_ARTERIALS = ["东三环中路", "东四环中路", "西大望路", "东四环辅路"]  # west-most, east-most, then middle
H_ARTERIALS = ["广渠路", "百子湾路", "通惠河南路", "松榆南路"]  # middle one first, then south, north
V_MAJORS = ["九龙山路", "劲松路", "黄木厂路", "双井东路", "大望东路"]
H_MAJORS = ["双花园南里路", "垂杨柳中街", "广渠东路", "百子湾南二路", "东柳中街"]
MINOR_PREFIXES = [
    "双井",
    "垂杨柳",
    "九龙",
    "广泉",
    "百子",
    "黄木厂",
    "双花园",
    "富力",
    "光环",
    "大望",
    "广和",
    "东柏",
    "茂兴",
    "和平",
    "水碓",
    "西柳",
    "乐成",
    "金港",
    "南磨",
    "架松",
]
MINOR_SUFFIXES = ["东街", "西街", "北街", "南街", "中街", "胡同", "东里路", "北路", "一巷", "二巷"]
REAL_COMPOUNDS: list[tuple[str, str]] = [
    ("富力城", "highrise_2000s"),
    ("九龙山家园", "mixed_1990s"),
    ("百子园", "highrise_2000s"),
    ("垂杨柳东里", "walkup_1980s"),
    ("垂杨柳西里", "walkup_1980s"),
    ("广泉小区", "walkup_1980s"),
    ("光环小区", "walkup_1980s"),
    ("双花园", "mixed_1990s"),
    ("黄木厂", "walkup_1980s"),
    ("九龙花园", "midrise_2010s"),
    ("广和里", "walkup_1980s"),
    ("和平村一区", "walkup_1980s"),
    ("东柏街小区", "mixed_1990s"),
    ("乐成国际", "highrise_2000s"),
    ("金港国际", "midrise_2010s"),
]
COMPOUND_SUFFIXES = {
    "walkup_1980s": ["东里", "西里", "北里", "南里", "小区", "一区", "二区"],
    "mixed_1990s": ["家园", "小区", "花园", "新村"],
    "midrise_2010s": ["嘉园", "苑", "雅园", "花园"],
    "highrise_2000s": ["国际", "公寓", "城", "华府", "中心"],
}
ESTATE_CELL_SHARE = 0.12  # share of large arterial cells that hold one large estate
ESTATE_LEN_M = 320.0  # an estate cell is cut into pieces about this long; the biggest is the estate
STANDALONE_SHARE = 0.2  # share of compounds on arterial/major roads that give up a frontage strip
OFFICE_SHARE = 0.08  # at most this share of pieces become office blocks (along the first arterial)
SITE_KINDS = ["park", "school", "hospital", "market"]
SITE_IDEAL_M2 = {"park": 30_000.0, "school": 20_000.0, "hospital": 15_000.0, "market": 6_000.0}


@dataclass
class SyntheticStreet:
    """The generated layers (all GeoDataFrames in EPSG:4326) and a summary."""

    roads: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    landmarks: gpd.GeoDataFrame
    crossings: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    street_name: str = ""
    district_name: str = ""
    seed: int = 0
    summary: dict[str, Any] = field(default_factory=dict)


# ---- local metric frame ------------------------------------------------------------------------


class _Frame:
    """EPSG:4326 <-> local transverse Mercator (metres), optionally rotated by ``angle_deg``."""

    def __init__(self, lon0: float, lat0: float, angle_deg: float = 0.0) -> None:
        self.proj = f"+proj=tmerc +lat_0={lat0:.6f} +lon_0={lon0:.6f} +k=1 +x_0=0 +y_0=0 " + TMERC_TAIL
        self.crs = CRS.from_proj4(self.proj)
        self._fwd = Transformer.from_crs(CRS.from_epsg(4326), self.crs, always_xy=True)
        self._inv = Transformer.from_crs(self.crs, CRS.from_epsg(4326), always_xy=True)
        a = math.radians(angle_deg)
        self._c, self._s = math.cos(a), math.sin(a)

    def to_local(self, g: BaseGeometry) -> Any:
        def f(xy: np.ndarray) -> np.ndarray:
            x, y = self._fwd.transform(xy[:, 0], xy[:, 1])
            x, y = np.asarray(x), np.asarray(y)
            return np.column_stack([x * self._c + y * self._s, -x * self._s + y * self._c])

        return shapely.transform(g, f)

    def to_wgs(self, g: Any) -> Any:
        def f(uv: np.ndarray) -> np.ndarray:
            u, v = uv[:, 0], uv[:, 1]
            x, y = u * self._c - v * self._s, u * self._s + v * self._c
            lon, lat = self._inv.transform(x, y)
            return np.column_stack([np.asarray(lon), np.asarray(lat)])

        return shapely.transform(g, f)


# ---- small helpers -----------------------------------------------------------------------------


def _polys(g: BaseGeometry) -> list[Polygon]:
    if g.is_empty:
        return []
    if isinstance(g, Polygon):
        return [g]
    if isinstance(g, MultiPolygon):
        return list(g.geoms)
    if hasattr(g, "geoms"):
        return [p for part in g.geoms for p in _polys(part)]
    return []


def _lines(g: BaseGeometry) -> list[LineString]:
    if g.is_empty:
        return []
    if isinstance(g, LineString):
        return [g]
    if hasattr(g, "geoms"):
        merged = shapely.line_merge(shapely.union_all([p for p in g.geoms if isinstance(p, LineString)]))
        if isinstance(merged, LineString):
            return [merged]
        return [p for p in getattr(merged, "geoms", []) if isinstance(p, LineString)]
    return []


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _name_prefix(street_name: str) -> str:
    for suffix in ("街道办事处", "地区办事处", "街道", "地区", "镇", "乡"):
        if street_name.endswith(suffix) and len(street_name) > len(suffix):
            return street_name[: -len(suffix)]
    return street_name


# ---- buildings ---------------------------------------------------------------------------------


@dataclass
class _Spec:
    kind: str
    floors: int
    households: int
    length: float  # east-west, metres
    depth: float  # north-south, metres


def _sample_spec(kind: str, rng: np.random.Generator) -> _Spec:
    spec = KINDS[kind]
    lo, hi = spec.households
    for _ in range(200):
        floors = int(rng.integers(spec.floors[0], spec.floors[1] + 1))
        if kind == "walkup":
            units, per_unit = int(rng.integers(3, 7)), 2
            length, depth = units * 14.0 + 2.0, 11.0
        elif kind == "midrise":
            units, per_unit = int(rng.integers(1, 4)), int(rng.integers(2, 5))
            length, depth = (22.0, 18.0) if units == 1 else (units * 20.0, 14.0)
        else:
            if rng.random() < 0.5:  # point tower
                units, per_unit = 1, int(rng.integers(6, 13))
                side = 22.0 + per_unit * 0.75
                length, depth = side, side
            else:  # slab tower
                units, per_unit = int(rng.integers(2, 4)), int(rng.integers(2, 5))
                length, depth = units * 22.0, 16.0
        hh = floors * units * per_unit
        if lo <= hh <= hi:
            return _Spec(kind, floors, hh, length, depth)
    raise AssertionError(f"cannot sample a {kind} building")  # pragma: no cover - ranges are satisfiable


def _pack(area: Polygon, style: str, rng: np.random.Generator) -> list[tuple[Polygon, _Spec]]:
    """Candidate building slots in south-facing rows, north to south, each inside ``area``."""
    weights = STYLES[style][0]
    shapely.prepare(area)
    contains = area.contains
    minx, miny, maxx, maxy = area.bounds
    slots: list[tuple[Polygon, _Spec]] = []
    y = maxy - float(rng.uniform(0.0, 6.0))
    while y - 11.0 >= miny:
        kind = _pick(rng, weights)
        spec = KINDS[kind]
        row_depth = 11.0
        x = minx + float(rng.uniform(0.0, 8.0))
        pending = _sample_spec(kind, rng)
        while x + 20.0 <= maxx:
            placed = False
            for _ in range(4):  # a shorter building of the same kind may still fit here
                rect = box(x, y - pending.depth, x + pending.length, y)
                if x + pending.length <= maxx and contains(rect):
                    slots.append((rect, pending))
                    row_depth = max(row_depth, pending.depth)
                    x += pending.length + spec.col_gap + float(rng.uniform(0.0, 4.0))
                    placed = True
                    pending = _sample_spec(kind, rng)
                    break
                pending = _sample_spec(kind, rng)
            if not placed:
                x += 6.0
        y -= row_depth + spec.row_gap + float(rng.uniform(0.0, 4.0))
    return slots


# ---- roads -------------------------------------------------------------------------------------


@dataclass
class _Road:
    name: str
    kind: str
    orient: str  # "EW" | "NS"
    pos: float  # y of an EW road, x of an NS road (local frame)
    parts: list[LineString]
    origin: float = 0.0  # coordinate where numbering starts (x for EW, -y for NS)
    road_id: str = ""

    def measure(self, p: Point) -> float:
        return (p.x if self.orient == "EW" else -p.y) - self.origin

    def side(self, p: Point) -> str:
        """'left' or 'right' of the road's direction for a point off the road."""
        if self.orient == "EW":
            return "left" if p.y > self.pos else "right"
        return "left" if p.x > self.pos else "right"


def _primary_positions(lo: float, length: float, spacing: float, rng: np.random.Generator) -> list[float]:
    n = max(1, round(length / spacing) - 1)
    sp = length / (n + 1)
    return [lo + sp * (i + 1) + float(rng.uniform(-0.12, 0.12)) * sp for i in range(n)]


def _name_lines(
    n: int, arterial_idx: list[int], pools: tuple[list[str], list[str]], order: list[int]
) -> list[str]:
    """Names for n parallel primaries: arterials from pools[0] in ``order`` priority, majors from pools[1]."""
    names = [""] * n
    art_pool = list(pools[0])
    for rank, i in enumerate(order):
        if i in arterial_idx:
            names[i] = art_pool[rank] if rank < len(art_pool) else f"{art_pool[0]}{rank}"
    maj_pool = list(pools[1])
    k = 0
    for i in range(n):
        if not names[i]:
            names[i] = maj_pool[k] if k < len(maj_pool) else f"{maj_pool[0]}{k}"
            k += 1
    return names


def _estate_cells(
    P: Polygon | MultiPolygon, xb: list[float], yb: list[float], rng: np.random.Generator
) -> tuple[list[tuple[tuple[int, int], float, Polygon]], set[tuple[int, int]]]:
    """(the arterial cells: (ix, iy), area in the street, box; the cells that become estates)."""
    cells = []
    for ix in range(len(xb) - 1):
        for iy in range(len(yb) - 1):
            cell = box(xb[ix], yb[iy + 1], xb[ix + 1], yb[iy])
            a = cell.intersection(P).area
            cells.append(((ix, iy), a, cell))
    big = [c for c in cells if c[1] >= 80_000.0]
    n_estates = max(1, round(ESTATE_CELL_SHARE * len(big))) if big else 0
    order = rng.permutation(len(big)) if big else np.array([], dtype=int)
    return cells, {big[int(i)][0] for i in order[:n_estates]}


def _make_roads(
    P: Polygon | MultiPolygon, rng: np.random.Generator
) -> tuple[list[_Road], set[tuple[int, int]], list[float], list[float]]:
    minx, miny, maxx, maxy = P.bounds
    W, H = maxx - minx, maxy - miny
    xs = _primary_positions(minx, W, 420.0, rng)
    ys = sorted(_primary_positions(miny, H, 420.0, rng), reverse=True)  # north -> south
    nv, nh = len(xs), len(ys)
    v_art = sorted({0, nv - 1} | ({nv // 2} if nv >= 5 else set()))
    h_art = sorted({nh // 2} | ({nh - 1} if nh >= 4 else set()) | ({0} if nh >= 6 else set()))
    # priority: west-most, east-most, middle ... ; horizontal: middle (广渠路), south, north
    v_order = [0, nv - 1] + [i for i in range(1, nv - 1)]
    h_order = [nh // 2] + [i for i in range(nh - 1, -1, -1) if i != nh // 2]
    v_order = list(dict.fromkeys(v_order))
    v_names = _name_lines(nv, v_art, (V_ARTERIALS, V_MAJORS), [i for i in v_order if i in v_art])
    h_names = _name_lines(nh, h_art, (H_ARTERIALS, H_MAJORS), [i for i in h_order if i in h_art])

    margin = 10.0
    roads: list[_Road] = []

    def add(name: str, kind: str, orient: str, pos: float, a: float, b: float) -> None:
        # east-west roads run west -> east, north-south roads north -> south (high y to low y)
        line = LineString([(a, pos), (b, pos)]) if orient == "EW" else LineString([(pos, b), (pos, a)])
        parts = [ln for ln in _lines(line.intersection(P)) if ln.length >= 30.0]
        if not parts:
            return
        parts = [_orient(ln, orient) for ln in parts]
        parts.sort(key=lambda ln: ln.coords[0][0] if orient == "EW" else -ln.coords[0][1])
        road = _Road(name, kind, orient, pos, parts)
        road.origin = parts[0].coords[0][0] if orient == "EW" else -parts[0].coords[0][1]
        roads.append(road)

    for i, x in enumerate(xs):
        add(v_names[i], "arterial" if i in v_art else "major", "NS", x, miny - margin, maxy + margin)
    for i, y in enumerate(ys):
        add(h_names[i], "arterial" if i in h_art else "major", "EW", y, minx - margin, maxx + margin)

    # arterial cells (between primaries or the bounding box); some become estates without minor roads
    xb = [minx - margin, *xs, maxx + margin]
    yb = [maxy + margin, *ys, miny - margin]
    cells, estates = _estate_cells(P, xb, yb, rng)

    minor_names = [p + s for p in MINOR_PREFIXES for s in MINOR_SUFFIXES]
    minor_names = [minor_names[int(i)] for i in rng.permutation(len(minor_names))]
    used = {r.name for r in roads}
    minor_names = [n for n in minor_names if n not in used]
    k = 0
    for (ix, iy), _a, _cell in cells:
        if (ix, iy) in estates:
            continue
        x0, x1 = xb[ix], xb[ix + 1]
        y1, y0 = yb[iy], yb[iy + 1]
        if x1 - x0 > 280.0:  # a north-south minor street across the cell
            x = (x0 + x1) / 2 + float(rng.uniform(-0.15, 0.15)) * (x1 - x0)
            add(minor_names[k % len(minor_names)], "minor", "NS", x, y0, y1)
            k += 1
        if y1 - y0 > 280.0:  # an east-west one
            y = (y0 + y1) / 2 + float(rng.uniform(-0.15, 0.15)) * (y1 - y0)
            add(minor_names[k % len(minor_names)], "minor", "EW", y, x0, x1)
            k += 1
    for i, r in enumerate(roads, start=1):
        r.road_id = f"R{i:03d}"
    return roads, estates, xb, yb


def _orient(ln: LineString, orient: str) -> LineString:
    (ax, ay), (bx, by) = ln.coords[0], ln.coords[-1]
    if (orient == "EW" and ax > bx) or (orient == "NS" and ay < by):
        return LineString(list(ln.coords)[::-1])
    return ln


def _crossings(roads: list[_Road]) -> list[tuple[_Road, _Road, Point]]:
    out: list[tuple[_Road, _Road, Point]] = []
    ew = [r for r in roads if r.orient == "EW"]
    ns = [r for r in roads if r.orient == "NS"]
    for a in ew:
        for b in ns:
            for pa in a.parts:
                for pb in b.parts:
                    if not pa.intersects(pb):
                        continue
                    g = pa.intersection(pb)
                    pts = (
                        [g]
                        if isinstance(g, Point)
                        else [p for p in getattr(g, "geoms", []) if isinstance(p, Point)]
                    )
                    out.extend((a, b, p) for p in pts)
    return out


def _slot(s: float) -> int:
    return math.floor(max(s, 0.0) / DOOR_STEP_M)


def _segments(roads: list[_Road], crossings: list[tuple[_Road, _Road, Point]]) -> list[dict[str, Any]]:
    cuts: dict[str, list[float]] = {r.road_id: [] for r in roads}
    for a, b, p in crossings:
        cuts[a.road_id].append(p.x)
        cuts[b.road_id].append(p.y)
    rows: list[dict[str, Any]] = []
    for r in roads:
        n = 0
        for part in r.parts:
            (ax, ay), (bx, by) = part.coords[0], part.coords[-1]
            if r.orient == "EW":
                lo, hi = ax, bx
                inner = sorted(c for c in cuts[r.road_id] if lo + 1.0 < c < hi - 1.0)
                bounds = [lo, *inner, hi]
                geoms = [LineString([(u, ay), (v, ay)]) for u, v in itertools.pairwise(bounds)]
                meas = [(u - r.origin, v - r.origin) for u, v in itertools.pairwise(bounds)]
            else:
                hi, lo = ay, by  # north -> south
                inner = sorted((c for c in cuts[r.road_id] if lo + 1.0 < c < hi - 1.0), reverse=True)
                bounds = [hi, *inner, lo]
                geoms = [LineString([(ax, u), (ax, v)]) for u, v in itertools.pairwise(bounds)]
                meas = [(-u - r.origin, -v - r.origin) for u, v in itertools.pairwise(bounds)]
            for g, (s0, s1) in zip(geoms, meas, strict=True):
                n += 1
                k0, k1 = _slot(s0), _slot(max(s0, s1 - 1e-6))
                rows.append(
                    {
                        "road_id": r.road_id,
                        "segment_id": f"{r.road_id}-{n:02d}",
                        "name": r.name,
                        "kind": r.kind,
                        "orientation": r.orient,
                        "from_left": 2 * k0 + 1,
                        "to_left": 2 * k1 + 1,
                        "from_right": 2 * k0 + 2,
                        "to_right": 2 * k1 + 2,
                        "s0": s0,
                        "s1": s1,
                        "geometry": g,
                        "_road": r,
                    }
                )
    return rows


class _DoorBook:
    """Door numbers handed out per road: the slot of the gate, moved to the nearest free one."""

    def __init__(self) -> None:
        self.used: dict[str, set[int]] = {}

    def take(self, road: _Road, s: float, side: str) -> int:
        used = self.used.setdefault(road.name, set())
        k = _slot(s)
        base = 1 if side == "left" else 2
        for d in range(0, 400):
            for kk in (k + d, k - d) if d else (k,):
                if kk < 0:
                    continue
                n = 2 * kk + base
                if n not in used:
                    used.add(n)
                    return n
        raise AssertionError("no free door number")  # pragma: no cover


def _gate(geom: BaseGeometry, segments: list[dict[str, Any]]) -> tuple[dict[str, Any], Point, Point]:
    """The segment a parcel/building is addressed on, the gate point on the road, and its own point."""
    best: tuple[float, str, int] | None = None
    for i, seg in enumerate(segments):
        d = geom.distance(seg["geometry"]) - KIND_BONUS[seg["kind"]]
        key = (d, seg["segment_id"], i)
        if best is None or key < best:
            best = key
    assert best is not None
    seg = segments[best[2]]
    own, on_road = nearest_points(geom, seg["geometry"])
    return seg, on_road, own


# ---- the generator -----------------------------------------------------------------------------


@dataclass
class _Piece:
    geom: Polygon  # local frame, inside a block
    cls: str  # estate | compound | standalone | site
    cell: tuple[int, int]
    style: str = ""
    site_kind: str = ""
    target: int = 0
    slots: list[tuple[Polygon, _Spec]] = field(default_factory=list)
    chosen: list[tuple[Polygon, _Spec]] = field(default_factory=list)


def _check_inputs(
    street_geom: BaseGeometry, communities: gpd.GeoDataFrame
) -> tuple[BaseGeometry, gpd.GeoDataFrame]:
    if street_geom is None or street_geom.is_empty or not isinstance(street_geom, Polygon | MultiPolygon):
        raise GeometryError("street_geom must be a non-empty Polygon or MultiPolygon (EPSG:4326)")
    if not street_geom.is_valid:
        street_geom = shapely.make_valid(street_geom)
    minx, miny, maxx, maxy = street_geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise GeometryError("street_geom does not look like longitude/latitude (EPSG:4326)")
    missing = [c for c in ("code", "name") if c not in communities.columns]
    if missing:
        raise InputError(f"communities lack column(s) {', '.join(missing)}", code="missing_field")
    if communities.empty:
        raise InputError("communities is empty", code="empty_file")
    comms = communities.copy()
    if comms.crs is None:
        comms = comms.set_crs(4326)
    elif comms.crs.to_epsg() != 4326:
        comms = comms.to_crs(4326)
    comms["code"] = comms["code"].astype(str)
    comms = comms.sort_values("code").reset_index(drop=True)
    return street_geom, comms


def generate_street(
    street_geom: BaseGeometry,
    communities: gpd.GeoDataFrame,
    *,
    seed: int = 16,
    street_name: str = "双井街道",
    district_name: str = "朝阳区",
    city_name: str = "北京市",
    id_prefix: str = "SJ",
    households_per_km2: float = HOUSEHOLDS_PER_KM2,
    grid_angle_deg: float = 0.0,
) -> SyntheticStreet:
    """Generate roads, compounds, buildings, sites, landmarks and crossings for one street.

    ``communities`` (columns code, name, geometry; EPSG:4326) should tile ``street_geom``; a
    building whose point lies in no community (a gap) is dropped and counted in
    ``summary['dropped']``. ``grid_angle_deg`` turns the road grid (counter-clockwise from east).
    Same inputs and seed -> identical output.

    The recipe (one random stream, in this order): roads; blocks cut into pieces; sites; frontage
    strips; styles and building slots; household targets; compound names; buildings and gates;
    then back to EPSG:4326 with communities, and the layers.
    """
    street_geom, comms = _check_inputs(street_geom, communities)
    rng = np.random.default_rng(seed)
    frame, P = _street_plane(street_geom, grid_angle_deg)
    area_km2 = P.area / 1e6
    roads, estate_cells, xb, yb = _make_roads(P, rng)
    crossings = _crossings(roads)
    segments = _segments(roads, crossings)
    pieces = _pieces(P, roads, estate_cells, (xb, yb), rng)
    _plant_sites(pieces, roads, segments, rng)
    pieces.extend(_frontage_strips(pieces, roads, rng))
    _styles_and_slots(pieces, rng)
    total_target = area_km2 * households_per_km2
    _household_targets(pieces, total_target, rng)
    name_of = _compound_names(pieces, street_name, rng)
    comp_rows, bld_rows, site_rows = _place_buildings(pieces, segments, name_of, rng)
    _door_ranges(comp_rows, bld_rows)

    locate = _Locator(street_geom, comms)
    kept, dropped = _locate_buildings(bld_rows, frame, locate)
    head = f"{city_name}{district_name}{street_name}"
    buildings = _buildings_layer(kept, head, id_prefix)
    compounds = _compounds_layer(comp_rows, buildings, frame, head, id_prefix)
    roads_gdf = _roads_layer(segments, frame)
    cross_records = _crossing_records(crossings, frame)
    prefix = _name_prefix(street_name)
    land = _landmark_records(cross_records, prefix, frame)
    sites = _sites_layer(site_rows, prefix, frame, id_prefix, land)
    landmarks, crossings_gdf = _point_layers(land, cross_records, locate)
    hh = int(buildings["households"].sum()) if not buildings.empty else 0
    summary = {
        "area_km2": round(area_km2, 3),
        "target_households": round(total_target),
        "households": hh,
        "buildings": len(buildings),
        "compounds": len(compounds),
        "estates": int(compounds["estate"].sum()) if not compounds.empty else 0,
        "standalone_buildings": int(buildings["standalone"].sum()) if not buildings.empty else 0,
        "roads": int(roads_gdf["name"].nunique()),
        "road_segments": len(roads_gdf),
        "crossings": len(crossings_gdf),
        "landmarks": len(landmarks),
        "sites": len(sites),
        "kinds": {k: int((buildings["kind"] == k).sum()) for k in KINDS} if not buildings.empty else {},
        "dropped": dropped,
        "metric_crs": frame.proj,
    }
    return SyntheticStreet(
        roads=roads_gdf,
        compounds=compounds,
        buildings=buildings,
        landmarks=landmarks,
        crossings=crossings_gdf,
        sites=sites,
        street_name=street_name,
        district_name=district_name,
        seed=seed,
        summary=summary,
    )


def _street_plane(street_geom: BaseGeometry, grid_angle_deg: float) -> tuple[_Frame, Any]:
    """The local frame at the street's centre and the street polygon in it (at least 4 ha)."""
    c = street_geom.centroid
    frame = _Frame(round(c.x, 6), round(c.y, 6), grid_angle_deg)
    P = frame.to_local(street_geom)
    if not P.is_valid:
        P = shapely.make_valid(P)
    if P.area < 40_000:
        raise GeometryError(f"street polygon too small for a street layout ({P.area:.0f} m2)")
    return frame, P


def _pieces(
    P: Any,
    roads: list[_Road],
    estate_cells: Any,
    bounds: tuple[Any, Any],
    rng: np.random.Generator,
) -> list[_Piece]:
    """The blocks between the roads (north to south, west to east), each cut into pieces; in an
    estate cell the biggest piece of at least 5 ha is the estate, small pieces are stand-alone."""
    xb, yb = bounds
    road_area = unary_union(
        [ln.buffer(HALF_WIDTH[r.kind], cap_style="flat") for r in roads for ln in r.parts]
    )
    blocks = [b for b in _polys(P.difference(road_area)) if b.area >= 1_500.0]
    blocks.sort(key=lambda b: (-round(b.representative_point().y, 3), round(b.representative_point().x, 3)))

    def cell_of(p: Point) -> tuple[int, int]:
        ix = max(0, min(len(xb) - 2, int(np.searchsorted(xb, p.x)) - 1))
        iy = 0
        for j in range(len(yb) - 1):
            if yb[j + 1] <= p.y <= yb[j]:
                iy = j
                break
        return ix, iy

    pieces: list[_Piece] = []
    for b in blocks:
        cell = cell_of(b.representative_point())
        estate = cell in estate_cells
        parts = _cut_block(b, estate, rng)
        biggest = max(range(len(parts)), key=lambda n: parts[n].area) if (estate and parts) else -1
        for n, p in enumerate(parts):
            if estate and n == biggest and p.area >= 50_000.0:
                pieces.append(_Piece(p, "estate", cell))
            elif p.area < 5_000.0:
                pieces.append(_Piece(p, "standalone", cell))
            else:
                pieces.append(_Piece(p, "compound", cell))
    return pieces


def _cut_block(b: Polygon, estate: bool, rng: np.random.Generator) -> list[Polygon]:
    """A block cut by a jittered grid (estate cells by :data:`ESTATE_LEN_M`) into pieces of >= 1,200 m2."""
    bx0, by0, bx1, by1 = b.bounds
    tx = ESTATE_LEN_M if estate else float(rng.uniform(110.0, 200.0))
    ty = ESTATE_LEN_M if estate else float(rng.uniform(150.0, 260.0))
    kx, ky = max(1, round((bx1 - bx0) / tx)), max(1, round((by1 - by0) / ty))
    cx = [bx0 + (bx1 - bx0) * i / kx for i in range(kx + 1)]
    cy = [by0 + (by1 - by0) * j / ky for j in range(ky + 1)]
    for i in range(1, kx):
        cx[i] += float(rng.uniform(-0.12, 0.12)) * (bx1 - bx0) / kx
    for j in range(1, ky):
        cy[j] += float(rng.uniform(-0.12, 0.12)) * (by1 - by0) / ky
    parts: list[Polygon] = []
    for j in range(ky - 1, -1, -1):
        for i in range(kx):
            cut = box(
                cx[i] - (1 if i == 0 else 0),
                cy[j] - (1 if j == 0 else 0),
                cx[i + 1] + (1 if i == kx - 1 else 0),
                cy[j + 1] + (1 if j == ky - 1 else 0),
            )
            parts.extend(p for p in _polys(b.intersection(cut)) if p.area >= 1_200.0)
    return parts


def _plant_sites(
    pieces: list[_Piece], roads: list[_Road], segments: list[dict[str, Any]], rng: np.random.Generator
) -> None:
    """Sites: park, school, hospital, market, then office blocks along the first arterial."""
    ordinary = [pc for pc in pieces if pc.cls == "compound"]
    max_sites = max(0, len(ordinary) - max(3, int(0.6 * len(ordinary))))
    for kind in SITE_KINDS:
        if max_sites <= 0:
            break
        cands = [pc for pc in pieces if pc.cls == "compound"]
        if not cands:
            break
        ideal = SITE_IDEAL_M2[kind]
        scores = [abs(pc.geom.area - ideal) * float(rng.uniform(0.7, 1.3)) for pc in cands]
        site_pc = cands[int(np.argmin(scores))]
        site_pc.cls, site_pc.site_kind = "site", kind
        max_sites -= 1
    arterials = [seg for seg in segments if seg["kind"] == "arterial"]
    if not (arterials and max_sites > 0):
        return
    first = min(
        (r for r in roads if r.kind == "arterial" and r.orient == "NS"), key=lambda r: r.pos, default=None
    )
    if first is None:
        return
    near = [
        pc for pc in pieces if pc.cls == "compound" and min(ln.distance(pc.geom) for ln in first.parts) < 60.0
    ]
    max_sites = min(max_sites, round(OFFICE_SHARE * len(pieces)))
    for pc in near:
        if max_sites <= 0:
            break
        if rng.random() < 0.5:
            pc.cls, pc.site_kind = "site", "office"
            max_sites -= 1


def _frontage_strips(pieces: list[_Piece], roads: list[_Road], rng: np.random.Generator) -> list[_Piece]:
    """A frontage strip of some compounds on big roads becomes a row of stand-alone buildings
    (商住楼): the compound shrinks, and the new pieces are returned."""
    big_roads = [r for r in roads if r.kind != "minor"]
    extra: list[_Piece] = []
    for pc in pieces:
        if pc.cls != "compound" or not big_roads or rng.random() >= STANDALONE_SHARE:
            continue
        road = min(big_roads, key=lambda r: (min(ln.distance(pc.geom) for ln in r.parts), r.road_id))
        if min(ln.distance(pc.geom) for ln in road.parts) > HALF_WIDTH[road.kind] + 5.0:
            continue
        reach = HALF_WIDTH[road.kind] + float(rng.uniform(34.0, 44.0))
        strip = pc.geom.intersection(unary_union([ln.buffer(reach, cap_style="flat") for ln in road.parts]))
        rest = [p for p in _polys(pc.geom.difference(strip)) if p.area >= 1_200.0]
        strips = [p for p in _polys(strip) if p.area >= 1_200.0]
        if not rest or not strips:
            continue
        rest.sort(key=lambda p: -p.area)
        pc.geom = rest[0]
        extra.extend(_Piece(p, "standalone", pc.cell) for p in strips)
        extra.extend(_Piece(p, "compound", pc.cell) for p in rest[1:] if p.area >= 5_000.0)
    return extra


def _styles_and_slots(pieces: list[_Piece], rng: np.random.Generator) -> None:
    """Each piece's style, its candidate building slots, and the stand-alone buildings (chosen first)."""
    for pc in pieces:
        if pc.cls == "estate":
            pc.style = _pick(rng, ESTATE_STYLE_WEIGHTS)
        elif pc.cls in ("compound", "standalone"):
            pc.style = _pick(rng, STYLE_WEIGHTS)
    for pc in pieces:
        if pc.cls == "site":
            continue
        for ip in _polys(pc.geom.buffer(-SETBACK_M, join_style="mitre")):
            pc.slots.extend(_pack(ip, pc.style, rng))
        if pc.cls == "standalone":
            want = int(rng.integers(1, 3))
            # stand-alone buildings on big roads are mostly mid-rise and towers (商住楼)
            order = sorted(range(len(pc.slots)), key=lambda n: (-pc.slots[n][1].households, n))
            pc.chosen = [pc.slots[n] for n in order[:want]]


def _household_targets(pieces: list[_Piece], total_target: float, rng: np.random.Generator) -> None:
    """Household targets of estates and compounds that sum to the street's target (surplus compounds
    become offices and shops)."""
    standalone_hh = sum(spec.households for pc in pieces if pc.cls == "standalone" for _, spec in pc.chosen)
    need = max(0.0, total_target - standalone_hh)
    capacity = {id(pc): sum(spec.households for _, spec in pc.slots) for pc in pieces}
    raw = {
        id(pc): min(
            capacity[id(pc)], pc.geom.area / 1e4 * STYLES[pc.style][1] * float(rng.uniform(0.85, 1.15))
        )
        for pc in pieces
        if pc.cls in ("estate", "compound")
    }
    # more housing land than the target needs: the surplus compounds become offices and shops (the
    # non-residential share of a real street), rather than thinning every compound
    ordinary = [pc for pc in pieces if pc.cls == "compound"]
    excess = sum(raw.values()) - need * 1.02
    for n in rng.permutation(len(ordinary)):
        if excess <= 0:
            break
        pc = ordinary[int(n)]
        if raw[id(pc)] > excess * 1.5 + 200.0:
            continue
        pc.cls, pc.site_kind = "site", ("commercial" if rng.random() < 0.4 else "office")
        excess -= raw.pop(id(pc))

    def targets(scale: float) -> dict[int, int]:
        out = {}
        for pc in pieces:
            if pc.cls in ("estate", "compound"):
                lo, hi = ESTATE_RANGE if pc.cls == "estate" else COMPOUND_RANGE
                out[id(pc)] = int(min(capacity[id(pc)], np.clip(raw[id(pc)] * scale, lo, hi)))
        return out

    scale = 1.0
    for _ in range(10):  # caps and capacities bind: adjust the scale until the sum meets the need
        got = sum(targets(scale).values())
        if got <= 0 or abs(got - need) < 0.01 * need:
            break
        scale = float(np.clip(scale * need / got, 0.6, 1.6))
    tg = targets(scale)
    for pc in pieces:
        if id(pc) in tg:
            pc.target = tg[id(pc)]


def _compound_names(pieces: list[_Piece], street_name: str, rng: np.random.Generator) -> dict[int, str]:
    """Names for compounds (by ``id`` of the piece): real names where the style fits (largest
    first), else invented."""
    used_names: set[str] = set()
    real = list(REAL_COMPOUNDS)
    invented_prefixes = [MINOR_PREFIXES[int(i)] for i in rng.permutation(len(MINOR_PREFIXES))]
    name_of: dict[int, str] = {}
    by_size = sorted(
        (pc for pc in pieces if pc.cls in ("estate", "compound")), key=lambda pc: (-pc.target, -pc.geom.area)
    )
    counter = 0
    for pc in by_size:
        name = ""
        for n, (rn, st) in enumerate(real):
            if st == pc.style and rn not in used_names:
                name = rn
                real.pop(n)
                break
        while not name:
            sfx = COMPOUND_SUFFIXES[pc.style]
            cand = (
                invented_prefixes[counter % len(invented_prefixes)]
                + sfx[(counter // len(invented_prefixes)) % len(sfx)]
            )
            if counter >= len(invented_prefixes) * len(sfx):
                cand = f"{cand}{counter // (len(invented_prefixes) * len(sfx)) + 1}期"
            counter += 1
            if cand not in used_names:
                name = cand
        used_names.add(name)
        name_of[id(pc)] = name
    return name_of


Rows = list[dict[str, Any]]


def _place_buildings(
    pieces: list[_Piece], segments: list[dict[str, Any]], name_of: dict[int, str], rng: np.random.Generator
) -> tuple[Rows, Rows, Rows]:
    """(compound rows, building rows, site rows) in the local frame, with gates and door numbers."""
    doors = _DoorBook()
    comp_rows: Rows = []
    bld_rows: Rows = []
    site_rows: Rows = []
    for pc in pieces:
        if pc.cls == "site":
            site_rows.append({"kind": pc.site_kind, "geometry": pc.geom.buffer(-WALL_M, join_style="mitre")})
            continue
        if not pc.slots:
            continue
        chosen = _chosen_slots(pc, rng)
        if pc.cls == "standalone":
            bld_rows += _standalone_rows(chosen, segments, doors)
            continue
        comp = _compound_row(pc, segments, doors, name_of[id(pc)])
        comp_rows.append(comp)
        for n, (rect, spec) in enumerate(chosen, start=1):
            bld_rows.append(
                {
                    "compound": comp["name"],
                    "road": comp["road"],
                    "door_number": comp["door_number"],
                    "building_no": str(n),
                    "spec": spec,
                    "footprint": rect,
                    "gate": comp["gate"],
                    "_comp": comp,
                }
            )
    return comp_rows, bld_rows, site_rows


def _chosen_slots(pc: _Piece, rng: np.random.Generator) -> list[tuple[Polygon, _Spec]]:
    """The piece's buildings: slots in random order up to its target (and range cap), north to south."""
    slots = pc.slots
    chosen: list[tuple[Polygon, _Spec]] = list(pc.chosen)
    if pc.cls != "standalone":
        total = 0
        cap = ESTATE_RANGE[1] if pc.cls == "estate" else COMPOUND_RANGE[1]
        for n in rng.permutation(len(slots)):
            hh = slots[int(n)][1].households
            if (total + hh <= pc.target * 1.05 or not chosen) and total + hh <= cap:
                chosen.append(slots[int(n)])
                total += hh
    chosen.sort(key=lambda s: (-round(s[0].bounds[3], 3), round(s[0].bounds[0], 3)))
    return chosen


def _standalone_rows(
    chosen: list[tuple[Polygon, _Spec]], segments: list[dict[str, Any]], doors: _DoorBook
) -> Rows:
    """Stand-alone buildings: each has its own door number on the nearest road."""
    rows: Rows = []
    for rect, spec in chosen:
        seg, on_road, own = _gate(rect, segments)
        road = seg["_road"]
        door = doors.take(road, road.measure(on_road), road.side(own))
        rows.append(
            {
                "compound": None,
                "road": road.name,
                "door_number": str(door),
                "building_no": None,
                "spec": spec,
                "footprint": rect,
                "gate": on_road,
                "_seg": seg,
                "_side": road.side(own),
                "_door": door,
                "_comp": None,
            }
        )
    return rows


def _compound_row(pc: _Piece, segments: list[dict[str, Any]], doors: _DoorBook, name: str) -> dict[str, Any]:
    """A compound: the piece inside its wall, its gate and door number."""
    comp_geom = pc.geom.buffer(-WALL_M, join_style="mitre")
    seg, on_road, own = _gate(pc.geom, segments)
    road = seg["_road"]
    side = road.side(own)
    door = doors.take(road, road.measure(on_road), side)
    return {
        "name": name,
        "road": road.name,
        "door_number": str(door),
        "style": pc.style,
        "cls": pc.cls,
        "target": pc.target,
        "geometry": comp_geom,
        "gate": on_road,
        "_seg": seg,
        "_side": side,
        "_door": door,
    }


def _door_ranges(comp_rows: Rows, bld_rows: Rows) -> None:
    """Door ranges of segments cover every number handed out on them."""
    for row in [*comp_rows, *(b for b in bld_rows if b["_comp"] is None)]:
        seg, side, door = row["_seg"], row["_side"], row["_door"]
        f, t = ("from_left", "to_left") if side == "left" else ("from_right", "to_right")
        seg[f], seg[t] = min(seg[f], door), max(seg[t], door)


class _Locator:
    """Communities of points (EPSG:4326) within the street."""

    def __init__(self, street_geom: BaseGeometry, comms: gpd.GeoDataFrame) -> None:
        self.comms = comms
        self.street_geom = street_geom
        self.geoms = np.asarray(comms.geometry.values, dtype=object)
        self.tree = shapely.STRtree(self.geoms)
        for g in self.geoms:
            shapely.prepare(g)
        shapely.prepare(street_geom)

    def hits(self, pt: Point) -> list[int]:
        return sorted(int(i) for i in self.tree.query(pt, predicate="within"))

    def code(self, i: int) -> str:
        return str(self.comms["code"].iloc[i])

    def code_of(self, pt: Point) -> str | None:
        hits = self.hits(pt)
        return self.code(hits[0]) if len(hits) == 1 else None


def _locate_buildings(bld_rows: Rows, frame: _Frame, locate: _Locator) -> tuple[Rows, int]:
    """(buildings with their point and community in EPSG:4326, how many fell in no community)."""
    kept: Rows = []
    dropped = 0
    comm_geoms = locate.geoms
    for b in bld_rows:
        fp = frame.to_wgs(b["footprint"])
        pt = fp.centroid
        hits = locate.hits(pt)
        if len(hits) != 1 or not locate.street_geom.contains(pt):
            # on a community boundary (or in a gap): use a point of the footprint inside one community
            pt = None
            for i in sorted(range(len(comm_geoms)), key=lambda i: -fp.intersection(comm_geoms[i]).area):
                part = fp.intersection(comm_geoms[i])
                if part.is_empty or part.area <= 0:
                    break
                q = part.representative_point()
                if locate.hits(q) == [i] and locate.street_geom.contains(q):
                    pt, hits = q, [i]
                    break
            if pt is None:
                dropped += 1
                continue
        b["geometry"] = pt
        b["footprint_wgs"] = fp
        b["community_code"] = locate.code(hits[0])
        kept.append(b)
    return kept, dropped


def _buildings_layer(kept: Rows, head: str, id_prefix: str) -> gpd.GeoDataFrame:
    """The buildings layer: ids and addresses in order."""
    records = []
    for n, b in enumerate(kept, start=1):
        bspec: _Spec = b["spec"]
        if b["compound"]:
            address = f"{head}{b['road']}{b['door_number']}号院{b['compound']}{b['building_no']}号楼"
        else:
            address = f"{head}{b['road']}{b['door_number']}号"
        records.append(
            {
                "building_id": f"{id_prefix}-{n:06d}",
                "address": address,
                "road": b["road"],
                "door_number": b["door_number"],
                "compound": b["compound"],
                "building_no": b["building_no"],
                "households": bspec.households,
                "floors": bspec.floors,
                "kind": bspec.kind,
                "standalone": b["compound"] is None,
                "community_code": b["community_code"],
                "footprint": b["footprint_wgs"],
                "geometry": b["geometry"],
            }
        )
    buildings = gpd.GeoDataFrame(records, geometry="geometry", crs=4326)
    if buildings.empty:
        buildings = _empty(
            [
                "building_id",
                "address",
                "road",
                "door_number",
                "compound",
                "building_no",
                "households",
                "floors",
                "kind",
                "standalone",
                "community_code",
                "footprint",
            ]
        )
    buildings["footprint"] = gpd.GeoSeries(list(buildings["footprint"]), crs=4326, index=buildings.index)
    return buildings


def _compounds_layer(
    comp_rows: Rows, buildings: gpd.GeoDataFrame, frame: _Frame, head: str, id_prefix: str
) -> gpd.GeoDataFrame:
    """The compounds layer (compounds with buildings), with their main community."""
    comp_records = []
    for n, comp in enumerate(comp_rows, start=1):
        mine = buildings[buildings["compound"] == comp["name"]]
        if mine.empty:
            continue
        by_comm = mine.groupby("community_code")["households"].sum()
        top = sorted(by_comm.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        gate = frame.to_wgs(comp["gate"])
        comp_records.append(
            {
                "compound_id": f"{id_prefix}-C{n:04d}",
                "name": comp["name"],
                "address": f"{head}{comp['road']}{comp['door_number']}号院",
                "road": comp["road"],
                "door_number": comp["door_number"],
                "community_code": str(top),
                "community_codes": ",".join(sorted(str(c) for c in by_comm.index)),
                "straddles": len(by_comm) > 1,
                "estate": comp["cls"] == "estate",
                "style": comp["style"],
                "buildings": len(mine),
                "households": int(mine["households"].sum()),
                "gate_lon": round(gate.x, 7),
                "gate_lat": round(gate.y, 7),
                "geometry": frame.to_wgs(comp["geometry"]),
            }
        )
    return (
        gpd.GeoDataFrame(comp_records, geometry="geometry", crs=4326)
        if comp_records
        else _empty(
            [
                "compound_id",
                "name",
                "address",
                "road",
                "door_number",
                "community_code",
                "community_codes",
                "straddles",
                "estate",
                "style",
                "buildings",
                "households",
                "gate_lon",
                "gate_lat",
            ]
        )
    )


def _roads_layer(segments: list[dict[str, Any]], frame: _Frame) -> gpd.GeoDataFrame:
    """The road segments with their door ranges."""
    road_records = []
    for seg in segments:
        g = seg["geometry"]
        road_records.append(
            {
                "road_id": seg["road_id"],
                "segment_id": seg["segment_id"],
                "name": seg["name"],
                "kind": seg["kind"],
                "orientation": seg["orientation"],
                "from_left": seg["from_left"],
                "to_left": seg["to_left"],
                "from_right": seg["from_right"],
                "to_right": seg["to_right"],
                "length_m": round(g.length, 1),
                "geometry": frame.to_wgs(g),
            }
        )
    return gpd.GeoDataFrame(road_records, geometry="geometry", crs=4326)


def _crossing_records(crossings: list[tuple[_Road, _Road, Point]], frame: _Frame) -> Rows:
    """Named crossings, north to south (a repeated name gets a number)."""
    cross_records: Rows = []
    seen: dict[str, int] = {}
    for a, b, p in sorted(crossings, key=lambda t: (-round(t[2].y, 3), round(t[2].x, 3))):
        name = f"{a.name}与{b.name}交叉口"
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}（{seen[name]}）"
        cross_records.append(
            {
                "name": name,
                "road_a": a.name,
                "road_b": b.name,
                "kind_a": a.kind,
                "kind_b": b.kind,
                "_local": p,
                "geometry": frame.to_wgs(p),
            }
        )
    return cross_records


def _landmark_records(cross_records: Rows, prefix: str, frame: _Frame) -> Rows:
    """Landmarks: the bridge and subway exits at the main arterial crossing."""
    land: Rows = []
    art = [c for c in cross_records if c["kind_a"] == "arterial" and c["kind_b"] == "arterial"]
    main = next((c for c in art if c["road_a"] == "广渠路" and c["road_b"] == "东三环中路"), None)
    if main is None and art:
        main = art[len(art) // 2]
    if main is None and cross_records:
        main = cross_records[0]
    if main is None:
        return land
    p = main["_local"]
    land.append(
        {
            "name": f"{prefix}桥",
            "kind": "bridge",
            "geometry": frame.to_wgs(p),
            "note": f"{main['road_a']}与{main['road_b']}相交处立交桥",
        }
    )
    for letter, (dx, dy), where in (
        ("A", (-40, 40), "西北"),
        ("B", (40, 40), "东北"),
        ("C", (40, -40), "东南"),
        ("D", (-40, -40), "西南"),
    ):
        land.append(
            {
                "name": f"{prefix}站{letter}口",
                "kind": "subway_exit",
                "geometry": frame.to_wgs(Point(p.x + dx, p.y + dy)),
                "note": f"{main['name']}{where}角",
            }
        )
    return land


def _sites_layer(site_rows: Rows, prefix: str, frame: _Frame, id_prefix: str, land: Rows) -> gpd.GeoDataFrame:
    """The sites layer; named sites (park, school, ...) are added to the landmarks ``land``."""
    site_names = {
        "park": f"{prefix}公园",
        "school": f"{prefix}第一小学",
        "hospital": f"{prefix}医院",
        "market": f"{prefix}农贸市场",
    }
    if prefix == "双井":
        site_names.update({"hospital": "垂杨柳医院", "park": "双井体育公园"})
    site_records = []
    block_no = {"office": 0, "commercial": 0}
    block_label = {"office": "商务楼", "commercial": "商业"}
    for n, s in enumerate(site_rows, start=1):
        kind = s["kind"]
        if kind in block_no:
            block_no[kind] += 1
            name = f"{prefix}{block_label[kind]}{block_no[kind]}号地块"
        else:
            name = site_names[kind]
        g = frame.to_wgs(s["geometry"])
        site_records.append({"site_id": f"{id_prefix}-S{n:03d}", "name": name, "kind": kind, "geometry": g})
        if kind in site_names:
            land.append({"name": name, "kind": kind, "geometry": g.representative_point(), "note": ""})
    return (
        gpd.GeoDataFrame(site_records, geometry="geometry", crs=4326)
        if site_records
        else _empty(["site_id", "name", "kind"])
    )


def _point_layers(
    land: Rows, cross_records: Rows, locate: _Locator
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(landmarks, crossings) layers with the community of each point (None on a boundary)."""
    for row in land:
        row["community_code"] = locate.code_of(row["geometry"])
    landmarks = (
        gpd.GeoDataFrame(land, geometry="geometry", crs=4326)
        if land
        else _empty(["name", "kind", "note", "community_code"])
    )
    for row in cross_records:
        row["community_code"] = locate.code_of(row["geometry"])
        del row["_local"]
    crossings_gdf = (
        gpd.GeoDataFrame(cross_records, geometry="geometry", crs=4326)
        if cross_records
        else _empty(["name", "road_a", "road_b", "kind_a", "kind_b", "community_code"])
    )
    return landmarks, crossings_gdf


def _empty(columns: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: [] for c in columns}, geometry=gpd.GeoSeries([], crs=4326), crs=4326)


# ---- demo street -------------------------------------------------------------------------------

# The 18 communities of 双井街道 (110105016) in the NBS 2023 division codes.
SHUANGJING_COMMUNITIES: list[tuple[str, str]] = [
    ("110105016059", "垂杨柳东里社区"),
    ("110105016060", "垂杨柳西里社区"),
    ("110105016061", "广和里社区"),
    ("110105016062", "双花园社区"),
    ("110105016063", "广外南社区"),
    ("110105016064", "九龙社区"),
    ("110105016065", "大望社区"),
    ("110105016066", "广泉社区"),
    ("110105016067", "富力社区"),
    ("110105016068", "光环社区"),
    ("110105016069", "九龙南社区"),
    ("110105016070", "百子园社区"),
    ("110105016071", "和平村一社区"),
    ("110105016072", "东柏街社区"),
    ("110105016073", "九龙山社区"),
    ("110105016074", "富力西社区"),
    ("110105016075", "黄木厂社区"),
    ("110105016076", "茂兴社区"),
]


def demo_street(seed: int = 16) -> tuple[Polygon, gpd.GeoDataFrame]:
    """An approximate 双井街道 outline (about 5 km2 between the East 3rd and 4th Ring Roads) cut into its
    18 communities (real codes and names, *invented* boundaries: a jittered 6 x 3 grid).
    Not a surveyed boundary; for demos and tests only."""
    rng = np.random.default_rng(seed)
    street = Polygon(
        [
            (116.4610, 39.8830),
            (116.4880, 39.8830),
            (116.4880, 39.9005),
            (116.4760, 39.9025),
            (116.4610, 39.9020),
        ]
    )
    minx, miny, maxx, maxy = street.bounds
    xs = [minx - 0.001] + [
        minx + (maxx - minx) * i / 6 + float(rng.uniform(-0.0008, 0.0008)) for i in range(1, 6)
    ]
    xs.append(maxx + 0.001)
    ys = [maxy + 0.001] + [
        maxy - (maxy - miny) * j / 3 + float(rng.uniform(-0.0006, 0.0006)) for j in range(1, 3)
    ]
    ys.append(miny - 0.001)
    rows = []
    k = 0
    for j in range(3):
        for i in range(6):
            cell = box(xs[i], ys[j + 1], xs[i + 1], ys[j]).intersection(street)
            code, name = SHUANGJING_COMMUNITIES[k]
            rows.append({"code": code, "name": name, "geometry": cell})
            k += 1
    return street, gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


# ---- files -------------------------------------------------------------------------------------


def to_files(street: SyntheticStreet, out_dir: str | Path) -> dict[str, Path]:
    """Write the layers: GeoJSON for each layer (buildings as points with ``footprint_wkt``, and the
    footprints as polygons in ``building_footprints.geojson``) and ``buildings.csv`` in the format
    ``gridgov import buildings`` reads (building_id, address, lon, lat, households, compound, road,
    door_number, building_no, floors, community_code, kind, footprint_wkt). Returns name -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    b = street.buildings
    pts = b.drop(columns=["footprint"]).copy()
    pts["footprint_wkt"] = [g.wkt for g in b["footprint"]]
    layers: dict[str, gpd.GeoDataFrame] = {
        "buildings": pts,
        "building_footprints": gpd.GeoDataFrame(
            b[["building_id", "address", "households", "kind", "community_code"]].copy(),
            geometry=gpd.GeoSeries(list(b["footprint"]), crs=4326, index=b.index),
            crs=4326,
        ),
        "roads": street.roads,
        "compounds": street.compounds,
        "landmarks": street.landmarks,
        "crossings": street.crossings,
        "sites": street.sites,
    }
    for name, gdf in layers.items():
        p = out / f"{name}.geojson"
        if p.exists():
            p.unlink()
        gdf.to_file(p, driver="GeoJSON")
        paths[name] = p
    csv = pd.DataFrame(
        {
            "building_id": b["building_id"],
            "address": b["address"],
            "lon": [round(g.x, 7) for g in b.geometry],
            "lat": [round(g.y, 7) for g in b.geometry],
            "households": b["households"],
            "compound": b["compound"].fillna(""),
            "road": b["road"],
            "door_number": b["door_number"],
            "building_no": b["building_no"].fillna(""),
            "floors": b["floors"],
            "community_code": b["community_code"],
            "kind": b["kind"],
            "footprint_wkt": [g.wkt for g in b["footprint"]],
        }
    )
    paths["buildings_csv"] = out / "buildings.csv"
    csv.to_csv(paths["buildings_csv"], index=False, encoding="utf-8")
    return paths
