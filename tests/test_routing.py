"""Routing: categories catalogue, generated departments/rules, and resolution up the unit chain."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from data.routing import (
    CATEGORIES_PATH,
    DISTRICT_RULES,
    STREET_RULES,
    build_routing,
    department_kinds,
    load_categories,
)
from grid.errors import ConfigError, InputError
from grid.routing import RuleBook, fallback_department_for, placeless_route, resolve

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "data" / "beijing", Path("/work/shared/data/beijing_divisions_2023")]


def beijing() -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    for d in SOURCES:
        if (d / "beijing_streets.csv").exists() and (d / "beijing_areas.csv").exists():
            a = pd.read_csv(d / "beijing_areas.csv", dtype=str)
            s = pd.read_csv(d / "beijing_streets.csv", dtype=str)
            return list(zip(a["code"], a["name"], strict=True)), list(
                zip(s["code"], s["name"], s["areaCode"], strict=True)
            )
    raise FileNotFoundError(
        "no Beijing division files in data/beijing or /work/shared/data/beijing_divisions_2023"
    )


@pytest.fixture(scope="module")
def cats() -> list[dict]:
    return load_categories()


@pytest.fixture(scope="module")
def catalogue(cats):
    districts, streets = beijing()
    departments, rules = build_routing(districts, streets, cats)
    return districts, streets, departments, rules, RuleBook(rules, cats)


SJ = ["110105016059001", "110105016059", "110105016", "110105"]  # grid, community, street, district
DHM = ["110101001001", "110101001", "110101"]  # a community of 东华门街道, its street, 东城区


# ---- categories.json -----------------------------------------------------------------------------


def test_categories_file_is_consistent(cats):
    raw = json.loads(CATEGORIES_PATH.read_text(encoding="utf-8"))
    assert "_meta" in raw and "codes" in raw["_meta"]
    codes = [c["code"] for c in cats]
    assert len(codes) == len(set(codes))
    by = {c["code"]: c for c in cats}
    for c in cats:
        assert set(c) >= {"code", "name", "name_en", "parent_code", "scheme", "needs_place", "urgency"}
        assert c["scheme"] in {"12345", "cjt214_event", "cjt214_component"}
        assert isinstance(c["needs_place"], bool)
        assert c["urgency"] in {"urgent", "utilities", "general", "complex"}
        assert c["name"] and c["name_en"]
        prefix = {"12345": "HL", "cjt214_event": "EV", "cjt214_component": "CP"}[c["scheme"]]
        assert re.fullmatch(rf"{prefix}\d{{2}}(\d{{2}})?", c["code"]), c["code"]
        if c["parent_code"] is None:
            assert len(c["code"]) == 4
        else:
            assert c["parent_code"] == c["code"][:4] and c["parent_code"] in by
            assert by[c["parent_code"]]["scheme"] == c["scheme"]
        if c["scheme"] != "12345":
            assert c["standard_code"] == c["code"][2:]
    names = {c["name"]: c for c in cats if c["scheme"] == "12345"}
    tops = {c["name"] for c in cats if c["scheme"] == "12345" and c["parent_code"] is None}
    assert {
        "市场监管",
        "公共服务",
        "住房",
        "卫生健康",
        "城乡建设",
        "交通",
        "社会治安",
        "劳动和社会保障",
        "教育",
        "生态环境",
        "园林绿化",
        "水务",
    } <= tops
    for sub, top in [
        ("供暖", "公共服务"),
        ("公交", "公共服务"),
        ("供水", "公共服务"),
        ("供电", "公共服务"),
        ("燃气", "公共服务"),
        ("房屋中介", "住房"),
        ("小区设施", "住房"),
        ("物业管理", "住房"),
        ("施工扰民", "城乡建设"),
        ("违法建设", "城乡建设"),
        ("停车", "交通"),
        ("道路破损", "交通"),
        ("噪声", "生态环境"),
        ("大气污染", "生态环境"),
        ("垃圾分类", "生态环境"),
        ("暴露垃圾", "生态环境"),
    ]:
        assert by[names[sub]["parent_code"]]["name"] == top, sub
    assert names["社保政策咨询"]["needs_place"] is False
    assert names["违法建设"]["needs_place"] is True
    assert names["燃气泄漏"]["urgency"] == "urgent" and names["供暖"]["urgency"] == "utilities"
    ev = {c["code"]: c["name"] for c in cats if c["scheme"] == "cjt214_event" and c["parent_code"] is None}
    cp = {
        c["code"]: c["name"] for c in cats if c["scheme"] == "cjt214_component" and c["parent_code"] is None
    }
    assert ev == {
        "EV01": "市容环境",
        "EV02": "宣传广告",
        "EV03": "施工管理",
        "EV04": "突发事件",
        "EV05": "街面秩序",
        "EV06": "其他事件",
    }
    assert cp == {
        "CP01": "公用设施",
        "CP02": "道路交通",
        "CP03": "市容环境",
        "CP04": "园林绿化",
        "CP05": "房屋土地",
        "CP06": "其他设施",
    }
    assert by["EV0102"]["name"] == "暴露垃圾" and by["EV0103"]["name"] == "积存垃圾渣土"
    assert by["CP0101"]["name"] == "上水井盖"
    for top in list(ev)[:5] + list(cp)[:5]:  # 06 (other) classes have no listed sub-classes
        assert any(c["parent_code"] == top for c in cats), f"{top} has no sub-classes"


# ---- build_routing -------------------------------------------------------------------------------


def test_department_kinds():
    kinds = {k["kind"]: k for k in department_kinds()}
    assert kinds["gov"]["level"] == "district"
    for k in [
        "cgw",
        "cgzf",
        "zjw",
        "ylj",
        "jtw",
        "jgzd",
        "scjg",
        "swj",
        "gafj",
        "sthj",
        "wjw",
        "rsj",
        "jw",
        "heat",
        "gas",
        "power",
    ]:
        assert kinds[k]["level"] == "district", k
    for k in ["cgb", "pab", "sqb"]:
        assert kinds[k]["level"] == "street", k
    used = {k for lead, co in [*DISTRICT_RULES.values(), *STREET_RULES.values()] for k in (lead, *co)}
    assert used <= set(kinds)


def test_departments_are_of_each_place(catalogue):
    districts, streets, departments, rules, _book = catalogue
    codes = [d["code"] for d in departments]
    assert len(codes) == len(set(codes))
    by = {d["code"]: d for d in departments}
    assert by["110105-cgw"]["name"] == "朝阳区城市管理委员会"
    assert by["110105-gov"]["name"] == "朝阳区人民政府"
    assert by["110105016-cgb"]["name"] == "双井街道城市管理办公室"
    assert by["110105016-sqb"]["name"] == "双井街道社区建设办公室"
    assert by["110105-gafj"]["name"] == "北京市公安局朝阳分局"
    n_district = sum(1 for k in department_kinds() if k["level"] == "district")
    n_street = sum(1 for k in department_kinds() if k["level"] == "street")
    assert len(departments) == n_district * len(districts) + n_street * len(streets)
    for d in departments:
        assert d["code"] == f"{d['unit_code']}-{d['kind']}"
    # every rule names an existing department of its own unit or (for street rules) of the street's district
    for r in rules:
        assert r["department_code"] in by
        owner = by[r["department_code"]]["unit_code"]
        assert r["unit_code"].startswith(owner), r
        assert r["role"] in ("lead", "co")


def test_every_district_and_top_category_has_one_lead(catalogue, cats):
    districts, streets, _departments, rules, _book = catalogue
    tops = [c["code"] for c in cats if c["parent_code"] is None]
    leads: dict[tuple[str, str], list[str]] = {}
    for r in rules:
        if r["role"] == "lead":
            leads.setdefault((r["category_code"], r["unit_code"]), []).append(r["department_code"])
    assert all(len(v) == 1 for v in leads.values())
    for d_code, _ in districts:
        for t in tops:
            assert (t, d_code) in leads, (t, d_code)
    # co-handlers: 0-2 per (category, unit), never the lead itself
    co: dict[tuple[str, str], list[str]] = {}
    for r in rules:
        if r["role"] == "co":
            co.setdefault((r["category_code"], r["unit_code"]), []).append(r["department_code"])
    assert all(len(v) <= 2 and leads[k][0] not in v for k, v in co.items())
    # street overrides exist in every street, led by the street's own office
    for s_code, _name, d_code in streets:
        assert leads[("HL0502", s_code)] == [f"{s_code}-cgb"]
        assert co[("HL0502", s_code)] == [f"{d_code}-cgzf"]
        assert leads[("HL1006", s_code)] == [f"{s_code}-cgb"]
        assert leads[("HL0303", s_code)] == [f"{s_code}-sqb"]
        assert co[("HL0303", s_code)] == [f"{d_code}-zjw"]


def test_build_routing_is_deterministic_and_checks_input(cats):
    districts, streets = beijing()
    first = build_routing(districts, streets, cats)
    shuffled = list(streets)
    random.Random(3).shuffle(shuffled)
    assert build_routing(list(reversed(districts)), shuffled, cats) == first
    with pytest.raises(InputError):
        build_routing([("110105", "朝阳区")], [("110101001", "东华门街道", "110101")], cats)
    with pytest.raises(InputError):
        build_routing([("110105", "朝阳区")], [("110106001", "某街道", "110105")], cats)
    with pytest.raises(InputError):
        build_routing([("110105", "朝阳区"), ("110105", "朝阳区")], [], cats)
    # rules only for the categories given
    deps, rules = build_routing(
        [("110105", "朝阳区")],
        [("110105016", "双井街道", "110105")],
        [c for c in cats if c["code"].startswith("HL05")],
    )
    assert {r["category_code"] for r in rules} == {"HL05", "HL0501", "HL0502", "HL0504"}
    assert len(deps) == len(department_kinds())


# ---- resolve -------------------------------------------------------------------------------------


def test_district_rule_inherited_by_street(catalogue):
    *_, book = catalogue
    a = book.resolve("HL0201", SJ)  # 供暖: no street rule -> the district's rule
    assert (a.lead, a.co, a.decided_at_unit, a.category_used, a.fallback) == (
        "110105-heat",
        ["110105-cgw"],
        "110105",
        "HL0201",
        False,
    )
    b = book.resolve("HL0201", DHM)
    assert b.lead == "110101-heat" and b.decided_at_unit == "110101"


def test_street_override_names_the_department_of_that_place(catalogue):
    *_, book = catalogue
    a = book.resolve("HL0502", SJ)  # 违法建设
    assert (a.lead, a.co, a.decided_at_unit, a.category_used) == (
        "110105016-cgb",
        ["110105-cgzf"],
        "110105016",
        "HL0502",
    )
    b = book.resolve("HL0502", DHM)
    assert (b.lead, b.co) == ("110101001-cgb", ["110101-cgzf"])
    c = book.resolve("HL0303", SJ)  # 物业管理
    assert (c.lead, c.co) == ("110105016-sqb", ["110105-zjw"])
    # the override applies to the street; a chain that stops at the district gets the district's rule
    d = book.resolve("HL0502", ["110105"])
    assert (d.lead, d.decided_at_unit) == ("110105-cgzf", "110105")
    # a nearer unit (a community) with its own rule beats the street
    extra = [
        {
            "category_code": "HL0502",
            "unit_code": "110105016059",
            "department_code": "110105016-zfd",
            "role": "lead",
        }
    ]
    e = resolve("HL0502", SJ, [*catalogue[3], *extra], load_categories())
    assert (e.lead, e.co, e.decided_at_unit) == ("110105016-zfd", [], "110105016059")


def test_parent_category_fallback(catalogue):
    *_, book = catalogue
    a = book.resolve("HL0106", SJ)  # 市场监管政策咨询: no rule of its own
    assert (a.lead, a.category_used, a.decided_at_unit, a.fallback) == (
        "110105-scjg",
        "HL01",
        "110105",
        False,
    )
    assert "parent category" in a.reason
    b = book.resolve("EV0107", SJ)  # 废弃车辆 -> 市容环境
    assert (b.lead, b.co, b.category_used) == ("110105-cgw", ["110105-cgzf"], "EV01")
    # the category's own rule at the district beats the parent's rule at the street
    cats: list[dict[str, Any]] = [{"code": "T", "parent_code": None}, {"code": "T1", "parent_code": "T"}]
    rules: list[dict[str, Any]] = [
        {"category_code": "T", "unit_code": "S", "department_code": "S-a", "role": "lead"},
        {"category_code": "T1", "unit_code": "D", "department_code": "D-b", "role": "lead"},
    ]
    c = resolve("T1", ["S", "D"], rules, cats)
    assert (c.lead, c.decided_at_unit, c.category_used) == ("D-b", "D", "T1")


def test_district_government_fallback(cats):
    extra = [
        *cats,
        {"code": "ZZ01", "name": "新类别", "parent_code": None},
        {"code": "ZZ0101", "parent_code": "ZZ01"},
    ]
    _deps, rules = build_routing([("110105", "朝阳区")], [("110105016", "双井街道", "110105")], extra)
    a = resolve("ZZ0101", SJ, rules, extra)
    assert (a.lead, a.co, a.fallback, a.decided_at_unit, a.category_used) == (
        "110105-gov",
        [],
        True,
        None,
        None,
    )
    assert "属地兜底" in a.reason
    # the district, not the city, when the chain goes up to the city
    assert resolve("ZZ01", ["110105016", "110105", "110000"], rules, extra).lead == "110105-gov"
    assert fallback_department_for(["110105016059", "110105016", "110105"]) == "110105-gov"
    assert fallback_department_for(["X1", "X"]) == "X-gov"
    assert resolve("ZZ01", SJ, rules, extra, fallback_department="110105-zwfw").lead == "110105-zwfw"


def test_co_handlers_ordered_deterministically():
    cats: list[dict[str, Any]] = [{"code": "A", "parent_code": None}]
    rules: list[dict[str, Any]] = [
        {"category_code": "A", "unit_code": "D", "department_code": "D-lead", "role": "lead"},
        {"category_code": "A", "unit_code": "D", "department_code": "D-zz", "role": "co"},
        {"category_code": "A", "unit_code": "D", "department_code": "D-aa", "role": "co"},
        {"category_code": "A", "unit_code": "D", "department_code": "D-mm", "role": "co", "order": -1},
        {"category_code": "A", "unit_code": "D", "department_code": "D-aa", "role": "co"},  # duplicate
        {"category_code": "A", "unit_code": "D", "department_code": "D-lead", "role": "co"},  # the lead again
    ]
    answers = set()
    for seed in range(20):
        shuffled = list(rules)
        random.Random(seed).shuffle(shuffled)
        answers.add(tuple(resolve("A", ["D"], shuffled, cats).co))
    assert answers == {("D-mm", "D-aa", "D-zz")}


def test_every_category_resolves_for_every_beijing_street(catalogue, cats):
    districts, streets, departments, _rules, book = catalogue
    assert len(streets) > 300 and len(districts) == 16
    dept = {d["code"]: d for d in departments}
    fallbacks = 0
    for s_code, _name, d_code in streets:
        chain = [s_code + "001", s_code, d_code]
        for c in cats:
            a = book.resolve(c["code"], chain)
            fallbacks += a.fallback
            assert a.lead in dept
            assert all(x in dept for x in a.co)
            # the answer is a department of this place: the street's own or its district's
            assert dept[a.lead]["unit_code"] in (s_code, d_code)
            assert all(dept[x]["unit_code"] in (s_code, d_code) for x in a.co)
            assert a.lead not in a.co
    assert fallbacks == 0


def test_resolve_errors_and_dates():
    cats = [{"code": "A", "parent_code": None}]
    two = [
        {"category_code": "A", "unit_code": "D", "department_code": "D-x", "role": "lead"},
        {"category_code": "A", "unit_code": "D", "department_code": "D-y", "role": "lead"},
    ]
    with pytest.raises(ConfigError):
        resolve("A", ["D"], two, cats)
    with pytest.raises(InputError):
        resolve("B", ["D"], two[:1], cats)
    with pytest.raises(InputError):
        resolve("A", [], two[:1], cats)
    with pytest.raises(InputError):
        resolve("A", ["D"], two[:1])
    with pytest.raises(ConfigError):
        resolve("A", ["D"], [{**two[0], "role": "boss"}], cats)
    with pytest.raises(ConfigError):
        resolve("A", ["D"], two[:1], [{"code": "A", "parent_code": "B"}, {"code": "B", "parent_code": "A"}])
    # co rules without a lead at a unit are a configuration error, not a silent skip
    with pytest.raises(ConfigError):
        resolve(
            "A",
            ["S", "D"],
            [*two[:1], {"category_code": "A", "unit_code": "S", "department_code": "S-z", "role": "co"}],
            cats,
        )
    # validity dates: an expired street rule no longer overrides the district
    dated: list[dict[str, Any]] = [
        two[0],
        {
            "category_code": "A",
            "unit_code": "S",
            "department_code": "S-new",
            "role": "lead",
            "valid_from": "2024-01-01",
            "valid_to": None,
        },
        {
            "category_code": "A",
            "unit_code": "S",
            "department_code": "S-old",
            "role": "lead",
            "valid_from": "2020-01-01",
            "valid_to": "2024-01-01",
        },
    ]
    assert resolve("A", ["S", "D"], dated, cats, date=dt.date(2023, 6, 1)).lead == "S-old"
    assert resolve("A", ["S", "D"], dated, cats, date=dt.date(2024, 6, 1)).lead == "S-new"
    assert resolve("A", ["S", "D"], dated, cats, date=dt.date(2019, 6, 1)).lead == "D-x"
    assert resolve("A", ["D"], two[:1], {"categories": cats}).lead == "D-x"  # the categories.json document


def test_a_placeless_category_without_a_city_rule_goes_to_the_city_hotline() -> None:
    """grid.routing.placeless_route: the city's rule when it has one, else the hotline itself."""
    cats = load_categories()
    departments, rules = build_routing([("110105", "朝阳区")], [], cats, city=("110000", "北京市"))
    names = {d["code"]: d["name"] for d in departments}
    ruled = resolve("HL0803", ["110000"], rules, cats).to_dict()
    assert ruled["fallback"] is False
    assert placeless_route(ruled, "110000") == ruled  # a city rule decided: kept as it is
    without = [r for r in rules if not (r["unit_code"] == "110000" and r["category_code"].startswith("HL08"))]
    fell = resolve("HL0803", ["110000"], without, cats).to_dict()
    assert fell["fallback"] is True and fell["lead"] != "110000-12345"
    out = placeless_route(fell, "110000", names)
    assert out["lead"] == "110000-12345" and out["co"] == []
    assert out["lead_name"] == names["110000-12345"] and out["co_names"] == []
    assert "hotline" in out["reason"]
    assert fell["lead"] != out["lead"]  # a copy: the answer given is not changed
