"""Login (OAuth2 password flow → JWT), who am I, and the contact audit log (admin)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse

from api.deps import SessionDep
from api.schemas import ContactReadsOut, ErrorOut, MeOut, TokenOut
from api.security import COOKIE, PrincipalDep, client_address, need, secret_key
from grid.auth import ROLES, Principal, make_token, username_key

router = APIRouter(
    tags=["auth"],
    responses={
        400: {"model": ErrorOut},
        401: {"model": ErrorOut},
        403: {"model": ErrorOut},
        429: {"model": ErrorOut},
    },
)


@router.post("/v1/auth/token", response_model=TokenOut)
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=256)],
) -> JSONResponse:
    """OAuth2 password login: ``{"access_token", "token_type": "bearer", "expires_in"}``.
    Send it as ``Authorization: Bearer <token>``; the answer also sets an HttpOnly cookie that
    the map pages read (GET only). Attempts are limited per client address and per account."""
    from grid.db.users import authenticate

    settings = request.app.state.settings
    limiter = request.app.state.limiter
    limiter.check(f"login:{client_address(request)}", "login")
    limiter.check(f"login-user:{username_key(username)}", "login")  # and per account, from any address
    user = authenticate(session, username, password)
    name = user.username
    token = make_token(name, secret_key(settings), settings.token_minutes)
    out = JSONResponse(
        {"access_token": token, "token_type": "bearer", "expires_in": settings.token_minutes * 60}
    )
    out.set_cookie(
        COOKIE,
        token,
        max_age=settings.token_minutes * 60,
        httponly=True,
        samesite="strict",
        secure=not settings.development,
    )
    return out


@router.get("/v1/auth/me", response_model=MeOut)
def me(principal: PrincipalDep) -> dict[str, Any]:
    """Who the credentials are: kind, name, roles, scope (empty = whole city)."""
    return {
        "kind": principal.kind,
        "name": principal.name,
        "roles": sorted(principal.roles),
        "scope": list(principal.scope),
        "role_descriptions": {r: ROLES[r] for r in sorted(principal.roles)},
    }


@router.get("/v1/audit/contacts", response_model=ContactReadsOut)
def contact_audit(
    session: SessionDep,
    principal: Annotated[Principal, Depends(need("audit:read"))],
    petition: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    actor: Annotated[str | None, Query(max_length=160, description="e.g. user:wang or key:12345")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Every read of a reporter's contact, newest first: who, when, which petition, masked or full."""
    from grid.db.users import contact_reads

    items = contact_reads(session, petition_id=petition, actor=actor, limit=limit)
    return {"items": items, "as_of": dt.datetime.now(dt.UTC).isoformat()}
