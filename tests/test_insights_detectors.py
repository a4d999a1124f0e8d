"""The pure insight detectors: surges, repeat places, emerging topics (no database)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from grid.errors import InputError
from grid.insights.repeats import from_metres, normalise_address, repeat_places, to_metres
from grid.insights.surges import (
    benjamini_hochberg,
    combine_weekly,
    estimate_dispersion,
    surges,
    week_start,
    weekly_counts,
)
from grid.insights.topics import Segmenter, emerging_topics, rising_terms, term_counts

TZ = ZoneInfo("Asia/Shanghai")
CAT = "HL0101"

# --- surges ------------------------------------------------------------------------------------------


def test_weekly_counts_local_iso_weeks_and_sparse_pairs() -> None:
    rows = [
        ("c1", CAT, dt.datetime(2025, 12, 7, 23, 30, tzinfo=TZ)),  # Sunday night: week of Mon 1 Dec
        ("c1", CAT, dt.datetime(2025, 12, 8, 0, 30, tzinfo=TZ)),  # Monday 00:30 local (Sunday in UTC)
        ("c1", CAT, dt.datetime(2025, 12, 22, 9, 0, tzinfo=TZ)),
        ("c2", "HL0201", dt.datetime(2025, 12, 9, 9, 0, tzinfo=TZ)),
        (None, CAT, dt.datetime(2025, 12, 9, 9, 0, tzinfo=TZ)),  # no cell: left out
    ]
    df = pd.DataFrame(rows, columns=["cell_code", "category_code", "received_at"])
    w = weekly_counts(df)
    assert list(w.index) == [("c1", CAT), ("c2", "HL0201")]  # only pairs that occur
    assert [d.date() for d in w.columns] == [dt.date(2025, 12, d) for d in (1, 8, 15, 22)]  # contiguous
    assert w.loc[("c1", CAT)].tolist() == [1, 1, 0, 1]
    assert w.loc[("c2", "HL0201")].tolist() == [0, 1, 0, 0]
    assert week_start("2025-W50") == pd.Timestamp("2025-12-08") == week_start(dt.date(2025, 12, 14))
    both = combine_weekly(w, weekly_counts(df.iloc[:1]))
    assert both.loc[("c1", CAT)].tolist() == [2, 1, 0, 1]


def test_benjamini_hochberg() -> None:
    q = benjamini_hochberg(np.array([0.01, 0.04, 0.03, np.nan, 0.5]))
    # sorted 0.01, 0.03, 0.04, 0.5 → 0.04, 0.06, 0.0533, 0.5 → step-up minimum from the top
    assert np.allclose(q[[0, 1, 2, 4]], [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])
    assert np.isnan(q[3])


def _stationary(n: int = 500, weeks: int = 53, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """n unit-category pairs, Poisson around their own level times a common seasonal wave."""
    rng = np.random.default_rng(seed)
    level = rng.gamma(2.0, 0.75, n)  # mean 1.5 a week
    season = 1 + 0.6 * np.sin(np.arange(weeks) / 52 * 2 * np.pi)
    x = rng.poisson(level[:, None] * season[None, :])
    idx = pd.MultiIndex.from_arrays(
        [[f"c{i:03d}" for i in range(n)], [CAT] * n], names=["cell_code", "category_code"]
    )
    cols = pd.date_range("2025-01-06", periods=weeks, freq="7D", name="week")
    return pd.DataFrame(x, index=idx, columns=cols), season


def test_surges_quiet_on_a_stationary_seasonal_series() -> None:
    w, _season = _stationary()
    tested_weeks = w.columns[-20:]
    # the whole family (the default keeps only pairs expected at 4 a week or more)
    fdr = sum(len(surges(w, wk, min_expected=0.5)) for wk in tested_weeks)
    per_pair = sum(len(surges(w, wk, alpha=1e-3, min_expected=0.5)) for wk in tested_weeks)
    tested = sum(int(surges(w, wk, return_all=True, min_expected=0.5)["tested"].sum()) for wk in tested_weeks)
    assert tested > 20 * 250  # most pairs are tested (expected >= 0.5)
    assert fdr == 0 and sum(len(surges(w, wk)) for wk in tested_weeks) == 0
    assert per_pair <= 1e-3 * tested  # the per-pair level holds (discrete: conservative)
    # a seasonal wave is expected everywhere: every pair x3 in the last week raises no flag
    wave = w.copy()
    wave[w.columns[-1]] = np.random.default_rng(1).poisson(3 * w.iloc[:, :-1].mean(axis=1).to_numpy())
    assert len(surges(wave, w.columns[-1], min_expected=0.5)) == 0


def test_surge_fires_on_a_planted_jump() -> None:
    w, season = _stationary()
    last = w.columns[-1]
    pair = ("c000", CAT)
    # a steady pair at 4 a week (with the seasonal wave) that triples in the last week
    w.loc[pair] = np.round(4.0 * season).astype(int)
    w.loc[pair, last] = round(3 * 4.0 * season[-1])
    flags = surges(w, last, alpha=1e-3, min_expected=0.5)
    assert [(r.cell_code, r.category_code) for r in flags.itertuples()] == [pair]
    row = flags.iloc[0]
    assert row["expected"] == pytest.approx(4.0, abs=0.2) and row["ratio"] >= 2.8 and row["p_value"] <= 1e-3
    assert "52 weeks" in row["baseline"] and row["history_weeks"] == 52
    # among 500 pairs, the false-discovery control needs a clearer jump: 3x on 6 a week ...
    assert len(surges(w, last, min_expected=0.5)) == 0
    # ... unless the family holds only the pairs that can show a surge (independent filtering on
    # the expectation, the default): then 3x on 4 a week is found, and nothing else
    assert [r.cell_code for r in surges(w, last).itertuples()] == ["c000"]
    assert int(surges(w, last, return_all=True)["tested"].sum()) < 50
    w.loc[pair] = np.round(6.0 * season).astype(int)
    w.loc[pair, last] = round(3 * 6.0 * season[-1])
    assert [r.cell_code for r in surges(w, last, min_expected=0.5).itertuples()] == ["c000"]
    # the local baseline (4 weeks either side, seasonally adjusted) has 8 weeks of history, not
    # 52: it needs a larger pair for the same jump (here ~6.5 a week in a low season week)
    mid = w.columns[-6]
    w.loc[pair] = np.round(10.0 * season).astype(int)
    w.loc[pair, mid] = round(3 * 10.0 * season[-6])
    local = surges(w, mid, baseline="local")
    assert [r.cell_code for r in local.itertuples()] == ["c000"] and local["history_weeks"].iloc[0] == 8


def test_surge_own_count_does_not_raise_own_baseline() -> None:
    w, _season = _stationary(n=50)
    last = w.columns[-1]
    w.loc[("c000", CAT)] = 5
    w.loc[("c000", CAT), last] = 40
    row = surges(w, last, return_all=True).set_index("cell_code").loc["c000"]
    assert row["expected"] == pytest.approx(
        5.0 * (w[last].sum() - 40) / (w.iloc[:, :-1].sum().sum() - 5 * 52) * 52
    )
    assert bool(row["flagged"])
    with pytest.raises(InputError):
        surges(w, "2030-01-01")


def test_surge_dispersion() -> None:
    w, _season = _stationary()
    assert 0.9 <= estimate_dispersion(w, w.columns[-1]) <= 1.3  # Poisson counts: ~1
    # counts of gamma-mixed (negative binomial) weeks are overdispersed
    rng = np.random.default_rng(11)
    nb = w.copy()
    nb[:] = rng.poisson(rng.gamma(1.0, 1.0, w.shape) * w.to_numpy().mean(axis=1, keepdims=True))
    phi = estimate_dispersion(nb, nb.columns[-1])
    assert phi > 1.5
    last = w.columns[-1]
    w.loc[("c000", CAT)] = 6
    w.loc[("c000", CAT), last] = 18
    p1 = surges(w, last, return_all=True).set_index("cell_code").loc["c000", "p_value"]
    p3 = surges(w, last, dispersion=3.0, return_all=True).set_index("cell_code").loc["c000", "p_value"]
    assert p3 > 10 * p1  # the same count is far less surprising with overdispersion


# --- repeat places -------------------------------------------------------------------------------------

T0 = dt.datetime(2025, 5, 1, 9, 0, tzinfo=TZ)
LON0, LAT0 = 116.4700, 39.8950


def _petitions(rows: Sequence[Mapping[str, object]]) -> pd.DataFrame:
    base: dict[str, object] = {
        "category_code": CAT,
        "building_id": None,
        "address": None,
        "lon": np.nan,
        "lat": np.nan,
        "cell_code": "c1",
    }
    df = pd.DataFrame([{**base, **r} for r in rows])
    df.insert(0, "id", np.arange(1, len(df) + 1))
    return df


def _offset(dx: float, dy: float = 0.0) -> tuple[float, float]:
    """A point dx, dy metres from (LON0, LAT0) in the detector's own metric projection."""
    x, y, epsg = to_metres(np.array([LON0]), np.array([LAT0]))
    lon, lat = from_metres(x + dx, y + dy, epsg)
    return float(lon[0]), float(lat[0])


@pytest.mark.parametrize(("distance", "linked"), [(50.0, True), (50.1, False)])
def test_repeat_cluster_at_exactly_the_radius(distance: float, linked: bool) -> None:
    far = _offset(distance)
    rows = [{"received_at": T0 + dt.timedelta(days=i), "lon": LON0, "lat": LAT0} for i in range(4)]
    rows.append({"received_at": T0 + dt.timedelta(days=5), "lon": far[0], "lat": far[1]})
    out = repeat_places(_petitions(rows), max_p=None)
    if linked:
        assert len(out) == 1
        r = out.iloc[0]
        assert (r["kind"], r["key"], r["count"], r["petition_ids"]) == ("cluster", "C1", 5, [1, 2, 3, 4, 5])
        assert r["lon"] == pytest.approx((4 * LON0 + far[0]) / 5) and r["cell_code"] == "c1"
    else:
        assert out.empty


def test_repeat_chain_is_single_linkage() -> None:
    # five petitions on a line 40 m apart: each linked to the next, 160 m end to end
    rows = [
        {"received_at": T0 + dt.timedelta(days=i), "lon": p[0], "lat": p[1]}
        for i, p in enumerate(_offset(40.0 * k) for k in range(5))
    ]
    out = repeat_places(_petitions(rows), max_p=None)
    assert out["count"].tolist() == [5]


def test_repeat_count_threshold_and_window_edge() -> None:
    def five(span: dt.timedelta, n: int = 5) -> pd.DataFrame:
        times = [T0 + span * i / (n - 1) for i in range(n)]
        return _petitions([{"received_at": t, "building_id": "B1"} for t in times])

    assert repeat_places(five(dt.timedelta(days=10), n=4), max_p=None).empty  # 4 < min_count
    got = repeat_places(five(dt.timedelta(days=10)), max_p=None)
    assert got[["kind", "key", "count", "max_in_window"]].values.tolist() == [["building", "B1", 5, 5]]
    assert len(repeat_places(five(dt.timedelta(days=10), n=4), min_count=4, max_p=None)) == 1
    # the window is half-open: five petitions spanning exactly 30 days are not in one window
    assert repeat_places(five(dt.timedelta(days=30)), max_p=None).empty
    assert len(repeat_places(five(dt.timedelta(days=30, seconds=-1)), max_p=None)) == 1
    # as_of: the fifth petition has not arrived yet
    cut = T0 + dt.timedelta(days=9)
    assert repeat_places(five(dt.timedelta(days=10)), as_of=cut, max_p=None).empty
    active = repeat_places(five(dt.timedelta(days=10)), as_of=T0 + dt.timedelta(days=12), max_p=None)
    assert active["active"].tolist() == [True]


def test_repeat_building_reported_once_and_addresses_normalised() -> None:
    rows = [
        {
            "received_at": T0 + dt.timedelta(days=2 * i),
            "building_id": "B7",
            "lon": LON0,
            "lat": LAT0,
            "address": "北京市朝阳区双井街道九龙西里5号楼" if i % 2 else "九龙西里五栋3单元502",
        }
        for i in range(6)
    ]
    out = repeat_places(_petitions(rows), max_p=None)
    assert out[["kind", "key", "count"]].values.tolist() == [["building", "B7", 6]]  # not also a cluster
    # without the building id, the same place is a cluster (points) ...
    no_id = _petitions([{**r, "building_id": None} for r in rows])
    assert repeat_places(no_id, max_p=None)["kind"].tolist() == ["cluster"]
    # ... or one normalised address (no points)
    text_only = _petitions([{**r, "building_id": None, "lon": np.nan, "lat": np.nan} for r in rows])
    out = repeat_places(text_only, max_p=None)
    assert out[["kind", "key", "count"]].values.tolist() == [["address", "九龙西里5号楼", 6]]
    assert normalise_address("九龙西里 5幢 2单元") == normalise_address("北京市朝阳区双井街道九龙西里5号楼")
    assert normalise_address("富力城小区3号楼") == "富力城小区3号楼"  # 小区 is no district


def test_repeat_place_judged_against_its_own_seasonal_background() -> None:
    rng = np.random.default_rng(5)
    rows: list[dict[str, object]] = []
    year = dt.datetime(2025, 1, 1, tzinfo=TZ)
    for b in range(20):  # busy buildings: ~1.2 petitions a week all year
        for day in np.sort(rng.uniform(0, 365, rng.poisson(62))):
            rows.append({"received_at": year + dt.timedelta(days=float(day)), "building_id": f"B{b:02d}"})
    quiet = [year + dt.timedelta(days=200 + 1.5 * i) for i in range(6)]  # 6 in 8 days, never before
    rows += [{"received_at": t, "building_id": "Q1"} for t in quiet]
    df = _petitions(rows)
    every = repeat_places(df, max_p=None)
    assert set(every["key"]) > {"Q1"}  # the bare count rule flags the busy buildings too
    flagged = repeat_places(df)
    assert flagged["key"].tolist() == ["Q1"]
    assert flagged["p_value"].iloc[0] < 1e-5 and flagged["expected"].iloc[0] == pytest.approx(0.0)


# --- emerging topics -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seg() -> Segmenter:
    return Segmenter()


def test_segmenter_keeps_domain_phrases_and_drops_noise(
    seg: Segmenter, capfd: pytest.CaptureFixture[str]
) -> None:
    Segmenter()  # building a dictionary prints nothing (jieba's log is silenced)
    assert capfd.readouterr().err == ""
    terms = seg.terms("市民来电反映：3号楼楼下有人飞线充电，希望增设充电桩，谢谢。")
    assert "飞线充电" in terms and "充电桩" in terms
    assert "增设充电桩" in terms  # a word bigram
    assert not terms & {"市民", "来电", "反映", "希望", "谢谢", "3", "号", "楼", "，"}


def test_segmenter_finds_unknown_phrases_and_drops_places() -> None:
    plain = Segmenter(domain_words=(), place_names=["水碓南里", "金港国际"])
    terms = plain.terms("水碓南里小区3号楼楼下有住户飞线充电；金港国际门口占道经营，劲松路口有人摆摊")
    assert "飞线充电" in terms  # 飞/线 kept as one unknown word, then the bigram 飞线 + 充电
    assert not terms & {"水碓南里", "水碓", "南里", "金港国际", "金港"}  # gazetteer names
    assert not any(t.endswith("路") for t in terms)  # a token that looks like a place
    assert "消防通道" in plain.terms("消防通道被堵")  # 道 is no place ending


def test_term_counts_are_document_frequencies(seg: Segmenter) -> None:
    texts = ["噪音噪音噪音扰民", "晚上噪音", "垃圾没人清", None]
    groups = pd.Series(["s1", "s1", "s2", "s2"], name="street_code")
    c = term_counts(texts, groups, segmenter=seg).set_index(["street_code", "term"])["docs"]
    assert c[("s1", "噪音")] == 2  # once per document
    assert ("s2", "噪音") not in c.index
    assert c[("s2", "垃圾")] == 1


def _corpus() -> tuple[list[str], list[str]]:
    base = [
        "小区垃圾桶站满了没人清运，味道很大",
        "楼下广场舞噪音太大，晚上睡不着",
        "垃圾分类做得不好，厨余垃圾乱扔",
        "夜间施工噪音扰民",
    ]
    recent_extra = [
        "楼道里有人飞线充电，很危险",
        "电动车飞线充电，电线从窗户吊下来",
        "飞线充电现象严重，存在火灾隐患",
    ]
    baseline = [base[i % 4] for i in range(60)]
    recent = [recent_extra[i % 3] if i < 12 else base[i % 4] for i in range(30)]
    return baseline, recent


def test_rising_terms_on_a_tiny_corpus(seg: Segmenter) -> None:
    baseline, recent = _corpus()
    c = term_counts(baseline + recent, ["b"] * len(baseline) + ["r"] * len(recent), segmenter=seg)
    r = rising_terms(
        c[c["group"] == "r"],
        c[c["group"] == "b"],
        n_recent_docs=len(recent),
        n_baseline_docs=len(baseline),
        flagged_only=False,
        top=None,
    ).set_index("term")
    assert r.index[0] == "飞线充电"  # the top rising term
    assert bool(r.loc["飞线充电", "flagged"]) and r.loc["飞线充电", "recent_docs"] == 12
    # 噪音: 2 of every 4 texts on both sides (equally common): not flagged, z ~ 0
    assert not bool(r.loc["噪音", "flagged"]) and abs(r.loc["噪音", "z"]) < 1.0
    flagged = rising_terms(
        c[c["group"] == "r"], c[c["group"] == "b"], n_recent_docs=len(recent), n_baseline_docs=len(baseline)
    )
    assert flagged["term"].iloc[0] == "飞线充电" and flagged["flagged"].all()
    assert "垃圾" not in set(flagged["term"])


def test_rising_terms_adjusted_for_category_mix(seg: Segmenter) -> None:
    # heating complaints triple in the recent weeks (the season), their wording unchanged
    base = ["暖气不热，室温只有十五度"] * 20 + ["楼下噪音扰民"] * 80
    recent = ["暖气不热，室温只有十五度"] * 60 + ["楼下噪音扰民"] * 40
    cats = ["HL0201"] * 20 + ["HL1001"] * 80 + ["HL0201"] * 60 + ["HL1001"] * 40
    period = ["b"] * 100 + ["r"] * 100
    keys = pd.DataFrame({"street_code": "s1", "week": period, "category_code": cats})
    c = term_counts(base + recent, keys, segmenter=seg)
    n = keys.groupby(["street_code", "week", "category_code"]).size()
    plain = emerging_topics(c, n.groupby(level=["street_code", "week"]).sum(), recent=["r"], baseline=["b"])
    assert "暖气不热" in set(plain["term"])  # seasonal volume looks like a topic ...
    adjusted = emerging_topics(c, n, recent=["r"], baseline=["b"], strata="category_code")
    assert adjusted.empty  # ... but not within its category
