"""Our own geocoder (never an online service): ``/v1/geocode``, ``/v1/geocode/batch``, ``/v1/reverse``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import SafeDate, SessionDep
from api.schemas import ErrorOut
from grid.db.geocoding import MAX_QUERY, geocode_text, reverse_point
from grid.db.jurisdiction import to_point
from grid.errors import GridGovError

router = APIRouter(tags=["geocode"], responses={400: {"model": ErrorOut}, 422: {"model": ErrorOut}})
MAX_BATCH = 1_000


class BatchIn(BaseModel):
    queries: list[str] = Field(max_length=MAX_BATCH, description=f"at most {MAX_BATCH} addresses")
    at: SafeDate | None = None


@router.get("/v1/geocode")
def geocode(
    session: SessionDep,
    q: Annotated[
        str, Query(description="a Chinese address, also inside petition text", max_length=MAX_QUERY)
    ],
    at: Annotated[SafeDate | None, Query(description="gazetteer and boundary date (default today)")] = None,
) -> dict[str, Any]:
    """The level matched (building, compound, road+number, crossing, landmark, community, street,
    district), the point, the building and its cell, the confidence; ``needs_review`` with up to 5
    candidates below the review threshold: never a silent guess."""
    return geocode_text(session, q, at=at)


@router.post("/v1/geocode/batch")
def geocode_batch(body: BatchIn, session: SessionDep) -> dict[str, Any]:
    """Up to 1,000 addresses; an address that cannot be read gets an error entry, never a dropped row."""
    out = []
    for q in body.queries:
        try:
            out.append(geocode_text(session, q, at=body.at))
        except GridGovError as exc:
            out.append({"query": q, "error": exc.message, "code": exc.code})
    return {"count": len(out), "results": out}


@router.get("/v1/reverse")
def reverse(
    session: SessionDep,
    lon: float,
    lat: float,
    datum: Annotated[str, Query(description="wgs84, cgcs2000, gcj02, bd09 or EPSG:n")] = "wgs84",
    at: SafeDate | None = None,
) -> dict[str, Any]:
    """The nearest standard address to a point and its cell."""
    x, y = to_point(lon, lat, datum)
    return reverse_point(session, x, y, at=at)
