"""What a unit's map page shows, gathered from the store and aggregated in PostgreSQL.

Only aggregates leave the database: petitions per finest unit, overdue counts, weekly counts and
a heat grid of 50 m bins (counted by ``GROUP BY`` on the bin), so a page costs the same for ten
thousand or ten million petitions. Boundaries come from the in-memory jurisdiction index of the
date and are simplified topology-preservingly once per (generation, unit, date) and cached.
Counts below ``k_min`` are never shown.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.cache import Lru
from grid.coverage import simplify_coverage, suppress_small
from grid.db.insights import cell_households
from grid.db.jurisdiction import JurisdictionIndex, get_index
from grid.errors import InputError, NotFound

__all__ = ["MAX_BASE_FEATURES", "MapFilters", "unit_page_data", "units_for_index"]

MAX_BASE_FEATURES = 6000
HEAT_CELL_M = 50.0
MAX_WEEKS = 26
_BOUNDARIES: Lru[tuple[Any, ...], list[tuple[str, dict[str, Any]]]] = Lru(64)


class MapFilters(dict[str, Any]):
    """since / until (dates, until exclusive), category (a code: its sub-categories included)."""


def _boundaries(idx: JurisdictionIndex, code: str) -> list[tuple[str, dict[str, Any]]]:
    key = (id(idx), idx.generation, code)
    hit = _BOUNDARIES.get(key)
    if hit is not None:
        return hit
    by_level = idx.descendants(code)
    order = list(reversed(idx.levels))  # coarse -> fine
    layers = []
    for lv in order:
        codes = sorted(by_level.get(lv, []))
        if not codes:
            continue
        tol = {"district": 20.0, "street": 8.0, "community": 4.0}.get(lv, 2.0)
        geoms = simplify_coverage([idx.geoms[c] for c in codes], tolerance_m=tol)
        feats = [
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(g),
                "properties": {"code": c, "name": idx.units[c][0], "level": lv, "parent": idx.units[c][2]},
            }
            for c, g in zip(codes, geoms, strict=True)
        ]
        layers.append((lv, {"type": "FeatureCollection", "features": feats}))
    return _BOUNDARIES.put(key, layers)


def units_for_index(
    session: Session, date: dt.date, levels: tuple[str, ...] = ("district", "street")
) -> list[dict[str, Any]]:
    """The units of the given levels in force at ``date`` (for the index of pages)."""
    idx = get_index(session, date)
    rows = [
        {"code": c, "name": n, "level": lv, "parent": p}
        for c, (n, lv, p) in idx.units.items()
        if lv in levels
    ]
    return sorted(rows, key=lambda r: (levels.index(r["level"]), r["code"]))


def _where(code_col: str, f: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    conds = ["owner_chain @> ARRAY[CAST(:unit AS varchar)]", "status <> 'merged'", "duplicate_of IS NULL"]
    params: dict[str, Any] = {}
    if f.get("since"):
        conds.append("received_at >= :since")
        params["since"] = f["since"]
    if f.get("until"):
        conds.append("received_at < :until")
        params["until"] = f["until"]
    if f.get("category"):
        conds.append("category_code LIKE :cat")
        params["cat"] = str(f["category"]) + "%"
    return " AND ".join(conds), params


def unit_page_data(
    session: Session,
    code: str,
    *,
    at: dt.date | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    category: str | None = None,
    k_min: int = 3,
    base_layer: bool = True,
) -> dict[str, Any]:
    """The fields of :class:`maps.pages.UnitPage` for unit ``code`` (JSON-able)."""
    date = at or dt.date.today()
    if since and until and until <= since:
        raise InputError("until must be after since", code="invalid_range")
    if category is not None and not category.isalnum():
        raise InputError("category must be a category code", code="invalid_category")
    idx = get_index(session, date)
    if code not in idx.units:
        raise NotFound(f"no unit {code} in force on {date}", code="unit_not_found")
    name, level, _parent = idx.units[code]
    layers = _boundaries(idx, code)
    finest_level = layers[-1][0]
    col = {
        "grid": "cell_code",
        "community": "community_code",
        "street": "street_code",
        "district": "district_code",
    }.get(finest_level, "owner_code")
    filters = {"since": since, "until": until, "category": category}
    where, params = _where(col, filters)
    params["unit"] = code
    params["now"] = dt.datetime.now(dt.UTC)
    rows = session.execute(
        text(
            f"SELECT {col} AS code, count(*) AS n, "
            "count(*) FILTER (WHERE answered_at IS NULL AND due_at < :now AND status <> 'needs_location') AS overdue "
            f"FROM petition WHERE {where} AND {col} IS NOT NULL GROUP BY {col}"
        ),
        params,
    ).all()
    counts = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    finest_codes = [f["properties"]["code"] for f in layers[-1][1]["features"]]
    households: dict[str, Any] = (
        cell_households(session, date, finest_codes) if finest_level == "grid" else {}
    )
    stats: dict[str, dict[str, Any]] = {}
    for c in finest_codes:
        n, overdue = counts.get(c, (0, 0))
        hh = households.get(c)
        off = idx.officer(c, date)
        stats[c] = {
            "petitions_shown": suppress_small(n, k_min) if n else 0,
            "overdue_shown": suppress_small(overdue, k_min) if overdue else 0,
            # a rate would give a hidden count away: none below k (0 is no secret)
            "per100": (100.0 * n / float(hh)) if hh and (n >= k_min or n == 0) else None,
            "households": int(hh) if hh else None,
            "officer": off["name"] if off else None,
        }
    # heat: 50 m bins counted in SQL (never a reporter's exact point); bins and weekly counts under
    # k_min are left out like the cell totals, so no aggregate of a page places a single petition
    b = shapely.bounds(idx.geoms[code])
    lat0 = (b[1] + b[3]) / 2
    dy = HEAT_CELL_M / 111_320.0
    dx = HEAT_CELL_M / (111_320.0 * max(math.cos(math.radians(lat0)), 0.01))
    heat_rows = session.execute(
        text(
            "SELECT (floor(ST_Y(geom) / :dy) + 0.5) * :dy AS lat, (floor(ST_X(geom) / :dx) + 0.5) * :dx AS lon, "
            f"count(*) FROM petition WHERE {where} AND geom IS NOT NULL GROUP BY 1, 2 HAVING count(*) >= :k"
        ),
        {**params, "dx": dx, "dy": dy, "k": k_min},
    ).all()
    heat = [[round(float(r[0]), 6), round(float(r[1]), 6), float(r[2])] for r in heat_rows]
    # weekly counts per finest unit for the slider (the last MAX_WEEKS weeks of the range)
    week_rows = session.execute(
        text(
            "SELECT to_char(date_trunc('week', received_at AT TIME ZONE 'Asia/Shanghai'), 'YYYY-MM-DD') AS w, "
            f"{col} AS code, count(*) FROM petition WHERE {where} AND {col} IS NOT NULL GROUP BY 1, 2"
        ),
        params,
    ).all()
    weeks: dict[str, dict[str, int]] = {}
    for w, c, n in week_rows:  # every week with petitions has its step; counts under k are left out
        cells_of_week = weeks.setdefault(str(w), {})
        if n >= k_min:
            cells_of_week[str(c)] = int(n)
    for w in sorted(weeks)[:-MAX_WEEKS]:
        del weeks[w]
    base = None
    if base_layer:
        bx = shapely.bounds(idx.geoms[code])
        feats = session.execute(
            text(
                "SELECT kind, name, ST_AsGeoJSON(geom, 6) FROM gazetteer_place WHERE kind IN ('road', 'building') "
                "AND valid_from <= :d AND (valid_to IS NULL OR :d < valid_to) "
                "AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) LIMIT :lim"
            ),
            {"d": date, "x0": bx[0], "y0": bx[1], "x1": bx[2], "y1": bx[3], "lim": MAX_BASE_FEATURES + 1},
        ).all()
        if 0 < len(feats) <= MAX_BASE_FEATURES:
            import json

            base = {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "geometry": json.loads(g), "properties": {"kind": k, "name": nm}}
                    for k, nm, g in feats
                ],
            }
    return {
        "code": code,
        "name": name,
        "level": level,
        "layers": [(lv, _copy_fc(fc)) for lv, fc in layers],
        "stats": stats,
        "heat": heat,
        "weeks": weeks,
        "base": base,
        "filters": {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in filters.items() if v},
        "k_min": k_min,
    }


def _copy_fc(fc: dict[str, Any]) -> dict[str, Any]:
    """A copy whose properties the page may write into (the cached geometries are shared)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": f["geometry"], "properties": dict(f["properties"])}
            for f in fc["features"]
        ],
    }
