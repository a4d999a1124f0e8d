"""A unit's map page from the store: the aggregates of :mod:`grid.db.mapdata` (and, on request,
the insights of :mod:`grid.db.insights`) drawn by :func:`maps.pages.unit_page`. Served by
``GET /maps/unit/{code}`` and written by ``gridgov maps export``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session


def build_unit_page(
    session: Session,
    code: str,
    *,
    at: dt.date | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    category: str | None = None,
    href: str = "/maps/unit/{code}",
    base_url: str | None = None,
    api_base: str | None = "",
    insights: bool = False,
    week: str | None = None,
) -> str:
    """The HTML of one unit's page from the store (used by the API and by ``gridgov maps export``).
    ``insights``: also the hotspot layer and the proactive tasks of ``week`` (grid.db.insights)."""
    from grid.config import get_settings
    from grid.db.mapdata import unit_page_data
    from maps.offline import OFFLINE_PREFIX, tiles_config
    from maps.pages import UnitPage, unit_page

    s = get_settings()
    data = unit_page_data(
        session,
        code,
        at=at,
        since=since,
        until=until,
        category=category,
        k_min=s.map_k_min,
    )
    found = None
    if insights:
        from grid.db.insights import cached_unit_insights

        r = cached_unit_insights(session, code, week=week, params={"topics": False})
        found = {
            "hot": [h["code"] for h in r["hotspots"] if h.get("hot")],
            "cold": [h["code"] for h in r["hotspots"] if h.get("cold") and not h.get("hot")],
            "tasks": [
                {
                    "title": f"{t['kind_label']}: {t['title']}",
                    "evidence": t["evidence"],
                    "department": t.get("department_name"),
                    "lat": t.get("lat"),
                    "lon": t.get("lon"),
                    "colour": t.get("colour"),
                }
                for t in r["tasks"]
            ],
        }
        data["notes"] = [*data.get("notes", []), f"主动治理 week {r['week']} ({r['iso_week']})"]
    page = UnitPage(**data, href=href, api_base=api_base, tiles=tiles_config(settings=s), insights=found)
    return unit_page(page, base_url=base_url or OFFLINE_PREFIX)
