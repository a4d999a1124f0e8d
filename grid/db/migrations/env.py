"""Alembic environment: the URL comes from the Config attribute set by grid.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from grid.config import get_settings
from grid.db.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    # PostGIS' own tables (spatial_ref_sys, tiger, topology) are not ours.
    return not (type_ == "table" and reflected and compare_to is None)


def run_migrations_online() -> None:
    url = (
        config.attributes.get("url")
        or config.get_main_option("sqlalchemy.url")
        or get_settings().database_url
    )
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = create_engine(url, poolclass=pool.NullPool)
        with engine.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata, include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
