"""Shared helpers of the benchmarks: timing, one comparison row, the printed table."""

from __future__ import annotations

import gc
import math
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

from rich.console import Console
from rich.table import Table

T = TypeVar("T")

Better = Literal["higher", "lower"]


def check_size(size: str) -> str:
    """Return ``size`` when it is ``"toy"`` or ``"full"``; raise ValueError otherwise."""
    if size not in ("toy", "full"):
        raise ValueError(f"size must be 'toy' or 'full', not {size!r}")
    return size


def timed(fn: Callable[[], T], repeat: int = 1) -> tuple[T, float]:
    """Call ``fn`` ``repeat`` times (at least once); return its last result and the best time (s).

    The garbage collector is paused while timing so that a collection triggered by an earlier
    step is not billed to the one being measured.
    """
    best = math.inf
    result: Any = None
    for _ in range(max(1, repeat)):
        gc.collect()
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            t0 = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - t0
        finally:
            if was_enabled:
                gc.enable()
        best = min(best, elapsed)
    return result, best


@dataclass(frozen=True)
class Row:
    """One figure of ours next to the same figure of a baseline, measured in the same run.

    ``ratio`` is ``ours / baseline`` (None when the baseline is 0 or a value is missing);
    ``better`` says which direction is good, so the verdict reads "ours 12x better/worse".
    """

    figure: str
    unit: str
    ours: float | None
    baseline_name: str
    baseline: float | None
    better: Better
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.baseline is None or self.baseline == 0:
            return None
        return self.ours / self.baseline

    @property
    def verdict(self) -> str:
        o, b = self.ours, self.baseline
        if o is None or b is None:
            return ""
        if o == b:
            return "same"
        ours_better = o > b if self.better == "higher" else o < b
        lo, hi = sorted((abs(o), abs(b)))
        factor = f"{hi / lo:.3g}x " if lo > 0 else ""
        return f"ours {factor}{'better' if ours_better else 'worse'}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = self.ratio
        out["verdict"] = self.verdict
        return out


def fmt(value: float | None, unit: str = "") -> str:
    """A number for the table: 4 significant digits, thousands separators for big ones."""
    if value is None:
        return "n/a"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value == 0:
        text = "0"
    elif abs(value) >= 1e4 and abs(value) < 1e15:
        text = f"{value:,.0f}"
    elif abs(value) >= 1e-3:
        text = f"{value:.4g}"
    else:
        text = f"{value:.3e}"
    return f"{text} {unit}".rstrip()


def console() -> Console:
    """A console wide enough for the tables also when the output is a file or a pipe."""
    width = max(shutil.get_terminal_size((140, 40)).columns, 120)
    return Console(width=width, highlight=False)


def print_table(title: str, rows: Iterable[Row], notes: Iterable[str] = ()) -> None:
    """Print the comparison table (figure, ours, baseline, ours/baseline, verdict) and notes."""
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("figure")
    table.add_column("ours", justify="right")
    table.add_column("baseline")
    table.add_column("baseline value", justify="right")
    table.add_column("ours/baseline", justify="right")
    table.add_column("verdict")
    for r in rows:
        ratio = r.ratio
        table.add_row(
            r.figure + (f" ({r.note})" if r.note else ""),
            fmt(r.ours, r.unit),
            r.baseline_name,
            fmt(r.baseline, r.unit),
            "n/a" if ratio is None else f"{ratio:.4g}",
            r.verdict,
        )
    out = console()
    out.print(table)
    for note in notes:
        out.print(f"  - {note}")
    out.print()
