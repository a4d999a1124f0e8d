"""Proactive governance: ``GET /v1/insights?unit=&week=`` (credentials with ``insights:read``;
a scoped reader asks for units inside its scope only).

Hotspots, surges, repeat places, rising phrases and the task list of a unit for a week
(:func:`grid.db.insights.unit_insights`; methods in docs/INSIGHTS.md). Aggregates and places
only: no petition text, no reporter.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import SessionDep
from api.schemas import ErrorOut, InsightsOut
from api.security import need
from grid.auth import Principal

router = APIRouter(
    tags=["insights"],
    responses={
        400: {"model": ErrorOut},
        401: {"model": ErrorOut},
        403: {"model": ErrorOut},
        404: {"model": ErrorOut},
    },
)


@router.get("/v1/insights", response_model=InsightsOut)
def insights(
    session: SessionDep,
    who: Annotated[Principal, Depends(need("insights:read"))],
    unit: Annotated[
        str, Query(min_length=2, max_length=32, pattern=r"^[0-9A-Za-z]+$", description="a unit code")
    ],
    week: Annotated[
        str | None,
        Query(
            max_length=10,
            description="any day of the week (2025-12-01) or an ISO week (2025-W49); "
            "default: the last complete week of the unit's petitions",
        ),
    ] = None,
) -> dict[str, Any]:
    """The unit's proactive task list for the week, with the evidence of each task."""
    from grid.db.insights import cached_unit_insights
    from grid.db.users import check_unit_scope

    check_unit_scope(session, who, unit)
    out = cached_unit_insights(session, unit, week=week)
    for t in out["tasks"]:
        t.pop("petition_ids", None)  # the ids stay with the petition API (roles: the roles issue)
    return out
