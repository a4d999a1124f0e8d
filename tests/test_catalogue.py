"""The category and routing catalogues, seeded into PostGIS and resolved from it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.routing import load_catalogue
from grid.db.catalogue import read_categories, route
from grid.db.models import Category, Department, RoutingRule
from tests.world import D0, STREETS, import_world


def _world(session: Session, tmp_path: Path) -> None:
    import_world(session, tmp_path, communities=False)


def test_catalogue_loads_for_the_units_in_force_and_is_idempotent(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    counts = load_catalogue(session, D0)
    assert counts["categories"] == len(read_categories()) > 100
    again = load_catalogue(session, D0)
    assert again == counts
    assert session.scalar(select(func.count()).select_from(Category)) == counts["categories"]
    # departments of each place: the city's (placeless consultations), the district's and every
    # street's own offices
    units = set(session.scalars(select(Department.unit_code)).all())
    assert units == {"110000", "110105", *STREETS}
    assert session.scalar(select(func.count()).select_from(RoutingRule)) == counts["rules"]
    schemes = set(session.scalars(select(Category.scheme)).all())
    assert {"12345", "cjt214_event", "cjt214_component"} <= schemes
    assert session.scalars(select(Category).where(Category.needs_place.is_(False))).first() is not None


def test_routing_is_inherited_down_and_overridden_by_streets(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    load_catalogue(session, D0)
    cats = {c["code"]: c for c in read_categories()}
    illegal = next(code for code, c in cats.items() if c["name"] == "违法建设")
    street = route(session, illegal, ["110105001", "110105"], D0)
    assert street["decided_at_unit"] == "110105001" and street["lead"].startswith("110105001-")
    assert not street["fallback"] and street["co"]  # the district's enforcement joins
    assert all(c.startswith("110105") for c in street["co"])
    # a category with no street override is decided by the district's rule
    top = next(
        code for code, c in cats.items() if c.get("parent_code") is None and c.get("scheme") == "12345"
    )
    ans = route(session, top, ["110105001", "110105"], D0)
    assert ans["decided_at_unit"] == "110105" and ans["lead"].startswith("110105-")
    assert ans["lead_name"] != ans["lead"]  # a named department of that place
    # a place with no rules at all falls back to the district government
    none = route(session, top, ["999999"], D0)
    assert none["fallback"] and none["lead"] == "999999-gov"


def test_catalogue_reloads_while_petitions_use_its_categories(session: Session, tmp_path: Path) -> None:
    """`make demo` run twice reloads the catalogue after the sample petitions exist: categories are
    upserted, never deleted from under a petition."""
    from grid.db import petitions as svc

    import_world(session, tmp_path)
    load_catalogue(session, D0)
    code = next(c["code"] for c in read_categories() if c["name"] == "违法建设")
    p = svc.create(
        session, {"text": "违建", "category": code, "lon": 116.41, "lat": 39.94, "datum": "wgs84"}, actor="t"
    )
    session.flush()
    again = load_catalogue(session, D0)  # no foreign-key error
    assert again["categories"] == session.scalar(select(func.count()).select_from(Category))
    assert session.get(Category, code) is not None and p.category_code == code
