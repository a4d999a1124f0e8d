"""Build and load the Beijing sample city through the same importers users run.

Layers are generated deterministically into ``data/build/`` (git-ignored; :mod:`data.sample_files`)
and loaded with ``import_units`` / ``import_buildings``, so the demo exercises the real import path.
Loading is idempotent: a second run finds everything unchanged.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from data.sample_files import BUILD_DIR, SHUANGJING, Progress, build_files

__all__ = [
    "BUILD_DIR",
    "PETITION_RATE",
    "PETITION_SOURCE",
    "PETITION_YEAR",
    "SAMPLE_VALID_FROM",
    "SHUANGJING",
    "build_files",
    "load_sample",
    "load_sample_petitions",
    "partition_sample",
    "sample_petitions",
    "seed_staff",
]

SAMPLE_VALID_FROM = dt.date(2023, 6, 30)  # date of the NBS 2023 division codes


def load_sample(out_dir: Path | None = None, progress: Progress | None = None) -> dict[str, object]:
    """Import the sample city into the configured database (idempotent) and seed catalogues and staff."""
    from data.routing import load_catalogue
    from grid.db.buildings import import_buildings
    from grid.db.engine import check_database, session_scope
    from grid.db.importer import import_units

    say = progress or (lambda _m: None)
    check_database()
    paths = build_files(out_dir, say)
    summary: dict[str, object] = {}
    for lv in ("district", "street", "community"):
        with session_scope() as s:
            r = import_units(
                s,
                paths[lv],
                level=lv,
                code_field="code",
                name_field="name",
                parent_field="parent_code",
                source_field="source",
                datum="wgs84",
                valid_from=SAMPLE_VALID_FROM,
                source=f"gridgov sample city ({lv})",
            )
            say(
                f"{lv}: {r.counts['new']} new, {r.counts['changed']} changed, {r.counts['unchanged']} unchanged, "
                f"{r.counts['warnings']} warning(s)"
            )
            summary[lv] = r.counts
    with session_scope() as s:
        b = import_buildings(
            s,
            paths["buildings"],
            datum="wgs84",
            valid_from=SAMPLE_VALID_FROM,
            source="gridgov synthetic buildings of 双井街道",
        )
        say(f"buildings: {b.counts}")
        summary["buildings"] = b.counts
    with session_scope() as s:
        from grid.db.gazetteer_import import import_addresses

        g = import_addresses(
            s,
            paths["gazetteer"],
            datum="wgs84",
            valid_from=SAMPLE_VALID_FROM,
            source="gridgov synthetic gazetteer of 双井街道",
        )
        say(
            f"gazetteer: {g['counts']['new']} new, {g['counts']['changed']} changed, "
            f"{g['counts']['unchanged']} unchanged places"
        )
        summary["gazetteer"] = g["counts"]
    with session_scope() as s:
        summary["catalogue"] = load_catalogue(s, SAMPLE_VALID_FROM)
        say(f"catalogue: {summary['catalogue']}")
    with session_scope() as s:
        summary["staff"] = seed_staff(s)
    with session_scope() as s:
        summary["partition"] = partition_sample(s, say)
    with session_scope() as s:
        summary["petitions"] = load_sample_petitions(s, say)
    return summary


PETITION_YEAR = 2025  # inside the sample boundaries' validity (from 2023-06-30) and the holiday tables
PETITION_SOURCE = "gridgov sample petitions"
PETITION_RATE = 0.5  # petitions per household and year (Beijing's real rate is about 2.4)


def sample_petitions(
    session: object, *, rate: float = PETITION_RATE
) -> tuple[pd.DataFrame, dict[str, object]]:
    """The sample year of petitions for 双井 (deterministic) and the manifest of planted effects,
    generated on the buildings and grid cells in the store."""
    from sqlalchemy.orm import Session

    from data.routing import load_categories
    from data.sample_petitions import generate_year
    from grid.db.store import buildings_at

    assert isinstance(session, Session)
    b = buildings_at(session, dt.date(PETITION_YEAR, 1, 1))
    b = b[b["cell_code"].notna()].copy()
    b["lon"], b["lat"] = b.geometry.x, b.geometry.y
    cols = ["building_id", "address", "lon", "lat", "households", "community_code", "cell_code"]
    return generate_year(pd.DataFrame(b[cols]), load_categories(), year=PETITION_YEAR, rate=rate)


def load_sample_petitions(session: object, say: Progress) -> dict[str, object]:
    """Load the sample year of petitions once (located and routed by the normal rules, with their
    history) and write the planted effects to ``data/build/petitions/planted.json``."""
    import json

    from sqlalchemy.orm import Session

    from grid.db.maintenance import petitions_from_source
    from grid.db.petition_bulk import bulk_load

    assert isinstance(session, Session)
    have = petitions_from_source(session, PETITION_SOURCE)
    if have:
        say(f"petitions: {have:,} sample petitions kept from an earlier run")
        return {"petitions": int(have), "kept": True}
    df, manifest = sample_petitions(session)
    out = BUILD_DIR / "petitions"
    out.mkdir(parents=True, exist_ok=True)
    (out / "planted.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    r = bulk_load(session, df, source=PETITION_SOURCE, progress=say)
    say(f"petitions: {r['petitions']:,} sample petitions of {PETITION_YEAR} loaded {r['by_status']}")
    return r


def partition_sample(session: object, say: Progress) -> dict[str, object]:
    """Partition 双井 into ~300-household grid cells (idempotent) and give each cell an officer."""
    from sqlalchemy.orm import Session

    from grid.db.partition import partition, seed_officers
    from grid.db.store import units_at

    assert isinstance(session, Session)
    cells = units_at(session, SAMPLE_VALID_FROM, "grid", parent_codes=None)
    if len(cells) and cells["code"].astype(str).str.startswith(SHUANGJING).any():
        # partitioned by an earlier run: keep those cells (history is never rewritten on the same date)
        officers = seed_officers(session, SAMPLE_VALID_FROM, cells["code"])
        say(
            f"grid cells of 双井: {len(cells)} cells kept from an earlier run, {officers} officer(s) assigned"
        )
        return {"cells": len(cells), "officers": officers}
    r = partition(session, street=SHUANGJING, valid_from=SAMPLE_VALID_FROM)
    q = r["quality"]["overall"] if r["quality"] else {}
    cells = units_at(session, SAMPLE_VALID_FROM, "grid")
    officers = seed_officers(session, SAMPLE_VALID_FROM, cells["code"])
    say(
        f"grid cells of 双井: {len(cells)} cells, {q.get('within_20', 0):.0%} within ±20% of 300 households, "
        f"{officers} officer(s) assigned"
    )
    return {"cells": len(cells), "officers": officers}


def seed_staff(session: object) -> int:
    """A community secretary for each 双井 community (fictional names), once."""
    from sqlalchemy.orm import Session

    from grid.db.maintenance import unit_has_staff
    from grid.db.store import assign_staff, units_at

    assert isinstance(session, Session)
    comms = units_at(session, SAMPLE_VALID_FROM, "community", parent_codes=[SHUANGJING])
    family = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
    given = [
        "建国",
        "秀英",
        "志强",
        "丽娟",
        "海波",
        "静",
        "伟",
        "敏",
        "磊",
        "霞",
        "军",
        "芳",
        "勇",
        "娜",
        "杰",
        "燕",
        "涛",
        "红",
    ]
    n = 0
    for i, code in enumerate(sorted(comms["code"])):
        if unit_has_staff(session, code):
            continue
        assign_staff(
            session,
            code,
            family[i % len(family)] + given[i % len(given)],
            role="secretary",
            phone=f"010-8777{i:04d}",
            valid_from=SAMPLE_VALID_FROM,
        )
        n += 1
    return n
