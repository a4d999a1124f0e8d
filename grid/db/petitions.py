"""Petitions in the store: intake, locating, dispatch, the lifecycle, lists and retention.

Intake is two transactions, so that nothing acknowledged can be lost:

1. :func:`create` writes the petition, its reporter's contact (a separate table) and its
   ``received`` event, and the caller commits: a failure before the commit leaves nothing, after
   it a whole petition (the API answers 201 only after this commit).
2. :func:`process` locates it (geocoder and ownership rules; the full ownership answer is kept),
   links a "me too" duplicate, and dispatches it to the lead department and co-handlers of the
   place (the district government when no rule matches: 属地兜底). A petition whose category needs
   no place is routed by category alone on the city's chain. One that needs a place and cannot be
   placed waits as ``needs_location`` in the triage queue, with its candidates. A crash between
   the two leaves a ``received`` petition that the API server's sweep (:func:`sweep_received`, at
   start and every minute) or ``gridgov petitions process`` picks up.

The deadline is fixed at intake from the received time, the effective urgency
(:func:`grid.deadlines.effective_urgency`) and the working-day calendar.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo

import shapely
from sqlalchemy import String, func, select, text
from sqlalchemy.orm import Session

from grid.config import get_settings
from grid.db.limits import string_limits
from grid.db.models import Category, Petition, PetitionContact, PetitionEvent
from grid.deadlines import TimeLimits, deadline_for, effective_urgency
from grid.errors import Conflict, GridGovError, InputError, NotFound
from grid.inputs import FieldTooLong, check_text, date_problem, length_problem
from grid.lifecycle import OPEN, check
from grid.privacy import mask_digit_runs, mask_email, mask_name, mask_phone
from grid.workcal import WorkCalendar

__all__ = [
    "CHANNELS",
    "TYPES",
    "anonymise",
    "create",
    "events",
    "get",
    "list_petitions",
    "process",
    "transition",
]

TYPES = ("consultation", "help", "complaint", "report", "suggestion")
CHANNELS = ("hotline", "app", "wechat", "grid_patrol")
URGENCY_VALUES = ("urgent", "utilities", "general", "complex")
MAX_TEXT = 5000
FUTURE_SLACK = dt.timedelta(minutes=5)
SYSTEM = "system"
# the four standard levels whose codes are copied onto the petition for lists and scores
LEVEL_COLUMNS = {
    "grid": "cell_code",
    "community": "community_code",
    "street": "street_code",
    "district": "district_code",
}


# ---- clocks ------------------------------------------------------------------------------------------


def tz() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


@lru_cache(maxsize=4)
def _limits(spec: str) -> TimeLimits:
    return TimeLimits.parse(spec)


_CAL: dict[str | None, WorkCalendar] = {}
_CAL_LOCK = threading.Lock()


def calendar() -> WorkCalendar:
    from pathlib import Path

    path = get_settings().holiday_file
    with _CAL_LOCK:
        if path not in _CAL:
            _CAL[path] = WorkCalendar.china(Path(path) if path else None)
        return _CAL[path]


def limits() -> TimeLimits:
    return _limits(get_settings().time_limits)


def now() -> dt.datetime:
    return dt.datetime.now(tz())


def parse_time(value: Any, field: str = "received_at") -> dt.datetime:
    """A tz-aware datetime; a time without offset is read as local time (settings.timezone)."""
    if isinstance(value, dt.datetime):
        t = value
    else:
        s = str(value).strip()
        try:
            t = dt.datetime.fromisoformat(s.replace("Z", "+00:00").replace("/", "-"))
        except ValueError as exc:
            raise InputError(
                f"{field}: {s!r} is not an ISO-8601 time (2023-07-01T09:30:00+08:00)", code="invalid_time"
            ) from exc
    problem = date_problem(t)
    if problem:
        raise InputError(f"{field}: {problem}", code="date_out_of_range")
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz())
    try:
        t.astimezone(dt.UTC)  # year 1 at +09:00 is before the first representable instant
    except OverflowError as exc:
        raise InputError(f"{field}: {t.isoformat()} is out of range", code="invalid_time") from exc
    return t


# ---- intake ------------------------------------------------------------------------------------------


def _clean(s: Any) -> str | None:
    if s is None:
        return None
    v = str(s).strip()
    return v or None


def validate_intake(
    session: Session, data: Mapping[str, Any], *, at: dt.datetime | None = None
) -> dict[str, Any]:
    """The normalised intake fields, or an :class:`InputError` naming the first bad one."""
    from grid.db.jurisdiction import to_point

    out: dict[str, Any] = {}
    for field, v in data.items():  # the shared rule (grid.inputs): PostgreSQL text cannot hold NUL
        if isinstance(v, str):
            check_text(v, str(field))
    txt = _clean(data.get("text"))
    if txt is None:
        raise InputError("text: a petition needs its text", code="text_required")
    if len(txt) > MAX_TEXT:
        raise InputError(f"text: longer than {MAX_TEXT} characters", code="text_too_long")
    out["text"] = txt
    typ = _clean(data.get("type")) or "complaint"
    if typ not in TYPES:
        raise InputError(f"type: {typ!r} is not one of {', '.join(TYPES)}", code="invalid_type")
    out["type"] = typ
    ch = _clean(data.get("channel")) or "hotline"
    if ch not in CHANNELS:
        raise InputError(f"channel: {ch!r} is not one of {', '.join(CHANNELS)}", code="invalid_channel")
    out["channel"] = ch
    code = _clean(data.get("category"))
    if code is None:
        raise InputError("category: a petition needs a category code", code="category_required")
    cat = session.get(Category, code)
    if cat is None:
        raise InputError(f"category: unknown category {code!r}", code="unknown_category")
    out["category"] = cat
    urg = _clean(data.get("urgency"))
    if urg is not None and urg not in URGENCY_VALUES:
        raise InputError(
            f"urgency: {urg!r} is not one of {', '.join(URGENCY_VALUES)}", code="invalid_urgency"
        )
    out["urgency_requested"] = urg
    out["urgency"] = effective_urgency(urg, cat.urgency)
    current = at or now()
    received = parse_time(data["received_at"]) if data.get("received_at") not in (None, "") else current
    if received > current + FUTURE_SLACK:
        raise InputError(f"received_at {received.isoformat()} is in the future", code="received_in_future")
    out["received_at"] = received
    out["address"] = _clean(data.get("address"))
    if out["address"] is not None and len(out["address"]) > 500:
        raise InputError("address: longer than 500 characters", code="address_too_long")
    lon, lat = data.get("lon"), data.get("lat")
    if (lon is None) != (lat is None):
        raise InputError("give both lon and lat, or neither", code="invalid_coordinates")
    out["lon"] = out["lat"] = out["datum"] = None
    if lon is not None and lat is not None:
        datum = _clean(data.get("datum"))
        if datum is None:
            raise InputError(
                "datum: coordinates must say their datum (wgs84, cgcs2000, gcj02, bd09 or EPSG:n)",
                code="datum_required",
            )
        try:
            x, y = float(lon), float(lat)
        except (TypeError, ValueError) as exc:
            raise InputError("lon/lat must be numbers", code="invalid_coordinates") from exc
        out["wgs84"] = to_point(x, y, datum)  # raises on unknown datum or out-of-range coordinates
        from grid.datum import parse_datum

        out["lon"], out["lat"], out["datum"] = x, y, str(parse_datum(datum))  # canonical, fits its column
    ext = _clean(data.get("external_id"))
    if ext is not None and len(ext) > 128:
        raise InputError("external_id: longer than 128 characters", code="invalid_external_id")
    out["external_id"] = ext
    out["contact"] = {k: _clean(data.get(f"contact_{k}")) for k in ("name", "phone", "email")}
    widths = string_limits(PetitionContact)
    for k, v in out["contact"].items():
        too_long = length_problem(v, widths[k]) if v is not None and k in widths else None
        if too_long:
            raise FieldTooLong(f"contact_{k} {too_long}", details={"field": f"contact_{k}"})
    out["media_url"] = check_media_url(data.get("media_url"))
    return out


MAX_MEDIA_URL = 1000


def check_media_url(value: Any) -> str | None:
    """An http(s) URL of the resident's photo, or None; anything else is refused (never fetched)."""
    from urllib.parse import urlsplit

    url = _clean(value)
    if url is None:
        return None
    if len(url) > MAX_MEDIA_URL:
        raise InputError(f"media_url: longer than {MAX_MEDIA_URL} characters", code="invalid_media_url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(ch.isspace() for ch in url):
        raise InputError(f"media_url: {url[:80]!r} is not an http(s) URL", code="invalid_media_url")
    return url


def create(session: Session, data: Mapping[str, Any], *, actor: str, source: str = "") -> Petition:
    """Write a petition, its contact and its ``received`` event (flushed, not committed).

    A known ``external_id`` returns the existing petition unchanged (a retried request)."""
    v = validate_intake(session, data)
    if v["external_id"] is not None:
        existing = session.scalar(select(Petition).where(Petition.external_id == v["external_id"]))
        if existing is not None:
            existing.__dict__["_replayed"] = True
            return existing
    cat: Category = v["category"]
    d = deadline_for(v["received_at"].astimezone(tz()), v["urgency"], limits(), calendar())
    p = Petition(
        external_id=v["external_id"],
        token=secrets.token_hex(16),
        source=source,
        received_at=v["received_at"],
        channel=v["channel"],
        type=v["type"],
        category_code=cat.code,
        urgency_requested=v["urgency_requested"],
        urgency=v["urgency"],
        text=v["text"],
        address=v["address"],
        media_url=v["media_url"],
        input_lon=v["lon"],
        input_lat=v["lat"],
        input_datum=v["datum"],
        status="received",
        location_status="pending",
        due_at=d.due_at,
        time_limit=d.limit,
        calendar_covered=d.calendar_covered,
        owner_chain=[],
        co_departments=[],
    )
    if v["external_id"] is None:
        session.add(p)
        session.flush()
    else:
        # a retry racing its original: the unique index makes the second wait for the first's
        # commit and then fail; answer it with the original, as a replay
        from sqlalchemy.exc import IntegrityError

        try:
            with session.begin_nested():
                session.add(p)
                session.flush()
        except IntegrityError:
            existing = session.scalar(select(Petition).where(Petition.external_id == v["external_id"]))
            if existing is None:
                raise
            existing.__dict__["_replayed"] = True
            return existing
    c = v["contact"]
    if any(c.values()):
        session.add(PetitionContact(petition_id=p.id, name=c["name"], phone=c["phone"], email=c["email"]))
    _event(session, p, actor, "receive", None, "received", None, {"channel": p.channel, "source": source})
    session.flush()
    return p


def _event(
    session: Session,
    p: Petition,
    actor: str,
    action: str,
    from_status: str | None,
    to_status: str,
    note: str | None,
    data: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    session.add(
        PetitionEvent(
            petition_id=p.id,
            at=at or now(),
            actor=actor,
            action=action,
            from_status=from_status,
            to_status=to_status,
            note=note,
            data=data,
        )
    )
    p.updated_at = at or now()


# ---- locating and dispatch -----------------------------------------------------------------------------


def _place(session: Session, p: Petition) -> tuple[tuple[float, float] | None, str | None, str | None, Any]:
    """(wgs84 point, building id, method, geocode answer) of a petition; point None when unplaceable.

    Order: an address matched to a building (its cell binding decides boundary cases), then the
    given coordinates, then an address matched at a coarser level (road, landmark ...)."""
    from grid.db.geocoding import geocode_text
    from grid.db.jurisdiction import to_point

    date = p.received_at.astimezone(tz()).date()
    g: dict[str, Any] | None = None
    if p.address:
        g = geocode_text(session, p.address, at=date)
        if g.get("status") == "matched" and g.get("lon") is not None and g.get("level") == "building":
            # the building's cell binding decides boundary cases (when it has one)
            bid = g.get("building_id") if g.get("cell_code") else None
            return (float(g["lon"]), float(g["lat"])), bid, "address_building", g
    if p.input_lon is not None and p.input_lat is not None:
        return to_point(p.input_lon, p.input_lat, p.input_datum or "wgs84"), None, "coordinates", g
    if g is not None and g.get("status") == "matched" and g.get("lon") is not None:
        return (float(g["lon"]), float(g["lat"])), None, f"address_{g.get('level')}", g
    return None, None, None, g


def _assign_owner(p: Petition, ans: Mapping[str, Any]) -> None:
    chain = ans.get("chain") or []
    p.owner_code = chain[0]["code"] if chain else ans.get("owner", {}).get("code")
    p.owner_chain = [c["code"] for c in chain]
    for col in LEVEL_COLUMNS.values():
        setattr(p, col, None)
    for c in chain:
        column = LEVEL_COLUMNS.get(c["level"])
        if column:
            setattr(p, column, c["code"])


def _dispatch(
    session: Session,
    p: Petition,
    routing: Mapping[str, Any],
    actor: str,
    action: str,
    note: str | None,
    extra: dict[str, Any] | None = None,
) -> None:
    before = p.status
    p.routing = dict(routing)
    p.lead_department = routing["lead"]
    p.co_departments = list(routing.get("co") or [])
    if p.first_receiver is None:
        p.first_receiver = p.lead_department  # 首接负责: the first receiver coordinates to the end
    p.dispatched_at = now()
    p.status = "dispatched"
    _event(
        session,
        p,
        actor,
        action,
        before,
        "dispatched",
        note,
        {"lead": p.lead_department, "co": p.co_departments, "owner": p.owner_code, **(extra or {})},
    )


def _placeless_routing(session: Session, p: Petition) -> dict[str, Any]:
    from grid.db.jurisdiction import get_index
    from grid.routing import placeless_route

    s = get_settings()
    idx = get_index(session, p.received_at.astimezone(tz()).date())
    r = idx.route(p.category_code, [s.city_code], p.received_at.astimezone(tz()).date())
    r = placeless_route(r, s.city_code, idx.departments)
    r["placeless"] = True
    return r


def find_duplicate(session: Session, p: Petition, lon: float, lat: float) -> tuple[int, float] | None:
    """The nearest open petition of the same category within the radius and window: (id, metres)."""
    import math

    s = get_settings()
    r = s.duplicate_radius_m
    # degree prefilter (uses the GiST index), then the exact distance on the spheroid
    deg = r / 111_320.0 / max(math.cos(math.radians(lat)), 0.01) * 1.01
    row = session.execute(
        text(
            "SELECT id, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography) AS m "
            "FROM petition WHERE id <> :id AND category_code = :cat AND duplicate_of IS NULL "
            "AND status = ANY(:open) AND geom IS NOT NULL "
            "AND received_at BETWEEN :t0 AND :t1 "
            "AND ST_DWithin(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326), :deg) "
            "AND ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, :r) "
            "ORDER BY m, received_at, id LIMIT 1"
        ),
        {
            "x": lon,
            "y": lat,
            "id": p.id,
            "cat": p.category_code,
            "open": sorted(OPEN - {"needs_location"}),
            "t0": p.received_at - dt.timedelta(hours=s.duplicate_window_h),
            "t1": p.received_at,
            "deg": deg,
            "r": r,
        },
    ).first()
    return (int(row[0]), float(row[1])) if row else None


def process(session: Session, p: Petition, *, actor: str = SYSTEM) -> Petition:
    """Locate, link a duplicate and dispatch a ``received`` petition (flushed, not committed)."""
    from grid.db.jurisdiction import locate

    if p.status != "received":
        return p
    date = p.received_at.astimezone(tz()).date()
    cat = session.get(Category, p.category_code)
    assert cat is not None
    placeless = not cat.needs_place
    point, building, method, g = (None, None, None, None)
    try:
        point, building, method, g = _place(session, p)
    except GridGovError as exc:  # e.g. an address the parser refuses: triage, with the reason
        g = {"status": "error", "code": exc.code, "error": exc.message}
    p.geocode = _jsonable(g) if g is not None else None
    if point is None:
        if placeless:
            p.location_status = "not_needed"
            _dispatch(
                session, p, _placeless_routing(session, p), actor, "dispatch", "routed by category alone"
            )
            return p
        p.location_status = "needs_location"
        p.candidates = _jsonable((g or {}).get("candidates") or [])
        before = p.status
        p.status = "needs_location"
        _event(
            session,
            p,
            actor,
            "dispatch",
            before,
            "needs_location",
            "no place could be found",
            {"geocode_status": (g or {}).get("status")},
        )
        return p
    _set_point(p, point[0], point[1])
    p.building_id = building
    p.location_method = method
    try:
        ans = locate(session, point[0], point[1], at=date, category=p.category_code, building=building)
    except NotFound as exc:
        if placeless:
            p.location_status = "not_needed"
            _dispatch(
                session, p, _placeless_routing(session, p), actor, "dispatch", "routed by category alone"
            )
            return p
        p.location_status = "needs_location"
        p.ownership = {"error": exc.message, "code": exc.code, "details": _jsonable(exc.details)}
        p.candidates = _jsonable(
            (exc.details or {}).get("candidates", []) if isinstance(exc.details, dict) else []
        )
        before = p.status
        p.status = "needs_location"
        _event(session, p, actor, "dispatch", before, "needs_location", f"no owner: {exc.code}")
        return p
    p.ownership = _jsonable(ans)
    p.location_status = "located"
    _assign_owner(p, ans)
    dup = find_duplicate(session, p, point[0], point[1])
    if dup is not None:
        p.duplicate_of = dup[0]
        p.routing = ans.get("routing")
        p.lead_department = (ans.get("routing") or {}).get("lead")
        before = p.status
        p.status = "merged"
        _event(
            session,
            p,
            actor,
            "merge",
            before,
            "merged",
            f"me too: #{dup[0]} is {dup[1]:.0f} m away",
            {"duplicate_of": dup[0], "distance_m": round(dup[1], 1)},
        )
        return p
    _dispatch(
        session,
        p,
        ans["routing"],
        actor,
        "dispatch",
        f"owner {p.owner_code} ({ans.get('rule')})",
        {"rule": ans.get("rule"), "status": ans.get("status")},
    )
    return p


def _set_point(p: Petition, x: float, y: float) -> None:
    from geoalchemy2.shape import from_shape

    p.geom = from_shape(shapely.Point(x, y), srid=4326)


def _jsonable(v: Any) -> Any:
    import json

    return json.loads(json.dumps(v, default=str, ensure_ascii=False))


def intake(
    session: Session, data: Mapping[str, Any], *, actor: str, source: str = ""
) -> tuple[dict[str, Any], bool]:
    """Take in a petition in the two transactions of the module's docstring, on ``session``:
    :func:`create` and commit (from then on the petition exists whatever happens), then
    :func:`process` and commit; a failure of the second is logged and leaves the petition
    ``received`` for the sweep. ``(petition, created)``: a repeated ``external_id`` answers the
    petition already taken in with ``created`` false. The answer carries no contact (the sender has
    it, and echoing it would be an audited read)."""
    import logging

    p = create(session, data, actor=actor, source=source)
    replay = bool(p.__dict__.get("_replayed"))
    pid = p.id
    session.commit()
    if not replay:
        try:
            process(session, p, actor=SYSTEM)
            session.commit()
        except Exception as exc:  # kept as 'received': the sweep or `gridgov petitions process` retries it
            session.rollback()
            logging.getLogger("gridgov.api").exception("petition %s stays received: %s", pid, exc)
    # the sender reads back what it sent: the city-wide view (its key may have no petition scope)
    return get(session, pid, scope=CITY), not replay


def process_pending(session: Session, *, limit: int = 1000) -> int:
    """Process petitions left ``received`` (e.g. by a crash between commit and dispatch)."""
    rows = session.scalars(
        select(Petition).where(Petition.status == "received").order_by(Petition.id).limit(limit)
    ).all()
    for p in rows:
        process(session, p)
    return len(rows)


def sweep_received(
    database_url: str | None = None, *, older_than_s: float = 60.0, limit: int = 200
) -> tuple[int, int]:
    """Finish petitions a crash left ``received`` for more than ``older_than_s`` seconds, one
    transaction each, row-locked with SKIP LOCKED (several servers can sweep at once, and a fresh
    intake still being processed is never touched); ``(processed, failed)``. A failure leaves the
    petition ``received`` for the next sweep and is logged."""
    import logging

    from grid.db.engine import session_scope

    log = logging.getLogger("gridgov.petitions")
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=older_than_s)
    with session_scope(database_url) as s:
        ids = list(
            s.scalars(
                select(Petition.id)
                .where(Petition.status == "received", Petition.created_at < cutoff)
                .order_by(Petition.id)
                .limit(limit)
            )
        )
    done = failed = 0
    for pid in ids:
        try:
            with session_scope(database_url) as s:
                p = s.scalar(select(Petition).where(Petition.id == pid).with_for_update(skip_locked=True))
                if p is not None and p.status == "received":
                    process(s, p)
                    done += 1
        except Exception as exc:  # kept as 'received' for the next sweep
            failed += 1
            log.exception("sweep: petition %s stays received: %s", pid, exc)
    return done, failed


# ---- lifecycle ---------------------------------------------------------------------------------------


Scope = Sequence[str] | None
"""Unit codes a reader is limited to, or :data:`CITY`. Every petition reader takes ``scope`` as a
required keyword: a caller that means the whole city says so with ``scope=CITY``."""

CITY: Final[Scope] = None
"""The scope of a city-wide reader (admin, operator, a system key, the CLI): every petition."""


def scope_condition(scope: Scope) -> Any:
    """The SQL condition "owned inside ``scope``" (a GIN-indexed array overlap), or None."""
    if scope is None:
        return None
    from sqlalchemy.dialects.postgresql import array

    return Petition.owner_chain.overlap(array([str(c) for c in scope], type_=String(32)))


def _get(session: Session, pid: int, *, scope: Scope, lock: bool = False) -> Petition:
    """The petition, or 404 ``petition_not_found``: also when it exists outside ``scope``, so
    that a scoped reader cannot learn it exists."""
    stmt = select(Petition).where(Petition.id == pid)
    if scope is not None:
        stmt = stmt.where(scope_condition(scope))
    if lock:
        stmt = stmt.with_for_update()
    p = session.scalar(stmt)
    if p is None:
        raise NotFound(f"no petition {pid}", code="petition_not_found")
    return p


def _owner_answer(session: Session, code: str, date: dt.date) -> dict[str, Any]:
    from grid.db.jurisdiction import get_index

    idx = get_index(session, date)
    if code not in idx.units:
        raise NotFound(f"{code} is not a unit in force on {date}", code="unit_not_found")
    return {"chain": idx.chain(code), "owner": {"code": code}}


def _route_for(session: Session, p: Petition, date: dt.date) -> dict[str, Any]:
    from grid.db.jurisdiction import get_index

    return get_index(session, date).route(p.category_code, list(p.owner_chain), date)


def transition(
    session: Session,
    pid: int,
    action: str,
    body: Mapping[str, Any] | None = None,
    *,
    actor: str,
    scope: Scope,
) -> Petition:
    """Apply ``action`` to petition ``pid`` (row-locked), record the event; errors leave it unchanged."""
    body = dict(body or {})
    p = _get(session, pid, lock=True, scope=scope)
    if action == "close" and p.status == "resolved":
        raise Conflict(
            "closing needs a recorded callback to the resident (or the reason none was possible): "
            "record it with the callback action first",
            code="callback_required",
        )
    target = check(p.status, action, body)
    before = p.status
    note = _clean(body.get("note"))
    t = now()
    date = p.received_at.astimezone(tz()).date()
    data: dict[str, Any] = {}
    if action == "accept":
        p.accepted_at = t
    elif action == "resolve":
        p.answered_at = p.answered_at or t
        p.answer = note
    elif action == "callback":
        p.callback_at = t
        if body.get("none_reason"):
            p.callback_none_reason = str(body["none_reason"]).strip()
            p.callback_resolved = p.callback_satisfaction = None
        else:
            p.callback_resolved = bool(body["resolved"])
            p.callback_satisfaction = str(body["satisfaction"])
            p.callback_none_reason = None
        data = {
            "resolved": p.callback_resolved,
            "satisfaction": p.callback_satisfaction,
            "none_reason": p.callback_none_reason,
        }
    elif action == "close":
        p.closed_at = t
    elif action == "return":
        p.return_count += 1
        data = {"returned_by": p.lead_department, "owner": p.owner_code}
    elif action == "reopen":
        p.callback_at = p.callback_resolved = p.callback_satisfaction = p.callback_none_reason = None
    elif action == "merge":
        dup_id = int(body["duplicate_of"])
        if dup_id == p.id:
            raise InputError("a petition cannot be a duplicate of itself", code="invalid_duplicate")
        primary = _get(session, dup_id, scope=scope)
        if primary.duplicate_of is not None:
            dup_id = primary.duplicate_of  # always point at the root
        p.duplicate_of = dup_id
        data = {"duplicate_of": dup_id}
    elif action == "unmerge":
        p.duplicate_of = None
    elif action in ("redispatch", "settle", "locate", "dispatch"):
        return _redirect(session, p, action, body, actor=actor, date=date)
    p.status = target
    _event(session, p, actor, action, before, target, note, data or None, at=t)
    session.flush()
    return p


def _redirect(
    session: Session, p: Petition, action: str, body: Mapping[str, Any], *, actor: str, date: dt.date
) -> Petition:
    """The actions that (re)decide the owner: locate, redispatch, settle, unmerge-dispatch."""
    from grid.db.jurisdiction import locate, to_point
    from grid.db.rulings import add_ruling

    note = _clean(body.get("note"))
    owner = _clean(body.get("owner_code"))
    extra: dict[str, Any] = {}
    if action == "dispatch":
        process(session, p, actor=actor)
        session.flush()
        return p
    if action == "locate":
        lon, lat, building = body.get("lon"), body.get("lat"), _clean(body.get("building_id"))
        if owner is None and (lon is None or lat is None):
            raise InputError(
                "locate needs lon/lat (with datum), a building_id with them, or an owner_code",
                code="location_required",
            )
        if lon is not None and lat is not None:
            datum = _clean(body.get("datum")) or "wgs84"
            x, y = to_point(float(lon), float(lat), datum)
            ans = locate(session, x, y, at=date, category=p.category_code, building=building)
            _set_point(p, x, y)
            p.building_id = building
            p.ownership = _jsonable(ans)
            _assign_owner(p, ans)
            routing = ans["routing"]
        else:
            assert owner is not None
            _assign_owner(p, _owner_answer(session, owner, date))
            routing = _route_for(session, p, date)
        p.location_status = "located"
        p.location_method = "operator"
        _dispatch(session, p, routing, actor, action, note or "placed by an operator", extra)
        session.flush()
        return p
    if action == "settle":
        assert owner is not None and note is not None
        ruling_id = None
        if p.geom is not None:
            from geoalchemy2.shape import to_shape

            r = add_ruling(session, to_shape(p.geom), owner_code=owner, reason=note, author=actor)
            ruling_id = r.get("id")
        _assign_owner(p, _owner_answer(session, owner, date))
        extra = {"ruling_id": ruling_id}
        _dispatch(session, p, _route_for(session, p, date), actor, action, note, extra)
        session.flush()
        return p
    if action == "unmerge":
        p.duplicate_of = None
        if not p.owner_chain:
            p.status = "received"
            process(session, p, actor=actor)
            return p
        _dispatch(session, p, _route_for(session, p, date), actor, action, note)
        session.flush()
        return p
    # redispatch (after 退单): an explicit owner; else the owner now in force (a ruling made since
    # the return wins); when that is still the unit that returned it, its parent (up the chain).
    returned_by = p.owner_code
    if owner is not None:
        _assign_owner(p, _owner_answer(session, owner, date))
        extra["by"] = "owner_code"
    else:
        moved = False
        if p.geom is not None:
            from geoalchemy2.shape import to_shape

            pt = to_shape(p.geom)
            ans = locate(
                session, pt.x, pt.y, at=dt.date.today(), category=p.category_code, building=p.building_id
            )
            if ans["chain"] and ans["chain"][0]["code"] != returned_by:
                p.ownership = _jsonable(ans)
                _assign_owner(p, ans)
                moved = True
                extra["by"] = ans.get("rule")
        if not moved:
            if len(p.owner_chain) < 2:
                raise Conflict(
                    f"{returned_by} returned it and has no parent to send it to: settle it with a ruling",
                    code="no_parent_owner",
                )
            _assign_owner(p, _owner_answer(session, p.owner_chain[1], date))
            extra["by"] = "owner_chain"
    extra["returned_by"] = returned_by
    _dispatch(session, p, _route_for(session, p, date), actor, action, note, extra)
    session.flush()
    return p


# ---- reading -----------------------------------------------------------------------------------------


def summary(p: Petition, at: dt.datetime | None = None) -> dict[str, Any]:
    """The petition without its reporter's contact (lists, exports, Open311)."""
    t = at or now()
    answered = p.answered_at
    overdue = p.due_at is not None and answered is None and p.status not in ("merged",) and p.due_at < t
    late = p.due_at is not None and answered is not None and answered > p.due_at
    lon = lat = None
    if p.geom is not None:
        from geoalchemy2.shape import to_shape

        pt = to_shape(p.geom)
        lon, lat = round(pt.x, 7), round(pt.y, 7)
    iso = lambda v: v.astimezone(tz()).isoformat() if v is not None else None  # noqa: E731
    return {
        "id": p.id,
        "external_id": p.external_id,
        "received_at": iso(p.received_at),
        "channel": p.channel,
        "type": p.type,
        "category": p.category_code,
        "urgency": p.urgency,
        "text": p.text,
        "address": p.address,
        "media_url": p.media_url,
        "lon": lon,
        "lat": lat,
        "status": p.status,
        "location_status": p.location_status,
        "owner_code": p.owner_code,
        "cell_code": p.cell_code,
        "community_code": p.community_code,
        "street_code": p.street_code,
        "district_code": p.district_code,
        "lead_department": p.lead_department,
        "co_departments": list(p.co_departments or []),
        "first_receiver": p.first_receiver,
        "due_at": iso(p.due_at),
        "time_limit": p.time_limit,
        "overdue": bool(overdue),
        "late": bool(late),
        "answered_at": iso(answered),
        "callback": (
            None
            if p.callback_at is None
            else {
                "at": iso(p.callback_at),
                "resolved": p.callback_resolved,
                "satisfaction": p.callback_satisfaction,
                "none_reason": p.callback_none_reason,
            }
        ),
        "closed_at": iso(p.closed_at),
        "duplicate_of": p.duplicate_of,
        "updated_at": iso(p.updated_at),
    }


def get(
    session: Session, pid: int, *, scope: Scope, contact_reader: Any = None, via: str = ""
) -> dict[str, Any]:
    """One petition in full: summary, ownership answer, routing, candidates; with a
    ``contact_reader`` (a :class:`grid.auth.Principal` allowed to read contacts) also the *masked*
    contact, and that read is written to the audit log. Outside ``scope``: 404."""
    p = _get(session, pid, scope=scope)
    out = summary(p)
    if contact_reader is None:  # a reader who may not see contacts does not see the ones typed in the text
        out["text"] = mask_digit_runs(out["text"])
    c = session.get(PetitionContact, pid)
    out["has_contact"] = c is not None
    out["contact"] = None
    if c is not None and contact_reader is not None:
        from grid.db.users import log_contact_read

        log_contact_read(session, contact_reader, pid, "masked", via)
        out["contact"] = {
            "name": mask_name(c.name),
            "phone": mask_phone(c.phone),
            "email": mask_email(c.email),
        }
    out.update(
        ownership=p.ownership,
        routing=p.routing,
        geocode=p.geocode,
        candidates=p.candidates,
        location_method=p.location_method,
        building_id=p.building_id,
        answer=p.answer,
        calendar_covered=p.calendar_covered,
        return_count=p.return_count,
        anonymised=p.anonymised_at is not None,
        me_too=[
            int(i)
            for i in session.scalars(
                select(Petition.id)
                .where(Petition.duplicate_of == pid, *([scope_condition(scope)] if scope is not None else []))
                .order_by(Petition.id)
            )
        ],
    )
    return out


def contact(session: Session, pid: int, *, reader: Any, scope: Scope, via: str = "") -> dict[str, Any]:
    """The reporter's contact in full (for the call back), written to the audit log first."""
    from grid.db.users import log_contact_read

    p = _get(session, pid, scope=scope)
    c = session.get(PetitionContact, pid)
    log_contact_read(session, reader, pid, "full", via)
    return {
        "id": p.id,
        "name": c.name if c is not None else None,
        "phone": c.phone if c is not None else None,
        "email": c.email if c is not None else None,
        "anonymised": p.anonymised_at is not None,
    }


def events(session: Session, pid: int, *, scope: Scope) -> list[dict[str, Any]]:
    _get(session, pid, scope=scope)
    rows = session.scalars(
        select(PetitionEvent).where(PetitionEvent.petition_id == pid).order_by(PetitionEvent.id)
    ).all()
    return [
        {
            "at": e.at.astimezone(tz()).isoformat(),
            "actor": e.actor,
            "action": e.action,
            "from": e.from_status,
            "to": e.to_status,
            "note": e.note,
            "data": e.data,
        }
        for e in rows
    ]


MAX_PAGE = 1000


def list_petitions(
    session: Session,
    *,
    scope: Scope,
    status: str | None = None,
    unit: str | None = None,
    department: str | None = None,
    category: str | None = None,
    overdue: bool | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[dict[str, Any]]]:
    """(total, page) of petition summaries, newest first. ``unit`` matches any level of the owner
    chain; ``overdue=true``: unanswered and past due now (merged duplicates excluded)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit must be 1..{MAX_PAGE}", code="invalid_limit")
    if offset < 0:
        raise InputError("offset must be >= 0", code="invalid_offset")
    conds = []
    if scope is not None:
        conds.append(scope_condition(scope))
    if status:
        conds.append(Petition.status == status)
    if unit:
        conds.append(Petition.owner_chain.contains([unit]))
    if department:
        conds.append(Petition.lead_department == department)
    if category:
        conds.append(Petition.category_code == category)
    if since:
        conds.append(Petition.received_at >= since)
    if until:
        conds.append(Petition.received_at < until)
    t = now()
    late_open = (Petition.answered_at.is_(None)) & (Petition.due_at < t) & (Petition.status != "merged")
    if overdue is True:
        conds.append(late_open)
    elif overdue is False:
        conds.append(~late_open)
    total = int(session.scalar(select(func.count()).select_from(Petition).where(*conds)) or 0)
    rows = session.scalars(
        select(Petition)
        .where(*conds)
        .order_by(Petition.received_at.desc(), Petition.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return total, [summary(p, t) for p in rows]


def triage_queue(session: Session, *, scope: Scope, limit: int = 100) -> tuple[int, list[dict[str, Any]]]:
    """(total, page) of the petitions waiting as ``needs_location``, newest first, each with its
    geocoder ``candidates`` and ``geocode_status`` (read in one query for the page)."""
    total, items = list_petitions(session, status="needs_location", limit=limit, scope=scope)
    ids = [int(it["id"]) for it in items]
    extra = {
        int(pid): (cands, geo)
        for pid, cands, geo in session.execute(
            select(Petition.id, Petition.candidates, Petition.geocode).where(Petition.id.in_(ids))
        )
    }
    for it in items:
        cands, geo = extra.get(int(it["id"]), (None, None))
        found = int(it["id"]) in extra
        it["candidates"] = cands if found else []
        it["geocode_status"] = (geo or {}).get("status") if found else None
    return total, items


def petition_token(session: Session, pid: int, *, scope: Scope) -> str | None:
    """The receipt token of petition ``pid`` (Open311's ``token``), or None."""
    return session.scalar(select(Petition.token).where(Petition.id == pid, *_scoped(scope)))


def petition_for_token(session: Session, token: str, *, scope: Scope) -> int | None:
    """The id of the petition a receipt token stands for, or None."""
    return session.scalar(select(Petition.id).where(Petition.token == token, *_scoped(scope)))


def _scoped(scope: Scope) -> list[Any]:
    """The WHERE conditions of ``scope``: none for :data:`CITY`."""
    return [] if scope is None else [scope_condition(scope)]


# ---- retention ----------------------------------------------------------------------------------------


def anonymise(session: Session, *, older_than_months: int, at: dt.datetime | None = None) -> int:
    """Anonymise petitions received more than N months ago: delete the contact, mask digit runs in
    the text (phone and ID numbers), drop the free address (the point and cell stay, for statistics)."""
    if older_than_months < 1:
        raise InputError("older_than_months must be at least 1", code="invalid_input")
    t = (at or now()).astimezone(tz())
    y, m = divmod(t.year * 12 + (t.month - 1) - older_than_months, 12)
    cutoff = t.replace(year=y, month=m + 1, day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = session.scalars(
        select(Petition).where(Petition.received_at < cutoff, Petition.anonymised_at.is_(None))
    ).all()
    for p in rows:
        p.text = mask_digit_runs(p.text) or ""
        p.address = None
        p.media_url = None  # a photo may show people
        p.geocode = None
        p.anonymised_at = t
        _event(
            session,
            p,
            SYSTEM,
            "anonymise",
            p.status,
            p.status,
            f"retention: older than {older_than_months} months",
        )
    ids = [p.id for p in rows]
    if ids:
        session.execute(text("DELETE FROM petition_contact WHERE petition_id = ANY(:ids)"), {"ids": ids})
    session.flush()
    return len(ids)
