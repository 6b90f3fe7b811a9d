"""HMAC-SHA256 envelope signatures: `sig = "v1:<key-id>:<hex>"` (WIRE.md §2).

The MAC covers the RFC 8785 canonical JSON of the envelope object without `sig`.
A receiver checks the object as received (`Envelope.raw`), unknown fields included,
so a newer sender's extra fields are protected too. A `Keyring` signs with one key
and accepts several, which is how keys are rotated.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cachesync_cli.errors import SignatureError
from cachesync_cli.wire.canonical import canonical_json
from cachesync_cli.wire.envelope import Envelope, encode_envelope, envelope_to_dict

SIGNATURE_SCHEME = "v1"


def _mac(key: bytes, obj: Mapping[str, Any]) -> str:
    unsigned = {name: value for name, value in obj.items() if name != "sig"}
    return hmac.new(key, canonical_json(unsigned), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Keyring:
    """Shared HMAC keys by id; signs with `signing_key_id` (None: verify only)."""

    signing_key_id: str | None
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a keyring needs at least one key")
        for key_id, secret in self.keys.items():
            if not isinstance(key_id, str) or not key_id or ":" in key_id:
                raise ValueError(f"key id {key_id!r} must be a non-empty string without ':'")
            if not isinstance(secret, bytes) or not secret:
                raise ValueError(f"key {key_id!r} must be non-empty bytes")
        if self.signing_key_id is not None and self.signing_key_id not in self.keys:
            raise ValueError(f"signing key {self.signing_key_id!r} is not in the keyring")

    def sign(self, message: Envelope | Mapping[str, Any]) -> str:
        """The `sig` value for an envelope or its wire dict (any existing `sig` ignored)."""
        if self.signing_key_id is None:
            raise ValueError("this keyring has no signing key")
        obj = envelope_to_dict(message) if isinstance(message, Envelope) else message
        digest = _mac(self.keys[self.signing_key_id], obj)
        return f"{SIGNATURE_SCHEME}:{self.signing_key_id}:{digest}"

    def verify(self, raw: Mapping[str, Any]) -> str:
        """Check the `sig` of a received object; return the key id or raise `SignatureError`.

        Reasons: "unsigned" (no `sig`), "unknown_key" (key id not in the keyring),
        "bad_signature" (wrong MAC, bad format, or content that cannot be canonicalized).
        """
        sig = raw.get("sig")
        if sig is None:
            raise SignatureError("message is not signed", reason="unsigned")
        if not isinstance(sig, str):
            raise SignatureError("sig is not a string", reason="bad_signature")
        parts = sig.split(":")
        if len(parts) != 3 or parts[0] != SIGNATURE_SCHEME:
            raise SignatureError("sig is not of the form v1:<key-id>:<hex>", reason="bad_signature")
        _, key_id, given = parts
        key = self.keys.get(key_id)
        if key is None:
            raise SignatureError(f"message signed with unknown key {key_id!r}", reason="unknown_key")
        try:
            expected = _mac(key, raw)
        except (TypeError, ValueError, RecursionError) as exc:
            raise SignatureError(f"signed content cannot be canonicalized: {exc}", reason="bad_signature") from None
        if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace")):
            raise SignatureError(f"signature does not match key {key_id!r}", reason="bad_signature")
        return key_id

    def verify_envelope(self, env: Envelope) -> str:
        """`verify` on what was received (`env.raw`), or on `env` itself if it was built locally."""
        return self.verify(env.raw if env.raw is not None else envelope_to_dict(env))


def sign_envelope(env: Envelope, keyring: Keyring) -> Envelope:
    """A copy of `env` carrying its signature."""
    return dataclasses.replace(env, sig=keyring.sign(env), raw=None)


def encode_signed(env: Envelope, keyring: Keyring) -> bytes:
    """The bytes to publish for `env`, signed with the keyring's signing key."""
    return encode_envelope(sign_envelope(env, keyring))
