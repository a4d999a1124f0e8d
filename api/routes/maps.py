"""Map pages under ``/maps/``: an index of units and one interactive page per unit.

Public: the pages show aggregated counts only (no petition text, no contact, no exact point; counts
under ``GRIDGOV_MAP_K_MIN`` hidden). Every asset comes from ``/maps/static`` (no CDN).
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse

from api.deps import SafeDate, SessionDep
from api.security import PrincipalDep, need
from grid.errors import InputError
from maps.unit_page import build_unit_page

MAX_WINDOW_DAYS = 3 * 366  # a map's petitions window (weekly counts per cell travel with the page)

router = APIRouter(tags=["maps"])

LEVEL_NAMES = {"district": "区 districts", "street": "街道 streets"}


@router.get("/maps/", response_class=HTMLResponse)
def maps_index(
    session: SessionDep,
    at: Annotated[SafeDate | None, Query(description="boundary version date (default today)")] = None,
) -> HTMLResponse:
    """The list of map pages: every district and street in force, each linking to its page."""
    from grid.db.mapdata import units_for_index

    units = units_for_index(session, at or dt.date.today())
    parts = [
        "<!doctype html><html lang='zh'><head><meta charset='utf-8'><title>gridgov maps</title>",
        "<style>body{font:14px sans-serif;margin:2em}li{margin:2px 0}a{text-decoration:none}</style></head><body>",
        "<h1>gridgov 地图 maps</h1><p>每个单元一页：网格诉求密度、热力、边界、搜索、按周滑块。"
        "One page per unit: complaint density per grid cell, heat, boundaries, search, weekly slider.</p>",
    ]
    by_parent: dict[str | None, list[dict[str, object]]] = {}
    for u in units:
        by_parent.setdefault(u["parent"] if u["level"] == "street" else None, []).append(u)
    parts.append("<ul id='units'>")
    for d in by_parent.get(None, []):
        parts.append(
            f"<li><a href='/maps/unit/{d['code']}'>{html.escape(str(d['name']))}</a> {d['code']}<ul>"
        )
        for st in by_parent.get(str(d["code"]), []):
            parts.append(
                f"<li><a href='/maps/unit/{st['code']}'>{html.escape(str(st['name']))}</a> {st['code']}"
                f" · <a href='/maps/unit/{st['code']}?insights=true'>热点与任务 hotspots &amp; tasks</a></li>"
            )
        parts.append("</ul></li>")
    parts.append("</ul></body></html>")
    return HTMLResponse("".join(parts))


@router.get("/maps/unit/{code}", response_class=HTMLResponse)
def unit_map(
    session: SessionDep,
    who: PrincipalDep,
    code: Annotated[str, Path(pattern=r"^[0-9A-Za-z]{1,32}$")],
    at: Annotated[SafeDate | None, Query(description="boundary version date (default today)")] = None,
    since: Annotated[SafeDate | None, Query(description="petitions received on or after")] = None,
    until: Annotated[SafeDate | None, Query(description="petitions received before")] = None,
    category: Annotated[
        str | None, Query(pattern=r"^[0-9A-Za-z]{1,32}$", description="category code")
    ] = None,
    insights: Annotated[
        bool, Query(description="add the hotspot layer and the proactive task markers")
    ] = False,
    week: Annotated[
        str | None,
        Query(max_length=10, description="the insights' week (2025-W49 or a date; default: the last)"),
    ] = None,
) -> HTMLResponse:
    """One unit's interactive map (boundaries, complaint density per grid cell, heat, search, weeks;
    with ``insights=true`` the hotspots and proactive tasks of ``week``). The counts are public;
    the insights layer needs ``insights:read`` (a login cookie works in the browser) and, for a
    scoped reader, a unit inside its scope."""
    if since is not None and ((until or dt.date.today()) - since).days > MAX_WINDOW_DAYS:
        raise InputError(
            f"since..until spans more than {MAX_WINDOW_DAYS} days (the page carries one count per week)",
            code="window_too_long",
        )
    if insights:
        need("insights:read")(who)
    if insights:
        from grid.db.users import check_unit_scope

        check_unit_scope(session, who, code)
    page = build_unit_page(
        session, code, at=at, since=since, until=until, category=category, insights=insights, week=week
    )
    return HTMLResponse(page)
