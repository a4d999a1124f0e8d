"""Benchmarks: `python -m benchmarks --size toy|full`.

Every module ``benchmarks/bench_*.py`` is one benchmark. It exposes

* ``NAME: str`` - the short name used by ``--only``;
* ``DESCRIPTION: str`` - one line: what is measured and against which baseline;
* ``run(size: str) -> dict`` - ``size`` is ``"toy"`` (seconds; run by the test suite) or
  ``"full"`` (the figures quoted in the docs). It measures ours and the baseline side by side
  in the same run, prints a table (figure, ours, baseline, ratio) and returns the figures as a
  JSON-ready dict with at least ``{"benchmark": NAME, "size": size, "rows": [...]}`` (see
  :class:`benchmarks._common.Row`).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path
from types import ModuleType

# Benchmarks serve the API on loopback against the development database: development mode
# (production refuses to start without a secret key; docs/SECURITY.md).
os.environ.setdefault("GRIDGOV_ENVIRONMENT", "development")

SIZES = ("toy", "full")
PREFIX = "bench_"


def module_names() -> list[str]:
    """Names (``bench_xxx``) of the benchmark modules in this package, sorted."""
    here = str(Path(__file__).resolve().parent)
    return sorted(m.name for m in pkgutil.iter_modules([here]) if m.name.startswith(PREFIX))


def discover() -> dict[str, ModuleType]:
    """Import every ``bench_*.py`` module and return them keyed by their ``NAME``.

    Raises
    ------
    TypeError
        When a module lacks ``NAME``, ``DESCRIPTION`` or ``run``, or two share a ``NAME``.
    """
    found: dict[str, ModuleType] = {}
    for mod_name in module_names():
        mod = importlib.import_module(f"{__name__}.{mod_name}")
        for attr, kind in (("NAME", str), ("DESCRIPTION", str)):
            if not isinstance(getattr(mod, attr, None), kind):
                raise TypeError(f"benchmarks/{mod_name}.py must define {attr} as a {kind.__name__}")
        if not callable(getattr(mod, "run", None)):
            raise TypeError(f"benchmarks/{mod_name}.py must define run(size: str) -> dict")
        if mod.NAME in found:
            raise TypeError(f"two benchmark modules are named {mod.NAME!r}")
        found[mod.NAME] = mod
    return found
