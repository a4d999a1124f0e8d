"""Bulk load of *historical* petitions with their outcomes (a year exported from a 12345 system,
or the sample year): located and routed by the same rules as live intake, written in one
transaction with their lifecycle events.

Differences from live intake (:mod:`grid.db.petitions`), on purpose: no "me too" linking (the
source system already handled its duplicates, and linking afterwards would change its history),
and the lifecycle timestamps come from the file (``accepted_at``, ``resolved_at``, ``callback_at``,
``closed_at``, callback answers) instead of from actions. Each distinct address is geocoded once.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from grid.config import get_settings
from grid.db.models import Category, Petition
from grid.db.petitions import LEVEL_COLUMNS, calendar, limits, tz
from grid.deadlines import effective_urgency
from grid.errors import GridGovError, ImportBlocked
from grid.routing import placeless_route


def _ts(v: Any) -> dt.datetime | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return None
    t = pd.Timestamp(v)
    if pd.isna(t):
        return None
    if t.tzinfo is None:
        t = t.tz_localize(tz())
    return t.floor("us").to_pydatetime()


def _val(v: Any) -> Any:
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def deadlines(received: pd.Series, urgency: pd.Series) -> pd.Series:
    """Vectorised deadlines (same rule as :func:`grid.deadlines.deadline_for`)."""
    cal, lim = calendar(), limits()
    local = pd.to_datetime(received, utc=True).dt.tz_convert(tz())
    out = pd.Series(pd.NaT, index=received.index, dtype=local.dtype)
    for u in urgency.unique():
        m = (urgency == u).to_numpy()
        tl = lim[u]
        if tl.unit == "hours":
            out[m] = local[m] + pd.Timedelta(hours=tl.amount)
        elif tl.unit == "days":
            out[m] = local[m] + pd.Timedelta(days=tl.amount)
        else:
            days = local[m].dt.tz_localize(None).dt.normalize().to_numpy().astype("datetime64[D]")
            due = cal.add_working_days_array(days, np.full(len(days), tl.amount))
            out[m] = pd.DatetimeIndex(due.astype("datetime64[ns]")).tz_localize(tz())
    return out


def bulk_load(
    session: Session,
    df: pd.DataFrame,
    *,
    source: str,
    actor: str = "import",
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Locate, route and write ``df`` (columns of ``data/sample_petitions.py``); flushed, not committed."""
    from grid.db.geocoding import load_gazetteer
    from grid.db.jurisdiction import answer, get_index, to_point
    from grid.db.store import cell_bindings
    from grid.geocode import geocode

    say = progress or (lambda _m: None)
    cats = {c.code: c for c in session.scalars(select(Category))}
    bad = sorted(set(df["category"]) - set(cats))
    if bad:
        raise ImportBlocked(f"unknown categories {bad[:5]}", code="invalid_rows", details={"unknown": bad})
    replayed = 0
    if "external_id" in df.columns:
        ids = [str(x) for x in df["external_id"].dropna().unique()]
        known: set[str] = set()
        for j in range(0, len(ids), 10_000):
            known |= set(
                session.scalars(
                    select(Petition.external_id).where(Petition.external_id.in_(ids[j : j + 10_000]))
                )
            )
        if known:
            keep = ~df["external_id"].astype(str).isin(known)
            replayed = int((~keep).sum())
            df = df[keep.to_numpy()].reset_index(drop=True)
    received = pd.to_datetime(df["received_at"])
    if received.dt.tz is None:
        received = received.dt.tz_localize(tz())
    urg = pd.Series(
        [
            effective_urgency(_val(u), cats[c].urgency)
            for u, c in zip(df.get("urgency", [None] * len(df)), df["category"], strict=True)
        ],
        index=df.index,
    )
    due = deadlines(received, urg)
    s = get_settings()
    geocoded: dict[str, Any] = {}
    indexes: dict[dt.date, Any] = {}
    gazetteers: dict[dt.date, Any] = {}
    bindings: dict[str, str] | None = None
    rows: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for i, r in enumerate(df.itertuples(index=False)):
        t = received.iloc[i].to_pydatetime()
        date = t.astimezone(tz()).date()
        idx = indexes.get(date) or indexes.setdefault(date, get_index(session, date))
        cat = cats[r.category]
        point = None
        building = None
        method = None
        g = None
        addr = _val(getattr(r, "address", None))
        if addr:
            if addr not in geocoded:
                gaz = gazetteers.get(date) or gazetteers.setdefault(date, load_gazetteer(session, date))
                try:
                    geocoded[addr] = geocode(gaz, addr).to_dict()
                except GridGovError as exc:
                    geocoded[addr] = {"status": "error", "code": exc.code}
            g = geocoded[addr]
            if g.get("status") == "matched" and g.get("lon") is not None and g.get("level") == "building":
                point, method = (float(g["lon"]), float(g["lat"])), "address_building"
                building = g.get("building_id") if g.get("cell_code") else None
        lon, lat = _val(getattr(r, "lon", None)), _val(getattr(r, "lat", None))
        if point is None and lon is not None and lat is not None:
            point, method = (
                to_point(float(lon), float(lat), _val(getattr(r, "datum", None)) or "wgs84"),
                "coordinates",
            )
        if point is None and g is not None and g.get("status") == "matched" and g.get("lon") is not None:
            point, method = (float(g["lon"]), float(g["lat"])), f"address_{g.get('level')}"
        row: dict[str, Any] = {
            "external_id": _val(getattr(r, "external_id", None)),
            "token": secrets.token_hex(16),
            "source": source,
            "received_at": t,
            "updated_at": t,
            "channel": r.channel,
            "type": r.type,
            "category_code": r.category,
            "urgency_requested": _val(getattr(r, "urgency", None)),
            "urgency": urg.iloc[i],
            "text": r.text,
            "address": addr,
            "input_lon": lon,
            "input_lat": lat,
            "input_datum": _val(getattr(r, "datum", None)) if lon is not None else None,
            "geom": None,
            "location_method": method,
            "geocode": None,
            "ownership": None,
            "candidates": None,
            "owner_code": None,
            "owner_chain": [],
            "cell_code": None,
            "community_code": None,
            "street_code": None,
            "district_code": None,
            "building_id": building,
            "lead_department": None,
            "co_departments": [],
            "routing": None,
            "first_receiver": None,
            "due_at": due.iloc[i].to_pydatetime(),
            "time_limit": str(limits()[urg.iloc[i]]),
            "calendar_covered": calendar().covers(date),
            "return_count": 0,
        }
        routing = None
        if point is not None:
            bcell = None
            if building is not None:
                if bindings is None:
                    bindings = dict(cell_bindings(session, date))
                bcell = bindings.get(building)
            try:
                ans = answer(
                    idx,
                    point[0],
                    point[1],
                    at=date,
                    category=r.category,
                    building=building if bcell else None,
                    building_cell=bcell,
                )
            except GridGovError as exc:
                ans = None
                row["ownership"] = {"error": exc.message, "code": exc.code}
            if ans is not None:
                chain = ans["chain"]
                row.update(
                    geom=f"SRID=4326;POINT({point[0]} {point[1]})",
                    ownership={
                        k: ans.get(k)
                        for k in ("status", "rule", "candidates", "level", "near_boundary", "ruling_id")
                    },
                    owner_code=chain[0]["code"],
                    owner_chain=[c["code"] for c in chain],
                    location_status="located",
                )
                for c in chain:
                    col = LEVEL_COLUMNS.get(c["level"])
                    if col:
                        row[col] = c["code"]
                routing = ans["routing"]
        if routing is None and not cat.needs_place:
            routing = placeless_route(idx.route(r.category, [s.city_code], date), s.city_code)
            row["location_status"] = "not_needed"
        if routing is None:
            row.update(
                location_status="needs_location",
                status="needs_location",
                candidates=(g or {}).get("candidates") or [],
            )
        else:
            row.update(
                routing={
                    k: routing.get(k) for k in ("lead", "co", "decided_at_unit", "category_used", "fallback")
                },
                lead_department=routing["lead"],
                co_departments=list(routing.get("co") or []),
                first_receiver=routing["lead"],
                dispatched_at=t,
            )
        hist = {
            k: _ts(getattr(r, k, None)) for k in ("accepted_at", "resolved_at", "callback_at", "closed_at")
        }
        final = _val(getattr(r, "final_status", None)) or "dispatched"
        if row.get("status") != "needs_location":
            row["status"] = final if routing is not None else "needs_location"
        row.update(
            accepted_at=hist["accepted_at"],
            answered_at=hist["resolved_at"],
            callback_at=hist["callback_at"],
            closed_at=hist["closed_at"],
            callback_resolved=_val(getattr(r, "callback_resolved", None)),
            callback_satisfaction=_val(getattr(r, "callback_satisfaction", None)),
            callback_none_reason=_val(getattr(r, "callback_none_reason", None)),
        )
        if row["status"] == "needs_location":  # it never reached a unit: no history to keep
            for k in (
                "accepted_at",
                "answered_at",
                "callback_at",
                "closed_at",
                "callback_resolved",
                "callback_satisfaction",
                "callback_none_reason",
            ):
                row[k] = None
        row["_contact"] = (_val(getattr(r, "contact_name", None)), _val(getattr(r, "contact_phone", None)))
        rows.append(row)
        counts[row["status"]] = counts.get(row["status"], 0) + 1
        if i % 5000 == 0:
            say(f"petitions: located {i:,} of {len(df):,}")
    say(f"petitions: writing {len(rows):,}")
    _copy(session, rows, actor)
    session.flush()
    return {
        "petitions": len(rows),
        "replayed": replayed,
        "by_status": counts,
        "distinct_addresses": len(geocoded),
    }


PETITION_COLUMNS = (
    "id",
    "external_id",
    "token",
    "source",
    "received_at",
    "updated_at",
    "channel",
    "type",
    "category_code",
    "urgency_requested",
    "urgency",
    "text",
    "address",
    "input_lon",
    "input_lat",
    "input_datum",
    "geom",
    "status",
    "location_status",
    "location_method",
    "geocode",
    "ownership",
    "candidates",
    "owner_code",
    "owner_chain",
    "cell_code",
    "community_code",
    "street_code",
    "district_code",
    "building_id",
    "lead_department",
    "co_departments",
    "routing",
    "first_receiver",
    "due_at",
    "time_limit",
    "calendar_covered",
    "dispatched_at",
    "accepted_at",
    "answered_at",
    "callback_at",
    "callback_resolved",
    "callback_satisfaction",
    "callback_none_reason",
    "closed_at",
    "return_count",
)
JSON_COLUMNS = frozenset({"geocode", "ownership", "candidates", "co_departments", "routing"})
EVENT_COLUMNS = ("petition_id", "at", "actor", "action", "from_status", "to_status", "note", "data")


def _copy(session: Session, rows: list[dict[str, Any]], actor: str) -> None:
    """Write petitions, contacts and events with COPY (ids drawn from the table's sequence first)."""
    from psycopg.types.json import Jsonb

    conn = session.connection().connection.driver_connection
    assert conn is not None
    with conn.cursor() as cur:
        cur.execute(
            "SELECT nextval(pg_get_serial_sequence('petition', 'id')) FROM generate_series(1, %s)",
            (len(rows),),
        )
        ids = [int(r[0]) for r in cur.fetchall()]
        for pid, x in zip(ids, rows, strict=True):
            x["id"] = pid
        with cur.copy(f"COPY petition ({', '.join(PETITION_COLUMNS)}) FROM STDIN") as cp:
            for x in rows:
                cp.write_row(
                    [
                        Jsonb(x.get(c)) if c in JSON_COLUMNS and x.get(c) is not None else x.get(c)
                        for c in PETITION_COLUMNS
                    ]
                )
        with cur.copy("COPY petition_contact (petition_id, name, phone) FROM STDIN") as cp:
            for x in rows:
                if any(x["_contact"]):
                    cp.write_row([x["id"], x["_contact"][0], x["_contact"][1]])
        with cur.copy(f"COPY petition_event ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as cp:
            for x in rows:
                for e in _events(x["id"], x, actor):
                    cp.write_row(
                        [Jsonb(e[c]) if c == "data" and e[c] is not None else e[c] for c in EVENT_COLUMNS]
                    )


def _events(pid: int, x: dict[str, Any], actor: str) -> list[dict[str, Any]]:
    """The lifecycle events implied by a historical row's timestamps."""
    ev = [
        dict(
            petition_id=pid,
            at=x["received_at"],
            actor=actor,
            action="receive",
            from_status=None,
            to_status="received",
            note=None,
            data=None,
        )
    ]
    if x["status"] == "needs_location":
        ev.append(
            dict(
                petition_id=pid,
                at=x["received_at"],
                actor="system",
                action="dispatch",
                from_status="received",
                to_status="needs_location",
                note="no place could be found",
                data=None,
            )
        )
        return ev
    steps = [
        (
            "dispatch",
            x["received_at"],
            "received",
            "dispatched",
            {"lead": x["lead_department"], "owner": x["owner_code"]},
        ),
        ("accept", x["accepted_at"], "dispatched", "accepted", None),
        ("resolve", x["answered_at"], "accepted", "resolved", None),
        (
            "callback",
            x["callback_at"],
            "resolved",
            "callback",
            {
                "resolved": x["callback_resolved"],
                "satisfaction": x["callback_satisfaction"],
                "none_reason": x["callback_none_reason"],
            },
        ),
        ("close", x["closed_at"], "callback", "closed", None),
    ]
    for action, at, frm, to, data in steps:
        if at is None:
            break
        ev.append(
            dict(
                petition_id=pid,
                at=at,
                actor="system" if action == "dispatch" else actor,
                action=action,
                from_status=frm,
                to_status=to,
                note=None,
                data=data,
            )
        )
    return ev
