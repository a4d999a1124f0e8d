"""A small hand-made world near 双井: one district split into four street quadrants.

Helpers write layers to files so tests go through the real readers.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import geopandas as gpd
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from grid.db.importer import ImportReport, import_units

D0 = dt.date(2023, 1, 1)
D1 = dt.date(2024, 1, 1)
DISTRICT = box(116.40, 39.85, 116.50, 39.95)
STREETS: dict[str, BaseGeometry] = {
    "110105001": box(116.40, 39.90, 116.45, 39.95),
    "110105002": box(116.45, 39.90, 116.50, 39.95),
    "110105003": box(116.40, 39.85, 116.45, 39.90),
    "110105004": box(116.45, 39.85, 116.50, 39.90),
}
NAMES = {"110105001": "一街道", "110105002": "二街道", "110105003": "三街道", "110105004": "四街道"}
# NW quadrant with a zero-width spike: invalid, and make_valid gives back the clean square
SPIKED_001 = Polygon(
    [
        (116.40, 39.90),
        (116.45, 39.90),
        (116.45, 39.95),
        (116.42, 39.95),
        (116.42, 39.97),
        (116.42, 39.95),
        (116.40, 39.95),
    ]
)


def write_layer(path: Path, rows: list[dict[str, Any]], crs: Any = 4326) -> Path:
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    gdf.to_file(path, driver="GPKG" if path.suffix == ".gpkg" else "GeoJSON", engine="pyogrio")
    return path


def street_rows(geoms: dict[str, BaseGeometry] | None = None, parent: str = "110105") -> list[dict[str, Any]]:
    g = geoms or STREETS
    return [{"code": c, "name": NAMES.get(c, c), "parent": parent, "geometry": geom} for c, geom in g.items()]


def import_district(session: Session, tmp_path: Path, when: dt.date = D0) -> ImportReport:
    p = write_layer(
        tmp_path / "district.geojson", [{"code": "110105", "name": "朝阳区", "geometry": DISTRICT}]
    )
    return import_units(
        session, p, level="district", code_field="code", name_field="name", datum="wgs84", valid_from=when
    )


def import_streets(session: Session, path: Path, when: dt.date = D0, **kw: Any) -> ImportReport:
    return import_units(
        session,
        path,
        level="street",
        code_field="code",
        name_field="name",
        parent_field="parent",
        datum=kw.pop("datum", "wgs84"),
        valid_from=when,
        **kw,
    )


def import_world(session: Session, tmp_path: Path, *, communities: bool = True) -> None:
    """The district, its four streets and (by default) one community per street, all from D0."""
    import_district(session, tmp_path)
    import_streets(session, write_layer(tmp_path / "s.geojson", street_rows()))
    if communities:
        comms = [{"code": c + "001", "name": f"{c}社区", "geometry": g} for c, g in STREETS.items()]
        import_units(
            session,
            write_layer(tmp_path / "c.geojson", comms),
            level="community",
            code_field="code",
            name_field="name",
            datum="wgs84",
            valid_from=D0,
        )


THREE_BUILDINGS = (
    "building_id,address,lon,lat,households,compound,road,door_number,building_no,floors\n"
    "B1,一街道幸福路1号院1号楼,116.41,39.94,300,幸福里,幸福路,1,1,6\n"
    "B2,一街道幸福路3号院1号楼,116.44,39.94,200,和平里,幸福路,3,1,6\n"
    "B3,一街道幸福路5号院1号楼,116.41,39.91,100,安乐里,幸福路,5,1,6\n"
)


def import_three_buildings(session: Session, tmp_path: Path) -> None:
    """Three buildings of 300, 200 and 100 households in cells 001, 002 and 003 of the test world."""
    from grid.db.buildings import import_buildings

    csv = tmp_path / "b.csv"
    csv.write_text(THREE_BUILDINGS, encoding="utf-8")
    import_buildings(session, csv, datum="wgs84", valid_from=D0)
