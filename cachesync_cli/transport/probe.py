"""What answers on a port, for a broker handshake that failed: "does not speak AMQP (it
answered like STOMP)" instead of a driver's `StreamLostError` after a long wait.

A URL with the wrong port (`amqp://` on the STOMP port, on Redis, on an HTTP server) makes
the driver wait for an answer that never comes or fail with an error that names nothing
useful. When a transport's handshake fails after the TCP connection was made, it asks
`wrong_protocol()`: two fresh connections at once, one sending a STOMP `CONNECT` frame, the
other an MQTT `CONNECT` packet, within a small budget. Most servers answer one of them at
once: AMQP brokers with their protocol header, STOMP brokers a `CONNECTED` or `ERROR` frame,
MQTT brokers a `CONNACK`, TLS servers an alert, Redis `-ERR`, memcached `ERROR`, HTTP a
status line or a page, NATS its `INFO`. A server that answers neither stays "silent".
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from dataclasses import dataclass

from cachesync_cli.errors import ConnectionFailed
from cachesync_cli.transport.endpoint import Endpoint
from cachesync_cli.transport.schemes import SCHEMES, variant

_STOMP_CONNECT = b"CONNECT\naccept-version:1.2\n\n\x00"
# MQTT 3.1.1 CONNECT: clean session, keep-alive 5 s, empty client id.
_MQTT_CONNECT = bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 0x02, 0, 5, 0, 0])

#: The scheme without TLS of each protocol a port may answer like ("AMQP": "amqp").
_PLAIN = {s.protocol: s.name for s in SCHEMES.values() if not s.tls and not s.in_process}


def probe_budget(timeout: float) -> float:
    """How long a failed handshake may spend finding out what answered: a small part of
    the command's timeout, so that `--timeout 2` stays about 2 s."""
    return max(0.2, min(1.0, timeout / 2))


@dataclass(frozen=True)
class Answer:
    """What a port answered: a protocol's name, or None with `said` (the first bytes, or
    `silent`, or `closed`)."""

    protocol: str | None
    said: str = ""


def classify(data: bytes) -> str | None:
    """The protocol whose server answers a STOMP or MQTT CONNECT with `data`."""
    if data.startswith(b"AMQP"):
        return "AMQP"
    if data.startswith(b"CONNECTED") or (data.startswith(b"ERROR") and (b"\x00" in data or b"message:" in data)):
        return "STOMP"
    if len(data) >= 2 and data[0] == 0x20 and data[1] in (2, 3, 4, 5, 6, 7, 8, 9):
        return "MQTT"
    if len(data) >= 2 and data[0] in (0x15, 0x16) and data[1] == 0x03:
        return "TLS"
    if data.startswith(b"HTTP/") or data.lstrip()[:9].lower() in (b"<!doctype", b"<html>") \
            or data.lstrip().lower().startswith(b"<html"):
        return "HTTP"
    if data[:1] in (b"-", b"+") and b"\r\n" in data:
        return "Redis"
    if data.startswith((b"ERROR\r\n", b"CLIENT_ERROR", b"SERVER_ERROR")):
        return "memcached"
    if data.startswith(b"INFO {"):
        return "NATS"
    if data.startswith(b"SSH-"):
        return "SSH"
    if len(data) > 5 and data[4] == 10 and b"\x00" in data[5:60]:
        return "MySQL"
    return None


def _ask(host: str, port: int, payload: bytes, deadline: float) -> Answer | None:
    """Send `payload` on a new connection; what came back before `deadline`. None when the
    port cannot be reached at all."""
    try:
        sock = socket.create_connection((host, port), timeout=max(0.05, deadline - time.monotonic()))
    except OSError:
        return None
    data = b""
    try:
        sock.sendall(payload)
        while len(data) < 512 and (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining if not data else min(remaining, 0.05))
            chunk = sock.recv(512)
            if not chunk:
                break
            data += chunk
            if classify(data):
                break
    except socket.timeout:
        pass
    except OSError:
        pass  # reset by the peer: what came before counts
    finally:
        sock.close()
    if not data:
        return Answer(None, "silent" if time.monotonic() >= deadline else "closed")
    protocol = classify(data)
    return Answer(protocol, "" if protocol else _printable(data))


def identify(host: str, port: int, budget: float) -> Answer | None:
    """What `host:port` answers within `budget` seconds; None when it cannot be reached."""
    deadline = time.monotonic() + budget
    results: queue.SimpleQueue[Answer | None] = queue.SimpleQueue()
    payloads = (_STOMP_CONNECT, _MQTT_CONNECT)
    for payload in payloads:  # daemon threads: the one still waiting ends by the deadline
        threading.Thread(target=lambda p=payload: results.put(_ask(host, port, p, deadline)),
                         daemon=True, name="cachesync-probe").start()
    answers: list[Answer] = []
    reached = False
    for _ in payloads:
        answer = results.get()
        if answer is None:
            continue
        reached = True
        if answer.protocol:
            return answer
        answers.append(answer)
    if not reached:
        return None
    for answer in answers:  # first bytes of an unknown protocol tell more than silence
        if answer.said not in ("silent", "closed"):
            return answer
    return Answer(None, "closed" if any(a.said == "closed" for a in answers) else "silent")


def wrong_protocol(endpoint: Endpoint, budget: float, *, tls_failed: bool = False) -> ConnectionFailed | None:
    """Why the handshake with `endpoint` failed when the port speaks something else: a
    ConnectionFailed naming `host:port`, the protocol expected and the one it answered like,
    with a hint at the right URL. None when it answers like the expected protocol (the
    failure is something else) or cannot be reached. `tls_failed`: the TLS handshake of a
    TLS URL failed; the port is then asked without TLS."""
    if endpoint.in_process:
        return None
    answer = identify(endpoint.host, endpoint.port, budget)
    return explain(endpoint, answer, budget, tls_failed=tls_failed) if answer is not None else None


def explain(endpoint: Endpoint, answer: Answer, budget: float, *, tls_failed: bool = False) -> ConnectionFailed | None:
    """`wrong_protocol()` for an `answer` already had from `identify()`."""
    info = endpoint.info
    expected, default = info.protocol, info.default_port
    where = f"{endpoint.host}:{endpoint.port}"
    plain = variant(info.family, tls=False).name
    tls_variant = variant(info.family, tls=True)
    if endpoint.tls and tls_failed:
        if answer.protocol == "TLS":
            return None
        if answer.protocol:
            hint = (f"this port takes {expected} without TLS: use {plain}://{where}, or the broker's TLS port "
                    f"({default} by default)" if answer.protocol == expected
                    else _hint(answer.protocol, where, f"{expected} over TLS", default))
            return ConnectionFailed(f"{where} does not speak TLS (it answered like {answer.protocol}, without TLS)",
                                    hint=hint)
        return ConnectionFailed(f"{where} does not speak TLS ({_said(answer, budget)})",
                                hint=f"check the port: {expected} over TLS listens on {default} by default")
    if answer.protocol == expected:
        return None
    if answer.protocol:
        return ConnectionFailed(f"{where} does not speak {expected} (it answered like {answer.protocol})",
                                hint=_hint(answer.protocol, where, expected, default,
                                           tls_scheme=tls_variant.name if tls_variant else None))
    return ConnectionFailed(f"{where} does not speak {expected}: {_said(answer, budget)}",
                            hint=f"check the port: {expected} listens on {default} by default")


def _hint(protocol: str, where: str, expected: str, default: int, tls_scheme: str | None = None) -> str:
    if protocol == "TLS" and tls_scheme:
        return f"the port expects TLS: use {tls_scheme}://{where}"
    if protocol in _PLAIN:
        return f"for {protocol}, use {_PLAIN[protocol]}://{where}; {expected} listens on {default} by default"
    return f"check the port: {expected} listens on {default} by default"


def _said(answer: Answer, budget: float) -> str:
    if answer.said == "silent":
        return "it accepted the connection but answered nothing, not even a STOMP or an MQTT CONNECT"
    if answer.said == "closed":
        return "it closed the connection without answering"
    return f"it answered {answer.said!r}"


def _printable(data: bytes) -> str:
    text = data[:24].decode("ascii", "replace")
    return "".join(c if c.isprintable() else "." for c in text) + ("..." if len(data) > 24 else "")
