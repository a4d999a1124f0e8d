"""Findings grouped by cause, and the one line that says so first.

When every (or nearly every) finding of an import or validation has the same cause - the
typical first contact of a new city, whose codes do not fit the levels defined - a list of 71
``bad_code`` lines hides the one thing to do. :func:`headline` groups the findings by kind and
a normalised message (numbers, quoted values and codes taken out) and, when one group holds
at least :data:`DOMINANT_SHARE` of the blocking findings, returns one line naming the cause
and the fix, to print before the details.

>>> fs = [{"kind": "bad_code", "severity": "error", "codes": (c,), "level": "district",
...        "message": f"unit {c} has a bad code: district codes have 6 characters, {c!r} has 3. Correct the code."}
...       for c in ("101", "102", "103")]
>>> print(headline(fs, source="cd.geojson", code_field="BoroCD"))
all 3 codes have 3 characters; the store expects 6 for district: define this city's levels with `gridgov city init --from cd.geojson --code-field BoroCD` (or `gridgov levels load`), then import again
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

#: Share of the blocking findings one cause must hold to lead the output.
DOMINANT_SHARE = 0.9
#: Fewer findings than this are read one by one: no headline.
MIN_FINDINGS = 2

_FIXED = re.compile(
    r"(?P<level>[\w-]+) codes have (?P<want>\d+) characters, (?P<code>'.*?'|\".*?\") has (?P<got>\d+)"
)
_RANGE = re.compile(
    r"(?P<level>[\w-]+) codes have (?P<lo>\d+) to (?P<hi>\w+) characters, (?P<code>'.*?'|\".*?\") has (?P<got>\d+)"
)
_PATTERN = re.compile(
    r"(?P<code>'.*?'|\".*?\") does not match the (?P<level>[\w-]+) code pattern (?P<pattern>\S+)"
)


def template(message: str) -> str:
    """The message with its particulars (quoted values, numbers, codes) replaced by ``#``.

    >>> template("unit 'W1' (row 3) has a bad code: ward codes have 4 characters, 'W1' has 2.")
    'unit # (row #) has a bad code: ward codes have # characters, # has #.'
    """
    t = re.sub(r"'[^']*'|\"[^\"]*\"", "#", message)
    t = re.sub(r"[A-Za-z]*\d[\w.-]*", "#", t)
    return re.sub(r"\s+", " ", t).strip()


def group(findings: Iterable[dict[str, Any]]) -> list[tuple[tuple[str, str], list[dict[str, Any]]]]:
    """Findings grouped by (kind, message template), the largest group first."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for f in findings:
        groups[(str(f.get("kind", "")), template(str(f.get("message", ""))))].append(f)
    return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def _city_init(source: str | None, code_field: str | None) -> str:
    return (
        f"define this city's levels with `gridgov city init --from {source or 'FILE'} "
        f"--code-field {code_field or 'FIELD'}` (or `gridgov levels load`), then import again"
    )


def _quantifier(n: int, total: int) -> str:
    return f"all {n}" if n == total else f"{n} of {total}"


def _lengths(counter: Counter[int]) -> str:
    ks = sorted(counter)
    if len(ks) == 1:
        return f"{ks[0]} characters"
    if len(ks) <= 4:
        return f"{', '.join(map(str, ks[:-1]))} or {ks[-1]} characters"
    return f"{ks[0]} to {ks[-1]} characters"


def _bad_code_line(
    items: list[dict[str, Any]], total: int, source: str | None, code_field: str | None
) -> str | None:
    got: Counter[int] = Counter()
    wants: set[str] = set()
    levels: set[str] = set()
    examples: list[str] = []
    kind = None
    for f in items:
        msg = str(f.get("message", ""))
        m = _FIXED.search(msg)
        r = _RANGE.search(msg)
        p = _PATTERN.search(msg)
        if m:
            kind = kind or "length"
            got[int(m["got"])] += 1
            wants.add(m["want"])
            levels.add(m["level"])
        elif r:
            kind = kind or "length"
            got[int(r["got"])] += 1
            wants.add(f"{r['lo']} to {r['hi']}")
            levels.add(r["level"])
        elif p:
            kind = kind or "pattern"
            wants.add(p["pattern"])
            levels.add(p["level"])
            if len(examples) < 3:
                examples.append(p["code"])
        else:
            return None
    q = _quantifier(len(items), total)
    lv = ", ".join(sorted(levels)) or str(items[0].get("level") or "this level")
    if kind == "length" and got:
        return (
            f"{q} codes have {_lengths(got)}; the store expects {' or '.join(sorted(wants))} for {lv}: "
            + _city_init(source, code_field)
        )
    return (
        f"{q} codes (e.g. {', '.join(examples)}) do not match the {lv} code pattern {' or '.join(sorted(wants))}: "
        + _city_init(source, code_field)
    )


def headline(
    findings: list[dict[str, Any]], *, source: str | None = None, code_field: str | None = None
) -> str | None:
    """One line saying what (nearly) every blocking finding has in common, or ``None``.

    ``findings`` are dicts as in an import or validation report (``kind``, ``severity``,
    ``message``, ``codes``, ``level``; accepted ones may carry ``accepted: true``). The line is
    given when at least :data:`DOMINANT_SHARE` of the blocking errors (all findings when there
    is no error) share one kind and message template and there are at least
    :data:`MIN_FINDINGS` of them. ``source`` and ``code_field``, when known, complete the
    suggested command.
    """
    errors = [f for f in findings if f.get("severity") == "error" and not f.get("accepted")]
    pool = errors or list(findings)
    total = len(pool)
    if total < MIN_FINDINGS:
        return None
    kinds = Counter(str(f.get("kind", "")) for f in pool)
    kind, n_kind = kinds.most_common(1)[0]
    if n_kind < DOMINANT_SHARE * total:
        return None
    same_kind = [f for f in pool if f.get("kind") == kind]
    if kind == "bad_code":
        line = _bad_code_line(same_kind, total, source, code_field)
        if line:
            return line
    (_, _tmpl), items = group(same_kind)[0]
    if len(items) < DOMINANT_SHARE * total:
        return (
            f"{_quantifier(n_kind, total)} findings are {kind}; the first: {same_kind[0].get('message', '')}"
        )
    first = str(items[0].get("message", ""))
    return f"{_quantifier(len(items), total)} findings are the same {kind}: {first}"
