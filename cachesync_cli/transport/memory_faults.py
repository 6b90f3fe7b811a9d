"""Faults a test injects into a `memory://` broker: `memory_broker(name).faults`.

A real broker refuses messages, loses connections, is down for a while, confirms late or
not at all. The memory broker does what it is told here, so that the code above the
transport (the publishing thread's resend, window and spool) can be tested in milliseconds,
beside the real-broker tests. Everything is off until a test sets it; `clear()` turns it
all off again. Every method is safe from any thread.

- `refuse(count)`: the next `count` publishes (all, when None) get a negative confirm
  (`NotConfirmed`, as RabbitMQ's `Basic.Nack`) and are not routed.
- `hold_confirms()`: messages are routed at once, their confirms wait until
  `release_confirms(count)` (oldest first) or `hold_confirms(False)`; `wait_held(n)`
  waits until `n` wait.
- `lose_confirms(count)`: the next `count` messages are routed and never confirmed.
- `lose_messages(count)`: the next `count` messages are neither routed nor confirmed, as
  when they are lost with a connection that died unnoticed (drop it to fail them).
- `lose_and_go_down()`: the next message is neither routed nor confirmed and the broker goes
  down as it is sent (as `down()`); its confirm fails only at `up()`, as when the driver
  reports a lost connection after the publisher has moved on to its next message.
- `drop_connections()`: every client loses its connection (its `on_lost` is called, as a
  transport's driver thread would), and reconnects at once; `down()` also refuses new
  connections until `up()`.

Confirms that are held or lost when a connection drops or closes fail with
`ConnectionFailed`, as AMQP's do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future

from cachesync_cli.errors import ConnectionFailed, NotConfirmed


class BrokerFaults:
    def __init__(self, name: str, drop: Callable[[], None]) -> None:
        self.name = name
        self._drop = drop
        self._cond = threading.Condition()
        self._refuse: float = 0  # publishes still to refuse (inf: until cleared)
        self._lose = 0  # confirms still to lose
        self._swallow = 0  # messages still to lose
        self._holding = False
        self._down = False
        self._go_down = False  # the next message is lost and the broker goes down with it
        self._late: list[Future[None]] = []  # confirms that fail at up()
        self._held: list[tuple[object, Future[None]]] = []  # (transport, confirm), oldest first
        self._lost: list[tuple[object, Future[None]]] = []
        self.refused = 0  # publishes refused so far

    # -- what a test sets ---------------------------------------------------------------------

    def refuse(self, count: int | None = None) -> None:
        with self._cond:
            self._refuse = float("inf") if count is None else count

    def hold_confirms(self, on: bool = True) -> None:
        with self._cond:
            self._holding = on
        if not on:
            self.release_confirms()

    def release_confirms(self, count: int | None = None) -> int:
        """Confirm the oldest `count` held messages (all, when None); how many were."""
        with self._cond:
            count = len(self._held) if count is None else min(count, len(self._held))
            released, self._held = self._held[:count], self._held[count:]
        for _, future in released:
            if not future.done():
                future.set_result(None)
        return len(released)

    def wait_held(self, count: int, timeout: float = 5.0) -> int:
        """Wait until at least `count` confirms are held; how many are (fewer: timed out)."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._held) >= count, timeout)
            return len(self._held)

    @property
    def held(self) -> int:
        with self._cond:
            return len(self._held)

    def lose_confirms(self, count: int = 1) -> None:
        with self._cond:
            self._lose = count

    def lose_messages(self, count: int = 1) -> None:
        with self._cond:
            self._swallow = count

    def lose_and_go_down(self) -> None:
        with self._cond:
            self._go_down = True

    def drop_connections(self) -> None:
        self._drop()

    def down(self) -> None:
        with self._cond:
            self._down = True
        self._drop()

    def up(self) -> None:
        with self._cond:
            self._down = False
            late, self._late = self._late, []
        for future in late:
            if not future.done():
                future.set_exception(ConnectionFailed(f"the memory broker {self.name!r} went down before it "
                                                      f"confirmed (faults.lose_and_go_down())"))

    def clear(self) -> None:
        """Every fault off; held confirms are released."""
        with self._cond:
            self._refuse, self._lose, self._swallow, self._go_down = 0, 0, 0, False
        self.up()
        self.hold_confirms(False)

    # -- what the broker asks -----------------------------------------------------------------

    def check_connect(self) -> None:
        with self._cond:
            if self._down:
                raise ConnectionFailed(f"the memory broker {self.name!r} is down (faults.down())")

    def confirm(self, transport: object, route: Callable[[], None]) -> Future[None]:
        """A publish on `transport`: `route` it unless refused; its confirm (done, or
        pending while held or lost)."""
        future: Future[None] = Future()
        with self._cond:
            going_down, self._go_down = self._go_down, False
            if going_down:
                self._down = True
                self._late.append(future)
        if going_down:
            self._drop()
            return future
        with self._cond:
            if self._refuse > 0:
                self._refuse -= 1
                self.refused += 1
                future.set_exception(NotConfirmed(f"the memory broker {self.name!r} refused the message "
                                                  f"(negative confirm, faults.refuse())"))
                return future
            if self._swallow > 0:
                self._swallow -= 1
                self._lost.append((transport, future))
                return future
            route()  # before its confirm is held: a test that sees it held finds it routed
            if self._lose > 0:
                self._lose -= 1
                self._lost.append((transport, future))
            elif self._holding:
                self._held.append((transport, future))
                self._cond.notify_all()
            else:
                future.set_result(None)
        return future

    def disconnected(self, transport: object, why: str) -> None:
        """`transport`'s connection is gone: its unconfirmed messages fail."""
        with self._cond:
            failed = [f for t, f in self._held + self._lost if t is transport]
            self._held = [(t, f) for t, f in self._held if t is not transport]
            self._lost = [(t, f) for t, f in self._lost if t is not transport]
        for future in failed:
            if not future.done():
                future.set_exception(ConnectionFailed(f"{why} before the memory broker confirmed"))
