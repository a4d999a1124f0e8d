"""Who owns this place: points, shapes, batches and rulings (``/v1/jurisdiction``, ``/v1/rulings``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import SafeDate, SessionDep
from api.schemas import ErrorOut, FeatureCollectionOut, JurisdictionBatchOut, RulingOut, ShapeOut
from api.security import PrincipalDep, need
from grid.auth import Principal
from grid.db.engine import session_scope
from grid.db.jurisdiction import answer, cached_index, decide_point, get_index, locate, locate_shape, to_point
from grid.db.rulings import add_ruling, list_rulings
from grid.errors import GridGovError, InputError, NeedsReview, TooLarge

router = APIRouter(
    tags=["jurisdiction"],
    responses={400: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)

MAX_BATCH = 10_000
MAX_SHAPE_VERTICES = 50_000  # with credentials
MAX_PUBLIC_SHAPE_VERTICES = 2_000  # without: a shape's cost grows with vertices x units touched


class ShapeIn(BaseModel):
    geometry: dict[str, Any] = Field(description="a GeoJSON geometry (Point, LineString, Polygon, Multi*)")
    datum: str = "wgs84"
    at: SafeDate | None = None
    level: str | None = Field(None, description="level of the owners (default: the finest level in force)")


class BatchPoint(BaseModel):
    id: str | None = None
    lon: float
    lat: float


class BatchIn(BaseModel):
    points: list[BatchPoint] = Field(max_length=MAX_BATCH, description=f"at most {MAX_BATCH} points")
    datum: str = "wgs84"
    at: SafeDate | None = None
    level: str | None = None


class LayerAnswerOut(BaseModel):
    """The owner of the point in one layer (``layers`` of the answer)."""

    level: str = Field(description="the finest level of the layer decided")
    status: str = Field(description="interior | on_boundary | overlap | gap | outside")
    owner: dict[str, Any] | None = Field(description="code, name, level of the owner (null when outside)")
    chain: list[dict[str, Any]] = Field(description="owner and its ancestors in the layer, nearest first")
    rule: str | None = Field(description="ruling | building | lowest_code | single_cover | nearest")
    candidates: list[str] = Field(
        description="every unit covering the point (on a boundary or in an overlap)"
    )
    near_boundary: bool = False
    boundary_distance_m: float | None = Field(
        None,
        description="metres to the owner's boundary; in a gap the distance to the owner; outside: to the nearest unit",
    )
    gap_distance_m: float | None = Field(None, description="in a gap: metres to the unit the gap rule chose")
    nearest: str | None = Field(None, description="outside: the nearest unit of the layer")
    error: str | None = Field(None, description="outside: why no unit of the layer owns the point")


class JurisdictionOut(BaseModel):
    """The answer of ``GET /v1/jurisdiction`` (documentation of the JSON served)."""

    point: dict[str, Any] = Field(description="the point in WGS84 and as given")
    at: dt.date
    boundary_version: dict[str, Any]
    owner: dict[str, Any]
    level: str
    chain: list[dict[str, Any]] = Field(description="owner, then its ancestors (grid cell ... district)")
    status: str = Field(description="interior | on_boundary | overlap | gap (outside is a 404 error)")
    rule: str
    candidates: list[str]
    tie_level: str | None = None
    ruling_id: int | None = None
    near_boundary: bool
    boundary_distance_m: float | None = Field(
        None, description="metres to the owner's boundary (in a gap: to the owner, = gap_distance_m)"
    )
    gap_distance_m: float | None = None
    notes: list[str] = []
    officer: dict[str, Any] | None = None
    routing: dict[str, Any] | None = Field(None, description="with category: lead department and co-handlers")
    layer: str | None = Field(
        None, description="when the city has several independent layers: the root level of the one answered"
    )
    layers: dict[str, LayerAnswerOut] | None = Field(
        None,
        description="when the city has several independent layers (wards, police, council districts ...): "
        "the owner of the point in every other layer, keyed by the layer's root level; `level=` picks the "
        "layer answered at the top level",
    )


class RulingIn(BaseModel):
    geometry: dict[str, Any] = Field(description="the place: a GeoJSON Point, LineString or Polygon (WGS84)")
    owner_code: str = Field(min_length=1, max_length=32)
    reason: str = Field(min_length=1, max_length=2000)
    author: str = Field(min_length=1, max_length=100)
    level: str | None = Field(None, max_length=32)
    valid_from: SafeDate | None = None
    supersedes: int | None = Field(None, ge=1, le=2**31 - 1)


def _geometry(gj: dict[str, Any], max_vertices: int = MAX_SHAPE_VERTICES) -> Any:
    import json

    try:
        g = shapely.from_geojson(json.dumps(gj))
    except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
        raise InputError(f"not a GeoJSON geometry: {exc}", code="invalid_geometry") from exc
    n = shapely.get_num_coordinates(g)
    if n > max_vertices:
        hint = (
            ""
            if max_vertices == MAX_SHAPE_VERTICES
            else " without credentials; simplify it or send an API key"
        )
        raise TooLarge(
            f"geometry has {n} vertices, more than {max_vertices}{hint}", code="geometry_too_large"
        )
    return g


@router.get("/v1/jurisdiction", response_model=JurisdictionOut)
async def jurisdiction(
    request: Request,
    lon: Annotated[float | None, Query(description="longitude in the given datum")] = None,
    lat: Annotated[float | None, Query(description="latitude in the given datum")] = None,
    address: Annotated[
        str | None,
        Query(
            description="instead of lon/lat: an address, geocoded by our gazetteer; a building match "
            "decides boundary cases by the building's cell binding",
            max_length=500,
        ),
    ] = None,
    datum: Annotated[str, Query(description="wgs84, cgcs2000, gcj02, bd09 or EPSG:n")] = "wgs84",
    at: Annotated[SafeDate | None, Query(description="boundary version date (default today)")] = None,
    category: Annotated[
        str | None, Query(description="category code: adds lead department and co-handlers")
    ] = None,
    building: Annotated[
        str | None, Query(description="building id named by the request (tie-break rule b)")
    ] = None,
    level: Annotated[
        str | None,
        Query(
            description="decide at this level (default: the finest of the primary chain); a level of an "
            "independent layer (e.g. police) answers that layer"
        ),
    ] = None,
) -> JSONResponse:
    """The owner of a point: chain grid cell → community → street → district, the officer in
    office at that date, the status (interior, on_boundary, overlap, gap; near_boundary flag), the
    candidates and the rule that decided; with ``category``, the lead department and co-handlers.
    A city with several independent layers also gets ``layers``: the owner in each other layer
    (``level=`` selects the layer answered at the top level)."""
    if address is not None:
        if lon is not None or lat is not None:
            raise InputError("give lon and lat, or address, not both", code="invalid_request")
        return await run_in_threadpool(_by_address, request, address, at, category, building, level)
    if lon is None or lat is None:
        raise InputError("give lon and lat (or address)", code="invalid_request")
    # Served on the event loop, not the thread pool: the answer comes from memory (one tiny query for
    # the store generation), and running it inline avoids thread hand-offs and GIL contention.
    if building is None:
        idx = cached_index(request.app.state.database_url, at or dt.date.today())
        if idx is not None:  # the common case: no session, no ORM
            return JSONResponse(answer(idx, lon, lat, datum=datum, at=at, category=category, level=level))
    # not SessionDep: the fast path above must not pay for a session (a dependency runs in a thread)
    with session_scope(request.app.state.database_url, fast_generation=True) as session:
        result = locate(
            session, lon, lat, datum=datum, at=at, category=category, building=building, level=level
        )
    return JSONResponse(result)  # plain JSON types already: skip the generic encoder


def _by_address(
    request: Request,
    address: str,
    at: SafeDate | None,
    category: str | None,
    building: str | None,
    level: str | None,
) -> JSONResponse:
    from grid.db.geocoding import geocode_text

    with session_scope(request.app.state.database_url, fast_generation=True) as session:
        g = geocode_text(session, address, at=at)
        if g.get("status") != "matched" or g.get("lon") is None:
            code = "address_needs_review" if g.get("status") == "needs_review" else "address_not_found"
            raise NeedsReview(
                f"the address cannot be placed without a person ({g.get('status')})",
                code=code,
                details={"candidates": g.get("candidates", []), "parsed": g.get("parsed")},
            )
        result = locate(
            session,
            float(g["lon"]),
            float(g["lat"]),
            at=at,
            category=category,
            building=building or g.get("building_id") if g.get("cell_code") else building,
            level=level,
        )
        result["geocode"] = g
    return JSONResponse(result)


@router.post("/v1/jurisdiction/shape", response_model=ShapeOut)
def jurisdiction_shape(body: ShapeIn, session: SessionDep, who: PrincipalDep) -> dict[str, Any]:
    """Every owning unit of a shape with its share of area or length (metric CRS), the lead
    (largest share unless a ruling says otherwise), co-handlers and whether it crosses districts.
    At most 50,000 vertices with credentials, 2,000 without (413 ``geometry_too_large``)."""
    limit = MAX_SHAPE_VERTICES if who.authenticated else MAX_PUBLIC_SHAPE_VERTICES
    g = _geometry(body.geometry, limit)
    return locate_shape(session, g, datum=body.datum, at=body.at, level=body.level)


@router.post("/v1/jurisdiction/batch", response_model=JurisdictionBatchOut)
def jurisdiction_batch(body: BatchIn, session: SessionDep) -> dict[str, Any]:
    """Owners of up to 10,000 points in one call; a point that cannot be placed gets an error entry."""
    date = body.at or dt.date.today()
    idx = get_index(session, date)
    out = []
    for p in body.points:
        try:
            x, y = to_point(p.lon, p.lat, body.datum)
            d, lv = decide_point(idx, x, y, level=body.level)
            out.append(
                {
                    "id": p.id,
                    "owner": d.owner,
                    "level": lv,
                    "status": d.status,
                    "rule": d.rule,
                    "candidates": d.candidates,
                    "near_boundary": d.near_boundary,
                    "chain": [c["code"] for c in idx.chain(d.owner)],
                }
            )
        except GridGovError as exc:
            out.append({"id": p.id, "error": exc.message, "code": exc.code})
    return {"at": date.isoformat(), "count": len(out), "results": out}


@router.post("/v1/rulings", status_code=201, response_model=RulingOut)
def create_ruling(
    body: RulingIn, session: SessionDep, who: Annotated[Principal, Depends(need("rulings:write"))]
) -> dict[str, Any]:
    """Record a planner's ruling (a place and its owner, with reason and author). Versioned.
    Needs the planner (or admin) role; the credential is recorded beside the author."""
    return add_ruling(
        session,
        _geometry(body.geometry),
        owner_code=body.owner_code,
        reason=body.reason,
        author=f"{body.author} ({who.actor})",
        level=body.level,
        valid_from=body.valid_from,
        supersedes=body.supersedes,
    )


@router.get("/v1/rulings", response_model=FeatureCollectionOut)
def rulings(
    session: SessionDep,
    at: Annotated[SafeDate | None, Query(description="only rulings in force at this date")] = None,
    owner: Annotated[str | None, Query(description="only rulings for this owner")] = None,
) -> dict[str, Any]:
    """Rulings as a GeoJSON FeatureCollection."""
    rows = list_rulings(session, at, owner)
    feats = [
        {
            "type": "Feature",
            "geometry": r.pop("geometry"),
            "properties": {k: str(v) if isinstance(v, (dt.date, dt.datetime)) else v for k, v in r.items()},
        }
        for r in rows
    ]
    return {"type": "FeatureCollection", "features": feats}
