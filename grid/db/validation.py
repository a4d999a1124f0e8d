"""``gridgov validate``: the stored version at a date through :func:`grid.validate.validate_units`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from grid.config import get_settings
from grid.db.store import load_levels, units_at
from grid.validate import validate_units


def validate_store(
    session: Session, date: dt.date, *, level: str | None = None, tolerance_m2: float | None = None
) -> dict[str, Any]:
    s = get_settings()
    levels = load_levels(session)
    names = [level] if level else levels.names
    for n in names:
        levels.by_name(n)
    findings = []
    total = 0
    for n in names:
        units = units_at(session, date, n)
        if units.empty:
            continue
        total += len(units)
        parent = levels.parent_of(n)
        parents = units_at(session, date, parent.name) if parent else None
        findings += validate_units(
            units,
            levels=levels,
            parents=parents,
            tolerance_m2=s.tolerance_m2 if tolerance_m2 is None else tolerance_m2,
            sliver_ratio=s.sliver_ratio,
            sliver_max_m2=s.sliver_max_m2,
            metric_epsg=s.metric_epsg,
        )
    dicts = [f.to_dict() for f in findings]
    return {
        "date": date.isoformat(),
        "levels": names,
        "units": total,
        "errors": sum(f.severity == "error" for f in findings),
        "warnings": sum(f.severity == "warning" for f in findings),
        "findings": dicts,
    }
