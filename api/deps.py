"""Typed FastAPI dependencies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from grid.db.engine import session_factory


def get_db(request: Request) -> Iterator[Session]:
    session = session_factory(request.app.state.database_url)()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_db)]


def at_date(
    date: Annotated[dt.date | None, Query(description="boundary version date (default: today)")] = None,
) -> dt.date:
    return date or dt.date.today()


DateDep = Annotated[dt.date, Depends(at_date)]
