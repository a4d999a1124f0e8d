"""Address parsing: element-level F1 per label of ``grid.address.parse`` on the NCAP dev set.

Data: "Neural Chinese Address Parsing" (Li & Lu, NAACL 2019), dev split, read at run time from
``../shared/data/address_parsing_ncap/dev.txt`` (no licence stated: never copied into the repo).
One token a line ``TOKEN LABEL`` (BIO), a blank line between addresses. Their labels map to ours:
district→district, town→street, community→community, road/subRoad→road, roadno/subroadno→
door_number, poi/subpoi→compound, houseno→building, cellno→unit, floorno→floor, roomno→room,
assist→direction (the rest: country, prov, city, devZone, person, redundant, otherinfo, unscored).
When the file is missing the benchmark says so and runs on a small built-in sample instead.

Score: for each label, the multiset of gold element strings of an address against ours
(``ParsedAddress.elements``); a hit is an exact string match. Gold strings are the raw text;
ours are compared raw (the input slice of the span), so normalisation does not cost a hit.
Counts are summed over addresses (micro average) → precision, recall, F1.

Baseline, same run: ``jionlp.parse_location`` (``county`` → district, ``town`` → street) on the
same addresses; speeds are addresses per second, ours vs jionlp.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

from benchmarks._common import Row, check_size, print_table, timed
from grid.address import LABELS, parse

NAME: Final = "address_parse"
DESCRIPTION: Final = (
    "Address parser: element-level precision/recall/F1 per label on NCAP dev (Li & Lu 2019) and "
    "addresses/s of grid.address.parse vs jionlp.parse_location (district, town)"
)

DATA: Final = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "address_parsing_ncap" / "dev.txt"
)
SIZES: Final[dict[str, int | None]] = {"toy": 200, "full": None}

LABEL_MAP: Final = {
    "district": "district",
    "town": "street",
    "community": "community",
    "road": "road",
    "subroad": "road",
    "roadno": "door_number",
    "subroadno": "door_number",
    "poi": "compound",
    "subpoi": "compound",
    "houseno": "building",
    "cellno": "unit",
    "floorno": "floor",
    "roomno": "room",
    "assist": "direction",
}
#: every element of the model but landmark, which the NCAP labels do not mark
SCORED: Final = tuple(label for label in LABELS if label != "landmark")
BASELINE_LABELS: Final = ("district", "street")

Gold = list[tuple[str, str]]  # (our label, element text)
Example = tuple[str, Gold]

#: Used when the NCAP file is missing: a few addresses in the same form (Beijing-style).
SAMPLE: Final[tuple[Example, ...]] = (
    (
        "朝阳区双井街道九龙社区广渠路8号院富力城3号楼2单元1201室",
        [
            ("district", "朝阳区"),
            ("street", "双井街道"),
            ("community", "九龙社区"),
            ("road", "广渠路"),
            ("door_number", "8号院"),
            ("compound", "富力城"),
            ("building", "3号楼"),
            ("unit", "2单元"),
            ("room", "1201室"),
        ],
    ),
    ("海淀区中关村大街27号", [("district", "海淀区"), ("road", "中关村大街"), ("door_number", "27号")]),
    (
        "西城区金融街街道丰盛社区",
        [("district", "西城区"), ("street", "金融街街道"), ("community", "丰盛社区")],
    ),
    ("劲松八区小区门口", [("compound", "劲松八区小区"), ("direction", "门口")]),
    (
        "东城区东直门内大街5号院3号楼",
        [("district", "东城区"), ("road", "东直门内大街"), ("door_number", "5号院")],
    ),
)


def read_conll(path: Path, limit: int | None = None) -> list[Example]:
    """Addresses of a BIO file as ``(text, [(our label, element text), ...])``."""
    out: list[Example] = []
    tokens: list[tuple[str, str]] = []

    def flush() -> None:
        if tokens:
            out.append(_example(tokens))
            tokens.clear()

    with path.open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 2:
                flush()
                if limit is not None and len(out) >= limit:
                    return out
                continue
            tokens.append((parts[0], parts[-1]))
    flush()
    return out if limit is None else out[:limit]


def _example(tokens: Iterable[tuple[str, str]]) -> Example:
    text = ""
    gold: Gold = []
    current: list[str] | None = None  # [label, text]
    for tok, tag in tokens:
        tok = " " if tok == "_" else tok  # their '_' stands for a blank
        prefix, _, label = tag.partition("-")
        ours = LABEL_MAP.get(label.lower())
        if prefix == "B" or (prefix == "I" and (current is None or current[0] != ours)) or prefix == "O":
            if current is not None:
                gold.append((current[0], current[1]))
            current = [ours, tok] if ours is not None and prefix != "O" else None
        elif current is not None:
            current[1] += tok
        text += tok
    if current is not None:
        gold.append((current[0], current[1]))
    return text, [(lab, s.strip()) for lab, s in gold if s.strip()]


def _ours(text: str) -> Gold:
    try:
        p = parse(text)
    except Exception:  # an empty address: nothing predicted
        return []
    return [(label, text[s:e].strip()) for label, _v, s, e in p.elements if label in SCORED]


def score(examples: list[Example], predict: Callable[[str], Gold], labels: Iterable[str]) -> dict[str, Any]:
    """Micro precision/recall/F1 per label of ``predict`` against the gold elements."""
    labels = tuple(labels)
    tp: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    for text, gold in examples:
        g = Counter(x for x in gold if x[0] in labels)
        p = Counter(x for x in predict(text) if x[0] in labels)
        for (label, _), c in (g & p).items():
            tp[label] += c
        for (label, _), c in g.items():
            n_gold[label] += c
        for (label, _), c in p.items():
            n_pred[label] += c
    out: dict[str, Any] = {}
    for label in (*labels, "all"):
        t = sum(tp.values()) if label == "all" else tp[label]
        np_ = sum(n_pred.values()) if label == "all" else n_pred[label]
        ng = sum(n_gold.values()) if label == "all" else n_gold[label]
        prec = t / np_ if np_ else 0.0
        rec = t / ng if ng else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[label] = {"tp": t, "pred": np_, "gold": ng, "precision": prec, "recall": rec, "f1": f1}
    return out


def _jionlp() -> tuple[Callable[[str], Gold] | None, str]:
    """jionlp's parse_location as a predictor of (district, street); None and why when unusable."""
    try:
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            import jionlp  # prints a banner on import
    except Exception as exc:  # not installed, or broken
        return None, f"{type(exc).__name__}: {exc}"

    def predict(text: str) -> Gold:
        try:
            r = jionlp.parse_location(text, town_village=True)
        except Exception:
            return []
        out: Gold = []
        if r.get("county"):
            out.append(("district", str(r["county"])))
        if r.get("town"):
            out.append(("street", str(r["town"])))
        return out

    return predict, f"jionlp {getattr(jionlp, '__version__', '?')}"


def _speed(examples: list[Example], predict: Callable[[str], Any]) -> float:
    texts = [t for t, _ in examples]
    _, seconds = timed(lambda: [predict(t) for t in texts], 1)
    return len(texts) / seconds if seconds > 0 else float("inf")


def run(size: str) -> dict[str, Any]:
    """Score ours (and jionlp on district/street) at ``size``; print the table; return figures."""
    limit = SIZES[check_size(size)]
    notes: list[str] = []
    if DATA.exists():
        examples = read_conll(DATA, limit)
        source = str(DATA)
    else:
        examples = list(SAMPLE)
        source = "built-in sample"
        notes.append(f"NCAP dev set NOT FOUND at {DATA}: scored on the {len(SAMPLE)}-address built-in sample")
    result: dict[str, Any] = {"benchmark": NAME, "size": size, "params": {"addresses": len(examples)}}
    result["source"] = source
    ours = score(examples, _ours, SCORED)
    result["ours"] = ours
    t0 = time.perf_counter()
    result["ours_per_s"] = _speed(examples, parse_safe)
    predict, base_name = _jionlp()
    base: dict[str, Any] | None = None
    if predict is None:
        notes.append(f"baseline unavailable: {base_name}")
        result["baseline"] = {"unavailable": base_name}
    else:
        base = score(examples, predict, BASELINE_LABELS)
        result["baseline"] = {"name": base_name, **base, "per_s": _speed(examples, predict)}
    result["seconds"] = time.perf_counter() - t0
    rows: list[Row] = []
    for label in (*SCORED, "all"):
        o = ours[label]
        b = base[label] if base is not None and label in BASELINE_LABELS else None
        bname = base_name if b is not None else "(no baseline)"
        note = f"P {o['precision']:.3f} R {o['recall']:.3f}, {o['gold']} gold"
        if b is not None:
            note += f"; jionlp P {b['precision']:.3f} R {b['recall']:.3f}"
        rows.append(Row(f"{label} F1", "", o["f1"], bname, None if b is None else b["f1"], "higher", note))
    rows.append(
        Row(
            "speed",
            "addr/s",
            result["ours_per_s"],
            base_name if base is not None else "(no baseline)",
            None if base is None else result["baseline"]["per_s"],
            "higher",
        )
    )
    result["rows"] = [r.to_dict() for r in rows]
    notes += [
        f"{len(examples):,} addresses from {source}; element-level exact match of the raw element text, "
        "micro-averaged; 'all' = the labels above pooled",
        "jionlp scores district (its 'county') and street (its 'town') only; it returns the "
        "gazetteer's full name (奉化 -> 奉化区), which counts as a miss when the text says 奉化",
    ]
    print_table(f"address_parse ({size}): ours = grid.address.parse (rules)", rows, notes)
    return result


def parse_safe(text: str) -> Any:
    """``parse`` that returns None instead of raising on an empty address (for timing)."""
    try:
        return parse(text)
    except Exception:
        return None
