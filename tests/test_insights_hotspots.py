"""Hot spots (grid.insights.hotspots): Gi* against the formula and exact randomisation,
weights on dirty boundaries, empirical-Bayes shrinkage, planted hot blocks, emerging trends.

Pure: no database fixture. Reference values are computed here from the definitions (the Gi*
formula of Getis & Ord, enumeration of every subset for the randomisation p-value, Marshall's
moments written out by hand, the Mann–Kendall variance), never copied from the code's output.
"""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from libpysal.weights import W, lat2W
from scipy import stats

from grid.errors import GeometryError, InputError
from grid.insights.hotspots import (
    _classify,
    _draw_subsets,
    cell_weights,
    eb_rates,
    emerging_hotspots,
    gi_star,
    hotspots,
    mann_kendall,
)
from tests.geoms import local_box

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def box_lattice(side: int, size: float = 100.0) -> gpd.GeoDataFrame:
    """side x side square cells of ``size`` metres (no CRS: metres), codes cRRCC row-major."""
    codes = [f"c{r:02d}{c:02d}" for r in range(side) for c in range(side)]
    boxes = [
        shapely.box(c * size, r * size, (c + 1) * size, (r + 1) * size)
        for r in range(side)
        for c in range(side)
    ]
    return gpd.GeoDataFrame({"code": codes}, geometry=boxes, crs=None)


def block(side: int, r0: int, c0: int, k: int = 3) -> list[int]:
    return [r * side + c for r in range(r0, r0 + k) for c in range(c0, c0 + k)]


def hand_gi_star(x: np.ndarray, w: W) -> np.ndarray:
    """Getis & Ord (1995) Gi* with binary weights, self included, S the population std."""
    ids = list(w.id_order)
    pos = {c: i for i, c in enumerate(ids)}
    n = len(x)
    xbar = x.mean()
    s = math.sqrt(((x - xbar) ** 2).sum() / n)
    z = np.empty(n)
    for i, c in enumerate(ids):
        wi = np.zeros(n)
        wi[i] = 1.0
        for nb in w.neighbors[c]:
            wi[pos[nb]] = 1.0
        sw, sw2 = wi.sum(), (wi**2).sum()
        z[i] = (wi @ x - xbar * sw) / (s * math.sqrt((n * sw2 - sw**2) / (n - 1)))
    return z


# --------------------------------------------------------------------------------------------
# Gi*
# --------------------------------------------------------------------------------------------


def test_gi_star_z_matches_the_formula_on_a_queen_lattice() -> None:
    w = lat2W(4, 4, rook=False, id_type="string")
    x = np.array([3, 0, 1, 4, 2, 7, 1, 0, 5, 6, 2, 1, 0, 3, 9, 4], dtype=float)
    res = gi_star(x, w, permutations=999)
    assert list(res.index) == list(w.id_order)
    assert list(res.columns) == ["z", "p_sim", "q", "hot", "cold"]
    np.testing.assert_allclose(res["z"].to_numpy(), hand_gi_star(x, w), atol=1e-6)


def test_gi_star_z_by_hand_on_a_rook_corner() -> None:
    # 3x3 rook lattice, x = 1..9 row-major: mean 5, population variance 60/9.
    # corner 0: window {0, 1, 3} -> 1 + 2 + 4 = 7, W = 3: (7 - 15) / (S * sqrt((9*3 - 9) / 8))
    w = lat2W(3, 3, rook=True)
    x = np.arange(1.0, 10.0)
    z = gi_star(x, w, permutations=99)["z"].to_numpy()
    expected = -8.0 / (math.sqrt(60.0 / 9.0) * 1.5)
    assert z[0] == pytest.approx(expected, abs=1e-9)
    assert z[8] == pytest.approx(-expected, abs=1e-9)
    assert z[4] == pytest.approx(0.0, abs=1e-9)  # centre: 5 + 2 + 4 + 6 + 8 = 25 = 5 * mean


def exact_two_sided_p(x: np.ndarray, window: list[int]) -> float:
    """Total randomisation by enumeration: the window's sum against every subset of its size."""
    observed = x[window].sum()
    sums = np.array([x[list(s)].sum() for s in itertools.combinations(range(len(x)), len(window))])
    upper = (sums >= observed - 1e-12).mean()
    lower = (sums <= observed + 1e-12).mean()
    return min(1.0, 2.0 * min(upper, lower))


def test_p_sim_matches_exact_randomisation_and_is_reproducible() -> None:
    w = lat2W(3, 3, rook=True)
    x = np.array([9.0, 7.0, 2.0, 8.0, 3.0, 1.0, 4.0, 0.5, 6.0])
    res = gi_star(x, w, permutations=99_999, seed=11)
    again = gi_star(x, w, permutations=99_999, seed=11)
    other = gi_star(x, w, permutations=99_999, seed=12)
    pd.testing.assert_frame_equal(res, again)
    p = res["p_sim"].to_numpy()
    assert ((p > 0) & (p <= 1)).all()
    for i in range(9):
        window = [i, *w.neighbors[i]]
        exact = exact_two_sided_p(x, window)
        # Monte Carlo error with 1e5 draws is below 0.004 (4 sd)
        assert p[i] == pytest.approx(exact, abs=0.01), (i, p[i], exact)
        assert other["p_sim"].iloc[i] == pytest.approx(exact, abs=0.01)
    # the corner {0, 1, 3} holds the three largest values: only 1 of the 84 subsets reaches 24
    assert p[0] == pytest.approx(2 / 84, abs=0.004)


def test_fdr_flags_follow_benjamini_hochberg() -> None:
    side = 10
    rng = np.random.default_rng(5)
    x = rng.gamma(2.0, 1.0, side * side)
    x[block(side, 3, 3, 4)] += 4.0
    w = lat2W(side, side, rook=False, id_type="string")
    res = gi_star(x, w, permutations=9_999, fdr=0.1)
    # BH by hand: reject the k smallest p-values, k the largest rank with p_(k) <= fdr * k / m
    p = res["p_sim"].to_numpy()
    order = np.sort(p)
    m = p.size
    passing = np.flatnonzero(order <= 0.1 * np.arange(1, m + 1) / m)
    cutoff = order[passing[-1]] if passing.size else -1.0
    significant = p <= cutoff
    assert significant.any()
    np.testing.assert_array_equal(res["hot"].to_numpy() | res["cold"].to_numpy(), significant)
    assert (res.loc[res["hot"], "z"] > 0).all() and (res.loc[res["cold"], "z"] < 0).all()
    assert (res["q"] >= res["p_sim"] - 1e-12).all()


def test_nan_values_drop_out_of_the_weights() -> None:
    w = lat2W(4, 4, rook=True, id_type="string")
    x = np.array([3, 0, 1, 4, 2, 7, 1, 0, 5, 6, 2, 1, 0, 3, 9, 4], dtype=float)
    x[5] = np.nan
    res = gi_star(x, w, permutations=999)
    assert np.isnan(res["z"].iloc[5]) and np.isnan(res["p_sim"].iloc[5]) and np.isnan(res["q"].iloc[5])
    assert not res["hot"].iloc[5] and not res["cold"].iloc[5]
    # the others: Gi* over the lattice with cell id5 removed
    keep = [c for c in w.id_order if c != "id5"]
    sub = W(
        {c: [nb for nb in w.neighbors[c] if nb != "id5"] for c in keep}, id_order=keep, silence_warnings=True
    )
    expected = hand_gi_star(np.delete(x, 5), sub)
    np.testing.assert_allclose(res["z"].drop("id5").to_numpy(), expected, atol=1e-6)


def test_constant_values_are_neither_hot_nor_cold() -> None:
    w = lat2W(5, 5, rook=False)
    res = gi_star(np.full(25, 0.02), w)
    assert (res["z"] == 0).all() and (res["p_sim"] == 1).all()
    assert not res["hot"].any() and not res["cold"].any()


def test_gi_star_rejects_bad_input() -> None:
    w = lat2W(3, 3)
    with pytest.raises(InputError):
        gi_star(np.ones(8), w)
    with pytest.raises(InputError):
        gi_star(np.r_[-1.0, np.ones(8)], w)
    with pytest.raises(InputError):
        gi_star(np.ones(9), w, fdr=0.0)


@pytest.mark.parametrize(("n", "k"), [(9, 5), (400, 9)])  # dense path (k*k > n), rejection path
def test_draw_subsets_are_uniform_without_replacement(n: int, k: int) -> None:
    draws = _draw_subsets(np.random.default_rng(3), n, k, 40_000)
    assert draws.shape == (40_000, k)
    assert (np.sort(draws, axis=1)[:, 1:] != np.sort(draws, axis=1)[:, :-1]).all()
    # every index equally likely in every position (and so in every prefix)
    for col in (0, k - 1):
        freq = np.bincount(draws[:, col], minlength=n) / draws.shape[0]
        assert np.abs(freq - 1 / n).max() < 6 * math.sqrt((1 / n) / draws.shape[0])


# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------


def test_cell_weights_snap_gaps_and_join_islands() -> None:
    cells = gpd.GeoDataFrame(
        {"code": ["A", "B", "C", "D"]},
        geometry=[
            shapely.box(0, 0, 100, 100),
            shapely.box(100.5, 0, 200.5, 100),  # 0.5 m gap from A: a digitising gap
            shapely.box(250.5, 0, 350.5, 100),  # 50 m from B: not contiguous, an island
            shapely.box(200.3, 100.0, 240, 160),  # overlaps B's corner by a sliver: contiguous
        ],
        crs=None,
    )
    w = cell_weights(cells, island_k=1)
    assert list(w.id_order) == ["A", "B", "C", "D"]
    assert set(w.neighbors["A"]) == {"B"}
    # C had no neighbour: joined to its nearest cell by centroid, both ways. From C's centroid
    # (300.5, 50): D's (220.15, 130) is 113.4 m away, B's (150.5, 50) 150 m, A's 250.5 m.
    assert set(w.neighbors["C"]) == {"D"}
    assert set(w.neighbors["D"]) == {"B", "C"}
    assert set(w.neighbors["B"]) == {"A", "D"}
    assert all(v == 1.0 for ws in w.weights.values() for v in ws)
    # with a snap below the gap, A and B are not neighbours (A becomes an island: nearest = B)
    tight = cell_weights(cells, snap_m=0.1, island_k=1)
    assert set(tight.neighbors["A"]) == {"B"} and "D" in tight.neighbors["B"]
    assert set(cell_weights(cells, snap_m=0.1, island_k=0).neighbors["A"]) == set()


def test_cell_weights_measure_lonlat_cells_in_metres() -> None:
    # A |0.5 m| B |5 m| C | D (touching), drawn in metres, stored as longitude/latitude
    cells = gpd.GeoDataFrame(
        {"code": ["A", "B", "C", "D"]},
        geometry=[
            local_box(0, 0, 100, 100),
            local_box(100.5, 0, 200.5, 100),
            local_box(205.5, 0, 305.5, 100),
            local_box(305.5, 0, 405.5, 100),
        ],
        crs="EPSG:4326",
    )
    w = cell_weights(cells, snap_m=2.0)
    assert set(w.neighbors["A"]) == {"B"}
    assert set(w.neighbors["B"]) == {"A"}
    assert set(w.neighbors["C"]) == {"D"}
    wide = cell_weights(cells, snap_m=6.0)
    assert set(wide.neighbors["B"]) == {"A", "C"}


def test_cell_weights_reject_bad_cells() -> None:
    good = box_lattice(2)
    dup = good.assign(code=["a", "a", "b", "c"])
    with pytest.raises(InputError):
        cell_weights(dup)
    empty = good.copy()
    empty.loc[1, "geometry"] = None
    with pytest.raises(GeometryError):
        cell_weights(empty)


# --------------------------------------------------------------------------------------------
# empirical Bayes
# --------------------------------------------------------------------------------------------


def test_eb_rates_by_hand() -> None:
    # b = 12/400 = 0.03; r = 0, .02, .04, .06; s2 = 100 * (.0009 + .0001 + .0001 + .0009) / 400
    # = 0.0005; a = s2 - b / 100 = 0.0002; C = a / (a + b / 100) = 0.4; eb = b + 0.4 (r - b)
    eb = eb_rates([0, 2, 4, 6], [100, 100, 100, 100])
    np.testing.assert_allclose(eb, [0.018, 0.026, 0.034, 0.042], atol=1e-12)


def test_eb_rates_pull_a_small_cell_and_skip_missing_households() -> None:
    # sixty 300-household cells with 0..4 petitions, then 40 and 80 households at a raw 5%,
    # then two cells without households
    base = np.tile([0, 1, 2, 1, 0, 3, 1, 2, 1, 0, 1, 1, 2, 0, 1, 4, 1, 0, 2, 1], 3)
    counts = np.r_[base, 2, 4, 2, 3]
    households = np.r_[np.full(60, 300.0), 40.0, 80.0, 0.0, np.nan]
    eb = eb_rates(counts, households)
    assert np.isnan(eb[62]) and np.isnan(eb[63])
    # cells without households are left out of the moments: the others are as if they were absent
    np.testing.assert_allclose(eb[:62], eb_rates(counts[:62], households[:62]))
    b = counts[:62].sum() / households[:62].sum()
    assert abs(eb[60] - b) < 0.2 * abs(0.05 - b)  # the 40-household cell: pulled most of the way
    assert abs(eb[60] - b) < abs(eb[61] - b) < abs(0.05 - b)  # more households, less pull
    assert (eb[:62] > 0).all()


def test_eb_rates_without_extra_variation_give_the_overall_rate() -> None:
    # rates vary less than Poisson noise explains: a = 0, every cell gets b
    eb = eb_rates([3, 3, 4, 2], [100, 100, 100, 100])
    np.testing.assert_allclose(eb, 0.03)
    assert (eb_rates([0, 0], [10, 20]) == 0).all()
    with pytest.raises(InputError):
        eb_rates([-1, 2], [10, 10])


# --------------------------------------------------------------------------------------------
# hotspots
# --------------------------------------------------------------------------------------------


def test_small_cell_is_shrunk_and_not_hot() -> None:
    side = 12
    grid = box_lattice(side)
    w = cell_weights(grid)
    rng = np.random.default_rng(2024)
    households = np.full(side * side, 300.0)
    # about one petition per cell, with real (gamma) variation between cells
    petitions = rng.poisson(rng.gamma(4.0, 0.25, side * side))
    small = 6 * side + 6
    households[small], petitions[small] = 40.0, 2
    cells = pd.DataFrame({"code": grid["code"], "households": households})
    counts = dict(zip(grid["code"], petitions, strict=True))
    code = grid["code"][small]

    res = hotspots(cells, counts, w, min_households=20).set_index("code")
    overall = 100.0 * petitions.sum() / households.sum()
    row = res.loc[code]
    assert row["rate_raw"] == pytest.approx(5.0)
    assert abs(row["rate_eb"] - overall) < 0.15 * abs(row["rate_raw"] - overall)
    assert not row["hot"]
    # on raw rates the cell weighs more in its own Gi*: shrinkage is what lowers it
    raw = gi_star(petitions / households, w, permutations=999)
    assert row["z"] < raw.loc[code, "z"]

    # with the default floor of 50 households the cell is not analysed at all
    default = hotspots(cells, counts, w).set_index("code")
    assert np.isnan(default.loc[code, "rate_eb"]) and np.isnan(default.loc[code, "z"])
    assert not default.loc[code, "hot"] and default.loc[code, "rate_raw"] == pytest.approx(5.0)


def test_planted_hot_block_is_found_with_few_false_hot_cells() -> None:
    side = 16
    grid = box_lattice(side)
    w = cell_weights(grid)
    codes = list(grid["code"])
    planted = block(side, 6, 6)
    near = set(block(side, 5, 5, 5))  # the block and the cells touching it
    rng = np.random.default_rng(42)
    lam = np.full(side * side, 20.0)  # about 6.7 petitions per 100 households
    lam[planted] *= 2.5
    petitions = rng.poisson(lam)
    cells = pd.DataFrame({"code": codes, "households": 300.0})
    res = hotspots(cells, pd.Series(petitions, index=codes), w)

    assert list(res.columns) == [
        "code", "households", "petitions", "rate_raw", "rate_eb", "z", "p_sim", "q", "hot", "cold",
        "expected", "excess_q", "excess",
    ]  # fmt: skip
    assert len(res) == side * side and res["z"].is_monotonic_decreasing
    hot = {codes.index(c) for c in res.loc[res["hot"], "code"]}
    recall = len(hot & set(planted)) / len(planted)
    assert recall >= 0.8
    assert hot <= near  # nothing hot away from the block
    assert len(hot & set(planted)) / len(hot) >= 0.6  # Gi* spills over onto touching cells, a little
    assert not res.loc[res["code"].isin([codes[i] for i in planted]), "cold"].any()


def test_hotspots_rejects_cells_that_do_not_match_the_weights() -> None:
    grid = box_lattice(3)
    w = cell_weights(grid)
    cells = pd.DataFrame({"code": grid["code"][:-1], "households": 300.0})
    with pytest.raises(InputError):
        hotspots(cells, {}, w)
    cells = pd.DataFrame({"code": grid["code"], "households": 300.0})
    with pytest.raises(InputError):
        hotspots(cells, {"c0000": -1}, w)


# --------------------------------------------------------------------------------------------
# emerging hot spots
# --------------------------------------------------------------------------------------------


def test_mann_kendall_by_hand() -> None:
    # strictly rising, n = 6: S = 15, Var = 6*5*17/18, Z = (15 - 1) / sqrt(Var)
    tau, p = mann_kendall([[1.0, 2.0, 3.5, 4.0, 8.0, 9.0], [9.0, 8.0, 4.0, 3.5, 2.0, 1.0]])
    expected_p = 2 * stats.norm.sf(14 / math.sqrt(6 * 5 * 17 / 18))
    assert tau[0] == pytest.approx(1.0) and tau[1] == pytest.approx(-1.0)
    assert p[0] == pytest.approx(expected_p, rel=1e-9) and p[1] == pytest.approx(expected_p, rel=1e-9)
    # ties: [1, 1, 2, 3]: S = 5, Var = (4*3*13 - 2*1*9) / 18, Z = 4 / sqrt(Var)
    tau, p = mann_kendall([1.0, 1.0, 2.0, 3.0])
    assert tau[0] == pytest.approx(5 / 6)
    assert p[0] == pytest.approx(2 * stats.norm.sf(4 / math.sqrt((156 - 18) / 18)), rel=1e-9)
    # tau agrees with scipy's Kendall tau against time on a series without ties
    x = np.random.default_rng(1).normal(size=13)
    assert mann_kendall(x)[0][0] == pytest.approx(stats.kendalltau(np.arange(13), x).statistic)


def test_trend_classes_follow_their_definitions() -> None:
    t = np.arange(10.0)
    rows = {  # hot flags over 10 windows, z series
        "new": ([0] * 9 + [1], np.r_[np.zeros(9), 3.0]),
        "intensifying": ([1] * 10, 2.0 + t),
        "persistent": ([1] * 10, np.array([3, 4, 3, 4, 3, 4, 3, 4, 3, 4.0])),
        "diminishing": ([1] * 10, 12.0 - t),
        "sporadic": ([1, 0, 1, 0, 0, 1, 0, 0, 0, 1], np.array([3, 0, 3, 0, 0, 3, 0, 0, 0, 3.0])),
        "none": ([1] * 9 + [0], 3.0 + np.zeros(10)),
    }
    hots = np.array([h for h, _ in rows.values()], dtype=bool).T
    zs = np.array([z for _, z in rows.values()]).T
    trend, _, _ = _classify(hots, zs, 0.05)
    assert list(trend) == list(rows)
    # 9 of 10 windows is still "at least 90%"; 8 of 10 is sporadic
    hots9 = np.array([[0] + [1] * 9, [0, 0] + [1] * 8], dtype=bool).T
    trend, _, _ = _classify(hots9, np.full((10, 2), 3.0), 0.05)
    assert list(trend) == ["persistent", "sporadic"]


def test_emerging_hotspots_new_persistent_and_background() -> None:
    side = 16
    grid = box_lattice(side)
    w = cell_weights(grid)
    codes = list(grid["code"])
    always, late = block(side, 2, 2), block(side, 10, 10)
    near = set(block(side, 1, 1, 5)) | set(block(side, 9, 9, 5))
    rng = np.random.default_rng(7)
    lam = np.full((26, side * side), 5.0)  # per week; 20 per 4-week window
    lam[:, always] *= 3.0
    lam[22:, late] *= 3.0  # hot in the last 4 weeks only
    weeks = [f"2024-W{k:02d}" for k in range(1, 27)]
    weekly = pd.DataFrame(rng.poisson(lam), index=weeks, columns=codes)
    households = pd.Series(300.0, index=codes)

    out = emerging_hotspots(weekly, households, w, window=4)
    assert set(out.columns) >= {"code", "trend", "n_windows", "n_hot", "hot_last", "mk_tau", "mk_p"}
    assert (out["n_windows"] == 6).all()
    assert out.attrs["windows"][0] == ("2024-W03", "2024-W06") and out.attrs["windows"][-1] == (
        "2024-W23",
        "2024-W26",
    )
    trend = out.set_index("code")["trend"]
    t_always = trend[[codes[i] for i in always]]
    t_late = trend[[codes[i] for i in late]]
    # hot all along: at least 90% of the windows; no trend planted, so mostly "persistent"
    # (Mann-Kendall at 5% may still call a cell's chance drift a trend)
    assert trend[codes[always[4]]] in ("persistent", "intensifying", "diminishing")
    assert t_always.isin(["persistent", "intensifying", "diminishing"]).sum() >= 5
    assert (t_always == "persistent").sum() >= 4
    assert not (t_always == "new").any()
    assert trend[codes[late[4]]] == "new"
    assert (t_late == "new").sum() >= 5
    assert not t_late.isin(["persistent", "intensifying", "diminishing"]).any()
    background = trend[[c for i, c in enumerate(codes) if i not in near]]
    assert (background == "none").all()


def test_emerging_hotspots_needs_a_full_window() -> None:
    grid = box_lattice(3)
    w = cell_weights(grid)
    weekly = pd.DataFrame(np.ones((3, 9)), columns=list(grid["code"]))
    with pytest.raises(InputError):
        emerging_hotspots(weekly, pd.Series(300.0, index=list(grid["code"])), w, window=4)


def test_a_single_hot_cell_is_found_by_its_own_excess_not_by_gi_star() -> None:
    """One cell at 2.5x among 300 ordinary cells: Gi* (an area statistic) barely sees it; the
    cell's own binomial test does, and flags nothing else on a stationary background."""
    from grid.insights.hotspots import cell_excess

    rng = np.random.default_rng(7)
    hh = np.full(300, 300.0)
    lam = np.full(300, 15.0)
    lam[42] *= 2.5
    x = rng.poisson(lam)
    ex = cell_excess(x, hh)
    assert ex["excess"].tolist().count(True) >= 1 and bool(ex["excess"][42])
    assert ex["excess"].sum() == 1
    assert ex["expected"].sum() == pytest.approx(x.sum())
    # a stationary background flags nothing
    quiet = cell_excess(rng.poisson(np.full(300, 15.0)), hh)
    assert not quiet["excess"].any()
