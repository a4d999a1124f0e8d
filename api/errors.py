"""One place that turns errors into HTTP answers: ``{"error": ..., "code": ...}`` with a stable code."""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.guard import request_id
from grid.errors import GridGovError

log = logging.getLogger("gridgov.api")


def internal_error(request: Request, exc: BaseException) -> JSONResponse:
    """Log an unexpected error once (its traceback, the request id, method and route; never the
    request's data) and answer ``500 internal_error`` without detail."""
    rid = getattr(request.state, "request_id", None) or request_id.get()
    route = getattr(request.scope.get("route"), "path", request.url.path)
    log.error(
        "unexpected error [request %s] %s %s: %s",
        rid,
        request.method,
        route,
        type(exc).__name__,
        exc_info=exc,
    )
    return JSONResponse(
        {"error": "internal error; it has been logged", "code": "internal_error", "request_id": rid},
        status_code=500,
        headers={"X-Request-ID": rid},
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(GridGovError)
    async def _domain(_: Request, exc: GridGovError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")} for e in exc.errors()
        ]
        first = problems[0] if problems else {"loc": [], "msg": "invalid request"}
        msg = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else first["msg"]
        return JSONResponse({"error": msg, "code": "invalid_request", "details": problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            {"error": str(exc.detail), "code": code},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return internal_error(request, exc)

    @app.exception_handler(OperationalError)
    @app.exception_handler(psycopg.OperationalError)  # raw connections (the store generation check)
    async def _db(_: Request, exc: Exception) -> JSONResponse:
        log.error("database unavailable: %s [request %s]", type(exc).__name__, request_id.get())
        return JSONResponse(
            {"error": "the database is unavailable", "code": "database_unavailable"}, status_code=503
        )
