"""grid.address: normalisation, each element on Beijing-style examples, limits, and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grid.address import MAX_LEN, cn_number, fold, normalise, parse
from grid.errors import InputError


def test_fold_keeps_length_and_halves_full_width() -> None:
    assert fold("１２３号楼Ａ座＃") == "123号楼A座#"
    assert len(fold("ａｂ　ｃ")) == 4


@pytest.mark.parametrize(
    ("text", "value"),
    [("十二", 12), ("二十一", 21), ("一百零五", 105), ("两", 2), ("〇", 0), ("零", 0), ("十", 10), ("三", 3)],
)
def test_cn_number(text: str, value: int) -> None:
    assert cn_number(text) == value


def test_cn_number_rejects_non_numerals() -> None:
    assert cn_number("") is None and cn_number("abc") is None and cn_number("十十") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("１２号楼", "12号楼"),  # full-width digits
        ("3栋", "3号楼"),
        ("3幢", "3号楼"),
        ("3座", "3号楼"),
        ("3#", "3号楼"),
        ("3#楼", "3号楼"),
        ("十二号楼", "12号楼"),
        ("三单元", "3单元"),
        ("二十一层", "21层"),
        ("一百零五室", "105室"),
        ("富力城 3 号楼", "富力城3号楼"),
        ("劲松八区", "劲松八区"),  # a numeral inside a name is kept
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_full_address_every_element() -> None:
    text = "朝阳区双井街道九龙社区广渠路8号院富力城3号楼2单元1201室"
    p = parse(text)
    assert p.district == "朝阳区" and p.street == "双井街道" and p.community == "九龙社区"
    assert p.road == "广渠路" and p.door_number == "8"
    assert p.compound == "富力城"  # a named compound wins over 'N号院'
    assert (p.building, p.unit, p.room) == ("3", "2", "1201")
    assert p.rest == ""
    assert text[slice(*p.spans["road"])] == "广渠路"
    assert text[slice(*p.spans["compound"])] == "富力城"


def test_chinese_numerals_and_markers_in_elements() -> None:
    p = parse("西城区金融街街道丰盛社区十二栋三单元二十一层２１０１室")
    assert (p.building, p.unit, p.floor, p.room) == ("12", "3", "21", "2101")
    assert parse("富力城3#2单元").building == parse("富力城3幢2单元").building == "3"
    assert parse("富力城A座").building == "A"


def test_landmark_and_direction() -> None:
    p = parse("双井桥东南角")
    assert (p.landmark, p.direction) == ("双井桥", "东南角")
    p = parse("劲松八区小区门口")
    assert (p.compound, p.direction, p.district) == ("劲松八区小区", "门口", None)
    p = parse("朝阳医院对过有积水")
    assert (p.landmark, p.direction, p.rest) == ("朝阳医院", "对面", "有积水")


def test_address_inside_petition_text() -> None:
    text = "广渠门外大街8号院北侧路灯不亮"
    p = parse(text)
    assert p.road == "广渠门外大街"
    assert (p.door_number, p.compound) == ("8", "8号院")
    assert p.direction == "北侧" and p.rest == "路灯不亮"
    assert text[slice(*p.spans["direction"])] == "北侧"
    p = parse("市民反映朝阳区建国路88号门口有垃圾")
    assert (p.district, p.road, p.door_number, p.direction) == ("朝阳区", "建国路", "88", "门口")
    assert p.rest == "市民反映 有垃圾"


def test_province_and_city_are_dropped() -> None:
    p = parse("北京市朝阳区双井街道")
    assert (p.district, p.street, p.rest) == ("朝阳区", "双井街道", "")


def test_renamed_township_via_aliases() -> None:
    assert parse("将台乡驼房营村", aliases={"将台乡": "将台地区"}).street == "将台地区"
    assert parse("将台乡驼房营村").street == "将台乡"
    assert parse("宣武区").district == "西城区"  # default table: merged district
    assert parse("宣武区", aliases={}).district == "宣武区"


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_input(text: str) -> None:
    with pytest.raises(InputError) as exc:
        parse(text)
    assert exc.value.code == "empty_address"


def test_too_long_input() -> None:
    with pytest.raises(InputError) as exc:
        parse("朝" * (MAX_LEN + 1))
    assert exc.value.code == "address_too_long"
    assert parse("朝阳区" * 10, max_len=30).district == "朝阳区"


@pytest.mark.parametrize("text", ["hello world", "!!!???", "12345", "ßøå∂ƒ", "的的的的的", "🙂🙂"])
def test_garbage_parses_to_empty(text: str) -> None:
    p = parse(text)
    assert p.empty and all(v is None for k, v in p.to_dict().items() if k not in ("rest", "spans"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(
        alphabet=st.one_of(
            st.sampled_from(
                list("朝阳区双井街道社区村路街大号院楼栋单元层室桥东南角北侧门口对面小区0123456789十二三#-_ ")
            ),
            st.characters(),
        ),
        max_size=MAX_LEN,
    )
)
def test_parse_never_raises_and_spans_index_the_input(text: str) -> None:
    if not text.strip():
        with pytest.raises(InputError):
            parse(text)
        return
    p = parse(text)
    for label, (start, end) in p.spans.items():
        assert 0 <= start < end <= len(text)
        assert getattr(p, label) is not None
    for _label, _value, start, end in p.elements:
        assert 0 <= start < end <= len(text)
