"""Property-based fuzzing of the pure parsers: the address parser and normaliser, the gazetteer keys,
the geocoder, and the CSV/vector readers.

Every property is one the code documents (or one a caller relies on); every input that is not text
a person could mean (control characters, lone full-width digits, megabyte fields, wrong encodings,
ragged rows) must give either a clean result or a :class:`grid.errors.GridGovError` with a stable
``code``, never another exception. Runs are derandomised, so CI sees the same examples every time.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from grid.address import LABELS, MAX_LEN, ParsedAddress, cn_number, fold, normalise, parse
from grid.errors import GridGovError, InputError
from grid.gazetteer import Gazetteer, crossing_key, name_key
from grid.geocode import CONFIDENCE, MAX_CANDIDATES, geocode, geocode_many, reverse
from grid.io import read_csv, read_layer, read_point_rows
from grid.tabular import read_points_csv
from tests.fuzzing import fuzz

# --- text strategies ------------------------------------------------------------------------------

#: the characters addresses are made of: names, markers, numerals, directions, separators
ADDRESS_CHARS = list(
    "朝阳区双井街道九龙社区村路街大号院楼栋幢座单元层室户桥东南西北中角侧门口对面旁边附近小区花园家园大厦"
    "地铁站公交市场医院与和交叉十字里条胡同巷弄段之负下北京市省县乡镇委员会办事处"
    "0123456789零〇一二两三四五六七八九十百千#-_,，、。 的在住反映投诉AaBbZ"
)
FULL_WIDTH = [chr(c) for c in range(0xFF01, 0xFF5F)] + ["\u3000"]
CONTROL = [chr(c) for c in range(0x20)] + ["\x7f", "\x85", "\u200b", "\u2028", "\ufeff", "\ufffd"]

address_char = st.one_of(
    st.sampled_from(ADDRESS_CHARS),
    st.sampled_from(FULL_WIDTH),
    st.sampled_from(CONTROL),
    st.characters(codec="utf-8"),
)
address_text = st.one_of(
    st.text(address_char, max_size=80),
    st.text(address_char, min_size=MAX_LEN - 5, max_size=MAX_LEN + 5),  # both sides of the limit
    st.tuples(st.text(address_char, max_size=20), st.integers(1, 3000)).map(lambda t: (t[0] or "朝") * t[1]),
)

# --- structured addresses (their elements are known) ---------------------------------------------

DISTRICTS = ["朝阳区", "东城区", "海淀区", "丰台区", "密云区"]
STREETS = ["双井街道", "劲松街道", "将台地区", "十八里店乡", "高碑店乡", "潘家园街道办事处"]
COMMUNITIES = ["九龙社区", "富力社区", "光辉里社区", "驼房营村"]
ROADS = ["广渠路", "东三环中路", "劲松南路", "百子湾路", "光华路", "广渠门外大街"]
COMPOUNDS = ["富力城", "九龙花园", "远洋公寓", "华腾大厦", "金港家园"]
MARKERS = ["号楼", "栋", "幢", "座", "#"]
_CN = "零一二三四五六七八九"
_FULL = str.maketrans("0123456789", "０１２３４５６７８９")


def chinese_numeral(n: int) -> str:
    """The usual Chinese numeral of 0 <= n < 10000 (一百零五, 一千零五十, 十二, 两 is not used)."""
    if n == 0:
        return "零"
    out, zero = "", False
    for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // unit % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out, zero = out + "零", False
        out += ("" if (d == 1 and unit == 10 and not out) else _CN[d]) + name
    return out


def render(n: int, how: str) -> str:
    return {"ascii": str(n), "full": str(n).translate(_FULL), "cn": chinese_numeral(n)}[how]


numeral_style = st.sampled_from(["ascii", "full", "cn"])


@st.composite
def structured_address(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """An address built from known elements, with the values the parser must give back."""
    parts: list[str] = []
    want: dict[str, str] = {}
    for label, pool in (
        ("district", DISTRICTS),
        ("street", STREETS),
        ("community", COMMUNITIES),
        ("road", ROADS),
    ):
        if draw(st.booleans()):
            v = draw(st.sampled_from(pool))
            parts.append(v)
            want[label] = v.removesuffix("办事处")
    if "road" in want and draw(st.booleans()):
        n = draw(st.integers(1, 999))
        parts.append(render(n, draw(numeral_style)) + "号")
        want["door_number"] = str(n)
    if draw(st.booleans()) or not want:
        want["compound"] = draw(st.sampled_from(COMPOUNDS))
        parts.append(want["compound"])
    if "compound" in want and draw(st.booleans()):
        n = draw(st.integers(1, 99))
        parts.append(render(n, draw(numeral_style)) + draw(st.sampled_from(MARKERS)))
        want["building"] = str(n)
        if draw(st.booleans()):
            u = draw(st.integers(1, 9))
            parts.append(render(u, draw(numeral_style)) + "单元")
            want["unit"] = str(u)
        if draw(st.booleans()):
            fl, r = draw(st.integers(1, 30)), draw(st.integers(1, 20))
            parts.append(f"{render(fl, draw(numeral_style))}层{fl * 100 + r}室")
            want["floor"], want["room"] = str(fl), str(fl * 100 + r)
    sep = draw(st.sampled_from(["", " ", "\u3000"]))
    return sep.join(parts), want


# --- the address parser ---------------------------------------------------------------------------


def _strip(s: str) -> str:
    return s.strip(" \t\r\n_,，、。；;:：!！?？")


def _check_parsed(text: str, p: ParsedAddress) -> None:
    """The documented shape of a :class:`ParsedAddress` for ``text``."""
    n = len(text)
    # every element indexes the caller's input, in order, without overlapping
    # (the one exception: 'N号院' gives a door number inside its compound, both starting at N)
    for label, value, s, e in p.elements:
        assert label in LABELS
        assert 0 <= s < e <= n
        assert isinstance(value, str) and value, (label, value)
    for (l1, _, s1, e1), (l2, _, s2, e2) in zip(p.elements, p.elements[1:], strict=False):
        assert s2 >= e1 or ((l1, l2) == ("door_number", "compound") and s1 == s2 and e1 < e2), p.elements
    # each field is one of its elements, and its span says where
    assert set(p.spans) == {label for label, *_ in p.elements}
    for label in LABELS:
        value = getattr(p, label)
        if label not in p.spans:
            assert value is None, label
            continue
        assert (label, value, *p.spans[label]) in p.elements, label
    # named elements are the normalised text of their span (the parser folds char for char)
    for label, value, s, e in p.elements:
        raw = normalise(text[s:e])
        if label in ("road", "landmark", "compound"):
            assert value == raw, (label, value, text[s:e])
        elif label in ("street", "community"):
            assert raw.startswith(value.removesuffix("村")), (label, value, text[s:e])
        elif label in ("door_number", "building", "unit", "floor", "room"):
            assert value.lstrip("-").replace("-", "").isalnum(), (label, value)
    # 'rest' is the input outside the address: the stripped text before it and after it
    if p.empty:
        assert p.rest == text.strip()
    else:
        first = min(s for _, _, s, _ in p.elements)
        last = max(e for *_, e in p.elements)
        after = _strip(text[last:])
        heads = {_strip(text[:a]) for a in range(first + 1)}
        assert any(p.rest == " ".join(x for x in (h, after) if x) for h in heads), (p.rest, p.elements)
    json.dumps(p.to_dict(), ensure_ascii=False)  # JSON-ready, as documented


@fuzz(400)
@given(address_text)
@example("")
@example("\u3000\t\r\n")
@example("朝" * (MAX_LEN + 1))
@example("１２号楼Ａ座＃３")
@example("将台地区驼房营村")
def test_parse_raises_only_input_error_and_keeps_its_shape(text: str) -> None:
    try:
        p = parse(text)
    except GridGovError as exc:
        assert isinstance(exc, InputError)
        if not text.strip():
            assert exc.code == "empty_address"
        else:
            assert exc.code == "address_too_long" and len(text) > MAX_LEN
            assert exc.details == {"length": len(text), "max_len": MAX_LEN}
        return
    assert text.strip() and len(text) <= MAX_LEN
    _check_parsed(text, p)
    assert parse(text).to_dict() == p.to_dict()  # deterministic


@fuzz(150)
@given(st.text(address_char, min_size=1, max_size=40), st.integers(1, 60))
def test_parse_of_a_longer_text_respects_max_len(text: str, max_len: int) -> None:
    assume(text.strip())
    if len(text) > max_len:
        with pytest.raises(InputError) as exc:
            parse(text, max_len=max_len)
        assert exc.value.code == "address_too_long"
    else:
        _check_parsed(text, parse(text, max_len=max_len))


@fuzz(300)
@given(structured_address())
@example(("朝阳区将台地区驼房营村", {"district": "朝阳区", "street": "将台地区", "community": "驼房营村"}))
@example(("将台地区办事处", {"street": "将台地区"}))
def test_structured_address_round_trips(case: tuple[str, dict[str, str]]) -> None:
    """Elements written in any of the usual forms (full-width or Chinese numerals, 栋/幢/座/#,
    ideographic spaces) come back as the normalised values, with nothing left over."""
    text, want = case
    p = parse(text)
    got = {k: v for k, v in p.to_dict().items() if k in LABELS and v is not None}
    assert got == want, text
    assert p.rest == ""
    _check_parsed(text, p)


@fuzz(300)
@given(st.text(address_char, max_size=200))
def test_fold_and_normalise(text: str) -> None:
    folded = fold(text)
    assert len(folded) == len(text)  # spans found in the folded text index the input
    assert fold(folded) == folded
    assert not any(c in FULL_WIDTH for c in folded)
    for a, b in zip(text, folded, strict=True):
        assert a == b or a in FULL_WIDTH
    n = normalise(text)
    assert normalise(n) == n, "normalise is idempotent (gazetteer keys are normalised names)"
    assert normalise(folded) == n
    assert not any(c.isspace() for c in n)
    assert name_key(text) == n


@fuzz(300)
@given(st.integers(0, 9999), numeral_style)
def test_cn_number_reads_every_numeral(n: int, how: str) -> None:
    assert cn_number(render(n, how)) == n
    assert normalise(render(n, how) + "号楼") == f"{n}号楼"


@fuzz(300)
@given(
    st.text(
        st.one_of(st.sampled_from("零〇一二两三四五六七八九十百千0123456789０１"), address_char), max_size=12
    )
)
def test_cn_number_is_total(text: str) -> None:
    v = cn_number(text)
    assert v is None or (isinstance(v, int) and v >= 0)


# --- gazetteer keys and the geocoder ---------------------------------------------------------------

ROAD_NAME_CHARS = "广渠东西南北中三环光华百子湾劲松垂杨柳幸福和平安乐朝阳门外建国"
road_name = st.tuples(
    st.text(st.sampled_from(ROAD_NAME_CHARS.replace("和", "")), min_size=1, max_size=5),
    st.sampled_from(["路", "街", "大街", "中路", "南路"]),
).map("".join)


@fuzz(200)
@given(
    road_name,
    road_name,
    st.sampled_from(["与", "和", "、", "/"]),
    st.sampled_from(["交叉口", "路口", "十字路口", ""]),
)
def test_crossing_key_ignores_order_and_wording(a: str, b: str, sep: str, suffix: str) -> None:
    assume(name_key(a) != name_key(b))
    k = crossing_key(f"{a}{sep}{b}{suffix}")
    assert k is not None
    assert k == crossing_key(f"{b}与{a}交叉口") == "|".join(sorted((name_key(a), name_key(b))))


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    from data.synthetic_buildings import demo_street, generate_street

    geom, comms = demo_street()
    return Gazetteer.from_street(generate_street(geom, comms), comms)


@pytest.fixture(scope="module")
def gaz_names(gaz: Gazetteer) -> list[str]:
    return sorted({p.name for p in gaz.places})[::5] + [p.address for p in gaz.places[:200:10]]


def _check_result(gaz: Gazetteer, r: Any, review_below: float) -> None:
    assert r.status in ("matched", "needs_review", "no_match")
    assert len(r.candidates) <= MAX_CANDIDATES
    assert 0.0 <= r.confidence <= 1.0
    if r.status == "no_match":
        assert r.place_id is None and r.lon is None and r.lat is None
        return
    assert r.level in CONFIDENCE and r.confidence <= CONFIDENCE[r.level] + 1e-9
    if r.status == "matched":
        assert r.place_id in gaz.by_id and r.confidence >= review_below - 1e-9
        assert not r.candidates
    else:
        assert r.candidates, "needs_review always names candidates"
        for c in r.candidates:
            assert c["place_id"] in gaz.by_id
    if r.lon is not None:
        assert math.isfinite(r.lon) and math.isfinite(r.lat)


@settings(parent=fuzz(250), suppress_health_check=list(HealthCheck))
@given(
    st.data(),
    st.one_of(
        address_text,
        st.lists(st.one_of(st.just("NAME"), st.text(st.sampled_from(ADDRESS_CHARS), max_size=4)), max_size=6),
    ),
)
def test_geocode_is_total(gaz: Gazetteer, gaz_names: list[str], data: st.DataObject, raw: Any) -> None:
    """Any text geocodes to matched / needs_review / no_match (or InputError for empty/too long);
    near-names of gazetteer places included, so every fallback level is exercised."""
    if isinstance(raw, list):
        text = "".join(data.draw(st.sampled_from(gaz_names)) if x == "NAME" else x for x in raw)
    else:
        text = raw
    try:
        r = geocode(gaz, text)
    except GridGovError as exc:
        assert isinstance(exc, InputError) and exc.code in ("empty_address", "address_too_long")
        assert not text.strip() or len(text) > MAX_LEN
        [many] = geocode_many(gaz, [text])
        assert many.status == "no_match" and many.notes[0].startswith(exc.code)
        return
    event(f"{r.status} {r.level}")
    _check_result(gaz, r, 0.6)
    assert geocode(gaz, text).to_dict() == r.to_dict()  # deterministic (the gazetteer is not changed)
    for kind in ("compound", "road", "landmark"):
        for i, score in gaz.fuzzy(kind, text[:30]):
            assert gaz.places[i].kind == kind and 0.6 <= score <= 1.0
        assert all(gaz.places[i].kind == kind for i in gaz.scan(kind, text))


@settings(parent=fuzz(150), suppress_health_check=list(HealthCheck))
@given(
    st.one_of(st.floats(), st.floats(115.0, 118.0)),
    st.one_of(st.floats(), st.floats(39.0, 41.0)),
    st.floats(0, 1e6),
)
def test_reverse_is_total(gaz: Gazetteer, lon: float, lat: float, max_d: float) -> None:
    try:
        r = reverse(gaz, lon, lat, max_distance_m=max_d)
    except GridGovError as exc:
        assert exc.code == "coordinates_out_of_range"
        assert not (math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90)
        return
    assert r["status"] in ("matched", "no_match")
    assert r["distance_m"] is not None and r["distance_m"] >= 0
    if r["status"] == "matched":  # distance_m is rounded to 0.1 m
        assert r["distance_m"] <= max_d + 0.05
    else:
        assert r["distance_m"] >= max_d - 0.05
    assert r["place_id"] in gaz.by_id


# --- CSV readers ------------------------------------------------------------------------------------

READER_CODES = {"malformed_csv", "missing_field", "duplicate_columns", "reserved_columns"}

csv_chunk = st.one_of(
    st.binary(max_size=24),
    st.sampled_from(
        [
            b",",
            b"\n",
            b"\r\n",
            b"\r",
            b'"',
            b'""',
            b"\x00",
            b"\xef\xbb\xbf",
            "广渠路8号院".encode(),
            "广渠路8号院".encode("gbk"),
            "中文".encode("utf-16"),
            b"116.46",
            b"39.89",
            b"nan",
            b"-inf",
            b"1e999",
            b" ",
            b"\t",
            b";",
            b"x" * 70_000,
        ]
    ),
)
csv_header = st.sampled_from(
    [
        b"text,category\n",
        b"name,lon,lat\n",
        b"building_id,address,lon,lat,households\n",
        b"\xef\xbb\xbftext,category,lon,lat\r\n",
        "名称,lon,lat\n".encode("gbk"),
        b'"lon","lat",' + b"h" * 140_000 + b"\n",  # a header field beyond csv.field_size_limit()
        b"",
    ]
)
csv_bytes = st.tuples(csv_header, st.lists(csv_chunk, max_size=30)).map(lambda t: t[0] + b"".join(t[1]))


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_csv")


def _check_table(t: Any) -> None:
    n = len(t.rows)
    assert len(t.line) == len(t.lon) == len(t.lat) == len(t.error) == n
    assert all(b > a for a, b in zip(t.line, t.line[1:], strict=False)), "one record per start line"
    assert n == 0 or t.line[0] >= 2
    for i in range(n):
        if t.error[i] is None:
            assert len(t.rows[i]) == len(t.columns)
            assert math.isfinite(t.lon[i]) and math.isfinite(t.lat[i])
        else:
            assert np.isnan(t.lon[i]) or np.isnan(t.lat[i]) or not math.isfinite(t.lon[i] + t.lat[i])
    assert len(t.frame()) == n


@settings(parent=fuzz(300), suppress_health_check=list(HealthCheck))
@given(csv_bytes)
@example(b"text,category\n\xe5\x9e\x83\xe5\x9c\xbe,HL1006,\n")  # a trailing comma: no silent column shift
@example("text,category\n垃圾\x00,HL1006\n".encode())
@example(b'\x00"\n"')
def test_csv_readers_give_rows_or_a_coded_error(csv_dir: Path, data: bytes) -> None:
    p = csv_dir / "f.csv"
    p.write_bytes(data)
    try:
        df = read_csv(p, required=["text"])
    except GridGovError as exc:
        assert exc.code in READER_CODES, exc.code
    else:
        assert "text" in df.columns
        assert all(isinstance(v, str) for v in df.to_numpy().ravel())
        assert not any("\x00" in v for v in df.to_numpy().ravel())
    try:
        t = read_points_csv(p, "lon", "lat")
    except GridGovError as exc:
        assert exc.code in READER_CODES, exc.code
    else:
        assert "lon" in t.columns and "lat" in t.columns
        _check_table(t)
    try:
        rows, geoms, crs = read_point_rows(p, required=[])
    except GridGovError as exc:
        assert exc.code in READER_CODES, exc.code
    else:
        assert crs is None and len(rows) == len(geoms)
        assert all(g is not None for g in geoms)


cell_text = st.text(
    st.one_of(
        st.sampled_from(list('广渠路8号院,"\r\n \t中文')),
        st.characters(codec="utf-8", exclude_characters="\x00"),
    ),
    max_size=12,
)
coord_text = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["", " ", "abc", " 116.5 ", "nan", "inf", "1e999", "１２"]),
)


@settings(parent=fuzz(200), suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.tuples(cell_text, coord_text, coord_text), max_size=8),
    st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
    st.sampled_from(["\r\n", "\n"]),
)
def test_csv_round_trip_in_every_encoding(
    csv_dir: Path, rows: list[tuple[str, str, str]], encoding: str, newline: str
) -> None:
    """Rows written by any CSV writer (quoted newlines, quotes, commas, Chinese) in UTF-8, UTF-8 with
    BOM or GB18030 are read back exactly, every one of them, by both readers."""
    buf = io.StringIO()
    if newline == "\r\n":
        w = csv.writer(buf, lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
    else:  # with '\n' as terminator, csv.writer would leave a bare '\r' unquoted
        w = csv.writer(buf, lineterminator=newline, quoting=csv.QUOTE_ALL)
    w.writerow(["name", "lon", "lat"])
    w.writerows(rows)
    raw = buf.getvalue().encode(encoding)
    if encoding == "gb18030":
        try:  # GB18030 bytes that happen to be valid UTF-8 are UTF-8 (no reader can tell)
            raw.decode("utf-8")
            assume(False)
        except UnicodeDecodeError:
            pass
    p = csv_dir / "r.csv"
    p.write_bytes(raw)
    want = [list(r) for r in rows]

    t = read_points_csv(p, "lon", "lat")
    assert t.columns == ["name", "lon", "lat"] and t.rows == want
    _check_table(t)
    for i, (_, x, y) in enumerate(rows):
        try:
            fx, fy = float(x), float(y)
        except ValueError:
            assert t.error[i] is not None
            continue
        if math.isfinite(fx) and math.isfinite(fy):
            assert t.error[i] is None and (t.lon[i], t.lat[i]) == (fx, fy)
        else:
            assert t.error[i] == "coordinates are not finite"

    df = read_csv(p, required=["name", "lon", "lat"])
    assert list(df.columns) == ["name", "lon", "lat"] and df.to_numpy().tolist() == want


@settings(parent=fuzz(150), suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.lists(st.sampled_from(["a", "", "116.4", "39.9", "中"]), min_size=0, max_size=6), max_size=6)
)
def test_ragged_rows_are_reported_never_shifted(csv_dir: Path, rows: list[list[str]]) -> None:
    """A row with fewer fields than the header is padded (read_csv) or flagged (read_points_csv);
    one with more fields is refused by read_csv and flagged by read_points_csv: never a value
    moved to another column."""
    lines = ["name,lon,lat"] + [",".join(r) for r in rows]
    p = csv_dir / "ragged.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    records = [r for r in rows if r and r != [""]]  # an empty line is no record
    t = read_points_csv(p, "lon", "lat")
    assert len(t.rows) == len(records)
    for got, r in zip(t.rows, records, strict=True):
        assert got == r
    for i, r in enumerate(records):
        if len(r) != 3:
            err = t.error[i]
            assert err is not None and "fields" in err
    try:
        df = read_csv(p, required=["name"])
    except GridGovError as exc:
        assert exc.code == "malformed_csv"
        assert any(len(r) > 3 for r in records)
    else:
        assert not any(len(r) > 3 for r in records)
        assert len(df) == len(records)
        for (_, got), r in zip(df.iterrows(), records, strict=True):
            assert list(got) == r + [""] * (3 - len(r))


@settings(parent=fuzz(40), suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=300), st.sampled_from([".geojson", ".json", ".gpkg", ".shp", ".fgb", ".csv"]))
@example(b'{"type": "FeatureCollection", "features": []}', ".geojson")
@example(b'{"type": "FeatureCollection", "features": [{"type": "Feature"', ".geojson")
def test_read_layer_gives_a_layer_or_a_coded_error(csv_dir: Path, data: bytes, suffix: str) -> None:
    p = csv_dir / f"layer{suffix}"
    p.write_bytes(data)
    try:
        gdf = read_layer(p)
    except GridGovError as exc:
        assert exc.code in ("unreadable_file", "unsupported_format")
        assert exc.code != "unsupported_format" or suffix == ".csv"
    else:
        assert "geometry" in gdf
