"""Engines and sessions. One engine per URL, created lazily (never at import time)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from grid.config import get_settings
from grid.errors import DatabaseUnavailable


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().database_url
    # hide_parameters: an error's text (logged, or raised to a caller) never carries request data
    return create_engine(url, pool_pre_ping=True, future=True, hide_parameters=True)


@lru_cache(maxsize=8)
def _factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    """The (cached) session factory of a database URL (default: the configured one)."""
    return _factory(url or get_settings().database_url)


@contextmanager
def session_scope(url: str | None = None, *, fast_generation: bool = False) -> Iterator[Session]:
    """A transaction: commits on success, rolls back on any error (all or nothing). The one way to
    open a session (the API's ``SessionDep`` too). ``fast_generation``: the store generation is read
    on a light per-thread connection (API requests, which read committed state)."""
    session = session_factory(url)()
    if fast_generation:
        session.info["fast_generation"] = True
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def check_database(url: str | None = None) -> str:
    """Return the PostGIS version, or raise :class:`DatabaseUnavailable` with a precise message."""
    eng = get_engine(url)
    try:
        with eng.connect() as conn:
            return str(conn.execute(text("select postgis_lib_version()")).scalar())
    except OperationalError as exc:
        where = eng.url.render_as_string(hide_password=True)
        raise DatabaseUnavailable(
            f"cannot reach PostGIS at {where}: {exc.orig}. Run scripts/bootstrap (or make test / make demo), "
            "or set GRIDGOV_DATABASE_URL."
        ) from exc
