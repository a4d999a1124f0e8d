"""``gridgov city init``: read a layer, compare it with the store, propose levels, load them.

The inference is pure (:mod:`grid.cityinit`); this module reads the file and the store's
levels and units in force, and with ``apply`` writes the levels (and, given a datum, imports
the layer) in the caller's transaction: all or nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from grid.cityinit import CityPlan, StoredLayer, infer_city, pick_name_field, unique_fields
from grid.datum import parse_datum, to_wgs84
from grid.errors import GridGovError, InputError
from grid.io import code_str, read_layer, require_fields
from grid.levels import Levels

Progress = Callable[[str], None]


def _text_values(values: Sequence[Any]) -> list[Any]:
    return [v if v is None or isinstance(v, (str, int, float)) else str(v) for v in values]


def plan_city(
    session: Session,
    path: str | Path,
    *,
    code_field: str,
    name_field: str | None = None,
    parent_field: str | None = None,
    level_names: Sequence[str] = (),
    code_prefix: str = "",
    datum: str | None = None,
    encoding: str | None = None,
    parent_level: str | None = None,
    independent: bool = False,
    add_layer: bool = False,
    date: dt.date | None = None,
) -> CityPlan:
    """The levels ``path`` holds, judged against the store's units in force at ``date``."""
    from grid.db.store import load_levels, units_at

    p = Path(path)
    d = date or dt.date.today()
    gdf = read_layer(p, encoding=encoding)
    if gdf.empty:
        raise InputError(f"{p.name} holds no features", code="empty_file")
    require_fields(
        gdf, {"--code-field": code_field, "--name-field": name_field, "--parent-field": parent_field}, p.name
    )
    columns = [str(c) for c in gdf.columns if c != "geometry"]
    name = name_field or pick_name_field(columns, code_field)
    codes = [code_str(v) for v in gdf[code_field]]
    parents = [code_str(v) for v in gdf[parent_field]] if parent_field else None
    geoms = np.asarray(shapely.force_2d(np.asarray(gdf.geometry.values, dtype=object)), dtype=object)
    fields = unique_fields({c: _text_values(list(gdf[c])) for c in columns})

    stored_levels = load_levels(session)
    n_units = int(session.execute(text("SELECT count(*) FROM unit")).scalar() or 0)
    stored: list[StoredLayer] = []
    notes: list[str] = []
    problems: list[dict[str, str]] = []
    g84: np.ndarray | None = None
    if n_units:
        for lv in stored_levels:
            u = units_at(session, d, lv.name)
            if len(u):
                stored.append(
                    StoredLayer(lv, [str(c) for c in u["code"]], np.asarray(u.geometry.values, dtype=object))
                )
        if not add_layer:
            problems.append(
                {
                    "kind": "store_not_empty",
                    "message": f"the store already holds {n_units} unit(s) ({', '.join(s.level.name for s in stored)}): "
                    "pass --add-layer to add this layer beside or below them, or point --database-url at an "
                    "empty store (scripts/bootstrap makes one: gridgov_city)",
                }
            )
        g84, note = _to_wgs84(geoms, gdf.crs, datum, p.name)
        if note:
            notes.append(note)
    plan = infer_city(
        codes,
        geoms,
        source=str(path),
        code_field=code_field,
        name_field=name,
        parent_values=parents,
        parent_field=parent_field,
        names=level_names,
        code_prefix=code_prefix,
        stored=stored,
        stored_levels=stored_levels if stored else None,
        geoms_wgs84=g84,
        parent_level=parent_level,
        independent=independent,
        code_fields=fields,
    )
    if not name_field:
        plan.notes.insert(0, f"names from field {name!r} (pass --name-field to choose another)")
    plan.notes[:0] = notes
    plan.problems[:0] = problems
    return plan


def _to_wgs84(geoms: np.ndarray, crs: Any, datum: str | None, source: str) -> tuple[np.ndarray, str | None]:
    """The features in EPSG:4326 for the containment test against the stored units."""
    if datum is None:
        if crs is None or not crs.is_geographic:
            raise InputError(
                f"{source}: its coordinates are not declared as degrees, so they cannot be compared "
                "with the stored units: pass --datum (wgs84, gcj02, bd09 or EPSG:n)",
                code="missing_option",
            )
        return np.asarray(to_wgs84(geoms, parse_datum("wgs84"), source_crs=crs), dtype=object), (
            "containment judged with the coordinates read as WGS84 (pass --datum to say otherwise)"
        )
    return np.asarray(to_wgs84(geoms, parse_datum(datum), source_crs=crs), dtype=object), None


def apply_plan(
    session: Session,
    plan: CityPlan,
    *,
    datum: str | None = None,
    encoding: str | None = None,
    valid_from: dt.date | None = None,
    repair: bool = False,
    accept: Sequence[str] = (),
    accept_dirty: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Load the plan's levels and, given ``datum``, import the layer into them (parents first).

    Refuses a plan with problems (nothing written). An import blocked by its findings raises
    :class:`grid.errors.ImportBlocked` and the caller's transaction is rolled back, levels too.
    """
    from grid.db.importer import import_units
    from grid.db.store import save_levels

    if plan.problems:
        first = plan.problems[0]
        raise GridGovError(
            f"the plan has {len(plan.problems)} problem(s); nothing was written. First: {first['message']}",
            code=first["kind"],
        )
    from grid.db.store import load_levels

    kept = list(load_levels(session)) if plan.mode == "add" else []
    levels = Levels([*kept, *(p.level for p in plan.levels)])  # new levels may name stored parents
    written = save_levels(session, levels, add=plan.mode == "add")
    out: dict[str, Any] = {"levels_written": written, "imports": []}
    if datum is None:
        return out
    several = len(plan.levels) > 1
    for k, p in enumerate(plan.levels):
        use_field = k == 0 and p.level.nesting == "field"
        rep = import_units(
            session,
            plan.source,
            level=p.level.name,
            code_field=plan.code_field,
            name_field=plan.name_field,
            datum=datum,
            parent_field=plan.parent_field if use_field else None,
            encoding=encoding,
            valid_from=valid_from,
            repair=repair,
            accept=accept,
            accept_dirty=accept_dirty,
            code_prefix=plan.code_prefix,
            select_by_code=several,
            progress=progress,
        )
        out["imports"].append(rep.to_dict())
    return out
