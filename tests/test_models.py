"""Round trip of every model through the real PostGIS, and the history constraints."""

from __future__ import annotations

import datetime as dt

import pytest
import shapely
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, Point, box
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grid.db.models import (
    Building,
    BuildingCell,
    Category,
    Department,
    ImportRun,
    RoutingRule,
    Staff,
    Unit,
    UnitLevel,
)
from grid.db.store import assign_staff, load_levels, staff_at, units_at

D0 = dt.date(2023, 1, 1)
D1 = dt.date(2024, 1, 1)
SQUARE = MultiPolygon([box(116.45, 39.88, 116.46, 39.89)])


def _unit(code: str = "110105", level: str = "district", **kw: object) -> Unit:
    base = dict(
        level=level,
        code=code,
        name="朝阳区",
        parent_code=None,
        geom=from_shape(SQUARE, srid=4326),
        valid_from=D0,
        source="test",
        source_datum="wgs84",
    )
    base.update(kw)
    return Unit(**base)  # type: ignore[arg-type]


def test_levels_are_seeded_by_the_migration(session: Session) -> None:
    lv = load_levels(session)
    assert lv.names == ["district", "street", "community", "grid"]
    assert [x.code_length for x in lv] == [6, 9, 12, 15]
    assert session.get(UnitLevel, "grid").parent == "community"  # type: ignore[union-attr]


def test_every_model_round_trips(session: Session) -> None:
    run = ImportRun(
        kind="units",
        source="t.geojson",
        params={"a": 1},
        findings=[{"kind": "gap"}],
        accepted=["gap"],
        repairs=[],
        summary={"new": 1},
    )
    session.add(run)
    session.flush()
    session.add(_unit(import_id=run.id, households=1200, geom_source=shapely.to_wkt(SQUARE)))
    session.add(Staff(unit_code="110105", role="grid_officer", name="王建国", phone="010-1", valid_from=D0))
    session.add(
        Building(
            building_id="B1",
            address="北京市朝阳区广渠路8号院1号楼",
            compound="8号院",
            road="广渠路",
            door_number="8",
            building_no="1",
            geom=from_shape(Point(116.455, 39.885), srid=4326),
            households=120,
            floors=18,
            community_code="110105016059",
            valid_from=D0,
        )
    )
    session.add(BuildingCell(building_id="B1", cell_code="110105016059001", valid_from=D0))
    session.add(Category(code="C01", name="城乡建设", name_en="urban construction"))
    session.flush()
    session.add(Category(code="C0101", name="违法建设", parent_code="C01", needs_place=True))
    session.add(Department(code="110105-cgw", name="朝阳区城市管理委员会", unit_code="110105", kind="城管委"))
    session.flush()
    session.add(
        RoutingRule(category_code="C0101", unit_code="110105", department_code="110105-cgw", role="lead")
    )
    session.flush()
    session.expire_all()

    u = session.scalars(select(Unit)).one()
    assert (u.code, u.name, u.households, u.import_id) == ("110105", "朝阳区", 1200, run.id)
    assert to_shape(u.geom).equals(SQUARE)
    assert session.scalars(select(Staff)).one().name == "王建国"
    b = session.scalars(select(Building)).one()
    assert to_shape(b.geom).equals(Point(116.455, 39.885)) and b.households == 120
    assert session.scalars(select(BuildingCell)).one().cell_code == "110105016059001"
    assert session.get(Category, "C0101").parent_code == "C01"  # type: ignore[union-attr]
    assert session.scalars(select(RoutingRule)).one().department_code == "110105-cgw"
    r = session.get(ImportRun, run.id)
    assert (
        r is not None
        and r.accepted == ["gap"]
        and r.findings == [{"kind": "gap"}]
        and r.started_at is not None
    )
    df = units_at(session, D0, "district")
    assert list(df["code"]) == ["110105"] and df.crs.to_epsg() == 4326


def test_two_versions_of_a_unit_cannot_overlap_in_time(session: Session) -> None:
    session.add(_unit(valid_to=D1))
    session.add(_unit(valid_from=D1))  # adjacent: fine
    session.flush()
    assert len(units_at(session, D0)) == 1 and len(units_at(session, D1)) == 1
    assert len(units_at(session, D0 - dt.timedelta(days=1))) == 0
    session.add(_unit(valid_from=dt.date(2023, 6, 1)))
    with pytest.raises(IntegrityError, match="ex_unit_overlap"):
        session.flush()


def test_validity_must_be_a_forward_interval(session: Session) -> None:
    session.add(_unit(valid_to=D0))
    with pytest.raises(IntegrityError, match="ck_unit_validity"):
        session.flush()


def test_officer_change_creates_no_boundary_version(session: Session) -> None:
    session.add(_unit())
    session.flush()
    versions = session.execute(text("SELECT count(*) FROM unit")).scalar()
    assign_staff(session, "110105", "王建国", valid_from=D0)
    assign_staff(session, "110105", "李秀英", valid_from=D1)
    assert session.execute(text("SELECT count(*) FROM unit")).scalar() == versions == 1
    assert [s.name for s in staff_at(session, "110105", D0)] == ["王建国"]
    assert [s.name for s in staff_at(session, "110105", D1)] == ["李秀英"]
    first = session.scalars(select(Staff).where(Staff.name == "王建国")).one()
    assert first.valid_to == D1
