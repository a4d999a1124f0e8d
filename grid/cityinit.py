"""A new city's levels, inferred from its boundary layer (pure: no database).

A city's first hour should not start with writing a levels JSON by hand. :func:`infer_city`
inspects the codes (and the geometries) of one layer and proposes the levels that layer holds:

- **code format**: the codes are tokenised into digit runs, letter runs and other characters;
  codes of one shape give a pattern such as ``\\d{6}``, ``P-\\d{3}`` or ``[A-Z]\\d{1,2}`` (a
  letter run that is the same in every code stays literal), codes of mixed shapes a character
  class with the observed length range. One length gives ``code_length``, several a range.
- **one level or several**: codes of several lengths form a chain of levels only when each
  longer code starts with a code of the next shorter length *and* lies inside that unit's
  polygon (prefix nesting, confirmed by geometry, so that ids 1..200 stay one level).
- **parent** of the layer's top level, when the store already holds units (a layer added beside
  or below them): a ``--parent-field`` whose values are codes of a stored level (nesting
  ``field``); else the codes' prefix when it names stored units that contain the features
  (``prefix``); else the stored level whose units contain (nearly) every feature
  (``containment``); else none: an independent layer (police beside wards).

Everything that would make the import fail later (duplicate codes, features without a code,
codes already used by another level, codes too long for the store) is reported as a problem
before anything is written, with the fix.

>>> code_format(["P-075", "P-101", "P-003"])
{'pattern': 'P-\\\\d{3}', 'code_length': 5}
>>> code_format(["A1", "B2", "C11", "E13"])
{'pattern': '[A-Z]\\\\d{1,2}', 'min_length': 2, 'max_length': 3}
>>> code_format(["1", "7", "22"])
{'pattern': '\\\\d{1,2}', 'min_length': 1, 'max_length': 2}
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from grid.levels import MAX_CODE_LENGTH, Level, Levels

#: Share of a layer's codes that must pass a nesting or containment test for it to be proposed.
NEST_SHARE = 0.9
#: Share of a feature's area that must lie in one unit for that unit to contain it.
CONTAINED_AREA = 0.9
#: Examples shown per level.
N_EXAMPLES = 5

_TOKEN = re.compile(r"[0-9]+|[A-Z]+|[a-z]+|.", re.S)
_NAME_BAD = re.compile(r"[^a-z0-9_]+")


def _cls(tok: str) -> str:
    c = tok[0]
    if "0" <= c <= "9":
        return "D"
    if "A" <= c <= "Z":
        return "U"
    if "a" <= c <= "z":
        return "L"
    return "=" + tok


def _rep(lo: int, hi: int) -> str:
    if lo == hi:
        return "" if lo == 1 else f"{{{lo}}}"
    return f"{{{lo},{hi}}}"


def _esc(s: str) -> str:
    """``s`` as a literal in a pattern (only the metacharacters escaped, so ``P-`` stays readable)."""
    return "".join("\\" + c if c in ".^$*+?{}[]\\|()" else c for c in s)


_CLASS_RE = {"D": r"\d", "U": "[A-Z]", "L": "[a-z]"}


def _single_unit(part: str) -> bool:
    """Whether ``part`` is one character or class that ``?`` can follow directly."""
    return bool(re.fullmatch(r"\\.|[^\\\[]|\[[^\]]*\]", part))


def code_format(codes: Sequence[str]) -> dict[str, Any]:
    """The narrowest level format (pattern plus length) that every code of ``codes`` fits."""
    codes = [c for c in codes if c]
    if not codes:
        return {"pattern": r"\S+"}
    lengths = [len(c) for c in codes]
    lo, hi = min(lengths), max(lengths)
    size: dict[str, Any] = {"code_length": lo} if lo == hi else {"min_length": lo, "max_length": hi}
    toks = [_TOKEN.findall(c) for c in codes]
    shapes = {tuple(_cls(t) for t in ts) for ts in toks}
    longest = max(shapes, key=len)
    shortest = min(len(sh) for sh in shapes)
    if all(longest[: len(sh)] == sh for sh in shapes):  # one shape, or one with an optional tail (0502A)
        parts = []
        for i, cls in enumerate(longest):
            col = [ts[i] for ts in toks if len(ts) > i]
            if cls.startswith("=") or (cls in ("U", "L") and len(set(col)) == 1):
                part = _esc(col[0])
            else:
                ls = [len(t) for t in col]
                part = _CLASS_RE[cls] + _rep(min(ls), max(ls))
            parts.append(part)
        # each further token is optional after the one before it: 0, 0A, 0A0 -> \d(?:A\d?)?
        opt = ""
        for part in reversed(parts[shortest:]):
            inner = part + opt
            opt = f"{inner}?" if _single_unit(inner) else f"(?:{inner})?"
        pattern = "".join(parts[:shortest]) + opt
    else:
        chars = set("".join(codes))
        cls_parts = []
        if any("0" <= c <= "9" for c in chars):
            cls_parts.append("0-9")
        if any("A" <= c <= "Z" for c in chars):
            cls_parts.append("A-Z")
        if any("a" <= c <= "z" for c in chars):
            cls_parts.append("a-z")
        others = sorted(c for c in chars if not c.isascii() or not c.isalnum())
        cls_parts.extend(re.escape(c) if c not in "]\\^-" else "\\" + c for c in others)
        pattern = f"[{''.join(cls_parts)}]{_rep(lo, hi) or '{1}'}"
    return {"pattern": pattern, **size}


def level_name(field_name: str, taken: Sequence[str] = ()) -> str:
    """A level name from a field name (``WARD`` -> ``ward``, ``nc_id`` -> ``nc``), not in ``taken``.

    >>> level_name("WARD_PRECINCT"), level_name("nc_id"), level_name("BoroCD", ["borocd"])
    ('ward_precinct', 'nc', 'borocd_2')
    """
    base = _NAME_BAD.sub("_", field_name.lower()).strip("_")
    for suffix in ("_id", "_code", "_no", "_num"):
        if base.endswith(suffix) and len(base) > len(suffix):
            base = base[: -len(suffix)]
    base = (base or "level")[:24]
    if not ("a" <= base[0] <= "z" or base[0] == "_"):
        base = "l_" + base
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    return name


def pick_name_field(columns: Sequence[str], code_field: str) -> str:
    """The field most likely to hold unit names (``name``, ``NAME``, ``*_name``...), else the code field."""
    cols = [c for c in columns if c not in ("geometry", code_field)]
    for c in cols:
        if c.lower() == "name":
            return c
    for c in cols:
        if "name" in c.lower():
            return c
    return code_field


def unique_fields(columns: dict[str, Sequence[Any]]) -> list[str]:
    """Fields whose values are all present and distinct: candidates for ``--code-field``."""
    out = []
    for name, values in columns.items():
        vals = [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]
        if vals and all(v not in (None, "") for v in vals) and len(set(vals)) == len(vals):
            out.append(name)
    return out


@dataclass
class StoredLayer:
    """One stored level in force: its units' codes and polygons (EPSG:4326)."""

    level: Level
    codes: list[str]
    geoms: np.ndarray


@dataclass
class ProposedLevel:
    level: Level
    features: int
    examples: list[str]
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.level.to_dict(),
            "features": self.features,
            "examples": self.examples,
            "evidence": self.evidence,
        }


@dataclass
class CityPlan:
    source: str
    code_field: str
    name_field: str
    parent_field: str | None
    code_prefix: str
    mode: str  # "new": the store's levels are replaced (it holds no unit); "add": appended
    levels: list[ProposedLevel] = field(default_factory=list)
    stored_levels: list[str] = field(default_factory=list)
    features: int = 0
    notes: list[str] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    code_fields: list[str] = field(default_factory=list)  # fields that could serve as codes

    def levels_json(self) -> list[dict[str, Any]]:
        """The levels as ``gridgov levels load`` takes them (only the new ones in "add" mode)."""
        return [p.level.to_dict() for p in self.levels]

    def import_commands(self, datum: str | None) -> list[str]:
        """The ``gridgov import units`` command for each proposed level, parents first."""
        cmds = []
        several = len(self.levels) > 1
        for p in self.levels:
            parts = [
                "gridgov import units",
                _q(self.source),
                f"--level {p.level.name}",
                f"--code-field {_q(self.code_field)}",
                f"--name-field {_q(self.name_field)}",
                f"--datum {datum or 'DATUM'}",
            ]
            if self.parent_field and p is self.levels[0] and p.level.nesting == "field":
                parts.append(f"--parent-field {_q(self.parent_field)}")
            if self.code_prefix:
                parts.append(f"--code-prefix {_q(self.code_prefix)}")
            if several:
                parts.append("--select-by-code")
            cmds.append(" ".join(parts))
        return cmds

    @property
    def blocking(self) -> bool:
        return bool(self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "code_field": self.code_field,
            "name_field": self.name_field,
            "parent_field": self.parent_field,
            "code_prefix": self.code_prefix,
            "mode": self.mode,
            "features": self.features,
            "stored_levels": self.stored_levels,
            "levels": [p.to_dict() for p in self.levels],
            "levels_json": self.levels_json(),
            "notes": self.notes,
            "problems": self.problems,
            "code_fields": self.code_fields,
        }


def _q(s: str) -> str:
    return s if re.fullmatch(r"[\w./:@%+=-]+", s) else "'" + s.replace("'", "'\\''") + "'"


def _points(geoms: np.ndarray) -> np.ndarray:
    out = np.empty(len(geoms), dtype=object)
    for i, g in enumerate(geoms):
        out[i] = None if g is None or shapely.is_empty(g) else shapely.point_on_surface(g)
    return out


def prefix_nesting(
    child_codes: Sequence[str],
    child_geoms: np.ndarray,
    parent_codes: Sequence[str],
    parent_geoms: np.ndarray,
    plen: int,
) -> tuple[int, list[str]]:
    """How many children start with a parent's code (its first ``plen`` characters) *and* lie in
    that parent's polygon; and the children that do not."""
    by_code = {c: g for c, g in zip(parent_codes, parent_geoms, strict=True) if g is not None}
    pts = _points(child_geoms)
    ok, bad = 0, []
    for c, pt in zip(child_codes, pts, strict=True):
        pg = by_code.get(c[:plen]) if len(c) > plen else None
        if pg is not None and pt is not None and shapely.covers(pg, pt):
            ok += 1
        else:
            bad.append(c)
    return ok, bad


def containment_share(geoms: np.ndarray, units: np.ndarray) -> float:
    """The share of ``geoms`` that have at least :data:`CONTAINED_AREA` of their area inside one
    polygon of ``units`` (same CRS)."""
    valid = [g for g in geoms if g is not None and not shapely.is_empty(g) and shapely.area(g) > 0]
    if not valid or len(units) == 0:
        return 0.0
    units = np.asarray([shapely.make_valid(u) if not shapely.is_valid(u) else u for u in units], dtype=object)
    tree = shapely.STRtree(units)
    inside = 0
    for g in valid:
        g = shapely.make_valid(g) if not shapely.is_valid(g) else g
        a = shapely.area(g)
        for k in tree.query(g, predicate="intersects"):
            if shapely.area(shapely.intersection(units[k], g)) >= CONTAINED_AREA * a:
                inside += 1
                break
    return inside / len(valid)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def infer_city(
    codes: Sequence[str | None],
    geoms: np.ndarray,
    *,
    source: str,
    code_field: str,
    name_field: str,
    parent_values: Sequence[str | None] | None = None,
    parent_field: str | None = None,
    names: Sequence[str] = (),
    code_prefix: str = "",
    stored: Sequence[StoredLayer] = (),
    stored_levels: Levels | None = None,
    geoms_wgs84: np.ndarray | None = None,
    parent_level: str | None = None,
    independent: bool = False,
    code_fields: Sequence[str] = (),
) -> CityPlan:
    """Propose the levels of one layer (``codes`` and ``geoms`` per feature, in the file's CRS).

    ``stored`` are the store's levels in force with their units; when it is not empty the plan
    adds the new levels beside or below them (mode ``add``) and ``geoms_wgs84`` (the features in
    EPSG:4326) is needed for the containment test. ``names`` name the proposed levels top-down
    (default: from the code field). ``parent_level`` forces the parent of the top level,
    ``independent`` makes it the root of its own layer.
    """
    mode = "add" if stored else "new"
    plan = CityPlan(
        source=source,
        code_field=code_field,
        name_field=name_field,
        parent_field=parent_field,
        code_prefix=code_prefix,
        mode=mode,
        features=len(codes),
        stored_levels=list(stored_levels.names) if stored_levels is not None else [],
        code_fields=list(code_fields),
    )
    geoms = np.asarray(geoms, dtype=object)
    full = [None if c is None else code_prefix + c for c in codes]
    uncoded = [i + 1 for i, c in enumerate(full) if c is None]
    if uncoded:
        plan.problems.append(
            {
                "kind": "missing_code",
                "message": f"{len(uncoded)} feature(s) have no {code_field} (rows {_rows(uncoded)}): "
                "every unit needs a code; fill them or choose another --code-field"
                + _fields_hint(plan.code_fields, code_field),
            }
        )
    idx = [i for i, c in enumerate(full) if c is not None]
    present = [full[i] for i in idx]
    assert all(c is not None for c in present)
    present_s: list[str] = [str(c) for c in present]
    too_long = sorted({c for c in present_s if len(c) > MAX_CODE_LENGTH})
    if too_long:
        plan.problems.append(
            {
                "kind": "code_too_long",
                "message": f"{len(too_long)} code(s) have more than {MAX_CODE_LENGTH} characters "
                f"(e.g. {too_long[0][:40]!r}…): the store keeps codes of at most {MAX_CODE_LENGTH}",
            }
        )
        return plan

    # -- one level, or a chain nested by prefix (confirmed by geometry)
    by_len: dict[int, list[int]] = {}
    for i, c in zip(idx, present_s, strict=True):
        by_len.setdefault(len(c), []).append(i)
    lengths = sorted(by_len)
    groups: list[list[int]] = [list(idx)]
    evidence = [f"{len(idx)} code(s)"]
    if len(lengths) > 1:
        chain_ok = True
        chain_ev = []
        for a, b in itertools.pairwise(lengths):
            ok, bad = prefix_nesting(
                [str(full[i]) for i in by_len[b]],
                geoms[by_len[b]],
                [str(full[i]) for i in by_len[a]],
                geoms[by_len[a]],
                a,
            )
            share = ok / len(by_len[b])
            if share < NEST_SHARE:
                chain_ok = False
                break
            chain_ev.append(
                f"{ok} of {len(by_len[b])} codes of {b} characters start with a code of {a} "
                f"and lie in its polygon" + (f" (not: {', '.join(bad[:N_EXAMPLES])})" if bad else "")
            )
            if bad:
                plan.problems.append(
                    {
                        "kind": "orphan_child",
                        "message": f"{len(bad)} code(s) of {b} characters have no parent in the file "
                        f"by prefix and polygon: {', '.join(bad[:N_EXAMPLES])}",
                    }
                )
        if chain_ok:
            groups = [by_len[n] for n in lengths]
            evidence = [f"{len(by_len[lengths[0]])} code(s) of {lengths[0]} characters", *chain_ev]
        else:
            plan.notes.append(
                f"codes have {len(lengths)} lengths ({', '.join(map(str, lengths))}) but do not nest by "
                "prefix inside each other's polygons: one level with a length range"
            )

    # -- names and ranks
    taken = list(plan.stored_levels) if mode == "add" else []
    if names and len(names) != len(groups):
        plan.problems.append(
            {
                "kind": "level_names",
                "message": f"{len(names)} --level-name given for {len(groups)} level(s) found",
            }
        )
    level_names: list[str] = []
    for k in range(len(groups)):
        if names and k < len(names):
            level_names.append(names[k])
        else:
            base = level_name(code_field, taken + level_names)
            level_names.append(
                base if len(groups) == 1 else level_name(f"{base}_{k + 1}", taken + level_names)
            )
    base_rank = (
        (max((lv.rank for lv in stored_levels), default=-1) + 1) if (mode == "add" and stored_levels) else 0
    )
    clash = [n for n in level_names if n in taken]
    if clash:
        plan.problems.append(
            {
                "kind": "level_exists",
                "message": f"level {', '.join(clash)} is already defined in the store: give another --level-name",
            }
        )

    # -- the top level's parent
    top_parent: str | None = None
    top_nesting = "prefix"
    top_ev = ""
    top_codes = [str(full[i]) for i in groups[0]]
    if parent_values is not None:
        pvals = {p for p in (parent_values[i] for i in groups[0]) if p}
        if mode == "new" or not stored:
            plan.problems.append(
                {
                    "kind": "parent_not_stored",
                    "message": f"--parent-field {parent_field} names parent codes (e.g. "
                    f"{', '.join(sorted(pvals)[:3])}) but the store holds no units yet: import the parent "
                    f"layer first (gridgov city init --from PARENTS --code-field F --yes --datum D), "
                    f"then this one with --add-layer",
                }
            )
        else:
            best = max(stored, key=lambda s: (len(pvals & set(s.codes)), s.level.rank))
            hit = len(pvals & set(best.codes))
            if hit < NEST_SHARE * max(len(pvals), 1):
                plan.problems.append(
                    {
                        "kind": "parent_not_stored",
                        "message": f"only {hit} of the {len(pvals)} distinct {parent_field} values are codes "
                        f"of a stored level (best: {best.level.name}); missing e.g. "
                        f"{', '.join(sorted(pvals - set(best.codes))[:5])}",
                    }
                )
            top_parent, top_nesting = best.level.name, "field"
            top_ev = f"{hit} of {len(pvals)} {parent_field} values are {best.level.name} codes"
    elif mode == "add" and not independent:
        assert geoms_wgs84 is not None, "the containment test needs the features in EPSG:4326"
        g84 = np.asarray(geoms_wgs84, dtype=object)[groups[0]]
        cands = [s for s in stored if parent_level in (None, s.level.name)]
        if parent_level is not None and not cands:
            plan.problems.append(
                {
                    "kind": "unknown_level",
                    "message": f"--parent-level {parent_level}: no such stored level "
                    f"(stored: {', '.join(plan.stored_levels)})",
                }
            )
        shares: list[tuple[float, StoredLayer, str]] = []
        for s in cands:
            plen = s.level.code_length
            if plen is not None and min(len(c) for c in top_codes) > plen:
                ok, _ = prefix_nesting(top_codes, g84, s.codes, s.geoms, plen)
                if ok >= NEST_SHARE * len(top_codes):
                    shares.append((ok / len(top_codes), s, "prefix"))
                    continue
            shares.append((containment_share(g84, s.geoms), s, "containment"))
        passing = [t for t in shares if t[0] >= NEST_SHARE or parent_level is not None]
        if passing:
            share, s, how = max(passing, key=lambda t: (t[1].level.rank, t[0]))
            top_parent, top_nesting = s.level.name, how
            top_ev = (
                f"{_pct(share)} of the features start with a {s.level.name} code and lie in it"
                if how == "prefix"
                else f"{_pct(share)} of the features lie (≥{_pct(CONTAINED_AREA)} of their area) in one "
                f"{s.level.name} unit"
            )
            if share < NEST_SHARE:
                plan.notes.append(
                    f"--parent-level {s.level.name}: only {_pct(share)} of the features lie in one "
                    f"{s.level.name} unit; the import will report the others (outside_parent)"
                )
        else:
            best_t = max(shares, key=lambda t: t[0], default=None)
            top_ev = "an independent layer: no stored level contains its features" + (
                f" (best: {best_t[1].level.name}, {_pct(best_t[0])})" if best_t else ""
            )
    elif mode == "add":
        top_ev = "an independent layer (--independent)"

    # -- the levels
    for k, members in enumerate(groups):
        lv_codes = [str(full[i]) for i in members]
        fmt = code_format(lv_codes)
        if k == 0:
            parent, nesting = top_parent, top_nesting if top_parent else "prefix"
        else:
            parent, nesting = level_names[k - 1], "prefix"
        lv = Level(
            name=level_names[k],
            rank=base_rank + k,
            code_length=fmt.get("code_length"),
            label=level_names[k],
            pattern=fmt["pattern"],
            parent=parent,
            min_length=fmt.get("min_length"),
            max_length=fmt.get("max_length"),
            nesting=nesting,
        )
        ev = evidence[k] if k < len(evidence) else ""
        if k == 0 and top_ev:
            ev = f"{ev}; {top_ev}" if ev else top_ev
        plan.levels.append(
            ProposedLevel(level=lv, features=len(members), examples=_examples(lv_codes), evidence=ev)
        )
        dups = sorted(c for c, n in Counter(lv_codes).items() if n > 1)
        if dups:
            plan.problems.append(
                {
                    "kind": "duplicate_code",
                    "message": f"{len(dups)} code(s) of {lv.name} are held by more than one feature "
                    f"({', '.join(dups[:N_EXAMPLES])}): codes must be unique"
                    + _fields_hint(plan.code_fields, code_field),
                }
            )

    # -- codes already used by stored units (codes are unique across all levels)
    if mode == "add":
        used: dict[str, str] = {}
        for s in stored:
            for c in s.codes:
                used.setdefault(c, s.level.name)
        hits = sorted({c for c in present_s if c in used})
        if hits:
            lv_hit = sorted({used[c] for c in hits})
            suggestion = re.sub(r"[^A-Z]", "", level_names[0].upper())[:3] or "L"
            plan.problems.append(
                {
                    "kind": "code_in_other_level",
                    "message": f"{len(hits)} code(s) of this layer are already codes of "
                    f"{', '.join(lv_hit)} (e.g. {', '.join(hits[:N_EXAMPLES])}); codes are unique across "
                    f"levels: give this layer's codes a prefix, e.g. --code-prefix {suggestion}",
                }
            )
    try:  # the union must be a valid set of levels (ranks, parents, prefix rules)
        kept = list(stored_levels) if (mode == "add" and stored_levels is not None) else []
        Levels([*kept, *(p.level for p in plan.levels)])
    except Exception as exc:  # an InputError naming the field
        plan.problems.append({"kind": "invalid_levels", "message": str(exc)})
    return plan


def _examples(codes: Sequence[str]) -> list[str]:
    uniq = sorted(set(codes), key=lambda c: (len(c), c))
    if len(uniq) <= N_EXAMPLES:
        return uniq
    step = (len(uniq) - 1) / (N_EXAMPLES - 1)
    return [uniq[round(i * step)] for i in range(N_EXAMPLES)]


def _rows(rows: Sequence[int]) -> str:
    shown = ", ".join(map(str, rows[:N_EXAMPLES]))
    return shown + (f" and {len(rows) - N_EXAMPLES} more" if len(rows) > N_EXAMPLES else "")


def _fields_hint(fields: Sequence[str], code_field: str) -> str:
    others = [f for f in fields if f != code_field]
    return f" (fields with a unique value per feature: {', '.join(others[:6])})" if others else ""
