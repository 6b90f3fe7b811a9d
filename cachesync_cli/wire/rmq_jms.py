"""The RabbitMQ JMS client's message body (docs/wire.md §5): a TextMessage, read and written
with our own code.

The RabbitMQ JMS client (what WSO2's connector uses with `broker_type = "rabbitmq"`)
publishes to exchange `jms.durable.topic` a body that is a Java serialization stream in
block-data mode, written by `RMQMessage.toByteArray`:

    AC ED 00 05, then block data (TC_BLOCKDATA 0x77 len:u8 / TC_BLOCKDATALONG 0x7A len:i32):
    writeUTF(class name) writeUTF(internal id)
    int n, n x (writeUTF name, primitive)      the rmq.* properties
    int m, m x (writeUTF name, primitive)      the user properties (`sender`)
    boolean text-is-null, int length, the text as UTF-8     (RMQTextMessage.writeBody)

A primitive is a tag byte and a value (-1 null, 1 boolean, 2 byte, 3 short, 4 int, 5 long,
6 float, 7 double, 8 writeUTF string, 9 char, 10 int length + bytes); any other tag is
followed by a serialized object (the client writes its `RMQDestination` so, tag 127). Such
objects are parsed structurally by `javaser` and skipped, never instantiated. Its consumer
reads nothing but the body: AMQP properties and headers are optional.

A consumer that is handed anything else (a plain JSON body) fails in `RMQMessage.fromMessage`
and its channel is closed: the subscriber stays deaf until it reconnects. So nothing but
`encode_text_message` output may be published where RMQ JMS consumers listen.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from cachesync_cli.errors import DecodeError
from cachesync_cli.wire.javaser import STREAM_HEADER, TC_BLOCKDATA, TC_BLOCKDATALONG, TC_RESET, JavaValue
from cachesync_cli.wire.javaser import ObjectStreamReader
from cachesync_cli.wire.mutf8 import decode_modified_utf8, modified_utf8

TEXT_MESSAGE_CLASS = "com.rabbitmq.jms.client.message.RMQTextMessage"
EXCHANGE = "jms.durable.topic"
"""The exchange the RabbitMQ JMS client publishes topic messages to (routing key = topic)."""
MAX_BLOCK = 1024
"""The JVM's block-data record size (ObjectOutputStream's BlockDataOutputStream)."""
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_PROPERTIES = 256
"""Properties per section: the client writes 6 rmq.* and one per user property."""

_PRIMITIVE_FORMATS = {1: (">?", 1), 2: (">b", 1), 3: (">h", 2), 4: (">i", 4), 5: (">q", 8),
                      6: (">f", 4), 7: (">d", 8), 9: (">H", 2)}
_NULL, _STRING, _BYTES = -1, 8, 10


@dataclass(frozen=True)
class RmqTextMessage:
    """A decoded RMQ JMS TextMessage. `text` is None when the client sent a null text;
    objects among the properties appear as `JavaValue`s (parsed for display, never loaded)."""

    text: str | None
    message_id: str = ""
    rmq_properties: dict[str, object] = field(default_factory=dict)
    user_properties: dict[str, object] = field(default_factory=dict)

    @property
    def sender(self) -> str | None:
        value = self.user_properties.get("sender")
        return value if isinstance(value, str) else None


def is_rmq_jms_body(body: bytes) -> bool:
    """Whether `body` looks like an RMQ JMS message (a block-data Java stream), cheaply."""
    return body[:4] == STREAM_HEADER and body[4:5] in (bytes([TC_BLOCKDATA]), bytes([TC_BLOCKDATALONG]))


def encode_text_message(text: str, *, sender: str | None = None, message_id: str = "") -> bytes:
    """The smallest body an RMQ JMS consumer reads as a TextMessage with `text` (and the
    user property `sender`): no rmq.* properties, one block stream cut at 1,024 bytes as the
    JVM cuts it. Byte for byte what rmq-jms-vectors.json's `accepted` entries hold."""
    data = bytearray()
    _write_utf(data, TEXT_MESSAGE_CLASS)
    _write_utf(data, message_id)
    data += struct.pack(">i", 0)
    user = {"sender": sender} if sender is not None else {}
    data += struct.pack(">i", len(user))
    for name, value in user.items():
        _write_utf(data, name)
        data.append(_STRING)
        _write_utf(data, value)
    encoded = text.encode("utf-8")
    data += struct.pack(">?i", False, len(encoded))
    data += encoded
    return STREAM_HEADER + _blocks(bytes(data))


def frame_wso2_message(body: bytes, headers: Mapping[str, str]) -> bytes:
    """`body`, a WSO2 message (the connector's JSON or legacy text), as the TextMessage an RMQ
    JMS consumer reads, with its `sender`. Raises `ValueError` for anything else (a native
    envelope, a heartbeat, a probe...): on `jms.durable.topic` it would stop the IS node's
    consumer."""
    from cachesync_cli.wire.wso2 import decode_wso2

    try:
        decode_wso2(body, headers)
    except DecodeError as exc:
        raise ValueError(f"only WSO2 TextMessages may be published where RabbitMQ JMS clients listen "
                         f"(exchange {EXCHANGE}), not this ({exc})") from None
    return encode_text_message(bytes(body).decode("utf-8"), sender=headers.get("sender"))


def decode_text_message(body: bytes, *, max_bytes: int = MAX_BODY_BYTES) -> RmqTextMessage:
    """Read an RMQ JMS body; only a TextMessage is accepted. Raises `DecodeError`
    ("oversized" beyond `max_bytes`, "malformed" for anything else)."""
    if len(body) > max_bytes:
        raise DecodeError(f"RMQ JMS body of {len(body)} bytes exceeds {max_bytes}", reason="oversized")
    try:
        return _BlockReader(bytes(body)).message()
    except DecodeError:
        raise
    except Exception as exc:  # a parser bug must not escape as anything but DecodeError
        raise DecodeError(f"unreadable RMQ JMS body: {type(exc).__name__}", reason="malformed") from None


def _write_utf(out: bytearray, text: str) -> None:
    encoded = modified_utf8(text)
    if len(encoded) > 0xFFFF:
        raise ValueError(f"a JMS string is at most 65,535 bytes in modified UTF-8, not {len(encoded)}")
    out += struct.pack(">H", len(encoded)) + encoded


def _blocks(data: bytes) -> bytes:
    out = bytearray()
    for start in range(0, len(data), MAX_BLOCK):
        chunk = data[start:start + MAX_BLOCK]
        header = struct.pack(">BB", TC_BLOCKDATA, len(chunk)) if len(chunk) <= 0xFF \
            else struct.pack(">Bi", TC_BLOCKDATALONG, len(chunk))
        out += header + chunk
    return bytes(out)


class _BlockReader:
    """ObjectInputStream in block-data mode: primitives come from block records, objects
    (after a primitive tag the client writes with writeObject) from `javaser`'s reader."""

    def __init__(self, data: bytes) -> None:
        self.objects = ObjectStreamReader(data)  # owns the position and the handle table
        self.block_left = 0

    def fail(self, message: str) -> DecodeError:
        return DecodeError(f"malformed RMQ JMS body at byte {self.objects.pos}: {message}", reason="malformed")

    def message(self) -> RmqTextMessage:
        if self.objects.take(4) != STREAM_HEADER:
            raise self.fail("not a Java serialization stream (no AC ED 00 05 header)")
        class_name = self.utf()
        if class_name != TEXT_MESSAGE_CLASS:
            raise self.fail(f"a {class_name.rsplit('.', 1)[-1] or 'message'} is not a TextMessage")
        message_id = self.utf()
        rmq_properties = self.properties()
        user_properties = self.properties()
        text = None if self.unpack(">?", 1) else self.text()
        if self.block_left or self.objects.pos != len(self.objects.data):
            raise self.fail("bytes after the text")
        return RmqTextMessage(text, message_id, rmq_properties, user_properties)

    def properties(self) -> dict[str, object]:
        count = self.unpack(">i", 4)
        if not 0 <= count <= MAX_PROPERTIES:
            raise self.fail(f"{count} properties (at most {MAX_PROPERTIES})")
        values: dict[str, object] = {}
        for _ in range(count):
            name = self.utf()
            values[name] = self.primitive()
        return values

    def primitive(self) -> object:
        tag = self.unpack(">b", 1)
        if tag == _NULL:
            return None
        if tag == _STRING:
            return self.utf()
        if tag == _BYTES:
            return self.take(self.length())
        if tag in _PRIMITIVE_FORMATS:
            fmt, size = _PRIMITIVE_FORMATS[tag]
            value = self.unpack(fmt, size)
            return chr(value) if tag == 9 else value
        return self.serialized_object()

    def serialized_object(self) -> JavaValue:
        if self.block_left:
            raise self.fail("an object is expected, block data remains")
        return self.objects.read_value()

    def text(self) -> str:
        raw = self.take(self.length())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("the text is not UTF-8") from None

    def length(self) -> int:
        length = self.unpack(">i", 4)
        if length < 0:
            raise self.fail(f"negative length {length}")
        return length

    def utf(self) -> str:
        return decode_modified_utf8(self.take(self.unpack(">H", 2)))

    def unpack(self, fmt: str, size: int):
        return struct.unpack(fmt, self.take(size))[0]

    def take(self, count: int) -> bytes:
        """`count` bytes of block data, across as many records as they span."""
        if count > len(self.objects.data):
            raise self.fail(f"needs {count} bytes, the body has {len(self.objects.data)}")
        parts = []
        while count:
            if not self.block_left:
                self.next_block()
            step = min(count, self.block_left)
            parts.append(self.objects.take(step))
            self.block_left -= step
            count -= step
        return b"".join(parts)

    def next_block(self) -> None:
        code = self.objects.take(1)[0]
        while code == TC_RESET:
            self.objects.handles.clear()
            code = self.objects.take(1)[0]
        if code == TC_BLOCKDATA:
            self.block_left = self.objects.take(1)[0]
        elif code == TC_BLOCKDATALONG:
            self.block_left = self.objects.unpack(">i", 4)
            if self.block_left < 0:
                raise self.fail("negative block length")
        else:
            raise self.fail(f"block data expected, found type code 0x{code:02x}")
