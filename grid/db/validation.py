"""``gridgov validate``: the stored version at a date through :func:`grid.validate.validate_units`.

The finding kinds accepted by the imports that produced the units in force (``import_run.accepted``,
e.g. ``--accept gap`` or ``--accept-dirty``) are remembered: such findings are still listed, marked
``accepted``, and do not count as blocking errors.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.config import get_settings
from grid.db.store import VALID_AT, load_levels, units_at
from grid.validate import kind_table, sort_for_people, validate_units


def accepted_in_force(session: Session, date: dt.date) -> dict[str, list[str]]:
    """Level -> finding kinds accepted by the imports whose units are in force at ``date``."""
    rows = session.execute(
        text(
            "SELECT DISTINCT u.level, r.accepted FROM unit u JOIN import_run r ON r.id = u.import_id "
            f"WHERE {VALID_AT.replace('valid_', 'u.valid_')}"
        ),
        {"d": date},
    ).all()
    out: dict[str, set[str]] = {}
    for level, kinds in rows:
        out.setdefault(level, set()).update(kinds or [])
    return {lv: sorted(k) for lv, k in sorted(out.items()) if k}


def validate_store(
    session: Session, date: dt.date, *, level: str | None = None, tolerance_m2: float | None = None
) -> dict[str, Any]:
    s = get_settings()
    levels = load_levels(session)
    names = [level] if level else levels.names
    for n in names:
        levels.by_name(n)
    accepted = accepted_in_force(session, date)
    everything = units_at(session, date)
    code_level = dict(zip(everything["code"], everything["level"], strict=True)) if len(everything) else {}
    dicts: list[dict[str, Any]] = []
    total = 0
    for n in names:
        units = units_at(session, date, n)
        if units.empty:
            continue
        total += len(units)
        parent = levels.parent_of(n)
        parents = units_at(session, date, parent.name) if parent else None
        found = validate_units(
            units,
            levels=levels,
            parents=parents,
            tolerance_m2=s.tolerance_m2 if tolerance_m2 is None else tolerance_m2,
            sliver_ratio=s.sliver_ratio,
            sliver_max_m2=s.sliver_max_m2,
            metric_epsg=s.metric_epsg,
            taken_codes={c: lv for c, lv in code_level.items() if lv != n},
        )
        ok = set(accepted.get(n, []))
        for f in found:
            d = f.to_dict()
            d["accepted"] = f.severity == "error" and f.kind in ok
            dicts.append(d)
    ordered = sort_for_people(dicts)  # blocking errors, accepted errors, warnings
    errors = sum(d["severity"] == "error" for d in dicts)
    blocking = sum(d["severity"] == "error" and not d["accepted"] for d in dicts)
    return {
        "date": date.isoformat(),
        "levels": names,
        "units": total,
        "errors": errors,
        "blocking": blocking,
        "warnings": sum(d["severity"] == "warning" for d in dicts),
        "accepted": accepted,
        "by_kind": kind_table(dicts),
        "findings": ordered,
    }
