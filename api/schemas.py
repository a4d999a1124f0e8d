"""Response models of the HTTP API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field


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
