"""``gridgov import buildings``: points (and optional footprints) with standard addresses.

CSV (``building_id,address,lon,lat,households`` plus optional ``compound, road, door_number,
building_no, floors, community_code, footprint_wkt``) or a point GeoJSON/GeoPackage with the
same properties. All rows are checked before anything is written; one transaction.
Each building is versioned: a changed address, point or household count closes the old version.
Buildings are bound to the grid cell covering them when grid cells are in force.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.datum import parse_datum, to_wgs84
from grid.db.limits import string_limits
from grid.db.models import Building, ImportRun
from grid.db.store import load_levels, units_at
from grid.errors import ImportBlocked, InputError
from grid.io import code_str, read_point_rows, text_problems

REQUIRED = ["building_id", "address", "households"]
OPTIONAL = ["compound", "road", "door_number", "building_no", "floors", "community_code"]
#: the widths of the store's columns (from the model): a longer value is a problem of its row
MAX_ID = string_limits(Building)["building_id"]
SHORT_FIELDS = {c: n for c, n in string_limits(Building).items() if c in OPTIONAL}
MAX_INT = 2**31 - 1  # households and floors are 32-bit integers


@dataclass
class BuildingReport:
    source: str
    valid_from: str
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    applied: bool = False
    import_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read(path: Path) -> tuple[pd.DataFrame, np.ndarray, Any]:
    return read_point_rows(path, required=REQUIRED)


def import_buildings(
    session: Session,
    path: str | Path,
    *,
    datum: str,
    valid_from: dt.date | None = None,
    dry_run: bool = False,
    source: str | None = None,
) -> BuildingReport:
    p = Path(path)
    d = valid_from or dt.date.today()
    dat = parse_datum(datum)
    df, pts, crs = _read(p)
    if df.empty:
        raise InputError(f"{p.name} holds no buildings", code="empty_file")
    report = BuildingReport(source=str(p), valid_from=d.isoformat(), dry_run=dry_run)
    problems: list[dict[str, Any]] = []

    kinds = shapely.get_type_id(pts)
    for k in np.flatnonzero(kinds != 0):
        problems.append(
            {"row": int(k) + 1, "kind": "not_a_point", "message": "building geometry must be a point"}
        )
    if problems:
        raise ImportBlocked(
            f"{p.name}: {len(problems)} row(s) are not points; nothing was written",
            details={"problems": problems[:50]},
        )
    # NUL/control characters in a field we store (GDAL cuts at a NUL: the file is read too)
    for i, f, why in text_problems(df, p, [*REQUIRED, *OPTIONAL]):
        problems.append(
            {
                "row": i + 1,
                "kind": "invalid_characters",
                "field": f,
                "message": f"{f} {why}; such characters cannot be stored",
            }
        )
    wgs = np.asarray(shapely.force_2d(to_wgs84(pts, dat, source_crs=crs)), dtype=object)
    foot = None
    if "footprint_wkt" in df.columns:
        vals = df["footprint_wkt"].fillna("").astype(str)
        try:
            fp = shapely.from_wkt(np.where(vals.str.strip() == "", None, vals))
        except shapely.errors.GEOSException as exc:
            raise InputError(f"{p.name}: unreadable footprint_wkt: {exc}", code="invalid_geometry") from exc
        foot = np.asarray(shapely.force_2d(to_wgs84(fp, dat, source_crs=None)), dtype=object)
        foot[[g is not None and shapely.is_empty(g) for g in foot]] = None  # 'POLYGON EMPTY': no footprint

    ids = df["building_id"].astype(str).str.strip()
    for bid in sorted(set(ids[ids.duplicated()])):
        problems.append(
            {"kind": "duplicate_id", "building_id": bid, "message": f"building id {bid} appears twice"}
        )
    for i, bid in enumerate(ids):
        if not bid:
            problems.append({"row": i + 1, "kind": "missing_id", "message": "empty building_id"})
        elif len(bid) > MAX_ID:
            problems.append(
                {"row": i + 1, "kind": "bad_id", "message": f"building_id longer than {MAX_ID} characters"}
            )
    hh = pd.to_numeric(df["households"], errors="coerce")
    bad_hh = hh.isna() | (hh < 0) | (hh % 1 != 0) | (hh > MAX_INT)
    for k in np.flatnonzero(bad_hh):
        problems.append(
            {
                "row": int(k) + 1,
                "kind": "bad_households",
                "building_id": ids.iloc[k],
                "message": f"households {df['households'].iloc[k]!r} is not a whole number from 0 to {MAX_INT}",
            }
        )
    if "floors" in df.columns:
        for i, v in enumerate(df["floors"]):
            if code_str(v) is not None and _int_or_none(v) is None:
                problems.append(
                    {
                        "row": i + 1,
                        "kind": "bad_floors",
                        "building_id": ids.iloc[i],
                        "message": f"floors {v!r} is not a whole number from 0 to {MAX_INT}",
                    }
                )
    for c, limit in SHORT_FIELDS.items():
        if c not in df.columns:
            continue
        for i, v in enumerate(df[c]):
            if len(code_str(v) or "") > limit:
                problems.append(
                    {
                        "row": i + 1,
                        "kind": "value_too_long",
                        "building_id": ids.iloc[i],
                        "message": f"{c} longer than {limit} characters",
                    }
                )
    if foot is not None:
        for i, g in enumerate(foot):
            if g is None:
                continue
            if shapely.get_type_id(g) not in (3, 6) or not shapely.is_valid(g):  # (Multi)Polygon, valid
                why = shapely.is_valid_reason(g) if shapely.get_type_id(g) in (3, 6) else g.geom_type
                problems.append(
                    {
                        "row": i + 1,
                        "kind": "bad_footprint",
                        "building_id": ids.iloc[i],
                        "message": f"footprint_wkt is no valid polygon: {why}",
                    }
                )
    for i, a in enumerate(df["address"].astype(str)):
        if not a.strip():
            problems.append(
                {
                    "row": i + 1,
                    "kind": "missing_address",
                    "building_id": ids.iloc[i],
                    "message": "empty address",
                }
            )

    frame = gpd.GeoDataFrame(
        {
            "building_id": ids.to_numpy(),
            "address": df["address"].astype(str).str.strip().to_numpy(),
            "households": hh.where(~bad_hh, -1).astype(int).to_numpy(),
        },
        geometry=gpd.GeoSeries(wgs, crs=4326),
    )
    for c in OPTIONAL:  # blank -> None (never NaN: it would be stored as the text 'NaN')
        values = [code_str(v) for v in df[c]] if c in df.columns else [None] * len(frame)
        frame[c] = pd.Series(values, index=frame.index, dtype=object)
    frame["footprint"] = foot if foot is not None else None

    # placement: community by point-in-polygon; the file's community_code is checked against it
    levels = load_levels(session)
    names = levels.names
    comm_level = names[-2] if len(names) >= 2 else names[-1]
    comms = units_at(session, d, comm_level)
    cells = units_at(session, d, names[-1])
    placed = _covering(frame, comms)
    for i, r in frame.iterrows():
        found = placed.get(r["building_id"])
        if found is None:
            problems.append(
                {
                    "row": int(i) + 1,
                    "kind": "outside_units",
                    "building_id": r["building_id"],
                    "severity": "warning",
                    "message": f"building {r['building_id']} lies in no {comm_level} in force on {d}",
                }
            )
        elif r["community_code"] and r["community_code"] != found:
            problems.append(
                {
                    "row": int(i) + 1,
                    "kind": "community_mismatch",
                    "building_id": r["building_id"],
                    "message": f"file says {comm_level} {r['community_code']} but the point lies in {found}",
                }
            )
        if found is not None and not r["community_code"]:
            frame.at[i, "community_code"] = found
    cell_of = _covering(frame, cells) if not cells.empty else {}

    errors = [q for q in problems if q.get("severity") != "warning"]
    report.problems = problems
    if errors:
        raise ImportBlocked(
            f"{p.name}: {len(errors)} problem(s) block the import; nothing was written",
            details=report.to_dict(),
        )

    existing = {
        r.building_id: r
        for r in session.execute(
            text(
                "SELECT id, building_id, address, households, valid_from, ST_AsBinary(geom) AS wkb FROM building "
                "WHERE valid_from <= :d AND (valid_to IS NULL OR :d < valid_to)"
            ),
            {"d": d},
        ).all()
    }
    new, changed, same = [], [], 0
    for _, r in frame.iterrows():
        old = existing.get(r["building_id"])
        if old is None:
            new.append(r)
        elif (
            old.address != r["address"]
            or old.households != r["households"]
            or not shapely.equals_exact(shapely.from_wkb(bytes(old.wkb)), r.geometry, tolerance=1e-9)
        ):
            changed.append((r, old))
        else:
            same += 1
    report.counts = {
        "rows": len(frame),
        "new": len(new),
        "changed": len(changed),
        "unchanged": same,
        "warnings": len(problems),
        "bound_to_cells": sum(1 for b in frame["building_id"] if b in cell_of),
    }
    if dry_run:
        return report

    run = ImportRun(
        kind="buildings",
        source=str(p),
        datum=str(dat),
        valid_from=d,
        params={},
        findings=problems,
        accepted=[],
        repairs=[],
        summary=report.counts,
    )
    session.add(run)
    session.flush()
    if changed:
        session.execute(
            text("UPDATE building SET valid_to = :d WHERE id = ANY(:ids)"),
            {"d": d, "ids": [int(o.id) for _, o in changed]},
        )
    rows = []
    for r in [*new, *(r for r, _ in changed)]:
        rows.append(
            {
                "bid": r["building_id"],
                "address": r["address"],
                "compound": r["compound"],
                "road": r["road"],
                "door": r["door_number"],
                "bno": r["building_no"],
                "wkb": shapely.to_wkb(r.geometry),
                "fp": shapely.to_wkb(r["footprint"]) if r["footprint"] is not None else None,
                "hh": int(r["households"]),
                "floors": _int_or_none(r["floors"]),
                "cc": r["community_code"],
                "vf": d,
                "source": source or f"import #{run.id}: {p.name}",
                "datum": str(dat),
            }
        )
    if rows:
        session.execute(
            text(
                "INSERT INTO building (building_id, address, compound, road, door_number, building_no, geom, footprint, "
                "households, floors, community_code, valid_from, source, source_datum) VALUES (:bid, :address, "
                ":compound, :road, :door, :bno, ST_GeomFromWKB(:wkb, 4326), ST_Multi(ST_GeomFromWKB(:fp, 4326)), :hh, "
                ":floors, :cc, :vf, :source, :datum)"
            ),
            rows,
        )
    if cell_of:
        from grid.db.importer import rebind

        current: dict[str, str] = dict(
            session.execute(
                text(
                    "SELECT building_id, cell_code FROM building_cell WHERE valid_from <= :d AND "
                    "(valid_to IS NULL OR :d < valid_to)"
                ),
                {"d": d},
            ).all()
        )
        moves = [
            {"building_id": b, "from": current.get(b), "to": c}
            for b, c in cell_of.items()
            if current.get(b) != c
        ]
        if moves:
            rebind(session, d, moves)
    report.applied = True
    report.import_id = run.id
    return report


def _int_or_none(v: Any) -> int | None:
    """A whole number from 0 to MAX_INT ('6', '6.0', 6.0), else None."""
    try:
        if v is None or v == "" or pd.isna(v):
            return None
        f = float(v)
    except (TypeError, ValueError):
        return None
    return int(f) if f.is_integer() and 0 <= f <= MAX_INT else None


def _covering(points: gpd.GeoDataFrame, polys: gpd.GeoDataFrame) -> dict[str, str]:
    if polys.empty:
        return {}
    j = gpd.sjoin(points[["building_id", "geometry"]], polys[["code", "geometry"]], predicate="covered_by")
    return dict(j.sort_values("code").groupby("building_id")["code"].first())
