"""`activemq_text`: STOMP bodies to and from the modified UTF-8 ActiveMQ keeps texts in.
(End to end, with a JVM on the other side: tests/jms/test_is_peer_activemq.py.)"""

from __future__ import annotations

import json

from cachesync_cli.transport.activemq_text import text_from_activemq, text_to_activemq
from cachesync_cli.wire.mutf8 import modified_utf8

LEGACY = ("ClusterCacheInvalidationRequest{tenantId=-1234, tenantDomain='carbon.super', messageId=x, "
          "cacheManager=M, cache=$__local__$.C, cacheKey=token-😀-a\x00b}")


def test_what_both_encodings_write_alike_passes_unchanged():
    for text in ("plain ascii", "ユーザー:admin ü€", '{"keys":["ユーザー"]}'):
        body = text.encode("utf-8")
        assert text_to_activemq(body) is body
        assert text_from_activemq(body) is body


def test_a_text_with_emoji_or_nul_goes_out_in_modified_utf8_and_comes_back():
    sent = text_to_activemq(LEGACY.encode("utf-8"))
    assert sent == modified_utf8(LEGACY)
    assert b"\x00" not in sent and b"\xf0" not in sent  # no NUL to end the frame, no 4-byte sequence
    assert text_from_activemq(sent).decode("utf-8") == LEGACY


def test_json_goes_out_with_escapes_that_read_the_same_in_both_encodings():
    document = {"v": 1, "items": [{"cache": "C", "keys": ["token-😀", "a\x00b"]}]}
    body = json.dumps(document, ensure_ascii=False).encode("utf-8")
    sent = text_to_activemq(body)
    assert sent.isascii()  # the emoji escaped, the NUL escaped by json.dumps already
    assert "\\ud83d\\ude00" in sent.decode("utf-8")
    assert json.loads(sent) == document
    assert text_from_activemq(sent) is sent


def test_what_is_neither_passes_unchanged():
    for body in (b"\xff\xfe binary", b"\xed\xa0\xbd lone high surrogate" + b"\xf0"):
        assert text_to_activemq(body) is body
        assert text_from_activemq(body) is body
