"""Command line: ``python -m benchmarks [--size toy|full] [--only NAME ...] [--json OUT]``."""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import SIZES, discover
from benchmarks._common import console

EPILOG = """\
Each benchmark measures a figure of gridgov (accuracy, speed, memory) and the same figure of
a baseline side by side in the same run, and prints both with their ratio (ours/baseline)
and a verdict: compare the ratios, not the absolute times, which depend on the machine.

sizes:
  toy   seconds in all; `make test` runs every benchmark at this size (tests/test_benchmarks.py)
        so that none can rot. Timings at this size are noise: do not quote them.
  full  the figures to quote (`make bench`); tens of minutes in all (insights, load and maps
        take several minutes each).

exit status: 0 when every benchmark ran, 1 when one raised (the others still run),
2 for a usage error (e.g. an unknown --only name).

benchmarks:
{listing}
"""


def _listing(benches: dict[str, Any]) -> str:
    width = max((len(n) for n in benches), default=0)
    return "\n".join(f"  {name:<{width}}  {mod.DESCRIPTION}" for name, mod in benches.items())


def build_parser(benches: dict[str, Any]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run gridgov's benchmarks (benchmarks/bench_*.py): ours vs a baseline, same run.",
        epilog=EPILOG.format(listing=_listing(benches) or "  (none found)"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size", choices=SIZES, default="toy", help="problem size (default: toy; see below)")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        choices=sorted(benches),
        help="run only these benchmarks (default: all); names are listed below",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="OUT",
        help="also write every benchmark's figures (and any error) to this JSON file",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser


def _jsonable(value: Any) -> Any:
    """``value`` with non-finite floats as strings (JSON has no inf/nan)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    benches = discover()
    args = build_parser(benches).parse_args(argv)
    out = console()
    if args.list:
        print(_listing(benches))
        return 0
    names = args.only or list(benches)
    report: dict[str, Any] = {
        "size": args.size,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "results": {},
        "failed": [],
    }
    for name in names:
        mod = benches[name]
        out.rule(f"[bold]{name}[/bold] ({args.size}): {mod.DESCRIPTION}")
        t0 = time.perf_counter()
        try:
            figures = mod.run(args.size)
        except Exception as exc:
            traceback.print_exc()
            out.print(f"[red]FAILED[/red] {name}: {type(exc).__name__}: {exc}")
            report["failed"].append(name)
            report["results"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        figures["wall_seconds"] = time.perf_counter() - t0
        report["results"][name] = figures
        out.print(f"{name}: done in {figures['wall_seconds']:.1f} s\n")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_jsonable(report), indent=2, ensure_ascii=False) + "\n")
        out.print(f"figures written to {args.json}")
    if report["failed"]:
        out.print(f"[red]{len(report['failed'])} benchmark(s) failed:[/red] {', '.join(report['failed'])}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
