"""grid/db/maintenance.py: the named reads and deletes of the sample loader and the demo."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.demo import DEMO_KEY_NAME, demo_key
from grid.db.maintenance import delete_keys_named, delete_user, petitions_from_source, unit_has_staff
from grid.db.store import assign_staff
from grid.db.users import add_user, create_key
from tests.world import D0, import_world


def _keys(session: Session, name: str) -> list[str]:
    return list(session.execute(text("SELECT prefix FROM api_key WHERE name = :n"), {"n": name}).scalars())


def test_the_demo_key_is_replaced_not_added(session: Session) -> None:
    first = demo_key(session)
    second = demo_key(session)  # name is unique: without the delete this would fail
    assert first != second
    assert len(_keys(session, DEMO_KEY_NAME)) == 1
    create_key(session, "other", ["operator"])
    assert delete_keys_named(session, DEMO_KEY_NAME) == 1
    assert _keys(session, DEMO_KEY_NAME) == []
    assert len(_keys(session, "other")) == 1  # only the named keys go
    assert delete_keys_named(session, DEMO_KEY_NAME) == 0


def test_delete_user_removes_only_that_account(session: Session) -> None:
    add_user(session, "planner-a", "a long password 1", ["planner"])
    add_user(session, "planner-b", "a long password 2", ["planner"])
    assert delete_user(session, "planner-a") == 1
    assert delete_user(session, "planner-a") == 0
    left = set(session.execute(text("SELECT username FROM app_user")).scalars())
    assert "planner-a" not in left and "planner-b" in left


def test_unit_has_staff_and_petitions_from_source(session: Session, tmp_path: Path) -> None:
    import_world(session, tmp_path)
    assert not unit_has_staff(session, "110105001")
    assign_staff(session, "110105001", "王建国", role="secretary", valid_from=D0)
    assert unit_has_staff(session, "110105001")
    assert not unit_has_staff(session, "110105002")
    assert petitions_from_source(session, "no such source") == 0
