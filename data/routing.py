"""The routing catalogue: departments of every place and who handles which category where.

``build_routing(districts, streets, categories)`` returns ``(departments, rules)``:

* **departments**, one per (place, kind), with stable codes ``{unit_code}-{kind}``:
  ``110105-cgw`` 朝阳区城市管理委员会, ``110105-gov`` 朝阳区人民政府, ``110105016-cgb``
  双井街道城市管理办公室. District kinds are the district's commissions and bureaus, the
  police and fire services in the district, and the utility companies serving it; street kinds
  are the street's own offices (城市管理办公室, 平安建设办公室, 社区建设办公室, 民生保障办公室,
  综合行政执法队). See :func:`department_kinds`.
* **rules** ``{category_code, unit_code, department_code, role}``: for **every district
  and every top category** a lead (and 0-2 co-handlers) at district level, more specific
  district rules for many sub-categories, and **street-level overrides in every street** for
  the matters a street handles itself (违法建设 and 暴露垃圾 led by the street's
  城市管理办公室 with the district's 城管执法 as co-handler; 物业管理 led by the street's
  社区建设办公室 with the district's 住建委; 群租房, 占道经营, 小广告, 垃圾分类, 养老 ...).
  Every rule names a department *of that place*, never a department in general.

Resolution (:func:`grid.routing.resolve`): the nearest unit up the chain that has rules for the
category wins; else the parent category, the same way; else the district government (属地兜底).

Department names follow Beijing usage but are generated: check them against the district's
published organisation chart before production use. Utility companies (heat, gas, power, water)
are listed per district as the branch serving it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grid.errors import InputError
from grid.routing import CITY_HOTLINE_KIND, GOV_KIND

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = [
    "CATEGORIES_PATH",
    "CITY_HOTLINE_KIND",
    "CITY_RULES",
    "DEPARTMENT_KINDS",
    "DISTRICT_RULES",
    "STREET_RULES",
    "build_routing",
    "department_kinds",
    "load_catalogue",
    "load_categories",
]

CATEGORIES_PATH = Path(__file__).resolve().parent / "categories.json"

# kind -> (level, name template, English name). {d}: district name (朝阳区); {ds}: short district name
# (朝阳); {s}: street name (双井街道).
DEPARTMENT_KINDS: dict[str, tuple[str, str, str]] = {
    GOV_KIND: ("district", "{d}人民政府", "District government (fallback owner)"),
    "cgw": ("district", "{d}城市管理委员会", "Urban management commission"),
    "cgzf": ("district", "{d}城市管理综合行政执法局", "Urban management enforcement bureau (城管执法)"),
    "zjw": ("district", "{d}住房和城乡建设委员会", "Housing and urban-rural development commission"),
    "ghzr": ("district", "北京市规划和自然资源委员会{ds}分局", "Planning and natural resources branch"),
    "ylj": ("district", "{d}园林绿化局", "Landscaping and greening bureau"),
    "jtw": ("district", "{d}交通委员会", "Transport commission"),
    "jgzd": ("district", "北京市公安局公安交通管理局{ds}交通支队", "Traffic police detachment (交管支队)"),
    "scjg": ("district", "{d}市场监督管理局", "Market regulation bureau"),
    "swj": ("district", "{d}水务局", "Water affairs bureau"),
    "gafj": ("district", "北京市公安局{ds}分局", "Public security sub-bureau (police)"),
    "xfjy": ("district", "{d}消防救援支队", "Fire and rescue detachment"),
    "sthj": ("district", "北京市{d}生态环境局", "Ecology and environment bureau"),
    "wjw": ("district", "{d}卫生健康委员会", "Health commission"),
    "rsj": ("district", "{d}人力资源和社会保障局", "Human resources and social security bureau"),
    "jw": ("district", "{d}教育委员会", "Education commission"),
    "mzj": ("district", "{d}民政局", "Civil affairs bureau"),
    "yjj": ("district", "{d}应急管理局", "Emergency management bureau"),
    "rfb": ("district", "{d}人民防空办公室", "Civil defence office"),
    "jxj": ("district", "{d}经济和信息化局", "Economy and information technology bureau"),
    "zwfw": ("district", "{d}政务服务管理局", "Government services administration"),
    "heat": ("district", "北京热力{ds}供热服务中心", "Heating company (branch serving the district)"),
    "gas": ("district", "北京燃气{ds}分公司", "Gas company (branch serving the district)"),
    "power": ("district", "国网北京{ds}供电公司", "Power company (branch serving the district)"),
    "water": ("district", "北京自来水集团{ds}供水服务中心", "Water company (branch serving the district)"),
    "cgb": ("street", "{s}城市管理办公室", "Street urban management office"),
    "pab": ("street", "{s}平安建设办公室", "Street public safety office"),
    "sqb": ("street", "{s}社区建设办公室", "Street community building office (incl. property management)"),
    "mzb": ("street", "{s}民生保障办公室", "Street livelihood and social security office"),
    "zfd": ("street", "{s}综合行政执法队", "Street comprehensive enforcement team"),
}

# District-level rules: category -> (lead kind, co kinds). Every 12345 and CJ/T 214 top category has
# one; sub-categories listed here get their own; the others inherit their top category's rule.
DISTRICT_RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    # 12345 top categories
    "HL01": ("scjg", ()),
    "HL02": ("cgw", ()),
    "HL03": ("zjw", ()),
    "HL04": ("wjw", ()),
    "HL05": ("zjw", ("cgzf",)),
    "HL06": ("jtw", ("jgzd",)),
    "HL07": ("gafj", ()),
    "HL08": ("rsj", ()),
    "HL09": ("jw", ()),
    "HL10": ("sthj", ()),
    "HL11": ("ylj", ()),
    "HL12": ("swj", ()),
    "HL13": ("cgw", ("cgzf",)),
    "HL14": ("mzj", ()),
    "HL15": ("zwfw", ()),
    "HL99": (GOV_KIND, ()),
    # 12345 sub-categories
    "HL0201": ("heat", ("cgw",)),
    "HL0202": ("jtw", ()),
    "HL0203": ("water", ("swj",)),
    "HL0204": ("power", ("cgw",)),
    "HL0205": ("gas", ("cgw",)),
    "HL0206": ("gas", ("xfjy", "cgw")),
    "HL0207": ("jxj", ()),
    "HL0301": ("zjw", ("scjg",)),
    "HL0304": ("xfjy", ("scjg", "zjw")),
    "HL0305": ("zjw", ("gafj",)),
    "HL0501": ("cgzf", ("zjw", "sthj")),
    "HL0502": ("cgzf", ("ghzr",)),
    "HL0504": ("zjw", ("ghzr",)),
    "HL0601": ("jtw", ("jgzd",)),
    "HL0602": ("cgw", ("jtw",)),
    "HL0603": ("jgzd", ()),
    "HL0605": ("jtw", ("cgw",)),
    "HL0702": ("gafj", ("zjw",)),
    "HL0703": ("xfjy", ("gafj",)),
    "HL1001": ("sthj", ("gafj",)),
    "HL1003": ("cgzf", ("sthj",)),
    "HL1005": ("cgw", ("cgzf",)),
    "HL1006": ("cgw", ("cgzf",)),
    "HL1103": ("ylj", ("cgzf",)),
    "HL1104": ("ylj", ("cgw",)),
    "HL1202": ("swj", ("cgw",)),
    "HL1301": ("cgzf", ()),
    "HL1302": ("cgzf", ()),
    "HL1303": ("cgw", ()),
    # CJ/T 214 events
    "EV01": ("cgw", ("cgzf",)),
    "EV0101": ("cgzf", ("ghzr",)),
    "EV0105": ("swj", ()),
    "EV0106": ("ylj", ()),
    "EV02": ("cgzf", ("cgw",)),
    "EV03": ("zjw", ("cgzf",)),
    "EV0302": ("sthj", ("zjw", "cgzf")),
    "EV0304": ("cgzf", ()),
    "EV04": ("yjj", ("cgw",)),
    "EV0401": ("cgw", ("jgzd",)),
    "EV0402": ("water", ("swj",)),
    "EV0403": ("gas", ("xfjy",)),
    "EV0404": ("swj", ()),
    "EV05": ("cgzf", ("gafj",)),
    "EV0505": ("jgzd", ()),
    "EV0506": ("jtw", ("cgw",)),
    "EV06": ("cgw", ()),
    # CJ/T 214 components (先属主: the owner of the facility)
    "CP01": ("cgw", ()),
    "CP0101": ("water", ()),
    "CP0102": ("swj", ()),
    "CP0103": ("swj", ()),
    "CP0104": ("swj", ()),
    "CP0105": ("power", ()),
    "CP0110": ("heat", ()),
    "CP0111": ("gas", ()),
    "CP0113": ("xfjy", ()),
    "CP02": ("jtw", ("jgzd",)),
    "CP0205": ("cgw", ()),
    "CP0206": ("cgw", ()),
    "CP0209": ("jgzd", ()),
    "CP0214": ("jgzd", ()),
    "CP03": ("cgw", ()),
    "CP04": ("ylj", ()),
    "CP05": ("zjw", ()),
    "CP0502": ("rfb", ()),
    "CP06": ("cgw", ()),
}

# Street-level overrides, set in every street: category -> (lead kind, co kinds); kinds of either level
# (a street kind means the street's own office, a district kind the district's department).
STREET_RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "HL0502": ("cgb", ("cgzf",)),  # 违法建设: the street leads 拆违, district enforcement joins
    "HL1006": ("cgb", ("cgzf",)),  # 暴露垃圾
    "HL0303": ("sqb", ("zjw",)),  # 物业管理: street 社区建设办公室 (物业科) with 住建委
    "HL0702": ("pab", ("gafj",)),  # 群租房
    "HL1005": ("cgb", ("cgw",)),  # 垃圾分类
    "HL1301": ("cgb", ("zfd",)),  # 占道经营
    "HL1302": ("cgb", ("zfd",)),  # 非法小广告
    "HL1304": ("cgb", ()),  # 环境卫生
    "HL1401": ("mzb", ("mzj",)),  # 养老服务
    "HL1402": ("mzb", ("mzj",)),  # 社会救助
    "EV0101": ("cgb", ("cgzf",)),  # 私搭乱建
    "EV0102": ("cgb", ("cgzf",)),  # 暴露垃圾
    "EV0103": ("cgb", ("cgzf",)),  # 积存垃圾渣土
    "EV0201": ("cgb", ("zfd",)),  # 非法小广告
    "EV0501": ("cgb", ("zfd",)),  # 无照经营游商
    "EV0504": ("cgb", ("zfd",)),  # 店外经营
}


# City-level departments: they answer petitions that need no place (most consultations: 社保政策咨询,
# 入学政策咨询 ...), routed by category alone on the chain ``[city_code]``. {c}: the city's name.
_CITY_KINDS: dict[str, tuple[str, str]] = {
    "12345": ("{c}12345市民服务热线", "The city hotline itself: answers placeless consultations directly"),
    "scjg": ("{c}市场监督管理局", "Market regulation bureau (city)"),
    "jtw": ("{c}交通委员会", "Transport commission (city)"),
    "zjw": ("{c}住房和城乡建设委员会", "Housing and urban-rural development commission (city)"),
    "wjw": ("{c}卫生健康委员会", "Health commission (city)"),
    "gaj": ("{c}公安局", "Public security bureau (city)"),
    "rsj": ("{c}人力资源和社会保障局", "Human resources and social security bureau (city)"),
    "jw": ("{c}教育委员会", "Education commission (city)"),
    "mzj": ("{c}民政局", "Civil affairs bureau (city)"),
    "zwfw": ("{c}政务服务和数据管理局", "Government services and data administration (city)"),
}

# Placeless categories -> city department kind. A placeless category without a rule falls back to the
# hotline itself (``{city}-12345``), never to a district: there is no place to say which district.
CITY_RULES: dict[str, str] = {
    "HL0106": "scjg",
    "HL0202": "jtw",
    "HL0307": "zjw",
    "HL0404": "wjw",
    "HL0604": "jtw",
    "HL0606": "jtw",
    "HL0704": "gaj",
    "HL0803": "rsj",
    "HL0804": "rsj",
    "HL0901": "jw",
    "HL1403": "mzj",
    "HL15": "zwfw",
    "HL1501": "zwfw",
}


def department_kinds() -> list[dict[str, str]]:
    """The department kinds: ``kind`` (code suffix), ``level`` (district | street), ``name_template``
    and ``name_en``. The district government (``gov``) is the fallback owner."""
    return [
        {"kind": k, "level": lv, "name_template": tpl, "name_en": en}
        for k, (lv, tpl, en) in DEPARTMENT_KINDS.items()
    ]


def load_categories(path: str | Path = CATEGORIES_PATH) -> list[dict[str, Any]]:
    """The categories of ``data/categories.json`` (the list, without ``_meta``)."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = raw["categories"] if isinstance(raw, dict) else raw
    return [dict(r) for r in rows]


def _short(district_name: str) -> str:
    for suffix in ("区", "县"):
        if district_name.endswith(suffix) and len(district_name) > 1:
            return district_name[: -len(suffix)]
    return district_name


def _dept_name(kind: str, district_name: str, street_name: str = "") -> str:
    return DEPARTMENT_KINDS[kind][1].format(d=district_name, ds=_short(district_name), s=street_name)


def build_routing(
    districts: Sequence[tuple[str, str]],
    streets: Sequence[tuple[str, str, str]],
    categories: Iterable[Mapping[str, Any]] | Mapping[str, Any],
    city: tuple[str, str] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Departments and routing rules for ``districts`` [(code, name)] and ``streets``
    [(code, name, district_code)], for the given categories (rows with code / parent_code, or the
    categories.json document). Rules are made only for categories present in ``categories``.
    With ``city`` (code, name), also the city departments and the rules of placeless categories on
    unit ``city[0]`` (see :data:`CITY_RULES`). Output is sorted and deterministic."""
    cats = list(categories["categories"]) if isinstance(categories, Mapping) else list(categories)
    codes = {str(c["code"]) for c in cats}
    district_names: dict[str, str] = {}
    for code, name in districts:
        if str(code) in district_names:
            raise InputError(f"district {code} listed twice", code="duplicate_unit")
        district_names[str(code)] = str(name)
    departments: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []

    def dept(unit: str, kind: str, name: str) -> dict[str, Any]:
        return {
            "code": f"{unit}-{kind}",
            "name": name,
            "name_en": DEPARTMENT_KINDS[kind][2],
            "kind": kind,
            "level": DEPARTMENT_KINDS[kind][0],
            "unit_code": unit,
        }

    def rules_for(cat: str, unit: str, lead: str, co: Sequence[str]) -> list[dict[str, Any]]:
        out = [{"category_code": cat, "unit_code": unit, "department_code": lead, "role": "lead"}]
        out.extend({"category_code": cat, "unit_code": unit, "department_code": c, "role": "co"} for c in co)
        return out

    for d_code in sorted(district_names):
        d_name = district_names[d_code]
        for kind, (level, _tpl, _en) in DEPARTMENT_KINDS.items():
            if level == "district":
                departments.append(dept(d_code, kind, _dept_name(kind, d_name)))
        for cat, (lead, co) in DISTRICT_RULES.items():
            if cat not in codes:
                continue
            rules.extend(rules_for(cat, d_code, f"{d_code}-{lead}", [f"{d_code}-{k}" for k in co]))

    seen: set[str] = set()
    for s_code, s_name, d_code in sorted((str(a), str(b), str(c)) for a, b, c in streets):
        if s_code in seen:
            raise InputError(f"street {s_code} listed twice", code="duplicate_unit")
        seen.add(s_code)
        if d_code not in district_names:
            raise InputError(
                f"street {s_code} {s_name} names unknown district {d_code}", code="unknown_parent"
            )
        if not s_code.startswith(d_code):
            raise InputError(
                f"street code {s_code} is not nested in its district's code {d_code}", code="bad_code"
            )
        d_name = district_names[d_code]
        for kind, (level, _tpl, _en) in DEPARTMENT_KINDS.items():
            if level == "street":
                departments.append(dept(s_code, kind, _dept_name(kind, d_name, s_name)))

        def owner(kind: str, s_code: str = s_code, d_code: str = d_code) -> str:
            return f"{s_code if DEPARTMENT_KINDS[kind][0] == 'street' else d_code}-{kind}"

        for cat, (lead, co) in STREET_RULES.items():
            if cat not in codes:
                continue
            rules.extend(rules_for(cat, s_code, owner(lead), [owner(k) for k in co]))

    if city is not None:
        c_code, c_name = str(city[0]), str(city[1])
        for kind, (tpl, en) in _CITY_KINDS.items():
            departments.append(
                {
                    "code": f"{c_code}-{kind}",
                    "name": tpl.format(c=c_name),
                    "name_en": en,
                    "kind": kind,
                    "level": "city",
                    "unit_code": c_code,
                }
            )
        for cat, kind in CITY_RULES.items():
            if cat in codes:
                rules.extend(rules_for(cat, c_code, f"{c_code}-{kind}", []))

    departments.sort(key=lambda d: d["code"])
    rules.sort(key=lambda r: (r["unit_code"], r["category_code"], r["role"] != "lead", r["department_code"]))
    return departments, rules


def load_catalogue(
    session: Session, date: dt.date, categories_path: str | Path = CATEGORIES_PATH
) -> dict[str, int]:
    """Seed the store's catalogue with the sample city's: the categories of ``categories_path`` and
    the departments and rules of :func:`build_routing` for the districts and streets in force at
    ``date`` (:func:`grid.db.catalogue.save_catalogue`, idempotent); the counts."""
    from grid.db.catalogue import save_catalogue

    return save_catalogue(
        session, date, categories=load_categories(categories_path), build_routing=build_routing
    )
