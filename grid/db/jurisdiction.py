"""Jurisdiction lookups served from in-memory indexes built from PostGIS.

PostGIS stays the source of truth. An index holds, for one boundary version, a
:class:`grid.spatial_index.CellIndex` per level, the unit metadata (name, level, parent) and the
rulings. It is cached per (database, store generation, version interval): triggers bump the
store generation whenever units or rulings change, so the next request after a change sees it;
dates between the same two boundary changes share one index.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyproj
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.cache import Lru
from grid.config import get_settings
from grid.datum import check_lonlat_range, metric_crs_for, parse_datum, to_metric, to_wgs84
from grid.db.store import load_levels, units_at
from grid.errors import InputError, NotFound
from grid.levels import Levels
from grid.ownership import OVERLAP_DEPTH_M, Decision, OutsideError, RulingHit, decide, shares
from grid.routing import RuleBook
from grid.spatial_index import CellIndex

_CACHE: Lru[tuple[Any, ...], JurisdictionIndex] = Lru(4)


@dataclass
class JurisdictionIndex:
    """Everything needed to answer lookups for one boundary version, in memory."""

    generation: int
    valid_from: dt.date | None
    valid_to: dt.date | None
    levels: list[str]  # finest first
    cells: dict[str, CellIndex]
    units: dict[str, tuple[str, str, str | None]]  # code -> (name, level, parent_code)
    geoms: dict[str, Any]
    has_children: set[str]
    rulings: list[tuple[int, Any, str, str, str]] = field(
        default_factory=list
    )  # id, geom, level, owner, reason
    ruling_tree: shapely.STRtree | None = None
    metric_epsg: int = 4548
    staff: dict[str, list[tuple[str, str, str | None, dt.date, dt.date | None]]] = field(default_factory=dict)
    rulebook: RuleBook | None = None
    departments: dict[str, str] = field(default_factory=dict)
    #: every layer in force: root level -> its levels, finest first. The primary chain (the first
    #: level's tree) is ``levels``; a later level with no parent is the root of an independent
    #: named layer (wards, police, council districts ...) that ``level=`` can target.
    layers: dict[str, list[str]] = field(default_factory=dict)
    level_parent: dict[str, str | None] = field(default_factory=dict)  # every defined level
    primary: str | None = None  # the root of the primary chain

    def lineage(self, level: str) -> list[str]:
        """The levels in force from ``level``'s layer root down to ``level`` (coarse first).

        Raises ``no_units`` (naming the layers and levels in force) when ``level`` has no units."""
        if level not in self.cells:
            known = "; ".join(f"{root}: {' > '.join(reversed(lvs))}" for root, lvs in self.layers.items())
            what = "no" if level in self.level_parent else "no level named"
            raise NotFound(
                f"{what} {level} units in force at that date; layers in force: {known or 'none'}",
                code="no_units",
                details={"level": level, "layers": {k: list(v) for k, v in self.layers.items()}},
            )
        path: list[str] = []
        cur: str | None = level
        seen: set[str] = set()
        while cur is not None and cur not in seen:
            seen.add(cur)
            if cur in self.cells:
                path.append(cur)
            cur = self.level_parent.get(cur)
        return list(reversed(path))

    def layer_of(self, level: str) -> str:
        """The root level of ``level``'s layer."""
        cur, seen = level, set()
        while self.level_parent.get(cur) is not None and cur not in seen:
            seen.add(cur)
            cur = str(self.level_parent[cur])
        return cur

    def edge_distance_m(self, code: str, lon: float, lat: float) -> float:
        """Metres from a point to the boundary of unit ``code`` (metric CRS; cached per unit)."""
        cache = self.__dict__.setdefault("_edges", {})
        edge = cache.get(code)
        if edge is None:
            edge = to_metric(np.array([self.geoms[code].boundary], dtype=object), self.metric_epsg)[0]
            shapely.prepare(edge)
            cache[code] = edge
        x, y = _to_metric_xy(self.metric_epsg, lon, lat)
        return float(shapely.distance(edge, shapely.Point(x, y)))

    def officer(self, code: str, date: dt.date) -> dict[str, Any] | None:
        """The grid officer (else the secretary) of ``code`` in office at ``date``."""
        rows = self.staff.get(code, [])
        for role in ("grid_officer", "secretary"):
            for r, name, phone, vf, vt in rows:
                if r == role and vf <= date and (vt is None or date < vt):
                    return {"role": r, "name": name, "phone": phone, "valid_from": vf.isoformat()}
        return None

    def route(self, category: str, chain: list[str], date: dt.date) -> dict[str, Any]:
        """Lead department and co-handlers of ``category`` at the place whose chain is given."""
        if self.rulebook is None or category not in self.rulebook.parent:
            raise NotFound(f"unknown category {category!r}", code="unknown_category")
        answer = self.rulebook.resolve(category, chain)
        out = answer.to_dict()
        out["lead_name"] = self.departments.get(answer.lead, answer.lead)
        out["co_names"] = [self.departments.get(c, c) for c in answer.co]
        return out

    def chain(self, code: str) -> list[dict[str, Any]]:
        """The unit and its ancestors, nearest first (fresh dicts; the path is cached per unit)."""
        cache = self.__dict__.setdefault("_chains", {})
        path = cache.get(code)
        if path is None:
            path = []
            cur: str | None = code
            while cur is not None and cur in self.units:
                name, level, parent = self.units[cur]
                path.append((cur, name, level))
                cur = parent
            cache[code] = path
        return [{"code": c, "name": n, "level": lv} for c, n, lv in path]

    def ancestor(self, code: Any, level: str) -> str | None:
        """``code`` itself or its ancestor at ``level``; None when it has none there (or ``code``
        is not a unit code: None, NaN)."""
        while isinstance(code, str) and code in self.units:
            _name, lv, parent = self.units[code]
            if lv == level:
                return code
            code = parent
        return None

    def descendants(self, code: str) -> dict[str, list[str]]:
        """Codes under ``code`` by level (the unit itself included at its level)."""
        children: dict[str, list[str]] = {}
        for c, (_n, _lv, parent) in self.units.items():
            if parent is not None:
                children.setdefault(parent, []).append(c)
        out: dict[str, list[str]] = {}
        stack = [code]
        while stack:
            c = stack.pop()
            out.setdefault(self.units[c][1], []).append(c)
            stack.extend(children.get(c, []))
        return out

    def rulings_at(self, point: Any) -> dict[str, RulingHit]:
        """Per level, the newest ruling in force whose place covers ``point`` (within 0.5 m of
        points and lines, which have no area)."""
        if self.ruling_tree is None:
            return {}
        tol = 0.5 / 111_000
        out: dict[str, RulingHit] = {}
        for i in sorted(int(i) for i in self.ruling_tree.query(point, predicate="dwithin", distance=tol)):
            rid, _geom, lv, owner, reason = self.rulings[i]
            out[lv] = RulingHit(rid, owner, reason)  # ids ascend: the newest wins
        return out


_LOCAL = threading.local()


def _generation_fast(url: Any) -> int:
    """The store generation read on a per-thread autocommit connection: one tiny query, no
    transaction, no ORM. Only for readers of the committed state (API requests)."""
    conns = getattr(_LOCAL, "conns", None)
    if conns is None:
        conns = _LOCAL.conns = {}
    key = url.render_as_string(hide_password=False)
    for attempt in (0, 1):
        conn = conns.get(key)
        try:
            if conn is None or conn.closed:
                import psycopg

                conn = conns[key] = psycopg.connect(
                    key.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
                )
            row = conn.execute("SELECT generation FROM store_generation WHERE id = 1").fetchone()
            return int(row[0]) if row else 0
        except Exception:
            conns.pop(key, None)
            if attempt:
                raise
    return 0  # pragma: no cover  (the loop returns or raises)


def store_generation(session: Session) -> int:
    """The store generation. Sessions marked ``fast_generation`` (API requests that read only the
    committed state) use :func:`_generation_fast`; others read it in their own transaction, so
    they see their own uncommitted changes."""
    if session.info.get("fast_generation"):
        return _generation_fast(session.get_bind().engine.url)
    return int(session.execute(text("SELECT generation FROM store_generation WHERE id = 1")).scalar() or 0)


def cached_index(database_url: str, date: dt.date) -> JurisdictionIndex | None:
    """The index of ``date`` if it is cached and current (committed state), without a session;
    ``None`` when it must be built (use :func:`get_index`)."""
    from grid.db.engine import get_engine

    engine_url = get_engine(database_url).url
    url = str(engine_url)
    gen = _generation_fast(engine_url)
    breaks = _BREAKS.get((url, gen))
    if breaks is None:
        return None
    return _CACHE.get((url, gen, bisect.bisect_right(breaks, date)))


def _breakpoints(session: Session) -> list[dt.date]:
    rows = (
        session.execute(
            text(
                "SELECT DISTINCT d FROM (SELECT valid_from AS d FROM unit UNION SELECT valid_to FROM unit "
                "UNION SELECT valid_from FROM ruling UNION SELECT valid_to FROM ruling "
                "UNION SELECT valid_from FROM routing_rule UNION SELECT valid_to FROM routing_rule) x "
                "WHERE d IS NOT NULL ORDER BY d"
            )
        )
        .scalars()
        .all()
    )
    return list(rows)


_BREAKS: Lru[tuple[str, int], list[dt.date]] = Lru(64)  # the breakpoints per (database, generation)


def get_index(session: Session, date: dt.date) -> JurisdictionIndex:
    """The cached index of the version in force at ``date`` (built on first use after a change)."""
    url = str(session.get_bind().engine.url)
    gen = store_generation(session)
    breaks = _BREAKS.get_or_put((url, gen), lambda: _breakpoints(session))
    i = bisect.bisect_right(breaks, date)
    key = (url, gen, i)
    idx = _CACHE.get(key)
    if idx is not None:
        return idx
    idx = build_index(session, date, gen)
    idx.valid_from = breaks[i - 1] if i > 0 else None
    idx.valid_to = breaks[i] if i < len(breaks) else None
    return _CACHE.put(key, idx)


def _layers(levels: Levels) -> dict[str, list[str]]:
    """Root level -> the levels of its tree, finest first (roots in rank order; the first is the
    primary chain)."""
    parent = {lv.name: lv.parent for lv in levels}

    def root(name: str) -> str:
        seen = set()
        while parent.get(name) is not None and name not in seen:
            seen.add(name)
            name = str(parent[name])
        return name

    out: dict[str, list[str]] = {}
    for lv in levels:  # rank order: a root comes before its descendants
        out.setdefault(root(lv.name), []).append(lv.name)
    return {r: list(reversed(names)) for r, names in out.items()}


def build_index(session: Session, date: dt.date, generation: int = 0) -> JurisdictionIndex:
    levels = load_levels(session)
    finest_first = list(reversed(levels.names))
    layers = _layers(levels)
    primary = levels.names[0] if levels.names else None
    cells: dict[str, CellIndex] = {}
    units: dict[str, tuple[str, str, str | None]] = {}
    geoms: dict[str, Any] = {}
    parents_with_children: set[str] = set()
    all_df = units_at(session, date)
    metric = get_settings().metric_epsg
    if metric is None and not all_df.empty:
        c = all_df.geometry.union_all().centroid if len(all_df) < 50 else all_df.geometry.iloc[0].centroid
        metric = metric_crs_for(c.x, c.y)
    for lv in finest_first:
        df = all_df[all_df["level"] == lv]
        if df.empty:
            continue
        for code, name, parent, g in zip(df["code"], df["name"], df["parent_code"], df.geometry, strict=True):
            units[code] = (name, lv, parent if isinstance(parent, str) else None)
            geoms[code] = g
            if isinstance(parent, str):
                parents_with_children.add(parent)
        cells[lv] = CellIndex(
            list(df["code"]), list(df.geometry), metric_epsg=metric, pixel_m=_pixel_for(df.geometry, metric)
        )
    rrows = session.execute(
        text(
            "SELECT id, ST_AsBinary(geom), level, owner_code, reason FROM ruling "
            "WHERE valid_from <= :d AND (valid_to IS NULL OR :d < valid_to) ORDER BY id"
        ),
        {"d": date},
    ).all()
    rulings = [(r[0], shapely.from_wkb(bytes(r[1])), r[2], r[3], r[4]) for r in rrows]
    tree = shapely.STRtree([r[1] for r in rulings]) if rulings else None
    staff: dict[str, list[tuple[str, str, str | None, dt.date, dt.date | None]]] = {}
    for code, role, name, phone, vf, vt in session.execute(
        text(
            "SELECT unit_code, role, name, phone, valid_from, valid_to FROM staff ORDER BY unit_code, valid_from"
        )
    ).all():
        staff.setdefault(code, []).append((role, name, phone, vf, vt))
    cats = [dict(r) for r in session.execute(text("SELECT code, parent_code, name FROM category")).mappings()]
    rules = [
        dict(r)
        for r in session.execute(
            text(
                "SELECT category_code, unit_code, department_code, role FROM routing_rule "
                "WHERE valid_from <= :d AND (valid_to IS NULL OR :d < valid_to)"
            ),
            {"d": date},
        ).mappings()
    ]
    departments: dict[str, str] = {
        str(code): str(name)
        for code, name in session.execute(text("SELECT code, name FROM department")).all()
    }
    book = RuleBook(rules, cats) if cats else None
    return JurisdictionIndex(
        generation=generation,
        valid_from=None,
        valid_to=None,
        levels=[lv for lv in layers.get(primary or "", []) if lv in cells],
        cells=cells,
        units=units,
        geoms=geoms,
        has_children=parents_with_children,
        rulings=rulings,
        ruling_tree=tree,
        metric_epsg=metric or 4548,
        staff=staff,
        rulebook=book,
        departments=departments,
        layers={
            r: [lv for lv in lvs if lv in cells]
            for r, lvs in layers.items()
            if any(lv in cells for lv in lvs)
        },
        level_parent={lv.name: lv.parent for lv in levels},
        primary=primary,
    )


_TRANSFORMERS = threading.local()


def _metric_transformer(epsg: int) -> pyproj.Transformer:
    """One transformer per thread and CRS: a pyproj Transformer is not thread-safe, and one made in
    another thread re-initialises its PROJ context on every call (tens of ms each)."""
    cache = _TRANSFORMERS.__dict__.setdefault("by_epsg", {})
    t = cache.get(epsg)
    if t is None:
        t = cache[epsg] = pyproj.Transformer.from_crs(4326, epsg, always_xy=True)
    return t


def _to_metric_xy(epsg: int, lon: float, lat: float) -> tuple[float, float]:
    x, y = _metric_transformer(epsg).transform(lon, lat)
    return float(x), float(y)


def _pixel_for(geoms: Any, metric: int | None) -> float:
    """Raster pixel of a level's index: ~1/40 of a typical unit's side, between 5 and 200 m."""
    sample = np.asarray(geoms.values, dtype=object)[:: max(1, len(geoms) // 200)]
    areas = [g.area for g in to_metric(sample, metric or 4548)]
    side = float(np.sqrt(np.median(areas))) if areas else 100.0
    return float(min(200.0, max(5.0, side / 40.0)))


def to_point(lon: float, lat: float, datum: str) -> tuple[float, float]:
    """Convert one coordinate pair to WGS84 with range checks (precise errors, never a guess)."""
    if not (np.isfinite(lon) and np.isfinite(lat)):
        raise InputError("lon and lat must be finite numbers", code="coordinates_out_of_range")
    if datum in ("wgs84", "cgcs2000") and -180 <= lon <= 180 and -90 <= lat <= 90:
        return float(lon), float(lat)  # the common case, without building geometries
    d = parse_datum(datum)
    if d.name in ("wgs84", "cgcs2000", "gcj02", "bd09"):
        check_lonlat_range(np.array([lon]), np.array([lat]), datum_name=d.name)
    g = to_wgs84(np.array([shapely.Point(lon, lat)], dtype=object), d)[0]
    return float(g.x), float(g.y)


def decide_point(
    idx: JurisdictionIndex,
    lon: float,
    lat: float,
    *,
    building_cell: str | None = None,
    building_id: str | None = None,
    level: str | None = None,
    near_m: float | None = None,
    gap_m: float | None = None,
) -> tuple[Decision, str]:
    """Owner of one WGS84 point in ``idx`` and the level it was decided at.

    Decided top-down: the district first, then the street among that district's streets that
    cover the point, and so on down to the finest level in force there (or ``level``). At each
    level the rule order of :func:`grid.ownership.decide` applies; a ruling or the named
    building also steers the coarser levels (to their ancestors), so the chain is consistent.
    """
    s = get_settings()
    near_m = s.near_boundary_m if near_m is None else near_m
    gap_m = s.gap_tolerance_m if gap_m is None else gap_m
    if level is not None:
        coarse_first = idx.lineage(level)  # only that level's layer: police never walks districts
    elif not idx.levels:
        if idx.layers:
            idx.lineage(idx.primary or "")  # raises no_units naming the layers that are in force
        raise NotFound("no units are in force at that date", code="no_units")
    else:
        coarse_first = list(reversed(idx.levels))
    x, y = np.array([lon]), np.array([lat])
    pt = shapely.Point(lon, lat)
    rulings = idx.rulings_at(pt)
    parent: str | None = None
    final: Decision | None = None
    final_level = coarse_first[0]
    boundary = False
    overlap = False
    gap_at: float | None = None
    steering_rule: tuple[str, int | None] | None = None
    tie: tuple[str, list[str]] | None = None
    for lv in coarse_first:
        ci = idx.cells[lv]
        cands = [str(ci.codes[i]) for i in ci.covering_sets(x, y)[0]]
        if parent is not None:
            cands = [c for c in cands if idx.units[c][2] == parent]
        nearest = None
        if not cands:
            if parent is not None and parent not in idx.has_children:
                break  # the parent has no finer units: it is the owner
            j, dist = ci.nearest(x, y, gap_m if parent is None else 1e6)
            if j[0] >= 0 and (parent is None or idx.units[str(ci.codes[j[0]])][2] == parent):
                nearest = (str(ci.codes[j[0]]), float(dist[0]))
            elif parent is not None:
                # nearest child of the chosen parent
                kids = [k for k, v in idx.units.items() if v[2] == parent and v[1] == lv]
                best = min(((float(shapely.distance(idx.geoms[k], pt)), k) for k in kids), default=None)
                if best is not None:
                    k = best[1]
                    dm = float(ci.boundary_distance(np.array([int(np.searchsorted(ci.codes, k))]), x, y)[0])
                    nearest = (k, dm)
            if nearest is None and parent is None:
                j, dist = ci.nearest(x, y, 1e7)
                nearest = (str(ci.codes[j[0]]), float(dist[0])) if j[0] >= 0 else None
        ruling = rulings.get(lv)
        steer_ruling = None
        if ruling is None:
            for rl, r in rulings.items():  # a ruling at a finer level steers this one to its ancestor
                anc = idx.ancestor(r.owner_code, lv)
                if anc is not None and anc in cands and rl != lv:
                    steer_ruling = RulingHit(r.id, anc, r.reason)
                    break
        bcell = idx.ancestor(building_cell, lv) if building_cell else None
        inside: list[str] = []
        if len(cands) > 1:  # a shared edge, or a real overlap of units that do not tile?
            inside = [c for c in cands if idx.edge_distance_m(c, lon, lat) > OVERLAP_DEPTH_M]
        d = decide(
            cands,
            inside=inside,
            ruling=ruling or steer_ruling,
            building_cell=bcell,
            building_id=building_id if bcell else None,
            nearest=nearest,
            gap_tolerance_m=gap_m if parent is None else max(gap_m, nearest[1] if nearest else 0),
        )
        if d.status == "gap":
            if nearest is not None and nearest[1] > gap_m and parent is not None:
                # inside the parent but far from its children: the parent keeps it
                break
            gap_at = d.gap_distance_m
        if len(d.candidates) > 1 and tie is None:
            tie = (lv, d.candidates)
        boundary = boundary or len(d.candidates) > 1
        overlap = overlap or d.status == "overlap"
        if d.rule in ("ruling", "building", "lowest_code") and steering_rule is None:
            steering_rule = (d.rule, d.ruling_id)
        final, final_level, parent = d, lv, d.owner
    assert final is not None
    if gap_at is not None:
        final.status, final.gap_distance_m = "gap", gap_at
    elif overlap:
        final.status = "overlap"
    elif boundary:
        final.status = "on_boundary"
    if tie is not None:
        final.candidates, final.tie_level = tie[1], tie[0]
    if steering_rule is not None and final.rule in ("single_cover", "nearest"):
        final.rule, final.ruling_id = steering_rule
    if final.status != "gap":
        edge_m = idx.edge_distance_m(final.owner, lon, lat)
        final.boundary_distance_m = round(edge_m, 2)
        final.near_boundary = edge_m <= near_m
    else:  # the distance to the unit the gap rule gave it (its boundary is the nearest point of it)
        final.boundary_distance_m = final.gap_distance_m
        final.near_boundary = final.gap_distance_m is not None and final.gap_distance_m <= near_m
    return final, final_level


def locate(
    session: Session,
    lon: float,
    lat: float,
    *,
    datum: str = "wgs84",
    at: dt.date | None = None,
    category: str | None = None,
    building: str | None = None,
    level: str | None = None,
) -> dict[str, Any]:
    """The full ownership answer for a point: owner chain, officer, status, rule, departments."""
    date = at or dt.date.today()
    wlon, wlat = to_point(lon, lat, datum)
    idx = get_index(session, date)
    bcell = None
    if building:
        bcell = session.execute(
            text(
                "SELECT cell_code FROM building_cell WHERE building_id = :b AND valid_from <= :d "
                "AND (valid_to IS NULL OR :d < valid_to)"
            ),
            {"b": building, "d": date},
        ).scalar()
        if bcell is None:
            raise NotFound(
                f"building {building} has no cell binding in force on {date}", code="unknown_building"
            )
    return answer(
        idx,
        lon,
        lat,
        datum=datum,
        at=date,
        category=category,
        building=building,
        building_cell=bcell,
        level=level,
        wgs84=(wlon, wlat),
    )


def answer(
    idx: JurisdictionIndex,
    lon: float,
    lat: float,
    *,
    datum: str = "wgs84",
    at: dt.date | None = None,
    category: str | None = None,
    building: str | None = None,
    building_cell: str | None = None,
    level: str | None = None,
    wgs84: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """The ownership answer for a point from an index (no database access)."""
    date = at or dt.date.today()
    wlon, wlat = wgs84 or to_point(lon, lat, datum)
    d, lv = decide_point(idx, wlon, wlat, building_cell=building_cell, building_id=building, level=level)
    chain = idx.chain(d.owner)
    officer = idx.officer(d.owner, date)
    out: dict[str, Any] = {
        "point": {
            "lon": wlon,
            "lat": wlat,
            "datum": "wgs84",
            "input": {"lon": lon, "lat": lat, "datum": datum},
        },
        "at": date.isoformat(),
        "boundary_version": {
            "valid_from": str(idx.valid_from) if idx.valid_from else None,
            "valid_to": str(idx.valid_to) if idx.valid_to else None,
        },
        **d.to_dict(),
        "level": lv,
        "owner": chain[0] if chain else {"code": d.owner},
        "chain": chain,
        "officer": officer,
    }
    if category:
        out["routing"] = idx.route(category, [c["code"] for c in chain], date)
    if len(idx.layers) > 1:
        mine = idx.layer_of(lv)
        out["layer"] = mine
        out["layers"] = {
            root: layer_answer(idx, wlon, wlat, lvs[0], building_cell=building_cell, building_id=building)
            for root, lvs in idx.layers.items()
            if root != mine
        }
    return out


def layer_answer(
    idx: JurisdictionIndex,
    lon: float,
    lat: float,
    level: str,
    *,
    building_cell: str | None = None,
    building_id: str | None = None,
) -> dict[str, Any]:
    """The owner of a WGS84 point in one layer, down to ``level``: owner, chain, status, rule,
    candidates, distances; a point in a hole of the layer is ``outside`` with the nearest unit
    and its distance (an answer, not an error: the primary chain answered)."""
    try:
        d, lv = decide_point(idx, lon, lat, building_cell=building_cell, building_id=building_id, level=level)
    except OutsideError as exc:
        det = exc.details if isinstance(exc.details, dict) else {}
        return {
            "level": level,
            "status": "outside",
            "owner": None,
            "chain": [],
            "rule": None,
            "candidates": [],
            "nearest": det.get("nearest"),
            "boundary_distance_m": det.get("distance_m"),
            "error": exc.message,
        }
    chain = idx.chain(d.owner)
    return {
        **d.to_dict(),
        "level": lv,
        "owner": chain[0] if chain else {"code": d.owner},
        "chain": chain,
    }


def locate_shape(
    session: Session,
    geom: Any,
    *,
    datum: str = "wgs84",
    at: dt.date | None = None,
    level: str | None = None,
) -> dict[str, Any]:
    """Every unit at ``level`` a shape touches, with its share (area for polygons, length for lines)."""
    date = at or dt.date.today()
    if geom is None or shapely.is_empty(geom):
        raise InputError("the shape is empty", code="invalid_geometry")
    g = to_wgs84(np.array([geom], dtype=object), parse_datum(datum))[0]
    if not shapely.is_valid(g):
        raise InputError(f"invalid shape: {shapely.is_valid_reason(g)}", code="invalid_geometry")
    idx = get_index(session, date)
    lv = level or (idx.levels[0] if idx.levels else None)
    if lv is None or lv not in idx.cells:
        if idx.layers:
            idx.lineage(lv or "")  # raises no_units naming the layers in force
        raise NotFound(f"no {level or ''} units in force at that date".replace("  ", " "), code="no_units")
    ci = idx.cells[lv]
    tree = shapely.STRtree([idx.geoms[str(c)] for c in ci.codes])
    dim = shapely.get_dimensions(g)
    parts: dict[str, float] = {}
    gm = to_metric(np.array([g], dtype=object), idx.metric_epsg)[0]
    for i in tree.query(g, predicate="intersects"):
        code = str(ci.codes[int(i)])
        cell = idx.geoms[code]
        # clipped to the unit's box first: a long spiky shape costs its vertices near each unit,
        # not all of them once per unit touched
        part = shapely.clip_by_rect(g, *cell.bounds)
        if not shapely.is_valid(part):  # the fast clip may leave an invalid part: then the whole shape
            part = g
        inter = shapely.intersection(part, cell)
        if inter.is_empty:
            continue
        m = to_metric(np.array([inter], dtype=object), idx.metric_epsg)[0]
        measure = m.area if dim == 2 else (m.length if dim == 1 else 1.0)
        if measure > 0 or dim == 0:
            parts[code] = float(measure)
    if not parts:
        raise NotFound("the shape touches no unit in force", code="outside")
    ruling = None
    if idx.ruling_tree is not None:
        hits = [idx.rulings[int(i)] for i in idx.ruling_tree.query(g, predicate="intersects")]
        hits = (
            [h for h in hits if h[2] == lv and shapely.intersection(h[1], g).area >= 0.5 * g.area]
            if dim == 2
            else [h for h in hits if h[2] == lv]
        )
        if hits:
            ruling = max(hits)
    res = shares(parts, ruling_owner=ruling[3] if ruling else None)
    for s in res["shares"]:
        s["name"] = idx.units[s["code"]][0]
        s["chain"] = idx.chain(s["code"])
    res.update(
        level=lv,
        at=date.isoformat(),
        measure="area_m2" if dim == 2 else "length_m" if dim == 1 else "count",
        total=float(sum(parts.values())) if dim else None,
        ruling_id=ruling[0] if ruling else None,
        metric_epsg=idx.metric_epsg,
    )
    # the cross-district whistle: the districts involved
    top = idx.lineage(lv)[0]  # the layer's root (district in the primary chain)
    districts = sorted({c["code"] for s in res["shares"] for c in s["chain"] if c["level"] == top})
    res["districts"] = districts
    res["cross_district"] = len(districts) > 1
    _ = gm
    return res
