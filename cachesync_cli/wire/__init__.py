"""Wire codecs: the native `cachesync/1` envelope, its signatures, and the WSO2 format.

Standard library only; every decoder raises nothing but `DecodeError` (or its
subclass `SignatureError`) whatever bytes it is given.
"""

from cachesync_cli.wire.batching import batch_items
from cachesync_cli.wire.canonical import canonical_json
from cachesync_cli.wire.codec import Decoded, decode_message
from cachesync_cli.wire.envelope import (
    ACK,
    HEARTBEAT,
    INVALIDATE,
    Envelope,
    Item,
    Tenant,
    decode_envelope,
    encode_envelope,
    envelope_to_dict,
    new_envelope_id,
    now_ms,
)
from cachesync_cli.wire.javaser import (
    JavaArray,
    JavaClass,
    JavaEnum,
    JavaObject,
    JavaValue,
    describe,
    read_object,
    serialize_string,
)
from cachesync_cli.wire.signing import Keyring, encode_signed, sign_envelope
from cachesync_cli.wire.strictjson import DEFAULT_MAX_BYTES
from cachesync_cli.wire.wso2 import (
    CLEAR_ALL_KEY,
    LOCAL_PREFIX,
    Wso2Message,
    decode_wso2,
    encode_wso2,
    wso2_to_envelope_dict,
)

__all__ = [
    "ACK", "CLEAR_ALL_KEY", "DEFAULT_MAX_BYTES", "HEARTBEAT", "INVALIDATE", "LOCAL_PREFIX",
    "Decoded", "Envelope", "Item", "JavaArray", "JavaClass", "JavaEnum", "JavaObject", "JavaValue", "Keyring",
    "Tenant", "Wso2Message",
    "batch_items", "canonical_json", "decode_envelope", "decode_message", "decode_wso2", "describe",
    "encode_envelope", "encode_signed", "encode_wso2", "envelope_to_dict", "new_envelope_id", "now_ms",
    "read_object", "serialize_string", "sign_envelope", "wso2_to_envelope_dict",
]
