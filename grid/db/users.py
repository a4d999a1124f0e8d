"""People and systems: users (password login), API keys (systems), and the contact audit log.

Every request re-reads its user or key row, so disabling a user or revoking a key takes effect
on the next request, whatever tokens are still in flight.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from grid.auth import (
    Principal,
    check_roles,
    check_scope,
    hash_password,
    principal_for,
    username_key,
    verify_password,
)
from grid.db.models import ApiKey, AppUser, ContactAccess
from grid.errors import Conflict, Forbidden, InputError, NotFound, Unauthorized

USERNAME_MAX = 64


def _check_units(session: Session, codes: Sequence[str]) -> None:
    from grid.db.models import Unit

    if not codes:
        return
    known = set(session.scalars(select(Unit.code).where(Unit.code.in_(list(codes))).distinct()))
    missing = [c for c in codes if c not in known]
    if missing:
        raise InputError(f"unknown unit code(s): {', '.join(missing)}", code="unit_not_found")


def add_user(
    session: Session,
    username: str,
    password: str,
    roles: Sequence[str],
    scope: Sequence[str] = (),
    full_name: str = "",
) -> AppUser:
    name = username.strip()
    if not name or len(name) > USERNAME_MAX or any(ch.isspace() for ch in name):
        raise InputError(
            f"a username is 1..{USERNAME_MAX} characters without spaces", code="invalid_username"
        )
    r = check_roles(roles)
    sc = check_scope(r, scope)
    _check_units(session, sc)
    key = username_key(name)
    for other in session.scalars(select(AppUser.username)):
        if username_key(other) == key:
            what = (
                "exists"
                if other == name
                else f"exists as {other!r} (names differing only in case or dashes are one)"
            )
            raise Conflict(f"a user named {name!r} {what}", code="user_exists")
    row = AppUser(
        username=name, full_name=full_name, password_hash=hash_password(password, name), roles=r, scope=sc
    )
    session.add(row)
    session.flush()
    return row


def set_disabled(session: Session, username: str, disabled: bool = True) -> AppUser:
    row = session.scalar(select(AppUser).where(AppUser.username == username))
    if row is None:
        raise NotFound(f"no user named {username!r}", code="user_not_found")
    row.disabled_at = dt.datetime.now(dt.UTC) if disabled else None
    session.flush()
    return row


def list_users(session: Session) -> list[dict[str, Any]]:
    return [
        {
            "username": u.username,
            "full_name": u.full_name,
            "roles": list(u.roles),
            "scope": list(u.scope or []),
            "created_at": u.created_at,
            "disabled_at": u.disabled_at,
        }
        for u in session.scalars(select(AppUser).order_by(AppUser.username))
    ]


def authenticate(session: Session, username: str, password: str) -> AppUser:
    """The active user with this password, else 401 ``invalid_credentials`` (same answer and
    time whether the user is unknown, disabled or the password wrong)."""
    row = session.scalar(select(AppUser).where(AppUser.username == username))
    ok = verify_password(password, row.password_hash if row is not None else None)
    if row is None or not ok or row.disabled_at is not None:
        raise Unauthorized(
            "wrong username or password, or the account is disabled", code="invalid_credentials"
        )
    return row


def user_principal(session: Session, username: str) -> Principal:
    row = session.scalar(select(AppUser).where(AppUser.username == username))
    if row is None or row.disabled_at is not None:
        raise Unauthorized("the account is unknown or disabled", code="account_disabled")
    return principal_for("user", row.username, row.roles, row.scope or ())


def key_principal(session: Session, key: str, exempt: frozenset[str] = frozenset()) -> Principal:
    row = verify_key(session, key)
    if row is None:
        raise Unauthorized("unknown or revoked API key", code="invalid_api_key")
    return principal_for("key", row.name, row.roles, row.scope or (), exempt=row.name in exempt)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(
    session: Session, name: str, roles: Sequence[str] = ("operator",), scope: Sequence[str] = ()
) -> tuple[str, ApiKey]:
    """A new API key with validated roles and scope: ``(key, row)``; the key is returned once and
    only its hash is stored."""
    if not name.strip():
        raise InputError("a key needs a name", code="invalid_input")
    r = check_roles(roles)
    sc = check_scope(r, scope)
    _check_units(session, sc)
    if session.scalar(select(ApiKey).where(ApiKey.name == name)) is not None:
        raise Conflict(f"a key named {name!r} exists", code="key_exists")
    key = "ggk_" + secrets.token_urlsafe(32)
    row = ApiKey(name=name, key_hash=_hash(key), prefix=key[:10], roles=r, scope=sc)
    session.add(row)
    session.flush()
    return key, row


def verify_key(session: Session, key: str | None) -> ApiKey | None:
    """The active key row for ``key``, else None."""
    if not key:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash(key)))
    if row is None or row.revoked_at is not None:
        return None
    return row


def list_keys(session: Session) -> list[dict[str, Any]]:
    """Every API key, by name: name, prefix, roles, scope, created_at, revoked_at (never the hash)."""
    return [
        {
            "name": k.name,
            "prefix": k.prefix,
            "roles": list(k.roles),
            "scope": list(k.scope or []),
            "created_at": k.created_at,
            "revoked_at": k.revoked_at,
        }
        for k in session.scalars(select(ApiKey).order_by(ApiKey.name))
    ]


def revoke_key(session: Session, name: str) -> None:
    row = session.scalar(select(ApiKey).where(ApiKey.name == name))
    if row is None:
        raise NotFound(f"no key named {name!r}", code="key_not_found")
    row.revoked_at = dt.datetime.now(dt.UTC)


# ---- the contact audit log ----------------------------------------------------------------------------


def log_contact_read(session: Session, who: Principal, petition_id: int, kind: str, via: str) -> None:
    """Write one audit row (in the caller's transaction: no answer without its audit row)."""
    session.add(ContactAccess(actor=who.actor[:160], petition_id=petition_id, kind=kind, via=via[:200]))
    session.flush()


def contact_reads(
    session: Session, *, petition_id: int | None = None, actor: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    conds = []
    if petition_id is not None:
        conds.append(ContactAccess.petition_id == petition_id)
    if actor:
        conds.append(ContactAccess.actor == actor)
    rows = session.scalars(
        select(ContactAccess).where(*conds).order_by(ContactAccess.id.desc()).limit(limit)
    ).all()
    return [
        {"at": r.at.isoformat(), "actor": r.actor, "petition_id": r.petition_id, "kind": r.kind, "via": r.via}
        for r in rows
    ]


def check_unit_scope(session: Session, who: Principal, code: str, date: dt.date | None = None) -> None:
    """403 ``out_of_scope`` unless unit ``code`` lies inside the principal's scope (itself or a
    descendant of a scope unit). Units are public, so this confirms nothing about petitions."""
    from grid.auth import in_scope
    from grid.db.jurisdiction import get_index

    scope = who.petition_scope
    if scope is None:
        return
    idx = get_index(session, date or dt.date.today())
    chain = [c["code"] for c in idx.chain(code)] or [code]
    if not in_scope(chain, scope):
        raise Forbidden(
            f"{code} is outside the units {who.actor} is limited to ({', '.join(scope)})", code="out_of_scope"
        )
