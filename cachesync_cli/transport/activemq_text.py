"""The text of a JMS TextMessage as ActiveMQ's STOMP connector passes it (docs/transports.md).

ActiveMQ 5.x keeps a TextMessage's text as Java's modified UTF-8 (NUL as C0 80, a character
beyond U+FFFF as two 3-byte surrogates), and its STOMP connector copies bytes without
converting them: a SEND without `content-length` becomes a TextMessage whose stored text is
the frame's body as it is, and a TextMessage goes out to STOMP subscribers as its stored
bytes, in a MESSAGE frame without `content-length` (a BytesMessage has one). So a JMS
client reads a STOMP body in modified UTF-8, and a STOMP subscriber gets what a JMS
producer wrote in modified UTF-8. Where the two encodings differ (NUL, emoji...) the text
is converted here, in both directions; everything else passes unchanged, byte for byte.

Outgoing, a JSON body gets JSON escapes instead (`\\ud83d\\ude00`), which read the same in
both encodings, so subscribers that expect plain UTF-8 (older cachesync versions) still
read it; any other text (the WSO2 connector's 2.0.x-2.1.8 text) is sent in modified UTF-8.
"""

from __future__ import annotations

import json
import re

from cachesync_cli.errors import DecodeError
from cachesync_cli.wire.mutf8 import decode_modified_utf8, modified_utf8

_DIFFERS = re.compile("[\x00\U00010000-\U0010ffff]")
"""What modified UTF-8 writes differently from UTF-8."""
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def text_to_activemq(body: bytes) -> bytes:
    """The body to SEND (without `content-length`) so that JMS clients read the same text
    as `body` holds in UTF-8. A body that is not UTF-8 is returned as it is."""
    if body.isascii() and b"\x00" not in body:
        return body
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    if not _DIFFERS.search(text):
        return body
    if text.startswith(("{", "[")) and _is_json(text):
        # Valid JSON has such characters only inside strings (NUL is never raw there).
        return _ASTRAL.sub(_json_escape, text).encode("utf-8")
    return modified_utf8(text)


def text_from_activemq(body: bytes) -> bytes:
    """The UTF-8 text of a TextMessage body that ActiveMQ delivered over STOMP: a body
    already valid UTF-8 as it is, one in modified UTF-8 converted, anything else as it is
    (for the decoder to reject)."""
    if body.isascii():
        return body
    try:
        body.decode("utf-8")
        return body
    except UnicodeDecodeError:
        pass
    try:
        return decode_modified_utf8(body).encode("utf-8", "surrogatepass")
    except DecodeError:
        return body


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group(0)) - 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
