"""Java serialization: String streams byte-exact with a JVM, and a display-only reader."""

from __future__ import annotations

import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachesync_cli.errors import DecodeError
from cachesync_cli.wire.javaser import (
    JavaArray,
    JavaClass,
    JavaEnum,
    JavaObject,
    decode_modified_utf8,
    describe,
    modified_utf8,
    read_object,
    serialize_string,
)

HEADER = b"\xac\xed\x00\x05"


# --- a tiny stream writer for hand-built test streams (spec chapter 6) ----------------

def utf(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack(">H", len(data)) + data


def string(text: str) -> bytes:
    return b"\x74" + utf(text)


def classdesc(name: str, fields: list[tuple[str, str, str | None]] = (), flags: int = 0x02,
              superclass: bytes = b"\x70", uid: int = 1) -> bytes:
    out = b"\x72" + utf(name) + struct.pack(">qB", uid, flags) + struct.pack(">H", len(fields))
    for code, field_name, type_name in fields:
        out += code.encode() + utf(field_name) + (string(type_name) if type_name else b"")
    return out + b"\x78" + superclass


def ref(handle: int) -> bytes:
    return b"\x71" + struct.pack(">i", 0x7E0000 + handle)


def read_failure(data: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        read_object(data)
    assert caught.value.reason == "malformed"
    return caught.value


# --- writing strings ------------------------------------------------------------------

STRING_VECTORS = ["ascii", "empty", "bmp-unicode", "astral-emoji", "nul-char", "long-string-70000", "clear-all-marker"]


@pytest.mark.parametrize("name", STRING_VECTORS)
def test_string_streams_match_the_jvm_byte_for_byte(wso2_vectors, name):
    vector = wso2_vectors[name]
    assert serialize_string(vector["key"]) == vector["stream"]
    assert read_object(vector["stream"]) == vector["key"]


def test_long_strings_switch_to_tc_longstring_beyond_65535_bytes():
    at_limit = serialize_string("x" * 65535)
    assert at_limit[4:7] == b"\x74\xff\xff" and len(at_limit) == 4 + 3 + 65535
    beyond = serialize_string("é" * 32768)  # 65536 bytes of modified UTF-8
    assert beyond[4:13] == b"\x7c" + struct.pack(">Q", 65536)
    assert read_object(beyond) == "é" * 32768


def test_modified_utf8_encodes_nul_and_astral_characters_like_java():
    assert modified_utf8("a\x00b") == b"a\xc0\x80b"
    assert modified_utf8("😀") == b"\xed\xa0\xbd\xed\xb8\x80"
    assert modified_utf8("\u07ff\u0800") == b"\xdf\xbf\xe0\xa0\x80"


def java_write_utf(text: str) -> bytes:
    """DataOutputStream.writeUTF's loop over UTF-16 code units, written independently."""
    units = struct.unpack(f">{len(text.encode('utf-16-be', 'surrogatepass')) // 2}H",
                          text.encode("utf-16-be", "surrogatepass"))
    out = bytearray()
    for unit in units:
        if 0x0001 <= unit <= 0x007F:
            out.append(unit)
        elif unit <= 0x07FF:
            out += bytes([0xC0 | (unit >> 6), 0x80 | (unit & 0x3F)])
        else:
            out += bytes([0xE0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3F), 0x80 | (unit & 0x3F)])
    return bytes(out)


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=30))
def test_string_round_trip_against_an_independent_writer(text):
    assert modified_utf8(text) == java_write_utf(text)
    assert read_object(serialize_string(text)) == text


def test_modified_utf8_decoding_edge_cases():
    assert decode_modified_utf8(b"\xc1\x81") == "A"  # overlong: DataInputStream accepts it
    assert decode_modified_utf8(b"\x00") == "\x00"
    assert decode_modified_utf8(b"\xed\xa0\x80") == "\ud800"  # a lone surrogate is a valid Java char
    for bad in (b"\xf0\x9f\x98\x80", b"\x80", b"\xc3", b"\xe0\xa0", b"\xc3\x41"):
        with pytest.raises(DecodeError):
            decode_modified_utf8(bad)


# --- reading objects --------------------------------------------------------------------

def test_integer_from_the_jvm(wso2_vectors):
    value = read_object(wso2_vectors["integer"]["stream"])
    assert isinstance(value, JavaObject)
    assert value.class_name == "java.lang.Integer"
    assert value.fields == {"value": 42}
    assert describe(value) == "Integer(value=42)"


def test_oauth_cache_key_from_the_jvm(wso2_vectors):
    value = read_object(wso2_vectors["oauth-cache-key-object"]["stream"])
    assert isinstance(value, JavaObject)
    assert value.class_name == "org.wso2.carbon.identity.oauth.cache.OAuthCacheKey"
    assert value.fields == {"cacheKeyString": "client-abc:user-1"}
    assert describe(value) == 'OAuthCacheKey(cacheKeyString="client-abc:user-1")'


def test_array_list_with_custom_write_object_data():
    # What a JVM writes for `new ArrayList<>(List.of("a"))`: size field, then block data and elements.
    stream = (HEADER + b"\x73" + classdesc("java.util.ArrayList", [("I", "size", None)], flags=0x03,
                                           uid=0x7881D21D99C7619D)
              + struct.pack(">i", 1) + b"\x77\x04" + struct.pack(">i", 1) + string("a") + b"\x78")
    value = read_object(stream)
    assert value.class_name == "java.util.ArrayList"
    assert value.fields == {"size": 1}
    assert value.annotations == [b"\x00\x00\x00\x01", "a"]
    assert describe(value) == 'ArrayList(size=1; data: byte[4]{00 00 00 01}, "a")'


def test_every_primitive_type_and_superclass_fields():
    base = classdesc("com.example.Base", [("J", "id", None), ("L", "name", "Ljava/lang/String;")])
    desc = classdesc("com.example.Key", [("B", "b", None), ("C", "c", None), ("D", "d", None), ("F", "f", None),
                                         ("I", "id", None), ("S", "s", None), ("Z", "z", None)], superclass=base)
    values = struct.pack(">q", -7) + string("base") + struct.pack(">bHdfihb", -1, ord("é"), 2.5, 0.5, 3, -4, 1)
    value = read_object(HEADER + b"\x73" + desc + values)
    assert value.class_name == "com.example.Key"
    # The subclass field keeps its name; the hidden superclass field is qualified.
    assert value.fields == {"Base.id": -7, "name": "base", "b": -1, "c": "é", "d": 2.5, "f": 0.5, "id": 3,
                            "s": -4, "z": True}


def test_enum_constant():
    enum_base = classdesc("java.lang.Enum", flags=0x12)
    stream = HEADER + b"\x7e" + classdesc("com.example.Color", flags=0x12, superclass=enum_base) + string("RED")
    value = read_object(stream)
    assert value == JavaEnum("com.example.Color", "RED")
    assert describe(value) == "Color.RED"


def test_primitive_and_object_arrays_with_references():
    ints = HEADER + b"\x75" + classdesc("[I") + struct.pack(">iiii", 3, 1, -2, 3)
    value = read_object(ints)
    assert isinstance(value, JavaArray) and value.items == [1, -2, 3]
    assert describe(value) == "int[3]{1, -2, 3}"
    byte_array = read_object(HEADER + b"\x75" + classdesc("[B") + struct.pack(">i", 2) + b"\x01\xff")
    assert byte_array.items == b"\x01\xff"
    # handles: 0 = class desc, 1 = array, 2 = "x"; the second element refers back to "x".
    strings = (HEADER + b"\x75" + classdesc("[Ljava.lang.String;") + struct.pack(">i", 3)
               + string("x") + ref(2) + b"\x70")
    value = read_object(strings)
    assert value.items == ["x", "x", None]
    assert describe(value) == 'String[3]{"x", "x", null}'


def test_class_value_and_reset():
    stream = HEADER + b"\x79" + b"\x76" + classdesc("com.example.Thing")
    assert read_object(stream) == JavaClass("com.example.Thing")


def test_self_reference_is_shown_without_looping():
    # handles: 0 = class desc, 1 = its field's type name, 2 = the object; `self` refers to the object.
    desc = classdesc("com.example.Node", [("L", "self", "Lcom/example/Node;")])
    value = read_object(HEADER + b"\x73" + desc + ref(2))
    assert value.fields["self"] is value
    assert describe(value) == "Node(self=Node(…))"
    assert "Node" in repr(value)


def test_shared_references_cannot_blow_up_describe():
    # 20 nested arrays, each holding the previous one 50 times: 50**20 paths if expanded naively.
    object_array = classdesc("[Ljava.lang.Object;")
    # handles: 0 = class desc, 1 = outer array, 2.. = inner arrays, each referring to the previous.
    stream = HEADER + b"\x75" + object_array + struct.pack(">i", 21)
    stream += b"\x75" + ref(0) + struct.pack(">i", 50) + b"\x70" * 50
    for handle in range(2, 22):
        stream += b"\x75" + ref(0) + struct.pack(">i", 50) + ref(handle) * 50
    value = read_object(stream)
    started = time.perf_counter()
    text = describe(value, max_chars=500)
    assert len(text) <= 500 and text.startswith("Object[21]{Object[50]{null, null")
    assert len(describe(value)) <= 2000
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("stream", [
    b"", b"\xac\xed", b"\xac\xed\x00\x04\x74\x00\x00", b"\xde\xad\xbe\xef\x74\x00\x00",
    HEADER, HEADER + b"\x74\x00\x05ab", HEADER + b"\x74\x00\x01a" + b"\x00",
    HEADER + b"\x99", HEADER + b"\x7b", HEADER + b"\x78", HEADER + b"\x77\x01a",
    HEADER + ref(0), HEADER + b"\x73\x70", HEADER + b"\x73" + b"\x74\x00\x01a",
    HEADER + b"\x74\x00\x02\xf0\x9f",
    HEADER + b"\x75" + classdesc("java.lang.String") + b"\x00\x00\x00\x00",
    HEADER + b"\x73" + classdesc("Ext", flags=0x04),
    HEADER + b"\x73" + classdesc("Odd", [("Q", "q", None)]),
    HEADER + b"\x73" + classdesc("NoTypeName", [("L", "x", None)]) + b"\x70",
    HEADER + b"\x7e" + classdesc("E", flags=0x12) + struct.pack(">i", 5),
], ids=lambda s: s.hex()[:40])
def test_broken_streams_are_malformed(stream):
    read_failure(stream)


def test_limits_stop_hostile_streams_quickly():
    started = time.perf_counter()
    # An array claiming 2**31 - 1 ints, and a long string claiming 2**62 bytes: no allocation.
    read_failure(HEADER + b"\x75" + classdesc("[I") + struct.pack(">i", 2**31 - 1))
    read_failure(HEADER + b"\x7c" + struct.pack(">Q", 2**62) + b"abc")
    # Nesting deeper than the limit.
    object_array = classdesc("[Ljava.lang.Object;")
    nested = HEADER + b"\x75" + object_array + struct.pack(">i", 1)
    nested += (b"\x75" + ref(0) + struct.pack(">i", 1)) * 200 + b"\x70"
    assert "deeper" in str(read_failure(nested))
    # More elements than the limit, within the size limit.
    many = HEADER + b"\x75" + object_array + struct.pack(">i", 300_000) + b"\x70" * 300_000
    assert "elements" in str(read_failure(many))
    # Bigger than the size limit.
    read_failure(serialize_string("x" * 1_100_000))
    # A class whose superclass is itself.
    looping = HEADER + b"\x73\x72" + utf("Loop") + struct.pack(">qBH", 1, 2, 0) + b"\x78" + ref(0)
    read_failure(looping)
    assert time.perf_counter() - started < 2
