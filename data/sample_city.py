"""Beijing sample city: districts, streets and communities as polygons that tile exactly.

Only the 16 district polygons are real (AMap fences ~2018 via Vonng/adcode, GCJ-02, converted
to WGS84 with :func:`grid.datum.gcj02_to_wgs84`). Street (街道/乡镇) and community (社区/村)
polygons are not public, so they are *derived* and marked ``approximate``:

1. **Seeds.** 2023 units (NBS 统计用区划代码 2023) are matched to 2016 centre points
   (Vonng/adcode, GCJ-02) in three tiers: the same 12-digit code with a compatible name
   (suffixes such as 街道办事处/社区居委会 removed, one name containing the other counts); else
   the same normalised name, unique on both sides inside the district (codes that moved when
   streets were split, e.g. Tongzhou and Fengtai); else the same code under a new name when
   nobody else claimed that point. 2016 points shared by two rows (geocoder hits on a
   duplicated village name) are ambiguous and never used.
2. **Streets.** Per district, the seeds are the street's own centre and the centres of its
   communities (labelled by their 2023 street code), kept only if strictly inside the real
   district. Streets without any seed get a *placed* seed (below). A Voronoi diagram of all
   seeds, computed in a local equirectangular plane (x = (lon-lon0)·cos(lat0), y = lat-lat0,
   lon0/lat0 the centre of the parent's bounding box; a conformal enough metric for choosing
   nearest seeds), is mapped back to lon/lat, each cell is clipped to the real district in
   lon/lat (the parent is never reprojected), and cells are dissolved by label. A piece cut
   off from the rest of its street (a stray seed deep in a neighbour, or a cell crossing a
   concave boundary) is given to the neighbour with which it shares the longest border, so
   streets are contiguous wherever the parent is.
3. **Communities.** The same per street, with one seed per community: its matched centre if it
   lies strictly inside the derived street, else a placed seed.

**Placed seeds** (no usable centre): candidates are drawn uniformly inside the parent with
``numpy.random.default_rng([seed, int(parent_code)])``; units are placed in code order, each at
the candidate with the largest clearance ``min(distance to nearest seed, distance to the parent
boundary)``, except that a part of a multi-part parent holding no seed yet is filled first
(largest part first; this puts 首都机场街道 in Chaoyang's airport exclave). Two seeds never
coincide, so every unit gets a non-empty polygon (its Voronoi cell contains its seed).

**Exact tiling.** All siblings are clipped from one Voronoi diagram against the same parent
geometry and nothing is simplified. Then every vertex of every unit is inserted into each other
unit's edge it lies on (within 1e-11 degree), so both sides of every border, and a parent and
its children, carry the same vertices and stay identical in any projection; finally every
coordinate is rounded to a 1e-9 degree grid (~0.1 mm; the grid ``grid.validate`` snap-rounds
to), a pure function of the coordinate, so shared vertices stay shared. Each level is a valid
coverage (``shapely.coverage_is_valid``), also after projecting to EPSG:4548, and the union of a
parent's children equals the parent. The real district polygons only gain vertices on their
own edges and are rounded like the rest.

Same ``seed`` -> byte-identical output of :func:`write_layers`. A full build takes ~7 s.

CLI: ``python -m data.sample_city OUT_DIR [--seed N] [--district 110105 ...]``
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, box, mapping

DATA_DIR = Path(__file__).resolve().parent / "beijing"
LEVELS = ("district", "street", "community")
DEFAULT_SEED = 2157

SOURCE_DISTRICT = "AMap district fence ~2018 via Vonng/adcode (CC BY 4.0), GCJ-02 -> WGS84"
SOURCE_DERIVED = "approximate: Voronoi of 2016 AMap centre points clipped to parent (gridgov sample)"

COLUMNS = ["code", "name", "parent_code", "level", "source", "approximate", "geometry"]
GEOJSON_FIELDS = ("code", "name", "parent_code", "source")

_STREET_SUFFIXES = ("街道办事处", "地区办事处", "办事处", "街道", "地区", "镇", "乡")
_COMMUNITY_SUFFIXES = (
    "社区居民委员会",
    "社区居委会",
    "居民委员会",
    "村民委员会",
    "居委会",
    "村委会",
    "委员会",
    "社区",
)
_CANDIDATES_MIN = 4000
_CANDIDATES_PER_UNIT = 150
_EDGE_EPS = 1e-10  # degrees; shared borders shorter than this (~0.01 mm) do not make neighbours
_NODE_EPS = 1e-11  # degrees (~1 µm); a vertex this close to another unit's edge is inserted into it
#: Output coordinates are rounded to this grid (degrees, ~0.1 mm): the grid the validator's
#: overlays snap-round to (grid.validate.SNAP_DEG), so its rounding moves no vertex.
COORD_GRID_DEG = 1e-9


# --------------------------------------------------------------------------------------------
# input


@dataclass(frozen=True, order=True)
class Unit:
    code: str
    name: str
    parent_code: str | None


@dataclass(frozen=True)
class Centre:
    """A 2016 centre point (GCJ-02) matched to a 2023 unit."""

    lon: float
    lat: float
    how: str  # "code", "name" or "code-renamed"
    old_code: str
    old_name: str


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]


def load_units(data_dir: Path = DATA_DIR) -> dict[str, list[Unit]]:
    """The 2023 units per level, sorted by code."""
    areas = _read_csv(data_dir / "beijing_areas.csv")
    streets = _read_csv(data_dir / "beijing_streets.csv")
    villages = _read_csv(data_dir / "beijing_villages.csv")
    return {
        "district": sorted(Unit(r["code"], r["name"], None) for r in areas),
        "street": sorted(Unit(r["code"], r["name"], r["areaCode"]) for r in streets),
        "community": sorted(Unit(r["code"], r["name"], r["streetCode"]) for r in villages),
    }


def _norm_street(name: str) -> str:
    for suffix in _STREET_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _norm_community(name: str) -> str:
    for suffix in _COMMUNITY_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    if name.endswith("村") and len(name) >= 3:
        name = name[:-1]
    return name


def _compatible(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= 2 and (a in b or b in a))


def _load_old_points(data_dir: Path) -> tuple[dict[str, list[dict[str, str]]], int]:
    """2016 town/village rows per level (all of them: names count for matching).

    A row without a centre, or whose centre is shared with another row (a geocoder hit on a
    duplicated village name), gets empty coordinates. Returns the rows and the number of
    ambiguous centres blanked.
    """
    rows = _read_csv(data_dir / "adcode_2016_centres.csv")
    by_point: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        if r["longitude"] and r["latitude"]:
            by_point[(r["longitude"], r["latitude"])] += 1
    out: dict[str, list[dict[str, str]]] = {"town": [], "village": []}
    blanked = 0
    for r in rows:
        if r["longitude"] and r["latitude"] and by_point[(r["longitude"], r["latitude"])] > 1:
            r = {**r, "longitude": "", "latitude": ""}
            blanked += 1
        out[r["level"]].append(r)
    return out, blanked


def match_centres(
    units: Sequence[Unit],
    old_rows: Sequence[dict[str, str]],
    *,
    to_old_code: Callable[[str], str],
    norm: Callable[[str], str],
) -> dict[str, Centre]:
    """Match 2023 units to 2016 centre points.

    Tier 1 ``code``: the same code and a compatible name. Tier 2 ``name``: the same normalised
    name, unique among the district's 2023 units and among all its 2016 rows (with or without
    a centre). Tier 3 ``code-renamed``: the same code under another name, if no unit took that
    point in tiers 1-2. Rows without a (non-ambiguous) centre still count for uniqueness.
    """
    old_by_code = {r["code"]: r for r in old_rows}
    used: set[str] = set()
    out: dict[str, Centre] = {}
    identified: set[str] = set()

    def take(u: Unit, r: dict[str, str], how: str) -> None:
        identified.add(u.code)
        if r["longitude"] and r["latitude"] and r["code"] not in used:
            out[u.code] = Centre(float(r["longitude"]), float(r["latitude"]), how, r["code"], r["name"])
            used.add(r["code"])

    for u in units:  # tier 1: same code, compatible name
        r = old_by_code.get(to_old_code(u.code))
        if r is not None and _compatible(norm(u.name), norm(r["name"])):
            take(u, r, "code")

    # tier 2: same normalised name, unique on both sides inside the district
    new_names: dict[tuple[str, str], list[Unit]] = defaultdict(list)
    for u in units:
        new_names[(u.code[:6], norm(u.name))].append(u)
    old_names: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for r in old_rows:
        old_names[(r["code"][:6], norm(r["name"]))].append(r)
    for u in units:
        if u.code in identified:
            continue
        key = (u.code[:6], norm(u.name))
        if len(new_names[key]) == 1 and len(old_names.get(key, [])) == 1:
            take(u, old_names[key][0], "name")

    for u in units:  # tier 3: same code, renamed, point not claimed by anyone else
        r = old_by_code.get(to_old_code(u.code))
        if u.code not in identified and r is not None:
            take(u, r, "code-renamed")
    return out


# --------------------------------------------------------------------------------------------
# geometry helpers


def _polygons(g: Any) -> list[Polygon]:
    """All non-empty polygon parts of ``g`` (recursing into collections)."""
    if g is None or g.is_empty:
        return []
    if isinstance(g, Polygon):
        return [g] if g.area > 0 else []
    if hasattr(g, "geoms"):
        return [p for part in g.geoms for p in _polygons(part)]
    return []


def _as_multipolygon(g: Any) -> MultiPolygon:
    parts = _polygons(g)
    return MultiPolygon(parts)


def _convert_gcj(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from grid.datum import gcj02_to_wgs84

    x, y = gcj02_to_wgs84(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


class _Plane:
    """Local equirectangular plane around (lon0, lat0): x = (lon-lon0)·cos(lat0), y = lat-lat0."""

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0, self.lat0 = lon0, lat0
        self.k = math.cos(math.radians(lat0))

    def fwd(self, xy: np.ndarray) -> np.ndarray:
        return np.column_stack([(xy[:, 0] - self.lon0) * self.k, xy[:, 1] - self.lat0])

    def inv(self, xy: np.ndarray) -> np.ndarray:
        return np.column_stack([xy[:, 0] / self.k + self.lon0, xy[:, 1] + self.lat0])


def _plane_for(parent: Any) -> _Plane:
    minx, miny, maxx, maxy = parent.bounds
    return _Plane((minx + maxx) / 2.0, (miny + maxy) / 2.0)


def place_seeds(
    parent: Any,
    existing: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``n`` new seeds (lon/lat, shape (n, 2)) strictly inside ``parent``, spread by max clearance."""
    if n == 0:
        return np.empty((0, 2))
    plane = _plane_for(parent)
    shapely.prepare(parent)
    minx, miny, maxx, maxy = parent.bounds
    want = max(_CANDIDATES_MIN, _CANDIDATES_PER_UNIT * n)
    chunks: list[np.ndarray] = []
    have = 0
    for _ in range(200):
        xy = np.column_stack([rng.uniform(minx, maxx, 2 * want), rng.uniform(miny, maxy, 2 * want)])
        xy = xy[shapely.contains_xy(parent, xy[:, 0], xy[:, 1])]
        chunks.append(xy)
        have += len(xy)
        if have >= want:
            break
    cand = np.concatenate(chunks)[:want]
    if len(cand) == 0:
        raise RuntimeError("could not sample points inside a parent polygon")
    cp = plane.fwd(cand)
    boundary = shapely.transform(parent.boundary, plane.fwd)
    clearance_bnd = shapely.distance(boundary, shapely.points(cp))
    d_seed = np.full(len(cand), np.inf)
    if len(existing):
        ep = plane.fwd(existing)
        for p in ep:
            d_seed = np.minimum(d_seed, np.hypot(cp[:, 0] - p[0], cp[:, 1] - p[1]))

    parts = _polygons(parent)
    part_of = np.zeros(len(cand), dtype=int)
    seeded = np.zeros(len(parts), dtype=bool)
    if len(parts) > 1:
        for i, part in enumerate(parts):
            shapely.prepare(part)
            part_of[shapely.contains_xy(part, cand[:, 0], cand[:, 1])] = i
            if len(existing) and shapely.contains_xy(part, existing[:, 0], existing[:, 1]).any():
                seeded[i] = True
    else:
        seeded[:] = True
    areas = np.array([p.area for p in parts])

    out = np.empty((n, 2))
    for k in range(n):
        score = np.minimum(d_seed, clearance_bnd)
        empty = [i for i in np.argsort(-areas, kind="stable") if not seeded[i] and (part_of == i).any()]
        if empty:
            score = np.where(part_of == empty[0], score, -np.inf)
        j = int(np.argmax(score))
        out[k] = cand[j]
        seeded[part_of[j]] = True
        d_seed = np.minimum(d_seed, np.hypot(cp[:, 0] - cp[j, 0], cp[:, 1] - cp[j, 1]))
    return out


def partition(parent: Any, seed_xy: np.ndarray, seed_label: Sequence[str]) -> dict[str, MultiPolygon]:
    """Voronoi of ``seed_xy`` (lon/lat) clipped to ``parent`` and dissolved by label.

    Several seeds may share a label. Pieces cut off from the main body of their label (the
    component with the most seeds) are handed to the neighbouring label with the longest
    shared border until every label is contiguous (exclaves without neighbours stay).
    """
    labels = sorted(set(seed_label))
    if len(labels) == 1:
        return {labels[0]: _as_multipolygon(parent)}
    plane = _plane_for(parent)
    pts = plane.fwd(seed_xy)
    minx, miny, maxx, maxy = shapely.transform(parent, plane.fwd).bounds
    pad = max(maxx - minx, maxy - miny)
    extent = box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    vor = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=extent, ordered=True)
    cells = shapely.get_parts(vor)
    if len(cells) != len(pts):
        raise RuntimeError(f"Voronoi returned {len(cells)} cells for {len(pts)} seeds")
    cells_ll = shapely.transform(cells, plane.inv)
    shapely.prepare(parent)
    clipped = shapely.intersection(cells_ll, parent)

    atoms: list[Polygon] = []
    atom_label: list[str] = []
    atom_seeds: list[int] = []
    seed_points = shapely.points(seed_xy)
    for i, g in enumerate(clipped):
        for part in _polygons(g):
            atoms.append(part)
            atom_label.append(seed_label[i])
            atom_seeds.append(int(part.intersects(seed_points[i])))
    _merge_fragments(atoms, atom_label, atom_seeds)

    by_label: dict[str, list[Polygon]] = defaultdict(list)
    for a, lab in zip(atoms, atom_label, strict=True):
        by_label[lab].append(a)
    out: dict[str, MultiPolygon] = {}
    for lab in labels:
        if not by_label.get(lab):
            raise RuntimeError(f"unit {lab} got no area")
        g = shapely.union_all(by_label[lab])
        if not g.is_valid:
            g = shapely.make_valid(g)
        out[lab] = _as_multipolygon(g)
    return out


def _merge_fragments(atoms: list[Polygon], atom_label: list[str], atom_seeds: list[int]) -> None:
    """Relabel atoms (in place) so that each label is one connected piece where possible."""
    n = len(atoms)
    arr = np.array(atoms, dtype=object)
    tree = shapely.STRtree(arr)
    left, right = tree.query(arr, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    shared = shapely.length(shapely.intersection(shapely.boundary(arr[left]), shapely.boundary(arr[right])))
    neigh: list[dict[int, float]] = [{} for _ in range(n)]
    for i, j, s in zip(left.tolist(), right.tolist(), shared.tolist(), strict=True):
        if s > _EDGE_EPS:
            neigh[i][j] = s
            neigh[j][i] = s
    areas = shapely.area(arr)

    for _ in range(n + 1):
        # connected components of same-label atoms
        comp = [-1] * n
        comps: list[list[int]] = []
        for start in range(n):
            if comp[start] >= 0:
                continue
            stack, members = [start], []
            comp[start] = len(comps)
            while stack:
                i = stack.pop()
                members.append(i)
                for j in neigh[i]:
                    if comp[j] < 0 and atom_label[j] == atom_label[i]:
                        comp[j] = comp[start]
                        stack.append(j)
            comps.append(sorted(members))
        per_label: dict[str, list[int]] = defaultdict(list)
        for c, members in enumerate(comps):
            per_label[atom_label[members[0]]].append(c)
        fragments: list[tuple[float, int, int]] = []
        for cs in per_label.values():
            if len(cs) < 2:
                continue
            main = max(cs, key=lambda c: (sum(atom_seeds[i] for i in comps[c]), areas[comps[c]].sum(), -c))
            for c in cs:
                if c != main:
                    fragments.append((float(areas[comps[c]].sum()), comps[c][0], c))
        fragments.sort()
        for _area, _first, c in fragments:
            members = comps[c]
            own = atom_label[members[0]]
            border: dict[str, float] = defaultdict(float)
            for i in members:
                for j, s in neigh[i].items():
                    if atom_label[j] != own:
                        border[atom_label[j]] += s
            if not border:
                continue  # an exclave without neighbours stays with its label
            target = max(sorted(border), key=lambda lab: border[lab])
            for i in members:
                atom_label[i] = target
            break
        else:
            return
    raise RuntimeError("fragment merging did not converge")


# --------------------------------------------------------------------------------------------
# build


@dataclass
class BuildStats:
    """What a build used: matched 2016 centres per tier, seeds used and placed, timing."""

    street_centres: dict[str, int]  # tier ("code", "name", "code-renamed", "none") -> streets
    community_centres: dict[str, int]  # same for communities
    street_own_centre_used: int = 0  # streets seeded by their own 2016 centre
    community_points_for_streets: int = 0  # community centres used as extra street seeds
    streets_placed: int = 0  # streets with no seed at all (placed)
    communities_centre_used: int = 0
    communities_centre_outside: int = 0  # matched centre outside the derived street: not used
    communities_placed: int = 0
    ambiguous_2016_points: int = 0  # 2016 rows sharing one point with another row: never used
    seconds: float = 0.0


LAST_STATS: BuildStats | None = None
PLACED_NOTE = "seed placed by gridgov (no usable 2016 centre)"


@dataclass
class _Inputs:
    units: dict[str, list[Unit]]
    street_centres: dict[str, Centre]
    comm_centres: dict[str, Centre]
    street_xy: dict[str, tuple[float, float]]  # WGS84
    comm_xy: dict[str, tuple[float, float]]  # WGS84
    districts: dict[str, Any]  # WGS84 polygons
    streets_of: dict[str, list[Unit]]
    comms_of: dict[str, list[Unit]]


def _district_polygons(data_dir: Path) -> dict[str, Any]:
    """The 16 real district polygons, GCJ-02 -> WGS84, all vertices converted in one call."""
    with (data_dir / "beijing_districts_gcj02.geojson").open(encoding="utf-8") as f:
        fc = json.load(f)
    codes = [str(ft["properties"]["adcode"]) for ft in fc["features"]]
    geoms = np.array([shapely.geometry.shape(ft["geometry"]) for ft in fc["features"]], dtype=object)
    coords = shapely.get_coordinates(geoms)
    lon, lat = _convert_gcj(coords[:, 0], coords[:, 1])
    converted = shapely.set_coordinates(geoms.copy(), np.column_stack([lon, lat]))
    out = {}
    for code, g in zip(codes, converted, strict=True):
        if not g.is_valid:
            raise RuntimeError(f"district {code} is invalid after datum conversion")
        out[code] = g
    return out


def _centres_wgs84(centres: dict[str, Centre]) -> dict[str, tuple[float, float]]:
    codes = sorted(centres)
    if not codes:
        return {}
    lon, lat = _convert_gcj(
        np.array([centres[c].lon for c in codes]), np.array([centres[c].lat for c in codes])
    )
    return {c: (float(x), float(y)) for c, x, y in zip(codes, lon, lat, strict=True)}


def _rng(seed: int, parent_code: str) -> np.random.Generator:
    return np.random.default_rng([seed, int(parent_code)])


def _load_inputs(data_dir: Path) -> tuple[_Inputs, int]:
    units = load_units(data_dir)
    old, ambiguous = _load_old_points(data_dir)
    street_centres = match_centres(
        units["street"], old["town"], to_old_code=lambda c: c + "000", norm=_norm_street
    )
    comm_centres = match_centres(
        units["community"], old["village"], to_old_code=lambda c: c, norm=_norm_community
    )
    streets_of: dict[str, list[Unit]] = defaultdict(list)
    for u in units["street"]:
        streets_of[u.parent_code or ""].append(u)
    comms_of: dict[str, list[Unit]] = defaultdict(list)
    for u in units["community"]:
        comms_of[u.parent_code or ""].append(u)
    inputs = _Inputs(
        units=units,
        street_centres=street_centres,
        comm_centres=comm_centres,
        street_xy=_centres_wgs84(street_centres),
        comm_xy=_centres_wgs84(comm_centres),
        districts=_district_polygons(data_dir),
        streets_of=streets_of,
        comms_of=comms_of,
    )
    return inputs, ambiguous


def _streets_of_district(
    inp: _Inputs, district: str, seed: int, stats: BuildStats
) -> tuple[dict[str, MultiPolygon], dict[str, str]]:
    """Street polygons (and source notes) of one district."""
    dgeom = inp.districts[district]
    shapely.prepare(dgeom)
    codes = [s.code for s in inp.streets_of[district]]
    own = dict.fromkeys(codes, 0)
    from_comm = dict.fromkeys(codes, 0)
    candidates = [(s, inp.street_xy[s], True) for s in codes if s in inp.street_xy]
    for s in codes:
        candidates += [(s, inp.comm_xy[c.code], False) for c in inp.comms_of[s] if c.code in inp.comm_xy]
    seeds: list[tuple[float, float]] = []
    labels: list[str] = []
    seen: set[tuple[float, float]] = set()
    for s, xy, is_own in candidates:
        if xy in seen or not shapely.contains_xy(dgeom, *xy):
            continue
        seen.add(xy)
        seeds.append(xy)
        labels.append(s)
        if is_own:
            own[s] += 1
        else:
            from_comm[s] += 1
    missing = [s for s in codes if own[s] + from_comm[s] == 0]
    placed = place_seeds(dgeom, np.array(seeds).reshape(-1, 2), len(missing), _rng(seed, district))
    seeds += [(float(x), float(y)) for x, y in placed]
    labels += missing
    stats.streets_placed += len(missing)
    stats.street_own_centre_used += sum(own.values())
    stats.community_points_for_streets += sum(from_comm.values())

    geoms = partition(dgeom, np.array(seeds), labels)
    notes: dict[str, str] = {}
    for s in codes:
        if s in missing:
            notes[s] = PLACED_NOTE
            continue
        bits = []
        if own[s]:
            bits.append(f"own 2016 centre ({inp.street_centres[s].how})")
        if from_comm[s]:
            bits.append(f"{from_comm[s]} community centres")
        notes[s] = "seeds: " + " + ".join(bits)
    return {s: geoms[s] for s in codes}, notes


def _communities_of_street(
    inp: _Inputs, street: str, sgeom: Any, seed: int, stats: BuildStats
) -> tuple[dict[str, MultiPolygon], dict[str, str]]:
    """Community polygons (and source notes) of one street."""
    units = inp.comms_of[street]
    if not units:
        return {}, {}
    shapely.prepare(sgeom)
    seeds: list[tuple[float, float]] = []
    labels: list[str] = []
    notes: dict[str, str] = {}
    missing: list[str] = []
    for c in units:
        xy = inp.comm_xy.get(c.code)
        if xy is not None and xy not in seeds and shapely.contains_xy(sgeom, *xy):
            seeds.append(xy)
            labels.append(c.code)
            notes[c.code] = f"seed: 2016 centre ({inp.comm_centres[c.code].how})"
        else:
            if xy is not None:
                stats.communities_centre_outside += 1
            missing.append(c.code)
            notes[c.code] = PLACED_NOTE
    stats.communities_centre_used += len(seeds)
    stats.communities_placed += len(missing)
    placed = place_seeds(sgeom, np.array(seeds).reshape(-1, 2), len(missing), _rng(seed, street))
    seeds += [(float(x), float(y)) for x, y in placed]
    labels += missing
    return partition(sgeom, np.array(seeds), labels), notes


def build_hierarchy(
    seed: int = DEFAULT_SEED,
    districts: Iterable[str] | None = None,
    *,
    data_dir: Path = DATA_DIR,
    progress: bool = False,
) -> dict[str, gpd.GeoDataFrame]:
    """Districts (real), streets and communities (derived) of the Beijing sample city.

    Returns ``{"district", "street", "community"}`` -> GeoDataFrame (EPSG:4326) with columns
    code, name, parent_code, level, source, approximate, geometry (MultiPolygon), sorted by code.

    ``districts`` limits the build to those district codes and their streets and communities.
    Inside a district the result does not depend on the subset, except that vertices of units
    in districts not built are not inserted on the shared district border (see
    :func:`_node_rows`); shapes and areas are the same. Statistics of the last build are left
    in :data:`LAST_STATS`.
    """
    global LAST_STATS
    t0 = time.perf_counter()
    inp, ambiguous = _load_inputs(data_dir)
    all_districts = {u.code for u in inp.units["district"]}
    wanted = all_districts if districts is None else {str(d) for d in districts}
    if wanted - all_districts:
        raise ValueError(f"unknown district codes: {sorted(wanted - all_districts)}")
    stats = BuildStats(
        street_centres=_count_how(inp.street_centres, inp.units["street"], wanted),
        community_centres=_count_how(inp.comm_centres, inp.units["community"], wanted),
        ambiguous_2016_points=ambiguous,
    )

    geom: dict[str, Any] = {}
    note: dict[str, str] = {}
    todo = [u for u in inp.units["district"] if u.code in wanted]
    prog = None
    if progress:
        from rich.progress import Progress

        prog = Progress(transient=False)
        prog.start()
    try:
        task = prog.add_task("sample city", total=len(todo)) if prog is not None else None
        for d in todo:
            geom[d.code] = _as_multipolygon(inp.districts[d.code])
            street_geom, street_note = _streets_of_district(inp, d.code, seed, stats)
            geom.update(street_geom)
            note.update(street_note)
            for s, sgeom in street_geom.items():
                comm_geom, comm_note = _communities_of_street(inp, s, sgeom, seed, stats)
                geom.update(comm_geom)
                note.update(comm_note)
            if prog is not None and task is not None:
                prog.update(task, advance=1, description=f"{d.code} {d.name}")
    finally:
        if prog is not None:
            prog.stop()

    rows: dict[str, list[dict[str, Any]]] = {lv: [] for lv in LEVELS}
    for lv in LEVELS:
        for u in inp.units[lv]:
            if u.code not in geom:
                continue
            real = lv == "district"
            rows[lv].append(
                {
                    "code": u.code,
                    "name": u.name,
                    "parent_code": u.parent_code,
                    "level": lv,
                    "source": SOURCE_DISTRICT if real else f"{SOURCE_DERIVED}; {note[u.code]}",
                    "approximate": not real,
                    "geometry": geom[u.code],
                }
            )
    _node_rows([r for lv in LEVELS for r in rows[lv]])
    _round_rows([r for lv in LEVELS for r in rows[lv]])
    out: dict[str, gpd.GeoDataFrame] = {}
    for lv in LEVELS:
        df = gpd.GeoDataFrame(rows[lv], columns=COLUMNS, geometry="geometry", crs="EPSG:4326")
        df["geometry"] = shapely.orient_polygons(df.geometry.values, exterior_cw=False)
        df["approximate"] = df["approximate"].astype(bool)
        out[lv] = df.reset_index(drop=True)
    stats.seconds = time.perf_counter() - t0
    LAST_STATS = stats
    return out


def _node_rows(rows: list[dict[str, Any]]) -> None:
    """Insert every vertex of every unit into each boundary it lies on (in place).

    Children are clipped from their parent, so a child's vertex on a long parent edge is
    collinear with it only in lon/lat; projected to a metric CRS the parent's edge stays
    straight while the child's bends (tens of m2 over a km-long edge). With the same vertices
    on both sides, shared borders stay shared in any projection (a valid coverage). Only
    points within ``_NODE_EPS`` (~1 µm) of an edge are inserted, so no shape changes.
    """
    geoms = np.array([r["geometry"] for r in rows], dtype=object)
    if len(geoms) == 0:
        return
    xy = np.unique(shapely.get_coordinates(geoms), axis=0)
    points = shapely.points(xy)
    tree = shapely.STRtree(points)
    for r, g in zip(rows, geoms, strict=True):
        near = tree.query(shapely.boundary(g), predicate="dwithin", distance=_NODE_EPS)
        snapped = shapely.snap(g, shapely.multipoints(points[np.sort(near)]), _NODE_EPS)
        if not snapped.is_valid or abs(snapped.area - g.area) > 1e-13:
            raise RuntimeError(f"noding changed unit {r['code']}")
        r["geometry"] = _as_multipolygon(snapped)


def _round_rows(rows: list[dict[str, Any]]) -> None:
    """Round every coordinate to ``COORD_GRID_DEG`` (in place).

    A pure function of each coordinate, applied after noding: shared vertices stay shared,
    so borders stay identical on both sides.
    """
    scale = 1.0 / COORD_GRID_DEG

    def rnd(xy: np.ndarray) -> np.ndarray:
        return np.round(xy * scale) / scale

    for r in rows:
        g = shapely.transform(r["geometry"], rnd)
        if not g.is_valid or g.is_empty:
            raise RuntimeError(f"rounding made unit {r['code']} invalid: {shapely.is_valid_reason(g)}")
        r["geometry"] = g


def _count_how(centres: dict[str, Centre], units: Sequence[Unit], wanted: set[str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for u in units:
        if u.code[:6] in wanted:
            counts[centres[u.code].how if u.code in centres else "none"] += 1
    return dict(sorted(counts.items()))


# --------------------------------------------------------------------------------------------
# output


def to_geojson(gdf: gpd.GeoDataFrame, name: str) -> str:
    """A deterministic GeoJSON FeatureCollection (WGS84, full float precision, one feature a line)."""
    lines = []
    for row in gdf.itertuples(index=False):
        props = {f: getattr(row, f) for f in GEOJSON_FIELDS}
        feature = {"type": "Feature", "properties": props, "geometry": mapping(row.geometry)}
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    head = json.dumps({"type": "FeatureCollection", "name": name}, ensure_ascii=False)[:-1]
    return head + ', "features": [\n' + ",\n".join(lines) + "\n]}\n"


def write_layers(
    out_dir: Path,
    seed: int = DEFAULT_SEED,
    districts: Iterable[str] | None = None,
    *,
    progress: bool = False,
) -> dict[str, Path]:
    """Write ``beijing_{level}.geojson`` for each level; returns level -> path.

    Load with ``gridgov import units FILE --level L --code-field code --name-field name
    --parent-field parent_code --datum wgs84``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layers = build_hierarchy(seed, districts, progress=progress)
    paths: dict[str, Path] = {}
    for lv in LEVELS:
        path = out_dir / f"beijing_{lv}.geojson"
        path.write_bytes(to_geojson(layers[lv], f"beijing_{lv}").encode("utf-8"))
        paths[lv] = path
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m data.sample_city", description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--district", action="append", help="district code (repeatable); default all 16")
    args = ap.parse_args(argv)
    paths = write_layers(args.out_dir, args.seed, args.district, progress=sys.stderr.isatty())
    stats = LAST_STATS
    for lv, p in paths.items():
        print(f"{lv:9s} {p}")
    if stats is not None:
        print(f"built in {stats.seconds:.1f} s; {stats}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
