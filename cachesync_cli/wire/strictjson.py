"""Strict, bounded JSON parsing for bytes that come off the wire.

One function, `parse_json_object`, shared by the native and the WSO2 decoders: it
checks the size before parsing, accepts only UTF-8, rejects duplicate keys, NaN and
Infinity, bounds the nesting depth, and turns every failure into `DecodeError`.
"""

from __future__ import annotations

import json
from typing import Any

from cachesync_cli.errors import DecodeError

DEFAULT_MAX_BYTES = 1024 * 1024
"""Largest message a decoder accepts (1 MiB), checked before parsing."""

MAX_DEPTH = 64
"""Deepest nesting of arrays/objects accepted (an envelope needs 4)."""


class _DuplicateKey(ValueError):
    pass


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(f"duplicate key {key!r}")
            seen.add(key)
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every call: json.loads with hooks would build a new one each time.
# Its C scanner runs under the GIL, so threads may share it.
_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)


def check_size(data: bytes, max_bytes: int) -> None:
    """Raise `DecodeError(reason="oversized")` when `data` is longer than `max_bytes`."""
    if len(data) > max_bytes:
        raise DecodeError(f"message of {len(data)} bytes exceeds the limit of {max_bytes}", reason="oversized")


def parse_json_object(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """Parse `data` as one UTF-8 JSON object, or raise `DecodeError`.

    Reasons: "oversized" (longer than `max_bytes`), "malformed" (not UTF-8, not JSON,
    duplicate keys, too deep), "invalid" (valid JSON but not an object).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError(f"expected bytes, got {type(data).__name__}", reason="malformed")
    check_size(data, max_bytes)
    try:
        text = bytes(data).decode("utf-8")
        value = _DECODER.decode(text)
    except UnicodeDecodeError as exc:
        raise DecodeError(f"message is not UTF-8: {exc.reason}", reason="malformed") from None
    except RecursionError:
        raise DecodeError("JSON nested too deeply", reason="malformed") from None
    except ValueError as exc:  # JSONDecodeError, duplicate keys, NaN, huge integer literals
        raise DecodeError(f"message is not valid JSON: {exc}", reason="malformed") from None
    if not isinstance(value, dict):
        raise DecodeError(f"expected a JSON object, got {type(value).__name__}", reason="invalid")
    # Nesting cannot be deeper than the number of brackets that open it: count them (C
    # speed) and walk the value only when there are enough to matter.
    if text.count("{") + text.count("[") > MAX_DEPTH:
        _check_depth(value)
    return value


def _check_depth(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DecodeError(f"JSON nested deeper than {MAX_DEPTH} levels", reason="malformed")
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
