"""Test fixtures: a real PostGIS (never mocked, never skipped).

The test database (GRIDGOV_TEST_DATABASE_URL, prepared by scripts/bootstrap) is migrated from
scratch once per run (downgrade to base, upgrade to head: both directions are exercised).
Each ``session`` test runs inside a transaction that is rolled back. A missing database is an
error, and any skipped test fails the run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import ClassVar

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from grid.config import get_settings
from grid.db.models import Base

# The suite runs in development mode (production refuses to start without a secret key, which
# tests/test_security.py checks on its own settings objects).
os.environ.setdefault("GRIDGOV_ENVIRONMENT", "development")

# the browser fixtures (one chromium for the whole run: two sync Playwright instances cannot coexist)
pytest_plugins = ["tests.browser"]

# every table the tests may fill (all but the seeded level definitions and the generation counter)
TABLES = [t.name for t in Base.metadata.sorted_tables if t.name not in ("unit_level", "store_generation")]
_skipped: list[str] = []


class _HandlerTracebacks(logging.Handler):
    """Unexpected errors of request handlers (api/errors.py's internal_error, Open311's) logged
    anywhere in the run: the suite fails when one is left (issue 20: zero 5xx)."""

    records: ClassVar[list[logging.LogRecord]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and str(record.msg).startswith(("unexpected error", "open311: unexpected error")):
            self.records.append(record)


logging.getLogger("gridgov.api").addHandler(_HandlerTracebacks(level=logging.ERROR))


@pytest.fixture()
def handler_tracebacks() -> list[logging.LogRecord]:
    """The list of handler tracebacks logged so far (a test that causes one on purpose clears it)."""
    return _HandlerTracebacks.records


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and not os.environ.get("GRIDGOV_ALLOW_SKIPS"):
        print(
            f"\nFAILED: {len(_skipped)} test(s) were skipped; a skipped test is a failed test: {_skipped[:5]}"
        )
        session.exitstatus = 1
    if _HandlerTracebacks.records:
        for rec in _HandlerTracebacks.records[:5]:
            print(f"\nFAILED: a request handler raised: {rec.getMessage()}")
        print(f"FAILED: {len(_HandlerTracebacks.records)} unexpected error(s) logged by request handlers")
        session.exitstatus = 1


@pytest.fixture(scope="session")
def db_url() -> str:
    return get_settings().test_database_url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    from grid.db.migrate import downgrade, upgrade

    eng = create_engine(db_url)
    try:
        with eng.connect() as c:
            c.execute(text("select postgis_lib_version()"))
    except Exception as exc:  # fail loudly: a database test that cannot run is a failure
        raise RuntimeError(
            f"PostGIS test database unreachable at {eng.url.render_as_string(hide_password=True)}: {exc}. "
            "Run `make test` (it runs scripts/bootstrap) or set GRIDGOV_TEST_DATABASE_URL."
        ) from exc
    downgrade(db_url, "base")
    upgrade(db_url, "head")
    yield eng
    eng.dispose()


@pytest.fixture()
def session(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test (commits become savepoints)."""
    conn = engine.connect()
    trans = conn.begin()
    s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield s
    finally:
        s.close()
        trans.rollback()
        conn.close()


def truncate(engine: Engine) -> None:
    with engine.begin() as c:
        c.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))


@pytest.fixture()
def committed_db(engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """For CLI/API tests that commit: the test database, emptied before and after; settings point at it."""
    truncate(engine)
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()
    truncate(engine)


@pytest.fixture()
def new_city(committed_db: str, engine: Engine) -> Iterator[str]:
    """An empty store whose level definitions are put back afterwards (``levels load`` and
    ``city init`` replace them)."""
    with engine.connect() as c:
        saved = [dict(r) for r in c.execute(text("SELECT * FROM unit_level ORDER BY rank")).mappings()]
    yield committed_db
    truncate(engine)
    with engine.begin() as c:
        c.execute(text("DELETE FROM unit_level"))
        for row in saved:
            cols = ", ".join(row)
            c.execute(
                text(f"INSERT INTO unit_level ({cols}) VALUES ({', '.join(':' + k for k in row)})"), row
            )
