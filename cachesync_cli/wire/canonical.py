"""RFC 8785 (JSON Canonicalization Scheme) for the values an envelope can hold.

Signatures are computed over these bytes, so two implementations must agree on every
byte: object keys sorted by their UTF-16 code units, no whitespace, strings escaped as
ECMAScript's `JSON.stringify` does, UTF-8 output.

Only integers are supported as numbers (every number in the wire contract is an
integer). Floats raise `TypeError`; integers outside the IEEE 754 exact range
(|n| > 2**53 - 1, where JCS and JavaScript lose precision) raise `ValueError`, as do
strings that are not valid Unicode (lone surrogates).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer every JSON implementation (IEEE 754 doubles) reads exactly."""

_ESCAPED = re.compile(r'[\x00-\x1f"\\]')
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
for _code in range(0x20):
    _ESCAPES.setdefault(chr(_code), f"\\u{_code:04x}")


def canonical_json(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 JSON of `value`.

    Supports dict (str keys), list/tuple, str, int, bool and None. Raises `TypeError`
    for anything else (floats included) and `ValueError` for unsafe integers or
    strings holding lone surrogates.
    """
    parts: list[str] = []
    _write(value, parts)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("string is not valid Unicode (lone surrogate)") from exc


def _quote(text: str) -> str:
    return '"' + _ESCAPED.sub(lambda m: _ESCAPES[m.group(0)], text) + '"'


def _utf16_key(text: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly like sequences of UTF-16 code units.
    return text.encode("utf-16-be", "surrogatepass")


def _write(value: object, parts: list[str]) -> None:
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, str):
        parts.append(_quote(value))
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValueError(f"integer {value} is outside the exact JSON range ±(2**53 - 1)")
        parts.append(str(int(value)))
    elif isinstance(value, Mapping):
        keys = list(value)
        for key in keys:
            if not isinstance(key, str):
                raise TypeError(f"object keys must be strings, not {type(key).__name__}")
        parts.append("{")
        for index, key in enumerate(sorted(keys, key=_utf16_key)):
            if index:
                parts.append(",")
            parts.append(_quote(key))
            parts.append(":")
            _write(value[key], parts)
        parts.append("}")
    elif isinstance(value, (list, tuple)):
        parts.append("[")
        for index, element in enumerate(value):
            if index:
                parts.append(",")
            _write(element, parts)
        parts.append("]")
    elif isinstance(value, float):
        raise TypeError("floats are not supported: every number in a cachesync envelope is an integer")
    else:
        raise TypeError(f"cannot canonicalize a {type(value).__name__}")
