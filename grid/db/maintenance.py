"""Small named reads and deletes for the sample city and the demo (``data/sample.py``, ``api/demo.py``).

They keep SQL in the storage layer: what the loaders ask ("is this already loaded?") and what the
demo replaces (its key, its accounts) are functions here, not statements in the callers.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, text
from sqlalchemy.orm import Session

__all__ = ["delete_keys_named", "delete_user", "petitions_from_source", "unit_has_staff"]


def petitions_from_source(session: Session, source: str) -> int:
    """How many petitions were loaded with ``source`` (any unit, any status: a loader's "already
    done?" check, not a reader of petitions)."""
    n = session.execute(text("SELECT count(*) FROM petition WHERE source = :s"), {"s": source}).scalar()
    return int(n or 0)


def unit_has_staff(session: Session, unit_code: str) -> bool:
    """Whether any staff row (of any date) names ``unit_code``."""
    return (
        session.execute(text("SELECT 1 FROM staff WHERE unit_code = :c"), {"c": unit_code}).first()
        is not None
    )


def _deleted(session: Session, sql: str, params: dict[str, Any]) -> int:
    result = session.execute(text(sql), params)
    return int(cast("CursorResult[Any]", result).rowcount or 0)


def delete_keys_named(session: Session, name: str) -> int:
    """Delete the API keys called ``name`` (the demo replaces its own key); how many went."""
    return _deleted(session, "DELETE FROM api_key WHERE name = :n", {"n": name})


def delete_user(session: Session, username: str) -> int:
    """Delete the account ``username`` (the demo recreates its accounts); 1 when it existed, else 0."""
    return _deleted(session, "DELETE FROM app_user WHERE username = :n", {"n": username})
