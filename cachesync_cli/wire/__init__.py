"""Wire codecs: the native `cachesync/1` envelope, its signatures, and the WSO2 format.

Standard library only; every decoder raises nothing but `DecodeError` (or its
subclass `SignatureError`) whatever bytes it is given.

Importing the package loads no codec: each name below is imported from its module on first use
(PEP 562), so that a command's options can name the codecs (`codec_names`) without loading them.
"""

from __future__ import annotations

import importlib
from typing import Any

#: module -> the names it gives the package
_EXPORTS: dict[str, tuple[str, ...]] = {
    "batching": ("batch_items",),
    "canonical": ("canonical_json",),
    "codec": ("Decoded", "decode_message"),
    "envelope": ("ACK", "HEARTBEAT", "INVALIDATE", "Envelope", "Item", "Tenant", "decode_envelope",
                 "encode_envelope", "envelope_to_dict", "new_envelope_id", "now_ms"),
    "javaser": ("JavaArray", "JavaClass", "JavaEnum", "JavaObject", "JavaValue", "describe", "read_object",
                "serialize_string"),
    "signing": ("Keyring", "encode_signed", "sign_envelope"),
    "strictjson": ("DEFAULT_MAX_BYTES",),
    "wso2": ("CLEAR_ALL_KEY", "LOCAL_PREFIX", "Wso2Message", "decode_wso2", "encode_wso2", "wso2_to_envelope_dict"),
}
_MODULE_OF = {name: f"{__name__}.{module}" for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
