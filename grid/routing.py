"""Who handles a petition: the lead department and its co-handlers, by category and place.

Pure: works on plain rule and category dicts (as built by :func:`data.routing.build_routing` and
stored in ``routing_rule`` / ``category``); no database.

The rule (documented in ``data/README_catalogue.md``):

1. Look for rules of the petition's category on the units of the place, nearest first
   (grid -> community -> street -> district): the **nearest unit that has rules for the
   category wins**; its ``lead`` rule names the lead department and its ``co`` rules the
   co-handlers (a street's own rule overrides the district's).
2. When no unit in the chain has rules for the category, try its **parent category** the same
   way, then the grandparent, up to the top category.
3. When nothing matches, the **district government** (区政府) owns it: 属地兜底. The answer says
   so (``fallback=True``) so that the case can be reviewed rather than silently guessed.
4. A **placeless** category (a consultation: no place, so no district) is routed on the city alone;
   when the city has no rule for it, the city hotline itself (``{city}-12345``) answers it
   directly, with no co-handlers (:func:`placeless_route`).

Co-handlers are ordered by the rule's ``order`` (default 0), then by department code, without
duplicates and never repeating the lead: the same input always gives the same answer.

>>> rules = [
...     {"category_code": "A", "unit_code": "110105", "department_code": "110105-cgw", "role": "lead"},
...     {"category_code": "A1", "unit_code": "110105016", "department_code": "110105016-cgb", "role": "lead"},
...     {"category_code": "A1", "unit_code": "110105016", "department_code": "110105-cgzf", "role": "co"},
... ]
>>> cats = [{"code": "A", "parent_code": None},
...         {"code": "A1", "parent_code": "A"}, {"code": "A2", "parent_code": "A"}]
>>> resolve("A1", ["110105016001", "110105016", "110105"], rules, cats).lead
'110105016-cgb'
>>> a = resolve("A2", ["110105016001", "110105016", "110105"], rules, cats)
>>> (a.lead, a.category_used, a.decided_at_unit, a.fallback)
('110105-cgw', 'A', '110105', False)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from grid.errors import ConfigError, InputError

__all__ = [
    "CITY_HOTLINE_KIND",
    "GOV_KIND",
    "RoutingAnswer",
    "RuleBook",
    "fallback_department_for",
    "hotline_department_for",
    "placeless_route",
    "resolve",
]

GOV_KIND = "gov"  # department kind of the district government; its code is f"{district_code}-gov"
CITY_HOTLINE_KIND = "12345"  # department kind of the city hotline; its code is f"{city_code}-12345"
PLACELESS_REASON = "no city rule for this placeless category: the hotline answers it directly"
DISTRICT_CODE_LENGTH = 6  # GB/T 2260


@dataclass(frozen=True)
class RoutingAnswer:
    """The owner of a petition and why."""

    category_code: str
    lead: str
    co: list[str] = field(default_factory=list)
    decided_at_unit: str | None = None  # the unit whose rules decided; None on fallback
    category_used: str | None = None  # the category whose rules applied (the asked one or an ancestor)
    fallback: bool = False  # True: no rule matched; the district government owns it (属地兜底)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fallback_department_for(unit_chain: Sequence[str]) -> str:
    """The district government of a place: the nearest unit in the chain with a 6-character
    (district) code, else the top-most unit; its department code is ``{code}-gov``."""
    if not unit_chain:
        raise InputError("empty unit chain: a place needs at least its district", code="empty_unit_chain")
    district = next((u for u in unit_chain if len(u) == DISTRICT_CODE_LENGTH), unit_chain[-1])
    return f"{district}-{GOV_KIND}"


def hotline_department_for(city_code: str) -> str:
    """The department code of the city hotline (``{city_code}-12345``)."""
    return f"{city_code}-{CITY_HOTLINE_KIND}"


def placeless_route(
    answer: Mapping[str, Any], city_code: str, names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The routing of a placeless category from ``answer``, the routing on the city alone (a
    :meth:`RoutingAnswer.to_dict`): kept when a city rule decided; when it fell back, the city
    hotline leads with no co-handlers (and, given the department ``names``, ``lead_name`` and
    ``co_names`` say so). A copy; ``answer`` is not changed.

    >>> placeless_route({"lead": "110000-gov", "co": ["x"], "fallback": True}, "110000")["lead"]
    '110000-12345'
    >>> placeless_route({"lead": "110000-jtw", "co": [], "fallback": False}, "110000")["lead"]
    '110000-jtw'
    """
    out = dict(answer)
    if out.get("fallback"):
        lead = hotline_department_for(city_code)
        out.update(lead=lead, co=[], reason=PLACELESS_REASON)
        if names is not None:
            out.update(lead_name=names.get(lead, lead), co_names=[])
    return out


def _active(rule: Mapping[str, Any], date: dt.date | None) -> bool:
    if date is None:
        return True
    vf, vt = rule.get("valid_from"), rule.get("valid_to")
    if vf is not None and dt.date.fromisoformat(str(vf)[:10]) > date:
        return False
    return not (vt is not None and date >= dt.date.fromisoformat(str(vt)[:10]))


class RuleBook:
    """Rules indexed by (category, unit), with the category tree: build once, resolve many times.

    ``date``: keep only rules valid on that date (rules without ``valid_from``/``valid_to`` are
    always valid). Rules naming a role other than lead/co are an error.
    """

    def __init__(
        self,
        rules: Iterable[Mapping[str, Any]],
        categories: Iterable[Mapping[str, Any]] | Mapping[str, Any],
        *,
        date: dt.date | None = None,
    ) -> None:
        self.parent: dict[str, str | None] = {}
        self.names: dict[str, str] = {}
        for c in _category_rows(categories):
            code = str(c["code"])
            self.parent[code] = str(c["parent_code"]) if c.get("parent_code") else None
            self.names[code] = str(c.get("name", ""))
        self.index: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for r in rules:
            if r.get("role") not in ("lead", "co"):
                raise ConfigError(
                    f"routing rule with role {r.get('role')!r}: must be 'lead' or 'co'",
                    code="bad_routing_rule",
                    details=dict(r),
                )
            if not _active(r, date):
                continue
            self.index.setdefault((str(r["category_code"]), str(r["unit_code"])), []).append(r)

    def ancestry(self, category_code: str) -> list[str]:
        """The category and its ancestors, nearest first."""
        if category_code not in self.parent:
            raise InputError(f"unknown category {category_code!r}", code="unknown_category")
        out: list[str] = []
        code: str | None = category_code
        while code is not None:
            if code in out:
                raise ConfigError(f"category cycle through {code!r}", code="category_cycle")
            out.append(code)
            code = self.parent.get(code)
        return out

    def resolve(
        self,
        category_code: str,
        unit_chain: Sequence[str],
        *,
        fallback_department: str | None = None,
    ) -> RoutingAnswer:
        chain = [str(u) for u in unit_chain]
        if not chain:
            raise InputError("empty unit chain: a place needs at least its district", code="empty_unit_chain")
        for cat in self.ancestry(category_code):
            for unit in chain:
                found = self.index.get((cat, unit))
                if not found:
                    continue
                leads = sorted({str(r["department_code"]) for r in found if r["role"] == "lead"})
                if len(leads) != 1:
                    raise ConfigError(
                        f"category {cat} at unit {unit} has {len(leads)} lead departments "
                        f"({', '.join(leads)}); exactly one is required",
                        code="ambiguous_routing",
                        details={"category_code": cat, "unit_code": unit, "leads": leads},
                    )
                lead = leads[0]
                co = _ordered_co(found, lead)
                via = "" if cat == category_code else f" (parent category of {category_code})"
                name = self.names.get(cat, "")
                return RoutingAnswer(
                    category_code=category_code,
                    lead=lead,
                    co=co,
                    decided_at_unit=unit,
                    category_used=cat,
                    fallback=False,
                    reason=f"rules for {cat} {name}{via} set at unit {unit}, the nearest unit of the place "
                    "that has rules for it",
                )
        gov = fallback_department or fallback_department_for(chain)
        return RoutingAnswer(
            category_code=category_code,
            lead=gov,
            co=[],
            decided_at_unit=None,
            category_used=None,
            fallback=True,
            reason=f"no rule for {category_code} or its parent categories on units {', '.join(chain)}: "
            "the district government owns it (属地兜底)",
        )


def _ordered_co(found: Iterable[Mapping[str, Any]], lead: str) -> list[str]:
    best: dict[str, int] = {}
    for r in found:
        if r["role"] != "co":
            continue
        d = str(r["department_code"])
        o = int(r.get("order", 0) or 0)
        best[d] = min(o, best.get(d, o))
    return [d for d, _ in sorted(best.items(), key=lambda kv: (kv[1], kv[0])) if d != lead]


def _category_rows(categories: Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if isinstance(categories, Mapping):
        if "categories" in categories:  # the categories.json document
            return list(categories["categories"])
        return [
            {"code": k, **(v if isinstance(v, Mapping) else {"parent_code": v})}
            for k, v in categories.items()
        ]
    return list(categories)


def resolve(
    category_code: str,
    unit_chain: Sequence[str],
    rules: Iterable[Mapping[str, Any]] | RuleBook,
    categories: Iterable[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    *,
    fallback_department: str | None = None,
    date: dt.date | None = None,
) -> RoutingAnswer:
    """Lead department, co-handlers and the deciding rule for ``category_code`` at a place.

    ``unit_chain``: the units covering the place, nearest first, e.g. ``[grid, community,
    street, district]``. ``rules``: dicts with category_code, unit_code, department_code, role
    ('lead' | 'co') and optional order / valid_from / valid_to, or a prebuilt :class:`RuleBook`
    (then ``categories`` may be omitted). ``categories``: dicts with code and parent_code (or the
    categories.json document). ``fallback_department`` overrides the district government
    derived from the chain.
    """
    if isinstance(rules, RuleBook):
        book = rules
    else:
        if categories is None:
            raise InputError(
                "resolve() needs the categories when given plain rules", code="missing_categories"
            )
        book = RuleBook(rules, categories, date=date)
    return book.resolve(category_code, unit_chain, fallback_department=fallback_department)
