"""SQLAlchemy 2 typed models (GeoAlchemy2 geometries, all stored in EPSG:4326).

Versioning: every boundary, staff assignment, building and binding row is valid on
``[valid_from, valid_to)`` (``valid_to`` NULL = still in force). "The version at D" is the
set of rows with ``valid_from <= D < valid_to``. PostgreSQL exclusion constraints
(btree_gist) forbid two versions of the same thing overlapping in time, so history can
never become ambiguous whatever the importer does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4326


class Base(DeclarativeBase):
    pass


def _validity_checks(name: str) -> tuple[Any, ...]:
    return (CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name=f"ck_{name}_validity"),)


class UnitLevel(Base):
    """A level of the hierarchy and its code format (levels are data)."""

    __tablename__ = "unit_level"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, unique=True)
    code_length: Mapped[int | None] = mapped_column(Integer, nullable=True)  # fixed length, or None
    pattern: Mapped[str] = mapped_column(String(200), default=r"\d+")
    label: Mapped[str] = mapped_column(String(64), default="")
    parent: Mapped[str | None] = mapped_column(ForeignKey("unit_level.name"), nullable=True)
    min_length: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_length: Mapped[int | None] = mapped_column(Integer, nullable=True)
    nesting: Mapped[str] = mapped_column(String(16), default="prefix", server_default="prefix")


class ImportRun(Base):
    """One applied import: what was read, what was found, what was accepted or repaired."""

    __tablename__ = "import_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # units | buildings | staff | ...
    source: Mapped[str] = mapped_column(Text)
    level: Mapped[str | None] = mapped_column(String(32), nullable=True)
    datum: Mapped[str | None] = mapped_column(String(32), nullable=True)
    valid_from: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    accepted: Mapped[list[str]] = mapped_column(JSONB, default=list)
    repairs: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class Unit(Base):
    """One version of one unit's boundary."""

    __tablename__ = "unit"
    __table_args__ = (
        *_validity_checks("unit"),
        Index("ix_unit_level_code", "level", "code"),
        Index("ix_unit_parent", "parent_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[str] = mapped_column(ForeignKey("unit_level.name"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True))
    geom_source: Mapped[Any | None] = mapped_column(Geometry(srid=-1, spatial_index=False), nullable=True)
    households: Mapped[int | None] = mapped_column(Integer, nullable=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    source: Mapped[str] = mapped_column(Text, default="")
    source_datum: Mapped[str] = mapped_column(String(32), default="wgs84")
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_run.id"), nullable=True)


class Staff(Base):
    """Who serves a unit (grid officer, community secretary...), versioned on its own clock.

    A change of officer never creates a boundary version.
    """

    __tablename__ = "staff"
    __table_args__ = (*_validity_checks("staff"), Index("ix_staff_unit", "unit_code"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(32), default="grid_officer")
    name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class Building(Base):
    """One version of a building: standard address, point (and optional footprint), households."""

    __tablename__ = "building"
    __table_args__ = (*_validity_checks("building"), Index("ix_building_bid", "building_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_id: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(Text)
    compound: Mapped[str | None] = mapped_column(Text, nullable=True)
    road: Mapped[str | None] = mapped_column(Text, nullable=True)
    door_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    building_no: Mapped[str | None] = mapped_column(String(32), nullable=True)
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True))
    footprint: Mapped[Any | None] = mapped_column(
        Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=True
    )
    households: Mapped[int] = mapped_column(Integer)
    floors: Mapped[int | None] = mapped_column(Integer, nullable=True)
    community_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    source: Mapped[str] = mapped_column(Text, default="")
    source_datum: Mapped[str] = mapped_column(String(32), default="wgs84")


class BuildingCell(Base):
    """The grid cell a building is bound to, with validity dates (bindings move, history stays)."""

    __tablename__ = "building_cell"
    __table_args__ = (
        *_validity_checks("building_cell"),
        Index("ix_building_cell_bid", "building_id"),
        Index("ix_building_cell_cell", "cell_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_id: Mapped[str] = mapped_column(String(64))
    cell_code: Mapped[str] = mapped_column(String(32))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class Category(Base):
    """Petition categories (12345 top categories and sub-categories; CJ/T 214 classes)."""

    __tablename__ = "category"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text, default="")
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("category.code"), nullable=True)
    scheme: Mapped[str] = mapped_column(String(32), default="12345")
    needs_place: Mapped[bool] = mapped_column(Boolean, default=True)
    urgency: Mapped[str] = mapped_column(String(16), default="general")


class Department(Base):
    """A department of a place: 朝阳区城市管理委员会, 双井街道城市管理办公室, ..."""

    __tablename__ = "department"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RoutingRule(Base):
    """category x unit -> department (lead or co-handler), inherited down the hierarchy.

    A rule set on a unit applies to every unit below it unless a nearer unit has rules for
    the same category; a category with no rule anywhere up the chain falls back to its parent
    category, and finally to the district government (属地兜底).
    """

    __tablename__ = "routing_rule"
    __table_args__ = (
        *_validity_checks("routing_rule"),
        Index("ix_routing_unit_cat", "unit_code", "category_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"))
    unit_code: Mapped[str] = mapped_column(String(32))
    department_code: Mapped[str] = mapped_column(ForeignKey("department.code"))
    role: Mapped[str] = mapped_column(String(8))  # lead | co
    valid_from: Mapped[dt.date] = mapped_column(Date, default=dt.date(2000, 1, 1))
    valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class Ruling(Base):
    """A planner's explicit decision of who owns a place (point, line or polygon), versioned.

    Rulings come first in the ownership rule order. A ruling is never edited: a new one
    supersedes it (the old one gets ``valid_to``), so every past answer can be explained.
    """

    __tablename__ = "ruling"
    __table_args__ = (*_validity_checks("ruling"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    geom: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=SRID, spatial_index=True))
    level: Mapped[str] = mapped_column(ForeignKey("unit_level.name"))
    owner_code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    supersedes: Mapped[int | None] = mapped_column(ForeignKey("ruling.id"), nullable=True)


class StoreGeneration(Base):
    """One row, bumped by triggers whenever units or rulings change: in-memory indexes compare it
    to know they are stale, so the next request after a change sees the change."""

    __tablename__ = "store_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


class GazetteerPlace(Base):
    """One version of a named place of the address gazetteer (our own: no online geocoder).

    Kinds: building, compound (小区/院), road (with door-number ranges), door, landmark (a bridge,
    a subway exit, a market...), crossing, community, street, district. ``aliases`` holds former
    and colloquial names (a renamed township, 富力城 for 富力城小区 ...).
    """

    __tablename__ = "gazetteer_place"
    __table_args__ = (
        *_validity_checks("gazetteer_place"),
        Index("ix_gazetteer_place_pid", "place_id"),
        Index("ix_gazetteer_place_kind_name", "kind", "name"),
        Index("ix_gazetteer_place_building", "building_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    place_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    aliases: Mapped[list[str]] = mapped_column(JSONB, default=list)
    building_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    compound: Mapped[str | None] = mapped_column(Text, nullable=True)
    road: Mapped[str | None] = mapped_column(Text, nullable=True)
    door_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    building_no: Mapped[str | None] = mapped_column(String(32), nullable=True)
    community_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    households: Mapped[int | None] = mapped_column(Integer, nullable=True)
    door_ranges: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    geom: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=SRID, spatial_index=True))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    source: Mapped[str] = mapped_column(Text, default="")
    source_datum: Mapped[str] = mapped_column(String(32), default="wgs84")
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_run.id"), nullable=True)


class ApiKey(Base):
    """A key for a system or person calling the petition API. Only the SHA-256 of the key is stored;
    the key itself is shown once, when created."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    roles: Mapped[list[str]] = mapped_column(JSONB, default=list)
    # unit codes the key is limited to (officer / street_admin keys); empty = the whole city
    scope: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list, server_default="{}")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AppUser(Base):
    """A person who logs in (OAuth2 password flow, JWT): roles, the units they are limited to,
    and an argon2 hash of the password (pwdlib). Disabling takes effect on the next request:
    every request re-reads the user, the token only says who it is."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(Text, default="")
    password_hash: Mapped[str] = mapped_column(Text)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    scope: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list, server_default="{}")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ContactAccess(Base):
    """The audit log of reads of a reporter's contact: who, when, which petition, masked or full."""

    __tablename__ = "contact_access"
    __table_args__ = (Index("ix_contact_access_petition", "petition_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(160))  # "user:wang" / "key:12345-dispatcher"
    petition_id: Mapped[int] = mapped_column(BigInteger)  # no FK: the log outlives deleted petitions
    kind: Mapped[str] = mapped_column(String(16))  # masked | full
    via: Mapped[str] = mapped_column(String(200), default="")  # the endpoint


class Petition(Base):
    """A resident's petition (诉求): what was asked, where, who owns it, its clock and its outcome.

    The reporter's contact is *not* here: it lives in :class:`PetitionContact`, read only by
    the detail endpoint (masked) so that lists, maps and exports cannot leak it. ``ownership``
    keeps the full ownership answer (status, candidates, rule) the dispatch was based on, for
    later disputes. ``owner_chain`` lists the owner and its ancestors (cell → ... → district).
    """

    __tablename__ = "petition"
    __table_args__ = (
        Index("ix_petition_received", "received_at"),
        Index("ix_petition_status", "status"),
        Index("ix_petition_owner_chain", "owner_chain", postgresql_using="gin"),
        Index("ix_petition_category_received", "category_code", "received_at"),
        CheckConstraint(
            "callback_satisfaction IS NULL OR callback_satisfaction IN "
            "('satisfied', 'basically_satisfied', 'unsatisfied')",
            name="ck_petition_satisfaction",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    source: Mapped[str] = mapped_column(String(128), default="")
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    channel: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(16))
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"))
    urgency_requested: Mapped[str | None] = mapped_column(String(16), nullable=True)
    urgency: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text, nullable=True)
    input_lon: Mapped[float | None] = mapped_column(nullable=True)
    input_lat: Mapped[float | None] = mapped_column(nullable=True)
    input_datum: Mapped[str | None] = mapped_column(String(32), nullable=True)
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    location_status: Mapped[str] = mapped_column(String(16), default="pending")
    location_method: Mapped[str | None] = mapped_column(String(32), nullable=True)
    geocode: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    ownership: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    candidates: Mapped[list[Any] | None] = mapped_column(JSONB, nullable=True)
    owner_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    owner_chain: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    cell_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    community_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    street_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    district_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    building_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lead_department: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    co_departments: Mapped[list[str]] = mapped_column(JSONB, default=list)
    routing: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    first_receiver: Mapped[str | None] = mapped_column(String(64), nullable=True)
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    time_limit: Mapped[str | None] = mapped_column(String(16), nullable=True)
    calendar_covered: Mapped[bool] = mapped_column(Boolean, default=True)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    callback_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    callback_resolved: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    callback_satisfaction: Mapped[str | None] = mapped_column(String(24), nullable=True)
    callback_none_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("petition.id"), nullable=True, index=True)
    return_count: Mapped[int] = mapped_column(Integer, default=0)
    anonymised_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    media_url: Mapped[str | None] = mapped_column(Text, nullable=True)  # a photo the resident sent (URL)


class PetitionContact(Base):
    """The reporter's contact, stored apart from the petition (privacy: see :class:`Petition`)."""

    __tablename__ = "petition_contact"

    petition_id: Mapped[int] = mapped_column(ForeignKey("petition.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    phone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    email: Mapped[str | None] = mapped_column(Text, nullable=True)


class PetitionEvent(Base):
    """One step of a petition's life: who did what, when, from which status to which, and why."""

    __tablename__ = "petition_event"
    __table_args__ = (Index("ix_petition_event_petition", "petition_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petition.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
