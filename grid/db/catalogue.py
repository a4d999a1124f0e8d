"""Seeding and reading the category and routing catalogues.

The catalogue's data come from the caller: :func:`save_catalogue` takes the categories and a
``build_routing`` that makes the departments and routing rules for the districts and streets in
force (the sample city's is :func:`data.routing.build_routing`, and :func:`data.routing.load_catalogue`
passes it with ``data/categories.json``), so every answer names a department of that place
(朝阳区城市管理委员会, 双井街道城市管理办公室), never a department in general. Loading is idempotent:
it replaces the catalogue in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from grid.db.models import Category, Department, RoutingRule
from grid.db.store import units_at

__all__ = ["CATEGORIES", "RoutingBuilder", "categories", "read_categories", "route", "save_catalogue"]

CATEGORIES = Path(__file__).resolve().parents[2] / "data" / "categories.json"

#: ``build_routing(districts, streets, categories, city=(code, name)) -> (departments, rules)``:
#: districts as ``(code, name)``, streets as ``(code, name, district_code)``; departments as dicts
#: with ``code, name, unit_code, kind`` (and ``phone``), rules with ``category_code, unit_code,
#: department_code, role``.
RoutingBuilder = Callable[..., tuple[list[dict[str, Any]], list[dict[str, Any]]]]


def read_categories(path: Path = CATEGORIES) -> list[dict[str, Any]]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    rows = raw["categories"] if isinstance(raw, dict) else raw
    return [dict(r) for r in rows]


def save_catalogue(
    session: Session,
    date: dt.date,
    *,
    categories: Sequence[dict[str, Any]],
    build_routing: RoutingBuilder,
) -> dict[str, int]:
    """Replace the catalogue: ``categories`` upserted, departments and routing rules rebuilt by
    ``build_routing`` for the districts and streets in force at ``date``; the counts."""
    from grid.config import get_settings

    settings = get_settings()

    cats = [dict(c) for c in categories]
    districts = units_at(session, date, "district")
    streets = units_at(session, date, "street")
    departments, rules = build_routing(
        [(r.code, r["name"]) for _, r in districts.iterrows()],
        [(r.code, r["name"], r.parent_code) for _, r in streets.iterrows()],
        cats,
        city=(settings.city_code, settings.city_name),
    )
    session.execute(text("DELETE FROM routing_rule"))
    session.execute(text("DELETE FROM department"))
    # categories are upserted, not replaced: petitions refer to them (a reload must not fail once
    # petitions exist); a category that left the catalogue is kept while a petition uses it
    session.execute(text("UPDATE category SET parent_code = NULL"))
    session.flush()
    keep = {c["code"] for c in cats}
    session.execute(
        text(
            "DELETE FROM category c WHERE NOT (c.code = ANY(:keep)) "
            "AND NOT EXISTS (SELECT 1 FROM petition p WHERE p.category_code = c.code)"
        ),
        {"keep": sorted(keep)},
    )
    for c in cats:
        session.merge(
            Category(
                code=c["code"],
                name=c["name"],
                name_en=c.get("name_en", ""),
                parent_code=None,
                scheme=c.get("scheme", "12345"),
                needs_place=bool(c.get("needs_place", True)),
                urgency=c.get("urgency", "general"),
            )
        )
    session.flush()
    for c in cats:
        if c.get("parent_code"):
            session.get(Category, c["code"]).parent_code = c["parent_code"]  # type: ignore[union-attr]
    session.add_all(
        Department(
            code=d["code"], name=d["name"], unit_code=d["unit_code"], kind=d["kind"], phone=d.get("phone")
        )
        for d in departments
    )
    session.flush()
    session.add_all(
        RoutingRule(
            category_code=r["category_code"],
            unit_code=r["unit_code"],
            department_code=r["department_code"],
            role=r["role"],
        )
        for r in rules
    )
    session.flush()
    return {"categories": len(cats), "departments": len(departments), "rules": len(rules)}


def categories(session: Session) -> list[Category]:
    return list(session.scalars(select(Category).order_by(Category.code)).all())


def route(session: Session, category_code: str, unit_chain: list[str], date: dt.date) -> dict[str, Any]:
    """Lead department and co-handlers for a category at a place (nearest unit first in ``unit_chain``).

    Reads only the rules of the units in the chain; the resolution rule is :func:`grid.routing.resolve`.
    """
    from grid.errors import NotFound
    from grid.routing import resolve

    cats = [{"code": c.code, "parent_code": c.parent_code} for c in categories(session)]
    if category_code not in {c["code"] for c in cats}:
        raise NotFound(f"unknown category {category_code!r}", code="unknown_category")
    rules = [
        {
            "category_code": r.category_code,
            "unit_code": r.unit_code,
            "department_code": r.department_code,
            "role": r.role,
            "valid_from": r.valid_from,
            "valid_to": r.valid_to,
        }
        for r in session.scalars(select(RoutingRule).where(RoutingRule.unit_code.in_(unit_chain))).all()
    ]
    answer = resolve(category_code, unit_chain, rules, cats, date=date)
    codes = [answer.lead, *answer.co]
    names = {
        d.code: d.name for d in session.scalars(select(Department).where(Department.code.in_(codes))).all()
    }
    out = answer.to_dict()
    out["lead_name"] = names.get(answer.lead, answer.lead)
    out["co_names"] = [names.get(c, c) for c in answer.co]
    return out
