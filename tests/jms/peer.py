"""Run `IsPeer.java`, a JMS peer standing in for WSO2 IS nodes on ActiveMQ (OpenWire).

`compile_peer(directory)` compiles the Java sources beside this file once, with javac,
against Debian's ActiveMQ client jars in /usr/share/java (`JARS`); `JmsPeer` starts one
peer process (a JVM), sends it commands on stdin and reads its events (one JSON line each)
from stdout on a thread, so that a test can wait for them with a timeout. See IsPeer.java
for the commands and events, and docs/testing.md for what the peer stands for.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
JAVA_DIR = Path("/usr/share/java")
JARS = (
    "activemq-client", "geronimo-jms_1.1_spec", "geronimo-j2ee-management-1.1-spec", "hawtbuf",
    "slf4j-api", "slf4j-nop", "jackson-databind", "jackson-core", "jackson-annotations",
)
"""The jars the peer needs, from Debian's libactivemq-java and its dependencies."""
SOURCES = ("IsPeer.java", "CacheKey.java", "OAuthCacheKey.java")
EVENT_WAIT = 10.0
"""Seconds to wait for an event that should come (JVM start, a message through the broker)."""


class PeerUnavailable(Exception):
    """javac, java or a jar is missing: the peer cannot be compiled or run."""


def class_path(classes: Path | None = None) -> str:
    jars = [JAVA_DIR / f"{name}.jar" for name in JARS]
    missing = [str(jar) for jar in jars if not jar.is_file()]
    if missing:
        raise PeerUnavailable(f"missing {', '.join(missing)} (scripts/services start installs libactivemq-java)")
    return os.pathsep.join([str(classes)] * (classes is not None) + [str(jar) for jar in jars])


def compile_peer(directory: Path) -> Path:
    """Compile the peer into `directory`; returns it (the class path entry)."""
    javac = shutil.which("javac")
    if javac is None:
        raise PeerUnavailable("javac not found (scripts/services start installs default-jdk-headless)")
    result = subprocess.run(
        [javac, "-encoding", "UTF-8", "-d", str(directory), "-cp", class_path(), *(str(HERE / s) for s in SOURCES)],
        capture_output=True, text=True, timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"javac failed ({result.returncode}):\n{result.stderr}")
    return directory


class JmsPeer:
    """One IsPeer process: `publish`/`text`/`bytes` send, `next_event` waits for what it saw."""

    def __init__(self, classes: Path, url: str, topic: str, sender: str, mode: str = "consume", *,
                 wait: bool = True) -> None:
        """Start the peer; with `wait`, return once it is connected and subscribed (else call
        `ready()` later: JVMs started together boot in parallel)."""
        self.sender, self.topic, self.mode = sender, topic, mode
        java = shutil.which("java")
        if java is None:
            raise PeerUnavailable("java not found (scripts/services start installs default-jdk-headless)")
        self._ids = iter(range(1, 1 << 30))
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._pending: list[dict[str, Any]] = []  # read but not yet asked for
        self.process = subprocess.Popen(
            [java, "-XX:TieredStopAtLevel=1", "-Xmx64m", "-cp", class_path(classes), "IsPeer",
             "--url", url, "--topic", topic, "--sender", sender, "--mode", mode],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._stderr: list[str] = []
        threading.Thread(target=self._read_events, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        if wait:
            self.ready()

    def ready(self) -> JmsPeer:
        """Wait until the peer is connected (and subscribed, unless mode "send")."""
        try:
            self.next_event("ready", timeout=EVENT_WAIT + 10)  # a cold JVM on a busy machine
        except AssertionError:
            self.stop()
            raise
        return self

    def _read_events(self) -> None:
        for raw in self.process.stdout:
            try:
                self._events.put(json.loads(raw))
            except ValueError:
                self._events.put({"event": "garbage", "line": raw.decode("utf-8", "replace")})
        self._events.put({"event": "exit"})

    def _read_stderr(self) -> None:
        for raw in self.process.stderr:
            self._stderr.append(raw.decode("utf-8", "replace"))

    # -- commands ---------------------------------------------------------------------

    def _command(self, op: str, **fields: Any) -> dict[str, Any]:
        command_id = next(self._ids)
        line = json.dumps({"op": op, "id": command_id, **fields}) + "\n"
        self.process.stdin.write(line.encode("ascii"))  # json.dumps escapes non-ASCII
        self.process.stdin.flush()
        return self.next_event("sent", lambda event: event.get("id") == command_id)

    def publish(self, *, manager: str, cache: str, key: str | None = None, oauth_key: str | None = None,
                clear_all: bool = False, key_base64: str | None = None, body_format: str = "json",
                tenant_domain: str = "carbon.super", tenant_id: int = -1234) -> str:
        """Publish one invalidation as the connector does; returns the text sent."""
        fields: dict[str, Any] = {"format": body_format, "manager": manager, "cache": cache,
                                  "tenantDomain": tenant_domain, "tenantId": tenant_id}
        if clear_all:
            fields["clearAll"] = True
        elif oauth_key is not None:
            fields["oauthKey"] = oauth_key
        elif key_base64 is not None:
            fields["keyBase64"] = key_base64
        else:
            fields["key"] = key
        return self._command("publish", **fields)["text"]

    def text(self, text: str) -> None:
        """Send a TextMessage with exactly this text (and the peer's sender)."""
        self._command("text", text=text)

    # -- events -----------------------------------------------------------------------

    def next_event(self, kind: str = "received", match: Callable[[dict[str, Any]], bool] | None = None, *,
                   timeout: float = EVENT_WAIT) -> dict[str, Any]:
        """The first event of `kind` (matching `match`) not yet returned, waiting up to
        `timeout`; events of other kinds stay for later calls. An `error` event fails."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self._pending:
                if event["event"] == kind and (match is None or match(event)):
                    self._pending.remove(event)
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"peer {self.sender}: no {kind!r} event within {timeout:g}s; "
                                     f"unclaimed events: {self._pending}; stderr: {''.join(self._stderr)[-2000:]}")
            try:
                event = self._events.get(timeout=remaining)
            except queue.Empty:
                continue
            if event["event"] in ("error", "garbage") or event["event"] == "exit" and kind != "exit":
                raise AssertionError(f"peer {self.sender}: {event}; stderr: {''.join(self._stderr)[-2000:]}")
            self._pending.append(event)

    def received(self, match: Callable[[dict[str, Any]], bool] | None = None, *,
                 timeout: float = EVENT_WAIT) -> dict[str, Any]:
        """The next message the peer received from another sender (see `next_event`)."""
        return self.next_event("received", match, timeout=timeout)

    def assert_nothing_received(self, within: float) -> None:
        """Fails when a message from another sender arrives within `within` seconds."""
        try:
            event = self.received(timeout=within)
        except AssertionError:
            return
        raise AssertionError(f"peer {self.sender} received {event}")

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write(b'{"op":"quit"}\n')
                self.process.stdin.flush()
                self.process.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(5)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                stream.close()
            except OSError:
                pass
