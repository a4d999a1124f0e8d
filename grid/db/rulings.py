"""Planners' rulings: who owns a disputed place. Versioned: a ruling is superseded, never edited."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.db.models import Ruling
from grid.db.store import load_levels
from grid.errors import Conflict, InputError, NotFound

MAX_RULING_VERTICES = 10_000


def add_ruling(
    session: Session,
    geom: Any,
    *,
    owner_code: str,
    reason: str,
    author: str,
    level: str | None = None,
    valid_from: dt.date | None = None,
    supersedes: int | None = None,
) -> dict[str, Any]:
    d = valid_from or dt.date.today()
    if geom is None or shapely.is_empty(geom):
        raise InputError("a ruling needs a place (point, line or polygon)", code="invalid_geometry")
    if shapely.get_num_coordinates(geom) > MAX_RULING_VERTICES:
        raise InputError(
            f"a ruling's place may have at most {MAX_RULING_VERTICES} vertices", code="geometry_too_large"
        )
    if not shapely.is_valid(geom):
        raise InputError(f"invalid place: {shapely.is_valid_reason(geom)}", code="invalid_geometry")
    if not reason.strip() or not author.strip():
        raise InputError("a ruling needs a reason and an author", code="invalid_input")
    row = session.execute(
        text(
            "SELECT level FROM unit WHERE code = :c AND valid_from <= :d AND (valid_to IS NULL OR :d < valid_to)"
        ),
        {"c": owner_code, "d": d},
    ).first()
    if row is None:
        raise NotFound(f"owner {owner_code} is not a unit in force on {d}", code="unit_not_found")
    lv = level or row[0]
    load_levels(session).by_name(lv)
    if lv != row[0]:
        raise InputError(f"owner {owner_code} is a {row[0]}, not a {lv}", code="invalid_input")
    if supersedes is not None:
        old = session.get(Ruling, supersedes)
        if old is None:
            raise NotFound(f"no ruling {supersedes}", code="ruling_not_found")
        if old.valid_to is not None and old.valid_to <= d:
            raise Conflict(f"ruling {supersedes} already ended on {old.valid_to}", code="ruling_closed")
        if old.valid_from >= d:
            raise Conflict(
                f"ruling {supersedes} starts on {old.valid_from}; supersede it from a later date",
                code="ruling_conflict",
            )
        old.valid_to = d
    r = Ruling(
        geom=f"SRID=4326;{shapely.to_wkt(geom)}",
        level=lv,
        owner_code=owner_code,
        reason=reason,
        author=author,
        valid_from=d,
        supersedes=supersedes,
    )
    session.add(r)
    session.flush()
    return get_ruling(session, r.id)


def get_ruling(session: Session, rid: int) -> dict[str, Any]:
    rows = _rows(session, "WHERE id = :id", {"id": rid})
    if not rows:
        raise NotFound(f"no ruling {rid}", code="ruling_not_found")
    return rows[0]


def list_rulings(
    session: Session, at: dt.date | None = None, owner: str | None = None
) -> list[dict[str, Any]]:
    where: list[str] = []
    params: dict[str, Any] = {}
    if at is not None:
        where.append("valid_from <= :d AND (valid_to IS NULL OR :d < valid_to)")
        params["d"] = at
    if owner is not None:
        where.append("owner_code = :o")
        params["o"] = owner
    return _rows(session, ("WHERE " + " AND ".join(where)) if where else "", params)


def _rows(session: Session, where: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    q = (
        "SELECT id, level, owner_code, reason, author, created_at, valid_from, valid_to, supersedes, "
        f"ST_AsGeoJSON(geom) AS gj FROM ruling {where} ORDER BY id"
    )
    out = []
    for r in session.execute(text(q), params).mappings():
        d = dict(r)
        d["geometry"] = json.loads(d.pop("gj"))
        out.append(d)
    return out
