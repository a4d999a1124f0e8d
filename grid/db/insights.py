"""Insights of a unit for a week, from the store: hotspots, surges, repeat places, rising phrases
and the proactive task list (the detectors are pure, in :mod:`grid.insights`).

What is read: the unit's grid cells in force at the end of the week (geometry from the
jurisdiction index, households from the buildings assigned to them) and its placed petitions of
the ``history_weeks`` weeks up to the end of the week (merged "me too" duplicates count once for
rates, surges and words, and as calls for repeat places). Which week: ``week`` (any day of it, or ``2025-W49``); by default the last complete
week of the unit's petitions.

* **hotspots**: Gi* on empirical-Bayes rates per household over the ``hot_weeks`` weeks ending
  with the week (default 52: a year, where a street's lasting problems show), FDR 0.05, and
  single cells well above their share of households (``cell_excess``); emerging trends over the
  whole history in 4-week windows.
* **surges**: this week's count per cell × category against its own seasonal baseline.
* **repeat places**: at least ``repeat_min`` petitions of one category in ``repeat_days`` days at
  one building, address or 50 m cluster, its last petition within ``repeat_recent_days`` (60)
  of the week's end.
* **rising phrases**: terms whose share of the street's petitions rose over the last
  ``topic_weeks`` weeks against the weeks before.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.cache import Lru
from grid.db.jurisdiction import JurisdictionIndex, get_index, store_generation
from grid.errors import InputError, NotFound

__all__ = ["InsightParams", "cached_unit_insights", "cell_households", "unit_insights"]

TZ = "Asia/Shanghai"


class InsightParams(dict[str, Any]):
    """Detector settings (defaults in :data:`DEFAULTS`)."""


DEFAULTS: dict[str, Any] = {
    "history_weeks": 52,
    "hot_weeks": 52,
    "fdr": 0.05,
    "permutations": 99_999,
    "repeat_min": 5,
    "repeat_days": 30,
    "repeat_recent_days": 60,
    "repeat_radius_m": 50.0,
    "topic_weeks": 8,
    "surge_q": 0.05,
    "topics": True,  # the map pages skip the (slow) text segmentation
}


def cell_households(session: Session, date: dt.date, codes: list[str]) -> dict[str, int]:
    """Households per cell: the buildings assigned to each cell in force at ``date``."""
    rows = session.execute(
        text(
            "SELECT bc.cell_code, sum(b.households) FROM building_cell bc JOIN building b "
            "ON b.building_id = bc.building_id AND b.valid_from <= :d AND (b.valid_to IS NULL OR :d < b.valid_to) "
            "WHERE bc.valid_from <= :d AND (bc.valid_to IS NULL OR :d < bc.valid_to) AND bc.cell_code = ANY(:c) "
            "GROUP BY bc.cell_code"
        ),
        {"d": date, "c": codes},
    ).all()
    return {str(c): int(h) for c, h in rows if h is not None}


def _monday(d: dt.date) -> dt.date:
    return d - dt.timedelta(days=d.weekday())


def parse_week(week: str | dt.date | None) -> dt.date | None:
    """The Monday of ``week`` (a date, ``YYYY-MM-DD`` or ISO ``YYYY-Www``); None stays None."""
    if week is None or week == "":
        return None
    if isinstance(week, dt.date):
        return _monday(week)
    s = str(week).strip()
    try:
        if "W" in s.upper():
            y, w = s.upper().split("-W")
            return dt.date.fromisocalendar(int(y), int(w), 1)
        return _monday(dt.date.fromisoformat(s))
    except ValueError as exc:
        raise InputError(
            f"week must be a date (2025-12-01) or an ISO week (2025-W49), not {s!r}", code="invalid_week"
        ) from exc


def _cells(session: Session, idx: JurisdictionIndex, code: str, date: dt.date) -> gpd.GeoDataFrame:
    codes = sorted(idx.descendants(code).get("grid", []))
    hh = cell_households(session, date, codes)
    return gpd.GeoDataFrame(
        {
            "code": codes,
            "name": [idx.units[c][0] for c in codes],
            "households": [hh.get(c, 0) for c in codes],
        },
        geometry=[idx.geoms[c] for c in codes],
        crs=4326,
    )


def _petitions(
    session: Session, code: str, start: dt.datetime, end: dt.datetime, *, with_text: bool = True
) -> pd.DataFrame:
    body = "text" if with_text else "NULL AS text"  # only the rising phrases read the text
    rows = session.execute(
        text(
            "SELECT id, received_at, cell_code, community_code, street_code, category_code, building_id, address, "
            f"ST_X(geom) AS lon, ST_Y(geom) AS lat, {body}, (status = 'merged' OR duplicate_of IS NOT NULL) AS merged "
            "FROM petition WHERE owner_chain @> ARRAY[CAST(:unit AS varchar)] "
            "AND received_at >= :a AND received_at < :b"
        ),
        {"unit": code, "a": start, "b": end},
    ).mappings()
    df = pd.DataFrame([dict(r) for r in rows])
    if df.empty:
        df = pd.DataFrame(
            columns=[
                "id",
                "received_at",
                "cell_code",
                "community_code",
                "street_code",
                "category_code",
                "building_id",
                "address",
                "lon",
                "lat",
                "text",
                "merged",
            ]
        )
    df["received_at"] = pd.to_datetime(df["received_at"], utc=True).dt.tz_convert(TZ)
    for c in ("lon", "lat"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def _default_week(session: Session, code: str) -> dt.date:
    last = session.execute(
        text(
            "SELECT max(received_at) FROM petition WHERE owner_chain @> ARRAY[CAST(:unit AS varchar)] "
            "AND status <> 'merged'"
        ),
        {"unit": code},
    ).scalar()
    if last is None:
        raise NotFound(f"no petitions under {code}", code="no_petitions")
    day = pd.Timestamp(last).tz_convert(TZ).date()
    monday = _monday(day)
    # the last complete week: the week of the last petition if it ends on its Sunday
    return monday if day.weekday() == 6 else monday - dt.timedelta(days=7)


def unit_insights(
    session: Session,
    code: str,
    *,
    week: str | dt.date | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Hotspots, surges, repeat places, rising phrases and the task list of unit ``code``."""
    from grid.insights.hotspots import cell_weights, emerging_hotspots, hotspots
    from grid.insights.repeats import repeat_places
    from grid.insights.surges import surges, weekly_counts
    from grid.insights.tasks import build_tasks
    from grid.insights.topics import Segmenter, rising_terms, term_counts

    p = {**DEFAULTS, **(params or {})}
    monday = parse_week(week) or _default_week(session, code)
    week_end = monday + dt.timedelta(days=7)
    idx = get_index(session, week_end - dt.timedelta(days=1))
    if code not in idx.units:
        raise NotFound(f"no unit {code} in force in the week of {monday}", code="unit_not_found")
    tz = pd.Timestamp(monday).tz_localize(TZ).tzinfo
    end = dt.datetime.combine(week_end, dt.time(), tzinfo=tz)
    start = end - dt.timedelta(weeks=int(p["history_weeks"]))
    calls = _petitions(session, code, start, end, with_text=bool(p.get("topics", True)))
    # a "me too" merged into an earlier petition is one problem (rates, surges, words count it
    # once) but one more call from the place (repeat places count every call)
    pet = calls[~calls["merged"].astype(bool)].reset_index(drop=True)
    cells = _cells(session, idx, code, monday)
    cats: dict[str, str] = {
        str(c): str(n) for c, n in session.execute(text("SELECT code, name FROM category")).all()
    }
    # a cell's own name ("第5网格") repeats in every community: show it with its community's
    names = {
        c: (f"{idx.units[p_][0]} {n}" if lv == "grid" and p_ in idx.units else n)
        for c, (n, lv, p_) in idx.units.items()
    }
    out: dict[str, Any] = {
        "unit": {"code": code, "name": idx.units[code][0], "level": idx.units[code][1]},
        "week": monday.isoformat(),
        "iso_week": f"{monday.isocalendar()[0]}-W{monday.isocalendar()[1]:02d}",
        "petitions": len(pet),
        "cells": len(cells),
        "params": p,
    }
    in_week = pet["received_at"] >= pd.Timestamp(end - dt.timedelta(days=7))

    # hotspots and their trends
    hot = emerging = None
    centroids: dict[str, tuple[float, float]] = {}
    tops: dict[str, str] = {}
    if len(cells) >= 3:
        pts = shapely.point_on_surface(np.asarray(cells.geometry.values, dtype=object))
        centroids = {
            c: (round(float(x), 6), round(float(y), 6))
            for c, x, y in zip(cells["code"], shapely.get_x(pts), shapely.get_y(pts), strict=True)
        }
        w = cell_weights(cells)
        recent = pet[pet["received_at"] >= pd.Timestamp(end - dt.timedelta(weeks=int(p["hot_weeks"])))]
        counts = recent["cell_code"].value_counts()
        hot = hotspots(cells, counts, w, permutations=int(p["permutations"]), fdr=float(p["fdr"]))
        weekly_cells = (
            pet.assign(week=pet["received_at"].dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time)
            .groupby(["week", "cell_code"])
            .size()
            .unstack(fill_value=0)
            .reindex(columns=cells["code"], fill_value=0)
        )
        all_weeks = pd.date_range(pd.Timestamp(start.date()), pd.Timestamp(monday), freq="7D")
        weekly_cells = weekly_cells.reindex(all_weeks, fill_value=0)
        if len(weekly_cells) >= 8:
            emerging = emerging_hotspots(
                weekly_cells,
                cells.set_index("code")["households"],
                w,
                permutations=int(p["permutations"]),
                fdr=float(p["fdr"]),
            )
        top = recent.groupby(["cell_code", "category_code"]).size().reset_index(name="n")
        top = top.sort_values(["cell_code", "n", "category_code"], ascending=[True, False, True])
        tops = dict(top.drop_duplicates("cell_code")[["cell_code", "category_code"]].itertuples(index=False))

    # surges of the week
    sg = None
    wk = weekly_counts(pet)
    if len(wk.columns) and pd.Timestamp(monday) in wk.columns:
        sg = surges(wk, monday, history_weeks=int(p["history_weeks"]), q=float(p["surge_q"]))

    # repeat places active in the week
    rp = repeat_places(
        calls,
        min_count=int(p["repeat_min"]),
        window_days=float(p["repeat_days"]),
        radius_m=float(p["repeat_radius_m"]),
        as_of=pd.Timestamp(end),
    )
    if len(rp):
        rp = rp[
            pd.to_datetime(rp["last"]) >= pd.Timestamp(end - dt.timedelta(days=int(p["repeat_recent_days"])))
        ]

    if len(rp):  # a building's address reads better than its id
        ids = [str(k) for k, kind in zip(rp["key"], rp["kind"], strict=True) if kind == "building"]
        addr: dict[str, str] = dict(
            session.execute(
                text(
                    "SELECT DISTINCT ON (building_id) building_id, address FROM building WHERE building_id = ANY(:ids)"
                ),
                {"ids": ids},
            ).all()
        )
        rp = rp.assign(
            place=[
                f"{addr[str(k)]} ({k})" if kind == "building" and addr.get(str(k)) else str(k)
                for k, kind in zip(rp["key"], rp["kind"], strict=True)
            ]
        )

    # rising phrases: the last topic_weeks weeks against the weeks before
    tp = None
    cut = pd.Timestamp(end - dt.timedelta(weeks=int(p["topic_weeks"])))
    texts = pet[pet["text"].notna()]
    rec, base = texts[texts["received_at"] >= cut], texts[texts["received_at"] < cut]
    if p.get("topics", True) and len(rec) >= 20 and len(base) >= 20:
        # place names would rise with any local problem: the segmenter drops them
        seg = Segmenter(place_names=_place_names(session, idx, code, monday))
        # the baseline is re-weighted to the recent mix of categories: heating words rise every
        # November with the heating complaints; a new phrase rises within its categories
        c_r = term_counts(rec["text"].tolist(), rec[["category_code"]], segmenter=seg)
        c_b = term_counts(base["text"].tolist(), base[["category_code"]], segmenter=seg)
        tp = rising_terms(
            c_r,
            c_b,
            n_recent_docs=rec.groupby("category_code").size(),
            n_baseline_docs=base.groupby("category_code").size(),
            strata="category_code",
        )

    def route(category: str | None, unit: str) -> tuple[str | None, str | None]:
        if not category or unit not in idx.units:
            return None, None
        r = idx.route(category, [u["code"] for u in idx.chain(unit)], monday)
        return r.get("lead"), r.get("lead_name")

    if hot is not None:
        # a hot cell: in a Gi* hot area or alone well above its share of households
        hot["hot"] = hot["hot"] | hot["excess"]
    tasks = build_tasks(
        unit_code=code,
        repeats=rp,
        surges=sg,
        hotspots=hot,
        emerging=emerging,
        topics=tp,
        categories=cats,
        names=names,
        centroids=centroids,
        route=route,
        top_category=tops,
    )
    out["week_petitions"] = int(in_week.sum())
    out["hotspots"] = _records(hot[hot["hot"] | hot["cold"]] if hot is not None else None)
    out["emerging"] = _records(emerging[emerging["trend"] != "none"] if emerging is not None else None)
    out["surges"] = _records(sg.reset_index() if sg is not None and len(sg) else None)
    out["repeat_places"] = _records(rp if len(rp) else None)
    out["topics"] = _records(tp)
    out["tasks"] = tasks
    return out


def _place_names(session: Session, idx: Any, code: str, date: dt.date) -> list[str]:
    """Names of the gazetteer's places (compounds, roads, landmarks...) within the unit."""
    b = shapely.bounds(idx.geoms[code])
    rows = session.execute(
        text(
            "SELECT DISTINCT name FROM gazetteer_place WHERE kind <> 'building' AND name IS NOT NULL "
            "AND valid_from <= :d AND (valid_to IS NULL OR :d < valid_to) "
            "AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) LIMIT 20000"
        ),
        {"d": date, "x0": b[0], "y0": b[1], "x1": b[2], "y1": b[3]},
    ).all()
    return sorted({str(r[0]) for r in rows if r[0] and len(str(r[0])) >= 2})


def _records(df: pd.DataFrame | None) -> list[dict[str, Any]]:
    if df is None or not len(df):
        return []
    recs: list[dict[str, Any]] = []
    for r in df.to_dict("records"):
        clean: dict[str, Any] = {}
        for k, v in r.items():
            if isinstance(v, float) and not np.isfinite(v):
                v = None
            elif isinstance(v, np.generic):
                v = v.item()
            elif isinstance(v, pd.Timestamp):
                v = v.isoformat()
            elif isinstance(v, np.ndarray):
                v = v.tolist()
            clean[str(k)] = v
        recs.append(clean)
    return recs


# ---- a short-lived cache for the readers (map pages, the API) -----------------------------------------

CACHE_TTL_S = 600.0
CACHE_SIZE = 32
_RESULTS: Lru[tuple[Any, ...], dict[str, Any]] = Lru(CACHE_SIZE)


def cached_unit_insights(
    session: Session,
    code: str,
    *,
    week: str | dt.date | None = None,
    params: dict[str, Any] | None = None,
    ttl_s: float = CACHE_TTL_S,
) -> dict[str, Any]:
    """:func:`unit_insights`, remembered for ``ttl_s`` seconds per unit, week and parameters, and
    forgotten at once when a petition arrives (the newest petition id is in the key) or the
    boundaries, staff or catalogues change (the store generation is). Changes of status within the
    ten minutes are not seen: insights are weekly analytics. Answers are copies."""
    import copy

    newest = session.execute(text("SELECT max(id) FROM petition")).scalar()
    key = (
        str(session.get_bind().engine.url),
        code,
        str(week),
        tuple(sorted((params or {}).items())),
        store_generation(session),
        newest,
    )
    hit = _RESULTS.get(key, max_age_s=ttl_s)
    if hit is not None:
        return copy.deepcopy(hit)
    out = unit_insights(session, code, week=week, params=params)
    _RESULTS.put(key, copy.deepcopy(out))
    return out
