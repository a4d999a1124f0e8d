"""Response models of the HTTP API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorOut(BaseModel):
    error: str
    code: str = Field(description="stable machine-readable error code")
    details: Any | None = None


class HealthOut(BaseModel):
    status: str
    database: str
    postgis: str | None = None
    boundary_version: dict[str, Any] | None = None
    environment: str


class StaffOut(BaseModel):
    role: str
    name: str
    phone: str | None
    valid_from: dt.date
    valid_to: dt.date | None


class UnitOut(BaseModel):
    code: str
    name: str
    level: str
    parent_code: str | None
    households: int | None
    valid_from: dt.date
    valid_to: dt.date | None
    source: str
    source_datum: str
    staff: list[StaffOut] = []
    bbox: list[float] | None = None
    chain: list[dict[str, Any]] = Field(default_factory=list, description="parent chain, nearest first")
    children: list[str] = Field(default_factory=list, description="codes of the units directly below")
    geometry: dict[str, Any] | None = Field(
        None, description="GeoJSON geometry (EPSG:4326) with geometry=true"
    )


# ---- answers that are dynamic dicts: the stable fields typed, the rest kept (extra="allow") -------------


class OpenOut(BaseModel):
    """A JSON answer whose stable fields are declared; every other field of it is kept as served."""

    model_config = ConfigDict(extra="allow")


class PingOut(BaseModel):
    ok: bool


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds")


class MeOut(BaseModel):
    kind: str = Field(description="key | user | anonymous")
    name: str
    roles: list[str]
    scope: list[str] = Field(
        description="unit codes the petitions seen are limited to; empty = the whole city"
    )
    role_descriptions: dict[str, str]


class ContactReadsOut(BaseModel):
    items: list[dict[str, Any]] = Field(description="at, actor, petition_id, kind (masked | full), via")
    as_of: str


class FeatureCollectionOut(OpenOut):
    type: str = "FeatureCollection"
    features: list[dict[str, Any]]


class GeocodeOut(OpenOut):
    """Our geocoder's answer (status matched | needs_review | no_match, level, point, candidates ...)."""

    status: str
    at: str


class GeocodeBatchOut(BaseModel):
    count: int
    results: list[dict[str, Any]] = Field(
        description="one answer per query, in order; an unreadable query: {query, error, code}"
    )


class ReverseOut(OpenOut):
    at: str


class JurisdictionBatchOut(BaseModel):
    at: str
    count: int
    results: list[dict[str, Any]] = Field(
        description="one per point, in order; a point not placed: {id, error, code}"
    )


class ShapeOut(OpenOut):
    """The owners of a shape with their shares, the lead and the co-handlers."""


class RulingOut(OpenOut):
    id: int


class InsightsOut(OpenOut):
    """A unit's week: hotspots, surges, repeat places, rising phrases and the task list."""

    unit: dict[str, Any]
    week: str
    iso_week: str
    tasks: list[dict[str, Any]]


class PetitionOut(OpenOut):
    """A petition (a summary in lists; in full from the detail and the actions). The fields below are
    in every form; docs/PETITIONS.md describes the rest."""

    id: int
    status: str
    owner_code: str | None = None
    cell_code: str | None = None
    street_code: str | None = None
    lead_department: str | None = None
    updated_at: str | None = None


class PetitionPageOut(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[PetitionOut]


class TriageItemOut(PetitionOut):
    candidates: list[Any] | None = None
    geocode_status: str | None = None


class TriageOut(BaseModel):
    total: int
    items: list[TriageItemOut]


class ContactOut(BaseModel):
    id: int
    name: str | None
    phone: str | None
    email: str | None
    anonymised: bool


class EventsOut(BaseModel):
    id: int
    events: list[dict[str, Any]] = Field(description="at, actor, action, from, to, note, data")


class ScoresOut(OpenOut):
    month: str
    level: str
    as_of: str
    petitions: int
    definitions: str
    scope: list[str] | None
    items: list[dict[str, Any]]
