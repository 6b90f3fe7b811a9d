"""canonical_json against RFC 8785 examples and the rfc8785 package as an oracle."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from cachesync_cli.wire.canonical import MAX_SAFE_INTEGER, canonical_json

# Astral characters, the U+E000..U+FFFF block (sorts differently by code point and by
# UTF-16 code unit), control characters and the characters JSON must escape.
_chars = st.one_of(
    st.characters(codec="utf-8"),
    st.characters(min_codepoint=0, max_codepoint=0x1F),
    st.characters(min_codepoint=0xE000, max_codepoint=0xFFFF, codec="utf-8"),
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF, codec="utf-8"),
    st.sampled_from('"\\/\u2028\u007f'),
)
_text = st.text(_chars, max_size=12)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER), _text)
json_values = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(_text, children, max_size=6)),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_matches_rfc8785_package(value):
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_output_is_json_that_reads_back_as_the_input(value):
    assert json.loads(canonical_json(value).decode("utf-8")) == value


def test_sorts_keys_by_utf16_code_units_as_in_rfc8785_section_3_2_3():
    value = {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001F600": 5, "\u0080": 6, "\u00f6": 7}
    keys = list(json.loads(canonical_json(value)))
    # U+1F600 is D83D DE00 in UTF-16, so it sorts before U+FB33 although its code point is larger.
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001F600", "\ufb33"]


def test_escapes_like_ecmascript():
    text = '\x00\x07\x1f"\\\b\t\n\f\r/\x7f\u2028é😀'
    expected = '"\\u0000\\u0007\\u001f\\"\\\\\\b\\t\\n\\f\\r/\x7f\u2028é😀"'.encode("utf-8")
    assert canonical_json(text) == expected


def test_compact_nested_output():
    value = {"b": [1, True, None, {"z": "", "a": -0}], "a": {}}
    assert canonical_json(value) == b'{"a":{},"b":[1,true,null,{"a":0,"z":""}]}'


def test_tuples_are_arrays():
    assert canonical_json(("x", 1)) == b'["x",1]'


@pytest.mark.parametrize("value", [1.5, 1.0, {"ts": 2.0}, [float("nan")]])
def test_floats_are_refused(value):
    with pytest.raises(TypeError, match="floats"):
        canonical_json(value)


@pytest.mark.parametrize("value", [2**53, -(2**53), {"seq": 10**20}])
def test_integers_beyond_exact_double_range_are_refused(value):
    with pytest.raises(ValueError, match="2\\*\\*53"):
        canonical_json(value)


def test_largest_safe_integers_are_accepted():
    assert canonical_json([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == b"[9007199254740991,-9007199254740991]"


def test_lone_surrogates_are_refused():
    with pytest.raises(ValueError, match="surrogate"):
        canonical_json({"k": "\ud800"})


@pytest.mark.parametrize("value", [{1: "x"}, {None: 1}, object(), b"bytes", {"k": {1, 2}}])
def test_unsupported_types_are_refused(value):
    with pytest.raises(TypeError):
        canonical_json(value)
