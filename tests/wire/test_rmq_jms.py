"""The RabbitMQ JMS client's TextMessage body, against bytes a real JVM wrote and accepted."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest

from cachesync_cli.errors import DecodeError
from cachesync_cli.wire import decode_message
from cachesync_cli.wire.javaser import JavaObject, STREAM_HEADER
from cachesync_cli.wire.rmq_jms import (
    TEXT_MESSAGE_CLASS,
    decode_text_message,
    encode_text_message,
    is_rmq_jms_body,
)


def body_of(vector: dict) -> bytes:
    return base64.b64decode(vector["body_base64"])


def accepted(vectors: dict, name: str) -> dict:
    return next(v for v in vectors["accepted"] if v["name"] == name)


def key_of(vector: dict) -> str:
    if "key" in vector:
        return vector["key"]
    assert vector["key_spec"] == "('abcdefghijklmnopqrstuvwxyz' * 3000)[:70000]"
    key = ("abcdefghijklmnopqrstuvwxyz" * 3000)[:70000]
    assert hashlib.sha256(key.encode()).hexdigest() == vector["key_sha256_utf8"]
    return key


@pytest.mark.parametrize("name", ["minimal/ascii", "minimal/empty", "minimal/unicode-astral", "minimal/nul-char",
                                  "minimal/long-string-70000", "minimal/clear-all-marker",
                                  "minimal-no-sender/ascii"])
def test_writes_byte_for_byte_what_a_jms_consumer_accepted(rmq_jms_vectors, name):
    vector = accepted(rmq_jms_vectors, name)
    body = body_of(vector)
    text = decode_text_message(body).text
    sender = vector["read_by_jvm_peer"]["sender"]
    assert encode_text_message(text, sender=sender) == body
    decoded = decode_message(body, {}, "wso2")
    assert decoded.wso2.sender == sender
    assert decoded.wso2.key == (None if key_of(vector) == "$__clear__all__$." else key_of(vector))


def test_reads_the_one_block_form_and_jms_headers(rmq_jms_vectors):
    for name in ("minimal-one-block/long-string-70000", "with-jms-headers/ascii"):
        vector = accepted(rmq_jms_vectors, name)
        message = decode_text_message(body_of(vector))
        assert message.sender == vector["read_by_jvm_peer"]["sender"]
        assert decode_message(body_of(vector), {}).wso2.key == key_of(vector)


def test_reads_every_body_the_jvm_produced(rmq_jms_vectors):
    assert len(rmq_jms_vectors["produced"]) >= 15
    for vector in rmq_jms_vectors["produced"]:
        message = decode_text_message(body_of(vector))
        expected = vector["body_decoded"]
        assert message.message_id == expected["internalMessageID"]
        assert message.sender == vector["sender"]
        destination = message.rmq_properties["rmq.jms.message.destination"]
        assert isinstance(destination, JavaObject)  # parsed, never instantiated
        assert destination.class_name == "com.rabbitmq.jms.admin.RMQDestination"
        assert [p["name"] for p in expected["rmqProperties"]] == list(message.rmq_properties)
        decoded = decode_message(body_of(vector), {}, "auto")
        assert decoded.codec == "wso2" and decoded.wso2.sender == vector["sender"]
        assert decoded.wso2.body_format == ("legacy" if vector["name"].startswith("legacy/") else "json")
        if vector["name"].endswith("clear-all-marker"):
            assert decoded.wso2.clear_all
        elif "key" in vector:
            assert decoded.wso2.key == vector["key"]
        else:
            assert len(decoded.wso2.key) == 70_000


def test_the_rejected_raw_json_is_not_rmq_framing(rmq_jms_vectors):
    raw = body_of(rmq_jms_vectors["rejected"])
    assert not is_rmq_jms_body(raw)
    assert is_rmq_jms_body(encode_text_message("x"))


def frame(*parts: bytes) -> bytes:
    data = b"".join(parts)
    return STREAM_HEADER + struct.pack(">Bi", 0x7A, len(data)) + data


def utf(text: str) -> bytes:
    return struct.pack(">H", len(text.encode())) + text.encode()


@pytest.mark.parametrize("body, reason", [
    (frame(utf("com.rabbitmq.jms.client.message.RMQBytesMessage"), utf(""), bytes(8)), "not a TextMessage"),
    (frame(utf(TEXT_MESSAGE_CLASS), utf(""), struct.pack(">i", 100_000)), "properties"),
    (frame(utf(TEXT_MESSAGE_CLASS), utf(""), bytes(8), b"\x00", struct.pack(">i", 10), b"abc"), "needs"),
    (frame(utf(TEXT_MESSAGE_CLASS), utf(""), bytes(8), b"\x00", struct.pack(">i", 2), b"\xff\xfe"), "not UTF-8"),
    (frame(utf(TEXT_MESSAGE_CLASS), utf(""), bytes(8), b"\x00", struct.pack(">i", 1), b"ab"), "after the text"),
    (frame(utf(TEXT_MESSAGE_CLASS), utf(""), bytes(8), b"\x00", struct.pack(">i", -1)), "negative"),
    (STREAM_HEADER + b"\x77\x05abcde", "needs"),
    (frame(utf(TEXT_MESSAGE_CLASS), utf(""), struct.pack(">i", 1), utf("p"), b"\x7f") + b"\x71\x00\x7e\x00\x09",
     "reference"),
])
def test_defects_are_malformed_never_exceptions(body, reason):
    with pytest.raises(DecodeError) as caught:
        decode_text_message(body)
    assert caught.value.reason == "malformed" and reason in str(caught.value)


def test_size_limit():
    body = encode_text_message("x" * 5000)
    with pytest.raises(DecodeError) as caught:
        decode_text_message(body, max_bytes=4096)
    assert caught.value.reason == "oversized"


def test_every_truncation_is_a_decode_error(rmq_jms_vectors):
    body = body_of(rmq_jms_vectors["produced"][0])
    for cut in range(len(body)):
        with pytest.raises(DecodeError):
            decode_text_message(body[:cut])
