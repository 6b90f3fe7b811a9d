"""`cachesync run`'s signal handling (cli/bridge_signals.py, cli/signal_pipe.py). A handler runs in the main thread
wherever that thread is, holding what it holds: a bridge once never stopped on SIGTERM because
its handler set a `threading.Event` whose lock the interrupted main thread held (inside that
Event's own `wait`; py-spy showed `_on_stop -> Event.set -> Condition.__enter__` above
`Condition._is_owned`). The handler must take no lock; the rest happens in another thread.
Real processes stopping, reloading on SIGHUP and hanging up are tested in
tests/bridge/test_lifecycle_e2e.py and tests/cli/test_shell_endings.py."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from cachesync_cli.cli.bridge_signals import BridgeSignals


@pytest.fixture
def signals():
    handled = BridgeSignals(hangup_stops=False)
    yield handled
    handled.restore()


def locks_of(*events: threading.Event):
    """The lock behind each Event (what its set(), wait() and clear() take)."""
    return [event._cond for event in events]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_the_handler_takes_no_lock_the_main_thread_may_hold(signals, signum):
    held = locks_of(signals.stop, signals._reload, signals._wake)
    for lock in held:
        lock.acquire()  # as the main thread does, for a moment, inside Event.wait/clear
    try:
        handler = threading.Thread(target=signals._pipe.handler, args=(signum, None), daemon=True)
        handler.start()
        handler.join(2)
        assert not handler.is_alive(), "the handler waited for a lock the interrupted thread holds: a deadlock"
    finally:
        for lock in held:
            lock.release()
    if signum == signal.SIGHUP:
        assert signals._reload.wait(2) and not signals.stop.is_set()
    else:
        assert signals.stop.wait(2)


def test_a_real_signal_to_this_process_stops_and_a_hangup_reloads(signals):
    os.kill(os.getpid(), signal.SIGHUP)
    assert signals._reload.wait(2) and signals.take_reload() and not signals.take_reload()
    assert not signals.stop.is_set()
    closed = threading.Event()
    signals.on_stop = closed.set  # what a bridge still connecting is given: its connection's close
    os.kill(os.getpid(), signal.SIGTERM)
    assert signals.stop.wait(2) and closed.wait(2)


def test_restore_puts_the_previous_handlers_back():
    previous = signal.getsignal(signal.SIGTERM)
    handled = BridgeSignals(hangup_stops=False)
    assert signal.getsignal(signal.SIGTERM) == handled._pipe.handler
    handled.restore()
    assert signal.getsignal(signal.SIGTERM) is previous
