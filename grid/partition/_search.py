"""The partition of the graph (:mod:`grid.partition`): blocks, the search, assembly and order."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

from grid.partition._graph import Graph
from grid.partition._helpers import Plane
from grid.partition._types import BALANCE_COST, STALE_RESTARTS, TWO_SQRT_PI, CellState, PartitionParams

# --------------------------------------------------------------------------------------------
# the partition of the graph


class _Search:
    """Partition one set of atoms into ``k`` connected, balanced, compact cells.

    Cell state (households ``h``, area ``A``, perimeter ``P``, barrier regions) is kept up to
    date move by move, with each cell's violation ``v`` and cost ``f``, so evaluating a move
    only looks at the moved atom's neighbours.
    """

    def __init__(self, graph: Graph, nodes: list[int], params: PartitionParams) -> None:
        local = {a: i for i, a in enumerate(nodes)}
        self.n = len(nodes)
        self.w = [graph.w[a] for a in nodes]
        self.area = [graph.area[a] for a in nodes]
        self.cx = [graph.cx[a] for a in nodes]
        self.cy = [graph.cy[a] for a in nodes]
        self.perim = [graph.perim[a] for a in nodes]
        self.region = [graph.region[a] for a in nodes]
        self.nbr = [{local[b]: ln for b, ln in graph.nbr[a].items() if b in local} for a in nodes]
        self.t = float(params.target)
        self.lo, self.hi = params.min, params.max
        self.lc = params.compactness_weight
        self.lb = params.barrier_penalty

    # --- cost of one cell
    def viol(self, h: int) -> int:
        return max(0, self.lo - h, h - self.hi)

    def cost(self, h: int, area: float, perim: float, nreg: int) -> float:
        d = abs(h - self.t) / self.t
        e1 = d - 0.1 if d > 0.1 else 0.0
        e2 = d - 0.2 if d > 0.2 else 0.0
        a, b, c = BALANCE_COST
        bal = a * d * d + b * e1 * e1 + c * e2 * e2
        comp = perim / (TWO_SQRT_PI * math.sqrt(area)) - 1.0 if area > 0 else 0.0
        return bal + self.lc * comp + self.lb * (nreg - 1)

    # --- state
    def _init_state(self, assign: list[int], k: int) -> None:
        self.assign = assign
        self.k = k
        self.members: list[set[int]] = [set() for _ in range(k)]
        self.h = [0] * k
        self.A = [0.0] * k
        self.P = [0.0] * k
        self.regcnt: list[dict[int, int]] = [{} for _ in range(k)]
        for i, c in enumerate(assign):
            self.members[c].add(i)
            self.h[c] += self.w[i]
            self.A[c] += self.area[i]
            rc = self.regcnt[c]
            rc[self.region[i]] = rc.get(self.region[i], 0) + 1
        for c in range(k):
            p = 0.0
            for i in self.members[c]:
                p += self.perim[i]
                for j, ln in self.nbr[i].items():
                    if assign[j] == c:
                        p -= ln  # each internal edge is seen from both sides
            self.P[c] = p
        self.nreg = [sum(1 for v in self.regcnt[c].values() if v > 0) for c in range(k)]
        self.v = [self.viol(self.h[c]) for c in range(k)]
        self.f = [self.cost(self.h[c], self.A[c], self.P[c], self.nreg[c]) for c in range(k)]

    def score(self) -> tuple[int, float]:
        return sum(self.v), sum(self.f)

    def within(self, share: float) -> bool:
        return sum(self.v) == 0 and all(abs(h - self.t) <= share * self.t for h in self.h)

    # --- starts
    def seeds(self, k: int, rng: np.random.Generator, restart: int) -> list[int]:
        """k spread-out seed atoms: farthest-point (restart 0), else weighted k-means++."""
        x, y = self.cx, self.cy
        wts = [w + 1.0 for w in self.w]
        n = self.n
        if restart == 0:  # deterministic: start at the atom farthest from the weighted centre
            tw = sum(wts)
            mx = sum(a * b for a, b in zip(wts, x, strict=True)) / tw
            my = sum(a * b for a, b in zip(wts, y, strict=True)) / tw
            first = max(range(n), key=lambda i: ((x[i] - mx) ** 2 + (y[i] - my) ** 2, -i))
        else:
            first = int(rng.choice(n, p=np.asarray(wts) / sum(wts)))
        chosen = [first]
        d2 = [(x[i] - x[first]) ** 2 + (y[i] - y[first]) ** 2 for i in range(n)]
        while len(chosen) < k:
            score = [d * w for d, w in zip(d2, wts, strict=True)]
            for c in chosen:
                score[c] = -1.0
            if restart == 0:
                nxt = max(range(n), key=lambda i: (score[i], -i))
            else:
                p = np.maximum(np.asarray(score), 0.0)
                total = float(p.sum())
                nxt = int(rng.choice(n, p=p / total)) if total > 0 else max(range(n), key=lambda i: score[i])
            chosen.append(nxt)
            d2 = [min(d, (x[i] - x[nxt]) ** 2 + (y[i] - y[nxt]) ** 2) for i, d in enumerate(d2)]
        return chosen

    def grow(self, seeds: list[int]) -> list[int]:
        """Balanced region growing: the lightest cell takes its nearest free neighbour (same
        barrier region first) until every atom is taken."""
        k = len(seeds)
        assign = [-1] * self.n
        h = [0.0] * k
        sx = [0.0] * k
        sy = [0.0] * k
        sa = [0.0] * k
        reg = [self.region[s] for s in seeds]
        frontier: list[set[int]] = [set() for _ in range(k)]
        for c, s in enumerate(seeds):
            assign[s] = c
        for c, s in enumerate(seeds):
            h[c] += self.w[s]
            sa[c] += self.area[s]
            sx[c] += self.area[s] * self.cx[s]
            sy[c] += self.area[s] * self.cy[s]
            frontier[c].update(j for j in self.nbr[s] if assign[j] < 0)
        left = self.n - k
        while left > 0:
            open_cells = [c for c in range(k) if frontier[c]]
            if not open_cells:  # cannot happen in a connected part
                raise RuntimeError("internal error: region growing is stuck")
            c = min(open_cells, key=lambda c: (h[c], c))
            mx, my = sx[c] / sa[c], sy[c] / sa[c]
            best = min(
                frontier[c],
                key=lambda j: (self.region[j] != reg[c], (self.cx[j] - mx) ** 2 + (self.cy[j] - my) ** 2, j),
            )
            assign[best] = c
            left -= 1
            h[c] += self.w[best]
            sa[c] += self.area[best]
            sx[c] += self.area[best] * self.cx[best]
            sy[c] += self.area[best] * self.cy[best]
            for fr in frontier:
                fr.discard(best)
            frontier[c].update(j for j in self.nbr[best] if assign[j] < 0)
        return assign

    # --- moves
    def connected_without(self, c: int, out: int, add: int = -1) -> bool:
        """Is cell ``c`` minus atom ``out`` (plus atom ``add``) connected and non-empty?"""
        mem = self.members[c]
        size = len(mem) - 1 + (1 if add >= 0 else 0)
        if size <= 0:
            return False
        start = add if add >= 0 else next(i for i in mem if i != out)
        seen = {start}
        stack = [start]
        assign = self.assign
        nbr = self.nbr
        while stack:
            i = stack.pop()
            for j in nbr[i]:
                if j not in seen and j != out and (assign[j] == c or j == add):
                    seen.add(j)
                    stack.append(j)
        return len(seen) == size

    def _shared(self, i: int) -> dict[int, float]:
        """Length of atom ``i``'s border with each cell (its own included)."""
        out: dict[int, float] = {}
        assign = self.assign
        for j, ln in self.nbr[i].items():
            c = assign[j]
            out[c] = out.get(c, 0.0) + ln
        return out

    def _after(self, c: int, i: int, sign: int, shared: float) -> CellState:
        """Cell ``c`` with atom ``i`` added (sign 1) or removed (-1); ``shared`` is the length
        of i's border with c."""
        r = self.region[i]
        cnt = self.regcnt[c].get(r, 0)
        h = self.h[c] + sign * self.w[i]
        a = self.A[c] + sign * self.area[i]
        p = self.P[c] + sign * (self.perim[i] - 2.0 * shared)
        nreg = self.nreg[c]
        if sign > 0 and cnt == 0:
            nreg += 1
        elif sign < 0 and cnt == 1:
            nreg -= 1
        v = max(0, self.lo - h, h - self.hi)
        # self.cost inlined (this is the innermost loop)
        d = abs(h - self.t) / self.t
        e1 = d - 0.1 if d > 0.1 else 0.0
        e2 = d - 0.2 if d > 0.2 else 0.0
        ba, bb, bc = BALANCE_COST
        f = ba * d * d + bb * e1 * e1 + bc * e2 * e2 + self.lb * (nreg - 1)
        if a > 0:
            f += self.lc * (p / (TWO_SQRT_PI * math.sqrt(a)) - 1.0)
        return h, v, a, p, nreg, cnt + sign, f

    def _set(self, c: int, i: int, st: CellState) -> None:
        h, v, a, p, nreg, cnt, f = st
        self.h[c], self.v[c], self.A[c], self.P[c], self.nreg[c], self.f[c] = h, v, a, p, nreg, f
        self.regcnt[c][self.region[i]] = cnt

    def move(self, i: int, b: int) -> None:
        a = self.assign[i]
        shared = self._shared(i)
        self._set(a, i, self._after(a, i, -1, shared.get(a, 0.0)))
        self._set(b, i, self._after(b, i, 1, shared.get(b, 0.0)))
        self.members[a].discard(i)
        self.members[b].add(i)
        self.assign[i] = b

    def improve_moves(self) -> bool:
        """One pass of single-atom moves to an adjacent cell; True when something improved."""
        improved = False
        assign, members, v, f = self.assign, self.members, self.v, self.f
        nbr = self.nbr
        for i in range(self.n):
            a = assign[i]
            if len(members[a]) == 1:
                continue
            for j in nbr[i]:
                if assign[j] != a:
                    break
            else:
                continue  # inside its cell
            shared = self._shared(i)
            sa = self._after(a, i, -1, shared.get(a, 0.0))
            va, fa = v[a], f[a]
            best: tuple[int, float, int, CellState] | None = None
            for b, ln in shared.items():
                if b == a:
                    continue
                sb = self._after(b, i, 1, ln)
                dv = sa[1] + sb[1] - va - v[b]
                if dv > 0:
                    continue
                df = sa[6] + sb[6] - fa - f[b]
                if (dv < 0 or df < -1e-12) and (best is None or (dv, df) < (best[0], best[1])):
                    best = (dv, df, b, sb)
            if best is not None and self.connected_without(a, i):
                b = best[2]
                self._set(a, i, sa)
                self._set(b, i, best[3])
                members[a].discard(i)
                members[b].add(i)
                assign[i] = b
                improved = True
        return improved

    def improve_swaps(self) -> bool:
        """Swap one pair of boundary atoms between adjacent cells when that improves the
        balance and the score; True when a swap was made."""
        boundary: dict[tuple[int, int], list[int]] = defaultdict(list)  # (from, to) -> atoms
        assign = self.assign
        for i in range(self.n):
            a = assign[i]
            for c in {assign[j] for j in self.nbr[i]}:
                if c != a:
                    boundary[(a, c)].append(i)
        w, h, t, lo, hi = self.w, self.h, self.t, self.lo, self.hi
        for (a, b), from_a in sorted(boundary.items()):
            if a > b:
                continue
            from_b = boundary.get((b, a), [])
            for i in from_a:
                for j in from_b:
                    d = w[j] - w[i]
                    if d == 0:
                        continue
                    ha, hb = h[a] + d, h[b] - d
                    dv = max(0, lo - ha, ha - hi) + max(0, lo - hb, hb - hi) - self.v[a] - self.v[b]
                    if dv > 0:
                        continue
                    bal = ((ha - t) ** 2 + (hb - t) ** 2 - (h[a] - t) ** 2 - (h[b] - t) ** 2) / (t * t)
                    if dv == 0 and bal >= -1e-12:
                        continue
                    if self._try_swap(i, j):
                        return True
        return False

    def _try_swap(self, i: int, j: int) -> bool:
        a, b = self.assign[i], self.assign[j]
        if not (self.connected_without(a, i, add=j) and self.connected_without(b, j, add=i)):
            return False
        before = self.score()
        self.move(i, b)
        self.move(j, a)
        if self.score() < before:
            return True
        self.move(j, b)  # undo
        self.move(i, a)
        return False

    def local_search(self, max_passes: int = 60) -> None:
        for _ in range(max_passes):
            if self.improve_moves():
                continue
            if not self.improve_swaps():
                break

    def run(self, k: int, restarts: int, rng: np.random.Generator) -> tuple[list[int], tuple[int, float]]:
        """Best of up to ``restarts`` grow-and-improve runs (restart 0 deterministic); stops
        when every cell is within +-10% of the target, or after a restart that found
        nothing better. Best = fewest households outside bounds, then lowest cost."""
        best: tuple[list[int], tuple[int, float]] | None = None
        stale = 0
        for r in range(restarts):
            self._init_state(self.grow(self.seeds(k, rng, r)), k)
            self.local_search()
            sc = self.score()
            if best is None or sc < best[1]:
                best = (list(self.assign), sc)
                stale = 0
            else:
                stale += 1
            # stale restarts end the search only once the best is within bounds: a near miss
            # (one cell a household over max) is worth the remaining restarts
            if self.within(0.1) or (stale >= STALE_RESTARTS and best[1][0] == 0):
                break
        assert best is not None
        return best


def choose_k(total: int, n: int, params: PartitionParams) -> list[int]:
    """Cell counts to try for ``total`` households in ``n`` groups, best first."""
    t, lo, hi = params.target, params.min, params.max
    k_lo = max(1, math.ceil(total / hi))
    k_hi = min(n, total // lo)
    ks = list(range(k_lo, k_hi + 1)) if k_lo <= k_hi else [max(1, min(n, round(total / t)))]
    return sorted(ks, key=lambda k: ((total - k * t) ** 2 / k, k))


def _components(nodes: Iterable[int], nbr: Sequence[dict[int, float]]) -> list[list[int]]:
    pending = set(nodes)
    out = []
    for start in sorted(pending):
        if start not in pending:
            continue
        comp = [start]
        pending.discard(start)
        stack = [start]
        while stack:
            i = stack.pop()
            for j in nbr[i]:
                if j in pending:
                    pending.discard(j)
                    comp.append(j)
                    stack.append(j)
        out.append(sorted(comp))
    return out


def _feasible(total: int, params: PartitionParams) -> bool:
    """Can ``total`` households be cut into cells that are all within bounds (ignoring how)?"""
    return total >= params.min and math.ceil(total / params.max) <= total // params.min


def _blocks(part: list[int], graph: Graph, params: PartitionParams) -> list[list[int]]:
    """Split a connected part at barriers into blocks partitioned on their own.

    A block is a connected set of groups of one barrier region. A block without households
    joins the neighbouring block it shares the longest edge with; a block whose households
    cannot make cells within bounds (fewer than ``min``, say) joins the neighbouring block
    that makes the best merged total, so a barrier is crossed only where it must be.
    """
    region = graph.region
    if len({region[a] for a in part}) == 1:
        return [part]
    inside = set(part)
    same_nbr = [
        {b: ln for b, ln in graph.nbr[a].items() if region[b] == region[a]} if a in inside else {}
        for a in range(len(graph.w))
    ]
    blocks = dict(enumerate(_components(part, same_nbr)))
    block_of = {a: i for i, comp in blocks.items() for a in comp}
    total = {i: sum(graph.w[a] for a in comp) for i, comp in blocks.items()}

    def shared(i: int) -> dict[int, float]:
        out: dict[int, float] = defaultdict(float)
        for a in blocks[i]:
            for b, ln in graph.nbr[a].items():
                j = block_of.get(b, i)
                if j != i:
                    out[j] += ln
        return out

    def merge(i: int, j: int) -> None:  # j into i
        for a in blocks[j]:
            block_of[a] = i
        blocks[i].extend(blocks.pop(j))
        total[i] += total.pop(j)

    def fit(h: int) -> float:
        return min(((h - k * params.target) ** 2 / k for k in choose_k(h, 10**9, params)), default=math.inf)

    for i in sorted(i for i in blocks if total[i] == 0):
        if i in blocks and len(blocks) > 1:
            nb = shared(i)
            if nb:
                merge(max(nb, key=lambda j: (nb[j], -j)), i)
    while len(blocks) > 1:
        bad = sorted((total[i], i) for i in blocks if not _feasible(total[i], params) and shared(i))
        if not bad:
            break
        i = bad[0][1]
        nb = shared(i)
        j = min(
            nb,
            key=lambda j: (not _feasible(total[i] + total[j], params), fit(total[i] + total[j]), -nb[j], j),
        )
        merge(j, i)
    return [sorted(comp) for _, comp in sorted(blocks.items())]


@dataclass
class _Solved:
    """The best partition found for one block of atoms."""

    atoms: list[int]
    cells: list[list[int]]
    viol: int  # households outside [min, max], summed over the cells
    cost: float
    k: int
    total: int


def _all_within(
    part: list[int], assign: list[int], k: int, graph: Graph, params: PartitionParams, share: float
) -> bool:
    held = [0] * k
    for i, c in enumerate(assign):
        held[c] += graph.w[part[i]]
    return all(abs(h - params.target) <= share * params.target for h in held)


def _solve(part: list[int], graph: Graph, params: PartitionParams, rng: np.random.Generator) -> _Solved:
    """Partition a connected block: the best cell count first; the next ones while cells are
    out of bounds (or, once, while a cell is more than 20% off target)."""
    total = sum(graph.w[a] for a in part)
    search = _Search(graph, part, params)
    ks = choose_k(total, len(part), params)
    best: tuple[list[int], tuple[int, float], int] | None = None
    for n_try, k in enumerate(ks[:4]):
        if k == 1:
            assign = [0] * len(part)
            search._init_state(assign, 1)
            found = (assign, search.score())
        else:
            found = search.run(k, params.restarts if n_try == 0 else max(2, params.restarts // 2), rng)
        if best is None or found[1] < best[1]:
            best = (found[0], found[1], k)
        # within bounds: done, unless the best count left a cell off by more than 20%; then
        # the next count gets one try
        if best[1][0] == 0 and (n_try > 0 or _all_within(part, best[0], best[2], graph, params, 0.2)):
            break
    assert best is not None
    assign, (viol, cost), k = best
    cells: list[list[int]] = [[] for _ in range(k)]
    for i, c in enumerate(assign):
        cells[c].append(part[i])
    return _Solved(list(part), cells, viol, cost, k, total)


@dataclass
class _Plan:
    """Cells as lists of atoms, with what is forced about each."""

    cells: list[list[int]]
    forced: dict[int, list[str]]


def make_plan(graph: Graph, params: PartitionParams, rng: np.random.Generator) -> _Plan:
    """Group the atoms into cells: buildings above max alone, then each connected part cut at
    barriers into blocks (:func:`_blocks`), each block partitioned on its own; a block that
    cannot be cut within bounds joins a neighbouring block when that helps."""
    m = len(graph.w)
    hi = params.max
    big = [a for a in range(m) if graph.w[a] > hi]
    rest = [a for a in range(m) if graph.w[a] <= hi]
    empty: list[list[int]] = []
    solved: list[_Solved] = []
    for comp in _components(rest, graph.nbr):
        if sum(graph.w[a] for a in comp) == 0 and (big or len(comp) < len(rest)):
            empty.append(comp)
            continue
        blocks = [_solve(b, graph, params, rng) for b in _blocks(comp, graph, params)]
        while len(blocks) > 1:
            block_of = {a: i for i, b in enumerate(blocks) for a in b.atoms}
            merged: tuple[int, int, _Solved] | None = None
            for i in sorted(range(len(blocks)), key=lambda i: (-blocks[i].viol, i)):
                if blocks[i].viol == 0:
                    break
                nbrs = sorted(
                    {block_of[b] for a in blocks[i].atoms for b in graph.nbr[a] if b in block_of} - {i}
                )
                for j in nbrs:
                    both = _solve(blocks[i].atoms + blocks[j].atoms, graph, params, rng)
                    gain = blocks[i].viol + blocks[j].viol - both.viol
                    if gain > 0 and (
                        merged is None or (both.viol, both.cost) < (merged[2].viol, merged[2].cost)
                    ):
                        merged = (i, j, both)
                if merged is not None:
                    break
            if merged is None:
                break
            i, j, both = merged
            blocks = [b for n, b in enumerate(blocks) if n not in (i, j)] + [both]
        solved.extend(blocks)
    return _assemble(graph, params, big, solved, empty)


def _assemble(
    graph: Graph, params: PartitionParams, big: list[int], solved: list[_Solved], empty: list[list[int]]
) -> _Plan:
    """The plan from solved blocks: cells and their forced reasons."""
    lo, hi = params.min, params.max
    cells: list[list[int]] = []
    forced: dict[int, list[str]] = defaultdict(list)
    for a in big:
        forced[len(cells)].append(
            f"single building above max ({graph.w[a]} > {hi})"
            if len(graph.members[a]) == 1
            else f"{len(graph.members[a])} buildings that cannot be separated hold {graph.w[a]} > max {hi}"
        )
        cells.append([a])
    whole = not big and len(solved) == 1 and not empty
    for sol in solved:
        for g in sol.cells:
            idx = len(cells)
            cells.append(list(g))
            h = sum(graph.w[a] for a in g)
            if lo <= h <= hi:
                continue
            if len(sol.cells) == 1 and sol.total < lo:
                what = "community" if whole else "part of the community cut off from the rest"
                forced[idx].append(f"no partition within bounds: {what} total {sol.total} < min {lo}")
            elif len(sol.cells) == 1 and not _feasible(sol.total, params):
                forced[idx].append(
                    f"no partition within bounds: {sol.total} households cannot be split into cells of {lo}-{hi}"
                )
            else:
                forced[idx].append(
                    f"no partition within bounds found: {h} households"
                    + (f" (one of {sol.k} cells of {sol.total} households)" if sol.k > 1 else "")
                )
    # parts without households join the neighbour they share the longest edge with
    cell_of = {a: c for c, g in enumerate(cells) for a in g}
    for part in empty:
        shared: dict[int, float] = defaultdict(float)
        for a in part:
            for b, ln in graph.nbr[a].items():
                if b in cell_of:
                    shared[cell_of[b]] += ln
        if shared:
            target = max(shared, key=lambda c: (shared[c], -c))
            cells[target].extend(part)
        else:
            target = len(cells)
            cells.append(list(part))
        for a in part:
            cell_of[a] = target
    # barriers crossed
    for c, g in enumerate(cells):
        sides: dict[int, int] = defaultdict(int)
        for a in g:
            if graph.w[a] > 0:
                sides[graph.region[a]] += graph.w[a]
        if len(sides) > 1:
            forced[c].append(
                "crosses a barrier line: households on each side "
                + " + ".join(str(h) for h in sorted(sides.values(), reverse=True))
            )
    return _Plan(cells, forced)


def cell_order(geoms: list[MultiPolygon], community: BaseGeometry, plane: Plane) -> list[int]:
    """Numbering order: north to south by row band, then west to east (module docstring)."""
    if len(geoms) <= 1:
        return list(range(len(geoms)))
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = geoms
    rep = shapely.point_on_surface(arr)
    lon, lat = shapely.get_x(rep), shapely.get_y(rep)
    area_m2 = float(shapely.area(plane.to_plane(community)))
    band_m = math.sqrt(area_m2 / len(geoms))
    north = community.bounds[3]
    band = np.floor((north - lat) * plane.ky / band_m).astype(np.int64)
    return sorted(range(len(geoms)), key=lambda i: (int(band[i]), float(lon[i]), -float(lat[i])))
