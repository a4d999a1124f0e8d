"""The store's side of Open311 GeoReport v2 (api/routes/open311.py renders it): the category
catalogue as services, petitions as service requests (scoped like every petition reader), and the
building an ``address_id`` names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from grid.db.models import Building, Category, Department, Petition
from grid.db.petitions import Scope, scope_condition

CLOSED = frozenset({"closed", "merged"})  # our statuses that Open311 calls "closed"


def categories(session: Session) -> list[Category]:
    """Every category of the catalogue, by code."""
    return list(session.scalars(select(Category).order_by(Category.code)))


def category(session: Session, code: str) -> Category | None:
    """One category, or None."""
    return session.get(Category, code)


def category_names(session: Session, codes: Collection[str]) -> dict[str, str]:
    """Category code -> name, for the codes that exist."""
    if not codes:
        return {}
    return {
        c: n for c, n in session.execute(select(Category.code, Category.name).where(Category.code.in_(codes)))
    }


def department_names(session: Session, codes: Collection[str]) -> dict[str, str]:
    """Department code -> name, for the codes that exist."""
    if not codes:
        return {}
    return {
        c: n
        for c, n in session.execute(
            select(Department.code, Department.name).where(Department.code.in_(codes))
        )
    }


def service_requests(
    session: Session,
    *,
    scope: Scope,
    ids: Sequence[int] = (),
    codes: Sequence[str] = (),
    open_only: bool | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 1000,
) -> list[Petition]:
    """Petitions inside ``scope``, newest first, at most ``limit``. ``ids`` given: those petitions
    and no other filter; else received in ``[start, end]``, of the category ``codes`` (any when
    empty), open (``open_only=True``) or closed (``False``) or both (None)."""
    stmt = select(Petition)
    if scope is not None:
        stmt = stmt.where(scope_condition(scope))
    if ids:
        stmt = stmt.where(Petition.id.in_(list(ids)))
    else:
        if start is not None:
            stmt = stmt.where(Petition.received_at >= start)
        if end is not None:
            stmt = stmt.where(Petition.received_at <= end)
        if codes:
            stmt = stmt.where(Petition.category_code.in_(list(codes)))
        if open_only is True:
            stmt = stmt.where(Petition.status.not_in(CLOSED))
        elif open_only is False:
            stmt = stmt.where(Petition.status.in_(CLOSED))
    stmt = stmt.order_by(Petition.received_at.desc(), Petition.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def service_request(session: Session, pid: int, *, scope: Scope) -> Petition | None:
    """Petition ``pid`` if it lies inside ``scope``, else None."""
    found = service_requests(session, scope=scope, ids=[pid], limit=1)
    return found[0] if found else None


def building_address(session: Session, building_id: str, day: dt.date) -> str | None:
    """The address of building ``building_id`` in force on ``day``, or None."""
    return session.scalar(
        select(Building.address)
        .where(
            Building.building_id == building_id,
            Building.valid_from <= day,
            or_(Building.valid_to.is_(None), Building.valid_to > day),
        )
        .order_by(Building.valid_from.desc())
        .limit(1)
    )
