"""A message seen on the topic, decoded for people and scripts (`tail`).

`observe()` never raises: a message that cannot be decoded becomes an `Observed` with
`error` set, so a watcher shows it as malformed and goes on.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from dataclasses import dataclass
from typing import Any

from cachesync_cli.errors import DecodeError, SignatureError
from cachesync_cli.transport.base import Delivery
from cachesync_cli.wire import Keyring, decode_message
from cachesync_cli.wire.javaser import describe, read_object


@dataclass(frozen=True)
class Observed:
    delivery: Delivery
    codec: str | None  # "native", "wso2", None when malformed
    message: dict[str, Any] | None  # WIRE.md §2 shape
    verified: bool | None  # None: not signed-checked (no keys configured, or WSO2)
    error: DecodeError | None = None
    signature_error: str | None = None

    @property
    def type(self) -> str:
        return (self.message or {}).get("type", "malformed")

    @property
    def origin(self) -> str | None:
        return (self.message or {}).get("origin")

    @property
    def tenant_domain(self) -> str | None:
        return ((self.message or {}).get("tenant") or {}).get("domain")

    @property
    def caches(self) -> list[str]:
        return [item.get("cache", "") for item in (self.message or {}).get("items", [])]

    def to_json(self) -> dict[str, Any]:
        """The NDJSON record: the decoded message plus codec, destination, verified. An item
        of Java object keys has `java_keys` (base64 of each exact stream: what `invalidate
        --file` replays) and `java_keys_read` (class and fields, as webhooks get them)."""
        if self.error is not None:
            return {"malformed": True, "reason": self.error.reason, "error": str(self.error),
                    "destination": self.delivery.destination,
                    "body_base64": base64.b64encode(self.delivery.body[:65536]).decode("ascii"),
                    "headers": dict(self.delivery.headers)}
        record = dict(self.message or {})
        if any("java_keys" in item for item in record.get("items", ())):
            record["items"] = [_with_java_keys_read(item) for item in record["items"]]
        record.update(codec=self.codec, destination=self.delivery.destination, verified=self.verified)
        if self.signature_error:
            record["signature_error"] = self.signature_error
        return record


def observe(delivery: Delivery, *, codec: str = "auto", keyring: Keyring | None = None,
            max_bytes: int | None = None) -> Observed:
    kwargs = {"max_bytes": max_bytes} if max_bytes else {}
    try:
        decoded = decode_message(delivery.body, delivery.headers, codec, **kwargs)
    except DecodeError as exc:
        return Observed(delivery, None, None, None, error=exc)
    except Exception as exc:  # a decoder bug must not stop a watcher; show it as malformed
        return Observed(delivery, None, None, None, error=DecodeError(f"cannot decode: {exc!r}"))
    verified, why = None, None
    if keyring is not None and decoded.envelope is not None:
        try:
            keyring.verify_envelope(decoded.envelope)
            verified = True
        except SignatureError as exc:
            verified, why = False, exc.reason
    return Observed(delivery, decoded.codec, decoded.display, verified, signature_error=why)


def format_time(ms: int | None) -> str:
    if not isinstance(ms, int):
        ms = int(datetime.datetime.now().timestamp() * 1000)
    moment = datetime.datetime.fromtimestamp(ms / 1000)
    return moment.strftime("%H:%M:%S.") + f"{ms % 1000:03d}"


def pretty_line(seen: Observed) -> str:
    """One line of rich markup: time, origin, tenant, cache, keys, signature status."""
    from rich.markup import escape

    if seen.error is not None:
        preview = seen.delivery.body[:80].decode("utf-8", "replace")
        return (f"{format_time(None)} [bold red]malformed[/] ({escape(seen.error.reason)}): "
                f"{escape(str(seen.error))} [dim]{escape(preview)!r}[/]")
    msg = seen.message or {}
    tenant = msg.get("tenant") or {}
    tenant_text = f" tenant={escape(str(tenant.get('domain')))}" if tenant else ""
    head = f"{format_time(msg.get('ts'))} [cyan]{escape(str(msg.get('origin', '?')))}[/]"
    if msg.get("seq") is not None:
        head += f" #{msg['seq']}"
    sig = {True: " [green]signed ✓[/]", False: f" [red]signature ✗ ({seen.signature_error})[/]",
           None: ""}[seen.verified]
    codec = " [dim](wso2)[/]" if seen.codec == "wso2" else ""
    kind = msg.get("type")
    if kind == "heartbeat":
        return f"{head} [dim]heartbeat applied={escape(json.dumps(msg.get('applied', {})))}[/]{sig}"
    if kind == "ack":
        return f"{head} [green]ack[/] of {escape(str(msg.get('ack_of')))}{sig}"
    parts = []
    for item in msg.get("items", []):
        manager = f"{item['manager']}/" if item.get("manager") else ""
        if item.get("all"):
            what = "[bold]ALL[/]"
        else:
            keys = item.get("keys") or item.get("unusable_keys") or shown_java_keys(item, 5)
            shown = ", ".join(escape(str(k)) for k in keys[:5])
            what = shown + (f" … (+{len(keys) - 5})" if len(keys) > 5 else "")
        parts.append(f"[magenta]{escape(manager + item.get('cache', ''))}[/]: {what}")
    ack = " [yellow]ack requested[/]" if msg.get("ack") else ""
    return f"{head}{tenant_text} {'; '.join(parts)}{ack}{sig}{codec}"



def shown_java_keys(item: dict[str, Any], limit: int | None = None) -> list[str]:
    """An item's Java object keys (`java_keys`) as class and fields, for people."""
    return [_java_key_shown(text) for text in item.get("java_keys", [])[:limit]]


def _with_java_keys_read(item: dict[str, Any]) -> dict[str, Any]:
    if "java_keys" not in item:
        return item
    from cachesync_cli.wire.javavalues import to_plain

    read = []
    for text in item["java_keys"]:
        try:
            read.append(to_plain(read_object(base64.b64decode(text, validate=True))))
        except (DecodeError, binascii.Error, ValueError) as exc:
            read.append({"unreadable": str(exc)})
    return {**item, "java_keys_read": read}


def _java_key_shown(text: str) -> str:
    """An item's Java object key (base64 of its stream) as class and fields."""
    try:
        return describe(read_object(base64.b64decode(text, validate=True)), max_chars=200)
    except (DecodeError, binascii.Error, ValueError):
        return "<unreadable Java key>"
