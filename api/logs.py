"""Logging, configured once per process by :func:`configure_logging` (the API app factory and the
``gridgov`` command call it; no other module configures logging).

Every record becomes one line on stderr with the request id of :data:`api.guard.request_id`
(``-`` outside a request), as ``key=value`` pairs (``GRIDGOV_LOG_FORMAT=text``, the default) or one
JSON object (``json``)::

    ts=2026-12-08T10:00:00.123+00:00 level=ERROR logger=gridgov.api request_id=req-42 msg="..."

A traceback goes into ``exc`` on the same line (newlines escaped), so one record is one line.
gridgov's loggers (``gridgov.*``) log at ``GRIDGOV_LOG_LEVEL`` (INFO by default); libraries keep
Python's default (warnings and worse). uvicorn keeps its own handlers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import IO

from api.guard import request_id

__all__ = ["configure_logging", "format_record"]


def _quote(value: str) -> str:
    """A value as it appears after ``key=``: bare when it has no space, quote or ``=``, else JSON-quoted."""
    if value and not any(c in value for c in ' "=\n\r\t\\') and value.isprintable():
        return value
    return json.dumps(value, ensure_ascii=False)


def _fields(record: logging.LogRecord, formatter: logging.Formatter) -> dict[str, str]:
    out = {
        "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "request_id": str(getattr(record, "request_id", None) or request_id.get()),
        "msg": record.getMessage(),
    }
    if record.exc_info:
        out["exc"] = formatter.formatException(record.exc_info)
    elif record.exc_text:
        out["exc"] = record.exc_text
    return out


def format_record(record: logging.LogRecord, *, as_json: bool = False) -> str:
    """One record as one line (key=value, or JSON with ``as_json``).

    >>> r = logging.LogRecord("gridgov.api", logging.WARNING, __file__, 1, "sweep: %d done", (2,), None)
    >>> r.created = 0.0
    >>> format_record(r)
    'ts=1970-01-01T00:00:00.000+00:00 level=WARNING logger=gridgov.api request_id=- msg="sweep: 2 done"'
    >>> json.loads(format_record(r, as_json=True))["msg"]
    'sweep: 2 done'
    """
    fields = _fields(record, _PLAIN)
    if as_json:
        return json.dumps(fields, ensure_ascii=False)
    return " ".join(f"{k}={_quote(v)}" for k, v in fields.items())


_PLAIN = logging.Formatter()


class _LineFormatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        return format_record(record, as_json=self.as_json)


class _GridgovHandler(logging.StreamHandler):
    """The handler :func:`configure_logging` installs (recognised on a second call). Without a
    stream of its own it writes to whatever ``sys.stderr`` is at the time of the record."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream)
        self._own = stream

    @property
    def stream(self) -> IO[str]:
        return self._own if self._own is not None else sys.stderr

    @stream.setter
    def stream(self, value: IO[str] | None) -> None:
        self._own = value


def configure_logging(
    level: str | int | None = None, *, fmt: str | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """Install the one handler on the root logger (replacing the one a previous call installed)
    and set the level of ``gridgov.*``. ``level`` and ``fmt`` default to the settings
    (``GRIDGOV_LOG_LEVEL``, ``GRIDGOV_LOG_FORMAT``). Returns the handler."""
    if level is None or fmt is None:
        from grid.config import get_settings

        settings = get_settings()
        level = settings.log_level if level is None else level
        fmt = settings.log_format if fmt is None else fmt
    root = logging.getLogger()
    for h in [h for h in root.handlers if isinstance(h, _GridgovHandler)]:
        root.removeHandler(h)
    handler = _GridgovHandler(stream)
    handler.setFormatter(_LineFormatter(as_json=fmt == "json"))
    root.addHandler(handler)
    logging.getLogger("gridgov").setLevel(level.upper() if isinstance(level, str) else level)
    return handler
