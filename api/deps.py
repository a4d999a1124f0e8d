"""Typed FastAPI dependencies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import AfterValidator
from sqlalchemy.orm import Session

from grid.db.engine import session_factory
from grid.inputs import check_date

# dates and datetimes from outside lie in the documented range (grid/inputs.py: 1900..2100)
SafeDate = Annotated[dt.date, AfterValidator(check_date)]
SafeDateTime = Annotated[dt.datetime, AfterValidator(check_date)]


@contextmanager
def request_session(request: Request) -> Iterator[Session]:
    """A session for one request: committed on success, rolled back on error."""
    session = session_factory(request.app.state.database_url)()
    # requests read committed state: the store generation is read on a light per-thread connection
    session.info["fast_generation"] = True
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def get_db(request: Request) -> Iterator[Session]:
    with request_session(request) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]


def at_date(
    date: Annotated[SafeDate | None, Query(description="boundary version date (default: today)")] = None,
) -> dt.date:
    return date or dt.date.today()


DateDep = Annotated[dt.date, Depends(at_date)]
