"""Petitions: intake, triage, the lifecycle, lists, exports and the three-rate scores.

Every endpoint here needs credentials (an API key or a login token) whose roles allow it
(grid/auth.py, docs/SECURITY.md). Officers and street admins see only the petitions owned inside
their scope: the scope is a condition of every query, so another cell's petition is a 404.
The reporter's contact is shown only to roles that may read it (masked in the detail, in full
from ``/contact``), and every such read is written to the audit log.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from api.deps import SafeDateTime, SessionDep
from api.schemas import ContactOut, ErrorOut, EventsOut, PetitionOut, PetitionPageOut, ScoresOut, TriageOut
from api.security import PrincipalDep, need
from grid.auth import Principal
from grid.db import petitions as svc
from grid.errors import Conflict, NotFound
from grid.inputs import csv_safe
from grid.lifecycle import ACTIONS
from grid.privacy import mask_digit_runs

router = APIRouter(
    tags=["petitions"],
    responses={
        400: {"model": ErrorOut},
        401: {"model": ErrorOut},
        403: {"model": ErrorOut},
        404: {"model": ErrorOut},
        409: {"model": ErrorOut},
        422: {"model": ErrorOut},
    },
)


Creator = Annotated[Principal, Depends(need("petitions:create"))]
Reader = Annotated[Principal, Depends(need("petitions:read"))]
Triager = Annotated[Principal, Depends(need("petitions:triage"))]
ContactReader = Annotated[Principal, Depends(need("contact:read"))]
ScoreReader = Annotated[Principal, Depends(need("scores:read"))]


MAX_EXPORT = 100_000
PetitionId = Annotated[int, Path(ge=1, le=2**62, description="petition id")]


class PetitionIn(BaseModel):
    text: str = Field(min_length=1, max_length=svc.MAX_TEXT, description="what the resident said")
    type: Literal["consultation", "help", "complaint", "report", "suggestion"] = "complaint"
    category: str = Field(min_length=1, max_length=32, description="a code of the category catalogue")
    urgency: Literal["urgent", "utilities", "general", "complex"] | None = Field(
        None, description="raise the category's default class (never lowers it)"
    )
    channel: Literal["hotline", "app", "wechat", "grid_patrol"] = "hotline"
    address: str | None = Field(None, max_length=500, description="free Chinese address, colloquial is fine")
    lon: float | None = None
    lat: float | None = None
    datum: str | None = Field(None, description="required with lon/lat: wgs84, cgcs2000, gcj02, bd09, EPSG:n")
    received_at: SafeDateTime | None = Field(None, description="default now; no offset = local time")
    external_id: str | None = Field(
        None, max_length=128, description="the sender's id: a retry is not a new one"
    )
    media_url: str | None = Field(
        None, max_length=1000, description="http(s) URL of a photo the resident sent"
    )
    contact_name: str | None = Field(None, max_length=100)
    contact_phone: str | None = Field(None, max_length=64)
    contact_email: str | None = Field(None, max_length=200)


class ActionIn(BaseModel):
    note: str | None = Field(None, max_length=5000, description="reason, answer or remark")
    actor: str | None = Field(None, max_length=100, description="the person acting (recorded with the key)")
    owner_code: str | None = Field(None, max_length=32, description="redispatch / settle / locate: the owner")
    duplicate_of: int | None = Field(None, ge=1, le=2**62, description="merge: the petition this duplicates")
    resolved: bool | None = Field(None, description="callback: did the resident say it was resolved")
    satisfaction: Literal["satisfied", "basically_satisfied", "unsatisfied"] | None = None
    none_reason: str | None = Field(None, max_length=500, description="callback: why none was possible")
    lon: float | None = None
    lat: float | None = None
    datum: str | None = None
    building_id: str | None = Field(None, max_length=64)


def _actor(who: Principal, person: str | None) -> str:
    """How events name the actor: the key's name (systems) or user:NAME, with the person if given."""
    base = who.name if who.kind == "key" else who.actor
    return f"{base}:{person}" if person else base


@router.post("/v1/petitions", status_code=201, response_model=PetitionOut)
def create_petition(body: PetitionIn, session: SessionDep, who: Creator) -> JSONResponse:
    """Take in a petition: committed before the answer, then located (geocoder + ownership rules)
    and dispatched to the lead department and co-handlers; a petition that needs a place and has
    none waits as ``needs_location`` in the triage queue. A repeated ``external_id`` answers 200
    with the petition already taken in."""
    out, created = svc.intake(session, body.model_dump(), actor=_actor(who, None), source=who.name)
    return JSONResponse(out, status_code=201 if created else 200)


@router.get("/v1/petitions", response_model=PetitionPageOut)
def list_petitions(
    session: SessionDep,
    who: Reader,
    status: Annotated[str | None, Query(description="one status, e.g. dispatched")] = None,
    unit: Annotated[str | None, Query(description="any unit of the owner chain (cell ... district)")] = None,
    department: Annotated[str | None, Query(description="lead department code")] = None,
    category: Annotated[str | None, Query()] = None,
    overdue: Annotated[bool | None, Query(description="true: unanswered and past due now")] = None,
    since: Annotated[SafeDateTime | None, Query(description="received at or after")] = None,
    until: Annotated[SafeDateTime | None, Query(description="received before")] = None,
    limit: Annotated[int, Query(ge=1, le=svc.MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Petitions, newest first, without any reporter contact (a scoped reader: its scope only)."""
    total, items = svc.list_petitions(
        session,
        status=status,
        unit=unit,
        department=department,
        category=category,
        overdue=overdue,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
        scope=who.petition_scope,
    )
    if not who.can("contact:read"):  # phone numbers typed into the text, as contacts are: masked
        for it in items:
            it["text"] = mask_digit_runs(it.get("text"))
    return {"total": total, "limit": limit, "offset": offset, "items": items}


EXPORT_FIELDS = (
    "id",
    "external_id",
    "received_at",
    "channel",
    "type",
    "category",
    "urgency",
    "status",
    "address",
    "lon",
    "lat",
    "owner_code",
    "cell_code",
    "community_code",
    "street_code",
    "district_code",
    "lead_department",
    "due_at",
    "overdue",
    "late",
    "answered_at",
    "closed_at",
    "duplicate_of",
)


@router.get("/v1/petitions/export.csv", response_class=Response)
def export_petitions(
    session: SessionDep,
    who: Reader,
    unit: Annotated[str | None, Query()] = None,
    since: Annotated[SafeDateTime | None, Query()] = None,
    until: Annotated[SafeDateTime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EXPORT)] = 10_000,
) -> Response:
    """CSV export (UTF-8 with BOM, opens in Excel), no reporter contact and no text; a scoped
    reader gets its scope only."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(EXPORT_FIELDS), extrasaction="ignore")
    w.writeheader()
    offset = 0
    while offset < limit:
        _, items = svc.list_petitions(
            session,
            unit=unit,
            since=since,
            until=until,
            limit=min(svc.MAX_PAGE, limit - offset),
            offset=offset,
            scope=who.petition_scope,
        )
        for it in items:
            w.writerow({k: csv_safe(v) for k, v in it.items()})
        if len(items) < svc.MAX_PAGE:
            break
        offset += len(items)
    return Response(
        "\ufeff" + buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="petitions.csv"'},
    )


@router.get("/v1/petitions/triage", response_model=TriageOut)
def triage(
    session: SessionDep, who: Triager, limit: Annotated[int, Query(ge=1, le=svc.MAX_PAGE)] = 100
) -> dict[str, Any]:
    """The triage queue: petitions that need a place and could not be placed, with candidates."""
    # city-wide: a petition waiting here has no owner yet, so no unit scope could contain it
    total, items = svc.triage_queue(session, limit=limit, scope=svc.CITY)
    return {"total": total, "items": items}


@router.get("/v1/petitions/{pid}", response_model=PetitionOut)
def petition(session: SessionDep, who: Reader, pid: PetitionId) -> dict[str, Any]:
    """One petition: ownership answer, routing, deadline, callback; the contact masked, for roles
    that may read contacts (each read is audited). Outside the reader's scope: 404."""
    reader = who if who.can("contact:read") else None
    return svc.get(session, pid, scope=who.petition_scope, contact_reader=reader, via="GET detail")


@router.get("/v1/petitions/{pid}/contact", response_model=ContactOut)
def petition_contact(session: SessionDep, who: ContactReader, pid: PetitionId) -> dict[str, Any]:
    """The reporter's contact in full, for the call back: operator, street admin (scoped), admin.
    The read is written to the audit log (``GET /v1/audit/contacts``) before the answer."""
    return svc.contact(session, pid, reader=who, scope=who.petition_scope, via="GET contact")


@router.get("/v1/petitions/{pid}/events", response_model=EventsOut)
def petition_events(session: SessionDep, who: Reader, pid: PetitionId) -> dict[str, Any]:
    """Every transition: actor, time, from, to, note."""
    return {"id": pid, "events": svc.events(session, pid, scope=who.petition_scope)}


ACTION_PATTERN = "^(" + "|".join(a for a in ACTIONS if a != "dispatch") + ")$"


@router.post("/v1/petitions/{pid}/{action}", response_model=PetitionOut)
def act(
    session: SessionDep,
    who: PrincipalDep,
    pid: PetitionId,
    action: Annotated[
        str,
        Path(
            pattern=ACTION_PATTERN,
            description="; ".join(f"{a.name}: {a.label}" for a in ACTIONS.values() if a.name != "dispatch"),
        ),
    ],
    body: ActionIn | None = None,
) -> dict[str, Any]:
    """Move a petition along its lifecycle; an action not allowed from its status answers 409
    ``invalid_transition`` with the actions that are. Each action needs its role (docs/SECURITY.md);
    a scoped role acts only inside its scope (404 outside)."""
    need(f"action:{action}")(who)  # 401 without credentials, 403 without the action's role
    data = (body or ActionIn()).model_dump()
    scope = who.petition_scope
    try:
        svc.transition(session, pid, str(action), data, actor=_actor(who, data.get("actor")), scope=scope)
    except Conflict as exc:
        if who.can("petitions:read"):
            raise
        # a role that may not read petitions (a planner settling disputes) learns nothing of a
        # petition it may not act on, not even its status
        raise NotFound(f"no petition {pid} awaiting this action", code="petition_not_found") from exc
    session.commit()  # the action holds whatever the answer's read does
    session.expire_all()  # ... and that read sees the row as stored (triggers, server defaults)
    reader = who if who.can("contact:read") else None
    # after a redispatch out of a street admin's scope, the answer is the city-wide view of it
    out = svc.get(session, pid, scope=svc.CITY, contact_reader=reader, via=f"POST {action}")
    if not who.can("petitions:read"):  # a planner settling a dispute: the outcome, not the petition
        keep = ("id", "status", "owner_code", "cell_code", "street_code", "lead_department", "updated_at")
        return {k: out[k] for k in keep}
    return out


@router.get("/v1/scores", response_model=ScoresOut)
def scores(
    session: SessionDep,
    who: ScoreReader,
    month: Annotated[str, Query(description="YYYY-MM", pattern=r"^\d{4}-\d{2}$")],
    level: Annotated[Literal["cell", "community", "street", "district", "department"], Query()] = "street",
    as_of: Annotated[SafeDateTime | None, Query(description="judge as of this time (default now)")] = None,
) -> dict[str, Any]:
    """Response, resolution and satisfaction rates per unit (or department) for a month, ranked.
    Definitions: docs/PETITIONS.md. A scoped reader's scores count its scope's petitions only."""
    from grid.db.scores import month_scores

    df, meta = month_scores(session, level=level, month=month, as_of=as_of, scope=who.petition_scope)
    return {**meta, "items": _records(df)}


@router.get("/v1/scores.csv", response_class=Response)
def scores_csv(
    session: SessionDep,
    who: ScoreReader,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
    level: Annotated[Literal["cell", "community", "street", "district", "department"], Query()] = "street",
    as_of: Annotated[SafeDateTime | None, Query()] = None,
) -> Response:
    """The same scores as CSV."""
    from grid.db.scores import month_scores
    from grid.scores import to_csv

    df, _ = month_scores(session, level=level, month=month, as_of=as_of, scope=who.petition_scope)
    return Response(
        "\ufeff" + to_csv(df),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="scores-{level}-{month}.csv"'},
    )


def _records(df: Any) -> list[dict[str, Any]]:
    import json

    return list(json.loads(df.to_json(orient="records", force_ascii=False)))
