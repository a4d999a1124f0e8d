"""``gridgov partition`` in PostGIS: codes, history and bindings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import Point, box
from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.db.jurisdiction import locate
from grid.db.models import Building
from grid.db.partition import partition
from grid.db.store import units_at
from grid.errors import ImportBlocked, InputError
from grid.partition import PartitionParams
from tests.world import D0, D1, STREETS, import_world

COMM = "110105001001"
AREA = STREETS["110105001"]  # 0.05 x 0.05 deg


def _world(session: Session, tmp_path: Path) -> None:
    import_world(session, tmp_path)


def _add_compound(
    session: Session, prefix: str, x0: float, y0: float, n: int, hh: int, when: dt.date
) -> None:
    for i in range(n):
        session.add(
            Building(
                building_id=f"{prefix}{i:02d}",
                address=f"{prefix}小区{i + 1}号楼",
                geom=from_shape(Point(x0 + 0.0008 * (i % 6), y0 + 0.0008 * (i // 6)), srid=4326),
                households=hh,
                community_code=COMM,
                valid_from=when,
            )
        )
    session.flush()


def _cells(session: Session, d: dt.date) -> dict[str, set[str]]:
    rows = session.execute(
        text(
            "SELECT cell_code, building_id FROM building_cell WHERE valid_from <= :d AND (valid_to IS NULL OR :d < valid_to)"
        ),
        {"d": d},
    ).all()
    out: dict[str, set[str]] = {}
    for c, b in rows:
        out.setdefault(c, set()).add(b)
    return out


def test_partition_codes_history_and_bindings(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    # two compounds far apart: west (12 x 100 = 1,200 hh) and east (12 x 100)
    _add_compound(session, "W", 116.402, 39.93, 12, 100, D0)
    _add_compound(session, "E", 116.440, 39.905, 12, 100, D0)
    r = partition(session, community=COMM, valid_from=D0)
    first = r["communities"][0]
    assert first["new"] == [f"{COMM}{i:03d}" for i in range(1, first["cells"] + 1)] and not first["kept"]
    cells0 = _cells(session, D0)
    assert sum(len(v) for v in cells0.values()) == 24
    grid = units_at(session, D0, "grid")
    assert set(grid["code"]) == set(cells0) and set(grid["parent_code"]) == {COMM}
    # the first partition numbers rows north to south, west to east within a row
    ys = {row.code: row.geometry.representative_point().y for _, row in grid.iterrows()}
    assert ys[f"{COMM}001"] >= ys[max(ys)] - 1e-9 or len(ys) == 1

    # an unchanged re-run keeps every code and writes nothing
    again = partition(session, community=COMM, valid_from=D1)
    assert again["communities"][0]["new"] == [] and again["communities"][0]["retired"] == []
    assert sorted(again["communities"][0]["kept"]) == sorted(cells0)
    assert len(units_at(session, D1, "grid")) == len(grid)

    # a new compound next to the east one: only the cells near it change, new cells get fresh numbers
    d2 = dt.date(2025, 1, 1)
    _add_compound(session, "N", 116.440, 39.91, 6, 100, d2)
    r2 = partition(session, community=COMM, valid_from=d2)["communities"][0]
    west_cells = {c for c, bs in cells0.items() if any(b.startswith("W") for b in bs)}
    assert west_cells <= set(r2["kept"])  # far from the change: same code
    assert r2["new"] and all(int(c[-3:]) > max(int(x[-3:]) for x in cells0) for c in r2["new"])
    retired = set(r2["retired"])
    assert not (retired & west_cells)
    now = units_at(session, d2, "grid")
    assert set(now["code"]) == (set(cells0) - retired) | set(r2["new"])
    # history: the retired cells answer for old dates, not for new ones
    old = units_at(session, D1, "grid")
    assert retired <= set(old["code"]) and not (retired & set(now["code"]))
    binding = session.execute(
        text("SELECT cell_code, valid_from, valid_to FROM building_cell WHERE building_id='N00'")
    ).all()
    assert len(binding) == 1 and binding[0][1] == d2
    # a point in the old east cell still resolves to it on an old date
    pt = (116.4404, 39.9054)
    assert locate(session, *pt, at=D1)["owner"]["code"] in cells0


def test_partition_errors_are_clear(session: Session, tmp_path: Path) -> None:
    _world(session, tmp_path)
    with pytest.raises(ImportBlocked) as e:
        partition(session, community=COMM, valid_from=D0)
    assert e.value.details["failures"][0]["code"] == "no_buildings"
    with pytest.raises(InputError, match="exactly one"):
        partition(session, community=COMM, street="110105001", valid_from=D0)
    with pytest.raises(InputError):
        PartitionParams(target=300, min=400, max=200)
    assert session.execute(text("SELECT count(*) FROM unit WHERE level = 'grid'")).scalar() == 0
    _ = box
