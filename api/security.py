"""Authentication, permissions, rate limits and body limits of the HTTP API.

Credentials, in order: ``X-API-Key`` (systems), ``Authorization: Bearer <jwt>`` (people, from
``POST /v1/auth/token``), and for ``GET`` only the ``gridgov_token`` cookie the login sets (so a
grid officer's browser can open the scoped map pages; never for writes, so no CSRF). Wrong
credentials are 401, never a silent fall back to public. No credentials = the ``public`` role.

Each route states what it needs with ``Depends(need("permission"))`` (grid/auth.py holds the
roles of each permission); docs/SECURITY.md lists every endpoint and tests/test_security.py
checks the table against the running app.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grid.auth import ANONYMOUS, Principal, read_token
from grid.config import Settings
from grid.errors import Forbidden, TooManyRequests, Unauthorized

COOKIE = "gridgov_token"


def secret_key(settings: Settings) -> str:
    """The signing key; in development without one, a random key per process (tokens die on restart)."""
    if settings.secret_key:
        return settings.secret_key
    if not settings.development:  # create_app refuses this earlier; a guard for direct callers
        raise Unauthorized("the server has no secret key", code="server_misconfigured")
    global _DEV_SECRET
    if _DEV_SECRET is None:
        _DEV_SECRET = secrets.token_urlsafe(48)
    return _DEV_SECRET


_DEV_SECRET: str | None = None


def _resolve(request: Request) -> Principal:
    from grid.db.engine import session_scope
    from grid.db.users import key_principal, user_principal

    settings: Settings = request.app.state.settings
    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization")
    token = None
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("Authorization must be 'Bearer <token>'", code="invalid_token")
        token = value.strip()
    elif request.method in ("GET", "HEAD"):
        token = request.cookies.get(COOKIE) or None
    if key is None and token is None:
        return ANONYMOUS
    if key is not None and auth:
        # two credentials: each must hold (a valid key never hides a bad or expired token)
        read_token(token or "", secret_key(settings))
    with session_scope(request.app.state.database_url, fast_generation=True) as session:
        if key is not None:
            return key_principal(session, key.strip(), settings.exempt_keys)
        assert token is not None
        return user_principal(session, read_token(token, secret_key(settings)))


def current_principal(request: Request) -> Principal:
    """The request's principal (resolved once per request, kept on ``request.state``)."""
    p = getattr(request.state, "principal", None)
    if p is None:
        p = _resolve(request)
        request.state.principal = p
    return p


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def need(permission: str) -> Callable[[Principal], Principal]:
    """A dependency: the principal, if its roles hold ``permission``; else 401 (no credentials)
    or 403 (credentials without the role)."""

    def check(principal: PrincipalDep) -> Principal:
        if principal.can(permission):
            return principal
        if not principal.authenticated:
            raise Unauthorized(
                "this endpoint needs credentials: an API key (X-API-Key) or a login token "
                "(Authorization: Bearer, from POST /v1/auth/token)",
                code="credentials_required",
            )
        raise Forbidden(
            f"{principal.actor} (roles {', '.join(sorted(principal.roles))}) may not do this ({permission})",
            code="forbidden",
        )

    check.__name__ = f"need_{permission.replace(':', '_')}"
    check.permission = permission  # type: ignore[attr-defined]
    return check


# ---- rate limits (the limits library: moving windows, in memory per server process) ---------------


class RateLimiter:
    """Per-key / per-user and per-client-address limits; trusted keys are exempt."""

    def __init__(self, settings: Settings) -> None:
        from limits import parse
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        from grid.errors import ConfigError

        try:
            storage = storage_from_string(settings.rate_limit_storage)
        except Exception as exc:  # an unknown scheme or a missing driver: say so at start
            raise ConfigError(
                f"GRIDGOV_RATE_LIMIT_STORAGE={settings.rate_limit_storage!r}: {exc}", code="invalid_setting"
            ) from exc
        self.limiter = MovingWindowRateLimiter(storage)
        self.public = parse(settings.rate_limit_public)
        self.keyed = parse(settings.rate_limit_key)
        self.login = parse(settings.rate_limit_login)

    def check(self, bucket: str, which: str = "auto", principal: Principal = ANONYMOUS) -> None:
        if principal.exempt:
            return
        item = {"login": self.login, "public": self.public, "keyed": self.keyed}.get(which)
        if item is None:
            item = self.keyed if principal.authenticated else self.public
        if not self.limiter.hit(item, bucket):
            stats = self.limiter.get_window_stats(item, bucket)
            retry = max(1, math.ceil(stats.reset_time - time.time()))
            raise TooManyRequests(
                f"rate limit {item} reached for this {'client' if not principal.authenticated else 'credential'}; "
                f"retry in {retry} s",
                retry_after=retry,
            )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def rate_limit(request: Request, principal: PrincipalDep) -> None:
    """Applied to every route: one bucket per credential, else per client address."""
    limiter: RateLimiter = request.app.state.limiter
    bucket = principal.actor if principal.authenticated else f"addr:{client_address(request)}"
    limiter.check(bucket, principal=principal)


# ---- request body limit (pure ASGI: counts the bytes as they arrive, also for chunked bodies) -------


class BodyLimit:
    """Reads a request body whole before the app sees it (bodies here are small: JSON, forms, a
    GeoJSON shape), counting bytes as they arrive, so that a chunked body without Content-Length
    is refused as soon as it passes the limit; then replays it to the app."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    n = int(value)
                except ValueError:
                    n = -1
                if n > self.max_bytes or n < 0:
                    await self._reject(send, n)
                    return
        chunks: list[bytes] = []
        seen = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body = msg.get("body", b"")
            seen += len(body)
            if seen > self.max_bytes:
                await self._reject(send, seen)
                return
            chunks.append(body)
            if not msg.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send, n: int) -> None:
        import json

        what = "Content-Length is malformed" if n < 0 else f"request body is over {self.max_bytes} bytes"
        body = json.dumps(
            {"error": f"the {what} (GRIDGOV_MAX_BODY_BYTES)", "code": "body_too_large"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413 if n >= 0 else 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def install(app: Any, settings: Settings) -> None:
    """Body limit, CORS (closed unless origins are configured) and the rate limiter."""
    from starlette.middleware.cors import CORSMiddleware

    app.state.limiter = RateLimiter(settings)
    if settings.cors_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_list,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
            allow_credentials="*" not in settings.cors_list,
        )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
