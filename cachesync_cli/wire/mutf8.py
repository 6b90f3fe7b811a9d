"""Java's modified UTF-8 (`DataOutputStream.writeUTF` / `DataInputStream.readUTF`).

It differs from UTF-8 in two ways: NUL is written as C0 80, and characters beyond
U+FFFF are written as their two UTF-16 surrogates, 3 bytes each.
"""

from __future__ import annotations

import re

from cachesync_cli.errors import DecodeError

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_NOT_MUTF8 = re.compile(rb"[\xf0-\xff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def modified_utf8(text: str) -> bytes:
    """Java's modified UTF-8: NUL as C0 80, characters beyond U+FFFF as two 3-byte surrogates."""
    if text.isascii() and "\x00" not in text:
        return text.encode("ascii")
    split = _ASTRAL.sub(lambda m: _surrogate_pair(m.group(0)), text)
    return split.encode("utf-8", "surrogatepass").replace(b"\x00", b"\xc0\x80")


def _surrogate_pair(char: str) -> str:
    code = ord(char) - 0x10000
    return chr(0xD800 + (code >> 10)) + chr(0xDC00 + (code & 0x3FF))


def decode_modified_utf8(raw: bytes) -> str:
    """Decode Java's modified UTF-8 as `DataInputStream.readUTF` does (surrogate pairs joined)."""
    if raw.isascii():
        return raw.decode("ascii")
    if _NOT_MUTF8.search(raw):
        raise DecodeError("invalid modified UTF-8 (4-byte sequence)", reason="malformed")
    try:
        text = raw.replace(b"\xc0\x80", b"\x00").decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        text = _decode_modified_utf8_slowly(raw)
    if _SURROGATE.search(text):
        text = text.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")
    return text


def _decode_modified_utf8_slowly(raw: bytes) -> str:
    """Byte by byte, accepting overlong forms like Java does."""
    units: list[int] = []
    index, end = 0, len(raw)
    while index < end:
        lead = raw[index]
        if lead < 0x80:
            units.append(lead)
            index += 1
        elif 0xC0 <= lead < 0xE0 and index + 1 < end and raw[index + 1] & 0xC0 == 0x80:
            units.append(((lead & 0x1F) << 6) | (raw[index + 1] & 0x3F))
            index += 2
        elif (0xE0 <= lead < 0xF0 and index + 2 < end
              and raw[index + 1] & 0xC0 == 0x80 and raw[index + 2] & 0xC0 == 0x80):
            units.append(((lead & 0x0F) << 12) | ((raw[index + 1] & 0x3F) << 6) | (raw[index + 2] & 0x3F))
            index += 3
        else:
            raise DecodeError(f"invalid modified UTF-8 at byte {index}", reason="malformed")
    return "".join(map(chr, units))
