"""Plain functions over the database: everything else reaches storage through these.

Every read of boundaries is made at a date: the rows with ``valid_from <= D`` and
(``valid_to`` is NULL or ``D < valid_to``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from grid.db.models import Staff, UnitLevel
from grid.errors import InputError, NotFound
from grid.levels import Level, Levels

VALID_AT = "(valid_from <= :d AND (valid_to IS NULL OR :d < valid_to))"
UNIT_COLUMNS = [
    "id",
    "code",
    "name",
    "level",
    "parent_code",
    "households",
    "valid_from",
    "valid_to",
    "source",
    "source_datum",
    "geometry",
]


def load_levels(session: Session) -> Levels:
    rows = session.scalars(select(UnitLevel).order_by(UnitLevel.rank)).all()
    return Levels(
        [
            Level(
                r.name,
                r.rank,
                r.code_length,
                r.label,
                r.pattern,
                r.parent,
                min_length=r.min_length,
                max_length=r.max_length,
                nesting=r.nesting or "prefix",
            )
            for r in rows
        ]
    )


def save_levels(session: Session, levels: Levels, *, add: bool = False) -> list[str]:
    """Define the levels of a deployment; returns the names of the levels written.

    Without ``add`` the definitions are replaced, only while no unit is stored. With ``add``
    the levels of ``levels`` that are not defined yet are appended (an independent layer beside
    the existing ones, e.g. police districts beside wards): a level already defined must be
    given unchanged, a new one must not take a rank in use, and no unit of a new level may
    exist.
    """
    from grid.errors import Conflict

    if not add:
        if session.execute(text("SELECT count(*) FROM unit")).scalar():
            raise Conflict(
                "levels can only be redefined in an empty store (units are already imported); "
                "to add an independent layer's levels beside them, use `gridgov levels load --add FILE` "
                "or `gridgov city init ... --add-layer`",
                code="levels_in_use",
            )
        session.execute(text("DELETE FROM unit_level"))
        new = list(levels)
    else:
        current = load_levels(session)
        known = {lv.name: lv for lv in current}
        new = [lv for lv in levels if lv.name not in known]
        for lv in levels:
            if lv.name in known and known[lv.name] != lv:
                raise Conflict(
                    f"level {lv.name!r} is already defined differently ({known[lv.name].describe_format()}); "
                    "--add only appends new levels",
                    code="levels_in_use",
                )
        if not new:
            raise Conflict(
                f"every level given is already defined ({', '.join(levels.names)}); nothing to add",
                code="levels_in_use",
            )
        # the union must still be a valid set of levels (ranks unique, parents known)
        merged = Levels([*current, *new])
        del merged
        names = [lv.name for lv in new]
        n = session.execute(
            text("SELECT count(*) FROM unit WHERE level = ANY(:names)"), {"names": names}
        ).scalar()
        if n:
            raise Conflict(f"units of {', '.join(names)} already exist", code="levels_in_use")
    for lv in sorted(new, key=lambda x: x.rank):  # parents first: Levels is sorted by rank
        session.add(
            UnitLevel(
                name=lv.name,
                rank=lv.rank,
                code_length=lv.code_length,
                pattern=lv.pattern,
                label=lv.label,
                parent=lv.parent,
                min_length=lv.min_length,
                max_length=lv.max_length,
                nesting=lv.nesting,
            )
        )
        session.flush()
    return [lv.name for lv in new]


def _frame(session: Session, sql: str, params: dict[str, Any]) -> gpd.GeoDataFrame:
    rows = session.execute(text(sql), params).mappings().all()
    if not rows:
        # typed even when empty, so that callers' ``.str`` and comparisons work on no rows too
        text_cols = {"code", "name", "level", "parent_code", "source", "source_datum"}
        cols = {
            c: pd.Series([], dtype="str" if c in text_cols else "object")
            for c in UNIT_COLUMNS
            if c != "geometry"
        }
        return gpd.GeoDataFrame(cols, geometry=[], crs=4326)
    df = pd.DataFrame([dict(r) for r in rows])
    geoms = shapely.from_wkb([bytes(b) for b in df.pop("wkb")])
    return gpd.GeoDataFrame(df, geometry=geoms, crs=4326)


def units_at(
    session: Session,
    date: dt.date,
    level: str | None = None,
    codes: Iterable[str] | None = None,
    parent_codes: Iterable[str] | None = None,
) -> gpd.GeoDataFrame:
    """The boundary version at ``date``: one row per unit in force, as a GeoDataFrame (EPSG:4326)."""
    where = [VALID_AT]
    params: dict[str, Any] = {"d": date}
    if level is not None:
        where.append("level = :level")
        params["level"] = level
    if codes is not None:
        where.append("code = ANY(:codes)")
        params["codes"] = list(codes)
    if parent_codes is not None:
        where.append("parent_code = ANY(:pcodes)")
        params["pcodes"] = list(parent_codes)
    sql = (
        "SELECT id, code, name, level, parent_code, households, valid_from, valid_to, source, source_datum, "
        f"ST_AsBinary(geom) AS wkb FROM unit WHERE {' AND '.join(where)} ORDER BY level, code"
    )
    return _frame(session, sql, params)


def unit_history(session: Session, code: str) -> gpd.GeoDataFrame:
    sql = (
        "SELECT id, code, name, level, parent_code, households, valid_from, valid_to, source, source_datum, "
        "ST_AsBinary(geom) AS wkb FROM unit WHERE code = :code ORDER BY valid_from"
    )
    return _frame(session, sql, {"code": code})


def get_unit(session: Session, code: str, date: dt.date) -> dict[str, Any]:
    df = units_at(session, date, codes=[code])
    if df.empty:
        known = session.execute(
            text(
                "SELECT min(valid_from), max(valid_to), bool_or(valid_to IS NULL) FROM unit WHERE code = :c"
            ),
            {"c": code},
        ).one()
        if known[0] is None:
            raise NotFound(f"no unit with code {code}", code="unit_not_found")
        until = "now" if known[2] else str(known[1])
        raise NotFound(
            f"unit {code} is not in force on {date} (it exists from {known[0]} to {until})",
            code="unit_not_in_force",
        )
    row = df.iloc[0]
    return {**{k: row[k] for k in df.columns if k != "geometry"}, "geometry": row.geometry}


def boundary_version(session: Session, date: dt.date) -> dict[str, Any]:
    """What is in force at ``date``: counts per level, the newest version date and last import."""
    rows = session.execute(
        text(
            f"SELECT level, count(*) AS n, max(valid_from) AS since FROM unit WHERE {VALID_AT} GROUP BY level"
        ),
        {"d": date},
    ).all()
    last = session.execute(text("SELECT max(id) FROM import_run")).scalar()
    since = max((r.since for r in rows), default=None)
    return {
        "date": date.isoformat(),
        "version": since.isoformat() if since else None,
        "units": {r.level: r.n for r in rows},
        "last_import": last,
    }


def staff_at(session: Session, unit_code: str, date: dt.date, role: str | None = None) -> list[Staff]:
    q = select(Staff).where(
        Staff.unit_code == unit_code,
        Staff.valid_from <= date,
        (Staff.valid_to.is_(None)) | (Staff.valid_to > date),
    )
    if role:
        q = q.where(Staff.role == role)
    return list(session.scalars(q.order_by(Staff.role, Staff.name)).all())


def assign_staff(
    session: Session,
    unit_code: str,
    name: str,
    *,
    role: str = "grid_officer",
    phone: str | None = None,
    valid_from: dt.date,
) -> Staff:
    """Put ``name`` in office for ``role`` of a unit from ``valid_from``, closing the predecessor.

    This never touches the unit's boundary versions.
    """
    from grid.db.limits import string_limits
    from grid.inputs import check_text

    for field, value in (("unit_code", unit_code), ("name", name), ("role", role), ("phone", phone)):
        if isinstance(value, str):  # the shared rule: NUL and other controls cannot be stored
            check_text(value, f"staff of {unit_code!r}: {field}")
    name = (name or "").strip()
    if not name:
        raise InputError(f"staff of {unit_code}: a name is required", code="invalid_value")
    role = (role or "").strip()
    widths = string_limits(Staff)  # the widths of the staff columns
    for field, value in (("role", role), ("phone", phone)):
        limit = widths[field]
        if value is not None and len(value) > limit:
            raise InputError(
                f"staff of {unit_code}: {field} longer than {limit} characters", code="invalid_value"
            )
    if not role:
        raise InputError(f"staff of {unit_code}: a role is required", code="invalid_value")
    if session.execute(text("SELECT 1 FROM unit WHERE code = :c LIMIT 1"), {"c": unit_code}).scalar() is None:
        raise NotFound(f"no unit with code {unit_code}", code="unit_not_found")
    current = staff_at(session, unit_code, valid_from, role)
    later = session.scalars(
        select(Staff).where(Staff.unit_code == unit_code, Staff.role == role, Staff.valid_from > valid_from)
    ).first()
    if later is not None:
        from grid.errors import Conflict

        raise Conflict(f"{unit_code} already has a {role} from {later.valid_from}; assign from a later date")
    for s in current:
        if s.valid_from == valid_from:
            s.name, s.phone = name, phone
            return s
        s.valid_to = valid_from
    row = Staff(unit_code=unit_code, role=role, name=name, phone=phone, valid_from=valid_from)
    session.add(row)
    session.flush()
    return row


def buildings_at(
    session: Session, date: dt.date, community_codes: Sequence[str] | None = None
) -> gpd.GeoDataFrame:
    where = ["(b.valid_from <= :d AND (b.valid_to IS NULL OR :d < b.valid_to))"]
    params: dict[str, Any] = {"d": date}
    if community_codes is not None:
        where.append("b.community_code = ANY(:cc)")
        params["cc"] = list(community_codes)
    sql = (
        "SELECT b.building_id, b.address, b.compound, b.road, b.door_number, b.building_no, b.households, "
        "b.floors, b.community_code, bc.cell_code, ST_AsBinary(b.geom) AS wkb, "
        "ST_AsBinary(b.footprint) AS fp_wkb FROM building b "
        "LEFT JOIN building_cell bc ON bc.building_id = b.building_id "
        "AND bc.valid_from <= :d AND (bc.valid_to IS NULL OR :d < bc.valid_to) "
        f"WHERE {' AND '.join(where)} ORDER BY b.building_id"
    )
    rows = session.execute(text(sql), params).mappings().all()
    if not rows:
        cols = [
            "building_id",
            "address",
            "compound",
            "road",
            "door_number",
            "building_no",
            "households",
            "floors",
            "community_code",
            "cell_code",
            "footprint",
        ]
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=4326)
    df = pd.DataFrame([dict(r) for r in rows])
    geoms = shapely.from_wkb([bytes(b) for b in df.pop("wkb")])
    fps = df.pop("fp_wkb")
    df["footprint"] = [None if b is None else shapely.from_wkb(bytes(b)) for b in fps]
    return gpd.GeoDataFrame(df, geometry=geoms, crs=4326)


def cell_bindings(session: Session, date: dt.date) -> dict[str, str]:
    """building_id -> the grid cell it is bound to at ``date``."""
    rows = session.execute(
        text(
            "SELECT building_id, cell_code FROM building_cell WHERE valid_from <= :d "
            "AND (valid_to IS NULL OR :d < valid_to)"
        ),
        {"d": date},
    ).all()
    return {str(b): str(c) for b, c in rows}
