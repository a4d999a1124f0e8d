"""Every benchmark runs at toy size, so none can rot; its figures must be sane.

No timing is asserted here (timings belong to `python -m benchmarks --size full`); only that
the run completes, returns figures of the agreed shape, and that the accuracy figures hold.
"""

from __future__ import annotations

import json
import math
import types
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from benchmarks import discover, module_names
from benchmarks.__main__ import main

pytestmark = pytest.mark.bench

BENCHES = discover()


@cache
def toy(name: str) -> dict[str, Any]:
    """``run("toy")`` once per benchmark and test session."""
    result: dict[str, Any] = BENCHES[name].run("toy")
    return result


def _check_datum(r: dict[str, Any]) -> None:
    for key in ("gcj02", "bd09"):
        ours, one_step, prc = r[key]["ours"], r[key]["one_step"], r[key]["prcoords"]
        assert ours["n"] == r["params"]["n"]
        assert ours["max_m"] < 0.01, f"{key}: ours' round trip is off by {ours['max_m']} m"
        assert ours["p99_m"] <= ours["max_m"]
        # the one-step inverse is metres off near Beijing; ours is at least 1000x closer
        assert 0.5 < one_step["max_m"] < 20
        assert one_step["max_m"] > 1000 * ours["max_m"]
        assert prc["max_m"] < 0.1  # prcoords' iteration stops at ~1e-5 degrees of residual
        assert prc["max_m"] >= ours["max_m"]
        for m in (ours, one_step, prc):
            assert m["points_per_s"] > 0 and math.isfinite(m["points_per_s"])


def _check_validate(r: dict[str, Any]) -> None:
    ours = r["ours"]
    assert r["params"]["cells"] == 300
    assert ours["planted"] == 6
    assert ours["found"] == ours["planted"], ours
    assert ours["overlaps_found"] == ours["overlaps_planted"] == 3
    assert ours["gaps_found"] == ours["gaps_planted"] == 3
    assert ours["false_findings"] == 0, ours["false_by_kind"]
    for key in ("baseline_vectorised", "baseline_loop"):  # the naive check finds the overlaps only
        assert r[key]["found"] == ours["overlaps_planted"]
        assert r[key]["false_findings"] == 0


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {"datum": _check_datum, "validate": _check_validate}


def test_every_module_is_discovered() -> None:
    assert len(BENCHES) == len(module_names()) >= 2
    assert set(CHECKS) == set(BENCHES), "add a sanity check for the new benchmark to CHECKS"


@pytest.mark.parametrize("name", sorted(BENCHES))
def test_toy_run(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    mod = BENCHES[name]
    assert mod.DESCRIPTION.strip()
    r = toy(name)
    assert r["benchmark"] == name and r["size"] == "toy"
    json.dumps(r)  # JSON-ready
    assert r["rows"], "a benchmark prints at least one figure next to its baseline"
    for row in r["rows"]:
        assert row["figure"] and row["baseline_name"]
        assert row["ours"] is not None and math.isfinite(row["ours"])
        assert row["better"] in ("higher", "lower")
    CHECKS[name](r)
    if name == "load":  # the short load test of `make test` shows its figures in the test output
        m, rss = r["mix"], r["rss"]
        p99 = max(k["p99_ms"] for k in m["kinds"].values())
        with capsys.disabled():
            print(
                f"\n[load] {m['requests']} requests, {m['rps']:.1f} req/s ({r['throughput_ratio']:.2f} of /ping), "
                f"worst p99 {p99:.0f} ms, errors {m['errors']}, RSS {rss['after_warmup_mb']:.0f} → "
                f"{rss['end_mb']:.0f} MB (×{rss['ratio']:.3f})"
            )


@pytest.mark.parametrize("name", sorted(BENCHES))
def test_unknown_size_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="size"):
        BENCHES[name].run("huge")


def test_cli_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "figures.json"
    assert main(["--size", "toy", "--only", "datum", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["size"] == "toy" and report["failed"] == []
    assert list(report["results"]) == ["datum"]
    assert report["results"]["datum"]["gcj02"]["ours"]["max_m"] < 0.01
    printed = capsys.readouterr().out
    assert "one-step inverse" in printed and "ours/baseline" in printed


def test_cli_exits_non_zero_when_a_benchmark_raises(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(size: str) -> dict[str, Any]:
        raise RuntimeError("boom")

    broken = types.SimpleNamespace(NAME="broken", DESCRIPTION="always raises", run=run)
    monkeypatch.setattr("benchmarks.__main__.discover", lambda: {"broken": broken})
    out = tmp_path / "figures.json"
    assert main(["--json", str(out)]) == 1
    report = json.loads(out.read_text())
    assert report["failed"] == ["broken"]
    assert "boom" in report["results"]["broken"]["error"]
    assert "FAILED" in capsys.readouterr().out


def test_cli_usage_errors() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--only", "no-such-benchmark"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["--size", "huge"])
    assert exc.value.code == 2


def _check_assign(r: dict[str, Any]) -> None:
    ours = r["ours"]
    assert r["params"]["cells"] > 300 and ours["points"] == r["params"]["points"]
    # exact: CellIndex.covering equals brute-force shapely.covers on every point
    assert ours["first_mismatches"] == 0 and ours["count_mismatches"] == 0 and ours["exact"]
    counts = r["counts"]  # points on shared edges and on vertices where 3+ cells meet were exercised
    assert counts.get("0", 0) > 0 and counts.get("2", 0) > 0 and counts.get("3", 0) > 0
    assert 0 < ours["memory_bytes"] < 64 * 2**20
    assert 0 < ours["exact_test_share"] < 0.5
    for key in ("sjoin_within", "sjoin_covered_by"):
        assert r[key]["points_per_s"] > 0
    pg = r["postgis"]
    assert "skipped" in pg or pg["points_per_s"] > 0


CHECKS["assign"] = _check_assign


def test_assign_toy_is_exact() -> None:
    """The assign benchmark's own exactness check holds at toy size (shared cached run)."""
    _check_assign(toy("assign"))


def _check_partition(r: dict[str, Any]) -> None:
    ours, base = r["ours"], r["baseline"]
    assert ours["all_contiguous"] and ours["split_buildings"] == 0
    assert ours["households"] == base["households"] == r["params"]["households"]
    assert ours["within_20"] > base["within_20"] and ours["within_bounds"] >= base["within_bounds"]
    assert Path(r["out_dir"], "manifest.json").exists()


CHECKS["partition"] = _check_partition


def _check_api(r: dict[str, Any]) -> None:
    assert r["first_status"] == 200
    assert r["lookup"]["requests"] > 0 and r["lookup"]["errors"] == 0
    assert r["trivial"]["requests"] > 0 and r["trivial"]["errors"] == 0


CHECKS["api"] = _check_api


def _check_address_parse(r: dict[str, Any]) -> None:
    ours = r["ours"]
    assert r["params"]["addresses"] > 0
    for label in ("district", "street", "road", "door_number"):
        assert 0.0 <= ours[label]["f1"] <= 1.0
    assert ours["all"]["gold"] > 0 and ours["all"]["f1"] > 0.3
    assert r["ours_per_s"] > 0
    base = r["baseline"]
    assert "unavailable" in base or 0.0 <= base["district"]["f1"] <= 1.0


CHECKS["address_parse"] = _check_address_parse


def _check_geocode(r: dict[str, Any]) -> None:
    assert r["gazetteer"]["places"] >= r["params"]["places"]
    for key in ("handwritten", "generated"):
        s = r[key]
        assert s["queries"] > 0 and sum(s["status"].values()) == s["queries"]
        assert s["answered"] <= s["placed"] <= s["queries"]
        assert s["cell_correct"] <= s["cell_answered"] <= s["building_answered"] <= s["answered"]
        assert s["address_answered"] <= s["address_rows"]
        for fig in ("cell_accuracy", "building_accuracy", "review_share"):
            assert s[fig] is None or 0.0 <= s[fig] <= 1.0
        assert s["per_s"] > 0
        j = s["jionlp"]  # jionlp ran on the same queries, or says why not
        assert j.get("unavailable") or (0.0 <= j["district"] <= 1.0 and 0.0 <= j["street"] <= 1.0)
    assert r["generated"]["queries"] == r["params"]["generated"]
    assert r["handwritten"]["wrongly_answered"] <= r["handwritten"]["should_review"]


CHECKS["geocode"] = _check_geocode


def _check_petitions(r: dict[str, Any]) -> None:
    intake = r["intake"]
    assert intake["ours"]["http"] == {"201": intake["n"]}  # every petition taken in
    assert sum(intake["ours"]["status"].values()) == intake["n"]
    assert set(intake["ours"]["status"]) <= {"dispatched", "merged", "needs_location"}
    assert intake["ours"]["status"].get("dispatched", 0) > intake["n"] // 2
    assert intake["ours"]["per_s"] > 0 and intake["plain_per_s"] > 0
    sc = r["scores"]
    assert sc["year_rows"] == r["params"]["n_year"] and 0 < sc["month_rows"] < sc["year_rows"]
    assert sc["streets"] > 0 and sc["streets"] <= sc["group_by_streets"]
    assert sc["petitions_match"]


CHECKS["petitions"] = _check_petitions


def _check_maps(r: dict[str, Any]) -> None:
    ns = sorted(r["by_n"])
    assert len(ns) >= 2 and r["cells_district"] >= r["cells_street"] > 0
    first, last = r["by_n"][ns[0]], r["by_n"][ns[-1]]
    for v in r["by_n"].values():
        assert v["ours_bytes"] > 0 and v["heat_bytes"] > 0 and v["ours_build_s"] > 0 and v["heat_build_s"] > 0
    # flat: ours is bounded by the area (heat bins fill up), the raw HeatMap grows with the points
    ours_growth = last["ours_bytes"] / first["ours_bytes"]
    heat_growth = last["heat_bytes"] / first["heat_bytes"]
    assert ours_growth < 2.0, f"ours grew x{ours_growth:.2f} from {ns[0]:,} to {ns[-1]:,} petitions"
    assert heat_growth > 3 * ours_growth
    assert last["ours_bytes"] < last["heat_bytes"]
    # topology: neighbours still meet after simplification and quantisation; per-polygon simplify opens gaps
    topo = r["topology"]
    ours, naive = topo["ours"], topo["naive"]
    cells = ours["cells"]
    hint = (
        f"maps.aggregate.simplify_coverage: overlap {ours['overlap_m2']:.0f} m2, gap {ours['gap_m2']:.0f} m2 "
        f"on {cells:.0f} cells (input a valid coverage: {topo['input_is_coverage']}; after shapely.coverage_clean: "
        f"{topo['cleaned_first']['overlap_m2']:.0f} / {topo['cleaned_first']['gap_m2']:.0f} m2)"
    )
    assert ours["overlap_m2"] < cells and ours["gap_m2"] < cells, hint
    assert ours["pairs_apart"] == 0
    assert naive["gap_m2"] > ours["gap_m2"]
    # every page drew one Leaflet map in Chromium, without a JavaScript error
    for name, v in r["render"].items():
        assert v["best_s"] > 0 and v["maps"] == 1, name
        assert v["svg_paths"] + v["canvases"] > 0, name
        assert not v["errors"], f"{name}: {v['errors']}"


CHECKS["maps"] = _check_maps


def _check_insights(r: dict[str, Any]) -> None:
    validation = r["validation"]
    assert set(validation) == {str(rate) for rate in r["params"]["rates"]}
    for v in validation.values():
        assert v["petitions"] > 0
        for name in ("hotspots", "surges", "repeat_places", "rising_phrase"):
            s = v[name]
            assert s["planted"] > 0 and 0 <= s["found"] <= s["planted"], name
            assert 0 <= s["true_flags"] <= s["flags"], name
            for fig in (s, s["baseline"]):
                for key in ("recall", "precision"):
                    assert fig[key] is None or 0.0 <= fig[key] <= 1.0, (name, key, fig)
            assert s["recall"] == s["found"] / s["planted"]
        # the sample is seeded: its three planted repeat places and the planted phrase are found
        assert v["repeat_places"]["recall"] == 1.0
        assert v["rising_phrase"]["found"] == 1
    u = r["weekly_update"]
    assert u["cells"] == r["params"]["cells"] and 0 < u["week_placed"] <= u["week_petitions"]
    parts = u["parts"]
    assert set(parts) == {"counts", "surges", "hotspots", "repeat_places", "term_counts", "emerging_topics"}
    for name, p in parts.items():
        assert p["s"] > 0 and p["baseline_s"] > 0, name
    assert math.isclose(u["total_s"], sum(p["s"] for p in parts.values()), rel_tol=1e-9)
    assert parts["term_counts"]["texts"] == u["week_petitions"]
    cb = u["cache_build"]
    timed_parts = ("weekly_counts_s", "doc_counts_s", "cell_weights_s", "term_counts_s")
    assert all(cb[k] > 0 for k in timed_parts)
    assert math.isclose(cb["total_s"], sum(cb[k] for k in timed_parts), rel_tol=1e-9)
    assert cb["term_counts_extrapolated_from"] == r["params"]["text_sample"]
    assert cb["history_rows"] > u["week_petitions"]


CHECKS["insights"] = _check_insights


def _check_load(r: dict[str, Any]) -> None:
    mix, trivial = r["mix"], r["trivial"]
    assert set(mix["kinds"]) == {"jurisdiction", "geocode", "intake"}, "every kind of the mix was sent"
    for name, phase in (("warm-up", r["warmup"]), ("mix", mix), ("/ping", trivial)):
        assert phase["requests"] > 0 and phase["errors"] == 0, (name, phase["errors_by_status"])
        for kind, k in phase["kinds"].items():
            # every answer has the expected status (201 for intake: no external_id was replayed)
            assert k["status"] == {str(r["expected_status"][kind]): k["requests"]}, (name, kind, k["status"])
            assert k["requests"] > 0 and k["rps"] > 0
            assert 0 < k["p50_ms"] <= k["p99_ms"] and math.isfinite(k["p99_ms"]), (name, kind)
    assert mix["rps"] > 0 and trivial["rps"] > 0 and r["throughput_ratio"] > 0
    assert sum(mix["intake_outcomes"].values()) == mix["kinds"]["intake"]["requests"]
    rss = r["rss"]
    assert rss["after_warmup_mb"] > 0 and rss["end_mb"] > 0
    assert math.isfinite(rss["ratio"]) and rss["ratio"] > 0 and isinstance(rss["met"], bool)
    assert r["server_alive"]
    # the run's petitions were deleted: those of the warm-up and the mix, and no more
    taken_in = sum(p["kinds"].get("intake", {}).get("requests", 0) for p in (r["warmup"], mix))
    assert r["petitions_deleted"] == taken_in


CHECKS["load"] = _check_load


def _check_real_cities(r: dict[str, Any]) -> None:
    assert r["layers"], "at least one layer per city"
    assert {k.split("/")[0] for k in r["layers"]} == {"boston", "los_angeles", "baltimore"}
    for key, f in r["layers"].items():
        assert f["rows_in"] == f["rows_out"] == f["records_in_file"], key  # no row lost
        assert 0 < f["judged"] <= f["with_coordinates_and_label"], key
        for who in ("ours", "sjoin"):
            m = f[who]
            assert sum(m["by_kind"].values()) == m["misses"] == f["judged"] - m["agree"], (key, who)
        assert f["meets_bar"] and f["ours"]["pct"] >= f["sjoin"]["pct"] - r["params"]["bar_points"], (key, f)


CHECKS["real_cities"] = _check_real_cities
