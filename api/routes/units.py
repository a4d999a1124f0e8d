"""Units: the boundary version at a date, as JSON or GeoJSON."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Query

from api.deps import DateDep, SessionDep
from api.schemas import ErrorOut, FeatureCollectionOut, StaffOut, UnitOut
from grid.db.store import get_unit, load_levels, staff_at, units_at
from grid.errors import InputError

router = APIRouter(
    prefix="/v1/units", tags=["units"], responses={400: {"model": ErrorOut}, 404: {"model": ErrorOut}}
)

MAX_LIST = 10_000


def _chain(session: Any, parent: str | None, date: Any) -> list[dict[str, Any]]:
    out = []
    while parent:
        df = units_at(session, date, codes=[parent])
        if df.empty:
            break
        r = df.iloc[0]
        out.append({"code": r["code"], "name": r["name"], "level": r["level"]})
        parent = r["parent_code"] if isinstance(r["parent_code"], str) else None
    return out


def _unit_out(
    session: Any, row: dict[str, Any], date: Any, *, detail: bool = False, geometry: bool = False
) -> UnitOut:
    staff = [
        StaffOut(role=s.role, name=s.name, phone=s.phone, valid_from=s.valid_from, valid_to=s.valid_to)
        for s in staff_at(session, row["code"], date)
    ]
    g = row.get("geometry")
    bbox = list(shapely.bounds(g)) if g is not None else None
    return UnitOut(
        code=row["code"],
        name=row["name"],
        level=row["level"],
        parent_code=row["parent_code"] if isinstance(row["parent_code"], str) else None,
        households=None
        if row["households"] is None or row["households"] != row["households"]
        else int(row["households"]),
        valid_from=row["valid_from"],
        valid_to=row["valid_to"] if isinstance(row["valid_to"], dt.date) else None,
        source=row["source"],
        source_datum=row["source_datum"],
        staff=staff,
        bbox=bbox,
        chain=_chain(session, row["parent_code"] if isinstance(row["parent_code"], str) else None, date)
        if detail
        else [],
        children=sorted(units_at(session, date, parent_codes=[row["code"]])["code"]) if detail else [],
        geometry=json.loads(shapely.to_geojson(g)) if geometry and g is not None else None,
    )


@router.get("", response_model=list[UnitOut])
def list_units(
    session: SessionDep,
    date: DateDep,
    level: Annotated[
        str | None, Query(description="level name, e.g. district, street, community, grid")
    ] = None,
    parent: Annotated[str | None, Query(description="parent unit code")] = None,
    bbox: Annotated[
        str | None, Query(description="min_lon,min_lat,max_lon,max_lat (WGS84): units intersecting it")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 1000,
) -> list[UnitOut]:
    """Units in force at ``date`` (default today), filtered by level, parent and bounding box."""
    if level is not None:
        load_levels(session).by_name(level)
    df = units_at(session, date, level=level, parent_codes=[parent] if parent else None)
    if bbox is not None:
        try:
            x0, y0, x1, y1 = (float(v) for v in bbox.split(","))
        except ValueError as exc:
            raise InputError("bbox is min_lon,min_lat,max_lon,max_lat", code="invalid_bbox") from exc
        if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
            raise InputError(
                "bbox must be min_lon < max_lon and min_lat < max_lat within range", code="invalid_bbox"
            )
        df = df[df.geometry.intersects(shapely.box(x0, y0, x1, y1))]
    return [_unit_out(session, dict(r), date) for _, r in df.head(limit).iterrows()]


@router.get("/{code}", response_model=UnitOut)
def unit(
    code: str,
    session: SessionDep,
    date: DateDep,
    geometry: Annotated[bool, Query(description="include the GeoJSON geometry")] = False,
) -> UnitOut:
    """One unit at ``date``: staff in office at that date, parent chain, children, optional geometry."""
    if not code.isalnum() or len(code) > 32:
        raise InputError(f"unit codes are letters and digits, got {code!r}", code="bad_code")
    return _unit_out(session, get_unit(session, code, date), date, detail=True, geometry=geometry)


@router.get("/{code}/geojson", response_model=FeatureCollectionOut)
def unit_geojson(code: str, session: SessionDep, date: DateDep) -> dict[str, Any]:
    """The unit and its children at ``date`` as a GeoJSON FeatureCollection (EPSG:4326)."""
    if not code.isalnum() or len(code) > 32:
        raise InputError(f"unit codes are letters and digits, got {code!r}", code="bad_code")
    u = get_unit(session, code, date)
    kids = units_at(session, date, parent_codes=[code])
    feats = [_feature(u, role="unit")] + [_feature(dict(r), role="child") for _, r in kids.iterrows()]
    return {"type": "FeatureCollection", "features": feats}


def _feature(row: dict[str, Any], role: str) -> dict[str, Any]:
    props = {k: row[k] for k in ("code", "name", "level", "parent_code")}
    props.update(
        valid_from=str(row["valid_from"]),
        valid_to=None if row["valid_to"] is None else str(row["valid_to"]),
        role=role,
    )
    return {
        "type": "Feature",
        "properties": props,
        "geometry": json.loads(shapely.to_geojson(row["geometry"])),
    }
