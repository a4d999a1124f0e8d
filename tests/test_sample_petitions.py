"""The synthetic petition generators: determinism, volume, realism and the planted effects."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import prcoords
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data.sample_petitions import (
    INTAKE_COLUMNS,
    TRUTH_COLUMNS,
    app,
    default_cache_dir,
    demo_buildings,
    generate_city,
    generate_year,
    load_categories,
    synthetic_cells,
    write,
)

TZ = "Asia/Shanghai"
Year = tuple[pd.DataFrame, dict[str, Any]]


@pytest.fixture(scope="module")
def buildings() -> pd.DataFrame:
    return demo_buildings()


@pytest.fixture(scope="module")
def categories() -> list[dict[str, Any]]:
    return load_categories()


@pytest.fixture(scope="module")
def year(buildings: pd.DataFrame, categories: list[dict[str, Any]]) -> Year:
    return generate_year(buildings, categories)


@pytest.fixture(scope="module")
def busy(buildings: pd.DataFrame, categories: list[dict[str, Any]]) -> Year:
    """Beijing's real rate (~2.4 per household): cell-level surges can be statistically clear."""
    return generate_year(buildings, categories, rate=2.4, seed=5)


def _day(s: str) -> pd.Timestamp:
    return pd.Timestamp(s).tz_localize(TZ)


def _metres(lon0: Any, lat0: Any, lon1: Any, lat1: Any) -> Any:
    k = 111_320.0 * np.cos(np.radians(lat0))
    return np.hypot((np.asarray(lon1) - lon0) * k, (np.asarray(lat1) - lat0) * 110_540.0)


# --- determinism and shape ---------------------------------------------------------------------


def test_same_seed_same_frame_and_input_order_does_not_matter(
    year: Year, buildings: pd.DataFrame, categories: list[dict[str, Any]]
) -> None:
    df, manifest = year
    again, manifest2 = generate_year(buildings.sample(frac=1.0, random_state=1), categories)
    pd.testing.assert_frame_equal(df, again)
    assert manifest == manifest2
    other, manifest3 = generate_year(buildings, categories, seed=99)
    assert len(other) != len(df) or not other["text"].equals(df["text"])
    assert manifest3["hotspots"] != manifest["hotspots"] or manifest3["count"] != manifest["count"]


def test_count_is_rate_times_households(year: Year, buildings: pd.DataFrame) -> None:
    df, manifest = year
    expected = 0.5 * buildings["households"].sum()
    assert abs(len(df) - expected) / expected < 0.05
    assert manifest["count"] == len(df)
    assert manifest["seed"] == 20230 and manifest["year"] == 2023 and manifest["rate"] == 0.5
    assert manifest["generator_version"]


def test_columns_dtypes_and_ids(year: Year) -> None:
    df, _ = year
    assert tuple(df.columns) == TRUTH_COLUMNS
    for c in ("received_at", "accepted_at", "resolved_at", "callback_at", "closed_at"):
        assert isinstance(df[c].dtype, pd.DatetimeTZDtype) and str(df[c].dt.tz) == TZ, c
    for c in ("lon", "lat"):
        assert df[c].dtype == np.float64
    assert df["callback_resolved"].dtype == object  # True / False / None
    assert {type(v) for v in df["callback_resolved"]} == {bool, type(None)}
    for c in (
        "external_id",
        "channel",
        "type",
        "category",
        "text",
        "address",
        "contact_name",
        "contact_phone",
    ):
        assert pd.api.types.is_string_dtype(df[c]), c
    assert df["received_at"].is_monotonic_increasing
    assert df["external_id"].tolist()[:2] == ["SP2023-000001", "SP2023-000002"]
    assert df["external_id"].is_unique
    assert df["received_at"].min() >= _day("2023-01-01") and df["received_at"].max() < _day("2024-01-01")
    assert df["contact_phone"].str.fullmatch(r"1[358]\d{9}").all()
    assert (df["text"].str.len() > 8).all()


def test_categories_channels_and_types(year: Year, categories: list[dict[str, Any]]) -> None:
    df, _ = year
    known = {c["code"]: c for c in categories}
    assert set(df["category"]) <= set(known)
    patrol = df["channel"] == "grid_patrol"
    assert df.loc[~patrol, "category"].str.startswith("HL").all()  # residents use the 12345 codes
    assert (~df.loc[patrol, "category"].str.startswith("HL")).any()  # patrols report CJ/T 214 events
    share = df["channel"].value_counts(normalize=True)
    for ch, want in {"hotline": 0.70, "app": 0.15, "wechat": 0.10, "grid_patrol": 0.05}.items():
        assert abs(share[ch] - want) < 0.02, (ch, share[ch])
    placed = df["true_building_id"].notna()
    consult = (df.loc[placed, "type"] == "consultation").mean()
    assert 0.30 < consult < 0.40
    assert set(df["type"]) == {"consultation", "complaint", "help", "report", "suggestion"}
    assert set(df["urgency"].dropna()) == {"urgent"}
    urgent_cats = {c for c, v in known.items() if v["urgency"] == "urgent"}
    flagged = df.loc[df["urgency"] == "urgent", "category"]
    assert flagged.isin(urgent_cats).mean() > 0.5


def test_placeless_consultations(year: Year, categories: list[dict[str, Any]]) -> None:
    df, _ = year
    placeless_cats = {c["code"] for c in categories if not c["needs_place"]}
    free = df["true_building_id"].isna()
    assert free.sum() > 0
    assert df.loc[free, "category"].isin(placeless_cats).all()
    assert (df.loc[free, "type"] == "consultation").all()
    assert df.loc[free, "address"].isna().all() and df.loc[free, "lon"].isna().all()
    assert df.loc[free, ["true_cell_code", "true_community_code"]].isna().all(axis=None)
    assert df.loc[free, "category"].nunique() >= 8  # the needs_place=false categories are all there
    placed = ~free
    assert df.loc[placed, ["true_cell_code", "true_community_code"]].notna().all(axis=None)
    # a placed petition always has an address or coordinates
    assert (df.loc[placed, "address"].notna() | df.loc[placed, "lon"].notna()).all()


def test_addresses_and_coordinates(year: Year, buildings: pd.DataFrame) -> None:
    df, _ = year
    placed = df["true_building_id"].notna()
    xy = df["lon"].notna()
    assert (xy <= placed).all()
    assert abs(xy[df["channel"] != "hotline"].mean() - 0.5) < 0.05
    assert not xy[df["channel"] == "hotline"].any()
    assert set(df.loc[xy, "datum"]) == {"wgs84", "gcj02"} and df.loc[~xy, "datum"].isna().all()
    app_xy = xy & (df["channel"] == "app")
    assert abs((df.loc[app_xy, "datum"] == "gcj02").mean() - 0.3) < 0.06
    assert abs(df.loc[xy, "address"].isna().mean() - 0.15) < 0.03
    standard = df["address"].str.startswith("北京市", na=False)
    assert 0.38 < standard[placed].mean() < 0.52
    colloquial = df.loc[placed & ~standard, "address"].dropna()
    assert colloquial.str.contains("号楼").mean() > 0.3
    assert colloquial.str.contains("桥|交叉口|路口|站.口|门口").any()
    # coordinates: 10-30 m from the building; GCJ-02 ones convert back close to it
    pts = buildings.set_index("building_id")
    sub = df[xy]
    b = pts.loc[sub["true_building_id"].to_numpy()]
    lon, lat = sub["lon"].to_numpy().copy(), sub["lat"].to_numpy().copy()
    for i in np.flatnonzero((sub["datum"] == "gcj02").to_numpy()):
        back = prcoords.gcj_wgs_bored((float(lat[i]), float(lon[i])))
        lat[i], lon[i] = back[0], back[1]
    d = _metres(b["lon"].to_numpy(), b["lat"].to_numpy(), lon, lat)
    assert d.max() < 50 and np.median(d) > 10
    raw = _metres(b["lon"].to_numpy(), b["lat"].to_numpy(), sub["lon"].to_numpy(), sub["lat"].to_numpy())
    assert raw[(sub["datum"] == "gcj02").to_numpy()].min() > 100  # the GCJ-02 offset is really applied


def test_seasonality_and_time_of_day(year: Year) -> None:
    df, _ = year
    month = df["received_at"].dt.month
    heat = df["category"] == "HL0201"
    winter, summer = heat[month >= 11].mean(), heat[(month >= 6) & (month <= 8)].mean()
    assert winter >= 5 * summer and winter > 0.1
    rain = df["category"] == "HL1202"
    assert rain[(month >= 7) & (month <= 8)].mean() > 3 * rain[(month <= 3) | (month >= 11)].mean()
    hour = df["received_at"].dt.hour
    assert (hour.between(9, 10).mean() / 2) > 2 * (hour.between(2, 4).mean() / 3)
    assert (hour < 6).any()  # the hotline also takes calls at night
    assert not hour[df["channel"] == "grid_patrol"].isin(range(0, 8)).any()
    dow = df["received_at"].dt.day_of_week
    assert (dow < 5).mean() / 5 > 1.2 * (dow >= 5).mean() / 2


def test_handling_history(year: Year) -> None:
    df, _ = year
    assert set(df["final_status"]) <= {"closed", "resolved", "in_progress", "dispatched"}
    rec, acc, res = df["received_at"], df["accepted_at"], df["resolved_at"]
    assert (acc.dropna() >= rec[acc.notna()]).all()
    both = acc.notna() & res.notna()
    assert (res[both] >= acc[both]).all()
    assert (df["callback_at"].dropna() >= res[df["callback_at"].notna()]).all()
    closed = df["final_status"] == "closed"
    answered = df["callback_resolved"].notna() & df["callback_satisfaction"].notna()
    assert (answered | df["callback_none_reason"].notna())[closed].all()
    assert not (answered & df["callback_none_reason"].notna()).any()
    assert df.loc[closed, "closed_at"].notna().all() and df.loc[~closed, "closed_at"].isna().all()
    assert abs(df.loc[closed, "callback_none_reason"].notna().mean() - 0.05) < 0.015
    assert 0.8 < df.loc[closed, "callback_resolved"].dropna().astype(bool).mean() < 0.9
    sat = df.loc[closed, "callback_satisfaction"].value_counts(normalize=True)
    assert 0.68 < sat["satisfied"] < 0.82 and 0.1 < sat["basically_satisfied"] < 0.2
    assert 0.06 < sat["unsatisfied"] < 0.14
    # open petitions are the recent ones (a snapshot at the end of the year)
    assert closed[rec < _day("2023-12-01")].mean() > 0.999
    assert (~closed[rec >= _day("2023-12-25")]).mean() > 0.5
    # urgent petitions are resolved within hours, general ones within days
    hours = (res - rec).dt.total_seconds() / 3600
    assert hours[(df["urgency"] == "urgent") & res.notna()].quantile(0.95) < 6
    gen = df["category"].isin(["HL0303", "HL1006", "HL0601"]) & (df["type"] != "consultation")
    assert 24 < hours[gen].median() < 24 * 6
    # communities differ in satisfaction (the scores must differ between units)
    by_comm = (
        (df.loc[closed, "callback_satisfaction"] == "satisfied")
        .groupby(df.loc[closed, "true_community_code"])
        .mean()
    )
    assert by_comm.max() - by_comm.min() > 0.05


# --- planted effects -----------------------------------------------------------------------------------


def _cell_rates(df: pd.DataFrame, buildings: pd.DataFrame, start: str, end: str) -> pd.Series:
    hh = buildings.groupby("cell_code")["households"].sum()
    sub = df[(df["received_at"] >= _day(start)) & (df["received_at"] < _day(end) + pd.Timedelta(days=1))]
    counts = sub.groupby("true_cell_code").size().reindex(hh.index, fill_value=0)
    return (counts / hh)[hh >= 200]


def test_hotspots(year: Year, buildings: pd.DataFrame) -> None:
    df, manifest = year
    hot = manifest["hotspots"]
    assert len(hot) == 3
    assert len({h["community_code"] for h in hot}) == 3
    assert sum(h["start"] == "2023-01-01" and h["end"] == "2023-12-31" for h in hot) >= 1
    planted = {h["cell_code"] for h in hot}
    for h in hot:
        assert 1.5 <= h["factor"] <= 3 and h["households"] >= 200
        weeks = ((_day(h["end"]) - _day(h["start"])).days + 1) / 7
        assert weeks >= 8
        rates = _cell_rates(df, buildings, h["start"], h["end"])
        ratio = rates[h["cell_code"]] / rates.drop(list(planted), errors="ignore").mean()
        assert 1.4 <= ratio <= 3.2, (h, ratio)


def _weekly(df: pd.DataFrame, cell: str, category: str) -> pd.Series:
    iso = df["received_at"].dt.isocalendar()
    key = iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)
    weeks = sorted(key.unique())
    sub = key[(df["true_cell_code"] == cell) & (df["category"] == category)]
    return sub.value_counts().reindex(weeks, fill_value=0)


def test_surges_are_planted_within_the_factor_cap(year: Year) -> None:
    df, manifest = year
    assert len(manifest["surges"]) == 3
    hot = {h["cell_code"] for h in manifest["hotspots"]}
    for s in manifest["surges"]:
        assert 1.5 <= s["factor"] <= 3 and s["planted_count"] >= 1 and s["cell_code"] not in hot
        assert s["factor"] == pytest.approx(
            (s["baseline_per_week"] + s["planted_count"]) / s["baseline_per_week"], abs=2e-3
        )
        assert _weekly(df, s["cell_code"], s["category"])[s["week"]] >= s["planted_count"]
        # at 0.5 per household a cell-category week holds ~1-3 petitions: a <= 3x surge is not clear
        assert s["clear"] == (s["p_value"] < 1e-4)


def test_surges_at_the_real_rate_are_clear_and_measurable(busy: Year) -> None:
    df, manifest = busy
    clear = [s for s in manifest["surges"] if s["clear"]]
    assert len(clear) >= 2
    counts, baselines = [], []
    for s in clear:
        assert 1.5 <= s["factor"] <= 3 and s["p_value"] < 1e-4
        weekly = _weekly(df, s["cell_code"], s["category"])
        i = weekly.index.get_loc(s["week"])
        # the baseline of a seasonal category is the weeks around it (as the generator chose them: the
        # background within 0.8-1.25 of the 3 weeks either side), not the mean of the whole year
        around = pd.concat([weekly.iloc[max(0, i - 3) : i], weekly.iloc[i + 1 : i + 4]]).mean()
        assert 1.2 <= weekly.iloc[i] / around <= 4.0, (s, weekly.iloc[i], around)  # one week: Poisson noise
        counts.append(weekly.iloc[i])
        baselines.append(around)
    assert 1.5 <= sum(counts) / sum(baselines) <= 3.5


def test_repeat_places(year: Year) -> None:
    df, manifest = year
    reps = manifest["repeat_places"]
    assert len(reps) == 3
    for r in reps:
        assert (_day(r["end"]) - _day(r["start"])).days < 30
        sub = df[(df["true_building_id"] == r["building_id"]) & (df["category"] == r["category"])]
        window = sub["received_at"].between(_day(r["start"]), _day(r["end"]) + pd.Timedelta(days=1))
        assert window.sum() >= max(6, r["count"])
        assert sub.loc[window, "text"].str.contains("之前已经反映过").sum() >= 5
        assert sub.loc[window, "contact_phone"].value_counts().iloc[0] >= 3  # a persistent caller


def test_rising_phrase(year: Year) -> None:
    df, manifest = year
    rp = manifest["rising_phrase"]
    assert rp["street_code"] == "110105016" and rp["phrase"] == "飞线充电"
    assert 1.5 <= rp["factor"] <= 3
    street = df[df["true_community_code"].str.startswith(rp["street_code"], na=False)]
    has = street["text"].str.contains(rp["phrase"], regex=False)
    late = street["received_at"] >= _day(rp["start"])
    assert (_day(rp["end"]) - _day(rp["start"])).days == 55 and rp["end"] == "2023-12-31"  # the last 8 weeks
    before, after = has[~late].mean(), has[late].mean()
    assert before > 0
    assert 1.4 <= after / before <= 3.2, (before, after)
    assert rp["background_share"] == pytest.approx(before, rel=0.25)


def test_write_is_deterministic(year: Year, tmp_path: Path) -> None:
    df, manifest = year
    a = write(df, manifest, tmp_path / "a")
    b = write(df, manifest, tmp_path / "b")
    for key in ("csv", "truth", "planted"):
        assert hashlib.sha256(a[key].read_bytes()).digest() == hashlib.sha256(b[key].read_bytes()).digest()
    csv = pd.read_csv(a["csv"], dtype=str, keep_default_na=False)
    assert tuple(csv.columns) == INTAKE_COLUMNS and len(csv) == len(df)
    assert csv["received_at"].str.fullmatch(r"2023-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00").all()
    assert not a["csv"].read_bytes().startswith(b"\xef\xbb\xbf")  # plain UTF-8, no BOM
    truth = pd.read_parquet(a["truth"])
    pd.testing.assert_frame_equal(truth, df)
    assert json.loads(a["planted"].read_text(encoding="utf-8")) == manifest
    assert "飞线充电" in a["planted"].read_text(encoding="utf-8")  # ensure_ascii=False


def test_demo_buildings_stand_in_cells(buildings: pd.DataFrame) -> None:
    assert buildings["cell_code"].str.fullmatch(r"\d{12}9\d\d").all()
    assert (buildings["cell_code"].str[:12] == buildings["community_code"]).all()
    hh = buildings.groupby("cell_code")["households"].sum()
    assert 250 < hh.median() < 350 and hh.min() >= 100


# --- the Beijing-size generator ----------------------------------------------------------------------------


def test_synthetic_cells() -> None:
    cells = synthetic_cells(30_000, seed=1)
    assert len(cells) == 30_000 and cells["cell_code"].is_unique
    assert cells["district_code"].nunique() == 16
    assert 300 <= cells["street_code"].nunique() <= 380
    assert 6_500 <= cells["community_code"].nunique() <= 7_500
    assert abs(cells["households"].mean() - 300) < 3 and 35 < cells["households"].std() < 45
    assert (cells["community_code"].str[:9] == cells["street_code"]).all()
    assert (cells["street_code"].str[:6] == cells["district_code"]).all()
    pd.testing.assert_frame_equal(cells, synthetic_cells(30_000, seed=1))


def test_generate_city(tmp_path: Path) -> None:
    cells = synthetic_cells(2_000, seed=1)
    out = generate_city(50_000, cells=cells, chunk=20_000, out=tmp_path / "year.parquet")
    f = pq.ParquetFile(out)
    assert f.metadata.num_rows == 50_000 and f.metadata.num_row_groups == 3
    schema = f.schema_arrow
    assert schema.names == [
        "id", "received_at", "category", "urgency", "cell_code", "community_code", "street_code",
        "district_code", "department_code", "due_at", "answered_at", "callback_resolved",
        "callback_satisfaction", "merged", "status",
    ]  # fmt: skip
    assert schema.field("received_at").type == pa.timestamp("us", tz=TZ)
    assert pa.types.is_dictionary(schema.field("cell_code").type)
    df = f.read().to_pandas()
    assert (df["id"].to_numpy() == np.arange(1, 50_001)).all()
    assert df["received_at"].is_monotonic_increasing
    assert set(df["cell_code"].dropna()) <= set(cells["cell_code"])
    placeless = df["cell_code"].isna()
    assert 0.08 < placeless.mean() < 0.25
    assert df.loc[placeless, "department_code"].str.startswith("110000-").all()
    assert df.loc[~placeless, "department_code"].str.match(r"^\d{6}(\d{3})?-").all()
    assert abs(df["merged"].mean() - 0.03) < 0.005
    assert set(df["status"]) <= {"closed", "resolved", "in_progress", "dispatched", "merged"}
    assert set(df["urgency"]) <= {"urgent", "utilities", "general", "complex"}
    answered = df["answered_at"].notna()
    assert 0.015 < (~answered & (df["received_at"] < pd.Timestamp("2023-12-01", tz=TZ))).mean() < 0.03
    assert (df.loc[answered, "answered_at"] >= df.loc[answered, "received_at"]).all()
    assert (df["due_at"] > df["received_at"]).all()
    assert set(df["callback_satisfaction"].dropna()) <= {"satisfied", "basically_satisfied", "unsatisfied"}
    again = generate_city(50_000, cells=cells, chunk=20_000, out=tmp_path / "again.parquet")
    assert out.read_bytes() == again.read_bytes()


def test_cache_dir_and_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    monkeypatch.setenv("GRIDGOV_CACHE", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("GRIDGOV_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "gridgov"
    runner = CliRunner()
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0 and "demo" in res.output and "city" in res.output
    out = tmp_path / "c.parquet"
    res = runner.invoke(app, ["city", "--n", "5000", "--cells", "300", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert pq.ParquetFile(out).metadata.num_rows == 5000
