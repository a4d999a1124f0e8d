"""``gridgov import units``: one transaction, all or nothing, history kept.

Flow: read -> prepare (datum, codes, parents, optional repair) -> plan against the version in
force at ``valid_from`` (new / changed / unchanged / missing) -> validate the state the store
would have after the import -> block on errors that are neither repaired nor accepted -> write:
close changed versions (``valid_to``), insert new ones, record the run, move building bindings.
A dry run stops after the plan and says what would change, including buildings changing cell.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.config import get_settings
from grid.db.limits import check_lengths
from grid.db.models import ImportRun, Unit
from grid.db.store import buildings_at, load_levels, units_at
from grid.errors import Conflict, ImportBlocked, InputError
from grid.imports import ImportSpec, datum_suspect, prepare_units
from grid.io import check_layer_text, code_str, read_layer, require_fields
from grid.levels import Levels
from grid.validate import KINDS, Finding, validate_units

Progress = Callable[[str], None]

#: ``--accept-dirty`` means exactly these kinds: a real layer drawn by hand that does not tile.
DIRTY_KINDS = ("gap", "overlap", "sliver")


@dataclass
class ImportReport:
    source: str
    level: str
    valid_from: str
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    blocking: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    repairs: list[dict[str, Any]] = field(default_factory=list)
    building_moves: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    applied: bool = False
    import_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    try:
        if shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), tolerance=1e-10):
            return True
        return bool(shapely.equals(a, b))
    except shapely.errors.GEOSException:
        return False


def _nullable(v: Any) -> Any:
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def _attrs_same(new: pd.Series, old: pd.Series) -> bool:
    return (
        new["name"] == old["name"]
        and _nullable(new["parent_code"]) == _nullable(old["parent_code"])
        and _nullable(new["households"]) == _nullable(old["households"])
        and _same(new.geometry, old.geometry)
    )


def import_units(
    session: Session,
    path: str | Path,
    *,
    level: str,
    code_field: str,
    name_field: str,
    datum: str,
    parent_field: str | None = None,
    parent_code: str | None = None,
    households_field: str | None = None,
    source_field: str | None = None,
    encoding: str | None = None,
    valid_from: dt.date | None = None,
    dry_run: bool = False,
    repair: bool = False,
    accept: Iterable[str] = (),
    accept_dirty: bool = False,
    retire_missing: bool = False,
    source: str | None = None,
    tolerance_m2: float | None = None,
    progress: Progress | None = None,
    code_prefix: str = "",
    select_by_code: bool = False,
) -> ImportReport:
    """:func:`import_units_spec` with the options as keywords (the fields of :class:`ImportSpec`)."""
    spec = ImportSpec(
        level=level,
        code_field=code_field,
        name_field=name_field,
        datum=datum,
        parent_field=parent_field,
        parent_code=parent_code,
        households_field=households_field,
        source_field=source_field,
        encoding=encoding,
        repair=repair,
        code_prefix=code_prefix,
        select_by_code=select_by_code,
        valid_from=valid_from,
        dry_run=dry_run,
        accept=tuple(accept),
        accept_dirty=accept_dirty,
        retire_missing=retire_missing,
        source=source,
        tolerance_m2=tolerance_m2,
    )
    return import_units_spec(session, path, spec, progress=progress)


def import_units_spec(
    session: Session, path: str | Path, spec: ImportSpec, *, progress: Progress | None = None
) -> ImportReport:
    """Import one level of boundaries from a file. Raises :class:`ImportBlocked` (nothing written).

    ``spec.code_prefix`` is put before every code read (independent layers whose ids would collide:
    council district ``5`` and neighborhood council ``5`` become ``CD5`` and ``NC5``).
    ``spec.select_by_code`` is for a file holding several levels: the features whose code has another
    level's format are left out (and counted); the rest, including codes that fit no level, are
    this level's and validated as such.
    """
    say = progress or (lambda _msg: None)
    settings = get_settings()
    tol = settings.tolerance_m2 if spec.tolerance_m2 is None else spec.tolerance_m2
    accepted = sorted(set(spec.accept) | (set(DIRTY_KINDS) if spec.accept_dirty else set()))
    unknown = [k for k in accepted if k not in KINDS]
    if unknown:
        raise InputError(
            f"--accept {', '.join(unknown)}: unknown finding kind(s); kinds are {', '.join(KINDS)}",
            code="invalid_option",
        )
    d = spec.valid_from or dt.date.today()
    levels = load_levels(session)
    lv = levels.by_name(spec.level)
    say(f"reading {path}")
    gdf = read_layer(path, encoding=spec.encoding)
    if gdf.empty:
        raise InputError(f"{Path(path).name} holds no features", code="empty_file")
    # NUL/control characters in a field we store: refused, naming the feature (GDAL cuts at a NUL)
    check_layer_text(gdf, path, [spec.code_field, spec.name_field, spec.parent_field, spec.source_field])
    file_rows = np.arange(1, len(gdf) + 1)
    skipped = 0
    if spec.select_by_code:
        gdf, file_rows, skipped = _select_level(
            gdf, levels, spec.level, spec.code_field, spec.code_prefix, Path(path).name
        )
    parents = units_at(session, d, lv.parent) if lv.parent else None
    prepared = prepare_units(
        gdf, spec, levels=levels, source=Path(path).name, reference=_reference(session, d, parents)
    )
    new_units = prepared.units
    new_units["row"] = file_rows
    check_lengths(new_units, Unit, ["code", "name", "parent_code", "source"], Path(path).name, file_rows)
    report = ImportReport(
        source=str(path),
        level=spec.level,
        valid_from=d.isoformat(),
        dry_run=spec.dry_run,
        accepted=accepted,
        repairs=prepared.repairs,
    )

    # -- plan against the version in force at d
    say("comparing with the version in force")
    existing = units_at(session, d, spec.level)
    by_code = {r.code: r for _, r in existing.iterrows()}
    file_codes = [c for c in new_units["code"] if c]
    later = session.execute(
        text("SELECT code, min(valid_from) FROM unit WHERE code = ANY(:c) AND valid_from > :d GROUP BY code"),
        {"c": file_codes, "d": d},
    ).all()
    if later:
        ex = ", ".join(f"{c} (from {f})" for c, f in later[:5])
        raise Conflict(
            f"{len(later)} unit(s) already have a version starting after {d}: {ex}; "
            "import with a --valid-from on or after those dates",
            code="version_conflict",
        )
    new_rows, changed_rows = [], []
    for _, r in new_units.iterrows():
        old = by_code.get(r["code"])
        if old is None:
            new_rows.append(r)
        elif not _attrs_same(r, old):
            if old["valid_from"] == d:
                raise Conflict(
                    f"unit {r['code']} already has a version starting on {d}; a changed boundary "
                    "needs a later --valid-from (history is never overwritten)",
                    code="version_conflict",
                )
            changed_rows.append((r, old))
    scope_parents = set(new_units["parent_code"].dropna())
    missing = sorted(
        c
        for c, r in by_code.items()
        if c not in set(file_codes) and (lv.parent is None or _nullable(r["parent_code"]) in scope_parents)
    )
    report.new = sorted(r["code"] for r in new_rows if r["code"])
    report.changed = sorted(r["code"] for r, _ in changed_rows)
    report.missing = missing
    report.retired = missing if spec.retire_missing else []

    # -- validate the state after the import
    say("validating")
    keep = existing[~existing["code"].isin(set(file_codes) | set(report.retired))]
    cols = ["code", "name", "level", "parent_code", "geometry"]
    state = gpd.GeoDataFrame(
        pd.concat([keep[cols], new_units[cols]], ignore_index=True), geometry="geometry", crs=4326
    )
    findings = validate_units(
        state,
        levels=levels,
        parents=parents,
        tolerance_m2=tol,
        sliver_ratio=settings.sliver_ratio,
        sliver_max_m2=settings.sliver_max_m2,
        metric_epsg=settings.metric_epsg,
        taken_codes=_taken_codes(session, d, spec.level, file_codes),
    )
    suspect = datum_suspect(prepared, parents)
    if suspect is not None:
        findings.append(suspect)
    # a row of the file without a code shows in findings as "<row LABEL>" (its label in ``state``)
    uncoded = {
        f"<row {label}>"
        for label, c in zip(state.index[len(keep) :], new_units["code"], strict=True)
        if not c
    }
    touched = set(file_codes) | scope_parents | set(report.retired) | uncoded
    blocking: list[Finding] = [
        f
        for f in findings
        if f.severity == "error" and f.kind not in accepted and (not f.codes or set(f.codes) & touched)
    ]
    report.findings = [f.to_dict() for f in findings]
    report.blocking = [f.to_dict() for f in blocking]
    report.counts = {
        "features": len(new_units),
        "new": len(report.new),
        "changed": len(report.changed),
        "unchanged": len(new_units) - len(report.new) - len(report.changed),
        "missing": len(missing),
        "errors": sum(f.severity == "error" for f in findings),
        "warnings": sum(f.severity == "warning" for f in findings),
        "blocking": len(blocking),
        "repaired": len(prepared.repairs),
    }
    if spec.select_by_code:
        report.counts["skipped_other_levels"] = skipped

    # -- buildings whose unit at this level would change
    new_state = state[~state["code"].isin(report.retired)]
    report.building_moves = building_moves(session, d, spec.level, new_state, levels.names[-1] == spec.level)
    report.counts["building_moves"] = len(report.building_moves)
    report.decisions = decisions(report.findings, prepared.repairs, accepted, settings.gap_tolerance_m)

    if blocking:
        kinds = sorted({f.kind for f in blocking})
        raise ImportBlocked(
            f"import blocked by {len(blocking)} error finding(s) ({', '.join(kinds)}); nothing was written. "
            f"{_how_to_pass(kinds, spec.repair)}",
            details=report.to_dict(),
        )
    if spec.dry_run:
        return report

    # -- write, all in the caller's transaction
    say("writing")
    run = ImportRun(
        kind="units",
        source=str(path),
        level=spec.level,
        datum=str(prepared.datum),
        valid_from=d,
        params={
            "code_field": spec.code_field,
            "name_field": spec.name_field,
            "parent_field": spec.parent_field,
            "parent_code": spec.parent_code,
            "repair": spec.repair,
            "accept_dirty": spec.accept_dirty,
            "retire_missing": spec.retire_missing,
            "tolerance_m2": tol,
            "source_crs": prepared.source_crs,
            "code_prefix": spec.code_prefix,
            "select_by_code": spec.select_by_code,
        },
        findings=report.findings,
        accepted=accepted,
        repairs=prepared.repairs,
        summary={**report.counts, "decisions": report.decisions},
    )
    session.add(run)
    session.flush()
    close_ids = [int(old["id"]) for _, old in changed_rows]
    close_ids += [int(by_code[c]["id"]) for c in report.retired]
    if close_ids:
        session.execute(
            text("UPDATE unit SET valid_to = :d WHERE id = ANY(:ids)"), {"d": d, "ids": close_ids}
        )
    src_srid = 0 if prepared.datum.is_shifted else _source_srid(prepared.source_crs, prepared.datum.epsg)
    label = spec.source or f"import #{run.id}: {Path(path).name}"
    inserts = [
        {
            "level": spec.level,
            "code": r["code"],
            "name": r["name"],
            "parent_code": _nullable(r["parent_code"]),
            "wkb": shapely.to_wkb(r.geometry),
            "src": shapely.to_wkb(r["geom_source"]) if r["geom_source"] is not None else None,
            "srid": src_srid,
            "households": _nullable(r["households"]),
            "vf": d,
            "source": _nullable(r["source"]) or label,
            "datum": str(prepared.datum),
            "imp": run.id,
        }
        for r in [*new_rows, *(r for r, _ in changed_rows)]
    ]
    if inserts:
        session.execute(
            text(
                "INSERT INTO unit (level, code, name, parent_code, geom, geom_source, households, valid_from, "
                "source, source_datum, import_id) VALUES (:level, :code, :name, :parent_code, "
                "ST_Multi(ST_GeomFromWKB(:wkb, 4326)), ST_SetSRID(ST_GeomFromWKB(:src), :srid), :households, :vf, "
                ":source, :datum, :imp)"
            ),
            inserts,
        )
    if levels.names[-1] == spec.level and report.building_moves:
        rebind(session, d, report.building_moves)
    report.applied = True
    report.import_id = run.id
    return report


def _select_level(
    gdf: gpd.GeoDataFrame, levels: Levels, level: str, code_field: str, prefix: str, source: str
) -> tuple[gpd.GeoDataFrame, np.ndarray, int]:
    """The features of a multi-level file that are ``level``'s: those whose code has no other
    level's format. Returns them, their row numbers in the file and how many were left out."""
    require_fields(gdf, {"--code-field": code_field}, source)
    others = [lv for lv in levels if lv.name != level]
    keep = []
    for v in gdf[code_field]:
        c = code_str(v)
        keep.append(c is None or not any(o.code_problem(prefix + c) is None for o in others))
    mask = np.asarray(keep, dtype=bool)
    if not mask.any():
        raise InputError(
            f"{source}: no feature has a code of {level} ({levels.by_name(level).describe_format()}); "
            "every code has another level's format",
            code="empty_file",
        )
    return gdf[mask], np.flatnonzero(mask) + 1, int((~mask).sum())


def _reference(session: Session, d: dt.date, parents: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """Stored units to recognise a projected CRS by: the parent level's, else any level's."""
    if parents is not None and not parents.empty:
        return parents
    found = units_at(session, d)
    return None if found.empty else found


def _taken_codes(session: Session, d: dt.date, level: str, codes: list[str]) -> dict[str, str]:
    """Codes of the file held by a unit of another level whose validity reaches ``d`` or later."""
    if not codes:
        return {}
    rows = session.execute(
        text(
            "SELECT DISTINCT code, level FROM unit WHERE code = ANY(:c) AND level <> :lv "
            "AND (valid_to IS NULL OR valid_to > :d)"
        ),
        {"c": codes, "lv": level, "d": d},
    ).all()
    return {c: lv for c, lv in rows}


#: Kinds a person may sensibly accept (areas left as they are); the others need a fix in the file.
ACCEPTABLE = ("gap", "overlap", "sliver", "outside_parent", "parent_mismatch")


def _how_to_pass(kinds: list[str], repaired: bool) -> str:
    """The exact flags that would let a blocked import through, or what to fix."""
    flags = []
    if "invalid_geometry" in kinds and not repaired:
        flags.append("--repair")
    flags += [f"--accept {k}" for k in kinds if k in ACCEPTABLE]
    to_fix = [k for k in kinds if k not in ACCEPTABLE and (k != "invalid_geometry" or repaired)]
    parts = []
    if to_fix:
        parts.append(f"Fix in the file (or in the levels): {', '.join(to_fix)} (see the findings)")
    if flags:
        how = "re-run with " + " ".join(flags) + " (each accepted kind is recorded with the import)"
        parts.append(("then " if to_fix else "Fix the file, or ") + how)
    if {k for k in kinds if k in ACCEPTABLE} & set(DIRTY_KINDS):
        parts.append("--accept-dirty accepts gap, overlap and sliver at once")
    return "; ".join(parts) + "."


def _fmt_m2(a: float) -> str:
    return f"{a / 1e6:,.3f} km²" if a >= 1e5 else f"{a:,.1f} m²"


def decisions(
    findings: list[dict[str, Any]],
    repairs: list[dict[str, Any]],
    accepted: Iterable[str],
    gap_tolerance_m: float,
) -> list[dict[str, Any]]:
    """What each decision of the import moved, in area: the repairs (area before/after per
    feature) and each accepted kind (area left overlapping and who owns it, area of gaps left
    and what a point there gets, slivers kept)."""
    out: list[dict[str, Any]] = []
    if repairs:
        before = sum(r.get("area_before_m2") or 0.0 for r in repairs)
        after = sum(r.get("area_after_m2") or 0.0 for r in repairs)
        out.append(
            {
                "decision": "repair",
                "count": len(repairs),
                "area_before_m2": round(before, 1),
                "area_after_m2": round(after, 1),
                "area_moved_m2": round(after - before, 1),
                "message": f"repaired {len(repairs)} feature(s): {_fmt_m2(before)} as drawn -> "
                f"{_fmt_m2(after)} ({after - before:+,.1f} m²); per feature in the repairs list",
            }
        )
    for kind in sorted(set(accepted)):
        found = [f for f in findings if f["kind"] == kind]
        area = sum(f.get("area_m2") or 0.0 for f in found)
        row: dict[str, Any] = {
            "decision": f"accept {kind}",
            "count": len(found),
            "errors": sum(f["severity"] == "error" for f in found),
            "area_m2": round(area, 1),
        }
        if kind == "overlap":
            owners: dict[str, float] = {}
            for f in found:
                codes = sorted(f["codes"])
                if codes:
                    owners[codes[0]] = owners.get(codes[0], 0.0) + (f.get("area_m2") or 0.0)
            row["owned_by"] = {c: round(a, 1) for c, a in sorted(owners.items())}
            top = ", ".join(f"{c} {_fmt_m2(a)}" for c, a in sorted(owners.items(), key=lambda t: -t[1])[:5])
            row["message"] = (
                f"{len(found)} overlap(s) kept, {_fmt_m2(area)} left overlapping; a point there is owned "
                "by the ownership rule (a ruling, else the named building's unit, else the lowest code): "
                f"by lowest code {top or '-'}"
            )
        elif kind == "gap":
            row["gap_tolerance_m"] = gap_tolerance_m
            row["message"] = (
                f"{len(found)} gap(s) kept, {_fmt_m2(area)} covered by no unit; a point there gets the gap "
                f"rule: the nearest unit within {gap_tolerance_m:g} m (status gap, rule nearest, with the "
                "distance), farther away status outside"
            )
        elif kind == "sliver":
            row["message"] = f"{len(found)} sliver(s) kept as they are, {_fmt_m2(area)} in all"
        else:
            row["message"] = f"{len(found)} {kind} finding(s) accepted" + (
                f", {_fmt_m2(area)}" if area else ""
            )
        out.append(row)
    return out


def _source_srid(source_crs: str | None, datum_epsg: int | None) -> int:
    """SRID of the original coordinates as kept in ``geom_source`` (0 for GCJ-02/BD-09: no EPSG code)."""
    if source_crs:
        import pyproj

        epsg = pyproj.CRS.from_user_input(source_crs).to_epsg()
        if epsg:
            return int(epsg)
    return datum_epsg or 0


def building_moves(
    session: Session, d: dt.date, level: str, new_state: gpd.GeoDataFrame, binding_level: bool
) -> list[dict[str, Any]]:
    """Buildings in force at ``d`` whose unit at ``level`` differs between now and ``new_state``."""
    b = buildings_at(session, d)
    if b.empty:
        return []
    if binding_level:
        before = b.set_index("building_id")["cell_code"]
    else:
        cur = units_at(session, d, level)
        before = _containing(b, cur)
    after = _containing(b, new_state)
    moves = []
    for bid in b["building_id"]:
        o, n = _nullable(before.get(bid)), _nullable(after.get(bid))
        if o != n:
            moves.append({"building_id": bid, "from": o, "to": n})
    return moves


def _containing(points: gpd.GeoDataFrame, polys: gpd.GeoDataFrame) -> pd.Series:
    """building_id -> code of the polygon covering the point (lowest code on a shared edge)."""
    if polys.empty:
        return pd.Series(dtype=object)
    valid = polys[polys.geometry.notna() & polys.geometry.is_valid]
    j = gpd.sjoin(points[["building_id", "geometry"]], valid[["code", "geometry"]], predicate="covered_by")
    return j.sort_values("code").groupby("building_id")["code"].first()


def rebind(session: Session, d: dt.date, moves: list[dict[str, Any]]) -> None:
    """Move each building's binding at ``d``: close the old one and open the new (history stays).

    A binding that itself starts on ``d`` was never in force on another day, so it is corrected in place.
    """
    ids = [m["building_id"] for m in moves]
    same_day = set(
        session.scalars(
            text("SELECT building_id FROM building_cell WHERE building_id = ANY(:ids) AND valid_from = :d"),
            {"d": d, "ids": ids},
        ).all()
    )
    session.execute(
        text(
            "UPDATE building_cell SET valid_to = :d WHERE building_id = ANY(:ids) AND valid_from < :d "
            "AND (valid_to IS NULL OR valid_to > :d)"
        ),
        {"d": d, "ids": ids},
    )
    for m in moves:
        if m["building_id"] in same_day:
            if m["to"]:
                session.execute(
                    text(
                        "UPDATE building_cell SET cell_code = :c WHERE building_id = :b AND valid_from = :d"
                    ),
                    {"b": m["building_id"], "c": m["to"], "d": d},
                )
            else:
                session.execute(
                    text("DELETE FROM building_cell WHERE building_id = :b AND valid_from = :d"),
                    {"b": m["building_id"], "d": d},
                )
        elif m["to"]:
            session.execute(
                text("INSERT INTO building_cell (building_id, cell_code, valid_from) VALUES (:b, :c, :d)"),
                {"b": m["building_id"], "c": m["to"], "d": d},
            )
