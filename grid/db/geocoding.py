"""Geocoding against the gazetteer stored in PostGIS, served from memory.

The gazetteer of a date is loaded from ``gazetteer_place`` (places in force) with each building's
cell binding of that date, and cached per (database, store generation, date): any import bumps
the generation, so the next request sees it. The matching rules are :mod:`grid.geocode`'s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.cache import Lru
from grid.db.jurisdiction import decide_point, get_index, store_generation
from grid.db.store import cell_bindings
from grid.errors import GridGovError, InputError
from grid.gazetteer import Gazetteer, Place
from grid.inputs import check_text

_CACHE: Lru[tuple[Any, ...], Gazetteer] = Lru(4)
MAX_QUERY = 500


_BREAKS: Lru[tuple[str, int], list[dt.date]] = Lru(64)  # validity breakpoints per (database, generation)


def _version(session: Session, url: str, gen: int, date: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """The interval of dates on which the gazetteer and the building bindings read the same as on
    ``date`` (between two of their validity breakpoints): one cached gazetteer serves all of it,
    so petitions of a whole year do not rebuild it day by day."""
    import bisect

    breaks = _BREAKS.get((url, gen))
    if breaks is None:
        rows = session.execute(
            text(
                "SELECT valid_from FROM gazetteer_place UNION SELECT valid_to FROM gazetteer_place "
                "WHERE valid_to IS NOT NULL UNION SELECT valid_from FROM building_cell "
                "UNION SELECT valid_to FROM building_cell WHERE valid_to IS NOT NULL"
            )
        ).scalars()
        breaks = _BREAKS.put((url, gen), sorted(set(rows)))
    i = bisect.bisect_right(breaks, date)
    return (breaks[i - 1] if i else None, breaks[i] if i < len(breaks) else None)


def load_gazetteer(session: Session, date: dt.date) -> Gazetteer:
    url = str(session.get_bind().engine.url)
    gen = store_generation(session)
    key = (url, gen, _version(session, url, gen, date))
    g = _CACHE.get(key)
    if g is not None:
        return g
    cells = cell_bindings(session, date)
    places = []
    for r in session.execute(
        text(
            "SELECT place_id, kind, name, aliases, building_id, compound, road, door_number, building_no, "
            "community_code, door_ranges, ST_AsBinary(geom) AS wkb FROM gazetteer_place "
            "WHERE valid_from <= :d AND (valid_to IS NULL OR :d < valid_to) ORDER BY place_id"
        ),
        {"d": date},
    ).mappings():
        geom = shapely.from_wkb(bytes(r["wkb"]))
        pt = (
            geom
            if geom.geom_type == "Point"
            else geom.representative_point()
            if geom.geom_type != "LineString"
            else geom.interpolate(0.5, normalized=True)
        )
        dr = r["door_ranges"]
        ranges = None
        if dr:
            ranges = {
                "left": (dr.get("from_left"), dr.get("to_left")),
                "right": (dr.get("from_right"), dr.get("to_right")),
            }
        places.append(
            Place(
                id=r["place_id"],
                kind=r["kind"],
                name=r["name"],
                aliases=tuple(r["aliases"] or ()),
                lon=pt.x,
                lat=pt.y,
                building_id=r["building_id"],
                compound=r["compound"],
                road=r["road"],
                door_number=r["door_number"],
                building_no=r["building_no"],
                community_code=r["community_code"],
                cell_code=cells.get(r["building_id"]) if r["building_id"] else None,
                geometry=geom if r["kind"] in ("road", "compound") else None,
                door_ranges=ranges,
            )
        )
    return _CACHE.put(key, Gazetteer(places))


def geocode_text(
    session: Session, q: str, *, at: dt.date | None = None, review_below: float | None = None
) -> dict[str, Any]:
    """Geocode one query; the answer names the cell (the building's binding, else the owner of the point)."""
    from grid.geocode import geocode

    if q is None or not q.strip():
        raise InputError("empty address", code="empty_address")
    if len(q) > MAX_QUERY:
        raise InputError(f"address longer than {MAX_QUERY} characters", code="address_too_long")
    check_text(q, "address")  # the shared rule: NUL cannot reach PostgreSQL (CLI geocode, assign)
    date = at or dt.date.today()
    gaz = load_gazetteer(session, date)
    kw = {} if review_below is None else {"review_below": review_below}
    res = geocode(gaz, q, **kw)
    out = res.to_dict() if hasattr(res, "to_dict") else dict(res.__dict__)
    if out.get("cell_code") is None and out.get("lon") is not None and out.get("status") == "matched":
        try:
            d, lv = decide_point(get_index(session, date), float(out["lon"]), float(out["lat"]))
            out["cell_code"] = d.owner if lv == "grid" else None
            out["owner_code"], out["owner_level"] = d.owner, lv
        except GridGovError as exc:
            out["owner_error"] = exc.code
    out["at"] = date.isoformat()
    return out


def reverse_point(
    session: Session, lon: float, lat: float, *, at: dt.date | None = None, max_distance_m: float = 200.0
) -> dict[str, Any]:
    from grid.geocode import reverse

    date = at or dt.date.today()
    return {
        **reverse(load_gazetteer(session, date), lon, lat, max_distance_m=max_distance_m),
        "at": date.isoformat(),
    }


def geocode_many(
    session: Session, queries: Iterable[str], *, at: dt.date | None = None
) -> Iterator[dict[str, Any]]:
    """Geocode queries one by one, in order (a batch: ``POST /v1/geocode/batch``, ``gridgov
    geocode``): each answer is :func:`geocode_text`'s, or ``{"query", "error", "code"}`` for a query
    that cannot be read (empty, too long, a control character), never a dropped one. Lazy, so a
    caller can show progress."""
    for q in queries:
        try:
            yield geocode_text(session, q, at=at)
        except GridGovError as exc:
            yield {"query": q, "error": exc.message, "code": exc.code}
