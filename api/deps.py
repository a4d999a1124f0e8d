"""Typed FastAPI dependencies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import AfterValidator
from sqlalchemy.orm import Session

from grid.db.engine import session_scope
from grid.inputs import check_date

# dates and datetimes from outside lie in the documented range (grid/inputs.py: 1900..2100)
SafeDate = Annotated[dt.date, AfterValidator(check_date)]
SafeDateTime = Annotated[dt.datetime, AfterValidator(check_date)]


def get_db(request: Request) -> Iterator[Session]:
    """The request's session (``grid.db.engine.session_scope`` on the app's database): committed
    when the route returns, rolled back when it raises. A route that answers errors itself (Open311)
    rolls back before it answers."""
    with session_scope(request.app.state.database_url, fast_generation=True) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]
"""The session of a request: every route that reads or writes the store takes one."""


def at_date(
    date: Annotated[SafeDate | None, Query(description="boundary version date (default: today)")] = None,
) -> dt.date:
    return date or dt.date.today()


DateDep = Annotated[dt.date, Depends(at_date)]
