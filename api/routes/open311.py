"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) over our petitions, under ``/open311/v2``.

* services = our categories (``service_code`` is the category code, ``group`` its top category);
* service requests = petitions (``service_request_id`` is the petition id). ``status`` is ``closed``
  for our ``closed`` and ``merged`` statuses, ``open`` otherwise; ``status_notes`` starts with our
  exact status (``dispatched: ...``);
* POST a request = our intake (committed, then located and dispatched: the id is returned at once,
  and the petition's ``token`` too);
* every format is chosen by the path suffix, ``.json`` or ``.xml``; every error has the Open311
  shape ``[{"code": 400, "description": "..."}]`` (``<errors><error>...`` in XML).

Discovery, services and tokens are public. The service requests (GET) are petitions: they need
credentials whose roles may read petitions (``X-API-Key`` or ``Authorization: Bearer``; 401/403
otherwise) and a scoped reader sees its scope only. They show summaries, never a reporter's
contact (it lives in another table that these routes do not read), and long digit runs in the text
(phone or ID numbers a resident typed) are masked. POST needs an ``api_key`` of a role that may
take in petitions (403 without one).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep
from api.guard import request_id
from api.security import current_principal, need
from grid.auth import Principal
from grid.db import open311 as store
from grid.db import petitions as svc
from grid.db.catalogue import CATEGORIES, read_categories
from grid.db.models import Category, Petition
from grid.errors import Forbidden, GridGovError, InputError, NotFound, Unauthorized
from grid.privacy import mask_digit_runs

log = logging.getLogger("gridgov.api")

router = APIRouter(tags=["open311"])

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2024-06-01T00:00:00+08:00"  # the last change of what this endpoint offers
FORMATS = {"json": "application/json", "xml": "text/xml; charset=utf-8"}
CLOSED = store.CLOSED
WINDOW = dt.timedelta(days=90)  # the spec's default window of GET requests
MAX_REQUESTS = 1000  # ... and its default maximum number of results
MAX_WINDOW = dt.timedelta(days=366)  # the longest window a GET of requests may ask for
SOURCE = "open311"
# XML: the element of each item of a list, by the list's element
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "errors": "error",
}
REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
_CJK = re.compile(r"[\u3400-\u9fff]")


def _reader(request: Request) -> Principal:
    """The principal of a GET of service requests: it must hold ``petitions:read`` (401 / 403)."""
    return need("petitions:read")(current_principal(request))


# ---- rendering --------------------------------------------------------------------------------------


def _xml_value(el: ET.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _xml_value(ET.SubElement(el, str(k)), v)
    elif isinstance(value, list | tuple):
        item = ITEMS.get(el.tag, "item")
        for v in value:
            _xml_value(ET.SubElement(el, item), v)
    elif value is None:
        pass  # an empty element
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    else:
        el.text = str(value)


def _render(root: str, payload: Any, fmt: str, status: int = 200) -> Response:
    if fmt == "xml":
        el = ET.Element(root)
        _xml_value(el, payload)
        body = ET.tostring(el, encoding="utf-8", xml_declaration=True)
        return Response(body, status_code=status, media_type=FORMATS["xml"])
    return JSONResponse(payload, status_code=status)


def _error(status: int, description: str, fmt: str) -> Response:
    return _render("errors", [{"code": status, "description": description}], fmt, status)


def _failure(exc: Exception, fmt: str) -> Response:
    """Any error of these routes in the Open311 shape (our message, then our code)."""
    if isinstance(exc, GridGovError):
        return _error(exc.status, f"{exc.message} ({exc.code})", fmt)
    if isinstance(exc, OperationalError | psycopg.OperationalError):
        log.error("database unavailable: %s [request %s]", type(exc).__name__, request_id.get())
        return _error(503, "the database is unavailable (database_unavailable)", fmt)
    rid = request_id.get()
    log.error("open311: unexpected error [request %s]: %s", rid, type(exc).__name__, exc_info=exc)
    return _error(500, f"internal error; it has been logged as request {rid} (internal_error)", fmt)


def _discard(session: Session) -> None:
    """Roll back what a failed request left in its session (the error is answered here, so the
    session's dependency would commit): nothing half-done is kept."""
    try:
        session.rollback()
    except Exception as exc:  # the database is gone: nothing to keep either
        log.info("open311: rollback failed: %s", type(exc).__name__)


def _unsupported(fmt: str) -> Response:
    return _error(404, f"format {fmt!r} is not supported: use .json or .xml", "json")


def _answer(fmt: str, root: str, build: Callable[[], Any]) -> Response:
    """Run ``build`` and render its payload as ``fmt``; every failure in the Open311 error shape."""
    if fmt not in FORMATS:
        return _unsupported(fmt)
    try:
        return _render(root, build(), fmt)
    except Exception as exc:
        return _failure(exc, fmt)


# ---- discovery and services -------------------------------------------------------------------------


@router.get(PREFIX + "/discovery.{fmt}", summary="Open311 service discovery")
def discovery(request: Request, fmt: str) -> Response:
    """Where the GeoReport v2 endpoint is and what it speaks."""

    def build() -> dict[str, Any]:
        s = request.app.state.settings
        url = str(request.base_url).rstrip("/") + PREFIX
        return {
            "changeset": CHANGESET,
            "contact": f"{s.city_name} 12345 市民服务热线",
            "key_service": "API keys for posting requests are issued by the operator (gridgov keys create NAME)",
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": url,
                    "changeset": CHANGESET,
                    "type": "production",
                    "formats": ["application/json", "text/xml"],
                }
            ],
        }

    return _answer(fmt, "discovery", build)


@lru_cache(maxsize=1)
def _keywords() -> dict[str, str]:
    try:
        cats = read_categories(CATEGORIES)
    except (OSError, ValueError) as exc:
        log.warning("open311: no category keywords: %s", exc)
        return {}
    return {str(c["code"]): ",".join(str(k) for k in c.get("keywords") or []) for c in cats}


def _services(session: Session) -> list[dict[str, Any]]:
    cats = {c.code: c for c in store.categories(session)}
    kw = _keywords()

    def top(c: Category) -> Category:
        seen = {c.code}
        while c.parent_code is not None and c.parent_code in cats and c.parent_code not in seen:
            c = cats[c.parent_code]
            seen.add(c.code)
        return c

    return [
        {
            "service_code": c.code,
            "service_name": c.name,
            "description": c.name_en or c.name,
            "metadata": False,
            "type": "realtime",
            "keywords": kw.get(c.code, ""),
            "group": top(c).name,
        }
        for c in cats.values()
    ]


@router.get(PREFIX + "/services.{fmt}", summary="Open311 services (our categories)")
def services(session: SessionDep, fmt: str) -> Response:
    """Every category of the catalogue as a service; ``jurisdiction_id`` is accepted and ignored."""

    def build() -> list[dict[str, Any]]:
        return _services(session)

    return _answer(fmt, "services", build)


@router.get(PREFIX + "/services/{service_code}.{fmt}", summary="Open311 service definition")
def service_definition(session: SessionDep, service_code: str, fmt: str) -> Response:
    """A service's definition: no extra attributes (``metadata`` is false for every service)."""

    def build() -> dict[str, Any]:
        if store.category(session, service_code) is None:
            raise NotFound(f"no service {service_code!r}", code="service_not_found")
        return {"service_code": service_code, "attributes": []}

    return _answer(fmt, "service_definition", build)


# ---- service requests ---------------------------------------------------------------------------------


def _status_note(p: Petition, agency: str) -> str:
    notes = {
        "received": "已受理，待派单",
        "needs_location": "已受理，地点待人工确定",
        "dispatched": f"已派单至{agency}" if agency else "已派单",
        "accepted": f"{agency}已签收" if agency else "已签收",
        "in_progress": "办理中",
        "resolved": "已办结，待回访",
        "callback": "已回访，待结案",
        "closed": "已结案",
        "returned": "承办单位退单，待重新派单",
        "disputed": "权属有争议，待裁定",
        "merged": f"重复诉求，已并入 {p.duplicate_of}" if p.duplicate_of else "重复诉求，已合并",
    }
    return f"{p.status}: {notes.get(p.status, p.status)}"


def _requests(session: Session, rows: list[Petition]) -> list[dict[str, Any]]:
    """Petitions as Open311 service requests: summaries only, never a contact."""
    names = store.category_names(session, {p.category_code for p in rows})
    agencies = store.department_names(session, {p.lead_department for p in rows if p.lead_department})
    out = []
    t = svc.now()
    for p in rows:
        s = svc.summary(p, t)
        agency = agencies.get(p.lead_department, p.lead_department) if p.lead_department else ""
        notice = f"处理时限 {p.time_limit}, 截止 {s['due_at']}" if s["due_at"] else ""
        item = {
            "service_request_id": str(p.id),
            "status": "closed" if p.status in CLOSED else "open",
            "status_notes": _status_note(p, agency or ""),
            "service_name": names.get(p.category_code, p.category_code),
            "service_code": p.category_code,
            "description": mask_digit_runs(s["text"]) or "",  # as the retention job masks them
            "agency_responsible": agency or "",
            "service_notice": notice,
            "requested_datetime": s["received_at"],
            "updated_datetime": s["updated_at"],
            "expected_datetime": s["due_at"],
            "address": s["address"] or "",
            "address_id": p.building_id or "",
            "zipcode": "",
            "lat": s["lat"],
            "long": s["lon"],
            "media_url": s["media_url"] or "",
        }
        out.append({k: item[k] for k in REQUEST_FIELDS})
    return out


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _request_ids(value: str | None) -> list[int]:
    ids = []
    for v in _csv(value):
        if not v.isdigit() or len(v) > 18:
            raise InputError(
                f"service_request_id: {v!r} is not a service request id", code="invalid_request_id"
            )
        ids.append(int(v))
    return ids


def _window(start: str | None, end: str | None) -> tuple[dt.datetime, dt.datetime]:
    t0 = svc.parse_time(start, "start_date") if start else None
    t1 = svc.parse_time(end, "end_date") if end else None
    if t0 is None and t1 is None:
        t1 = svc.now()
    if t0 is None:
        assert t1 is not None
        t0 = t1 - WINDOW
    if t1 is None:
        t1 = t0 + WINDOW
    if t1 < t0:
        raise InputError("end_date is before start_date", code="invalid_date_range")
    if t1 - t0 > MAX_WINDOW:
        raise InputError(
            f"start_date..end_date spans more than {MAX_WINDOW.days} days", code="window_too_long"
        )
    return t0, t1


@router.get(PREFIX + "/requests.{fmt}", summary="Open311 service requests (our petitions)")
def service_requests(request: Request, session: SessionDep, fmt: str) -> Response:
    """Petitions as service requests, newest first, at most 1000. ``service_request_id`` (comma
    separated) overrides every other parameter; otherwise ``service_code`` and ``status``
    (open, closed; comma separated) filter, and ``start_date`` / ``end_date`` (w3c ISO 8601) bound the
    requested time (default: the last 90 days; one bound alone: 90 days from it)."""
    q = request.query_params

    def build() -> list[dict[str, Any]]:
        who = _reader(request)
        scope = who.petition_scope
        ids = _request_ids(q.get("service_request_id"))
        if ids:
            rows = store.service_requests(session, scope=scope, ids=ids, limit=MAX_REQUESTS)
        else:
            codes = _csv(q.get("service_code"))
            statuses = {s.lower() for s in _csv(q.get("status"))}
            bad = statuses - {"open", "closed"}
            if bad:
                raise InputError(
                    f"status: {sorted(bad)[0]!r} is not one of open, closed", code="invalid_status"
                )
            t0, t1 = _window(q.get("start_date"), q.get("end_date"))
            open_only = {frozenset({"open"}): True, frozenset({"closed"}): False}.get(frozenset(statuses))
            rows = store.service_requests(
                session, scope=scope, codes=codes, open_only=open_only, start=t0, end=t1, limit=MAX_REQUESTS
            )
        return _requests(session, rows)

    return _answer(fmt, "service_requests", build)


@router.get(PREFIX + "/requests/{service_request_id}.{fmt}", summary="Open311 one service request")
def service_request(request: Request, session: SessionDep, service_request_id: str, fmt: str) -> Response:
    """One petition as a service request (a list of one, as the spec has it)."""

    def build() -> list[dict[str, Any]]:
        who = _reader(request)
        sid = service_request_id
        p = None
        if sid.isdigit() and len(sid) <= 18:
            p = store.service_request(session, int(sid), scope=who.petition_scope)
        if p is None:
            raise NotFound(f"no service request {sid!r}", code="request_not_found")
        return _requests(session, [p])

    return _answer(fmt, "service_requests", build)


@router.get(PREFIX + "/tokens/{token}.{fmt}", summary="Open311 the request of a token")
def token(session: SessionDep, token: str, fmt: str) -> Response:
    """The service request id a token stands for."""

    def build() -> list[dict[str, Any]]:
        # public: a token is the sender's receipt, and the answer is only the id it stands for
        pid = svc.petition_for_token(session, token, scope=svc.CITY)
        if pid is None:
            raise NotFound(f"no service request for token {token!r}", code="token_not_found")
        return [{"service_request_id": str(pid), "token": token}]

    return _answer(fmt, "service_requests", build)


# ---- posting a request --------------------------------------------------------------------------------


PRIVATE_FIELDS = frozenset(
    {"api_key", "first_name", "last_name", "phone", "email", "device_id", "account_id", "description"}
)


async def _form(request: Request) -> dict[str, Any]:
    """The posted fields, from a form-encoded or JSON body only. Credentials and personal fields in
    the query string are refused (a query string is written to access logs and proxies' logs);
    other query parameters (``jurisdiction_id``) are kept."""
    private = sorted(PRIVATE_FIELDS & set(request.query_params))
    if private:
        raise InputError(
            f"send {', '.join(private)} in the request body, not in the URL (URLs are logged)",
            code="fields_in_query",
        )
    data: dict[str, Any] = {k: v for k, v in request.query_params.items() if k == "jurisdiction_id"}
    raw = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not raw:
        return data
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("the body is not UTF-8", code="invalid_body") from exc
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise InputError(f"the body is not valid JSON: {exc}", code="invalid_body") from exc
        if not isinstance(body, dict):
            raise InputError("the JSON body must be an object", code="invalid_body")
        data.update({k: v for k, v in body.items() if v is not None})
    elif ctype in ("application/x-www-form-urlencoded", ""):
        data.update({k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()})
    else:
        raise InputError(
            f"unsupported content type {ctype!r}: send application/x-www-form-urlencoded or JSON",
            code="unsupported_media_type",
        )
    return data


def _str(data: Mapping[str, Any], name: str, max_len: int = 500) -> str | None:
    v = data.get(name)
    if v is None:
        return None
    s = str(v).strip()
    if len(s) > max_len:
        raise InputError(f"{name}: longer than {max_len} characters", code="invalid_input")
    return s or None


def _person(first: str | None, last: str | None) -> str | None:
    """A name: family name first, no space, when Chinese (张 + 三 = 张三); else 'first last'."""
    if first and last:
        return last + first if _CJK.search(first + last) else f"{first} {last}"
    return first or last


def _post(request: Request, session: Session, data: dict[str, Any]) -> list[dict[str, Any]]:
    api_key = str(data.get("api_key") or "").strip() or request.headers.get("x-api-key")
    if not api_key:
        raise Forbidden("api_key was not provided", code="api_key_required")
    from grid.db.users import key_principal

    try:
        key = key_principal(session, api_key, request.app.state.settings.exempt_keys)
    except Unauthorized as exc:
        raise Forbidden("api_key is invalid", code="invalid_api_key") from exc
    if not key.can("petitions:create"):
        raise Forbidden(f"the key {key.name!r} may not post service requests", code="forbidden")
    code = _str(data, "service_code", 32)
    if code is None:
        raise InputError("service_code is required", code="service_code_required")
    text = _str(data, "description", svc.MAX_TEXT)
    if text is None:
        raise InputError("description is required", code="description_required")
    lat, lon = _str(data, "lat", 32), _str(data, "long", 32)
    address, address_id = _str(data, "address_string"), _str(data, "address_id", 64)
    cat = store.category(session, code)
    if cat is None:
        raise InputError(f"service_code: unknown service {code!r}", code="unknown_category")
    needs_place = bool(cat.needs_place)
    if address_id is not None and address is None:
        address = store.building_address(session, address_id, svc.now().date())
        if address is None:
            raise InputError(f"address_id: no building {address_id!r}", code="unknown_address_id")
    if needs_place and address is None and lat is None and lon is None:
        raise InputError(
            "a location is required: lat and long (WGS84), address_string or address_id",
            code="location_required",
        )
    intake_data = {
        "text": text,
        "category": code,
        "type": "complaint" if needs_place else "consultation",
        "channel": "app",
        "lon": lon,
        "lat": lat,
        "datum": "wgs84" if lon is not None or lat is not None else None,
        "address": address,
        "external_id": None,
        "media_url": _str(data, "media_url", 1000),
        "contact_name": _person(_str(data, "first_name", 50), _str(data, "last_name", 50)),
        "contact_phone": _str(data, "phone", 64),
        "contact_email": _str(data, "email", 200),
    }
    p, _ = svc.intake(session, intake_data, actor=key.name, source=SOURCE)
    tok = svc.petition_token(session, p["id"], scope=svc.CITY)  # the petition just taken in
    notice = f"处理时限 {p['time_limit']}, 截止 {p['due_at']}" if p.get("due_at") else ""
    return [
        {
            "service_request_id": str(p["id"]),
            "token": tok,
            "service_notice": notice,
            "account_id": None,
        }
    ]


@router.post(PREFIX + "/requests.{fmt}", summary="Open311 post a service request (a petition)")
async def post_request(request: Request, session: SessionDep, fmt: str) -> Response:
    """Take in a petition: form-encoded (or JSON) ``api_key``, ``service_code``, ``description``, and
    ``lat`` + ``long`` (WGS84), ``address_string`` or ``address_id`` (a building id) for a service that
    needs a place; optionally ``media_url`` (an http(s) URL of a photo, kept and shown, never
    fetched), ``first_name``, ``last_name``, ``phone``, ``email`` (kept apart, never
    shown by the GETs). Answers 200 with the new ``service_request_id`` and its ``token``; a missing
    or invalid ``api_key`` answers 403."""
    if fmt not in FORMATS:
        return _unsupported(fmt)
    try:
        data = await _form(request)
        payload = await run_in_threadpool(_post, request, session, data)
    except Exception as exc:
        await run_in_threadpool(_discard, session)
        return _failure(exc, fmt)
    return _render("service_requests", payload, fmt)
