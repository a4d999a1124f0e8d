"""Our own geocoder (never an online service): ``/v1/geocode``, ``/v1/geocode/batch``, ``/v1/reverse``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import SafeDate, SessionDep
from api.schemas import ErrorOut, GeocodeBatchOut, GeocodeOut, ReverseOut
from api.security import PrincipalDep
from grid.db.geocoding import MAX_QUERY, geocode_many, geocode_text, reverse_point
from grid.db.jurisdiction import to_point
from grid.errors import TooLarge

router = APIRouter(tags=["geocode"], responses={400: {"model": ErrorOut}, 422: {"model": ErrorOut}})
MAX_BATCH = 1_000  # addresses per request with credentials ...
MAX_BATCH_CHARS = 100_000  # ... and characters in all (the work grows with both)
MAX_PUBLIC_BATCH = 100  # without credentials
MAX_PUBLIC_BATCH_CHARS = 10_000


class BatchIn(BaseModel):
    queries: list[str] = Field(max_length=MAX_BATCH, description=f"at most {MAX_BATCH} addresses")
    at: SafeDate | None = None


@router.get("/v1/geocode", response_model=GeocodeOut)
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


def check_batch(queries: list[str], authenticated: bool) -> None:
    """Bound the work of one batch per role: 413 ``batch_too_large`` over the addresses or the
    characters allowed (the red-team's 1,000 long addresses took 10.6 s of CPU)."""
    items, chars = (
        (MAX_BATCH, MAX_BATCH_CHARS) if authenticated else (MAX_PUBLIC_BATCH, MAX_PUBLIC_BATCH_CHARS)
    )
    hint = "" if authenticated else " without credentials; send fewer or an API key"
    if len(queries) > items:
        raise TooLarge(
            f"{len(queries)} addresses, more than {items} per request{hint}",
            code="batch_too_large",
            details={"max_addresses": items, "max_characters": chars},
        )
    total = sum(len(q) for q in queries)
    if total > chars:
        raise TooLarge(
            f"{total} characters of addresses, more than {chars} per request{hint}",
            code="batch_too_large",
            details={"max_addresses": items, "max_characters": chars},
        )


@router.post("/v1/geocode/batch", response_model=GeocodeBatchOut, responses={413: {"model": ErrorOut}})
def geocode_batch(body: BatchIn, session: SessionDep, who: PrincipalDep) -> dict[str, Any]:
    """Up to 1,000 addresses and 100,000 characters with credentials, 100 addresses and 10,000
    characters without (413 ``batch_too_large``); an address that cannot be read (e.g. over 500
    characters) gets an error entry, never a dropped row."""
    check_batch(body.queries, who.authenticated)
    out = list(geocode_many(session, body.queries, at=body.at))
    return {"count": len(out), "results": out}


@router.get("/v1/reverse", response_model=ReverseOut)
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
