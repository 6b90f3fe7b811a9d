"""Decode a broker message in either wire format: native `cachesync/1` or WSO2.

This is the one entry point `tail` and the bridge use. With `codec="auto"` the formats
are told apart by their fields: a native envelope has `"v"`, a WSO2 message has
`"cacheKeyBase64"` or is a 2.0.x-2.1.8 text (`ClusterCacheInvalidationRequest{...}`).
A body in the RabbitMQ JMS client's framing (`rmq_jms`) is unwrapped first, whatever the
codec: its text is the message, its `sender` property the sender.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cachesync_cli.errors import DecodeError, SignatureError
from cachesync_cli.wire.codec_names import READ_CODECS
from cachesync_cli.wire.envelope import Envelope, envelope_from_object, envelope_to_dict
from cachesync_cli.wire.rmq_jms import decode_text_message, is_rmq_jms_body
from cachesync_cli.wire.signing import Keyring
from cachesync_cli.wire.strictjson import DEFAULT_MAX_BYTES, parse_json_object
from cachesync_cli.wire.wso2 import (
    LEGACY_PREFIX_BYTES,
    Wso2Message,
    decode_wso2,
    wso2_from_object,
    wso2_to_envelope_dict,
)

CODECS = READ_CODECS


@dataclass(frozen=True)
class Decoded:
    """A decoded message: its format, a WIRE.md §2-shaped dict for display, and the model."""

    codec: Literal["native", "wso2"]
    display: dict[str, Any]
    envelope: Envelope | None = None
    wso2: Wso2Message | None = None


def decode_message(
    body: bytes,
    headers: Mapping[str, Any] | None = None,
    codec: str = "auto",
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    keyring: Keyring | None = None,
) -> Decoded:
    """Decode `body` as `codec` ("auto", "native" or "wso2"), or raise `DecodeError`.

    With a `keyring`, native envelopes must carry a valid signature and WSO2 messages,
    which cannot be signed, are refused (`SignatureError`, reason "unsigned"); decode
    without one and call `Keyring.verify_envelope` to show messages whatever their
    signature.
    """
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; expected one of {', '.join(CODECS)}")
    if is_rmq_jms_body(body):
        body, headers = _unwrap_rmq_jms(body, headers, max_bytes)
    if body[:len(LEGACY_PREFIX_BYTES)] == LEGACY_PREFIX_BYTES and codec != "native":
        if keyring is not None:
            raise SignatureError("WSO2 messages carry no signature", reason="unsigned")
        message = decode_wso2(body, headers or {}, max_bytes=max_bytes)
        return Decoded("wso2", wso2_to_envelope_dict(message), wso2=message)
    obj = parse_json_object(body, max_bytes=max_bytes)
    if codec == "auto":
        if "v" in obj:
            codec = "native"
        elif "cacheKeyBase64" in obj:
            codec = "wso2"
        else:
            raise DecodeError("neither a cachesync envelope ('v') nor a WSO2 message ('cacheKeyBase64')",
                              reason="invalid")
    if codec == "native":
        envelope = envelope_from_object(obj)
        if keyring is not None:
            keyring.verify(obj)
        return Decoded("native", envelope_to_dict(envelope), envelope=envelope)
    if keyring is not None:
        raise SignatureError("WSO2 messages carry no signature", reason="unsigned")
    message = wso2_from_object(obj, headers or {})
    return Decoded("wso2", wso2_to_envelope_dict(message), wso2=message)


def _unwrap_rmq_jms(body: bytes, headers: Mapping[str, Any] | None,
                    max_bytes: int) -> tuple[bytes, Mapping[str, Any]]:
    """The text and sender of an RMQ JMS TextMessage body (the body's `sender` wins: the
    JMS consumer reads only the body)."""
    message = decode_text_message(body, max_bytes=max(max_bytes, 4 * max_bytes // 3 + 4096))
    if message.text is None:
        raise DecodeError("an RMQ JMS TextMessage with a null text", reason="invalid")
    merged = dict(headers or {})
    if message.sender is not None:
        merged["sender"] = message.sender
    return message.text.encode("utf-8"), merged
