"""``gridgov partition``: generate grid cells for communities and store them with history.

The cells come from :func:`grid.partition.partition_community`; this module gives them codes,
validates them with the foundation's validator, and writes them in one transaction:

* the first partition of a community numbers its cells 001, 002, ... in the partition's order
  (rows north to south, west to east within a row);
* a re-partition keeps the code of every cell whose set of buildings is unchanged (a new
  version of it is written only if its boundary moved), closes changed cells with ``valid_to``,
  and gives new cells the next never-used sequence number (a retired code is never reused);
* building bindings move with validity dates, so an old petition still resolves to the cell of
  its day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.config import get_settings
from grid.datum import parse_datum, to_wgs84
from grid.db.importer import rebind
from grid.db.models import ImportRun
from grid.db.store import buildings_at, load_levels, units_at
from grid.errors import Conflict, GridGovError, ImportBlocked, InputError, NotFound
from grid.io import read_layer
from grid.partition import PartitionParams, PartitionResult, partition_community, quality_report
from grid.validate import validate_units

Progress = Callable[[int, int, str], None]


def read_barriers(path: str | Path, datum: str = "wgs84") -> gpd.GeoSeries:
    gdf = read_layer(path)
    geoms = to_wgs84(np.asarray(gdf.geometry.values, dtype=object), parse_datum(datum), source_crs=gdf.crs)
    return gpd.GeoSeries(geoms, crs=4326)


def scope_communities(
    session: Session, d: dt.date, *, community: str | None, street: str | None, all_: bool
) -> list[str]:
    levels = load_levels(session)
    comm_level = levels.parent_of(levels.names[-1])
    if comm_level is None:
        raise InputError("the levels define no parent of the grid level", code="invalid_levels")
    if sum(x is not None and x is not False for x in (community, street, all_ or None)) != 1:
        raise InputError("give exactly one of --community, --street or --all", code="invalid_option")
    if community:
        df = units_at(session, d, comm_level.name, codes=[community])
        if df.empty:
            raise NotFound(f"no {comm_level.name} {community} in force on {d}", code="unit_not_found")
    elif street:
        df = units_at(session, d, comm_level.name, parent_codes=[street])
        if df.empty:
            raise NotFound(f"no {comm_level.name} under {street} in force on {d}", code="unit_not_found")
    else:
        codes = (
            session.execute(
                text(
                    "SELECT DISTINCT community_code FROM building WHERE community_code IS NOT NULL "
                    "AND valid_from <= :d AND (valid_to IS NULL OR :d < valid_to) ORDER BY 1"
                ),
                {"d": d},
            )
            .scalars()
            .all()
        )
        return list(codes)
    return sorted(df["code"])


def partition(
    session: Session,
    *,
    community: str | None = None,
    street: str | None = None,
    all_: bool = False,
    params: PartitionParams | None = None,
    barriers: gpd.GeoSeries | None = None,
    valid_from: dt.date | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Partition the communities in scope; returns the report (quality, codes kept/new/retired)."""
    params = params or PartitionParams()
    d = valid_from or dt.date.today()
    levels = load_levels(session)
    grid_level = levels.names[-1]
    comms = scope_communities(session, d, community=community, street=street, all_=all_)
    geoms = units_at(session, d, levels.parent_of(grid_level).name, codes=comms).set_index("code")  # type: ignore[union-attr]
    results: list[PartitionResult] = []
    per: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    all_moves: list[dict[str, Any]] = []
    writes: list[tuple[str, list[dict[str, Any]], list[int]]] = []
    for n, code in enumerate(comms):
        if progress:
            progress(n, len(comms), code)
        b = buildings_at(session, d, community_codes=[code])
        try:
            res = partition_community(
                code,
                geoms.loc[code].geometry,
                b,
                params=params,
                barriers=barriers,
                metric_epsg=get_settings().metric_epsg,
            )
        except GridGovError as exc:
            failures.append({"community": code, "code": exc.code, "error": exc.message})
            continue
        results.append(res)
        plan = _plan(session, d, code, res, grid_level)
        cells = gpd.GeoDataFrame(
            {
                "code": [c["code"] for c in plan["cells"]],
                "name": [c["name"] for c in plan["cells"]],
                "level": grid_level,
                "parent_code": code,
            },
            geometry=[c["geometry"] for c in plan["cells"]],
            crs=4326,
        )
        findings = validate_units(
            cells,
            levels=levels,
            parents=geoms.loc[[code]].reset_index().assign(level=levels.parent_of(grid_level).name),  # type: ignore[union-attr]
            tolerance_m2=get_settings().tolerance_m2,
            metric_epsg=get_settings().metric_epsg,
        )
        errors = [f.to_dict() for f in findings if f.severity == "error"]
        if errors:
            failures.append(
                {
                    "community": code,
                    "code": "partition_invalid",
                    "error": f"{len(errors)} validation error(s): {errors[0]['message']}",
                    "findings": errors[:10],
                }
            )
            continue
        per.append(
            {
                "community": code,
                "kept": plan["kept"],
                "new": plan["new"],
                "retired": plan["retired"],
                "redrawn": plan["redrawn"],
                "cells": len(plan["cells"]),
                "forced": [c["forced"] for c in plan["cells"] if c["forced"]],
                "warnings": res.warnings,
            }
        )
        all_moves += plan["moves"]
        writes.append((code, [c for c in plan["cells"] if c["write"]], plan["close_ids"]))
    report = {
        "valid_from": d.isoformat(),
        "dry_run": dry_run,
        "target": params.target,
        "min": params.min,
        "max": params.max,
        "communities": per,
        "failures": failures,
        "quality": quality_report(results, params.target) if results else None,
        "building_moves": len(all_moves),
    }
    if failures and not dry_run:
        raise _Blocked(report)
    if dry_run:
        return report
    run = ImportRun(
        kind="partition",
        source="gridgov partition",
        level=grid_level,
        datum="wgs84",
        valid_from=d,
        params={
            "target": params.target,
            "min": params.min,
            "max": params.max,
            "seed": params.seed,
            "barriers": barriers is not None,
            "communities": comms,
        },
        findings=[],
        accepted=[],
        repairs=[],
        summary={"communities": len(per), "moves": len(all_moves)},
    )
    session.add(run)
    session.flush()
    for _code, cells, close_ids in writes:
        if close_ids:
            session.execute(
                text("UPDATE unit SET valid_to = :d WHERE id = ANY(:ids)"), {"d": d, "ids": close_ids}
            )
        if cells:
            session.execute(
                text(
                    "INSERT INTO unit (level, code, name, parent_code, geom, households, valid_from, source, "
                    "source_datum, import_id) VALUES (:level, :code, :name, :parent, "
                    "ST_Multi(ST_GeomFromWKB(:wkb, 4326)), :hh, :vf, :source, 'wgs84', :imp)"
                ),
                [
                    {
                        "level": grid_level,
                        "code": c["code"],
                        "name": c["name"],
                        "parent": c["parent"],
                        "wkb": shapely.to_wkb(c["geometry"]),
                        "hh": c["households"],
                        "vf": d,
                        "source": f"gridgov partition #{run.id} (target {params.target})",
                        "imp": run.id,
                    }
                    for c in cells
                ],
            )
    if all_moves:
        rebind(session, d, all_moves)
    report["import_id"] = run.id
    report["applied"] = True
    return report


class _Blocked(ImportBlocked):
    code = "partition_failed"
    status = 422

    def __init__(self, report: dict[str, Any]) -> None:
        fails = report["failures"]
        super().__init__(
            f"{len(fails)} communit{'y' if len(fails) == 1 else 'ies'} could not be partitioned "
            f"({', '.join(f['community'] + ': ' + f['error'] for f in fails[:3])}); nothing was written",
            details=report,
        )


def _plan(
    session: Session, d: dt.date, community: str, res: PartitionResult, grid_level: str
) -> dict[str, Any]:
    """Codes for the new cells: keep unchanged building sets, never reuse a retired code."""
    current = units_at(session, d, grid_level, parent_codes=[community])
    bound = session.execute(
        text(
            "SELECT bc.cell_code, bc.building_id FROM building_cell bc WHERE bc.cell_code LIKE :p "
            "AND bc.valid_from <= :d AND (bc.valid_to IS NULL OR :d < bc.valid_to)"
        ),
        {"p": community + "%", "d": d},
    ).all()
    sets: dict[str, set[str]] = {}
    for cell, bid in bound:
        sets.setdefault(cell, set()).add(bid)
    by_set = {frozenset(v): k for k, v in sets.items() if k in set(current["code"])}
    cur = {r.code: r for _, r in current.iterrows()}
    used = (
        session.execute(
            text("SELECT max(substr(code, :n)::int) FROM unit WHERE level = :lv AND parent_code = :c"),
            {"n": len(community) + 1, "lv": grid_level, "c": community},
        ).scalar()
        or 0
    )
    later = session.execute(
        text("SELECT count(*) FROM unit WHERE level = :lv AND parent_code = :c AND valid_from > :d"),
        {"lv": grid_level, "c": community, "d": d},
    ).scalar()
    if later:
        raise Conflict(
            f"{community} has grid cells starting after {d}; partition from a later date",
            code="version_conflict",
        )
    seq = int(used)
    cells, kept, new, redrawn, close_ids = [], [], [], [], []
    for c in res.cells:
        key = frozenset(c.buildings)
        code = by_set.get(key)
        write = True
        if code is not None:
            kept.append(code)
            old = cur[code]
            if _same_geom(old.geometry, c.geometry):
                write = False
            else:
                redrawn.append(code)
                if old["valid_from"] == d:
                    raise Conflict(
                        f"cell {code} already has a version starting on {d}; re-partition with a later "
                        "--valid-from (history is never overwritten)",
                        code="version_conflict",
                    )
                close_ids.append(int(old["id"]))
        else:
            seq += 1
            if seq > 999:
                raise InputError(
                    f"{community} has used all 999 grid sequence numbers", code="sequence_exhausted"
                )
            code = f"{community}{seq:03d}"
            new.append(code)
        cells.append(
            {
                "code": code,
                "name": f"第{int(code[-3:])}网格",
                "parent": community,
                "geometry": c.geometry,
                "households": c.households,
                "forced": c.forced,
                "write": write,
                "buildings": c.buildings,
            }
        )
    keep_codes = set(kept)
    retired = sorted(c for c in cur if c not in keep_codes)
    for c in retired:
        if cur[c]["valid_from"] == d:
            raise Conflict(
                f"cell {c} already has a version starting on {d}; re-partition with a later --valid-from",
                code="version_conflict",
            )
        close_ids.append(int(cur[c]["id"]))
    binding = {bid: cell for cell, bid in bound}
    moves = [
        {"building_id": b, "from": binding.get(b), "to": c["code"]}
        for c in cells
        for b in c["buildings"]
        if binding.get(b) != c["code"]
    ]
    return {
        "cells": cells,
        "kept": sorted(kept),
        "new": new,
        "retired": retired,
        "redrawn": redrawn,
        "close_ids": close_ids,
        "moves": moves,
    }


def _same_geom(a: Any, b: Any) -> bool:
    try:
        return bool(
            shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), tolerance=1e-10)
        ) or bool(shapely.equals(a, b))
    except shapely.errors.GEOSException:
        return False


def seed_officers(session: Session, d: dt.date, cells: Iterable[str]) -> int:
    """A synthetic grid officer (name, phone) for each cell without one (demo data)."""
    from grid.db.store import assign_staff, staff_at

    family = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧"
    given = ["建华", "秀兰", "国强", "桂英", "志明", "玉兰", "海燕", "文杰", "晓东", "丽华", "春生", "红梅"]
    n = 0
    for i, code in enumerate(sorted(cells)):
        if staff_at(session, code, d, "grid_officer"):
            continue
        h = int(code[-6:]) + i
        assign_staff(
            session,
            code,
            family[h % len(family)] + given[(h // 7) % len(given)],
            role="grid_officer",
            phone=f"138{int(code[-7:]) % 10**8:08d}",
            valid_from=d,
        )
        n += 1
    return n
