"""Hot spots of petitions per household: Getis–Ord Gi*, empirical-Bayes rates, emerging trends.

Pure functions over pandas/numpy (no database). The pipeline for one period:

1. :func:`cell_weights` — which grid cells are neighbours: cells that touch, overlap or lie
   within ``snap_m`` metres of each other (real cell boundaries have slivers and gaps), measured
   on a metric CRS; a cell with no such neighbour (an island) is joined to its ``island_k``
   nearest cells by centroid, both ways, so that its Gi* has a neighbourhood.
2. :func:`eb_rates` — petitions per household shrunk towards the overall rate by global
   empirical Bayes (Marshall 1991, method of moments), so that a cell of 40 households with two
   petitions does not look fifteen times hotter than its 300-household neighbours.
3. :func:`gi_star` — Getis–Ord Gi* z-scores on the shrunk rates, pseudo p-values from random
   permutations (fixed seed) and Benjamini–Hochberg false-discovery-rate control over all cells.
4. :func:`hotspots` does 2 and 3 for one period's counts; :func:`emerging_hotspots` runs them
   over consecutive windows of weekly counts and classifies each cell's trend (new,
   intensifying, persistent, diminishing, sporadic, none) with a Mann–Kendall test.

Definitions
-----------
- **Weights**: binary contiguity, with the cell itself included (w_ii = 1), as Gi* is defined.
  A :class:`libpysal.weights.W` given with other weights (row-standardised, distances) is
  binarised: every neighbour counts 1.
- **Gi\\***: ``z_i = (sum_j w_ij x_j - xbar * W_i) / (S * sqrt((n * W_i - W_i**2) / (n - 1)))``
  with ``W_i = sum_j w_ij`` (self included), ``xbar`` the mean and ``S`` the population standard
  deviation of the ``n`` values (Getis & Ord 1992/1995; Ord & Getis 1995). Computed by
  ``esda.G_Local(..., transform="B", star=True, permutations=0)`` (its analytic ``Zs``).
- **p_sim**: two-sided pseudo p-value of the cell's window sum ``sum_j w_ij x_j`` against the
  sums of ``W_i`` values drawn at random without replacement from all ``n`` values (total
  randomisation: the null under which Getis and Ord derived the mean and variance of Gi*, so
  ``z`` and ``p_sim`` test the same thing). With ``U``/``L`` the number of random sums at
  least / at most the observed one (ties count for both tails), ``p_sim = min(1, 2 * min(U + 1,
  L + 1) / (permutations + 1))``. The random draws are shared by all cells (as esda shares its
  permutations), so a cell costs a binary search and not a simulation: this is what lets the
  default number of permutations be large (see *Resolution* below). A cell without any
  neighbour among the analysed cells gets ``p_sim = 1`` (a hot spot needs a neighbourhood).
- **q**: Benjamini–Hochberg adjusted ``p_sim`` over all analysed cells.
  **hot**: ``z > 0`` and ``q <= fdr`` (and the upper tail is the significant one);
  **cold**: ``z < 0`` and ``q <= fdr`` (lower tail).
- **Excluded cells**: a value that is NaN (no households, households below ``min_households``)
  removes the cell from the analysis: it is dropped from the weights (its neighbours' windows
  shrink accordingly), gets NaN ``z``/``p_sim``/``q`` and is neither hot nor cold.

Why not esda's own permutations: ``esda.G_Local(permutations=...)`` (esda 2.9) uses
*conditional* randomisation, which holds ``x_i`` fixed, so for Gi* its p-value ignores the
cell's own value and can disagree with ``z``; its default "directed" p-value counts ties in
one tail only (sparse petition counts tie a lot, which makes false cold spots); and its numba
kernels are compiled on the first call of every process (about 40 s on two cores, not cached).

Resolution: the smallest attainable ``p_sim`` is ``2 / (permutations + 1)``, and
Benjamini–Hochberg at level ``fdr`` over ``m`` cells can only flag ``k`` cells if their p-values
are at most ``fdr * k / m``. With 999 permutations and 3,000 cells nothing can be flagged unless
at least 120 cells are; hence the default of 99,999 permutations (cheap here).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from grid.errors import GeometryError, InputError

if TYPE_CHECKING:
    import geopandas as gpd
    from libpysal.weights import W

__all__ = [
    "DEFAULT_SEED",
    "PERMUTATIONS",
    "TRENDS",
    "cell_excess",
    "cell_weights",
    "eb_rates",
    "emerging_hotspots",
    "gi_star",
    "hotspots",
    "mann_kendall",
]

DEFAULT_SEED = 20240917
PERMUTATIONS = 99_999
TRENDS = ("new", "intensifying", "persistent", "diminishing", "sporadic", "none")
PERSISTENT_SHARE = 0.9  # "hot in at least 90% of the windows"

# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------


def _metric_geometries(cells: gpd.GeoDataFrame, metric_epsg: int) -> np.ndarray:
    """The cells' geometries in metres: as they are when the CRS is unset or already projected
    in metres, else reprojected to ``metric_epsg``."""
    crs = cells.crs
    if crs is not None:
        units = {axis.unit_name for axis in crs.axis_info}
        if not (crs.is_projected and units <= {"metre", "meter"}):
            cells = cells.to_crs(epsg=metric_epsg)
    return np.asarray(cells.geometry.values, dtype=object)


def cell_weights(
    cells: gpd.GeoDataFrame,
    *,
    code_col: str = "code",
    metric_epsg: int = 4548,
    snap_m: float = 2.0,
    island_k: int = 2,
) -> W:
    """Binary contiguity weights between grid cells, robust to dirty boundaries.

    Two cells are neighbours when they touch, overlap or are at most ``snap_m`` metres apart
    (shapely ``dwithin`` on an STR-tree), which is queen contiguity once slivers and gaps are
    snapped. Distances are measured in the frame's CRS when it is projected in metres (or
    unset: coordinates are then taken as metres), otherwise after reprojection to
    ``metric_epsg`` (default EPSG:4548, CGCS2000 / 3-degree Gauss–Kruger CM 117E).

    A cell with no neighbour (an island) is joined to its ``island_k`` nearest cells by
    centroid, symmetrically, so that Gi* is defined for it. The weights are binary (1), without
    self-weights (Gi* adds them); ids are the cell codes in the frame's order.

    Raises :class:`~grid.errors.InputError` on a missing or duplicated code and
    :class:`~grid.errors.GeometryError` on a missing or empty geometry.
    """
    import shapely
    from libpysal.weights import W
    from scipy.spatial import cKDTree

    if code_col not in cells.columns:
        raise InputError(f"the cells have no column {code_col!r}", code="missing_column")
    if snap_m < 0 or not math.isfinite(snap_m):
        raise InputError(f"snap_m must be a non-negative number of metres, not {snap_m!r}")
    if island_k < 0:
        raise InputError(f"island_k must be >= 0, not {island_k!r}")
    codes = cells[code_col]
    if codes.isna().any():
        raise InputError("a cell has no code", code="missing_code")
    dup = codes[codes.duplicated()].unique().tolist()
    if dup:
        raise InputError(f"duplicated cell codes: {dup[:5]}", code="duplicate_code", details=dup[:20])
    ids = codes.tolist()
    n = len(ids)
    if n == 0:
        raise InputError("no cells", code="empty_input")

    geoms = _metric_geometries(cells, metric_epsg)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        which = [ids[i] for i in np.flatnonzero(bad)[:20]]
        raise GeometryError(f"cells without a geometry: {which[:5]}", details=which)

    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="dwithin", distance=float(snap_m))
    off_diagonal = left != right
    rows = [left[off_diagonal]]
    cols = [right[off_diagonal]]

    degree = np.bincount(rows[0], minlength=n)
    islands = np.flatnonzero(degree == 0)
    k = min(island_k, n - 1)
    if islands.size and k > 0:
        centroids = shapely.get_coordinates(shapely.centroid(geoms))
        _, nearest = cKDTree(centroids).query(centroids[islands], k=k + 1)
        nearest = np.asarray(nearest).reshape(islands.size, k + 1)
        for i, row in zip(islands, nearest, strict=True):
            others = row[row != i][:k]  # the island itself, wherever it sorts among equals
            rows += [np.full(others.size, i), others]
            cols += [others, np.full(others.size, i)]

    r = np.concatenate(rows)
    c = np.concatenate(cols)
    adjacency = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n, n))
    adjacency.sum_duplicates()
    neighbors = {
        ids[i]: [ids[j] for j in adjacency.indices[adjacency.indptr[i] : adjacency.indptr[i + 1]]]
        for i in range(n)
    }
    return W(neighbors, id_order=ids, silence_warnings=True)


def _binary_adjacency(w: W) -> sp.csr_matrix:
    """``w`` as a binary CSR matrix in ``w.id_order``, without self-weights."""
    a = sp.csr_matrix(w.sparse, dtype=float, copy=True)
    a.setdiag(0.0)
    a.eliminate_zeros()
    a.data[:] = 1.0
    return a


# --------------------------------------------------------------------------------------------
# empirical-Bayes rates
# --------------------------------------------------------------------------------------------


def eb_rates(counts: Any, households: Any) -> np.ndarray:
    """Petitions per household, shrunk towards the overall rate by global empirical Bayes.

    Marshall's (1991) method of moments: with ``r_i = y_i / n_i``, the overall rate
    ``b = sum(y) / sum(n)``, ``s2 = sum(n_i (r_i - b)^2) / sum(n)`` and ``nbar`` the mean
    number of households, the prior variance is ``a = max(s2 - b / nbar, 0)`` and the shrunk
    rate ``b + C_i (r_i - b)`` with ``C_i = a / (a + b / n_i)``: the fewer households, the closer
    to ``b``. When the rates vary no more than Poisson noise explains (``a = 0``), every cell
    gets ``b``.

    Cells with 0 or missing (NaN) households, or a NaN count, get NaN and are left out of the
    moments. Returns rates per household (not per 100).
    """
    y = np.asarray(counts, dtype=float)
    n = np.asarray(households, dtype=float)
    if y.ndim != 1 or y.shape != n.shape:
        raise InputError(f"counts and households must be 1-D and of one length: {y.shape} vs {n.shape}")
    if (y < 0).any():
        raise InputError("petition counts cannot be negative", code="negative_count")
    if (n < 0).any():
        raise InputError("household counts cannot be negative", code="negative_households")
    out = np.full(y.shape, np.nan)
    valid = np.isfinite(y) & np.isfinite(n) & (n > 0)
    if not valid.any():
        return out
    yv, nv = y[valid], n[valid]
    total = nv.sum()
    b = yv.sum() / total
    if b == 0.0:
        out[valid] = 0.0
        return out
    r = yv / nv
    s2 = float((nv * (r - b) ** 2).sum() / total)
    a = max(s2 - b / (total / nv.size), 0.0)
    shrink = a / (a + b / nv)
    out[valid] = b + shrink * (r - b)
    return out


# --------------------------------------------------------------------------------------------
# Gi*
# --------------------------------------------------------------------------------------------


def _draw_subsets(rng: np.random.Generator, n: int, k: int, size: int) -> np.ndarray:
    """``size`` rows of ``k`` distinct indices in ``range(n)``, each row a uniformly random
    ordered sample (so every prefix of a row is a uniform random subset too)."""
    if k == 0:
        return np.zeros((size, 0), dtype=np.int64)
    if k * k <= n:  # duplicates are rare: draw with replacement and redraw the rows that have any
        out = rng.integers(0, n, size=(size, k))

        def dups(a: np.ndarray) -> np.ndarray:
            s = np.sort(a, axis=1)
            return np.asarray((s[:, 1:] == s[:, :-1]).any(axis=1))

        bad = dups(out)
        while bad.any():
            redo = np.flatnonzero(bad)
            out[redo] = rng.integers(0, n, size=(redo.size, k))
            bad[redo] = dups(out[redo])
        return out
    # dense case: the k smallest of n random keys, in key order, by chunks of rows
    out = np.empty((size, k), dtype=np.int64)
    step = max(1, 4_000_000 // n)
    for start in range(0, size, step):
        stop = min(size, start + step)
        keys = rng.random((stop - start, n))
        part = np.argpartition(keys, k - 1, axis=1)[:, :k] if k < n else np.argsort(keys, axis=1)
        order = np.argsort(np.take_along_axis(keys, part, axis=1), axis=1)
        out[start:stop] = np.take_along_axis(part, order, axis=1)
    return out


class _GiStar:
    """Gi* over a fixed graph and set of analysed cells, reusable for many value vectors
    (the windows of :func:`emerging_hotspots` share the graph, the random draws and the
    esda weights)."""

    def __init__(self, adjacency: sp.csr_matrix, analysed: np.ndarray, permutations: int, seed: int) -> None:
        from libpysal.graph import Graph

        if isinstance(permutations, bool) or not isinstance(permutations, int | np.integer):
            raise InputError(f"permutations must be an integer, not {permutations!r}")
        if permutations < 1:
            raise InputError(f"permutations must be >= 1, not {permutations}")
        self.n_all = adjacency.shape[0]
        self.idx = np.flatnonzero(analysed)
        self.permutations = int(permutations)
        sub = adjacency[self.idx][:, self.idx].tocsr()
        self.neighbours = sp.csr_matrix(sub)  # binary, no self
        self.star = (sub + sp.identity(self.idx.size, format="csr")).tocsr()
        self.cardinality = np.asarray(self.star.sum(axis=1)).ravel().astype(np.int64)  # W_i
        self.graph = Graph.from_sparse(self.star) if self.idx.size >= 3 else None
        kmax = int(self.cardinality.max()) if self.idx.size else 0
        self.draws = _draw_subsets(np.random.default_rng(seed), self.idx.size, kmax, self.permutations)

    def run(self, values: np.ndarray, fdr: float) -> dict[str, np.ndarray]:
        """Gi* of ``values`` (all cells, in graph order; only analysed cells are read)."""
        import esda

        n_all, idx, perms = self.n_all, self.idx, self.permutations
        z = np.full(n_all, np.nan)
        p_sim = np.full(n_all, np.nan)
        q = np.full(n_all, np.nan)
        hot = np.zeros(n_all, dtype=bool)
        cold = np.zeros(n_all, dtype=bool)
        out = {"z": z, "p_sim": p_sim, "q": q, "hot": hot, "cold": cold}
        if idx.size == 0:
            return out
        x = np.asarray(values, dtype=float)[idx]
        if idx.size < 3 or np.ptp(x) == 0.0:  # nothing to compare: no cell stands out
            z[idx], p_sim[idx], q[idx] = 0.0, 1.0, 1.0
            return out

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = esda.G_Local(x, self.graph, transform="B", star=True, permutations=0)
        zi = np.asarray(g.Zs, dtype=float)
        zi[~np.isfinite(zi)] = 0.0  # a window holding every cell has no variance

        # total randomisation: window sums vs sums of W_i values drawn from all n
        observed = x + self.neighbours @ x
        tol = 1e-9 * float(np.abs(x).max())
        upper = np.full(idx.size, perms, dtype=np.int64)
        lower = np.full(idx.size, perms, dtype=np.int64)
        sums = np.cumsum(x[self.draws], axis=1)
        for k in np.unique(self.cardinality):
            if k < 2:
                continue  # no neighbour: p stays 1
            cells = np.flatnonzero(self.cardinality == k)
            null = np.sort(sums[:, k - 1])
            obs = observed[cells]
            upper[cells] = perms - np.searchsorted(null, obs - tol, side="left")
            lower[cells] = np.searchsorted(null, obs + tol, side="right")
        p_up = (upper + 1) / (perms + 1)
        p_low = (lower + 1) / (perms + 1)
        p = np.minimum(1.0, 2.0 * np.minimum(p_up, p_low))
        qi = np.asarray(stats.false_discovery_control(p, method="bh"), dtype=float)

        z[idx], p_sim[idx], q[idx] = zi, p, qi
        hot[idx] = (zi > 0) & (qi <= fdr) & (p_up <= p_low)
        cold[idx] = (zi < 0) & (qi <= fdr) & (p_low <= p_up)
        return out


def _check_fdr(fdr: float) -> None:
    if not 0.0 < fdr < 1.0:
        raise InputError(f"fdr must be in (0, 1), not {fdr!r}")


def gi_star(
    values: Any,
    w: W,
    *,
    permutations: int = PERMUTATIONS,
    seed: int = DEFAULT_SEED,
    fdr: float = 0.05,
) -> pd.DataFrame:
    """Getis–Ord Gi* of non-negative ``values`` (in ``w.id_order``) with FDR-controlled flags.

    Returns a frame indexed by the cell ids of ``w`` (index name ``code``) with columns ``z``
    (Gi* standardised, from ``esda.G_Local``), ``p_sim`` (two-sided permutation pseudo
    p-value, reproducible for a given ``seed``), ``q`` (Benjamini–Hochberg over the analysed
    cells), ``hot`` and ``cold`` (see the module docstring). NaN values exclude their cells
    (dropped from the weights; NaN results, neither hot nor cold). Constant values give
    ``z = 0`` and ``p_sim = 1`` everywhere.
    """
    _check_fdr(fdr)
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size != w.n:
        raise InputError(f"values must be 1-D with one value per cell of w ({w.n}), got shape {x.shape}")
    if (x < 0).any():
        raise InputError("Gi* needs non-negative values (rates, counts)")
    core = _GiStar(_binary_adjacency(w), np.isfinite(x), permutations, seed)
    res = core.run(x, fdr)
    return pd.DataFrame(res, index=pd.Index(list(w.id_order), name="code"))


# --------------------------------------------------------------------------------------------
# one period
# --------------------------------------------------------------------------------------------


def _households(cells: pd.DataFrame, ids: list[Any], code_col: str, households_col: str) -> np.ndarray:
    """Households per cell in ``ids`` order; the cells must be exactly those of the weights."""
    for col in (code_col, households_col):
        if col not in cells.columns:
            raise InputError(f"the cells have no column {col!r}", code="missing_column")
    codes = cells[code_col]
    dup = codes[codes.duplicated()].unique().tolist()
    if dup:
        raise InputError(f"duplicated cell codes: {dup[:5]}", code="duplicate_code", details=dup[:20])
    missing = sorted(set(ids) - set(codes), key=str)
    extra = sorted(set(codes) - set(ids), key=str)
    if missing or extra:
        raise InputError(
            f"the cells and the weights differ: {len(missing)} cell(s) of the weights are not in the "
            f"frame (e.g. {missing[:3]}), {len(extra)} cell(s) of the frame are not in the weights "
            f"(e.g. {extra[:3]})",
            code="cells_mismatch",
        )
    hh = pd.to_numeric(cells.set_index(code_col)[households_col], errors="coerce")
    return np.asarray(hh.reindex(ids), dtype=float)


def _eligible(households: np.ndarray, min_households: float) -> np.ndarray:
    """Households, NaN where below ``min_households`` (excluded from rates and Gi*)."""
    if (households < 0).any():
        raise InputError("household counts cannot be negative", code="negative_households")
    ok = np.isfinite(households) & (households > 0) & (households >= min_households)
    return np.where(ok, households, np.nan)


def hotspots(
    cells: pd.DataFrame,
    counts: Mapping[Any, float] | pd.Series,
    w: W,
    *,
    permutations: int = PERMUTATIONS,
    seed: int = DEFAULT_SEED,
    fdr: float = 0.05,
    min_households: float = 50,
    code_col: str = "code",
    households_col: str = "households",
) -> pd.DataFrame:
    """Hot and cold spots of petitions per household for one period.

    ``cells`` holds one row per cell of ``w`` (columns ``code_col``, ``households_col``);
    ``counts`` maps a cell code to its number of petitions (a missing code counts 0; codes not
    in ``w`` are ignored). Cells with fewer than ``min_households`` households (or none, or an
    unknown number) are not analysed: a rate per household means little there (parks, markets,
    industrial land); they are reported with NaN ``rate_eb``/``z``/``p_sim``/``q`` and are
    neither hot nor cold. The others get an empirical-Bayes rate (:func:`eb_rates`, prior
    estimated from them) and Gi* on it (:func:`gi_star`).

    Returns one row per cell: ``code, households, petitions, rate_raw, rate_eb, z, p_sim, q,
    hot, cold`` and the single-cell test of :func:`cell_excess` (``expected``, ``excess_q``,
    ``excess``) (rates per 100 households; ``rate_raw`` is NaN without households), sorted by
    ``z`` descending (excluded cells last; ties in the order of ``w``).
    """
    _check_fdr(fdr)
    ids = list(w.id_order)
    hh = _households(cells, ids, code_col, households_col)
    series = counts if isinstance(counts, pd.Series) else pd.Series(dict(counts), dtype=float)
    petitions = np.asarray(pd.to_numeric(series, errors="coerce").reindex(ids).fillna(0.0), dtype=float)
    if (petitions < 0).any() or not np.isfinite(petitions).all() or (petitions % 1 != 0).any():
        raise InputError("petition counts must be non-negative integers", code="bad_count")

    eligible = _eligible(hh, min_households)
    rate_eb = eb_rates(petitions, eligible)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_raw = np.where(hh > 0, petitions / hh, np.nan)
    g = gi_star(rate_eb, w, permutations=permutations, seed=seed, fdr=fdr)
    out = pd.DataFrame(
        {
            "code": ids,
            "households": hh,
            "petitions": petitions.astype(np.int64),
            "rate_raw": 100.0 * rate_raw,
            "rate_eb": 100.0 * rate_eb,
            "z": g["z"].to_numpy(),
            "p_sim": g["p_sim"].to_numpy(),
            "q": g["q"].to_numpy(),
            "hot": g["hot"].to_numpy(),
            "cold": g["cold"].to_numpy(),
        }
    )
    ex = cell_excess(petitions, eligible, fdr=fdr)
    out["expected"] = ex["expected"]
    out["excess_q"] = ex["q"]
    out["excess"] = ex["excess"]
    order = np.lexsort((np.arange(len(ids)), -out["z"].fillna(-np.inf).to_numpy(), out["z"].isna()))
    return out.iloc[order].reset_index(drop=True)


def cell_excess(
    petitions: Any, households: Any, *, fdr: float = 0.05, min_ratio: float = 1.5, mid_p: bool = True
) -> pd.DataFrame:
    """Single hot cells: a cell's own count against its share of households.

    Gi* finds hot *areas* (a cell and its neighbours); one cell twice as busy as everything
    around it barely moves its neighbourhood's sum. This is the complementary test: given the
    total ``N`` of petitions of the analysed cells, a cell's count is Binomial(``N``, its share of
    households) under "every household complains alike"; the upper-tail (mid-)p, Benjamini-
    Hochberg over the cells, and ``excess`` when ``q <= fdr`` and observed / expected >=
    ``min_ratio``. Real cells vary more than Poisson (overdispersion): when the robust dispersion
    estimate exceeds 1, the test is the quasi-Poisson normal tail of ``(x - e - 0.5) /
    sqrt(dispersion * e)`` instead (``attrs["dispersion"]``). Cells with NaN households are not
    tested. Columns: expected, ratio, p, q, excess.
    """
    _check_fdr(fdr)
    x = np.asarray(petitions, dtype=float)
    hh = np.asarray(households, dtype=float)
    ok = np.isfinite(hh) & (hh > 0)
    n = float(x[ok].sum())
    share = np.where(ok, hh / max(float(hh[ok].sum()), 1e-12), np.nan)
    expected = n * share
    p = np.full(len(x), np.nan)
    dispersion = 1.0
    if ok.any() and n > 0:
        xs, sh, ex = x[ok], share[ok], expected[ok]
        # cells differ by more than chance (buildings, ages, uses): the variance is inflated by a
        # factor estimated robustly from all cells (the median Pearson residual over chi2(1)'s
        # median, 0.4549), so that a planted 2x cell stands out and ordinary spread does not
        with np.errstate(divide="ignore", invalid="ignore"):
            chi = np.where(ex > 0, (xs - ex) ** 2 / ex, np.nan)
        if np.isfinite(chi).sum() >= 10:
            dispersion = max(1.0, float(np.nanmedian(chi)) / 0.4549)
        if dispersion > 1.0:
            zs = (xs - ex - 0.5) / np.sqrt(dispersion * np.maximum(ex, 1e-12))
            p[ok] = stats.norm.sf(zs)
        else:
            tail = stats.binom.sf(xs, n, sh)
            p[ok] = tail + (0.5 if mid_p else 1.0) * stats.binom.pmf(xs, n, sh)
    q = np.full(len(x), np.nan)
    tested = np.isfinite(p)
    if tested.any():  # Benjamini-Hochberg over the tested cells, as gi_star's q
        q[tested] = np.asarray(stats.false_discovery_control(p[tested], method="bh"), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(expected > 0, x / expected, np.nan)
    excess = tested & (np.nan_to_num(q, nan=1.0) <= fdr) & (np.nan_to_num(ratio) >= min_ratio)
    out = pd.DataFrame({"expected": expected, "ratio": ratio, "p": p, "q": q, "excess": excess})
    out.attrs["dispersion"] = dispersion
    return out


# --------------------------------------------------------------------------------------------
# emerging hot spots
# --------------------------------------------------------------------------------------------


def mann_kendall(series: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mann–Kendall trend test along the last axis (time), one test per row.

    ``S = sum_{a<b} sign(x_b - x_a)``, ``Var(S) = (n(n-1)(2n+5) - sum_t t(t-1)(2t+5)) / 18``
    (``t``: sizes of groups of tied values), ``Z = (S - sign(S)) / sqrt(Var(S))`` (continuity
    correction), two-sided ``p = 2 * (1 - Phi(|Z|))``; returns ``(tau, p)`` with
    ``tau = S / (n(n-1)/2)``. A row holding a NaN gets NaN; fewer than 2 points give
    ``tau = 0, p = 1``.
    """
    x = np.atleast_2d(np.asarray(series, dtype=float))
    rows, n = x.shape
    tau = np.full(rows, np.nan)
    p = np.full(rows, np.nan)
    ok = np.isfinite(x).all(axis=1)
    if n < 2:
        tau[ok], p[ok] = 0.0, 1.0
        return tau, p
    xs = x[ok]
    a, b = np.triu_indices(n, k=1)
    s = np.sign(xs[:, b] - xs[:, a]).sum(axis=1)
    var = np.full(xs.shape[0], n * (n - 1) * (2 * n + 5) / 18.0)
    srt = np.sort(xs, axis=1)
    for r in np.flatnonzero((np.diff(srt, axis=1) == 0).any(axis=1)):
        _, t = np.unique(srt[r], return_counts=True)
        var[r] -= float((t * (t - 1) * (2 * t + 5)).sum()) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        zmk = np.where(var > 0, (s - np.sign(s)) / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)
    tau[ok] = s / (n * (n - 1) / 2)
    p[ok] = 2.0 * stats.norm.sf(np.abs(zmk))
    return tau, p


def _classify(
    hots: np.ndarray, zs: np.ndarray, trend_alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trend of every cell from its hot flags and Gi* z-scores (windows x cells): returns
    ``(trend, mk_tau, mk_p)``; see :func:`emerging_hotspots` for the definitions."""
    n_windows = hots.shape[0]
    n_hot = hots.sum(axis=0)
    hot_last = hots[-1]
    tau, p_mk = mann_kendall(zs.T)
    mostly = n_hot >= PERSISTENT_SHARE * n_windows
    rising = (tau > 0) & (p_mk < trend_alpha)
    falling = (tau < 0) & (p_mk < trend_alpha)
    trend = np.select(
        [
            hot_last & (n_hot == 1),
            hot_last & mostly & rising,
            hot_last & mostly & falling,
            hot_last & mostly,
            hot_last,
        ],
        ["new", "intensifying", "diminishing", "persistent", "sporadic"],
        default="none",
    )
    return trend, tau, p_mk


def emerging_hotspots(
    weekly: pd.DataFrame,
    households: pd.Series,
    w: W,
    *,
    window: int = 4,
    permutations: int = PERMUTATIONS,
    seed: int = DEFAULT_SEED,
    fdr: float = 0.05,
    min_households: float = 50,
    trend_alpha: float = 0.05,
) -> pd.DataFrame:
    """Emerging hot spots over weekly petition counts, after ESRI's Emerging Hot Spot Analysis.

    ``weekly``: index = weeks in time order, columns = cell codes, values = petitions (a cell
    of ``w`` missing from the columns, or a NaN, counts 0; columns not in ``w`` are ignored).
    ``households``: code -> households (cells below ``min_households`` are excluded as in
    :func:`hotspots`).

    Method: the weeks are summed over consecutive, non-overlapping windows of ``window`` weeks
    ending at the last week (leading weeks that do not fill a window are dropped); each window
    gets empirical-Bayes rates and Gi* with FDR (:func:`gi_star`, same permutations for every
    window); each cell's series of Gi* z-scores is tested for a trend by Mann–Kendall
    (:func:`mann_kendall`, two-sided, level ``trend_alpha``). Trends, for a cell hot in
    ``n_hot`` of the ``n_windows`` windows:

    - ``new``: hot in the last window and in no earlier one;
    - ``intensifying``: hot in at least 90% of the windows including the last, and z rising
      significantly;
    - ``persistent``: hot in at least 90% including the last, no significant trend;
    - ``diminishing``: hot in at least 90% including the last, and z falling significantly;
    - ``sporadic``: hot in the last window and in some, but less than 90%, of the windows;
    - ``none``: otherwise (not hot in the last window; cold spots and past hot spots included).

    Returns one row per cell: ``code, trend, n_windows, n_hot, hot_last, z_last, mk_tau, mk_p``
    ordered by trend (as in :data:`TRENDS`) then ``z_last`` descending. ``attrs["windows"]``
    lists the (first week, last week) of every window.
    """
    _check_fdr(fdr)
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise InputError(f"window must be a positive number of weeks, not {window!r}")
    n_weeks = len(weekly.index)
    n_windows = n_weeks // window
    if n_windows < 1:
        raise InputError(f"{n_weeks} week(s) do not fill one window of {window}", code="too_few_weeks")
    ids = list(w.id_order)
    try:
        counts = weekly.reindex(columns=ids).to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InputError(f"weekly petition counts must be numbers: {exc}", code="bad_count") from exc
    values = np.nan_to_num(counts[n_weeks - n_windows * window :], nan=0.0)
    if (values < 0).any():
        raise InputError("petition counts cannot be negative", code="negative_count")
    per_window = values.reshape(n_windows, window, len(ids)).sum(axis=1)
    hh = np.asarray(pd.to_numeric(households, errors="coerce").reindex(ids), dtype=float)
    eligible = _eligible(hh, min_households)

    core = _GiStar(_binary_adjacency(w), np.isfinite(eligible), permutations, seed)
    zs = np.full((n_windows, len(ids)), np.nan)
    hots = np.zeros((n_windows, len(ids)), dtype=bool)
    for t in range(n_windows):
        res = core.run(eb_rates(per_window[t], eligible), fdr)
        zs[t], hots[t] = res["z"], res["hot"]

    trend, tau, p_mk = _classify(hots, zs, trend_alpha)
    out = pd.DataFrame(
        {
            "code": ids,
            "trend": trend,
            "n_windows": n_windows,
            "n_hot": hots.sum(axis=0),
            "hot_last": hots[-1],
            "z_last": zs[-1],
            "mk_tau": tau,
            "mk_p": p_mk,
        }
    )
    rank = pd.Series(range(len(TRENDS)), index=list(TRENDS))[out["trend"]].to_numpy()
    order = np.lexsort((np.arange(len(ids)), -out["z_last"].fillna(-np.inf).to_numpy(), rank))
    out = out.iloc[order].reset_index(drop=True)
    weeks = list(weekly.index[n_weeks - n_windows * window :])
    out.attrs["windows"] = [(weeks[t * window], weeks[(t + 1) * window - 1]) for t in range(n_windows)]
    return out
