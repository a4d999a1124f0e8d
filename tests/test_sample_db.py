"""The Beijing sample city loads through the real importers and validates with zero errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from data.sample import SAMPLE_VALID_FROM, SHUANGJING, build_files
from grid.db.buildings import import_buildings
from grid.db.importer import import_units
from grid.db.validation import validate_store


@pytest.fixture(scope="session")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_files(tmp_path_factory.mktemp("sample"))


def test_sample_city_imports_and_validates_with_zero_errors(
    session: Session, sample_files: dict[str, Path]
) -> None:
    for lv in ("district", "street", "community"):
        r = import_units(
            session,
            sample_files[lv],
            level=lv,
            code_field="code",
            name_field="name",
            parent_field="parent_code",
            source_field="source",
            datum="wgs84",
            valid_from=SAMPLE_VALID_FROM,
        )
        assert r.applied and r.counts["errors"] == 0, r.findings[:3]
    counts = dict(session.execute(text("SELECT level, count(*) FROM unit GROUP BY level")).all())
    assert counts == {"district": 16, "street": 349, "community": 7535}
    b = import_buildings(session, sample_files["buildings"], datum="wgs84", valid_from=SAMPLE_VALID_FROM)
    assert (
        b.applied and b.counts["new"] > 300 and not [q for q in b.problems if q.get("severity") != "warning"]
    )
    placed = session.execute(
        text("SELECT count(*) FROM building WHERE community_code LIKE :p"), {"p": SHUANGJING + "%"}
    ).scalar()
    assert placed == b.counts["new"]  # every synthetic building lies in a 双井 community
    rep = validate_store(session, SAMPLE_VALID_FROM)
    assert rep["errors"] == 0, rep["findings"][:3]
    assert rep["units"] == 16 + 349 + 7535
    approx = session.execute(
        text("SELECT count(*) FROM unit WHERE level <> 'district' AND source LIKE '%approximate%'")
    ).scalar()
    assert approx == 349 + 7535
