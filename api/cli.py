"""The ``gridgov`` command line (typer). Run ``gridgov --help`` or ``gridgov COMMAND --help``.

Every command that writes does so in one transaction: it either completes or changes nothing.
Errors print one precise line (``error [code]: message``) and exit non-zero; never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from grid.errors import GridGovError, ImportBlocked, InputError

app = typer.Typer(
    help="gridgov: jurisdiction store, grid cells, petitions routing for city governance.\n\n"
    "Start with `gridgov demo` (loads the Beijing sample city and serves the API).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
import_app = typer.Typer(
    help="Import units (boundaries), buildings and staff from files.", no_args_is_help=True
)
staff_app = typer.Typer(
    help="Who serves a unit: grid officers and other staff, with validity dates.", no_args_is_help=True
)
sample_app = typer.Typer(
    help="The Beijing sample city (real districts, approximate streets/communities, "
    "synthetic buildings of 双井街道).",
    no_args_is_help=True,
)
catalogue_app = typer.Typer(help="Category and routing catalogues.", no_args_is_help=True)
levels_app = typer.Typer(
    help="Administrative levels and their code formats (levels are data).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(staff_app, name="staff")
app.add_typer(sample_app, name="sample")
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(levels_app, name="levels")
city_app = typer.Typer(
    help="A new city: its levels inferred from its boundary layer (`gridgov city init --help`).",
    no_args_is_help=True,
)
app.add_typer(city_app, name="city")
keys_app = typer.Typer(
    help="API keys for systems calling the API (roles and scopes: docs/SECURITY.md).", no_args_is_help=True
)
users_app = typer.Typer(
    help="People who log in (POST /v1/auth/token): roles, scopes, disabling. Roles: "
    "public, operator, officer, street_admin, planner, admin (docs/SECURITY.md).",
    no_args_is_help=True,
)
petitions_app = typer.Typer(
    help="Petitions: finish interrupted dispatches, retention, sample year.", no_args_is_help=True
)
maps_app = typer.Typer(help="Map pages as static files that open from disk.", no_args_is_help=True)
app.add_typer(maps_app, name="maps")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(petitions_app, name="petitions")

out = Console()
err = Console(stderr=True)
T = TypeVar("T")


class Fmt(StrEnum):
    text = "text"
    json = "json"


DateOpt = Annotated[
    dt.datetime | None,
    typer.Option("--date", formats=["%Y-%m-%d"], help="boundary version date (default: today)"),
]
ValidFromOpt = Annotated[
    dt.datetime | None,
    typer.Option(
        "--valid-from",
        formats=["%Y-%m-%d"],
        help="date the imported version comes into force (default: today)",
    ),
]
FmtOpt = Annotated[Fmt, typer.Option("--format", help="text for people, json for programs")]


def _d(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value is not None else None


@app.callback()
def main(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="GRIDGOV_DATABASE_URL",
            help="SQLAlchemy URL of the PostGIS database "
            "(default: the local cluster prepared by scripts/bootstrap)",
            show_envvar=True,
        ),
    ] = None,
) -> None:
    if database_url:
        os.environ["GRIDGOV_DATABASE_URL"] = database_url
        from grid.config import get_settings

        get_settings.cache_clear()
    from api.logs import configure_logging

    configure_logging()


def fail(exc: GridGovError) -> typer.Exit:
    err.print(f"error [{exc.code}]: {exc.message}", style="bold red", highlight=False, markup=False)
    return typer.Exit(2)


@contextmanager
def guarded() -> Iterator[None]:
    """Errors become one line with a stable code and a non-zero exit; never a traceback.

    Set GRIDGOV_DEBUG=1 to see the traceback of an unexpected error.
    """
    from sqlalchemy.exc import DBAPIError, OperationalError

    try:
        yield
    except (ImportBlocked, typer.Exit):
        raise
    except GridGovError as exc:
        raise fail(exc) from None
    except OperationalError as exc:
        raise fail(
            GridGovError(f"the database is unavailable: {exc.orig}", code="database_unavailable")
        ) from None
    except DBAPIError as exc:
        if os.environ.get("GRIDGOV_DEBUG"):
            raise
        msg = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
        raise fail(
            GridGovError(
                f"the database refused the change (nothing was written): {msg}", code="database_error"
            )
        ) from None
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        if os.environ.get("GRIDGOV_DEBUG"):
            raise
        raise fail(
            GridGovError(
                f"unexpected {type(exc).__name__}: {exc} (GRIDGOV_DEBUG=1 shows the traceback)",
                code="internal_error",
            )
        ) from None


def run_tx(fn: Callable[[Any], T]) -> T:
    """Run ``fn(session)`` in one transaction on the configured database."""
    from grid.db.engine import check_database, session_scope

    with guarded():
        check_database()
        with session_scope() as s:
            return fn(s)


def emit(data: Any, fmt: Fmt, text_fn: Callable[[Any], None]) -> None:
    if fmt is Fmt.json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        text_fn(data)


def run_report(fn: Callable[[Any], dict[str, Any]], fmt: Fmt, show: Callable[[Any], None]) -> None:
    """Run a writing job in one transaction and print its report; a blocked job prints what blocked
    it (nothing was written) and exits non-zero."""
    try:
        report = run_tx(fn)
    except ImportBlocked as exc:
        emit(exc.details, fmt, show)
        raise fail(exc) from None
    emit(report, fmt, show)


# ----------------------------------------------------------------------------- db
@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Create or upgrade the schema to the newest migration."""
    from grid.db.engine import check_database
    from grid.db.migrate import upgrade

    with guarded():
        check_database()
        upgrade(revision=revision)
    out.print(f"schema at {revision}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database."""
    from grid.db.migrate import current

    with guarded():
        out.print(current() or "(empty database: run `gridgov db upgrade`)")


# ----------------------------------------------------------------------------- import
def _headline(findings: list[dict[str, Any]]) -> None:
    """One line first when the findings share one cause (grid/findings.py, when present)."""
    try:
        from grid.findings import headline  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return
    line = headline(findings)
    if line:
        out.print(f"[bold]{line}[/]", highlight=False)


def _print_kind_table(findings: list[dict[str, Any]], accepted: list[str]) -> None:
    from grid.validate import kind_table

    rows = kind_table(findings, accepted)
    if not rows:
        return
    out.print(f"  {'kind':20} {'severity':8} {'count':>6} {'area m²':>14}  accepted?")
    for row in rows:
        acc = "yes" if row["accepted"] else ("-" if row["severity"] == "warning" else "no (blocking)")
        area = f"{row['area_m2']:,.1f}" if row["area_m2"] else ""
        out.print(
            f"  {row['kind']:20} {row['severity']:8} {row['count']:>6} {area:>14}  {acc}", highlight=False
        )


def _print_findings(
    findings: list[dict[str, Any]], limit: int = 40, accepted: list[str] | None = None
) -> None:
    """Errors first (blocking ones, then accepted ones), then warnings; then a count per kind."""
    from grid.validate import sort_for_people

    acc = list(accepted or [])
    ordered = sort_for_people(findings, acc)
    for f in ordered[:limit]:
        is_acc = f["severity"] == "error" and (f.get("accepted") or f["kind"] in acc)
        colour = "cyan" if is_acc else ("red" if f["severity"] == "error" else "yellow")
        label = "accepted" if is_acc else f["severity"]
        area = f" {f['area_m2']:.1f} m²" if f.get("area_m2") is not None else ""
        loc = f" at {f['location'][0]:.6f},{f['location'][1]:.6f}" if f.get("location") else ""
        out.print(
            f"  [{colour}]{label:8}[/] {f['kind']:19} {','.join(f['codes'])}{area}{loc}: {f['message']}",
            highlight=False,
        )
        if f.get("hint"):
            out.print(f"          hint: {f['hint']}", highlight=False)
    if len(ordered) > limit:
        out.print(f"  ... and {len(ordered) - limit} more (use --format json for all)")
    _print_kind_table(findings, acc)


def _print_report(r: dict[str, Any]) -> None:
    c = r["counts"]
    _headline(r["findings"])
    verb = "would import" if r["dry_run"] else ("imported" if r["applied"] else "blocked")
    out.print(
        f"[bold]{verb}[/] {r['source']} as level {r['level']} valid from {r['valid_from']}: "
        f"{c.get('new', 0)} new, {c.get('changed', 0)} changed, {c.get('unchanged', 0)} unchanged, "
        f"{c.get('missing', 0)} missing from file"
        + (f", {len(r['retired'])} retired" if r["retired"] else "")
    )
    if r["changed"]:
        out.print(f"  changed: {', '.join(r['changed'][:20])}" + (" ..." if len(r["changed"]) > 20 else ""))
    if r["missing"]:
        out.print(
            f"  missing from file: {', '.join(r['missing'][:20])}"
            + (" ..." if len(r["missing"]) > 20 else "")
        )
    for rep in r["repairs"]:
        out.print(f"  repaired {rep['code']} (row {rep['row']}): {rep['change']}", highlight=False)
    if r["accepted"]:
        out.print(f"  accepted finding kinds: {', '.join(r['accepted'])}")
    for dec in r.get("decisions", []):
        out.print(f"  decision {dec['decision']}: {dec['message']}", highlight=False)
    out.print(
        f"  findings: {c.get('errors', 0)} error(s), {c.get('warnings', 0)} warning(s), "
        f"{c.get('blocking', 0)} blocking"
    )
    _print_findings(r["findings"], accepted=r["accepted"])
    if r["building_moves"]:
        out.print(
            f"  {len(r['building_moves'])} building(s) would change unit:"
            if r["dry_run"]
            else f"  {len(r['building_moves'])} building(s) changed unit:"
        )
        for m in r["building_moves"][:20]:
            out.print(f"    {m['building_id']}: {m['from']} -> {m['to']}")


@import_app.command("units")
def import_units_cmd(
    file: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage or Shapefile", exists=False)],
    level: Annotated[str, typer.Option(help="level of the units: district, street, community, grid, ...")],
    code_field: Annotated[str, typer.Option(help="field holding the unit code")],
    name_field: Annotated[str, typer.Option(help="field holding the unit name")],
    datum: Annotated[
        str,
        typer.Option(
            help="datum of the coordinates: wgs84, cgcs2000, gcj02, bd09 or EPSG:n (projected CRS allowed)"
        ),
    ],
    parent_field: Annotated[
        str | None, typer.Option(help="field holding the parent unit code (default: the prefix of the code)")
    ] = None,
    parent_code: Annotated[str | None, typer.Option(help="one parent code for every feature")] = None,
    households_field: Annotated[str | None, typer.Option(help="field holding households")] = None,
    source_field: Annotated[
        str | None,
        typer.Option(help="field describing each feature's source (default: the file and import id)"),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            help="attribute encoding, e.g. gbk (default: the file's own; a Shapefile without .cpg "
            "is tried as UTF-8, then GB18030)"
        ),
    ] = None,
    valid_from: ValidFromOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="report what would change; write nothing")
    ] = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="repair invalid geometries (make_valid; rings of fewer than 4 points dropped) and report "
            "per feature what changed and its area before/after",
        ),
    ] = False,
    accept: Annotated[
        list[str] | None,
        typer.Option(
            "--accept",
            help="accept error findings of this kind (repeatable: gap, overlap, sliver, outside_parent, ...); "
            "recorded with the import, and `gridgov validate` then lists them as accepted",
        ),
    ] = None,
    accept_dirty: Annotated[
        bool,
        typer.Option(
            "--accept-dirty",
            help="a hand-drawn layer that does not tile: the same as --accept gap --accept overlap "
            "--accept sliver (recorded); the report says how much area each decision leaves",
        ),
    ] = False,
    retire_missing: Annotated[
        bool,
        typer.Option("--retire-missing", help="close units of the same parents that the file no longer has"),
    ] = False,
    tolerance: Annotated[
        float | None,
        typer.Option(help="m²: overlaps/gaps above this are errors (default GRIDGOV_TOLERANCE_M2 or 25)"),
    ] = None,
    code_prefix: Annotated[
        str,
        typer.Option(
            "--code-prefix",
            help="put this before every code (codes are unique across levels: neighborhood council 5 "
            "beside council district 5 becomes NC5)",
        ),
    ] = "",
    select_by_code: Annotated[
        bool,
        typer.Option(
            "--select-by-code",
            help="a file holding several levels: import only the features whose code has no other "
            "level's format (the others are counted as skipped)",
        ),
    ] = False,
    fmt: FmtOpt = Fmt.text,
) -> None:
    """Import one level of boundaries in one transaction (all or nothing).

    Every import is validated against the version in force; errors (invalid geometry, duplicate code,
    orphan child, bad code, overlaps/gaps above the tolerance) block it unless repaired or accepted.
    A changed boundary closes the old version instead of overwriting it.

    A dirty real layer gets in on purpose in one pass: `--repair --accept-dirty` (or the kinds one
    by one with --accept). The report lists errors first, a count per kind, and each decision with
    the area it moved. A GeoJSON in projected coordinates without a "crs" member needs
    `--datum EPSG:n`; the error names candidates when stored layers allow it.
    """
    from grid.db.importer import import_units_spec
    from grid.imports import ImportSpec

    def job(s: Any) -> dict[str, Any]:
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
            valid_from=_d(valid_from),
            dry_run=dry_run,
            accept=tuple(accept or ()),
            accept_dirty=accept_dirty,
            retire_missing=retire_missing,
            tolerance_m2=tolerance,
        )
        with out.status("importing...") as st:
            progress = (lambda m: st.update(m)) if fmt is Fmt.text else None
            return import_units_spec(s, file, spec, progress=progress).to_dict()

    run_report(job, fmt, _print_report)


@import_app.command("buildings")
def import_buildings_cmd(
    file: Annotated[
        Path, typer.Argument(help="CSV (building_id,address,lon,lat,households,...) or point GeoJSON")
    ],
    datum: Annotated[str, typer.Option(help="wgs84, cgcs2000, gcj02, bd09 or EPSG:n")],
    valid_from: ValidFromOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check and report; write nothing")] = False,
    fmt: FmtOpt = Fmt.text,
) -> None:
    """Import buildings (standard address, point, households); binds them to grid cells in force."""
    from grid.db.buildings import import_buildings

    def show(r: dict[str, Any]) -> None:
        c = r.get("counts", {})
        out.print(f"{'would import' if r['dry_run'] else 'imported'} {r['source']}: {c}")
        for q in r["problems"][:30]:
            out.print(f"  {q.get('severity', 'error')} {q['kind']}: {q['message']}", highlight=False)

    run_report(
        lambda s: import_buildings(
            s, file, datum=datum, valid_from=_d(valid_from), dry_run=dry_run
        ).to_dict(),
        fmt,
        show,
    )


@import_app.command("addresses")
def import_addresses_cmd(
    file: Annotated[
        Path, typer.Argument(help="CSV (place_id,kind,name,lon,lat,...) or GeoJSON/GPKG of places")
    ],
    datum: Annotated[str, typer.Option(help="wgs84, cgcs2000, gcj02, bd09 or EPSG:n")],
    kind: Annotated[
        str | None,
        typer.Option(
            help="kind of every row when the file has no kind column: "
            "building, compound, road, door, landmark, crossing, ..."
        ),
    ] = None,
    valid_from: ValidFromOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check and report; write nothing")] = False,
    fmt: FmtOpt = Fmt.text,
) -> None:
    """Import the standard-address gazetteer: buildings, compounds (小区/院), roads with door-number
    ranges, crossings, landmarks, with aliases and former names. Versioned; all or nothing."""
    from grid.db.gazetteer_import import import_addresses

    def show(r: dict[str, Any]) -> None:
        out.print(f"{'would import' if r['dry_run'] else 'imported'} {r['source']}: {r.get('counts', {})}")
        for q in r["problems"][:30]:
            out.print(
                f"  {q['kind']} (row {q.get('row', '?')}, {q.get('place_id')}): {q['message']}",
                highlight=False,
            )

    run_report(
        lambda s: import_addresses(
            s, file, datum=datum, kind=kind, valid_from=_d(valid_from), dry_run=dry_run
        ),
        fmt,
        show,
    )


@import_app.command("petitions")
def import_petitions_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV: text,category[,external_id,received_at,channel,type,urgency,address,lon,lat,datum,"
            "contact_name,contact_phone]"
        ),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check every row; write nothing")] = False,
    fmt: FmtOpt = Fmt.text,
) -> None:
    """Import petitions: every row checked first (one bad row blocks the file, nothing is written),
    then all written in one transaction and located and dispatched. Coordinates need a datum column.
    A known external_id is a replay and is skipped. A record with the wrong number of fields (a file
    cut mid-row) is a bad line, with its line number."""
    from rich.progress import Progress

    from grid.db.engine import session_factory
    from grid.db.petition_import import import_petitions, process_ids

    def show(r: dict[str, Any]) -> None:
        if "problems" in r:
            for q in r["problems"][:30]:
                out.print(f"  line {q['line']}: [{q['code']}] {q['message']}", highlight=False, markup=False)
            return
        verb = "would import" if r.get("dry_run") else "imported"
        out.print(
            f"{verb} {r.get('imported', r.get('would_import'))} of {r['rows']} row(s) "
            f"({r['replayed']} already known) from {r['source']}"
        )
        if r.get("dispatch"):
            out.print(f"  after locating: {r['dispatch']}")

    report: dict[str, Any] = {}

    def job(s: Any) -> dict[str, Any]:
        report.update(import_petitions(s, file, dry_run=dry_run))
        return report

    try:
        run_tx(job)
    except ImportBlocked as exc:
        emit(exc.details, fmt, show)
        raise fail(exc) from None
    ids = report.pop("ids", [])
    if ids:
        with guarded(), Progress(transient=True) as bar:
            t = bar.add_task("locating and dispatching", total=len(ids))
            report["dispatch"] = process_ids(
                session_factory(), ids, progress=lambda k, n: bar.update(t, completed=k)
            )
    emit(report, fmt, show)


@import_app.command("staff")
def import_staff_cmd(
    file: Annotated[Path, typer.Argument(help="CSV: unit_code,name[,role,phone,valid_from]")],
    valid_from: ValidFromOpt = None,
) -> None:
    """Assign staff from a CSV (closes each predecessor; never creates a boundary version)."""
    from grid.db.store import assign_staff
    from grid.io import read_csv

    def job(s: Any) -> int:
        df = read_csv(file, required=["unit_code", "name"])
        for i, r in df.iterrows():
            try:
                vf = (
                    dt.date.fromisoformat(str(r["valid_from"]).strip())
                    if r.get("valid_from")
                    else (_d(valid_from) or dt.date.today())
                )
            except ValueError as exc:
                raise InputError(
                    f"{file}: row {int(str(i)) + 2}: valid_from {r['valid_from']!r} is not a date (YYYY-MM-DD)",
                    code="invalid_date",
                ) from exc
            assign_staff(
                s,
                r["unit_code"],
                r["name"],
                role=r.get("role") or "grid_officer",
                phone=r.get("phone") or None,
                valid_from=vf,
            )
        return len(df)

    out.print(f"assigned {run_tx(job)} staff")


# ----------------------------------------------------------------------------- staff
@staff_app.command("set")
def staff_set(
    unit: Annotated[str, typer.Argument(help="unit code")],
    name: Annotated[str, typer.Argument(help="person's name")],
    role: Annotated[str, typer.Option(help="grid_officer, secretary, ...")] = "grid_officer",
    phone: Annotated[str | None, typer.Option(help="contact phone")] = None,
    valid_from: ValidFromOpt = None,
) -> None:
    """Put someone in office for a unit from a date, closing the predecessor's term."""
    from grid.db.store import assign_staff

    run_tx(
        lambda s: assign_staff(
            s, unit, name, role=role, phone=phone, valid_from=_d(valid_from) or dt.date.today()
        )
    )
    out.print(f"{name} is {role} of {unit}")


@staff_app.command("show")
def staff_show(unit: Annotated[str, typer.Argument(help="unit code")], date: DateOpt = None) -> None:
    """Who serves a unit at a date."""
    from grid.db.store import staff_at

    rows = run_tx(
        lambda s: [
            (x.role, x.name, x.phone, x.valid_from, x.valid_to)
            for x in staff_at(s, unit, _d(date) or dt.date.today())
        ]
    )
    for r in rows:
        out.print(f"{r[0]:14} {r[1]} {r[2] or ''} ({r[3]} - {r[4] or 'now'})")
    if not rows:
        out.print("no staff in office")


# ----------------------------------------------------------------------------- validate
@app.command("validate")
def validate_cmd(
    level: Annotated[str | None, typer.Option(help="only this level (default: all levels)")] = None,
    date: DateOpt = None,
    tolerance: Annotated[float | None, typer.Option(help="m² tolerance for overlaps/gaps")] = None,
    fmt: FmtOpt = Fmt.text,
) -> None:
    """Check the stored boundary version at a date: geometry, codes, nesting, overlaps, gaps, slivers.

    Codes must be unique across all levels. Kinds accepted by the imports in force (--accept,
    --accept-dirty) are listed, marked accepted, and do not fail the run. Exits 1 when any other
    error is found.
    """
    from grid.db.validation import validate_store

    report = run_tx(
        lambda s: validate_store(s, _d(date) or dt.date.today(), level=level, tolerance_m2=tolerance)
    )

    def show(r: dict[str, Any]) -> None:
        _headline(r["findings"])
        out.print(
            f"validated {r['units']} units at {r['date']} ({', '.join(r['levels'])}): "
            f"{r['errors']} error(s) ({r['blocking']} not accepted), {r['warnings']} warning(s)"
        )
        for lv, kinds in r["accepted"].items():
            out.print(f"  accepted by the imports in force ({lv}): {', '.join(kinds)}")
        _print_findings(r["findings"], limit=60)

    emit(report, fmt, show)
    if report["blocking"]:
        raise typer.Exit(1)


# ----------------------------------------------------------------------------- partition
@app.command("partition")
def partition_cmd(
    community: Annotated[str | None, typer.Option(help="partition this community (12-digit code)")] = None,
    street: Annotated[str | None, typer.Option(help="partition every community of this street")] = None,
    all_: Annotated[bool, typer.Option("--all", help="partition every community that has buildings")] = False,
    target: Annotated[int, typer.Option(help="households per cell")] = 300,
    min_: Annotated[int, typer.Option("--min", help="fewest households a cell should hold")] = 200,
    max_: Annotated[int, typer.Option("--max", help="most households a cell should hold")] = 400,
    barriers: Annotated[
        Path | None,
        typer.Option(help="lines cells should not cross (major roads, rivers, rail): GeoJSON/GPKG/SHP"),
    ] = None,
    barriers_datum: Annotated[str, typer.Option(help="datum of the barrier file")] = "wgs84",
    seed: Annotated[int, typer.Option(help="seed of the search (same input and seed: same cells)")] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="compute and report; write nothing")] = False,
    valid_from: ValidFromOpt = None,
    fmt: FmtOpt = Fmt.text,
) -> None:
    """Generate balanced grid cells (~300 households) from the buildings of communities.

    Cells tile each community exactly, never split a building, stay contiguous and compact, and
    avoid crossing barriers. A re-partition keeps the code of every cell whose buildings are
    unchanged, closes changed cells and gives new cells never-used sequence numbers.
    """
    from rich.progress import Progress

    from grid.db.partition import partition, read_barriers
    from grid.partition import PartitionParams, format_quality

    with guarded():
        params = PartitionParams(target=target, min=min_, max=max_, seed=seed)
        bars = read_barriers(barriers, barriers_datum) if barriers else None

    def job(s: Any) -> dict[str, Any]:
        with Progress(console=err, transient=True, disable=fmt is Fmt.json) as pb:
            task = pb.add_task("partitioning", total=None)

            def tick(i: int, n: int, code: str) -> None:
                pb.update(task, total=n, completed=i, description=f"partitioning {code}")

            return partition(
                s,
                community=community,
                street=street,
                all_=all_,
                params=params,
                barriers=bars,
                valid_from=_d(valid_from),
                dry_run=dry_run,
                progress=tick,
            )

    def show(r: dict[str, Any]) -> None:
        verb = "would write" if r["dry_run"] else ("wrote" if r.get("applied") else "blocked")
        for c in r["communities"]:
            out.print(
                f"{c['community']}: {c['cells']} cells ({len(c['kept'])} kept, {len(c['new'])} new, "
                f"{len(c['retired'])} retired, {len(c['redrawn'])} redrawn)",
                highlight=False,
            )
            for f in c["forced"]:
                out.print(f"  forced: {f}", highlight=False)
        for f in r["failures"]:
            out.print(f"[red]{f['community']}: {f['code']}: {f['error']}[/]", highlight=False)
        if r["quality"]:
            out.print(format_quality(r["quality"]), highlight=False, markup=False)
        out.print(
            f"{verb}: {len(r['communities'])} communities, {r['building_moves']} building binding(s) moved, "
            f"valid from {r['valid_from']}"
        )

    run_report(job, fmt, show)


# ----------------------------------------------------------------------------- assign
@app.command("assign")
def assign_cmd(
    file: Annotated[Path, typer.Argument(help="CSV, GeoJSON, GeoPackage or GeoParquet of points")],
    out_path: Annotated[Path, typer.Option("--out", help="output file (.csv, .geojson or .parquet)")],
    lon_col: Annotated[
        str, typer.Option(help="longitude column (GeoJSON/Parquet: the point geometry if absent)")
    ] = "lon",
    lat_col: Annotated[str, typer.Option(help="latitude column")] = "lat",
    datum: Annotated[
        str | None,
        typer.Option(
            help="wgs84, cgcs2000, gcj02, bd09 or EPSG:n. Required for a CSV and for a GeoJSON without "
            "a `crs` member; otherwise the file's CRS is used"
        ),
    ] = None,
    at: Annotated[
        dt.datetime | None,
        typer.Option(
            "--at", formats=["%Y-%m-%d"], help="boundary version date for every row (default today)"
        ),
    ] = None,
    date_col: Annotated[
        str | None, typer.Option(help="column with each row's own date (its boundary version)")
    ] = None,
    level: Annotated[
        str | None, typer.Option(help="assign owners at this level (default: the finest in force)")
    ] = None,
    address_col: Annotated[
        str | None,
        typer.Option(
            "--address-col",
            help="address column: rows with no coordinates are geocoded with our own gazetteer "
            "(coordinates win when a row has both)",
        ),
    ] = None,
    keep_placeholders: Annotated[
        bool, typer.Option("--keep-placeholders", help="assign rows on placeholder points too")
    ] = False,
    placeholder_min_rows: Annotated[
        int, typer.Option(help="placeholder rule: at least this many rows on one point")
    ] = 50,
    placeholder_min_share: Annotated[
        float, typer.Option(help="placeholder rule: and at least this share of the located rows")
    ] = 0.01,
    placeholder_ratio: Annotated[
        float, typer.Option(help="placeholder rule: and this many times the busiest ordinary point")
    ] = 10.0,
    fmt: FmtOpt = Fmt.text,
) -> None:
    """Add the owner of every point. The output is the input, every column kept exactly as read (strings, in order; no row dropped or reordered), plus these columns:

    [b]gg_status[/b] (interior | on_boundary | overlap | gap | outside | error | unplaced; overlap: deeper than 1 m inside two units of a layer that does not tile), [b]gg_owner_code[/b], [b]gg_owner_level[/b], [b]gg_rule[/b] (the rule that decided), [b]gg_candidates[/b] (;-separated), [b]gg_near_boundary[/b] (true/false: within the near-boundary distance of an edge), [b]gg_boundary_distance_m[/b] (gap and outside rows: the distance to the nearest unit), [b]gg_<level>_code[/b] per level, [b]gg_placed_by[/b] (coordinates | address | none), [b]gg_flag[/b] (placeholder_point), [b]gg_error[/b], [b]gg_line[/b] (the physical line the record starts on; GeoJSON/Parquet: the feature's position).

    [b]Input rules[/b]: CSV is read with a real CSV parser (UTF-8, else GB18030); a quoted field may span any number of lines. A record with the wrong number of fields, or unreadable coordinates, is kept with gg_status=error; blank coordinates give gg_status=unplaced. A quoting error inside a record spanning several lines (a quote never closed) refuses the file (malformed_csv, naming the line): records are never guessed. Duplicate column names are refused (duplicate_columns); columns already named gg_* are refused (reserved_columns): drop them before assigning an output again.

    [b]Datum[/b]: never defaulted. A CSV needs --datum; a GeoJSON/Parquet/GeoPackage uses its CRS. Coordinates that look like projected metres get one leading message with the --datum to pass. For points in China, the coordinates are also read as gcj02 and bd09: when another reading lies clearly closer to the store's buildings (median distance 3x smaller and 50 m less) or, without buildings, puts 5 points more of every 100 inside the layer, a warning names the likely datum and the command to re-run; nothing is converted silently.

    [b]Placeholder points[/b]: a point (rounded to 1e-6 degree) carrying at least max(--placeholder-min-rows, --placeholder-min-share x located rows) rows AND --placeholder-ratio times the busiest other point is a geocoder's fallback (a city hall): its rows get gg_status=unplaced, gg_flag=placeholder_point, no owner. --keep-placeholders turns this off.

    [b]Addresses[/b] (--address-col): a row without coordinates is geocoded; matched -> gg_placed_by=address; needs_review / no_match -> gg_status=unplaced with the reason in gg_error. A row with neither coordinates nor address is unplaced."""
    from rich.progress import Progress

    from grid.db.assign import assign_file

    if at is not None and date_col is not None:
        raise fail(GridGovError("give --at or --date-col, not both", code="invalid_option"))

    def job(s: Any) -> dict[str, Any]:
        with Progress(console=err, transient=True, disable=fmt is Fmt.json) as pb:
            task = pb.add_task("assigning boundary points", total=None)
            return assign_file(
                s,
                file,
                out_path,
                lon_col=lon_col,
                lat_col=lat_col,
                datum=datum,
                at=_d(at),
                date_col=date_col,
                level=level,
                address_col=address_col,
                keep_placeholders=keep_placeholders,
                placeholder_min_rows=placeholder_min_rows,
                placeholder_min_share=placeholder_min_share,
                placeholder_ratio=placeholder_ratio,
                progress=lambda k, n: pb.update(task, completed=k, total=n),
            )

    def rerun(new_datum: str) -> str:
        import shlex

        parts = ["gridgov", "assign", str(file), "--out", str(out_path)]
        opts = {
            "--lon-col": lon_col if lon_col != "lon" else None,
            "--lat-col": lat_col if lat_col != "lat" else None,
            "--at": at.date().isoformat() if at else None,
            "--date-col": date_col,
            "--level": level,
            "--address-col": address_col,
        }
        for k, v in opts.items():
            if v is not None:
                parts += [k, v]
        if keep_placeholders:
            parts.append("--keep-placeholders")
        return " ".join(shlex.quote(a) for a in [*parts, "--datum", new_datum])

    def show(r: dict[str, Any]) -> None:
        for w in r["warnings"]:
            err.print(f"warning: {w}", style="bold yellow", highlight=False, markup=False)
        if r.get("suggested_datum"):
            err.print(f"  re-run: {rerun(r['suggested_datum'])}", highlight=False, markup=False)
        out.print(
            f"assigned {r['records_in']} input records -> {r['rows_out']} rows in {r['out']} "
            f"(datum {r['datum']} from {'the file' if r['datum_source'] == 'file' else '--datum'}): "
            + ", ".join(f"{k} {v}" for k, v in sorted(r["by_status"].items())),
            highlight=False,
        )
        out.print(
            "placed by: " + ", ".join(f"{k} {v}" for k, v in sorted(r["placed_by"].items())),
            highlight=False,
        )
        for p in r["placeholders"]:
            out.print(
                f"placeholder point ({p['lat']}, {p['lon']}) (lat, lon): {p['rows']} rows unplaced "
                "(gg_flag=placeholder_point; --keep-placeholders assigns them)",
                highlight=False,
            )
        for q in r["problems"][:20]:
            out.print(f"  line {q['line']}: {q['status']}: {q['error']}", highlight=False, markup=False)

    emit(run_tx(job), fmt, show)


# ----------------------------------------------------------------------------- geocode
@app.command("geocode")
def geocode_cmd(
    file: Annotated[Path, typer.Argument(help="CSV with an address column")],
    col: Annotated[str, typer.Option("--col", help="the address column")],
    out_path: Annotated[
        Path, typer.Option("--out", help="output CSV: the rows with the geocoder's columns added")
    ],
    at: Annotated[
        dt.datetime | None, typer.Option("--at", formats=["%Y-%m-%d"], help="gazetteer/boundary date")
    ] = None,
    fmt: FmtOpt = Fmt.text,
) -> None:
    """Geocode every row with our own gazetteer. The output is the input, every column kept exactly as read and in order (no row dropped or reordered), plus gg_status (matched / needs_review with candidates / no_match / error), gg_level, gg_confidence, gg_lon, gg_lat (WGS84), gg_building_id, gg_cell_code, gg_community_code, gg_candidates, gg_conflicts (JSON), gg_error, gg_line (the physical line the record starts on). None is guessed. Same input rules as `gridgov assign` (duplicate or gg_* column names refused, a record with the wrong field count kept as error)."""
    from rich.progress import Progress

    from grid.db.geocoding import geocode_many
    from grid.tabular import OUTPUT_PREFIX, read_csv_text, write_csv

    def job(s: Any) -> dict[str, Any]:
        t = read_csv_text(file)
        if col not in t.columns:
            raise InputError(
                f"{file.name}: no column {col!r} (given as --col); columns are: {', '.join(t.columns)}",
                code="missing_field",
            )
        ci = t.columns.index(col)
        cols = [
            "status",
            "level",
            "confidence",
            "lon",
            "lat",
            "building_id",
            "cell_code",
            "community_code",
            "candidates",
            "conflicts",
            "error",
        ]
        rows: list[list[str]] = []
        counts: dict[str, int] = {}
        records = list(zip(t.fixed_rows(), t.line.tolist(), t.error, strict=True))
        answers = geocode_many(s, (f[ci] for f, _, rerr in records if rerr is None), at=_d(at))
        with Progress(console=err, transient=True, disable=fmt is Fmt.json) as pb:
            task = pb.add_task("geocoding", total=len(t.rows))
            for fields, line, rerr in records:
                if rerr is not None:
                    g: dict[str, Any] = {"status": "error", "error": rerr}
                else:
                    g = next(answers)
                    if "status" in g:
                        g["error"] = None
                    else:  # the query could not be read
                        g = {"status": "error", "error": f"{g['code']}: {g['error']}"}
                vals = []
                for c in cols:
                    v = g.get(c)
                    if isinstance(v, (list, dict)):
                        v = json.dumps(v, ensure_ascii=False)
                    vals.append("" if v is None else str(v))
                rows.append([*fields, *vals, str(line)])
                counts[str(g["status"])] = counts.get(str(g["status"]), 0) + 1
                pb.advance(task)
        write_csv(out_path, [*t.columns, *(OUTPUT_PREFIX + c for c in [*cols, "line"])], rows)
        return {"records_in": t.records, "rows": len(rows), "by_status": counts, "out": str(out_path)}

    def show(r: dict[str, Any]) -> None:
        out.print(
            f"geocoded {r['records_in']} input records -> {r['rows']} rows in {r['out']}: {r['by_status']}",
            highlight=False,
        )

    emit(run_tx(job), fmt, show)


# ----------------------------------------------------------------------------- levels
@levels_app.command("list")
def levels_list() -> None:
    """Show the levels and their code formats."""
    from grid.db.store import load_levels

    for lv in run_tx(load_levels):
        out.print(
            f"{lv.rank} {lv.name:10} {lv.label:8} {lv.describe_format()} parent={lv.parent} "
            f"nesting={lv.nesting}",
            highlight=False,
            markup=False,
        )


@levels_app.command("load")
def levels_load(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSON list of {name, rank, code_length | min_length/max_length | pattern, label, parent, "
            "nesting} (`gridgov city init` writes one)"
        ),
    ],
    add: Annotated[
        bool,
        typer.Option("--add", help="append these levels beside the stored ones (an independent layer)"),
    ] = False,
) -> None:
    """Define the levels of another city (into an empty store, or --add new ones beside them)."""
    from grid.db.store import save_levels
    from grid.levels import Levels

    with guarded():
        try:
            levels = Levels.from_dicts(json.loads(file.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise GridGovError(f"{file}: not a valid levels file: {exc}", code="invalid_input") from exc
    written = run_tx(lambda s: save_levels(s, levels, add=add))
    out.print(f"levels written: {', '.join(written)}")


# ----------------------------------------------------------------------------- city
def _print_plan(plan: dict[str, Any], datum: str | None, yes: bool) -> None:
    n = len(plan["levels"])
    where = (
        "a new store: its levels are replaced"
        if plan["mode"] == "new"
        else f"added to the stored levels {', '.join(plan['stored_levels'])}"
    )
    out.print(
        f"[bold]{plan['source']}[/]: {plan['features']} feature(s), codes from {plan['code_field']}, "
        f"names from {plan['name_field']} -> {n} level(s), {where}",
        highlight=False,
    )
    for lv in plan["levels"]:
        fmt = _describe_level(lv)
        parent = f", parent {lv['parent']} by {lv['nesting']}" if lv["parent"] else ""
        out.print(
            f"  level [bold]{lv['name']}[/] (rank {lv['rank']}): {lv['features']} feature(s), codes {fmt}"
            f"{parent}; e.g. {', '.join(lv['examples'])}",
            highlight=False,
        )
        if lv["evidence"]:
            out.print(f"    because: {lv['evidence']}", highlight=False, markup=False)
    for note in plan["notes"]:
        out.print(f"  note: {note}", highlight=False, markup=False)
    for pr in plan["problems"]:
        out.print(f"  [red]problem[/] [{pr['kind']}]: ", end="", highlight=False)
        out.print(pr["message"], highlight=False, markup=False)
    out.print("levels JSON (what `--yes` loads; `gridgov levels load` takes it too):")
    out.print(
        json.dumps(plan["levels_json"], ensure_ascii=False, indent=2),
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    if plan["problems"]:
        return
    if not yes:
        out.print(
            "next: re-run with --yes to load these levels (add --datum D to import the layer too), then"
        )
    elif datum is None:
        out.print("next:")
    if not (yes and datum):
        for cmd in plan["import_commands"]:
            out.print(f"  {cmd}", highlight=False, markup=False, soft_wrap=True)


def _describe_level(lv: dict[str, Any]) -> str:
    from grid.levels import Level

    return Level(
        **{k: v for k, v in lv.items() if k not in ("features", "examples", "evidence")}
    ).describe_format()


@city_app.command("init")
def city_init(
    source: Annotated[
        Path, typer.Option("--from", help="the boundary layer: GeoJSON, GeoPackage or Shapefile")
    ],
    code_field: Annotated[
        str, typer.Option(help="field holding each unit's code (digits or not: 110105, P-075, A1)")
    ],
    name_field: Annotated[
        str | None,
        typer.Option(help="field holding unit names (default: a field called name, else the code)"),
    ] = None,
    parent_field: Annotated[
        str | None,
        typer.Option(help="field holding the code of each unit's parent, a unit already in the store"),
    ] = None,
    level_name: Annotated[
        list[str] | None,
        typer.Option("--level-name", help="name of the level found (repeat, top-down, for several)"),
    ] = None,
    code_prefix: Annotated[
        str,
        typer.Option("--code-prefix", help="put before every code (when ids collide with a stored layer's)"),
    ] = "",
    datum: Annotated[
        str | None,
        typer.Option(
            help="datum of the layer (wgs84, cgcs2000, gcj02, bd09, EPSG:n): with --yes the layer is imported "
            "too; with --add-layer it places the features against the stored units"
        ),
    ] = None,
    add_layer: Annotated[
        bool,
        typer.Option(
            "--add-layer",
            help="the store already holds units: add this layer's levels below the level that contains them "
            "(by code prefix or containment) or beside them as an independent layer",
        ),
    ] = False,
    parent_level: Annotated[
        str | None,
        typer.Option(help="with --add-layer: the stored level the layer lies in (default: inferred)"),
    ] = None,
    independent: Annotated[
        bool, typer.Option("--independent", help="with --add-layer: a layer of its own (police beside wards)")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="load the proposed levels (and import, given --datum)")
    ] = False,
    write: Annotated[
        Path | None, typer.Option("--out", help="also write the levels JSON to this file")
    ] = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="with --yes --datum: as `import units --repair`")
    ] = False,
    accept_dirty: Annotated[
        bool, typer.Option("--accept-dirty", help="with --yes --datum: as `import units --accept-dirty`")
    ] = False,
    accept: Annotated[
        list[str] | None,
        typer.Option(
            "--accept", help="with --yes --datum: accept this finding kind, as `import units --accept`"
        ),
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="attribute encoding of a Shapefile, e.g. gbk")] = None,
    valid_from: ValidFromOpt = None,
    fmt: FmtOpt = Fmt.text,
) -> None:
    """Propose the levels of a new city from one boundary layer; with --yes load them.

    The code format (length or length range, and a pattern: \\d{3}, P-\\d{3}, [A-Z]\\d{1,2}) is inferred from
    the codes. Codes of several lengths become a chain of levels when each longer code starts with
    a shorter one and lies inside its polygon (110105 > 110105016); otherwise one level. When the store
    already holds units (--add-layer), the layer's parent is found by --parent-field, by code prefix
    or by containment, or it becomes an independent layer. Nothing is written without --yes; with
    --yes --datum D the layer is imported too, in the same transaction (all or nothing).

    A one-level city from file to first answer:

      gridgov city init --from wards.geojson --code-field WARD --datum wgs84 --yes

      gridgov assign requests.csv --lon-col lon --lat-col lat --datum wgs84 --out assigned.csv
    """
    from grid.db.cityinit import apply_plan, plan_city
    from grid.db.engine import check_database
    from grid.db.migrate import current, upgrade
    from grid.inputs import check_text

    with guarded():
        check_database()
        if current() is None:  # a new store: its schema first (as `gridgov db upgrade`)
            upgrade()
            err.print("created the schema of the new store (gridgov db upgrade)")
        for label, value in (("--code-prefix", code_prefix), ("--code-field", code_field)):
            check_text(value, label)
        if (parent_level or independent) and not add_layer:
            raise InputError("--parent-level and --independent go with --add-layer", code="invalid_option")
        if (repair or accept_dirty or accept) and not (yes and datum):
            raise InputError(
                "--repair, --accept and --accept-dirty apply to the import: give --yes --datum D",
                code="invalid_option",
            )

    def job(s: Any) -> dict[str, Any]:
        plan = plan_city(
            s,
            source,
            code_field=code_field,
            name_field=name_field,
            parent_field=parent_field,
            level_names=level_name or [],
            code_prefix=code_prefix,
            datum=datum,
            encoding=encoding,
            parent_level=parent_level,
            independent=independent,
            add_layer=add_layer,
            date=_d(valid_from),
        )
        result: dict[str, Any] = {
            **plan.to_dict(),
            "import_commands": plan.import_commands(datum),
            "applied": False,
        }
        if yes and not plan.problems:
            with out.status("loading...") as st:
                applied = apply_plan(
                    s,
                    plan,
                    datum=datum,
                    encoding=encoding,
                    valid_from=_d(valid_from),
                    repair=repair,
                    accept=accept or [],
                    accept_dirty=accept_dirty,
                    progress=lambda m: st.update(m) if fmt is Fmt.text else None,
                )
            result.update(applied, applied=True)
        return result

    def show(r: dict[str, Any]) -> None:
        _print_plan(r, datum, yes)
        if r["applied"]:
            out.print(f"[bold]levels loaded[/]: {', '.join(r['levels_written'])}")
            for rep in r["imports"]:
                _print_report(rep)

    try:
        result = run_tx(job)
    except ImportBlocked as exc:  # the levels were rolled back with the import
        emit(exc.details, fmt, _print_report)
        raise fail(exc) from None
    if write is not None:
        with guarded():
            write.write_text(
                json.dumps(result["levels_json"], ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
            )
    emit(result, fmt, show)
    if result["problems"]:
        if yes:
            first = result["problems"][0]
            raise fail(GridGovError(f"nothing was written: {first['message']}", code=first["kind"]))
        raise typer.Exit(1)


# ----------------------------------------------------------------------------- keys / petitions
@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="who uses it: 12345-dispatcher, open311-client ...")],
    role: Annotated[
        list[str] | None, typer.Option(help="role(s) of the key, repeatable (default operator)")
    ] = None,
    unit: Annotated[
        list[str] | None,
        typer.Option(help="unit code(s) an officer / street_admin key is limited to, repeatable"),
    ] = None,
) -> None:
    """Create an API key; it is printed once (only its hash is stored). Trusted system keys can
    be exempted from rate limits with GRIDGOV_RATE_LIMIT_EXEMPT_KEYS=NAME,..."""
    from grid.db.users import create_key

    key = run_tx(lambda s: create_key(s, name, role or ["operator"], unit or [])[0])
    out.print(f"key for {name} (shown once, keep it safe):")
    sys.stdout.write(key + "\n")


@keys_app.command("list")
def keys_list() -> None:
    """The keys: name, prefix, roles, created, revoked."""
    from grid.db.users import list_keys

    def rows(s: Any) -> list[tuple[Any, ...]]:
        return [
            (k["name"], k["prefix"], k["roles"], k["scope"], k["created_at"], k["revoked_at"])
            for k in list_keys(s)
        ]

    for name, prefix, roles, scope, created, revoked in run_tx(rows):
        state = f"revoked {revoked:%Y-%m-%d}" if revoked else "active"
        where = ",".join(scope or []) or "city"
        out.print(
            f"{name:30} {prefix}…  {','.join(roles):12} {where:12} {created:%Y-%m-%d}  {state}",
            highlight=False,
        )


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="the key's name")]) -> None:
    """Revoke a key at once."""
    from grid.db.users import revoke_key

    run_tx(lambda s: revoke_key(s, name))
    out.print(f"revoked {name}")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="login name (no spaces)")],
    role: Annotated[list[str], typer.Option(help="role(s), repeatable: operator, officer, street_admin ...")],
    unit: Annotated[
        list[str] | None,
        typer.Option(help="unit code(s) an officer (cells) or street_admin (street) is limited to"),
    ] = None,
    full_name: Annotated[str, typer.Option(help="the person's name, for the record")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input (scripts)")
    ] = False,
) -> None:
    """Add a person who logs in. The password is asked twice (or read from stdin); at least 10
    characters, stored as an argon2 hash."""
    from grid.db.users import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    row = run_tx(lambda s: add_user(s, username, password, role, unit or [], full_name))
    where = ", ".join(row.scope) if row.scope else "the whole city"
    out.print(f"user {row.username}: roles {', '.join(row.roles)}; scope {where}")


@users_app.command("list")
def users_list(fmt: FmtOpt = Fmt.text) -> None:
    """The users: name, roles, scope, created, disabled."""
    from grid.db.users import list_users

    rows = run_tx(list_users)

    def show(rs: Any) -> None:
        for u in rs:
            state = f"disabled {u['disabled_at']:%Y-%m-%d}" if u["disabled_at"] else "active"
            where = ",".join(u["scope"]) or "city"
            out.print(f"{u['username']:24} {','.join(u['roles']):20} {where:20} {state}", highlight=False)

    emit(rows, fmt, show)


@users_app.command("disable")
def users_disable(
    username: Annotated[str, typer.Argument(help="login name")],
    enable: Annotated[bool, typer.Option("--enable", help="enable a disabled user again")] = False,
) -> None:
    """Disable a user at once (their tokens stop working on the next request)."""
    from grid.db.users import set_disabled

    run_tx(lambda s: set_disabled(s, username, not enable))
    out.print(f"{'enabled' if enable else 'disabled'} {username}")


@petitions_app.command("process")
def petitions_process(
    limit: Annotated[int, typer.Option(help="at most this many")] = 10_000,
) -> None:
    """Locate and dispatch petitions left 'received' (e.g. by a crash after intake)."""
    from grid.db.petitions import process_pending

    n = run_tx(lambda s: process_pending(s, limit=limit))
    out.print(f"processed {n} petition(s)")


@petitions_app.command("anonymise")
def petitions_anonymise(
    older_than: Annotated[int, typer.Option("--older-than", help="months; petitions received before")],
) -> None:
    """Retention: delete the contact, mask digit runs in the text and drop the free address of
    petitions older than N months (location, cell and outcome stay for statistics)."""
    from grid.db.petitions import anonymise

    n = run_tx(lambda s: anonymise(s, older_than_months=older_than))
    out.print(f"anonymised {n} petition(s) older than {older_than} month(s)")


@app.command("scores")
def scores_cmd(
    month: Annotated[str, typer.Option(help="YYYY-MM")],
    level: Annotated[str, typer.Option(help="cell, community, street, district or department")] = "street",
    csv_out: Annotated[Path | None, typer.Option("--csv", help="write the table as CSV here")] = None,
    top: Annotated[int, typer.Option(help="rows to print")] = 20,
) -> None:
    """The three rates (response, resolution, satisfaction) per unit for a month, ranked."""
    from grid.db.petitions import CITY
    from grid.db.scores import month_scores
    from grid.scores import to_csv

    df, meta = run_tx(lambda s: month_scores(s, level=level, month=month, scope=CITY))
    if csv_out is not None:
        csv_out.write_text(to_csv(df), encoding="utf-8")
        out.print(f"wrote {csv_out}")
    out.print(f"{meta['month']} {level}: {meta['petitions']} petitions (as of {meta['as_of'][:16]})")
    pct = lambda v: "   -" if v != v else f"{100 * v:5.1f}%"  # noqa: E731
    for r in df.head(top).itertuples():
        out.print(
            f"{r.rank:4} {r.code:16} n={r.petitions:<6} resp {pct(r.response_rate)} "
            f"res {pct(r.resolution_rate)} sat {pct(r.satisfaction_rate)} comp {pct(r.composite)}",
            highlight=False,
        )


@app.command("backup")
def backup_cmd(
    dest: Annotated[
        Path, typer.Argument(metavar="FILE", help="the backup file to write (pg_dump custom format)")
    ],
) -> None:
    """Back up the whole database (pg_dump); the file appears only when the dump is whole."""
    from grid.config import get_settings
    from grid.db.backup import backup

    with guarded():
        r = backup(get_settings().database_url, dest)
    out.print(f"backup written: {r['path']} ({r['bytes']:,} bytes)", highlight=False)


@app.command("restore")
def restore_cmd(
    path: Annotated[Path, typer.Argument(help="a file written by gridgov backup")],
    yes: Annotated[
        bool, typer.Option("--yes", help="replace the database's contents without asking")
    ] = False,
) -> None:
    """Replace the database's contents with a backup, in one transaction (all or nothing)."""
    from grid.config import get_settings
    from grid.db.backup import restore

    s = get_settings()
    if not yes and not typer.confirm(
        f"replace everything in {s.database_url.rsplit('/', 1)[-1]} with {path}?"
    ):
        raise typer.Exit(1)
    with guarded():
        r = restore(s.database_url, path)
    out.print(f"restored {r['entries']} entries from {r['path']}", highlight=False)


@app.command("insights")
def insights_cmd(
    unit: Annotated[str, typer.Option("--unit", help="a unit code, e.g. 110105016 (双井街道)")],
    week: Annotated[
        str | None,
        typer.Option(help="any day of the week or an ISO week (2025-W49); default: the last complete week"),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    hot_weeks: Annotated[int, typer.Option(help="weeks of petitions behind the hotspots")] = 52,
) -> None:
    """The proactive task list of a unit for a week: repeat places, surges, hotspots (Gi* and
    single cells), rising phrases, each with its evidence and the suggested lead department."""
    import json as _json

    from grid.db.insights import unit_insights

    if fmt not in ("text", "json"):
        raise fail(GridGovError("--format is text or json", code="invalid_format"))
    r = run_tx(lambda s: unit_insights(s, unit, week=week, params={"hot_weeks": hot_weeks}))
    if fmt == "json":
        typer.echo(_json.dumps(r, ensure_ascii=False, indent=2, default=str))
        return
    u = r["unit"]
    out.print(
        f"{u['name']} {u['code']} · week {r['week']} ({r['iso_week']}): {r['week_petitions']} petitions this week, "
        f"{r['petitions']} in the {r['params']['history_weeks']} weeks, {r['cells']} grid cells",
        highlight=False,
    )
    counts = {k: len(r[k]) for k in ("repeat_places", "surges", "hotspots", "emerging", "topics")}
    out.print("findings: " + ", ".join(f"{k} {v}" for k, v in counts.items()), highlight=False)
    if not r["tasks"]:
        out.print("no task: nothing unusual this week", highlight=False)
    for i, t in enumerate(r["tasks"], 1):
        lead = f" → {t['department_name']}" if t.get("department_name") else ""
        out.print(f"{i:3}. [{t['kind_label']}] {t['title']}{lead}", highlight=False)
        out.print(f"     {t['evidence']}", highlight=False)


@maps_app.command("export")
def maps_export(
    unit: Annotated[str, typer.Option(help="the unit's code (district, street, community or cell)")],
    out_dir: Annotated[Path, typer.Option("--out", help="directory to write (created)")],
    depth: Annotated[int, typer.Option(help="also export this many levels of children (drill-down)")] = 1,
    since: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="petitions received on or after this date"),
    ] = None,
    until: Annotated[
        dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="petitions received before this date")
    ] = None,
    category: Annotated[
        str | None, typer.Option(help="only this category code (and its sub-categories)")
    ] = None,
) -> None:
    """Write a unit's map page (index.html) and its children's pages, with the vendored assets, as
    static files: they open from disk, offline. Address search needs the server and is off here."""
    import shutil

    from rich.progress import Progress

    from grid.db.jurisdiction import get_index
    from maps.offline import VENDOR_DIR
    from maps.unit_page import build_unit_page

    day = dt.date.today()

    def job(s: Any) -> int:
        idx = get_index(s, day)
        if unit not in idx.units:
            raise GridGovError(f"no unit {unit} in force today", code="unit_not_found")
        levels = list(reversed(idx.levels))
        top = levels.index(idx.units[unit][1])
        wanted = set(levels[top : top + depth + 1])
        codes = [c for lv, cs in idx.descendants(unit).items() if lv in wanted for c in sorted(cs)]
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(VENDOR_DIR, out_dir / "static" / "vendor", dirs_exist_ok=True)
        with Progress(transient=True) as bar:
            t = bar.add_task("map pages", total=len(codes))
            for c in codes:
                page = build_unit_page(
                    s,
                    c,
                    since=_d(since),
                    until=_d(until),
                    category=category,
                    href="{code}.html",
                    base_url="static/vendor",
                    api_base=None,
                )
                name = "index.html" if c == unit else f"{c}.html"
                (out_dir / name).write_text(page, encoding="utf-8")
                if c == unit:
                    (out_dir / f"{c}.html").write_text(page, encoding="utf-8")
                bar.update(t, advance=1)
        return len(codes)

    n = run_tx(job)
    out.print(f"wrote {n} page(s) to {out_dir} (open {out_dir / 'index.html'})")


# ----------------------------------------------------------------------------- catalogue
@catalogue_app.command("load")
def catalogue_load() -> None:
    """Seed the category catalogue and the routing catalogue for the districts and streets in force."""
    from data.routing import load_catalogue

    counts = run_tx(lambda s: load_catalogue(s, dt.date.today()))
    out.print(f"catalogue: {counts}")


# ----------------------------------------------------------------------------- sample / demo / serve
@sample_app.command("build")
def sample_build(
    out_dir: Annotated[
        Path | None,
        typer.Argument(help="directory for the generated layers (default: data/build in the package)"),
    ] = None,
) -> None:
    """Generate the sample city layers (deterministic) as GeoJSON/CSV files."""
    from data.sample import build_files

    with guarded():
        paths = build_files(out_dir, progress=lambda m: out.print(m))
    for k, p in paths.items():
        out.print(f"{k}: {p}")


@sample_app.command("load")
def sample_load(
    out_dir: Annotated[
        Path | None,
        typer.Argument(help="directory for the generated layers (default: data/build in the package)"),
    ] = None,
) -> None:
    """Build (if needed) and load the sample city through the normal importers. Idempotent."""
    from data.sample import load_sample

    with guarded():
        load_sample(out_dir, progress=lambda m: out.print(m))


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="interface (default GRIDGOV_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default GRIDGOV_PORT or 8000)")] = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from api.app import create_app
    from grid.config import get_settings

    s = get_settings()
    h, p = host or s.host, port or s.port
    with guarded():  # production refuses unsafe settings with a message, not a traceback
        application = create_app(s, warm=True)
    out.print(f"gridgov API on [bold]http://{h}:{p}[/] ({s.environment})  (health: /health, docs: /docs)")
    uvicorn.run(application, host=h, port=p, log_level="info")


@app.command("demo")
def demo(
    serve_api: Annotated[bool, typer.Option("--serve/--no-serve", help="serve the API afterwards")] = True,
    host: Annotated[str | None, typer.Option(help="interface")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
) -> None:
    """Migrate, load the Beijing sample city (idempotent), validate it, then serve the API.
    Runs in development mode (random demo passwords, a per-process token key, CORS closed)."""
    from grid.config import get_settings

    os.environ["GRIDGOV_ENVIRONMENT"] = "development"
    get_settings.cache_clear()
    s = get_settings()
    out.print(
        "[bold]gridgov demo[/] in [bold yellow]development mode[/]: not for production "
        "(production needs GRIDGOV_SECRET_KEY and real accounts; docs/SECURITY.md)"
    )
    db_upgrade("head")
    sample_load(None)
    from grid.db.validation import validate_store

    report = run_tx(lambda x: validate_store(x, dt.date.today()))
    out.print(
        f"sample city: {report['units']} units, {report['errors']} validation error(s), "
        f"{report['warnings']} warning(s)"
    )
    from api.demo import demo_key, demo_users, tour

    key = run_tx(demo_key)
    users = run_tx(demo_users)
    with guarded():
        tour(key, lambda m: out.print(m, highlight=False, markup=False), users=users)
    out.print("[bold]proactive governance[/]: 双井街道's task list for the sample year's last full week")
    with guarded():
        insights_cmd(unit="110105016", week="2025-W52", fmt="text", hot_weeks=52)
    out.print(f"development API key (operator; header X-API-Key): [bold]{key}[/]")
    for name, password in users.items():
        out.print(f"development login {name} / {password}  (POST /v1/auth/token)", highlight=False)
    h, p = host or s.host, port or s.port
    out.print(f"maps: http://{h}:{p}/maps/  (双井街道: http://{h}:{p}/maps/unit/110105016)")
    out.print(
        f"hotspots and tasks on the map: http://{h}:{p}/maps/unit/110105016?insights=true&week=2025-W52"
    )
    if serve_api:
        serve(host, port)


if __name__ == "__main__":
    app()
