"""`SystemdNotifier`: the bridge tells its service manager how it is (`sd_notify`, Type=notify).

systemd passes `$NOTIFY_SOCKET`, the address of a Unix datagram socket (a path, or an
abstract name written `@name`), to a service started with `Type=notify`; the service sends
newline-separated `KEY=value` lines to it:

- `READY=1` once the bridge is subscribed and its sources listen (systemd holds back units
  ordered after it until then, and `systemctl start` returns then);
- `RELOADING=1` (with `MONOTONIC_USEC`), then `READY=1` again, around a reload (SIGHUP);
- `STOPPING=1` when it starts to stop (it publishes or spools its queue first);
- `WATCHDOG=1` every half `$WATCHDOG_USEC` when the unit sets `WatchdogSec=`;
- `STATUS=...`: one line `systemctl status` shows.

Without `$NOTIFY_SOCKET` (not under systemd, or another Type) nothing is sent. The protocol
is one `sendto` per message, so no library is needed (the same as libsystemd's
`sd_notify()`). The variables are removed from the environment, as `sd_notify(1, ...)` does,
so that a command target's child processes do not speak for the bridge.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import MutableMapping

log = logging.getLogger("cachesync.bridge")


class SystemdNotifier:
    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        #: seconds between WATCHDOG=1 pings (half the unit's WatchdogSec), or None
        self.watchdog_interval = watchdog_usec / 2e6 if watchdog_usec else None
        self._next_watchdog = 0.0
        self._warned = False

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str] = os.environ) -> SystemdNotifier:
        """From `$NOTIFY_SOCKET` and `$WATCHDOG_USEC` (for this process: `$WATCHDOG_PID`, when
        set, must be ours), which it removes from `environ`."""
        address = environ.pop("NOTIFY_SOCKET", None) or None
        watchdog, watchdog_pid = environ.pop("WATCHDOG_USEC", None), environ.pop("WATCHDOG_PID", None)
        usec = None
        if watchdog and (not watchdog_pid or watchdog_pid == str(os.getpid())):
            try:
                usec = int(watchdog) if int(watchdog) > 0 else None
            except ValueError:
                log.warning("WATCHDOG_USEC=%r is not a number of microseconds: no watchdog pings", watchdog)
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def reloading(self) -> None:
        self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}",
                  "STATUS=reloading rule files")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping: publishing or spooling the outgoing queue")

    def watchdog_if_due(self) -> None:
        """Call often (the main loop does, every half second at most)."""
        if self.watchdog_interval is None:
            return
        now = time.monotonic()
        if now >= self._next_watchdog:
            self._next_watchdog = now + self.watchdog_interval
            self.send("WATCHDOG=1")

    def send(self, *lines: str) -> bool:
        """One datagram of `lines`; False (and a warning, once) when it cannot be sent. Never
        raises: a service manager that went away must not stop the bridge."""
        if self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(lines).encode(), target)
            return True
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("cannot notify the service manager at NOTIFY_SOCKET=%s: %s", self.address,
                            exc.strerror or exc)
            return False
