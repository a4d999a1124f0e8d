"""The proactive task list (未诉先办, 举一反三): findings of the detectors as tasks for a street.

Pure: the detectors' frames in, a list of task dicts out. Each task says what (the kind of
finding and the category), where (cell, building or address, a point to draw), the evidence
(the numbers that made it a finding) and the suggested lead department, which comes from the
routing catalogue through the ``route`` callable (category, unit code) -> (department code,
name), so this module needs no database.

Order: repeat places first (one place, one problem: the most actionable), then surges, then
hotspots (emerging ones before persistent), then rising phrases (a class of problem across the
street: 举一反三).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

__all__ = ["KIND_LABELS", "build_tasks"]

Route = Callable[[str | None, str], tuple[str | None, str | None]]

KIND_LABELS = {
    "repeat_place": "重复诉求地点 repeat place",
    "surge": "突增 surge",
    "hotspot": "热点网格 hotspot",
    "topic": "新兴话题 rising phrase",
}
COLOURS = {"repeat_place": "#e31a1c", "surge": "#ff7f00", "hotspot": "#b10026", "topic": "#6a3d9a"}
TREND_LABELS = {
    "new": "新出现 new",
    "intensifying": "加剧 intensifying",
    "persistent": "持续 persistent",
    "diminishing": "减弱 diminishing",
    "sporadic": "零星 sporadic",
}
TREND_ORDER = {"new": 0, "intensifying": 1, "sporadic": 2, "persistent": 3, "diminishing": 4}


def _f(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def build_tasks(
    *,
    unit_code: str,
    repeats: pd.DataFrame | None = None,
    surges: pd.DataFrame | None = None,
    hotspots: pd.DataFrame | None = None,
    emerging: pd.DataFrame | None = None,
    topics: pd.DataFrame | None = None,
    categories: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
    centroids: Mapping[str, tuple[float, float]] | None = None,
    route: Route | None = None,
    top_category: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Tasks from the findings (any frame may be None or empty).

    ``categories``: code -> name; ``names``: unit code -> name; ``centroids``: cell code ->
    (lon, lat) for tasks without a point of their own; ``top_category``: cell code -> the
    category with the most petitions there (a hotspot's lead department is that category's).
    """
    cats = dict(categories or {})
    nm = dict(names or {})
    cen = dict(centroids or {})
    tops = dict(top_category or {})

    def where_of(cell: Any) -> tuple[float | None, float | None]:
        if isinstance(cell, str) and cell in cen:
            return cen[cell]
        return None, None

    def lead(category: str | None, unit: str) -> tuple[str | None, str | None]:
        if route is None:
            return None, None
        return route(category, unit)

    tasks: list[dict[str, Any]] = []
    if repeats is not None and len(repeats):
        for r in repeats.itertuples(index=False):
            cat = str(r.category_code)
            cell = r.cell_code if isinstance(r.cell_code, str) else None
            lon, lat = _f(r.lon), _f(r.lat)
            if lon is None or lat is None:
                lon, lat = where_of(cell)
            dept, dept_name = lead(cat, cell or unit_code)
            place = (
                str(getattr(r, "place", r.key))
                if r.kind != "cluster"
                else f"{nm.get(cell or '', cell or '')} 50 m 范围"
            )
            tasks.append(
                {
                    "kind": "repeat_place",
                    "title": f"{cats.get(cat, cat)} · {place}",
                    "category_code": cat,
                    "category": cats.get(cat, cat),
                    "cell_code": cell,
                    "place": place,
                    "evidence": (
                        f"{int(r.count)} 件同类诉求 petitions of this category, "
                        f"{pd.Timestamp(r.first).date()} – {pd.Timestamp(r.last).date()} ({r.kind})"
                    ),
                    "numbers": {"count": int(r.count), "first": str(r.first), "last": str(r.last)},
                    "petition_ids": [int(i) for i in r.petition_ids],
                    "department": dept,
                    "department_name": dept_name,
                    "lon": lon,
                    "lat": lat,
                }
            )
    if surges is not None and len(surges):
        s = surges.reset_index()
        unit_col = "cell_code" if "cell_code" in s.columns else s.columns[0]
        for r in s.itertuples(index=False):
            d = r._asdict()
            cell, cat = str(d[unit_col]), str(d["category_code"])
            lon, lat = where_of(cell)
            dept, dept_name = lead(cat, cell)
            obs, exp = _f(d.get("observed")), _f(d.get("expected"))
            tasks.append(
                {
                    "kind": "surge",
                    "title": f"{cats.get(cat, cat)} · {nm.get(cell, cell)}",
                    "category_code": cat,
                    "category": cats.get(cat, cat),
                    "cell_code": cell,
                    "place": nm.get(cell, cell),
                    "evidence": (
                        f"本周 {obs:.0f} 件, 预期 {exp:.1f} (this week {obs:.0f}, expected {exp:.1f}; "
                        f"q = {_f(d.get('q_value')) or 0:.2g})"
                        if obs is not None and exp is not None
                        else "surge"
                    ),
                    "numbers": {
                        k: _f(d.get(k)) for k in ("observed", "expected", "ratio", "p_value", "q_value")
                    },
                    "department": dept,
                    "department_name": dept_name,
                    "lon": lon,
                    "lat": lat,
                }
            )
    if hotspots is not None and len(hotspots):
        trend = {}
        if emerging is not None and len(emerging):
            trend = dict(zip(emerging["code"].astype(str), emerging["trend"].astype(str), strict=True))
        hot = hotspots[hotspots["hot"].astype(bool)].copy()
        hot["_order"] = [TREND_ORDER.get(trend.get(str(c), ""), 5) for c in hot["code"]]
        for r in hot.sort_values(["_order", "z"], ascending=[True, False]).itertuples(index=False):
            cell = str(r.code)
            lon, lat = where_of(cell)
            top = tops.get(cell)
            dept, dept_name = lead(top, cell)
            t = trend.get(cell)
            tasks.append(
                {
                    "kind": "hotspot",
                    "title": f"{nm.get(cell, cell)}" + (f" · {TREND_LABELS[t]}" if t in TREND_LABELS else ""),
                    "category_code": top,
                    "category": cats.get(top, top) if top else None,
                    "cell_code": cell,
                    "place": nm.get(cell, cell),
                    "evidence": (
                        f"每百户 {_f(r.rate_raw) or 0:.1f} 件 (收缩后 {_f(r.rate_eb) or 0:.1f}); "
                        + (
                            f"{int(r.petitions)} 件, 按户数预期 {_f(getattr(r, 'expected', None)) or 0:.1f} "
                            f"(q = {_f(getattr(r, 'excess_q', None)) or 0:.2g}); "
                            if bool(getattr(r, "excess", False))
                            else ""
                        )
                        + f"Gi* z = {_f(r.z) or 0:.1f}, q = {_f(r.q) or 0:.2g}"
                        + (f"; 最多 most: {cats.get(top, top)}" if top else "")
                    ),
                    "numbers": {
                        "petitions": int(r.petitions),
                        "households": _f(r.households),
                        "rate_raw": _f(r.rate_raw),
                        "rate_eb": _f(r.rate_eb),
                        "z": _f(r.z),
                        "q": _f(r.q),
                        "trend": t,
                    },
                    "department": dept,
                    "department_name": dept_name,
                    "lon": lon,
                    "lat": lat,
                }
            )
    if topics is not None and len(topics):
        for r in topics.itertuples(index=False):
            d = r._asdict()
            term = str(d["term"])
            tasks.append(
                {
                    "kind": "topic",
                    "title": f"“{term}” 上升 rising",
                    "category_code": None,
                    "category": None,
                    "cell_code": None,
                    "place": nm.get(unit_code, unit_code),
                    "term": term,
                    "evidence": (
                        f"近期 {_f(d.get('recent_share')) or 0:.1%} 的诉求提到, 基线 {_f(d.get('baseline_share')) or 0:.1%} "
                        f"(×{_f(d.get('ratio')) or 0:.1f}, z = {_f(d.get('z')) or 0:.1f})"
                    ),
                    "numbers": {k: _f(v) for k, v in d.items() if k != "term" and _f(v) is not None},
                    "department": None,
                    "department_name": None,
                    "lon": None,
                    "lat": None,
                }
            )
    for t in tasks:
        t["kind_label"] = KIND_LABELS[t["kind"]]
        t["colour"] = COLOURS[t["kind"]]
    return tasks
