"""`memory://NAME`: a broker inside this process, for the demo and the contract tests.

It behaves like a real topic: every subscription gets every message published after it
started; a durable subscription (by name) keeps messages while its consumer is away and
redelivers unacknowledged ones; a transient one is gone with its connection.
`drop_connections()` simulates a broker restart; `faults` (`memory_faults.BrokerFaults`)
makes it refuse messages, hold or lose confirms, or stay down, for tests.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from cachesync_cli.errors import ConnectionFailed, NotConfirmed
from cachesync_cli.transport.base import Delivery, SubscriptionSpec, Transport
from cachesync_cli.transport.memory_faults import BrokerFaults


@dataclass
class _Message:
    body: bytes
    headers: dict[str, str]
    redelivered: bool = False


class _Queue:
    """Messages for one subscription, delivered by its own thread to at most one consumer."""

    def __init__(self, topic: str, durable: bool) -> None:
        self.topic = topic
        self.durable = durable
        self.cond = threading.Condition()
        self.ready: deque[_Message] = deque()
        self.unacked: dict[int, _Message] = {}
        self.consumer: tuple[Transport, SubscriptionSpec] | None = None
        self._tags = itertools.count(1)

    def put(self, message: _Message) -> None:
        with self.cond:
            self.ready.append(message)
            self.cond.notify()

    def attach(self, transport: Transport, spec: SubscriptionSpec) -> None:
        with self.cond:
            self.consumer = (transport, spec)
        threading.Thread(target=self._run, args=(transport, spec), daemon=True,
                         name=f"memory-deliver-{spec.topic}").start()

    def detach(self) -> None:
        with self.cond:
            self.consumer = None
            for tag in sorted(self.unacked, reverse=True):  # back in front, in their order
                message = self.unacked.pop(tag)
                message.redelivered = True
                self.ready.appendleft(message)
            self.cond.notify_all()

    def _settle(self, tag: int, ok: bool) -> None:
        with self.cond:
            message = self.unacked.pop(tag, None)
            if message is not None and not ok:
                message.redelivered = True
                self.ready.appendleft(message)
                self.cond.notify()

    def _run(self, transport: Transport, spec: SubscriptionSpec) -> None:
        while True:
            with self.cond:
                while self.consumer is not None and self.consumer[0] is transport and not self.ready:
                    self.cond.wait()
                if self.consumer is None or self.consumer[0] is not transport:
                    return
                message = self.ready.popleft()
                settle = None
                if spec.manual_ack:
                    tag = next(self._tags)
                    self.unacked[tag] = message
                    settle = lambda ok, tag=tag: self._settle(tag, ok)  # noqa: E731
            spec.deliver(Delivery(body=message.body, headers=dict(message.headers),
                                  destination=self.topic, redelivered=message.redelivered,
                                  _settle=settle))


class MemoryBroker:
    """One named in-process broker."""

    def __init__(self, name: str = "") -> None:
        self._lock = threading.Lock()
        self._durable: dict[str, _Queue] = {}
        self._queues: dict[Transport, list[_Queue]] = {}
        self.faults = BrokerFaults(name, self.drop_connections)

    def connect(self, transport: Transport) -> None:
        self.faults.check_connect()
        with self._lock:
            self._queues.setdefault(transport, [])

    def subscribe(self, transport: Transport, spec: SubscriptionSpec) -> None:
        with self._lock:
            if spec.durable_name is not None:
                queue = self._durable.setdefault(f"{spec.durable_name}/{spec.topic}", _Queue(spec.topic, True))
            else:
                queue = _Queue(spec.topic, False)
            self._queues[transport].append(queue)
        queue.attach(transport, spec)

    def publish(self, transport: Transport, topic: str, body: bytes, headers: Mapping[str, str]) -> Future[None]:
        """Route a message; its confirm (see `faults`)."""
        return self.faults.confirm(transport, lambda: self._route(topic, body, headers))

    def _route(self, topic: str, body: bytes, headers: Mapping[str, str]) -> None:
        with self._lock:
            queues = {id(q): q for qs in self._queues.values() for q in qs if q.topic == topic}
            queues.update({id(q): q for q in self._durable.values() if q.topic == topic})
        for queue in queues.values():
            queue.put(_Message(body, dict(headers)))

    def delete_durable(self, name: str, topic: str) -> None:
        with self._lock:
            self._durable.pop(f"{name}/{topic}", None)

    def disconnect(self, transport: Transport, why: str = "the connection was closed") -> None:
        with self._lock:
            queues = self._queues.pop(transport, [])
        for queue in queues:
            queue.detach()
        self.faults.disconnected(transport, why)

    def drop_connections(self) -> None:
        """Cut every client off, as a broker restart would; durable queues survive."""
        with self._lock:
            transports = list(self._queues)
        for transport in transports:
            self.disconnect(transport, "the memory broker dropped the connection")
            transport.connection_lost(ConnectionFailed("the memory broker dropped the connection"))


_brokers: dict[str, MemoryBroker] = {}
_brokers_lock = threading.Lock()


def memory_broker(name: str) -> MemoryBroker:
    """The in-process broker called `name`, created on first use."""
    with _brokers_lock:
        if name not in _brokers:
            _brokers[name] = MemoryBroker(name)
        return _brokers[name]


class MemoryTransport(Transport):
    no_timestamp_reason = "the in-process broker has no clock of its own"

    def __init__(self, endpoint, options, on_lost, **kwargs) -> None:
        super().__init__(endpoint, options, on_lost, **kwargs)
        self._broker = memory_broker(endpoint.host)
        self._open = False

    def connect(self) -> None:
        self._broker.connect(self)
        self._open = True
        self.server = "cachesync-memory"

    def publish(self, topic: str, body: bytes, headers: Mapping[str, str], *, confirm: bool,
                timeout: float) -> None:
        confirmed = self.publish_async(topic, body, headers, timeout=timeout)
        if not confirm:
            return
        try:
            confirmed.result(timeout)
        except FutureTimeout:
            raise NotConfirmed(f"the memory broker did not confirm within {timeout:g}s") from None

    def publish_async(self, topic: str, body: bytes, headers: Mapping[str, str], *,
                      timeout: float) -> Future[None]:
        if not self._open:
            raise ConnectionFailed("memory transport is closed")
        return self._broker.publish(self, topic, bytes(body), headers)

    def subscribe(self, spec: SubscriptionSpec) -> None:
        self._broker.subscribe(self, spec)

    def delete_durable_subscription(self, name: str, topic: str) -> str:
        self._broker.delete_durable(name, topic)
        return f"durable subscription {name} to {topic}"

    def close(self) -> None:
        self._open = False
        self._broker.disconnect(self)

    def connection_lost(self, error: Exception) -> None:
        self._open = False
        super().connection_lost(error)
