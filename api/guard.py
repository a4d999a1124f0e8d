"""The edge of the API (pure ASGI): one rule for every text input, and a request id per request.

Before any route runs, the path, every query parameter (names too), the headers the app reads and
the body (form fields, JSON strings and keys) are checked with :func:`grid.inputs.text_problem`.
A request holding NUL or another control character is answered ``422 invalid_characters``, in
Open311's own shape under ``/open311/``; nothing of it reaches a route or PostgreSQL.

Every request gets an id (the client's ``X-Request-ID`` when it is short and printable, else a new
one), sent back as ``X-Request-ID`` and available to the error handler through
:data:`request_id`, so that an unexpected error is logged once with the id the client saw.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grid.inputs import text_problem, walk_problem

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

READ_HEADERS = (b"authorization", b"x-api-key", b"cookie", b"content-type", b"x-request-id")
_RAW_BAD = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_RID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _problem_in_pairs(text: str, where: str) -> tuple[str, str] | None:
    for k, v in parse_qsl(text, keep_blank_values=True, errors="replace"):
        for loc, s in ((f"{where} parameter name {k[:40]!r}", k), (f"{where} parameter {k[:40]!r}", v)):
            p = text_problem(s)
            if p:
                return loc, p
    return None


def _problem(scope: Scope, body: bytes | None) -> tuple[str, str] | None:
    p = text_problem(scope.get("path", ""))
    if p:
        return "path", p
    qs = scope.get("query_string", b"")
    if qs:
        found = _problem_in_pairs(qs.decode("latin-1"), "query")
        if found:
            return found
    ctype = ""
    for name, value in scope.get("headers", []):
        if name in READ_HEADERS:
            p = text_problem(value.decode("latin-1"))
            if p:
                return f"header {name.decode()}", p
            if name == b"content-type":
                ctype = value.decode("latin-1").lower()
    if not body:
        return None
    if ctype.startswith("application/x-www-form-urlencoded"):
        return _problem_in_pairs(body.decode("latin-1"), "form")
    if "json" in ctype:
        if _RAW_BAD.search(body):
            return "body", "holds a control character"
        if b"\\u" in body:  # escaped controls or surrogates: only then is the body walked
            try:
                parsed = json.loads(body)
            except ValueError:
                return None  # not JSON: the route's own validation answers
            return walk_problem(parsed)
        return None
    if ctype.startswith("text/") and b"\x00" in body:
        return "body", "holds the control character U+0000"
    return None


class InputGuard:
    """Refuses control characters anywhere in a request; sets the request id (see module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = ""
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                rid = value.decode("latin-1")
        if not _RID.fullmatch(rid):
            rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid  # for handlers outside this middleware
        token = request_id.set(rid)
        try:
            await self._serve(scope, receive, send, rid)
        finally:
            request_id.reset(token)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        body: bytes | None = None
        if scope.get("method") not in ("GET", "HEAD", "OPTIONS", "DELETE"):
            chunks: list[bytes] = []
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    return
                chunks.append(msg.get("body", b""))
                if not msg.get("more_body", False):
                    break
            body = b"".join(chunks)
        found = _problem(scope, body)
        if found is not None:
            await self._reject(scope, send, rid, *found)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        if body is None:
            await self.app(scope, receive, send_with_id)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send_with_id)

    async def _reject(self, scope: Scope, send: Send, rid: str, where: str, problem: str) -> None:
        message = f"the {where} {problem}; NUL and other control characters cannot be stored"
        path = scope.get("path", "")
        ctype = b"application/json"
        if path.startswith("/open311/"):
            if path.endswith(".xml"):
                from xml.sax.saxutils import escape

                data = (
                    "<?xml version='1.0' encoding='utf-8'?>\n<errors><error><code>422</code>"
                    f"<description>{escape(message)} (invalid_characters)</description></error></errors>"
                ).encode()
                ctype = b"text/xml; charset=utf-8"
            else:
                data = json.dumps(
                    [{"code": 422, "description": f"{message} (invalid_characters)"}], ensure_ascii=False
                ).encode()
        else:
            data = json.dumps(
                {"error": message, "code": "invalid_characters", "details": {"where": where}},
                ensure_ascii=False,
            ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 422,
                "headers": [
                    (b"content-type", ctype),
                    (b"content-length", str(len(data)).encode()),
                    (b"x-request-id", rid.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})


class _NoQueryInAccessLog(logging.Filter):
    """uvicorn's access log writes the path with its query string: for Open311 (whose clients may
    put fields in the URL) and the login, the query string is dropped from the line."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2]
            if "?" in path and path.startswith(PRIVATE_PATHS):
                record.args = (*args[:2], path.split("?", 1)[0] + "?[hidden]", *args[3:])
        return True


PRIVATE_PATHS = ("/open311/", "/v1/auth/")


def install_log_filter() -> None:
    """Once per process: the access log never carries Open311's or the login's query strings."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _NoQueryInAccessLog) for f in access.filters):
        access.addFilter(_NoQueryInAccessLog())
