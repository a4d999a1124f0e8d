"""``gridgov import addresses``: the standard-address gazetteer, versioned, all or nothing.

A file (CSV with ``lon``/``lat``, or GeoJSON/GeoPackage with any geometry) holds one named place
per row: ``place_id`` (a building's id for buildings), ``kind`` (building, compound, road, door,
landmark, crossing, community, street, district), ``name``, and optionally ``aliases`` (former and
colloquial names, ``|``-separated), ``building_id``, ``compound``, ``road``, ``door_number``,
``building_no``, ``community_code``, ``households`` and, for roads, ``from_left``, ``to_left``,
``from_right``, ``to_right`` (door-number ranges). Every row is checked before anything is written.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.datum import parse_datum, to_wgs84
from grid.db.limits import string_limits
from grid.db.models import GazetteerPlace, ImportRun
from grid.errors import ImportBlocked, InputError
from grid.io import read_point_rows, text_problems

KINDS = ("building", "compound", "road", "door", "landmark", "crossing", "community", "street", "district")
OPTIONAL = ("building_id", "compound", "road", "door_number", "building_no", "community_code")
RANGES = ("from_left", "to_left", "from_right", "to_right")
#: the widths of the store's columns (from the model): a longer value is a problem of its row
LIMITS = {c: n for c, n in string_limits(GazetteerPlace).items() if c in ("place_id", *OPTIONAL)}
MAX_INT = 2**31 - 1  # households is a 32-bit integer


def _text(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    s = str(v).strip()
    if s.endswith(".0") and s[:-2].isdigit():
        s = s[:-2]
    return s or None


def _aliases(v: Any) -> list[str]:
    t = _text(v)
    if not t:
        return []
    if t.startswith("["):
        try:
            return [str(x).strip() for x in json.loads(t) if x is not None and str(x).strip()]
        except (ValueError, RecursionError):  # not JSON (or nested too deep): '|'-separated text
            pass
    return [a.strip() for a in t.split("|") if a.strip()]


def _whole(v: Any, *, lo: int | None = None, hi: int | None = None) -> int | None:
    """A whole number ('12', '12.0', 12.0) within [lo, hi]; raises ValueError otherwise."""
    t = _text(v)
    if t is None:
        return None
    f = float(t)  # ValueError for text that is no number
    if not f.is_integer() or (lo is not None and f < lo) or (hi is not None and f > hi):
        raise ValueError(t)
    return int(f)


def read_places(path: Path, datum: str, kind: str | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    df, geoms, crs = read_point_rows(path, required=["name"] if kind else ["name", "kind"])
    if kind is not None:
        df["kind"] = kind
    for col in ("kind", "name"):
        if col not in df.columns:
            raise InputError(f"{path.name}: missing column {col!r} (or give --kind)", code="missing_field")
    wgs = np.asarray(shapely.force_2d(to_wgs84(geoms, parse_datum(datum), source_crs=crs)), dtype=object)
    return df.reset_index(drop=True), wgs


def import_addresses(
    session: Session,
    path: str | Path,
    *,
    datum: str,
    kind: str | None = None,
    valid_from: dt.date | None = None,
    dry_run: bool = False,
    source: str | None = None,
) -> dict[str, Any]:
    p = Path(path)
    d = valid_from or dt.date.today()
    if kind is not None and kind not in KINDS:
        raise InputError(f"--kind {kind!r}: kinds are {', '.join(KINDS)}", code="invalid_option")
    df, geoms = read_places(p, datum, kind)
    datum = str(parse_datum(datum))  # as stored: 'wgs84', 'EPSG:4548' (the text given may be ' WGS-84 ')
    if df.empty:
        raise InputError(f"{p.name} holds no places", code="empty_file")
    problems: list[dict[str, Any]] = []
    # NUL/control characters in any field we store (GDAL cuts at a NUL: the file is read too)
    stored = ["place_id", "kind", "name", "aliases", *OPTIONAL]
    for j, f, why in text_problems(df, p, stored):
        problems.append(
            {
                "row": j + 1,
                "place_id": _text(df.at[j, "place_id"]) if "place_id" in df.columns else None,
                "kind": "invalid_characters",
                "message": f"{f} {why}; such characters cannot be stored",
            }
        )
    rows: list[dict[str, Any]] = []
    for i, r in df.iterrows():
        k = _text(r.get("kind"))
        name = _text(r.get("name"))
        pid = _text(r.get("place_id")) or (_text(r.get("building_id")) if k == "building" else None)
        g = geoms[i]
        where = {"row": int(i) + 1, "place_id": pid}
        if k not in KINDS:
            problems.append(
                {**where, "kind": "unknown_kind", "message": f"kind {k!r} is not one of {', '.join(KINDS)}"}
            )
        if not name:
            problems.append({**where, "kind": "missing_name", "message": "a place needs a name"})
        if not pid:
            problems.append(
                {**where, "kind": "missing_id", "message": "a place needs a place_id (or building_id)"}
            )
        if g is None or shapely.is_empty(g):
            problems.append({**where, "kind": "missing_geometry", "message": "no geometry"})
        elif not shapely.is_valid(g):
            problems.append({**where, "kind": "invalid_geometry", "message": shapely.is_valid_reason(g)})
        ranges: dict[str, int] = {}
        hh = None
        for c, lo, hi in [*((c, None, None) for c in RANGES), ("households", 0, MAX_INT)]:
            try:
                v = _whole(r.get(c), lo=lo, hi=hi) if c in df.columns else None
            except (ValueError, OverflowError):
                problems.append(
                    {**where, "kind": "bad_number", "message": f"{c} {r.get(c)!r} is not a whole number"}
                )
                continue
            if c == "households":
                hh = v
            elif v is not None:
                ranges[c] = v
        texts = {c: _text(r.get(c)) for c in OPTIONAL}
        for c, value in (("place_id", pid), *texts.items()):
            if c in LIMITS and value is not None and len(value) > LIMITS[c]:
                problems.append(
                    {**where, "kind": "value_too_long", "message": f"{c} longer than {LIMITS[c]} characters"}
                )
        rows.append(
            {
                "place_id": pid,
                "kind": k,
                "name": name,
                "aliases": _aliases(r.get("aliases")),
                **texts,
                "households": hh,
                "door_ranges": ranges or None,
                "geom": g,
            }
        )
    ids = pd.Series([x["place_id"] for x in rows])
    for pid in sorted(set(ids[ids.duplicated() & ids.notna()])):
        problems.append({"place_id": pid, "kind": "duplicate_id", "message": f"place_id {pid} appears twice"})
    report: dict[str, Any] = {
        "source": str(p),
        "valid_from": d.isoformat(),
        "dry_run": dry_run,
        "problems": problems[:200],
    }
    if problems:
        raise ImportBlocked(
            f"{p.name}: {len(problems)} problem(s) block the import; nothing was written", details=report
        )
    existing = {
        r.place_id: r
        for r in session.execute(
            text(
                "SELECT id, valid_from, place_id, kind, name, aliases, building_id, compound, road, door_number, building_no, "
                "community_code, households, door_ranges, ST_AsBinary(geom) AS wkb FROM gazetteer_place "
                "WHERE valid_from <= :d AND (valid_to IS NULL OR :d < valid_to)"
            ),
            {"d": d},
        ).all()
    }
    new, changed, same = [], [], 0
    for x in rows:
        old = existing.get(x["place_id"])
        if old is None:
            new.append(x)
            continue
        fields_same = all(getattr(old, c) == x[c] for c in ("kind", "name", *OPTIONAL, "households")) and (
            list(old.aliases or []) == x["aliases"] and (old.door_ranges or None) == x["door_ranges"]
        )
        if fields_same and shapely.equals_exact(shapely.from_wkb(bytes(old.wkb)), x["geom"], tolerance=1e-9):
            same += 1
        else:
            changed.append((x, old))
    report["counts"] = {
        "rows": len(rows),
        "new": len(new),
        "changed": len(changed),
        "unchanged": same,
        "by_kind": dict(pd.Series([x["kind"] for x in rows]).value_counts()),
    }
    if dry_run:
        return report
    run = ImportRun(
        kind="addresses",
        source=str(p),
        datum=datum,
        valid_from=d,
        params={},
        findings=[],
        accepted=[],
        repairs=[],
        summary={k: v for k, v in report["counts"].items() if k != "by_kind"},
    )
    session.add(run)
    session.flush()
    if changed:
        # a version that starts on the same day was never in force on another day: it is corrected
        # in place (replaced); older versions are closed, so their history stays queryable
        same_day = [int(o.id) for _, o in changed if o.valid_from == d]
        older = [int(o.id) for _, o in changed if o.valid_from != d]
        if same_day:
            session.execute(text("DELETE FROM gazetteer_place WHERE id = ANY(:ids)"), {"ids": same_day})
        if older:
            session.execute(
                text("UPDATE gazetteer_place SET valid_to = :d WHERE id = ANY(:ids)"), {"d": d, "ids": older}
            )
    ins = [*new, *(x for x, _ in changed)]
    if ins:
        session.execute(
            text(
                "INSERT INTO gazetteer_place (place_id, kind, name, aliases, building_id, compound, road, door_number, "
                "building_no, community_code, households, door_ranges, geom, valid_from, source, source_datum, import_id) "
                "VALUES (:place_id, :kind, :name, CAST(:aliases AS jsonb), :building_id, :compound, :road, :door_number, "
                ":building_no, :community_code, :households, CAST(:door_ranges AS jsonb), ST_GeomFromWKB(:wkb, 4326), "
                ":vf, :source, :datum, :imp)"
            ),
            [
                {
                    **{k: v for k, v in x.items() if k != "geom"},
                    "aliases": json.dumps(x["aliases"], ensure_ascii=False),
                    "door_ranges": json.dumps(x["door_ranges"]) if x["door_ranges"] else None,
                    "wkb": shapely.to_wkb(x["geom"]),
                    "vf": d,
                    "source": source or f"import #{run.id}: {p.name}",
                    "datum": datum,
                    "imp": run.id,
                }
                for x in ins
            ],
        )
    report["applied"] = True
    report["import_id"] = run.id
    return report
