from __future__ import annotations

from pathlib import Path

import pytest

from grid.errors import InputError
from grid.io import code_str, read_csv, read_layer


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (110105016.0, "110105016"),
        (110105, "110105"),
        (" 110105 ", "110105"),
        ("110105.0", "110105"),
        (None, None),
        ("", None),
        (float("nan"), None),
        ("NULL", None),
        ("W01", "W01"),
    ],
)
def test_code_str(raw: object, expected: str | None) -> None:
    assert code_str(raw) == expected


def test_read_layer_errors_are_precise(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found") as e:
        read_layer(tmp_path / "nope.geojson")
    assert e.value.code == "file_not_found"
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match=r"cannot read bad\.geojson") as e:
        read_layer(bad)
    assert e.value.code == "unreadable_file"


def test_read_csv_checks_header_and_encoding(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_bytes("building_id,地址\n1,双井\n".encode("gb18030"))
    with pytest.raises(InputError, match=r"missing column") as e:
        read_csv(p, required=["building_id", "address"])
    assert e.value.code == "malformed_csv"
    p.write_bytes("building_id,address\n1,双井\n".encode("gb18030"))
    df = read_csv(p, required=["building_id", "address"])
    assert df.loc[0, "address"] == "双井"
    p.write_text('building_id,address\n1,"unterminated\n', encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_csv(p, required=["building_id"])
    assert e.value.code == "malformed_csv"


def test_gbk_shapefile_without_cpg_is_read(tmp_path: Path) -> None:
    import geopandas as gpd
    import shapely

    g = gpd.GeoDataFrame(
        {"name": ["双井街道"], "code": ["110105016"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326
    )
    g.to_file(tmp_path / "a.shp", encoding="gbk", engine="pyogrio")
    (tmp_path / "a.cpg").unlink(missing_ok=True)
    assert read_layer(tmp_path / "a.shp")["name"].tolist() == ["双井街道"]
    assert read_layer(tmp_path / "a.shp", encoding="gbk")["name"].tolist() == ["双井街道"]
