"""Synthetic 12345 petitions: a realistic year for the sample street, and a Beijing-size year.

Two generators, both deterministic (a numpy ``Generator`` per named stream, derived from the
seed; no global random state; the same seed and inputs give byte-identical files):

``generate_year(buildings, categories, year=, seed=, rate=)`` → ``(petitions, manifest)``
    A year of petitions for a set of buildings (the 双井 sample street: ``demo_buildings()``),
    with the intake fields a 12345 centre exports (text, category, type, channel, address as the
    resident gave it, GPS coordinates in WGS84 or GCJ-02, contact), the ground truth (building,
    cell, community) and a simulated handling history (accepted, resolved, callback, closed).
    The manifest records the effects planted for the evaluation of the insight detectors
    (hotspots, surges, repeat places, a rising phrase). ``write()`` stores them.

``generate_city(n, cells=, out=)``
    A Beijing-size year (20 million rows by default) of the columns the scores and dashboards
    read, fully vectorised and written as chunked Parquet; for benchmarks only.

Volume
------
``rate`` is petitions per household per year. Beijing's 12345 takes some 20-22 million
petitions a year for about 9 million households: ~2.4 per household. The default 0.5 gives ~20k
petitions for 双井's ~45k households (small enough for tests and demos). The count is
``rate × households`` (the hotspots' extra is inside that total: the background is scaled so
the expectation is exact) plus the few hundred planted surge, repeat and phrase petitions.

Realism of the background
-------------------------
* **Where**: petitions ∝ households × a per-building propensity (gamma, shape 8, clipped to
  [0.5, 1.6]: some buildings are noisier; a cell's rate per household is capped at 1.5x the
  median cell so that no cell is naturally as hot as a planted hotspot; the natural spread is in
  ``manifest["background"]``) × a per-building, per-top-category
  propensity (gamma, shape 8) × building kind
  (walk-ups complain more about heating, sewers and renovation, towers about lifts and property
  management) × a few *chronic places* (a building-category pair at 1.6-3x all year, kept below
  the repeat-place threshold and listed in ``manifest["background"]``).
* **When**: weekdays above weekends, public holidays low (Spring Festival lowest; the Chinese
  working calendar of :mod:`grid.workcal`, with make-up working days), per-category seasons
  (heating: the season runs 15 Nov-15 Mar and complaints pile up from the start of heating in
  mid-November through December; 积水 and 排水 in the July-August rains; trees, greening, pests,
  noise and barbecue fumes in summer; unpaid wages before Spring Festival; school admission in
  spring), hours peaking 9-11 and 14-17, the hotline also at night, noise in the evening (later
  in summer), grid patrols in working hours.
* **Who and how**: channel hotline 70% / app 15% / wechat 10% / grid_patrol 5% (grid patrols
  only report street matters; their reports use the CJ/T 214 event code where one matches, e.g.
  占道经营 → EV0501, and the grid officer as contact). Types: consultations ~35% of placed
  petitions, and every petition of a ``needs_place: false`` category (no place, no address, no
  coordinates, no ground-truth building). Texts from templates per category, mentioning the
  place colloquially most of the time. Addresses as residents give them: standard 40%,
  colloquial 45% (compound + building, road + number, landmark + direction, crossing), none 15%
  when coordinates exist. About half the app/wechat/grid petitions carry GPS coordinates
  (10-30 m from the building); 30% of the app ones in GCJ-02.
* **Handling**: clerk urgency "urgent" for half the petitions of urgent categories; resolution
  times by urgency class (urgent within hours, utilities within a day or two, general 1-6
  working days with ~8% beyond the 7-working-day limit, complex ~10% beyond 15 working days;
  working days from :mod:`grid.workcal`), callbacks about a day later (5% impossible, with a
  reason), closing after a review of ~2-3 days,
  resolved ~85%, satisfied ~75% / basically ~15% / unsatisfied ~10%, worse when late; each
  community has its own speed and satisfaction so the scores differ between units. The history
  is a snapshot at the end of the year: petitions of the last days are still open.

Planted effects (``manifest``)
------------------------------
* ``hotspots`` (3): cells (``cell_code``) of ≥ 200 households in three different communities,
  chosen among cells whose own background per household is within 1.0-1.1x the median cell (so
  the factor is also about the ratio to the mean of the other cells), with all their petitions
  multiplied by ``factor`` ∈ [2.0, 2.5] for the whole year (one) or for 10-13 weeks (two).
* ``surges`` (3): one (cell, category, ISO week) each, in cells without other planted effects;
  ``planted_count`` petitions are added to a week whose expected background is
  ``baseline_per_week``, so that ``factor`` = (baseline + planted) / baseline ∈ [1.5, 3]. The
  candidates are cell-category-weeks whose weekly background is locally flat (within 0.8-1.25 of
  the 3 weeks either side, so the nearby weeks are a fair baseline), not in the first or the
  last two weeks, outside the hotspot cells, in categories that grid patrols do not recode.
  Taken first: those that can be made clear within the cap (distinct categories and
  communities, then any category), else the largest backgrounds. ``p_value`` is the Poisson
  tail P(X ≥ baseline + planted | baseline) and ``clear`` says whether it is below 1e-4.
  **A ≤ 3x surge needs a background of ~6 a week to be clear, and at ~300 households per cell
  one category of one cell rarely has that**: at the default rate 0.5 the largest is heating in
  early December, ~2.5 a week (p ≈ 0.005, not clear); at Beijing's real rate (2.4) heating
  there reaches 8-12 a week and the three surges are clear heating outbreaks at factor
  2.3-2.7. ``surge_max_factor`` can raise the cap for an evaluation that wants clear cell-level
  surges at a low rate.
* ``repeat_places`` (3): a building with 7-9 petitions of one category within 18-27 days
  (mostly from one or two persistent callers: "之前已经反映过N次").
* ``rising_phrase``: the share of placed petitions in the street whose text contains the phrase
  (飞线充电) rises by ``factor`` ∈ [1.9, 2.3] over the last 8 weeks of the year (ramping up;
  no week above 3x) from its background share (~1.1% in the sample street, present all year),
  by extra petitions (HL0703 消防安全隐患, HL0302 小区设施) spread over the street.

Cells: the generator takes the cell of each building from the ``cell_code`` column (in the
product the database decides it); ``demo_buildings()`` makes stand-in cells for tests.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import typer

from data.routing import load_categories
from grid import lifecycle
from grid.errors import InputError

__all__ = [
    "GENERATOR_VERSION",
    "INTAKE_COLUMNS",
    "RISING_PHRASE",
    "TRUTH_COLUMNS",
    "default_cache_dir",
    "demo_buildings",
    "generate_city",
    "generate_year",
    "load_categories",
    "synthetic_cells",
    "write",
]

GENERATOR_VERSION: Final = "gridgov.sample_petitions/1.0"
HERE: Final = Path(__file__).resolve().parent
BUILDINGS_CSV: Final = HERE / "build" / "buildings" / "buildings.csv"
GAZETTEER: Final = HERE / "build" / "buildings" / "gazetteer.geojson"
RISING_PHRASE: Final = "飞线充电"
CITY_CODE: Final = "110000"
CITY_TZ: Final = "Asia/Shanghai"
CITY_UTC_OFFSET_S: Final = 8 * 3600  # Asia/Shanghai: UTC+8 all year (no DST since 1991)

# the columns of grid.lifecycle's petitions CSV that the sample fills (it has no e-mail addresses)
INTAKE_COLUMNS: Final = tuple(c for c in lifecycle.INTAKE_COLUMNS if c != "contact_email")
TRUTH_COLUMNS: Final = (
    *INTAKE_COLUMNS,
    "true_building_id",
    "true_cell_code",
    "true_community_code",
    "accepted_at",
    "resolved_at",
    "callback_at",
    "closed_at",
    "callback_resolved",
    "callback_satisfaction",
    "callback_none_reason",
    "final_status",
)

NAT: Final = np.iinfo(np.int64).min  # NaT sentinel of the int64 second/microsecond arrays
DAY_S: Final = 86_400
HOUR_S: Final = 3_600

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

CHANNELS: Final = ("hotline", "app", "wechat", "grid_patrol")
TYPES: Final = ("consultation", "complaint", "help", "report", "suggestion")
SATISFACTION: Final = ("satisfied", "basically_satisfied", "unsatisfied")
CLASSES: Final = ("urgent", "utilities", "general", "complex")
NONE_REASONS: Final = (  # (reason, probability, was a callback attempted)
    ("电话无法接通", 0.35, True),
    ("来电人拒绝回访", 0.25, False),
    ("电话关机", 0.15, True),
    ("多次联系未接听", 0.15, True),
    ("来电人要求不回访", 0.10, False),
)

# --- the category model ---------------------------------------------------------------------------

#: relative volume of each 12345 sub-category (1.0 when not listed): an urban residential street
WEIGHTS: Final[Mapping[str, float]] = {
    "HL0101": 1.2, "HL0102": 3.0, "HL0103": 0.8, "HL0104": 0.6, "HL0105": 1.5, "HL0106": 0.8,
    "HL0201": 7.0, "HL0202": 1.0, "HL0203": 2.0, "HL0204": 1.5, "HL0205": 1.0, "HL0206": 0.3,
    "HL0207": 1.0, "HL0301": 1.0, "HL0302": 4.0, "HL0303": 8.0, "HL0304": 0.4, "HL0305": 1.5,
    "HL0306": 2.0, "HL0307": 1.5, "HL0401": 1.0, "HL0402": 1.0, "HL0403": 0.5, "HL0404": 1.0,
    "HL0501": 3.0, "HL0502": 2.0, "HL0503": 1.0, "HL0504": 0.3, "HL0601": 4.0, "HL0602": 1.5,
    "HL0603": 0.6, "HL0604": 1.0, "HL0605": 1.2, "HL0606": 1.5, "HL0701": 1.0, "HL0702": 0.8,
    "HL0703": 2.0, "HL0704": 0.8, "HL0801": 1.5, "HL0802": 1.0, "HL0803": 2.5, "HL0804": 1.0,
    "HL0901": 1.2, "HL0902": 0.8, "HL0903": 0.6, "HL1001": 5.0, "HL1002": 1.0, "HL1003": 1.5,
    "HL1004": 0.2, "HL1005": 1.5, "HL1006": 2.0, "HL1101": 1.5, "HL1102": 0.6, "HL1103": 0.5,
    "HL1104": 0.3, "HL1201": 1.5, "HL1202": 0.8, "HL1203": 0.1, "HL1301": 2.0, "HL1302": 0.8,
    "HL1303": 1.0, "HL1304": 1.5, "HL1305": 0.3, "HL1401": 1.0, "HL1402": 0.6, "HL1403": 0.8,
    "HL1501": 3.0, "HL1502": 0.5, "HL99": 2.0,
}  # fmt: skip

#: monthly volume profile (Jan..Dec, mean ~1), interpolated to days; flat when not listed
MONTHLY: Final[Mapping[str, tuple[float, ...]]] = {
    "HL0203": (0.8, 0.8, 0.8, 0.9, 1.0, 1.2, 1.4, 1.4, 1.1, 0.9, 0.9, 1.0),
    "HL0204": (0.8, 0.7, 0.7, 0.8, 1.0, 1.4, 1.7, 1.6, 1.0, 0.8, 0.8, 0.9),
    "HL0205": (1.3, 1.1, 0.9, 0.8, 0.7, 0.7, 0.7, 0.7, 0.8, 1.0, 1.4, 1.5),
    "HL0206": (1.3, 1.2, 1.0, 0.9, 0.8, 0.7, 0.7, 0.7, 0.8, 1.0, 1.3, 1.4),
    "HL0402": (0.3, 0.3, 0.5, 0.8, 1.3, 1.8, 2.2, 2.0, 1.4, 0.8, 0.4, 0.3),
    "HL0501": (0.6, 0.4, 0.9, 1.2, 1.3, 1.3, 1.2, 1.2, 1.2, 1.1, 1.0, 0.6),
    "HL0503": (0.6, 0.4, 0.9, 1.2, 1.3, 1.3, 1.2, 1.2, 1.2, 1.1, 1.0, 0.6),
    "HL0605": (0.6, 0.6, 0.9, 1.2, 1.3, 1.2, 1.1, 1.1, 1.3, 1.2, 0.9, 0.6),
    "HL0801": (1.8, 1.2, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.8, 0.9, 1.3, 1.9),
    "HL0901": (0.5, 0.5, 0.8, 1.6, 2.2, 1.8, 1.2, 1.4, 0.8, 0.4, 0.4, 0.4),
    "HL0903": (1.0, 0.5, 1.1, 1.1, 1.1, 1.1, 0.4, 0.5, 1.4, 1.2, 1.2, 1.1),
    "HL1001": (0.6, 0.6, 0.8, 1.0, 1.2, 1.5, 1.6, 1.5, 1.2, 0.9, 0.6, 0.5),
    "HL1002": (1.2, 1.0, 1.5, 1.5, 1.0, 0.8, 0.7, 0.7, 0.8, 1.0, 1.1, 1.2),
    "HL1003": (0.6, 0.6, 0.8, 1.0, 1.3, 1.5, 1.6, 1.5, 1.2, 0.9, 0.6, 0.5),
    "HL1006": (1.3, 1.2, 1.0, 1.0, 1.0, 1.0, 1.1, 1.1, 1.0, 1.0, 0.9, 0.9),
    "HL1101": (0.3, 0.3, 0.6, 1.0, 1.6, 1.9, 1.8, 1.6, 1.3, 0.8, 0.5, 0.3),
    "HL1102": (0.3, 0.3, 0.6, 1.1, 1.5, 1.7, 1.7, 1.6, 1.2, 0.9, 0.6, 0.3),
    "HL1103": (0.6, 0.6, 1.0, 1.2, 1.3, 1.2, 1.1, 1.1, 1.0, 1.0, 0.8, 0.6),
    "HL1104": (0.3, 0.3, 0.5, 0.8, 0.9, 1.4, 2.8, 2.4, 1.0, 0.6, 0.5, 0.4),
    "HL1201": (0.7, 0.6, 0.7, 0.8, 0.9, 1.2, 1.9, 1.8, 1.1, 0.8, 0.7, 0.8),
    "HL1202": (0.05, 0.05, 0.1, 0.3, 0.6, 1.5, 4.5, 3.8, 0.9, 0.3, 0.1, 0.05),
    "HL1203": (0.4, 0.4, 0.7, 1.0, 1.3, 1.5, 1.6, 1.5, 1.2, 0.9, 0.6, 0.4),
    "HL1301": (0.6, 0.6, 0.8, 1.0, 1.2, 1.4, 1.5, 1.4, 1.2, 1.0, 0.7, 0.6),
    "HL1303": (1.3, 1.2, 1.0, 0.9, 0.8, 0.7, 0.7, 0.8, 0.9, 1.1, 1.3, 1.4),
    "HL1304": (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.3, 1.4, 1.0),
}
HEATING: Final = "HL0201"
NOISY: Final = frozenset({"HL1001", "HL0501"})  # evening/night hour profile
#: building kind → {category: factor} (walk-ups are old: heating, sewers, renovation; no lifts)
KIND_EFFECTS: Final[Mapping[str, Mapping[str, float]]] = {
    "walkup": {"HL0201": 1.4, "HL0306": 2.5, "HL1201": 1.3, "HL0304": 0.05, "HL0302": 0.8},
    "midrise": {"HL0306": 0.7},
    "tower": {"HL0302": 1.3, "HL0304": 2.0, "HL0303": 1.2, "HL0306": 0.3},
}
#: street matters a grid patrol reports, and the CJ/T 214 code its report uses (None: the 12345 code)
PATROL_CODES: Final[Mapping[str, str | None]] = {
    "HL1301": "EV0501", "HL1302": "EV0201", "HL1304": "EV0104", "HL1006": "EV0102",
    "HL0502": "EV0101", "HL0605": "EV0506", "HL0601": "EV0505", "HL1303": "CP0118",
    "HL1305": "EV0202", "HL0503": "EV0304", "HL1005": "CP0305", "HL0602": None,
    "HL1202": None, "HL1103": None,
}  # fmt: skip
REPORT_HEAVY: Final = frozenset({"HL0502", "HL0702", "HL0104", "HL1301", "HL0703", "HL1302"})
HELP_HEAVY: Final = frozenset(
    {"HL0206", "HL0304", "HL1104", "HL0203", "HL0204", "HL0205", "HL1201", "HL1202", "HL1402"}
)
TYPE_P: Final[Mapping[str, tuple[float, ...]]] = {  # consultation, complaint, help, report, suggestion
    "default": (0.40, 0.35, 0.12, 0.08, 0.05),
    "report": (0.15, 0.30, 0.05, 0.45, 0.05),
    "help": (0.22, 0.30, 0.40, 0.04, 0.04),
}
CHRONIC_CATEGORIES: Final = ("HL1003", "HL1001", "HL1201", "HL0303", "HL0601")
REPEAT_CATEGORIES: Final = ("HL1006", "HL1201", "HL1003", "HL1001", "HL0302", "HL1303", "HL0203")
NATURAL_CELL_MAX: Final = 1.5  # cap of a cell's natural rate per household, relative to the median cell
PHRASE_CATEGORIES: Final[Mapping[str, float]] = {"HL0703": 0.35, "HL0302": 0.06}  # share mentioning it

# hour-of-day profiles (relative)
HOURS_HOTLINE: Final = (0.6, 0.4, 0.3, 0.3, 0.3, 0.5, 1.2, 2.8, 5.5, 8.0, 8.5, 7.5,
                        5.5, 5.0, 7.0, 7.8, 7.5, 6.5, 4.8, 4.2, 4.0, 3.4, 2.2, 1.2)  # fmt: skip
HOURS_APP: Final = (1.0, 0.6, 0.3, 0.2, 0.2, 0.4, 1.2, 3.0, 5.0, 6.5, 6.5, 6.0,
                    5.5, 5.0, 5.5, 5.5, 5.5, 5.0, 5.0, 5.8, 6.5, 6.5, 5.0, 2.5)  # fmt: skip
HOURS_PATROL: Final = (0, 0, 0, 0, 0, 0, 0, 0, 6, 9, 9, 8, 3, 2, 8, 9, 9, 7, 0, 0, 0, 0, 0, 0)
HOURS_NOISE: Final = (3.0, 1.5, 0.8, 0.4, 0.3, 0.6, 2.0, 3.0, 3.0, 2.5, 2.0, 2.0,
                      2.0, 2.0, 2.0, 2.0, 2.0, 2.5, 3.5, 5.5, 8.0, 9.5, 9.0, 6.0)  # fmt: skip
HOURS_NOISE_SUMMER: Final = (5.0, 2.5, 1.0, 0.4, 0.3, 0.6, 1.5, 2.0, 2.0, 1.8, 1.5, 1.5,
                             1.5, 1.5, 1.5, 1.5, 1.5, 2.0, 3.0, 5.0, 8.0, 11.0, 12.0, 9.0)  # fmt: skip
HOUR_PROFILES: Final = (HOURS_HOTLINE, HOURS_APP, HOURS_PATROL, HOURS_NOISE, HOURS_NOISE_SUMMER)
WEEKDAY_FACTOR: Final = (1.12, 1.07, 1.04, 1.02, 0.98, 0.80, 0.74)  # Monday .. Sunday

# --- texts ----------------------------------------------------------------------------------------
# Per category: "k" complaint/help/report texts, "q" consultations, "f" texts with RISING_PHRASE.
# Each entry is (place kind, template): B outside a building (楼下), I inside a flat, C a compound,
# S a street place (landmark, crossing, road), N no place. {p} is the place (or a generic word),
# {t} an indoor temperature.
T = tuple[str, str]
TEMPLATES: Final[Mapping[str, Mapping[str, tuple[T, ...]]]] = {
    "HL0101": {"k": (("S", "{p}一家餐馆卫生条件很差，后厨脏乱，吃完拉肚子"),
                     ("C", "{p}门口的超市卖过期食品，买的酸奶已经过期三天了"),
                     ("S", "{p}有个小饭馆用的食材有变质的味道")),
               "q": (("N", "咨询在网上买到变质食品应该怎么投诉"),)},
    "HL0102": {"k": (("S", "在{p}一家店买的电器有质量问题，商家不给退货"),
                     ("S", "{p}的理发店办卡后服务缩水，要求退款商家不理"),
                     ("N", "网购的商品有质量问题，商家拒绝退款")),
               "q": (("N", "咨询消费纠纷怎么维权"),)},
    "HL0103": {"k": (("S", "{p}一家水果店不明码标价，结账时乱收费"),
                     ("C", "{p}物业乱收费，停车费涨价没有公示")),
               "q": (("N", "咨询商品价格欺诈怎么认定"),)},
    "HL0104": {"k": (("B", "{p}楼下有人开黑作坊，没有营业执照"), ("S", "{p}有家店没有营业执照一直在经营")),
               "q": (("N", "咨询个体户营业执照怎么办理"),)},
    "HL0105": {"k": (("S", "{p}的健身房突然关门跑路了，会员卡里还有三千多元没退"),
                     ("S", "{p}一家美容店预付卡不给退费")),
               "q": (("N", "咨询预付卡商家跑路怎么退费"),)},
    "HL0106": {"q": (("N", "咨询注册公司需要准备哪些材料"), ("N", "咨询个体工商户营业执照办理流程"),
                     ("N", "咨询营业执照经营范围变更怎么办理"))},
    "HL0201": {"k": (("I", "{p}暖气不热，室温只有{t}度，家里有老人孩子受不了"),
                     ("I", "{p}暖气片一直是凉的，找物业也没人管"),
                     ("I", "{p}暖气漏水，已经把地板泡了"),
                     ("B", "{p}整栋楼暖气都不热，室温只有{t}度"),
                     ("I", "{p}已经供暖好几天了暖气还是不热")),
               "q": (("C", "咨询{p}今年什么时候开始供暖"), ("N", "咨询供暖费怎么缴纳，能不能办理停暖"),
                     ("C", "咨询{p}暖气不热应该找哪个单位"))},
    "HL0202": {"q": (("N", "咨询公交线路调整后怎么换乘"), ("N", "反映公交车司机开车太急，咨询怎么投诉"),
                     ("N", "咨询公交车首末班时间"))},
    "HL0203": {"k": (("B", "{p}停水了，也没有提前通知"), ("I", "{p}水压太小，楼上根本用不了水"),
                     ("I", "{p}自来水发黄，有异味"), ("C", "{p}从早上开始停水，到现在还没来水")),
               "q": (("C", "咨询{p}什么时候恢复供水"),)},
    "HL0204": {"k": (("B", "{p}停电了，冰箱里的东西都要坏了"), ("I", "{p}电压不稳，经常跳闸"),
                     ("C", "{p}频繁停电，影响正常生活")),
               "q": (("C", "咨询{p}停电什么时候能恢复"),)},
    "HL0205": {"k": (("I", "{p}燃气表坏了，充值后不显示"), ("B", "{p}停气好几天了，没法做饭"),
                     ("I", "{p}天然气灶打不着火，燃气公司一直不上门")),
               "q": (("N", "咨询燃气费怎么缴纳"), ("C", "咨询{p}燃气什么时候恢复"))},
    "HL0206": {"k": (("B", "{p}楼道里有很浓的煤气味，担心燃气泄漏"), ("I", "{p}闻到燃气泄漏的味道，请尽快派人来"),
                     ("B", "{p}单元门口一股煤气味")),
               "q": (("N", "咨询家里闻到煤气味应该怎么办"),)},
    "HL0207": {"k": (("I", "{p}手机信号特别差，打电话都听不清"), ("C", "{p}宽带经常断网，运营商一直不修"),
                     ("C", "{p}楼顶要建基站，居民担心辐射")),
               "q": (("N", "咨询宽带安装怎么办理"),)},
    "HL0301": {"k": (("S", "{p}的房屋中介扣押金不退"), ("N", "长租公寓退租后押金一直不退")),
               "q": (("N", "咨询中介费收费标准"),)},
    "HL0302": {"k": (("B", "{p}电梯经常坏，老人上下楼很困难"), ("B", "{p}单元门禁坏了很久没人修"),
                     ("B", "{p}楼道灯不亮，晚上上下楼很危险"), ("C", "{p}的健身器材坏了没人修")),
               "f": (("C", "{p}没有充电桩，很多人飞线充电，希望安装充电桩"),
                     ("B", "{p}楼下有住户从楼上飞线充电，希望小区增设充电桩")),
               "q": (("C", "咨询{p}能不能安装充电设施"),)},
    "HL0303": {"k": (("C", "{p}物业不作为，垃圾不清、保安不管"), ("C", "{p}物业费涨价没有经过业主同意"),
                     ("B", "{p}楼道里堆满杂物，物业不清理"), ("C", "{p}物业服务差，报修一直不来人"),
                     ("C", "{p}业委会选举有问题，物业阻挠")),
               "q": (("C", "咨询{p}物业费收费标准"), ("N", "咨询成立业委会需要什么条件"))},
    "HL0304": {"k": (("B", "{p}电梯困人了，里面有老人，请尽快来人"), ("B", "{p}电梯突然停了，有人被困在里面")),
               "q": (("N", "咨询电梯困人应该找谁"),)},
    "HL0305": {"k": (("B", "{p}房东不退押金还威胁租客"), ("N", "合租室友拖欠房租，房东要赶人")),
               "q": (("N", "咨询租房合同备案怎么办理"),)},
    "HL0306": {"k": (("C", "{p}老旧小区改造施工拖了半年还没完工"), ("B", "{p}想加装电梯，但有住户不同意"),
                     ("C", "{p}抗震加固后外墙又开裂了")),
               "q": (("C", "咨询{p}是否纳入老旧小区改造计划"), ("B", "咨询{p}加装电梯的政策"))},
    "HL0307": {"q": (("N", "咨询公租房申请条件"), ("N", "咨询共有产权房购房资格"),
                     ("N", "咨询非京籍购房资格怎么审核"))},
    "HL0401": {"k": (("S", "{p}的社区卫生服务站医生态度很差"), ("N", "在医院挂号排队太久，号贩子很多")),
               "q": (("N", "咨询社区医院能不能开长期处方"),)},
    "HL0402": {"k": (("B", "{p}楼下老鼠特别多，晚上到处窜"), ("B", "{p}楼道里蟑螂很多，希望统一消杀"),
                     ("C", "{p}绿化带里蚊子太多，希望喷药")),
               "q": (("C", "咨询{p}什么时候统一灭鼠"),)},
    "HL0403": {"k": (("S", "{p}的理发店卫生条件差，毛巾不消毒"), ("S", "{p}的公共厕所太脏了没人打扫")),
               "q": (("N", "咨询公共场所卫生许可证怎么办理"),)},
    "HL0404": {"q": (("N", "咨询疫苗接种地点和时间"), ("N", "咨询生育津贴怎么申领"), ("N", "咨询老年人体检政策"))},
    "HL0501": {"k": (("S", "{p}的工地晚上十一点还在施工，噪音太大睡不着"),
                     ("C", "{p}装修施工从早上七点就开始，影响休息"),
                     ("S", "{p}夜间施工扰民，已经持续好几天了"), ("B", "{p}旁边工地施工噪音太大")),
               "q": (("N", "咨询夜间施工许可怎么查询"),)},
    "HL0502": {"k": (("B", "{p}楼下有住户私搭乱建，把院子圈起来了"), ("B", "{p}顶楼有人加盖违章建筑"),
                     ("C", "{p}里有人私自搭建彩钢房")),
               "q": (("N", "咨询违法建设的认定标准"),)},
    "HL0503": {"k": (("S", "{p}渣土车不苫盖，尘土飞扬"), ("S", "{p}工地围挡倒了，影响行人通行"),
                     ("S", "{p}工地车辆带泥上路"))},
    "HL0504": {"k": (("C", "{p}拆迁补偿标准不合理"), ("C", "{p}征收补偿款迟迟不发放")),
               "q": (("C", "咨询{p}的征收补偿政策"),)},
    "HL0601": {"k": (("C", "{p}门口占道停车严重，消防车都进不来"), ("S", "{p}路边违停太多，早晚高峰堵得厉害"),
                     ("C", "{p}停车费太贵，车位不够"), ("B", "{p}楼下有车长期占用消防通道")),
               "q": (("C", "咨询{p}的停车管理收费标准"),)},
    "HL0602": {"k": (("S", "{p}路面有个大坑，很危险"), ("S", "{p}井盖松动，车开过去哐哐响"),
                     ("S", "{p}人行道砖破损，老人容易摔倒"), ("S", "{p}路面塌陷了"))},
    "HL0603": {"k": (("S", "{p}的红绿灯坏了，路口很乱"), ("S", "{p}信号灯时间太短，老人过不去马路"),
                     ("S", "{p}交通标志牌被树挡住了"))},
    "HL0604": {"q": (("N", "咨询网约车拒载怎么投诉"), ("N", "反映出租车绕路，咨询怎么处理"),
                     ("N", "咨询出租车多收费如何退还"))},
    "HL0605": {"k": (("S", "{p}共享单车乱停乱放，把人行道都堵了"), ("C", "{p}门口堆满了共享单车"),
                     ("S", "{p}共享单车堆积好几天没人清理"))},
    "HL0606": {"q": (("N", "咨询外地车进京证怎么办理"), ("N", "咨询尾号限行规定"), ("N", "咨询小客车摇号政策"))},
    "HL0701": {"k": (("S", "{p}晚上经常有人聚集喝酒打架"), ("C", "{p}最近有可疑人员在单元门口徘徊"),
                     ("B", "{p}楼道里有人撬门，存在治安隐患"))},
    "HL0702": {"k": (("B", "{p}楼上有一套房子被隔成好几间群租，住了十几个人"), ("B", "{p}楼上有群租房，隔断房人员进出频繁")),
               "q": (("N", "咨询群租房的认定标准"),)},
    "HL0703": {"k": (("B", "{p}楼道里堆放杂物，堵塞消防通道"), ("C", "{p}消防通道被车辆堵死了"),
                     ("B", "{p}楼道里有人停放电动车，堵塞通道"), ("C", "{p}的消防栓没有水")),
               "f": (("B", "{p}楼下有人私拉电线飞线充电，电线从窗户吊下来，很危险"),
                     ("B", "{p}楼下有人飞线充电，晚上电动车一排排地充"),
                     ("C", "{p}飞线充电现象严重，存在很大火灾隐患")),
               "q": (("N", "咨询楼道堆物怎么处理"),)},
    "HL0704": {"q": (("N", "接到诈骗电话，咨询怎么处理"), ("N", "咨询被电信诈骗后怎么报案"))},
    "HL0801": {"k": (("N", "在附近一家餐馆打工，老板拖欠工资三个月"), ("S", "{p}的一家公司拖欠员工工资"),
                     ("N", "工地拖欠农民工工资，快过年了还没发")),
               "q": (("N", "咨询被拖欠工资怎么维权"),)},
    "HL0802": {"k": (("N", "公司无故辞退，不给经济补偿"), ("N", "公司不签劳动合同，也不给加班费"),
                     ("S", "{p}一家公司强制员工加班不给加班费")),
               "q": (("N", "咨询劳动合同到期不续签有没有补偿"),)},
    "HL0803": {"q": (("N", "咨询养老保险补缴政策"), ("N", "咨询医保报销比例"), ("N", "咨询社保转移怎么办理"),
                     ("N", "咨询灵活就业人员社保怎么缴纳"))},
    "HL0804": {"q": (("N", "咨询失业金怎么申领"), ("N", "咨询创业补贴申请条件"), ("N", "咨询就业困难人员认定"))},
    "HL0901": {"q": (("N", "咨询幼升小入学政策"), ("N", "咨询学区划片情况"), ("N", "咨询非京籍子女入学需要什么材料"))},
    "HL0902": {"k": (("S", "{p}的培训机构停课后不给退费"), ("C", "{p}里有人违规开办补课班")),
               "q": (("N", "咨询校外培训退费政策"),)},
    "HL0903": {"k": (("S", "{p}的学校门口上下学时段交通混乱"), ("S", "{p}的学校食堂饭菜质量差")),
               "q": (("N", "咨询学校课后服务安排"),)},
    "HL1001": {"k": (("C", "{p}广场舞音响声音太大，晚上九点多还在跳"),
                     ("B", "{p}楼下的饭馆空调外机噪音很大，晚上睡不着"),
                     ("S", "{p}的酒吧深夜噪音扰民"), ("B", "{p}楼上住户半夜噪音扰民"),
                     ("S", "{p}有商户用大喇叭叫卖，噪音扰民"))},
    "HL1002": {"k": (("S", "{p}有人焚烧垃圾，烟很大"), ("S", "{p}工地扬尘严重，没有洒水降尘"),
                     ("C", "{p}附近有刺鼻的异味"))},
    "HL1003": {"k": (("B", "{p}楼下的饭馆油烟直排，熏得开不了窗"), ("S", "{p}的烧烤摊油烟很大，一直烤到半夜"),
                     ("B", "{p}楼下餐馆没有油烟净化设备"))},
    "HL1004": {"k": (("S", "{p}附近的河水发臭"), ("S", "{p}有商户往雨水井里排污水"))},
    "HL1005": {"k": (("C", "{p}的垃圾桶站没有分类，厨余垃圾和其他垃圾混在一起"),
                     ("C", "{p}垃圾分类桶站设在楼门口，气味很大"), ("C", "{p}垃圾分类指导员不在岗")),
               "q": (("N", "咨询大件垃圾怎么处理"), ("N", "咨询垃圾分类的具体要求"))},
    "HL1006": {"k": (("B", "{p}楼下垃圾堆了好几天没人清"), ("C", "{p}门口有一堆建筑垃圾没人清理"),
                     ("S", "{p}路边有暴露垃圾，苍蝇很多"), ("C", "{p}里的垃圾满了溢出来没人清"))},
    "HL1101": {"k": (("B", "{p}窗前的树太高了，挡光严重，希望修剪"), ("S", "{p}的树枝挡住了路灯和信号灯"),
                     ("B", "{p}楼前树枝伸进了窗户，希望修剪")),
               "q": (("C", "咨询{p}树木修剪该找哪个部门"),)},
    "HL1102": {"k": (("C", "{p}的绿地长期没人养护，草都枯了"), ("S", "{p}的绿化带杂草丛生"))},
    "HL1103": {"k": (("C", "{p}有人私自砍树"), ("B", "{p}楼下有住户把绿地圈起来种菜"))},
    "HL1104": {"k": (("S", "{p}有棵树倒了，挡住了道路"), ("B", "{p}楼前大树断枝，砸到了车"),
                     ("C", "{p}里一棵树被风刮倒了"))},
    "HL1201": {"k": (("B", "{p}楼下下水道堵塞，污水外溢"), ("I", "{p}下水道返味，厨房下水不通"),
                     ("C", "{p}污水井冒水，臭味很大"))},
    "HL1202": {"k": (("S", "{p}下雨积水很深，行人无法通过"), ("C", "{p}门口积水严重，车都进不去"),
                     ("S", "{p}每次下雨都内涝"))},
    "HL1203": {"k": (("S", "{p}附近河道有人违规钓鱼"), ("S", "{p}附近河道里漂浮垃圾"))},
    "HL1301": {"k": (("S", "{p}有人占道经营"), ("S", "{p}晚上有很多游商摆摊，占道经营"),
                     ("C", "{p}门口有商贩摆摊卖菜，堵住了路"))},
    "HL1302": {"k": (("B", "{p}楼道里贴满了小广告"), ("S", "{p}电线杆上贴满了小广告"), ("C", "{p}墙上被喷涂了小广告"))},
    "HL1303": {"k": (("S", "{p}的路灯不亮好几天了"), ("C", "{p}门口的路灯坏了，晚上很黑"), ("S", "{p}路灯白天一直亮着"))},
    "HL1304": {"k": (("S", "{p}路面很脏，没人清扫"), ("C", "{p}门口环境脏乱"), ("S", "{p}保洁不到位，落叶堆积"))},
    "HL1305": {"k": (("S", "{p}的广告牌松动了，担心掉下来砸人"), ("S", "{p}一家店的灯箱太亮，晚上照进家里"))},
    "HL1401": {"k": (("C", "{p}的养老驿站助餐服务停了"), ("S", "{p}的养老驿站收费不合理")),
               "q": (("C", "咨询{p}附近有没有老年助餐点"), ("N", "咨询居家养老服务怎么申请"))},
    "HL1402": {"k": (("B", "{p}楼上有位独居老人生活困难，希望给予帮助"), ("N", "家庭生活困难，申请低保一直没有结果")),
               "q": (("N", "咨询低保申请条件"), ("N", "咨询临时救助怎么申请"))},
    "HL1403": {"q": (("N", "咨询婚姻登记需要什么材料"), ("N", "咨询高龄津贴怎么领取"), ("N", "咨询殡葬补贴政策"))},
    "HL1501": {"q": (("N", "咨询居住证怎么办理"), ("N", "咨询办理这项业务需要什么材料"),
                     ("N", "咨询社区服务中心在哪里办"), ("N", "咨询不动产登记怎么预约"))},
    "HL1502": {"k": (("N", "街道政务服务中心窗口人员态度差"), ("N", "在办事大厅排了很久的队，窗口却提前下班"))},
    "HL99": {"k": (("C", "{p}的问题反映了好多次都没人管"), ("S", "{p}附近有流浪狗，担心伤人"),
                   ("B", "{p}楼上有人高空抛物")),
             "q": (("N", "咨询生活中遇到的问题该找哪个部门"),)},
}  # fmt: skip
GENERIC_PLACE: Final[Mapping[str, str]] = {
    "B": "我家",
    "I": "我家",
    "C": "我们小区",
    "S": "我家附近",
    "N": "",
}
PREFIX_HOTLINE: Final = ("来电人反映：", "市民来电反映：", "来电人称：")
PREFIX_HOTLINE_Q: Final = ("来电人", "市民来电")
SUFFIX: Final[Mapping[str, Mapping[str, tuple[str, ...]]]] = {
    "hotline": {
        "consultation": ("。", "，请相关部门答复。"),
        "complaint": ("，希望尽快处理。", "，要求相关部门尽快解决。", "，希望有关部门管一管。"),
        "help": ("，请求帮助。", "，希望尽快派人处理。"),
        "report": ("，请相关部门核实处理。", "，希望依法查处。"),
        "suggestion": ("，建议相关部门加强管理。", "，建议尽快整改。"),
    },
    "app": {
        "consultation": ("？", "，谢谢。"),
        "complaint": ("，希望尽快处理！", "，麻烦管一管。", "。"),
        "help": ("，请帮忙处理，谢谢！", "，急！"),
        "report": ("，请查处。", "，请核实处理。"),
        "suggestion": ("，建议改进。", "，希望能改进一下。"),
    },
}
SURNAMES: Final = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN_M: Final = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林欢阳建国志德文博"
GIVEN_F: Final = "芳娜敏静丽艳娟霞秀英慧巧美淑惠珠翠雅芝玉萍红月彩春菊兰凤洁梅琳素云莲真环雪荣爱香"
PHONE_PREFIXES: Final = (
    *(f"13{i}" for i in range(10)),
    *(f"15{i}" for i in (0, 1, 2, 3, 5, 6, 7, 8, 9)),
    *(f"18{i}" for i in range(10)),
)


# --- small helpers -----------------------------------------------------------------------------


def _rng(seed: int, stream: str) -> np.random.Generator:
    """An independent generator per named stream (stable across Python runs: no ``hash()``)."""
    key = int.from_bytes(hashlib.sha256(stream.encode()).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, key]))


def _cdf_pick(cdf: FloatArray, u: FloatArray) -> IntArray:
    """Inverse-CDF sampling: indices into the (unnormalised, increasing) ``cdf`` for uniforms ``u``."""
    idx = np.searchsorted(cdf, u * cdf[-1], side="right")
    return np.minimum(idx, len(cdf) - 1).astype(np.int64)


def _iso(day: Any) -> str:
    return str(np.datetime_as_string(np.asarray(day).astype("datetime64[D]"), unit="D"))


def _masked(mask: BoolArray, values: npt.NDArray[Any]) -> npt.NDArray[np.object_]:
    """``values`` where ``mask``, else None (an object array)."""
    out = np.full(len(mask), None, dtype=object)
    out[mask] = values[mask]
    return out


def _r(x: float, nd: int = 4) -> float:
    return float(round(float(x), nd))


def default_cache_dir() -> Path:
    """Where large generated files go: ``$GRIDGOV_CACHE`` or ``~/.cache/gridgov`` (outside the repo)."""
    env = os.environ.get("GRIDGOV_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gridgov"


# --- calendar ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Calendar:
    year: int
    days: npt.NDArray[np.datetime64]  # datetime64[D], every day of the year
    month: IntArray  # 0..11
    weekday: IntArray  # 0 = Monday
    working: BoolArray
    dayw: FloatArray  # relative petition volume of the day (weekday, holidays)
    week: IntArray  # index into weeks, per day
    weeks: list[tuple[int, int]]  # (ISO year, ISO week)
    week_full: BoolArray  # all 7 days inside the year
    week_first: IntArray  # first day index (in the year) of each week


def _calendar(year: int) -> _Calendar:
    from grid.workcal import WorkCalendar

    days = np.arange(
        np.datetime64(f"{year}-01-01"), np.datetime64(f"{year + 1}-01-01"), dtype="datetime64[D]"
    )
    idx = pd.DatetimeIndex(days.astype("datetime64[s]"))
    month = (idx.month.to_numpy() - 1).astype(np.int64)
    weekday = idx.day_of_week.to_numpy().astype(np.int64)
    cal = WorkCalendar.china()
    working = np.array([cal.is_working_day(d) for d in idx.date], dtype=bool)
    dayw = np.asarray(WEEKDAY_FACTOR, dtype=np.float64)[weekday]
    dayw = np.where(working & (weekday >= 5), 1.0, dayw)  # make-up working day (调休)
    holiday = ~working & (weekday < 5)
    dayw = np.where(holiday, 0.72, dayw)
    # the Spring Festival week (a run of >= 5 days off in January/February) is the quietest
    off = ~working
    run = np.zeros(len(days), dtype=np.int64)
    start = 0
    for i in range(1, len(days) + 1):
        if i == len(days) or off[i] != off[start]:
            if off[start]:
                run[start:i] = i - start
            start = i
    spring = off & (run >= 5) & (month <= 1)
    dayw = np.where(spring, 0.55, dayw)
    iso = idx.isocalendar()
    keys = list(zip(iso["year"].to_numpy().tolist(), iso["week"].to_numpy().tolist(), strict=True))
    weeks: list[tuple[int, int]] = []
    week = np.zeros(len(days), dtype=np.int64)
    for i, k in enumerate(keys):
        if not weeks or weeks[-1] != k:
            weeks.append(k)
        week[i] = len(weeks) - 1
    counts = np.bincount(week, minlength=len(weeks))
    first = np.searchsorted(week, np.arange(len(weeks)))
    return _Calendar(
        year=year,
        days=days,
        month=month,
        weekday=weekday,
        working=working,
        dayw=dayw,
        week=week,
        weeks=weeks,
        week_full=counts == 7,
        week_first=first.astype(np.int64),
    )


def _season(code: str, cal: _Calendar) -> FloatArray:
    """Relative daily volume of a category over the year (mean 1)."""
    n = len(cal.days)
    doy = np.arange(n, dtype=np.float64)
    if code == HEATING:
        md = pd.DatetimeIndex(cal.days.astype("datetime64[s]"))
        m, d = md.month.to_numpy(), md.day.to_numpy()
        out = np.full(n, 0.03)
        early = (m <= 2) | ((m == 3) & (d <= 15))
        out[early] = np.interp(doy[early], [0, doy[early].max()], [1.6, 0.6])
        out[(m == 3) & (d > 15)] = 0.12
        out[(m == 11) & (d < 15)] = 0.5  # trial heating, leaking pipes
        out[(m == 11) & (d >= 15) & (d <= 25)] = 4.5  # heating starts on 15 November
        out[(m == 11) & (d > 25)] = 3.5
        dec = m == 12
        out[dec] = np.interp(doy[dec], [doy[dec].min(), doy[dec].max()], [3.0, 2.0])
    elif code in MONTHLY:
        prof = np.asarray(MONTHLY[code], dtype=np.float64)
        first = np.searchsorted(cal.month, np.arange(12))
        mid = first + np.bincount(cal.month, minlength=12) / 2.0
        xs = np.concatenate([mid - n, mid, mid + n])
        out = np.interp(doy, xs, np.tile(prof, 3))
    else:
        out = np.ones(n)
    return out / out.mean()


# --- categories ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cats:
    codes: list[str]
    names: list[str]
    top: list[str]
    needs_place: BoolArray
    urgency: list[str]  # default time-limit class
    weight: FloatArray
    all_codes: frozenset[str]  # every code of the catalogue (also EV/CP)
    all_urgency: Mapping[str, str]


def _categories(categories: Sequence[Mapping[str, Any]]) -> _Cats:
    rows = [dict(c) for c in categories]
    if not rows:
        raise InputError("no categories given", code="invalid_input")
    parents = {str(c.get("parent_code")) for c in rows if c.get("parent_code")}
    leaves = sorted(
        (c for c in rows if str(c["code"]).startswith("HL") and str(c["code"]) not in parents),
        key=lambda c: str(c["code"]),
    )
    if not leaves:
        raise InputError("no 12345 (HL...) categories among the categories given", code="invalid_input")
    codes = [str(c["code"]) for c in leaves]
    return _Cats(
        codes=codes,
        names=[str(c.get("name") or c["code"]) for c in leaves],
        top=[str(c.get("parent_code") or c["code"]) for c in leaves],
        needs_place=np.array([bool(c.get("needs_place", True)) for c in leaves], dtype=bool),
        urgency=[str(c.get("urgency") or "general") for c in leaves],
        weight=np.array([WEIGHTS.get(c, 1.0) for c in codes], dtype=np.float64),
        all_codes=frozenset(str(c["code"]) for c in rows),
        all_urgency={str(c["code"]): str(c.get("urgency") or "general") for c in rows},
    )


# --- buildings and places ----------------------------------------------------------------------


def demo_buildings(path: Path = BUILDINGS_CSV, households_per_cell: int = 300) -> pd.DataFrame:
    """The sample street's buildings (``data/build/buildings/buildings.csv``) with **stand-in** cells.

    A stand-in only, for tests and standalone use: in the product the cell of a building is what
    the database's partition says. Here the buildings of each community are sorted north to south
    (then west to east) and cut every ~``households_per_cell`` households (a building goes to the
    cell where its middle household falls; a last cell under half the target joins the previous
    one). ``cell_code`` = community code + ``"9"`` + the 2-digit index in the community.
    """
    if not Path(path).exists():
        from data.sample_files import build_files

        build_files()
    df = pd.read_csv(
        path,
        dtype={"building_id": str, "community_code": str, "door_number": str, "building_no": str},
    )
    df = df.drop(columns=[c for c in ("footprint_wkt",) if c in df.columns])
    df = df.sort_values(["community_code", "lat", "lon", "building_id"], ascending=[True, False, True, True])
    cells = np.empty(len(df), dtype=object)
    for _code, grp in df.groupby("community_code", sort=True):
        hh = grp["households"].to_numpy(dtype=np.float64)
        mid = np.cumsum(hh) - hh / 2.0
        k = np.floor(mid / households_per_cell).astype(np.int64)
        total = hh.sum()
        last = k.max()
        if last > 0 and total - last * households_per_cell < households_per_cell / 2:
            k[k == last] = last - 1
        pos = df.index.get_indexer(grp.index)
        cells[pos] = [f"{_code}9{int(i) + 1:02d}" for i in k]
    df["cell_code"] = cells
    df["cell_code"] = df["cell_code"].astype(str)
    return df.sort_values("building_id").reset_index(drop=True)


@dataclass(frozen=True)
class _Buildings:
    frame: pd.DataFrame
    n: int
    hh: FloatArray
    lon: FloatArray
    lat: FloatArray
    cell: IntArray  # index into cell_codes
    cell_codes: list[str]
    cell_community: list[str]
    community: IntArray  # index into communities
    communities: list[str]
    street: list[str]  # per building (first 9 digits of the community code)
    kind: list[str]
    floors: IntArray


def _buildings(buildings: pd.DataFrame) -> _Buildings:
    need = ("building_id", "address", "lon", "lat", "households", "community_code", "cell_code")
    missing = [c for c in need if c not in buildings.columns]
    if missing:
        raise InputError(
            f"buildings have no {', '.join(missing)} column(s); need {', '.join(need)} "
            "(demo_buildings() makes stand-in cells)",
            code="missing_field",
        )
    df = buildings.copy()
    for c in ("building_id", "address", "community_code", "cell_code"):
        df[c] = df[c].astype(str)
    if df["building_id"].duplicated().any():
        raise InputError("duplicate building_id", code="duplicate_building")
    df = df.sort_values("building_id").reset_index(drop=True)
    hh = pd.to_numeric(df["households"], errors="coerce").fillna(0).clip(lower=0).to_numpy(np.float64)
    if hh.sum() <= 0:
        raise InputError("the buildings have no households", code="invalid_input")
    cell_codes = sorted(df["cell_code"].unique().tolist())
    cell = np.searchsorted(np.array(cell_codes, dtype=object), df["cell_code"].to_numpy(dtype=object))
    comms = sorted(df["community_code"].unique().tolist())
    comm = np.searchsorted(np.array(comms, dtype=object), df["community_code"].to_numpy(dtype=object))
    # the community of a cell: where most of its households live
    cell_comm: list[str] = []
    for k in range(len(cell_codes)):
        m = cell == k
        w = np.bincount(comm[m], weights=hh[m] + 1e-9, minlength=len(comms))
        cell_comm.append(comms[int(np.argmax(w))])
    # compound / road / numbers, parsed from the address when not given
    for c in ("compound", "road", "door_number", "building_no"):
        if c not in df.columns:
            df[c] = None
    for col in ("door_number", "building_no"):  # numbers as text: 2, not 2.0
        df[col] = [
            None if pd.isna(v) else str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
            for v in df[col]
        ]
    gaps = df[["road", "door_number", "building_no"]].isna().any(axis=1).to_numpy()
    if gaps.any():
        from grid.address import parse

        for i in np.flatnonzero(gaps).tolist():
            p = parse(str(df.at[i, "address"]))
            for col, val in (("road", p.road), ("door_number", p.door_number), ("building_no", p.building)):
                if pd.isna(df.at[i, col]) and val is not None:
                    df.at[i, col] = val
    kind = df["kind"].astype(str).tolist() if "kind" in df.columns else ["midrise"] * len(df)
    floors = (
        pd.to_numeric(df["floors"], errors="coerce").fillna(6).clip(2, 60).to_numpy(np.int64)
        if "floors" in df.columns
        else np.full(len(df), 6, dtype=np.int64)
    )
    return _Buildings(
        frame=df,
        n=len(df),
        hh=hh,
        lon=df["lon"].to_numpy(np.float64),
        lat=df["lat"].to_numpy(np.float64),
        cell=cell.astype(np.int64),
        cell_codes=cell_codes,
        cell_community=cell_comm,
        community=comm.astype(np.int64),
        communities=comms,
        street=[c[:9] for c in df["community_code"]],
        kind=kind,
        floors=floors,
    )


def _default_places() -> pd.DataFrame:
    """Landmarks and crossings of the sample gazetteer (name, kind, lon, lat, aliases); empty if absent."""
    cols = ["name", "kind", "lon", "lat", "aliases"]
    if not GAZETTEER.exists():
        return pd.DataFrame(columns=cols)
    raw = json.loads(GAZETTEER.read_text(encoding="utf-8"))
    rows = []
    for f in raw.get("features", []):
        p, g = f.get("properties") or {}, f.get("geometry") or {}
        if p.get("kind") in ("landmark", "crossing") and g.get("type") == "Point":
            x, y = g["coordinates"][:2]
            rows.append((str(p["name"]), str(p["kind"]), float(x), float(y), str(p.get("aliases") or "")))
    return pd.DataFrame(rows, columns=cols)


def _metres(lon0: FloatArray, lat0: FloatArray, lon1: FloatArray, lat1: FloatArray) -> FloatArray:
    k = 111_320.0 * np.cos(np.radians((lat0 + lat1) / 2))
    return np.hypot((lon1 - lon0) * k, (lat1 - lat0) * 110_540.0)


def _place_forms(b: _Buildings, places: pd.DataFrame) -> dict[str, list[list[str]]]:
    """Per building: colloquial forms of the building (B), its compound (C), a nearby street place (S),
    and street-place fallbacks (R)."""
    df = b.frame
    bld: list[list[str]] = []
    cpd: list[list[str]] = []
    fallback: list[list[str]] = []
    for row in df.itertuples(index=False):
        comp = None if pd.isna(row.compound) else str(row.compound)
        road = None if pd.isna(row.road) else str(row.road)
        door = None if pd.isna(row.door_number) else str(row.door_number)
        bno = None if pd.isna(row.building_no) else str(row.building_no)
        gate = f"{road}{door}号院" if road and door else None
        fb: list[str] = []
        if comp and bno:
            spoken = comp if comp.endswith(("小区", "家园", "花园", "公寓")) else f"{comp}小区"
            b_forms = [f"{comp}{bno}号楼", f"{spoken}{bno}号楼"] + ([f"{gate}{bno}号楼"] if gate else [])
            c_forms = [spoken, comp] + ([gate] if gate else [])
            fb = [f"{comp}门口", f"{comp}南门", f"{comp}北门"] + ([f"{gate}门口"] if gate else [])
        elif gate and bno:  # compound name unknown: 广渠路8号院3号楼
            b_forms = [f"{gate}{bno}号楼"]
            c_forms = [gate]
            fb = [f"{gate}门口", f"{gate}附近"]
        elif road and door:  # a stand-alone building: 广渠路141号
            b_forms = [f"{road}{door}号"]
            c_forms = [f"{road}{door}号"]
            fb = [f"{road}{door}号门口", f"{road}{door}号附近"]
        else:
            addr = str(row.address)
            b_forms, c_forms, fb = [addr], [addr], [f"{addr}附近"]
        bld.append(b_forms)
        cpd.append(c_forms)
        fallback.append(fb)
    street: list[list[str]] = [[] for _ in range(b.n)]
    if len(places):
        pl = places.sort_values(["kind", "name"]).reset_index(drop=True)
        plon, plat = pl["lon"].to_numpy(np.float64), pl["lat"].to_numpy(np.float64)
        d = _metres(plon[:, None], plat[:, None], b.lon[None, :], b.lat[None, :])
        near = np.argmin(np.where(b.hh[None, :] > 0, d, np.inf), axis=1)
        for i, row in enumerate(pl.itertuples(index=False)):
            j = int(near[i])
            if d[i, j] > 150:
                continue
            dx, dy = b.lon[j] - plon[i], b.lat[j] - plat[i]
            corner = ("东" if dx > 0 else "西") + ("南" if dy < 0 else "北") + "角"
            name = str(row.name)
            if row.kind == "crossing":
                forms = [name, f"{name}{corner}", f"{name}附近"]
                alias = [a for a in str(row.aliases).split("|") if a and a != name]
                if alias:
                    forms.append(alias[-1])
            elif name.endswith("桥"):
                forms = [f"{name}{corner}", f"{name}{corner}", f"{name}下"]
            elif name.endswith("口"):
                forms = [f"{name}附近", f"{name}旁边", f"{name}外"]
            else:
                forms = [f"{name}门口", f"{name}附近", f"{name}对面"]
            street[j].extend(forms)
    return {"B": bld, "C": cpd, "S": street, "R": fallback}


# --- people ------------------------------------------------------------------------------------


def _people(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    """``n`` synthetic (display name, mobile number) pairs. Names: surname + 1-2 given characters, or
    the way operators write them (王女士); numbers: 13x/15x/18x + 8 digits, never a repeated-digit
    or famous service number."""
    sw = 1.0 / (np.arange(len(SURNAMES)) + 6.0)
    sur = _cdf_pick(np.cumsum(sw), rng.random(n))
    female = rng.random(n) < 0.5
    two = rng.random(n) < 0.6
    g1 = rng.integers(0, 10_000, n)
    g2 = rng.integers(0, 10_000, n)
    style = rng.random(n)
    pre = rng.integers(0, len(PHONE_PREFIXES), n)
    digits = rng.integers(0, 10, (n, 8))
    while True:  # at most 2 distinct digits in the tail looks fake or famous (…138000 is excluded too)
        s = np.sort(digits, axis=1)
        distinct = 1 + (np.diff(s, axis=1) != 0).sum(axis=1)
        bad = distinct <= 2
        if not bad.any():
            break
        digits[bad] = rng.integers(0, 10, (int(bad.sum()), 8))
    names: list[str] = []
    phones: list[str] = []
    for i in range(n):
        pool = GIVEN_F if female[i] else GIVEN_M
        surname = SURNAMES[int(sur[i])]
        if style[i] < 0.55:
            names.append(surname + ("女士" if female[i] else "先生"))
        else:
            given = pool[int(g1[i]) % len(pool)] + (pool[int(g2[i]) % len(pool)] if two[i] else "")
            names.append(surname + given)
        phones.append(PHONE_PREFIXES[int(pre[i])] + "".join(str(int(x)) for x in digits[i]))
    return names, phones


# --- the year generator ----------------------------------------------------------------------------


def _poisson_sf(k: float, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu)."""
    from scipy.stats import poisson

    return float(poisson.sf(math.ceil(k) - 1, mu))


def generate_year(
    buildings: pd.DataFrame,
    categories: Sequence[Mapping[str, Any]],
    *,
    year: int = 2023,
    seed: int = 20230,
    rate: float = 0.5,
    tz: str = "Asia/Shanghai",
    places: pd.DataFrame | None = None,
    surge_max_factor: float = 3.0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A year of petitions for ``buildings`` (see the module docstring) and the manifest of the
    planted effects.

    ``buildings``: building_id, address, lon, lat (WGS84), households, community_code, cell_code;
    optional compound, road, door_number, building_no (else parsed from the address), kind
    (walkup|midrise|tower), floors. ``categories``: rows of ``data/categories.json``; petitions use
    the 12345 leaf categories (grid patrol reports the matching CJ/T 214 codes when present).
    ``rate``: petitions per household per year. ``places``: landmarks and crossings (name, kind,
    lon, lat, aliases) for colloquial addresses; default: the sample gazetteer when it exists.
    ``surge_max_factor``: cap of the surge factor (3 = the evaluation's rule; see the module
    docstring on why cell-level surges are not statistically clear at that cap).

    The recipe: the model (propensities per building and category), then, drawing from one
    "planted" stream in this order, hotspots, chronic places (background), the background
    draws, surges, repeat places and the rising phrase; then each event's channel, type,
    urgency and time, its handling, caller, coordinates, text and address.
    """
    if not (rate > 0 and math.isfinite(rate)):
        raise InputError(f"rate must be a positive number, not {rate!r}", code="bad_params")
    m = _model(buildings, categories, year, seed)
    places_df = _default_places() if places is None else places
    r_plan = _rng(seed, "planted")
    hot = _plant_hotspots(m, r_plan)
    chronic = _plant_chronic(m, hot, r_plan, rate)
    k_scale = rate * m.H / _total_expected(m, hot.factor)
    bg = _background(m, hot.factor, k_scale, _rng(seed, "background"))
    surge = _plant_surges(m, hot, bg.mu, r_plan, max(1.5, float(surge_max_factor)))
    repeat = _plant_repeats(m, hot, k_scale, chronic, r_plan, surge.taken_cells)
    rising = _plant_rising(m, bg, r_plan)
    ev = _events(m, bg, surge, repeat, rising, _rng(seed, "events"))
    hist = _handling(m, ev, _rng(seed, "handling"), year)
    people = _callers(m, ev, seed)
    xy = _coordinates(m, ev, _rng(seed, "coordinates"))
    texts, addresses = _texts(
        m, ev, people.person, xy.has_xy, _place_forms(m.b, places_df), _rng(seed, "texts")
    )
    df = _year_frame(m, ev, people, xy, texts, addresses, hist, year=year, tz=tz)
    run = {"seed": int(seed), "year": int(year), "rate": float(rate), "tz": tz, "count": len(df)}
    planted = (surge.records, repeat.records, rising.record)
    manifest = _manifest(m, hot, chronic, planted, bg.main_street, run)
    return df, manifest


@dataclass
class _Model:
    """The structure of a year: buildings, categories, calendar, propensities, membership matrices."""

    b: _Buildings
    cats: _Cats
    cal: _Calendar
    code_ix: dict[str, int]
    placed: IntArray  # category indexes that need a place
    placeless: IntArray
    SD: FloatArray  # n_c × n_d: season × day weight
    w: FloatArray  # category weights (sum 1)
    A: FloatArray  # n_b × n_placed propensities (the planting steps scale it in place)
    G: Any  # n_cells × n_b membership (sparse)
    Wk: FloatArray  # n_d × weeks membership
    cell_hh: FloatArray
    H: float  # households

    @property
    def n_d(self) -> int:
        return len(self.cal.days)

    @property
    def n_cells(self) -> int:
        return len(self.b.cell_codes)


@dataclass
class _Planted:
    """Events of one source: building (-1 = no place), category and day indexes."""

    bld: list[int] | IntArray
    cat: list[int] | IntArray
    day: list[int] | IntArray


def _model(buildings: pd.DataFrame, categories: Sequence[Mapping[str, Any]], year: int, seed: int) -> _Model:
    """Buildings, categories and calendar checked; propensities from the "model" stream."""
    b = _buildings(buildings)
    cats = _categories(categories)
    cal = _calendar(year)
    n_d, n_b = len(cal.days), b.n
    placed = np.flatnonzero(cats.needs_place)
    S = np.vstack([_season(c, cal) for c in cats.codes])  # n_c × n_d
    r_model = _rng(seed, "model")
    prop = np.clip(r_model.gamma(8.0, 1 / 8.0, n_b), 0.5, 1.6)
    tops = sorted(set(cats.top))
    top_ix = np.array([tops.index(t) for t in cats.top], dtype=np.int64)
    topprop = r_model.gamma(8.0, 1 / 8.0, (n_b, len(tops)))
    A = b.hh[:, None] * prop[:, None] * topprop[:, top_ix[placed]]  # n_b × n_placed
    for j, ci in enumerate(placed.tolist()):
        for i in range(n_b):
            A[i, j] *= KIND_EFFECTS.get(b.kind[i], {}).get(cats.codes[ci], 1.0)
    # membership matrices (cell × building is sparse: a district's buildings fit too)
    from scipy.sparse import csr_matrix

    G = csr_matrix((np.ones(n_b), (b.cell, np.arange(n_b))), shape=(len(b.cell_codes), n_b))
    Wk = np.zeros((n_d, len(cal.weeks)))
    Wk[np.arange(n_d), cal.week] = 1.0
    return _Model(
        b=b,
        cats=cats,
        cal=cal,
        code_ix={c: i for i, c in enumerate(cats.codes)},
        placed=placed,
        placeless=np.flatnonzero(~cats.needs_place),
        SD=S * cal.dayw[None, :],
        w=cats.weight / cats.weight.sum(),
        A=A,
        G=G,
        Wk=Wk,
        cell_hh=G @ b.hh,
        H=float(b.hh.sum()),
    )


def _total_expected(m: _Model, hot: FloatArray) -> float:
    """Expected petitions of the year at scale 1 (before ``rate``)."""
    M = hot @ m.SD[m.placed].T  # n_b × n_placed: sum over days of season × day weight × hotspot
    placeless = m.placeless
    return float(
        (m.A * M * m.w[m.placed][None, :]).sum() + m.H * (m.w[placeless] * m.SD[placeless].sum(1)).sum()
    )


@dataclass
class _Hotspots:
    cells: list[int]
    factor: FloatArray  # n_b × n_d multiplier
    records: list[dict[str, Any]]
    big: BoolArray  # cells of >= 200 households (or the median)
    med: float  # median background rate of the big cells


def _plant_hotspots(m: _Model, r_plan: np.random.Generator) -> _Hotspots:
    """Three hotspot cells near the median rate (one all year, two for a period); caps natural rates."""
    b, cell_hh = m.b, m.cell_hh
    bg_cell = (m.G @ (m.A @ m.w[m.placed])) / np.maximum(cell_hh, 1e-9)
    big = cell_hh >= max(200.0, float(np.median(cell_hh)))
    if not big.any():
        big = cell_hh >= min(200.0, float(cell_hh.max()))
    med = float(np.median(bg_cell[big]))
    # no cell is naturally hotter than 1.5x the median cell (a planted hotspot is >= 2x its own)
    shrink = np.minimum(1.0, NATURAL_CELL_MAX * med / np.maximum(bg_cell, 1e-12))
    m.A *= shrink[b.cell][:, None]
    bg_cell = bg_cell * shrink
    hot_cells = _hot_cells(m, r_plan, big, bg_cell / med)
    full_weeks = np.flatnonzero(m.cal.week_full)
    n_d = m.n_d
    hot = np.ones((b.n, n_d))
    hotspots: list[dict[str, Any]] = []
    kinds = ["year", "period", "period"]
    for h, k in enumerate(hot_cells):
        if kinds[h] == "year":
            d0, d1 = 0, n_d - 1
            factor = _r(r_plan.uniform(2.0, 2.5), 2)
        else:
            length = int(r_plan.integers(10, 14))
            half = len(full_weeks) // 2
            lo, hi = (1, half - length) if h == 1 else (half, len(full_weeks) - length - 3)
            ws = int(full_weeks[int(r_plan.integers(lo, max(lo + 1, hi)))])
            d0 = int(m.cal.week_first[ws])
            d1 = min(n_d - 1, d0 + 7 * length - 1)
            factor = _r(r_plan.uniform(2.0, 2.5), 2)
        hot[np.ix_(b.cell == k, np.arange(d0, d1 + 1))] = factor
        hotspots.append(
            {
                "cell_code": b.cell_codes[k],
                "community_code": b.cell_community[k],
                "households": int(cell_hh[k]),
                "start": _iso(m.cal.days[d0]),
                "end": _iso(m.cal.days[d1]),
                "factor": factor,
                "kind": "whole_year" if kinds[h] == "year" else "period",
            }
        )
    return _Hotspots(cells=hot_cells, factor=hot, records=hotspots, big=big, med=med)


def _hot_cells(m: _Model, r_plan: np.random.Generator, big: BoolArray, ratio: FloatArray) -> list[int]:
    """Three big cells in distinct communities, their rate near the median (``ratio`` = rate / median)."""
    b = m.b
    hot_cells: list[int] = []
    for tol in (0.05, 0.10, 0.15, 0.25, 0.5, 10.0):  # near the median (a bit above: mean > median)
        ok = np.flatnonzero(big & (np.abs(ratio - 1.05) <= tol))
        hot_cells = []
        used: list[str] = []
        for k in r_plan.permutation(ok).tolist():
            if b.cell_community[k] not in used:
                hot_cells.append(int(k))
                used.append(b.cell_community[k])
            if len(hot_cells) == 3:
                break
        if len(hot_cells) == 3:
            break
    if len(hot_cells) < 3:  # fewer than three communities: allow a repeated community
        rest = [int(k) for k in r_plan.permutation(np.flatnonzero(big)).tolist() if int(k) not in hot_cells]
        hot_cells += rest[: 3 - len(hot_cells)]
    return hot_cells


def _plant_chronic(
    m: _Model, hot: _Hotspots, r_plan: np.random.Generator, rate: float
) -> list[dict[str, Any]]:
    """Chronic places (background, not planted): a building-category pair at 1.6-3x all year, ~0.3-1
    expected petitions per 30 days, so that it does not look like a repeat place (scales ``m.A``)."""
    b, cats, code_ix, A = m.b, m.cats, m.code_ix, m.A
    K0 = rate * m.H / _total_expected(m, hot.factor)
    chronic: list[dict[str, Any]] = []
    cand_b = r_plan.permutation(np.flatnonzero(b.hh >= 120)).tolist()
    chronic_cats: list[str] = [c for c in CHRONIC_CATEGORIES if c in code_ix and cats.needs_place[code_ix[c]]]
    hot_bset = np.isin(b.cell, hot.cells)
    for i in cand_b:
        if len(chronic) >= 5 or not chronic_cats:
            break
        if hot_bset[i]:
            continue
        code = chronic_cats[len(chronic) % len(chronic_cats)]
        j = int(np.searchsorted(m.placed, code_ix[code]))
        e30 = K0 * m.w[code_ix[code]] * A[i, j] * 30 * float(m.SD[code_ix[code]].mean())
        f = min(3.0, 1.0 / max(e30, 1e-9))
        if f < 1.6 or e30 * f < 0.3:
            continue
        A[i, j] *= f
        chronic.append(
            {
                "building_id": str(b.frame.at[i, "building_id"]),
                "category": code,
                "factor": _r(f, 2),
                "expected_per_30_days": _r(e30 * f, 2),
            }
        )
    return chronic


@dataclass
class _Background:
    planted: _Planted
    mu: FloatArray  # n_placed × n_cells × weeks: expected background counts
    main_street: str
    in_street: FloatArray  # 1.0 for the main street's buildings
    street_tot: FloatArray  # per day: expected placed petitions in the main street
    street_mention: FloatArray  # per day: of those, expected mentions of the rising phrase


def _background(m: _Model, hot: FloatArray, k_scale: float, r_bg: np.random.Generator) -> _Background:
    """The background draws (Poisson per building, category and day; placeless per day)."""
    b, cats, n_d = m.b, m.cats, m.n_d
    ev_b: list[IntArray] = []
    ev_c: list[IntArray] = []
    ev_d: list[IntArray] = []
    mu = np.zeros((len(m.placed), m.n_cells, len(m.cal.weeks)))
    main_street = pd.Series(b.street).value_counts().sort_index().idxmax()
    in_street = np.array([s == main_street for s in b.street], dtype=np.float64)
    street_tot = np.zeros(n_d)
    street_mention = np.zeros(n_d)
    for j, ci in enumerate(m.placed.tolist()):
        lam = (k_scale * m.w[ci]) * m.A[:, j : j + 1] * hot * m.SD[ci][None, :]
        cnt = r_bg.poisson(lam)
        bi, di = np.nonzero(cnt)
        nrep = cnt[bi, di]
        ev_b.append(np.repeat(bi, nrep).astype(np.int64))
        ev_d.append(np.repeat(di, nrep).astype(np.int64))
        ev_c.append(np.full(int(nrep.sum()), ci, dtype=np.int64))
        mu[j] = (m.G @ lam) @ m.Wk
        st = in_street @ lam
        street_tot += st
        street_mention += PHRASE_CATEGORIES.get(cats.codes[ci], 0.0) * st
    for ci in m.placeless.tolist():
        cnt_d = r_bg.poisson(k_scale * m.w[ci] * m.H * m.SD[ci])
        dd0 = np.repeat(np.arange(n_d), cnt_d).astype(np.int64)
        ev_b.append(np.full(len(dd0), -1, dtype=np.int64))
        ev_d.append(dd0)
        ev_c.append(np.full(len(dd0), ci, dtype=np.int64))
    planted = _Planted(np.concatenate(ev_b), np.concatenate(ev_c), np.concatenate(ev_d))
    return _Background(planted, mu, main_street, in_street, street_tot, street_mention)


@dataclass
class _Surges:
    records: list[dict[str, Any]]
    taken_cells: set[int]
    bld: list[int] = field(default_factory=list)
    cat: list[int] = field(default_factory=list)
    day: list[int] = field(default_factory=list)

    @property
    def planted(self) -> _Planted:
        return _Planted(self.bld, self.cat, self.day)


def _surge_scores(m: _Model, hot_cells: list[int], mu: FloatArray) -> tuple[IntArray, FloatArray]:
    """(the full weeks considered, score n_placed × n_cells × weeks): the background of a candidate
    surge, -1 where it may not go (a patrol or phrase category, a small or hot cell, an uneven week)."""
    cats, n_cells = m.cats, m.n_cells
    full_weeks = np.flatnonzero(m.cal.week_full)
    fw = full_weeks[1:-2] if len(full_weeks) > 6 else full_weeks
    ok_cat = np.array(
        [cats.codes[c] not in PATROL_CODES and cats.codes[c] not in PHRASE_CATEGORIES for c in m.placed]
    )
    ok_cell = (m.cell_hh >= 200) & ~np.isin(np.arange(n_cells), hot_cells)
    if not ok_cell.any():
        ok_cell = ~np.isin(np.arange(n_cells), hot_cells)
    cand = mu[:, :, fw]  # n_placed × n_cells × weeks
    # flat enough locally: the week within 0.8-1.25 of the mean of the 3 weeks either side
    pad = np.pad(mu, ((0, 0), (0, 0), (3, 3)), mode="edge")
    neigh = np.zeros_like(cand)
    for off in (-3, -2, -1, 1, 2, 3):
        neigh += pad[:, :, fw + 3 + off]
    neigh /= 6.0
    flat = (cand >= 0.8 * neigh) & (cand <= 1.25 * neigh)
    return fw, np.where(flat & ok_cat[:, None, None] & ok_cell[None, :, None], cand, -1.0)


def _plant_surges(
    m: _Model, hot: _Hotspots, mu: FloatArray, r_plan: np.random.Generator, cap: float
) -> _Surges:
    """Three one-week surges in (category, cell) pairs with a flat background, capped at ``cap``."""
    b = m.b
    out = _Surges([], set(hot.cells))
    fw, score = _surge_scores(m, hot.cells, mu)
    order = np.argsort(-score, axis=None, kind="stable")
    used_cat: list[int] = []
    used_comm: list[str] = []
    # passes: clear surges in distinct categories and communities; clear ones in any category; the
    # largest backgrounds (not clear) in distinct communities; anything
    for only_clear, distinct_cat, distinct_comm in ((True, True, True), (True, False, True),
                                                    (False, False, True), (False, False, False)):  # fmt: skip
        for flat_ix in order[:20_000]:
            if len(out.records) == 3:
                break
            j, k, wi = (int(x) for x in np.unravel_index(int(flat_ix), score.shape))
            base = float(score[j, k, wi])
            if base < 0.5:
                break
            if (
                int(k) in out.taken_cells
                or (distinct_cat and int(j) in used_cat)
                or (distinct_comm and b.cell_community[k] in used_comm)
            ):
                continue
            need = _surge_needed(base)
            if only_clear and need > cap:
                continue
            if _plant_surge(m, out, r_plan, j, k, int(fw[wi]), base, need, cap):
                used_cat.append(int(j))
                used_comm.append(b.cell_community[k])
    return out


def _plant_surge(
    m: _Model,
    out: _Surges,
    r_plan: np.random.Generator,
    j: int,
    k: int,
    week_i: int,
    base: float,
    need: float,
    cap: float,
) -> bool:
    """Plant one surge of placed category ``j`` in cell ``k`` in week ``week_i`` (False: too small)."""
    b, cal = m.b, m.cal
    f_target = min(cap, max(need, float(r_plan.uniform(2.2, 2.8))))
    planted_n = round((f_target - 1.0) * base)
    planted_n = max(planted_n, math.ceil(0.5 * base), 1)
    planted_n = min(planted_n, math.floor((cap - 1.0) * base))
    if planted_n < 1:
        return False
    factor = (base + planted_n) / base
    c = int(m.placed[j])
    members = np.flatnonzero(b.cell == k)
    wts = m.A[members, j]
    bsel = members[_cdf_pick(np.cumsum(wts), r_plan.random(planted_n))]
    d0 = int(cal.week_first[week_i])
    dd = d0 + _cdf_pick(np.cumsum(cal.dayw[d0 : d0 + 7]), r_plan.random(planted_n))
    out.bld += bsel.tolist()
    out.cat += [c] * planted_n
    out.day += dd.tolist()
    out.taken_cells.add(int(k))
    iy, iw = cal.weeks[week_i]
    p = _poisson_sf(base + planted_n, base)
    out.records.append(
        {
            "cell_code": b.cell_codes[k],
            "community_code": b.cell_community[k],
            "category": m.cats.codes[c],
            "week": f"{iy}-W{iw:02d}",
            "start": _iso(cal.days[d0]),
            "end": _iso(cal.days[d0 + 6]),
            "baseline_per_week": _r(base, 3),
            "planted_count": planted_n,
            "factor": _r(factor, 3),
            "p_value": float(f"{p:.3g}"),
            "clear": bool(p < 1e-4),
        }
    )
    return True


def _first_person(b: _Buildings) -> IntArray:
    """Index of each building's first resident (residents are numbered building by building)."""
    return np.concatenate([[0], np.cumsum(b.hh.astype(np.int64))[:-1]])


@dataclass
class _Repeats:
    records: list[dict[str, Any]] = field(default_factory=list)
    bld: list[int] = field(default_factory=list)
    cat: list[int] = field(default_factory=list)
    day: list[int] = field(default_factory=list)
    k: list[int] = field(default_factory=list)  # the k-th petition of its repeat place
    caller: list[int] = field(default_factory=list)
    tpl: list[float] = field(default_factory=list)  # one template per repeat place: the same problem again

    @property
    def planted(self) -> _Planted:
        return _Planted(self.bld, self.cat, self.day)


def _plant_repeats(
    m: _Model,
    hot: _Hotspots,
    k_scale: float,
    chronic: list[dict[str, Any]],
    r_plan: np.random.Generator,
    taken_cells: set[int],
) -> _Repeats:
    """Three repeat places: 7-9 petitions about one building in 18-28 days, mostly the same callers."""
    b, cats, code_ix = m.b, m.cats, m.code_ix
    out = _Repeats()
    chronic_ids = [x["building_id"] for x in chronic]
    rep_cats: list[str] = [c for c in REPEAT_CATEGORIES if c in code_ix and cats.needs_place[code_ix[c]]]
    rep_cats = [rep_cats[i] for i in r_plan.permutation(len(rep_cats)).tolist()]
    used_comm: list[str] = []
    off_b = _first_person(b)
    for i in r_plan.permutation(np.flatnonzero(b.hh >= 24)).tolist():
        if len(out.records) == 3 or not rep_cats:
            break
        k = int(b.cell[i])
        bid = str(b.frame.at[i, "building_id"])
        if k in taken_cells or bid in chronic_ids or b.cell_community[k] in used_comm:
            continue
        code = rep_cats[len(out.records) % len(rep_cats)]
        c = code_ix[code]
        j = int(np.searchsorted(m.placed, c))
        rate_ij = k_scale * m.w[c] * m.A[i, j]
        if rate_ij * 30 * float((hot.factor[i] * m.SD[c]).mean()) > 0.5:
            continue  # the background alone would make it a repeat place now and then
        length = int(r_plan.integers(18, 28))
        start = int(r_plan.integers(10, m.n_d - 50))
        count = int(r_plan.integers(7, 10))
        mid = np.sort(r_plan.integers(1, length, count - 2))
        days_ = np.concatenate([[start], start + mid, [start + length]]).astype(np.int64)
        hh_i = int(b.hh[i])
        persistent = off_b[i] + r_plan.integers(0, hh_i, 2)
        who = np.where(
            r_plan.random(count) < 0.65,
            persistent[0],
            np.where(r_plan.random(count) < 0.5, persistent[1], off_b[i] + r_plan.integers(0, hh_i, count)),
        )
        out.bld += [i] * count
        out.cat += [c] * count
        out.day += days_.tolist()
        out.k += list(range(count))
        out.caller += [int(x) for x in who]
        out.tpl += [float(r_plan.random())] * count
        taken_cells.add(k)
        used_comm.append(b.cell_community[k])
        out.records.append(
            {
                "building_id": bid,
                "address": str(b.frame.at[i, "address"]),
                "lon": _r(b.lon[i], 7),
                "lat": _r(b.lat[i], 7),
                "cell_code": b.cell_codes[k],
                "category": code,
                "start": _iso(m.cal.days[days_[0]]),
                "end": _iso(m.cal.days[days_[-1]]),
                "count": count,
                "background_in_window": _r(
                    rate_ij * float((hot.factor[i] * m.SD[c])[days_[0] : days_[-1] + 1].sum()), 3
                ),
            }
        )
    return out


@dataclass
class _Rising:
    planted: _Planted
    record: dict[str, Any] | None


def _plant_rising(m: _Model, bg: _Background, r_plan: np.random.Generator) -> _Rising:
    """The rising phrase: ~2x its background share of the main street's petitions in the last 8 weeks."""
    b, code_ix, n_d = m.b, m.code_ix, m.n_d
    ph_codes = [c for c in PHRASE_CATEGORIES if c in code_ix and m.cats.needs_place[code_ix[c]]]
    if not (ph_codes and bg.street_mention.sum() > 0):
        return _Rising(_Planted([], [], []), None)
    last = 56
    late = np.arange(n_d) >= n_d - last
    b_early = float(bg.street_mention[~late].sum() / bg.street_tot[~late].sum())
    m8, n8 = float(bg.street_mention[late].sum()), float(bg.street_tot[late].sum())
    factor = _r(r_plan.uniform(1.9, 2.3), 2)
    extra = max(0, round((factor * b_early * n8 - m8) / (1 - factor * b_early)))
    sb = np.flatnonzero(bg.in_street > 0)
    bsel = sb[_cdf_pick(np.cumsum(b.hh[sb]), r_plan.random(extra))]
    d0 = n_d - last
    ramp = (0.5 + np.arange(last) / (last - 1)) * m.cal.dayw[d0:]
    dd = d0 + _cdf_pick(np.cumsum(ramp), r_plan.random(extra))
    which = np.where(r_plan.random(extra) < 0.8, code_ix[ph_codes[0]], code_ix[ph_codes[-1]])
    record = {
        "street_code": bg.main_street,
        "phrase": RISING_PHRASE,
        "start": _iso(m.cal.days[d0]),
        "end": _iso(m.cal.days[-1]),
        "factor": factor,
        "background_share": _r(b_early, 5),
        "planted_count": extra,
        "categories": ph_codes,
    }
    return _Rising(_Planted(bsel.tolist(), which.tolist(), dd.tolist()), record)


@dataclass
class _Events:
    """All petitions of the year, one array element each, in order of reception (after ``_events``)."""

    bld: IntArray  # building index, -1 = no place
    cat: IntArray  # category index (the true category)
    day: IntArray
    origin: npt.NDArray[np.int8]  # 0 background, 1 surge, 2 repeat place, 3 rising phrase
    repk: IntArray  # k-th petition of a repeat place, else -1
    caller_fixed: IntArray  # the caller of a repeat-place petition, else -1
    tpl_fixed: FloatArray  # the template draw of a repeat-place petition, else -1
    has_place: BoolArray
    code: npt.NDArray[np.object_]
    phrase: BoolArray  # mentions the rising phrase
    ch: IntArray  # index into CHANNELS
    tp: IntArray  # index into TYPES
    cls: IntArray  # handling class (index into CLASSES)
    urgent: BoolArray  # marked urgent by the clerk
    recv: IntArray  # local wall-clock seconds since the epoch
    grid: BoolArray  # a grid patrol report
    reported: npt.NDArray[np.object_] = field(default_factory=lambda: np.array([], dtype=object))

    def sorted_by(self, order: IntArray) -> _Events:
        return _Events(**{f.name: getattr(self, f.name)[order] for f in fields(self) if f.name != "reported"})


def _events(
    m: _Model, bg: _Background, surge: _Surges, repeat: _Repeats, rising: _Rising, r_ev: np.random.Generator
) -> _Events:
    """All events with channel, type, urgency and time (the "events" stream), sorted by reception."""
    cats = m.cats
    sources = [bg.planted, surge.planted, repeat.planted, rising.planted]
    n_bg, n_s, n_r, n_p = (len(s.bld) for s in sources)
    ev_bld = np.concatenate([s.bld for s in sources]).astype(np.int64)
    ev_cat = np.concatenate([s.cat for s in sources]).astype(np.int64)
    ev_day = np.concatenate([s.day for s in sources]).astype(np.int64)
    origin = np.concatenate([np.zeros(n_bg), np.ones(n_s), np.full(n_r, 2), np.full(n_p, 3)]).astype(np.int8)
    n = len(ev_bld)
    has_place = ev_bld >= 0
    q = np.array([PHRASE_CATEGORIES.get(c, 0.0) for c in cats.codes])[ev_cat]
    phrase = np.where(origin == 3, True, (origin == 0) & has_place & (r_ev.random(n) < q))
    ch, grid = _channels(m, r_ev, ev_cat, origin, has_place)
    tp = _petition_types(m, r_ev, ev_cat, origin, has_place, phrase, grid)
    # clerk urgency and handling class
    default_cls = np.array([CLASSES.index(x) if x in CLASSES else 2 for x in cats.urgency], dtype=np.int64)
    cls = default_cls[ev_cat]
    u = r_ev.random(n)
    urgent_flag = (tp != 0) & (((cls == 0) & (u < 0.5)) | ((cls == 1) & (u < 0.03)))
    cls = np.where(urgent_flag, 0, cls)
    recv = _reception_times(m, r_ev, ev_cat, ev_day, ch)
    ev = _Events(
        bld=ev_bld,
        cat=ev_cat,
        day=ev_day,
        origin=origin,
        repk=np.concatenate([np.full(n_bg + n_s, -1), repeat.k, np.full(n_p, -1)]).astype(np.int64),
        caller_fixed=np.concatenate([np.full(n_bg + n_s, -1), repeat.caller, np.full(n_p, -1)]).astype(
            np.int64
        ),
        tpl_fixed=np.concatenate([np.full(n_bg + n_s, -1.0), repeat.tpl, np.full(n_p, -1.0)]),
        has_place=has_place,
        code=np.array(cats.codes, dtype=object)[ev_cat],
        phrase=phrase,
        ch=ch,
        tp=tp,
        cls=cls,
        urgent=urgent_flag,
        recv=recv,
        grid=grid,
    ).sorted_by(np.lexsort((np.arange(n), recv)))
    ev.reported = _reported_categories(m, ev)
    return ev


def _channels(
    m: _Model, r_ev: np.random.Generator, ev_cat: IntArray, origin: npt.NDArray[np.int8], has_place: BoolArray
) -> tuple[IntArray, BoolArray]:
    """(channel index, grid patrol) of each event."""
    n = len(ev_cat)
    street_cat = np.array([c in PATROL_CODES for c in m.cats.codes])
    share_street = float((m.w * street_cat).sum())
    p_grid = min(0.6, 0.05 / max(share_street, 1e-9))
    u = r_ev.random(n)
    grid = has_place & street_cat[ev_cat] & (origin == 0) & (r_ev.random(n) < p_grid)
    ch = np.where(u < 70 / 95, 0, np.where(u < 85 / 95, 1, 2))
    ch = np.where(origin == 2, np.where(u < 0.8, 0, np.where(u < 0.9, 1, 2)), ch)
    return np.where(grid, 3, ch).astype(np.int64), grid


def _petition_types(
    m: _Model,
    r_ev: np.random.Generator,
    ev_cat: IntArray,
    origin: npt.NDArray[np.int8],
    has_place: BoolArray,
    phrase: BoolArray,
    grid: BoolArray,
) -> IntArray:
    """Type index of each event (planted and phrase events are never consultations)."""
    kind_of = np.array(
        [2 if c in HELP_HEAVY else 1 if c in REPORT_HEAVY else 0 for c in m.cats.codes], dtype=np.int64
    )
    tp_tab = np.array([TYPE_P["default"], TYPE_P["report"], TYPE_P["help"]])
    cdf = np.cumsum(tp_tab[kind_of[ev_cat]], axis=1)
    u = r_ev.random(len(ev_cat))
    tp = (u[:, None] > cdf).sum(1).astype(np.int64)
    no_consult = (origin > 0) | phrase
    cdf_nc = np.cumsum(tp_tab[kind_of[ev_cat]][:, 1:], axis=1)
    tp_nc = 1 + (u[:, None] * cdf_nc[:, -1:] > cdf_nc).sum(1)
    tp = np.where(no_consult, tp_nc, tp)
    tp = np.where(~has_place, 0, tp)
    tp = np.where(grid, 3, tp)
    return np.minimum(tp, 4)


def _reception_times(
    m: _Model, r_ev: np.random.Generator, ev_cat: IntArray, ev_day: IntArray, ch: IntArray
) -> IntArray:
    """Reception time (local wall-clock seconds since the epoch) by channel's hour profile."""
    n = len(ev_cat)
    cal = m.cal
    summer = (cal.month[ev_day] >= 5) & (cal.month[ev_day] <= 8)
    noisy = np.array([c in NOISY for c in m.cats.codes])[ev_cat]
    prof = np.where(ch == 0, 0, np.where(ch == 3, 2, 1))
    prof = np.where(noisy & (ch != 3), np.where(summer, 4, 3), prof)
    hour = np.zeros(n, dtype=np.int64)
    u = r_ev.random(n)
    for pi, hp in enumerate(HOUR_PROFILES):
        sel = prof == pi
        hour[sel] = _cdf_pick(np.cumsum(np.asarray(hp, dtype=np.float64)), u[sel])
    sec = hour * HOUR_S + r_ev.integers(0, HOUR_S, n)
    day0 = cal.days.astype("datetime64[s]").astype(np.int64)
    return day0[ev_day] + sec


def _reported_categories(m: _Model, ev: _Events) -> npt.NDArray[np.object_]:
    """The category as reported (grid patrols use the CJ/T 214 event code)."""
    reported = ev.code.copy()
    for i in np.flatnonzero(ev.grid).tolist():
        code = PATROL_CODES.get(str(ev.code[i]))
        if code and code in m.cats.all_codes:
            reported[i] = code
    return reported


def _handling(m: _Model, ev: _Events, r_h: np.random.Generator, year: int) -> dict[str, Any]:
    """The handling history of each petition (community speed and mood from the "handling" stream)."""
    comm_of = _community_of(m, ev)
    speed = r_h.lognormal(0.0, 0.25, len(m.b.communities))
    mood = r_h.normal(0.0, 0.35, len(m.b.communities))
    return _handle(
        r_h,
        recv=ev.recv,
        cls=np.where(ev.tp == 0, -1, ev.cls),
        speed=np.where(comm_of >= 0, speed[np.maximum(comm_of, 0)], 1.0),
        mood=np.where(comm_of >= 0, mood[np.maximum(comm_of, 0)], 0.0),
        cutoff=int(np.datetime64(f"{year + 1}-01-01", "s").astype(np.int64)),
    )


def _community_of(m: _Model, ev: _Events) -> IntArray:
    return np.where(ev.has_place, m.b.community[np.maximum(ev.bld, 0)], -1)


def _cell_of(m: _Model, ev: _Events) -> IntArray:
    return np.where(ev.has_place, m.b.cell[np.maximum(ev.bld, 0)], -1)


@dataclass
class _Callers:
    person: IntArray  # index of the caller among all residents
    contact_name: list[str]
    contact_phone: list[str]


def _callers(m: _Model, ev: _Events, seed: int) -> _Callers:
    """The caller of each petition: a resident (of the building, else anyone), or the cell's grid
    officer for a patrol report ("people" and "officers" streams)."""
    b = m.b
    n = len(ev.bld)
    off_b = _first_person(b)
    r_p = _rng(seed, "people")
    names, phones = _people(r_p, int(off_b[-1] + b.hh[-1]) + 1)
    off_names, off_phones = _people(_rng(seed, "officers"), m.n_cells)
    home = np.where(ev.has_place, ev.bld, _cdf_pick(np.cumsum(b.hh), r_p.random(n)))
    hh_home = np.maximum(b.hh[home], 1)
    idx = np.floor(hh_home * r_p.random(n) ** 2.5).astype(np.int64)
    person = np.where(ev.caller_fixed >= 0, ev.caller_fixed, off_b[home] + idx)
    cell_of = _cell_of(m, ev)
    return _Callers(
        person=person,
        contact_name=[off_names[cell_of[i]] if ev.grid[i] else names[person[i]] for i in range(n)],
        contact_phone=[off_phones[cell_of[i]] if ev.grid[i] else phones[person[i]] for i in range(n)],
    )


@dataclass
class _Coordinates:
    has_xy: BoolArray
    lon: FloatArray
    lat: FloatArray
    datum: npt.NDArray[np.object_]


def _coordinates(m: _Model, ev: _Events, r_x: np.random.Generator) -> _Coordinates:
    """Coordinates 10-30 m from the building for part of the app and patrol petitions (some GCJ-02)."""
    n = len(ev.bld)
    p_coord = np.array([0.0, 0.58, 0.47, 0.75])[ev.ch]
    has_xy = ev.has_place & (r_x.random(n) < p_coord)
    dist = r_x.uniform(10.0, 30.0, n)
    ang = r_x.uniform(0.0, 2 * math.pi, n)
    blon, blat = m.b.lon[np.maximum(ev.bld, 0)], m.b.lat[np.maximum(ev.bld, 0)]
    lat = blat + dist * np.cos(ang) / 110_540.0
    lon = blon + dist * np.sin(ang) / (111_320.0 * np.cos(np.radians(blat)))
    gcj = has_xy & (ev.ch == 1) & (r_x.random(n) < 0.3)
    if gcj.any():
        import prcoords

        for i in np.flatnonzero(gcj).tolist():
            g = prcoords.wgs_gcj((float(lat[i]), float(lon[i])))
            lat[i], lon[i] = g[0], g[1]
    return _Coordinates(
        has_xy=has_xy,
        lon=np.where(has_xy, np.round(lon, 7), np.nan),
        lat=np.where(has_xy, np.round(lat, 7), np.nan),
        datum=_masked(has_xy, np.where(gcj, "gcj02", "wgs84").astype(object)),
    )


def _texts(
    m: _Model,
    ev: _Events,
    person: IntArray,
    has_xy: BoolArray,
    forms: dict[str, list[list[str]]],
    r_t: np.random.Generator,
) -> tuple[list[str], list[str | None]]:
    """(text, address) of each petition from the category's templates and the place's forms."""
    n = len(ev.bld)
    U = r_t.random((n, 12))
    mode_u = U[:, 0]
    addr_mode = np.where(
        has_xy,
        np.where(mode_u < 0.40, 1, np.where(mode_u < 0.85, 2, 0)),
        np.where(mode_u < 0.47, 1, 2),
    )
    addr_mode = np.where(ev.has_place, addr_mode, 0)  # 0 none, 1 standard, 2 colloquial
    texts: list[str] = []
    addresses: list[str | None] = []
    std = m.b.frame["address"].tolist()
    for i in range(n):
        kind, tpl = _template(m.cats, ev, i, U[i])
        j = int(ev.bld[i])
        place, unit_room = ("", "") if kind == "N" else _place(m.b, forms, kind, tpl, j, int(person[i]), U[i])
        mention = kind != "N" and (ev.grid[i] or U[i, 7] < 0.75)
        p_text = (place + unit_room) if mention else GENERIC_PLACE[kind]
        texts.append(_text(ev, i, tpl.format(p=p_text, t=12 + int(U[i, 8] * 6)), U[i]))
        if addr_mode[i] == 0:
            addresses.append(None)
        elif addr_mode[i] == 1:
            addresses.append(std[j] + (unit_room if unit_room and U[i, 5] < 0.5 else ""))
        elif kind == "N":
            addresses.append(forms["B"][j][int(U[i, 3] * len(forms["B"][j]))])
        else:
            addresses.append(place + (unit_room if unit_room and U[i, 6] < 0.5 else ""))
    return texts, addresses


def _template(cats: _Cats, ev: _Events, i: int, u: FloatArray) -> tuple[str, str]:
    """(place kind, template) of petition ``i``; kind "N" (no place) for a petition without one."""
    c = int(ev.cat[i])
    code = cats.codes[c]
    t_name = TYPES[int(ev.tp[i])]
    tpl_set = TEMPLATES.get(code, {})
    if ev.phrase[i] and "f" in tpl_set:
        pool = tpl_set["f"]
    elif t_name == "consultation":
        pool = tpl_set.get("q") or (("N", f"咨询{cats.names[c]}相关问题"),)
    else:
        pool = tpl_set.get("k") or (("C" if ev.has_place[i] else "N", f"{{p}}存在{cats.names[c]}方面的问题"),)
    kind, tpl = pool[int((ev.tpl_fixed[i] if ev.tpl_fixed[i] >= 0 else u[1]) * len(pool))]
    if not ev.has_place[i]:
        kind = "N"
        tpl = tpl.replace("{p}", "")
    return kind, tpl


def _place(
    b: _Buildings, forms: dict[str, list[list[str]]], kind: str, tpl: str, j: int, who: int, u: FloatArray
) -> tuple[str, str]:
    """(place, unit and room) that petition text names for building ``j`` and place kind ``kind``."""
    if kind == "S":
        sp = forms["S"][j]
        src = sp if sp and u[2] < 0.65 else forms["R"][j] or forms["B"][j]
    elif kind == "C":
        src = forms["C"][j]
    else:
        src = forms["B"][j]
    place = src[int(u[3] * len(src))]
    unit_room = ""
    if kind == "I":  # the caller's own flat (the same for every call of that person)
        floor = 1 + (who // 4) % int(b.floors[j])
        unit_room = f"{1 + who % 4}单元{floor}{1 + (who // 97) % 4:02d}"
    if place.endswith("里") and "{p}里" in tpl:
        place += "小区"  # 水碓西里小区里, not 水碓西里里
    return place, unit_room


def _text(ev: _Events, i: int, body: str, u: FloatArray) -> str:
    """The petition's text: ``body`` with the repeat or surge remark and the channel's framing."""
    t_name = TYPES[int(ev.tp[i])]
    if ev.repk[i] >= 1:
        body += f"，之前已经反映过{int(ev.repk[i])}次了，一直没有解决"
    elif ev.origin[i] == 1 and u[9] < 0.4:
        body += "，好几户邻居都有同样的问题"
    channel = CHANNELS[int(ev.ch[i])]
    if channel == "grid_patrol":
        return f"网格员巡查发现：{body}，已拍照上报。"
    if channel == "hotline":
        sfx = SUFFIX["hotline"][t_name]
        if t_name == "consultation":
            pre = PREFIX_HOTLINE_Q[int(u[10] * len(PREFIX_HOTLINE_Q))]
        else:
            pre = PREFIX_HOTLINE[int(u[10] * len(PREFIX_HOTLINE))]
        return pre + body + sfx[int(u[11] * len(sfx))]
    sfx = SUFFIX["app"][t_name]
    return body + sfx[int(u[11] * len(sfx))]


def _year_frame(
    m: _Model,
    ev: _Events,
    people: _Callers,
    xy: _Coordinates,
    texts: list[str],
    addresses: list[str | None],
    hist: dict[str, Any],
    *,
    year: int,
    tz: str,
) -> pd.DataFrame:
    """The petitions table (intake columns, the truth, the handling history)."""
    b = m.b
    n = len(ev.bld)
    has_place = ev.has_place
    bid = b.frame["building_id"].to_numpy(dtype=object)
    true_b = _masked(has_place, bid[np.maximum(ev.bld, 0)])
    true_cell = _masked(has_place, np.array(b.cell_codes, dtype=object)[np.maximum(_cell_of(m, ev), 0)])
    true_comm = _masked(has_place, np.array(b.communities, dtype=object)[np.maximum(_community_of(m, ev), 0)])

    def ts(x: IntArray) -> pd.Series:
        v = np.where(x == NAT, np.datetime64("NaT", "s"), x.astype("datetime64[s]"))
        return pd.Series(
            pd.DatetimeIndex(v).tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
        ).astype(f"datetime64[us, {tz}]")

    def strs(values: Any) -> pd.Series:
        return pd.Series(list(values), dtype="str")

    return pd.DataFrame(
        {
            "external_id": strs(f"SP{year}-{i + 1:06d}" for i in range(n)),
            "received_at": ts(ev.recv),
            "channel": strs(CHANNELS[int(x)] for x in ev.ch),
            "type": strs(TYPES[int(x)] for x in ev.tp),
            "category": strs(ev.reported),
            "urgency": strs("urgent" if f else None for f in ev.urgent),
            "text": strs(texts),
            "address": strs(addresses),
            "lon": xy.lon.astype(np.float64),
            "lat": xy.lat.astype(np.float64),
            "datum": strs(xy.datum),
            "contact_name": strs(people.contact_name),
            "contact_phone": strs(people.contact_phone),
            "true_building_id": strs(true_b),
            "true_cell_code": strs(true_cell),
            "true_community_code": strs(true_comm),
            "accepted_at": ts(hist["accepted"]),
            "resolved_at": ts(hist["resolved"]),
            "callback_at": ts(hist["callback"]),
            "closed_at": ts(hist["closed"]),
            "callback_resolved": pd.Series(  # True / False / None (no callback answer)
                [None if x < 0 else bool(x) for x in hist["cb_resolved"]], dtype=object
            ),
            "callback_satisfaction": strs(
                None if x < 0 else SATISFACTION[int(x)] for x in hist["satisfaction"]
            ),
            "callback_none_reason": strs(
                None if x < 0 else NONE_REASONS[int(x)][0] for x in hist["none_reason"]
            ),
            "final_status": strs(hist["status"]),
        }
    )


def _manifest(
    m: _Model,
    hot: _Hotspots,
    chronic: list[dict[str, Any]],
    planted: tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None],
    street_code: str,
    run: dict[str, Any],
) -> dict[str, Any]:
    """The manifest of the planted effects (``run``: seed, year, rate, tz, count)."""
    surges, repeats, rising = planted
    cell_rate = (m.G @ (m.A @ m.w[m.placed])) / np.maximum(m.cell_hh, 1e-9)
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": run["seed"],
        "year": run["year"],
        "rate": run["rate"],
        "tz": run["tz"],
        "count": run["count"],
        "households": int(m.H),
        "street_code": street_code,
        "hotspots": hot.records,
        "surges": surges,
        "repeat_places": repeats,
        "rising_phrase": rising,
        "background": {
            "chronic_places": chronic,
            "cell_rate_ratio_max": _r(float(cell_rate[hot.big].max() / hot.med), 3),
            "cell_rate_ratio_min": _r(float(cell_rate[hot.big].min() / hot.med), 3),
            "note": "background structure, not planted: chronic places (a building-category pair at "
            "1.6-3x all year) and the natural spread of per-household rates between cells (of >= 200 "
            "households) relative to the median cell",
        },
    }


def _surge_needed(base: float) -> float:
    """The smallest surge factor whose expected count has a Poisson tail below 1e-4 (may exceed 3)."""
    from scipy.stats import poisson

    k = float(poisson.isf(1e-4, base)) + 1.0
    return k / base


def _snap_working_hours(t: IntArray, u: FloatArray, start_h: float = 8.5, end_h: float = 20.0) -> IntArray:
    """Move times outside [start_h, end_h) to the next morning (start_h + up to 2 hours)."""
    tod = t % DAY_S
    day = t - tod
    s0, s1 = int(start_h * HOUR_S), int(end_h * HOUR_S)
    jitter = (u * 2 * HOUR_S).astype(np.int64)
    return np.where(tod < s0, day + s0 + jitter, np.where(tod >= s1, day + DAY_S + s0 + jitter, t))


def _handle(
    rng: np.random.Generator,
    *,
    recv: IntArray,
    cls: IntArray,
    speed: FloatArray,
    mood: FloatArray,
    cutoff: int,
) -> dict[str, Any]:
    """Simulated handling (local wall-clock seconds, NAT = not yet / never).

    ``cls``: -1 consultation, else the index in CLASSES. Snapshot at ``cutoff`` (end of the year).
    """
    from grid.workcal import WorkCalendar

    n = len(recv)
    cal = WorkCalendar.china()
    consult = cls < 0
    direct = consult & (rng.random(n) < 0.7)  # answered on the call by the hotline
    u = rng.random((n, 8))
    # acceptance by the handling unit
    delay = np.select(
        [cls == 0, cls == 1],
        [rng.lognormal(math.log(360), 0.5, n), rng.lognormal(math.log(1200), 0.7, n)],
        rng.lognormal(math.log(2700), 0.8, n),
    ).astype(np.int64)
    accepted = recv + delay
    office = (cls >= 2) | (consult & ~direct)
    accepted = np.where(office, _snap_working_hours(accepted, u[:, 0], 8.0, 20.0), accepted)
    accepted = np.where(direct, recv, accepted)
    # resolution (answer)
    hours = (
        np.select(
            [cls == 0, cls == 1],
            [rng.lognormal(math.log(1.1), 0.55, n), rng.lognormal(math.log(9.0), 0.65, n)],
            0.0,
        )
        * speed
    )
    wdays = (
        np.select(
            [cls == 2, cls == 3],
            [rng.lognormal(math.log(2.8), 0.6, n), rng.lognormal(math.log(7.5), 0.5, n)],
            rng.lognormal(math.log(1.5), 0.6, n),
        )
        * speed
    )
    whole = np.floor(wdays).astype(np.int64)
    frac = wdays - whole
    acc_day = (accepted // DAY_S).astype("datetime64[D]")
    later = cal.add_working_days_array(acc_day, np.maximum(whole, 1)).astype("datetime64[s]").astype(np.int64)
    later = later - DAY_S + int(8.5 * HOUR_S) + (frac * 10 * HOUR_S).astype(np.int64)
    same_day = accepted + (frac * 10 * HOUR_S).astype(np.int64)
    by_days = np.where(whole >= 1, np.maximum(later, accepted + 600), same_day)
    resolved = np.where(cls <= 1, accepted + (hours * HOUR_S).astype(np.int64), by_days)
    resolved = np.where(
        cls >= 0, resolved, np.where(direct, recv + (120 + u[:, 1] * 780).astype(np.int64), by_days)
    )
    resolved = np.maximum(resolved, accepted)
    # deadlines (the product's rule: 2 h, 24 h, 7 / 15 working days from the day after receipt)
    recv_day = (recv // DAY_S).astype("datetime64[D]")
    wd7 = cal.add_working_days_array(recv_day, 7).astype("datetime64[s]").astype(np.int64)
    wd15 = cal.add_working_days_array(recv_day, 15).astype("datetime64[s]").astype(np.int64)
    due = np.select([cls == 0, cls == 1, cls == 3], [recv + 2 * HOUR_S, recv + 24 * HOUR_S, wd15], wd7)
    late = resolved > due
    # callback (回访)
    none = rng.random(n) < 0.05
    reason = _cdf_pick(np.cumsum([r[1] for r in NONE_REASONS]), rng.random(n))
    attempted = np.array([r[2] for r in NONE_REASONS])[reason]
    cb_delay = rng.lognormal(math.log(30 * HOUR_S), 0.5, n).astype(np.int64)
    callback = _snap_working_hours(resolved + cb_delay, u[:, 2], 9.0, 20.0)
    callback = np.where(none & ~attempted, NAT, callback)
    base_p = np.where(direct, 0.93, np.where(late, 0.6, 0.85))
    logit = np.log(base_p / (1 - base_p)) + mood / 2
    yes = rng.random(n) < 1 / (1 + np.exp(-logit))
    probs = np.where(
        (yes & ~late)[:, None],
        np.array([0.82, 0.13, 0.05]),
        np.where(yes[:, None], np.array([0.55, 0.25, 0.20]), np.array([0.30, 0.25, 0.45])),
    )
    probs = np.where(direct[:, None], np.array([0.88, 0.09, 0.03]), probs)
    probs = probs * np.exp(np.stack([mood, np.zeros(n), -mood], axis=1))
    sat = (u[:, 3:4] * probs.sum(1, keepdims=True) > np.cumsum(probs, axis=1)).sum(1)
    closed = np.where(
        callback != NAT,
        callback + rng.lognormal(math.log(60 * HOUR_S), 0.6, n).astype(np.int64),  # review, then close
        resolved + (2 * DAY_S + u[:, 4] * 3 * DAY_S).astype(np.int64),
    )
    # the snapshot at the end of the year
    is_closed = closed <= cutoff
    is_resolved = ~is_closed & (resolved <= cutoff)
    is_accepted = ~is_closed & ~is_resolved & (accepted <= cutoff)
    status = np.where(
        is_closed,
        "closed",
        np.where(is_resolved, "resolved", np.where(is_accepted, "in_progress", "dispatched")),
    )
    keep_cb = is_closed
    return {
        "accepted": np.where(accepted <= cutoff, accepted, NAT),
        "resolved": np.where(is_closed | is_resolved, resolved, NAT),
        "callback": np.where(keep_cb, callback, NAT),
        "closed": np.where(is_closed, closed, NAT),
        "cb_resolved": np.where(keep_cb & ~none, yes.astype(np.int64), -1),
        "satisfaction": np.where(keep_cb & ~none, sat, -1),
        "none_reason": np.where(keep_cb & none, reason, -1),
        "status": status.tolist(),
        "due": due,
        "late": late,
    }


# --- writing ------------------------------------------------------------------------------------------


def _iso_series(s: pd.Series) -> pd.Series:
    """ISO 8601 with a ±HH:MM offset (e.g. 2023-01-01T08:05:03+08:00); empty for NaT."""
    body = s.dt.strftime("%Y-%m-%dT%H:%M:%S")
    off = s.dt.strftime("%z")
    out = body + off.str.slice(0, 3) + ":" + off.str.slice(3, 5)
    return out.where(s.notna(), "")


def write(petitions: pd.DataFrame, manifest: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """``petitions.csv`` (the intake columns a 12345 centre exports; UTF-8, ISO 8601 times with
    offset), ``petitions_truth.parquet`` (every column) and ``planted.json`` (the manifest) in
    ``out_dir``; deterministic bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "csv": out_dir / "petitions.csv",
        "truth": out_dir / "petitions_truth.parquet",
        "planted": out_dir / "planted.json",
    }
    intake = petitions.loc[:, list(INTAKE_COLUMNS)].copy()
    intake["received_at"] = _iso_series(intake["received_at"])
    intake.to_csv(paths["csv"], index=False, encoding="utf-8", lineterminator="\n", float_format="%.7f")
    table = pa.Table.from_pandas(petitions.reset_index(drop=True), preserve_index=False)
    pq.write_table(table, paths["truth"], compression="zstd")
    paths["planted"].write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return paths


# --- the Beijing-size generator ------------------------------------------------------------------------------

#: Beijing's 16 districts and their relative share of households (2020 census, rounded)
DISTRICTS: Final[Mapping[str, float]] = {
    "110101": 3.0, "110102": 4.5, "110105": 16.0, "110106": 9.5, "110107": 2.5, "110108": 14.0,
    "110109": 1.5, "110111": 5.5, "110112": 8.0, "110113": 6.0, "110114": 9.5, "110115": 8.5,
    "110116": 2.0, "110117": 2.0, "110118": 2.0, "110119": 1.5,
}  # fmt: skip


def synthetic_cells(n_cells: int = 30_000, seed: int = 1) -> pd.DataFrame:
    """A Beijing-like cell table for benchmarks: the 16 real district codes, ~n_cells/88 streets
    (~340 at 30,000 cells), ~n_cells/4.3 communities (~7,000), cells of households ~ N(300, 40).

    Codes: street = district + 3 digits, community = street + 3 digits, cell = community + "9" + 2
    digits. Columns cell_code, community_code, street_code, district_code, households."""
    if n_cells < 16:
        raise InputError("n_cells must be >= 16 (one per district)", code="bad_params")
    rng = _rng(seed, "synthetic_cells")
    dcodes = list(DISTRICTS)
    share = np.array([DISTRICTS[d] for d in dcodes])
    share = share / share.sum()
    n_comm = max(16, round(n_cells / 4.3))
    n_streets = max(16, round(n_cells / 88))
    n_comm = max(n_comm, n_streets)
    st_per_d = 1 + rng.multinomial(n_streets - 16, share)
    street_codes: list[str] = []
    street_d: list[int] = []
    for di, k in enumerate(st_per_d.tolist()):
        for s in range(k):
            street_codes.append(f"{dcodes[di]}{s + 1:03d}")
            street_d.append(di)
    st_share = share[street_d] * rng.gamma(8.0, 1 / 8.0, len(street_codes))
    st_share = st_share / st_share.sum()
    comm_per_s = 1 + rng.multinomial(n_comm - len(street_codes), st_share)
    comm_codes: list[str] = []
    comm_s: list[int] = []
    for si, k in enumerate(comm_per_s.tolist()):
        for c in range(k):
            comm_codes.append(f"{street_codes[si]}{c + 1:03d}")
            comm_s.append(si)
    cm_share = st_share[comm_s] / comm_per_s[comm_s] * rng.gamma(6.0, 1 / 6.0, len(comm_codes))
    cm_share = cm_share / cm_share.sum()
    cells_per_c = np.minimum(99, 1 + rng.multinomial(n_cells - len(comm_codes), cm_share))
    short = n_cells - int(cells_per_c.sum())
    while short > 0:  # capped communities: give the rest to the smallest ones
        small = np.argsort(cells_per_c, kind="stable")[:short]
        cells_per_c[small] += 1
        short = n_cells - int(cells_per_c.sum())
    comm_ix = np.repeat(np.arange(len(comm_codes)), cells_per_c)
    within = np.arange(len(comm_ix)) - np.repeat(np.cumsum(cells_per_c) - cells_per_c, cells_per_c)
    comm_arr = np.array(comm_codes, dtype=object)[comm_ix]
    cell_codes = [f"{c}9{k + 1:02d}" for c, k in zip(comm_arr.tolist(), within.tolist(), strict=True)]
    hh = np.clip(np.round(rng.normal(300, 40, len(cell_codes))), 80, None).astype(np.int64)
    return pd.DataFrame(
        {
            "cell_code": pd.Series(cell_codes, dtype="str"),
            "community_code": pd.Series(comm_arr.tolist(), dtype="str"),
            "street_code": pd.Series([c[:9] for c in comm_arr.tolist()], dtype="str"),
            "district_code": pd.Series([c[:6] for c in comm_arr.tolist()], dtype="str"),
            "households": hh,
        }
    )


def _lead_kind(code: str, top: str) -> tuple[str, str]:
    """(level, kind) of the lead department of a placed category, by the routing catalogue's rules."""
    from data.routing import DEPARTMENT_KINDS, DISTRICT_RULES, STREET_RULES
    from grid.routing import GOV_KIND

    if code in STREET_RULES:
        kind = STREET_RULES[code][0]
        return DEPARTMENT_KINDS[kind][0], kind
    for c in (code, top):
        if c in DISTRICT_RULES:
            return "district", DISTRICT_RULES[c][0]
    return "district", GOV_KIND


def generate_city(
    n: int = 20_000_000,
    *,
    year: int = 2023,
    seed: int = 1,
    cells: pd.DataFrame | None = None,
    chunk: int = 2_000_000,
    out: Path,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """A Beijing-size year of ``n`` petitions for benchmarks, written to ``out`` (Parquet, one row
    group per ``chunk`` rows); fully vectorised.

    ``cells``: cell_code, community_code, street_code, district_code, households (default
    :func:`synthetic_cells`). Rows are in ``received_at`` order (``id`` 1..n); a row group holds
    ~``chunk`` rows (whole days). Placeless
    categories (consultations answered by the city) have no cell/community/street/district and
    the city department as lead. ``department_code``: the lead department of the routing
    catalogue's rules (:mod:`data.routing`: ``{street}-{kind}`` for the matters a street leads,
    ``{district}-{kind}`` otherwise, ``110000-{kind}`` for placeless ones). ``due_at``: the
    default limits (2 h, 24 h, 7 and 15 working days of the Chinese working calendar, vectorised);
    not the configurable deadline module of a running system. ``answered_at``: null for ~2% never
    answered and for what is unanswered at the end of the year. ``merged`` ~3% (duplicates).
    ``progress(done, n)`` is called after each chunk.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from data.routing import CITY_HOTLINE_KIND, CITY_RULES
    from grid.workcal import WorkCalendar

    if n < 1 or chunk < 1:
        raise InputError("n and chunk must be >= 1", code="bad_params")
    cells = synthetic_cells(seed=seed) if cells is None else cells
    need = ("cell_code", "community_code", "street_code", "district_code", "households")
    missing = [c for c in need if c not in cells.columns]
    if missing:
        raise InputError(f"cells have no {', '.join(missing)} column(s)", code="missing_field")
    cl = cells.loc[:, list(need)].copy()
    for c in need[:4]:
        cl[c] = cl[c].astype(str)
    cl = cl.sort_values("cell_code").reset_index(drop=True)
    cats = _categories(load_categories())
    cal = _calendar(year)
    wcal = WorkCalendar.china()
    S = np.vstack([_season(c, cal) for c in cats.codes])
    w = cats.weight / cats.weight.sum()
    rng = _rng(seed, "city")
    day_p = cal.dayw * (w @ S)
    counts = rng.multinomial(n, day_p / day_p.sum())
    cum = np.cumsum(counts)
    month_cdf = np.vstack([np.cumsum(w * S[:, cal.month == m].mean(axis=1)) for m in range(12)])  # 12 × n_c
    hh = cl["households"].to_numpy(np.float64) * rng.gamma(6.0, 1 / 6.0, len(cl))
    cell_cdf = np.cumsum(hh)
    # dictionaries and per-cell indices
    dicts: dict[str, pa.Array] = {}
    idx: dict[str, npt.NDArray[np.int32]] = {}
    for col in need[:4]:
        uniq, inv = np.unique(cl[col].to_numpy(dtype=object).astype(str), return_inverse=True)
        dicts[col] = pa.array(uniq.tolist(), type=pa.string())
        idx[col] = inv.astype(np.int32)
    street_dist = np.zeros(len(dicts["street_code"]), dtype=np.int64)
    street_dist[idx["street_code"]] = idx["district_code"]
    # lead department per (street, category)
    n_c = len(cats.codes)
    n_st = len(dicts["street_code"])
    streets = dicts["street_code"].to_pylist()
    districts = dicts["district_code"].to_pylist()
    dept_names: list[str] = []
    dept_ix: dict[str, int] = {}

    def dept(code: str) -> int:
        if code not in dept_ix:
            dept_ix[code] = len(dept_names)
            dept_names.append(code)
        return dept_ix[code]

    lead = np.zeros((n_st, n_c), dtype=np.int32)
    for ci, (code, top) in enumerate(zip(cats.codes, cats.top, strict=True)):
        if not cats.needs_place[ci]:
            kind = CITY_RULES.get(code) or CITY_RULES.get(top) or CITY_HOTLINE_KIND
            lead[:, ci] = dept(f"{CITY_CODE}-{kind}")
            continue
        level, kind = _lead_kind(code, top)
        for si in range(n_st):
            unit = streets[si] if level == "street" else districts[street_dist[si]]
            lead[si, ci] = dept(f"{unit}-{kind}")
    dept_dict = pa.array(dept_names, type=pa.string())
    placeless_dept = np.array(
        [lead[0, ci] if not cats.needs_place[ci] else -1 for ci in range(n_c)], dtype=np.int32
    )
    cat_dict = pa.array(cats.codes, type=pa.string())
    cls_of = np.array([CLASSES.index(u) if u in CLASSES else 2 for u in cats.urgency], dtype=np.int64)
    cls_dict = pa.array(list(CLASSES), type=pa.string())
    sat_dict = pa.array(list(SATISFACTION), type=pa.string())
    status_dict = pa.array(["closed", "resolved", "in_progress", "dispatched", "merged"], type=pa.string())
    hour_cdf = np.cumsum(
        0.70 * np.asarray(HOURS_HOTLINE) / sum(HOURS_HOTLINE)
        + 0.25 * np.asarray(HOURS_APP) / sum(HOURS_APP)
        + 0.05 * np.asarray(HOURS_PATROL) / sum(HOURS_PATROL)
    )
    day0 = int(np.datetime64(f"{year}-01-01", "s").astype(np.int64))
    cutoff = int(np.datetime64(f"{year + 1}-01-01", "s").astype(np.int64)) - CITY_UTC_OFFSET_S
    ts_type = pa.timestamp("us", tz=CITY_TZ)
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("received_at", ts_type),
            ("category", pa.dictionary(pa.int16(), pa.string())),
            ("urgency", pa.string()),
            ("cell_code", pa.dictionary(pa.int32(), pa.string())),
            ("community_code", pa.dictionary(pa.int32(), pa.string())),
            ("street_code", pa.dictionary(pa.int32(), pa.string())),
            ("district_code", pa.dictionary(pa.int32(), pa.string())),
            ("department_code", pa.string()),
            ("due_at", ts_type),
            ("answered_at", ts_type),
            ("callback_resolved", pa.bool_()),
            ("callback_satisfaction", pa.dictionary(pa.int8(), pa.string())),
            ("merged", pa.bool_()),
            ("status", pa.string()),
        ]
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        # chunks end at the end of a day (times are sorted within a day, so ids follow received_at)
        bounds_: list[int] = [0]
        while bounds_[-1] < n:
            end = int(cum[int(np.searchsorted(cum, min(bounds_[-1] + chunk, n), side="left"))])
            bounds_.append(max(end, bounds_[-1] + 1))
        for k, (start, stop) in enumerate(itertools.pairwise(bounds_)):
            m = stop - start
            r = np.random.default_rng(np.random.SeedSequence([seed, 20_000_000, k]))
            rows = np.arange(start, start + m, dtype=np.int64)
            day = np.searchsorted(cum, rows, side="right")
            sec = _cdf_pick(hour_cdf, r.random(m)) * HOUR_S + r.integers(0, HOUR_S, m)
            key = np.sort(day * DAY_S + sec)
            day = key // DAY_S
            recv = day0 + key - CITY_UTC_OFFSET_S  # UTC seconds
            # category by month (rows are in time order: months are contiguous)
            mon = cal.month[day]
            cat = np.zeros(m, dtype=np.int64)
            u = r.random(m)
            bounds = np.searchsorted(mon, np.arange(13))
            for mm in range(12):
                a, e = int(bounds[mm]), int(bounds[mm + 1])
                if e > a:
                    cat[a:e] = _cdf_pick(month_cdf[mm], u[a:e])
            placed = cats.needs_place[cat]
            cell = _cdf_pick(cell_cdf, r.random(m))
            st = idx["street_code"][cell]
            dep = np.where(placed, lead[st, cat], placeless_dept[cat])
            cls = cls_of[cat]
            urgent = (cls == 1) & (r.random(m) < 0.03)
            cls = np.where(urgent, 0, cls)
            # deadlines and answers (local days for the working-day rule)
            local_day = ((recv + CITY_UTC_OFFSET_S) // DAY_S).astype("datetime64[D]")
            wd = np.where(cls == 3, 15, 7)
            wd_due = wcal.add_working_days_array(local_day, wd).astype("datetime64[s]").astype(np.int64)
            due = np.select(
                [cls == 0, cls == 1], [recv + 2 * HOUR_S, recv + 24 * HOUR_S], wd_due - CITY_UTC_OFFSET_S
            )
            dur_h = np.select(
                [cls == 0, cls == 1, cls == 2],
                [r.lognormal(math.log(1.1), 0.55, m), r.lognormal(math.log(9.0), 0.65, m),
                 r.lognormal(math.log(2.8 * 24 * 7 / 5), 0.65, m)],
                r.lognormal(math.log(7.5 * 24 * 7 / 5), 0.55, m),
            )  # fmt: skip
            answered = recv + (dur_h * HOUR_S).astype(np.int64)
            office = _snap_working_hours(answered + CITY_UTC_OFFSET_S, r.random(m)) - CITY_UTC_OFFSET_S
            answered = np.where(cls >= 2, office, answered)
            never = r.random(m) < 0.02
            merged = r.random(m) < 0.03
            has_answer = ~never & (answered <= cutoff)
            late = answered > due
            cb_time = answered + r.lognormal(math.log(20 * HOUR_S), 0.5, m).astype(np.int64)
            has_cb = has_answer & ~merged & (cb_time <= cutoff)
            none = r.random(m) < 0.05
            base_p = np.where(late, 0.62, 0.88)
            yes = r.random(m) < base_p
            probs = np.where(
                (yes & ~late)[:, None],
                np.array([0.82, 0.13, 0.05]),
                np.where(yes[:, None], np.array([0.55, 0.25, 0.20]), np.array([0.30, 0.25, 0.45])),
            )
            sat = (r.random(m)[:, None] > np.cumsum(probs, axis=1)).sum(1).clip(0, 2).astype(np.int8)
            rated = has_cb & ~none
            status = np.select(
                [merged, has_cb, has_answer, (cutoff - recv) < 2 * DAY_S],
                [4, 0, 1, 3],
                2,
            ).astype(np.int8)

            def darr(
                ix: npt.NDArray[Any], valid: BoolArray, dictionary: pa.Array, t: pa.DataType
            ) -> pa.Array:
                return pa.DictionaryArray.from_arrays(
                    pa.array(ix.astype(t.to_pandas_dtype()), mask=~valid), dictionary
                )

            def tarr(us: IntArray, valid: BoolArray | None = None) -> pa.Array:
                return pa.array(us, type=pa.int64(), mask=None if valid is None else ~valid).cast(ts_type)

            table = pa.Table.from_arrays(
                [
                    pa.array(rows + 1, type=pa.int64()),
                    tarr(recv * 1_000_000),
                    darr(cat, np.ones(m, dtype=bool), cat_dict, pa.int16()),
                    pc.take(cls_dict, pa.array(cls.astype(np.int8))),
                    darr(cell, placed, dicts["cell_code"], pa.int32()),
                    darr(idx["community_code"][cell], placed, dicts["community_code"], pa.int32()),
                    darr(st, placed, dicts["street_code"], pa.int32()),
                    darr(idx["district_code"][cell], placed, dicts["district_code"], pa.int32()),
                    pc.take(dept_dict, pa.array(dep.astype(np.int32))),
                    tarr(due * 1_000_000),
                    tarr(answered * 1_000_000, has_answer),
                    pa.array(yes, type=pa.bool_(), mask=~rated),
                    darr(sat, rated, sat_dict, pa.int8()),
                    pa.array(merged, type=pa.bool_()),
                    pc.take(status_dict, pa.array(status)),
                ],
                schema=schema,
            )
            writer.write_table(table, row_group_size=m)
            if progress is not None:
                progress(start + m, n)
    tmp.replace(out)
    return out


# --- command line ----------------------------------------------------------------------------------------

app = typer.Typer(
    help="Synthetic 12345 petitions: a year of the sample street (with planted effects) or a "
    "Beijing-size year for benchmarks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def demo(
    out: Path = typer.Option(..., "--out", help="output directory"),
    year: int = typer.Option(2023, help="calendar year"),
    seed: int = typer.Option(20230, help="random seed"),
    rate: float = typer.Option(0.5, help="petitions per household per year (Beijing: ~2.4)"),
) -> None:
    """A year of the 双井 sample street: petitions.csv, petitions_truth.parquet, planted.json."""
    df, manifest = generate_year(demo_buildings(), load_categories(), year=year, seed=seed, rate=rate)
    paths = write(df, manifest, out)
    typer.echo(f"{len(df):,} petitions → {', '.join(str(p) for p in paths.values())}")


@app.command()
def city(
    n: int = typer.Option(20_000_000, "--n", help="number of petitions"),
    out: Path | None = typer.Option(None, "--out", help="Parquet file (default: the cache directory)"),
    year: int = typer.Option(2023, help="calendar year"),
    seed: int = typer.Option(1, help="random seed"),
    cells: int = typer.Option(30_000, help="number of synthetic cells"),
    chunk: int = typer.Option(2_000_000, help="rows per row group"),
) -> None:
    """A Beijing-size year for benchmarks (Parquet)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    path = out or default_cache_dir() / f"petitions_city_{n}_{cells}.parquet"
    with Progress(
        TextColumn("[bold]petitions"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
    ) as bar:  # fmt: skip
        task = bar.add_task("city", total=n)
        generate_city(
            n,
            year=year,
            seed=seed,
            cells=synthetic_cells(cells, seed=seed),
            chunk=chunk,
            out=path,
            progress=lambda done, _total: bar.update(task, completed=done),
        )
    typer.echo(f"{n:,} petitions → {path}")


if __name__ == "__main__":
    app()
