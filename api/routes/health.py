from __future__ import annotations

import datetime as dt
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.schemas import HealthOut, PingOut
from grid.db.engine import session_scope
from grid.db.store import boundary_version
from grid.errors import DatabaseUnavailable

router = APIRouter(tags=["health"])


@router.get("/ping", response_model=PingOut)
def ping() -> dict[str, bool]:
    """A trivial endpoint (no database): liveness, and the baseline of the API benchmark."""
    return {"ok": True}


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(request: Request) -> JSONResponse:
    """Database reachability, PostGIS version and the boundary version in force today."""
    url = request.app.state.database_url
    env = request.app.state.settings.environment
    try:
        from grid.db.engine import check_database

        postgis = check_database(url)
        with session_scope(url) as s:
            version = boundary_version(s, dt.date.today())
    except DatabaseUnavailable as exc:
        # the reason (host, database, user) goes to the server log, not to anyone who asks
        logging.getLogger("gridgov.api").error("health: %s", exc.message)
        body = HealthOut(status="degraded", database="unavailable", environment=env)
        return JSONResponse(body.model_dump(), status_code=503)
    body = HealthOut(status="ok", database="ok", postgis=postgis, boundary_version=version, environment=env)
    return JSONResponse(body.model_dump(mode="json"))
