"""One small exception hierarchy for the whole product.

Every error carries a stable machine-readable ``code`` and an HTTP ``status``; the API
renders them as ``{"error": message, "code": code, "details": ...}`` in one handler and the
CLI prints the message and exits non-zero. Never raise bare ``Exception`` from domain code.
"""

from __future__ import annotations

from typing import Any


class GridGovError(Exception):
    """Base class. ``code`` is stable and documented; ``message`` is for people."""

    code: str = "gridgov_error"
    status: int = 400
    headers: dict[str, str] | None = None  # extra HTTP headers of the answer (WWW-Authenticate, Retry-After)

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message, "code": self.code}
        if self.details is not None:
            out["details"] = self.details
        return out


class InputError(GridGovError):
    """Input that cannot be used as given (bad file, bad field, bad value)."""

    code = "invalid_input"
    status = 400


class DatumError(InputError):
    """Unknown datum or coordinates that do not fit the datum declared."""

    code = "unknown_datum"


class CoordinateRangeError(InputError):
    code = "coordinates_out_of_range"


class GeometryError(InputError):
    code = "invalid_geometry"


class CodeFormatError(InputError):
    code = "bad_code"


class TooLarge(InputError):
    """A request whose size (vertices, rows, characters) is over a documented limit."""

    code = "too_large"
    status = 413


class ImportBlocked(GridGovError):
    """An import found blocking findings; nothing was written."""

    code = "import_blocked"
    status = 422


class NotFound(GridGovError):
    code = "not_found"
    status = 404


class Conflict(GridGovError):
    code = "conflict"
    status = 409


class DatabaseUnavailable(GridGovError):
    code = "database_unavailable"
    status = 503


class ConfigError(GridGovError):
    code = "config_error"
    status = 500


class NeedsReview(GridGovError):
    """Input that a person must decide (an ambiguous or unmatched address): never a silent guess."""

    code = "needs_review"
    status = 422


class Unauthorized(GridGovError):
    """No credentials, or credentials that are unknown, expired or revoked."""

    code = "unauthorized"
    status = 401
    headers = {"WWW-Authenticate": "Bearer"}  # noqa: RUF012 (read only)


class Forbidden(GridGovError):
    """Known credentials whose roles do not allow the request."""

    code = "forbidden"
    status = 403


class TooManyRequests(GridGovError):
    """A rate limit was hit; ``retry_after`` seconds until the window frees a slot."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code, details={"retry_after": retry_after})
        self.headers = {"Retry-After": str(retry_after)}


class PayloadTooLarge(GridGovError):
    code = "body_too_large"
    status = 413
